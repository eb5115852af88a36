"""The meta device (_meta.py) against PyTorch's: factories, t.to('meta'), modules built there, to_empty,
load_state_dict(assign=True), the shapes and dtypes of ops on meta tensors, and the errors for what has no
data. Everything is compared with torch doing the same on its own meta device."""
import copy
import io

import numpy as np
import pytest
import torch

import flambeau as fl
from flambeau import nn


def _same_meta(a, b):
    """flambeau meta tensor a describes what torch meta tensor b does."""
    assert a.is_meta and b.is_meta
    assert a.device.type == "meta" and str(a.device) == str(b.device) == "meta"
    assert tuple(a.shape) == tuple(b.shape)
    assert str(a.dtype).split(".")[1] == str(b.dtype).split(".")[1]
    assert a.requires_grad == b.requires_grad
    assert a.numel() == b.numel() and a.dim() == b.dim()


@pytest.mark.parametrize("make", [
    lambda m: m.empty(2, 3, device="meta"),
    lambda m: m.empty((0, 4), device=m.device("meta"), dtype=m.float64),
    lambda m: m.zeros(5, device="meta", dtype=m.int64),
    lambda m: m.ones((3, 1, 2), device="meta", requires_grad=True),
    lambda m: m.randn(4, 7, device="meta"),
    lambda m: m.rand(size=(2, 2), device="meta", dtype=m.float64),
    lambda m: m.full((2, 5), 7, device="meta"),
    lambda m: m.full((2,), 1.5, device="meta"),
    lambda m: m.empty((), device="meta"),
])
def test_factories(make):
    a, b = make(fl), make(torch)
    _same_meta(a, b)
    assert a.stride() == b.stride()
    assert a.element_size() == b.element_size()
    assert a.is_contiguous() and not a.is_cuda and not a.is_cpu and a.get_device() == -1


def test_empty_strided_and_likes():
    a = fl.empty_strided((3, 4), (1, 3), device="meta")
    b = torch.empty_strided((3, 4), (1, 3), device="meta")
    _same_meta(a, b)
    assert a.stride() == b.stride() and a.is_contiguous() == b.is_contiguous()
    x, y = fl.randn(3, 5), torch.randn(3, 5)
    for op in ("empty_like", "zeros_like", "ones_like"):
        _same_meta(getattr(fl, op)(x, device="meta"), getattr(torch, op)(y, device="meta"))
    _same_meta(fl.full_like(x, 2, device="meta", dtype=fl.int64),
               torch.full_like(y, 2, device="meta", dtype=torch.int64))
    m, tm = fl.empty(2, 6, device="meta"), torch.empty(2, 6, device="meta")
    _same_meta(fl.zeros_like(m), torch.zeros_like(tm))
    _same_meta(m.new_empty((4,)), tm.new_empty((4,)))
    _same_meta(m.new_zeros(3, 2, dtype=fl.float64), tm.new_zeros(3, 2, dtype=torch.float64))
    # out of meta by a factory: a real tensor of the meta tensor's shape
    z = fl.zeros_like(m, device="cpu")
    assert z.device.type == "cpu" and z.shape == (2, 6) and not z.is_meta and float(z.abs().sum()) == 0


def test_negative_size_and_int_requires_grad_raise():
    with pytest.raises(RuntimeError):
        fl.empty(2, -1, device="meta")
    with pytest.raises(RuntimeError, match="floating point"):
        fl.zeros(2, dtype=fl.int64, device="meta", requires_grad=True)


def test_to_meta_and_back():
    x, y = fl.randn(4, 5), torch.randn(4, 5)
    for args, kwargs in [(("meta",), {}), ((), {"device": "meta"}), ((fl.device("meta"),), {}),
                         (("meta", fl.float64), {})]:
        targs = tuple(torch.device("meta") if isinstance(a, fl.device) else
                      torch.float64 if a is fl.float64 else a for a in args)
        _same_meta(x.to(*args, **kwargs), y.to(*targs, **kwargs))
    m, tm = x.to("meta"), y.to("meta")
    assert m.to("meta") is m
    _same_meta(m.to(fl.float16), tm.to(torch.float16))
    _same_meta(m.double(), tm.double())
    _same_meta(m.long(), tm.long())
    for f in (lambda t: t.to("cpu"), lambda t: t.cpu(), lambda t: t.tolist(), lambda t: t.to(device="cpu")):
        with pytest.raises(NotImplementedError, match="Cannot copy out of meta tensor; no data!"):
            f(m)
        with pytest.raises(NotImplementedError, match="Cannot copy out of meta tensor; no data!"):
            f(tm)
    with pytest.raises(NotImplementedError, match="Cannot copy out of meta tensor; no data!"):
        fl.zeros(4, 5).copy_(m)
    assert m.copy_(x) is m and [tuple(r.shape) for r in m] == [tuple(r.shape) for r in tm] == [(5,)] * 4
    with pytest.raises(RuntimeError, match="cannot be called on meta tensors"):
        fl.empty((), device="meta").item()
    with pytest.raises(TypeError, match="can't convert meta device type tensor to numpy"):
        m.numpy()
    assert repr(m) == repr(tm)
    assert repr(fl.zeros(3, dtype=fl.int64, device="meta")) == repr(torch.zeros(3, dtype=torch.int64, device="meta")).replace("torch", "flambeau")


def test_parameter_of_meta_tensor():
    p = nn.Parameter(fl.empty(3, 2, device="meta"))
    tp = torch.nn.Parameter(torch.empty(3, 2, device="meta"))
    _same_meta(p, tp)
    assert isinstance(p, nn.Parameter) and p.is_leaf
    assert repr(p) == repr(tp)
    q = nn.Parameter(fl.empty(3, device="meta"), requires_grad=False)
    assert not q.requires_grad and isinstance(q, nn.Parameter)
    d = copy.deepcopy(p)
    assert d is not p and d.is_meta and isinstance(d, nn.Parameter) and d.requires_grad


def _modules(m):
    return [m.nn.Linear(5, 3, device="meta"), m.nn.Embedding(11, 4, padding_idx=0, device="meta"),
            m.nn.LayerNorm(6, device="meta"), m.nn.Conv2d(2, 4, 3, device="meta"),
            m.nn.Linear(4, 2, bias=False, device="meta", dtype=m.float64)]


def test_modules_built_on_meta():
    for a, b in zip(_modules(fl), _modules(torch)):
        pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
        assert pa.keys() == pb.keys()
        for k in pa:
            _same_meta(pa[k], pb[k])
            assert isinstance(pa[k], nn.Parameter)


def test_module_forward_on_meta():
    lin, tlin = nn.Linear(5, 3, device="meta"), torch.nn.Linear(5, 3, device="meta")
    x, tx = fl.empty(7, 2, 5, device="meta"), torch.empty(7, 2, 5, device="meta")
    _same_meta(lin(x), tlin(tx))
    emb, temb = nn.Embedding(11, 4, device="meta"), torch.nn.Embedding(11, 4, device="meta")
    _same_meta(emb(fl.tensor([[1, 2, 3]])), temb(torch.tensor([[1, 2, 3]])))
    ln, tln = nn.LayerNorm(5, device="meta"), torch.nn.LayerNorm(5, device="meta")
    _same_meta(ln(x), tln(tx))


def test_to_empty_keeps_parameter_objects():
    lin = nn.Linear(5, 3, device="meta")
    w = lin.weight
    lin.to_empty(device="cpu")
    assert lin.weight is w and type(w) is nn.Parameter and w.device.type == "cpu" and not w.is_meta
    assert w.shape == (3, 5) and w.requires_grad
    lin.weight.data.fill_(1.0)
    lin.bias.data.zero_()
    assert np.array_equal(lin(fl.ones(2, 5)).detach().numpy(), np.full((2, 3), 5.0, np.float32))
    # and the optimizer sees the same objects
    opt = fl.optim.SGD(lin.parameters(), lr=0.1)
    lin(fl.ones(2, 5)).sum().backward()
    opt.step()
    assert float(lin.bias[0]) == pytest.approx(-0.2)


def test_load_state_dict_assign_replaces_meta_params():
    ref = nn.Linear(4, 3)
    sd = ref.state_dict()
    lin = nn.Linear(4, 3, device="meta")
    r = lin.load_state_dict(sd, assign=True)
    assert not r.missing_keys and not r.unexpected_keys
    assert type(lin.weight) is nn.Parameter and not lin.weight.is_meta and lin.weight.requires_grad
    assert np.array_equal(lin.weight.detach().numpy(), ref.weight.detach().numpy())
    x = fl.randn(2, 4)
    assert np.array_equal(lin(x).detach().numpy(), ref(x).detach().numpy())
    # without assign, copying into meta parameters is a no-op in PyTorch: they stay meta
    lin2 = nn.Linear(4, 3, device="meta")
    tlin2 = torch.nn.Linear(4, 3, device="meta")
    lin2.load_state_dict(sd)
    tlin2.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in sd.items()})
    assert lin2.weight.is_meta == tlin2.weight.is_meta


def test_data_assignment_moves_class():
    p = nn.Parameter(fl.randn(2, 3))
    p.data = fl.empty(2, 3, device="meta")
    assert p.is_meta and isinstance(p, nn.Parameter)
    p.data = fl.zeros(2, 3)
    assert type(p) is nn.Parameter and not p.is_meta and float(p.sum()) == 0


def test_init_functions_are_no_ops():
    w, tw = fl.empty(4, 6, device="meta"), torch.empty(4, 6, device="meta")
    for f in ("kaiming_uniform_", "xavier_normal_", "normal_", "uniform_", "zeros_", "ones_", "trunc_normal_"):
        r = getattr(nn.init, f)(w)
        assert r is w
        _same_meta(r, getattr(torch.nn.init, f)(tw))
    w.fill_(3)
    w.mul_(2).add_(1)
    w[0] = 5
    w += 1
    assert w.is_meta


def _ops(m, x, y, i, v):
    """(x: (3, 4, 5) float32, y: (5, 2) float64, i: (3, 4) int64, v: (4, 5) float32) on one library."""
    F = m.nn.functional
    return [x + 1, x * v, x - y.sum(), 2.5 * i, i + 1, i / 2, i // 2, -x, x.exp(), i.sqrt(), m.sigmoid(x),
            x > v, x == 0, m.where(x > 0, x, v), x @ y.float(), m.matmul(x, y.float()), m.matmul(v[0], x[0].T),
            x.bmm(x.transpose(1, 2)), v.mm(v.t()), F.linear(x, v, v[:, 0]), F.linear(x, v[:3], None),
            m.addmm(v[:, :1], v, y.float()), x.sum(), x.sum(1), x.sum((0, 2), keepdim=True), i.sum(),
            x.mean(-1), i.float().mean(), x.amax(1), x.argmax(-1), x.max(), x.max(1)[0], x.max(1)[1], x.std(0),
            x.var(), x.softmax(-1), F.log_softmax(x, dim=1), F.gelu(x), F.relu(x), F.silu(x),
            F.layer_norm(x, (5,)), F.dropout(x, 0.5, training=False), x.view(12, 5), x.reshape(-1),
            x.view(-1, 10), x.flatten(1), x.unflatten(2, (5, 1)), x.squeeze(), x.unsqueeze(0), x.permute(2, 0, 1),
            x.transpose(0, 2), x.mT, x.expand(2, 3, 4, 5), v.expand_as(x), x[0], x[:, 1:3], x[..., None, 2],
            x[1, :, ::2], x.select(1, 2), x.narrow(2, 1, 3), *x.split(2, 1), *x.chunk(2, -1), *x.unbind(0),
            m.cat([x, x], 1), m.cat([x, x.double()]), m.stack([v, v], 2), x.contiguous(), x.clone(),
            x.permute(2, 0, 1).contiguous(), F.embedding(i, v), F.scaled_dot_product_attention(x, x, x),
            x.float(), x.to(m.float64), x.type_as(i), v.t(), x.movedim(0, -1),
            m.tril(v), x.cumsum(1), m.maximum(x, v), x.clamp(0, 1), x.masked_fill(x > 0, 1.0), x.pow(2),
            m.logical_not(x > 0), x.all(), x.any(1), x.norm(), x.float().abs(), x ** 2, 1 - x, 1 / x]


def test_op_shapes_and_dtypes_match_pytorch():
    mk = lambda m: (m.randn(3, 4, 5), m.randn(5, 2, dtype=m.float64), m.ones(3, 4, dtype=m.int64) * 2,
                    m.randn(4, 5))
    ours = _ops(fl, *(t.to("meta") for t in mk(fl)))
    theirs = _ops(torch, *(t.to("meta") for t in mk(torch)))
    assert len(ours) == len(theirs)
    for n, (a, b) in enumerate(zip(ours, theirs)):
        try:
            _same_meta(a, b)
        except AssertionError:
            raise AssertionError(f"op #{n}: ours {tuple(a.shape)} {a.dtype}, torch {tuple(b.shape)} {b.dtype}")


def test_mixed_meta_and_cpu_operands():
    x, tx = fl.empty(2, 3, device="meta"), torch.empty(2, 3, device="meta")
    _same_meta(x + fl.tensor(1.0), tx + torch.tensor(1.0))
    _same_meta(x * 2, tx * 2)


def test_large_shapes_cost_nothing():
    a = fl.empty(100_000, 100_000, device="meta")
    b = fl.empty(100_000, 50_000, device="meta", dtype=fl.float64)
    c = (a @ b).softmax(-1).sum(0)
    assert c.shape == (50_000,) and c.dtype == fl.float64 and c.is_meta


def test_shape_errors():
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        fl.empty(2, 3, device="meta") @ fl.empty(4, 5, device="meta")
    with pytest.raises(RuntimeError, match="must match"):
        fl.empty(2, 3, device="meta") + fl.empty(4, device="meta")
    with pytest.raises(RuntimeError, match="invalid for input of size"):
        fl.empty(2, 3, device="meta").view(4, 2)
    with pytest.raises(IndexError):
        fl.empty(2, 3, device="meta")[5]


def test_unsupported_op_names_itself():
    x = fl.empty(4, 4, device="meta")
    with pytest.raises(NotImplementedError, match="quantile"):
        fl.quantile(x, 0.5)
    with pytest.raises(NotImplementedError, match="nonzero"):
        x.nonzero()
    with pytest.raises(NotImplementedError, match="__getitem__"):
        x[x > 0]  # (a boolean mask on meta: data-dependent, as in PyTorch)


def test_torch_load_map_location_meta(tmp_path):
    sd = {"w": torch.randn(3, 4), "b": torch.arange(5), "t": torch.randn(4, 3).t()}
    path = tmp_path / "ckpt.pt"
    torch.save(sd, path)
    ours = fl.load(str(path), map_location="meta", weights_only=True)
    theirs = torch.load(str(path), map_location="meta", weights_only=True)
    for k in sd:
        _same_meta(ours[k], theirs[k])
        assert ours[k].stride() == theirs[k].stride()
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    assert fl.load(buf, map_location=fl.device("meta"))["w"].is_meta


def test_pickle_roundtrip():
    import pickle
    m = fl.empty(3, 2, device="meta", dtype=fl.float64, requires_grad=True)
    r = pickle.loads(pickle.dumps(m))
    assert r.is_meta and r.shape == (3, 2) and r.dtype == fl.float64 and r.requires_grad
