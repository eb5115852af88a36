"""Script parity: the quantization chapter of an efficient-deep-learning course, run once with PyTorch
and once with flambeau from the same initial weights on the same numpy data.

- a small CNN trained in float, fused (conv-relu, linear-relu), fine-tuned a few steps with QAT
  (get_default_qat_qconfig('x86'), prepare_qat), converted to int8 and evaluated;
- post-training static quantization of a CNN with BatchNorm (fuse conv-bn-relu in eval mode,
  default_qconfig, calibrate, convert);
- dynamic quantization of an MLP (quantize_dynamic({nn.Linear}, qint8)).
The float parts agree to float rounding; the quantized outputs to one unit of the last layer's scale
(an observed range can move by an ulp with the float rounding, and with it a requantized value)."""
import numpy as np

from script_parity import TORCH, assert_records_close, numpy_state, run_both_checked
from script_parity import load_numpy_state as load_state
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


def _cnn(lib, bn=False):
    nn, q = lib.nn, lib.torch.ao.quantization

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant = q.QuantStub()
            self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(6) if bn else nn.Identity()
            self.relu1 = nn.ReLU()
            self.conv2 = nn.Conv2d(6, 8, 3, stride=2, padding=1)
            self.relu2 = nn.ReLU()
            self.fc1 = nn.Linear(8 * 4 * 4, 32)
            self.relu3 = nn.ReLU()
            self.fc2 = nn.Linear(32, 4)
            self.dequant = q.DeQuantStub()

        def forward(self, x):
            x = self.relu1(self.bn1(self.conv1(self.quant(x))))
            x = self.relu2(self.conv2(x))
            x = self.relu3(self.fc1(x.flatten(1)))
            return self.dequant(self.fc2(x))
    return SmallCNN()


def _data(seed, n=48):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    Y = (X[:, 0, :4].mean((1, 2)) > 0).astype(np.int64) + 2 * (X[:, 0, :, :4].mean((1, 2)) > 0).astype(np.int64)
    return X, Y


def _train(lib, model, X, Y, steps, lr):
    torch, F = lib.torch, lib.F
    opt = lib.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    for step in range(steps):
        i = (step * 16) % len(X)
        xb, yb = torch.from_numpy(X[i:i + 16]), torch.from_numpy(Y[i:i + 16])
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def qat_script(lib, state, X, Y):
    torch = lib.torch
    q = torch.ao.quantization
    model = _cnn(lib)
    load_state(lib, model, state)
    rec = {"float_loss": _train(lib, model, X, Y, 6, 0.05)}
    model.eval()
    q.fuse_modules(model, [["conv1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"]], inplace=True)
    model.train()
    model.qconfig = q.get_default_qat_qconfig("x86")
    q.prepare_qat(model, inplace=True)
    rec["qat_loss"] = _train(lib, model, X, Y, 3, 0.01)
    model.eval()
    qmodel = q.convert(model)
    rec["layers"] = [type(m).__name__ for m in qmodel.children()]
    rec["scales"] = [qmodel.conv1.scale, qmodel.conv2.scale, qmodel.fc1.scale, qmodel.fc2.scale]
    rec["zero_points"] = [qmodel.conv1.zero_point, qmodel.conv2.zero_point, qmodel.fc1.zero_point,
                          qmodel.fc2.zero_point]
    with torch.no_grad():
        out = qmodel(torch.from_numpy(X))
    rec["quantized_logits"] = out
    rec["accuracy"] = float((out.argmax(1) == torch.from_numpy(Y)).float().mean())
    return rec


def test_qat_finetune_convert_evaluate():
    X, Y = _data(3)
    rt, rf = run_both_checked(qat_script, numpy_state(_cnn(TORCH)), X, Y)
    step = rt["scales"][-1]
    for key in ("float_loss", "qat_loss", "layers", "zero_points"):
        assert_records_close(rf[key], rt[key], atol=2e-5, rtol=2e-4, path=key)
    assert_records_close(rf["scales"], rt["scales"], atol=0, rtol=1e-5, path="scales")
    assert_records_close(rf["quantized_logits"], rt["quantized_logits"], atol=1.01 * step, rtol=0, path="logits")
    assert abs(rf["accuracy"] - rt["accuracy"]) <= 1 / len(X)


def ptq_script(lib, state, X, Y):
    torch = lib.torch
    q = torch.ao.quantization
    model = _cnn(lib, bn=True)
    load_state(lib, model, state)
    rec = {"float_loss": _train(lib, model, X, Y, 6, 0.05)}
    model.eval()
    fused = q.fuse_modules(model, [["conv1", "bn1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"]])
    fused.qconfig = q.default_qconfig
    prepared = q.prepare(fused)
    with torch.no_grad():
        for i in range(0, len(X), 16):
            prepared(torch.from_numpy(X[i:i + 16]))
    qmodel = q.convert(prepared)
    with torch.no_grad():
        rec["float_logits"] = model(torch.from_numpy(X))
        rec["quantized_logits"] = qmodel(torch.from_numpy(X))
    rec["fc2_scale"] = qmodel.fc2.scale
    return rec


def test_post_training_static_quantization():
    X, Y = _data(4)
    rt, rf = run_both_checked(ptq_script, numpy_state(_cnn(TORCH, bn=True)), X, Y)
    assert_records_close(rf["float_loss"], rt["float_loss"], atol=2e-5, rtol=2e-4)
    assert_records_close(rf["float_logits"], rt["float_logits"], atol=2e-5, rtol=2e-4)
    assert abs(rf["fc2_scale"] - rt["fc2_scale"]) <= 1e-5 * rt["fc2_scale"]
    assert_records_close(rf["quantized_logits"], rt["quantized_logits"], atol=1.01 * rt["fc2_scale"], rtol=0)


def dynamic_script(lib, state, X, Y):
    torch, nn = lib.torch, lib.nn
    model = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 4))
    load_state(lib, model, state)
    Xf = X.reshape(len(X), -1)
    rec = {"float_loss": _train(lib, model, Xf, Y, 6, 0.05)}
    model.eval()
    qmodel = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    rec["modules"] = [m._get_name() for m in qmodel]
    with torch.no_grad():
        rec["float_logits"] = model(torch.from_numpy(Xf))
        rec["dynamic_logits"] = qmodel(torch.from_numpy(Xf))
    rec["max_quantization_error"] = float((rec["float_logits"] - rec["dynamic_logits"]).abs().max())
    return rec


def test_dynamic_quantization_mlp():
    X, Y = _data(5)
    nn = TORCH.nn
    init = numpy_state(nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 4)))
    rt, rf = run_both_checked(dynamic_script, init, X, Y)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)
