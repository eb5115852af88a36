"""Quantized tensors (torch.quint8 / qint8 / qint32): quantize_per_tensor, quantize_per_channel,
dequantize, int_repr and the q_* accessors.

A quantized tensor is its own class, `QuantizedTensor`, a subclass of Tensor, for the reason
_sparse.py gives for SparseCooTensor: dense tensors pay nothing (no flag for the hot paths to test),
and every dense method that has no quantized meaning here is replaced by one raising
NotImplementedError naming the op (PyTorch raises "Could not run 'aten::op' with arguments from the
'QuantizedCPU' backend" for those). `_impl` is a `_QuantMeta` holding only shape, dtype and device.

It holds (as PyTorch's QTensorImpl + its quantizer):
  _q_int     the integer representation, a plain tensor (uint8 for quint8, int8 for qint8, int32 for qint32)
  _q_scheme  per_tensor_affine or per_channel_affine
  _q_scale, _q_zp               per tensor: a Python float (kept as double, as q_scale()) and int
  _q_scales, _q_zps, _q_axis    per channel: float64 and int64 tensors, and the channel axis

Arithmetic (PyTorch's CPU kernels, checked bit for bit in tests/test_quantized_tensor.py):
  quint8/qint8 per tensor:  q = clamp(nearbyint(fma(x, inv, zp)), qmin, qmax), inv = 1.0f / float(scale)
                            (fbgemm's Quantize: the zero point added before rounding, in one fused step)
  qint32, and per channel:  q = clamp(nearbyint(zp + x * inv)), in float32 (two roundings)
  dequantize per tensor:  float(q - zp) * float(scale) in float32
  dequantize per channel: (q - zp) * scale in double, then rounded to float32
nearbyint rounds halves to even, which is what flambeau's round() does.
"""

import numpy as np

from ._tensor import Tensor, _blank, _disabled_torch_function_impl
from ._meta_impl import MetaOnlyImpl
from ._named_constant import NamedConstant
from . import _C
from ._dtype import _QUANTIZED, quint8, qint8, qint32, float32, float64, int64, _BY_NAME

# dtype name -> (storage dtype name, qmin, qmax)
_STORAGE = {"quint8": ("uint8", 0, 255), "qint8": ("int8", -128, 127), "qint32": ("int32", -2 ** 31, 2 ** 31 - 1)}


class qscheme(NamedConstant):
    """torch.qscheme: how a quantized tensor maps integers to reals."""
    __slots__ = ()


per_tensor_affine = qscheme("per_tensor_affine")
per_channel_affine = qscheme("per_channel_affine")
per_tensor_symmetric = qscheme("per_tensor_symmetric")
per_channel_symmetric = qscheme("per_channel_symmetric")
per_channel_affine_float_qparams = qscheme("per_channel_affine_float_qparams")
_QSCHEMES = {q._name: q for q in (per_tensor_affine, per_channel_affine, per_tensor_symmetric, per_channel_symmetric,
                                  per_channel_affine_float_qparams)}


def _qscheme_by_name(name):
    return _QSCHEMES[name]


qscheme._by_name = staticmethod(_qscheme_by_name)


class _QuantMeta(MetaOnlyImpl):
    """The `_impl` of a quantized tensor: shape/dtype/device only (see the module docstring)."""
    __slots__ = ()

    @property
    def itemsize(self):
        return _QUANTIZED[self.dtype].itemsize

    def __getattr__(self, name):
        raise NotImplementedError(
            f"this operation is not supported for quantized tensors: it needs a dense tensor's '{name}'; call "
            ".dequantize() first")


def _make(q_int, qdtype, scheme, scale=None, zp=None, scales=None, zps=None, axis=None):
    t = _blank(QuantizedTensor)
    t._impl = _QuantMeta(tuple(q_int._impl.shape), qdtype, q_int._impl.device)
    t._rg = False
    t._q_int = q_int
    t._q_scheme = scheme
    t._q_scale = scale
    t._q_zp = zp
    t._q_scales = scales
    t._q_zps = zps
    t._q_axis = axis
    return t


def _unsupported(name):
    def op(self, *args, **kwargs):
        raise NotImplementedError(f"{name}: not supported for quantized tensors ({self.dtype}) by flambeau; call "
                                  ".dequantize() first")
    op.__name__ = name
    return op


def _qdtype(dtype, op):
    name = getattr(dtype, "_name", None)
    if name not in _STORAGE:
        raise RuntimeError(f"{op}: ScalarType {dtype} is not supported in new_qtensor (expected flambeau.quint8, "
                           "flambeau.qint8 or flambeau.qint32)")
    return name


def _check_float_input(x, op):
    if not isinstance(x, Tensor) or isinstance(x, QuantizedTensor) or getattr(x, "is_sparse", False):
        raise TypeError(f"{op}: expected a dense float32 tensor, got {type(x).__name__}")
    if x._impl.dtype != "float32":
        raise RuntimeError(f"{op}: Quantize only works on Float Tensor, got {x.dtype} (input of shape "
                           f"{tuple(x.shape)})")


def _quantize_values(x, inv, zp, qdtype, fma=None):
    """The integer representation of float32 `x` for reciprocal scale(s) `inv` (float32: a number or a
    tensor broadcasting against x) and zero point(s) `zp` (a number or float32 tensor)."""
    from . import no_grad
    storage, qmin, qmax = _STORAGE[qdtype]
    xi = x._impl
    if xi.dtype == "float32" and xi.device == "cpu" and not isinstance(inv, Tensor) and not isinstance(zp, Tensor):
        # one pass in C++ (csrc/cpu/quantized.cpp: quantize_per_tensor), the same arithmetic as below
        from ._tensor import _wrap
        return _wrap(_C.quantize_per_tensor(xi, float(inv), int(zp), storage, qmin, qmax,
                                            qdtype != "qint32" and fma is not None))
    with no_grad():
        x = x.detach()
        if qdtype == "qint32" or fma is None:  # PyTorch's scalar path: round(zp + x * inv), in float32
            v = (x * inv + zp).round().to(float64)
        else:
            # fbgemm's path (vector body and scalar tail alike): round(fma(x, inv, zp)). The product is
            # exact in float64, so rounding x * inv + zp once to float32 is the fused multiply-add.
            v = (x.to(float64) * inv + zp).to(float32).round()
        return v.clamp(qmin, qmax).to(_BY_NAME[storage])


def _f32(v):
    return float(np.float32(v))


def quantize_per_tensor(input, scale, zero_point, dtype):
    """torch.quantize_per_tensor(input, scale, zero_point, dtype); a list of tensors gives a list."""
    if isinstance(input, (list, tuple)):
        scales = scale.tolist() if isinstance(scale, Tensor) else list(scale)
        zps = zero_point.tolist() if isinstance(zero_point, Tensor) else list(zero_point)
        return [quantize_per_tensor(x, s, z, dtype) for x, s, z in zip(input, scales, zps)]
    qd = _qdtype(dtype, "quantize_per_tensor")
    _check_float_input(input, "quantize_per_tensor")
    if isinstance(scale, Tensor):
        scale = scale.item()
    if isinstance(zero_point, Tensor):
        zero_point = zero_point.item()
    scale, zero_point = float(scale), int(zero_point)
    _, qmin, qmax = _STORAGE[qd]
    if not qmin <= zero_point <= qmax:
        raise RuntimeError(f"quantize_per_tensor: zero_point {zero_point} is out of range for {_QUANTIZED[qd]} "
                           f"[{qmin}, {qmax}]")
    inv = _f32(np.float32(1.0) / np.float32(scale))
    q = _quantize_values(input, inv, zero_point, qd, fma=True)
    return _make(q, qd, per_tensor_affine, scale=scale, zp=zero_point)


def quantize_per_channel(input, scales, zero_points, axis, dtype):
    """torch.quantize_per_channel(input, scales, zero_points, axis, dtype)."""
    from ._creation import tensor as _tensor
    qd = _qdtype(dtype, "quantize_per_channel")
    _check_float_input(input, "quantize_per_channel")
    nd = input.dim()
    if not 0 <= axis < nd:  # PyTorch takes no negative axis here
        raise RuntimeError(f"quantize_per_channel: Channel axis out of range in per channel affine quantization. "
                           f"Got: {axis} Expected: [0, {nd}) (input of shape {tuple(input.shape)})")
    scales = scales if isinstance(scales, Tensor) else _tensor(scales, dtype=float64)
    zero_points = zero_points if isinstance(zero_points, Tensor) else _tensor(zero_points, dtype=int64)
    n = input.shape[axis]
    if scales.dim() != 1 or scales.shape[0] != n or zero_points.dim() != 1 or zero_points.shape[0] != n:
        raise RuntimeError(f"quantize_per_channel: expected {n} scales and zero points for axis {axis} of an input "
                           f"of shape {tuple(input.shape)}, got scales of shape {tuple(scales.shape)} and zero "
                           f"points of shape {tuple(zero_points.shape)}")
    scales = scales.detach().to(float64)
    zero_points = zero_points.detach().to(int64)
    _, qmin, qmax = _STORAGE[qd]
    zl = zero_points.tolist()
    if zl and (min(zl) < qmin or max(zl) > qmax):
        raise RuntimeError(f"quantize_per_channel: zero points {zl} are out of range for {_QUANTIZED[qd]} "
                           f"[{qmin}, {qmax}]")
    shape = [1] * nd
    shape[axis] = n
    inv_np = (np.float32(1.0) / scales.numpy().astype(np.float32)).astype(np.float32)
    from ._creation import from_numpy
    inv = from_numpy(inv_np).reshape(shape)
    zpf = zero_points.to(float32).reshape(shape)
    q = _quantize_values(input, inv, zpf, qd)
    return _make(q, qd, per_channel_affine, scales=scales.clone(), zps=zero_points.clone(), axis=axis)


def dequantize(tensor):
    """torch.dequantize: a float32 tensor from a quantized one (a list of them gives a list)."""
    if isinstance(tensor, (list, tuple)):
        return [dequantize(t) for t in tensor]
    if tensor.__class__ is not QuantizedTensor:
        return tensor.to(float32) if isinstance(tensor, Tensor) else tensor  # PyTorch: dense input is returned as float
    return tensor.dequantize()


def _channel_shape(t):
    shape = [1] * t._q_int.dim()
    shape[t._q_axis] = t._q_int.shape[t._q_axis]
    return shape


class QuantizedTensor(Tensor):
    """A quantized tensor (flambeau.quantize_per_tensor / quantize_per_channel, the weights and
    activations of flambeau.ao.nn.quantized modules)."""
    __torch_function__ = _disabled_torch_function_impl  # ops on it return plain tensors (as PyTorch's)
    __slots__ = ("_q_int", "_q_scheme", "_q_scale", "_q_zp", "_q_scales", "_q_zps", "_q_axis")

    def __new__(cls, *args, **kwargs):
        raise TypeError("create quantized tensors with flambeau.quantize_per_tensor or quantize_per_channel")

    # ------------------------------------------------------------------ metadata
    @property
    def dtype(self):
        return _QUANTIZED[self._impl.dtype]

    @property
    def is_quantized(self):
        return True

    @property
    def requires_grad(self):
        return False

    @requires_grad.setter
    def requires_grad(self, value):
        if value:
            raise RuntimeError("only Tensors of floating point dtype can require gradients (got a quantized tensor)")

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    def qscheme(self):
        return self._q_scheme

    def q_scale(self):
        if self._q_scheme is not per_tensor_affine:
            raise RuntimeError(f"q_scale: expected a per-tensor quantized tensor, got qscheme {self._q_scheme}")
        return self._q_scale

    def q_zero_point(self):
        if self._q_scheme is not per_tensor_affine:
            raise RuntimeError(f"q_zero_point: expected a per-tensor quantized tensor, got qscheme {self._q_scheme}")
        return self._q_zp

    def _per_channel(self, name):
        if self._q_scheme is not per_channel_affine:
            raise RuntimeError(f"{name}: expected a per-channel quantized tensor (qscheme() == "
                               f"flambeau.per_channel_affine), got qscheme {self._q_scheme}")

    def q_per_channel_scales(self):
        self._per_channel("q_per_channel_scales")
        return self._q_scales.clone()

    def q_per_channel_zero_points(self):
        self._per_channel("q_per_channel_zero_points")
        return self._q_zps.clone()

    def q_per_channel_axis(self):
        self._per_channel("q_per_channel_axis")
        return self._q_axis

    def int_repr(self):
        return self._q_int.clone()

    def element_size(self):
        return self.dtype.itemsize

    def is_floating_point(self):
        return False

    def is_contiguous(self, memory_format=None):
        return self._q_int.is_contiguous()

    def stride(self, dim=None):
        return self._q_int.stride(dim) if dim is not None else self._q_int.stride()

    def __len__(self):
        if not self._impl.shape:
            raise TypeError("len() of a 0-d tensor")
        return self._impl.shape[0]

    # ------------------------------------------------------------------ conversion
    def dequantize(self):
        from . import no_grad
        with no_grad():
            if self._q_scheme is per_tensor_affine:
                return (self._q_int.to(float32) - self._q_zp) * _f32(self._q_scale)
            shape = _channel_shape(self)
            q = self._q_int.to(float64) - self._q_zps.to(float64).reshape(shape)
            return (q * self._q_scales.reshape(shape)).to(float32)

    def _like(self, q_int):
        return _make(q_int, self._impl.dtype, self._q_scheme, self._q_scale, self._q_zp, self._q_scales,
                     self._q_zps, self._q_axis)

    def clone(self, *, memory_format=None):
        r = self._like(self._q_int.clone())
        if r._q_scales is not None:
            r._q_scales, r._q_zps = r._q_scales.clone(), r._q_zps.clone()
        return r

    def detach(self):
        return self._like(self._q_int)

    @property
    def data(self):
        return self.detach()

    def contiguous(self, memory_format=None):
        return self if self._q_int.is_contiguous() else self._like(self._q_int.contiguous())

    def to(self, *args, **kwargs):
        from ._tensor import _parse_to
        from ._dtype import _device_str
        kwargs.pop("memory_format", None)
        dt, dev, copy = _parse_to(args, kwargs) if not (args and args[0] in _QUANTIZED.values()) else (args[0], None,
                                                                                                         False)
        if dt is not None and dt is not self.dtype:
            raise NotImplementedError(f"to: a quantized tensor ({self.dtype}) cannot be cast to {dt}; use "
                                      ".dequantize() (and quantize_per_tensor for another quantized dtype)")
        if dev is not None and _device_str(dev) != "cpu":
            raise NotImplementedError("to: quantized tensors are CPU only in flambeau")
        return self.clone() if copy else self

    def cpu(self, memory_format=None):
        return self

    def numpy(self, *, force=False):
        raise TypeError("can't convert a quantized tensor to numpy; use .int_repr() or .dequantize() first")

    def tolist(self):
        return self.dequantize().tolist()

    def item(self):
        if self._impl.numel != 1:
            raise RuntimeError(f"a Tensor with {self._impl.numel} elements cannot be converted to Scalar")
        return self.dequantize().item()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        new = self.clone()
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, proto):
        return (_rebuild_quantized, (self._q_int.numpy().copy(), self._impl.dtype, self._q_scheme._name,
                                     self._q_scale, self._q_zp,
                                     None if self._q_scales is None else self._q_scales.numpy().copy(),
                                     None if self._q_zps is None else self._q_zps.numpy().copy(), self._q_axis))

    def __repr__(self, *, tensor_contents=None):
        return _quantized_repr(self)

    # ------------------------------------------------------------------ shape (per-tensor: the integer
    # representation reshaped, the qparams kept; per-channel only where the channel axis stays put)
    def _reshaped(self, name, fn):
        if self._q_scheme is not per_tensor_affine:
            raise NotImplementedError(f"{name}: not supported for per-channel quantized tensors by flambeau")
        return self._like(fn(self._q_int))

    def reshape(self, *shape):
        return self._reshaped("reshape", lambda q: q.reshape(*shape))

    def view(self, *shape):
        return self._reshaped("view", lambda q: q.view(*shape))

    def flatten(self, start_dim=0, end_dim=-1):
        return self._reshaped("flatten", lambda q: q.flatten(start_dim, end_dim))

    def squeeze(self, *args, **kwargs):
        return self._reshaped("squeeze", lambda q: q.squeeze(*args, **kwargs))

    def unsqueeze(self, dim):
        return self._reshaped("unsqueeze", lambda q: q.unsqueeze(dim))

    def permute(self, *dims):
        return self._reshaped("permute", lambda q: q.permute(*dims))

    def transpose(self, dim0, dim1):
        return self._reshaped("transpose", lambda q: q.transpose(dim0, dim1))

    def __getitem__(self, idx):
        if self._q_scheme is per_tensor_affine:
            return self._like(self._q_int[idx])
        # per channel: PyTorch keeps the per-channel qparams of the selected channels; done here for a
        # leading basic index on axis 0 only.
        if self._q_axis == 0 and isinstance(idx, (slice, tuple)):
            first = idx[0] if isinstance(idx, tuple) else idx
            if isinstance(first, slice):
                r = self._like(self._q_int[idx])
                r._q_scales, r._q_zps = self._q_scales[first], self._q_zps[first]
                return r
        raise NotImplementedError("__getitem__: per-channel quantized tensors take a leading slice on axis 0 only "
                                  "in flambeau")

    # ------------------------------------------------------------------ the ops PyTorch runs on quantized
    # tensors in the eager-mode flows (nn.ReLU after a quantized module)
    def relu(self):
        if self._q_scheme is not per_tensor_affine:
            raise NotImplementedError("relu: not supported for per-channel quantized tensors by flambeau")
        return self._like(self._q_int.clamp(min=self._q_zp))

    def relu_(self):
        r = self.relu()
        self._q_int = r._q_int
        return self

    def equal(self, other):
        return (isinstance(other, QuantizedTensor) and self.dtype is other.dtype and self.shape == other.shape
                and self._q_scheme is other._q_scheme and self._q_scale == other._q_scale
                and self._q_zp == other._q_zp and bool((self._q_int == other._q_int).all())
                and (self._q_scales is None or (bool(self._q_scales.equal(other._q_scales))
                                                and bool(self._q_zps.equal(other._q_zps))
                                                and self._q_axis == other._q_axis)))


def _rebuild_quantized(q, qd, scheme, scale, zp, scales, zps, axis):
    from ._creation import from_numpy
    return _make(from_numpy(q), qd, _QSCHEMES[scheme], scale, zp, None if scales is None else from_numpy(scales),
                 None if zps is None else from_numpy(zps), axis)


def _quantized_repr(t):
    """PyTorch's format: the dequantized values, then size, dtype, quantization_scheme and the qparams."""
    from ._printing import _tensor_str, _add_suffixes
    indent = len("tensor(")
    arr = t.dequantize().numpy()
    body = _tensor_str(arr, indent, True)
    suffixes = [f"size={tuple(t._impl.shape)}", f"dtype={t.dtype!r}", f"quantization_scheme={t._q_scheme!r}"]
    if t._q_scheme is per_tensor_affine:
        suffixes += [f"scale={t._q_scale!r}", f"zero_point={t._q_zp}"]
    else:
        suffixes += [f"scale={t._q_scales!r}", f"zero_point={t._q_zps!r}", f"axis={t._q_axis}"]
    return _add_suffixes("tensor(" + body, suffixes, indent)


def _dense_only(name):
    def op(self, *args, **kwargs):
        raise NotImplementedError(f"{name}: expected a quantized tensor, got a dense {self.dtype} tensor of shape "
                                  f"{tuple(self.shape)}")
    op.__name__ = name
    return op


for _n in ("int_repr", "q_scale", "q_zero_point", "q_per_channel_scales", "q_per_channel_zero_points",
           "q_per_channel_axis", "qscheme"):
    setattr(Tensor, _n, _dense_only(_n))
# A dense tensor's dequantize() is the tensor itself (PyTorch's, for float32).
Tensor.dequantize = lambda self: self


_INHERITED_OK = {
    "__getattr__", "__init_subclass__", "__hash__", "__class__", "__setstate__", "__format__", "__str__",
    "__init__", "__new__", "__reduce__", "__sizeof__", "__dir__", "__subclasshook__", "__getattribute__",
    "__setattr__", "__delattr__", "__ne__", "__eq__",
    "size", "dim", "ndimension", "numel", "nelement", "is_complex", "get_device", "_make_subclass", "detach_",
    "type", "is_signed",
}


def _route_quantized(name, dense):
    """flambeau.<name>(input, ...) that sends a quantized input to its method (torch.relu(q),
    torch.flatten(q, 1) in eager-mode quantized models) and anything else to the dense function."""
    def fn(input, *args, **kwargs):
        if input.__class__ is QuantizedTensor:
            return getattr(input, name)(*args, **kwargs)
        return dense(input, *args, **kwargs)
    fn.__name__ = name
    fn.__doc__ = dense.__doc__
    return fn


def _quantized_max_pool2d(dense):
    """F.max_pool2d for a per-tensor quantized input (nn.MaxPool2d in a quantized CNN, as PyTorch's
    quantized max_pool2d): the max of the integers, same scale and zero point. Dense inputs go
    straight to the dense function."""
    def max_pool2d(input, *args, **kwargs):
        if input.__class__ is not QuantizedTensor:
            return dense(input, *args, **kwargs)
        if input._q_scheme is not per_tensor_affine:
            raise NotImplementedError("max_pool2d: per-channel quantized inputs are not supported by flambeau")
        r = dense(input._q_int.to(float32), *args, **kwargs)
        values, indices = r if isinstance(r, tuple) else (r, None)
        out = input._like(values.to(input._q_int.dtype))
        return out if indices is None else (out, indices)
    max_pool2d.__doc__ = dense.__doc__
    max_pool2d.__wrapped__ = dense
    return max_pool2d


def _finish_setup(namespace):
    """Called once by flambeau/__init__.py after every module has attached its methods to Tensor."""
    # only the functions quantized eager-mode models call; the methods (q.reshape, q.permute, ...) cover the rest
    for name in ("relu", "relu_", "flatten"):
        namespace[name] = _route_quantized(name, namespace[name])
    F = namespace["nn"].functional
    F.max_pool2d = _quantized_max_pool2d(F.max_pool2d)
    for name in dir(Tensor):
        if name in QuantizedTensor.__dict__ or name in _INHERITED_OK:
            continue
        attr = getattr(Tensor, name, None)
        if callable(attr) and not isinstance(attr, type) and not isinstance(Tensor.__dict__.get(name), property):
            setattr(QuantizedTensor, name, _unsupported(name))
    QuantizedTensor.__hash__ = Tensor.__hash__
    QuantizedTensor.__eq__ = _unsupported("eq")
    QuantizedTensor.__ne__ = _unsupported("ne")


__all__ = ["quint8", "qint8", "qint32", "qscheme", "per_tensor_affine", "per_channel_affine", "per_tensor_symmetric",
           "per_channel_symmetric", "per_channel_affine_float_qparams", "quantize_per_tensor", "quantize_per_channel",
           "dequantize"]
