"""Memory layouts against PyTorch: clone(), *_like(), .to()/.float()/..., elementwise results and
copies keep a dense input's strides (transposed, permuted, channels_last), as PyTorch's do;
contiguous(memory_format=...), is_contiguous(memory_format=...), empty(memory_format=...) and the
memory_format objects. Values must stay identical to the row-major computation."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close, rand_array

# Views of a fresh base: (base shape, how to view it). Each gives a layout PyTorch treats
# differently: permuted dense, expanded (overlapping), sliced (gaps), channels_last, size-1 dims.
LAYOUTS = {
    "t": ((3, 4), lambda x: x.t()),
    "permute": ((2, 3, 4, 5), lambda x: x.permute(0, 2, 3, 1)),
    "permute3": ((2, 3, 4), lambda x: x.permute(2, 0, 1)),
    "expand": ((3, 1), lambda x: x.expand(3, 4)),
    "slice": ((6, 8), lambda x: x[::2, 1:5]),
    "slice_t": ((6, 8), lambda x: x[::2, 1:5].t()),
    "size1": ((4, 1, 3), lambda x: x.transpose(0, 2)),
    "contig": ((3, 4), lambda x: x),
}


def _channels_last(lib, arr):
    return lib.from_numpy(arr.copy()).contiguous(memory_format=lib.channels_last)


def _pair(name, dtype="float32"):
    shape, view = LAYOUTS[name]
    arr = rand_array(shape, dtype)
    return view(torch.from_numpy(arr.copy())), view(flambeau.from_numpy(arr.copy()))


def _same_layout(f, t):
    assert tuple(f.shape) == tuple(t.shape)
    assert tuple(f.stride()) == tuple(t.stride()), (tuple(f.stride()), tuple(t.stride()))
    assert f.is_contiguous() == t.is_contiguous()
    assert f.is_contiguous(memory_format=flambeau.channels_last) == t.is_contiguous(memory_format=torch.channels_last)


ALL_LAYOUTS = list(LAYOUTS) + ["channels_last"]


def _inputs(name, dtype="float32"):
    if name == "channels_last":
        arr = rand_array((2, 3, 4, 5), dtype)
        return _channels_last(torch, arr), _channels_last(flambeau, arr)
    return _pair(name, dtype)


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
def test_clone_keeps_layout(layout):
    t, f = _inputs(layout)
    for fmt in (None, "preserve_format", "contiguous_format"):
        kw_t = {} if fmt is None else {"memory_format": getattr(torch, fmt)}
        kw_f = {} if fmt is None else {"memory_format": getattr(flambeau, fmt)}
        rt, rf = t.clone(**kw_t), f.clone(**kw_f)
        _same_layout(rf, rt)
        assert_close(rf, rt, atol=0, rtol=0)
    # a clone owns fresh memory
    rf = f.clone()
    rf.add_(1)
    assert_close(f, t, atol=0, rtol=0)


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
@pytest.mark.parametrize("fn", ["empty_like", "zeros_like", "ones_like", "rand_like", "randn_like", "full_like",
                                "randint_like"])
def test_like_keeps_layout(layout, fn):
    t, f = _inputs(layout)
    args = {"full_like": (2.5,), "randint_like": (7,)}.get(fn, ())
    rt, rf = getattr(torch, fn)(t, *args), getattr(flambeau, fn)(f, *args)
    _same_layout(rf, rt)
    if fn in ("zeros_like", "ones_like", "full_like"):
        assert_close(rf, rt, atol=0, rtol=0)
    if fn == "randint_like":
        v = rf.numpy()
        assert v.min() >= 0 and v.max() < 7
    rt2 = getattr(torch, fn)(t, *args, memory_format=torch.contiguous_format)
    rf2 = getattr(flambeau, fn)(f, *args, memory_format=flambeau.contiguous_format)
    _same_layout(rf2, rt2)


def test_like_requires_grad_and_dtype():
    t, f = _inputs("t")
    rt = torch.zeros_like(t, dtype=torch.float64, requires_grad=True)
    rf = flambeau.zeros_like(f, dtype=flambeau.float64, requires_grad=True)
    _same_layout(rf, rt)
    assert rf.requires_grad and rf.dtype == flambeau.float64
    rf = flambeau.randn_like(f, requires_grad=True)
    assert rf.requires_grad and rf.is_leaf and tuple(rf.stride()) == (1, 4)


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
def test_elementwise_results_keep_layout(layout):
    t, f = _inputs(layout)
    ops = [
        lambda lib, x: x + 1,
        lambda lib, x: x * x,
        lambda lib, x: 2.0 - x,
        lambda lib, x: x.exp(),
        lambda lib, x: -x,
        lambda lib, x: lib.relu(x),
        lambda lib, x: lib.sigmoid(x),
        lambda lib, x: lib.tanh(x),
        lambda lib, x: x > 0,
        lambda lib, x: x.clamp(-0.5, 0.5),
        lambda lib, x: lib.where(x > 0, x, 0.0),
        lambda lib, x: lib.addcmul(x, x, x, value=0.5),
        lambda lib, x: lib.lerp(x, x * 2, 0.25),
        lambda lib, x: lib.maximum(x, x * 0.5),
        lambda lib, x: x.abs().sqrt(),
    ]
    for op in ops:
        rt, rf = op(torch, t), op(flambeau, f)
        _same_layout(rf, rt)
        assert_close(rf, rt)


@pytest.mark.parametrize("pair", ["t+c", "c+t", "t+t", "cl+c", "c+cl", "cl+bias", "t+row", "perm+perm"])
def test_binary_layout_rules(pair):
    """TensorIterator's rule: operands' dim order, the first operand deciding conflicts, broadcast
    operands having no say."""
    def build(lib):
        g = np.random.default_rng(123)
        a = lib.from_numpy(g.standard_normal((4, 3)).astype(np.float32))
        c = lib.from_numpy(g.standard_normal((3, 4)).astype(np.float32))
        n = lib.from_numpy(g.standard_normal((2, 3, 4, 5)).astype(np.float32))
        cl = n.contiguous(memory_format=lib.channels_last)
        bias = lib.from_numpy(g.standard_normal((3, 1, 1)).astype(np.float32))
        row = lib.from_numpy(g.standard_normal((4,)).astype(np.float32))
        p = lib.from_numpy(g.standard_normal((2, 3, 4)).astype(np.float32)).permute(1, 2, 0)
        return {"t+c": lambda: a.t() + c, "c+t": lambda: c + a.t(), "t+t": lambda: a.t() * a.t(),
                "cl+c": lambda: cl + n, "c+cl": lambda: n + cl, "cl+bias": lambda: cl + bias,
                "t+row": lambda: a.t() + row, "perm+perm": lambda: p - p * 2}[pair]()
    rt, rf = build(torch), build(flambeau)
    _same_layout(rf, rt)
    assert_close(rf, rt)


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
def test_to_and_casts_keep_layout(layout):
    t, f = _inputs(layout)
    pairs = [
        (t.double(), f.double()),
        (t.to(torch.float64), f.to(flambeau.float64)),
        (t.long(), f.long()),
        (t.to(torch.int32), f.to(flambeau.int32)),
        (t.bool(), f.bool()),
        (t.to(torch.float64, memory_format=torch.contiguous_format),
         f.to(flambeau.float64, memory_format=flambeau.contiguous_format)),
        (t.to("cpu", copy=True), f.to("cpu", copy=True)),
    ]
    for rt, rf in pairs:
        _same_layout(rf, rt)
        assert_close(rf, rt, atol=0, rtol=0, check_dtype=False)
    assert f.float() is f  # already float32: no copy


def test_cast_gradient_through_permuted_layout():
    arr = rand_array((2, 3, 4), "float32")
    t = torch.from_numpy(arr.copy()).requires_grad_(True)
    f = flambeau.from_numpy(arr.copy()).requires_grad_(True)
    yt = t.permute(2, 0, 1).double()
    yf = f.permute(2, 0, 1).double()
    _same_layout(yf, yt)
    g = rand_array((4, 2, 3), "float64")
    (yt * torch.from_numpy(g)).sum().backward()
    (yf * flambeau.from_numpy(g)).sum().backward()
    assert_close(f.grad, t.grad)


def test_channels_last_conversions():
    arr = rand_array((2, 3, 4, 5), "float32")
    t, f = torch.from_numpy(arr.copy()), flambeau.from_numpy(arr.copy())
    for rt, rf in [
        (t.contiguous(memory_format=torch.channels_last), f.contiguous(memory_format=flambeau.channels_last)),
        (t.to(memory_format=torch.channels_last), f.to(memory_format=flambeau.channels_last)),
        (t.permute(0, 2, 3, 1).contiguous(memory_format=torch.channels_last),
         f.permute(0, 2, 3, 1).contiguous(memory_format=flambeau.channels_last)),
        (t.clone(memory_format=torch.channels_last), f.clone(memory_format=flambeau.channels_last)),
        (torch.empty(2, 3, 4, 5, memory_format=torch.channels_last),
         flambeau.empty(2, 3, 4, 5, memory_format=flambeau.channels_last)),
        (torch.zeros_like(t, memory_format=torch.channels_last),
         flambeau.zeros_like(f, memory_format=flambeau.channels_last)),
    ]:
        _same_layout(rf, rt)
    cf = f.contiguous(memory_format=flambeau.channels_last)
    assert_close(cf, t, atol=0, rtol=0)
    # already in the asked-for layout: the same tensor back
    assert cf.contiguous(memory_format=flambeau.channels_last) is cf
    assert cf.to(memory_format=flambeau.channels_last) is cf
    assert f.contiguous() is f
    # back to row-major
    back = cf.contiguous()
    assert back.is_contiguous() and tuple(back.stride()) == (60, 20, 5, 1)
    assert_close(back, t, atol=0, rtol=0)
    # 5-d: channels_last_3d
    a5 = rand_array((2, 3, 2, 4, 5), "float32")
    rt = torch.from_numpy(a5).contiguous(memory_format=torch.channels_last_3d)
    rf = flambeau.from_numpy(a5).contiguous(memory_format=flambeau.channels_last_3d)
    assert tuple(rf.stride()) == tuple(rt.stride())
    assert rf.is_contiguous(memory_format=flambeau.channels_last_3d)


def test_channels_last_gradients():
    arr = rand_array((2, 3, 4, 5), "float32")
    t = torch.from_numpy(arr.copy()).requires_grad_(True)
    f = flambeau.from_numpy(arr.copy()).requires_grad_(True)
    yt = t.contiguous(memory_format=torch.channels_last)
    yf = f.contiguous(memory_format=flambeau.channels_last)
    g = rand_array((2, 3, 4, 5), "float32")
    (yt.sigmoid() * torch.from_numpy(g)).sum().backward()
    (yf.sigmoid() * flambeau.from_numpy(g)).sum().backward()
    assert_close(f.grad, t.grad)


def test_is_contiguous_channels_last_size1_dims():
    for shape in [(2, 1, 4, 5), (2, 3, 1, 1), (1, 3, 4, 5), (2, 3, 4, 5), (0, 3, 4, 5)]:
        arr = np.zeros(shape, np.float32)
        t, f = torch.from_numpy(arr), flambeau.from_numpy(arr)
        assert f.is_contiguous(memory_format=flambeau.channels_last) == \
            t.is_contiguous(memory_format=torch.channels_last), shape
        assert f.is_contiguous(memory_format=flambeau.contiguous_format)


def test_memory_format_errors_and_objects():
    f = flambeau.zeros(2, 3, 4)
    for fn in [lambda: f.contiguous(memory_format=flambeau.channels_last),
               lambda: f.to(memory_format=flambeau.channels_last),
               lambda: flambeau.empty(2, 3, memory_format=flambeau.channels_last),
               lambda: f.clone(memory_format=flambeau.channels_last_3d)]:
        with pytest.raises(RuntimeError, match="required rank"):
            fn()
    with pytest.raises(TypeError, match="memory_format"):
        f.contiguous(memory_format="a")
    assert not f.is_contiguous(memory_format=flambeau.channels_last)
    assert repr(flambeau.channels_last) == "flambeau.channels_last"
    assert isinstance(flambeau.preserve_format, flambeau.memory_format)
    assert flambeau.channels_last is not flambeau.contiguous_format
    import pickle
    assert pickle.loads(pickle.dumps(flambeau.channels_last)) is flambeau.channels_last


def test_in_place_on_permuted_and_out_views():
    """In-place ops and copies into transposed / channels_last tensors (walked in memory order)."""
    arr = rand_array((2, 3, 4, 5), "float32")
    t = torch.from_numpy(arr.copy()).contiguous(memory_format=torch.channels_last)
    f = flambeau.from_numpy(arr.copy()).contiguous(memory_format=flambeau.channels_last)
    t.mul_(2).add_(1).clamp_(-1, 2)
    f.mul_(2).add_(1).clamp_(-1, 2)
    _same_layout(f, t)
    assert_close(f, t)
    src = rand_array((2, 3, 4, 5), "float64")
    t.copy_(torch.from_numpy(src))
    f.copy_(flambeau.from_numpy(src))
    assert_close(f, t)
    a = rand_array((5, 7), "float32")
    t2, f2 = torch.from_numpy(a.copy()).t(), flambeau.from_numpy(a.copy()).t()
    torch.exp(t2, out=t2)
    flambeau.exp(f2, out=f2)
    assert_close(f2, t2)


def test_views_of_kept_layouts():
    """view() needs compatible strides, reshape() copies when it must, as in PyTorch."""
    arr = rand_array((3, 4), "float32")
    t, f = torch.from_numpy(arr.copy()).t() * 2, flambeau.from_numpy(arr.copy()).t() * 2
    with pytest.raises(RuntimeError):
        t.view(-1)
    with pytest.raises(RuntimeError):
        f.view(-1)
    assert_close(f.reshape(-1), t.reshape(-1))
    assert_close(f.flatten(), t.flatten())
    assert_close(f.contiguous().view(-1), t.contiguous().view(-1))
    assert_close(f.t().view(-1), t.t().view(-1))


def test_module_to_memory_format():
    """Module.to(memory_format=...) converts the 4-d (and 5-d) parameters and buffers in place of
    their data, keeping the Parameter objects, as PyTorch; training from there gives the same numbers."""
    def build(lib):
        lib.manual_seed(0)
        return lib.nn.Sequential(lib.nn.Conv2d(3, 4, 3), lib.nn.BatchNorm2d(4), lib.nn.Flatten(), lib.nn.Linear(36, 2))
    mt, mf = build(torch), build(flambeau)
    mf.load_state_dict({k: flambeau.from_numpy(v.detach().numpy().copy()) for k, v in mt.state_dict().items()})
    wf = mf[0].weight
    assert mt.to(memory_format=torch.channels_last) is mt
    assert mf.to(memory_format=flambeau.channels_last) is mf
    assert mf[0].weight is wf and isinstance(wf, flambeau.nn.Parameter)
    for (k, pt), (_, pf) in zip(mt.named_parameters(), mf.named_parameters()):
        assert tuple(pf.stride()) == tuple(pt.stride()), k
    x = rand_array((2, 3, 5, 5), "float32")
    ot = torch.optim.SGD(mt.parameters(), lr=0.1, momentum=0.9)
    of = flambeau.optim.SGD(mf.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        for m, o, lib in ((mt, ot, torch), (mf, of, flambeau)):
            o.zero_grad()
            m(lib.from_numpy(x)).square().mean().backward()
            o.step()
    for (k, pt), (_, pf) in zip(mt.named_parameters(), mf.named_parameters()):
        assert_close(pf, pt, atol=1e-5, rtol=1e-4)
    mf.to("cpu", memory_format=flambeau.contiguous_format)
    assert mf[0].weight.is_contiguous()


@pytest.mark.parametrize("layout", ["t", "permute", "channels_last", "slice"])
@pytest.mark.parametrize("act", ["gelu", "silu", "leaky_relu", "elu", "hardtanh", "softplus", "mish", "relu6",
                                 "hardswish", "gelu_tanh"])
def test_activation_results_and_gradients_keep_layout(layout, act):
    """F.gelu & co. keep a dense input's layout as PyTorch's (TensorIterator) kernels do, forward and
    backward, with the same values."""
    fn = {"gelu_tanh": lambda F, x: F.gelu(x, approximate="tanh")}.get(act, lambda F, x: getattr(F, act)(x))
    t, f = _inputs(layout, "float64")
    t.requires_grad_(True)
    f.requires_grad_(True)
    yt, yf = fn(torch.nn.functional, t), fn(flambeau.nn.functional, f)
    _same_layout(yf, yt)
    assert_close(yf, yt)
    g = rand_array(tuple(t.shape), "float64")
    gt = torch.from_numpy(g.copy())
    gf = flambeau.from_numpy(g.copy())
    (it,) = torch.autograd.grad(yt, t, gt)
    (i_f,) = flambeau.autograd.grad(yf, f, gf)
    assert_close(i_f, it)


@pytest.mark.parametrize("layout", ["t", "channels_last"])
def test_masked_fill_result_is_row_major(layout):
    """PyTorch's masked_fill fills a row-major clone (unlike where(), which keeps the layout)."""
    t, f = _inputs(layout)
    for rt, rf in [(t.masked_fill(t > 0, 0.5), f.masked_fill(f > 0, 0.5)),
                   (torch.where(t > 0, t, 0.5), flambeau.where(f > 0, f, 0.5))]:
        _same_layout(rf, rt)
        assert_close(rf, rt)
    t2, f2 = t.clone().requires_grad_(True), f.clone().requires_grad_(True)
    rt, rf = t2.masked_fill(t2 > 0, 0.5), f2.masked_fill(f2 > 0, 0.5)
    _same_layout(rf, rt)
    rt.sum().backward()
    rf.sum().backward()
    assert_close(f2.grad, t2.grad)


def _cat_cases(lib):
    g = np.random.default_rng(7)
    a = lib.from_numpy(g.standard_normal((2, 3, 4, 5)).astype(np.float32))
    cl = a.contiguous(memory_format=lib.channels_last)
    t = lib.from_numpy(g.standard_normal((3, 4)).astype(np.float32)).t()
    n111 = lib.from_numpy(g.standard_normal((2, 1, 1, 1)).astype(np.float32))
    c5 = lib.from_numpy(g.standard_normal((2, 3, 2, 2, 2)).astype(np.float32)).contiguous(
        memory_format=lib.channels_last_3d)
    c1 = lib.from_numpy(g.standard_normal((1, 3, 1, 1)).astype(np.float32)).contiguous(memory_format=lib.channels_last)
    return [lambda: lib.cat([cl, cl], 1), lambda: lib.cat([cl, a], 1), lambda: lib.cat([a, cl], 0),
            lambda: lib.cat([cl]), lambda: lib.cat([t]), lambda: lib.cat([t, t]), lambda: lib.cat([a.permute(0, 2, 3, 1)], 1),
            lambda: lib.cat([n111, n111]), lambda: lib.cat([c5, c5], 2), lambda: lib.cat([c1, c1], 1)]


def test_cat_result_layout():
    """cat's result is channels_last when every input looks channels_last (c10's
    suggest_memory_format), row-major otherwise, as PyTorch's."""
    for ft, ff in zip(_cat_cases(torch), _cat_cases(flambeau)):
        rt, rf = ft(), ff()
        assert tuple(rf.stride()) == tuple(rt.stride())
        assert_close(rf, rt, atol=0, rtol=0)


@pytest.mark.parametrize("layout", ["channels_last", "t", "permute", "contig"])
def test_leaf_grad_follows_leaf_layout(layout):
    """PyTorch's gradient layout contract: a dense leaf's .grad has the leaf's strides."""
    t, f = _inputs(layout)
    t = t.detach().requires_grad_(True)
    f = f.detach().requires_grad_(True)
    g = rand_array(tuple(t.shape), "float32")
    # a gradient arriving row-major (through reshape) and one arriving in another layout (through t())
    (t.reshape(-1) * torch.from_numpy(g.copy()).reshape(-1)).sum().backward()
    (f.reshape(-1) * flambeau.from_numpy(g.copy()).reshape(-1)).sum().backward()
    assert tuple(f.grad.stride()) == tuple(t.grad.stride())
    assert_close(f.grad, t.grad)
    (t * 2).sum().backward()  # accumulation keeps the layout
    (f * 2).sum().backward()
    assert tuple(f.grad.stride()) == tuple(t.grad.stride())
    assert_close(f.grad, t.grad)


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
def test_dim_order(layout):
    t, f = _inputs(layout)
    assert f.dim_order() == t.dim_order()
    assert (f * 2).dim_order() == (t * 2).dim_order()


def test_dim_order_ambiguous_layouts():
    a = rand_array((2, 3, 4, 5), "float32")
    views = [lambda x: x.permute(3, 1, 0, 2), lambda x: x[:, :, ::2], lambda x: x[:, :1].expand(2, 3, 4, 5),
             lambda x: x.transpose(0, 1)[:, :1], lambda x: x[:1, :1], lambda x: x[:, :1, :1, :1], lambda x: x[0, 0]]
    for v in views:
        assert v(flambeau.from_numpy(a)).dim_order() == v(torch.from_numpy(a)).dim_order()
