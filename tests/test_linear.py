"""F.linear through the fused `_C.linear` (GEMM with the bias in its epilogue) against PyTorch."""
import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn.functional as F


@pytest.mark.parametrize("x_shape,out_features,bias", [
    ((5, 13), 6, True), ((1, 1), 1, True), ((4, 7, 9), 3, False), ((0, 5), 4, True), ((3, 0), 2, True),
    ((2, 3, 4, 33), 17, True),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_matches_torch(x_shape, out_features, bias, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((out_features, x_shape[-1])).astype(dtype)
    b = rng.standard_normal(out_features).astype(dtype) if bias else None
    fx, fw = flambeau.tensor(x, requires_grad=True), flambeau.tensor(w, requires_grad=True)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    fb = flambeau.tensor(b, requires_grad=True) if bias else None
    tb = torch.tensor(b, requires_grad=True) if bias else None
    fy, ty = F.linear(fx, fw, fb), torch.nn.functional.linear(tx, tw, tb)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(fy.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(ty.shape).astype(dtype)
    fy.backward(flambeau.tensor(g))
    ty.backward(torch.tensor(g))
    pairs = [(fx, tx), (fw, tw)] + ([(fb, tb)] if bias else [])
    for a, t in pairs:
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=tol * 10, atol=tol * 10)


def test_linear_non_contiguous_weight_and_gradcheck():
    x = flambeau.randn(4, 6, dtype=flambeau.float64, requires_grad=True)
    w = flambeau.randn(6, 3, dtype=flambeau.float64).t().detach().requires_grad_()  # transposed view
    b = flambeau.randn(3, dtype=flambeau.float64, requires_grad=True)
    assert flambeau.autograd.gradcheck(F.linear, (x, w, b))


def test_linear_bad_shapes():
    with pytest.raises(RuntimeError, match=r"\(3, 4\).*\(2, 5\)"):
        F.linear(flambeau.randn(3, 4), flambeau.randn(2, 5))
