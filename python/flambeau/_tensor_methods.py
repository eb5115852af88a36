"""Attaches op methods to Tensor. Where a method has the same signature as the function
(`t.exp()` is `exp(t)`), the function itself becomes the method, so there is no extra call layer;
methods with a different calling convention (varargs shapes, reflected operators, in-place
variants) are small wrappers defined here.
"""
from . import _C
from ._dtype import _BY_NAME
from ._promote import check_fits, complex_as_real, _FLOAT as _FLOAT_DTYPES
from ._tensor import Tensor, _wrap
from ._functions import elementwise as ew, reduction as red, shape as sh, indexing as ix, linalg as la
from ._functions import compare as cmp, pointwise as pw, _dispatch as dsp, join as jn
from ._functions import sorting as so
from ._functions import special as spc
from . import _random as rnd, _creation as cr, _indexing
from .autograd.grad_mode import _state as _gs
from . import _sparse
from ._sparse import SparseCooTensor as _Sparse
from .amp import _cast as _amp_cast


def _bind(module, names):
    for name in names:
        setattr(Tensor, name, getattr(module, name))


_bind(ew, """add sub subtract mul multiply div divide true_divide pow float_power maximum minimum fmax fmin
    remainder fmod floor_divide atan2 arctan2 neg negative abs absolute exp log log2 log10 log1p expm1 sqrt rsqrt
    sin cos tan tanh sigmoid relu reciprocal erf square sign sgn floor ceil trunc fix round
    neg_ negative_ abs_ absolute_ exp_ log_ log2_ log10_ log1p_ expm1_ sqrt_ rsqrt_ sin_ cos_ tan_ tanh_
    sigmoid_ relu_ reciprocal_ erf_ square_ sign_ floor_ ceil_ trunc_ fix_ round_""".split())
_bind(cmp, """eq ne lt le gt ge not_equal less less_equal greater greater_equal logical_and logical_or logical_xor
    bitwise_and bitwise_or bitwise_xor logical_not isnan isinf isfinite isposinf isneginf signbit bitwise_not isreal
    isclose allclose equal""".split())
_bind(spc, """asin asin_ acos acos_ atan atan_ sinh sinh_ cosh cosh_ asinh asinh_ acosh acosh_ atanh atanh_
    arcsin arcsin_ arccos arccos_ arctan arctan_ arcsinh arcsinh_ arccosh arccosh_ arctanh arctanh_ erfc erfc_
    erfinv erfinv_ lgamma lgamma_ digamma digamma_ mvlgamma polygamma_""".split())
Tensor.polygamma = lambda self, n: spc.polygamma(n, self)
_bind(pw, """lerp addcmul addcdiv hypot logaddexp xlogy clamp clip clamp_min clamp_max clamp_ clip_ clamp_min_
    clamp_max_ positive exp2 nan_to_num frac""".split())
_bind(red, """sum nansum mean nanmean prod amax amin max min aminmax argmax argmin all any count_nonzero var std
    logsumexp norm dist cumsum""".split())
_bind(sh, """view_as reshape_as flatten unflatten transpose swapaxes swapdims t adjoint movedim moveaxis
    expand_as broadcast_to unsqueeze squeeze select narrow diagonal as_strided clone contiguous""".split())
_bind(jn, """split split_with_sizes chunk tensor_split unbind tile repeat_interleave flip fliplr flipud roll
    rot90""".split())
_bind(ix, """index_select gather scatter scatter_ scatter_add scatter_add_ masked_fill masked_fill_ masked_select
    take take_along_dim nonzero argwhere tril triu tril_ triu_ index_add index_add_ index_fill index_fill_
    index_copy index_copy_ index_put index_put_""".split())
_bind(la, "matmul mm bmm mv dot inner outer ger addmm addmv baddbmm addbmm softmax log_softmax".split())
_bind(so, """sort argsort msort topk kthvalue median nanmedian unique unique_consecutive bincount histc cumprod
    cummax cummin""".split())
_bind(rnd, "uniform_ normal_ bernoulli_ random_ exponential_ geometric_ cauchy_ log_normal_ multinomial".split())


# ---------------------------------------------------------------- varargs shapes
# Functions of (input, *shape) work as methods as they are: no wrapper frame on these hot calls.
Tensor.view = sh.view
Tensor.reshape = sh.reshape
Tensor.permute = sh.permute
Tensor.expand = sh.expand
Tensor.repeat = jn.repeat


_T_WARNED = set()


def _T(self):
    """t.T: the transpose of a matrix; on other ranks the dims reversed, with PyTorch's deprecation
    warnings (once per process each, as its TORCH_WARN_ONCE; 1-D tensors pass silently). Always a new
    view, never `self`: `op(x, out=x.T)` may resize the view without reshaping x, as in PyTorch."""
    nd = self._impl.ndim
    if nd == 2:  # the common case: one transpose, not a permute of a built list
        return sh.transpose(self, 0, 1)
    if nd == 1:
        return sh.permute(self, [0])
    key = "0d" if nd == 0 else "nd"
    if key not in _T_WARNED:
        import warnings
        _T_WARNED.add(key)
        warnings.warn("Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases."
                      if nd == 0 else
                      "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated and "
                      "it will throw an error in a future release. Consider `x.mT` to transpose batches of matrices "
                      "or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a tensor.",
                      stacklevel=2)
    return sh.permute(self, list(range(nd - 1, -1, -1)))


def _H(self):
    """t.H: the conjugate transpose of a matrix. PyTorch refuses
    other ranks, except 0-D (the identity, with a deprecation warning once per process)."""
    nd = self._impl.ndim
    if nd == 2:
        return sh.adjoint(self)  # conjugated for complex
    if nd == 0:
        if "0dH" not in _T_WARNED:
            import warnings
            _T_WARNED.add("0dH")
            warnings.warn("Tensor.H is deprecated on 0-D tensors. Consider using x.conj().", stacklevel=2)
        return self
    raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {nd}-D tensor."
                       + (" For batches of matrices, consider using tensor.mH" if nd > 2 else ""))


Tensor.T = property(_T)
Tensor.mT = property(lambda self: sh.transpose(self, -2, -1))
Tensor.H = property(_H)
Tensor.mH = property(sh.adjoint)


def _where(self, condition, other):
    return pw.where(condition, self, other)


Tensor.where = _where


def _bernoulli(self, p=None, *, generator=None):
    return rnd.bernoulli(self, p, generator=generator)


Tensor.bernoulli = _bernoulli


# ---------------------------------------------------------------- operators
def _rsub(self, other):
    ew._check_sub_bool(other, self)
    return dsp._rbinary(self, other, _C.sub, ew.Sub)


def _rtruediv(self, other):
    # number / tensor is reciprocal(tensor) * number, as PyTorch's Tensor.__rdiv__ computes it: the same
    # bits (a rounding of 1/x, then of the product) and the same graph (ReciprocalBackward0, MulBackward0).
    if isinstance(other, Tensor):
        return ew.div(other, self)
    if self._impl.dtype not in _FLOAT_DTYPES:
        self = dsp._cast(self, ew._true_div_dtype(self, other))
    return ew.mul(ew.reciprocal(self), other)


def _rfloordiv(self, other):
    r = dsp._rbinary(self.detach(), other, _C.floor_divide, ew._NoGrad)
    if r is not NotImplemented and _gs.enabled and self._rg and r._impl.dtype in _FLOAT_DTYPES:
        r = ew._FloorDivide.apply(r, self)  # requires grad; its backward raises, as PyTorch's
    return r


def _rmod(self, other):
    return dsp._rbinary(self, other, _C.remainder, ew.Remainder)


def _rpow(self, other):
    return ew.pow(other, self)


def _rmatmul(self, other):
    if not isinstance(other, Tensor):
        other = cr.tensor(other)
    return la.matmul(other, self)


def _invert(self):
    if self._impl.dtype in _FLOAT_DTYPES:
        raise TypeError("~ (bitwise_not) is only supported for integer and boolean tensors")
    return cmp.bitwise_not(self)


def _cmp(cfn):
    def op(self, other):
        return cmp._compare(self, other, cfn)
    return op


Tensor.__add__ = Tensor.__radd__ = ew.add
Tensor.__sub__ = ew.sub
Tensor.__rsub__ = _rsub
Tensor.__mul__ = Tensor.__rmul__ = ew.mul
Tensor.__truediv__ = Tensor.__div__ = ew.div
Tensor.__rtruediv__ = Tensor.__rdiv__ = _rtruediv
Tensor.__floordiv__ = ew.floor_divide
Tensor.__rfloordiv__ = _rfloordiv
Tensor.__mod__ = ew.remainder
Tensor.__rmod__ = _rmod
Tensor.__pow__ = ew.pow
Tensor.__rpow__ = _rpow
Tensor.__matmul__ = la.matmul
Tensor.__rmatmul__ = _rmatmul
Tensor.__neg__ = ew.neg
Tensor.__pos__ = pw.positive
Tensor.__abs__ = ew.abs
Tensor.__invert__ = _invert
Tensor.__and__ = Tensor.__rand__ = cmp.bitwise_and
Tensor.__or__ = Tensor.__ror__ = cmp.bitwise_or
Tensor.__xor__ = Tensor.__rxor__ = cmp.bitwise_xor
Tensor.__eq__ = _cmp(_C.eq)
Tensor.__ne__ = _cmp(_C.ne)
Tensor.__lt__ = _cmp(_C.lt)
Tensor.__le__ = _cmp(_C.le)
Tensor.__gt__ = _cmp(_C.gt)
Tensor.__ge__ = _cmp(_C.ge)
Tensor.__getitem__ = _indexing.getitem
Tensor.__setitem__ = _indexing.setitem


# ---------------------------------------------------------------- in-place arithmetic
def _alpha_inplace(self, other, alpha, op):
    """add_/sub_ (op) with alpha != 1 rounded as PyTorch (one fma; elementwise._fused_alpha): one kernel
    writing into self where it can, else the out-of-place result written into self (a graph to record,
    promotion, a float16/bfloat16 self). False where neither applies (the caller scales `other` first)."""
    if ew._fused_alpha_(self, other, alpha if op == "add_" else -alpha, op):
        return True
    dt = self._impl.dtype
    if (dt in ew._FMA_DTYPES and isinstance(other, (Tensor, float, int))) or \
            (dt in ew._HALF and isinstance(other, Tensor)):
        _assign_result(self, (ew.add if op == "add_" else ew.sub)(self, other, alpha=alpha), op)
        return True
    return False


def add_(self, other, *, alpha=1):
    if other.__class__ is _Sparse:  # dense.add_(sparse): PyTorch's optimizers' update of a sparse gradient
        return _sparse.dense_add_(self, other, alpha)
    ew.check_alpha(self, other, alpha, "add_")
    if alpha != 1:
        if _alpha_inplace(self, other, alpha, "add_"):
            return self
        other = ew._scaled_other(self, other, alpha)
    return dsp._inplace_binary(self, other, _C.add, ew.Add)


def sub_(self, other, *, alpha=1):
    if other.__class__ is _Sparse:
        return _sparse.dense_add_(self, other, -alpha, "sub_")
    ew.check_alpha(self, other, alpha, "sub_")
    if alpha != 1:
        if _alpha_inplace(self, other, alpha, "sub_"):
            return self
        other = ew._scaled_other(self, other, alpha)
    return dsp._inplace_binary(self, other, _C.sub, ew.Sub)


def mul_(self, other):
    return dsp._inplace_binary(self, other, _C.mul, ew.Mul)


def div_(self, other, *, rounding_mode=None):
    if rounding_mode == "floor":
        if (self._rg or (isinstance(other, Tensor) and other._rg)) and _gs.enabled:
            return _assign_result(self, ew.div(self, other, rounding_mode="floor"))  # zero gradient
        return floor_divide_(self, other)
    if rounding_mode == "trunc":
        return _assign_result(self, ew.div(self, other, rounding_mode="trunc"))
    if rounding_mode is not None:
        raise RuntimeError(f"div_ expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")
    if self._impl.dtype not in _FLOAT_DTYPES:
        raise RuntimeError(f"result type Float can't be cast to the desired output type "
                           f"{dsp._TORCH_TYPE_NAMES[self._impl.dtype]} (div_ into a tensor of shape {list(self.shape)})")
    return dsp._inplace_binary(self, other, _C.div, ew.Div)


# pow_, atan2_, exp2_ (and polygamma_ in special.py): their backward needs the value being overwritten,
# so under autograd they compute from a snapshot of self (misc._inplace), as PyTorch saves the original self
def pow_(self, exponent):
    return _misc._inplace(self, ew.pow, exponent)


def remainder_(self, other):
    return dsp._inplace_binary(self, other, _C.remainder, ew.Remainder)


def floor_divide_(self, other):
    return _assign_result(self, ew.floor_divide(self, other))


def fmod_(self, other):
    # through misc._inplace: fmod's backward reads self's old value, which the write overwrites
    return _misc._inplace(self, ew.fmod, other)


def atan2_(self, other):
    return _misc._inplace(self, ew.atan2, other)


def _ternary_(self, cfn, a, b, extra):
    """self.addcmul_/addcdiv_/lerp_ by one kernel writing into self, when no graph is recorded and
    the operands share self's float dtype (pointwise._ternary); True when done."""
    if not isinstance(a, Tensor):
        return False  # the out-of-place op raises PyTorch's TypeError
    bt = isinstance(b, Tensor)
    if (self._rg or a._rg or (bt and b._rg)) and _gs.enabled:
        return False
    try:
        cfn(self._impl, a._impl, b._impl if bt else b, *extra, self._impl)
        return True
    except pw._PROMOTE:
        return False


def lerp_(self, end, weight):
    if _ternary_(self, _C.lerp, end, weight, ()):
        return self
    dsp.check_overlap(self, (end, weight), "lerp_")  # (_ternary_'s kernel checks its own write)
    if isinstance(weight, Tensor) and weight._rg and _gs.enabled:  # the weight's gradient reads the old self
        return _misc._inplace(self, pw.lerp, end, weight)
    return _assign_result(self, pw.lerp(self, end, weight))


def addcmul_(self, tensor1, tensor2, *, value=1):
    if _ternary_(self, _C.addcmul, tensor1, tensor2, (float(value),)):
        return self
    dsp.check_overlap(self, (tensor1, tensor2), "addcmul_")
    return _assign_result(self, pw.addcmul(self, tensor1, tensor2, value=value))


def addcdiv_(self, tensor1, tensor2, *, value=1):
    if _ternary_(self, _C.addcdiv, tensor1, tensor2, (float(value),)):
        return self
    dsp.check_overlap(self, (tensor1, tensor2), "addcdiv_")
    return _assign_result(self, pw.addcdiv(self, tensor1, tensor2, value=value))


def addmm_(self, mat1, mat2, *, beta=1, alpha=1):
    return _assign_result(self, la.addmm(self, mat1, mat2, beta=beta, alpha=alpha))


def _assign_result(self, r, op="in-place op"):
    """Writes an out-of-place result into self, as an in-place op (history moves onto self)."""
    dsp.check_no_internal_overlap(self._impl, op)
    if r._impl.dtype != self._impl.dtype:
        from ._promote import can_cast_names
        if not can_cast_names(r._impl.dtype, self._impl.dtype):
            raise RuntimeError(f"result type {dsp._TORCH_TYPE_NAMES[r._impl.dtype]} can't be cast to the desired "
                               f"output type {dsp._TORCH_TYPE_NAMES[self._impl.dtype]}")
    if r._rg and _gs.enabled:
        dsp._check_inplace_leaf(self)
        if r._impl.dtype != self._impl.dtype:
            r = dsp._cast(r, self._impl.dtype)
        return dsp._rebase(self, r)
    _C.copy_(self._impl, r._impl)
    return self


def _logical_inplace(fn):
    def op(self, other):
        return cmp._inplace_nograd(self, fn(self, other))
    return op


def _compare_inplace(fn, name):
    def op(self, other):
        cplx = self._impl.dtype in ("complex64", "complex128") or \
            (isinstance(other, Tensor) and other._impl.dtype in ("complex64", "complex128"))
        if isinstance(other, complex) or (cplx and name in ("eq", "ne")):
            if name in ("eq", "ne"):  # x.eq_(1+2j), complex x.eq_(y): compared as complex numbers
                from ._complex import ops as cx
                return cmp._inplace_compare(self, getattr(cx, name)(self, other), other)
            ct = "ComplexDouble" if self._impl.dtype == "float64" else "ComplexFloat"  # (the promoted type)
            raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{ct}'")  # PyTorch's words
        return cmp._inplace_compare(self, fn(self, other), other)
    return op


for _name, _fn in (("add_", add_), ("sub_", sub_), ("subtract_", sub_), ("mul_", mul_), ("multiply_", mul_),
                   ("div_", div_), ("divide_", div_), ("true_divide_", div_), ("pow_", pow_),
                   ("remainder_", remainder_), ("floor_divide_", floor_divide_), ("fmod_", fmod_),
                   ("atan2_", atan2_), ("lerp_", lerp_), ("addcmul_", addcmul_), ("addcdiv_", addcdiv_),
                   ("addmm_", addmm_)):
    setattr(Tensor, _name, _fn)
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    setattr(Tensor, _name + "_", _compare_inplace(getattr(cmp, _name), _name))
for _name in ("logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor"):
    setattr(Tensor, _name + "_", _logical_inplace(getattr(cmp, _name)))


def _iop(fn):
    def op(self, other):
        return fn(self, other)
    return op


Tensor.__iadd__ = _iop(add_)
Tensor.__isub__ = _iop(sub_)
Tensor.__imul__ = _iop(mul_)
Tensor.__itruediv__ = Tensor.__idiv__ = _iop(div_)
Tensor.__ifloordiv__ = _iop(floor_divide_)
Tensor.__imod__ = _iop(remainder_)
Tensor.__ipow__ = _iop(pow_)
Tensor.__iand__ = Tensor.bitwise_and_
Tensor.__ior__ = Tensor.bitwise_or_
Tensor.__ixor__ = Tensor.bitwise_xor_


def logical_not_(self):
    return cmp._inplace_nograd(self, cmp.logical_not(self))


def bitwise_not_(self):
    return cmp._inplace_nograd(self, cmp.bitwise_not(self))


Tensor.logical_not_ = logical_not_
Tensor.bitwise_not_ = bitwise_not_


def _unary_inplace_composite(fn):
    def op(self):
        return _misc._inplace(self, fn)
    return op


for _name in ("frac", "exp2"):
    setattr(Tensor, _name + "_", _unary_inplace_composite(getattr(pw, _name)))


def nan_to_num_(self, nan=0.0, posinf=None, neginf=None):
    # an integer or bool tensor has nothing to replace: PyTorch writes nothing (so an expanded one is no error)
    if self._impl.dtype in ("bool", "uint8", "int8", "int16", "int32", "int64"):
        return self

    def nan_to_num(x):  # (its name is the one _inplace's errors give: nan_to_num_)
        return pw.nan_to_num(x, nan, posinf, neginf)
    return _misc._inplace(self, nan_to_num)


Tensor.nan_to_num_ = nan_to_num_


# ---------------------------------------------------------------- fill / copy / zero
def fill_(self, value):
    if isinstance(value, complex):  # through a 0-dim tensor of self's dtype (_C.fill_ takes real numbers)
        if self._impl.dtype not in ("complex64", "complex128"):
            return fill_(self, complex_as_real(value, self._impl.dtype))  # as PyTorch (bool: != 0; else imag 0)
        _indexing.setitem(self, Ellipsis, cr.tensor(value, dtype=self.dtype, device=self.device))
        return self
    if isinstance(value, Tensor):
        if value._impl.ndim != 0:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value._impl.ndim} dimensions.")
        if not ((self._rg or value._rg) and _gs.enabled) and self._impl.dtype not in ("complex64", "complex128"):
            # a copy's conversion, as PyTorch's fill_ with a tensor: no overflow check (300 into int8 is 44), a
            # complex value's real part (bool: value != 0)
            dt = self._impl.dtype
            if value._impl.dtype in ("complex64", "complex128") and dt not in ("complex64", "complex128"):
                value = value != 0 if dt == "bool" else value.real
            if value._impl.dtype != dt:
                value = _wrap(_C.to(value._impl, dt, value._impl.device, False))
            _C.fill_(self._impl, value.item())
            return self
        if not ((self._rg or value._rg) and _gs.enabled):
            return fill_(self, value.item())  # (a complex self: the complex number's path above)
    if _gs.enabled and (self._rg or (isinstance(value, Tensor) and value._rg)):
        _indexing.setitem(self, Ellipsis, value)
        return self
    if not isinstance(value, Tensor):
        check_fits(value, self._impl.dtype, wide=True)  # PyTorch's overflow check (uint8: 300, float32: 1e40)
    _C.fill_(self._impl, value)
    return self


def zero_(self):
    return fill_(self, 0)


def copy_(self, src, non_blocking=False):
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
    dsp.check_no_internal_overlap(self._impl, "copy_")
    if (self._rg or src._rg) and _gs.enabled:
        if type(src._impl) is _C.TensorImpl and type(self._impl) is _C.TensorImpl:  # (`_C.copy_` checks below)
            _C.assert_no_overlap(self._impl, src._impl, "copy_", True)
        _indexing.setitem(self, Ellipsis, src)
        return self
    _C.copy_(self._impl, src._impl)
    return self


def resize_(self, *sizes, memory_format=None):
    from ._utils import parse_size
    shape = parse_size(sizes, "resize_")
    impl = self._impl
    if type(impl) is _C.TensorImpl and impl.is_inference and tuple(shape) != tuple(impl.shape) and \
            not _C._is_inference_mode_enabled():  # (PyTorch: resizing to the same shape is no write)
        raise RuntimeError("Inplace update to inference tensor outside InferenceMode is not allowed.You can make a "
                           "clone to get a normal tensor before doing inplace update.See "
                           "https://github.com/pytorch/rfcs/pull/17 for more details.")
    n = 1
    for s in shape:
        n *= s
    if n == impl.numel and impl.is_contiguous():
        self._impl = _C.view(impl, list(shape))
    else:
        new = _C.empty(list(shape), impl.dtype, impl.device)
        m = min(n, impl.numel)
        if m:
            _C.copy_(_C.slice(_C.reshape(new, [-1]), 0, 0, m, 1),
                     _C.slice(_C.reshape(_C.contiguous(impl), [-1]), 0, 0, m, 1))
        self._impl = new
    return self


def resize_as_(self, other, memory_format=None):
    return resize_(self, other._impl.shape)


Tensor.fill_ = fill_
Tensor.zero_ = zero_
Tensor.copy_ = copy_
Tensor.resize_ = resize_
Tensor.resize_as_ = resize_as_


# ---------------------------------------------------------------- new_* constructors
def _new_kwargs(self, dtype, device):
    return (dtype if dtype is not None else _BY_NAME[self._impl.dtype],
            device if device is not None else self._impl.device)


def new_zeros(self, *sizes, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, size=None):
    dt, dev = _new_kwargs(self, dtype, device)
    return cr.zeros(*sizes, dtype=dt, device=dev, requires_grad=requires_grad, size=size)


def new_ones(self, *sizes, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, size=None):
    dt, dev = _new_kwargs(self, dtype, device)
    return cr.ones(*sizes, dtype=dt, device=dev, requires_grad=requires_grad, size=size)


def new_empty(self, *sizes, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, size=None):
    dt, dev = _new_kwargs(self, dtype, device)
    return cr.empty(*sizes, dtype=dt, device=dev, requires_grad=requires_grad, size=size)


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None,
             pin_memory=False):
    dt, dev = _new_kwargs(self, dtype, device)
    return cr.full(size, fill_value, dtype=dt, device=dev, requires_grad=requires_grad)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    dt, dev = _new_kwargs(self, dtype, device)
    if isinstance(data, Tensor):  # PyTorch's warning names new_tensor, not torch.tensor
        cr._warn_copy_construct("tensor.new_tensor(sourceTensor)")
        return cr._copy_of_tensor(data, dt, dev, requires_grad)
    return cr.tensor(data, dtype=dt, device=dev, requires_grad=requires_grad)


Tensor.new_zeros = new_zeros
Tensor.new_ones = new_ones
Tensor.new_empty = new_empty
Tensor.new_full = new_full
Tensor.new_tensor = new_tensor


def _diag(self, diagonal=0):
    return cr.diag(self, diagonal)


@_amp_cast.fp32_op
def _trace(self):
    if self._impl.ndim != 2:  # (a 3-D tensor's diagonals were summed)
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {self._impl.ndim}")
    return red.sum(sh.diagonal(self))


def _apply_(self, callable):
    arr = self.numpy()
    flat = arr.reshape(-1)
    for i in range(flat.size):
        flat[i] = callable(flat[i].item())
    return self


def _map_(self, other, callable):
    a, b = self.numpy().reshape(-1), other.expand_as(self).contiguous().numpy().reshape(-1)
    for i in range(a.size):
        a[i] = callable(a[i].item(), b[i].item())
    return self


Tensor.diag = _diag
Tensor.trace = _trace
Tensor.apply_ = _apply_
Tensor.map_ = _map_
Tensor.diag_embed = cr.diag_embed


# ---------------------------------------------------------------- composites (_functions/misc.py)
from ._functions import misc as _misc  # noqa: E402  (after _assign_result, which its in-place ops use)
_bind(_misc, _misc.TENSOR_METHODS)
_bind(la, ["vdot"])


# ---------------------------------------------------------------- dense linear algebra (_functions/linalg_dense.py)
from ._functions import linalg_dense as _ld  # noqa: E402
_bind(_ld, "det logdet matrix_power matrix_exp cholesky_solve cholesky_inverse triangular_solve pinverse".split())
_bind(_ld, ["orgqr", "geqrf"])
Tensor.inverse = _ld.inv
Tensor.cholesky = _ld.cholesky_legacy
Tensor.qr = _ld.qr_legacy
Tensor.svd = _ld.svd_legacy
Tensor.slogdet = lambda self: _ld.return_types.slogdet(*_ld.slogdet(self))
Tensor.lu_solve = lambda self, LU_data, LU_pivots: _ld.lu_solve(LU_data, LU_pivots, self)


def _lu(self, pivot=True, get_infos=False):
    LU, piv, info = _ld.lu_factor_ex(self, pivot=pivot)
    return (LU, piv, info) if get_infos else (LU, piv)


Tensor.lu = _lu


# ---------------------------------------------------------------- scatter_reduce / index_reduce
from ._functions import scatter_reduce as _sr  # noqa: E402
_bind(_sr, "scatter_reduce scatter_reduce_ index_reduce index_reduce_".split())


# ---------------------------------------------------------------- remaining torch.Tensor names (_functions/extra.py)
from ._functions import extra as _extra  # noqa: E402
_extra.attach_methods()
from ._functions import complex_on_real as _cor, buffer_and_static as _bas  # noqa: E402
_cor.attach_methods()
_bas.attach_methods()


# ---------------------------------------------------------------- nn.Module.load_state_dict's hook for subclasses
def _module_load(self, other, assign=False):
    """What load_state_dict puts in place of this tensor under flambeau.__future__'s swap mode: `other`
    detached if assign, else this tensor with other's values copied in, detached (a subclass overrides it to
    say how a checkpoint's plain tensor becomes one of its own; it dispatches through __torch_function__ as
    every method does once a subclass installs the protocol). PyTorch's Tensor.module_load."""
    if assign:
        return other.detach()
    return self.copy_(other).detach()


Tensor.module_load = _module_load


# ---------------------------------------------------------------- complex casts and const_data_ptr
def _cfloat(self, memory_format=None):
    """self.to(complex64) (PyTorch's Tensor.cfloat)."""
    from . import complex64
    return self.to(complex64) if memory_format is None else self.to(complex64, memory_format=memory_format)


def _cdouble(self, memory_format=None):
    """self.to(complex128) (PyTorch's Tensor.cdouble)."""
    from . import complex128
    return self.to(complex128) if memory_format is None else self.to(complex128, memory_format=memory_format)


Tensor.cfloat, Tensor.cdouble = _cfloat, _cdouble
Tensor.const_data_ptr = Tensor.data_ptr  # (PyTorch's read-only pointer: the same address)
