"""flambeau.vision.models: torchvision's architectures under torchvision's names.

The state_dict of each model is checked against a digest of torchvision 0.28's (the sha256 of its
"key (shape)" lines, with the key count and parameter count; derived once with torchvision installed, see
KEYS below), so checkpoints saved from torchvision load by name. The forward passes are checked against the
architecture written out in PyTorch functional calls over the same state_dict (eval mode, BatchNorm
statistics randomised so they matter)."""
import hashlib
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import flambeau
from flambeau.vision import models

# name: (state_dict entries, parameters, sha256("\n".join(f"{key} {tuple(shape)}"))[:16]) of torchvision 0.28's
# model with its defaults (num_classes=1000)
KEYS = {
    "resnet18": (122, 11689512, "84fb10d9c6905a1c"),
    "resnet34": (218, 21797672, "28f9096d51307499"),
    "resnet50": (320, 25557032, "d7e4f8bb0a536344"),
    "vgg11": (22, 132863336, "cb3dc23f2a13e182"),
    "vgg11_bn": (62, 132868840, "8b6717e727c0ecf9"),
    "vgg16": (32, 138357544, "35c4623e0cd4a39d"),
    "alexnet": (16, 61100840, "9c198ebdae1863e4"),
    "mobilenet_v2": (314, 3504872, "37bbbce8932fd0c4"),
}


@pytest.mark.parametrize("name", sorted(KEYS))
def test_state_dict_keys_and_shapes_are_torchvisions(name):
    kwargs = {"init_weights": False} if name.startswith("vgg") else {}  # the keys do not depend on it
    assert_keys_are_torchvisions(getattr(models, name)(**kwargs), KEYS[name])


def assert_keys_are_torchvisions(model, expected):
    """model's state_dict against torchvision's (entries, parameters, digest of its "key (shape)" lines);
    test_vision_models_more.py uses it too."""
    sd = model.state_dict()
    lines = "\n".join(f"{k} {tuple(v.shape)}" for k, v in sd.items())
    n_entries, n_params, digest = expected
    assert len(sd) == n_entries
    assert sum(p.numel() for p in model.parameters()) == n_params
    assert hashlib.sha256(lines.encode()).hexdigest()[:16] == digest, lines[:2000]


def test_named_submodules_used_by_fine_tuning_scripts():
    r = models.resnet18(num_classes=10)
    assert r.fc.in_features == 512 and r.fc.out_features == 10
    assert [type(m).__name__ for m in r.layer4] == ["BasicBlock", "BasicBlock"]
    keys = r.state_dict()
    assert "layer4.1.bn2.running_var" in keys and "layer2.0.downsample.1.num_batches_tracked" in keys
    r50 = models.resnet50()
    assert r50.fc.in_features == 2048 and r50.layer3[0].conv2.stride == (2, 2) and r50.layer3[0].conv1.stride == (1, 1)
    v = models.vgg16(init_weights=False)
    assert v.classifier[-1].in_features == 4096 and v.classifier[6] is v.classifier[-1]
    assert type(v.features[30]).__name__ == "MaxPool2d" and len(v.features) == 31
    m = models.mobilenet_v2()
    assert m.classifier[1].in_features == 1280 and m.last_channel == 1280
    assert type(m.features[0]).__name__ == "Conv2dNormActivation" and m.features[1].conv[0][0].groups == 32
    a = models.alexnet()
    assert a.classifier[6].out_features == 1000 and a.features[0].kernel_size == (11, 11)
    # the transfer-learning idiom: freeze, replace the head, only the head trains
    for p in r.parameters():
        p.requires_grad = False
    r.fc = flambeau.nn.Linear(r.fc.in_features, 3)
    opt = flambeau.optim.SGD([p for p in r.parameters() if p.requires_grad], lr=0.1)
    r.train()
    x, y = flambeau.randn(4, 3, 32, 32), flambeau.tensor([0, 1, 2, 0])
    loss = flambeau.nn.functional.cross_entropy(r(x), y)
    opt.zero_grad()
    loss.backward()
    assert r.conv1.weight.grad is None and r.fc.weight.grad is not None
    opt.step()


def _t(sd, k):
    return torch.from_numpy(sd[k].detach().numpy().copy())


def _bn(sd, x, p, eps=1e-5):
    return TF.batch_norm(x, _t(sd, p + ".running_mean"), _t(sd, p + ".running_var"), _t(sd, p + ".weight"),
                         _t(sd, p + ".bias"), False, 0.0, eps)


def _torch_resnet(sd, x, bottleneck):
    """torchvision's ResNet forward written out (V1.5: the stride on the 3x3 convolution)."""
    x = TF.relu(_bn(sd, TF.conv2d(x, _t(sd, "conv1.weight"), stride=2, padding=3), "bn1"))
    x = TF.max_pool2d(x, 3, 2, 1)
    for layer in range(1, 5):
        b = 0
        while f"layer{layer}.{b}.conv1.weight" in sd:
            p = f"layer{layer}.{b}"
            stride = 2 if layer > 1 and b == 0 else 1
            if bottleneck:
                out = TF.relu(_bn(sd, TF.conv2d(x, _t(sd, p + ".conv1.weight")), p + ".bn1"))
                out = TF.conv2d(out, _t(sd, p + ".conv2.weight"), stride=stride, padding=1)
                out = TF.relu(_bn(sd, out, p + ".bn2"))
                out = _bn(sd, TF.conv2d(out, _t(sd, p + ".conv3.weight")), p + ".bn3")
            else:
                out = TF.relu(_bn(sd, TF.conv2d(x, _t(sd, p + ".conv1.weight"), stride=stride, padding=1), p + ".bn1"))
                out = _bn(sd, TF.conv2d(out, _t(sd, p + ".conv2.weight"), padding=1), p + ".bn2")
            if p + ".downsample.0.weight" in sd:
                x = _bn(sd, TF.conv2d(x, _t(sd, p + ".downsample.0.weight"), stride=stride), p + ".downsample.1")
            x = TF.relu(out + x)
            b += 1
    x = TF.adaptive_avg_pool2d(x, 1).flatten(1)
    return TF.linear(x, _t(sd, "fc.weight"), _t(sd, "fc.bias"))


def _randomise_bn(model):
    with flambeau.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(flambeau.randn(buf.shape) * 0.1)
            elif name.endswith("running_var"):
                buf.copy_(flambeau.rand(buf.shape) + 0.5)
        for name, p in model.named_parameters():
            if "bn" in name or "downsample.1" in name:
                p.copy_(flambeau.rand(p.shape) + 0.5 if name.endswith("weight") else flambeau.randn(p.shape) * 0.1)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_forward_is_torchvisions(name):
    model = getattr(models, name)(num_classes=7).eval()
    _randomise_bn(model)
    x = np.random.randn(2, 3, 45, 37).astype(np.float32)
    ours = model(flambeau.from_numpy(x)).detach().numpy()
    ref = _torch_resnet(model.state_dict(), torch.from_numpy(x), name == "resnet50").numpy()
    assert ours.shape == (2, 7)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def _torch_classifier(sd, h, linear_indices):
    """VGG's/AlexNet's classifier (Linear + ReLU pairs, the last Linear alone) as PyTorch calls on sd's weights."""
    for i in linear_indices:
        h = TF.linear(h, _t(sd, f"classifier.{i}.weight"), _t(sd, f"classifier.{i}.bias"))
        h = TF.relu(h) if i != linear_indices[-1] else h
    return h


def _torch_sequential_features(sd, x, kinds):
    """VGG/AlexNet `features`: kinds[i] is ('conv', padding, stride), 'bn', 'relu' or ('pool', k, s)."""
    for i, kind in enumerate(kinds):
        if kind[0] == "conv":
            x = TF.conv2d(x, _t(sd, f"features.{i}.weight"), _t(sd, f"features.{i}.bias"), stride=kind[2],
                          padding=kind[1])
        elif kind == "bn":
            x = _bn(sd, x, f"features.{i}")
        elif kind == "relu":
            x = TF.relu(x)
        else:
            x = TF.max_pool2d(x, kind[1], kind[2])
    return x


def test_vgg11_bn_and_alexnet_forward_are_torchvisions():
    cfg = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
    kinds = []
    for v in cfg:
        kinds += [("pool", 2, 2)] if v == "M" else [("conv", 1, 1), "bn", "relu"]
    vgg = models.vgg11_bn(num_classes=5).eval()
    _randomise_bn(vgg)
    with flambeau.no_grad():  # a non-zero first layer bias, so that a mis-indexed bias would show
        vgg.features[0].bias.copy_(flambeau.randn(64) * 0.1)
    x = np.random.randn(1, 3, 40, 40).astype(np.float32)
    sd = vgg.state_dict()
    h = TF.adaptive_avg_pool2d(_torch_sequential_features(sd, torch.from_numpy(x), kinds), 7).flatten(1)
    h = _torch_classifier(sd, h, (0, 3, 6))
    np.testing.assert_allclose(vgg(flambeau.from_numpy(x)).detach().numpy(), h.numpy(), rtol=1e-4, atol=1e-6)

    alex = models.alexnet(num_classes=4).eval()
    kinds = [("conv", 2, 4), "relu", ("pool", 3, 2), ("conv", 2, 1), "relu", ("pool", 3, 2), ("conv", 1, 1),
             "relu", ("conv", 1, 1), "relu", ("conv", 1, 1), "relu", ("pool", 3, 2)]
    x = np.random.randn(2, 3, 67, 71).astype(np.float32)
    sd = alex.state_dict()
    h = TF.adaptive_avg_pool2d(_torch_sequential_features(sd, torch.from_numpy(x), kinds), 6).flatten(1)
    h = _torch_classifier(sd, h, (1, 4, 6))
    np.testing.assert_allclose(alex(flambeau.from_numpy(x)).detach().numpy(), h.numpy(), rtol=1e-4, atol=1e-7)


def test_mobilenet_v2_blocks_and_training_step():
    m = models.mobilenet_v2(num_classes=3, width_mult=0.5)
    # width 0.5: channels rounded to multiples of 8, never below 90% of the scaled value; the head stays 1280
    assert m.features[0][0].out_channels == 16 and m.features[1].conv[1].out_channels == 8
    assert m.last_channel == 1280 and m.classifier[1].in_features == 1280
    block = m.features[3]  # 24 -> 24 channels, stride 1: residual
    assert block.use_res_connect and not m.features[2].use_res_connect
    x = flambeau.randn(3, 3, 32, 32)
    block.eval()
    h = m.features[2].eval()(m.features[1].eval()(m.features[0].eval()(x)))
    assert flambeau.allclose(block(h), h + block.conv(h))
    m.train()
    opt = flambeau.optim.SGD(m.parameters(), lr=0.05)
    loss = flambeau.nn.functional.cross_entropy(m(x), flambeau.tensor([0, 1, 2]))
    opt.zero_grad()
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())
    opt.step()


def test_initialisation_follows_torchvision():
    flambeau.manual_seed(0)
    r = models.resnet50(zero_init_residual=True)
    w = r.conv1.weight  # kaiming_normal_, fan_out = 64 * 7 * 7, gain sqrt(2)
    assert abs(float(w.std()) - (2 / (64 * 49)) ** 0.5) < 0.05 * (2 / (64 * 49)) ** 0.5
    assert float(r.bn1.weight.min()) == 1 and float(r.bn1.bias.abs().max()) == 0
    assert float(r.layer1[0].bn3.weight.abs().max()) == 0 and float(r.layer1[0].bn2.weight.min()) == 1
    a = models.resnet18()
    assert float(a.layer1[0].bn2.weight.min()) == 1
    m = models.mobilenet_v2()
    assert abs(float(m.classifier[1].weight.std()) - 0.01) < 0.001 and float(m.classifier[1].bias.abs().max()) == 0
    assert abs(float(models.alexnet().classifier[6].bias.abs().max())) > 0  # AlexNet keeps Linear's default init


def test_weights_never_download_and_local_checkpoints_load(tmp_path):
    for call in (lambda: models.resnet18(pretrained=True),
                 lambda: models.resnet18(weights=models.ResNet18_Weights.DEFAULT),
                 lambda: models.resnet18(weights="IMAGENET1K_V1"),
                 lambda: models.vgg16(weights="VGG16_Weights.IMAGENET1K_V1")):
        with pytest.raises(RuntimeError, match="does not download") as info:
            call()
        assert "checkpoints" in str(info.value) and ".pth" in str(info.value)
    assert models.ResNet50_Weights.DEFAULT is models.ResNet50_Weights.IMAGENET1K_V2
    with pytest.raises(RuntimeError, match="no such checkpoint file"):
        models.alexnet(weights=str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="num_classes=10"):
        models.resnet18(weights=models.ResNet18_Weights.DEFAULT, num_classes=10)
    with pytest.raises(ValueError, match="not ResNet18_Weights"):
        models.resnet18(weights=models.ResNet34_Weights.DEFAULT)

    # a checkpoint saved by PyTorch (torch.save of a state_dict of torch tensors) loads by path ...
    src = models.resnet18(num_classes=6)
    path = tmp_path / "r18.pth"
    torch.save({k: torch.from_numpy(v.numpy().copy()) for k, v in src.state_dict().items()}, path)
    dst = models.resnet18(weights=str(path), num_classes=6)
    assert all(flambeau.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values()))
    # ... and a Weights member finds its file in the hub cache, as torchvision finds it in torch.hub's
    from flambeau import hub
    old = hub.get_dir()
    hub.set_dir(str(tmp_path / "hub"))
    try:
        os.makedirs(tmp_path / "hub" / "checkpoints")
        full = models.resnet18()
        flambeau.save(full.state_dict(), str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"))
        loaded = models.resnet18(pretrained=True)
        assert flambeau.equal(loaded.fc.weight, full.fc.weight)
        t = models.ResNet18_Weights.IMAGENET1K_V1.transforms()
        img = (np.random.rand(300, 260, 3) * 255).astype(np.uint8)
        assert tuple(t(img).shape) == (3, 224, 224)
    finally:
        hub.set_dir(old)


def test_get_model_and_list_models():
    assert "resnet18" in models.list_models() and models.list_models(include="vgg1*_bn") == ["vgg11_bn", "vgg13_bn",
                                                                                              "vgg16_bn", "vgg19_bn"]
    assert models.get_model("ResNet34", num_classes=2).fc.out_features == 2
    with pytest.raises(ValueError, match="Unknown model"):
        models.get_model("resnet1000")
