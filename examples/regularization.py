"""Regularising the 784-120-80-10 MLP on Fashion-MNIST, where the small training set invites
overfitting: no regularisation, an L2 penalty, an L1 penalty, and early stopping on a validation
split; then magnitude pruning (flambeau.nn.utils.prune) of the trained networks at growing
sparsity, with and without a short fine-tuning after pruning.

The penalties are added to the loss explicitly (lambda * sum of w^2 or of |w| over the weight
matrices, biases left out): that is what weight_decay does inside SGD/Adam for L2, written out so
that L1 can be done the same way. 10% of the training images are held out for validation (early
stopping watches their loss); the test set is only used for the final numbers.

Writes regularization.png (training and validation loss per epoch for each method, and test
accuracy against sparsity after pruning).

    PYTHONPATH=python python examples/regularization.py [--epochs 15]
"""
import os

import numpy as np

import flambeau as torch
import flambeau.nn as nn
import flambeau.nn.utils.prune as prune
from flambeau.utils.data import DataLoader, random_split

import _common as C
from activations_mlp import mlp

SPARSITIES = [0.5, 0.8, 0.9, 0.95, 0.98]


def weights(model):
    """The weight matrices (not the biases) of the Linear layers."""
    return [m.weight for m in model.modules() if isinstance(m, nn.Linear)]


def l2_penalty(model, lam):
    return lambda: lam * sum((w * w).sum() for w in weights(model))


def l1_penalty(model, lam):
    return lambda: lam * sum(w.abs().sum() for w in weights(model))


def small_weights(model, tol=1e-3):
    """Fraction of weights with |w| < tol."""
    ws = [w.detach().numpy().ravel() for w in weights(model)]
    return float(np.mean(np.abs(np.concatenate(ws)) < tol))


def pruned_copy(state, amount):
    """A fresh MLP with weights `state`, whose Linear weights are pruned globally: the fraction
    `amount` of all of them with the smallest magnitude is masked to zero."""
    model = mlp()
    model.load_state_dict(state)
    prune.global_unstructured([(m, "weight") for m in model.modules() if isinstance(m, nn.Linear)],
                              pruning_method=prune.L1Unstructured, amount=amount)
    return model


def sparsity(model):
    ws = [w.detach().numpy().ravel() for w in weights(model)]
    return float(np.mean(np.concatenate(ws) == 0))


def main():
    p = C.parser(__doc__.split("\n")[0], epochs=15, batch_size=64, lr=1e-3)
    p.add_argument("--l2", type=float, default=1e-3, help="L2 penalty strength")
    p.add_argument("--l1", type=float, default=1e-4, help="L1 penalty strength")
    p.add_argument("--patience", type=int, default=3, help="early-stopping patience (epochs)")
    args = p.parse_args()
    C.setup(args)

    train_loader, test_loader = C.loaders(args)
    full_train = train_loader.dataset
    n_val = len(full_train) // 10
    train_set, val_set = random_split(full_train, [len(full_train) - n_val, n_val],
                                      generator=torch.Generator().manual_seed(args.seed))
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=500)
    print(f"{len(train_set)} training / {len(val_set)} validation / "
          f"{len(test_loader.dataset)} test images")

    initial = mlp().state_dict()
    methods = {
        "none": dict(),
        f"L2 ({args.l2:g})": dict(penalty=l2_penalty),
        f"L1 ({args.l1:g})": dict(penalty=l1_penalty),
        f"early stopping ({args.patience})": dict(early_stopping=C.EarlyStopping(args.patience)),
    }
    lams = {f"L2 ({args.l2:g})": args.l2, f"L1 ({args.l1:g})": args.l1}
    results, states = {}, {}
    for name, kw in methods.items():
        model = mlp()
        model.load_state_dict(initial)
        torch.manual_seed(args.seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        penalty = kw["penalty"](model, lams[name]) if "penalty" in kw else None
        hist = C.fit(model, train_loader, val_loader, optimizer, args.epochs, penalty=penalty,
                     early_stopping=kw.get("early_stopping"), name=f"{name:<20}",
                     verbose="early_stopping" in kw, eval_name="val")
        test_loss, test_acc = C.evaluate(model, test_loader)
        results[name] = dict(hist=hist, test_acc=test_acc, test_loss=test_loss,
                             small=small_weights(model), epochs=len(hist["train_loss"]))
        states[name] = {k: v.clone() for k, v in model.state_dict().items()}
        print(f"{name:<20} test acc {test_acc:.4f}", flush=True)

    print()
    print("| regularisation | epochs | final train loss (+ penalty) | best val loss | test loss | test acc "
          "| weights with \\|w\\| < 1e-3 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        h = r["hist"]
        print(f"| {name} | {r['epochs']} | {h['train_loss'][-1]:.4f} | {min(h['test_loss']):.4f} "
              f"| {r['test_loss']:.4f} | {r['test_acc']:.4f} | {r['small']:.1%} |")

    # Magnitude pruning of the unregularised and of the L1-trained network.
    print("\nglobal magnitude pruning (prune.global_unstructured, L1Unstructured) of the weights:")
    print("| trained with | sparsity | test acc | test acc after 1 epoch of fine-tuning |")
    print("|---|---:|---:|---:|")
    prune_curves = {}
    for name in ("none", f"L1 ({args.l1:g})"):
        accs, tuned = [], []
        for amount in SPARSITIES:
            model = pruned_copy(states[name], amount)
            acc = C.evaluate(model, test_loader)[1]
            # Fine-tune with the mask in place (pruned weights stay zero), then make it permanent.
            optimizer = torch.optim.Adam(model.parameters(), lr=args.lr / 3)
            C.train_epoch(model, train_loader, optimizer, desc=f"fine-tune {amount:.0%} pruned")
            for m in model.modules():
                if isinstance(m, nn.Linear):
                    prune.remove(m, "weight")
            acc2 = C.evaluate(model, test_loader)[1]
            accs.append(acc)
            tuned.append(acc2)
            print(f"| {name} | {sparsity(model):.1%} | {acc:.4f} | {acc2:.4f} |", flush=True)
        prune_curves[f"{name}: pruned"] = (SPARSITIES, accs)
        prune_curves[f"{name}: pruned + fine-tuned"] = (SPARSITIES, tuned)

    C.plot_panels(os.path.join(args.out, "regularization.png"), [
        dict(title="training loss (incl. penalty)", xlabel="epoch", ylabel="loss",
             curves={n: r["hist"]["train_loss"] for n, r in results.items()}),
        dict(title="validation loss", xlabel="epoch", ylabel="cross-entropy",
             curves={n: r["hist"]["test_loss"] for n, r in results.items()}),
        dict(title="magnitude pruning", xlabel="fraction of weights removed",
             ylabel="test accuracy", curves=prune_curves),
    ], suptitle="784-120-80-10 MLP on the Fashion-MNIST subset")


if __name__ == "__main__":
    main()
