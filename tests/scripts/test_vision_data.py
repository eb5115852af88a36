"""A CIFAR-style data pipeline and the evaluation utilities around a training loop: a custom Dataset
of numpy HWC uint8 images with transforms, DataLoader (batch_size, shuffle, drop_last, collate_fn,
num_workers=0), samplers, random_split with a generator; argmax and top-5 accuracy, a confusion matrix
by bincount, mixup, an EMA of the weights (by hand and with AveragedModel) -- with PyTorch and with
flambeau on the same data.

torchvision is not installed here, so the PyTorch run's deterministic transforms are written below as
torchvision defines them (ToTensor: HWC uint8 -> CHW float / 255; Normalize: (x - mean) / std); the
flambeau run uses flambeau.transforms. Random transforms and samplers are checked for their
statistics, since the two libraries' generators differ."""
import numpy as np

import flambeau
import flambeau.transforms as ftransforms
from vision_parity import FLAMBEAU, TORCH, run_both

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


class _TorchToTensor:
    def __call__(self, pic):
        import torch
        return torch.from_numpy(np.ascontiguousarray(pic.transpose(2, 0, 1))).float().div(255)


class _TorchNormalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, t):
        import torch
        mean = torch.as_tensor(self.mean, dtype=t.dtype).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=t.dtype).view(-1, 1, 1)
        return t.sub(mean).div(std)


class _TorchCompose:
    def __init__(self, ts):
        self.ts = ts

    def __call__(self, x):
        for t in self.ts:
            x = t(x)
        return x


def transforms_for(lib):
    if lib.name == "flambeau":
        return ftransforms.Compose([ftransforms.ToTensor(), ftransforms.Normalize(MEAN, STD)])
    return _TorchCompose([_TorchToTensor(), _TorchNormalize(MEAN, STD)])


def make_images(n=40, seed=0):
    rs = np.random.RandomState(seed)
    images = rs.randint(0, 256, (n, 12, 12, 3)).astype(np.uint8)
    labels = rs.randint(0, 10, n)
    return images, labels


def pipeline_body(lib, rec):
    torch, nn, F, optim, data = lib.torch, lib.nn, lib.F, lib.optim, lib.data
    Dataset, DataLoader = data.Dataset, data.DataLoader

    class NumpyImageDataset(Dataset):
        def __init__(self, images, labels, transform=None, target_transform=None):
            self.images = images
            self.labels = labels
            self.transform = transform
            self.target_transform = target_transform

        def __len__(self):
            return len(self.images)

        def __getitem__(self, idx):
            if torch.is_tensor(idx):
                idx = idx.tolist()
            image, label = self.images[idx], int(self.labels[idx])
            if self.transform:
                image = self.transform(image)
            if self.target_transform:
                label = self.target_transform(label)
            return image, label

    images, labels = make_images()
    dataset = NumpyImageDataset(images, labels, transform=transforms_for(lib))
    x0, y0 = dataset[3]
    rec.log("item", x0)
    rec.log("item.label", y0)

    loader = DataLoader(dataset, batch_size=8, shuffle=False, drop_last=True, num_workers=0)
    rec.log("len(loader)", len(loader))
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 10))
    rec.sync("model", model)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    ema = [p.detach().clone() for p in model.parameters()]
    ema_model = lib.swa_utils.AveragedModel(model, multi_avg_fn=lib.swa_utils.get_ema_multi_avg_fn(0.9))
    rs = np.random.RandomState(5)
    for i, (inputs, targets) in enumerate(loader):
        rec.log("batch", inputs)
        rec.log("targets", targets)
        # mixup: lam from numpy's Beta, the permutation from numpy (parity) ...
        lam = float(rs.beta(1.0, 1.0))
        index = torch.from_numpy(rs.permutation(inputs.size(0)))
        mixed = lam * inputs + (1 - lam) * inputs[index, :]
        y_a, y_b = targets, targets[index]
        outputs = model(mixed)
        criterion = nn.CrossEntropyLoss()
        loss = lam * criterion(outputs, y_a) + (1 - lam) * criterion(outputs, y_b)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        # EMA by hand
        with torch.no_grad():
            for e, p in zip(ema, model.parameters()):
                e.mul_(0.9).add_(p.detach(), alpha=1 - 0.9)
        ema_model.update_parameters(model)
        rec.log("loss", loss)
    rec.log("ema", ema)
    rec.log("ema_model", list(ema_model.module.parameters()))
    rec.log("n_averaged", ema_model.n_averaged)
    lib.swa_utils.update_bn(loader, ema_model)
    rec.log("ema_bn_mean", ema_model.module[1].running_mean)

    # evaluation: argmax accuracy, top-5, confusion matrix
    eval_loader = DataLoader(dataset, batch_size=16, shuffle=False, drop_last=False)
    model.eval()
    correct = correct5 = total = 0
    num_classes = 10
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    all_preds = []
    with torch.no_grad():
        for inputs, targets in eval_loader:
            outputs = model(inputs)
            _, predicted = outputs.max(1)
            total += targets.size(0)
            correct += predicted.eq(targets).sum().item()
            _, pred5 = outputs.topk(5, 1, True, True)
            pred5 = pred5.t()
            hit5 = pred5.eq(targets.view(1, -1).expand_as(pred5))
            correct5 += hit5[:5].reshape(-1).float().sum(0, keepdim=True).item()
            confusion += torch.bincount(num_classes * targets + predicted,
                                        minlength=num_classes ** 2).reshape(num_classes, num_classes)
            all_preds.append(predicted)
    rec.log("acc", 100. * correct / total)
    rec.log("top5", correct5 / total)
    rec.log("confusion", confusion)
    rec.log("per_class_acc", confusion.diag().float() / confusion.sum(1).clamp(min=1).float())
    rec.log("preds", torch.cat(all_preds))
    rec.log("last_batch", targets.shape[0])

    # a custom collate_fn (pads variable-length label lists, a detection-style batch)
    def collate_fn(batch):
        imgs = torch.stack([b[0] for b in batch], 0)
        lens = torch.tensor([b[1] % 3 + 1 for b in batch])
        boxes = nn.utils.rnn.pad_sequence([torch.full((n,), float(n)) for n in lens.tolist()],
                                          batch_first=True, padding_value=-1.0)
        return imgs, lens, boxes

    c_loader = DataLoader(dataset, batch_size=5, collate_fn=collate_fn)
    imgs, lens, boxes = next(iter(c_loader))
    rec.log("collate", [imgs.shape[0], lens, boxes])

    # default collate of dict samples and of numpy arrays
    class DictDS(Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return {"x": np.full((2,), i, dtype=np.float32), "y": i, "name": f"s{i}"}

    b = next(iter(DataLoader(DictDS(), batch_size=4)))
    rec.log("dict", [b["x"], b["y"]])
    assert b["name"] == ["s0", "s1", "s2", "s3"]

    # TensorDataset + random_split with a generator: sizes and a partition of the indices
    tds = data.TensorDataset(torch.arange(50).float().unsqueeze(1), torch.arange(50))
    train_set, val_set = data.random_split(tds, [0.8, 0.2], generator=torch.Generator().manual_seed(42))
    rec.log("split", [len(train_set), len(val_set)])
    idx = sorted(list(train_set.indices) + list(val_set.indices))
    assert idx == list(range(50))
    a, b2, c = data.random_split(range(10), [3, 3, 4], generator=torch.Generator().manual_seed(0))
    rec.log("split3", [len(a), len(b2), len(c)])
    again = data.random_split(range(10), [3, 3, 4], generator=torch.Generator().manual_seed(0))
    assert [list(s) for s in again] == [list(s) for s in (a, b2, c)]

    # samplers: weighted sampling for class imbalance, subset sampling for a validation split
    targets_np = np.array([0] * 90 + [1] * 10)
    class_count = np.bincount(targets_np)
    weights = 1. / torch.tensor(class_count, dtype=torch.float)
    samples_weight = weights[torch.from_numpy(targets_np)]
    sampler = data.WeightedRandomSampler(samples_weight, num_samples=4000, replacement=True)
    drawn = torch.tensor(list(sampler))
    frac_minor = (torch.from_numpy(targets_np)[drawn] == 1).float().mean().item()
    assert abs(frac_minor - 0.5) < 0.05, frac_minor
    rec.log("wsampler_len", len(sampler))
    ds100 = data.TensorDataset(torch.from_numpy(targets_np))
    sub = data.SubsetRandomSampler(list(range(0, 100, 5)))
    got = sorted(int(i) for i in sub)
    assert got == list(range(0, 100, 5))
    sub_loader = DataLoader(ds100, batch_size=6, sampler=sub)
    rec.log("subset_batches", [len(sub_loader), sum(t[0].shape[0] for t in sub_loader)])
    shuffled = DataLoader(ds100, batch_size=10, shuffle=True, drop_last=True,
                          generator=torch.Generator().manual_seed(3))
    seen = torch.cat([t[0] for t in shuffled])
    rec.log("shuffled_sum", seen.sum())


def test_pipeline_matches_pytorch():
    run_both(pipeline_body, tol={"ema_bn_mean": (1e-5, 1e-4)})


def test_random_transforms_statistics():
    T = ftransforms
    flambeau.manual_seed(0)
    img = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    train_tf = T.Compose([T.RandomCrop(8, padding=2), T.RandomHorizontalFlip(), T.ToTensor(),
                          T.Normalize(MEAN, STD)])
    flips = 0
    offsets = set()
    n = 300
    for _ in range(n):
        out = T.RandomCrop(8, padding=2)(img)
        assert out.shape == (8, 8, 3) and out.dtype == np.uint8
        # the crop window sits somewhere in the 12x12 padded image: find its offset
        padded = np.zeros((12, 12, 3), np.uint8)
        padded[2:10, 2:10] = img
        hits = [(i, j) for i in range(5) for j in range(5) if np.array_equal(padded[i:i + 8, j:j + 8], out)]
        assert len(hits) == 1
        offsets.add(hits[0])
        f = T.RandomHorizontalFlip()(img)
        flips += int(np.array_equal(f, img[:, ::-1]))
        x = train_tf(img)
        assert tuple(x.shape) == (3, 8, 8) and x.dtype == flambeau.float32
    assert len(offsets) == 25
    assert abs(flips / n - 0.5) < 0.1


def test_segmentation_joint_transforms_keep_image_and_mask_aligned():
    """The torchvision idiom for segmentation: one random draw applied to the image and its mask
    with transforms.functional (nearest interpolation for the mask)."""
    import random
    import flambeau.transforms.functional as TF
    from flambeau.utils.data import DataLoader, Dataset
    T = ftransforms

    class SegDataset(Dataset):
        def __init__(self, n=12):
            rs = np.random.RandomState(0)
            self.images = rs.randint(0, 256, (n, 20, 24, 3)).astype(np.uint8)

        def __len__(self):
            return len(self.images)

        def transform(self, image, mask):
            image = TF.resize(image, [22, 26], interpolation=T.InterpolationMode.NEAREST)
            mask = TF.resize(mask, [22, 26], interpolation=T.InterpolationMode.NEAREST)
            i, j, h, w = T.RandomCrop.get_params(image, output_size=(16, 16))
            image, mask = TF.crop(image, i, j, h, w), TF.crop(mask, i, j, h, w)
            if random.random() > 0.5:
                image, mask = TF.hflip(image), TF.hflip(mask)
            angle = T.RandomRotation.get_params([-30.0, 30.0])
            image = TF.rotate(image, angle)
            mask = TF.rotate(mask, angle)
            image = TF.to_tensor(image)
            mask = flambeau.as_tensor(np.array(mask), dtype=flambeau.int64)
            return image, mask

        def __getitem__(self, idx):
            image = self.images[idx]
            mask = (image[..., 0] > 127).astype(np.uint8)  # the mask is a function of the image
            return self.transform(image, mask)

    random.seed(0)
    flambeau.manual_seed(0)
    for images, masks in DataLoader(SegDataset(), batch_size=4, shuffle=True):
        assert tuple(images.shape) == (4, 3, 16, 16) and tuple(masks.shape) == (4, 16, 16)
        assert masks.dtype == flambeau.int64
        # nearest resampling everywhere: the mask still equals the threshold of the image's red channel
        # (rotation fills both with 0, and 0 is below the threshold)
        expect = (images[:, 0] * 255 > 127).long()
        assert bool((expect == masks).all())


def test_randperm_and_beta_mixup_statistics():
    for lib in (TORCH, FLAMBEAU):
        torch = lib.torch
        torch.manual_seed(0)
        perm = torch.randperm(16)
        assert sorted(perm.tolist()) == list(range(16)) and perm.dtype == torch.int64
        lam = torch.distributions.Beta(torch.tensor([0.4]), torch.tensor([0.4])).sample((2000,))
        assert lam.shape == (2000, 1)
        lam = lam.numpy()
        assert 0 <= lam.min() and lam.max() <= 1 and abs(lam.mean() - 0.5) < 0.03
        # Beta(0.4, 0.4) is U-shaped: mass piles up near 0 and 1
        assert ((lam < 0.1) | (lam > 0.9)).mean() > 0.4


if __name__ == "__main__":
    test_pipeline_matches_pytorch()
    test_random_transforms_statistics()
    test_randperm_and_beta_mixup_statistics()
    print("ok")
