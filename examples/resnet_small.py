"""A small ResNet on Fashion-MNIST: a 3x3 conv stem, then residual blocks (two 3x3 conv + BatchNorm
layers, with the input added back: y = relu(x + F(x)); a strided 1x1 conv + BN projects the
shortcut when the shape changes), global average pooling and a linear classifier. SGD with Nesterov
momentum, weight decay, and a linear warm-up followed by cosine decay of the learning rate.

    PYTHONPATH=python python examples/resnet_small.py [--epochs 5] [--widths 16,32,64]
"""
import os

import flambeau as torch
import flambeau.nn as nn
import flambeau.nn.functional as F

import _common as C


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU (He et al., 2016)."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """stem (widths[0] x 28 x 28) -> one block per further width, each halving the resolution
    (28 -> 14 -> 7 with the default widths) -> global average pool -> linear."""

    def __init__(self, widths=(16, 32, 64), num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        self.blocks = nn.Sequential(*[BasicBlock(a, b, stride=2)
                                      for a, b in zip(widths, widths[1:])])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x):
        x = self.pool(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


def main():
    p = C.parser(__doc__.split("\n")[0], epochs=5, batch_size=128, lr=0.1)
    p.add_argument("--widths", default="16,32,64", help="channels of the stem and of each block")
    args = p.parse_args()
    C.setup(args)

    train_loader, test_loader = C.loaders(args)
    widths = tuple(int(w) for w in args.widths.split(","))
    model = SmallResNet(widths)
    print(f"SmallResNet{widths}: {C.count_parameters(model):,} parameters, "
          f"{len(model.blocks)} residual blocks")
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    steps = args.epochs * len(train_loader)
    warmup = max(1, min(len(train_loader), steps // 5))
    scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [
        torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=warmup),
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps - warmup),
    ], milestones=[warmup])
    hist = C.fit(model, train_loader, test_loader, optimizer, args.epochs, scheduler,
                 per_batch=True)
    print(f"final test accuracy: {hist['test_acc'][-1]:.4f} ({hist['seconds'][-1]:.0f}s)")
    C.plot_history(os.path.join(args.out, "resnet_small_curves.png"), hist,
                   f"small ResNet on Fashion-MNIST: test acc {hist['test_acc'][-1]:.3f}")


if __name__ == "__main__":
    main()
