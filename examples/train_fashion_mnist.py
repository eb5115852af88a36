"""Fashion-MNIST with a small CNN: two conv blocks (conv + BatchNorm + ReLU + max-pool), dropout,
two fully connected layers; Adam (or SGD with Nesterov momentum) under a one-cycle learning-rate
schedule. Prints the training loss/accuracy and the test accuracy of every epoch, saves the model
with flambeau.save and draws the learning curves.

    PYTHONPATH=python python examples/train_fashion_mnist.py            # shipped 6000/1000 subset
    PYTHONPATH=python python examples/train_fashion_mnist.py --full     # 60000/10000, from disk

It is written as a PyTorch script would be, with `import flambeau as torch`.
"""
import os
import time

import flambeau as torch
import flambeau.nn as nn

import _common as C


def build_model(nn, dropout=0.25):
    """The network, from the `nn` package given (flambeau.nn here; benchmarks/compare_main_job.py
    passes torch.nn too, to time the very same model on PyTorch). 1x28x28 -> 10 logits."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),                                                    # 32 x 14 x 14
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(2),                                                    # 64 x 7 x 7
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(128, 10),
    )


def make_optimizer(torch, model, name, lr, epochs, steps_per_epoch):
    """Adam or SGD + Nesterov momentum, with a one-cycle schedule stepped after every batch
    (warm-up over the first 30% of the steps, cosine decay to lr/1e4 after)."""
    if name == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                              weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs,
                                                steps_per_epoch=steps_per_epoch)
    return opt, sched


def main():
    p = C.parser(__doc__.split("\n")[0], epochs=8, batch_size=128, lr=2e-3)
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                   help="adam (default lr 2e-3) or sgd with Nesterov momentum (try --lr 0.05)")
    p.add_argument("--augment", action="store_true",
                   help="random 2-pixel shifts and horizontal flips of the training images")
    args = p.parse_args()
    C.setup(args)

    train_loader, test_loader = C.loaders(args, augment=args.augment)
    print(f"{len(train_loader.dataset)} training / {len(test_loader.dataset)} test images")
    model = build_model(nn)
    print(f"model: {C.count_parameters(model):,} parameters")
    optimizer, scheduler = make_optimizer(torch, model, args.optimizer, args.lr, args.epochs,
                                          len(train_loader))

    start = time.perf_counter()
    hist = C.fit(model, train_loader, test_loader, optimizer, args.epochs, scheduler,
                 per_batch=True)
    seconds = time.perf_counter() - start
    acc = hist["test_acc"][-1]
    print(f"final test accuracy: {acc:.4f} ({args.epochs} epochs, {seconds:.0f}s)")

    path = os.path.join(args.out, "fashion_cnn.flb")
    torch.save(model.state_dict(), path)
    # Reload into a fresh model to show the round trip (and check it).
    again = build_model(nn)
    again.load_state_dict(torch.load(path))
    assert abs(C.evaluate(again, test_loader)[1] - acc) < 1e-6
    print(f"saved the model to {path} (reloaded: same test accuracy)")
    C.plot_history(os.path.join(args.out, "fashion_cnn_curves.png"), hist,
                   f"Fashion-MNIST CNN ({'full' if args.full else 'subset'}, {args.optimizer}): "
                   f"test acc {acc:.3f}")


if __name__ == "__main__":
    main()
