"""torch.overrides: helpers for the __torch_function__ protocol (python/flambeau/_torch_function.py).

A function of your own can take part the way PyTorch's do:

    def my_op(x, y):
        if has_torch_function((x, y)):
            return handle_torch_function(my_op, (x, y), x, y)
        ...
"""
from ._tensor import Tensor, _disabled_torch_function_impl  # noqa: F401
from . import _torch_function as _tf

__all__ = ["has_torch_function", "has_torch_function_unary", "has_torch_function_variadic",
           "handle_torch_function", "is_tensor_like", "get_default_nowrap_functions", "enable_reentrant_dispatch",
           "TorchFunctionMode"]


def has_torch_function(relevant_args):
    """Whether a TorchFunctionMode is active or any of these arguments (or elements of list/tuple
    arguments) overrides __torch_function__ (subclasses do not count inside DisableTorchFunctionSubclass)."""
    st = _tf._local
    if st.modes and not st.all_disabled:
        return True
    return not st.disabled and _tf.overloaded_args(relevant_args) is not None


def has_torch_function_unary(arg):
    return has_torch_function((arg,))


def has_torch_function_variadic(*args):
    return has_torch_function(args)


def handle_torch_function(public_api, relevant_args, *args, **kwargs):
    """Calls the __torch_function__ of the overriding arguments among relevant_args with
    (public_api, types, args, kwargs); raises TypeError when every one returns NotImplemented."""
    st = _tf._local
    if st.modes and not st.all_disabled:
        return _tf.mode_dispatch(public_api, args, kwargs, relevant_args)
    ov = _tf.overloaded_args(relevant_args)
    if ov is None:
        return public_api(*args, **kwargs)
    return _tf.dispatch(public_api, ov, args, kwargs)


def is_tensor_like(inp):
    """A Tensor, or an object whose type defines __torch_function__."""
    return type(inp) is Tensor or hasattr(inp, "__torch_function__")


def get_default_nowrap_functions():
    """The functions whose results the default __torch_function__ leaves unconverted (flambeau's
    dispatched API has none: the .grad and ._base getters are not dispatched)."""
    return set()


class enable_reentrant_dispatch:
    """Accepted for PyTorch compatibility (flambeau has no dispatcher to re-enter): a no-op context."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class TorchFunctionMode:
    """Inside `with MyMode():` every public API call goes first to MyMode.__torch_function__(func, types,
    args, kwargs), with the mode popped while it runs (calling func(*args, **kwargs) there runs the op).
    Subclass and override __torch_function__; entering a mode switches the protocol on."""

    def __init__(self):
        pass

    def __torch_function__(self, func, types, args=(), kwargs=None):
        raise NotImplementedError

    def __enter__(self):
        _tf.push_mode(self)
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        _tf.pop_mode(self)
        return False

    @classmethod
    def push(cls, *args, **kwargs):
        import warnings
        warnings.warn("`Mode.push()` is no longer necessary and can be replaced with just `with Mode()`")
        return cls(*args, **kwargs)
