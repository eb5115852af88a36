"""Module swaps of the eager-mode flow (torch.ao.quantization.quantization_mappings), restricted to the
modules flambeau implements quantized versions of."""
from flambeau import nn
import flambeau.ao.nn.intrinsic as nni
import flambeau.ao.nn.intrinsic.qat as nniqat
import flambeau.ao.nn.intrinsic.quantized as nniq
import flambeau.ao.nn.qat as nnqat
import flambeau.ao.nn.quantized as nnq
import flambeau.ao.nn.quantized.dynamic as nnqd

from .stubs import QuantStub, DeQuantStub

DEFAULT_STATIC_QUANT_MODULE_MAPPINGS = {
    QuantStub: nnq.Quantize,
    DeQuantStub: nnq.DeQuantize,
    nn.Linear: nnq.Linear,
    nn.Conv2d: nnq.Conv2d,
    nn.ReLU6: nnq.ReLU6,
    nni.LinearReLU: nniq.LinearReLU,
    nni.ConvReLU2d: nniq.ConvReLU2d,
    nnqat.Linear: nnq.Linear,
    nnqat.Conv2d: nnq.Conv2d,
    nniqat.LinearReLU: nniq.LinearReLU,
    nniqat.ConvReLU2d: nniq.ConvReLU2d,
}

DEFAULT_QAT_MODULE_MAPPINGS = {
    nn.Linear: nnqat.Linear,
    nn.Conv2d: nnqat.Conv2d,
    nni.LinearReLU: nniqat.LinearReLU,
    nni.ConvReLU2d: nniqat.ConvReLU2d,
}

DEFAULT_DYNAMIC_QUANT_MODULE_MAPPINGS = {
    nn.Linear: nnqd.Linear,
}

_INCLUDE_QCONFIG_PROPAGATE_LIST = {nn.Sequential}


def get_default_static_quant_module_mappings():
    return dict(DEFAULT_STATIC_QUANT_MODULE_MAPPINGS)


def get_default_qat_module_mappings():
    return dict(DEFAULT_QAT_MODULE_MAPPINGS)


def get_default_dynamic_quant_module_mappings():
    return dict(DEFAULT_DYNAMIC_QUANT_MODULE_MAPPINGS)


def get_default_qconfig_propagation_list():
    return (set(DEFAULT_STATIC_QUANT_MODULE_MAPPINGS) | set(DEFAULT_QAT_MODULE_MAPPINGS)
            | set(DEFAULT_DYNAMIC_QUANT_MODULE_MAPPINGS) | _INCLUDE_QCONFIG_PROPAGATE_LIST)


def no_observer_set():
    return set()
