"""flambeau.vision.models: torchvision's classification models with its module and state_dict names
(weights: None, a local checkpoint path, or a Weights member whose file is already in the hub cache)."""
from ._api import Weights, WeightsEnum, get_weight  # noqa: F401
from .resnet import *  # noqa: F401,F403
from .vgg import *  # noqa: F401,F403
from .alexnet import *  # noqa: F401,F403
from .mobilenetv2 import MobileNetV2, MobileNet_V2_Weights, mobilenet_v2  # noqa: F401
from .squeezenet import *  # noqa: F401,F403
from .shufflenetv2 import *  # noqa: F401,F403
from .densenet import *  # noqa: F401,F403
from .efficientnet import *  # noqa: F401,F403
from .vision_transformer import *  # noqa: F401,F403
from . import (resnet, vgg, alexnet, mobilenetv2, squeezenet, shufflenetv2, densenet, efficientnet,  # noqa: F401
               vision_transformer)

_BUILDERS = {name: globals()[name] for name in (
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2",
    "squeezenet1_0", "squeezenet1_1", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "densenet121", "efficientnet_b0",
    "vit_b_16", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
    "vgg19_bn", "alexnet", "mobilenet_v2")}


def list_models(module=None, include=None, exclude=None):
    """Names of the models this package builds (torchvision.models.list_models)."""
    import fnmatch
    names = sorted(_BUILDERS)
    if include is not None:
        pats = [include] if isinstance(include, str) else include
        names = [n for n in names if any(fnmatch.fnmatch(n, p) for p in pats)]
    if exclude is not None:
        pats = [exclude] if isinstance(exclude, str) else exclude
        names = [n for n in names if not any(fnmatch.fnmatch(n, p) for p in pats)]
    return names


def get_model_builder(name):
    try:
        return _BUILDERS[name.lower()]
    except KeyError:
        raise ValueError(f"Unknown model {name}") from None


def get_model(name, **config):
    """get_model('resnet18', weights=None, num_classes=10) as torchvision.models.get_model."""
    return get_model_builder(name)(**config)
