"""torch.masked.MaskedTensor (a prototype in PyTorch too): a tensor whose boolean mask says which elements
are specified; ops carry the mask along.

Rules (PyTorch's prototype semantics):
- Elementwise ops keep the mask; two MaskedTensor operands must have equal masks ("Input masks must match");
  a plain tensor or a number beside a MaskedTensor is taken as data under the MaskedTensor's mask.
- Reductions (sum, mean, amax, amin, prod, argmax, argmin, norm, var, std, logsumexp, median, all, any) reduce
  the specified elements only (torch.masked's ops in _ops.py) and return a MaskedTensor whose mask says
  whether each output saw any specified element.
- softmax / log_softmax / softmin normalise over the specified elements; shape ops (view, reshape,
  transpose, permute, indexing, ...) are applied to the mask as well.
- Autograd: data is attached to the MaskedTensor's graph (a leaf made with requires_grad=True collects
  gradients); `.grad` reads as a MaskedTensor with the same mask.
`to_tensor(value)` gives a plain tensor with `value` at the unspecified elements."""
import warnings

from .._tensor import Tensor, _blank
from . import _ops

__all__ = ["MaskedTensor", "masked_tensor", "as_masked_tensor", "is_masked_tensor"]

_REDUCTIONS = {"sum", "mean", "amax", "amin", "prod", "argmax", "argmin", "norm", "var", "std", "logsumexp",
               "median", "all", "any", "max", "min"}
_NORMALIZATIONS = {"softmax": "softmax", "log_softmax": "log_softmax", "softmin": "softmin"}
# Ops whose result has another shape than the input's: the same op is applied to the mask.
_SHAPE_OPS = {"view", "reshape", "transpose", "permute", "t", "__getitem__", "unsqueeze", "squeeze", "flatten",
              "expand", "expand_as", "select", "narrow", "contiguous", "clone", "detach", "movedim", "swapaxes",
              "swapdims", "unflatten", "view_as", "reshape_as", "chunk", "split", "unbind", "flip", "roll",
              "getitem", "__get__"}


def is_masked_tensor(obj):
    """True for a MaskedTensor."""
    return isinstance(obj, MaskedTensor)


def _check(data, mask):
    if not isinstance(data, Tensor) or not isinstance(mask, Tensor):
        raise TypeError(f"MaskedTensor: data and mask must be Tensors, got {type(data).__name__} and "
                        f"{type(mask).__name__}")
    if mask.dtype._name != "bool":
        raise ValueError("mask must have dtype bool.")
    if tuple(data.shape) != tuple(mask.shape):
        raise ValueError(f"MaskedTensor: data and mask must have the same shape, got data {list(data.shape)} "
                         f"and mask {list(mask.shape)}")
    if data.layout != mask.layout:
        raise TypeError("data and mask must have the same layout.")


class MaskedTensor(Tensor):
    """MaskedTensor(data, mask, requires_grad=False): see the module docstring."""

    def __new__(cls, data, mask, requires_grad=False):
        _check(data, mask)
        warnings.warn("The PyTorch API of MaskedTensors is in prototype stage and will change in the near "
                      "future. Please open a Github issue for features requests and see our documentation on "
                      "the torch.masked module for further information about the project.", UserWarning,
                      stacklevel=2)
        return cls._wrap(data, mask, requires_grad)

    def __init__(self, data, mask, requires_grad=False):
        pass

    @classmethod
    def _wrap(cls, data, mask, requires_grad=False):
        """The MaskedTensor over data and mask without the checks or the warning. A data tensor with history
        stays attached (the MaskedTensor aliases it), so gradients flow back through masked ops."""
        if data.requires_grad and not requires_grad:
            t = data.as_subclass(cls)
        else:
            t = Tensor._make_subclass(cls, data.detach() if requires_grad else data, requires_grad)
        t._masked_mask = mask
        return t

    # ------------------------------------------------------------------ accessors
    def get_data(self):
        """The data, attached to this tensor's autograd graph (every element, specified or not)."""
        from .._torch_function import DisableTorchFunctionSubclass
        with DisableTorchFunctionSubclass():
            return self.as_subclass(Tensor)

    def get_mask(self):
        return self._masked_mask

    def is_sparse_coo(self):
        return False

    def is_sparse_csr(self):
        return False

    def to_tensor(self, value):
        """A plain tensor: the data where specified, `value` elsewhere."""
        import flambeau
        data = self.get_data()
        return flambeau.where(self._masked_mask, data, flambeau.tensor(value, dtype=data.dtype))

    @property
    def grad(self):
        g = self._grad
        return None if g is None else MaskedTensor._wrap(g, self._masked_mask)

    @grad.setter
    def grad(self, value):
        self._grad = value.get_data() if isinstance(value, MaskedTensor) else value

    def __repr__(self):
        data, mask = self.get_data().detach(), self._masked_mask
        if data.dim() == 0:
            return f"MaskedTensor({float(data) if data.is_floating_point() else data.item()!r:>8}, " \
                   f"{bool(mask)})"
        cells = [("--" if not m else (f"{v:.4f}" if data.is_floating_point() else str(v)))
                 for v, m in zip(data.reshape(-1).tolist(), mask.reshape(-1).tolist())]
        width = max((len(c) for c in cells), default=2)
        shape = list(data.shape)

        def block(offset, dims, indent):
            if len(dims) == 1:
                row = ", ".join(c.rjust(width) for c in cells[offset:offset + dims[0]])
                return f"{indent}[{row}]"
            step = 1
            for d in dims[1:]:
                step *= d
            inner = ",\n".join(block(offset + i * step, dims[1:], indent + "  ") for i in range(dims[0]))
            return f"{indent}[\n{inner}\n{indent}]"
        return "MaskedTensor(\n" + block(0, shape, "  ") + "\n)"

    __str__ = __repr__

    # ------------------------------------------------------------------ dispatch
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        from .._torch_function import DisableTorchFunctionSubclass
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in ("get_data", "get_mask", "to_tensor", "__repr__", "__str__", "grad"):
            with DisableTorchFunctionSubclass():
                return func(*args, **kwargs)
        if name == "__get__":  # a property: tensor-valued ones (T, mT, data, ...) carry the mask too
            with DisableTorchFunctionSubclass():
                out = func(*args, **kwargs)
            if not isinstance(out, Tensor) or not isinstance(args[0], MaskedTensor):
                return out
            mask_out = func(args[0]._masked_mask) if tuple(out.shape) != tuple(args[0].shape) or \
                getattr(func, "__self__", None) is not None else args[0]._masked_mask
            if tuple(mask_out.shape) != tuple(out.shape):
                mask_out = args[0]._masked_mask
            return MaskedTensor._wrap(out.as_subclass(Tensor) if type(out) is not Tensor else out, mask_out)
        if name in _REDUCTIONS:
            return _reduce(name, args, kwargs)
        if name in _NORMALIZATIONS:
            return _normalize(name, args, kwargs)
        return _elementwise_or_shape(func, name, args, kwargs)


def _first_masked(args):
    for a in args:
        if isinstance(a, MaskedTensor):
            return a
        if isinstance(a, (list, tuple)):
            m = _first_masked(a)
            if m is not None:
                return m
    return None


def _unwrap(obj, masks):
    if isinstance(obj, MaskedTensor):
        masks.append(obj._masked_mask)
        return obj.get_data()
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unwrap(o, masks) for o in obj)
    return obj


def _masks_equal(masks):
    first = masks[0]
    for m in masks[1:]:
        if m is first:
            continue
        if tuple(m.shape) != tuple(first.shape) or not bool((m == first).all()):
            raise ValueError("Input masks must match. If you need support for this, please open an issue on "
                             "Github.")


def _rewrap(out, mask):
    if isinstance(out, Tensor) and not isinstance(out, MaskedTensor):
        return MaskedTensor._wrap(out, mask)
    if isinstance(out, (list, tuple)) and all(isinstance(o, Tensor) for o in out):
        return type(out)(MaskedTensor._wrap(o, mask) for o in out)
    return out


def _elementwise_or_shape(func, name, args, kwargs):
    masks = []
    plain_args = _unwrap(args, masks)
    plain_kwargs = {k: _unwrap(v, masks) for k, v in kwargs.items()}
    _masks_equal(masks)
    mask = masks[0]
    out = func(*plain_args, **plain_kwargs)
    if name.endswith("_") and not name.startswith("__") and isinstance(args[0], MaskedTensor):
        return args[0]  # in place: the data was written through the alias
    if name in _SHAPE_OPS:
        mask_args = [mask if isinstance(a, MaskedTensor) else a for a in args]
        mask_out = func(*mask_args, **kwargs)
        if isinstance(out, (list, tuple)):
            return type(out)(MaskedTensor._wrap(o, m) for o, m in zip(out, mask_out))
        return MaskedTensor._wrap(out, mask_out)
    if isinstance(out, Tensor) and tuple(out.shape) != tuple(mask.shape):
        raise TypeError(f"MaskedTensor: {name} changes the shape ({list(mask.shape)} -> {list(out.shape)}) and "
                        "has no masked rule in flambeau; call it on mt.get_data() or mt.to_tensor(value)")
    return _rewrap(out, mask)


def _reduce(name, args, kwargs):
    import flambeau
    mt = args[0]
    if not isinstance(mt, MaskedTensor):
        raise TypeError(f"MaskedTensor: {name} with a MaskedTensor in another position than the input")
    rest = list(args[1:])
    dim = kwargs.pop("dim", rest.pop(0) if rest and name != "norm" else None)
    keepdim = kwargs.pop("keepdim", rest.pop(0) if rest and isinstance(rest[0], bool) else False)
    data, mask = mt.get_data(), mt._masked_mask
    if name in ("all", "any"):
        filled = flambeau.where(mask, data.bool(), flambeau.tensor(name == "all"))
        out = filled.all() if dim is None and name == "all" else filled.any() if dim is None else \
            getattr(filled, name)(dim, keepdim)
    elif name in ("max", "min") and dim is None:
        out = getattr(_ops, "amax" if name == "max" else "amin")(data, mask=mask)
    elif name in ("max", "min"):
        raise TypeError(f"MaskedTensor: {name}(dim) is not supported; use amax/amin and argmax/argmin")
    elif name == "norm":
        p = kwargs.pop("p", rest.pop(0) if rest else 2.0)
        dim = kwargs.pop("dim", rest.pop(0) if rest else dim)
        out = _ops.norm(data, 2.0 if p in (None, "fro") else p, dim, keepdim=keepdim, mask=mask, **kwargs)
    elif name in ("argmax", "argmin"):
        out = getattr(_ops, name)(data, dim, keepdim=keepdim, mask=mask, **kwargs)
    elif name == "median":
        out = _ops.median(data, -1 if dim is None else dim, keepdim=keepdim, mask=mask)
    else:
        out = getattr(_ops, name)(data, dim, keepdim=keepdim, mask=mask, **kwargs)
    dims = _ops._canonical_dim(dim, data.dim(), name) if name not in ("argmax", "argmin", "median") or \
        dim is not None else tuple(range(data.dim()))
    out_mask = mask.any(dims, keepdim) if dims else mask.clone()
    if dim is None and not keepdim:
        out_mask = mask.any()
    return MaskedTensor._wrap(out, out_mask)


def _normalize(name, args, kwargs):
    mt = args[0]
    rest = list(args[1:])
    dim = kwargs.pop("dim", rest.pop(0) if rest else None)
    if dim is None:
        raise TypeError(f"MaskedTensor: {name} needs dim")
    dtype = kwargs.pop("dtype", None)
    out = getattr(_ops, _NORMALIZATIONS[name])(mt.get_data(), dim, dtype=dtype, mask=mt._masked_mask)
    return MaskedTensor._wrap(out, mt._masked_mask)


def masked_tensor(data, mask, requires_grad=False):
    """A MaskedTensor over a copy-free detach of data (a new leaf), as torch.masked.masked_tensor."""
    return MaskedTensor(data.detach(), mask.detach(), requires_grad)


def as_masked_tensor(data, mask):
    """A MaskedTensor that stays attached to data's autograd graph (gradients flow back to data)."""
    _check(data, mask)
    return MaskedTensor._wrap(data, mask)
