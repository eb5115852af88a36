"""QConfig (torch.ao.quantization.qconfig): which observer / fake-quantize constructors a module's
activation and weight get."""
from collections import namedtuple

import flambeau as torch

from .observer import (default_observer, default_weight_observer, default_per_channel_weight_observer,
                       default_dynamic_quant_observer, HistogramObserver, MinMaxObserver, PlaceholderObserver,
                       MovingAverageMinMaxObserver, _PartialWrapper)
from .fake_quantize import (default_fake_quant, default_weight_fake_quant, default_per_channel_weight_fake_quant,
                            default_fused_act_fake_quant, default_fused_wt_fake_quant,
                            default_fused_per_channel_wt_fake_quant, FakeQuantize)


class QConfig(namedtuple("QConfig", ["activation", "weight"])):
    """QConfig(activation=ObserverClass.with_args(...), weight=...): constructors, not instances."""
    __slots__ = ()

    def __new__(cls, activation, weight):
        if isinstance(activation, torch.nn.Module) or isinstance(weight, torch.nn.Module):
            raise ValueError("QConfig received observer instance, please pass observer class instead. Use "
                             "MyObserver.with_args(x=1) to override arguments to constructor if needed")
        return super().__new__(cls, activation, weight)


default_qconfig = QConfig(activation=default_observer, weight=default_weight_observer)
default_per_channel_qconfig = QConfig(activation=default_observer, weight=default_per_channel_weight_observer)
default_dynamic_qconfig = QConfig(activation=default_dynamic_quant_observer, weight=default_weight_observer)
per_channel_dynamic_qconfig = QConfig(activation=default_dynamic_quant_observer,
                                      weight=default_per_channel_weight_observer)
default_qat_qconfig = QConfig(activation=default_fake_quant, weight=default_weight_fake_quant)
float_qparams_weight_only_qconfig = None  # (embedding quantization is not supported by flambeau)

_BACKENDS = ("fbgemm", "x86", "qnnpack", "onednn")


def _check_backend(backend):
    if backend not in _BACKENDS:
        raise AssertionError(f"backend: {backend} not supported. backend must be one of {list(_BACKENDS)}")


def get_default_qconfig(backend="x86", version=0):
    """PyTorch's choice: a HistogramObserver (reduce_range=True for fbgemm/x86) for activations and
    per-channel symmetric weights."""
    _check_backend(backend)
    if backend in ("fbgemm", "x86"):
        return QConfig(activation=HistogramObserver.with_args(reduce_range=True),
                       weight=default_per_channel_weight_observer)
    if backend == "qnnpack":
        return QConfig(activation=HistogramObserver.with_args(reduce_range=False), weight=default_weight_observer)
    return QConfig(activation=HistogramObserver.with_args(reduce_range=False),
                   weight=default_per_channel_weight_observer)


def get_default_qat_qconfig(backend="x86", version=1):
    _check_backend(backend)
    if version == 0:
        if backend in ("fbgemm", "x86"):
            return QConfig(activation=FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, quant_min=0,
                                                             quant_max=255, reduce_range=True),
                           weight=default_per_channel_weight_fake_quant)
        if backend == "qnnpack":
            return QConfig(activation=FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, quant_min=0,
                                                             quant_max=255, reduce_range=False),
                           weight=default_weight_fake_quant)
        return QConfig(activation=FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, quant_min=0,
                                                         quant_max=255), weight=default_per_channel_weight_fake_quant)
    from .fake_quantize import FusedMovingAvgObsFakeQuantize
    if backend in ("fbgemm", "x86"):
        return QConfig(activation=FusedMovingAvgObsFakeQuantize.with_args(observer=MovingAverageMinMaxObserver,
                                                                          quant_min=0, quant_max=255,
                                                                          reduce_range=True),
                       weight=default_fused_per_channel_wt_fake_quant)
    if backend == "qnnpack":
        return QConfig(activation=FusedMovingAvgObsFakeQuantize.with_args(observer=MovingAverageMinMaxObserver,
                                                                          quant_min=0, quant_max=255,
                                                                          reduce_range=False),
                       weight=default_fused_wt_fake_quant)
    return QConfig(activation=FusedMovingAvgObsFakeQuantize.with_args(observer=MovingAverageMinMaxObserver,
                                                                      quant_min=0, quant_max=255),
                   weight=default_fused_per_channel_wt_fake_quant)


def _activation_is_memoryless(qconfig):
    return False


def _partial_equal(a, b):
    if isinstance(a, _PartialWrapper) and isinstance(b, _PartialWrapper):
        return a.p.func == b.p.func and a.p.args == b.p.args and a.p.keywords == b.p.keywords
    return a == b


def qconfig_equals(q1, q2):
    if q1 is None or q2 is None:
        return q1 == q2
    return _partial_equal(q1.activation, q2.activation) and _partial_equal(q1.weight, q2.weight)
