"""CPU autocast's input casts, as PyTorch's CPU autocast does them.

Inside an enabled `autocast("cpu", dtype=...)` region (bfloat16 by default, or float16), the ops of
PyTorch's CPU "lower_precision_fp" list that flambeau has (linear, matmul/mm/bmm, the convolutions
and transposed convolutions) cast their floating CPU arguments to the region's dtype (float64
arguments are left alone, as PyTorch's `is_eligible` does), and the losses of its "fp32" list cast
theirs to float32. The cast is a differentiable `.to()`, so gradients flow back to the float32
parameters in their own dtype. Other ops run in the dtype of their inputs, as in PyTorch.
"""
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
    return tuple(_cast(t, "float32") if t is not None and getattr(t, "_impl", None) is not None
                 and t._impl.dtype in ("float16", "bfloat16") else t for t in tensors)
