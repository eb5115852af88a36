"""`python -m flambeau.run script.py` and flambeau.install_torch_alias(): a PyTorch script's own `import torch`,
`import torch.nn as nn`, `from torch.utils.data import DataLoader` lines get flambeau's modules (the same
objects under both names), so the script runs unchanged. Each case runs in a fresh interpreter (this one has
PyTorch imported, which the alias refuses to shadow: tested last)."""
import textwrap

import numpy as np
import pytest

import flambeau
from helpers import run_python

SCRIPT = textwrap.dedent("""
    import sys
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch import optim
    from torch.utils.data import DataLoader, TensorDataset
    from torch.optim.lr_scheduler import StepLR

    torch.manual_seed(0)
    X = torch.randn(256, 8)
    y = (X[:, 0] + X[:, 1] > 0).long()
    dl = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = StepLR(opt, 2, 0.5)
    first = None
    for epoch in range(4):
        for xb, yb in dl:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(); loss.backward(); opt.step()
            first = first if first is not None else loss.item()
        sched.step()
    print(torch.__name__, nn.__name__, __name__, sys.argv[1:], first > 2 * loss.item())
""")


def test_run_executes_an_unchanged_pytorch_script(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    r = run_python(f"import sys, runpy; sys.argv = ['flambeau.run', {str(script)!r}, 'a', 'b']; "
                   "runpy.run_module('flambeau.run', run_name='__main__')")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["flambeau", "flambeau.nn", "__main__", "['a',", "'b']", "True"], r.stdout


def test_run_module_form_and_help(tmp_path):
    (tmp_path / "pkgx").mkdir()
    (tmp_path / "pkgx" / "__init__.py").write_text("")
    (tmp_path / "pkgx" / "job.py").write_text("import torch.linalg, sys\nprint(torch.linalg.__name__, sys.argv[1:])\n")
    r = run_python(f"import sys, runpy; sys.path.insert(0, {str(tmp_path)!r}); "
                   "sys.argv = ['flambeau.run', '-m', 'pkgx.job', '--x']; "
                   "runpy.run_module('flambeau.run', run_name='__main__')")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "flambeau.linalg ['--x']"
    r = run_python("import sys, runpy; sys.argv = ['flambeau.run']; runpy.run_module('flambeau.run', run_name='__main__')")
    assert r.returncode == 2 and "python -m flambeau.run" in r.stdout


def test_alias_gives_the_same_module_objects_and_clear_errors():
    r = run_python(textwrap.dedent("""
        import flambeau
        flambeau.install_torch_alias()
        import torch, torch.nn, torch.utils.data, torch.nn.functional as F
        from torch.optim import Adam
        assert torch is flambeau and torch.nn is flambeau.nn and F is flambeau.nn.functional
        assert torch.utils.data is flambeau.utils.data and Adam is flambeau.optim.Adam
        try:
            import torch.no_such_module
        except ModuleNotFoundError as e:
            print("missing:", e.name, "|", e)
        flambeau.uninstall_torch_alias()
        import sys
        print("torch" in sys.modules)
    """))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("missing: torch.no_such_module |") and "flambeau.no_such_module" in lines[0]
    assert lines[1] == "False"


def test_alias_answers_package_metadata_only_where_pytorch_is_not_installed():
    # libraries (transformers, accelerate) test for torch with importlib.metadata.version("torch"): where no
    # PyTorch distribution is installed (simulated by hiding it while the alias installs), the alias answers
    # with the PyTorch API version flambeau follows; where one is installed (this test environment), its own
    r = run_python(textwrap.dedent("""
        import importlib.metadata as md
        real_version = md.version("torch")
        real = md.distribution
        def hidden(name):
            if name in ("torch", "torchvision"):
                raise md.PackageNotFoundError(name)
            return real(name)
        md.distribution = hidden
        import flambeau
        flambeau.install_torch_alias()
        md.distribution = real
        try:
            md.version("torchvision")
            print("torchvision answered")
        except md.PackageNotFoundError:
            pass
        print(md.version("torch"), md.metadata("torch")["Name"])
        print(md.version("numpy") == __import__("numpy").__version__)
        flambeau.uninstall_torch_alias()
        print(md.version("torch") == real_version)
        flambeau.install_torch_alias()
        print(md.version("torch") == real_version)
    """))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == f"2.13.0+flambeau.{flambeau.__version__} torch"  # torchvision: no stand-in
    assert lines[1:] == ["True", "True", "True"]


def test_alias_refuses_when_pytorch_is_imported():
    import torch  # noqa: F401  (this test process has the real PyTorch)
    with pytest.raises(RuntimeError, match="PyTorch is already imported"):
        flambeau.install_torch_alias()


# pytorch/examples' mnist/main.py as it stands (argparse, Adadelta, StepLR, its Net), unchanged but for the
# defaults the test overrides on the command line; it reads '../data' relative to its working directory
MNIST_SCRIPT = textwrap.dedent('''
    import argparse
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim
    from torchvision import datasets, transforms
    from torch.optim.lr_scheduler import StepLR


    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = self.conv1(x)
            x = F.relu(x)
            x = self.conv2(x)
            x = F.relu(x)
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = self.fc1(x)
            x = F.relu(x)
            x = self.dropout2(x)
            x = self.fc2(x)
            output = F.log_softmax(x, dim=1)
            return output


    def train(args, model, device, train_loader, optimizer, epoch):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            if batch_idx % args.log_interval == 0:
                print('Train Epoch: {} [{}/{} ({:.0f}%)]\\tLoss: {:.6f}'.format(
                    epoch, batch_idx * len(data), len(train_loader.dataset),
                    100. * batch_idx / len(train_loader), loss.item()))
                if args.dry_run:
                    break


    def test(model, device, test_loader):
        model.eval()
        test_loss = 0
        correct = 0
        with torch.no_grad():
            for data, target in test_loader:
                data, target = data.to(device), target.to(device)
                output = model(data)
                test_loss += F.nll_loss(output, target, reduction='sum').item()  # sum up batch loss
                pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
                correct += pred.eq(target.view_as(pred)).sum().item()

        test_loss /= len(test_loader.dataset)

        print('\\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\\n'.format(
            test_loss, correct, len(test_loader.dataset),
            100. * correct / len(test_loader.dataset)))


    def main():
        parser = argparse.ArgumentParser(description='PyTorch MNIST Example')
        parser.add_argument('--batch-size', type=int, default=64, metavar='N')
        parser.add_argument('--test-batch-size', type=int, default=1000, metavar='N')
        parser.add_argument('--epochs', type=int, default=14, metavar='N')
        parser.add_argument('--lr', type=float, default=1.0, metavar='LR')
        parser.add_argument('--gamma', type=float, default=0.7, metavar='M')
        parser.add_argument('--no-accel', action='store_true')
        parser.add_argument('--dry-run', action='store_true')
        parser.add_argument('--seed', type=int, default=1, metavar='S')
        parser.add_argument('--log-interval', type=int, default=10, metavar='N')
        parser.add_argument('--save-model', action='store_true')
        args = parser.parse_args()

        use_accel = not args.no_accel and torch.accelerator.is_available()

        torch.manual_seed(args.seed)

        if use_accel:
            device = torch.accelerator.current_accelerator()
        else:
            device = torch.device("cpu")

        train_kwargs = {'batch_size': args.batch_size}
        test_kwargs = {'batch_size': args.test_batch_size}
        if use_accel:
            accel_kwargs = {'num_workers': 1, 'persistent_workers': True, 'pin_memory': True, 'shuffle': True}
            train_kwargs.update(accel_kwargs)
            test_kwargs.update(accel_kwargs)

        transform = transforms.Compose([
            transforms.ToTensor(),
            transforms.Normalize((0.1307,), (0.3081,))
        ])
        dataset1 = datasets.MNIST('../data', train=True, download=True, transform=transform)
        dataset2 = datasets.MNIST('../data', train=False, transform=transform)
        train_loader = torch.utils.data.DataLoader(dataset1, **train_kwargs)
        test_loader = torch.utils.data.DataLoader(dataset2, **test_kwargs)

        model = Net().to(device)
        optimizer = optim.Adadelta(model.parameters(), lr=args.lr)

        scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
        for epoch in range(1, args.epochs + 1):
            train(args, model, device, train_loader, optimizer, epoch)
            test(model, device, test_loader)
            scheduler.step()

        if args.save_model:
            torch.save(model.state_dict(), "mnist_cnn.pt")


    if __name__ == '__main__':
        main()
''')


def _digit_like_images(n, rng):
    """28x28 uint8 images whose class is where a bright 4x4 blob sits (one of ten places), plus noise."""
    labels = rng.integers(0, 10, n).astype(np.uint8)
    imgs = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for img, c in zip(imgs, labels):
        r, col = 3 + 12 * (c // 5), 2 + 5 * (c % 5)
        img[r:r + 8, col:col + 4] = 255
    return imgs, labels


def test_run_executes_pytorch_examples_mnist_with_torchvision(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from flambeau.datasets import write_idx

    rng = np.random.default_rng(0)
    raw = tmp_path / "data" / "MNIST" / "raw"  # torchvision's layout under the script's '../data'
    raw.mkdir(parents=True)
    for prefix, n in (("train", 384), ("t10k", 200)):
        imgs, labels = _digit_like_images(n, rng)
        write_idx(str(raw / f"{prefix}-images-idx3-ubyte.gz"), imgs)
        write_idx(str(raw / f"{prefix}-labels-idx1-ubyte.gz"), labels)
    work = tmp_path / "work"
    work.mkdir()
    (work / "main.py").write_text(MNIST_SCRIPT)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(flambeau.__file__).resolve().parent.parent)]
                                        + [p for p in [env.get("PYTHONPATH")] if p])
    r = subprocess.run([sys.executable, "-m", "flambeau.run", "main.py", "--epochs", "1", "--batch-size", "16",
                        "--log-interval", "8", "--save-model"],
                       cwd=str(work), env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Train Epoch: 1 [0/384 (0%)]") and sum("Train Epoch" in l for l in lines) == 3
    acc = [l for l in lines if l.startswith("Test set:")]
    assert len(acc) == 1, r.stdout
    correct = int(acc[0].split("Accuracy: ")[1].split("/")[0])
    assert correct > 100, r.stdout  # 10 classes: 20 right by chance; the blobs are easy to learn
    state = flambeau.load(str(work / "mnist_cnn.pt"))
    assert tuple(state["fc1.weight"].shape) == (128, 9216)


def test_torchvision_alias_gives_flambeau_vision():
    r = run_python(textwrap.dedent("""
        import sys, types
        import flambeau
        flambeau.install_torch_alias()
        import torch, torchvision
        import torchvision.models as models
        import torchvision.transforms.functional as TF
        from torchvision import datasets, transforms, utils
        from torchvision.ops import nms
        assert torchvision is flambeau.vision and models is flambeau.vision.models
        assert transforms is flambeau.transforms and TF is flambeau.transforms.functional
        assert datasets is flambeau.vision.datasets and utils.make_grid is flambeau.vision.utils.make_grid
        assert nms is flambeau.vision.ops.nms and models.resnet18().fc.in_features == 512
        for name in ("torch.vision", "torchvision.nope"):
            try:
                __import__(name)
            except ModuleNotFoundError as e:
                print("missing:", e.name)
        flambeau.uninstall_torch_alias()
        print("torchvision" in sys.modules, "torchvision.models" in sys.modules)
        sys.modules["torchvision"] = types.ModuleType("torchvision")  # as if the real one were imported
        try:
            flambeau.install_torch_alias()
        except RuntimeError as e:
            print("refused:", "torchvision is already imported" in str(e))
    """))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines() == [
        "missing: torch.vision", "missing: torchvision.nope", "False False", "refused: True"]


# the 60-minute blitz's CIFAR-10 classifier tutorial, its code cells as they stand (the matplotlib display and
# the GPU cell left out, the two-epoch loop cut to one by the test's data size)
CIFAR_SCRIPT = textwrap.dedent('''
    import torch
    import torchvision
    import torchvision.transforms as transforms

    transform = transforms.Compose(
        [transforms.ToTensor(),
         transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])

    batch_size = 4

    trainset = torchvision.datasets.CIFAR10(root='./data', train=True,
                                            download=True, transform=transform)
    trainloader = torch.utils.data.DataLoader(trainset, batch_size=batch_size,
                                              shuffle=True, num_workers=2)

    testset = torchvision.datasets.CIFAR10(root='./data', train=False,
                                           download=True, transform=transform)
    testloader = torch.utils.data.DataLoader(testset, batch_size=batch_size,
                                             shuffle=False, num_workers=2)

    classes = ('plane', 'car', 'bird', 'cat',
               'deer', 'dog', 'frog', 'horse', 'ship', 'truck')

    dataiter = iter(trainloader)
    images, labels = next(dataiter)
    grid = torchvision.utils.make_grid(images)
    torchvision.utils.save_image(grid / 2 + 0.5, 'batch.png')
    print(' '.join(f'{classes[labels[j]]:5s}' for j in range(batch_size)))

    import torch.nn as nn
    import torch.nn.functional as F


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
            x = torch.flatten(x, 1) # flatten all dimensions except batch
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            x = self.fc3(x)
            return x


    net = Net()

    import torch.optim as optim

    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)

    for epoch in range(1):  # loop over the dataset multiple times

        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            # get the inputs; data is a list of [inputs, labels]
            inputs, labels = data

            # zero the parameter gradients
            optimizer.zero_grad()

            # forward + backward + optimize
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()

            # print statistics
            running_loss += loss.item()
            if i % 20 == 19:    # print every 20 mini-batches
                print(f'[{epoch + 1}, {i + 1:5d}] loss: {running_loss / 20:.3f}')
                running_loss = 0.0

    print('Finished Training')

    PATH = './cifar_net.pth'
    torch.save(net.state_dict(), PATH)

    net = Net()
    net.load_state_dict(torch.load(PATH, weights_only=True))

    correct = 0
    total = 0
    # since we're not training, we don't need to calculate the gradients for our outputs
    with torch.no_grad():
        for data in testloader:
            images, labels = data
            # calculate outputs by running images through the network
            outputs = net(images)
            # the class with the highest energy is what we choose as prediction
            _, predicted = torch.max(outputs, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()

    print(f'Accuracy of the network on the {total} test images: {100 * correct // total} %')
''')


def test_run_executes_the_cifar10_tutorial_with_torchvision(tmp_path):
    import os
    import pickle
    import subprocess
    import sys
    from pathlib import Path

    rng = np.random.default_rng(1)
    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, n in [(f"data_batch_{i}", 32) for i in range(1, 6)] + [("test_batch", 12)]:
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         "labels": rng.integers(0, 10, n).tolist()}, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck"]}, f, protocol=2)
    (tmp_path / "tutorial.py").write_text(CIFAR_SCRIPT)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(flambeau.__file__).resolve().parent.parent)]
                                        + [p for p in [env.get("PYTHONPATH")] if p])
    r = subprocess.run([sys.executable, "-m", "flambeau.run", "tutorial.py"], cwd=str(tmp_path), env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert len(lines[0].split()) == 4 and [l.split("]")[0] for l in lines[1:3]] == ["[1,    20", "[1,    40"]
    assert lines[3] == "Finished Training" and lines[4].startswith("Accuracy of the network on the 12 test images:")
    png = (tmp_path / "batch.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[16:24] == bytes([0, 0, 0, 138, 0, 0, 0, 36])  # 4 x (32+2)+2 wide
