"""torch.nn.attention.bias: causal attention biases passed to scaled_dot_product_attention as attn_mask.

PyTorch's CausalBias is a Tensor subclass that intercepts scaled_dot_product_attention through
__torch_function__; flambeau's CausalBias is a plain object that F.scaled_dot_product_attention
recognises (a Tensor subclass with an override would switch the protocol on for the whole program:
_torch_function.py) (nn.attention._sdpa_prelude). Upper-left (or square) biases
run as is_causal=True, lower-right ones with their materialised bool mask, as PyTorch's math path does."""
import warnings
from enum import IntEnum, auto

import flambeau

__all__ = ["causal_upper_left", "causal_lower_right", "CausalVariant", "CausalBias"]


class CausalVariant(IntEnum):
    """UPPER_LEFT: tril(ones(L, S)); LOWER_RIGHT: tril(ones(L, S), diagonal=S - L)."""
    UPPER_LEFT = auto()
    LOWER_RIGHT = auto()


class CausalBias:
    """A causal (triangular) attention pattern of seq_len_q x seq_len_kv, materialised only when needed."""

    def __init__(self, variant, seq_len_q, seq_len_kv):
        if not isinstance(variant, CausalVariant):
            raise AssertionError(f"variant must be a CausalVariant, got {type(variant).__name__}")
        self.variant = variant
        self.seq_len_q = seq_len_q
        self.seq_len_kv = seq_len_kv
        if seq_len_q > seq_len_kv and variant == CausalVariant.LOWER_RIGHT:
            warnings.warn("Lower right causal bias will produce NaNs in the output when seq_len_q > seq_len_kv!",
                          stacklevel=2)

    def _upper_left(self, device):
        return flambeau.tril(flambeau.ones(self.seq_len_q, self.seq_len_kv, device=device, dtype=flambeau.bool))

    def _lower_right(self, device):
        return flambeau.tril(flambeau.ones(self.seq_len_q, self.seq_len_kv, device=device, dtype=flambeau.bool),
                             diagonal=self.seq_len_kv - self.seq_len_q)

    def _materialize(self, device=None):
        """The bias as a bool [seq_len_q, seq_len_kv] tensor (True: attend)."""
        if device is None:
            device = flambeau.device("cpu")
        if self.variant == CausalVariant.UPPER_LEFT:
            return self._upper_left(device)
        return self._lower_right(device)

    def __repr__(self):
        return self._materialize().__repr__()


def _two_sizes(name, size):
    if len(size) != 2:
        raise AssertionError(f"{name} only supports 2D tensors")
    return size


def causal_upper_left(*size):
    """CausalBias aligned to the upper-left corner (what is_causal=True means)."""
    seq_len_q, seq_len_kv = _two_sizes("causal_upper_left", size)
    return CausalBias(CausalVariant.UPPER_LEFT, seq_len_q, seq_len_kv)


def causal_lower_right(*size):
    """CausalBias aligned to the lower-right corner (the last query sees every key)."""
    seq_len_q, seq_len_kv = _two_sizes("causal_lower_right", size)
    return CausalBias(CausalVariant.LOWER_RIGHT, seq_len_q, seq_len_kv)
