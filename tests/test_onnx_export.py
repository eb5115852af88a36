"""flambeau.onnx.export: the written file is a valid ModelProto (onnx.checker, full check) whose outputs under
onnxruntime equal flambeau's on fresh random inputs, at the traced batch size and at another one when the
batch axis is dynamic; node types as PyTorch's own exporter gives for the same model; clear errors for what
cannot be exported. The wire-format tests decode the file with a reader written here, so they run without
the onnx package (the onnxruntime tests skip where onnx/onnxruntime are not installed)."""
import contextlib
import io
import math
import struct

import numpy as np
import pytest

import flambeau
import flambeau.nn as nn
import flambeau.nn.functional as F
from flambeau.onnx import _proto


# ---------------------------------------------------------------------------------------------------------
# a protobuf reader independent of the writer: (field, wire type, value) triples
# ---------------------------------------------------------------------------------------------------------
def _read_varint(b, i):
    shift = v = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def _fields(b):
    out, i = [], 0
    while i < len(b):
        key, i = _read_varint(b, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _read_varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = _read_varint(b, i)
            v, i = bytes(b[i:i + n]), i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise AssertionError(f"wire type {wt}")
        out.append((field, wt, v))
    assert i == len(b)
    return out


def _get(fields, field):
    return [v for f, _, v in fields if f == field]


def _packed(b):
    vals, i = [], 0
    while i < len(b):
        v, i = _read_varint(b, i)
        vals.append(v)
    return vals


def test_varint_matches_protobuf_spec():
    assert _proto.varint(0) == b"\x00"
    assert _proto.varint(1) == b"\x01"
    assert _proto.varint(150) == b"\x96\x01"      # the spec's example
    assert _proto.varint(300) == b"\xac\x02"
    for n in (127, 128, 16383, 16384, 2 ** 31, 2 ** 63 - 1):
        assert _read_varint(_proto.varint(n), 0) == (n, len(_proto.varint(n)))
    neg = _proto.varint(-1)                       # int64 -1: ten bytes, 2^64 - 1
    assert len(neg) == 10 and _read_varint(neg, 0)[0] == 2 ** 64 - 1


def test_attribute_encoding():
    f = _fields(_proto.attribute("alpha", 0.25).tobytes())
    assert _get(f, 1) == [b"alpha"] and _get(f, 20) == [1] and struct.unpack("<f", _get(f, 2)[0])[0] == 0.25
    f = _fields(_proto.attribute("perm", [0, 2, 1]).tobytes())
    assert _packed(_get(f, 8)[0]) == [0, 2, 1] and _get(f, 20) == [7]
    f = _fields(_proto.attribute("axis", -1).tobytes())
    assert _get(f, 3) == [2 ** 64 - 1] and _get(f, 20) == [2]
    f = _fields(_proto.attribute("mode", "edge").tobytes())
    assert _get(f, 4) == [b"edge"] and _get(f, 20) == [3]
    with pytest.raises(TypeError, match="attribute 'x'"):
        _proto.attribute("x", object())


def test_tensor_encoding_keeps_scalars_zero_dimensional():
    f = _fields(_proto.tensor("s", np.array(3, dtype=np.int64)).tobytes())
    assert _get(f, 1) == [] and _get(f, 2) == [7] and np.frombuffer(_get(f, 9)[0], "<i8").tolist() == [3]
    f = _fields(_proto.tensor("m", np.arange(6, dtype=np.float64).reshape(2, 3).T).tobytes())
    assert _packed(_get(f, 1)[0]) == [3, 2] and _get(f, 2) == [11]
    assert np.frombuffer(_get(f, 9)[0], "<f8").tolist() == [0, 3, 1, 4, 2, 5]   # row-major copy


def _mlp():
    flambeau.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Dropout(0.5), nn.Linear(7, 3))


def test_model_proto_structure_without_onnx():
    """ModelProto fields read back with the reader above: IR and opset versions, node types in order,
    the inputs' symbolic batch dimension, and each initializer's raw bytes equal to the parameter."""
    model = _mlp()
    buf = io.BytesIO()
    flambeau.onnx.export(model, (flambeau.randn(4, 5),), buf, input_names=["x"], output_names=["y"],
                         dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    m = _fields(buf.getvalue())
    assert _get(m, 1) == [8]                                   # ir_version for opset 17
    assert _get(m, 2) == [b"flambeau"]
    (opset,) = _get(m, 8)
    assert _get(_fields(opset), 2) == [17] and _get(_fields(opset), 1) == [b""]
    g = _fields(_get(m, 7)[0])
    nodes = [_fields(n) for n in _get(g, 1)]
    assert [_get(n, 4)[0] for n in nodes] == [b"Gemm", b"Relu", b"Gemm"]   # dropout removed in eval
    assert _get(nodes[0], 1)[0] == b"x" and _get(nodes[-1], 2) == [b"y"]
    inits = {_get(_fields(t), 8)[0].decode(): _fields(t) for t in _get(g, 5)}
    assert set(inits) == {"0.weight", "0.bias", "3.weight", "3.bias"}
    for name, p in model.state_dict().items():
        t = inits[name]
        assert _packed(_get(t, 1)[0]) == list(p.shape) and _get(t, 2) == [1]
        assert np.frombuffer(_get(t, 9)[0], dtype="<f4").tolist() == p.numpy().ravel().tolist()
    (inp,) = [_fields(v) for v in _get(g, 11)]
    tensor_type = _fields(_get(_fields(_get(inp, 2)[0]), 1)[0])
    dims = [_fields(d) for d in _get(_fields(_get(tensor_type, 2)[0]), 1)]
    assert _get(tensor_type, 1) == [1] and [_get(d, 2) or _get(d, 1) for d in dims] == [[b"batch"], [5]]


def test_export_names_paths_and_flags(tmp_path):
    model = _mlp()
    path = tmp_path / "m.onnx"
    seen = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            seen.append(flambeau.onnx.is_in_onnx_export())
            return self.inner(x)

    assert flambeau.onnx.export(Probe(), flambeau.randn(2, 5), str(path)) is None
    assert path.stat().st_size > 0 and seen and all(seen) and not flambeau.onnx.is_in_onnx_export()
    prog = flambeau.onnx.export(model, (flambeau.randn(2, 5),), dynamo=True)
    assert isinstance(prog, flambeau.onnx.ONNXProgram) and prog.model_bytes[:1]
    prog.save(tmp_path / "p.onnx")
    assert (tmp_path / "p.onnx").read_bytes() == prog.model_bytes
    assert flambeau.onnx.TrainingMode.EVAL == 0 and flambeau.onnx.OperatorExportTypes.ONNX == 0
    model.train()
    flambeau.onnx.export(model, (flambeau.randn(2, 5),), io.BytesIO())
    assert model.training  # the mode is restored


def test_bad_arguments_raise():
    model = _mlp()
    x = flambeau.randn(2, 5)
    with pytest.raises(ValueError, match="opset_version 12"):
        flambeau.onnx.export(model, (x,), io.BytesIO(), opset_version=12)
    with pytest.raises(ValueError, match="dynamic_axes names 'z'"):
        flambeau.onnx.export(model, (x,), io.BytesIO(), input_names=["x"], dynamic_axes={"z": [0]})
    with pytest.raises(ValueError, match="2 input_names for 1 input"):
        flambeau.onnx.export(model, (x,), io.BytesIO(), input_names=["a", "b"])
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError, match="dropout.*training=True"):
        flambeau.onnx.export(model, (x,), io.BytesIO(), training=flambeau.onnx.TrainingMode.TRAINING)


class _Fn(nn.Module):
    """A function as a module; the modules it uses are registered, so eval() reaches them."""

    def __init__(self, fn, *modules):
        super().__init__()
        self.fn = fn
        self.used = nn.ModuleList(modules)

    def forward(self, *args):
        return self.fn(*args)


def test_tensor_index_apart_from_an_int_is_refused():
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError, match="tensor index and ints separated"):
        flambeau.onnx.export(lambda x, i: x[0, :, i], (flambeau.randn(2, 3, 4), flambeau.tensor([1, 0])),
                             io.BytesIO())


def test_bitwise_ops_on_integers_are_refused():
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError, match="'bitwise_and' on integer"):
        flambeau.onnx.export(lambda x: x & 3, (flambeau.tensor([1, 2, 7]),), io.BytesIO())
    def iand(x):
        y = x + 1
        y &= 3
        return y
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError, match="in-place 'bitwise_and_'"):
        flambeau.onnx.export(iand, (flambeau.tensor([1, 2, 7]),), io.BytesIO())
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError, match="'bitwise_not' on integer"):
        flambeau.onnx.export(lambda x: ~x, (flambeau.tensor([1, 2, 7]),), io.BytesIO())


def test_unsupported_op_is_named():
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError, match="'cumsum'"):
        flambeau.onnx.export(_Fn(lambda x: flambeau.cumsum(x, 1)), (flambeau.randn(2, 3),), io.BytesIO())
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError, match="'logaddexp' inside logcumsumexp"):
        flambeau.onnx.export(_Fn(lambda x: flambeau.logcumsumexp(x, 1)), (flambeau.randn(2, 3),), io.BytesIO())
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError, match="'lstm_module' with proj_size"):
        flambeau.onnx.export(nn.LSTM(3, 4, proj_size=2), (flambeau.randn(5, 2, 3),), io.BytesIO())


def test_tensor_property_without_translation_is_refused():
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError, match="property 'mH'"):
        flambeau.onnx.export(lambda x: (x * 2).mH, (flambeau.randn(2, 3),), io.BytesIO())


def test_computation_hidden_from_the_tracer_is_refused():
    """A tensor computed from the inputs by a call the tracer cannot see (here the plain function behind
    F.relu's dispatch wrapper) must not be frozen into a constant."""
    from flambeau._torch_function import install, unwrapped
    install()
    plain_relu = unwrapped(F.relu)
    lin = nn.Linear(3, 3)
    with pytest.raises(flambeau.onnx.OnnxExporterError, match="changes with the inputs"):
        flambeau.onnx.export(_Fn(lambda x: lin(plain_relu(x))), (flambeau.randn(2, 3),), io.BytesIO())


def test_size_dependent_branching_is_refused():
    def fn(x):
        return x.relu() if x.shape[0] < 3 else x.sigmoid()
    with pytest.raises(flambeau.onnx.OnnxExporterError, match="different ops"):
        flambeau.onnx.export(_Fn(fn), (flambeau.randn(2, 3),), io.BytesIO(), input_names=["x"],
                             dynamic_axes={"x": [0]})


def test_functional_dropout_defaults_to_training():
    """F.dropout(x) without training= drops at random (PyTorch's default): that is refused, while the
    module in eval mode and training=False are identities."""
    assert "linear" in flambeau.onnx.SUPPORTED_OPS and "conv2d" in flambeau.onnx.SUPPORTED_OPS
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError, match="'dropout' with training=True"):
        flambeau.onnx.export(lambda x: F.dropout(x, 0.3), (flambeau.randn(2, 3),), io.BytesIO())
    flambeau.onnx.export(lambda x: F.dropout(x, 0.3, training=False) + F.alpha_dropout(x, 0.2),
                         (flambeau.randn(2, 3),), io.BytesIO())


# ---------------------------------------------------------------------------------------------------------
# onnxruntime against flambeau
# ---------------------------------------------------------------------------------------------------------
def _ort():
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    return onnx, ort


def _resize(x, batch):
    """A fresh input like x with `batch` rows (ints stay inside x's range: token ids)."""
    shape = (batch,) + tuple(x.shape[1:])
    if x.dtype == flambeau.int64:
        hi = int(x.max()) + 1 if x.numel() else 1
        return flambeau.randint(0, hi, shape)
    if x.dtype == flambeau.bool:
        return flambeau.rand(*shape) > 0.5
    return flambeau.randn(*shape)


def _flat(x):
    if isinstance(x, (tuple, list)):
        return [t for e in x for t in _flat(e)]
    return [x]


def _check(model, inputs, *, dynamic=True, opset=None, batches=(None, 5), atol=1e-5, rtol=1e-5, **export_kw):
    """Exports model, checks the file, and compares onnxruntime with flambeau on fresh inputs of the traced
    batch size and (dynamic axes) of another. Returns the ModelProto."""
    onnx, ort = _ort()
    if isinstance(inputs, flambeau.Tensor):
        inputs = (inputs,)
    names = [f"in{i}" for i in range(len(inputs))]
    if isinstance(model, nn.Module):
        model.eval()
    with flambeau.no_grad():
        ref = model(*inputs)
    n_out = len(_flat(ref))
    out_names = [f"out{i}" for i in range(n_out)]
    dyn = {n: {0: "batch"} for n in names} if dynamic else None
    buf = io.BytesIO()
    kw = dict(export_kw) if opset is None else dict(export_kw, opset_version=opset)
    flambeau.onnx.export(model, tuple(inputs), buf, input_names=names, output_names=out_names, dynamic_axes=dyn,
                         **kw)
    proto = onnx.load_model_from_string(buf.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    if kw.get("do_constant_folding", True):   # what depends on constants only was computed at export
        inits = {i.name for i in proto.graph.initializer}
        for node in proto.graph.node:
            assert not all(i in inits for i in node.input if i), f"{node.op_type} on constants only"
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    used = {i.name for i in sess.get_inputs()}
    for b in batches if dynamic else (None,):
        xs = [_resize(x, x.shape[0] if b is None else b) for x in inputs]
        with flambeau.no_grad():
            want = model(*xs)
        want = _flat(want)
        got = sess.run(None, {n: x.numpy() for n, x in zip(names, xs) if n in used})
        assert len(got) == len(want)
        for g, w in zip(got, want):
            w = w.numpy()
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, atol=atol, rtol=rtol)
    return proto


def _op_types(proto):
    return [n.op_type for n in proto.graph.node]


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.avg_pool2d(flambeau.tanh(self.conv2(x)), 2)
        x = x.view(x.size(0), -1)
        return F.log_softmax(self.fc3(F.relu(self.fc2(flambeau.sigmoid(self.fc1(x))))), dim=1)


class LSTMClassifier(nn.Module):
    def __init__(self, vocab=40, emb=12, hidden=16, layers=2, bidirectional=True, classes=5):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), classes)

    def forward(self, tokens):
        out, (h, c) = self.lstm(self.emb(tokens))
        return self.fc(out[:, -1]), h, c


def _randomize_bn(model):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(flambeau.randn(m.num_features) * 0.2)
            m.running_var.copy_(flambeau.rand(m.num_features) + 0.5)


def test_mlp():
    model = nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Dropout(), nn.Linear(32, 16), nn.GELU(), nn.Linear(16, 3),
                          nn.Softmax(dim=-1))
    proto = _check(model, flambeau.randn(4, 13))
    assert _op_types(proto)[:2] == ["Gemm", "Relu"] and "Dropout" not in _op_types(proto)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_lenet5():
    proto = _check(LeNet5(), flambeau.randn(3, 1, 28, 28))
    assert {"Conv", "MaxPool", "AveragePool", "Gemm", "Reshape", "LogSoftmax"} <= set(_op_types(proto))


def test_resnet18():
    from flambeau.vision.models import resnet18
    flambeau.manual_seed(1)
    model = resnet18(num_classes=10)
    _randomize_bn(model)
    x = flambeau.randn(2, 3, 48, 48)
    proto = _check(model, x, batches=(None, 3), atol=2e-5, rtol=1e-4)
    ops = _op_types(proto)   # batch norms folded into the convolutions, as PyTorch's exporter does
    assert ops.count("Conv") == 20 and "BatchNormalization" not in ops and "GlobalAveragePool" in ops
    assert sorted(set(ops)) == ["Add", "Conv", "Flatten", "Gemm", "GlobalAveragePool", "MaxPool", "Relu"]
    proto = _check(model, x, batches=(None, 3), atol=2e-5, rtol=1e-4, do_constant_folding=False)
    ops = _op_types(proto)
    assert ops.count("Conv") == 20 and ops.count("BatchNormalization") == 20
    names = {i.name for i in proto.graph.initializer}
    assert {"conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "fc.bias"} <= names


@pytest.mark.parametrize("opset", [13, 17, 20])
def test_transformer_encoder(opset):
    flambeau.manual_seed(2)
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, activation="gelu")
    model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    proto = _check(model, flambeau.randn(3, 7, 32), opset=opset, atol=2e-5)
    ops = set(_op_types(proto))
    assert ("LayerNormalization" in ops) == (opset >= 17) and ("Gelu" in ops) == (opset >= 20)
    assert "Softmax" in ops and "MatMul" in ops


def test_transformer_encoder_sequence_first_with_mask():
    flambeau.manual_seed(3)
    model = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 24, norm_first=True), 1,
                                  enable_nested_tensor=False)
    mask = nn.Transformer.generate_square_subsequent_mask(6)
    _check(_Fn(lambda x: model(x, mask=mask), model), flambeau.randn(6, 3, 16), dynamic=False)


@pytest.mark.parametrize("bidirectional,layers", [(False, 1), (True, 2)])
def test_embedding_lstm_classifier(bidirectional, layers):
    flambeau.manual_seed(4)
    model = LSTMClassifier(layers=layers, bidirectional=bidirectional)
    proto = _check(model, flambeau.randint(0, 40, (3, 9)))
    assert _op_types(proto).count("LSTM") == layers and "Gather" in _op_types(proto)


def test_lstm_with_initial_state_sequence_first():
    flambeau.manual_seed(5)
    lstm = nn.LSTM(6, 8, num_layers=2)
    x, h0, c0 = flambeau.randn(5, 3, 6), flambeau.randn(2, 3, 8), flambeau.randn(2, 3, 8)
    _check(_Fn(lambda x, h, c: lstm(x, (h, c)), lstm), (x, h0, c0), dynamic=False)


def _conv_net():
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, dilation=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding="same", groups=4, dilation=2), nn.LeakyReLU(0.1),
                         nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1),
                         nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
                         nn.AvgPool2d(2, padding=1, count_include_pad=False), nn.AdaptiveAvgPool2d((2, 2)),
                         nn.Flatten(), nn.Linear(16, 4))


# (name, module factory, input factory): small graphs covering each translation
_CASES = [
    ("conv_stack", _conv_net, lambda: flambeau.randn(2, 3, 17, 17)),
    ("global_pools", lambda: _Fn(lambda x: (F.adaptive_max_pool2d(x, 1), nn.AdaptiveAvgPool2d(1)(x), x.type(),
                                            F.adaptive_max_pool1d(x.flatten(2), 1))[::3]),
     lambda: flambeau.randn(2, 3, 4, 5)),
    ("conv1d_pool", lambda: nn.Sequential(nn.Conv1d(4, 6, 3, padding=1), nn.BatchNorm1d(6), nn.Hardtanh(),
                                          nn.MaxPool1d(2), nn.AvgPool1d(2), nn.AdaptiveAvgPool1d(1), nn.Flatten()),
     lambda: flambeau.randn(2, 4, 12)),
    ("activations", lambda: nn.Sequential(nn.SiLU(), nn.ELU(), nn.Softplus(), nn.GELU("tanh"), nn.Tanh(),
                                          nn.ReLU6(), nn.LogSoftmax(-1)), lambda: flambeau.randn(3, 9)),
    ("softmax_dtype", lambda: _Fn(lambda x: (F.softmax(x, 1, dtype=flambeau.float64),
                                             x.log_softmax(-1, flambeau.float64), F.softmax(x, 0, 3))),
     lambda: flambeau.randn(3, 9)),
    ("hard_prelu", lambda: nn.Sequential(nn.Conv2d(2, 4, 1), nn.Hardswish(), nn.PReLU(4), nn.Hardsigmoid(),
                                         nn.Flatten(), nn.PReLU()), lambda: flambeau.randn(2, 2, 3, 3)),
    ("interpolate", lambda: _Fn(lambda x: (F.interpolate(x, scale_factor=2), F.interpolate(x, size=(5, 7)),
                                           F.interpolate(x, scale_factor=2, mode="bilinear"),
                                           F.interpolate(x, size=(4, 9), mode="bilinear", align_corners=True),
                                           F.interpolate(x, size=(6, 5), mode="bicubic"),
                                           nn.Upsample(scale_factor=3, mode="nearest")(x))),
     lambda: flambeau.randn(2, 3, 4, 5)),
    ("layernorm_3d", lambda: nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Linear(8, 2)),
     lambda: flambeau.randn(2, 5, 6)),
    ("arith", lambda: _Fn(lambda x: ((x * 2 - 1) / 3 + 0.5) ** 2 - (1 - x) + 2 / (x.abs() + 1)
                          + flambeau.sqrt(x.abs()) + flambeau.exp(-x) * flambeau.erf(x) + (x.abs() + 0.5).rsqrt()),
     lambda: flambeau.randn(3, 4)),
    ("addcmul", lambda: _Fn(lambda x: (flambeau.addcmul(x, x, x + 1, value=0.5), x.addcdiv(x, x.abs() + 1))),
     lambda: flambeau.randn(3, 4)),
    ("remainder", lambda: _Fn(lambda x: (x.clone().remainder_(0.3), x % 0.7, x // 0.3, flambeau.remainder(x, -0.6),
                                         (x * 5).long() % 3, (x * 5).long() // 2, (x * 7).long() % -4,
                                         flambeau.floor_divide(x, -0.4))),
     lambda: flambeau.randn(3, 5)),
    ("compare_where", lambda: _Fn(lambda x: (flambeau.where(x > 0, x, x * 0.1).masked_fill(x < -1, 0.0)
                                   + (x >= 0.5).float() + x.clamp(-0.5, 0.5), (x > 0) & (x < 1), (x > 1) | (x < 0),
                                   ~(x > 0), x == x[:, :1], x != 0.5, flambeau.logical_not(x),
                                   flambeau.logical_and(x, x > 0), (x > 0).logical_or(x < -1))),
     lambda: flambeau.randn(3, 4)),
    ("reductions", lambda: _Fn(lambda x: (x.mean(dim=(1, 2)), x.sum(-1, keepdim=True), x.amax(1), x.max(dim=2)[0],
                                          x.max(dim=2)[1], x.argmax(-1), x.sum(dim=1).log_softmax(-1))),
     lambda: flambeau.randn(2, 3, 5)),
    ("shapes", lambda: _Fn(lambda x: (x.permute(0, 2, 1).reshape(x.shape[0], -1), x.transpose(1, 2).contiguous(),
                                      x.unsqueeze(1).squeeze(1), x.flatten(1), x.view(-1, 5), x[:, None].squeeze(),
                                      x.flatten(0, 1))),
     lambda: flambeau.randn(4, 3, 5)),
    ("indexing", lambda: _Fn(lambda x: (x[:, 1], x[:, 1:3], x[..., -1], x[:, :, ::2], x[:, -2:], x[:, None, 0])),
     lambda: flambeau.randn(3, 4, 5)),
    ("join_split", lambda: _Fn(lambda x: (flambeau.cat([x, x * 2], 1), flambeau.stack([x, -x], 0).sum(0),
                                          *x.chunk(2, dim=-1), *flambeau.split(x, [1, 3], dim=1),
                                          x.unbind(1)[2])),
     lambda: flambeau.randn(2, 4, 6)),
    ("matmuls", lambda: _Fn(lambda a, b: (a @ b, flambeau.bmm(a, b), flambeau.matmul(a, b[0]),
                                          flambeau.baddbmm(flambeau.ones(1, 3, 2), a, b, alpha=0.5, beta=2.0))),
     lambda: (flambeau.randn(2, 3, 4), flambeau.randn(2, 4, 2))),
    ("constant_operands", lambda: _Fn(lambda x: (x + _EMB3.narrow(1, 2, 3)[0, 1], x * _EMB3[1, 3, None, :],
                                                x - _EMB3.select(0, 1)[2].unsqueeze(0).squeeze(0))),
     lambda: flambeau.randn(3, 3)),
    ("expand_repeat", lambda: _Fn(lambda x: (x[:, :1].expand(-1, 4), x.repeat(1, 2), flambeau.zeros_like(x) + 1,
                                             flambeau.ones_like(x) * x, x.expand(2, -1, -1).sum(0))),
     lambda: flambeau.randn(3, 4)),
    ("pad", lambda: _Fn(lambda x: (F.pad(x, (1, 2)), F.pad(x, (1, 1, 2, 0), value=0.5),
                                   F.pad(x, (1, 1, 1, 1), mode="reflect"), F.pad(x, (2, 1, 0, 1), mode="replicate"))),
     lambda: flambeau.randn(2, 3, 4, 5)),
    ("embedding_gather", lambda: _Fn(lambda i: (F.embedding(i, _EMB), _EMB[i], _EMB[i[:, 0]], _EMB3[1, i],
                                                _EMB3[:, i % 3, 0], _EMB3[i[:, :2] % 2, :, None])),
     lambda: flambeau.randint(0, 7, (3, 4))),
    ("casts", lambda: _Fn(lambda x: ((x * 3).long(), (x * 3).long().float() / 2, x.double() * 2, x > 0,
                                     (x > 0).sum(1), x.to(flambeau.float64))),
     lambda: flambeau.randn(3, 4)),
    ("sdpa", lambda: _Fn(lambda q, k, v: (F.scaled_dot_product_attention(q, k, v),
                                          F.scaled_dot_product_attention(q, k, v, is_causal=True),
                                          F.scaled_dot_product_attention(q, k, v, attn_mask=_MASK))),
     lambda: (flambeau.randn(2, 3, 5, 4), flambeau.randn(2, 3, 5, 4), flambeau.randn(2, 3, 5, 4))),
    ("multihead_attention", lambda: _MHA(), lambda: flambeau.randn(2, 5, 8)),
]
_EMB = flambeau.randn(7, 3)
_EMB3 = flambeau.randn(2, 7, 3)
_MASK = flambeau.rand(5, 5) > 0.3
_MASK[:, 0] = True


class _MHA(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        out, w = self.attn(x, x, x)
        out2, _ = self.attn(x, x * 2, x, need_weights=False)
        return out, w, out2


@pytest.mark.parametrize("name,make_model,make_inputs", _CASES, ids=[c[0] for c in _CASES])
def test_translations(name, make_model, make_inputs):
    flambeau.manual_seed(6)
    model = make_model()
    _randomize_bn(model)
    dynamic = name not in ("sdpa",)   # the causal mask is built for the traced sequence length
    _check(model, make_inputs(), dynamic=dynamic)


def test_plain_function_and_keyword_inputs():
    def fn(x, scale=None):
        return flambeau.relu(x) * scale
    _check(fn, (flambeau.randn(2, 3), flambeau.randn(3)), dynamic=False)
    onnx, ort = _ort()
    buf = io.BytesIO()
    x, s = flambeau.randn(2, 3), flambeau.randn(3)
    flambeau.onnx.export(fn, (x, {"scale": s}), buf, input_names=["x", "scale"])
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"x": x.numpy(), "scale": s.numpy()})[0], fn(x, s).numpy(),
                               atol=1e-6)


def test_zero_dimensional_results():
    _check(lambda x: ((x * 2).sum() + 1, x.mean() * x.amax(), x[0, 1] - 0.5), flambeau.randn(3, 4))


def test_model_returning_its_input_and_a_constant():
    class M(nn.Module):
        def forward(self, x):
            return x, flambeau.arange(3), x + 1
    onnx, ort = _ort()
    buf = io.BytesIO()
    x = flambeau.randn(2, 2)
    flambeau.onnx.export(M(), (x,), buf, input_names=["x"], output_names=["a", "b", "c"])
    proto = onnx.load_model_from_string(buf.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    a, b, c = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})
    assert np.array_equal(a, x.numpy()) and b.tolist() == [0, 1, 2] and np.allclose(c, x.numpy() + 1)


def test_keep_initializers_as_inputs():
    onnx, _ = _ort()
    buf = io.BytesIO()
    flambeau.onnx.export(_mlp(), (flambeau.randn(2, 5),), buf, keep_initializers_as_inputs=True)
    proto = onnx.load_model_from_string(buf.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    assert {"0.weight", "3.bias"} <= {i.name for i in proto.graph.input}


def _torch_op_types(build, x_shape, opset=17):
    """Node types of PyTorch's own (TorchScript-based) export of the model build() makes in PyTorch."""
    torch = pytest.importorskip("torch")
    onnx, _ = _ort()
    import warnings
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(build(torch).eval(), (torch.randn(*x_shape),), buf, dynamo=False, opset_version=opset)
    return sorted(n.op_type for n in onnx.load_model_from_string(buf.getvalue()).graph.node)


@pytest.mark.parametrize("which", ["mlp", "lenet"])
def test_node_types_match_pytorch_exporter(which):
    """The same node types as torch.onnx.export(dynamo=False) for plain Linear/Conv/pool models."""
    import types

    def build(lib):
        nn_ = lib.nn
        if which == "mlp":
            return nn_.Sequential(nn_.Linear(6, 8), nn_.ReLU(), nn_.Dropout(), nn_.Linear(8, 4), nn_.Sigmoid())
        return nn_.Sequential(nn_.Conv2d(1, 4, 5, padding=2), nn_.ReLU(), nn_.MaxPool2d(2), nn_.Conv2d(4, 8, 3),
                              nn_.Tanh(), nn_.AvgPool2d(2), nn_.Flatten(), nn_.Linear(8 * 3 * 3, 10))
    shape = (2, 6) if which == "mlp" else (2, 1, 16, 16)
    theirs = _torch_op_types(build, shape)
    proto = _check(build(types.SimpleNamespace(nn=nn)), flambeau.randn(*shape), dynamic=False)
    ours = sorted(_op_types(proto))
    assert ours == theirs


@pytest.mark.parametrize("kind", ["GRU", "RNN_tanh", "RNN_relu"])
@pytest.mark.parametrize("batch_first,bidirectional,layers", [(True, False, 1), (False, True, 2)])
def test_gru_and_rnn(kind, batch_first, bidirectional, layers):
    flambeau.manual_seed(7)
    if kind == "GRU":
        rnn = nn.GRU(5, 6, num_layers=layers, batch_first=batch_first, bidirectional=bidirectional)
    else:
        rnn = nn.RNN(5, 6, num_layers=layers, nonlinearity=kind[4:], batch_first=batch_first,
                     bidirectional=bidirectional)
    x = flambeau.randn(3, 4, 5)
    proto = _check(rnn, x, dynamic=batch_first)
    assert _op_types(proto).count(kind[:3]) == layers
    h0 = flambeau.randn(layers * (2 if bidirectional else 1), 4 if not batch_first else 3, 6)
    _check(_Fn(lambda x, h: rnn(x, h), rnn), (x, h0), dynamic=False)


def test_unbatched_lstm():
    flambeau.manual_seed(8)
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    _check(lstm, flambeau.randn(6, 3), dynamic=False)


def test_vision_transformer_class_token_follows_the_batch():
    """ViT expands its class token (a parameter) to the batch size read from the input: the Expand's size
    comes from the input's shape, so another batch size works."""
    from flambeau.vision.models.vision_transformer import VisionTransformer
    flambeau.manual_seed(9)
    model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32,
                              num_classes=5)
    nn.init.normal_(model.heads.head.weight)   # torchvision initializes the head to zeros
    nn.init.normal_(model.class_token)
    proto = _check(model, flambeau.randn(2, 3, 32, 32), batches=(None, 4))
    assert {"Shape", "Expand", "Conv"} <= set(_op_types(proto))


class _PositionalEncoding(nn.Module):
    def __init__(self, d, max_len=50):
        super().__init__()
        pos = flambeau.arange(max_len).float().unsqueeze(1)
        div = flambeau.exp(flambeau.arange(0, d, 2).float() * (-math.log(10000.0) / d))
        pe = flambeau.zeros(max_len, d)
        pe[:, 0::2] = flambeau.sin(pos * div)
        pe[:, 1::2] = flambeau.cos(pos * div)
        self.register_buffer("pe", pe)
        self.proj = nn.Linear(d, 3)

    def forward(self, x):
        return self.proj(x + self.pe[:x.size(1)])


def test_dynamic_sequence_length_slices_a_buffer():
    onnx, ort = _ort()
    flambeau.manual_seed(10)
    model = _PositionalEncoding(8).eval()
    buf = io.BytesIO()
    flambeau.onnx.export(model, (flambeau.randn(2, 7, 8),), buf, input_names=["x"], output_names=["y"],
                         dynamic_axes={"x": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}})
    proto = onnx.load_model_from_string(buf.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    assert [d.dim_param for d in proto.graph.output[0].type.tensor_type.shape.dim[:2]] == ["batch", "seq"]
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    for shape in [(2, 7, 8), (3, 11, 8), (1, 1, 8)]:
        x = flambeau.randn(*shape)
        with flambeau.no_grad():
            want = model(x).numpy()
        np.testing.assert_allclose(sess.run(None, {"x": x.numpy()})[0], want, atol=1e-5, rtol=1e-5)


def test_constant_changed_in_place_after_use():
    """A constant is written as it was when an op used it, not as the model left it."""
    def fn(x):
        m = flambeau.ones(3)
        y = x + m
        m.mul_(5.0)
        return y + m
    _check(fn, flambeau.randn(2, 3))


def test_constants_computed_and_changed_in_forward():
    """Constants the forward computes (ops on constants only), changes in place and runs an op without a
    translation on: all folded into initializers with the values they had when used."""
    w = flambeau.randn(3)

    def fn(x):
        c = w * 2            # a constant node
        c[0] = 1.0           # changed in place: later uses see the new value
        d = flambeau.cumsum(c, 0)   # no translation, but constants only
        return x * c + d
    proto = _check(fn, flambeau.randn(2, 3))
    assert _op_types(proto) == ["Mul", "Add"]


def test_in_place_write_into_a_traced_value_is_refused():
    def fn(x):
        y = x * 2
        y[:, 0] = 0.0
        return y
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError, match="in-place 'setitem'"):
        flambeau.onnx.export(fn, (flambeau.randn(2, 3),), io.BytesIO())


@pytest.mark.parametrize("opset", [13, 16, 18, 19, 20])
def test_opset_dependent_forms(opset):
    """Reduce* axes (attribute before opset 18, input from 18), LayerNormalization (17) or its decomposition,
    Gelu (20) or its decomposition, Pad's circular mode (19)."""
    ln = nn.LayerNorm(5)
    nn.init.normal_(ln.weight)

    def fn(x):
        outs = [x.mean(1), x.sum((0, 2), keepdim=True), x.amax(-1), ln(x), F.gelu(x), F.gelu(x, approximate="tanh"),
                x.max(dim=1)[0], x.prod(2)]
        if opset >= 19:
            outs.append(F.pad(x, (1, 2), mode="circular"))
        return tuple(outs)
    proto = _check(_Fn(fn, ln), flambeau.randn(2, 4, 5), opset=opset)
    ops = set(_op_types(proto))
    assert ("LayerNormalization" in ops) == (opset >= 17) and ("Gelu" in ops) == (opset >= 20)
    assert proto.opset_import[0].version == opset
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError, match="circular.*opset") if opset < 19 else \
            contextlib.nullcontext():
        flambeau.onnx.export(lambda x: F.pad(x, (1, 1), mode="circular"), (flambeau.randn(1, 2, 3),), io.BytesIO(),
                             opset_version=opset)


class _TinyGPT(nn.Module):
    """Token and position embeddings (positions from torch.arange of the sequence length), a causal
    encoder layer with its mask built in forward, and zeros/ones/full sized from the input."""

    def __init__(self, vocab=30, d=16, max_len=40):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.layer = nn.TransformerEncoderLayer(d, 2, 32, batch_first=True)
        self.head = nn.Linear(d, vocab)

    def forward(self, idx):
        b, t = idx.shape
        x = self.tok(idx) + self.pos(flambeau.arange(t))
        x = x + flambeau.zeros(b, t, 1) + flambeau.full((1, t, 1), 0.5) - flambeau.ones(t, 1) * 0.5
        return self.head(self.layer(x))


def test_factories_sized_by_the_input():
    onnx, ort = _ort()
    flambeau.manual_seed(11)
    model = _TinyGPT().eval()
    buf = io.BytesIO()
    flambeau.onnx.export(model, (flambeau.randint(0, 30, (2, 7)),), buf, input_names=["idx"],
                         dynamic_axes={"idx": {0: "batch", 1: "seq"}})
    proto = onnx.load_model_from_string(buf.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    assert {"Range", "ConstantOfShape"} <= set(_op_types(proto))
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    for shape in [(2, 7), (3, 12), (1, 1)]:
        idx = flambeau.randint(0, 30, shape)
        with flambeau.no_grad():
            want = model(idx).numpy()
        np.testing.assert_allclose(sess.run(None, {"idx": idx.numpy()})[0], want, atol=1e-5, rtol=1e-5)
    # static sizes: the same factories are folded into initializers
    proto = _check(model, flambeau.randint(0, 30, (2, 7)), dynamic=False)
    assert not {"Range", "ConstantOfShape"} & set(_op_types(proto))
