"""Which scaled_dot_product_attention backends are enabled: the flags behind torch.backends.cuda's
enable_*_sdp / *_sdp_enabled and torch.nn.attention.sdpa_kernel (PyTorch keeps them in one global
state shared by CPU and CUDA, and so does flambeau).

flambeau has one attention implementation, the math one (softmax(q k^T * scale + mask) v composed of
matmul/softmax ops), i.e. PyTorch's SDPBackend.MATH. It has no flash, memory-efficient, cuDNN or
overrideable kernel, so F.scaled_dot_product_attention runs only while MATH is enabled and otherwise
raises the RuntimeError PyTorch raises when no enabled backend can run."""

# name used by torch._C._set_sdp_use_<name>  ->  SDPBackend member name
BACKEND_NAMES = {"cudnn": "CUDNN_ATTENTION", "flash": "FLASH_ATTENTION", "mem_efficient": "EFFICIENT_ATTENTION",
                 "math": "MATH", "overrideable": "OVERRIDEABLE"}

_enabled = {name: True for name in BACKEND_NAMES}
_fp16_bf16_reduction_math = [False]


def set_enabled(name, enabled):
    _enabled[name] = bool(enabled)


def is_enabled(name):
    return _enabled[name]


def check_sdpa_can_run(op="scaled_dot_product_attention"):
    """Raise PyTorch's RuntimeError when the math backend is disabled (the only one flambeau has)."""
    if _enabled["math"]:
        return
    if _enabled["flash"]:
        # PyTorch on CPU would try its flash kernel here; flambeau has none to offer.
        raise RuntimeError(f"{op}: No available kernel.  Aborting execution. (flambeau implements only the "
                           "math backend, SDPBackend.MATH, which is disabled; FLASH_ATTENTION is not available)")
    raise RuntimeError(f"{op}: No viable backend for scaled_dot_product_attention was found. This is likely due "
                       "to turning off both the math kernel and the fused kernels. (flambeau implements only the "
                       "math backend, SDPBackend.MATH)")
