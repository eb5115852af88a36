"""torch.ao.quantization: eager-mode post-training (static and dynamic) quantization and
quantization-aware training for Linear / Conv2d / ReLU models. FX graph mode and PT2E quantization
are not implemented (their entry points raise NotImplementedError)."""
from .observer import (ObserverBase, UniformQuantizationObserverBase, MinMaxObserver, MovingAverageMinMaxObserver,  # noqa: F401
                       PerChannelMinMaxObserver, MovingAveragePerChannelMinMaxObserver, HistogramObserver,
                       PlaceholderObserver, NoopObserver, default_observer, default_weight_observer,
                       default_per_channel_weight_observer, default_dynamic_quant_observer, default_histogram_observer,
                       default_placeholder_observer, weight_observer_range_neg_127_to_127)
from .fake_quantize import (FakeQuantizeBase, FakeQuantize, FusedMovingAvgObsFakeQuantize, default_fake_quant,  # noqa: F401
                            default_weight_fake_quant, default_per_channel_weight_fake_quant,
                            default_histogram_fake_quant, default_fused_act_fake_quant, default_fused_wt_fake_quant,
                            default_fused_per_channel_wt_fake_quant, disable_fake_quant, enable_fake_quant,
                            disable_observer, enable_observer)
from .qconfig import (QConfig, default_qconfig, default_per_channel_qconfig, default_dynamic_qconfig,  # noqa: F401
                      per_channel_dynamic_qconfig, default_qat_qconfig, get_default_qconfig, get_default_qat_qconfig,
                      qconfig_equals)
from .stubs import QuantStub, DeQuantStub, QuantWrapper  # noqa: F401
from .quantize import (propagate_qconfig_, prepare, prepare_qat, convert, quantize, quantize_qat,  # noqa: F401
                       quantize_dynamic, swap_module)
from .fuse_modules import fuse_modules, fuse_modules_qat, fuse_conv_bn, fuse_conv_bn_relu, get_fuser_method  # noqa: F401
from .quantization_mappings import (get_default_static_quant_module_mappings,  # noqa: F401
                                    get_default_qat_module_mappings, get_default_dynamic_quant_module_mappings,
                                    get_default_qconfig_propagation_list)
from . import observer, fake_quantize, qconfig, stubs, quantize as _quantize_module, fuse_modules as _fm  # noqa: F401,E402


def _not_implemented(name):
    def fn(*args, **kwargs):
        raise NotImplementedError(f"torch.ao.quantization.{name}: FX graph mode / PT2E quantization is not "
                                  "implemented by flambeau (eager mode only: prepare/prepare_qat/convert/"
                                  "quantize_dynamic)")
    fn.__name__ = name
    return fn


prepare_fx = _not_implemented("quantize_fx.prepare_fx")
prepare_qat_fx = _not_implemented("quantize_fx.prepare_qat_fx")
convert_fx = _not_implemented("quantize_fx.convert_fx")
