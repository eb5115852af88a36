"""nnq.Quantize / DeQuantize / Linear / Conv2d / ReLU6: what convert() puts in place of QuantStub,
DeQuantStub and the float (or QAT) modules. Linear and Conv2d run the int8 kernels of
csrc/cpu/quantized.cpp (fbgemm's arithmetic: uint8 activations, int8 weights, int32 accumulation,
float requantization); the quantized tensors are flambeau/_quantized.py's.

State: `weight()` / `bias()` and `scale` / `zero_point` as in PyTorch. PyTorch's state_dict keeps the
packed weight as `_packed_params._packed_params`; flambeau's keeps `weight` (the quantized tensor) and
`bias`, so a converted model's state_dict does not load across the two libraries."""
import numpy as np

import flambeau as torch
from flambeau import nn, _C
from flambeau._quantized import QuantizedTensor


def _quantize_weight(float_wt, observer):
    """The observed float weight as a qint8 tensor, per tensor or per channel as the observer's qscheme."""
    wt_scale, wt_zp = observer.calculate_qparams()
    if observer.qscheme in (torch.per_tensor_symmetric, torch.per_tensor_affine):
        return torch.quantize_per_tensor(float_wt, float(wt_scale), int(wt_zp), torch.qint8)
    if observer.qscheme in (torch.per_channel_symmetric, torch.per_channel_affine):
        return torch.quantize_per_channel(float_wt, wt_scale.to(torch.double), wt_zp.to(torch.int64),
                                          observer.ch_axis, torch.qint8)
    raise ValueError(f"Unexpected qscheme {observer.qscheme}")


def _check_input(x, op):
    if not isinstance(x, QuantizedTensor) or x.dtype is not torch.quint8 or x.qscheme() is not torch.per_tensor_affine:
        got = f"a quantized {x.dtype} ({x.qscheme()}) tensor" if isinstance(x, QuantizedTensor) else \
            f"a {type(x).__name__} of dtype {getattr(x, 'dtype', None)}"
        raise RuntimeError(f"{op}: expected a per-tensor quint8 quantized input (put a QuantStub before it), got {got}")


def _weight_vectors(qweight, n):
    """Per-output-channel int32 zero points and float32 scales of a qint8 weight (fbgemm's prepack)."""
    if qweight.qscheme() is torch.per_tensor_affine:
        scales = np.full(n, np.float32(qweight.q_scale()), dtype=np.float32)
        zps = np.full(n, qweight.q_zero_point(), dtype=np.int32)
    else:
        if qweight.q_per_channel_axis() != 0:
            raise NotImplementedError("quantized Linear/Conv2d: per-channel weights quantized along axis "
                                      f"{qweight.q_per_channel_axis()} (only 0) are not supported")
        scales = qweight.q_per_channel_scales().numpy().astype(np.float32)
        zps = qweight.q_per_channel_zero_points().numpy().astype(np.int32)
    return scales, zps



def _observers_of(mod, fused_cls, use_precomputed_fake_quant):
    """from_float's common start: the float module (unwrapped from its fused-ReLU form), its weight's
    observer (the QAT module's fake-quant, or a fresh one from the qconfig, run on the weight) and its
    output's observer."""
    if hasattr(mod, "weight_fake_quant"):
        weight_post_process = mod.weight_fake_quant
    else:
        if not hasattr(mod, "qconfig") or not mod.qconfig:
            raise AssertionError("Input float module must have qconfig defined")
        weight_post_process = None
    activation_post_process = mod.activation_post_process
    if weight_post_process is None:
        if type(mod) is fused_cls:
            mod = mod[0]
        weight_post_process = mod.qconfig.weight()
    if not use_precomputed_fake_quant:
        weight_post_process(mod.weight)
    return mod, weight_post_process, activation_post_process

class _WeightedQuantizedModule(nn.Module):
    """Holds the qint8 weight, the float bias, and the output scale / zero point."""

    def _setup(self, qweight, bias, scale=1.0, zero_point=0):
        self._weight = qweight
        self._bias = None if bias is None else bias.detach().to(torch.float32).clone()
        self.scale = float(scale)
        self.zero_point = int(zero_point)

    def weight(self):
        return self._weight

    def bias(self):
        return self._bias

    def set_weight_bias(self, w, b):
        if not isinstance(w, QuantizedTensor) or w.dtype is not torch.qint8:
            raise RuntimeError(f"{type(self).__name__}: the weight must be a qint8 quantized tensor")
        self._weight = w
        self._bias = None if b is None else b.detach().to(torch.float32).clone()

    def _vectors(self, x):
        """fbgemm's requantization constants, in float32: act_times_w_scale = x_scale * w_scale and
        multiplier = act_times_w_scale / out_scale. Kept for the last (weight, input scale, output scale):
        PyTorch packs the weight once too (set_weight_bias), and building them took 15 us of a 512 x 512
        Linear's ~270."""
        key = (id(self._weight), x.q_scale(), self.scale)
        cached = getattr(self, "_vectors_cache", None)
        if cached is not None and cached[0] == key and cached[1] is self._weight:
            return cached[2]
        out = self._compute_vectors(x)
        self.__dict__["_vectors_cache"] = (key, self._weight, out)  # not a parameter or buffer
        return out

    def _compute_vectors(self, x):
        n = self._weight.shape[0]
        w_scales, w_zps = _weight_vectors(self._weight, n)
        atws = (np.float32(x.q_scale()) * w_scales).astype(np.float32)
        mult = (atws / np.float32(self.scale)).astype(np.float32)
        q_w = self._weight.int_repr()
        return q_w, torch.from_numpy(w_zps), torch.from_numpy(atws), torch.from_numpy(mult)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        destination[prefix + "weight"] = self._weight
        destination[prefix + "bias"] = self._bias
        destination[prefix + "scale"] = torch.tensor(self.scale)
        destination[prefix + "zero_point"] = torch.tensor(self.zero_point)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        for key in ("weight", "bias", "scale", "zero_point"):
            if prefix + key not in state_dict:
                missing_keys.append(prefix + key)
        if prefix + "weight" in state_dict:
            self.set_weight_bias(state_dict.pop(prefix + "weight"), state_dict.pop(prefix + "bias", None))
        if prefix + "scale" in state_dict:
            self.scale = float(state_dict.pop(prefix + "scale"))
        if prefix + "zero_point" in state_dict:
            self.zero_point = int(state_dict.pop(prefix + "zero_point"))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, False, missing_keys, unexpected_keys,
                                      error_msgs)


class Quantize(nn.Module):
    """float -> quantized with fixed scale / zero point (what QuantStub becomes)."""

    def __init__(self, scale, zero_point, dtype, factory_kwargs=None):
        super().__init__()
        self.register_buffer("scale", torch.tensor([float(scale)]))
        self.register_buffer("zero_point", torch.tensor([int(zero_point)], dtype=torch.long))
        self.dtype = dtype

    def forward(self, X):
        return torch.quantize_per_tensor(X, float(self.scale), int(self.zero_point), self.dtype)

    @staticmethod
    def from_float(mod, use_precomputed_fake_quant=False):
        scale, zero_point = mod.activation_post_process.calculate_qparams()
        return Quantize(scale.float().item(), zero_point.long().item(), mod.activation_post_process.dtype)

    def extra_repr(self):
        return f"scale={self.scale}, zero_point={self.zero_point}, dtype={self.dtype}"


class DeQuantize(nn.Module):
    def forward(self, Xq):
        return Xq.dequantize()

    @staticmethod
    def from_float(mod, use_precomputed_fake_quant=False):
        return DeQuantize()


class Linear(_WeightedQuantizedModule):
    """Quantized Linear: quint8 input -> quint8 output with (scale, zero_point), qint8 weight, float bias."""
    _FLOAT_MODULE = nn.Linear
    _RELU = False

    def __init__(self, in_features, out_features, bias_=True, dtype=torch.qint8):
        super().__init__()
        if dtype is not torch.qint8:
            raise NotImplementedError(f"quantized Linear: weight dtype {dtype} is not supported (qint8 only)")
        self.in_features, self.out_features = in_features, out_features
        w = torch.quantize_per_tensor(torch.zeros(out_features, in_features), 1.0, 0, torch.qint8)
        self._setup(w, torch.zeros(out_features) if bias_ else None)

    def _get_name(self):
        return "QuantizedLinear" if not self._RELU else "QuantizedLinearReLU"

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, scale={self.scale}, "
                f"zero_point={self.zero_point}, qscheme={self._weight.qscheme()}")

    def forward(self, x):
        _check_input(x, "quantized::linear")
        if x.shape[-1] != self.in_features:
            raise RuntimeError(f"quantized::linear: input of shape {tuple(x.shape)} does not match in_features="
                               f"{self.in_features}")
        lead = tuple(x.shape[:-1])
        q_w, w_zps, atws, mult = self._vectors(x)
        y = _C.quantized_linear(x._q_int.reshape(-1, self.in_features)._impl, x.q_zero_point(), q_w._impl,
                                w_zps._impl, None if self._bias is None else self._bias._impl, atws._impl,
                                mult._impl, self.zero_point, self._RELU)
        from flambeau._quantized import _make
        return _make(_wrap(y).reshape(lead + (self.out_features,)), "quint8", torch.per_tensor_affine,
                     scale=self.scale, zp=self.zero_point)

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        from flambeau.ao.nn.intrinsic import LinearReLU
        mod, weight_post_process, activation_post_process = _observers_of(mod, LinearReLU, use_precomputed_fake_quant)
        if weight_post_process.dtype is not torch.qint8:
            raise AssertionError("Weight observer must have dtype torch.qint8")
        qweight = _quantize_weight(mod.weight.detach().float(), weight_post_process)
        act_scale, act_zp = activation_post_process.calculate_qparams()
        q = cls(mod.in_features, mod.out_features, dtype=torch.qint8)
        q.set_weight_bias(qweight, mod.bias)
        q.scale = float(act_scale)
        q.zero_point = int(act_zp)
        return q


def _wrap(impl):
    from flambeau._tensor import _wrap as w
    return w(impl)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class Conv2d(_WeightedQuantizedModule):
    """Quantized Conv2d (zeros padding): quint8 NCHW input -> quint8 output, qint8 weight, float bias."""
    _FLOAT_MODULE = nn.Conv2d
    _RELU = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        if padding_mode != "zeros":
            raise NotImplementedError(f"quantized Conv2d: padding_mode={padding_mode!r} is not supported by flambeau "
                                      "(zeros only)")
        if isinstance(padding, str):
            raise NotImplementedError("quantized Conv2d: string padding is not supported by flambeau")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation, self.groups = _pair(padding), _pair(dilation), groups
        self.padding_mode = padding_mode
        w = torch.quantize_per_tensor(torch.zeros(out_channels, in_channels // groups, *self.kernel_size), 1.0, 0,
                                      torch.qint8)
        self._setup(w, torch.zeros(out_channels) if bias else None)

    def _get_name(self):
        return "QuantizedConv2d" if not self._RELU else "QuantizedConvReLU2d"

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"scale={self.scale}, zero_point={self.zero_point}"
                + (f", padding={self.padding}" if self.padding != (0, 0) else "")
                + (f", dilation={self.dilation}" if self.dilation != (1, 1) else "")
                + (f", groups={self.groups}" if self.groups != 1 else "")
                + (", bias=False" if self._bias is None else ""))

    def forward(self, x):
        _check_input(x, "quantized::conv2d")
        if x.dim() != 4:
            raise ValueError(f"Input shape must be `(N, C, H, W)`!, got {tuple(x.shape)}")
        q_w, w_zps, atws, mult = self._vectors(x)
        y = _C.quantized_conv2d(x._q_int._impl, x.q_zero_point(), q_w._impl, w_zps._impl,
                                None if self._bias is None else self._bias._impl, atws._impl, mult._impl,
                                self.zero_point, list(self.stride), list(self.padding), list(self.dilation),
                                self.groups, self._RELU)
        from flambeau._quantized import _make
        return _make(_wrap(y), "quint8", torch.per_tensor_affine, scale=self.scale, zp=self.zero_point)

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        from flambeau.ao.nn.intrinsic import ConvReLU2d
        mod, weight_post_process, activation_post_process = _observers_of(mod, ConvReLU2d, use_precomputed_fake_quant)
        qweight = _quantize_weight(mod.weight.detach().float(), weight_post_process)
        act_scale, act_zp = activation_post_process.calculate_qparams()
        q = cls(mod.in_channels, mod.out_channels, mod.kernel_size, mod.stride, mod.padding, mod.dilation,
                mod.groups, mod.bias is not None, mod.padding_mode)
        q.set_weight_bias(qweight, mod.bias)
        q.scale = float(act_scale)
        q.zero_point = int(act_zp)
        return q


class ReLU6(nn.ReLU):
    """Quantized ReLU6: clamp the integers to [zero_point, zero_point + round(6 / scale)] (quantized::relu6)."""

    def __init__(self, inplace=False):
        super().__init__(inplace)

    def forward(self, input):
        if not isinstance(input, QuantizedTensor) or input.qscheme() is not torch.per_tensor_affine:
            raise RuntimeError("quantized ReLU6: expected a per-tensor quantized input")
        zp, s = input.q_zero_point(), input.q_scale()
        six = torch.quantize_per_tensor(torch.tensor([6.0]), s, zp, input.dtype).int_repr().item()
        return input._like(input._q_int.clamp(zp, six))

    def _get_name(self):
        return "QuantizedReLU6"

    @staticmethod
    def from_float(mod, use_precomputed_fake_quant=False):
        return ReLU6(mod.inplace)
