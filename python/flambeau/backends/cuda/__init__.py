"""flambeau.backends.cuda: whether CUDA was compiled in, and matmul precision switches."""
from ... import _C


def is_built():
    return bool(_C.cuda_is_built())


class _MatmulFlags:
    """matmul.allow_tf32: our GEMMs are full float32 (TF32 is never used), so the flag records the
    user's wish but only False is honoured; it defaults to False as in PyTorch."""

    def __init__(self):
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()


def preferred_linalg_library(backend=None):
    return "default"
