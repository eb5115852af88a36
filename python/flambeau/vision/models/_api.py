"""Pretrained weights without a download: torchvision's Weights enums (ResNet18_Weights.IMAGENET1K_V1, .DEFAULT)
name a checkpoint file, which is loaded only when it is on disk already.

`weights=` accepts None (random initialisation), a path to a local checkpoint (a state_dict saved by
torch.save / flambeau.save, or .safetensors), or a Weights member, whose file (the name at the end of its
torchvision URL, e.g. resnet18-f37072fd.pth) is looked for in flambeau.hub.get_dir()/checkpoints, where
torch.hub's cache layout puts it. The legacy `pretrained=True` means the enum's IMAGENET1K_V1. Anything not on
disk raises a RuntimeError saying there is no download and where to put the file.
"""
import enum
import os
from urllib.parse import urlparse

import flambeau

__all__ = ["Weights", "WeightsEnum", "checkpoint_path", "get_weight", "load_weights"]

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class Weights:
    """One set of pretrained weights: its torchvision URL (for the file name), the input size its
    preprocessing resizes to, and the number of classes."""

    def __init__(self, url, crop_size=224, resize_size=256, num_classes=1000, interpolation="bilinear"):
        self.url = url
        self.crop_size = crop_size
        self.resize_size = resize_size
        self.interpolation = interpolation  # an InterpolationMode value
        self.meta = {"num_classes": num_classes}

    @property
    def file_name(self):
        return os.path.basename(urlparse(self.url).path)

    def transforms(self):
        """torchvision's ImageClassification preset for these weights, as a Compose of flambeau.transforms
        (resize, center crop, to float in [0, 1], normalise with ImageNet's mean and std)."""
        from ... import transforms as T
        return T.Compose([T.Resize(self.resize_size, T.InterpolationMode(self.interpolation)),
                          T.CenterCrop(self.crop_size), T.ToTensor(),
                          T.Normalize(_IMAGENET_MEAN, _IMAGENET_STD)])


class WeightsEnum(enum.Enum):
    @property
    def url(self):
        return self.value.url

    @property
    def meta(self):
        return self.value.meta

    def transforms(self):
        return self.value.transforms()


def get_weight(name):
    """'ResNet18_Weights.IMAGENET1K_V1' -> the enum member."""
    enum_name, _, member = name.partition(".")
    from . import (resnet, vgg, alexnet, mobilenetv2, squeezenet, shufflenetv2, densenet, efficientnet,
                   vision_transformer)
    for mod in (resnet, vgg, alexnet, mobilenetv2, squeezenet, shufflenetv2, densenet, efficientnet,
                vision_transformer):
        if hasattr(mod, enum_name):
            return getattr(getattr(mod, enum_name), member)
    raise ValueError(f"get_weight: unknown weights {name!r}")


def resolve(fn_name, weights_enum, weights, kwargs):
    """The `weights` argument after torchvision's legacy `pretrained=` handling."""
    pretrained = kwargs.pop("pretrained", None)
    if pretrained is not None:
        if weights is not None:
            raise ValueError(f"{fn_name}: pass weights= or the legacy pretrained=, not both")
        weights = weights_enum.IMAGENET1K_V1 if pretrained else None
    if isinstance(weights, str) and weights.startswith(weights_enum.__name__ + "."):
        weights = get_weight(weights)
    elif isinstance(weights, str) and weights in weights_enum.__members__:
        weights = weights_enum[weights]
    if isinstance(weights, WeightsEnum) and not isinstance(weights, weights_enum):
        raise ValueError(f"{fn_name}: weights {weights} are not {weights_enum.__name__}")
    if isinstance(weights, WeightsEnum):
        num = weights.meta["num_classes"]
        if kwargs.get("num_classes", num) != num:
            raise ValueError(f"{fn_name}: num_classes={kwargs['num_classes']} does not match the {num} classes "
                             f"of {weights}")
        kwargs["num_classes"] = num
    return weights


def checkpoint_path(fn_name, weights):
    """The file holding weights (None for None), checked before the model is built so that a missing
    checkpoint fails at once, not after initialising a hundred million parameters."""
    if weights is None:
        return None
    if isinstance(weights, WeightsEnum):
        from ... import hub
        path = os.path.join(hub.get_dir(), "checkpoints", weights.value.file_name)
        if not os.path.isfile(path):
            raise RuntimeError(
                f"{fn_name}(weights={weights}): flambeau does not download pretrained weights, and "
                f"{path} is not there. Put the checkpoint {weights.value.file_name} (from {weights.url}) in "
                f"{os.path.dirname(path)}, or pass weights='/path/to/checkpoint.pth', or weights=None.")
    elif isinstance(weights, (str, os.PathLike)):
        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise RuntimeError(f"{fn_name}(weights={path!r}): no such checkpoint file (flambeau never "
                               "downloads weights: weights= takes None, a Weights member whose file is in the "
                               "hub cache, or the path of a local checkpoint)")
    else:
        raise TypeError(f"{fn_name}: weights must be None, a Weights member or a checkpoint path, "
                        f"got {type(weights).__name__}")
    return path


def load_weights(model, path):
    """Loads the state_dict in checkpoint file path (checkpoint_path's answer) into model; None leaves it
    as initialised."""
    if path is None:
        return model
    if path.endswith(".safetensors"):
        state = flambeau.load_safetensors(path)
    else:
        state = flambeau.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    model.load_state_dict(state)
    return model
