"""CPU autocast's input casts, as PyTorch's CPU autocast does them.

Inside an enabled `autocast("cpu", dtype=...)` region (bfloat16 by default, or float16), the ops of
PyTorch's CPU "lower_precision_fp" list that flambeau has (linear, matmul/mm/bmm, the convolutions
and transposed convolutions) cast their floating CPU arguments to the region's dtype (float64
arguments are left alone, as PyTorch's `is_eligible` does), and the losses of its "fp32" list cast
theirs to float32. The cast is a differentiable `.to()`, so gradients flow back to the float32
parameters in their own dtype. Other ops run in the dtype of their inputs, as in PyTorch.
"""
import functools

from .._dtype import _BY_NAME

# The dtype name the lower-precision ops cast to inside the innermost autocast region, or None
# (no region, a disabled one, or a CUDA region: CUDA autocast still runs in float32).
state = [None]

_CASTABLE = ("float32", "float16", "bfloat16")


def _cast(t, dt):
    if t is None or not hasattr(t, "_impl"):
        return t
    impl = t._impl
    if impl.dtype in _CASTABLE and impl.dtype != dt and impl.device == "cpu":
        return t.to(_BY_NAME[dt])
    return t


def lower(*tensors):
    """`tensors` with each floating CPU tensor (float64 excepted) cast to the autocast dtype."""
    dt = state[0]
    return tuple(_cast(t, dt) for t in tensors)


def to_float32(*tensors):
    """`tensors` with each float16/bfloat16 CPU tensor cast to float32 (PyTorch's fp32 op list)."""
    return tuple(_to_f32_arg(t) for t in tensors)


def _to_f32_arg(a):
    if isinstance(a, (list, tuple)):
        return type(a)(_to_f32_arg(x) for x in a)
    impl = getattr(a, "_impl", None)
    if impl is not None and impl.dtype in ("float16", "bfloat16") and impl.device == "cpu":
        return a.to(_BY_NAME["float32"])
    return a


def fp32_op(fn):
    """Decorator for the ops of PyTorch's CPU autocast "fp32" list (prod, cdist, trace, quantile,
    grid_sample, the 3-D poolings...): inside an autocast region their float16/bfloat16 arguments are
    cast to float32 first, so they compute and return float32 as PyTorch's do. Outside a region the
    cost is one test."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        if state[0] is not None:
            args = tuple(_to_f32_arg(a) for a in args)
            kwargs = {k: _to_f32_arg(v) for k, v in kwargs.items()}
        return fn(*args, **kwargs)
    return run


def lower_op(fn):
    """Decorator for the ops of PyTorch's CPU autocast "lower_precision_fp" list that are not written
    with `lower` inline (addmm, addbmm, baddbmm, prelu, vecdot): their floating tensor arguments are
    cast to the region's dtype."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        dt = state[0]
        if dt is not None:
            args = tuple(_cast(a, dt) if hasattr(a, "_impl") else a for a in args)
            kwargs = {k: (_cast(v, dt) if hasattr(v, "_impl") else v) for k, v in kwargs.items()}
        return fn(*args, **kwargs)
    return run


class full_precision:
    """Runs its block with CPU autocast's casts off: modules that PyTorch's CPU autocast leaves in
    float32 as a whole (GRU, LSTMCell, GRUCell: their kernels sit below autocast)."""

    def __enter__(self):
        self.saved = state[0]
        state[0] = None

    def __exit__(self, *exc):
        state[0] = self.saved
