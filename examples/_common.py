"""What the examples share: command-line arguments, Fashion-MNIST loading, a text progress bar,
the train / evaluate loops, and PNG plots.

Nothing here is specific to one example. The loops only call methods that flambeau and PyTorch
both have (model.train(), loss.backward(), optimizer.step(), ...), so benchmarks/compare_main_job.py
runs exactly these loops on both libraries. This file never imports PyTorch.

matplotlib is optional: without it line plots are skipped (with a one-line message) and image grids
are written by the small PNG writer at the bottom of this file.
"""
import argparse
import math
import os
import struct
import sys
import time
import zlib

import numpy as np

import flambeau
from flambeau import datasets, transforms
from flambeau.utils.data import DataLoader, Subset

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "out")
# The 6000-train / 1000-test real Fashion-MNIST images shipped inside the package.
SUBSET_ROOT = os.path.join(os.path.dirname(datasets.__file__), "data", "fashion-mnist-subset")
# Mean and standard deviation of the Fashion-MNIST training pixels (in [0, 1]).
MEAN, STD = 0.2860, 0.3530
CLASSES = datasets.FashionMNIST.classes


# ------------------------------------------------------------------------------------------------
# arguments, seeds, output folder
# ------------------------------------------------------------------------------------------------
def parser(description, epochs, batch_size=128, lr=1e-3):
    """An ArgumentParser with the options every example takes (each example adds its own)."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=int, default=epochs, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr, help="(peak) learning rate")
    p.add_argument("--full", action="store_true",
                   help="use the full Fashion-MNIST (60000/10000) from the standard locations "
                        "instead of the 6000/1000 subset shipped with flambeau")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=DEFAULT_OUT, help="folder for plots and saved models")
    p.add_argument("--limit", type=int, default=None,
                   help="use only the first N training images (and at most N test images): "
                        "for quick tries and the smoke tests")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads (default: flambeau's default, all cores)")
    return p


def setup(args):
    """Seed, thread count and output folder from the parsed arguments; prints one header line."""
    flambeau.manual_seed(args.seed)
    np.random.seed(args.seed)
    if args.threads:
        flambeau.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    data = "full Fashion-MNIST" if args.full else "Fashion-MNIST subset"
    if args.limit:
        data += f" (first {args.limit} images)"
    print(f"flambeau {getattr(flambeau, '__version__', '')} | {data} | seed {args.seed} | "
          f"{flambeau.get_num_threads()} threads")


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------
def fashion_mnist(train, full=False, transform=None, target_transform=None):
    """The Fashion-MNIST training or test set: the full one (found by flambeau.datasets in
    $FLAMBEAU_DATA, ~/.cache/flambeau or /usr/share/datasets) or the shipped subset."""
    root = None if full else SUBSET_ROOT
    return datasets.FashionMNIST(root, train=train, transform=transform,
                                 target_transform=target_transform)


def image_transform(flatten=False, augment=False):
    """uint8 28x28 image -> normalised float tensor (1, 28, 28), or (784,) when flatten."""
    steps = []
    if augment:
        steps += [transforms.RandomCrop(28, padding=2), transforms.RandomHorizontalFlip()]
    steps += [transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))]
    if flatten:
        steps.append(transforms.Lambda(lambda x: x.reshape(-1)))
    # Padding and flipping work on the numpy image, so they come before ToTensor.
    return transforms.Compose(steps)


def select(dataset, classes=None, limit=None):
    """The examples of `dataset` whose label is in `classes` (all if None), the first `limit`."""
    if classes is None and limit is None:
        return dataset
    targets = dataset.targets.numpy()
    keep = np.arange(len(targets)) if classes is None else np.flatnonzero(np.isin(targets, classes))
    if limit is not None:
        keep = keep[:limit]
    return Subset(dataset, keep.tolist())


def loaders(args, flatten=False, augment=False, classes=None, target_transform=None,
            test_batch_size=500):
    """Training and test DataLoaders for Fashion-MNIST as the arguments ask (--full, --limit,
    --batch-size). `classes` keeps only those labels; `target_transform` maps the labels."""
    train = fashion_mnist(True, args.full, image_transform(flatten, augment), target_transform)
    test = fashion_mnist(False, args.full, image_transform(flatten), target_transform)
    train = select(train, classes, args.limit)
    test = select(test, classes, args.limit)
    return (DataLoader(train, batch_size=args.batch_size, shuffle=True),
            DataLoader(test, batch_size=test_batch_size, shuffle=False))


def numpy_data(full=False, limit=None):
    """(x_train, y_train, x_test, y_test) as numpy arrays: images float32 (N, 1, 28, 28)
    normalised, labels int64. Library-neutral (the comparison benchmark feeds both libraries
    the same arrays)."""
    out = []
    for train in (True, False):
        ds = fashion_mnist(train, full)
        x = ds.data[:limit].astype(np.float32)[:, None] / np.float32(255)
        out += [(x - np.float32(MEAN)) / np.float32(STD), ds.targets.numpy()[:limit].astype(np.int64)]
    return tuple(out)


# ------------------------------------------------------------------------------------------------
# progress bar
# ------------------------------------------------------------------------------------------------
class Progress:
    """A one-line text progress bar around an iterable, on stderr:

        epoch 3/10 [##########..............]  21/47 0:05<0:06 loss 0.412 acc 0.853

    Redrawn in place on a terminal (at most ~10 times a second); elsewhere (logs, pipes) only the
    final state is printed. `set(**numbers)` updates the figures shown after the bar."""

    def __init__(self, iterable, desc="", total=None, width=24, stream=None):
        self.iterable = iterable
        self.desc = desc
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__")
                                                      else None)
        self.width = width
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.n = 0
        self.info = {}
        self.start = self.last = time.perf_counter()

    def set(self, **info):
        self.info.update(info)

    def __iter__(self):
        self.start = self.last = time.perf_counter()
        if self.tty:
            self._draw(end="")
        for item in self.iterable:
            yield item
            self.n += 1
            if self.tty and time.perf_counter() - self.last > 0.1:
                self._draw(end="")
                self.last = time.perf_counter()
        self._draw(end="\n")

    def _draw(self, end):
        elapsed = time.perf_counter() - self.start
        if self.total:
            done = int(self.width * self.n / self.total)
            bar = "[" + "#" * done + "." * (self.width - done) + "]"
            count = f"{self.n:>{len(str(self.total))}}/{self.total}"
            left = elapsed / self.n * (self.total - self.n) if self.n else 0.0
            times = f"{_mmss(elapsed)}<{_mmss(left)}"
        else:
            bar, count, times = "", str(self.n), _mmss(elapsed)
        info = " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in self.info.items())
        line = " ".join(s for s in (self.desc, bar, count, times, info) if s)
        if self.tty:
            self.stream.write("\r" + line + "\033[K" + end)
        elif end:
            self.stream.write(line + end)
        self.stream.flush()


def _mmss(seconds):
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


# ------------------------------------------------------------------------------------------------
# training and evaluation
# ------------------------------------------------------------------------------------------------
def library_of(model):
    """The library (module flambeau, or torch for the comparison benchmark) that `model` is
    built with, so the loops below serve both without importing PyTorch here."""
    return sys.modules[type(model).__mro__[-2].__module__.split(".")[0]]


def cross_entropy(model):
    return library_of(model).nn.functional.cross_entropy


def train_epoch(model, loader, optimizer, loss_fn=None, scheduler=None, penalty=None, desc=""):
    """One pass over `loader`. `scheduler` (if given) is stepped after every batch; `penalty()`
    (if given) is added to the loss (e.g. an L1 term). Returns (mean loss, accuracy) of the
    batches as they were trained on (in train mode)."""
    loss_fn = loss_fn or cross_entropy(model)
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = Progress(loader, desc=desc)
    for x, y in bar:
        logits = model(x)
        loss = loss_fn(logits, y)
        if penalty is not None:
            loss = loss + penalty()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        n = y.shape[0]
        total_loss += loss.item() * n
        correct += int((logits.argmax(1) == y).sum().item())
        seen += n
        bar.set(loss=total_loss / seen, acc=correct / seen)
    return total_loss / max(seen, 1), correct / max(seen, 1)


def predict(model, loader):
    """(probabilities (N, classes), labels (N,)) as numpy arrays, model in eval mode."""
    lib = library_of(model)
    model.eval()
    probs, labels = [], []
    with lib.no_grad():
        for x, y in loader:
            probs.append(lib.softmax(model(x), 1).numpy())
            labels.append(y.numpy())
    return np.concatenate(probs), np.concatenate(labels)


def evaluate(model, loader):
    """(mean cross-entropy, accuracy) of `model` on `loader`, in eval mode."""
    probs, labels = predict(model, loader)
    return log_loss(probs, labels), accuracy(probs, labels)


def accuracy(probs, labels):
    return float((probs.argmax(1) == labels).mean())


def log_loss(probs, labels):
    return float(-np.log(np.maximum(probs[np.arange(len(labels)), labels], 1e-12)).mean())


def fit(model, train_loader, test_loader, optimizer, epochs, scheduler=None, per_batch=False,
        penalty=None, name="", verbose=True, early_stopping=None, eval_name="test"):
    """Trains for `epochs`, evaluating on `test_loader` after each (printed as `eval_name`);
    `scheduler` is stepped per batch if `per_batch`, else per epoch. `early_stopping` = an
    EarlyStopping (which watches the loss on `test_loader`) or None.
    Returns the history: dict of lists train_loss, train_acc, test_loss, test_acc, lr, seconds."""
    hist = {k: [] for k in ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds")}
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        lr = optimizer.param_groups[0]["lr"]
        desc = f"{name + ' ' if name else ''}epoch {epoch}/{epochs}"
        tl, ta = train_epoch(model, train_loader, optimizer, scheduler=scheduler if per_batch else None,
                             penalty=penalty, desc=desc)
        if scheduler is not None and not per_batch:
            scheduler.step()
        vl, va = evaluate(model, test_loader)
        for k, v in zip(hist, (tl, ta, vl, va, lr, time.perf_counter() - start)):
            hist[k].append(v)
        if verbose:
            print(f"{desc}: train loss {tl:.4f} acc {ta:.4f} | {eval_name} loss {vl:.4f} acc {va:.4f} "
                  f"| lr {lr:.2e} | {hist['seconds'][-1]:.0f}s", flush=True)
        if early_stopping is not None and early_stopping.step(vl, model):
            if verbose:
                print(f"early stopping: no better {eval_name} loss for {early_stopping.patience} "
                      f"epochs; keeping the weights of epoch {early_stopping.best_epoch}")
            early_stopping.restore(model)
            break
    return hist


class EarlyStopping:
    """Stops when the monitored loss has not improved for `patience` epochs, and restores the
    best weights (kept as a state_dict copy)."""

    def __init__(self, patience=3, min_delta=0.0):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.best_epoch, self.best_state, self.epoch, self.bad = math.inf, 0, None, 0, 0

    def step(self, loss, model):
        self.epoch += 1
        if loss < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad = loss, self.epoch, 0
            self.best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            self.bad += 1
        return self.bad >= self.patience

    def restore(self, model):
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------------------
# plots
# ------------------------------------------------------------------------------------------------
def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        return None


def plot_panels(path, panels, suptitle=None, ncols=None):
    """Line plots side by side (`ncols` per row, default all in one row), written to `path` (PNG).
    Each panel is a dict with keys curves ({label: ys or (xs, ys)}), and optionally title,
    xlabel, ylabel, logy."""
    plt = _pyplot()
    if plt is None:
        print(f"(matplotlib is not installed: skipping the plot {os.path.basename(path)})")
        return None
    ncols = ncols or len(panels)
    nrows = (len(panels) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols if ncols < 4 else 3.6 * ncols,
                                                    (4 if ncols < 4 else 3) * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, panel in zip(axes.flat, panels):
        for label, curve in panel["curves"].items():
            xs, ys = curve if isinstance(curve, tuple) else (range(1, len(curve) + 1), curve)
            ax.plot(list(xs), list(ys), label=label, marker="o" if len(ys) <= 30 else None,
                    markersize=3)
        if all(float(x).is_integer() for c in panel["curves"].values()
               for x in (c[0] if isinstance(c, tuple) else [])):
            ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.set_title(panel.get("title", ""))
        ax.set_xlabel(panel.get("xlabel", ""))
        ax.set_ylabel(panel.get("ylabel", ""))
        if panel.get("logy"):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if len(panel["curves"]) > 1 or panel.get("legend"):
            ax.legend(fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
    return path


def plot_history(path, hist, title=""):
    """Learning curves (loss and accuracy, train and test, per epoch) of one `fit` history."""
    return plot_panels(path, [
        dict(title="loss", xlabel="epoch", ylabel="cross-entropy",
             curves={"train": hist["train_loss"], "test": hist["test_loss"]}),
        dict(title="accuracy", xlabel="epoch", ylabel="accuracy",
             curves={"train": hist["train_acc"], "test": hist["test_acc"]}),
    ], suptitle=title)


def save_image_grid(path, rows, row_titles=None, scale=3):
    """Grayscale images (each 2-D numpy) in a grid, one list of images per row (None: an empty cell), each image scaled
    to its own [min, max]. With matplotlib: a figure with row titles; without: a plain PNG (every
    image resized to the size of the first)."""
    plt = _pyplot()
    ncols = max(len(r) for r in rows)
    if plt is not None:
        fig, axes = plt.subplots(len(rows), ncols, figsize=(0.9 * ncols + 1.2, 0.95 * len(rows)),
                                 squeeze=False)
        for i, row in enumerate(rows):
            for j in range(ncols):
                ax = axes[i][j]
                ax.set_xticks([])
                ax.set_yticks([])
                for s in ax.spines.values():
                    s.set_visible(False)
                if j < len(row) and row[j] is not None:
                    ax.imshow(row[j], cmap="gray")
            if row_titles:
                axes[i][0].set_ylabel(row_titles[i], rotation=0, ha="right", va="center",
                                      fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
    else:
        h, w = next(img for row in rows for img in row if img is not None).shape
        pad = 2
        canvas = np.full((len(rows) * (h + pad) + pad, ncols * (w + pad) + pad), 255, np.uint8)
        for i, row in enumerate(rows):
            for j, img in enumerate(row):
                if img is None:
                    continue
                ih, iw = img.shape  # nearest-neighbour resize to the first image's size
                img = img[np.ix_(np.arange(h) * ih // h, np.arange(w) * iw // w)]
                lo, hi = float(img.min()), float(img.max())
                norm = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
                y, x = pad + i * (h + pad), pad + j * (w + pad)
                canvas[y:y + h, x:x + w] = (norm * 255).astype(np.uint8)
        write_png(path, np.kron(canvas, np.ones((scale, scale), np.uint8)))
    print(f"wrote {path}")
    return path


def write_png(path, gray):
    """A minimal PNG writer: 8-bit grayscale image (2-D uint8 numpy) -> file."""
    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    h, w = gray.shape
    raw = b"".join(b"\x00" + gray[y].tobytes() for y in range(h))  # filter type 0 per row

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
