"""vmap's batching rules (func/_batched.py) against torch.func.vmap on fresh random inputs: each family
of rules (elementwise, reductions, matmul/einsum, views, indexing, joins, creation, casts), nested vmaps,
transformers' attention-mask pattern, the per-op loop for ops without a rule, transforms inside vmap,
the errors functorch raises, and that each rule really runs the op once (no per-sample loop)."""
import numpy as np
import pytest
import torch
import torch.func as tfunc

import flambeau
import flambeau.func as ffunc
from flambeau.func import _batched
from helpers import assert_close, rand_array


def _close_tree(f, t, **kw):
    if isinstance(t, (tuple, list)):
        assert isinstance(f, (tuple, list)) and len(f) == len(t), (type(f), type(t))
        for a, b in zip(f, t):
            _close_tree(a, b, **kw)
    elif isinstance(t, dict):
        assert set(f) == set(t)
        for k in t:
            _close_tree(f[k], t[k], **kw)
    else:
        assert_close(f, t, **kw)


def _pair(a):
    return torch.from_numpy(a.copy()), flambeau.from_numpy(a.copy())


@pytest.fixture
def loops(monkeypatch):
    """The names of the ops that went to the per-sample loop."""
    seen = []
    orig = _batched.loop

    def spy(func, name, args, kwargs, lvl):
        seen.append(name)
        return orig(func, name, args, kwargs, lvl)
    monkeypatch.setattr(_batched, "loop", spy)
    return seen


def _check(fn, shapes, in_dims=0, out_dims=0, dtype="float64", loops=None, int_inputs=(), **kw):
    """fn(lib, *args) under vmap in both libraries on the same random inputs; with `loops`, no op may have
    fallen back to the per-sample loop."""
    arrs = []
    for i, s in enumerate(shapes):
        if i in int_inputs:
            arrs.append(np.random.default_rng(i + 7).integers(0, 3, size=s).astype(np.int64))
        else:
            arrs.append(rand_array(s, dtype))
    ts = [torch.from_numpy(a.copy()) for a in arrs]
    fs = [flambeau.from_numpy(a.copy()) for a in arrs]
    want = tfunc.vmap(lambda *a: fn(torch, *a), in_dims=in_dims, out_dims=out_dims)(*ts)
    got = ffunc.vmap(lambda *a: fn(flambeau, *a), in_dims=in_dims, out_dims=out_dims)(*fs)
    _close_tree(got, want, **kw)
    if loops is not None:
        assert loops == [], f"ops that fell back to the per-sample loop: {loops}"


ELEMENTWISE = [
    (lambda lib, x, y: x * y + 2 - y / (x.abs() + 1), [(5, 3, 4), (5, 3, 4)], 0),
    (lambda lib, x, y: x + y, [(5, 3, 4), (4,)], (0, None)),            # unbatched operand, fewer dims
    (lambda lib, x, y: x - y, [(3, 5), (2, 5, 3)], (1, 1)),             # batched operand, more dims
    (lambda lib, x, y: lib.maximum(x, y).exp(), [(5,), (3, 4)], (0, None)),  # 0-d logical vs 2-d
    (lambda lib, x, y: (x > y) & (x < 0.5) | ~(y >= 0), [(5, 3), (3,)], (0, None)),
    (lambda lib, x, y: lib.where(x > 0, x, y * 2), [(5, 3), (5, 1)], 0),
    (lambda lib, x, y: lib.where(y > 0, 1.5, x), [(2, 3), (5, 3)], (None, 0)),
    (lambda lib, x, y: x.masked_fill(y > 0, -1.0), [(2, 3), (5, 3)], (None, 0)),  # batched mask, unbatched self
    (lambda lib, x, y: x.clamp(min=y, max=y + 0.5).sigmoid().tanh(), [(5, 4), (5, 4)], 0),
    (lambda lib, x, y: lib.nn.functional.gelu(x) + lib.nn.functional.relu(-y) * x.sin(), [(4, 6), (6,)], (0, None)),
    (lambda lib, x, y: 2 ** x + 3 - x ** 2 / (1 + y.abs()) % 0.7, [(5, 4), (4, 5)], (0, 1)),
]


@pytest.mark.parametrize("case", range(len(ELEMENTWISE)))
def test_elementwise_rules(case, loops):
    fn, shapes, dims = ELEMENTWISE[case]
    _check(fn, shapes, in_dims=dims, loops=loops)


REDUCTIONS = [
    lambda lib, x: x.sum(),
    lambda lib, x: x.sum(-1),
    lambda lib, x: x.mean((0, 2), keepdim=True),
    lambda lib, x: x.amax(1) - x.amin(0).sum(),
    lambda lib, x: x.max(1),                   # (values, indices)
    lambda lib, x: (x.max(), x.min(), x.argmax(), x.argmin(2)),
    lambda lib, x: x.std(1) + x.var(),
    lambda lib, x: (x.softmax(-1), x.log_softmax(0), lib.nn.functional.softmax(x, dim=1)),
    lambda lib, x: (x.cumsum(2), lib.logsumexp(x, 1), x.prod(0)),
    lambda lib, x: x.sort(1, descending=True).values + x.topk(2, dim=-1).values.sum(),
    lambda lib, x: (x > 0).any(1).float() + (x > -1).all(),
    lambda lib, x: x.norm(dim=1) + x.norm(),
]


@pytest.mark.parametrize("case", range(len(REDUCTIONS)))
def test_reduction_rules(case, loops):
    _check(REDUCTIONS[case], [(3, 4, 5, 6)], in_dims=1, loops=loops)


def test_reductions_of_a_scalar_slice(loops):
    # vmap over a 1-d tensor: each slice is 0-d, where dim 0 / -1 is still allowed
    _check(lambda lib, x: (x.sum(), x.sum(0), x.softmax(0), x.mean(-1, keepdim=True), x.cumsum(0)), [(7,)],
           loops=loops)


MATMULS = [
    (lambda lib, a, b: a @ b, [(6, 3, 4), (4, 5)], (0, None)),
    (lambda lib, a, b: a @ b, [(6, 4), (4, 5)], (0, None)),           # vector @ matrix
    (lambda lib, a, b: a @ b, [(4,), (6, 4, 5)], (None, 0)),          # unbatched vector @ batched matrix
    (lambda lib, a, b: lib.matmul(a, b), [(6, 2, 3, 4), (6, 4)], 0),  # batched matrix @ batched vector
    (lambda lib, a, b: a @ b, [(6, 4), (6, 4)], 0),                  # dot
    (lambda lib, a, b: a @ b, [(4, 5), (2, 3, 5, 6, 7)], (None, 3)),  # broadcast batch dims
    (lambda lib, a, b: lib.mm(a, b) + lib.bmm(a[None], b[None])[0], [(6, 3, 4), (6, 4, 2)], 0),
    (lambda lib, a, b: lib.nn.functional.linear(a, b, b[:, 0]), [(6, 3, 4), (5, 4)], (0, None)),
    (lambda lib, a, b: lib.nn.functional.linear(a, b, b[:, 0]), [(3, 4), (6, 5, 4)], (None, 0)),  # batched weight
    (lambda lib, a, b: lib.einsum("ij,jk->ik", a, b), [(6, 3, 4), (4, 5)], (0, None)),
    (lambda lib, a, b: lib.einsum("ij,kj", a, b), [(3, 4), (5, 4, 6)], (None, 2)),               # implicit output
    (lambda lib, a, b: lib.einsum("...i,...i->...", a, b), [(6, 2, 3), (6, 2, 3)], 0),
    (lambda lib, a, b: lib.dot(a, b), [(6, 4), (4,)], (0, None)),
]


@pytest.mark.parametrize("case", range(len(MATMULS)))
def test_matmul_rules(case, loops):
    fn, shapes, dims = MATMULS[case]
    _check(fn, shapes, in_dims=dims, loops=loops)


VIEWS = [
    lambda lib, x: x.contiguous().view(-1) + x.reshape(4, 3).sum() + x.reshape(-1),
    lambda lib, x: x.permute(1, 0) * 2,
    lambda lib, x: (x.transpose(0, 1), x.t(), x.T, x.mT),
    lambda lib, x: x.unsqueeze(-1).unsqueeze(0).expand(2, 3, 4, 5).sum(0),
    lambda lib, x: x[None, :1].squeeze() + x[:1].squeeze(0).sum(),
    lambda lib, x: x.flatten().unflatten(0, (2, 6)),
    lambda lib, x: (x.select(1, 2), x.narrow(1, 1, 2), x[1:, ::2], x[..., -1], x[None, 1, ..., None]),
    lambda lib, x: (x.split(2, dim=1), x.chunk(2, 0), x.unbind(1)),
    lambda lib, x: lib.movedim(x, 0, 1).contiguous().clone(),
    lambda lib, x: x.expand_as(lib.ones(2, 3, 4)) + x.view_as(lib.ones(3, 4)) + x.reshape_as(lib.ones(4, 3)).t(),
    lambda lib, x: (x.flip(0), x.roll(1, 1), x.tril(), x.triu(1)),
]


@pytest.mark.parametrize("case", range(len(VIEWS)))
def test_view_rules(case, loops):
    _check(VIEWS[case], [(3, 5, 4)], in_dims=1, loops=loops)


def test_shape_queries_are_logical():
    seen = {}

    def f(x):
        seen.update(shape=tuple(x.shape), dim=x.dim(), ndim=x.ndim, numel=x.numel(), size1=x.size(-1), len=len(x))
        return x
    ffunc.vmap(f, in_dims=1)(flambeau.zeros(2, 7, 3))
    assert seen == {"shape": (2, 3), "dim": 2, "ndim": 2, "numel": 6, "size1": 3, "len": 2}


INDEXING = [
    (lambda lib, x, i: x[i], [(4, 6), (5, 3)], (None, 0)),               # batched index into unbatched
    (lambda lib, x, i: x[i], [(5, 4, 6), (3,)], (0, None)),              # unbatched index into batched
    (lambda lib, x, i: x[i, i], [(5, 4, 4), (5, 2, 3)], 0),              # both batched
    (lambda lib, x, i: x[:, i], [(5, 4, 4), (5, 2)], 0),                 # after a slice
    (lambda lib, x, i: x[i, :, i], [(4, 3, 4), (5, 2)], (None, 0)),      # separated: the index block first
    (lambda lib, x, i: x[1:, i, None], [(5, 3, 4, 2), (3,)], (0, None)),
    (lambda lib, x, i: x[..., i, 0], [(3, 4, 5, 6), (5, 2)], (None, 0)),
    (lambda lib, x, i: x[0, :, i], [(5, 2, 3, 4), (5, 2)], 0),           # an int first: a select, as PyTorch
]


@pytest.mark.parametrize("case", range(len(INDEXING)))
def test_indexing_rules(case, loops):
    fn, shapes, dims = INDEXING[case]
    _check(fn, shapes, in_dims=dims, loops=loops, int_inputs=(1,))


def test_bool_mask_index_unbatched(loops):
    m = np.array([True, False, True, True])
    _check(lambda lib, x: x[:, lib.from_numpy(m.copy()) if lib is flambeau else torch.from_numpy(m.copy())],
           [(5, 3, 4)], loops=loops)


JOINS = [
    (lambda lib, x, y: lib.cat([x, y, x], dim=1), [(5, 2, 3), (2, 4)], (0, None)),
    (lambda lib, x, y: lib.cat((y, x), -1), [(5, 2, 3), (5, 2, 1)], 0),
    (lambda lib, x, y: lib.stack([x, y]), [(5, 2, 3), (2, 3)], (0, None)),
    (lambda lib, x, y: lib.stack([x, y], dim=-1), [(2, 3), (5, 2, 3)], (None, 0)),
]


@pytest.mark.parametrize("case", range(len(JOINS)))
def test_join_rules(case, loops):
    fn, shapes, dims = JOINS[case]
    _check(fn, shapes, in_dims=dims, loops=loops)


def test_creation_and_casts(loops):
    def fn(lib, x, k):
        a = lib.zeros_like(x) + lib.ones_like(x, dtype=lib.float32).double() + lib.full_like(x, 3.0)
        b = x.new_ones(()) + x.new_zeros((2,)).sum() + x.new_full((1,), 2.0)
        c = (x * 10).long().float().to(lib.float64) + k.type_as(x) + k.to(x)
        d = x.to(lib.int32).to(lib.float64)
        return a + b + c + d, (x > 0).int(), x.float()
    _check(fn, [(5, 3), (5, 3)], loops=loops, int_inputs=(1,))


def test_nested_vmaps():
    def f(lib, a, b):
        return (a * b).sum() + a.max()
    at, af = _pair(rand_array((4, 3), "float64"))
    bt, bf = _pair(rand_array((5, 3), "float64"))
    want = tfunc.vmap(tfunc.vmap(lambda a, b: f(torch, a, b), in_dims=(None, 0)), in_dims=(0, None))(at, bt)
    got = ffunc.vmap(ffunc.vmap(lambda a, b: f(flambeau, a, b), in_dims=(None, 0)), in_dims=(0, None))(af, bf)
    assert_close(got, want)
    # three levels, the outer dims not 0, an outer tensor captured inside
    xt, xf = _pair(rand_array((3, 2, 4), "float64"))

    def g(lib, vm, x):
        return vm(lambda u: vm(lambda v: v * u.sum() + x.mean())(u))(x)
    assert_close(g(flambeau, lambda f: ffunc.vmap(f, in_dims=1), xf), g(torch, lambda f: tfunc.vmap(f, in_dims=1), xt))


def _hf_mask(lib, pad, vmap):
    # transformers' masking_utils: and_masks(causal_mask_function, padding_mask_function(pad)), four vmaps
    def and_mask(b, h, q, kv):
        result = q.new_ones((), dtype=lib.bool)
        result = result & (kv <= q).to(result.device)
        return result & pad[b, kv].to(result.device)
    fn = and_mask
    for dims in [(None, None, None, 0), (None, None, 0, None), (None, 0, None, None), (0, None, None, None)]:
        fn = vmap(fn, in_dims=dims, out_dims=0)
    return fn(lib.arange(3), lib.arange(2), lib.arange(5) + 2, lib.arange(7))


def test_transformers_mask_pattern(loops):
    pad = np.random.default_rng(0).random((3, 7)) > 0.3
    pt, pf = _pair(pad)
    want = _hf_mask(torch, pt, torch.vmap)
    got = _hf_mask(flambeau, pf, flambeau.vmap)
    assert got.dtype == flambeau.bool and tuple(got.shape) == (3, 2, 5, 7)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert loops == []


def test_ops_without_a_rule_loop_per_sample(loops):
    # kron and outer have no rule: each falls back to a loop over the batch, and gives PyTorch's numbers
    _check(lambda lib, x, y: lib.kron(x, y) + 1, [(4, 2, 3), (4, 3, 2)])
    _check(lambda lib, x, y: lib.outer(x, y).sum(0), [(4, 3), (5,)], in_dims=(0, None))
    assert "kron" in loops and "outer" in loops


def test_inplace_ops(loops):
    def f(lib, x, y):
        z = x.clone()
        z.add_(y)
        z *= 2
        z[0] = -1.0        # __setitem__: the loop writes each slice
        return z
    _check(f, [(5, 3), (3,)], in_dims=(0, None))
    assert loops == ["__setitem__"]
    with pytest.raises(RuntimeError, match="vmapped over but `self` not being"):
        ffunc.vmap(lambda x, y: y.add_(x), in_dims=(0, None))(flambeau.ones(3, 2), flambeau.ones(2))


def test_data_dependent_python_values_raise_functorchs_errors():
    x = flambeau.ones(3, 2)
    with pytest.raises(RuntimeError, match=r"calling \.item\(\) on a Tensor"):
        ffunc.vmap(lambda r: r.sum().item())(x)
    with pytest.raises(RuntimeError, match="data-dependent control flow"):
        ffunc.vmap(lambda r: r if r.sum() > 0 else -r)(x)
    with pytest.raises(RuntimeError, match="dynamic shape"):
        ffunc.vmap(lambda r: r.nonzero())(x)


def test_randomness_modes_on_batched_ops():
    x = flambeau.ones(4, 6)
    with pytest.raises(RuntimeError, match="randomness"):
        ffunc.vmap(lambda r: flambeau.nn.functional.dropout(r, 0.5))(x)
    same = ffunc.vmap(lambda r: flambeau.nn.functional.dropout(r, 0.5) + flambeau.rand_like(r), randomness="same")(x)
    assert bool((same == same[0]).all())
    diff = ffunc.vmap(lambda r: flambeau.rand_like(r), randomness="different")(x)
    assert not bool((diff == diff[0]).all())
    assert bool((ffunc.vmap(lambda r: flambeau.nn.functional.dropout(r, 0.5, training=False))(x) == x).all())


def test_chunk_size_and_out_dims():
    at, af = _pair(rand_array((7, 3, 2), "float64"))
    for cs in (None, 1, 3, 7, 10):
        want = tfunc.vmap(lambda a: (a.sum(0), a * 2, torch.ones(2)), out_dims=(0, 2, 0), chunk_size=cs)(at)
        got = ffunc.vmap(lambda a: (a.sum(0), a * 2, flambeau.ones(2)), out_dims=(0, 2, 0), chunk_size=cs)(af)
        _close_tree(got, want)
    with pytest.raises(ValueError, match="chunk_size"):
        ffunc.vmap(lambda a: a, chunk_size=0)
    with pytest.raises(ValueError, match="out_dims=None"):
        ffunc.vmap(lambda a: a * 2, out_dims=None)(af)


def test_gradients_flow_through_batched_execution():
    at, af = _pair(rand_array((4, 3, 5), "float64"))
    wt, wf = _pair(rand_array((5, 2), "float64"))
    for t in (at, af, wt, wf):
        t.requires_grad_(True)
    (tfunc.vmap(lambda a: (a @ wt).softmax(-1)[a.argmax(0) % 2].sum(), in_dims=1)(at) ** 2).sum().backward()
    (ffunc.vmap(lambda a: (a @ wf).softmax(-1)[a.argmax(0) % 2].sum(), in_dims=1)(af) ** 2).sum().backward()
    assert_close(af.grad, at.grad)
    assert_close(wf.grad, wt.grad)


def test_transforms_inside_vmap():
    xt, xf = _pair(rand_array((4, 3), "float64"))
    wt, wf = _pair(rand_array((3,), "float64"))

    def f(lib, w, x):
        return ((x * w).sin() * x).sum()
    # grad over batched arguments, jacrev, and a grad whose function closes over a batched tensor
    _close_tree(ffunc.vmap(ffunc.grad(lambda w, x: f(flambeau, w, x)), in_dims=(None, 0))(wf, xf),
                tfunc.vmap(tfunc.grad(lambda w, x: f(torch, w, x)), in_dims=(None, 0))(wt, xt))
    _close_tree(ffunc.vmap(ffunc.jacrev(lambda x: x.sin() * x.sum()))(xf),
                tfunc.vmap(tfunc.jacrev(lambda x: x.sin() * x.sum()))(xt))
    _close_tree(ffunc.vmap(lambda x: ffunc.grad(lambda w: f(flambeau, w, x))(wf))(xf),
                tfunc.vmap(lambda x: tfunc.grad(lambda w: f(torch, w, x))(wt))(xt))


LOSSES = [
    lambda lib, x, t: lib.nn.functional.cross_entropy(x, t),
    lambda lib, x, t: lib.nn.functional.cross_entropy(x, t, reduction="sum", label_smoothing=0.1),
    lambda lib, x, t: lib.nn.functional.cross_entropy(x, t, reduction="none", ignore_index=1),
    lambda lib, x, t: lib.nn.functional.cross_entropy(x, t, ignore_index=2),
    lambda lib, x, t: lib.nn.functional.nll_loss(x.log_softmax(-1), t),
    lambda lib, x, t: lib.nn.functional.cross_entropy(x[0], t[0]),      # (C,) and a 0-d target
    lambda lib, x, t: lib.nn.functional.mse_loss(x, x.flip(0) * 0.5),
]


@pytest.mark.parametrize("case", range(len(LOSSES)))
def test_loss_rules(case, loops):
    _check(LOSSES[case], [(5, 4, 3), (5, 4)], int_inputs=(1,), loops=loops)
    _check(LOSSES[case], [(5, 4, 3), (4,)], in_dims=(0, None), int_inputs=(1,), loops=loops)


def test_per_sample_gradients_in_one_batched_pass(loops):
    # vmap(grad(loss)) over a small MLP: one forward and one backward for the whole batch, PyTorch's numbers
    rng = np.random.default_rng(3)
    arrs = {"w1": rng.standard_normal((16, 9)) * 0.3, "b1": rng.standard_normal(16) * 0.1,
            "w2": rng.standard_normal((4, 16)) * 0.3, "b2": np.zeros(4)}
    x, y = rng.standard_normal((6, 9)), rng.integers(0, 4, 6)

    def run(lib, func):
        F = lib.nn.functional
        p = {k: lib.tensor(v) for k, v in arrs.items()}

        def loss(p, xi, yi):
            logits = F.linear(F.gelu(F.linear(xi[None], p["w1"], p["b1"])), p["w2"], p["b2"])
            return F.cross_entropy(logits, yi[None]), logits.sum()
        return func.vmap(func.grad_and_value(loss, has_aux=True), in_dims=(None, 0, 0))(p, lib.tensor(x), lib.tensor(y))
    _close_tree(run(flambeau, ffunc), run(torch, tfunc))
    assert loops == []


def test_leading_dim_rules(loops):
    F = lambda lib: lib.nn.functional  # noqa: E731
    _check(lambda lib, x, w: F(lib).layer_norm(x, (4,), w, w * 0.5) + F(lib).pad(x, (1, 2), value=0.5)[..., 1:5],
           [(5, 3, 4), (4,)], in_dims=(0, None), loops=loops)
    _check(lambda lib, i, w: F(lib).embedding(i, w), [(5, 3), (4, 6)], in_dims=(0, None), int_inputs=(0,), loops=loops)


GATHERS = [
    (lambda lib, x, i: x.gather(1, i), [(4, 3, 4), (4, 3, 2)], 0),
    (lambda lib, x, i: x.gather(-1, i), [(3, 4), (4, 3, 2)], (None, 0)),     # batched index, unbatched source
    (lambda lib, x, i: lib.take_along_dim(x, i, 0), [(4, 3, 4), (2, 4)], (0, None)),
    (lambda lib, x, i: lib.zeros(3, 4, dtype=x.dtype).scatter_add(1, i, x[:, :2]), [(4, 3, 4), (4, 3, 2)], 0),
    (lambda lib, x, i: x.clone().scatter_(0, i, -1.0), [(4, 3, 4), (2, 4)], (0, None)),
]


@pytest.mark.parametrize("case", range(len(GATHERS)))
def test_gather_scatter_rules(case, loops):
    fn, shapes, dims = GATHERS[case]
    _check(fn, shapes, in_dims=dims, loops=loops, int_inputs=(1,))


def test_inplace_view_ops(loops):
    def f(lib, x):
        y = x.clone()
        y.unsqueeze_(0)
        y.transpose_(0, 2)
        return y.squeeze_(2) * 2 + x.t()
    _check(f, [(5, 3, 4)], in_dims=1, loops=loops)
    with pytest.raises(RuntimeError, match="resize_ is not supported"):
        ffunc.vmap(lambda r: r.clone().resize_(2))(flambeau.ones(3, 2))


def test_type_promotion_of_per_sample_scalars():
    # a batched 0-d-per-sample operand promotes as a 0-d tensor, as in torch.func.vmap
    for lib, vm in ((torch, torch.vmap), (flambeau, flambeau.vmap)):
        x = lib.ones(4, dtype=lib.float64)
        y, i = lib.ones(3, dtype=lib.float32), lib.ones(3, dtype=lib.int64)
        got = (vm(lambda a: a + y)(x).dtype, vm(lambda a: y * a)(x).dtype, vm(lambda a: (a < y).sum())(x).dtype,
               vm(lambda a: a + i)(x).dtype, vm(lambda a: lib.where(a > 0, a, y))(x).dtype)
        assert [str(d).split(".")[-1] for d in got] == ["float32", "float32", "int64", "float64", "float64"], lib
