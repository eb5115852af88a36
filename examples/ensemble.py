"""An ensemble: several copies of the 784-120-80-10 MLP (with dropout), each trained from its own
random start and batch order, whose predicted class probabilities are averaged. Prints each
member's test accuracy and that of the ensemble of the first k members, k = 1..N, and plots them
(ensemble.png). The members are saved with flambeau.save and reloaded before being combined, as a
deployed ensemble would be.

    PYTHONPATH=python python examples/ensemble.py [--members 5] [--epochs 4]
"""
import os

import numpy as np

import flambeau as torch
import flambeau.nn as nn

import _common as C


def member():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 120), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(120, 80), nn.ReLU(), nn.Dropout(0.2), nn.Linear(80, 10))


def main():
    p = C.parser(__doc__.split("\n")[0], epochs=4, batch_size=64, lr=1e-3)
    p.add_argument("--members", type=int, default=5)
    args = p.parse_args()
    C.setup(args)
    train_loader, test_loader = C.loaders(args)

    paths = []
    for i in range(args.members):
        torch.manual_seed(args.seed + i)  # its own initial weights, dropout masks, batch order
        model = member()
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
        hist = C.fit(model, train_loader, test_loader, optimizer, args.epochs, scheduler,
                     name=f"member {i + 1}/{args.members}", verbose=False)
        paths.append(os.path.join(args.out, f"ensemble_member{i}.flb"))
        torch.save(model.state_dict(), paths[-1])
        print(f"member {i + 1}: test acc {hist['test_acc'][-1]:.4f} (saved {paths[-1]})",
              flush=True)

    # Reload every member and average their probabilities.
    members = []
    for path in paths:
        model = member()
        model.load_state_dict(torch.load(path))
        members.append(model)
    probs = []
    for model in members:
        p_i, labels = C.predict(model, test_loader)
        probs.append(p_i)
    single = [C.accuracy(p_i, labels) for p_i in probs]
    ensemble = [C.accuracy(np.mean(probs[:k], axis=0), labels) for k in range(1, len(probs) + 1)]
    nll = [C.log_loss(np.mean(probs[:k], axis=0), labels) for k in range(1, len(probs) + 1)]

    print()
    print("| members averaged | test acc | test cross-entropy |")
    print("|---:|---:|---:|")
    for k, (a, l) in enumerate(zip(ensemble, nll), 1):
        print(f"| {k} | {a:.4f} | {l:.4f} |")
    print(f"single members: mean test acc {np.mean(single):.4f} (min {min(single):.4f}, "
          f"max {max(single):.4f}); ensemble of {len(probs)}: {ensemble[-1]:.4f}")
    ks = range(1, len(probs) + 1)
    C.plot_panels(os.path.join(args.out, "ensemble.png"), [
        dict(title="test accuracy", xlabel="members", ylabel="accuracy",
             curves={"ensemble of the first k": (ks, ensemble), "member k alone": (ks, single)}),
        dict(title="test cross-entropy", xlabel="members", ylabel="cross-entropy",
             curves={"ensemble of the first k": (ks, nll),
                     "member k alone": (ks, [C.log_loss(p_i, labels) for p_i in probs])}),
    ], suptitle="averaging the probabilities of independently trained MLPs")


if __name__ == "__main__":
    main()
