"""flambeau.nn.functional: PyTorch's functional API.

Every op here is one function with PyTorch's exact signature. Two implementations stand behind many
of them:

* the fused `_C` kernels (csrc/cpu: conv.cpp, pooling.cpp, activation.cpp, loss.cpp,
  normalization.cpp, dropout.cpp, linear.cpp), reached through the autograd Functions of
  flambeau._functions.{conv, pooling, activation, loss, normalization, dropout, linear}. A function
  decorated `@_kernel(...)` sends its calls there, CPU and CUDA (csrc/cuda): one kernel forward,
  one backward.
* the body written below it, composed from differentiable foundation ops. It is a second
  implementation for CUDA tensors when FLAMBEAU_CUDA_COMPOSED=1 (tests and debugging), and the
  whole implementation of the functions without a decorator (their `# kernel: _C.<op>` comment names
  the kernel they would get).
"""
import functools
import math
import numbers
import os
import types
import warnings

import numpy as np

import flambeau
from flambeau import _C
from flambeau._tensor import Tensor, _wrap
from flambeau.autograd import Function
from .._functions.linear import linear as _linear_kernel
from .._functions import activation as _A, loss as _L, conv as _Cv, pooling as _P
from .._functions import normalization as _N, dropout as _D
from .._functions.host_route import HostRouted
from .._functions.zero_link import link_none_to as _link_none_to, link_zero as _link_zero
from .._functions.grid_sample import grid_sample, affine_grid  # kernel: _C.grid_sample; affine_grid composed
from .._functions.ctc_loss import ctc_loss  # kernel: _C.ctc_loss / _C.ctc_loss_backward (CPU only)
from .._functions.conv3d import conv3d, conv_transpose3d  # kernels: _C.conv3d / _C.conv_transpose3d (CPU only)
from .._functions.pooling3d import (max_pool3d, max_pool3d_with_indices, avg_pool3d,  # kernels: _C.*_pool3d (CPU)
                                    adaptive_avg_pool3d, adaptive_max_pool3d,
                                    adaptive_max_pool3d_with_indices)
from .._functions import pooling3d as _P3
from ..amp import _cast as _amp_cast
from .._functions.mixed_norm import mixed_half_input as _mixed_half_input


# Every call goes to the `_C` kernels (CPU and CUDA alike), so the decorated name is normally the
# kernel function itself (a copy carrying the composed body's name and doc), with no dispatch frame.
# FLAMBEAU_CUDA_COMPOSED=1 (read at import) sends CUDA tensors to the composed bodies instead, built
# from foundation ops: a second implementation to compare the CUDA kernels with when debugging.
_CPU_ONLY = not _C.cuda_is_built()
_CUDA_COMPOSED = not _CPU_ONLY and os.environ.get("FLAMBEAU_CUDA_COMPOSED", "") == "1"


def _kernel(kernel_fn):
    """Dispatch to kernel_fn; with FLAMBEAU_CUDA_COMPOSED=1, a tensor on a CUDA device runs the
    decorated composed body instead. The composed body stays reachable as `f.composed` (tests compare
    the two)."""
    def deco(composed):
        if not _CUDA_COMPOSED and isinstance(kernel_fn, types.FunctionType):
            dispatch = types.FunctionType(kernel_fn.__code__, kernel_fn.__globals__, composed.__name__,
                                          kernel_fn.__defaults__, kernel_fn.__closure__)
            dispatch.__kwdefaults__ = kernel_fn.__kwdefaults__
            functools.update_wrapper(dispatch, composed)
        else:
            @functools.wraps(composed)
            def dispatch(input, *args, **kwargs):
                impl = getattr(input, "_impl", None)
                if impl is None or not impl.is_cuda or not _CUDA_COMPOSED:
                    return kernel_fn(input, *args, **kwargs)
                return composed(input, *args, **kwargs)
        dispatch.composed = composed
        return dispatch
    return deco


__all__ = [
    # activations
    "threshold", "threshold_", "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "elu", "elu_",
    "selu", "selu_", "celu", "celu_", "leaky_relu", "leaky_relu_", "prelu", "rrelu", "rrelu_",
    "glu", "gelu", "logsigmoid", "hardshrink", "tanhshrink", "softsign", "softplus", "softmin",
    "softmax", "log_softmax", "softshrink", "tanh", "sigmoid", "hardsigmoid", "silu", "mish",
    "hardswish", "normalize",
    # linear, dropout, sparse, distance
    "linear", "bilinear", "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
    "feature_alpha_dropout", "embedding", "one_hot", "pairwise_distance", "pdist", "cosine_similarity",
    "scaled_dot_product_attention", "multi_head_attention_forward",
    # convolution, pooling, padding
    "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "unfold", "fold", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
    "conv3d", "conv_transpose3d", "max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d",
    "max_pool3d_with_indices", "adaptive_max_pool3d_with_indices", "max_unpool3d", "lp_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "pad", "pixel_shuffle", "pixel_unshuffle", "interpolate", "upsample",
    "grid_sample", "affine_grid", "fractional_max_pool2d", "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d", "fractional_max_pool3d_with_indices",
    # normalization
    "batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm",
    # losses
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "multi_margin_loss", "kl_div",
    "soft_margin_loss", "margin_ranking_loss", "hinge_embedding_loss", "cosine_embedding_loss",
    "poisson_nll_loss", "gaussian_nll_loss", "triplet_margin_loss", "multilabel_soft_margin_loss",
    "multilabel_margin_loss", "ctc_loss",
    # composites: unpooling, lp pooling, upsampling aliases, shuffles, bags, sampling, losses
    "max_pool1d_with_indices", "max_pool2d_with_indices", "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices", "max_unpool1d", "max_unpool2d", "lp_pool1d", "lp_pool2d",
    "upsample_nearest", "upsample_bilinear", "channel_shuffle", "native_channel_shuffle",
    "gumbel_softmax", "embedding_bag", "triplet_margin_with_distance_loss",
]


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def _ntuple(x, n, name="argument"):
    if isinstance(x, (list, tuple)):
        if len(x) == 1:
            return tuple(x) * n
        if len(x) != n:
            raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {x}")
        return tuple(int(v) for v in x)
    return (int(x),) * n


def _legacy_reduction(size_average, reduce):
    if size_average is None:
        size_average = True
    if reduce is None:
        reduce = True
    if size_average and reduce:
        ret = "mean"
    elif reduce:
        ret = "sum"
    else:
        ret = "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{ret}' "
                  "instead.", stacklevel=3)
    return ret


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_reduction(reduction):
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _scalar_like(value, like):
    return flambeau.full((), value, dtype=like.dtype, device=like.device)


def _where(cond, a, b):
    """flambeau.where with Python numbers allowed for a or b (cast to the other operand's dtype)."""
    if not isinstance(a, Tensor):
        a = _scalar_like(a, b)
    if not isinstance(b, Tensor):
        b = _scalar_like(b, a)
    return flambeau.where(cond, a, b)


_INDEX_CACHE = {}


def _index(arr, device):
    """An int64 index tensor on `device` holding numpy array `arr` (small, cached by content)."""
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    key = (arr.shape, arr.tobytes(), str(device))
    t = _INDEX_CACHE.get(key)
    if t is None:
        if len(_INDEX_CACHE) > 512:
            _INDEX_CACHE.clear()
        t = flambeau.from_numpy(arr.copy())
        if str(device) != "cpu":
            t = t.to(device)
        if not flambeau._C._is_inference_mode_enabled():  # an inference tensor cached would be one forever
            _INDEX_CACHE[key] = t
    return t


def _const(arr, like):
    """A float tensor with like's dtype/device holding numpy array `arr`."""
    t = flambeau.from_numpy(np.array(arr, dtype=np.float64, order="C"))
    return t.to(dtype=like.dtype, device=like.device)


def _inplace(input, inplace, fn):
    """fn(input), written back into input when inplace. When autograd records the op, fn runs on
    a copy so that the tensors it saves for backward are not the ones overwritten."""
    if not inplace:
        return fn(input)
    if flambeau.is_grad_enabled() and input.requires_grad:
        out = fn(input.clone())
    else:
        out = fn(input)
    input.copy_(out)
    return input


def _mean_dims(x, dims, keepdim=False):
    return x.mean(dim=tuple(dims), keepdim=keepdim)


# ----------------------------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------------------------
@_kernel(_A.threshold)
def threshold(input, threshold, value, inplace=False):
    # kernel: _C.threshold
    return _inplace(input, inplace, lambda x: _where(x > threshold, x, value))


@_kernel(_A.threshold_)
def threshold_(input, threshold, value):
    return globals()["threshold"](input, threshold, value, inplace=True)


@_kernel(_A.relu)
def relu(input, inplace=False):
    if inplace:
        return input.relu_()
    return input.relu()


@_kernel(_A.relu_)
def relu_(input):
    return input.relu_()


def _hardtanh(x, min_val, max_val):
    # gradient 1 strictly inside (min_val, max_val) and 0 elsewhere, as PyTorch's hardtanh_backward
    inside = (x > min_val) & (x < max_val)
    return _where(inside, x, x.detach().clamp(min=min_val, max=max_val))


@_kernel(_A.hardtanh)
def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    # kernel: _C.hardtanh
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _inplace(input, inplace, lambda x: _hardtanh(x, min_val, max_val))


@_kernel(_A.hardtanh_)
def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


@_kernel(_A.relu6)
def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def _elu(x, alpha, scale, input_scale):
    neg = (x.clamp(max=0) * input_scale).expm1() * (alpha * scale)
    return _where(x > 0, x * scale if scale != 1.0 else x, neg)


@_kernel(_A.elu)
def elu(input, alpha=1.0, inplace=False):
    # kernel: _C.elu
    return _inplace(input, inplace, lambda x: _elu(x, alpha, 1.0, 1.0))


@_kernel(_A.elu_)
def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


@_kernel(_A.selu)
def selu(input, inplace=False):
    # kernel: _C.selu
    return _inplace(input, inplace, lambda x: _elu(x, _SELU_ALPHA, _SELU_SCALE, 1.0))


@_kernel(_A.selu_)
def selu_(input):
    return selu(input, inplace=True)


@_kernel(_A.celu)
def celu(input, alpha=1.0, inplace=False):
    # kernel: _C.celu
    if alpha == 0:
        raise ValueError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return _inplace(input, inplace, lambda x: _elu(x, alpha, 1.0, 1.0 / alpha))


@_kernel(_A.celu_)
def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


@_kernel(_A.leaky_relu)
def leaky_relu(input, negative_slope=0.01, inplace=False):
    # kernel: _C.leaky_relu
    return _inplace(input, inplace, lambda x: _where(x > 0, x, x * negative_slope))


@_kernel(_A.leaky_relu_)
def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


@_amp_cast.lower_op
@_kernel(_A.prelu)
def prelu(input, weight):
    # kernel: _C.prelu
    if weight.numel() != 1:
        if input.dim() == 0:
            raise RuntimeError("Not allow zero-dim input tensor.")
        channel_size = input.shape[1] if input.dim() >= 2 else input.shape[0]
        if weight.numel() != channel_size:
            raise RuntimeError(
                "Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                f"{weight.numel()} and channel size = {channel_size}.")
        if input.dim() >= 2:
            w = weight.reshape([1, channel_size] + [1] * (input.dim() - 2))
        else:
            w = weight.reshape(channel_size)
    else:
        w = weight.reshape(())
    return _where(input > 0, input, input * w)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    # kernel: _C.rrelu
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)

    def fn(x):
        slopes = flambeau.rand(tuple(x.shape), dtype=x.dtype, device=x.device)
        slopes = slopes * (upper - lower) + lower
        return _where(x >= 0, x, x * slopes)
    return _inplace(input, inplace, fn)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, inplace=True)


@_kernel(_A.glu)
def glu(input, dim=-1):
    # kernel: _C.glu
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = dim % input.dim()
    n = input.shape[d]
    if n % 2 != 0:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size {n}")
    a = input.narrow(d, 0, n // 2)
    b = input.narrow(d, n // 2, n // 2)
    return a * b.sigmoid()


@_kernel(_A.gelu)
def gelu(input, approximate="none"):
    # kernel: _C.gelu
    if approximate == "none":
        return input * 0.5 * (1.0 + (input * (1.0 / math.sqrt(2.0))).erf())
    if approximate == "tanh":
        inner = (input + 0.044715 * input * input * input) * math.sqrt(2.0 / math.pi)
        return 0.5 * input * (1.0 + inner.tanh())
    raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")


@_kernel(_A.logsigmoid)
def logsigmoid(input):
    # kernel: _C.log_sigmoid
    return input.clamp(max=0) - (-input.abs()).exp().log1p()


@_kernel(_A.hardshrink)
def hardshrink(input, lambd=0.5):
    # kernel: _C.hardshrink
    return _where((input >= -lambd) & (input <= lambd), 0.0, input)


@_kernel(_A.tanhshrink)
def tanhshrink(input):
    return input - input.tanh()


@_kernel(_A.softsign)
def softsign(input):
    return input / (input.abs() + 1)


@_kernel(_A.softplus)
def softplus(input, beta=1.0, threshold=20.0):
    # kernel: _C.softplus
    scaled = input * beta
    soft = (scaled.clamp(max=threshold)).exp().log1p() / beta
    return _where(scaled > threshold, input, soft)


def _softmax_dim(name, ndim):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to "
                  "include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


@_kernel(_A.softmin)
def softmin(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim("softmin", input.dim())
    if dtype is not None:
        input = input.to(dtype)
    return (-input).softmax(dim)


@_kernel(_A.softmax)
def softmax(input, dim=None, _stacklevel=3, dtype=None):
    # kernel: _C.softmax
    if dim is None:
        dim = _softmax_dim("softmax", input.dim())
    if dtype is not None:
        input = input.to(dtype)
    return input.softmax(dim)


@_kernel(_A.log_softmax)
def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    # kernel: _C.log_softmax
    if dim is None:
        dim = _softmax_dim("log_softmax", input.dim())
    if dtype is not None:
        input = input.to(dtype)
    return input.log_softmax(dim)


@_kernel(_A.softshrink)
def softshrink(input, lambd=0.5):
    # kernel: _C.softshrink
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return _where(input > lambd, input - lambd, _where(input < -lambd, input + lambd, 0.0))


@_kernel(_A.tanh)
def tanh(input):
    return input.tanh()


@_kernel(_A.sigmoid)
def sigmoid(input):
    return input.sigmoid()


def _hardsigmoid(x):
    # gradient 1/6 strictly inside (-3, 3), 0 elsewhere (PyTorch's hardsigmoid_backward)
    inside = (x > -3.0) & (x < 3.0)
    return _where(inside, (x + 3.0) / 6.0, ((x.detach() + 3.0).clamp(min=0.0, max=6.0) / 6.0))


@_kernel(_A.hardsigmoid)
def hardsigmoid(input, inplace=False):
    # kernel: _C.hardsigmoid
    return _inplace(input, inplace, _hardsigmoid)


@_kernel(_A.silu)
def silu(input, inplace=False):
    # kernel: _C.silu
    return _inplace(input, inplace, lambda x: x * x.sigmoid())


@_kernel(_A.mish)
def mish(input, inplace=False):
    # kernel: _C.mish
    return _inplace(input, inplace, lambda x: x * softplus(x).tanh())


def _hardswish(x):
    # PyTorch's hardswish_backward: 0 for x < -3, x/3 + 1/2 for -3 <= x <= 3, 1 above
    mid = x * (x + 3.0) / 6.0
    return _where(x > 3.0, x, _where(x < -3.0, 0.0, mid))


@_kernel(_A.hardswish)
def hardswish(input, inplace=False):
    # kernel: _C.hardswish
    return _inplace(input, inplace, _hardswish)


def _norm(x, p, dim, keepdim, eps=None):
    """p-norm along dim, with a zero (not NaN) gradient where the norm is below eps."""
    if p == 2 and not x.is_complex():  # complex: the moduli (below), not z * z
        s = (x * x).sum(dim=dim, keepdim=keepdim)
        if eps is not None:
            s = s.clamp(min=eps * eps)
        return s.sqrt()
    if p == 1:
        n = x.abs().sum(dim=dim, keepdim=keepdim)
        return n.clamp(min=eps) if eps is not None else n
    if p == math.inf or p == -math.inf:
        n = x.abs().amax(dim=dim, keepdim=keepdim) if p > 0 else x.abs().amin(dim=dim, keepdim=keepdim)
        return n.clamp(min=eps) if eps is not None else n
    if p == 0:  # the number of non-zero entries (1 / p below would divide by zero); no gradient, but in
        # x's graph (PyTorch's vector_norm result requires grad, so input / norm's gradient does too)
        n = (x != 0).sum(dim=dim, keepdim=keepdim).to(x.real.dtype if x.is_complex() else x.dtype)
        n = _link_none_to(n, x)
        return n.clamp(min=eps) if eps is not None else n
    s = x.abs().pow(p).sum(dim=dim, keepdim=keepdim)
    if eps is not None:
        s = s.clamp(min=eps ** p)
    return s.pow(1.0 / p)


_TORCH_INT_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
                    "bool": "Bool"}


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    dt = input._impl.dtype
    if dt in _TORCH_INT_NAMES:  # PyTorch's denominator is linalg.vector_norm, which refuses these
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {_TORCH_INT_NAMES[dt]}")
    if p == 2:
        # PyTorch's input.norm(p, dim, keepdim=True).clamp_min(eps): the 2-norm in one pass (the
        # sum-of-squares loops) instead of x * x, a sum, a clamp and a sqrt (0.67x PyTorch on [4096, 1024]),
        # and under autograd norm's backward, whose second order is PyTorch's (NaN at a zero slice).
        denom = input.norm(2, dim, keepdim=True).clamp(min=eps)
    else:
        denom = _norm(input, p, dim, True, eps)
    result = input / denom
    if out is not None:
        out.copy_(result)
        return out
    return result


# ----------------------------------------------------------------------------------------------
# linear, dropout, embedding, distances, attention
# ----------------------------------------------------------------------------------------------
def linear(input, weight, bias=None):
    # One _C.linear call: the GEMM adds the bias in its epilogue.
    return _linear_kernel(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    # kernel: _C.bilinear
    o, i1, i2 = weight.shape
    if input1.shape[-1] != i1 or input2.shape[-1] != i2:
        raise RuntimeError(f"bilinear: input sizes {tuple(input1.shape)} and {tuple(input2.shape)} "
                           f"do not match weight {tuple(weight.shape)}")
    lead = tuple(input1.shape[:-1])
    x1 = input1.reshape(-1, i1)
    x2 = input2.reshape(-1, i2)
    t = x1.mm(weight.permute(1, 0, 2).reshape(i1, o * i2)).reshape(-1, o, i2)
    out = (t * x2.unsqueeze(1)).sum(dim=-1)
    if bias is not None:
        out = out + bias
    return out.reshape(lead + (o,))


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep_mask(shape, keep, like):
    """A float mask with like's dtype/device: 1 with probability `keep`, else 0."""
    u = flambeau.rand(tuple(shape), dtype=like.dtype, device=like.device)
    return (u < keep).to(like.dtype)


@_kernel(_D.dropout)
def dropout(input, p=0.5, training=True, inplace=False):
    # kernel: _C.dropout (mask regenerated from the Philox (seed, offset) in backward)
    _check_p(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return _inplace(input, inplace, lambda x: x * 0.0)
    mask = _keep_mask(input.shape, 1.0 - p, input) * (1.0 / (1.0 - p))
    return _inplace(input, inplace, lambda x: x * mask)


def _feature_dropout(input, p, training, inplace, batched_dim):
    _check_p(p)
    if not training or p == 0.0:
        return input
    unbatched = input.dim() == batched_dim - 1
    shape = ((1,) if unbatched else ()) + tuple(input.shape)
    mask_shape = shape[:2] + (1,) * (len(shape) - 2)
    if p == 1.0:
        mask = flambeau.zeros(mask_shape, dtype=input.dtype, device=input.device)
    else:
        mask = _keep_mask(mask_shape, 1.0 - p, input) * (1.0 / (1.0 - p))
    if unbatched:
        mask = mask.squeeze(0)
    return _inplace(input, inplace, lambda x: x * mask)


@_kernel(_D.dropout1d)
def dropout1d(input, p=0.5, training=True, inplace=False):
    # kernel: _C.feature_dropout
    if input.dim() not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.dim()}D "
                           "input. Note that dropout1d exists to provide channel-wise dropout on "
                           "inputs with 1 spatial dimension, a channel dimension, and an optional "
                           "batch dimension (i.e. 2D or 3D inputs).")
    return _feature_dropout(input, p, training, inplace, 3)


@_kernel(_D.dropout2d)
def dropout2d(input, p=0.5, training=True, inplace=False):
    # kernel: _C.feature_dropout
    if input.dim() not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.dim()}-D input to dropout2d, which is "
                      "deprecated and will result in an error in a future release.", stacklevel=2)
    if input.dim() == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                      "1D dropout behavior is desired - input is interpreted as shape (N, C, L), "
                      "where C is the channel dim.", stacklevel=2)
        return _feature_dropout(input, p, training, inplace, 3)
    return _feature_dropout(input, p, training, inplace, 4)


@_kernel(_D.dropout3d)
def dropout3d(input, p=0.5, training=True, inplace=False):
    # kernel: _C.feature_dropout
    if input.dim() not in (4, 5):
        warnings.warn(f"dropout3d: Received a {input.dim()}-D input to dropout3d, which is "
                      "deprecated and will result in an error in a future release.", stacklevel=2)
    return _feature_dropout(input, p, training, inplace, 5)


def _alpha_dropout(input, p, training, inplace, feature):
    _check_p(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return _inplace(input, inplace, lambda x: x * 0.0)
    alpha = 1.7580993408473766
    if feature:
        shape = tuple(input.shape[:2]) + (1,) * (input.dim() - 2)
    else:
        shape = tuple(input.shape)
    keep = _keep_mask(shape, 1.0 - p, input)
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    b = (keep - 1.0) * (alpha * a) + alpha * a * p
    return _inplace(input, inplace, lambda x: x * (keep * a) + b)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    # kernel: _C.alpha_dropout
    return _alpha_dropout(input, p, training, inplace, feature=False)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    # kernel: _C.feature_alpha_dropout
    return _alpha_dropout(input, p, training, inplace, feature=True)


class _Embedding(Function):
    """Row gather whose backward accumulates into the rows, skipping padding_idx and optionally
    scaling by the inverse frequency of each index in the batch."""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx, scale_grad_by_freq, sparse=False):
        flat = indices.reshape(-1)
        ctx.save_for_backward(flat)
        ctx.num_weights = weight.shape[0]
        ctx.padding_idx = padding_idx
        ctx.scale_grad_by_freq = scale_grad_by_freq
        ctx.sparse = sparse
        try:  # the gather checks the bounds in its own pass (a min() and max() here cost 17 us a call)
            out = _wrap(_C.index_select(weight._impl, 0, flat._impl))
        except IndexError:
            lo, hi = int(flat.min()), int(flat.max())
            raise IndexError(f"embedding: index {hi if hi >= weight.shape[0] else lo} is out of "
                             f"range for {weight.shape[0]} embeddings") from None
        return out.reshape(tuple(indices.shape) + (weight.shape[1],))

    @staticmethod
    def backward(ctx, grad_output):
        (flat,) = ctx.saved_tensors
        g = grad_output.reshape(-1, grad_output.shape[-1])
        if ctx.sparse:
            from ._embedding_sparse import embedding_sparse_backward
            return embedding_sparse_backward(g, flat, ctx.num_weights, ctx.padding_idx,
                                             ctx.scale_grad_by_freq), None, None, None, None
        if ctx.padding_idx is not None or ctx.scale_grad_by_freq:
            scale = flambeau.ones((flat.shape[0],), dtype=g.dtype, device=g.device)
            if ctx.scale_grad_by_freq:
                counts = np.bincount(flat.cpu().numpy(), minlength=ctx.num_weights)
                scale = _const(1.0 / counts[flat.cpu().numpy()], g)
            if ctx.padding_idx is not None:
                scale = _where(flat == ctx.padding_idx, 0.0, scale)
            g = g * scale.unsqueeze(1)
        grad_weight = flambeau.zeros((ctx.num_weights, g.shape[1]), dtype=g.dtype, device=g.device)
        grad_weight.index_put_((flat,), g, accumulate=True)
        return grad_weight, None, None, None, None


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    # kernel: _C.embedding / _C.embedding_backward
    if padding_idx is not None:
        if padding_idx > 0:
            if padding_idx >= weight.size(0):
                raise AssertionError("Padding_idx must be within num_embeddings")
        elif padding_idx < 0:
            if padding_idx < -weight.size(0):
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = weight.size(0) + padding_idx
    if input.dtype != flambeau.int64:
        if input.is_floating_point() or input.dtype == flambeau.bool:
            legacy = {"float32": "torch.FloatTensor", "float64": "torch.DoubleTensor", "float16": "torch.HalfTensor",
                      "bfloat16": "CPUBFloat16Type", "bool": "CPUBoolType", "complex64": "CPUComplexFloatType",
                      "complex128": "CPUComplexDoubleType"}  # PyTorch's names of these tensor types here
            raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                               f"Long, Int; but got {legacy.get(input._impl.dtype, input.dtype)} instead (while "
                               f"checking arguments for embedding)")
        input = input.to(flambeau.int64)
    if max_norm is not None:
        _embedding_renorm_(weight, input, max_norm, norm_type)
    # sparse: the weight's gradient is a sparse COO tensor (nn/_embedding_sparse.py); only for a leaf
    # weight: a weight computed by other ops gets a dense gradient (their backwards take dense ones)
    return _Embedding.apply(weight, input, padding_idx, scale_grad_by_freq, bool(sparse) and weight.grad_fn is None)


def _embedding_renorm_(weight, input, max_norm, norm_type):
    with flambeau.no_grad():
        idx = np.unique(input.reshape(-1).cpu().numpy())
        if idx.size == 0:
            return
        it = _index(idx, weight.device)
        rows = weight.index_select(0, it)
        norms = _norm(rows, norm_type, 1, True)
        scale = _where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        weight.index_put_((it,), rows * scale)


def one_hot(tensor, num_classes=-1):
    if tensor._impl.device == "cpu" and tensor._impl.dtype == "int64":
        return _wrap(_C.one_hot(tensor._impl, int(num_classes)))  # one C++ call (six ops here: 0.25x PyTorch)
    if tensor.dtype != flambeau.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if tensor.numel() == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(tensor.max()) + 1
    if tensor.numel() > 0:
        if int(tensor.min()) < 0:
            raise RuntimeError("Class values must be non-negative.")
        if int(tensor.max()) >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    classes = flambeau.arange(num_classes, device=tensor.device)
    return (tensor.unsqueeze(-1) == classes).to(flambeau.int64)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    # kernel: _C.pairwise_distance
    diff = x1 - x2 + eps
    dim = max(x1.dim(), x2.dim()) - 1
    return _norm(diff, p, dim, keepdim)


def pdist(input, p=2):
    # kernel: _C.cdist (the rows' distances for i < j)
    from .._functions.distance import pdist as _pdist
    return _pdist(input, p)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    # kernel: _C.cosine_similarity
    # PyTorch computes in the operands' common dtype and refuses an integral one; squaring int8 or
    # int16 operands in their own dtype would overflow silently.
    dt = flambeau.result_type(x1, x2)
    if not dt.is_floating_point:
        raise RuntimeError(f"cosine_similarity: expected common dtype to be floating point, yet common dtype is "
                           f"{str(dt).split('.')[-1]} (shapes {list(x1.shape)} and {list(x2.shape)})")
    # dim counts in the broadcast shape: (3, 4) with (2, 3, 4) and dim=0 normalises over the 2, not the 3
    x1, x2 = flambeau.broadcast_tensors(x1.to(dt), x2.to(dt))
    # As PyTorch: the norms are clamped to eps in place under no_grad, so the clamp changes the value
    # but not the gradient, which is vector_norm's (0 where a norm is 0, not 0 / 0).
    n1 = _CosineNorm.apply(x1, dim, eps)
    n2 = _CosineNorm.apply(x2, dim, eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim=dim)


class _CosineNorm(flambeau.autograd.Function):
    """sqrt(sum(x * x, dim)) clamped to eps below (the values PyTorch's float32 kernel produces,
    overflow included), with the gradient of the unclamped 2-norm: g * (x / norm), 0 where it is 0."""

    @staticmethod
    def forward(ctx, x, dim, eps):
        ctx.dim = dim
        ctx.save_for_backward(x)
        return (x * x).sum(dim=dim, keepdim=True).sqrt().clamp(min=eps)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        n = (x * x).sum(dim=ctx.dim, keepdim=True).sqrt()  # from x, so that double backward sees it vary
        return g * _where(n == 0, 0.0, x / n), None, None


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False):
    # kernel: _C.scaled_dot_product_attention (fused attention)
    from .attention import _sdpa_prelude  # here, not at the top: nn.attention imports this module's package
    attn_mask, is_causal = _sdpa_prelude(query, key, attn_mask, is_causal)  # backend flags, CausalBias
    L, S = query.shape[-2], key.shape[-2]
    scale_factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if enable_gqa and query.dim() >= 3 and key.shape[-3] != query.shape[-3]:
        rep = query.shape[-3] // key.shape[-3]
        key = key.repeat_interleave(rep, dim=-3)
        value = value.repeat_interleave(rep, dim=-3)
    scores = query.matmul(key.transpose(-2, -1)) * scale_factor
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError("scaled_dot_product_attention: explicit attn_mask should not be set "
                               "when is_causal=True")
        causal = _index(np.tril(np.ones((L, S), dtype=np.int64)), query.device) == 1
        scores = _where(causal, scores, float("-inf"))
    dead_rows = None
    if attn_mask is not None:
        # PyTorch (>= 2.5) gives a query whose every key is masked out zero attention (output 0, no
        # gradient), not softmax's NaN: such rows are found from the mask and softmaxed as zeros instead.
        if attn_mask.dtype == flambeau.bool:
            scores = _where(attn_mask, scores, float("-inf"))
            dead_rows = ~attn_mask.any(-1, keepdim=True)
        else:
            scores = scores + attn_mask
            dead_rows = (attn_mask == float("-inf")).all(-1, keepdim=True)
        if not dead_rows.is_cuda and not bool(dead_rows.any()):
            dead_rows = None  # the usual case, skipped on the CPU (on a GPU the check would cost a sync)
        else:
            scores = _where(dead_rows, 0.0, scores)
    attn = scores.softmax(-1)
    if dead_rows is not None:
        attn = _where(dead_rows, 0.0, attn)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p, training=True)
    return attn.matmul(value)


def _canonical_mask(mask, mask_name, target_type, other=None, other_name=""):
    """A bool mask as an additive float mask (-inf where True); float masks pass (PyTorch's helper). With
    `other` (the mask it will be combined with), PyTorch's deprecation warning when their dtypes differ."""
    if mask is None:
        return None
    if other is not None and mask.dtype != other.dtype and (mask.dtype == flambeau.bool or mask.is_floating_point()):
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. Use same type for both "
                      "instead.")
    if mask.dtype == flambeau.bool:
        return flambeau.zeros(mask.shape, dtype=target_type, device=mask.device).masked_fill_(mask, float("-inf"))
    if not mask.is_floating_point():
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    return mask


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """PyTorch's multi-head attention, sequence first: query [L, N, E] (or unbatched [L, E]), key and
    value [S, N, E]. Returns (output [L, N, E], weights [N, L, S] averaged over heads, or per head, or
    None without need_weights). The same steps as PyTorch's: packed or separate input projections,
    optional bias_k/bias_v and zero-attention rows, the key-padding mask merged into the attention
    mask, then softmax(q k^T / sqrt(d) + mask) v through baddbmm/bmm when the weights are wanted and
    scaled_dot_product_attention otherwise."""
    if static_k is not None or static_v is not None:
        raise NotImplementedError("multi_head_attention_forward: static_k / static_v are not supported")
    is_batched = query.dim() == 3
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if key.shape[:2] != value.shape[:2]:
        raise AssertionError(f"key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)}")
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", query.dtype, attn_mask, "attn_mask")
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                           "module method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the causal hint alone: sdpa's is_causal
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", query.dtype)
        is_causal = False

    # input projections
    if not use_separate_proj_weight:
        w_q, w_k, w_v = in_proj_weight.chunk(3)
        b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
    else:
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
        b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
    if not use_separate_proj_weight and key is value and query is key:
        q, k, v = linear(query, in_proj_weight, in_proj_bias).chunk(3, dim=-1)
    else:
        q, k, v = linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)

    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, but should be "
                                   f"{(tgt_len, src_len)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.dim() == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, but should be "
                                   f"{(bsz * num_heads, tgt_len, src_len)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")
    if bias_k is not None and bias_v is not None:
        k = flambeau.cat([k, bias_k.repeat(1, bsz, 1)])
        v = flambeau.cat([v, bias_v.repeat(1, bsz, 1)])
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))

    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    if add_zero_attn:
        zeros = flambeau.zeros((bsz * num_heads, 1, head_dim), dtype=q.dtype, device=q.device)
        k = flambeau.cat([k, zeros], dim=1)
        v = flambeau.cat([v, zeros], dim=1)
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise AssertionError(f"expecting key_padding_mask shape of {(bsz, src_len)}, but got "
                                 f"{tuple(key_padding_mask.shape)}")
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(-1, num_heads, -1, -1)
        kpm = kpm.reshape(bsz * num_heads, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:
        q_scaled = q * math.sqrt(1.0 / float(head_dim))
        if attn_mask is not None:
            w = flambeau.baddbmm(attn_mask.expand(q.shape[0], -1, -1), q_scaled, k.transpose(-2, -1))
        else:
            w = flambeau.bmm(q_scaled, k.transpose(-2, -1))
        w = softmax(w, dim=-1)
        if dropout_p > 0.0:
            w = dropout(w, p=dropout_p)
        out = flambeau.bmm(w, v)
        out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
        w = w.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            w = w.mean(dim=1)
        if not is_batched:
            out, w = out.squeeze(1), w.squeeze(0)
        return out, w
    if attn_mask is not None:
        if attn_mask.shape[0] == 1 and attn_mask.dim() == 3:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
    if not is_batched:
        out = out.squeeze(1)
    return out, None


# ----------------------------------------------------------------------------------------------
# padding, unfold, convolution
# ----------------------------------------------------------------------------------------------
def _pad_indices(n, left, right, mode):
    i = np.arange(-left, n + right)
    if mode == "reflect":
        if left >= n or right >= n:
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding "
                               f"input dimension, but got: padding ({left}, {right}) at dimension "
                               f"of input of size {n}")
        i = np.abs(i)
        i = np.where(i > n - 1, 2 * (n - 1) - i, i)
    elif mode == "replicate":
        i = np.clip(i, 0, n - 1)
    elif mode == "circular":
        if left > n or right > n:
            raise RuntimeError("Padding value causes wrapping around more than once.")
        i = np.mod(i, n)
    return i


def pad(input, pad, mode="constant", value=None):
    # kernels: _C.constant_pad (constant mode), _C.pad_gather (the other modes on the CPU)
    if _amp_cast.state[0] is not None and (mode == "replicate" or (mode == "reflect" and len(pad) <= 4)):
        input = _amp_cast._to_f32_arg(input)  # PyTorch's CPU autocast fp32 list: reflection_pad1d/2d, replication_pad*
    if len(pad) % 2 != 0:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.dim():
        raise RuntimeError("Padding length should be less than or equal to two times the input "
                           "dimension but got padding length {} and input of dimension {}".format(
                               len(pad), input.dim()))
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if mode != "constant" and value is not None and value != 0:
        raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument")
    if mode != "constant" and (len(pad), input.dim()) not in {(2, 2), (2, 3), (4, 3), (4, 4),
                                                                (6, 4), (6, 5)}:
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.dim()}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    out = input
    if mode == "constant":
        # Negative pads crop (views), then one output: filled, and the input copied into its interior
        # (a cat per padded dim, each with its own fill tensors, was 0.33x PyTorch on CIFAR batches).
        pads = []
        for k in range(len(pad) // 2):
            dim = input.dim() - 1 - k
            left, right = int(pad[2 * k]), int(pad[2 * k + 1])
            if out.shape[dim] + min(left, 0) < 0 or out.shape[dim] + min(left, 0) + min(right, 0) < 0:
                raise RuntimeError(f"pad: narrow(): length must be non-negative (dimension {dim} of size "
                                   f"{input.shape[dim]} cropped by {left} and {right}; input {list(input.shape)})")
            if left < 0:
                out = out.narrow(dim, -left, out.shape[dim] + left)
                left = 0
            if right < 0:
                out = out.narrow(dim, 0, out.shape[dim] + right)
                right = 0
            pads.append((dim, left, right))
        if all(l == 0 and r == 0 for _, l, r in pads):
            return out
        return _ConstantPad.apply(out, tuple(pads), 0.0 if value is None else value)
    if input._impl.device == "cpu":
        # One gather of the padded last dims through per-dim index maps (_C.pad_gather), and its
        # adjoint for the gradient; an index_select per dim was 0.41x PyTorch (reflect, CIFAR batch).
        k = len(pad) // 2
        maps = [None] * k
        for j in range(k):
            dim = input.dim() - 1 - j
            maps[k - 1 - j] = _pad_indices(input.shape[dim], int(pad[2 * j]), int(pad[2 * j + 1]), mode).tolist()
        return _PadGather.apply(input, maps, mode != "circular")
    for k in range(len(pad) // 2):  # other devices: an index_select per padded dim
        dim = input.dim() - 1 - k
        left, right = int(pad[2 * k]), int(pad[2 * k + 1])
        if left == 0 and right == 0:
            continue
        out = out.index_select(dim, _index(_pad_indices(out.shape[dim], left, right, mode), out.device))
    return out


class _PadGather(Function):
    """x's last len(maps) dims gathered through index maps (reflect/replicate/circular pads, CPU). The
    backward scatters (adds) g back through the maps; it is linear in g, and its own backward is the
    gather again, so create_graph=True works. reads_self: PyTorch's reflection/replication_pad backward
    kernels take the input, so under create_graph=True their gradient requires grad with it (a zero
    link); its circular padding is composed from slices and does not."""

    @staticmethod
    def forward(ctx, x, maps, reads_self):
        ctx.maps, ctx.shape, ctx.reads_self = maps, list(x.shape), reads_self
        return _wrap(_C.pad_gather(x._impl, maps))

    @staticmethod
    def backward(ctx, g):
        if flambeau.is_grad_enabled():
            gx = _PadGatherBackward.apply(g, ctx.shape, ctx.maps) if g.requires_grad else \
                _wrap(_C.pad_gather_backward(g._impl, ctx.shape, ctx.maps))
            return (_link_zero(gx, ctx, {0: tuple(ctx.shape)}) if ctx.reads_self else gx), None, None
        return _wrap(_C.pad_gather_backward(g._impl, ctx.shape, ctx.maps)), None, None


class _PadGatherBackward(Function):
    """_PadGather's backward as a differentiable op: g -> the scatter-add of g through the maps."""

    @staticmethod
    def forward(ctx, g, shape, maps):
        ctx.maps = maps
        return _wrap(_C.pad_gather_backward(g._impl, shape, maps))

    @staticmethod
    def backward(ctx, gg):
        return _PadGather.apply(gg, ctx.maps, False), None, None


class _ConstantPad(Function):
    """x inside a `value`-filled tensor: pads = ((dim, left, right), ...), all >= 0. Backward: the
    gradient's interior."""

    @staticmethod
    def forward(ctx, x, pads, value):
        before, after = [0] * x.dim(), [0] * x.dim()
        for dim, left, right in pads:
            before[dim], after[dim] = left, right
        ctx.pads, ctx.shape = pads, tuple(x.shape)
        return _wrap(_C.constant_pad(x._impl, before, after, value))

    @staticmethod
    def backward(ctx, g):
        for dim, left, right in ctx.pads:
            g = g.narrow(dim, left, ctx.shape[dim])
        return g, None, None


def _conv_out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _window_index(out_size, k, s, d):
    """(out_size*k,) row-major index of window element (o, j): o*s + j*d."""
    return (np.arange(out_size)[:, None] * s + np.arange(k)[None, :] * d).reshape(-1)


class _Patches(Function):
    """Sliding windows of a padded (N, C, H, W) input, copied into
    (N, oh, ow, C, kh, kw) (layout "conv": rows of the im2col matrix are contiguous) or
    (N, C, oh, ow, kh, kw) (layout "pool").

    Forward copies the kh*kw strided views x[:, :, i*dh::sh, j*dw::sw] into their slots; backward
    adds each slot's gradient back into the same strided view (no scatter with repeated indices).
    """

    @staticmethod
    def forward(ctx, x, kh, kw, sh, sw, dh, dw, oh, ow, layout):
        n, c, h, w = x.shape
        ctx.geometry = (n, c, h, w, kh, kw, sh, sw, dh, dw, oh, ow, layout)
        shape = (n, oh, ow, c, kh, kw) if layout == "conv" else (n, c, oh, ow, kh, kw)
        out = flambeau.empty(shape, dtype=x.dtype, device=x.device)
        for i in range(kh):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            for j in range(kw):
                cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
                window = x[:, :, rows, cols]
                if layout == "conv":
                    window = window.permute(0, 2, 3, 1)
                out[:, :, :, :, i, j] = window
        return out

    @staticmethod
    def backward(ctx, grad):
        n, c, h, w, kh, kw, sh, sw, dh, dw, oh, ow, layout = ctx.geometry
        gx = flambeau.zeros((n, c, h, w), dtype=grad.dtype, device=grad.device)
        for i in range(kh):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            for j in range(kw):
                cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
                g = grad[:, :, :, :, i, j]
                if layout == "conv":
                    g = g.permute(0, 3, 1, 2)
                gx[:, :, rows, cols].add_(g)
        return gx, None, None, None, None, None, None, None, None, None


def _extract_patches(x, kh, kw, sh, sw, dh, dw, oh, ow, layout="conv"):
    """x: (N, C, H, W) already padded -> sliding windows (a copy), see _Patches."""
    # kernel: _C.im2col / _C.col2im
    return _Patches.apply(x, kh, kw, sh, sw, dh, dw, oh, ow, layout)


def _conv_padding(padding, kernel, dilation, stride, nd):
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            res = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                res.append((total // 2, total - total // 2))
            return res
        raise RuntimeError(f"Invalid padding string '{padding}', should be one of ['valid', 'same']")
    p = _ntuple(padding, nd, "padding")
    return [(v, v) for v in p]


@_kernel(_Cv.conv2d)
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    # kernel: _C.conv2d / _C.conv2d_backward
    unbatched = input.dim() == 3
    if unbatched:
        input = input.unsqueeze(0)
    if input.dim() != 4:
        raise RuntimeError(f"conv2d: expected 3D (unbatched) or 4D (batched) input, but got input "
                           f"of size: {list(input.shape)}")
    if weight.dim() != 4:
        raise RuntimeError(f"conv2d: weight should be 4D, got {list(weight.shape)}")
    n, c, h, w = input.shape
    o, cg, kh, kw = weight.shape
    if groups < 1 or c % groups != 0 or o % groups != 0 or cg * groups != c:
        raise RuntimeError(
            f"conv2d: input has {c} channels, weight {list(weight.shape)} expects {cg * groups} "
            f"(groups={groups})")
    stride = _ntuple(stride, 2, "stride")
    dilation = _ntuple(dilation, 2, "dilation")
    (ph0, ph1), (pw0, pw1) = _conv_padding(padding, (kh, kw), dilation, stride, 2)
    if ph0 or ph1 or pw0 or pw1:
        input = globals()["pad"](input, (pw0, pw1, ph0, ph1))
    hp, wp = input.shape[2], input.shape[3]
    oh = (hp - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wp - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if oh <= 0 or ow <= 0:
        raise RuntimeError(
            f"conv2d: input size ({h}x{w}, padded {hp}x{wp}) is smaller than the kernel "
            f"({kh}x{kw}, dilation {dilation}); output would be {oh}x{ow}")
    patches = _extract_patches(input, kh, kw, stride[0], stride[1], dilation[0], dilation[1],
                               oh, ow)                                   # (n, oh, ow, c, kh, kw)
    if groups == 1:
        cols = patches.reshape(n * oh * ow, c * kh * kw)
        out = cols.mm(weight.reshape(o, c * kh * kw).t())
        out = out.reshape(n, oh, ow, o).permute(0, 3, 1, 2)
    else:
        og = o // groups
        cols = patches.reshape(n * oh * ow, groups, cg * kh * kw).transpose(0, 1)
        wg = weight.reshape(groups, og, cg * kh * kw).transpose(1, 2)
        out = cols.bmm(wg)                                               # (groups, n*oh*ow, og)
        out = out.reshape(groups, n, oh, ow, og).permute(1, 0, 4, 2, 3).reshape(n, o, oh, ow)
    if bias is not None:
        out = out + bias.reshape(1, o, 1, 1)
    out = out.contiguous()
    return out.squeeze(0) if unbatched else out


def _check_1d_args(op, input, stride, padding):
    """PyTorch's stride/padding checks, under the 1-d op's name (the 2-d kernel it runs on would name itself)."""
    if not isinstance(stride, str) and _ntuple(stride, 1)[0] <= 0:
        raise RuntimeError(f"{op}: non-positive stride is not supported, got stride={stride} "
                           f"(input {list(input.shape)})")
    if not isinstance(padding, str) and _ntuple(padding, 1)[0] < 0:
        raise RuntimeError(f"{op}: negative padding is not supported, got padding={padding} "
                           f"(input {list(input.shape)})")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    # kernel: _C.conv1d
    unbatched = input.dim() == 2
    if unbatched:
        input = input.unsqueeze(0)
    if input.dim() != 3:
        raise RuntimeError(f"conv1d: expected 2D (unbatched) or 3D (batched) input, but got input "
                           f"of size: {list(input.shape)}")
    _check_1d_args("conv1d", input, stride, padding)
    if isinstance(padding, str):
        pads = _conv_padding(padding, (weight.shape[-1],), _ntuple(dilation, 1),
                             _ntuple(stride, 1), 1)
        (p0, p1), = pads
        if p0 or p1:
            input = globals()["pad"](input, (p0, p1))
        padding = 0
    out = conv2d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, _ntuple(stride, 1)[0]),
                 (0, _ntuple(padding, 1)[0]), (1, _ntuple(dilation, 1)[0]), groups)
    out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


@_kernel(_Cv.conv_transpose2d)
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    # kernel: _C.conv_transpose2d
    unbatched = input.dim() == 3
    if unbatched:
        input = input.unsqueeze(0)
    if input.dim() != 4 or weight.dim() != 4:
        raise RuntimeError(f"conv_transpose2d: expected 3D/4D input and 4D weight, got input "
                           f"{list(input.shape)} and weight {list(weight.shape)}")
    n, c, h, w = input.shape
    cin, og, kh, kw = weight.shape
    if c != cin or cin % groups != 0:
        raise RuntimeError(f"conv_transpose2d: input has {c} channels, weight {list(weight.shape)} "
                           f"expects {cin} (groups={groups})")
    sh, sw = _ntuple(stride, 2, "stride")
    ph, pw = _ntuple(padding, 2, "padding")
    oph, opw = _ntuple(output_padding, 2, "output_padding")
    dh, dw = _ntuple(dilation, 2, "dilation")
    if oph >= max(sh, dh) or opw >= max(sw, dw):
        raise RuntimeError("conv_transpose2d: output padding must be smaller than either stride "
                           f"or dilation, got output_padding={(oph, opw)}, stride={(sh, sw)}, "
                           f"dilation={(dh, dw)}")
    # the transposed convolution is the convolution of the zero-stuffed input (stride - 1 zeros
    # between pixels), padded by dilation * (k - 1) - padding, with the flipped, transposed kernel
    if sh > 1 or sw > 1:
        up = flambeau.zeros((n, c, (h - 1) * sh + 1, (w - 1) * sw + 1), dtype=input.dtype,
                            device=input.device)
        up[:, :, ::sh, ::sw] = input
    else:
        up = input
    top, left = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    up = pad(up, (left, left + opw, top, top + oph))
    cg = cin // groups
    wt = weight.reshape(groups, cg, og, kh, kw).transpose(1, 2).reshape(groups * og, cg, kh, kw)
    wt = wt.flip([2, 3])
    out = conv2d(up, wt, bias, 1, 0, (dh, dw), groups)
    return out.squeeze(0) if unbatched else out


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    # kernel: _C.conv_transpose1d
    _check_1d_args("conv_transpose1d", input, stride, padding)
    unbatched = input.dim() == 2
    if unbatched:
        input = input.unsqueeze(0)
    out = conv_transpose2d(input.unsqueeze(2), weight.unsqueeze(2), bias,
                           (1, _ntuple(stride, 1)[0]), (0, _ntuple(padding, 1)[0]),
                           (0, _ntuple(output_padding, 1)[0]), groups,
                           (1, _ntuple(dilation, 1)[0])).squeeze(2)
    return out.squeeze(0) if unbatched else out


class _Unfold2d(Function):
    """F.unfold's kernel path: the convolution's im2col (_C.unfold2d); backward is its adjoint (_C.fold2d)."""

    @staticmethod
    def forward(ctx, x, geometry):
        ctx.geometry, ctx.hw = geometry, tuple(x.shape[-2:])
        return _wrap(_fold_kernels.unfold2d(x._impl, *geometry))

    @staticmethod
    def backward(ctx, g):
        return _Fold2d.apply(g, ctx.hw, ctx.geometry), None


# fold2d / unfold2d are CPU kernels: CUDA tensors go through the host (_functions/host_route.py).
_fold_kernels = HostRouted()


class _Fold2d(Function):
    """F.fold: the sum of the columns' entries over each position (_C.fold2d); backward: unfold."""

    @staticmethod
    def forward(ctx, col, output_size, geometry):
        ctx.geometry = geometry
        return _wrap(_fold_kernels.fold2d(col._impl, list(output_size), *geometry))

    @staticmethod
    def backward(ctx, g):
        return _Unfold2d.apply(g, ctx.geometry), None, None


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Combines an array of sliding local blocks (N, C*kh*kw, L) into (N, C, H, W), the adjoint of
    unfold: entries of overlapping blocks are summed (the kernel is _C.fold2d; CUDA tensors go through the host)."""
    if input.dim() not in (2, 3):
        raise NotImplementedError("Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported "
                                  f"(got {input.dim()}D)")
    dt = input._impl.dtype
    if dt == "bool":  # PyTorch's col2im adds bools: a position is set when any block covering it is
        return fold(input.to(flambeau.float32), output_size, kernel_size, dilation, padding, stride) != 0
    if dt in _TORCH_INT_NAMES:  # its kernel takes floating, complex and bool tensors only, after the shape checks
        fold(flambeau.zeros(tuple(input.shape)), output_size, kernel_size, dilation, padding, stride)
        raise NotImplementedError(f"\"col2im_out_cpu\" not implemented for '{_TORCH_INT_NAMES[dt]}'")
    if dt in ("complex64", "complex128"):  # linear: the parts folded apart
        return flambeau.complex(fold(input.real, output_size, kernel_size, dilation, padding, stride),
                                fold(input.imag, output_size, kernel_size, dilation, padding, stride))
    unbatched = input.dim() == 2
    if unbatched:
        input = input.unsqueeze(0)
    geometry = [list(_ntuple(a, 2)) for a in (kernel_size, dilation, padding, stride)]
    out = _Fold2d.apply(input, tuple(_ntuple(output_size, 2)), geometry)
    return out.squeeze(0) if unbatched else out


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    # kernel: _C.unfold2d on the CPU (float); elsewhere strided slices of the padded input
    if input.dim() not in (3, 4):
        raise NotImplementedError("Input Error: Only 3D or 4D input Tensors are supported "
                                  f"(got {input.dim()}D)")
    shape = list(input._impl.shape)
    if 0 in shape[-3:]:
        raise RuntimeError("Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero "
                           f"dimensions for input, but got: {shape}")
    if input._impl.dtype in _TORCH_INT_NAMES and input._impl.dtype != "bool":
        # PyTorch's im2col kernel takes floating, complex and bool tensors only (even when empty), after its
        # shape checks (those of the float path, run on zeros)
        unfold(flambeau.zeros(tuple(shape), dtype=flambeau.float32), kernel_size, dilation, padding, stride)
        raise NotImplementedError(f"\"im2col_out_cpu\" not implemented for '{_TORCH_INT_NAMES[input._impl.dtype]}'")
    unbatched = input.dim() == 3
    if unbatched:
        input = input.unsqueeze(0)
    if input._impl.device == "cpu" and input.is_floating_point():
        geometry = [list(_ntuple(a, 2)) for a in (kernel_size, dilation, padding, stride)]
        out = _Unfold2d.apply(input, geometry)
        return out.squeeze(0) if unbatched else out
    kh, kw = _ntuple(kernel_size, 2)
    dh, dw = _ntuple(dilation, 2)
    ph, pw = _ntuple(padding, 2)
    sh, sw = _ntuple(stride, 2)
    if ph or pw:
        input = pad(input, (pw, pw, ph, ph))
    n, c, h, w = input.shape
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    if oh <= 0 or ow <= 0:
        raise RuntimeError(f"unfold: the calculated shape of the array of sliding blocks is "
                           f"({oh}, {ow}), which is too small (non-positive)")
    patches = _extract_patches(input, kh, kw, sh, sw, dh, dw, oh, ow)   # (n, oh, ow, c, kh, kw)
    out = patches.reshape(n, oh * ow, c * kh * kw).transpose(1, 2)
    return out.squeeze(0) if unbatched else out


def pixel_shuffle(input, upscale_factor):
    # kernel: _C.pixel_shuffle
    r = int(upscale_factor)
    if r <= 0:  # (r = 0 divided by zero in Python)
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r} (input of shape "
                           f"{list(input.shape)})")
    if input.dim() < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got "
                           f"input with {input.dim()} dimension(s)")
    c, h, w = input.shape[-3], input.shape[-2], input.shape[-1]
    if c % (r * r) != 0:
        raise RuntimeError("pixel_shuffle expects its input's 'channel' dimension to be divisible "
                           f"by the square of upscale_factor, but input.size(-3)={c} is not "
                           f"divisible by {r * r}")
    lead = tuple(input.shape[:-3])
    # the batch as a number: -1 is ambiguous when a dim is 0 (an empty image)
    x = input.reshape((math.prod(lead), c // (r * r), r, r, h, w)).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(lead + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    # kernel: _C.pixel_unshuffle
    r = int(downscale_factor)
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r} (input of shape "
                           f"{list(input.shape)})")
    if input.dim() < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got "
                           f"input with {input.dim()} dimension(s)")
    c, h, w = input.shape[-3], input.shape[-2], input.shape[-1]
    if h % r != 0 or w % r != 0:
        raise RuntimeError(f"pixel_unshuffle expects height ({h}) and width ({w}) to be divisible "
                           f"by downscale_factor ({r})")
    lead = tuple(input.shape[:-3])
    if input.numel() == 0:  # PyTorch returns an empty input as is (a clone, its shape unchanged)
        return input.clone()
    x = input.reshape((-1, c, h // r, r, w // r, r)).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(lead + (c * r * r, h // r, w // r))


# interpolate lives in _interpolate.py (all modes, antialias); _index/_const above are its helpers
from ._interpolate import interpolate  # noqa: E402
from ._fractional_pool import (fractional_max_pool2d, fractional_max_pool2d_with_indices,  # noqa: E402,F401
                               fractional_max_pool3d, fractional_max_pool3d_with_indices)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


# ----------------------------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------------------------
def _pool_out_size(n, k, pad_, s, d, ceil_mode):
    out = (n + 2 * pad_ - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + pad_:
        out -= 1
    return out


def _pool_args(name, input, kernel_size, stride, padding, dilation):
    k = _ntuple(kernel_size, 2, "kernel_size")
    s = k if (stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0)) \
        else _ntuple(stride, 2, "stride")
    p = _ntuple(padding, 2, "padding")
    d = _ntuple(dilation, 2, "dilation")
    if input.dim() not in (3, 4):
        raise RuntimeError(f"{name}: expected 3D or 4D input, got {input.dim()}D input of size "
                           f"{list(input.shape)}")
    for i in range(2):
        if k[i] <= 0 or s[i] <= 0 or d[i] <= 0:
            raise RuntimeError(f"{name}: kernel_size, stride and dilation must be positive, got "
                               f"kernel_size={k}, stride={s}, dilation={d}")
        if p[i] < 0 or p[i] > (d[i] * (k[i] - 1) + 1) // 2:
            raise RuntimeError(f"{name}: pad should be at most half of effective kernel size, but "
                               f"got pad={p[i]}, kernel_size={k[i]} and dilation={d[i]}")
    return k, s, p, d


def _pool_patches(x, k, s, p, d, ceil_mode, fill, name):
    """Pad x (N, C, H, W) with `fill` and return (patches (N, C, oh, ow, kh*kw), oh, ow)."""
    n, c, h, w = x.shape
    oh = _pool_out_size(h, k[0], p[0], s[0], d[0], ceil_mode)
    ow = _pool_out_size(w, k[1], p[1], s[1], d[1], ceil_mode)
    if oh <= 0 or ow <= 0:
        raise RuntimeError(f"{name}: Given input size: ({c}x{h}x{w}). Calculated output size: "
                           f"({c}x{oh}x{ow}). Output size is too small")
    need_h = (oh - 1) * s[0] + d[0] * (k[0] - 1) + 1
    need_w = (ow - 1) * s[1] + d[1] * (k[1] - 1) + 1
    extra_h = max(0, need_h - (h + 2 * p[0]))
    extra_w = max(0, need_w - (w + 2 * p[1]))
    pads = (p[1], p[1] + extra_w, p[0], p[0] + extra_h)
    if any(pads):
        x = pad(x, pads, value=fill)
    patches = _extract_patches(x, k[0], k[1], s[0], s[1], d[0], d[1], oh, ow, layout="pool")
    patches = patches.reshape(n, c, oh, ow, k[0] * k[1])
    return patches, oh, ow


@_kernel(_P.max_pool2d)
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    # kernel: _C.max_pool2d / _C.max_pool2d_backward
    k, s, p, d = _pool_args("max_pool2d", input, kernel_size, stride, padding, dilation)
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input
    w = x.shape[3]
    patches, oh, ow = _pool_patches(x, k, s, p, d, ceil_mode, float("-inf"), "max_pool2d")
    values, arg = patches.max(dim=-1)
    if unbatched:
        values = values.squeeze(0)
    if not return_indices:
        return values
    kh_i = arg // k[1]
    kw_i = arg % k[1]
    row = _index((np.arange(oh) * s[0] - p[0]).reshape(oh, 1), x.device)
    col = _index((np.arange(ow) * s[1] - p[1]).reshape(1, ow), x.device)
    idx = (row + kh_i * d[0]) * w + (col + kw_i * d[1])
    if unbatched:
        idx = idx.squeeze(0)
    return values, idx


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    # kernel: _C.max_pool1d
    if input.dim() not in (2, 3):
        raise RuntimeError(f"max_pool1d: expected 2D or 3D input, got {input.dim()}D")
    k = _ntuple(kernel_size, 1)[0]
    s = k if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) \
        else _ntuple(stride, 1)[0]
    dt = input._impl.dtype
    x = input.to(flambeau.uint8) if dt == "bool" and not return_indices else input  # (refused below)
    res = max_pool2d(x.unsqueeze(-2), (1, k), (1, s), (0, _ntuple(padding, 1)[0]),
                     (1, _ntuple(dilation, 1)[0]), ceil_mode, return_indices)
    if dt in _TORCH_INT_NAMES and not return_indices:
        # PyTorch's max_pool1d without indices (no gradient) is max_pool1d_impl, a floating-point kernel,
        # which refuses integers and bool after the shape checks (just run, through max_pool2d)
        raise NotImplementedError(f"\"max_pool1d_impl\" not implemented for '{_TORCH_INT_NAMES[dt]}'")
    if return_indices:
        return res[0].squeeze(-2), res[1].squeeze(-2)
    return res.squeeze(-2)


@_kernel(_P.avg_pool2d)
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    # kernel: _C.avg_pool2d / _C.avg_pool2d_backward
    k, s, p, _ = _pool_args("avg_pool2d", input, kernel_size, stride, padding, 1)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input
    h, w = x.shape[2], x.shape[3]
    patches, oh, ow = _pool_patches(x, k, s, p, (1, 1), ceil_mode, 0.0, "avg_pool2d")
    summed = patches.sum(dim=-1)
    if divisor_override is not None:
        out = summed / float(divisor_override)
    else:
        def axis_counts(o, n, kk, ss, pp):
            start = np.arange(o) * ss - pp
            end = np.minimum(start + kk, n + pp)
            size_pad = end - start
            size_in = np.minimum(end, n) - np.maximum(start, 0)
            return size_pad, size_in
        hp_, hi_ = axis_counts(oh, h, k[0], s[0], p[0])
        wp_, wi_ = axis_counts(ow, w, k[1], s[1], p[1])
        if count_include_pad:
            div = np.outer(hp_, wp_)
        else:
            div = np.outer(hi_, wi_)
        out = summed / _const(div, summed)
    return out.squeeze(0) if unbatched else out


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    # kernel: _C.avg_pool1d
    if input.dim() not in (2, 3):
        raise RuntimeError(f"avg_pool1d: expected 2D or 3D input, got {input.dim()}D")
    k = _ntuple(kernel_size, 1)[0]
    s = k if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) \
        else _ntuple(stride, 1)[0]
    out = avg_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, _ntuple(padding, 1)[0]), ceil_mode,
                     count_include_pad)
    return out.squeeze(-2)


def _adaptive_bounds(in_size, out_size):
    i = np.arange(out_size)
    start = (i * in_size) // out_size
    end = ((i + 1) * in_size + out_size - 1) // out_size
    return start, end


def _adaptive_output_size(input, output_size, nd):
    if isinstance(output_size, (list, tuple)):
        if len(output_size) != nd:
            raise ValueError(f"output_size must have {nd} elements, got {output_size}")
        sizes = output_size
    else:
        sizes = (output_size,) * nd
    spatial = input.shape[-nd:]
    return tuple(spatial[i] if sizes[i] is None else int(sizes[i]) for i in range(nd))


def _avg_matrix(in_size, out_size):
    start, end = _adaptive_bounds(in_size, out_size)
    m = np.zeros((out_size, in_size))
    for o in range(out_size):
        m[o, start[o]:end[o]] = 1.0 / (end[o] - start[o])
    return m


@_kernel(_P.adaptive_avg_pool2d)
def adaptive_avg_pool2d(input, output_size):
    # kernel: _C.adaptive_avg_pool2d
    if input.dim() not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d: expected 3D or 4D input, got {input.dim()}D")
    oh, ow = _adaptive_output_size(input, output_size, 2)
    h, w = input.shape[-2], input.shape[-1]
    if h == 0 or w == 0:
        raise RuntimeError("adaptive_avg_pool2d: input spatial size must be non-zero, got "
                           f"{list(input.shape)}")
    lead = tuple(input.shape[:-2])
    x = input.reshape(-1, h, w)
    if (oh, ow) == (1, 1):
        out = x.mean(dim=(1, 2), keepdim=True)
    else:
        mh = _const(_avg_matrix(h, oh), input)          # (oh, h)
        mw = _const(_avg_matrix(w, ow).T, input)        # (w, ow)
        b = x.shape[0]
        t = x.transpose(1, 2).reshape(b * w, h).mm(mh.t())            # (b*w, oh)
        t = t.reshape(b, w, oh).transpose(1, 2).reshape(b * oh, w).mm(mw)  # (b*oh, ow)
        out = t
    return out.reshape(lead + (oh, ow))


def adaptive_avg_pool1d(input, output_size):
    # kernel: _C.adaptive_avg_pool1d
    if input.dim() not in (2, 3):
        raise RuntimeError(f"adaptive_avg_pool1d: expected 2D or 3D input, got {input.dim()}D")
    o = _ntuple(output_size, 1)[0]
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, o)).squeeze(-2)


@_kernel(_P.adaptive_max_pool2d)
def adaptive_max_pool2d(input, output_size, return_indices=False):
    # kernel: _C.adaptive_max_pool2d
    if input.dim() not in (3, 4):
        raise RuntimeError(f"adaptive_max_pool2d: expected 3D or 4D input, got {input.dim()}D")
    oh, ow = _adaptive_output_size(input, output_size, 2)
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input
    n, c, h, w = x.shape

    def windows(in_size, out_size):
        start, end = _adaptive_bounds(in_size, out_size)
        kmax = int((end - start).max())
        j = np.arange(kmax)[None, :]
        # windows shorter than kmax repeat their last element (max is unchanged, argmax keeps the first)
        return start[:, None] + np.minimum(j, (end - start - 1)[:, None]), kmax

    ih, kh = windows(h, oh)
    iw, kw = windows(w, ow)
    rows = x.index_select(2, _index(ih.reshape(-1), x.device))
    patches = rows.index_select(3, _index(iw.reshape(-1), x.device)).reshape(n, c, oh, kh, ow, kw)
    patches = patches.permute(0, 1, 2, 4, 3, 5).reshape(n, c, oh, ow, kh * kw)
    values, arg = patches.max(dim=-1)
    if unbatched:
        values = values.squeeze(0)
    if not return_indices:
        return values
    flat_h = _index(ih, x.device)  # (oh, kh)
    flat_w = _index(iw, x.device)  # (ow, kw)
    a_h = arg // kw
    a_w = arg % kw
    hh = flat_h.reshape(1, 1, oh, 1, kh).expand(n, c, oh, ow, kh).gather(4, a_h.unsqueeze(-1))
    ww = flat_w.reshape(1, 1, 1, ow, kw).expand(n, c, oh, ow, kw).gather(4, a_w.unsqueeze(-1))
    idx = (hh * w + ww).squeeze(-1)
    if unbatched:
        idx = idx.squeeze(0)
    return values, idx


def adaptive_max_pool1d(input, output_size, return_indices=False):
    # kernel: _C.adaptive_max_pool1d
    if input.dim() not in (2, 3):
        raise RuntimeError(f"adaptive_max_pool1d: expected 2D or 3D input, got {input.dim()}D")
    o = _ntuple(output_size, 1)[0]
    res = adaptive_max_pool2d(input.unsqueeze(-2), (1, o), return_indices)
    if return_indices:
        return res[0].squeeze(-2), res[1].squeeze(-2)
    return res.squeeze(-2)


# ----------------------------------------------------------------------------------------------
# normalization
# ----------------------------------------------------------------------------------------------
@_mixed_half_input("running_mean", "running_var", "weight", "bias")
@_kernel(_N.batch_norm)
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    # kernel: _C.batch_norm / _C.batch_norm_backward (statistics in one pass)
    if input.dim() < 2:
        raise ValueError(f"batch_norm: expected at least 2D input (got {input.dim()}D input)")
    c = input.shape[1]
    shape = [1, c] + [1] * (input.dim() - 2)
    dims = [0] + list(range(2, input.dim()))
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"batch_norm: {name} should contain {c} elements not {t.numel()}")
    if training:
        count = input.numel() // c
        if count <= 1:
            raise ValueError("Expected more than 1 value per channel when training, got input size "
                             f"{input.shape}")
        mean = _mean_dims(input, dims, keepdim=True)
        centered = input - mean
        var = _mean_dims(centered * centered, dims, keepdim=True)
        if running_mean is not None and running_var is not None:
            with flambeau.no_grad():
                m = mean.detach().reshape(c)
                v = var.detach().reshape(c) * (count / (count - 1))
                running_mean.copy_(m * momentum + running_mean * (1 - momentum))
                running_var.copy_(v * momentum + running_var * (1 - momentum))
        out = centered * (var + eps).rsqrt()
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("batch_norm: running_mean and running_var must be defined in "
                               "evaluation mode")
        out = (input - running_mean.reshape(shape)) * (running_var.reshape(shape) + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


@_mixed_half_input("running_mean", "running_var", "weight", "bias")
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    # kernel: _C.instance_norm
    if input.dim() < 3:
        raise ValueError(f"instance_norm: expected at least 3D input (got {input.dim()}D input)")
    c = input.shape[1]
    shape = [1, c] + [1] * (input.dim() - 2)
    dims = list(range(2, input.dim()))
    if use_input_stats:
        count = int(np.prod(input.shape[2:]))
        if count <= 1:
            raise ValueError("Expected more than 1 spatial element when training, got input size "
                             f"{input.shape}")
    dt = input._impl.dtype
    if dt in _TORCH_INT_NAMES:  # PyTorch's batch_norm kernel refuses these, unless there is nothing to do
        if input.numel() == 0:
            return input.clone()
        raise NotImplementedError(f"\"batch_norm\" not implemented for '{_TORCH_INT_NAMES[dt]}'")
    if use_input_stats:
        mean = _mean_dims(input, dims, keepdim=True)
        centered = input - mean
        var = _mean_dims(centered * centered, dims, keepdim=True)
        if running_mean is not None and running_var is not None:
            with flambeau.no_grad():
                m = mean.detach().reshape(-1, c).mean(dim=0)
                v = (var.detach().reshape(-1, c) * (count / (count - 1))).mean(dim=0)
                running_mean.copy_(m * momentum + running_mean * (1 - momentum))
                running_var.copy_(v * momentum + running_var * (1 - momentum))
        out = centered * (var + eps).rsqrt()
    else:
        out = (input - running_mean.reshape(shape)) * (running_var.reshape(shape) + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


@_mixed_half_input("weight", "bias")
@_kernel(_N.layer_norm)
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    # kernel: _C.layer_norm / _C.layer_norm_backward
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    nd = len(normalized_shape)
    if tuple(input.shape[input.dim() - nd:]) != normalized_shape or input.dim() < nd:
        raise RuntimeError(
            f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
            f"[*, {', '.join(str(s) for s in normalized_shape)}], but got input of size"
            f"{list(input.shape)}")
    dims = list(range(input.dim() - nd, input.dim()))
    mean = _mean_dims(input, dims, keepdim=True)
    centered = input - mean
    var = _mean_dims(centered * centered, dims, keepdim=True)
    out = centered * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


@_mixed_half_input("weight")
def rms_norm(input, normalized_shape, weight=None, eps=None):
    # kernel: _C.rms_norm
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    nd = len(normalized_shape)
    if tuple(input.shape[input.dim() - nd:]) != tuple(normalized_shape):
        raise RuntimeError(
            f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
            f"[*, {', '.join(str(s) for s in normalized_shape)}], but got input of size"
            f"{list(input.shape)}")
    if eps is None:
        eps = float(np.finfo(np.float64 if input.dtype == flambeau.float64 else np.float32).eps)
    dims = list(range(input.dim() - nd, input.dim()))
    out = input * (_mean_dims(input * input, dims, keepdim=True) + eps).rsqrt()
    if weight is not None:
        out = out * weight
    return out


@_mixed_half_input("weight", "bias")
@_kernel(_N.group_norm)
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    # kernel: _C.group_norm
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received "
                           f"{input.dim()}")
    n, c = input.shape[0], input.shape[1]
    if c % num_groups != 0:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, "
                           f"but got input of shape {input.shape} and num_groups={num_groups}")
    x = input.reshape(n, num_groups, -1)
    mean = x.mean(dim=2, keepdim=True)
    centered = x - mean
    var = (centered * centered).mean(dim=2, keepdim=True)
    out = (centered * (var + eps).rsqrt()).reshape(input.shape)
    shape = [1, c] + [1] * (input.dim() - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    # kernel: _C.local_response_norm
    dim = input.dim()
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {dim} dimensions)")
    if input.numel() == 0:
        return input
    if size <= 0:  # PyTorch's avg_pool refuses the empty window (we returned NaN or inf)
        raise RuntimeError(f"local_response_norm: size should be greater than zero, but got {size} "
                           f"(input of shape {list(input.shape)})")
    sq = input * input
    c = input.shape[1]
    padded = pad(sq.transpose(1, -1), (size // 2, (size - 1) // 2)).transpose(1, -1)
    idx = _index(np.arange(c)[:, None] + np.arange(size)[None, :], input.device).reshape(-1)
    windows = padded.index_select(1, idx).reshape(
        (input.shape[0], c, size) + tuple(input.shape[2:]))
    div = (windows.sum(dim=2) / size * alpha + k).pow(beta)
    return input / div


# ----------------------------------------------------------------------------------------------
# losses
# ----------------------------------------------------------------------------------------------
def _warn_size(input, target):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size "
                      f"({input.shape}). This will likely lead to incorrect results due to "
                      "broadcasting. Please ensure they have the same size.", stacklevel=3)


def _weighted(loss, weight, reduction, input):
    if weight is None:
        return _reduce(loss, reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    loss = loss * weight
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / weight.sum()
    raise ValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")


@_kernel(_L.mse_loss)
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    # kernel: _C.mse_loss
    _warn_size(input, target)
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    d = input - target
    return _weighted(d * d, weight, reduction, input)


@_kernel(_L.l1_loss)
def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    # kernel: _C.l1_loss
    _warn_size(input, target)
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    return _weighted((input - target).abs(), weight, reduction, input)


@_kernel(_L.smooth_l1_loss)
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    # kernel: _C.smooth_l1_loss
    _warn_size(input, target)
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    z = (input - target).abs()
    if beta == 0.0:
        return _reduce(z, reduction)
    loss = _where(z < beta, z * z * (0.5 / beta), z - 0.5 * beta)
    return _reduce(loss, reduction)


@_kernel(_L.huber_loss)
def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    # kernel: _C.huber_loss
    _warn_size(input, target)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    z = (input - target).abs()
    loss = _where(z < delta, z * z * 0.5, (z - 0.5 * delta) * delta)
    if weight is not None:
        # unlike mse_loss/l1_loss, PyTorch's weighted huber 'mean' is a plain mean
        if tuple(weight.shape) != tuple(input.shape):
            raise ValueError("Weights and input must have the same size.")
        loss = loss * weight
    return _reduce(loss, reduction)


@_kernel(_L.binary_cross_entropy)
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    # kernel: _C.binary_cross_entropy
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input "
                         f"size ({input.shape}) is deprecated. Please ensure they have the same "
                         "size.")
    if input.numel() > 0:
        lo, hi = float(input.min()), float(input.max())
        if not (lo >= 0.0 and hi <= 1.0):
            raise RuntimeError("all elements of input should be between 0 and 1")
    log_p = input.log().clamp(min=-100.0)
    log_1mp = (1.0 - input).log().clamp(min=-100.0)
    loss = -(target * log_p + (1.0 - target) * log_1mp)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


@_kernel(_L.binary_cross_entropy_with_logits)
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    # kernel: _C.binary_cross_entropy_with_logits
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size "
                         f"({input.shape})")
    # -log(sigmoid(x)), through logsigmoid's own (twice differentiable) backward: the max(-x, 0) +
    # log1p(exp(-|x|)) form has kinks at 0, where clamp's and abs's subgradients made the first-order
    # gradient -target instead of sigmoid(0) - target under create_graph=True (this composite is what
    # double backward differentiates), and the second-order one 0 instead of sigmoid'(0)
    neg_log_sig = -logsigmoid(input)
    if pos_weight is not None:
        log_weight = (pos_weight - 1) * target + 1
        loss = (1 - target) * input + log_weight * neg_log_sig
    else:
        loss = (1 - target) * input + neg_log_sig
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _check_targets(target, n_classes, ignore_index=None):
    if target.numel() == 0:
        return
    t = target
    if ignore_index is not None:
        t = _where(target == ignore_index, 0, target)
    lo, hi = int(t.min()), int(t.max())
    if lo < 0 or hi >= n_classes:
        bad = hi if hi >= n_classes else lo
        raise IndexError(f"Target {bad} is out of bounds.")


@_kernel(_L.nll_loss)
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    # kernel: _C.nll_loss
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    _check_reduction(reduction)
    if input.dim() < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.dim()})")
    if target.dtype == flambeau.uint8 and input.dim() <= 2:
        target = target.long()  # PyTorch takes uint8 class indices here too
    if target.dtype != flambeau.int64:
        raise RuntimeError(f"nll_loss: expected target of dtype int64 (class indices), got "
                           f"{target.dtype}")
    if input.dim() == 1:
        if target.dim() != 0 and not (target.dim() == 1 and target.shape[0] == 1):
            raise ValueError(f"Expected input batch_size to match target batch_size: input "
                             f"{list(input.shape)}, target {list(target.shape)}")
        x = input.unsqueeze(0)
        t = target.reshape(1)
        squeeze = True
    else:
        if input.shape[0] != target.shape[0] if target.dim() > 0 else True:
            raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target "
                             f"batch_size ({target.shape[0] if target.dim() > 0 else 0}).")
        if tuple(target.shape[1:]) != tuple(input.shape[2:]):
            raise RuntimeError(f"Expected target size {[input.shape[0]] + list(input.shape[2:])}, "
                               f"got {list(target.shape)}")
        x, t, squeeze = input, target, False
    c = x.shape[1]
    if weight is not None and weight.numel() != c:
        raise RuntimeError(f"weight tensor should be defined either for all {c} classes or no "
                           f"classes but got weight tensor of shape: {list(weight.shape)}")
    _check_targets(t, c, ignore_index)
    valid = t != ignore_index
    t_safe = _where(valid, t, 0)
    picked = x.gather(1, t_safe.unsqueeze(1)).squeeze(1)
    if weight is not None:
        w = weight.index_select(0, t_safe.reshape(-1)).reshape(t_safe.shape)
        w = _where(valid, w, 0.0)
    else:
        w = valid.to(x.dtype)
    loss = -(picked * w)
    if reduction == "none":
        return loss.squeeze(0) if squeeze else loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w.sum()


@_kernel(_L.cross_entropy)
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    # kernel: _C.cross_entropy (softmax + NLL fused forward and backward)
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input.dim() == 1 else 1
    n_classes = input.shape[class_dim]
    logp = input.log_softmax(class_dim)
    if target.is_floating_point():
        # class probabilities
        if tuple(target.shape) != tuple(input.shape):
            raise RuntimeError(f"Expected target size {list(input.shape)}, got "
                               f"{list(target.shape)}")
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / n_classes
        prod = logp * target
        if weight is not None:
            wshape = [1] * input.dim()
            wshape[class_dim] = n_classes
            prod = prod * weight.reshape(wshape)
        if reduction == "none":
            return -prod.sum(dim=class_dim)
        if reduction == "sum":
            return -prod.sum()
        return -prod.sum() / (input.numel() / n_classes)
    nll = nll_loss(logp, target, weight, None, ignore_index, None, reduction)
    if label_smoothing == 0.0:
        return nll
    ignore_mask = target == ignore_index
    if weight is not None:
        wshape = [1] * input.dim()
        wshape[class_dim] = n_classes
        smooth = -(logp * weight.reshape(wshape)).sum(dim=class_dim)
    else:
        smooth = -logp.sum(dim=class_dim)
    smooth = _where(ignore_mask, 0.0, smooth)
    if reduction == "mean":
        if weight is not None:
            t_safe = _where(ignore_mask, 0, target)
            tw = weight.index_select(0, t_safe.reshape(-1)).reshape(t_safe.shape)
            ret = smooth.sum() / _where(ignore_mask, 0.0, tw).sum()
        else:
            ret = smooth.sum() / (~ignore_mask).sum().to(smooth.dtype)
    elif reduction == "sum":
        ret = smooth.sum()
    else:
        ret = smooth
    return (1 - label_smoothing) * nll + ret * (label_smoothing / n_classes)


@_kernel(_L.kl_div)
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    # kernel: _C.kl_div
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", stacklevel=2)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        pos = target > 0
        safe = _where(pos, target, 1.0)
        loss = _where(pos, target * safe.log(), 0.0) - target * input
    if reduction == "batchmean":
        if input.dim() == 0:
            return loss.sum()
        return loss.sum() / input.shape[0]
    return _reduce(loss, reduction)


@_kernel(_L.multi_margin_loss)
def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    # kernel: _C.multi_margin_loss
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    _check_reduction(reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.dim() != 1:
        raise ValueError("weight must be one-dimensional")
    squeeze = input.dim() <= 1
    x = input.reshape(1, -1) if squeeze else input
    t = target.reshape(-1)
    n, c = x.shape
    if t.shape[0] != n:
        raise RuntimeError(f"inconsistent target size, expected {n} but got {list(target.shape)}")
    _check_targets(t, c)
    x_y = x.gather(1, t.unsqueeze(1))
    z = (x - x_y + margin).clamp(min=0)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * weight.index_select(0, t).unsqueeze(1)
    not_target = flambeau.arange(c, device=x.device).unsqueeze(0) != t.unsqueeze(1)
    z = _where(not_target, z, 0.0)
    loss = z.sum(dim=1) / c
    if squeeze and reduction == "none":
        loss = loss.reshape(target.shape) if target.dim() == 0 else loss
    return _reduce(loss, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    # kernel: _C.soft_margin_loss
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    loss = (-target * input).exp().log1p()
    return _reduce(loss, reduction)


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                        reduction="mean"):
    # kernel: _C.margin_ranking_loss
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension "
                           f"but got sizes: input1: {input1.shape}, input2: {input2.shape}, "
                           f"target: {target.shape} ")
    loss = (-target * (input1 - input2) + margin).clamp(min=0)
    return _reduce(loss, reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    # kernel: _C.hinge_embedding_loss
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    margin_clamp = (margin - input).clamp(min=0)
    out_margin = _where(target != 1, margin_clamp, 0.0)
    out_self = _where(target != -1, input, 0.0)
    return _reduce(out_margin + out_self, reduction)


@_kernel(_L.cosine_embedding_loss)
def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                          reduction="mean"):
    # kernel: _C.cosine_embedding_loss
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    eps = 1e-12
    dim = input1.dim() - 1
    prod = (input1 * input2).sum(dim=dim)
    mag1 = (input1 * input1).sum(dim=dim) + eps
    mag2 = (input2 * input2).sum(dim=dim) + eps
    cos = prod / (mag1 * mag2).sqrt()
    pos = 1 - cos
    neg = (cos - margin).clamp(min=0)
    out = _where(target == 1, pos, 0.0) + _where(target == -1, neg, 0.0)
    return _reduce(out, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    # kernel: _C.poisson_nll_loss
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    _check_reduction(reduction)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        safe = _where(target > 1, target, 2.0)
        stirling = safe * safe.log() - safe + (2 * math.pi * safe).log() * 0.5
        loss = loss + _where(target > 1, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    # kernel: _C.gaussian_nll_loss
    if isinstance(var, numbers.Number):
        var = flambeau.full(tuple(input.shape), float(var), dtype=input.dtype, device=input.device)
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.shape[-1] == 1:
            pass
        else:
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    if bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    var = var.clamp(min=eps)  # PyTorch clamps a copy without tracking the clamp in autograd
    d = input - target
    loss = 0.5 * (var.log() + d * d / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    # kernel: _C.triplet_margin_loss
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    if margin <= 0:
        raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got {margin} "
                         "instead")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_swap = pairwise_distance(positive, negative, p, eps)
        d_neg = flambeau.minimum(d_neg, d_swap)
    loss = (d_pos - d_neg + margin).clamp(min=0)
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    # kernel: _C.multilabel_soft_margin_loss
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = loss.sum(dim=input.dim() - 1) / input.shape[-1]
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(reduction + " is not valid")


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    # kernel: _C.multilabel_margin_loss
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    _check_reduction(reduction)
    squeeze = input.dim() <= 1
    x = input.reshape(1, -1) if squeeze else input
    t = target.reshape(x.shape)
    n, c = x.shape
    tn = t.cpu().numpy()
    # targets are the class indices before the first -1 in each row
    is_target = np.zeros((n, c), dtype=bool)
    valid = np.zeros((n, c), dtype=bool)
    for i in range(n):
        for j in range(c):
            if tn[i, j] < 0:
                break
            if tn[i, j] >= c:
                raise IndexError(f"Target {tn[i, j]} is out of bounds.")
            is_target[i, tn[i, j]] = True
            valid[i, j] = True
    t_safe = _index(np.where(valid, tn, 0), x.device)
    x_t = x.gather(1, t_safe)                                    # (n, c) target scores
    z = (1 - (x_t.unsqueeze(2) - x.unsqueeze(1))).clamp(min=0)  # (n, j-target, k-class)
    mask = _const(valid[:, :, None] & ~is_target[:, None, :], z)
    loss = (z * mask).sum(dim=(1, 2)) / c
    if squeeze:
        loss = loss.reshape(()) if input.dim() == 1 else loss
    return _reduce(loss, reduction)


# ----------------------------------------------------------------------------------------------
# more pooling, upsampling, shuffling, embedding bags, gumbel-softmax, triplet loss with a distance:
# composites of the ops above (autograd through them)
# ----------------------------------------------------------------------------------------------
def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    """max_pool1d returning (values, indices) whatever return_indices says (PyTorch's name)."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    """max_pool2d returning (values, indices) whatever return_indices says (PyTorch's name)."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    """adaptive_max_pool1d returning (values, indices) (PyTorch's name)."""
    return adaptive_max_pool1d(input, output_size, return_indices=True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    """adaptive_max_pool2d returning (values, indices) (PyTorch's name)."""
    return adaptive_max_pool2d(input, output_size, return_indices=True)


def _unpool_output_size(input, kernel_size, stride, padding, output_size):
    """PyTorch's rule: the default size inverts max_pool's; an explicit output_size (spatial, or
    with the two leading dims) must lie strictly within one stride of it."""
    nd = len(kernel_size)
    default_size = [(input.shape[input.dim() - nd + d] - 1) * stride[d] + kernel_size[d]
                    - 2 * padding[d] for d in range(nd)]
    if output_size is None:
        ret = default_size
    else:
        output_size = [int(v) for v in output_size]
        if len(output_size) == nd + 2:
            output_size = output_size[2:]
        if len(output_size) != nd:
            raise ValueError(f"output_size should be a sequence containing {nd} or {nd + 2} "
                             f"elements, but it has a length of '{len(output_size)}'")
        for d in range(nd):
            min_size = default_size[d] - stride[d]
            max_size = default_size[d] + stride[d]
            if not (min_size < output_size[d] < max_size):
                raise ValueError(f'invalid output_size "{output_size}" (dim {d} must be between '
                                 f"{min_size} and {max_size})")
        ret = output_size
    for d in range(nd):
        if ret[d] < 0:
            raise ValueError("max_unpooling: output_size must contain non-negative spatial "
                             f"dimensions, but got output_size[{d}]={ret[d]}")
    return ret


def _max_unpool(name, input, indices, out_spatial):
    """Scatter input (N, C, *S) or (C, *S) into zeros of spatial size out_spatial at `indices`
    (flat positions in each output plane, as max_pool's return_indices gives them); the gradient
    gathers back from the same positions."""
    nd = len(out_spatial)
    if input.dim() not in (nd + 1, nd + 2):
        raise RuntimeError(f"{name}: expected a {nd + 1}D or {nd + 2}D input, got "
                           f"{list(input.shape)}")
    if indices.dtype != flambeau.int64:
        raise RuntimeError(f"{name}: indices must be int64, got {indices.dtype}")
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(f"{name}: expected indices of the input's shape {list(input.shape)}, "
                           f"got indices of shape {list(indices.shape)}")
    for d in range(1 if input.dim() == nd + 2 else 0, input.dim()):   # all but the batch dim
        if input.shape[d] == 0:
            raise RuntimeError(f"{name}: expected input to have non-zero size for non-batch "
                               f"dimensions, but got {list(input.shape)} with dimension {d} "
                               "being empty")
    plane = 1
    for v in out_spatial:
        plane *= int(v)
    in_plane = 1
    for v in input.shape[-nd:]:
        in_plane *= int(v)
    lead = tuple(input.shape[:-nd])
    x = input.reshape(lead + (in_plane,))
    idx = indices.reshape(tuple(x.shape))
    if idx.numel():
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= plane:
            bad = lo if lo < 0 else hi
            raise RuntimeError(f"{name}: found an invalid max index {bad} (output volumes are of "
                               f"size {'x'.join(str(int(s)) for s in out_spatial)}) for input of "
                               f"shape {list(input.shape)}")
    out = flambeau.zeros(lead + (plane,), dtype=input.dtype, device=input.device)
    out = out.scatter(-1, idx, x)
    return out.reshape(lead + tuple(int(s) for s in out_spatial))


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of max_pool1d: input (N, C, L) or (C, L), indices from max_pool1d's
    return_indices; the other outputs are zero."""
    k = _ntuple(kernel_size, 1, "kernel_size")
    s = k if stride is None else _ntuple(stride, 1, "stride")
    p = _ntuple(padding, 1, "padding")
    if input.dim() not in (2, 3):
        raise RuntimeError(f"max_unpool1d: expected a 2D or 3D input, got {list(input.shape)}")
    out = _unpool_output_size(input, k, s, p, output_size)
    return _max_unpool("max_unpool1d", input, indices, out)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of max_pool2d: input (N, C, H, W) or (C, H, W), indices from
    max_pool2d's return_indices; the other outputs are zero."""
    k = _ntuple(kernel_size, 2, "kernel_size")
    s = k if stride is None else _ntuple(stride, 2, "stride")
    p = _ntuple(padding, 2, "padding")
    if input.dim() not in (3, 4):
        raise RuntimeError(f"max_unpool2d: expected a 3D or 4D input, got {list(input.shape)}")
    out = _unpool_output_size(input, k, s, p, output_size)
    return _max_unpool("max_unpool2d", input, indices, out)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of max_pool3d: input (N, C, D, H, W) or (C, D, H, W), indices from
    max_pool3d's return_indices; the other outputs are zero (kernel: _C.max_unpool3d, CPU)."""
    k = _ntuple(kernel_size, 3, "kernel_size")
    s = k if stride is None else _ntuple(stride, 3, "stride")
    p = _ntuple(padding, 3, "padding")
    if input.dim() not in (4, 5):
        raise RuntimeError(f"max_unpool3d: expected a 4D or 5D input, got {list(input.shape)}")
    return _P3.max_unpool3d_kernel(input, indices, _unpool_output_size(input, k, s, p, output_size))


def _lp_finish(out, norm_type, window):
    return (flambeau.sign(out) * relu(out.abs())).mul(window).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling, PyTorch's formula: (sum over the window of x^p)^(1/p), computed as
    sign(a) * relu(|a|) * k, to the power 1/p, where a = avg_pool1d(x^p)."""
    if isinstance(norm_type, (int, float)):
        if norm_type == float("inf"):
            return max_pool1d(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
        if norm_type == -float("inf"):
            return -max_pool1d(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    if stride is not None:
        out = avg_pool1d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    else:
        out = avg_pool1d(input.pow(norm_type), kernel_size, padding=0, ceil_mode=ceil_mode)
    return _lp_finish(out, norm_type, _ntuple(kernel_size, 1, "kernel_size")[0])


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over 2-D windows (see lp_pool1d)."""
    kw, kh = _ntuple(kernel_size, 2, "kernel_size")
    if isinstance(norm_type, (int, float)):
        if norm_type == float("inf"):
            return max_pool2d(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
        if norm_type == -float("inf"):
            return -max_pool2d(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    if stride is not None:
        out = avg_pool2d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    else:
        out = avg_pool2d(input.pow(norm_type), kernel_size, padding=0, ceil_mode=ceil_mode)
    return _lp_finish(out, norm_type, kw * kh)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over 3-D windows (see lp_pool1d)."""
    kd, kh, kw = _ntuple(kernel_size, 3, "kernel_size")
    if isinstance(norm_type, (int, float)):
        if norm_type == float("inf"):
            return max_pool3d(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
        if norm_type == -float("inf"):
            return -max_pool3d(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    if stride is not None:
        out = avg_pool3d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    else:
        out = avg_pool3d(input.pow(norm_type), kernel_size, padding=0, ceil_mode=ceil_mode)
    return _lp_finish(out, norm_type, kd * kh * kw)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: interpolate(..., mode='nearest')."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: interpolate(..., mode='bilinear', align_corners=True)."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def channel_shuffle(input, groups):
    """Split the channels (dim 1) into `groups` groups and interleave them: (N, g, C/g, *) ->
    (N, C/g, g, *)."""
    if input.dim() <= 2:
        raise RuntimeError("channel_shuffle: expects input with > 2 dims, but got input with "
                           f"sizes {list(input.shape)}")
    groups = int(groups)
    if groups <= 0:
        raise RuntimeError("channel_shuffle: number of groups to divide channels in must be "
                           f"positive. Value of groups:{groups}")
    n, c = input.shape[0], input.shape[1]
    if c % groups != 0:
        raise RuntimeError(f"channel_shuffle: number of channels must be divisible by groups. Got "
                           f"{c} channels and {groups} groups (input {list(input.shape)}).")
    rest = tuple(input.shape[2:])
    x = input.reshape((n, groups, c // groups) + rest).transpose(1, 2)
    return x.reshape(tuple(input.shape))


native_channel_shuffle = channel_shuffle


def _gumbel_noise(logits):
    """Gumbel(0, 1) samples of logits' shape, PyTorch's way: -log(Exponential(1))."""
    return -flambeau.empty_like(logits).exponential_().log()


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
    """Samples from the Gumbel-softmax distribution: softmax((logits + g) / tau) with g ~
    Gumbel(0, 1). hard=True returns one-hot vectors in the forward pass whose gradient is that of
    the soft sample (straight-through)."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    gumbels = (logits + _gumbel_noise(logits)) / tau
    y_soft = gumbels.softmax(dim)
    if not hard:
        return y_soft
    index = y_soft.max(dim, keepdim=True)[1]
    y_hard = flambeau.zeros_like(logits).scatter_(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin=1.0, swap=False, reduction="mean"):
    """max(d(a, p) - d(a, n) + margin, 0) with any distance function (pairwise_distance by
    default); swap=True uses min(d(a, n), d(p, n))."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a_dim, p_dim, n_dim = anchor.dim(), positive.dim(), negative.dim()
    if not (a_dim == p_dim and p_dim == n_dim):
        raise RuntimeError("triplet_margin_with_distance_loss: the anchor, positive, and negative "
                           "tensors are expected to have the same number of dimensions, but got: "
                           f"anchor {a_dim}D, positive {p_dim}D, and negative {n_dim}D inputs")
    if distance_function is None:
        distance_function = pairwise_distance
    dist_pos = distance_function(anchor, positive)
    dist_neg = distance_function(anchor, negative)
    if swap:
        dist_neg = flambeau.minimum(dist_neg, distance_function(positive, negative))
    loss = (margin + dist_pos - dist_neg).clamp_min(0)
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    return loss


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False,
                  padding_idx=None):
    """Sums, means or maxima of bags of embeddings, without the (L, D) intermediate per bag.

    input 1-D with offsets (bag b is input[offsets[b]:offsets[b+1]], the last bag runs to the end;
    with include_last_offset=True offsets has one more entry, len(input), that ends the last bag),
    or 2-D (B, N) without offsets (B bags of N). Entries equal to padding_idx are left out (and not
    counted by 'mean'); an empty bag gives zeros. per_sample_weights (mode='sum' only) scales each
    entry. Gradients flow to weight and per_sample_weights."""
    # kernel: _C.embedding_bag
    if weight.dtype == flambeau.int64 and input.is_floating_point():
        warnings.warn("Argument order of nn.functional.embedding_bag was changed. Usage "
                      "`embedding_bag(weight, input, ...)` is deprecated, and should now be "
                      "`embedding_bag(input, weight, ...)`.", stacklevel=2)
        weight, input = input, weight
    if per_sample_weights is not None and tuple(input.shape) != tuple(per_sample_weights.shape):
        raise ValueError(f"embedding_bag: If per_sample_weights ({list(per_sample_weights.shape)}) "
                         "is not None, then it must have the same shape as the input "
                         f"({list(input.shape)})")
    if weight.dim() != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.dim()}")
    if weight._impl.dtype not in ("float16", "bfloat16", "float32", "float64"):  # (an integer weight was summed)
        legacy = {"uint8": "torch.ByteTensor", "int8": "torch.CharTensor", "int16": "torch.ShortTensor",
                  "int32": "torch.IntTensor", "int64": "torch.LongTensor", "bool": "CPUBoolType",
                  "complex64": "CPUComplexFloatType", "complex128": "CPUComplexDoubleType"}
        raise RuntimeError("Expected tensor for argument #1 'weight' to have one of the following scalar types: Half, "
                           f"BFloat16, Float, Double; but got {legacy.get(weight._impl.dtype, weight.dtype)} instead "
                           "(while checking arguments for embedding_bag)")
    if input.is_floating_point() or input.dtype == flambeau.bool:
        raise RuntimeError("embedding_bag: expected indices (argument 'input') of an integer type, "
                           f"but got {input.dtype}")
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a "
                             "mini-batch of fixed length sequences. However, found offsets of type "
                             f"{type(offsets)}")
        n_bags, bag_len = input.shape
        if bag_len == 0 and n_bags > 0:
            raise RuntimeError(f"embedding_bag: a 2D input must have bags of at least one index, "
                               f"got input of shape {list(input.shape)}")
        starts = np.arange(n_bags, dtype=np.int64) * bag_len
        include_last_offset = False
        input = input.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    elif input.dim() == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.dim() != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        if offsets.is_floating_point() or offsets.dtype == flambeau.bool:
            raise RuntimeError("embedding_bag: expected offsets of an integer type, but got "
                               f"{offsets.dtype}")
        starts = offsets.cpu().numpy().astype(np.int64)
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.dim()}")
    if mode == "max":
        if scale_grad_by_freq:
            raise ValueError("max mode does not support scaling the gradient by the frequency")
        if sparse:
            raise ValueError("max mode does not support sparse weights")
    elif mode not in ("sum", "mean"):
        raise ValueError("mode has to be one of sum, mean or max")
    num_weights = weight.shape[0]
    if padding_idx is not None:
        padding_idx = int(padding_idx)
        if not -num_weights <= padding_idx < num_weights:
            raise RuntimeError("embedding_bag: padding_idx must be within the number of "
                               f"embeddings, {-num_weights} through {num_weights - 1}, but got "
                               f"{padding_idx}")
        if padding_idx < 0:
            padding_idx += num_weights
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError("embedding_bag: per_sample_weights was not None. "
                                  "per_sample_weights is only supported for mode='sum' "
                                  f"(got mode='{mode}'). Please open a feature request on GitHub.")
    if per_sample_weights is not None and per_sample_weights.dtype != weight.dtype:
        raise RuntimeError(f"embedding_bag: expected per_sample_weights of weight's dtype "
                           f"{weight.dtype}, got {per_sample_weights.dtype}")
    if input.dtype != flambeau.int64:
        input = input.to(flambeau.int64)

    length = input.shape[0]
    if len(starts):
        if starts[0] != 0:
            raise RuntimeError("embedding_bag: offsets[0] has to be 0, i.e., the first sequence in "
                               "the mini-batch has to start from position 0. However, got "
                               f"{int(starts[0])} (offsets {starts.tolist()})")
        if starts[-1] > length:
            raise RuntimeError(f"embedding_bag: offsets[-1] can not be greater than input's length "
                               f"{length} but got offsets[-1] of {int(starts[-1])}")
        if np.any(np.diff(starts) < 0):
            raise RuntimeError(f"embedding_bag: offsets must be non-decreasing, got "
                               f"{starts.tolist()}")
    # bag b is entries bounds[b]:bounds[b+1] (CSR). With include_last_offset the extra offset
    # should be len(input); when it is smaller the entries after it are left out (PyTorch's CPU
    # kernels disagree with each other there: its float32 sum path does this, others do not)
    bounds = starts if include_last_offset else np.append(starts, length)
    n_bags = max(len(bounds) - 1, 0)
    counts_np = np.diff(bounds) if n_bags else np.zeros(0, dtype=np.int64)
    used = int(bounds[-1]) if n_bags else 0
    dim = weight.shape[1]
    device = weight.device

    def long_tensor(arr):
        t = flambeau.from_numpy(np.ascontiguousarray(arr, dtype=np.int64))
        return t if str(device) == "cpu" else t.to(device)

    if max_norm is not None:
        _embedding_renorm_(weight, input[:used], max_norm, norm_type)
    idx = input[:used] if used != length else input
    try:  # (sparse: the rows' gradients become the sparse gradient's values, padding entries left out)
        rows = embedding(idx, weight, padding_idx if sparse else None, None, 2.0, scale_grad_by_freq,
                         sparse)                                                  # (used, D)
    except IndexError:
        lo, hi = int(idx.min()), int(idx.max())
        raise RuntimeError(f"embedding_bag: index {hi if hi >= num_weights else lo} is out of range "
                           f"for weight of shape {list(weight.shape)}") from None
    if used == 0:  # only empty bags: zeros (connected to weight's graph, as PyTorch's output is)
        return flambeau.zeros((n_bags, dim), dtype=weight.dtype, device=device) + rows.sum(0)
    keep = None if padding_idx is None else idx != padding_idx                # (used,)
    bag_of = np.repeat(np.arange(n_bags, dtype=np.int64), counts_np)
    seg = long_tensor(bag_of)

    if mode == "max":
        if keep is not None:
            rows = _where(keep.unsqueeze(1), rows, float("-inf"))
        # (B, Lmax) positions into rows; the short bags point at an extra row of -inf
        lmax = int(counts_np.max())
        pos = np.full((n_bags, lmax), used, dtype=np.int64)
        pos[bag_of, np.arange(used, dtype=np.int64) - bounds[bag_of]] = np.arange(used)
        filler = flambeau.full((1, dim), float("-inf"), dtype=rows.dtype, device=device)
        table = flambeau.cat([rows, filler], 0)
        bags = table.index_select(0, long_tensor(pos.reshape(-1))).reshape(n_bags, lmax, dim)
        out = bags.max(1)[0]
        if keep is not None:
            n_kept = flambeau.zeros((n_bags,), dtype=weight.dtype, device=device).index_add(
                0, seg, keep.to(weight.dtype))
            return _where((n_kept == 0).unsqueeze(1), 0.0, out)
        if np.any(counts_np == 0):
            return _where(_const((counts_np == 0)[:, None], out) > 0.5, 0.0, out)
        return out

    if keep is not None:
        rows = _where(keep.unsqueeze(1), rows, 0.0)       # padding entries out of the sums
    scale = None
    if per_sample_weights is not None:
        scale = per_sample_weights[:used] if used != length else per_sample_weights
    if mode == "mean":
        if keep is not None:       # the mean is over the entries that are not padding
            n_kept = flambeau.zeros((n_bags,), dtype=weight.dtype, device=device).index_add(
                0, seg, keep.to(weight.dtype))
            inv = (1.0 / n_kept.clamp_min(1.0)).index_select(0, seg)
        else:
            inv = _const(1.0 / np.maximum(counts_np, 1)[bag_of], rows)
        scale = inv
    if scale is not None:
        rows = rows * scale.unsqueeze(1)
    out = flambeau.zeros((n_bags, dim), dtype=weight.dtype, device=device)
    return out.index_add(0, seg, rows)


from ._linear_cross_entropy import linear_cross_entropy  # noqa: E402,F401
from .._functions.native_ops import conv_tbc  # noqa: E402,F401
from . import grad  # noqa: E402,F401  (torch.nn.functional.grad is torch.nn.grad)
