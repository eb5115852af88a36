"""PyTorch's __torch_function__ protocol: a Tensor subclass (or a class of tensor-like objects) that defines
`__torch_function__(cls, func, types, args=(), kwargs=None)` sees every public API call that one of its
instances takes part in, and decides the result; the default, Tensor.__torch_function__, runs the op and
returns its tensors as the subclass (`type(MyT_instance + 1) is MyT`, as in PyTorch).

Why it is installed lazily. Checking every argument of every call for an override costs each op of
every program ~0.3 us, which would pay for a feature that only programs defining a Tensor subclass use.
So the public functions (flambeau.*, nn.functional, linalg, fft, special) and Tensor's methods and
operators stay the plain functions until the first Tensor subclass with an active __torch_function__ is
defined (Tensor.__init_subclass__ calls `install()`), or a tensor-like class asks for it through
flambeau.overrides. `install()` then puts a dispatching wrapper in front of each, in every flambeau
module that holds it, so `func is flambeau.add` and `func is flambeau.Tensor.add` hold inside an override,
and internal calls between API functions dispatch as PyTorch's do.

Our own Tensor subclasses (Parameter, Buffer, the sparse and quantized tensors) set
`__torch_function__ = _disabled_torch_function_impl`, as PyTorch's Parameter does: ops on them return
plain tensors and never dispatch.
"""
import functools
import sys
import threading
import types as _types

from . import _tensor as _tensor_module
from ._tensor import Tensor, _disabled_torch_function_impl



class _Local(threading.local):
    # Per thread, as class defaults (a missing attribute would cost every call an exception):
    disabled = 0      # depth of DisableTorchFunctionSubclass / DisableTorchFunction blocks (subclasses off)
    all_disabled = 0  # depth of DisableTorchFunction blocks (modes off too)
    modes = ()        # the TorchFunctionMode stack (overrides.py), innermost last


_local = _Local()
_installed = False
_enabled = {}                # type -> whether its __torch_function__ is an active override

# Argument types that never carry an override (checked first: the common case after installation).
_PLAIN = {Tensor, int, float, bool, complex, str, bytes, type(None), slice, type(Ellipsis), range}

# Tensor attributes that must stay undispatched: construction, attribute plumbing, pickling and copying
# (PyTorch dispatches some of these, but routing them through an override only adds ways to break).
_TENSOR_SKIP = frozenset((
    "__init__", "__new__", "__init_subclass__", "__torch_function__", "__getattr__", "__getattribute__",
    "__setattr__", "__delattr__", "__reduce__", "__reduce_ex__", "__setstate__", "__getstate__", "__deepcopy__",
    "__copy__", "__dir__", "__sizeof__", "__hash__", "__class_getitem__", "__subclasshook__", "__del__",
    "as_subclass", "__repr__", "__str__"))
# Tensor properties whose getters dispatch, with `Tensor.<name>.__get__` as func (as PyTorch's do). The
# tensor-valued ones (T ... data) come back as the subclass; the rest (shape, dtype, ...) are returned as
# they are. grad and _base are slots here, not properties: they stay undispatched (wrapping them would cost
# every autograd step of every program that defines a subclass; the engine reads grad_fn's slot `_gfn`).
_TENSOR_PROPERTIES = ("T", "mT", "H", "mH", "real", "imag", "data", "grad_fn",
                      "shape", "dtype", "device", "ndim", "layout", "requires_grad", "is_leaf", "output_nr",
                      "retains_grad", "is_cuda", "is_cpu", "is_meta", "is_sparse", "is_sparse_csr",
                      "is_quantized", "itemsize", "nbytes")
# Public functions that take no part (as in torch.overrides.get_ignored_functions()).
_IGNORED = frozenset((
    "is_tensor", "is_storage", "set_default_dtype", "get_default_dtype", "set_default_device", "manual_seed",
    "seed", "initial_seed", "save", "load", "compile", "typename", "is_grad_enabled", "set_grad_enabled",
    "get_num_threads", "set_num_threads", "set_printoptions", "get_printoptions", "use_deterministic_algorithms",
    "is_inference_mode_enabled", "get_rng_state", "set_rng_state", "from_numpy", "from_dlpack", "vmap"))
_API_MODULES = ("flambeau", "flambeau.nn.functional", "flambeau.linalg", "flambeau.fft", "flambeau.special")


class DisableTorchFunctionSubclass:
    """Inside this block subclasses' overrides are not consulted (what the default __torch_function__
    does around the op it runs); active TorchFunctionModes still are."""

    def __enter__(self):
        _local.disabled += 1
        return self

    def __exit__(self, *exc):
        _local.disabled -= 1
        return False


class DisableTorchFunction:
    """Inside this block neither subclasses' overrides nor TorchFunctionModes are consulted."""

    def __enter__(self):
        _local.disabled += 1
        _local.all_disabled += 1
        return self

    def __exit__(self, *exc):
        _local.disabled -= 1
        _local.all_disabled -= 1
        return False


def is_torch_function_enabled():
    return not _local.disabled


def _override_of(t):
    """Whether type t defines an active __torch_function__ (looked up without binding, cached per type)."""
    r = _enabled.get(t)
    if r is None:
        impl = None
        for k in t.__mro__:
            if "__torch_function__" in k.__dict__:
                impl = k.__dict__["__torch_function__"]
                impl = getattr(impl, "__func__", impl)
                break
        r = impl is not None and impl is not _disabled_torch_function_impl
        _enabled[t] = r
    return r


def _add(found, a):
    """PyTorch's order: one argument per type, in order of appearance, a subclass before its parents."""
    if found is None:
        return [a]
    t = type(a)
    for i, f in enumerate(found):
        tf = type(f)
        if tf is t:
            return found
        if issubclass(t, tf):
            found.insert(i, a)
            return found
    found.append(a)
    return found


def overloaded_args(values):
    """The arguments (and the elements of list/tuple arguments) whose type overrides __torch_function__."""
    found = None
    for a in values:
        t = type(a)
        if t in _PLAIN:
            continue
        if t is list or t is tuple:
            for e in a:
                te = type(e)
                if te not in _PLAIN and _override_of(te):
                    found = _add(found, e)
        elif _override_of(t):
            found = _add(found, a)
    return found


def dispatch(public, overloaded, args, kwargs):
    """Hands the call to each overriding argument's __torch_function__ until one does not return
    NotImplemented."""
    types = tuple(type(a) for a in overloaded)
    for a in overloaded:
        r = a.__torch_function__(public, types, args, kwargs)
        if r is not NotImplemented:
            return r
    name = getattr(public, "__qualname__", None) or getattr(public, "__name__", repr(public))
    kinds = "".join(f"  - {'tensor subclass' if isinstance(a, Tensor) else 'type'} {type(a)}\n" for a in overloaded)
    raise TypeError(f"Multiple dispatch failed for '{name}'; all __torch_function__ handlers returned "
                    f"NotImplemented:\n\n{kinds}")


def _dispatching(fn):
    """`fn` behind the override check (the wrapper is what an override receives as `func`)."""
    @functools.wraps(fn)
    def public(*args, **kwargs):
        st = _local
        if st.modes and not st.all_disabled:
            return mode_dispatch(public, args, kwargs)
        if st.disabled:
            return fn(*args, **kwargs)
        for a in args:  # the common case first: nothing but plain tensors and numbers
            if type(a) not in _PLAIN:
                break
        else:
            if not kwargs:
                return fn(*args)
        ov = overloaded_args(args)
        if kwargs:
            ov2 = overloaded_args(kwargs.values())
            if ov2:
                for a in ov2:
                    ov = _add(ov, a)
        if ov is None:
            return fn(*args, **kwargs)
        return dispatch(public, ov, args, kwargs)
    public._tf_original = fn
    return public


def _dispatching_property(p):
    """Property p with a getter behind the override check; an override receives `Tensor.<name>.__get__`
    (the new property's, so `func == flambeau.Tensor.shape.__get__` holds) and args (tensor,)."""
    fget = p.fget

    def getter(self):
        st = _local
        if st.modes and not st.all_disabled:
            return mode_dispatch(prop.__get__, (self,), {})
        if st.disabled or type(self) is Tensor or not _override_of(type(self)):
            return fget(self)
        return dispatch(prop.__get__, [self], (self,), {})

    getter._tf_original = fget
    prop = property(getter, p.fset, p.fdel, p.__doc__)
    return prop


def mode_dispatch(public, args, kwargs, relevant=None):
    """The innermost TorchFunctionMode handles the call, popped while it runs (so that calling func from
    its handler reaches the next mode, then the subclasses, then the op). NotImplemented from it falls
    through to the subclasses' overrides among `relevant` (default: the call's arguments), and with none
    left raises PyTorch's TypeError naming the mode."""
    st = _local
    mode = st.modes[-1]
    ov = None
    if not st.disabled:
        ov = overloaded_args(args if relevant is None else relevant)
        if kwargs and relevant is None:
            for a in overloaded_args(kwargs.values()) or ():
                ov = _add(ov, a)
    st.modes = st.modes[:-1]
    try:
        r = mode.__torch_function__(public, tuple(type(a) for a in ov or ()), args, kwargs)
    finally:
        st.modes = st.modes + (mode,)
    if r is not NotImplemented:
        return r
    if ov is None:
        name = getattr(public, "__qualname__", None) or getattr(public, "__name__", repr(public))
        raise TypeError(f"Multiple dispatch failed for '{name}'; all __torch_function__ handlers returned "
                        f"NotImplemented:\n\n  - mode object {mode!r}\n")
    return dispatch(public, ov, args, kwargs)


def push_mode(mode):
    install()
    _local.modes = _local.modes + (mode,)


def pop_mode(mode):
    modes = list(_local.modes)
    for i in range(len(modes) - 1, -1, -1):
        if modes[i] is mode:
            del modes[i]
            break
    _local.modes = tuple(modes)


def unwrapped(f):
    """The plain function behind a dispatching wrapper (f itself when it is none): for identity tests such as
    `activation is F.relu`, which must hold whether or not the protocol was installed in between."""
    return getattr(f, "_tf_original", f)


def _convert(ret, cls):
    """Tensors in an op's result as `cls` (the default __torch_function__'s last step)."""
    if isinstance(ret, Tensor) and not isinstance(ret, cls):
        return ret.as_subclass(cls)
    if isinstance(ret, (tuple, list)):
        items = [_convert(r, cls) for r in ret]
        t = type(ret)
        if t is tuple or t is list:
            return t(items)
        try:  # a named pair such as max(dim)'s (values, indices), built from its fields
            return t(*items)
        except TypeError:
            return t(items)
    return ret


def default_torch_function(cls, func, types, args=(), kwargs=None):
    """Tensor.__torch_function__: run the op with overrides off; its tensors come back as `cls`."""
    for t in types:
        if not issubclass(cls, t):
            return NotImplemented
    st = _local
    st.disabled += 1  # DisableTorchFunctionSubclass, inline: this runs for every op on a subclass
    try:
        ret = func(*args, **kwargs) if kwargs else func(*args)
        return _convert(ret, cls)
    finally:
        st.disabled -= 1


_tensor_module._default_torch_function = default_torch_function


def _is_api_function(v):
    return isinstance(v, (_types.FunctionType, _types.BuiltinFunctionType)) and not hasattr(v, "_tf_original")


def install():
    """Puts the dispatching wrappers in front of the public API (once; see the module docstring)."""
    global _installed
    if _installed:
        return
    _installed = True
    # Tensor's methods, operators and tensor-valued properties: one wrapper each, distinct from the
    # functions' (func is Tensor.add for x.add(y), flambeau.add for flambeau.add(x, y)).
    for name, v in list(Tensor.__dict__.items()):
        if name in _TENSOR_SKIP or (name.startswith("_") and not (name.startswith("__") and name.endswith("__"))):
            continue
        if isinstance(v, _types.FunctionType):  # (a builtin would not bind as a method: left alone)
            setattr(Tensor, name, _dispatching(v))
    for name in _TENSOR_PROPERTIES:
        p = Tensor.__dict__.get(name)
        if isinstance(p, property) and p.fget is not None:
            setattr(Tensor, name, _dispatching_property(p))
    # The public functions, replaced wherever a flambeau module holds them.
    wrappers = {}
    for modname in _API_MODULES:
        mod = sys.modules.get(modname)
        if mod is None:
            continue
        for name in getattr(mod, "__all__", None) or [n for n in vars(mod) if not n.startswith("_")]:
            v = getattr(mod, name, None)
            if name in _IGNORED or not _is_api_function(v) or id(v) in wrappers:
                continue
            wrappers[id(v)] = (v, _dispatching(v))
    for modname, mod in list(sys.modules.items()):
        if mod is None or not (modname == "flambeau" or modname.startswith("flambeau.")):
            continue
        d = getattr(mod, "__dict__", None)
        if d is None:
            continue
        for k, v in list(d.items()):
            w = wrappers.get(id(v))
            if w is not None and w[0] is v:
                setattr(mod, k, w[1])
            elif isinstance(v, type) and v.__module__ == modname:
                for m in vars(v).values():
                    _rebind_defaults(getattr(m, "__func__", m), wrappers)
            else:
                _rebind_defaults(v, wrappers)


def _rebind_defaults(f, wrappers):
    """Default arguments that captured a plain API function (`activation=F.relu`) get its wrapper, so that
    `layer.activation is F.relu` still holds after installation, as in PyTorch."""
    if not isinstance(f, _types.FunctionType):
        return
    if f.__defaults__ and any(id(v) in wrappers for v in f.__defaults__):
        f.__defaults__ = tuple(wrappers[id(v)][1] if id(v) in wrappers and wrappers[id(v)][0] is v else v
                               for v in f.__defaults__)
    kw = f.__kwdefaults__
    if kw and any(id(v) in wrappers for v in kw.values()):
        f.__kwdefaults__ = {k: (wrappers[id(v)][1] if id(v) in wrappers and wrappers[id(v)][0] is v else v)
                            for k, v in kw.items()}
