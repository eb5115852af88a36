"""flambeau.lobpcg against torch.lobpcg on fresh random symmetric positive-definite problems, started
from the same X (same iteration): eigenvalues within tolerance, eigenvectors up to sign."""
import numpy as np
import pytest
import torch

import flambeau


@pytest.fixture(autouse=True)
def one_torch_thread():
    """torch.lobpcg's many tiny products crawl with a thread pool on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _spd(m, spread=10.0):
    Q = np.linalg.qr(np.random.randn(m, m))[0]
    return (Q * np.linspace(1.0, spread, m) ** 2) @ Q.T


def _both(A, X, dtype="float64", B=None, iK=None, **kw):
    out = []
    for L in (flambeau, torch):
        conv = lambda a: None if a is None else L.tensor(a.astype(dtype))  # noqa: E731
        E, V = L.lobpcg(conv(A), B=conv(B), X=conv(X), iK=conv(iK), **kw)
        out.append((E.numpy(), V.numpy()))
    return out


def _signed(V):
    """V's columns with the sign of their largest entry made positive (eigenvectors up to sign)."""
    idx = np.abs(V).argmax(-2)[..., None, :]
    return V * np.sign(np.take_along_axis(V, idx, -2))


def _check(got, want, rtol):
    (ge, gv), (we, wv) = got, want
    np.testing.assert_allclose(ge, we, rtol=rtol, atol=rtol * np.abs(we).max())
    np.testing.assert_allclose(_signed(gv), _signed(wv), atol=1e3 * rtol)


@pytest.mark.parametrize("method", ["ortho", "basic"])
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("generalized", [False, True])
def test_matches_pytorch(method, largest, generalized):
    m, k = 24, 3
    A = _spd(m)
    B = None
    if generalized:
        B = np.random.randn(m, m)
        B = B @ B.T + m * np.eye(m)
    X = np.random.randn(m, k)
    got, want = _both(A, X, B=B, k=k, largest=largest, method=method, niter=300)
    Bm = np.eye(m) if B is None else B

    def rerr(E, V):  # lobpcg's convergence measure (backward error)
        return np.linalg.norm(A @ V - Bm @ V * E, axis=0) / (
            np.linalg.norm(V, axis=0) * (np.linalg.norm(A, 2) + np.abs(E) * np.linalg.norm(Bm, 2)))
    if (rerr(*want) > 1e-7).any():
        # PyTorch's 'basic' iteration can stall on a generalized problem (so does this one, being
        # the same iteration): then only the same stalled answer is asked for.
        np.testing.assert_allclose(got[0], want[0], rtol=1e-3)
        return
    # Both stop once the backward error is below tol (sqrt(eps)): they agree to about that.
    _check(got, want, 1e-5)
    E, V = got
    assert (rerr(E, V) < 1e-7).all()
    if method == "basic":
        return  # its basis is not kept B-orthogonal: it may find one eigenpair twice (PyTorch's too)
    L = np.linalg.cholesky(Bm)
    exact = np.linalg.eigvalsh(np.linalg.solve(L, np.linalg.solve(L, A).T))
    exact = exact[::-1][:k] if largest else exact[:k]
    np.testing.assert_allclose(E, exact, rtol=1e-5)


def test_preconditioner_wider_block_and_float32():
    m = 30
    A = _spd(m)
    iK = np.linalg.inv(A + np.eye(m))
    got, want = _both(A, np.random.randn(m, 4), iK=iK, k=2, largest=False, niter=200)
    _check(got, want, 1e-7)
    got, want = _both(A, np.random.randn(m, 2), dtype="float32", k=2, niter=50)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4)


def test_batched_and_tracker():
    A = np.stack([_spd(18), _spd(18, 5.0)])
    X = np.random.randn(2, 18, 2)
    got, want = _both(A, X, k=2)
    _check(got, want, 1e-7)
    steps = {}
    for L in (flambeau, torch):
        seen = []
        L.lobpcg(L.tensor(A[0]), X=L.tensor(X[0]), tracker=lambda w: seen.append(w.ivars["istep"]))
        steps[L.__name__] = seen
    assert steps["flambeau"] == steps["torch"] and steps["flambeau"]


def test_errors():
    for L in (flambeau, torch):
        A = L.tensor(_spd(8))
        with pytest.raises(ValueError, match="not applicable"):
            L.lobpcg(A, k=3)


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("method", ["ortho", "basic"])
def test_backward_matches_pytorch(largest, method):
    """Through lobpcg on a dense A (symmetrised, as PyTorch does): gradients of a loss of the
    eigenvalues and of the eigenvectors (sign-invariant: U U^T) against PyTorch's and against
    the full eigendecomposition's."""
    m, k = 18, 3
    A = _spd(m) + 0.01 * np.random.randn(m, m)
    X = np.random.randn(m, k)
    wD, W = np.random.randn(k), np.random.randn(m, m)
    grads = []
    for L in (flambeau, torch):
        a = L.tensor(A, requires_grad=True)
        D, U = L.lobpcg(a, k=k, X=L.tensor(X), largest=largest, method=method, tol=1e-12, niter=500)
        assert type(D.grad_fn).__name__ == type(U.grad_fn).__name__ == "LOBPCGAutogradFunctionBackward"
        loss = (D * L.tensor(wD)).sum() + ((U @ U.mT) * L.tensor(W)).sum()
        loss.backward()
        grads.append(a.grad.numpy())
    a = torch.tensor(A, requires_grad=True)
    E, V = torch.linalg.eigh((a + a.mT) / 2)
    idx = list(range(m - 1, m - k - 1, -1)) if largest else list(range(k))
    D, U = E[idx], V[:, idx]
    ((D * torch.tensor(wD)).sum() + ((U @ U.mT) * torch.tensor(W)).sum()).backward()
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(grads[0], a.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_backward_batched_and_generalized():
    A = np.stack([_spd(15), _spd(15, 4.0)])
    X = np.random.randn(2, 15, 2)
    grads = []
    for L in (flambeau, torch):
        a = L.tensor(A, requires_grad=True)
        D, U = L.lobpcg(a, k=2, X=L.tensor(X), tol=1e-12, niter=500)
        (D.sum() + (U * U).sum(-2).sum()).backward()
        grads.append(a.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-8, atol=1e-9)
    for L in (flambeau, torch):
        a = L.tensor(A[0], requires_grad=True)
        b = L.tensor(np.eye(15) * 2.0)
        D, _ = L.lobpcg(a, k=1, B=b, X=L.tensor(X[0, :, :1]))
        with pytest.raises(ValueError, match="B != I"):
            D.sum().backward()
