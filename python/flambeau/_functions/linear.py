"""F.linear as one `_C.linear` call: the GEMM computes x @ W^T with the bias added in its epilogue
(csrc/cpu/matmul.cpp), instead of a matmul followed by a broadcast add. Backward is two GEMMs and a
column sum, written with differentiable ops so double backward works."""
from .. import _C
from .._tensor import Tensor, _wrap, _wrap_view
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from .linalg import mm
from .shape import reshape, transpose, broadcast_shapes
from ..amp import _cast as _amp_cast

_INTEGER = frozenset(("int64", "int32", "int16", "int8", "uint8"))
_FLOAT = frozenset(("float32", "float64", "float16", "bfloat16"))
_DENSE = _C.TensorImpl


class Linear(Function):
    _builtin = True
    _grad_fn_name = "AddmmBackward0"

    @staticmethod
    def forward(ctx, x, w, b):
        nig = ctx.needs_input_grad
        ctx.save_for_backward(x if nig[1] else None, w if nig[0] else None)
        return _wrap(_C.linear(x._impl, w._impl, None if b is None else b._impl))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nig = ctx.needs_input_grad
        return (mm(g, w) if nig[0] else None,
                mm(transpose(g, 0, 1), x) if nig[1] else None,
                g.sum(0) if len(nig) > 2 and nig[2] else None)


def linear(input, weight, bias=None):
    """y = input @ weight.T + bias, for input (*, in_features) and weight (out_features, in_features)."""
    r = _linear_common(input, weight, bias)
    return r if r is not None else _linear_general(input, weight, bias)


def _linear_common(input, weight, bias):
    """The common case of every Linear layer, with checks on the impls (the general path's Tensor.shape,
    dim() and dtype reads cost ~3 us a call): dense float tensors of one dtype, a 2-D weight, a 1-D
    bias or none, a 2-D input (or 1-D, not empty) whose features match, no autocast. The same result
    and graph as _linear_general's; None when the case is not this one."""
    try:
        xi, wi = input._impl, weight._impl
        bi = None if bias is None else bias._impl
    except AttributeError:
        return None  # (not tensors: the general path raises its error)
    if type(xi) is not _DENSE or type(wi) is not _DENSE or _amp_cast.state[0] is not None:
        return None
    dt = xi.dtype
    xs, ws = xi.shape, wi.shape
    if len(ws) != 2 or wi.dtype != dt or dt not in _FLOAT or not xs or xs[-1] != ws[1]:
        return None
    if bi is not None and (type(bi) is not _DENSE or bi.dtype != dt or bi.shape != (ws[0],)):
        return None
    nd = len(xs)
    if nd == 2:
        if (input._rg or weight._rg or (bias is not None and bias._rg)) and _gs.enabled:
            return Linear.apply(input, weight, bias)
        return _wrap(_C.linear(xi, wi, bi))
    if nd == 1 and xs[0] and not ((input._rg or weight._rg or (bias is not None and bias._rg)) and _gs.enabled):
        # (a 1-D input is a 1-row batch, viewed back: the general path's reshapes, without a graph)
        out = _wrap(_C.linear(_C.reshape(xi, (1, xs[0])), wi, bi))
        return _wrap_view(_C.reshape(out._impl, (ws[0],)), out)
    return None


def _linear_general(input, weight, bias):
    if _amp_cast.state[0] is not None:  # CPU autocast: in its lower-precision dtype
        input, weight, bias = _amp_cast.lower(input, weight, bias)
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError("linear(): input and weight must be Tensors")
    if input.dim() == 0 or weight.dim() == 0 or input.shape[-1] != weight.shape[-1]:
        raise RuntimeError(
            f"linear: input of shape {tuple(input.shape)} and weight of shape {tuple(weight.shape)} "
            f"do not match (input has {input.shape[-1] if input.dim() else 0} features, weight expects "
            f"{weight.shape[-1] if weight.dim() else 0})")
    if input._impl.dtype == "bool" and weight._impl.dtype == "bool":
        return _bool_linear(input, weight, bias)
    if weight.dim() != 2 or input.dim() == 0 or input.dtype != weight.dtype or input._impl.dtype in _INTEGER or \
            (bias is not None and (bias.dim() != 1 or bias.dtype != input.dtype or bias.shape[0] != weight.shape[0])):
        # Rare shapes, mixed dtypes and integers: the general path (matmul promotes and broadcasts; integer
        # products and the bias add wrap around as PyTorch's addmm does).
        if bias is not None and weight.dim() != 2 and input.dim() >= 2:  # PyTorch's addmm route
            raise RuntimeError(f"linear: mat2 must be a matrix, got {weight.dim()}-D tensor (input of shape "
                               f"{list(input.shape)}, weight of shape {list(weight.shape)})")
        out = input.matmul(weight.t() if weight.dim() == 2 else weight)
        if bias is None:
            return out
        # the bias is added in place in PyTorch: it may broadcast to the output, not grow it
        try:
            fits = tuple(broadcast_shapes(out.shape, bias.shape)) == tuple(out.shape)
        except RuntimeError:
            fits = False
        if not fits:
            raise RuntimeError(f"linear: bias of shape {list(bias.shape)} does not broadcast to the output shape "
                               f"{list(out.shape)} (input {list(input.shape)}, weight {list(weight.shape)})")
        return out + bias
    if input.dim() == 2:
        return Linear.apply(input, weight, bias)
    lead = tuple(input.shape[:-1])
    out = Linear.apply(reshape(input, (-1, input.shape[-1])), weight, bias)
    return reshape(out, lead + (weight.shape[0],))


def _bool_linear(input, weight, bias):
    """PyTorch's CPU GEMM kernels refuse bool, but only when there is an output to compute: the shapes
    are checked (and an empty result built) through the int64 path."""
    from .. import int64, bool as bool_
    out = linear(input.to(int64), weight.to(int64), None if bias is None else bias.to(int64))
    if out.numel() == 0:
        return out.to(bool_)
    kernel = ("dot" if input.dim() == 1 and weight.dim() == 1 else
              "addmv_impl_cpu" if input.dim() == 1 or weight.dim() == 1 else "addmm_impl_cpu_")
    raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")

