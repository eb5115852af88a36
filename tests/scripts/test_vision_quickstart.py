"""PyTorch's "Quickstart" (FashionMNIST) and "Training a classifier" (CIFAR10) tutorials, as written,
on synthetic images (no downloads): device selection with torch.accelerator, the train / test loops,
saving and reloading the state_dict, per-class accuracy -- with PyTorch and with flambeau from the
same weights."""
import os
import tempfile

import numpy as np

from vision_parity import run_both


class _SyntheticImages:
    """(image, label) pairs like torchvision's datasets with transform=ToTensor()."""

    def __init__(self, torch, n, shape, seed, classes=10):
        rs = np.random.RandomState(seed)
        self.x = (rs.rand(n, *shape) * 255).astype(np.uint8)
        self.y = rs.randint(0, classes, n)
        self.torch = torch

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        img = self.torch.from_numpy(self.x[i].astype(np.float32) / 255)
        return img, int(self.y[i])


def quickstart_body(lib, rec, tmpdir):
    torch, nn, data = lib.torch, lib.nn, lib.data
    DataLoader = data.DataLoader

    class SyntheticDS(data.Dataset):
        def __init__(self, n, seed):
            self.inner = _SyntheticImages(torch, n, (1, 28, 28), seed)

        def __len__(self):
            return len(self.inner)

        def __getitem__(self, i):
            return self.inner[i]

    training_data, test_data = SyntheticDS(64, 0), SyntheticDS(32, 1)
    batch_size = 16
    train_dataloader = DataLoader(training_data, batch_size=batch_size)
    test_dataloader = DataLoader(test_data, batch_size=batch_size)
    for X, y in test_dataloader:
        rec.log("shapes", [list(X.shape), str(X.dtype).split(".")[-1], list(y.shape), str(y.dtype).split(".")[-1]])
        break

    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
    rec.log("device", device)

    class NeuralNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(
                nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))

        def forward(self, x):
            x = self.flatten(x)
            logits = self.linear_relu_stack(x)
            return logits

    model = NeuralNetwork().to(device)
    rec.sync("nn", model)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

    def train(dataloader, model, loss_fn, optimizer):
        size = len(dataloader.dataset)
        model.train()
        for batch, (X, y) in enumerate(dataloader):
            X, y = X.to(device), y.to(device)
            pred = model(X)
            loss = loss_fn(pred, y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            if batch % 2 == 0:
                loss, current = loss.item(), (batch + 1) * len(X)
                rec.log("train_loss", loss)
                # (the tutorial prints f"loss: {loss:>7f}  [...]"; the 7th digit may round either way)
                rec.log("progress", f"[{current:>5d}/{size:>5d}]")

    def test(dataloader, model, loss_fn):
        size = len(dataloader.dataset)
        num_batches = len(dataloader)
        model.eval()
        test_loss, correct = 0, 0
        with torch.no_grad():
            for X, y in dataloader:
                X, y = X.to(device), y.to(device)
                pred = model(X)
                test_loss += loss_fn(pred, y).item()
                correct += (pred.argmax(1) == y).type(torch.float).sum().item()
        test_loss /= num_batches
        correct /= size
        rec.log("test", f"Test Error: \n Accuracy: {(100 * correct):>0.1f}%")
        rec.log("test_loss", test_loss)

    for t in range(2):
        train(train_dataloader, model, loss_fn, optimizer)
        test(test_dataloader, model, loss_fn)
    path = os.path.join(tmpdir, f"model_{lib.name}.pth")
    torch.save(model.state_dict(), path)
    model = NeuralNetwork().to(device)
    model.load_state_dict(torch.load(path, weights_only=True))
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
    model.eval()
    x, y = test_data[0][0], test_data[0][1]
    with torch.no_grad():
        x = x.to(device)
        pred = model(x)
        predicted, actual = classes[pred[0].argmax(0)], classes[y]
        rec.log("predicted", f'Predicted: "{predicted}", Actual: "{actual}"')
        rec.log("pred", pred)


def cifar_body(lib, rec):
    torch, nn, F, optim, data = lib.torch, lib.nn, lib.F, lib.optim, lib.data

    class DS(data.Dataset):
        def __init__(self, n, seed):
            self.inner = _SyntheticImages(torch, n, (3, 32, 32), seed)

        def __len__(self):
            return len(self.inner)

        def __getitem__(self, i):
            img, label = self.inner[i]
            return (img - 0.5) / 0.5, label  # Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

    batch_size = 4
    trainloader = data.DataLoader(DS(24, 2), batch_size=batch_size, shuffle=False, num_workers=0)
    testloader = data.DataLoader(DS(12, 3), batch_size=batch_size, shuffle=False, num_workers=0)
    classes = ('plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')
    dataiter = iter(trainloader)
    images, labels = next(dataiter)
    rec.log("first_labels", ' '.join(f'{classes[labels[j]]:5s}' for j in range(batch_size)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = torch.flatten(x, 1)  # flatten all dimensions except batch
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            x = self.fc3(x)
            return x

    net = Net()
    rec.sync("net", net)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    for epoch in range(2):
        running_loss = 0.0
        for i, batch in enumerate(trainloader, 0):
            inputs, labels = batch
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            if i % 3 == 2:
                rec.log("running_loss", running_loss / 3)
                running_loss = 0.0
    correct = 0
    total = 0
    correct_pred = {classname: 0 for classname in classes}
    total_pred = {classname: 0 for classname in classes}
    with torch.no_grad():
        for batch in testloader:
            images, labels = batch
            outputs = net(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
            _, predictions = torch.max(outputs, 1)
            for label, prediction in zip(labels, predictions):
                if label == prediction:
                    correct_pred[classes[label]] += 1
                total_pred[classes[label]] += 1
    rec.log("accuracy", 100 * correct // total)
    rec.log("per_class", [correct_pred[c] for c in classes] + [total_pred[c] for c in classes])


def test_quickstart_matches_pytorch():
    with tempfile.TemporaryDirectory() as d:
        run_both(quickstart_body, tmpdir=d)


def test_cifar10_tutorial_matches_pytorch():
    run_both(cifar_body)


if __name__ == "__main__":
    test_quickstart_matches_pytorch()
    test_cifar10_tutorial_matches_pytorch()
    print("ok")
