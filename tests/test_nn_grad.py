"""torch.nn.grad (conv{1,2,3}d_input / conv{1,2,3}d_weight) against PyTorch CPU, and the custom-Function
use it exists for (PyTorch's "fusing convolution and batch norm" tutorial)."""
import numpy as np
import pytest
import torch

import flambeau
from flambeau.autograd import gradcheck

# dims -> (batch, in channels, out channels, spatial input size, kernel size): odd sizes
SHAPES = {1: (2, 4, 6, (9,), (3,)), 2: (3, 4, 6, (9, 7), (3, 2)), 3: (1, 2, 4, (5, 6, 4), (2, 3, 2))}
ARGS = [(1, 0, 1, 1), (2, 1, 1, 2), (3, 2, 2, 1), (1, 1, 2, 2)]  # stride, padding, dilation, groups


def _case(dims, stride, padding, dilation, groups, rng, dtype=np.float32):
    N, C, O, S, k = SHAPES[dims]
    x = rng.standard_normal((N, C, *S)).astype(dtype)
    w = rng.standard_normal((O, C // groups, *k)).astype(dtype)
    conv = getattr(torch.nn.functional, f"conv{dims}d")
    out_shape = conv(torch.tensor(x), torch.tensor(w), None, stride, padding, dilation, groups).shape
    go = rng.standard_normal(tuple(out_shape)).astype(dtype)
    return x, w, go


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("stride,padding,dilation,groups", ARGS)
def test_matches_pytorch(dims, stride, padding, dilation, groups):
    rng = np.random.default_rng()
    x, w, go = _case(dims, stride, padding, dilation, groups, rng)
    fl_in = getattr(flambeau.nn.grad, f"conv{dims}d_input")(x.shape, flambeau.tensor(w), flambeau.tensor(go),
                                                            stride, padding, dilation, groups)
    pt_in = getattr(torch.nn.grad, f"conv{dims}d_input")(x.shape, torch.tensor(w), torch.tensor(go),
                                                         stride, padding, dilation, groups)
    np.testing.assert_allclose(fl_in.numpy(), pt_in.numpy(), rtol=1e-5, atol=1e-5)
    fl_w = getattr(flambeau.nn.grad, f"conv{dims}d_weight")(flambeau.tensor(x), w.shape, flambeau.tensor(go),
                                                            stride, padding, dilation, groups)
    pt_w = getattr(torch.nn.grad, f"conv{dims}d_weight")(torch.tensor(x), w.shape, torch.tensor(go),
                                                         stride, padding, dilation, groups)
    np.testing.assert_allclose(fl_w.numpy(), pt_w.numpy(), rtol=1e-4, atol=1e-4)
    assert fl_in.shape == tuple(x.shape) and fl_w.shape == tuple(w.shape)


def test_input_size_the_stride_allows():
    # stride 2: inputs of 9 and 10 give the same output length; the gradient has the asked size
    rng = np.random.default_rng()
    w = rng.standard_normal((3, 2, 3)).astype(np.float32)
    go = rng.standard_normal((2, 3, 4)).astype(np.float32)
    for n in (9, 10):
        ours = flambeau.nn.grad.conv1d_input((2, 2, n), flambeau.tensor(w), flambeau.tensor(go), stride=2)
        ref = torch.nn.grad.conv1d_input((2, 2, n), torch.tensor(w), torch.tensor(go), stride=2)
        assert ours.shape == (2, 2, n)
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)


def test_non_contiguous_operands():
    rng = np.random.default_rng()
    x = rng.standard_normal((5, 3, 8, 2)).astype(np.float32)  # made (2, 3, 8, 5)-shaped by a permute
    w = rng.standard_normal((3, 4, 3, 2)).astype(np.float32)  # (4, 3, 3, 2) after a transpose
    ours_x, ref_x = flambeau.tensor(x).permute(3, 1, 2, 0), torch.tensor(x).permute(3, 1, 2, 0)
    ours_w, ref_w = flambeau.tensor(w).transpose(0, 1), torch.tensor(w).transpose(0, 1)
    go = rng.standard_normal((2, 4, 6, 4)).astype(np.float32)
    got = flambeau.nn.grad.conv2d_weight(ours_x, (4, 3, 3, 2), flambeau.tensor(go).transpose(2, 3).contiguous()
                                         .transpose(2, 3))
    ref = torch.nn.grad.conv2d_weight(ref_x, (4, 3, 3, 2), torch.tensor(go))
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-4, atol=1e-4)
    got = flambeau.nn.grad.conv2d_input((2, 3, 8, 5), ours_w, flambeau.tensor(go))
    ref = torch.nn.grad.conv2d_input((2, 3, 8, 5), ref_w, torch.tensor(go))
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)


def test_empty_batch():
    w = flambeau.randn(3, 2, 3, 3)
    got = flambeau.nn.grad.conv2d_input((0, 2, 5, 5), w, flambeau.zeros(0, 3, 3, 3))
    assert got.shape == (0, 2, 5, 5)
    got = flambeau.nn.grad.conv2d_weight(flambeau.zeros(0, 2, 5, 5), (3, 2, 3, 3), flambeau.zeros(0, 3, 3, 3))
    assert got.shape == (3, 2, 3, 3) and float(got.abs().sum()) == 0.0


def test_shape_mismatch_names_the_op_and_shapes():
    w = flambeau.randn(3, 2, 3, 3)
    with pytest.raises(RuntimeError, match=r"conv2d_input.*\[2, 2, 8, 8\].*\[2, 3, 5, 5\]"):
        flambeau.nn.grad.conv2d_input((2, 2, 8, 8), w, flambeau.randn(2, 3, 5, 5))
    with pytest.raises(RuntimeError, match=r"conv1d_weight: expected grad_output of 3 dims"):
        flambeau.nn.grad.conv1d_weight(flambeau.randn(2, 2, 8), (3, 2, 3), flambeau.randn(2, 3))


def test_differentiable_again_float64():
    rng = np.random.default_rng()
    w = flambeau.tensor(rng.standard_normal((3, 2, 2, 3)), requires_grad=True)
    x = flambeau.tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
    go = flambeau.tensor(rng.standard_normal((2, 3, 2, 3)), requires_grad=True)
    assert gradcheck(lambda w, go: flambeau.nn.grad.conv2d_input((2, 2, 5, 6), w, go, stride=2, padding=(0, 1)),
                     (w, go))
    assert gradcheck(lambda x, go: flambeau.nn.grad.conv2d_weight(x, (3, 2, 2, 3), go, stride=2, padding=(0, 1)),
                     (x, go))


def test_functional_grad_is_nn_grad():
    assert flambeau.nn.functional.grad is flambeau.nn.grad
    assert sorted(flambeau.nn.grad.__all__) == sorted(n for n in dir(torch.nn.grad) if n.startswith("conv"))


def _fused_conv_bn(lib):
    """The tutorial's custom Function: conv2d (no bias) then batch norm without affine, with a hand-written
    backward through lib.nn.grad."""
    F = lib.nn.functional

    class FusedConvBN(lib.autograd.Function):
        @staticmethod
        def forward(ctx, X, conv_weight, eps=1e-3):
            ctx.save_for_backward(X, conv_weight)
            X = F.conv2d(X, conv_weight)
            sum_ = X.sum(dim=(0, 2, 3))
            N = X.numel() / X.size(1)
            mean = sum_ / N
            var = (X - mean.view(1, -1, 1, 1)).pow(2).sum(dim=(0, 2, 3)) / N
            ctx.eps, ctx.sum, ctx.N, ctx.sqrt_var = eps, sum_, N, (var + eps).sqrt()
            out = (X - mean.view(1, -1, 1, 1)) / ctx.sqrt_var.view(1, -1, 1, 1)
            ctx.conv_out = X
            return out

        @staticmethod
        def backward(ctx, grad_out):
            X, conv_weight = ctx.saved_tensors
            conv_out, sqrt_var, N = ctx.conv_out, ctx.sqrt_var.view(1, -1, 1, 1), ctx.N
            mean = (ctx.sum / N).view(1, -1, 1, 1)
            xhat = (conv_out - mean) / sqrt_var
            g = (grad_out - grad_out.mean(dim=(0, 2, 3), keepdim=True)
                 - xhat * (grad_out * xhat).mean(dim=(0, 2, 3), keepdim=True)) / sqrt_var
            return (lib.nn.grad.conv2d_input(X.shape, conv_weight, g),
                    lib.nn.grad.conv2d_weight(X, conv_weight.shape, g), None)

    return FusedConvBN


def test_tutorial_fused_conv_bn_matches_pytorch():
    rng = np.random.default_rng()
    x = rng.standard_normal((4, 3, 7, 9))
    w = rng.standard_normal((5, 3, 3, 3))
    grads = []
    for lib in (flambeau, torch):
        X, W = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        _fused_conv_bn(lib).apply(X, W).pow(3).sum().backward()
        grads.append((np.array(X.grad.tolist()), np.array(W.grad.tolist())))
    for ours, ref in zip(*grads):
        np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)
    X = flambeau.tensor(x[:2, :, :5, :5], requires_grad=True)
    W = flambeau.tensor(w[:2], requires_grad=True)
    assert gradcheck(_fused_conv_bn(flambeau).apply, (X, W))
