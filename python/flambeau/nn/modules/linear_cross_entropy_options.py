"""nn.LinearCrossEntropyOptions (PyTorch 2.13): asks F.linear_cross_entropy for its chunked path, which walks the
batch in chunks of rows and never holds more than one chunk's (rows, num_classes) logits (recomputed in backward).

Same fields, checks and chunk-size rules as PyTorch's: batch_chunk_size, or chunking_method "aspect_ratio[:N]"
(chunks whose logits take about as much memory as the input, divided by N), "auto" resolving per dtype as on
PyTorch's CPU (float16/bfloat16: "aspect_ratio", else "aspect_ratio:2"). acc_dtype (default: float32 for half
inputs, else the input's dtype) is what the chunks compute in. acc_policy is accepted and kept for PyTorch's
API but flambeau has one policy, its "accurate" one (every intermediate in acc_dtype); allow_retain_graph is
always honoured (the backward recomputes from the saved inputs)."""
import dataclasses

import flambeau

__all__ = ["LinearCrossEntropyOptions"]


@dataclasses.dataclass(frozen=True)
class LinearCrossEntropyOptions:
    allow_retain_graph: bool = False
    batch_chunk_size: int = None
    chunking_method: str = "auto"
    acc_policy: str = "auto"
    acc_dtype: object = None

    def __post_init__(self):
        if self.acc_policy not in {"auto", "accurate", "balanced", "compact"}:
            raise ValueError(f"invalid acc_policy: {self.acc_policy!r}")
        if self.chunking_method is not None and self.chunking_method != "auto":
            name, sep, factor = self.chunking_method.partition(":")
            if not sep:
                factor = "1"
            if not (name == "aspect_ratio" and factor.isdigit() and int(factor) > 0):
                raise ValueError(f"invalid chunking_method: {self.chunking_method!r}")
        if not (self.batch_chunk_size is None or (isinstance(self.batch_chunk_size, int)
                                                  and not isinstance(self.batch_chunk_size, bool)
                                                  and self.batch_chunk_size > 0)):
            raise ValueError(f"batch_chunk_size must be positive int or None, got {self.batch_chunk_size!r}")
        if self.acc_dtype is not None and self.acc_dtype not in (flambeau.float16, flambeau.bfloat16,
                                                                 flambeau.float32, flambeau.float64):
            raise ValueError(f"acc_dtype must be one of {{None, torch.float16, torch.bfloat16, torch.float32, "
                             f"torch.float64}}, got {self.acc_dtype!r}. Pass acc_dtype=None to let the op pick "
                             "automatically.")

    @staticmethod
    def _chunk_for(method, num_batches, in_features, num_classes):
        factor = int(method.split(":", 1)[1]) if ":" in method else 1
        inc_factor = -(-num_classes // in_features)
        target = -(-num_batches // inc_factor)
        chunk = 1 << (target - 1).bit_length()  # the next power of two >= target
        return min(chunk // factor, num_batches)

    def _resolve(self, num_batches, in_features, num_classes, dtype):
        """(rows per chunk, accumulation dtype) for one call, with PyTorch's rules (see the module docstring)."""
        half = dtype in (flambeau.float16, flambeau.bfloat16)
        method = self.chunking_method
        if method == "auto":
            method = None if self.batch_chunk_size is not None else ("aspect_ratio" if half else "aspect_ratio:2")
        chunk = num_batches if self.batch_chunk_size is None else min(self.batch_chunk_size, num_batches)
        if method is not None:
            chunk = self._chunk_for(method, num_batches, in_features, num_classes)
            if self.batch_chunk_size is not None and self.batch_chunk_size != chunk:
                raise ValueError(f"batch_chunk_size (={self.batch_chunk_size}) and chunking_method ('{method}') "
                                 f"give different chunk sizes ({self.batch_chunk_size} vs {chunk}); pass only one.")
        acc = self.acc_dtype or (flambeau.float32 if half else dtype)
        return max(1, chunk), acc
