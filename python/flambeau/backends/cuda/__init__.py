"""flambeau.backends.cuda: whether CUDA was compiled in, and matmul precision switches."""
from ... import _C


def is_built():
    return bool(_C.cuda_is_built())


class _MatmulFlags:
    """matmul.allow_tf32: let float32 mm/bmm/matmul/linear on CUDA use TF32 tensor cores
    (mma.sync, float32 accumulation; inputs rounded to a 10-bit mantissa, so relative errors grow
    from ~1e-7 to ~1e-4). Off by default, as in PyTorch. Setting it reaches the C++ kernels at once;
    it has no effect on CPU tensors, nor on GPUs older than compute capability 8.0."""

    def __init__(self):
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True

    @property
    def allow_tf32(self):
        return bool(_C.cuda_matmul_allow_tf32())

    @allow_tf32.setter
    def allow_tf32(self, value):
        _C.cuda_set_matmul_allow_tf32(bool(value))


matmul = _MatmulFlags()


def preferred_linalg_library(backend=None):
    return "default"
