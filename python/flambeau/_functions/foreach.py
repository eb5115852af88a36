"""torch._foreach_*: one op applied to every tensor of a list (timm's ModelEmaV3, hand-written optimizers and
gradient-norm code call them directly).

Each is a loop over the per-tensor op, which is also what PyTorch runs on CPU (its fused multi-tensor
kernels are CUDA-only); autograd therefore flows through the out-of-place forms as it does in PyTorch.
Out-of-place forms return a tuple of new tensors; in-place forms (trailing underscore) update the tensors
and return the list they were given, as PyTorch's do. The second operand may be a scalar, a list of
scalars, a tensor (applied to every tensor) or a list of tensors, where PyTorch accepts that form.
"""
import numbers

from .._tensor import Tensor

_UNARY = ("abs", "acos", "asin", "atan", "ceil", "cos", "cosh", "erf", "erfc", "exp", "expm1", "floor", "frac",
          "lgamma", "log", "log10", "log1p", "log2", "neg", "reciprocal", "round", "rsqrt", "sigmoid", "sign", "sin",
          "sinh", "sqrt", "tan", "tanh", "trunc")
_BINARY = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "clamp_min", "clamp_max")

__all__ = []


def _check_list(name, tensors):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"_foreach_{name}: expected a list of tensors, got {type(tensors).__name__}")
    if len(tensors) == 0:
        raise RuntimeError("Tensor list must have at least one tensor.")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"_foreach_{name}: expected a list of tensors, got an element of type {type(t).__name__}")


def _per_tensor(name, tensors, other):
    """other spread over the list: one value per tensor."""
    n = len(tensors)
    if isinstance(other, (list, tuple)):
        if len(other) != n:
            if other and all(isinstance(o, Tensor) for o in other):
                raise RuntimeError(f"Tensor lists must have the same number of tensors, got {n} and {len(other)}")
            raise RuntimeError("Tensor list must have same number of elements as scalar list.")
        for o in other:
            if not isinstance(o, (Tensor, numbers.Number)):
                raise TypeError(f"_foreach_{name}: unsupported operand of type {type(o).__name__}")
        return list(other)
    if isinstance(other, (Tensor, numbers.Number)):
        return [other] * n
    raise TypeError(f"_foreach_{name}: unsupported operand of type {type(other).__name__}")


def _scalar_or_tensor_method(t, name, o, inplace, **kw):
    if name in ("maximum", "minimum"):  # Tensor.maximum takes tensors only and has no in-place form
        clamp = "clamp_min" if name == "maximum" else "clamp_max"
        if isinstance(o, numbers.Number):
            return getattr(t, clamp + "_" if inplace else clamp)(o)
        return t.copy_(getattr(t, name)(o)) if inplace else getattr(t, name)(o)
    method = getattr(t, name + "_" if inplace else name)
    return method(o, **kw)


def _make_unary(name):
    def op(self):
        _check_list(name, self)
        return tuple(getattr(t, name)() for t in self)

    def op_(self):
        _check_list(name + "_", self)
        for t in self:
            getattr(t, name + "_")()
        return self
    return op, op_


def _make_binary(name):
    takes_alpha = name in ("add", "sub")

    def apply(self, other, inplace, alpha):
        _check_list(name + ("_" if inplace else ""), self)
        others = _per_tensor(name, self, other)
        kw = {"alpha": alpha} if takes_alpha and alpha != 1 else {}
        if kw and not all(isinstance(o, Tensor) for o in others):
            raise TypeError(f"_foreach_{name}: alpha is only accepted with a list of tensors")
        return [_scalar_or_tensor_method(t, name, o, inplace, **kw) for t, o in zip(self, others)]

    if takes_alpha:
        def op(self, other, *, alpha=1):
            return tuple(apply(self, other, False, alpha))

        def op_(self, other, *, alpha=1):
            apply(self, other, True, alpha)
            return self
    elif name == "pow":
        def op(self, exponent):
            if isinstance(self, numbers.Number):  # _foreach_pow(scalar, tensors): scalar ** each tensor
                _check_list(name, exponent)
                return tuple(self ** t for t in exponent)
            return tuple(apply(self, exponent, False, 1))

        def op_(self, exponent):
            apply(self, exponent, True, 1)
            return self
    else:
        def op(self, other):
            return tuple(apply(self, other, False, 1))

        def op_(self, other):
            apply(self, other, True, 1)
            return self
    return op, op_


def _pointwise3(name):
    def apply(self, tensor1, tensor2, value, inplace):
        _check_list(name + ("_" if inplace else ""), self)
        t1 = _per_tensor(name, self, tensor1)
        t2 = _per_tensor(name, self, tensor2)
        if isinstance(value, Tensor) and value.dim() == 1:  # one scalar per tensor, packed in a 1-D tensor
            value = value.tolist()
        values = _per_tensor(name, self, value)
        out = []
        for t, a, b, v in zip(self, t1, t2, values):
            v = v.item() if isinstance(v, Tensor) else v
            out.append(getattr(t, name + "_" if inplace else name)(a, b, value=v))
        return out

    def op(self, tensor1, tensor2, value=1):
        return tuple(apply(self, tensor1, tensor2, value, False))

    def op_(self, tensor1, tensor2, value=1):
        apply(self, tensor1, tensor2, value, True)
        return self
    return op, op_


def _make_lerp():
    def apply(self, tensors1, weight, inplace):
        _check_list("lerp_" if inplace else "lerp", self)
        ends = _per_tensor("lerp", self, tensors1)
        weights = _per_tensor("lerp", self, weight)
        return [(t.lerp_ if inplace else t.lerp)(e, w) for t, e, w in zip(self, ends, weights)]

    def op(self, tensors1, weight):
        return tuple(apply(self, tensors1, weight, False))

    def op_(self, tensors1, weight):
        apply(self, tensors1, weight, True)
        return self
    return op, op_


def _foreach_norm(self, ord=2, dtype=None):
    _check_list("norm", self)
    return tuple(t.norm(p=ord, dtype=dtype) if dtype is not None else t.norm(p=ord) for t in self)


def _foreach_max(self):
    _check_list("max", self)
    return tuple(t.max() for t in self)


def _foreach_clone(self):
    _check_list("clone", self)
    return tuple(t.clone() for t in self)


def _foreach_zero_(self):
    _check_list("zero_", self)
    for t in self:
        t.zero_()
    return self


def _foreach_copy_(self, src, non_blocking=False):
    _check_list("copy_", self)
    srcs = _per_tensor("copy_", self, src)
    for t, s in zip(self, srcs):
        t.copy_(s, non_blocking=non_blocking)
    return self


def _export(name, fn):
    fn.__name__ = fn.__qualname__ = name
    globals()[name] = fn
    __all__.append(name)


for _name in _UNARY:
    _op, _op_ = _make_unary(_name)
    _export(f"_foreach_{_name}", _op)
    _export(f"_foreach_{_name}_", _op_)
for _name in _BINARY:
    _op, _op_ = _make_binary(_name)
    _export(f"_foreach_{_name}", _op)
    _export(f"_foreach_{_name}_", _op_)
for _name in ("addcmul", "addcdiv"):
    _op, _op_ = _pointwise3(_name)
    _export(f"_foreach_{_name}", _op)
    _export(f"_foreach_{_name}_", _op_)
_op, _op_ = _make_lerp()
_export("_foreach_lerp", _op)
_export("_foreach_lerp_", _op_)
__all__ += ["_foreach_norm", "_foreach_max", "_foreach_clone", "_foreach_zero_", "_foreach_copy_"]
