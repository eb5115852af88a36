"""flambeau.nn.attention: torch.nn.attention's backend selection for scaled_dot_product_attention
(SDPBackend, sdpa_kernel), plus the submodules bias (CausalBias) and flex_attention.

flambeau has only the math backend (SDPBackend.MATH). sdpa_kernel sets the same global flags as
torch.backends.cuda.enable_*_sdp; a backend set without MATH makes scaled_dot_product_attention raise
PyTorch's RuntimeError ("No available kernel" when FLASH_ATTENTION is in the set, which PyTorch's CPU
build would run, "No viable backend" otherwise) instead of pretending to run a fused kernel."""
import contextlib
from enum import IntEnum

from ...backends.cuda import _sdp_flags

__all__ = ["SDPBackend", "sdpa_kernel", "WARN_FOR_UNFUSED_KERNELS"]

WARN_FOR_UNFUSED_KERNELS = False


class SDPBackend(IntEnum):
    """The scaled_dot_product_attention backends, with PyTorch's values."""
    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


# PyTorch's default priority order of the backends (what set_priority=True reorders)
_priority = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH,
             SDPBackend.CUDNN_ATTENTION, SDPBackend.OVERRIDEABLE]


def _cur_sdpa_kernel_backends(with_priority=False):
    enabled = [SDPBackend[_sdp_flags.BACKEND_NAMES[name]] for name in _sdp_flags.BACKEND_NAMES
               if _sdp_flags.is_enabled(name)]
    if with_priority:
        return [b for b in _priority if b in enabled]
    return enabled


def _sdpa_kernel(backends, set_priority=False):
    for name, member in _sdp_flags.BACKEND_NAMES.items():
        _sdp_flags.set_enabled(name, SDPBackend[member] in backends)
    if set_priority:
        order = list(backends) + [b for b in _priority if b not in backends]
        _priority[:] = order


@contextlib.contextmanager
def sdpa_kernel(backends, set_priority=False):
    """Enable only `backends` (one SDPBackend or a list) for scaled_dot_product_attention inside the
    block (or the decorated function); the previous flags come back on exit."""
    if not isinstance(backends, (list, SDPBackend)):
        raise AssertionError("Backend must be an instance of SDPBackend or a list of SDPBackend instances, "
                             f"got {type(backends).__name__}")
    if isinstance(backends, SDPBackend):
        backends = [backends]
    backends = list(dict.fromkeys(backends))
    previous = _cur_sdpa_kernel_backends()
    previous_priority = list(_priority)
    try:
        _sdpa_kernel(backends, set_priority)
        yield {}
    finally:
        _sdpa_kernel(previous)
        _priority[:] = previous_priority


def _sdpa_prelude(query, key, attn_mask, is_causal):
    """What F.scaled_dot_product_attention does before computing: refuse when the math backend is
    disabled, and turn a CausalBias attn_mask into is_causal (upper-left, or equal lengths) or its
    materialised bool mask (lower-right), as PyTorch's CausalBias dispatch does."""
    _sdp_flags.check_sdpa_can_run()
    from .bias import CausalBias, CausalVariant
    if isinstance(attn_mask, CausalBias):
        if is_causal:
            raise ValueError("CausalBias should not be used with causal=True")
        if attn_mask.seq_len_q == attn_mask.seq_len_kv or attn_mask.variant == CausalVariant.UPPER_LEFT:
            return None, True
        return attn_mask._materialize(query.device), False
    return attn_mask, is_causal


from . import bias, flex_attention  # noqa: E402,F401
