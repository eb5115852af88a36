"""LeNet-5 (LeCun et al., 1998) on Fashion-MNIST: conv 5x5 (6) - pool - conv 5x5 (16) - pool -
120 - 84 - 10, with tanh and average pooling as in the paper (--modern: ReLU and max pooling).
The 28x28 images are padded by 2 to the paper's 32x32 input.

Writes lenet5_curves.png (learning curves) and lenet5_features.png: the six 5x5 filters of the
first layer, and what each makes of a few test images.

    PYTHONPATH=python python examples/lenet5.py [--modern] [--epochs 6]
"""
import os

import flambeau as torch
import flambeau.nn as nn

import _common as C


class LeNet5(nn.Module):
    def __init__(self, modern=False, num_classes=10):
        super().__init__()
        act = nn.ReLU if modern else nn.Tanh
        pool = nn.MaxPool2d if modern else nn.AvgPool2d
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), act(), pool(2),    # C1 (6 x 28 x 28), S2 (6 x 14 x 14)
            nn.Conv2d(6, 16, 5), act(), pool(2),              # C3 (16 x 10 x 10), S4 (16 x 5 x 5)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), act(),                # C5
            nn.Linear(120, 84), act(),                        # F6
            nn.Linear(84, num_classes),                       # output
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    p = C.parser(__doc__.split("\n")[0], epochs=6, batch_size=64, lr=2e-3)
    p.add_argument("--modern", action="store_true", help="ReLU and max pooling")
    args = p.parse_args()
    C.setup(args)

    train_loader, test_loader = C.loaders(args)
    model = LeNet5(args.modern)
    print(f"LeNet-5 ({'ReLU, max-pool' if args.modern else 'tanh, avg-pool'}): "
          f"{C.count_parameters(model):,} parameters")
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    hist = C.fit(model, train_loader, test_loader, optimizer, args.epochs, scheduler)
    print(f"final test accuracy: {hist['test_acc'][-1]:.4f} ({hist['seconds'][-1]:.0f}s)")

    C.plot_history(os.path.join(args.out, "lenet5_curves.png"), hist,
                   f"LeNet-5 on Fashion-MNIST: test acc {hist['test_acc'][-1]:.3f}")
    # The first layer: its filters, then its response (after the activation) to 4 test images.
    images = next(iter(test_loader))[0][:4]
    with torch.no_grad():
        maps = model.features[:2](images)
    filters = model.features[0].weight.detach().numpy()[:, 0]
    rows = [[None] + list(filters)] + [[img[0].numpy()] + list(m.numpy()) for img, m in zip(images, maps)]
    C.save_image_grid(os.path.join(args.out, "lenet5_features.png"), rows,
                      row_titles=["C1 filters"] + [f"test image {i}" for i in range(len(images))])


if __name__ == "__main__":
    main()
