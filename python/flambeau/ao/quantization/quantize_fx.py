"""torch.ao.quantization.quantize_fx: FX graph mode quantization is not implemented by flambeau."""
from . import prepare_fx, prepare_qat_fx, convert_fx  # noqa: F401
