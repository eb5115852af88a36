"""flambeau.vision: torchvision's everyday names on flambeau, under torchvision's module paths, so that
`python -m flambeau.run train.py` runs a script's `from torchvision import datasets, transforms`,
`import torchvision.models as models` and `torchvision.utils.make_grid` unchanged (the torch alias maps
`torchvision.*` to `flambeau.vision.*`).

    transforms  flambeau.transforms itself (the same module objects under both names)
    datasets    MNIST, FashionMNIST, KMNIST, EMNIST, CIFAR10, CIFAR100, SVHN, ImageFolder, DatasetFolder,
                FakeData (read from disk: nothing is ever downloaded)
    models      resnet18/34/50/101/152, resnext50_32x4d, wide_resnet50_2, vgg11(_bn)/16(_bn), alexnet,
                mobilenet_v2, squeezenet1_0/1_1, shufflenet_v2_x0_5/x1_0, densenet121, efficientnet_b0,
                vit_b_16 with torchvision's module and state_dict names (weights come only from local
                checkpoint files)
    utils       make_grid, save_image (PNG written with zlib, no PIL needed)
    io          read_file, write_file, decode_png, encode_png, read_image, decode_image, write_png,
                decode_jpeg, encode_jpeg, write_jpeg, ImageReadMode (PNG without PIL; JPEG needs Pillow)
    ops         box_iou, box_area, box_convert, nms, batched_nms, clip_boxes_to_image, remove_small_boxes,
                roi_align, roi_pool

The datasets give numpy uint8 arrays (H, W) or (H, W, C) where torchvision gives PIL images (or PIL images
after set_image_backend('PIL')); the transforms take those, tensors, and PIL images (PIL in, PIL out, as
torchvision) when Pillow is installed, so a dataset with a PIL loader works too.
"""
import sys

from .. import transforms  # noqa: F401  (flambeau.vision.transforms is flambeau.transforms)
from . import _backend, datasets, io, models, ops, utils  # noqa: F401

__version__ = "0.28.0+flambeau"  # the torchvision release whose names and layouts this follows


def _alias_transforms():
    """flambeau.vision.transforms[.x] are flambeau.transforms[.x], never second copies: registered in
    sys.modules so `import flambeau.vision.transforms.functional` finds the module already loaded."""
    for name, mod in list(sys.modules.items()):
        if mod is not None and (name == "flambeau.transforms" or name.startswith("flambeau.transforms.")):
            sys.modules.setdefault("flambeau.vision" + name[len("flambeau"):], mod)


_alias_transforms()


def get_image_backend():
    """The image type the datasets give: 'numpy' (the default) or 'PIL'."""
    return _backend.get_backend()


def set_image_backend(backend):
    """'PIL' makes MNIST & co., CIFAR, SVHN, FakeData and ImageFolder's default loader give PIL images, as
    torchvision's do (needs Pillow); 'numpy' (the default) gives uint8 arrays."""
    _backend.set_backend(backend)


__all__ = ["datasets", "io", "models", "ops", "transforms", "utils", "get_image_backend", "set_image_backend"]
