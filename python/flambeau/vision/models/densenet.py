"""torchvision's DenseNet-121 (and the DenseNet class): `features` (conv0, norm0, relu0, pool0, denseblock1..4 of
denselayerN modules, transition1..3, norm5) and `classifier`, with torchvision's keys and initialisation.

Each dense layer sees the concatenation of every earlier feature map of its block (BN-ReLU-1x1 bottleneck,
then BN-ReLU-3x3 producing growth_rate maps); transitions halve channels and resolution. memory_efficient=True
recomputes the bottleneck in backward (activation checkpointing) instead of storing it. The released
checkpoints use older key names (denselayer1.norm.1.weight); the builder maps them as torchvision does.
"""
import re

from ... import cat, flatten
from ... import nn
from ...nn import functional as F
from ._api import Weights, WeightsEnum, checkpoint_path, load_weights, resolve

__all__ = ["DenseNet", "DenseNet121_Weights", "densenet121"]


class _DenseLayer(nn.Module):
    def __init__(self, num_input_features, growth_rate, bn_size, drop_rate, memory_efficient=False):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient

    def bn_function(self, inputs):
        return self.conv1(self.relu1(self.norm1(cat(list(inputs), 1))))

    def forward(self, input):
        prev = [input] if not isinstance(input, (list, tuple)) else list(input)
        if self.memory_efficient and any(t.requires_grad for t in prev):
            from ...utils.checkpoint import checkpoint
            bottleneck = checkpoint(lambda *xs: self.bn_function(xs), *prev, use_reentrant=False)
        else:
            bottleneck = self.bn_function(prev)
        new = self.conv2(self.relu2(self.norm2(bottleneck)))
        if self.drop_rate > 0:
            new = F.dropout(new, p=self.drop_rate, training=self.training)
        return new


class _DenseBlock(nn.ModuleDict):
    def __init__(self, num_layers, num_input_features, bn_size, growth_rate, drop_rate, memory_efficient=False):
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}", _DenseLayer(num_input_features + i * growth_rate, growth_rate,
                                                                bn_size, drop_rate, memory_efficient))

    def forward(self, init_features):
        features = [init_features]
        for _, layer in self.items():
            features.append(layer(features))
        return cat(features, 1)


class _Transition(nn.Sequential):
    def __init__(self, num_input_features, num_output_features):
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(num_input_features))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(num_input_features, num_output_features, kernel_size=1, stride=1,
                                          bias=False))
        self.add_module("pool", nn.AvgPool2d(kernel_size=2, stride=2))


class DenseNet(nn.Module):
    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, bn_size=4, drop_rate=0,
                 num_classes=1000, memory_efficient=False):
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3,
                                                    bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(num_init_features))
        self.features.add_module("relu0", nn.ReLU(inplace=True))
        self.features.add_module("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}", _DenseBlock(num_layers, num_features, bn_size, growth_rate,
                                                                       drop_rate, memory_efficient))
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", _Transition(num_features, num_features // 2))
                num_features //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        out = F.relu(self.features(x), inplace=True)
        return self.classifier(flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1))


class DenseNet121_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights("https://download.pytorch.org/models/densenet121-a639ec97.pth")
    DEFAULT = IMAGENET1K_V1


# '.'s are no longer allowed in module names, but the released checkpoints have keys like
# 'denselayer1.norm.1.weight' for 'denselayer1.norm1.weight'
_OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\."
                      r"((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


class _RenamingDenseNet(DenseNet):
    def load_state_dict(self, state_dict, strict=True, **kwargs):
        renamed = {}
        for key, value in state_dict.items():
            m = _OLD_KEY.match(key)
            renamed[m.group(1) + m.group(2) if m else key] = value
        return super().load_state_dict(renamed, strict=strict, **kwargs)


def densenet121(*, weights=None, progress=True, **kwargs):
    """DenseNet-121 (torchvision.models.densenet121): growth rate 32, blocks (6, 12, 24, 16)."""
    path = checkpoint_path("densenet121", resolve("densenet121", DenseNet121_Weights, weights, kwargs))
    model = DenseNet(32, (6, 12, 24, 16), 64, **kwargs)
    if path is not None:  # the old key names, renamed on the way in
        model.__class__ = _RenamingDenseNet
        load_weights(model, path)
        model.__class__ = DenseNet
    return model
