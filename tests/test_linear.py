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


@pytest.mark.parametrize("x_shape", [(5, 4), (4,), (2, 3, 4), (1, 4), (0, 4)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rg", [False, True])
def test_linear_common_path_same_as_general(x_shape, bias, rg):
    # F.linear's common case is checked on the impls and run straight (_functions/linear.py:
    # _linear_common); it must give what the general path gives: values, graph, view-ness, gradients.
    from flambeau._functions.linear import _linear_common, _linear_general
    rng = np.random.default_rng(0)
    arrs = [rng.standard_normal(x_shape).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32),
            rng.standard_normal(3).astype(np.float32)]
    outs = []
    for fn in (F.linear, _linear_general):
        x, w, b = (flambeau.tensor(a, requires_grad=rg) for a in arrs)
        y = fn(x, w, b if bias else None)
        r = [y.detach().numpy().tobytes(), tuple(y.shape), y.stride(), y._base is None, y.requires_grad,
             type(y.grad_fn).__name__]
        if rg and y.numel():
            y.sum().backward()
            r += [x.grad.numpy().tobytes(), w.grad.numpy().tobytes(), b.grad.numpy().tobytes() if bias else None]
        outs.append(r)
    assert outs[0] == outs[1]
    x, w = flambeau.tensor(arrs[0]), flambeau.tensor(arrs[1])
    assert (_linear_common(x, w, None) is not None) == (len(x_shape) <= 2)  # (the cases it is for)


@pytest.mark.parametrize("args", [
    lambda: (flambeau.randn(3, 4), flambeau.randn(3, 4).double(), None),  # mixed dtypes
    lambda: (flambeau.randn(3, 4), flambeau.randn(3, 4), flambeau.randn(3, 1)),  # 2-D bias
    lambda: (flambeau.randn(3, 4).long(), flambeau.randn(3, 4).long(), None),  # integers
    lambda: (flambeau.randn(0), flambeau.randn(3, 0), None),  # empty 1-D input
    lambda: (flambeau.randn(2, 3, 4), flambeau.randn(3, 4), None),  # batch: the general path's reshapes
    lambda: (np.zeros((3, 4), np.float32), flambeau.randn(3, 4), None),  # not a tensor
    lambda: (flambeau.randn(3, 4).to_sparse(), flambeau.randn(3, 4), None),  # sparse
])
def test_linear_common_path_declines(args):
    from flambeau._functions.linear import _linear_common
    assert _linear_common(*args()) is None
