"""The "meta" device: tensors with a shape, dtype and strides but no data, as PyTorch's. transformers
builds a model there before loading a checkpoint into it (init_empty_weights, then load_state_dict(...,
assign=True) or Module.to_empty()), and code uses it to work out shapes without allocating.

A meta tensor is a `MetaTensor`, a Tensor subclass (as the sparse tensors are: the dense hot paths test
`x.__class__ is Tensor` and pay nothing for it) whose `_impl` is a `_MetaImpl` (shape, dtype, strides;
no storage: anything a dense kernel would need raises). Its __torch_function__ answers every op that a
meta tensor takes part in from shape rules only: metadata reads run as usual, in-place ops (the nn.init
initialisers) do nothing, shape/elementwise/matmul/reduction/view ops give a meta result of PyTorch's
shape and dtype, and the rest raise NotImplementedError naming the op. Nothing is ever computed, so a
(100000, 100000) meta matmul costs what a (2, 2) one does.

This module is imported on the first request for a meta tensor: defining MetaTensor installs the
__torch_function__ protocol (_torch_function.py), which programs that never use meta do not pay for.
`Parameter(meta_tensor)` takes PyTorch's path for tensor subclasses: the result is a MetaTensor flagged
as a parameter, so isinstance(p, nn.Parameter) holds and a Module registers it.
"""
import collections
import math

from ._meta_impl import MetaOnlyImpl
from . import _meta_rules
from ._tensor import Tensor, _blank, _GRAD_DTYPES
from ._dtype import _BY_NAME, _to_dtype, dtype as _dtype_cls
from ._utils import wrap_dim, contiguous_strides as _contiguous_strides
from . import _promote
from ._creation import _is_meta_request as is_meta_device  # device='meta' / device('meta')
from . import _torch_function as _tf

_ITEMSIZE = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4, "int16": 2,
             "int8": 1, "uint8": 1, "bool": 1, "complex64": 8, "complex128": 16}
_FLOAT = ("float32", "float64", "float16", "bfloat16")
_NO_DATA = "Cannot copy out of meta tensor; no data!"
_TENSOR_NAMES = {}  # (see _name)


class _MetaImpl(MetaOnlyImpl):
    """The `_impl` of a meta tensor: shape, dtype, strides; no data (see the module docstring)."""
    __slots__ = ("stride", "storage_offset")

    def __init__(self, shape, dtype, stride=None, storage_offset=0):
        MetaOnlyImpl.__init__(self, tuple(shape), dtype, "meta")
        self.stride = _contiguous_strides(self.shape) if stride is None else tuple(stride)
        self.storage_offset = storage_offset

    @property
    def itemsize(self):
        return _ITEMSIZE[self.dtype]

    @property
    def version(self):
        return 0

    def is_contiguous(self):
        return self.stride == _contiguous_strides(self.shape) or self.numel == 0 or all(
            s == 1 for s in self.shape)

    def variable_data(self):
        return _MetaImpl(self.shape, self.dtype, self.stride, self.storage_offset)

    # (read by code that picks a kernel: no meta tensor is on a GPU)
    is_cuda = False

    @property
    def storage_ptr(self):
        return id(self)  # (the backward engine's aliasing bookkeeping: no two meta tensors share data)

    def __getattr__(self, name):
        raise NotImplementedError(f"this operation needs a tensor's data ('{name}'), which a meta tensor "
                                  "(device='meta') does not have")


class MetaTensor(Tensor):
    """A tensor on the meta device (see the module docstring)."""
    __slots__ = ()

    def __new__(cls, *args, **kwargs):
        raise TypeError("create meta tensors with flambeau.empty(..., device='meta') or t.to('meta')")

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _name(func)
        rule = _RULES.get(name)
        st = _tf._local
        st.disabled += 1  # the rules call ops on plain tensors and read metadata: no re-dispatch
        try:
            if name in _METADATA:
                return func(*args, **kwargs)
            if rule is None and (name in _meta_rules.COMPOSITE or name == "backward"):
                return _composite(name, func, args, kwargs)
            if name in _INPLACE_RULES:
                r = rule(*args, **kwargs)
                _record_inplace(name, args[0], args, kwargs)
                return r
            if rule is not None:
                return _track(name, rule(*args, **kwargs), args, kwargs)
            if name.endswith("_") and not name.startswith("_") and args and isinstance(args[0], MetaTensor):
                r = _inplace(*args, **kwargs)  # the nn.init initialisers and friends: nothing to write
                _record_inplace(name, args[0], args, kwargs)
                return r
            if name in _ELEMENTWISE:
                return _track(name, _elementwise(name, args, kwargs), args, kwargs)
        finally:
            st.disabled -= 1
        raise NotImplementedError(f"{name}: not supported on meta tensors (device='meta') by flambeau")

    # The device's flags (Tensor's are computed from the device string).
    @property
    def is_meta(self):
        return True

    @property
    def is_cuda(self):
        return False

    @property
    def is_cpu(self):
        return False

    def get_device(self):
        return -1

    def __repr__(self, *, tensor_contents=None):
        extra = "" if self._impl.dtype == "float32" else f", dtype={_BY_NAME[self._impl.dtype]}"
        rg = ", requires_grad=True" if self.requires_grad else ""
        s = f"tensor(..., device='meta', size={tuple(self._impl.shape)}{extra}{rg})"
        return ("Parameter containing:\n" + s) if self.__dict__.get("_is_param") else s

    __str__ = __repr__

    def __bool__(self):
        raise RuntimeError("Tensor.item() cannot be called on meta tensors")

    def __reduce_ex__(self, proto):
        return (_rebuild, (tuple(self._impl.shape), self._impl.dtype, self.requires_grad))

    def __deepcopy__(self, memo):
        t = make(self._impl.shape, self._impl.dtype, self._impl.stride)
        t.requires_grad = self.requires_grad
        t.__dict__.update(self.__dict__)
        memo[id(self)] = t
        return t


for _k, _v in Tensor.__dict__.items():
    if (callable(_v) and not isinstance(_v, type)) or isinstance(_v, property):
        try:
            _TENSOR_NAMES.setdefault(_v, _k)
        except TypeError:  # (unhashable)
            pass


# Ops whose results never require grad through their inputs (the factories set it from their argument).
_NO_GRAD = frozenset(("detach", "data", "empty_like", "zeros_like", "ones_like", "full_like", "rand_like",
                      "randn_like", "new_empty", "new_zeros", "new_ones", "new_full", "__setitem__"))
# Rules of in-place ops: their target takes the history (_record_inplace), not a new result.
_INPLACE_RULES = frozenset(["copy_", "__setitem__"] + [f"__i{op}__" for op in (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor", "matmul", "lshift", "rshift")])


def _composite(name, func, args, kwargs):
    """Runs a composite function's own body (_meta_rules.COMPOSITE) with dispatch on, so each op it calls
    meets its meta rule; a kernel reached with a meta tensor is reported as this op's missing rule."""
    st = _tf._local
    saved = st.disabled
    st.disabled = 0
    try:
        return _tf.unwrapped(func)(*args, **kwargs)
    except (TypeError, RuntimeError) as e:  # (_C handed a meta tensor, or the meta device's name)
        if "incompatible function arguments" in str(e) or "invalid device string 'meta'" in str(e):
            raise NotImplementedError(f"{name}: not supported on meta tensors (device='meta') by flambeau") from None
        raise
    finally:
        st.disabled = saved


def _track(name, result, args, kwargs):
    """Records a meta op in the autograd graph, as PyTorch does on its meta device: when grad mode is on and
    an input requires grad, the floating results require grad and get a grad_fn whose backward gives each
    such input a meta gradient of its own shape and dtype (all a gradient of a tensor without data can be).
    So requires_grad, grad_fn, is_leaf and .backward() behave as on real tensors; .grad is a meta tensor."""
    from .autograd.grad_mode import _state
    if not _state.enabled or name in _NO_GRAD:
        return result
    ins = [a for a in _tensors_in(args, kwargs) if a._rg]
    if not ins:
        return result
    outs = result if isinstance(result, tuple) else (result,)
    first = args[0] if args else None
    diff = [(i, r) for i, r in enumerate(outs)
            if type(r) is MetaTensor and r._impl.dtype in _GRAD_DTYPES and r is not first]
    if diff:
        if name == "__getitem__":
            name = _getitem_kind(args[1])
        elif name in ("sum", "mean", "nansum") and (kwargs.get("dim") is not None or (
                len(args) > 1 and args[1] is not None and not isinstance(args[1], bool))):
            name += "_dim"  # PyTorch's SumBackward1/MeanBackward1
        node = _node(name, ins, outs)
        for i, r in diff:
            r._rg = True
            r._gfn = node
            r._output_nr = i
    return result


def _record_inplace(name, t, args, kwargs):
    """An in-place op (add_, mul_, copy_, t[i] = v, ...) on meta tensor t under grad mode: t takes a new grad_fn
    leading to its previous history (not for copy_, which overwrites every value) and to the other operands
    that require grad; a leaf that requires grad is refused, as PyTorch does. (Meta results are not views of
    their base, so an in-place op on a view does not reach the base's history.)"""
    from .autograd.grad_mode import _state
    if not _state.enabled or type(t) is not MetaTensor:
        return
    others = [a for a in _tensors_in(args[1:], kwargs) if a._rg and a is not t]
    if t._rg and t._gfn is None and t._base is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    if not others and not t._rg:
        return
    if t._impl.dtype not in _GRAD_DTYPES:
        return
    ins = ([t] if t._rg and name != "copy_" else []) + others
    node = _node(name, ins, (t,))
    t._rg = True
    t._gfn = node
    t._output_nr = 0


def _getitem_kind(idx):
    """PyTorch's grad_fn for t[idx]: IndexBackward0 with tensor/list indices, else the last basic step's."""
    idx = idx if isinstance(idx, tuple) else (idx,)
    if any(isinstance(i, (Tensor, list)) for i in idx):
        return "getitem_index"
    for i in reversed(idx):
        if isinstance(i, int) and not isinstance(i, bool):
            return "getitem_select"
        if isinstance(i, slice):
            return "getitem_slice"
        if i is None:
            return "getitem_unsqueeze"
    return "getitem_alias"


_NODE_CLASSES = {}
# PyTorch's grad_fn names where ours would differ from the op's name (the rest: CamelCase of the name).
_GRAD_NAMES = {"radd": "Add", "iadd": "Add", "rmul": "Mul", "imul": "Mul", "isub": "Sub", "rsub": "Rsub",
               "truediv": "Div", "rtruediv": "Div", "itruediv": "Div", "true_divide": "Div", "matmul": "Mm",
               "rmatmul": "Mm", "getitem_index": "Index", "getitem_select": "Select",
               "getitem_slice": "Slice", "getitem_unsqueeze": "Unsqueeze", "getitem_alias": "Alias",
               "setitem": "CopySlices", "copy_": "Copy",
               "linear": "Addmm", "layer_norm": "NativeLayerNorm", "batch_norm": "NativeBatchNorm",
               "group_norm": "NativeGroupNorm", "reshape": "View", "flatten": "View", "contiguous": "Clone",
               "conv1d": "Convolution", "conv2d": "Convolution", "conv3d": "Convolution",
               "conv_transpose1d": "Convolution", "conv_transpose2d": "Convolution",
               "conv_transpose3d": "Convolution", "t": "T", "mT": "Transpose", "T": "Permute"}


def _node_class(name):
    global _MetaGradFunction
    cls = _NODE_CLASSES.get(name)
    if cls is None:
        if _MetaGradFunction is None:
            _MetaGradFunction = _define_grad_function()
        base = name.strip("_")
        if name.startswith("__i") and name.endswith("__") or name.startswith("__r") and name.endswith("__"):
            base = name[3:-2]
        camel = _GRAD_NAMES.get(name.strip("_")) or _GRAD_NAMES.get(base) or \
            "".join(w[:1].upper() + w[1:] for w in base.rstrip("_").split("_"))
        full = camel if camel == "CopySlices" else camel + "Backward0"
        if name.endswith("_dim"):
            full = camel[:-3] + "Backward1"
        cls = _NODE_CLASSES[name] = type(f"Meta{camel}", (_MetaGradFunction,), {
            "_grad_fn_name": full, "_builtin": True})
    return cls


def _node(name, ins, outs):
    """The grad_fn of a meta op: edges to the inputs that require grad, their shapes for the gradients."""
    from .autograd import function as _fn
    ctx = _node_class(name)._backward_cls()
    ctx.next_functions = tuple(_fn._edge(a) for a in ins)
    ctx.needs_input_grad = (True,) * len(ins)
    ctx._meta_in = tuple((tuple(a._impl.shape), a._impl.dtype, a._impl.device == "meta") for a in ins)
    ctx._n_outputs = len(outs)
    ctx._out_meta = tuple((tuple(o._impl.shape), o._impl.dtype, "meta") if isinstance(o, Tensor) else None
                          for o in outs)
    return ctx


def _tensors_in(args, kwargs):
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (e for e in a if isinstance(e, Tensor))


def _meta_grads(ctx, *grads):
    """The backward of every meta node: a meta gradient shaped like each input. An input off the meta device
    would need real values, which PyTorch reports the same way. Under create_graph the gradients get a node
    of their own leading to the incoming gradients and to the op's inputs: a gradient may depend on both
    (exp's does, add's does not; without values the dependence is taken to be there, so a second
    derivative is a meta tensor wherever PyTorch's could be one, and never missing)."""
    out = []
    for shape, dt, on_meta in ctx._meta_in:
        if not on_meta:
            raise NotImplementedError(_NO_DATA)
        out.append(make(shape, dt))
    from .autograd.grad_mode import _state
    if _state.enabled:  # create_graph=True
        from .autograd import function as _fn
        gin = [g for g in grads if isinstance(g, Tensor) and g._rg]
        node = _node_class(ctx._name.rsplit("Backward", 1)[0] + "_backward")._backward_cls()
        node.next_functions = tuple(ctx.next_functions) + tuple(_fn._edge(g) for g in gin)
        node.needs_input_grad = (True,) * len(node.next_functions)
        node._meta_in = tuple(ctx._meta_in) + tuple((tuple(g._impl.shape), g._impl.dtype, True) for g in gin)
        node._n_outputs = len(out)
        node._out_meta = tuple((tuple(o._impl.shape), o._impl.dtype, "meta") for o in out)
        for k, o in enumerate(out):
            if o._impl.dtype in _GRAD_DTYPES:
                o._rg = True
                o._gfn = node
                o._output_nr = k
    return tuple(out)


def _define_grad_function():
    from .autograd.function import Function

    class MetaGrad(Function):
        _builtin = True
        backward = staticmethod(_meta_grads)
    return MetaGrad


_MetaGradFunction = None  # (defined on first use below: autograd imports after this module's top)


def _rebuild(shape, dtype, requires_grad):
    t = make(shape, dtype)
    t.requires_grad = requires_grad
    return t


# Tensor's methods by the name they have on Tensor (a method's __name__ may be a shared helper's: the
# comparison operators are all "op"); filled after MetaTensor (whose definition installs the wrappers).


def _name(func):
    n = _TENSOR_NAMES.get(func)
    if n is not None:
        return n
    s = getattr(func, "__self__", None)
    if isinstance(s, property):  # a dispatched property getter: Tensor.<name>.__get__
        return _TENSOR_NAMES.get(s) or _tf.unwrapped(s.fget).__name__
    return getattr(func, "__name__", "")


def make(shape, dtype, stride=None, requires_grad=False):
    """A new meta tensor (dtype: a dtype name)."""
    t = _blank(MetaTensor)
    t._impl = _MetaImpl(shape, dtype, stride)
    if requires_grad:
        t._rg = True
    return t


def _like(t, shape=None, dtype=None):
    impl = t._impl
    return make(impl.shape if shape is None else shape, impl.dtype if dtype is None else dtype)


def retag(t):
    """Gives `t` the class its `_impl` calls for after `t.data = ...` moved it onto or off the meta device
    (Module.to_empty keeps each Parameter object, as PyTorch's does)."""
    from .nn.parameter import Parameter
    if t._impl.device == "meta":
        if type(t) is not MetaTensor:
            if isinstance(t, Parameter):
                t.__dict__["_is_param"] = True
            t.__class__ = MetaTensor
    elif type(t) is MetaTensor:
        t.__class__ = Parameter if t.__dict__.pop("_is_param", False) else Tensor


def _dt_name(dtype, default):
    if dtype is None:
        return default
    return dtype._name if isinstance(dtype, _dtype_cls) else _to_dtype(dtype)._name


# ---------------------------------------------------------------- creation
def factory(op, shape, dtype, default_dtype, requires_grad=False):
    """empty/zeros/ones/full/rand/randn/empty_strided(..., device='meta')."""
    from ._dtype import get_default_dtype
    dt = _dt_name(dtype, default_dtype or get_default_dtype()._name)
    if any(s < 0 for s in shape):
        raise RuntimeError(f"{op}: negative dimension in size {list(shape)} (device='meta')")
    if requires_grad and dt not in _FLOAT and not dt.startswith("complex"):
        raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
    return make(shape, dt, requires_grad=requires_grad)


def to_meta(t, dtype=None):
    """t.to('meta'): a meta tensor of t's shape (and dtype, or the one asked for)."""
    impl = t._impl
    r = make(impl.shape, impl.dtype if dtype is None else dtype, requires_grad=False)
    return _track("_to_copy", r, (t,), {})  # (ToCopyBackward0; its backward raises: t has data, r none)


# ---------------------------------------------------------------- rules
# Metadata reads that run as for any tensor (they read shape/dtype/strides from the _MetaImpl only).
_METADATA = frozenset((
    "shape", "dtype", "device", "ndim", "layout", "requires_grad", "is_leaf", "grad_fn", "output_nr",
    "retains_grad", "itemsize", "nbytes", "is_sparse", "is_sparse_csr", "is_quantized", "size", "dim",
    "ndimension", "numel", "nelement", "element_size", "stride", "storage_offset", "is_floating_point",
    "is_complex", "is_signed", "requires_grad_", "__len__", "is_contiguous", "retain_grad", "register_hook",
    "__hash__", "__format__", "dim_order", "is_meta", "is_cuda", "is_cpu", "get_device", "is_nested",
    "is_inference"))


def _data_error(*args, **kwargs):
    raise NotImplementedError(_NO_DATA)


def _item(*args, **kwargs):
    raise RuntimeError("Tensor.item() cannot be called on meta tensors")


def _numpy(*args, **kwargs):
    raise TypeError("can't convert meta device type tensor to numpy. Use Tensor.cpu() to copy the tensor to "
                    "host memory first.")


def _detach(t):
    return _like(t) if type(t) is MetaTensor else t.detach()


def _inplace(t, *args, **kwargs):
    return t


def _detach_(t):
    t._rg = False
    t._gfn = None
    return t


def _copy_(dst, src, non_blocking=False):
    if type(dst) is not MetaTensor:  # a real tensor would need the meta tensor's data
        raise NotImplementedError(_NO_DATA)
    _broadcast(dst._impl.shape, _shape_of(src))
    return dst  # into a meta tensor: nothing to write (load_state_dict into a meta model, as PyTorch)


def _to(t, *args, **kwargs):
    from ._tensor import _parse_to
    kwargs.pop("memory_format", None)
    dt, dev, copy = _parse_to(args, dict(kwargs))
    if dev is not None and not is_meta_device(dev):
        raise NotImplementedError(_NO_DATA)
    if dt is None or dt._name == t._impl.dtype:
        return _like(t) if copy else t
    return _like(t, dtype=dt._name)


def _cast(dtype_name):
    def cast(t, memory_format=None):
        return t if t._impl.dtype == dtype_name else _like(t, dtype=dtype_name)
    return cast


def _type(t, dtype=None, non_blocking=False, **kwargs):
    if dtype is None:
        return "flambeau.meta." + {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor"}.get(
            t._impl.dtype, "Tensor")
    return _to(t, dtype)


def like_factory(op):
    def like(input, *args, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None,
             **kwargs):
        impl = input._impl
        dt = _dt_name(dtype, impl.dtype)
        if device is not None and not is_meta_device(device):
            # to_empty() and friends: a real tensor of the meta tensor's shape
            import flambeau
            shape = tuple(impl.shape)
            if op == "full_like":
                return flambeau.full(shape, args[0], dtype=_BY_NAME[dt], device=device, requires_grad=requires_grad)
            base = {"empty_like": "empty", "zeros_like": "zeros", "ones_like": "ones", "rand_like": "rand",
                    "randn_like": "randn"}[op]
            return getattr(flambeau, base)(shape, dtype=_BY_NAME[dt], device=device, requires_grad=requires_grad)
        return make(impl.shape, dt, requires_grad=requires_grad)
    return like


def _new_factory(op):
    def new(t, *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, **kwargs):
        from ._utils import parse_size
        shape = parse_size(size[:1] if op == "new_full" else size, op)
        dt = _dt_name(dtype, t._impl.dtype)
        if device is not None and not is_meta_device(device):
            import flambeau
            if op == "new_full":
                return flambeau.full(shape, size[1], dtype=_BY_NAME[dt], device=device)
            return getattr(flambeau, op[4:])(shape, dtype=_BY_NAME[dt], device=device)
        return make(shape, dt, requires_grad=requires_grad)
    return new


def _shape_of(x):
    impl = getattr(x, "_impl", None)
    return () if impl is None else tuple(impl.shape)


def _broadcast(*shapes):
    n = max((len(s) for s in shapes), default=0)
    out = [1] * n
    for s in shapes:
        for i, d in enumerate(s, n - len(s)):
            if d != 1:
                if out[i] != 1 and out[i] != d:
                    raise RuntimeError(f"The size of tensor a ({out[i]}) must match the size of tensor b ({d}) at "
                                       f"non-singleton dimension {i} (shapes {[list(x) for x in shapes]}, meta)")
                out[i] = d
    return tuple(out)


# op name -> result dtype kind: "same" (promoted operands), "float" (ints become the default float),
# "bool" (comparisons), "keep" (the first operand's dtype).
_ELEMENTWISE = {}
for _n in ("add sub mul rsub __add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __neg__ neg abs __abs__ "
           "maximum minimum clamp clip relu relu6 leaky_relu hardtanh where __and__ __or__ __xor__ "
           "__rand__ __ror__ __rxor__ bitwise_and bitwise_or bitwise_xor bitwise_not __invert__ __mod__ remainder "
           "fmod __pow__ pow __rpow__ floor ceil round trunc sign masked_fill dropout alpha_dropout "
           "feature_alpha_dropout dropout1d dropout2d dropout3d square __floordiv__ floor_divide "
           "__pos__ positive lerp addcmul addcdiv clamp_min clamp_max fmax fmin heaviside").split():
    _ELEMENTWISE[_n] = "same"
for _n in ("div true_divide __truediv__ __rtruediv__ exp exp2 expm1 log log2 log10 log1p sqrt rsqrt sin cos tan "
           "tanh sigmoid erf erfc erfinv gelu silu mish softplus elu selu celu hardswish hardsigmoid "
           "logsigmoid softsign tanhshrink atan asin acos sinh cosh asinh acosh atanh reciprocal "
           "softmax log_softmax atan2 hypot glu prelu rrelu logaddexp logaddexp2 xlogy copysign sinc deg2rad "
           "rad2deg logit").split():
    _ELEMENTWISE[_n] = "float"
for _n in ("eq ne lt le gt ge __eq__ __ne__ __lt__ __le__ __gt__ __ge__ logical_and logical_or logical_not "
           "logical_xor isnan isinf isfinite isclose isneginf isposinf signbit").split():
    _ELEMENTWISE[_n] = "bool"
for _n in ("layer_norm group_norm rms_norm batch_norm instance_norm normalize local_response_norm "
           "tril triu cumsum cumprod roll flip fliplr flipud softmin masked_scatter nan_to_num frac threshold "
           "hardshrink softshrink").split():
    _ELEMENTWISE[_n] = "keep"


def _elementwise(name, args, kwargs):
    kind = _ELEMENTWISE[name]
    if kind == "keep":  # shape and dtype of the first operand
        first = args[0] if args else kwargs.get("input")
        dt = _dt_name(kwargs.get("dtype"), first._impl.dtype)
        return make(first._impl.shape, dt)
    operands = [a for a in list(args) + list(kwargs.values()) if isinstance(a, (Tensor, int, float, complex, bool))
                and not (isinstance(a, bool) and name in ("softmax", "log_softmax"))]
    if name in ("softmax", "log_softmax", "glu", "prelu", "rrelu", "dropout", "alpha_dropout",
                "feature_alpha_dropout", "dropout1d", "dropout2d", "dropout3d", "leaky_relu", "hardtanh", "elu",
                "celu", "softplus", "gelu", "clamp", "clip", "relu6", "masked_fill", "lerp", "clamp_min", "clamp_max",
                "logit"):
        operands = [a for a in args[:1] if isinstance(a, Tensor)] + \
                   [a for a in args[1:] if isinstance(a, Tensor) and name in ("masked_fill", "lerp", "clamp", "clip")]
    tensors = [a for a in operands if isinstance(a, Tensor)]
    shape = _broadcast(*(_shape_of(a) for a in tensors))
    if name == "where" and len(args) >= 1:
        dt = _promote.result_type_names(*[a for a in args[1:3]])
    elif name in ("masked_fill", "clamp", "clip", "clamp_min", "clamp_max"):
        dt = tensors[0]._impl.dtype
    else:
        dt = _promote.result_type_names(*operands)
    if kind == "bool":
        dt = "bool"
    elif name in ("div", "true_divide") and kwargs.get("rounding_mode") is not None:
        pass  # floor/trunc division keeps integers integral
    elif kind == "float" and dt not in _FLOAT and not dt.startswith("complex"):
        from ._dtype import get_default_dtype
        dt = get_default_dtype()._name
    if kwargs.get("dtype") is not None:
        dt = _dt_name(kwargs["dtype"], dt)
    if name == "glu":
        dim = wrap_dim(kwargs.get("dim", args[1] if len(args) > 1 else -1), len(shape))
        shape = shape[:dim] + (shape[dim] // 2,) + shape[dim + 1:]
    return make(shape, dt)


# ---- views and shape ops
def _view(t, *shape):
    from ._utils import parse_size
    if len(shape) == 1 and isinstance(shape[0], (_dtype_cls, str)):
        raise NotImplementedError("view(dtype): not supported on meta tensors by flambeau")
    shape = list(parse_size(shape, "view"))
    n = t._impl.numel
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or n % known:
            raise RuntimeError(f"shape '{shape}' is invalid for input of size {n}")
        shape[shape.index(-1)] = n // known
    if math.prod(shape) != n:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {n}")
    return make(shape, t._impl.dtype)


def _reshape_as(t, other):
    return _view(t, *other._impl.shape)


def _view_as(t, other):
    return _view(t, *other._impl.shape)


def _flatten(t, start_dim=0, end_dim=-1):
    shape = t._impl.shape
    if not shape:
        return make((1,), t._impl.dtype)
    s, e = wrap_dim(start_dim, len(shape)), wrap_dim(end_dim, len(shape))
    return make(shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:], t._impl.dtype)


def _unflatten(t, dim, sizes):
    shape = t._impl.shape
    d = wrap_dim(dim, len(shape))
    sizes = list(sizes)
    if -1 in sizes:
        sizes[sizes.index(-1)] = shape[d] // math.prod(s for s in sizes if s != -1)
    return make(shape[:d] + tuple(sizes) + shape[d + 1:], t._impl.dtype)


def _squeeze(t, dim=None):
    shape = t._impl.shape
    if dim is None:
        return make(tuple(s for s in shape if s != 1), t._impl.dtype)
    dims = {wrap_dim(d, max(len(shape), 1)) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
    return make(tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1)), t._impl.dtype)


def _unsqueeze(t, dim):
    shape = t._impl.shape
    d = wrap_dim(dim, len(shape) + 1)
    return make(shape[:d] + (1,) + shape[d:], t._impl.dtype)


def _permute(t, *dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    shape, st = t._impl.shape, t._impl.stride
    if len(dims) != len(shape):
        raise RuntimeError(f"permute: number of dimensions in the tensor input does not match the "
                           f"length of the desired ordering of dimensions i.e. input.dim() = {len(shape)} is not "
                           f"equal to len(dims) = {len(dims)}")
    dims = [wrap_dim(d, len(shape)) for d in dims]
    return make([shape[d] for d in dims], t._impl.dtype, [st[d] for d in dims])


def _transpose(t, dim0, dim1):
    n = len(t._impl.shape)
    if n == 0:
        return _like(t)
    order = list(range(n))
    a, b = wrap_dim(dim0, n), wrap_dim(dim1, n)
    order[a], order[b] = order[b], order[a]
    return _permute(t, order)


def _t(t):
    n = len(t._impl.shape)
    if n > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {n}D")
    return _transpose(t, 0, 1) if n == 2 else _like(t)


def _mT(t):
    return _transpose(t, -2, -1)


def _movedim(t, source, destination):
    n = len(t._impl.shape)
    src = [wrap_dim(d, n) for d in (source if isinstance(source, (tuple, list)) else (source,))]
    dst = [wrap_dim(d, n) for d in (destination if isinstance(destination, (tuple, list)) else (destination,))]
    order = [None] * n
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(i for i in range(n) if i not in src)
    order = [next(rest) if o is None else o for o in order]
    return _permute(t, order)


def _expand(t, *sizes):
    from ._utils import parse_size
    sizes = parse_size(sizes, "expand")
    shape = t._impl.shape
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the "
                           f"number of dimensions in the tensor ({len(shape)})")
    pad = (1,) * (len(sizes) - len(shape)) + tuple(shape)
    out = []
    for s, p in zip(sizes, pad):
        if s == -1:
            s = p
        elif p != 1 and p != s:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size ({p}) at "
                               f"non-singleton dimension (meta)")
        out.append(s)
    return make(out, t._impl.dtype)


def _expand_as(t, other):
    return _expand(t, *other._impl.shape)


def _contiguous(t, memory_format=None):
    return t if t._impl.is_contiguous() else _like(t)


def _clone(t, memory_format=None):
    return _like(t)


def _setitem(t, idx, value):
    """t[idx] = value: nothing to write into a meta tensor; the value must broadcast to what idx selects (not
    checked for a boolean mask on meta, whose count is unknown: PyTorch takes it as well). A tensor with data
    cannot take a meta value."""
    if type(t) is not MetaTensor:
        raise NotImplementedError(_NO_DATA)
    if isinstance(value, Tensor):
        try:
            target = _meta_rules.index_shape(tuple(t._impl.shape), idx, "__setitem__")
        except NotImplementedError:
            return None
        vs = _shape_of(value)
        if len(vs) > len(target) and any(d != 1 for d in vs[:len(vs) - len(target)]):
            raise RuntimeError(f"shape mismatch: value tensor of shape {list(vs)} cannot be broadcast to indexing "
                               f"result of shape {list(target)}")
        vs = vs[len(vs) - len(target):] if len(vs) > len(target) else vs
        for a, b in zip(vs[::-1], target[::-1]):
            if a != 1 and a != b:
                raise RuntimeError(f"shape mismatch: value tensor of shape {list(_shape_of(value))} cannot be "
                                   f"broadcast to indexing result of shape {list(target)}")
    return None


def _select(t, dim, index):
    shape = t._impl.shape
    d = wrap_dim(dim, len(shape))
    return make(shape[:d] + shape[d + 1:], t._impl.dtype)


def _narrow(t, dim, start, length):
    shape = t._impl.shape
    d = wrap_dim(dim, len(shape))
    return make(shape[:d] + (length,) + shape[d + 1:], t._impl.dtype)


def _split(t, split_size_or_sections, dim=0):
    shape = t._impl.shape
    d = wrap_dim(dim, len(shape))
    n = shape[d]
    if isinstance(split_size_or_sections, int):
        s = split_size_or_sections
        sizes = [min(s, n - i) for i in range(0, n, s)] if n else [0]
    else:
        sizes = list(split_size_or_sections)
    return tuple(make(shape[:d] + (k,) + shape[d + 1:], t._impl.dtype) for k in sizes)


def _chunk(t, chunks, dim=0):
    n = t._impl.shape[wrap_dim(dim, len(t._impl.shape))]
    return _split(t, max(-(-n // chunks), 1), dim)


def _unbind(t, dim=0):
    shape = t._impl.shape
    d = wrap_dim(dim, len(shape))
    return tuple(make(shape[:d] + shape[d + 1:], t._impl.dtype) for _ in range(shape[d]))


def _cat(tensors, dim=0, *, out=None):
    tensors = [x for x in tensors if not (len(x._impl.shape) == 1 and x._impl.shape[0] == 0)] or list(tensors)
    ref = tensors[0]._impl.shape
    d = wrap_dim(dim, len(ref))
    for x in tensors:
        s = x._impl.shape
        if len(s) != len(ref) or any(a != b for i, (a, b) in enumerate(zip(s, ref)) if i != d):
            raise RuntimeError(f"Sizes of tensors must match except in dimension {d} (got {list(ref)} and "
                               f"{list(s)}, meta)")
    dt = _promote.result_type_names(*tensors)
    return make(ref[:d] + (sum(x._impl.shape[d] for x in tensors),) + ref[d + 1:], dt)


def _stack(tensors, dim=0, *, out=None):
    ref = tensors[0]._impl.shape
    for x in tensors:
        if x._impl.shape != ref:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(ref)} and "
                               f"{list(x._impl.shape)} (meta)")
    d = wrap_dim(dim, len(ref) + 1)
    return make(ref[:d] + (len(tensors),) + ref[d:], _promote.result_type_names(*tensors))


# ---- matmul family
def _matmul_shape(a, b, op="matmul"):
    if not a or not b:
        raise RuntimeError(f"{op}: both arguments to matmul need to be at least 1D, but they are {len(a)}D and "
                           f"{len(b)}D")
    a1, b1 = len(a) == 1, len(b) == 1
    A = (1,) + a if a1 else a
    B = b + (1,) if b1 else b
    if A[-1] != B[-2]:
        raise RuntimeError(f"{op}: mat1 and mat2 shapes cannot be multiplied ({math.prod(A[:-1])}x{A[-1]} and "
                           f"{B[-2]}x{B[-1]})")
    out = _broadcast(A[:-2], B[:-2]) + (A[-2], B[-1])
    if a1:
        out = out[:-2] + out[-1:]
    if b1:
        out = out[:-1]
    return out


def _matmul(a, b, *, out=None):
    return make(_matmul_shape(_shape_of(a), _shape_of(b)), _promote.result_type_names(a, b))


def _mm(a, b, *, out=None):
    if len(_shape_of(a)) != 2 or len(_shape_of(b)) != 2:
        raise RuntimeError("mm: both arguments must be 2D (meta)")
    return _matmul(a, b)


def _bmm(a, b, *, out=None):
    if len(_shape_of(a)) != 3 or len(_shape_of(b)) != 3:
        raise RuntimeError("bmm: both arguments must be 3D (meta)")
    return _matmul(a, b)


def _linear(input, weight, bias=None):
    w = _shape_of(weight)
    shape = _matmul_shape(_shape_of(input), w[::-1] if len(w) == 2 else w, "linear")
    if bias is not None:
        shape = _broadcast(shape, _shape_of(bias))
    return make(shape, _promote.result_type_names(input, weight))


def _addmm(input, mat1, mat2, *, beta=1, alpha=1, out=None):
    shape = _broadcast(_shape_of(input), _matmul_shape(_shape_of(mat1), _shape_of(mat2), "addmm"))
    return make(shape, _promote.result_type_names(mat1, mat2))


def _embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
               sparse=False):
    return make(_shape_of(input) + _shape_of(weight)[1:], weight._impl.dtype)


def _sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    return make(_shape_of(query)[:-1] + _shape_of(value)[-1:], query._impl.dtype)


# ---- reductions
def _reduce_shape(shape, dim, keepdim):
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(1 for _ in shape) if keepdim else ()
    dims = {wrap_dim(d, max(len(shape), 1)) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
    return tuple(1 if i in dims else s for i, s in enumerate(shape) if keepdim or i not in dims)


def _reduction(kind):
    def red(t, dim=None, keepdim=False, *, dtype=None, out=None, **kwargs):
        if isinstance(dim, bool):  # std(t, unbiased)
            dim = None
        shape = _reduce_shape(t._impl.shape, dim, keepdim)
        dt = t._impl.dtype
        if kind == "sum" and dt in ("bool", "uint8", "int8", "int16", "int32"):
            dt = "int64"
        elif kind == "float" and dt not in _FLOAT and not dt.startswith("complex"):
            from ._dtype import get_default_dtype
            dt = get_default_dtype()._name
        elif kind == "index":
            dt = "int64"
        elif kind == "bool":
            dt = "bool"
        return make(shape, _dt_name(dtype, dt))
    return red


_MinMaxResult = collections.namedtuple("max", ("values", "indices"))


def _minmax(kind):
    sub = _reduction("keep")
    idx = _reduction("index")

    def mm(t, dim=None, keepdim=False, *, out=None):
        if dim is None:
            return sub(t)
        if isinstance(dim, Tensor):
            return _elementwise("maximum", (t, dim), {})
        return _MinMaxResult(sub(t, dim, keepdim), idx(t, dim, keepdim))
    return mm


def _norm(t, p="fro", dim=None, keepdim=False, dtype=None, **kwargs):
    return _reduction("float")(t, dim, keepdim, dtype=dtype)


_RULES = {
    **{f"__i{op}__": _inplace for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or",
                                          "xor", "matmul", "lshift", "rshift")},
    "item": _item, "tolist": _data_error, "numpy": _numpy, "__array__": _numpy, "__float__": _item,
    "__int__": _item, "__index__": _item, "__complex__": _item, "__bool__": _item,
    "cpu": _data_error, "cuda": _data_error, "data_ptr": _data_error,
    "detach": _detach, "data": _detach, "detach_": _detach_, "to": _to, "type": _type,
    "type_as": lambda t, o: _to(t, o.dtype),
    "float": _cast("float32"), "double": _cast("float64"), "half": _cast("float16"),
    "bfloat16": _cast("bfloat16"), "long": _cast("int64"), "int": _cast("int32"), "short": _cast("int16"),
    "char": _cast("int8"), "byte": _cast("uint8"), "bool": _cast("bool"),
    "copy_": _copy_, "__iter__": lambda t: iter(_unbind(t)),
    "clone": _clone, "contiguous": _contiguous, "__setitem__": _setitem,
    "empty_like": like_factory("empty_like"), "zeros_like": like_factory("zeros_like"),
    "ones_like": like_factory("ones_like"), "full_like": like_factory("full_like"),
    "rand_like": like_factory("rand_like"), "randn_like": like_factory("randn_like"),
    "new_empty": _new_factory("new_empty"), "new_zeros": _new_factory("new_zeros"),
    "new_ones": _new_factory("new_ones"), "new_full": _new_factory("new_full"),
    "view": _view, "reshape": _view, "view_as": _view_as, "reshape_as": _reshape_as, "flatten": _flatten,
    "unflatten": _unflatten, "squeeze": _squeeze, "unsqueeze": _unsqueeze, "permute": _permute,
    "transpose": _transpose, "swapaxes": _transpose, "swapdims": _transpose, "t": _t, "T": _t, "mT": _mT,
    "movedim": _movedim, "moveaxis": _movedim, "expand": _expand, "expand_as": _expand_as,
    "select": _select, "narrow": _narrow, "split": _split, "chunk": _chunk, "unbind": _unbind,
    "cat": _cat, "concat": _cat, "concatenate": _cat, "stack": _stack,
    "matmul": _matmul, "__matmul__": _matmul, "__rmatmul__": lambda a, b: _matmul(b, a), "mm": _mm, "bmm": _bmm,
    "linear": _linear, "addmm": _addmm, "embedding": _embedding, "scaled_dot_product_attention": _sdpa,
    "sum": _reduction("sum"), "nansum": _reduction("sum"), "prod": _reduction("sum"),
    "mean": _reduction("float"), "nanmean": _reduction("float"), "std": _reduction("float"),
    "var": _reduction("float"), "logsumexp": _reduction("float"), "norm": _norm,
    "amax": _reduction("keep"), "amin": _reduction("keep"), "argmax": _reduction("index"),
    "argmin": _reduction("index"), "all": _reduction("bool"), "any": _reduction("bool"),
    "count_nonzero": _reduction("index"), "max": _minmax("max"), "min": _minmax("min"),
    **_meta_rules.RULES,
}
