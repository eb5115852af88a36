"""Dynamically quantized Linear (torch.ao.nn.quantized.dynamic.Linear): qint8 weight; each call
quantizes the float input to quint8 with qparams from its own min/max (fbgemm's ChooseQuantizationParams
with reduce_range, as PyTorch's x86/fbgemm engine), multiplies in int8 and returns float32."""
import numpy as np

import flambeau as torch
from flambeau import nn, _C
from flambeau._fake_quantize import _choose_qparams
from .modules import _quantize_weight, _weight_vectors, _wrap


class Linear(nn.Module):
    _FLOAT_MODULE = nn.Linear

    def __init__(self, in_features, out_features, bias_=True, dtype=torch.qint8):
        super().__init__()
        if dtype is not torch.qint8:
            raise NotImplementedError(f"dynamic quantized Linear: dtype {dtype} is not supported by flambeau "
                                      "(qint8 only; float16 weights are not implemented)")
        self.in_features, self.out_features = in_features, out_features
        self._weight = torch.quantize_per_tensor(torch.zeros(out_features, in_features), 1.0, 0, torch.qint8)
        self._bias = torch.zeros(out_features) if bias_ else None
        self.version = 4

    def weight(self):
        return self._weight

    def bias(self):
        return self._bias

    def set_weight_bias(self, w, b):
        self._weight = w
        self._bias = None if b is None else b.detach().to(torch.float32).clone()

    def _get_name(self):
        return "DynamicQuantizedLinear"

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, dtype={self._weight.dtype}, "
                f"qscheme={self._weight.qscheme()}")

    def forward(self, x):
        if not isinstance(x, torch.Tensor) or x.dtype is not torch.float32:
            raise RuntimeError(f"dynamic quantized Linear: expected a float32 input, got {getattr(x, 'dtype', x)}")
        if x.dim() < 2:
            raise RuntimeError("The dimension of input tensor should be larger than or equal to 2")
        if x.shape[-1] != self.in_features:
            raise RuntimeError(f"dynamic quantized Linear: input of shape {tuple(x.shape)} does not match "
                               f"in_features={self.in_features}")
        lead = tuple(x.shape[:-1])
        x2 = x.detach().reshape(-1, self.in_features)
        if x2.numel():
            mn, mx = x2.min().item(), x2.max().item()
        else:
            mn = mx = 0.0
        scale, zp = _choose_qparams(mn, mx, 0, 255, False, reduce_range=True, fbgemm=False)
        # The weight's integers and per-channel vectors, kept for the current weight object (PyTorch packs
        # them once too, in set_weight_bias).
        cached = self.__dict__.get("_weight_cache")
        if cached is None or cached[0] is not self._weight:
            w_scales, w_zps = _weight_vectors(self._weight, self.out_features)
            cached = (self._weight, self._weight.int_repr()._impl, torch.from_numpy(w_zps)._impl,
                      torch.from_numpy(w_scales)._impl)
            self.__dict__["_weight_cache"] = cached
        y = _C.quantized_linear_dynamic(x2._impl, scale, zp, cached[1], cached[2], cached[3],
                                        None if self._bias is None else self._bias._impl, False)
        return _wrap(y).reshape(lead + (self.out_features,))

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        from flambeau.ao.quantization.qconfig import default_dynamic_qconfig
        if hasattr(mod, "qconfig") and mod.qconfig is not None:
            weight_observer = mod.qconfig.weight()
        else:
            weight_observer = default_dynamic_qconfig.weight()
        if weight_observer.dtype is not torch.qint8:
            raise NotImplementedError(f"dynamic quantized Linear: weight dtype {weight_observer.dtype} is not "
                                      "supported by flambeau (qint8 only)")
        weight_observer(mod.weight)
        qweight = _quantize_weight(mod.weight.detach().float(), weight_observer)
        q = cls(mod.in_features, mod.out_features, dtype=torch.qint8)
        q.set_weight_bias(qweight, mod.bias)
        return q
