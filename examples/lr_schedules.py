"""Learning-rate schedules from flambeau.optim.lr_scheduler, stepped once per batch: constant, step
decay, cosine, linear warm-up + cosine, inverse square root (with warm-up), cosine with warm
restarts, and one-cycle. Plots the learning rate against the step (lr_schedules.png), then trains
the 784-120-80-10 MLP with SGD + momentum under each (same start, same batches) and prints the test
accuracies (--no-train to only plot).

    PYTHONPATH=python python examples/lr_schedules.py [--epochs 3] [--no-train]
"""
import math
import os

import flambeau as torch
import flambeau.nn as nn
from flambeau.optim import lr_scheduler as S

import _common as C
from activations_mlp import mlp

SCHEDULES = ["constant", "step", "cosine", "warmup+cosine", "inverse sqrt", "cosine restarts",
             "one-cycle"]


def make_schedule(name, optimizer, total_steps):
    """The scheduler `name` for a run of `total_steps` optimizer steps."""
    warmup = max(1, total_steps // 10)
    if name == "constant":
        return S.ConstantLR(optimizer, factor=1.0, total_iters=0)
    if name == "step":          # x0.1 at 1/2 and at 3/4 of the run
        return S.MultiStepLR(optimizer, milestones=[total_steps // 2, total_steps * 3 // 4],
                             gamma=0.1)
    if name == "cosine":
        return S.CosineAnnealingLR(optimizer, T_max=total_steps)
    if name == "warmup+cosine":
        return S.SequentialLR(optimizer, [
            S.LinearLR(optimizer, start_factor=0.01, end_factor=1.0, total_iters=warmup),
            S.CosineAnnealingLR(optimizer, T_max=total_steps - warmup)], milestones=[warmup])
    if name == "inverse sqrt":  # linear warm-up, then lr * sqrt(warmup / step) ("Noam")
        return S.LambdaLR(optimizer, lambda s: min((s + 1) / warmup, math.sqrt(warmup / (s + 1))))
    if name == "cosine restarts":  # periods of 1/7, 2/7 and 4/7 of the run
        return S.CosineAnnealingWarmRestarts(optimizer, T_0=max(1, math.ceil(total_steps / 7)),
                                             T_mult=2)
    if name == "one-cycle":
        return S.OneCycleLR(optimizer, max_lr=optimizer.param_groups[0]["lr"],
                            total_steps=total_steps)
    raise ValueError(name)


def lr_curve(name, lr, total_steps):
    """The learning rate used at each of `total_steps` steps (on a dummy parameter)."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)
    scheduler = make_schedule(name, optimizer, total_steps)
    lrs = []
    for _ in range(total_steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def main():
    p = C.parser(__doc__.split("\n")[0], epochs=3, batch_size=64, lr=0.05)
    p.add_argument("--no-train", action="store_true", help="only plot the schedules")
    args = p.parse_args()
    C.setup(args)

    train_loader, test_loader = None, None
    steps = 1000
    if not args.no_train:
        train_loader, test_loader = C.loaders(args)
        steps = args.epochs * len(train_loader)
    curves = {name: lr_curve(name, args.lr, steps) for name in SCHEDULES}
    C.plot_panels(os.path.join(args.out, "lr_schedules.png"), [
        dict(title=name, xlabel="step", ylabel="learning rate", curves={name: (range(steps), c)})
        for name, c in curves.items()
    ] + [dict(title="all (log scale)", xlabel="step", ylabel="learning rate", logy=True,
              curves={n: (range(steps), c) for n, c in curves.items()})],
        suptitle=f"flambeau.optim.lr_scheduler, stepped per batch: peak lr {args.lr}, {steps} steps",
        ncols=4)
    if args.no_train:
        return

    initial = mlp().state_dict()
    results = {}
    for name in SCHEDULES:
        model = mlp()
        model.load_state_dict(initial)
        torch.manual_seed(args.seed)
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
        scheduler = make_schedule(name, optimizer, steps)
        results[name] = C.fit(model, train_loader, test_loader, optimizer, args.epochs,
                              scheduler, per_batch=True, name=f"{name:<15}", verbose=False)
        print(f"{name:<15} test acc {results[name]['test_acc'][-1]:.4f}", flush=True)
    print()
    print("| schedule | final train loss | test acc |")
    print("|---|---:|---:|")
    for name, h in results.items():
        print(f"| {name} | {h['train_loss'][-1]:.4f} | {h['test_acc'][-1]:.4f} |")


if __name__ == "__main__":
    main()
