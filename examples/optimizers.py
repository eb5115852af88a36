"""SGD, SGD with momentum, Nesterov momentum, AdaGrad, RMSProp and Adam on the same problem: the
784-120-80-10 ReLU MLP on Fashion-MNIST, from the same initial weights, on the same batches.

Writes optimizers_loss.png (training loss per step, smoothed, and test accuracy per epoch) and
optimizers_weights.png: the first 10 units of the first layer, each a 28x28 image of its 784 input
weights, one row per optimizer (and one for the shared initial weights) -- the templates each
optimizer has carved out of the same random start; optimizers_weight_changes.png draws the
difference from the initial weights, which shows it more clearly where the steps were small.

    PYTHONPATH=python python examples/optimizers.py [--epochs 3]
"""
import os

import numpy as np

import flambeau as torch

import _common as C
from activations_mlp import mlp

# name -> (optimizer class, keyword arguments). Learning rates are usual good values for each.
OPTIMIZERS = {
    "SGD": (torch.optim.SGD, dict(lr=0.05)),
    "Momentum": (torch.optim.SGD, dict(lr=0.01, momentum=0.9)),
    "Nesterov": (torch.optim.SGD, dict(lr=0.01, momentum=0.9, nesterov=True)),
    "AdaGrad": (torch.optim.Adagrad, dict(lr=0.02)),
    "RMSProp": (torch.optim.RMSprop, dict(lr=5e-4)),
    "Adam": (torch.optim.Adam, dict(lr=1e-3)),
}


class LossRecorder:
    """A loss function that also keeps every value it returns (for per-step curves)."""

    def __init__(self):
        self.values = []

    def __call__(self, logits, target):
        loss = torch.nn.functional.cross_entropy(logits, target)
        self.values.append(loss.item())
        return loss


def smooth(values, k=20):
    v = np.asarray(values, dtype=np.float64)
    if len(v) < k:
        return v
    return np.convolve(v, np.ones(k) / k, mode="valid")


def main():
    p = C.parser(__doc__.split("\n")[0], epochs=3, batch_size=64, lr=None)
    p.add_argument("--units", type=int, default=10, help="first-layer units to draw")
    args = p.parse_args()
    if args.lr is not None:
        p.error("--lr: each optimizer has its own learning rate (edit OPTIMIZERS)")
    C.setup(args)

    train_loader, test_loader = C.loaders(args)
    initial = mlp().state_dict()
    losses, hists, weights = {}, {}, {"initial": initial["1.weight"].numpy()}
    for name, (cls, kwargs) in OPTIMIZERS.items():
        model = mlp()
        model.load_state_dict(initial)
        torch.manual_seed(args.seed)  # same batch order for every optimizer
        optimizer = cls(model.parameters(), **kwargs)
        recorder = LossRecorder()
        hist = {k: [] for k in ("train_loss", "test_acc")}
        for epoch in range(1, args.epochs + 1):
            C.train_epoch(model, train_loader, optimizer, loss_fn=recorder,
                          desc=f"{name:<8} epoch {epoch}/{args.epochs}")
            hist["test_acc"].append(C.evaluate(model, test_loader)[1])
        losses[name], hists[name] = recorder.values, hist
        weights[name] = model[1].weight.detach().numpy()
        print(f"{name:<8} {kwargs}: final train loss (last 50 steps) "
              f"{np.mean(recorder.values[-50:]):.4f}, test acc {hist['test_acc'][-1]:.4f}",
              flush=True)

    print()
    print("| optimizer | settings | train loss (last 50 steps) | test acc |")
    print("|---|---|---:|---:|")
    for name, (cls, kwargs) in OPTIMIZERS.items():
        print(f"| {name} | {cls.__name__}({', '.join(f'{k}={v}' for k, v in kwargs.items())}) | "
              f"{np.mean(losses[name][-50:]):.4f} | {hists[name]['test_acc'][-1]:.4f} |")

    k = 20
    C.plot_panels(os.path.join(args.out, "optimizers_loss.png"), [
        dict(title=f"training loss ({k}-step moving average)", xlabel="step",
             ylabel="cross-entropy", logy=True,
             curves={n: (np.arange(k, len(v) + 1) if len(v) >= k else np.arange(1, len(v) + 1),
                         smooth(v, k)) for n, v in losses.items()}),
        dict(title="test accuracy", xlabel="epoch", ylabel="accuracy",
             curves={n: h["test_acc"] for n, h in hists.items()}),
    ], suptitle="784-120-80-10 MLP on Fashion-MNIST: same start, same batches")
    C.save_image_grid(os.path.join(args.out, "optimizers_weights.png"),
                      [[w[i].reshape(28, 28) for i in range(args.units)]
                       for w in weights.values()], row_titles=list(weights))
    # What each optimizer added to the (shared) random start: clearer where the steps were small.
    w0 = weights["initial"]
    C.save_image_grid(os.path.join(args.out, "optimizers_weight_changes.png"),
                      [[(w - w0)[i].reshape(28, 28) for i in range(args.units)]
                       for name, w in weights.items() if name != "initial"],
                      row_titles=[f"{name} - initial" for name in OPTIMIZERS])


if __name__ == "__main__":
    main()
