"""torch.cdist and F.pdist: p-norm distances between rows.

cdist(x1 [..., P, M], x2 [..., R, M]) -> [..., P, R], batch dims broadcast. Two paths, chosen as
PyTorch chooses them (so that the two libraries round alike):

 - Euclidean (p = 2) with more than 25 rows on either side, or compute_mode='use_mm_for_euclid_dist':
   ||a||^2 + ||b||^2 - 2 a.b from one batched product of the augmented rows [-2a, ||a||^2, 1] and
   [b, 1, ||b||^2], clamped at 0 and square-rooted (PyTorch's _euclidean_dist). Fast, but it loses
   the digits of distances much smaller than the norms. Gradient: PyTorch's _euclidean_dist_backward,
   in differentiable ops (0 where a distance is 0).
 - Otherwise the direct kernel `_C.cdist` (csrc/cpu/distance.cpp): coordinate differences, their
   powers summed in float64. Gradient `_C.cdist_backward` for x1, and for x2 the same with the
   operands swapped. CPU kernels (CUDA tensors go through the host, host_route.py); no double backward
   (PyTorch's has none either).
"""
from .. import _C
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs, no_grad
from .host_route import HostRouted
from ..amp import _cast as _amp_cast

_on_host = HostRouted()  # the direct kernels are CPU only: CUDA tensors go through the host (host_route.py)

_MODES = {"use_mm_for_euclid_dist_if_necessary": 0, "use_mm_for_euclid_dist": 1, "donot_use_mm_for_euclid_dist": 2}
_TYPE_NAMES = {"float32": "Float", "float64": "Double", "int64": "Long", "bool": "Bool", "int32": "Int", "int16": "Short", "int8": "Char",
               "uint8": "Byte", "float16": "Half", "bfloat16": "BFloat16", "complex64": "ComplexFloat",
               "complex128": "ComplexDouble"}


class Cdist(Function):
    _builtin = True
    _grad_fn_name = "CdistBackward0"

    @staticmethod
    def forward(ctx, x1, x2, p):
        out = _wrap(_on_host.cdist(x1._impl, x2._impl, p))
        ctx.p = p
        ctx.save_for_backward(x1, x2, out)
        return out

    @staticmethod
    def backward(ctx, g):
        if _gs.enabled:
            raise NotImplementedError("the derivative for '_cdist_backward' is not implemented.")
        x1, x2, out = ctx.saved_tensors
        p = ctx.p
        nig = ctx.needs_input_grad
        g = g.contiguous()
        gx1 = _wrap(_on_host.cdist_backward(g._impl, x1._impl, x2._impl, out._impl, p)) if nig[0] else None
        gx2 = None
        if nig[1]:
            gt, dt = g.transpose(-1, -2).contiguous(), out.transpose(-1, -2).contiguous()
            gx2 = _wrap(_on_host.cdist_backward(gt._impl, x2._impl, x1._impl, dt._impl, p))
        return gx1, gx2, None


class EuclideanDist(Function):
    _grad_fn_name = "EuclideanDistBackward0"

    @staticmethod
    def forward(ctx, x1, x2):
        import flambeau as fl
        with no_grad():
            n1 = (x1 * x1).sum(-1, keepdim=True)
            n2 = (x2 * x2).sum(-1, keepdim=True)
            a = fl.cat([x1 * -2, n1, fl.ones_like(n1)], -1)
            b = fl.cat([x2, fl.ones_like(n2), n2], -1)
            out = fl.matmul(a, b.transpose(-1, -2)).clamp_min_(0).sqrt_()
        ctx.save_for_backward(x1, x2, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x1, x2, res = ctx.saved_tensors
        ratio = (g / res).masked_fill(res == 0, 0)
        gx1 = x1 * ratio.sum(-1, keepdim=True) - ratio.matmul(x2)
        gx2 = x2 * ratio.sum(-2).unsqueeze(-1) - ratio.transpose(-1, -2).matmul(x1)
        return gx1, gx2


def _check(x1, x2, p, compute_mode):
    for name, x in (("X1", x1), ("X2", x2)):
        if not isinstance(x, Tensor):
            raise TypeError(f"cdist(): argument '{name.lower()}' must be Tensor, not {type(x).__name__}")
        if x._impl.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {x._impl.ndim}D")
    i1, i2 = x1._impl, x2._impl
    s1, s2 = i1.shape, i2.shape
    if s1[-1] != s2[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {s1[-1]} X2: {s2[-1]}")
    d1, d2 = i1.dtype, i2.dtype
    for name, d in (("X1", d1), ("X2", d2)):
        if d not in ("float32", "float64", "float16", "bfloat16"):
            raise RuntimeError(f"cdist only supports floating-point dtypes, {name} got: {_TYPE_NAMES[d]}")
    if d1 != d2:
        raise RuntimeError(f"expected scalar type {_TYPE_NAMES[d1]} but found {_TYPE_NAMES[d2]}")
    if i1.is_cuda != i2.is_cuda or (i1.is_cuda and i1.device != i2.device):
        raise RuntimeError(f"cdist: expected both inputs on one device, got {x1.device} and {x2.device}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if compute_mode not in _MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    return s1, s2


@_amp_cast.fp32_op
def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """Distances between each row of x1 [..., P, M] and each row of x2 [..., R, M]: [..., P, R]."""
    s1, s2 = _check(x1, x2, p, compute_mode)
    P, R, M = s1[-2], s2[-2], s1[-1]
    a, b = x1, x2
    # The kernels take 2-D operands or one common batch dim; other batches are broadcast, flattened,
    # and the result reshaped.
    flat = len(s1) != len(s2) or len(s1) > 3 or s1[:-2] != s2[:-2]
    if flat:
        from .shape import broadcast_shapes
        batch = tuple(broadcast_shapes(s1[:-2], s2[:-2]))
        nb = 1
        for n in batch:
            nb *= n
        a = x1.expand(batch + (P, M)).reshape(nb, P, M)
        b = x2.expand(batch + (R, M)).reshape(nb, R, M)
    mode = _MODES[compute_mode]
    p = float(p)
    if p == 2 and (mode == 1 or (mode == 0 and (P > 25 or R > 25))) and P * R * M > 0:
        out = EuclideanDist.apply(a, b)
    else:
        out = Cdist.apply(a, b, p)
    return out.reshape(batch + (P, R)) if flat else out


class Pdist(Function):
    _builtin = True
    _grad_fn_name = "PdistBackward0"

    @staticmethod
    def forward(ctx, x, p):
        out = _wrap(_on_host.pdist(x._impl, p))
        ctx.p = p
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        if _gs.enabled:
            raise NotImplementedError("the derivative for '_pdist_backward' is not implemented.")
        x, out = ctx.saved_tensors
        return _wrap(_on_host.pdist_backward(g.contiguous()._impl, x._impl, out._impl, ctx.p)), None


def pdist(input, p=2):
    """The distances between the rows of input [N, M] for i < j, row-major: N (N - 1) / 2 of them
    (`_C.pdist`, CPU; the direct differences as cdist's direct path)."""
    if not isinstance(input, Tensor) or input.dim() != 2:
        shape = list(input.shape) if isinstance(input, Tensor) else type(input).__name__
        raise RuntimeError(f"pdist only supports 2D tensors, got: {shape}")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    if not input.is_floating_point():
        raise RuntimeError("pdist only supports floating-point dtypes")
    return Pdist.apply(input, float(p))
