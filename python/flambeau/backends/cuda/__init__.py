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


# scaled_dot_product_attention backend switches (one global state, shared with nn.attention.sdpa_kernel;
# flambeau runs only the math backend, see _sdp_flags)
from ._sdp_flags import is_enabled as _sdp_is_enabled, set_enabled as _sdp_set_enabled  # noqa: E402
from . import _sdp_flags  # noqa: E402


def enable_flash_sdp(enabled: bool):
    _sdp_set_enabled("flash", enabled)


def flash_sdp_enabled():
    return _sdp_is_enabled("flash")


def enable_mem_efficient_sdp(enabled: bool):
    _sdp_set_enabled("mem_efficient", enabled)


def mem_efficient_sdp_enabled():
    return _sdp_is_enabled("mem_efficient")


def enable_math_sdp(enabled: bool):
    _sdp_set_enabled("math", enabled)


def math_sdp_enabled():
    return _sdp_is_enabled("math")


def enable_cudnn_sdp(enabled: bool):
    _sdp_set_enabled("cudnn", enabled)


def cudnn_sdp_enabled():
    return _sdp_is_enabled("cudnn")


def allow_fp16_bf16_reduction_math_sdp(enabled: bool):
    _sdp_flags._fp16_bf16_reduction_math[0] = bool(enabled)


def fp16_bf16_reduction_math_sdp_allowed():
    return _sdp_flags._fp16_bf16_reduction_math[0]


def is_flash_attention_available():
    """False: flambeau has no flash-attention kernel (only the math backend)."""
    return False


def sdp_kernel(enable_flash=True, enable_math=True, enable_mem_efficient=True, enable_cudnn=True):
    """Deprecated (as in PyTorch): torch.nn.attention.sdpa_kernel with the backends given as flags."""
    import warnings
    from ...nn.attention import SDPBackend, sdpa_kernel
    warnings.warn("`torch.backends.cuda.sdp_kernel()` is deprecated. In the future, this context manager will be "
                  "removed. Please see `torch.nn.attention.sdpa_kernel()` for the new context manager, with updated "
                  "signature.", FutureWarning, stacklevel=2)
    backends = [b for b, on in ((SDPBackend.FLASH_ATTENTION, enable_flash),
                                (SDPBackend.EFFICIENT_ATTENTION, enable_mem_efficient),
                                (SDPBackend.MATH, enable_math), (SDPBackend.CUDNN_ATTENTION, enable_cudnn)) if on]
    return sdpa_kernel(backends)
