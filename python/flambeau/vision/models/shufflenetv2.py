"""torchvision's ShuffleNet V2 (x0.5, x1.0): conv1, maxpool, stage2-4 of InvertedResidual blocks (branch1 /
branch2 Sequentials, channel shuffle of 2 groups), conv5, fc, with torchvision's state_dict keys. torchvision
leaves the layers at PyTorch's default initialisation, and so does this."""
from ... import cat
from ... import nn
from ._api import Weights, WeightsEnum, checkpoint_path, load_weights, resolve

__all__ = ["ShuffleNetV2", "ShuffleNet_V2_X0_5_Weights", "ShuffleNet_V2_X1_0_Weights", "shufflenet_v2_x0_5",
           "shufflenet_v2_x1_0", "channel_shuffle"]


def channel_shuffle(x, groups):
    """(N, g*c, H, W) -> the channels interleaved: group-major becomes channel-major."""
    n, channels, h, w = x.shape
    x = x.view(n, groups, channels // groups, h, w).transpose(1, 2).contiguous()
    return x.view(n, channels, h, w)


def _depthwise(i, o, kernel_size, stride=1, padding=0, bias=False):
    return nn.Conv2d(i, o, kernel_size, stride, padding, bias=bias, groups=i)


class InvertedResidual(nn.Module):
    """stride 1: half the channels pass, the other half go through branch2; stride 2: both branches see all
    of x and halve the resolution. Then the two halves are shuffled together."""

    def __init__(self, inp, oup, stride):
        super().__init__()
        if not 1 <= stride <= 3:
            raise ValueError("illegal stride value")
        self.stride = stride
        branch_features = oup // 2
        if stride == 1 and inp != branch_features << 1:
            raise ValueError(f"Invalid combination of stride {stride}, inp {inp} and oup {oup} values. If stride "
                             "== 1 then inp should be equal to oup // 2 << 1.")
        if stride > 1:
            self.branch1 = nn.Sequential(
                _depthwise(inp, inp, kernel_size=3, stride=stride, padding=1), nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch_features, kernel_size=1, stride=1, padding=0, bias=False),
                nn.BatchNorm2d(branch_features), nn.ReLU(inplace=True))
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else branch_features, branch_features, kernel_size=1, stride=1, padding=0,
                      bias=False),
            nn.BatchNorm2d(branch_features), nn.ReLU(inplace=True),
            _depthwise(branch_features, branch_features, kernel_size=3, stride=stride, padding=1),
            nn.BatchNorm2d(branch_features),
            nn.Conv2d(branch_features, branch_features, kernel_size=1, stride=1, padding=0, bias=False),
            nn.BatchNorm2d(branch_features), nn.ReLU(inplace=True))

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = cat((x1, self.branch2(x2)), dim=1)
        else:
            out = cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    def __init__(self, stages_repeats, stages_out_channels, num_classes=1000, inverted_residual=InvertedResidual):
        super().__init__()
        if len(stages_repeats) != 3:
            raise ValueError("expected stages_repeats as list of 3 positive ints")
        if len(stages_out_channels) != 5:
            raise ValueError("expected stages_out_channels as list of 5 positive ints")
        self._stage_out_channels = stages_out_channels
        channels = stages_out_channels[0]
        self.conv1 = nn.Sequential(nn.Conv2d(3, channels, 3, 2, 1, bias=False), nn.BatchNorm2d(channels),
                                   nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for name, repeats, out in zip(("stage2", "stage3", "stage4"), stages_repeats, stages_out_channels[1:]):
            blocks = [inverted_residual(channels, out, 2)]
            blocks += [inverted_residual(out, out, 1) for _ in range(repeats - 1)]
            setattr(self, name, nn.Sequential(*blocks))
            channels = out
        out = stages_out_channels[-1]
        self.conv5 = nn.Sequential(nn.Conv2d(channels, out, 1, 1, 0, bias=False), nn.BatchNorm2d(out),
                                   nn.ReLU(inplace=True))
        self.fc = nn.Linear(out, num_classes)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return self.fc(x.mean([2, 3]))


_URL = "https://download.pytorch.org/models/"


class ShuffleNet_V2_X0_5_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(_URL + "shufflenetv2_x0.5-f707e7126e.pth")
    DEFAULT = IMAGENET1K_V1


class ShuffleNet_V2_X1_0_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(_URL + "shufflenetv2_x1-5666bf0f80.pth")
    DEFAULT = IMAGENET1K_V1


def _shufflenetv2(name, weights_enum, weights, kwargs, channels):
    path = checkpoint_path(name, resolve(name, weights_enum, weights, kwargs))
    return load_weights(ShuffleNetV2([4, 8, 4], channels, **kwargs), path)


def shufflenet_v2_x0_5(*, weights=None, progress=True, **kwargs):
    """ShuffleNet V2 with 0.5x output channels (torchvision.models.shufflenet_v2_x0_5)."""
    return _shufflenetv2("shufflenet_v2_x0_5", ShuffleNet_V2_X0_5_Weights, weights, kwargs, [24, 48, 96, 192, 1024])


def shufflenet_v2_x1_0(*, weights=None, progress=True, **kwargs):
    """ShuffleNet V2 with 1.0x output channels (torchvision.models.shufflenet_v2_x1_0)."""
    return _shufflenetv2("shufflenet_v2_x1_0", ShuffleNet_V2_X1_0_Weights, weights, kwargs, [24, 116, 232, 464, 1024])
