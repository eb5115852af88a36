"""Activations: one autograd Function per activation, each calling one fused `_C` kernel forward and
one backward (csrc/cpu/activation.cpp; float32 rows go to AVX2/AVX-512 leaves). The public functions
have torch.nn.functional's signatures and defaults.

What backward reads follows PyTorch: the output for sigmoid/tanh/relu and for the in-place elu,
the input otherwise. Under `create_graph=True` (double backward) the gradient is rebuilt from
differentiable flambeau ops instead of the fused kernel, so higher derivatives are right.

In-place variants (`inplace=True`, `relu_`, ...) write into the input: without autograd directly
through the kernel's out= argument; under autograd the result is computed out of place (from a
snapshot when backward needs the old input) and copied back, the input taking over its history,
as python-core's elementwise in-place ops do.
"""
import math
import struct as _struct
import warnings

from .. import _C
from .._tensor import Tensor, _wrap
from .._utils import wrap_dim
from ..autograd.function import Function, _is_fw_leaf, _take_history
from ..autograd.grad_mode import _state as _gs

_FLOAT = ("float32", "float64", "float16", "bfloat16")


def _check_tensor(x, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(x).__name__}")


def _snapshot(a):
    """A copy of `a` carrying a's place in the graph (for in-place ops whose backward reads the input)."""
    s = _wrap(_C.clone(a._impl))
    if a._rg:
        s._rg = True
        _take_history(s, a)
        from ._dispatch import _tangent_of
        fw = _tangent_of(a)
        if fw is not None:  # (a forward-AD tangent: autograd/forward_ad.py)
            s._fw = fw
    return s


def _rebase(a, r):
    """After an in-place op under autograd: `a` holds r's values and takes over r's history (for a
    view, its base gets a CopySlices history too: _dispatch._rebase)."""
    from ._dispatch import _rebase as rebase
    return rebase(a, r)


def _where(cond, a, b):
    from .elementwise import where
    return where(cond, a, b)


class _PiecewiseGrad(Function):
    """g * f'(s) for a piecewise-linear f, as a graph node (double backward): linear in g with the
    same kernel, and zero gradient for s (f'' = 0 almost everywhere), as PyTorch's
    threshold_backward / hardtanh_backward / leaky_relu_backward."""
    _builtin = True
    _grad_fn_name = "PiecewiseLinearBackwardBackward0"

    @staticmethod
    def forward(ctx, g, s, bwd, params):
        ctx.bwd, ctx.params = bwd, params
        ctx.save_for_backward(s)
        return _wrap(bwd(g._impl, s._impl, *params))

    @staticmethod
    def backward(ctx, gg):
        s, = ctx.saved_tensors
        gi = _PiecewiseGrad.apply(gg, s, ctx.bwd, ctx.params) if _gs.enabled else \
            _wrap(ctx.bwd(gg._impl, s._impl, *ctx.params))
        return gi, _full_like(s, 0.0), None, None


# ---------------------------------------------------------------- the pointwise Function
class _Pointwise(Function):
    """y = f(x; params). Subclasses set _fwd(xi, *params, out=None), _bwd(gi, si, *params),
    _save ('x' or 'y') and _graph_grad(g, s, *params) (differentiable, for create_graph)."""
    _builtin = True
    _save = "x"
    _piecewise_linear = False

    @classmethod
    def forward(cls, ctx, x, *params):
        y = _wrap(cls._fwd(x._impl, *params))
        ctx.params = params
        ctx.save_for_backward(y if cls._save == "y" else x)
        return y

    @classmethod
    def backward(cls, ctx, g):
        s, = ctx.saved_tensors
        params = ctx.params
        nones = (None,) * len(params)
        if _gs.enabled:  # double backward: a differentiable formula
            if cls._piecewise_linear:
                return (_PiecewiseGrad.apply(g, s, cls._bwd, params),) + nones
            return (cls._graph_grad(g, s, *params),) + nones
        return (_wrap(cls._bwd(g._impl, s._impl, *params)),) + nones


def _pointwise(name, fwd, bwd, save="x", graph_grad=None, piecewise_linear=False, grad_fn=None):
    return type(name, (_Pointwise,), {
        "_fwd": staticmethod(fwd), "_bwd": staticmethod(bwd), "_save": save,
        "_graph_grad": staticmethod(graph_grad) if graph_grad else None,
        "_piecewise_linear": piecewise_linear, "_grad_fn_name": grad_fn or name + "Backward0"})


def _apply(Fn, name, input, params, inplace=False):
    """Runs Fn on input (recording a graph when needed); inplace writes the result into input."""
    if not inplace and isinstance(input, Tensor) and not (input._rg and _gs.enabled):
        # The hot path (nothing to record): one kernel call. A non-float input makes the kernel
        # raise TypeError; the checks below then raise it in this function's words.
        try:
            return _wrap(Fn._fwd(input._impl, *params))
        except TypeError:
            pass
    _check_tensor(input, name)
    xi = input._impl
    if xi.dtype not in _FLOAT:
        raise TypeError(f"{name}: expected a floating-point tensor, got {xi.dtype} with shape {list(xi.shape)}")
    record = _gs.enabled and input._rg
    if not inplace:
        if record:
            return Fn.apply(input, *params)
        return _wrap(Fn._fwd(xi, *params))
    if record:
        if input.grad_fn is None and not _is_fw_leaf(input):
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        src = _snapshot(input) if Fn._save == "x" else input
        return _rebase(input, Fn.apply(src, *params))
    Fn._fwd(xi, *params, out=xi)
    return input


# ---------------------------------------------------------------- differentiable derivative formulas
_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_BETA = math.sqrt(2.0) * (2.0 / math.sqrt(math.pi)) * 0.5
_GELU_KAPPA = 0.044715


def _gg_sigmoid(g, y):
    return g * (y * (1.0 - y))


def _gg_tanh(g, y):
    return g * (1.0 - y * y)


def _at_kink_constant(s, below):
    """s where `below` holds, else s detached: a derivative formula's negative branch, taken at s == 0
    by the first-order value but, as in PyTorch's double backwards (masked with s < 0), with no
    derivative of its own there."""
    return _where(below, s, s.detach())


def _gg_elu(g, s, alpha, scale, input_scale, is_result=False):
    s_neg = _at_kink_constant(s, s < 0)
    if is_result:
        neg = (s_neg + alpha * scale) * input_scale
    else:
        neg = (s_neg * input_scale).exp() * (alpha * scale * input_scale)
    return g * _where(s > 0, _full_like(s, scale), neg)


def _full_like(s, v):
    return _wrap(_C.full(list(s._impl.shape), float(v), s._impl.dtype, s._impl.device))


def _gg_gelu(g, x, approximate):
    if approximate == "tanh":
        x2 = x * x
        inner = (x + x2 * x * _GELU_KAPPA) * _GELU_BETA
        th = inner.tanh()
        d_inner = (x2 * (3.0 * _GELU_KAPPA) + 1.0) * _GELU_BETA
        return g * ((th + 1.0) * 0.5 + x * 0.5 * (1.0 - th * th) * d_inner)
    cdf = ((x * _SQRT1_2).erf() + 1.0) * 0.5
    pdf = (x * x * -0.5).exp() * _INV_SQRT_2PI
    return g * (cdf + x * pdf)


def _gg_silu(g, x):
    sg = x.sigmoid()
    return g * (sg * (x * (1.0 - sg) + 1.0))


def _gg_mish(g, x):
    sg = x.sigmoid()
    tsp = softplus(x).tanh()
    return g * (tsp + x * sg * (1.0 - tsp * tsp))


def _gg_softplus(g, x, beta, threshold):
    xb = x * beta
    return _where(xb > threshold, g, g * _at_kink_constant(xb, xb < threshold).sigmoid())


def _gg_softsign(g, x):
    d = x.abs() + 1.0
    return g / (d * d)


def _gg_hardswish(g, x):
    mid = x / 3.0 + 0.5
    return g * _where(x <= -3.0, _full_like(x, 0.0), _where(x < 3.0, mid, _full_like(x, 1.0)))


def _gg_tanhshrink(g, x):
    t = x.tanh()
    return g * (t * t)


def _gg_logsigmoid(g, x):
    return g * (1.0 - x.sigmoid())


# ---------------------------------------------------------------- Functions
Sigmoid = _pointwise("Sigmoid", _C.act_sigmoid, _C.act_sigmoid_backward, "y", _gg_sigmoid)
Tanh = _pointwise("Tanh", _C.act_tanh, _C.act_tanh_backward, "y", _gg_tanh)
Relu = _pointwise("Relu", _C.act_relu, _C.act_relu_backward, "y", piecewise_linear=True)
LeakyRelu = _pointwise("LeakyRelu", _C.leaky_relu, _C.leaky_relu_backward, "x", piecewise_linear=True)
# In place, leaky_relu reads the result (same sign as the input for a positive slope), as PyTorch.
LeakyReluInplace = _pointwise("LeakyReluInplace", _C.leaky_relu, _C.leaky_relu_backward, "y",
                              piecewise_linear=True, grad_fn="LeakyReluBackward1")
Elu = _pointwise("Elu", lambda xi, a, s, i, out=None: _C.elu(xi, a, s, i, out=out),
                 lambda gi, si, a, s, i: _C.elu_backward(gi, si, a, s, i, False), "x",
                 lambda g, x, a, s, i: _gg_elu(g, x, a, s, i, False))
EluInplace = _pointwise("EluInplace", lambda xi, a, s, i, out=None: _C.elu(xi, a, s, i, out=out),
                        lambda gi, si, a, s, i: _C.elu_backward(gi, si, a, s, i, True), "y",
                        lambda g, y, a, s, i: _gg_elu(g, y, a, s, i, True), grad_fn="EluBackward1")
Celu = _pointwise("Celu", lambda xi, a, i, i32, out=None: _C.elu(xi, a, 1.0, i, out=out),
                  lambda gi, si, a, i, i32: _C.elu_backward(gi, si, a, 1.0, i32, False), "x",
                  lambda g, x, a, i, i32: _gg_elu(g, x, a, 1.0, i32, False), grad_fn="EluBackward0")
CeluInplace = _pointwise("CeluInplace", lambda xi, a, i, i32, out=None: _C.elu(xi, a, 1.0, i, out=out),
                         lambda gi, si, a, i, i32: _C.elu_backward(gi, si, a, 1.0, i32, True), "y",
                         lambda g, y, a, i, i32: _gg_elu(g, y, a, 1.0, i32, True), grad_fn="EluBackward1")
Gelu = _pointwise("Gelu", lambda xi, ap, out=None: _C.gelu(xi, ap, out=out), _C.gelu_backward, "x", _gg_gelu)
Silu = _pointwise("Silu", _C.silu, _C.silu_backward, "x", _gg_silu)
Mish = _pointwise("Mish", _C.mish, _C.mish_backward, "x", _gg_mish)
Softplus = _pointwise("Softplus", _C.softplus, _C.softplus_backward, "x", _gg_softplus)
Softsign = _pointwise("Softsign", _C.softsign, _C.softsign_backward, "x", _gg_softsign, grad_fn="DivBackward0")
Hardtanh = _pointwise("Hardtanh", _C.hardtanh, _C.hardtanh_backward, "x", piecewise_linear=True)
Hardsigmoid = _pointwise("Hardsigmoid", _C.hardsigmoid, _C.hardsigmoid_backward, "x", piecewise_linear=True)
Hardswish = _pointwise("Hardswish", _C.hardswish, _C.hardswish_backward, "x", _gg_hardswish)
Hardshrink = _pointwise("Hardshrink", _C.hardshrink, _C.hardshrink_backward, "x", piecewise_linear=True)
Softshrink = _pointwise("Softshrink", _C.softshrink, _C.softshrink_backward, "x", piecewise_linear=True)
Tanhshrink = _pointwise("Tanhshrink", _C.tanhshrink, _C.tanhshrink_backward, "x", _gg_tanhshrink,
                        grad_fn="SubBackward0")
Threshold = _pointwise("Threshold", lambda xi, th, v, out=None: _C.threshold(xi, th, v, out=out),
                       lambda gi, si, th, v: _C.threshold_backward(gi, si, th), "x", piecewise_linear=True)
LogSigmoid = _pointwise("LogSigmoid", _C.log_sigmoid, _C.log_sigmoid_backward, "x", _gg_logsigmoid)


# ---------------------------------------------------------------- public functions
# The public functions try the kernel first when no graph is recorded (the common inference and
# no-grad case, where per-call overhead matters most on small tensors); anything else takes the
# checked path of _apply.
_act_relu, _act_sigmoid, _act_tanh, _silu = _C.act_relu, _C.act_sigmoid, _C.act_tanh, _C.silu


def sigmoid(input):
    if isinstance(input, Tensor) and not (input._rg and _gs.enabled):
        try:
            return _wrap(_act_sigmoid(input._impl))
        except TypeError:
            pass
    return _apply(Sigmoid, "sigmoid", input, ())


def tanh(input):
    if isinstance(input, Tensor) and not (input._rg and _gs.enabled):
        try:
            return _wrap(_act_tanh(input._impl))
        except TypeError:
            pass
    return _apply(Tanh, "tanh", input, ())


def relu(input, inplace=False):
    if not inplace and isinstance(input, Tensor) and not (input._rg and _gs.enabled):
        # Hot path: float input, nothing to record. An integer input makes the kernel raise
        # TypeError and goes to the core's elementwise relu below.
        try:
            return _wrap(_act_relu(input._impl))
        except TypeError:
            pass
    if getattr(input, "is_quantized", False):  # a quantized tensor clamps its integers at the zero point
        return input.relu_() if inplace else input.relu()
    _check_tensor(input, "relu")
    if input._impl.dtype not in _FLOAT:  # integer relu: the core's elementwise op
        from .elementwise import relu as _relu, relu_ as _relu_
        return _relu_(input) if inplace else _relu(input)
    return _apply(Relu, "relu", input, (), inplace)


def relu_(input):
    return relu(input, inplace=True)


def _integer_hardtanh(input, min_val, max_val, inplace):
    """hardtanh (and relu6) of an integer tensor, as PyTorch: a clamp to the limits converted to the tensor's
    type (truncated toward zero, an out-of-range or NaN limit refused), unsigned types refusing negative
    limits. Integers have no gradient, so no graph is recorded."""
    dt = input._impl.dtype
    if dt == "uint8" and (min_val < 0 or max_val < 0):
        raise RuntimeError("cannot do hardtanh on an unsigned type with negative limits")
    try:
        lo, hi = int(min_val), int(max_val)
    except (ValueError, OverflowError):
        raise RuntimeError(f"value cannot be converted to type {dt}_t without overflow") from None
    return input.clamp_(lo, hi) if inplace else input.clamp(lo, hi)


def _is_integer_tensor(input):
    return isinstance(input, Tensor) and input._impl.dtype in ("uint8", "int8", "int16", "int32", "int64")


def relu6(input, inplace=False):
    if _is_integer_tensor(input):
        return _integer_hardtanh(input, 0, 6, inplace)
    return _apply(Hardtanh, "relu6", input, (0.0, 6.0), inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if _is_integer_tensor(input):
        return _integer_hardtanh(input, min_val, max_val, inplace)
    if isinstance(input, Tensor) and input._impl.dtype == "bool":
        raise RuntimeError(f"Bool inputs not supported for hardtanh (input of shape {list(input.shape)})")
    return _apply(Hardtanh, "hardtanh", input, (float(min_val), float(max_val)), inplace)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    slope = float(negative_slope)
    if inplace and _gs.enabled and isinstance(input, Tensor) and input._rg and slope < 0:
        raise RuntimeError("In-place leakyReLu backward calculation is triggered with a negative slope which is not "
                           "supported. This is caused by calling in-place forward function with a negative slope, "
                           "please call out-of-place version instead.")
    return _apply(LeakyReluInplace if inplace else LeakyRelu, "leaky_relu", input, (slope,), inplace)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def _elu_params(alpha, scale, input_scale, inplace, name):
    if inplace and alpha < 0:
        raise RuntimeError(f"In-place {name} does not support negative alpha (backward reads the result)")
    return (float(alpha), float(scale), float(input_scale))


def elu(input, alpha=1.0, inplace=False):
    p = _elu_params(alpha, 1.0, 1.0, inplace and _gs.enabled and input._rg, "elu")
    return _apply(EluInplace if inplace else Elu, "elu", input, p, inplace)


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    return _apply(EluInplace if inplace else Elu, "selu", input, (_SELU_ALPHA, _SELU_SCALE, 1.0), inplace)


def selu_(input):
    return selu(input, inplace=True)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    # PyTorch's forward scales by 1 / alpha, its backward by 1.0 / alpha.toFloat() (alpha rounded to
    # float32 first); keep both so float64 results agree to the last bit.
    inv32 = 1.0 / _struct.unpack("f", _struct.pack("f", float(alpha)))[0]
    a, _, inv = _elu_params(alpha, 1.0, 1.0 / alpha, inplace and _gs.enabled and input._rg, "celu")
    return _apply(CeluInplace if inplace else Celu, "celu", input, (a, inv, inv32), inplace)


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _apply(Gelu, "gelu", input, (approximate,))


def silu(input, inplace=False):
    if not inplace and isinstance(input, Tensor) and not (input._rg and _gs.enabled):
        try:
            return _wrap(_silu(input._impl))
        except TypeError:
            pass
    return _apply(Silu, "silu", input, (), inplace)


def mish(input, inplace=False):
    return _apply(Mish, "mish", input, (), inplace)


def softplus(input, beta=1.0, threshold=20.0):
    return _apply(Softplus, "softplus", input, (float(beta), float(threshold)))


def softsign(input):
    return _apply(Softsign, "softsign", input, ())


def hardsigmoid(input, inplace=False):
    return _apply(Hardsigmoid, "hardsigmoid", input, (), inplace)


def hardswish(input, inplace=False):
    return _apply(Hardswish, "hardswish", input, (), inplace)


def hardshrink(input, lambd=0.5):
    return _apply(Hardshrink, "hardshrink", input, (float(lambd),))


def softshrink(input, lambd=0.5):
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return _apply(Softshrink, "softshrink", input, (float(lambd),))


def tanhshrink(input):
    return _apply(Tanhshrink, "tanhshrink", input, ())


def threshold(input, threshold, value, inplace=False):
    return _apply(Threshold, "threshold", input, (float(threshold), float(value)), inplace)


def threshold_(input, threshold, value):
    return globals()["threshold"](input, threshold, value, inplace=True)


def logsigmoid(input):
    return _apply(LogSigmoid, "logsigmoid", input, ())


# ---------------------------------------------------------------- PReLU
class PRelu(Function):
    _builtin = True
    _grad_fn_name = "PreluKernelBackward0"

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return _wrap(_C.prelu(x._impl, w._impl))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        if _gs.enabled and (g._rg or x._rg or w._rg):  # create_graph=True: a node of its own, as PyTorch's
            return PReluBackward.apply(g, x, w)
        gx, gw = _C.prelu_backward(g._impl, x._impl, w._impl)
        need_x, need_w = ctx.needs_input_grad
        return (_wrap(gx) if need_x else None), (_wrap(gw) if need_w else None)


class PReluBackward(Function):
    """PReLU's backward under create_graph (PyTorch's _prelu_kernel_backward): the kernel's gradients,
    differentiated by derivatives.yaml's formulas, which test x >= 0 where the first order tests x > 0
    (so at x == 0 the second order is PyTorch's, not the derivative of the first order's where)."""

    _builtin = True
    _grad_fn_name = "PreluKernelBackwardBackward0"

    @staticmethod
    def forward(ctx, g, x, w):
        ctx.save_for_backward(g, x, w)
        gx, gw = _C.prelu_backward(g._impl, x._impl, w._impl)
        return _wrap(gx), _wrap(gw)

    @staticmethod
    def backward(ctx, ggx, ggw):
        g, x, w = ctx.saved_tensors
        nonneg = x >= 0
        wb = _prelu_weight_view(x, w)
        ggw = _prelu_weight_view(x, ggw)
        zero = _full_like(x, 0.0)
        d_g = _where(nonneg, ggx, ggx * wb + ggw * x)
        d_x = _where(nonneg, zero, g * ggw)
        d_w = _reduce_to_weight(_where(nonneg, zero, g * ggx), x, w)
        return d_g, d_x, d_w


def _prelu_weight_view(x, w):
    if w.numel() == 1:
        return w.reshape(())
    shape = [1] * x.dim()
    shape[1 if x.dim() >= 2 else 0] = w.numel()
    return w.reshape(shape)


def _reduce_to_weight(full, x, w):
    if w.numel() == 1:
        return full.sum().reshape(tuple(w.shape))
    cd = 1 if x.dim() >= 2 else 0
    dims = [d for d in range(x.dim()) if d != cd]
    r = full.sum(dims) if dims else full
    return r.reshape(tuple(w.shape))


def prelu(input, weight):
    _check_tensor(input, "prelu")
    if not isinstance(weight, Tensor):
        raise TypeError(f"prelu(): argument 'weight' must be Tensor, not {type(weight).__name__}")
    if _gs.enabled and (input._rg or weight._rg):
        return PRelu.apply(input, weight)
    return _wrap(_C.prelu(input._impl, weight._impl))


# ---------------------------------------------------------------- GLU
class Glu(Function):
    _builtin = True
    _grad_fn_name = "GluBackward0"

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        ctx.save_for_backward(x)
        return _wrap(_C.glu(x._impl, dim))

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        d = ctx.dim
        if _gs.enabled:
            from .shape import cat
            a, b = x.chunk(2, d)
            sb = b.sigmoid()
            return cat([g * sb, g * a * sb * (1.0 - sb)], d), None
        return _wrap(_C.glu_backward(g._impl, x._impl, d)), None


def glu(input, dim=-1):
    _check_tensor(input, "glu")
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = wrap_dim(dim, input.dim())
    if _gs.enabled and input._rg:
        return Glu.apply(input, d)
    return _wrap(_C.glu(input._impl, d))


# ---------------------------------------------------------------- softmax family
def _softmax_dim(name, ndim, stacklevel):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                  "dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    from .linalg import softmax as _softmax
    if dim is None:
        dim = _softmax_dim("softmax", input.dim(), _stacklevel)
    return _softmax(input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    from .linalg import log_softmax as _log_softmax
    if dim is None:
        dim = _softmax_dim("log_softmax", input.dim(), _stacklevel)
    return _log_softmax(input, dim, dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-input): the core's softmax kernels on the negated input (two passes, by design)."""
    from .linalg import softmax as _softmax
    if dim is None:
        dim = _softmax_dim("softmin", input.dim(), _stacklevel)
    if dtype is not None:
        from .._dtype import _to_dtype
        from .shape import _to
        input = _to(input, _to_dtype(dtype)._name, input._impl.device)
    return _softmax(-input, dim)


__all__ = ["sigmoid", "tanh", "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "elu",
           "elu_", "selu", "selu_", "celu", "celu_", "gelu", "silu", "mish", "softplus", "softsign", "hardsigmoid",
           "hardswish", "hardshrink", "softshrink", "tanhshrink", "threshold", "threshold_", "logsigmoid", "prelu",
           "glu", "softmax", "log_softmax", "softmin"]
