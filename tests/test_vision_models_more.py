"""flambeau.vision.models, the second set: resnet101/152, resnext50_32x4d, wide_resnet50_2, squeezenet1_0/1_1,
shufflenet_v2_x0_5/x1_0, densenet121, efficientnet_b0, vit_b_16.

As in test_vision_models.py: the state_dict's "key (shape)" lines are checked against a digest of torchvision
0.28's (derived once with torchvision installed), and the forward passes against each architecture written out
in PyTorch functional calls over the same state_dict (eval mode, BatchNorm statistics randomised)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import flambeau
from flambeau.vision import models
from test_vision_models import _bn, _t, assert_keys_are_torchvisions

# name: (state_dict entries, parameters, sha256("\n".join(f"{key} {tuple(shape)}"))[:16]), torchvision 0.28
KEYS = {
    "resnet101": (626, 44549160, "02c0f34f4842751f"),
    "resnet152": (932, 60192808, "685c66205bc823aa"),
    "resnext50_32x4d": (320, 25028904, "e3bad165c034e60f"),
    "wide_resnet50_2": (320, 68883240, "41203d1d536c02ed"),
    "squeezenet1_0": (52, 1248424, "4654d26ad581241f"),
    "squeezenet1_1": (52, 1235496, "1d365589393f9c1e"),
    "shufflenet_v2_x0_5": (338, 1366792, "f0a5936e646f1bd4"),
    "shufflenet_v2_x1_0": (338, 2278604, "81b349bc1cbbbc7a"),
    "densenet121": (727, 7978856, "aa0fd9923b0003b8"),
    "efficientnet_b0": (360, 5288548, "a04d0792ee390a49"),
    "vit_b_16": (152, 86567656, "b124b34d9346c58c"),
}


@pytest.mark.parametrize("name", sorted(KEYS))
def test_state_dict_keys_and_shapes_are_torchvisions(name):
    assert_keys_are_torchvisions(getattr(models, name)(), KEYS[name])
    assert name in models.list_models()


# ---- the reference forwards, in PyTorch over the same state_dict ----------------------------------
def _conv(sd, x, p, bias=False, **kw):
    return TF.conv2d(x, _t(sd, p + ".weight"), _t(sd, p + ".bias") if bias else None, **kw)


def _randomise(model):
    """BatchNorm statistics and affine parameters away from 1/0, so that they matter."""
    with flambeau.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, flambeau.nn.BatchNorm2d):
                mod.running_mean.copy_(flambeau.randn(mod.running_mean.shape) * 0.1)
                mod.running_var.copy_(flambeau.rand(mod.running_var.shape) + 0.5)
                mod.weight.copy_(flambeau.rand(mod.weight.shape) + 0.5)
                mod.bias.copy_(flambeau.randn(mod.bias.shape) * 0.1)
    return model


def _compare(model, ref_fn, shape, tol=1e-4):
    model = _randomise(model.eval())
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with flambeau.no_grad():
        ours = model(flambeau.from_numpy(x)).numpy()
    ref = ref_fn(model.state_dict(), torch.from_numpy(x)).numpy()
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol * np.abs(ref).max())


def _ref_resnet_bottleneck(sd, x, groups):
    x = TF.relu(_bn(sd, _conv(sd, x, "conv1", stride=2, padding=3), "bn1"))
    x = TF.max_pool2d(x, 3, 2, 1)
    for layer in range(1, 5):
        b = 0
        while f"layer{layer}.{b}.conv1.weight" in sd:
            p = f"layer{layer}.{b}"
            stride = 2 if layer > 1 and b == 0 else 1
            out = TF.relu(_bn(sd, _conv(sd, x, p + ".conv1"), p + ".bn1"))
            out = TF.relu(_bn(sd, _conv(sd, out, p + ".conv2", stride=stride, padding=1, groups=groups), p + ".bn2"))
            out = _bn(sd, _conv(sd, out, p + ".conv3"), p + ".bn3")
            if p + ".downsample.0.weight" in sd:
                x = _bn(sd, _conv(sd, x, p + ".downsample.0", stride=stride), p + ".downsample.1")
            x = TF.relu(out + x)
            b += 1
    return TF.linear(TF.adaptive_avg_pool2d(x, 1).flatten(1), _t(sd, "fc.weight"), _t(sd, "fc.bias"))


def test_resnet_variants():
    """The forward of resnext's and wide_resnet's bottlenecks on fewer blocks (the digests above check the
    builders' full networks: groups and widths show in the shapes)."""
    with pytest.raises(ValueError, match="groups"):
        models.resnext50_32x4d(groups=8)
    for groups, width_per_group in [(32, 4), (1, 128), (1, 64)]:
        model = models.ResNet(models.Bottleneck, [1, 2, 1, 1], num_classes=6, groups=groups,
                              width_per_group=width_per_group)
        _compare(model, lambda sd, x: _ref_resnet_bottleneck(sd, x, groups), (2, 3, 40, 36))


def _ref_fire(sd, x, p):
    x = TF.relu(_conv(sd, x, p + ".squeeze", bias=True))
    return torch.cat([TF.relu(_conv(sd, x, p + ".expand1x1", bias=True)),
                      TF.relu(_conv(sd, x, p + ".expand3x3", bias=True, padding=1))], 1)


def _ref_squeezenet(sd, x, version):
    x = TF.relu(_conv(sd, x, "features.0", bias=True, stride=2))
    pools = {"1_0": (2, 6, 11), "1_1": (2, 5, 8)}[version]
    for i in range(2, 13):
        x = TF.max_pool2d(x, 3, 2, ceil_mode=True) if i in pools else _ref_fire(sd, x, f"features.{i}")
    x = TF.relu(_conv(sd, x, "classifier.1", bias=True))
    return TF.adaptive_avg_pool2d(x, 1).flatten(1)


@pytest.mark.parametrize("version", ["1_0", "1_1"])
def test_squeezenet_forward(version):
    _compare(getattr(models, "squeezenet" + version)(num_classes=9), lambda sd, x: _ref_squeezenet(sd, x, version),
             (2, 3, 67, 61))


def _ref_shufflenet(sd, x):
    def branch(x, p, stride, kinds):
        for i, kind in enumerate(kinds):
            if kind == "pw":
                x = _conv(sd, x, f"{p}.{i}")
            elif kind == "dw":
                x = _conv(sd, x, f"{p}.{i}", stride=stride, padding=1, groups=x.shape[1])
            elif kind == "bn":
                x = _bn(sd, x, f"{p}.{i}")
            else:
                x = TF.relu(x)
        return x
    b2 = ["pw", "bn", "relu", "dw", "bn", "pw", "bn", "relu"]
    x = TF.relu(_bn(sd, _conv(sd, x, "conv1.0", stride=2, padding=1), "conv1.1"))
    x = TF.max_pool2d(x, 3, 2, 1)
    for stage in (2, 3, 4):
        i = 0
        while f"stage{stage}.{i}.branch2.0.weight" in sd:
            p = f"stage{stage}.{i}"
            if i == 0:
                out = torch.cat([branch(x, p + ".branch1", 2, ["dw", "bn", "pw", "bn", "relu"]),
                                 branch(x, p + ".branch2", 2, b2)], 1)
            else:
                x1, x2 = x.chunk(2, dim=1)
                out = torch.cat([x1, branch(x2, p + ".branch2", 1, b2)], 1)
            n, c, h, w = out.shape
            x = out.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
            i += 1
    x = TF.relu(_bn(sd, _conv(sd, x, "conv5.0"), "conv5.1"))
    return TF.linear(x.mean([2, 3]), _t(sd, "fc.weight"), _t(sd, "fc.bias"))


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0"])
def test_shufflenet_forward(name):
    _compare(getattr(models, name)(num_classes=5), _ref_shufflenet, (2, 3, 48, 40))


def _ref_densenet(sd, x):
    x = TF.relu(_bn(sd, _conv(sd, x, "features.conv0", stride=2, padding=3), "features.norm0"))
    x = TF.max_pool2d(x, 3, 2, 1)
    block = 1
    while f"features.denseblock{block}.denselayer1.conv1.weight" in sd:
        feats, layer = [x], 1
        while f"features.denseblock{block}.denselayer{layer}.conv1.weight" in sd:
            p = f"features.denseblock{block}.denselayer{layer}"
            h = _conv(sd, TF.relu(_bn(sd, torch.cat(feats, 1), p + ".norm1")), p + ".conv1")
            feats.append(_conv(sd, TF.relu(_bn(sd, h, p + ".norm2")), p + ".conv2", padding=1))
            layer += 1
        x = torch.cat(feats, 1)
        p = f"features.transition{block}"
        if p + ".conv.weight" in sd:
            x = TF.avg_pool2d(_conv(sd, TF.relu(_bn(sd, x, p + ".norm")), p + ".conv"), 2, 2)
        block += 1
    x = TF.relu(_bn(sd, x, "features.norm5"))
    return TF.linear(TF.adaptive_avg_pool2d(x, 1).flatten(1), _t(sd, "classifier.weight"), _t(sd, "classifier.bias"))


def test_densenet_forward_and_old_checkpoint_keys(tmp_path):
    small = models.DenseNet(growth_rate=4, block_config=(2, 3, 2), num_init_features=8, num_classes=3)
    _compare(small, _ref_densenet, (2, 3, 41, 45))
    # the released checkpoints' names (denselayer1.norm.1.weight) load into denselayer1.norm1.weight
    sd = models.densenet121().state_dict()
    old = {k.replace("norm1", "norm.1").replace("conv2", "conv.2") if "denselayer" in k else k: v
           for k, v in sd.items()}
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    path = tmp_path / "densenet121.pt"
    flambeau.save(old, str(path))
    loaded = models.densenet121(weights=str(path))
    assert type(loaded) is models.DenseNet
    assert loaded.features.denseblock4.denselayer16.conv2.weight.tolist() == \
        sd["features.denseblock4.denselayer16.conv2.weight"].tolist()


def _ref_efficientnet(sd, x):
    silu = TF.silu
    x = silu(_bn(sd, _conv(sd, x, "features.0.0", stride=2, padding=1), "features.0.1"))
    # (kernel, stride) of each stage's first block; later blocks have stride 1
    stages = [(3, 1), (3, 2), (5, 2), (3, 2), (5, 1), (5, 2), (3, 1)]
    for s, (k, stride) in enumerate(stages, start=1):
        b = 0
        while f"features.{s}.{b}.block.0.0.weight" in sd:
            p = f"features.{s}.{b}.block"
            st = stride if b == 0 else 1
            h, i = x, 0
            if sd[f"{p}.0.0.weight"].shape[2] == 1:  # the 1x1 expansion
                h = silu(_bn(sd, _conv(sd, h, f"{p}.0.0"), f"{p}.0.1"))
                i = 1
            h = silu(_bn(sd, _conv(sd, h, f"{p}.{i}.0", stride=st, padding=k // 2, groups=h.shape[1]), f"{p}.{i}.1"))
            se = TF.adaptive_avg_pool2d(h, 1)
            se = torch.sigmoid(_conv(sd, silu(_conv(sd, se, f"{p}.{i + 1}.fc1", bias=True)), f"{p}.{i + 1}.fc2",
                                     bias=True))
            h = _bn(sd, _conv(sd, h * se, f"{p}.{i + 2}.0"), f"{p}.{i + 2}.1")
            x = h + x if h.shape == x.shape and st == 1 else h
            b += 1
    x = silu(_bn(sd, _conv(sd, x, "features.8.0"), "features.8.1"))
    x = TF.adaptive_avg_pool2d(x, 1).flatten(1)
    return TF.linear(x, _t(sd, "classifier.1.weight"), _t(sd, "classifier.1.bias"))


def test_efficientnet_b0_forward_and_stochastic_depth():
    model = models.efficientnet_b0(num_classes=7)
    _compare(model, _ref_efficientnet, (2, 3, 35, 33))
    probs = [m.stochastic_depth.p for m in model.modules() if isinstance(m, models.efficientnet.MBConv)]
    assert len(probs) == 16 and probs[0] == 0.0 and probs[-1] == pytest.approx(0.2 * 15 / 16)
    from flambeau.vision.ops import stochastic_depth
    x = flambeau.ones(64, 3)
    flambeau.manual_seed(0)
    out = stochastic_depth(x, 0.5, "row").numpy()
    assert set(np.unique(out)) <= {0.0, 2.0} and (out == out[:, :1]).all() and 0 < (out[:, 0] == 0).sum() < 64
    assert stochastic_depth(x, 0.5, "row", training=False) is x
    model.train()
    model(flambeau.randn(2, 3, 16, 16)).sum().backward()
    assert model.features[0][0].weight.grad is not None


def _ref_vit(sd, x, heads, patch):
    n = x.shape[0]
    x = _conv(sd, x, "conv_proj", bias=True, stride=patch)
    x = x.reshape(n, x.shape[1], -1).permute(0, 2, 1)
    x = torch.cat([_t(sd, "class_token").expand(n, -1, -1), x], 1) + _t(sd, "encoder.pos_embedding")
    d = x.shape[-1]
    i = 0
    while f"encoder.layers.encoder_layer_{i}.ln_1.weight" in sd:
        p = f"encoder.layers.encoder_layer_{i}"
        h = TF.layer_norm(x, (d,), _t(sd, p + ".ln_1.weight"), _t(sd, p + ".ln_1.bias"), 1e-6)
        q, k, v = TF.linear(h, _t(sd, p + ".self_attention.in_proj_weight"),
                            _t(sd, p + ".self_attention.in_proj_bias")).chunk(3, dim=-1)
        split = lambda t: t.reshape(n, -1, heads, d // heads).transpose(1, 2)  # noqa: E731
        att = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(d // heads), -1) @ split(v)
        att = TF.linear(att.transpose(1, 2).reshape(n, -1, d), _t(sd, p + ".self_attention.out_proj.weight"),
                        _t(sd, p + ".self_attention.out_proj.bias"))
        x = x + att
        h = TF.layer_norm(x, (d,), _t(sd, p + ".ln_2.weight"), _t(sd, p + ".ln_2.bias"), 1e-6)
        h = TF.linear(TF.gelu(TF.linear(h, _t(sd, p + ".mlp.0.weight"), _t(sd, p + ".mlp.0.bias"))),
                      _t(sd, p + ".mlp.3.weight"), _t(sd, p + ".mlp.3.bias"))
        x = x + h
        i += 1
    x = TF.layer_norm(x, (d,), _t(sd, "encoder.ln.weight"), _t(sd, "encoder.ln.bias"), 1e-6)
    return TF.linear(x[:, 0], _t(sd, "heads.head.weight"), _t(sd, "heads.head.bias"))


def test_vit_forward():
    vit = models.vit_b_16(image_size=32, num_classes=5)
    assert tuple(vit.encoder.pos_embedding.shape) == (1, 5, 768) and len(vit.encoder.layers) == 12
    assert vit.heads.head.weight.abs().sum().item() == 0  # torchvision zero-initialises the head
    with flambeau.no_grad():
        vit.heads.head.weight.copy_(flambeau.randn(5, 768) * 0.02)
    _compare(vit, lambda sd, x: _ref_vit(sd, x, 12, 16), (2, 3, 32, 32), tol=2e-4)
    small = models.VisionTransformer(image_size=24, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16,
                                     mlp_dim=32, num_classes=3, representation_size=None)
    with flambeau.no_grad():
        small.heads.head.weight.copy_(flambeau.randn(3, 16))
    _compare(small, lambda sd, x: _ref_vit(sd, x, 2, 8), (3, 3, 24, 24))
    with pytest.raises(ValueError, match="32x32"):
        vit(flambeau.zeros(1, 3, 48, 48))


def test_weights_enums_name_local_files_only(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    for name, enum_name, file in [("squeezenet1_1", "SqueezeNet1_1_Weights", "squeezenet1_1-b8a52dc0.pth"),
                                  ("efficientnet_b0", "EfficientNet_B0_Weights",
                                   "efficientnet_b0_rwightman-7f5810bc.pth"),
                                  ("vit_b_16", "ViT_B_16_Weights", "vit_b_16-c867db91.pth"),
                                  ("resnet101", "ResNet101_Weights", "resnet101-cd907fc2.pth")]:
        weights = getattr(models, enum_name).DEFAULT
        assert weights.value.file_name == file
        with pytest.raises(RuntimeError, match="download"):
            getattr(models, name)(weights=weights)
    assert models.get_weight("ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1").value.file_name == \
        "shufflenetv2_x1-5666bf0f80.pth"
    preset = models.EfficientNet_B0_Weights.IMAGENET1K_V1.transforms()
    assert preset.transforms[0].interpolation.value == "bicubic"
