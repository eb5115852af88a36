"""torchvision's SqueezeNet 1.0 and 1.1: `features` (a strided convolution, ceil-mode max pools and Fire modules
whose squeeze / expand1x1 / expand3x3 names are torchvision's) and `classifier` (Dropout, the final 1x1
convolution, ReLU, global average pool), with torchvision's initialisation (kaiming_uniform_ convolutions,
the final one normal with std 0.01, zero biases)."""
from ... import cat, flatten
from ... import nn
from ._api import Weights, WeightsEnum, checkpoint_path, load_weights, resolve

__all__ = ["SqueezeNet", "Fire", "SqueezeNet1_0_Weights", "SqueezeNet1_1_Weights", "squeezenet1_0", "squeezenet1_1"]


class Fire(nn.Module):
    """A 1x1 squeeze convolution, then 1x1 and 3x3 expand convolutions side by side (concatenated)."""

    def __init__(self, inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes):
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return cat([self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1)


# (stem convolution (out, kernel), then per entry: "M" a ceil-mode 3x3/2 max pool or a Fire's (squeeze, expand))
_CONFIGS = {
    "1_0": ((96, 7), ["M", (16, 64), (16, 64), (32, 128), "M", (32, 128), (48, 192), (48, 192), (64, 256), "M",
                      (64, 256)]),
    "1_1": ((64, 3), ["M", (16, 64), (16, 64), "M", (32, 128), (32, 128), "M", (48, 192), (48, 192), (64, 256),
                      (64, 256)]),
}


class SqueezeNet(nn.Module):
    def __init__(self, version="1_0", num_classes=1000, dropout=0.5):
        super().__init__()
        if version not in _CONFIGS:
            raise ValueError(f"Unsupported SqueezeNet version {version}: 1_0 or 1_1 expected")
        self.num_classes = num_classes
        (stem, kernel), cfg = _CONFIGS[version]
        layers = [nn.Conv2d(3, stem, kernel_size=kernel, stride=2), nn.ReLU(inplace=True)]
        channels = stem
        for item in cfg:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True))
            else:
                squeeze, expand = item
                layers.append(Fire(channels, squeeze, expand, expand))
                channels = 2 * expand
        self.features = nn.Sequential(*layers)
        final_conv = nn.Conv2d(512, num_classes, kernel_size=1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)

    def forward(self, x):
        return flatten(self.classifier(self.features(x)), 1)


_URL = "https://download.pytorch.org/models/"


class SqueezeNet1_0_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(_URL + "squeezenet1_0-b66bff10.pth")
    DEFAULT = IMAGENET1K_V1


class SqueezeNet1_1_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(_URL + "squeezenet1_1-b8a52dc0.pth")
    DEFAULT = IMAGENET1K_V1


def squeezenet1_0(*, weights=None, progress=True, **kwargs):
    """SqueezeNet 1.0 (torchvision.models.squeezenet1_0)."""
    path = checkpoint_path("squeezenet1_0", resolve("squeezenet1_0", SqueezeNet1_0_Weights, weights, kwargs))
    return load_weights(SqueezeNet("1_0", **kwargs), path)


def squeezenet1_1(*, weights=None, progress=True, **kwargs):
    """SqueezeNet 1.1 (torchvision.models.squeezenet1_1): 2.4x less computation than 1.0, same accuracy."""
    path = checkpoint_path("squeezenet1_1", resolve("squeezenet1_1", SqueezeNet1_1_Weights, weights, kwargs))
    return load_weights(SqueezeNet("1_1", **kwargs), path)
