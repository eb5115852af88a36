"""Complex LU (torch.linalg.lu_factor / lu_factor_ex / lu / lu_solve, torch.lu / lu_unpack / lu_solve, the
Tensor methods) and the determinant computed from it, against PyTorch CPU: factors, the same pivots,
info for singular matrices, and gradients (square, wide and tall factorisations; lu_solve's LU and B;
det of a singular matrix through the SVD)."""
import numpy as np
import pytest
import torch

import flambeau
from complex_helpers import CDTS, crand, both, npy

TOL = {"complex64": 2e-5, "complex128": 1e-12}
GTOL = {"complex64": 2e-3, "complex128": 1e-8}


def _close(a, b, tol, what):
    a, b = npy(a), npy(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
    np.testing.assert_allclose(a, b, atol=tol * scale, rtol=0, err_msg=what)


def _grad_check(fn, arrays, dt, seed_out=None):
    """fn(lib, *leaves) -> a tensor (or tuple of tensors); compares the gradients of every input for one
    random upstream gradient per output."""
    pairs = [both(a, requires_grad=True) for a in arrays]
    outs = {}
    for lib, k in ((torch, 0), (flambeau, 1)):
        leaves = [p[k] for p in pairs]
        r = fn(lib, *leaves)
        outs[lib] = r if isinstance(r, (tuple, list)) else (r,)
    rng = np.random.RandomState(7)
    gs = [crand(tuple(o.shape), str(o.dtype).split(".")[-1], rng=rng) for o in outs[torch]]
    for lib in (torch, flambeau):
        total = sum((o * lib.tensor(g.conj())).real.sum() for o, g in zip(outs[lib], gs))  # dL/do = g
        total.backward()
    for i, (t, f) in enumerate(pairs):
        _close(f.grad, t.grad, GTOL[dt], f"gradient of input {i}")


SHAPES = [(4, 4), (5, 3), (3, 5), (2, 4, 4), (3, 2, 3, 5), (1, 1), (6, 1)]


@pytest.mark.parametrize("dt", CDTS)
@pytest.mark.parametrize("shape", SHAPES)
def test_lu_factor_same_pivots(dt, shape):
    a = crand(shape, dt)
    t, f = both(a)
    tLU, tp, ti = torch.linalg.lu_factor_ex(t)
    LU, p, info = flambeau.linalg.lu_factor_ex(f)
    np.testing.assert_array_equal(npy(p), npy(tp))
    np.testing.assert_array_equal(npy(info), npy(ti))
    _close(LU, tLU, 10 * TOL[dt], "LU")
    assert str(LU.dtype).split(".")[-1] == dt
    for x, y, name in zip(flambeau.linalg.lu(f), torch.linalg.lu(t), "PLU"):
        _close(x, y, 10 * TOL[dt], name)
    for x, y, name in zip(flambeau.lu_unpack(LU, p), torch.lu_unpack(tLU, tp), "PLU"):
        _close(x, y, 10 * TOL[dt], "lu_unpack " + name)


def test_pivot_is_izamax_not_the_modulus():
    """|1 + 1j| = 1.41 < 1.5, but LAPACK's measure |Re| + |Im| = 2 > 1.5: row 2 is the pivot."""
    a = np.array([[1.5, 0], [1 + 1j, 1]], np.complex128)
    t, f = both(a)
    assert npy(flambeau.linalg.lu_factor(f).pivots).tolist() == npy(torch.linalg.lu_factor(t).pivots).tolist() == [2, 2]


@pytest.mark.parametrize("dt", CDTS)
def test_singular_info_and_errors(dt):
    a = crand((2, 4, 4), dt)
    a[1, :, 2] = 0  # column 3 of the second matrix: U[2, 2] == 0
    t, f = both(a)
    tLU, tp, ti = torch.linalg.lu_factor_ex(t)
    LU, p, info = flambeau.linalg.lu_factor_ex(f)
    np.testing.assert_array_equal(npy(info), npy(ti))
    np.testing.assert_array_equal(npy(p), npy(tp))
    _close(LU, tLU, 10 * TOL[dt], "LU of a singular matrix")
    with pytest.raises(RuntimeError, match="Batch element 1.*U\\[3,3\\] is zero"):
        flambeau.linalg.lu_factor(f)
    z = np.zeros((3, 3), dt)
    for x, y in zip(flambeau.linalg.lu_factor_ex(flambeau.tensor(z)), torch.linalg.lu_factor_ex(torch.tensor(z))):
        np.testing.assert_array_equal(npy(x), npy(y))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        flambeau.linalg.lu_factor(flambeau.tensor(a[0, 0]))
    LU, p = flambeau.linalg.lu_factor(flambeau.tensor(a[0]))
    with pytest.raises(RuntimeError, match="same dtype"):
        flambeau.linalg.lu_solve(LU, p, flambeau.tensor(a[0].real.copy()))
    with pytest.raises(RuntimeError, match="Incompatible shapes"):
        flambeau.linalg.lu_solve(LU, p, flambeau.tensor(crand((3, 2), dt)))


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0), (2, 0, 0)])
def test_empty(shape):
    t, f = both(crand(shape, "complex128"))
    for x, y in zip(flambeau.linalg.lu_factor_ex(f), torch.linalg.lu_factor_ex(t)):
        assert tuple(x.shape) == tuple(y.shape)
    for x, y in zip(flambeau.linalg.lu(f), torch.linalg.lu(t)):
        assert tuple(x.shape) == tuple(y.shape)
        np.testing.assert_array_equal(npy(x), npy(y))


def test_non_contiguous():
    a = crand((5, 8), "complex128")
    t, f = both(a)
    tv, fv = t[:, ::2].mT, f[:, ::2].mT  # [4, 5] views
    tLU, tp = torch.linalg.lu_factor(tv[:, :4])
    LU, p = flambeau.linalg.lu_factor(fv[:, :4])
    np.testing.assert_array_equal(npy(p), npy(tp))
    _close(LU, tLU, 1e-12, "LU of a view")
    B = crand((4, 6), "complex128")
    tb, fb = both(B)
    _close(flambeau.linalg.lu_solve(LU, p, fb[:, ::2].mT, left=False), torch.linalg.lu_solve(tLU, tp, tb[:, ::2].mT, left=False),
           1e-12, "lu_solve of views")


@pytest.mark.parametrize("dt", CDTS)
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("adjoint", [False, True])
def test_lu_solve(dt, left, adjoint):
    A = crand((2, 4, 4), dt) + 3 * np.eye(4)
    B = crand((2, 4, 3) if left else (2, 3, 4), dt)
    ta, fa = both(A.astype(dt))
    tLU, tp = torch.linalg.lu_factor(ta)
    LU, p = flambeau.linalg.lu_factor(fa)
    tb, fb = both(B)
    _close(flambeau.linalg.lu_solve(LU, p, fb, left=left, adjoint=adjoint),
           torch.linalg.lu_solve(tLU, tp, tb, left=left, adjoint=adjoint), 10 * TOL[dt], "X")

    def fn(lib, a, b):
        lu_, piv = lib.linalg.lu_factor(a)
        return lib.linalg.lu_solve(lu_, piv, b, left=left, adjoint=adjoint)

    _grad_check(fn, [A.astype(dt), B], dt)
    # broadcasting: one LU for a batch of right-hand sides
    B3 = crand((3, 2, 4, 1) if left else (3, 2, 1, 4), dt)
    tb, fb = both(B3)
    _close(flambeau.linalg.lu_solve(LU, p, fb, left=left, adjoint=adjoint),
           torch.linalg.lu_solve(tLU, tp, tb, left=left, adjoint=adjoint), 10 * TOL[dt], "broadcast X")


@pytest.mark.parametrize("dt", CDTS)
def test_legacy_spellings(dt):
    A = crand((3, 3), dt) + 3 * np.eye(3)
    t, f = both(A.astype(dt))
    tLU, tp = torch.lu(t)
    LU, p = flambeau.lu(f)
    np.testing.assert_array_equal(npy(p), npy(tp))
    LU2, p2, info = f.lu(get_infos=True)
    _close(LU2, tLU, 10 * TOL[dt], "Tensor.lu")
    assert int(npy(info)) == 0
    b = crand((3, 2), dt)
    tb, fb = both(b)
    _close(flambeau.lu_solve(fb, LU, p), torch.lu_solve(tb, tLU, tp), 10 * TOL[dt], "torch.lu_solve")
    _close(fb.lu_solve(LU, p), torch.lu_solve(tb, tLU, tp), 10 * TOL[dt], "Tensor.lu_solve")


@pytest.mark.parametrize("dt", CDTS)
@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 3), (5, 3), (3, 5), (2, 4, 2), (2, 2, 4)])
def test_lu_gradients(dt, shape):
    a = crand(shape, dt)
    _grad_check(lambda lib, x: tuple(lib.linalg.lu(x)[1:]), [a], dt)  # L and U
    _grad_check(lambda lib, x: lib.linalg.lu(x)[2], [a], dt)  # U only
    _grad_check(lambda lib, x: lib.linalg.lu(x)[1], [a], dt)  # L only
    _grad_check(lambda lib, x: lib.linalg.lu_factor(x)[0], [a], dt)


def test_lu_float64_gradcheck():
    a = crand((2, 4, 3), "complex128")
    x = flambeau.tensor(np.stack([a.real, a.imag], -1), requires_grad=True)

    def fn(x):
        P, L, U = flambeau.linalg.lu(flambeau.view_as_complex(x))
        return flambeau.view_as_real(L).sum() + flambeau.view_as_real(U).pow(2).sum()

    assert flambeau.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5)
    b = crand((2, 3, 3), "complex128")
    y = flambeau.tensor(np.stack([b.real, b.imag], -1), requires_grad=True)
    r = flambeau.tensor(np.stack([a.real, a.imag], -1)[:, :3, :2].copy(), requires_grad=True)

    def fn2(y, r):
        LU, p = flambeau.linalg.lu_factor(flambeau.view_as_complex(y))
        return flambeau.view_as_real(flambeau.linalg.lu_solve(LU, p, flambeau.view_as_complex(r), adjoint=True))

    assert flambeau.autograd.gradcheck(fn2, (y, r), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("dt", CDTS)
def test_det_from_lu(dt):
    a = crand((3, 5, 5), dt)
    t, f = both(a)
    _close(flambeau.linalg.det(f), torch.linalg.det(t), 10 * TOL[dt], "det")
    ts, tl = torch.linalg.slogdet(t)
    fs, fl = flambeau.linalg.slogdet(f)
    _close(fs, ts, 10 * TOL[dt], "slogdet sign")
    _close(fl, tl, 10 * TOL[dt], "slogdet logabsdet")


@pytest.mark.parametrize("dt", CDTS)
def test_det_gradient_of_singular_matrix(dt):
    """Rank-deficient A: the gradient is g conj(cof A), which PyTorch computes through an LU solve."""
    a = crand((4, 4), dt)
    a[:, 3] = a[:, 0] + (2 - 1j) * a[:, 1]  # rank 3: cofactors non-zero, det zero up to rounding
    _grad_check(lambda lib, x: lib.linalg.det(x), [a], dt)
    b = np.stack([a, crand((4, 4), dt)])
    _grad_check(lambda lib, x: lib.linalg.det(x), [b], dt)


def _cofactors(a):
    n = a.shape[-1]
    C = np.empty_like(a)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(a, i, 0), j, 1)
            C[i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return C


@pytest.mark.parametrize("dt", CDTS)
def test_det_gradient_of_exactly_singular_matrix(dt):
    """det exactly 0 (a zero column): g conj(cof A) through the SVD, as flambeau's real det. (PyTorch
    returns 0 here: its LU solve of the zero right-hand side conj(det) g I skips the zero pivot.)"""
    a = crand((4, 4), dt)
    a[:, 3] = 0
    x = flambeau.tensor(a, requires_grad=True)
    d = flambeau.linalg.det(x)
    assert complex(d.item()) == 0
    g = 0.7 - 0.2j
    d.backward(flambeau.tensor(g, dtype=x.dtype))
    _close(x.grad, (g * _cofactors(a.astype(np.complex128)).conj()).astype(dt), 10 * GTOL[dt], "g conj(cof A)")


DOUBLE = {
    "svdvals": (lambda L, A: L.linalg.svdvals(A).sum(), (4, 3)),
    "svd |U|": (lambda L, A: (L.linalg.svd(A, full_matrices=False)[0].abs() ** 3).sum(), (4, 3)),
    "lu U": (lambda L, A: (L.linalg.lu(A)[2].abs() ** 2).sum(), (3, 3)),
    "lu_solve": (lambda L, A: (L.linalg.lu_solve(*L.linalg.lu_factor(A), L.tensor(_B), adjoint=True).abs() ** 2).sum(),
                 (3, 3)),
    "det": (lambda L, A: L.linalg.det(A).abs() ** 2, (3, 3)),
}
_B = crand((3, 2), "complex128", rng=np.random.RandomState(9))


@pytest.mark.parametrize("name", list(DOUBLE))
def test_double_backward(name):
    """create_graph=True through the complex SVD / LU / det backward (their formulas use the outputs,
    which carry the graph), against PyTorch's second derivatives."""
    fn, shape = DOUBLE[name]
    rng = np.random.RandomState(8)
    a = crand(shape, "complex128", rng=rng) + 2 * np.eye(*shape)
    W = rng.randn(*shape)
    res = []
    for L in (torch, flambeau):
        A = L.tensor(a, requires_grad=True)
        g, = L.autograd.grad(fn(L, A), A, create_graph=True)
        (g.abs() ** 2 * L.tensor(W)).sum().backward()
        res.append(npy(A.grad))
    np.testing.assert_allclose(res[1], res[0], rtol=1e-9, atol=1e-9 * max(1.0, np.abs(res[0]).max()))
