"""The 784-120-80-10 MLP trained on Fashion-MNIST once per activation function (sigmoid, tanh, ReLU,
LeakyReLU, ELU, SELU, GELU, SiLU), everything else equal: the same initial weights (PyTorch's
default initialisation, drawn once from --seed), the same batches in the same order, Adam with the
same cosine-annealed learning rate. Prints a table of accuracies and plots the test accuracy per epoch.

    PYTHONPATH=python python examples/activations_mlp.py [--epochs 5]
"""
import os

import flambeau as torch
import flambeau.nn as nn

import _common as C

ACTIVATIONS = {
    "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "ReLU": nn.ReLU, "LeakyReLU": nn.LeakyReLU,
    "ELU": nn.ELU, "SELU": nn.SELU, "GELU": nn.GELU, "SiLU": nn.SiLU,
}


def mlp(activation=None, sizes=(784, 120, 80, 10), nn=nn):
    """Flatten, then Linear + activation (default nn.ReLU) between each pair of sizes (no activation
    at the end), built from the `nn` package given (benchmarks/compare_main_job.py passes torch.nn)."""
    activation = activation or nn.ReLU
    layers = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def main():
    p = C.parser(__doc__.split("\n")[0], epochs=5, batch_size=64, lr=1e-3)
    p.add_argument("--only", default=None,
                   help="comma-separated subset of: " + ",".join(ACTIVATIONS))
    args = p.parse_args()
    C.setup(args)
    names = args.only.split(",") if args.only else list(ACTIVATIONS)

    train_loader, test_loader = C.loaders(args)
    initial = mlp().state_dict()  # one set of initial weights for every run
    results = {}
    for name in names:
        model = mlp(ACTIVATIONS[name])
        model.load_state_dict(initial)
        torch.manual_seed(args.seed)  # the same shuffling for every run
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
        results[name] = C.fit(model, train_loader, test_loader, optimizer, args.epochs, scheduler,
                              name=f"{name:<9}", verbose=False)
        h = results[name]
        print(f"{name:<9} train acc {h['train_acc'][-1]:.4f} test acc {h['test_acc'][-1]:.4f}",
              flush=True)

    print()
    print(f"| activation | train loss | train acc | test loss | test acc | best test acc | time |")
    print(f"|------------|-----------:|----------:|----------:|---------:|--------------:|-----:|")
    for name, h in results.items():
        print(f"| {name:<10} | {h['train_loss'][-1]:10.4f} | {h['train_acc'][-1]:9.4f} | "
              f"{h['test_loss'][-1]:9.4f} | {h['test_acc'][-1]:8.4f} | {max(h['test_acc']):13.4f} "
              f"| {h['seconds'][-1]:3.0f}s |")
    best = max(results, key=lambda n: results[n]["test_acc"][-1])
    print(f"best final test accuracy: {best} ({results[best]['test_acc'][-1]:.4f})")
    C.plot_panels(os.path.join(args.out, "activations_mlp.png"), [
        dict(title="training loss", xlabel="epoch", ylabel="cross-entropy",
             curves={n: h["train_loss"] for n, h in results.items()}),
        dict(title="test accuracy", xlabel="epoch", ylabel="accuracy",
             curves={n: h["test_acc"] for n, h in results.items()}),
    ], suptitle="784-120-80-10 MLP on Fashion-MNIST, one run per activation")


if __name__ == "__main__":
    main()
