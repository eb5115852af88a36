"""Convolutions: conv2d and conv_transpose2d (kernels: _C.conv2d / _C.conv2d_backward,
_C.conv_transpose2d / _C.conv_transpose2d_backward, csrc/cpu/conv.cpp).

One Function, `_Conv`, covers both ops (PyTorch's ConvolutionBackward0): its backward calls the
fused backward kernel that returns the input, weight and bias gradients in one call. That backward
is itself a Function (`_ConvBackward`), so create_graph=True gives correct higher derivatives: with
y = F(x, w) bilinear (F = conv or transposed conv without bias), gx = F_x*(g; w), gw = F_w*(g; x) and
gb = sum(g), the adjoint identities give

    d/dg = F(ggx, w) + F(x, ggw) + broadcast(ggb),   d/dx = F_x*(g; ggw),   d/dw = F_w*(g; ggx).

Argument checking happens in C++ (csrc/ops/conv.cpp) before any memory is touched; padding='same' /
'valid' are resolved here ('same' with an even kernel pads the extra row/column at the bottom/right,
as PyTorch does, through the kernel's asymmetric padding). 3-D (unbatched) inputs are accepted.
"""
from .. import _C
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from .zero_link import link_zero_to
from .shape import reshape, expand, unsqueeze, squeeze
from ..amp import _cast as _amp_cast
from .host_route import HostRouted
from . import conv_integer as _conv_integer


class _Params:
    """Static arguments of one convolution (lists of ints, as _C takes them); `spatial` is 2 (conv2d,
    csrc/cpu/conv.cpp) or 3 (conv3d, csrc/cpu/conv3d.cpp: _functions/conv3d.py builds those)."""

    __slots__ = ("transposed", "stride", "padding", "dilation", "groups", "output_padding", "spatial")

    def __init__(self, transposed, stride, padding, dilation, groups, output_padding=(0,), spatial=2):
        self.transposed = transposed
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.output_padding = output_padding
        self.spatial = spatial


# spatial dims -> (conv, conv backward, transposed conv, transposed conv backward); the same argument lists.
_on_host = HostRouted()
_KERNELS = {2: (_C.conv2d, _C.conv2d_backward, _C.conv_transpose2d, _C.conv_transpose2d_backward),
            # CPU kernels only: CUDA tensors go through the host (host_route.py)
            3: (_on_host.conv3d, _on_host.conv3d_backward, _on_host.conv_transpose3d,
                _on_host.conv_transpose3d_backward)}


def _fwd_impl(xi, wi, bi, p):
    conv, _, conv_t, _ = _KERNELS[p.spatial]
    if p.transposed:
        return conv_t(xi, wi, bi, p.stride, p.padding, p.output_padding, p.groups, p.dilation)
    return conv(xi, wi, bi, p.stride, p.padding, p.dilation, p.groups)


def _bwd_impl(gi, xi, wi, p, mask):
    _, conv_bwd, _, conv_t_bwd = _KERNELS[p.spatial]
    if p.transposed:
        return conv_t_bwd(gi, xi, wi, p.stride, p.padding, p.output_padding, p.groups, p.dilation, list(mask))
    return conv_bwd(gi, xi, wi, p.stride, p.padding, p.dilation, p.groups, list(mask))


def _opt_wrap(impl):
    return None if impl is None else _wrap(impl)


def _conv_apply(x, w, b, p):
    """F(x, w) + b, recorded for autograd when needed."""
    if _amp_cast.state[0] is not None:  # CPU autocast: every convolution in its lower-precision dtype
        x, w, b = _amp_cast.lower(x, w, b)
    dt = x._impl.dtype
    if w._impl.dtype == dt and (b is None or b._impl.dtype == dt):  # (mixed dtypes: the kernel's error)
        if x._impl.ndim == p.spatial + 2 and w._impl.ndim == p.spatial + 2 and (
                x._impl.shape[0] == 0 or (p.transposed and 0 in _transposed_sizes(x, w, p))):
            return _empty_batch(x, w, b, p)
        if dt in _conv_integer.INTEGER:
            return _conv_integer.integer_conv(x, w, b, p, _fwd_impl)  # exact, wrapping: PyTorch's int convs
    if _gs.enabled and (x._rg or w._rg or (b is not None and b._rg)):
        return _Conv.apply(x, w, b, p)
    return _wrap(_fwd_impl(x._impl, w._impl, None if b is None else b._impl, p))


def _transposed_sizes(x, w, p):
    """A transposed convolution's output sizes (PyTorch returns an empty result where one is 0; the kernels
    refuse it as too small)."""
    S = p.spatial
    per_dim = lambda v: list(v) * S if len(v) == 1 else list(v)  # noqa: E731
    pad = per_dim(p.padding) if len(p.padding) != 2 * S else list(p.padding[0::2])
    return [(n - 1) * s - 2 * a + d * (kk - 1) + o + 1 for n, s, a, d, kk, o in
            zip(x._impl.shape[2:], per_dim(p.stride), pad, per_dim(p.dilation), w._impl.shape[2:],
                per_dim(p.output_padding))]


def _empty_batch(x, w, b, p):
    """An empty batch: PyTorch's "empty" convolution backend, which only computes the output's shape (no
    kernel runs, so any dtype passes, the input may have empty spatial dims and a transposed
    convolution's output_padding is not held to stride/dilation). The channel, bias and kernel-size checks
    remain."""
    S = p.spatial
    op = ("conv_transpose%dd" if p.transposed else "conv%dd") % S
    xs, ws = list(x._impl.shape), list(w._impl.shape)
    C, k, groups = xs[1], ws[2:], p.groups

    def per_dim(v):
        return list(v) * S if len(v) == 1 else list(v)
    stride, dilation = per_dim(p.stride), per_dim(p.dilation)
    if any(v <= 0 for v in stride):
        raise RuntimeError(f"{op}: non-positive stride is not supported, got {p.stride}")
    if len(p.padding) == 2 * S:
        lo, hi = list(p.padding[0::2]), list(p.padding[1::2])
    else:
        lo = hi = per_dim(p.padding)
    if any(v < 0 for v in lo + hi):
        raise RuntimeError(f"{op}: negative padding is not supported, got {p.padding}")
    if groups < 1:
        raise RuntimeError(f"{op}: non-positive groups is not supported, got {groups}")
    if 0 in k:
        raise RuntimeError(f"{op}: kernel size must be positive, got weight {ws}")
    if p.transposed:
        if C != ws[0] or C % groups:
            raise RuntimeError(f"{op}: input {xs} has {C} channels, weight {ws} expects {ws[0]} (groups={groups})")
        out_c = ws[1] * groups
        opad = per_dim(p.output_padding)
        out = [(n - 1) * s - 2 * a + d * (kk - 1) + o + 1
               for n, s, a, d, kk, o in zip(xs[2:], stride, lo, dilation, k, opad)]
    else:
        if C != ws[1] * groups or ws[0] % groups:
            raise RuntimeError(f"{op}: input {xs} has {C} channels, weight {ws} expects {ws[1] * groups} "
                               f"(groups={groups})")
        out_c = ws[0]
        padded = [n + a + z for n, a, z in zip(xs[2:], lo, hi)]
        eff = [d * (kk - 1) + 1 for d, kk in zip(dilation, k)]
        if any(pd < e for pd, e in zip(padded, eff)):
            raise RuntimeError("Calculated padded input size per channel: (" + " x ".join(map(str, padded)) +
                               "). Kernel size: (" + " x ".join(map(str, eff)) +
                               f"). Kernel size can't be greater than actual input size ({op}: input {xs})")
        out = [(pd - e) // s + 1 for pd, e, s in zip(padded, eff, stride)]
    if any(v < 0 for v in out):  # (an empty output dim is fine here)
        raise RuntimeError(f"{op}: input {xs} with weight {ws} gives output size {out}, which is negative")
    if b is not None and (b._impl.ndim != 1 or b._impl.shape[0] != out_c):
        raise RuntimeError(f"{op}: bias {list(b._impl.shape)} should be 1-D with {out_c} elements (weight {ws})")
    res = _wrap(_C.full([xs[0], out_c] + out, 0, x._impl.dtype, x._impl.device))  # (xs[0]: 0, or an empty out)
    # joins the graph: the operands' gradients are zeros, and under create_graph=True they require grad
    # (PyTorch's come from convolution_backward(grad, input, weight))
    return link_zero_to(res, x, w, b, twice="none")


def _conv_grads(g, x, w, p, mask):
    """(grad_input, grad_weight, grad_bias) for the entries of mask that are True; differentiable
    when grad mode is on (create_graph=True)."""
    if _gs.enabled and (g._rg or x._rg or w._rg):
        return _ConvBackward.apply(g, x, w, p, tuple(mask))
    return tuple(_opt_wrap(t) for t in _bwd_impl(g._impl, x._impl, w._impl, p, mask))


class _Conv(Function):
    _builtin = True
    _grad_fn_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, x, w, b, p):
        ctx.p = p
        ctx.has_bias = b is not None
        ctx.save_for_backward(x, w)
        return _wrap(_fwd_impl(x._impl, w._impl, None if b is None else b._impl, p))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nig = ctx.needs_input_grad
        mask = (bool(nig[0]), bool(nig[1]), bool(ctx.has_bias and nig[2]))
        if not any(mask):
            return None, None, None, None
        gi, gw, gb = _conv_grads(g, x, w, ctx.p, mask)
        return gi, gw, gb, None


class _ConvBackward(Function):
    """The backward of a convolution as a differentiable op: (g, x, w) -> (gx, gw, gb)."""

    _builtin = True
    _grad_fn_name = "ConvolutionBackwardBackward0"

    @staticmethod
    def forward(ctx, g, x, w, p, mask):
        ctx.p = p
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(g, x, w)
        return tuple(_opt_wrap(t) for t in _bwd_impl(g._impl, x._impl, w._impl, p, mask))

    @staticmethod
    def backward(ctx, ggx, ggw, ggb):
        g, x, w = ctx.saved_tensors
        p = ctx.p
        nig = ctx.needs_input_grad
        dg = dx = dw = None
        if nig[0]:
            terms = []
            if ggx is not None:
                terms.append(_conv_apply(ggx, w, None, p))
            if ggw is not None:
                terms.append(_conv_apply(x, ggw, None, p))
            if ggb is not None:
                terms.append(expand(reshape(ggb, (1, -1) + (1,) * p.spatial), tuple(g._impl.shape)))
            for t in terms:
                dg = t if dg is None else dg + t
        if nig[1] and ggw is not None:
            dx = _conv_grads(g, x, ggw, p, (True, False, False))[0]
        if nig[2] and ggx is not None:
            dw = _conv_grads(g, ggx, w, p, (False, True, False))[1]
        return dg, dx, dw, None, None


# ---------------------------------------------------------------------------------------------------
# argument handling

def _int_list(v, name, op, spatial=2):
    if isinstance(v, (tuple, list)):
        if len(v) not in (1, spatial):
            raise RuntimeError(f"{op}: expected {name} to be a single integer value or a list of {spatial} values, "
                               f"but got {name}={list(v)}")
        return [_as_int(e, name, op) for e in v]
    return [_as_int(v, name, op)]


def _as_int(v, name, op):
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise TypeError(f"{op}(): argument '{name}' must be an int or a tuple of ints, not {type(v).__name__}")
    return v.__index__()


def _pair(v):
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def _check_tensors(op, input, weight, bias):
    for name, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(t).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{op}(): argument 'bias' must be Tensor, not {type(bias).__name__}")


def _unbatched(op, input, spatial=2):
    nd = input._impl.ndim
    if nd not in (spatial + 1, spatial + 2):
        raise RuntimeError(f"Expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input to {op}, but got "
                           f"input of size: {list(input._impl.shape)}")
    return nd == spatial + 1


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution over an NCHW (or unbatched CHW) input; PyTorch's signature and semantics."""
    _check_tensors("conv2d", input, weight, bias)
    stride = _int_list(stride, "stride", "conv2d")
    dilation = _int_list(dilation, "dilation", "conv2d")
    if isinstance(padding, str):
        if padding == "valid":
            padding = [0]
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            if weight._impl.ndim != 4:
                raise RuntimeError(f"conv2d: expected a 4-D weight, got shape {list(weight._impl.shape)}")
            kh, kw = weight._impl.shape[2], weight._impl.shape[3]
            dh, dw = _pair(dilation)
            th, tw = dh * (kh - 1), dw * (kw - 1)
            padding = [th // 2, th - th // 2, tw // 2, tw - tw // 2]
        else:
            raise ValueError(f"Invalid padding string '{padding}', should be one of ['valid', 'same']")
    else:
        padding = _int_list(padding, "padding", "conv2d")
    groups = int(groups)
    p = _Params(False, stride, padding, dilation, groups)
    if _unbatched("conv2d", input):
        return squeeze(_conv_apply(unsqueeze(input, 0), weight, bias, p), 0)
    return _conv_apply(input, weight, bias, p)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution ("deconvolution"), the adjoint of conv2d; PyTorch's signature."""
    _check_tensors("conv_transpose2d", input, weight, bias)
    if isinstance(padding, str):
        raise RuntimeError("conv_transpose2d: padding must be an int or a tuple of ints (string padding is not "
                           "supported for transposed convolutions)")
    p = _Params(True, _int_list(stride, "stride", "conv_transpose2d"),
                _int_list(padding, "padding", "conv_transpose2d"), _int_list(dilation, "dilation", "conv_transpose2d"),
                int(groups), _int_list(output_padding, "output_padding", "conv_transpose2d"))
    if _unbatched("conv_transpose2d", input):
        return squeeze(_conv_apply(unsqueeze(input, 0), weight, bias, p), 0)
    return _conv_apply(input, weight, bias, p)
