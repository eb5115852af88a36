"""Tensor: one `_C.TensorImpl` (storage, offset, sizes, strides, dtype, device) plus autograd state.

Data lives in C++; this class only adds what autograd needs (requires_grad, grad, grad_fn) and
PyTorch's surface. Per-op overhead matters (small-tensor code is dominated by it), hence
__slots__, `_wrap` building results without __init__, and `_rg` read directly by hot paths
instead of the `requires_grad` property. Every slot is set when a tensor is made (`_wrap`, `_blank`),
rarely used ones (grad, hooks, output_nr, the leaf's AccumulateGrad) to their defaults: Tensor has no
__getattr__, which would keep CPython 3.11 from specialising attribute reads on its instances (~28 ns
per read instead of ~4; twelve slot stores cost less than the reads of one op saved). `_base` is the
tensor owning the storage when this tensor is a view (in-place ops on views must update the base's
history).

Most op methods are attached in `_tensor_methods.py` straight from the functional modules (so
`t.exp()` and `flambeau.exp(t)` are the same function); what is here is what is not a plain op.
"""
import copy as _copy
import weakref

import numpy as _np

from . import _C
from . import _memory_format as _mf
from ._utils import wrap_dim as _wrap_dim
from ._dtype import (Size, _BY_NAME, _device_from_str, _device_str, _to_dtype, device as _device_cls,
                     dtype as _dtype_cls)

_new = object.__new__
_autograd_backward = None  # autograd.backward, bound on first use (autograd imports this module)
_FLOAT = frozenset(("float32", "float64", "float16", "bfloat16"))
_COMPLEX = frozenset(("complex64", "complex128"))
_GRAD_DTYPES = _FLOAT | _COMPLEX  # the dtypes that can require gradients

def _warn_non_leaf_grad():
    import warnings
    warnings.warn(
        "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute won't be "
        "populated during autograd.backward(). If you indeed want the .grad field to be populated for a non-leaf "
        "Tensor, use .retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure "
        "you access the leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 for more informations.",
        UserWarning, stacklevel=3)


def _wrap(impl):
    """A fresh Tensor around `impl` that does not require grad (the result of every op)."""
    t = _new(Tensor)
    t._impl = impl
    t._rg = False
    t._gfn = None
    t._base = None
    t._grad = None  # (the rest as _blank: inlined, this is the hot path)
    t._output_nr = 0
    t._retains_grad = False
    t._hooks = None
    t._acc = None
    t._post_acc = None
    t._fw = None
    t._vsrc = None
    return t


def _blank(cls):
    """A new `cls` instance (Tensor or a subclass) with every slot but `_impl` set to its default: no
    data, no grad, no history. Every Tensor is made here or in _wrap/_wrap_view (see module docstring)."""
    t = _new(cls)
    t._rg = False
    t._gfn = None
    t._base = None
    t._grad = None
    t._output_nr = 0
    t._retains_grad = False
    t._hooks = None
    t._acc = None
    t._post_acc = None
    t._fw = None
    t._vsrc = None
    return t


def _wrap_view(impl, src):
    """Like _wrap, for a view of tensor `src`: remembers the tensor owning the storage (`_base`),
    which an in-place op on the view must give a new history when autograd is recording.

    A view of a base that does not require grad shares the base's `_rg` cell: an empty list, falsy
    like False wherever `_rg` is tested, until an in-place op recorded on the base (or on another of
    its views) appends to it (`set_requires_grad`). Then every such view requires grad at once, and
    its history ("a view of the base as it is now") is made when it is next used (autograd/function.py:
    _edge), as PyTorch regenerates a view's grad_fn lazily. No list of views is kept: a registry on the
    base cost ~0.35 us per view, the shared cell one slot read.

    A view made under no_grad / inference_mode is marked (NoGradView) for PyTorch's errors; so is a view of
    such a view made with grad mode on (it inherits the mode: one slot read per view of a view)."""
    t = _new(Tensor)
    b = src._base
    t._base = b = src if b is None else b
    r = b._rg
    if not r:
        if r is False:
            b._rg = r = []
        t._rg = r
        t._vsrc = None  # (the base has no history)
        if _grad_off and _grad_off_here():  # made under no_grad / inference_mode (see NoGradView)
            t._vsrc = NoGradView(impl.version, _inference_here())
        elif src is not b and src._vsrc.__class__ is NoGradView:  # a view of such a view inherits its mode
            t._vsrc = NoGradView(impl.version, src._vsrc.inference)
    else:  # made without recording (no_grad, or inside a Function's forward that marks it next)
        t._rg = False
        t._vsrc = b._gfn  # the base's history the view derives from (autograd/function.py: _refresh_view)
        if _grad_off and _grad_off_here():
            # PyTorch: requires grad (through its base) but has no history and no gradient of its own
            t._rg = True
            t._vsrc = NoGradView(impl.version, _inference_here())
        elif src is not b:
            vs = src._vsrc
            if vs.__class__ is NoGradView:  # a view of such a view inherits its creation mode
                t._vsrc = NoGradView(impl.version, vs.inference)
    t._impl = impl
    t._gfn = None
    t._grad = None  # (the other slots' defaults, as _wrap)
    t._output_nr = 0
    t._retains_grad = False
    t._hooks = None
    t._acc = None
    t._post_acc = None
    t._fw = None
    if _view_hook is not None:  # a forward-AD level is open (autograd/forward_ad.py)
        _view_hook(t)
    return t


_view_hook = None
# Nonzero while some thread may have grad mode off (autograd/grad_mode.py counts the switches no_grad,
# set_grad_enabled and inference_mode make): _wrap_view asks that thread's mode (_grad_off_here, a
# thread-local read, ~45 ns) only then, so a view made with grad mode on pays one global read for it.
_grad_off = 0
_grad_off_here = None  # set by autograd/grad_mode.py: () -> whether grad mode is off in this thread
_inference_here = None  # () -> whether inference_mode is on in this thread


class NoGradView:
    """`_vsrc` of a view made under no_grad or inference_mode (PyTorch's CreationMeta NO_GRAD_MODE /
    INFERENCE_MODE), and of a view taken of such a view with grad mode on (it inherits the mode). PyTorch
    forbids writing such a view in place with grad mode on (the write would be recorded), and using it in
    autograd once its storage was written after it was made (`version`: the shared version counter then)
    while its base requires grad: it cannot tell whether that write should reach the view's history
    (_functions/_dispatch.py: no_grad_view_error). A view of a base requiring grad made so requires grad,
    as PyTorch's, but is a leaf without a gradient of its own (autograd/function.py: _edge)."""
    __slots__ = ("version", "inference")

    def __init__(self, version, inference):
        self.version, self.inference = version, inference


# Set by the modules that define them (imported after this one): the alias op as_subclass makes
# (_functions/shape.py) and the default __torch_function__ (_torch_function.py).
_alias = None
_default_torch_function = None

# `_vsrc` of the views of a tensor not requiring grad made by one call returning several (unbind, split,
# chunk, iteration): PyTorch refuses to regenerate their history once the base is written in place
# (_dispatch.refresh_stale_view raises its error).
MULTI_OUTPUT_VIEW = object()


def mark_multi_output(views):
    """Marks views made by one call returning several (MULTI_OUTPUT_VIEW), unless they were made under
    no_grad: PyTorch's no_grad mark wins (its errors name no_grad)."""
    if not (_grad_off and _grad_off_here()):
        for v in views:
            v._vsrc = MULTI_OUTPUT_VIEW
    return views


def set_requires_grad(t):
    """t (a base, or a view written in place) requires grad from now on; the views sharing its `_rg`
    cell (see _wrap_view) start requiring grad with it."""
    r = t._rg
    if r.__class__ is list and not r:
        r.append(True)
    t._rg = True


def _disabled_torch_function_impl(func, types, args=(), kwargs=None):
    """The __torch_function__ of a Tensor subclass that takes no part in the protocol (Parameter, Buffer,
    the sparse and quantized tensors; PyTorch's torch._C._disabled_torch_function_impl): ops on its
    instances return plain tensors. Called directly, it runs func with overrides off."""
    from ._torch_function import DisableTorchFunctionSubclass
    with DisableTorchFunctionSubclass():
        return func(*args, **(kwargs or {}))


class Tensor:
    __slots__ = ("_impl", "_rg", "_gfn", "_base", "_grad", "_output_nr", "_retains_grad", "_hooks", "_acc",
                 "_post_acc", "_fw", "_vsrc", "__weakref__", "__dict__")

    # numpy defers to our reflected operators (ndarray + tensor -> tensor.__radd__).
    __array_priority__ = 1000

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        """PyTorch's default: run func with overrides off and return its tensors as `cls`
        (_torch_function.py; reached only for subclasses, once a subclass has installed the protocol)."""
        return _default_torch_function(cls, func, types, args, kwargs)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # The first subclass with an active __torch_function__ installs the protocol (_torch_function.py:
        # until then no call pays for the check).
        from ._torch_function import _override_of, install
        if _override_of(cls):
            install()

    def __new__(cls, *args, device=None, dtype=None):
        """Legacy constructor: Tensor(2, 3) is uninitialised float32 of that shape, Tensor([1, 2])
        copies the data as float32, Tensor() is empty."""
        from . import _creation
        from ._dtype import get_default_dtype
        dtype = dtype or get_default_dtype()
        if len(args) == 1 and not isinstance(args[0], (int, Size)):
            src = args[0]
            if isinstance(src, Tensor):
                impl = src._impl
            else:
                impl = _creation.tensor(src, dtype=dtype, device=device)._impl
        else:
            from ._utils import parse_size
            shape = parse_size(args, "Tensor") if args else (0,)
            impl = _C.empty(shape, dtype._name, _device_str(device) if device is not None else "cpu")
        t = _blank(cls)
        t._impl = impl
        return t

    @staticmethod
    def _make_subclass(cls, data, require_grad=False):
        """An instance of Tensor subclass `cls` sharing `data`'s storage (used by nn.Parameter)."""
        t = _blank(cls)
        t._impl = data._impl
        if require_grad:
            t.requires_grad = True
        return t

    # ------------------------------------------------------------------ metadata
    @property
    def shape(self):
        return Size(self._impl.shape)

    def size(self, dim=None):
        shape = self._impl.shape
        if dim is None:
            return Size(shape)
        if dim.__class__ is int and -len(shape) <= dim < len(shape):  # wrap_dim's fast case, inlined: x.size(0) is hot
            return shape[dim]
        return shape[_wrap_dim(dim, len(shape))] if shape else _size_of_0d(dim)

    def dim(self):
        return self._impl.ndim

    ndimension = dim

    @property
    def ndim(self):
        return self._impl.ndim

    def numel(self):
        return self._impl.numel

    nelement = numel

    @property
    def dtype(self):
        return _BY_NAME[self._impl.dtype]

    @property
    def device(self):
        return _device_from_str(self._impl.device)

    def get_device(self):
        d = self._impl.device
        return -1 if d == "cpu" else int(d[5:])

    @property
    def is_cuda(self):
        return self._impl.device != "cpu"

    @property
    def is_cpu(self):
        return self._impl.device == "cpu"

    @property
    def is_sparse(self):
        return False

    @property
    def is_quantized(self):
        return False

    @property
    def is_meta(self):
        return False

    # Backends and layouts flambeau has none of (PyTorch's flags, for code that tests them).
    is_nested = is_mkldnn = is_xpu = is_mps = is_ipu = is_mtia = is_maia = is_vulkan = is_xla = is_meta

    @property
    def _version(self):
        """How many in-place writes this tensor's storage has seen (shared with its views), as PyTorch's."""
        impl = self._impl
        if type(impl) is _C.TensorImpl and impl.is_inference:
            raise RuntimeError("Inference tensors do not track version counter.")
        return impl.version

    def as_subclass(self, cls):
        """A `cls` instance viewing this tensor's data, attached to its autograd graph (ops on it return
        `cls` instances through Tensor.__torch_function__ unless cls disables it: _torch_function.py)."""
        if not (isinstance(cls, type) and issubclass(cls, Tensor)):
            raise TypeError(f"as_subclass(): argument 'cls' must be a subclass of Tensor, not {cls!r}")
        alias = _alias(self)
        t = _blank(cls)
        t._impl, t._rg, t._gfn, t._base = alias._impl, alias._rg, alias.grad_fn, alias._base
        t._output_nr = alias._output_nr
        t._vsrc = alias._vsrc
        return t

    @property
    def layout(self):
        from . import strided
        return strided

    def is_floating_point(self):
        return self._impl.dtype in _FLOAT

    def is_complex(self):
        return self._impl.dtype in _COMPLEX

    def is_signed(self):
        return self._impl.dtype not in ("bool", "uint8")

    def element_size(self):
        return self._impl.itemsize

    @property
    def itemsize(self):
        return self._impl.itemsize

    @property
    def nbytes(self):
        return self._impl.itemsize * self._impl.numel

    def stride(self, dim=None):
        st = self._impl.stride
        if dim is None:
            return st
        return st[_wrap_dim(dim, len(st))]

    def storage_offset(self):
        return self._impl.storage_offset

    def data_ptr(self):
        return self._impl.data_ptr

    def dim_order(self, *, ambiguity_check=False):
        return _mf.dim_order(self._impl)

    def is_contiguous(self, memory_format=None):
        if memory_format is None:
            return self._impl.is_contiguous()
        return _mf.is_contiguous_as(self._impl, _mf.parse(memory_format, "is_contiguous"))

    def is_set_to(self, other):
        a, b = self._impl, other._impl
        return (a.same_storage(b) and a.storage_offset == b.storage_offset and a.shape == b.shape
                and a.stride == b.stride)

    # ------------------------------------------------------------------ autograd state
    @property
    def requires_grad(self):
        # (a leaf tracked only to carry a forward-AD tangent does not require grad: forward_ad.py)
        if not self._rg:
            return False
        if self._gfn is not None:
            return True
        acc = self._acc
        return acc is None or not acc._fw_only

    @requires_grad.setter
    def requires_grad(self, value):
        value = bool(value)
        if self._gfn is None and self._rg and self._acc is not None and self._acc._fw_only:  # forward-AD-only leaf
            if value:
                self._acc = None  # now a leaf requiring grad (it keeps its tangent)
            return
        if self._gfn is not None:
            if not value:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to use a "
                    "computed variable in a subgraph that doesn't require differentiation use "
                    "var_no_grad = var.detach().")
            return
        if value and self._impl.dtype not in _GRAD_DTYPES:
            raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")
        # (a sparse tensor's _impl is a stand-in without storage: never an inference tensor)
        if value and type(self._impl) is _C.TensorImpl and self._impl.is_inference and \
                not _C._is_inference_mode_enabled():
            raise RuntimeError("Setting requires_grad=True on inference tensor outside InferenceMode is not allowed.")
        if value and self._base is None:
            set_requires_grad(self)  # (its views made earlier require grad too, as PyTorch's)
        elif not value and self._base is not None and self._base.requires_grad:
            return  # a leaf view (made under no_grad) of a base requiring grad: PyTorch's stays requiring grad
        else:
            self._rg = value

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def grad_fn(self):
        """The node that made this tensor (None for a leaf). A view whose base got a new history in place
        after the view was made (or after its own history was last made) gets "a view of the base as it
        is now" first, as PyTorch regenerates a view's grad_fn (AsStridedBackward0) when it is read; the
        hot paths read the slot `_gfn` and regenerate in autograd.function._edge instead."""
        fn = self._gfn
        b = self._base
        if b is None or not self._rg:
            return fn
        if fn is None:
            if self._acc is not None:  # a leaf (a view of a base made a leaf requiring grad later)
                return None
        elif self._vsrc is b._gfn:
            return fn
        from .autograd.function import _refresh_view
        return _refresh_view(self)

    @grad_fn.setter
    def grad_fn(self, fn):
        self._gfn = fn

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def grad(self):
        """The gradient accumulated by backward (None until then). A property over the slot `_grad`, for
        PyTorch's warning when a non-leaf's is read: it is never filled in. The engine and the optimizers
        read and write `_grad` directly (a property costs ~60 ns a read, a slot ~4)."""
        g = self._grad
        if g is None and self._gfn is not None and not self._retains_grad:
            _warn_non_leaf_grad()
        return g

    @grad.setter
    def grad(self, value):
        self._grad = value

    @grad.deleter
    def grad(self):
        self._grad = None  # (as PyTorch: `del t.grad` clears it)

    @property
    def retains_grad(self):
        return self._retains_grad

    @property
    def output_nr(self):
        return self._output_nr

    @property
    def data(self):
        """The same storage, detached from the graph, with a version counter of its own: in-place changes
        through it are invisible to autograd (PyTorch's variable_data(); detach() shares the counter)."""
        return _wrap(self._impl.variable_data())

    def _is_view(self):
        return self._base is not None

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
        impl = value._impl
        if impl.device == "meta" or self._impl.device == "meta":  # onto or off the meta device: the class follows
            from . import _meta
            self._impl = impl
            _meta.retag(self)
            return
        # x keeps its own version (PyTorch's set_data keeps x's counter): a sparse/quantized stand-in has none
        self._impl = impl.with_own_version(self._impl.version) \
            if type(impl) is _C.TensorImpl and type(self._impl) is _C.TensorImpl else impl

    def detach(self):
        return _wrap(self._impl)

    def detach_(self):
        if self._base is not None:  # as PyTorch, for every view (its history is its base's)
            raise RuntimeError(
                "Can't detach views in-place. Use detach() instead. If you are using DistributedDataParallel (DDP) "
                "for training, and gradient_as_bucket_view is set as True, gradients are views of DDP buckets, and "
                "hence detach_() cannot be called on these gradients. To fix this error, please refer to the "
                "Optimizer.zero_grad() function in torch/optim/optimizer.py as the solution.")
        self._rg = False
        self._gfn = None
        if self._fw is not None:
            self._fw = None  # (as PyTorch: detach_ drops a forward-AD tangent too)
        return self

    def retain_grad(self):
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None or self._retains_grad:
            return  # leaves keep their gradient anyway
        fn = self.grad_fn
        refs = fn.__dict__.get("_retain_refs")
        if refs is None:
            refs = fn._retain_refs = {}
        refs[self._output_nr] = weakref.ref(self)
        self._retains_grad = True

    def register_hook(self, hook):
        """hook(grad) runs when this tensor's gradient is computed; a non-None return replaces it."""
        from .autograd.function import _add_hook
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        fn = self.grad_fn
        if fn is None:
            hooks = self._hooks
            if hooks is None:
                hooks = self._hooks = {}
            return _add_hook(hooks, hook)
        pre = fn.__dict__.get("_pre_hooks")
        if pre is None:
            pre = fn._pre_hooks = {}
        return _add_hook(pre.setdefault(self._output_nr, {}), hook)

    def register_post_accumulate_grad_hook(self, hook):
        """hook(tensor) runs after a gradient has been accumulated into this leaf's .grad."""
        from .autograd.function import _add_hook
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        hooks = self._post_acc
        if hooks is None:
            hooks = self._post_acc = {}
        return _add_hook(hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        global _autograd_backward
        if _autograd_backward is None:
            from .autograd import backward as _autograd_backward
        _autograd_backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    # ------------------------------------------------------------------ conversion
    def item(self):
        impl = self._impl
        n = impl.numel
        if n != 1:
            raise RuntimeError(f"a Tensor with {n} elements cannot be converted to Scalar")
        if impl.device != "cpu" or impl.dtype == "bfloat16":  # numpy has no bfloat16: its exact float32
            impl = _C.to(impl, "float32" if impl.dtype == "bfloat16" else impl.dtype, "cpu", False)
        return _C.to_numpy(impl).item()

    def tolist(self):
        impl = self._impl
        if impl.device != "cpu" or impl.dtype == "bfloat16":
            impl = _C.to(impl, "float32" if impl.dtype == "bfloat16" else impl.dtype, "cpu", False)
        return _C.to_numpy(impl).tolist()

    def numpy(self, *, force=False):
        if force:
            return _C.to_numpy(self.detach().cpu()._impl)
        if self._rg and self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if self._impl.device != "cpu":
            raise TypeError(f"can't convert {self._impl.device} device type tensor to numpy. Use Tensor.cpu() "
                            "to copy the tensor to host memory first.")
        return _C.to_numpy(self._impl)

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        if dtype is not None and arr.dtype != dtype:
            return arr.astype(dtype)
        if copy:
            return arr.copy()
        return arr

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # numpy ufuncs applied to a tensor hand back a tensor (as they do for torch tensors).
        if array.ndim == 0 and return_scalar:
            return array[()]
        from ._creation import from_numpy
        if array.dtype == _np.bool_ or array.dtype in (_np.float32, _np.float64, _np.int64, _np.int32, _np.int16,
                                                       _np.int8, _np.uint8, _np.float16):
            return from_numpy(_np.ascontiguousarray(array))
        return array

    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        if self._rg and self.requires_grad:
            raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
        if self._impl.device != "cpu":
            from . import cuda
            cuda.synchronize(self._impl.device)  # the consumer's stream must see finished data
        return _C.to_dlpack(self._impl)

    def __dlpack_device__(self):
        d = self._impl.device
        return (1, 0) if d == "cpu" else (2, int(d[5:]))

    def to(self, *args, **kwargs):
        """to(dtype), to(device, dtype=None), to(other), with copy=, non_blocking= (ignored)."""
        if len(args) == 1 and not kwargs:
            # x.to(device) / x.to(dtype) where x already is: self, as below, without parsing the overloads
            # (every batch of a training loop does it; the general path costs ~0.5 us more)
            a = args[0]
            c = a.__class__
            if c is _dtype_cls:
                if a._name == self._impl.dtype:
                    return self
            elif c is _device_cls or c is str:
                try:  # (zero-cost unless it raises: "meta" has no _C string, it is handled below)
                    d = _device_str(a)
                except RuntimeError:
                    d = None
                if d == self._impl.device:
                    return self
        fmt = _mf.parse(kwargs.pop("memory_format", None), "to") if kwargs else _mf.preserve_format
        dt, dev, copy = _parse_to(args, kwargs)
        impl = self._impl
        dt_name = impl.dtype if dt is None else dt._name
        if dev is not None and (dev == "meta" if dev.__class__ is str else getattr(dev, "type", None) == "meta"):
            from . import _meta  # t.to("meta"): shape and dtype only (a meta tensor's own .to is _meta's)
            return _meta.to_meta(self, dt_name)
        dev_str = impl.device if dev is None else _device_str(dev)
        if dt_name == impl.dtype and dev_str == impl.device and not copy and (
                fmt is _mf.preserve_format or _mf.is_contiguous_as(impl, fmt)):
            return self
        from ._functions.shape import _to
        return _to(self, dt_name, dev_str, fmt)  # preserve_format keeps a dense input's strides

    def type(self, dtype=None, non_blocking=False, **kwargs):
        if dtype is None:
            prefix = "flambeau." if self._impl.device == "cpu" else "flambeau.cuda."
            return prefix + _TYPE_NAMES[self._impl.dtype]
        if isinstance(dtype, str) and dtype.endswith("Tensor"):
            name = dtype.rsplit(".", 1)[-1]
            dt = {v: k for k, v in _TYPE_NAMES.items()}.get(name)
            if dt is None:
                raise TypeError(f"invalid type: '{dtype}'")
            return self.to(dtype=_BY_NAME[dt], device="cuda" if ".cuda." in dtype else "cpu")
        if isinstance(dtype, type) and hasattr(dtype, "_cuda"):  # flambeau.FloatTensor & co.
            return self.to(dtype=dtype._dtype, device="cuda" if dtype._cuda else "cpu")
        return self.to(_to_dtype(dtype))

    def type_as(self, other):
        return self.to(other.dtype)

    def _cast(self, name, memory_format=None):
        """self as dtype `name` on its device: self when it already is (as PyTorch's .float() etc.)."""
        impl = self._impl
        if memory_format is None and impl.dtype == name:  # the common case, first
            return self
        fmt = _mf.parse(memory_format, name)
        if impl.dtype == name and (fmt is _mf.preserve_format or _mf.is_contiguous_as(impl, fmt)):
            return self
        from ._functions.shape import _to
        return _to(self, name, impl.device, fmt)

    def float(self, memory_format=None):
        return self._cast("float32", memory_format)

    def double(self, memory_format=None):
        return self._cast("float64", memory_format)

    def half(self, memory_format=None):
        return self._cast("float16", memory_format)

    def bfloat16(self, memory_format=None):
        return self._cast("bfloat16", memory_format)

    def long(self, memory_format=None):
        return self._cast("int64", memory_format)

    def int(self, memory_format=None):
        return self._cast("int32", memory_format)

    def short(self, memory_format=None):
        return self._cast("int16", memory_format)

    def char(self, memory_format=None):
        return self._cast("int8", memory_format)

    def byte(self, memory_format=None):
        return self._cast("uint8", memory_format)

    def bool(self, memory_format=None):
        return self._cast("bool", memory_format)

    def cpu(self, memory_format=None):
        if memory_format is None and self._impl.device == "cpu":
            return self  # (what to() gives)
        return self.to("cpu", memory_format=memory_format)

    def cuda(self, device=None, non_blocking=False, memory_format=None):
        if device is None:
            device = "cuda"
        elif isinstance(device, int):
            device = f"cuda:{device}"
        return self.to(device, memory_format=memory_format)

    def pin_memory(self, device=None):
        return self  # page-locked host memory is not implemented; a no-op keeps scripts running

    def is_pinned(self, device=None):
        return False

    def share_memory_(self):
        """Moves this tensor's storage to memory shared with other processes, in place (_shared_memory.py)."""
        from ._shared_memory import share_memory_
        return share_memory_(self)

    def is_shared(self):
        from ._shared_memory import is_shared
        return is_shared(self)

    # ------------------------------------------------------------------ Python protocol
    def __repr__(self, *, tensor_contents=None):
        from ._printing import tensor_repr
        return tensor_repr(self)

    def __str__(self):
        return self.__repr__()

    def __format__(self, spec):
        if self._impl.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self.__repr__(), spec)

    def __len__(self):
        shape = self._impl.shape
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        return shape[0]

    def __iter__(self):
        shape = self._impl.shape
        if not shape:
            raise TypeError("iteration over a 0-d tensor")
        if not self._rg:
            # No graph to record: plain select views are cheaper than unbind.
            impl = self._impl
            views = [_wrap_view(_C.select(impl, 0, i), self) for i in range(shape[0])]
            return iter(mark_multi_output(views))  # (PyTorch iterates with unbind)
        return iter(self.unbind(0))

    def __reversed__(self):
        return self.flip(0) if self._impl.ndim else self

    def __bool__(self):
        n = self._impl.numel
        if n != 1:
            if n == 0:
                raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __float__(self):
        if self._impl.numel != 1:
            raise TypeError("only one element tensors can be converted to Python scalars")
        return float(self.item())

    def __int__(self):
        if self._impl.numel != 1:
            raise TypeError("only one element tensors can be converted to Python scalars")
        return int(self.item())

    def __index__(self):
        if self._impl.numel != 1 or self._impl.dtype in _FLOAT:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __complex__(self):
        return complex(self.item())

    def __hash__(self):
        return id(self)

    def __contains__(self, element):
        if isinstance(element, (Tensor, int, float, bool)):
            return bool((self == element).any().item())
        raise RuntimeError(f"Tensor.__contains__ only supports Tensor or scalar, but you passed in a {type(element)}.")

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        new = _blank(type(self))
        new._impl = _C.clone(self._impl)
        new._rg = bool(self._rg) and self.requires_grad
        memo[id(self)] = new
        if self.grad_fn is None and self.grad is not None:
            new.grad = _copy.deepcopy(self.grad, memo)
        d = getattr(self, "__dict__", None)
        if d:
            new.__dict__.update(_copy.deepcopy(d, memo))
        return new

    def __reduce_ex__(self, proto):
        # Pickled as bytes through numpy (CPU), so pickled tensors never rely on our internals.
        arr = _C.to_numpy(self.detach().cpu().contiguous()._impl).copy()
        return (_rebuild_tensor, (type(self), arr, self._impl.dtype, self._impl.device, bool(self._rg),
                                  getattr(self, "__dict__", None) or None))

    def __setstate__(self, state):
        pass

    # numpy-style `t.T`, `t.mT`, `t.H`: defined in _tensor_methods (they are view ops).


_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor", "bool": "BoolTensor",
               "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor",
               "float16": "HalfTensor", "bfloat16": "BFloat16Tensor", "complex64": "ComplexFloatTensor",
               "complex128": "ComplexDoubleTensor"}


def _size_of_0d(dim):
    _wrap_dim(dim, 0)
    raise IndexError("dimension specified as 0 but tensor has no dimensions")


def _rebuild_tensor(cls, arr, dt, dev, rg, state):
    impl = _C.from_numpy(arr)
    if dev != "cpu":
        impl = _C.to(impl, dt, dev, False)
    t = _blank(cls)
    t._impl = impl
    t._rg = rg
    if state:
        t.__dict__.update(state)
    return t


def _parse_to(args, kwargs):
    """Parses Tensor.to's overloads into (dtype or None, device or None, copy)."""
    dt = kwargs.pop("dtype", None)
    dev = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    args = list(args)
    if args and isinstance(args[0], Tensor):
        other = args.pop(0)
        dt, dev = other.dtype, other.device
    elif args and isinstance(args[0], (str, _device_cls, int)) and not isinstance(args[0], bool):
        dev = args.pop(0)
        if args and not isinstance(args[0], bool):
            dt = args.pop(0)
    if args and not isinstance(args[0], bool):
        dt = args.pop(0)
    # Remaining positionals: non_blocking, copy (PyTorch's order).
    if args:
        args.pop(0)
    if args:
        copy = args.pop(0)
    if dt is not None and not isinstance(dt, _dtype_cls):
        dt = _to_dtype(dt)
    return dt, dev, bool(copy)
