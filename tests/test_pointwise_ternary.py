"""addcmul, addcdiv and lerp (one kernel each, csrc/cpu/simd/ternary_vec.inc) against PyTorch: the same
bits as PyTorch's CPU kernels (addcmul and lerp round once, by an fma) on every CPU capability,
broadcasting, non-contiguous operands, empty tensors, out= and the in-place methods, gradients, a
float64 gradcheck, the promoting composites for mixed and integer dtypes, and errors."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import check_op, check_error, fl_tensor, rand_array, with_cpu_capability

SHAPE_TRIPLES = [
    [(7,), (7,), (7,)],
    [(33, 65), (33, 65), (33, 65)],
    [(4, 1, 5), (3, 1), (5,)],
    [(), (2, 3), ()],
    [(0, 3), (1, 3), (3,)],
    [(70001,), (70001,), (70001,)],  # several threads' chunks and a vector tail
]


def _bits_equal(f, t):
    a, b = f.detach().cpu().numpy(), t.detach().numpy()
    assert a.shape == b.shape
    assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), \
        f"{(a != b).sum()} of {a.size} elements differ from PyTorch's bits"


@pytest.mark.parametrize("shapes", SHAPE_TRIPLES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("value", [1, 0.3, -2.5])
def test_addcmul_addcdiv_against_torch(shapes, dtype, value, device, rng):
    check_op(lambda s, a, b: torch.addcmul(s, a, b, value=value),
             lambda s, a, b: flambeau.addcmul(s, a, b, value=value), shapes, dtype=dtype, device=device, rng=rng)
    check_op(lambda s, a, b: torch.addcdiv(s, a, b, value=value),
             lambda s, a, b: flambeau.addcdiv(s, a, b, value=value), shapes, dtype=dtype, device=device, rng=rng,
             positive=True)
    check_op(lambda s, a, b: s.addcmul(a, b, value=value), shapes=shapes, dtype=dtype, device=device, rng=rng,
             grad=False, non_contiguous=True)


@pytest.mark.parametrize("shapes", SHAPE_TRIPLES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lerp_tensor_weight_against_torch(shapes, dtype, device, rng):
    check_op(torch.lerp, flambeau.lerp, shapes, dtype=dtype, device=device, rng=rng, low=-0.5, high=1.5)
    check_op(torch.lerp, flambeau.lerp, shapes, dtype=dtype, device=device, rng=rng, grad=False,
             non_contiguous=True)


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 0.7, 1.0, -0.25, 1.5])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lerp_scalar_weight_against_torch(weight, dtype, device, rng):
    check_op(lambda s, e: torch.lerp(s, e, weight), lambda s, e: flambeau.lerp(s, e, weight),
             [(5, 37), (37,)], dtype=dtype, device=device, rng=rng)


@pytest.mark.parametrize("cap", ["default", "avx2", "avx512"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_bits_as_torch_on_every_capability(cap, dtype, rng):
    n = 10006
    s, a, b = (rand_array((n,), dtype, rng) for _ in range(3))
    w = rand_array((n,), dtype, rng, low=-0.3, high=1.3)
    ts, ta, tb, tw = (torch.from_numpy(v) for v in (s, a, b, w))
    fs, fa, fb, fw = (flambeau.from_numpy(v) for v in (s, a, b, w))

    def run():
        for v in (1, 0.3, -2.5):
            _bits_equal(flambeau.addcmul(fs, fa, fb, value=v), torch.addcmul(ts, ta, tb, value=v))
            _bits_equal(flambeau.addcdiv(fs, fa, fb, value=v), torch.addcdiv(ts, ta, tb, value=v))
        _bits_equal(flambeau.lerp(fs, fa, fw), torch.lerp(ts, ta, tw))
        for v in (0.1, 0.5, 0.9):
            _bits_equal(flambeau.lerp(fs, fa, v), torch.lerp(ts, ta, v))
        # strided operands take the general row loop: the same bits
        _bits_equal(flambeau.addcmul(fs[::2], fa[1::2], fb[::2], value=0.3),
                    torch.addcmul(ts[::2], ta[1::2], tb[::2], value=0.3))
        _bits_equal(flambeau.lerp(fs[::3], fa[::3], fw[::3]), torch.lerp(ts[::3], ta[::3], tw[::3]))

    with_cpu_capability(cap, run)


def test_lerp_is_exact_at_the_ends_and_keeps_special_values():
    s = np.array([1.0, -3.0, np.inf, np.nan, 0.0, 1e30], np.float32)
    e = np.array([2.0, 7.0, 1.0, 1.0, -0.0, -1e30], np.float32)
    for w in (0.0, 1.0, 0.5, np.nan):
        f = flambeau.lerp(flambeau.from_numpy(s), flambeau.from_numpy(e), float(w))
        t = torch.lerp(torch.from_numpy(s), torch.from_numpy(e), float(w))
        np.testing.assert_array_equal(f.numpy(), t.numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inplace_methods_write_into_self(dtype, device, rng):
    s, a, b = (rand_array((6, 9), dtype, rng) for _ in range(3))
    b = np.abs(b) + 0.5
    for name, args, kw in (("addcmul_", (a, b), {"value": 0.7}), ("addcdiv_", (a, b), {"value": -1.5}),
                           ("lerp_", (a, b * 0.5), {}), ("lerp_", (a,), {"weight": 0.25})):
        ft = fl_tensor(s, device)
        ptr = ft.data_ptr()
        fargs = [fl_tensor(x, device) for x in args]
        targs = [torch.from_numpy(x) for x in args]
        if name == "lerp_" and "weight" in kw:
            r = ft.lerp_(*fargs, kw["weight"])
            ref = torch.from_numpy(s.copy()).lerp_(*targs, kw["weight"])
        else:
            r = getattr(ft, name)(*fargs, **kw)
            ref = getattr(torch.from_numpy(s.copy()), name)(*targs, **kw)
        assert r is ft and ft.data_ptr() == ptr
        np.testing.assert_array_equal(ft.cpu().numpy(), ref.numpy())
    # in place on a non-contiguous view writes only the view's elements
    base = fl_tensor(s, device)
    tb = torch.from_numpy(s.copy())
    base[:, ::2].addcmul_(fl_tensor(a[:, ::2].copy(), device), fl_tensor(b[:, ::2].copy(), device), value=2.0)
    tb[:, ::2].addcmul_(torch.from_numpy(a[:, ::2].copy()), torch.from_numpy(b[:, ::2].copy()), value=2.0)
    np.testing.assert_array_equal(base.cpu().numpy(), tb.numpy())


def test_inplace_with_an_operand_aliasing_self(rng):
    s, b = rand_array((50,), "float32", rng), rand_array((50,), "float32", rng)
    fs, ts = flambeau.from_numpy(s.copy()), torch.from_numpy(s.copy())
    fs.addcmul_(fs, flambeau.from_numpy(b), value=0.5)
    ts.addcmul_(ts, torch.from_numpy(b), value=0.5)
    np.testing.assert_array_equal(fs.numpy(), ts.numpy())
    # an out= overlapping an input by a shifted view: refused by both, before anything is written
    x = np.arange(20, dtype=np.float64)
    for m in (flambeau, torch):
        mx = m.from_numpy(x.copy())
        with pytest.raises(RuntimeError, match="some elements of the input tensor and the written-to tensor"):
            m.addcmul(mx[:-1], mx[:-1], mx[:-1], value=1.0, out=mx[1:])
        np.testing.assert_array_equal(mx.numpy(), x)


def test_out_argument(rng):
    s, a, b = (rand_array((4, 5), "float32", rng) for _ in range(3))
    out = flambeau.empty(4, 5)
    r = flambeau.addcdiv(*(flambeau.from_numpy(v) for v in (s, a, b)), value=0.5, out=out)
    assert r is out
    np.testing.assert_array_equal(out.numpy(), torch.addcdiv(*(torch.from_numpy(v) for v in (s, a, b)), value=0.5).numpy())
    out64 = flambeau.empty(4, 5, dtype=flambeau.float64)  # another dtype: computed, then cast
    flambeau.lerp(*(flambeau.from_numpy(v) for v in (s, a)), 0.3, out=out64)
    np.testing.assert_allclose(out64.numpy(), torch.lerp(torch.from_numpy(s), torch.from_numpy(a), 0.3).numpy())


def test_float64_gradcheck():
    rng = np.random.default_rng(0)
    mk = lambda *shape: flambeau.tensor(rng.uniform(0.5, 1.5, shape), dtype=flambeau.float64, requires_grad=True)
    s, a, b, w = mk(3, 4), mk(3, 4), mk(4), mk(3, 1)
    g = flambeau.autograd.gradcheck
    assert g(lambda s, a, b: flambeau.addcmul(s, a, b, value=-0.7), (s, a, b), eps=1e-6, atol=1e-6)
    assert g(lambda s, a, b: flambeau.addcdiv(s, a, b, value=1.3), (s, a, b), eps=1e-6, atol=1e-6)
    assert g(flambeau.lerp, (s, a, w), eps=1e-6, atol=1e-6)


def test_mixed_and_integer_dtypes_promote_like_torch():
    fi = flambeau.tensor([1, 2, 3])
    ti = torch.tensor([1, 2, 3])
    np.testing.assert_array_equal(flambeau.addcmul(fi, fi, fi, value=2).numpy(), torch.addcmul(ti, ti, ti, value=2).numpy())
    ff, tf = flambeau.tensor([0.5, 1.5, 2.5]), torch.tensor([0.5, 1.5, 2.5])
    fd, td = ff.double(), tf.double()
    r, t = flambeau.addcmul(ff, fd, ff, value=0.5), torch.addcmul(tf, td, tf, value=0.5)
    assert r.dtype == flambeau.float64
    np.testing.assert_allclose(r.numpy(), t.numpy())
    r, t = flambeau.lerp(ff, fd, 0.25), torch.lerp(tf.double(), td, 0.25)
    np.testing.assert_allclose(r.numpy(), t.numpy())


def test_errors_name_the_op_and_shapes():
    a, b = flambeau.zeros(3, 4), flambeau.zeros(5)
    with pytest.raises(RuntimeError, match=r"addcmul.*\[3, 4\].*\[5\]"):
        flambeau.addcmul(a, a, b)
    with pytest.raises(RuntimeError, match=r"lerp.*\[3, 4\].*\[5\]"):
        flambeau.lerp(a, b, 0.5)
    with pytest.raises(RuntimeError, match=r"addcdiv: output with shape \[3, 4\]"):
        flambeau.zeros(3, 4).addcdiv_(flambeau.zeros(2, 3, 4), flambeau.ones(3, 4))
    x = flambeau.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        x.lerp_(flambeau.ones(3), 0.5)


def test_non_tensor_operands_raise_type_errors():
    x = flambeau.ones(3)
    with pytest.raises(TypeError, match="addcmul.*tensor1.*must be Tensor"):
        x.addcmul_(2.0, flambeau.ones(3))
    with pytest.raises(TypeError, match="addcdiv.*tensor2.*must be Tensor"):
        flambeau.addcdiv(x, x, 2.0)
    with pytest.raises(TypeError, match="lerp.*end.*must be Tensor"):
        x.lerp_(1.0, 0.5)
