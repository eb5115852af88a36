"""Transfer learning: pretrain the main job's CNN on Fashion-MNIST classes 0-4 (T-shirt, trouser,
pullover, dress, coat), save it, reload it, and reuse its body for classes 5-9 (sandal, shirt,
sneaker, bag, ankle boot) given only a few hundred labelled images of those:

  1. frozen body: body.requires_grad_(False) (and its BatchNorm statistics kept, by holding the
     body in eval mode), a new 5-way head, only the head trained;
  2. fine-tuning: everything unfrozen, trained on at a learning rate 10x smaller;
  3. for comparison, the same network trained from scratch on the same few images, for as many
     epochs as steps 1 and 2 together.

    PYTHONPATH=python python examples/transfer_learning.py [--target-images 500]
"""
import os

import flambeau as torch
import flambeau.nn as nn

import _common as C
from train_fashion_mnist import build_model

SOURCE, TARGET = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]


class Classifier(nn.Module):
    """body (the main job's CNN up to its last layer: image -> 128 features) + head (Linear)."""

    def __init__(self, num_classes):
        super().__init__()
        self.body = build_model(nn)[:-1]
        self.head = nn.Linear(128, num_classes)
        self.body_frozen = False

    def forward(self, x):
        return self.head(self.body(x))

    def freeze_body(self, frozen=True):
        self.body_frozen = frozen
        self.body.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode=True):
        super().train(mode)
        if self.body_frozen:  # a frozen body keeps its BatchNorm running statistics as they are
            self.body.eval()
        return self


def trainable(model):
    return [p for p in model.parameters() if p.requires_grad]


def main():
    p = C.parser(__doc__.split("\n")[0], epochs=3, batch_size=64, lr=2e-3)
    p.add_argument("--target-images", type=int, default=500,
                   help="labelled training images of classes 5-9 for the new task")
    p.add_argument("--finetune-epochs", type=int, default=6,
                   help="epochs of each of the two transfer stages")
    args = p.parse_args()
    C.setup(args)

    # Task A: classes 0-4, labels 0-4. Task B: classes 5-9, labels 0-4 (t - 5).
    source_train, source_test = C.loaders(args, classes=SOURCE)
    limit = args.limit
    args.limit = min(args.target_images, args.limit or args.target_images)
    target_train, _ = C.loaders(args, classes=TARGET, target_transform=lambda t: t - 5)
    args.limit = limit
    _, target_test = C.loaders(args, classes=TARGET, target_transform=lambda t: t - 5)
    print(f"source task (classes 0-4): {len(source_train.dataset)} training images; "
          f"target task (classes 5-9): {len(target_train.dataset)} training images, "
          f"{len(target_test.dataset)} test images")

    print(f"\n== pretraining on classes 0-4 ({args.epochs} epochs, Adam lr {args.lr})")
    model = Classifier(5)
    C.fit(model, source_train, source_test, torch.optim.Adam(model.parameters(), lr=args.lr),
          args.epochs, name="pretrain")
    path = os.path.join(args.out, "pretrained_classes_0-4.flb")
    torch.save(model.state_dict(), path)
    print(f"saved to {path}")

    model = Classifier(5)
    model.load_state_dict(torch.load(path))
    print(f"reloaded: test accuracy on classes 0-4: {C.evaluate(model, source_test)[1]:.4f}")

    results = {}
    E = args.finetune_epochs
    print(f"\n== 1. frozen body, new head ({E} epochs, Adam lr {args.lr})")
    model.head = nn.Linear(128, 5)
    model.freeze_body()
    n1 = sum(p.numel() for p in trainable(model))
    h1 = C.fit(model, target_train, target_test, torch.optim.Adam(trainable(model), lr=args.lr),
               E, name="frozen body")
    results["frozen body, new head"] = (n1, h1)

    print(f"\n== 2. fine-tuning everything ({E} epochs, Adam lr {args.lr / 10:g}: 10x smaller)")
    model.freeze_body(False)
    h2 = C.fit(model, target_train, target_test,
               torch.optim.Adam(model.parameters(), lr=args.lr / 10), E, name="fine-tune")
    results["+ fine-tuned, lr / 10"] = (C.count_parameters(model), h2)

    print(f"\n== 3. from scratch on the same images ({2 * E} epochs, Adam lr {args.lr})")
    torch.manual_seed(args.seed + 1)
    scratch = Classifier(5)
    h3 = C.fit(scratch, target_train, target_test,
               torch.optim.Adam(scratch.parameters(), lr=args.lr), 2 * E, name="scratch")
    results["from scratch"] = (C.count_parameters(scratch), h3)

    print(f"\nclasses 5-9 from {len(target_train.dataset)} labelled images:")
    print("| model | trained parameters | test acc |")
    print("|---|---:|---:|")
    for name, (n, h) in results.items():
        print(f"| {name} | {n:,} | {h['test_acc'][-1]:.4f} |")

    transfer = h1["test_acc"] + h2["test_acc"]
    C.plot_panels(os.path.join(args.out, "transfer_learning.png"), [
        dict(title="test accuracy on classes 5-9", xlabel="epoch", ylabel="accuracy",
             curves={"transfer (frozen, then fine-tuned)": transfer,
                     "from scratch": h3["test_acc"]}),
        dict(title="training loss on classes 5-9", xlabel="epoch", ylabel="cross-entropy",
             curves={"transfer (frozen, then fine-tuned)": h1["train_loss"] + h2["train_loss"],
                     "from scratch": h3["train_loss"]}),
    ], suptitle=f"pretrained on classes 0-4, then {len(target_train.dataset)} images of 5-9")


if __name__ == "__main__":
    main()
