"""flambeau.jit: PyTorch's TorchScript entry points, as passthroughs.

flambeau has no TorchScript: no compiler, no graph IR, no serialized program format. It always runs
eagerly in Python. So that scripts written for PyTorch keep running unchanged:

- ``script(obj)`` and ``trace(func, example_inputs)`` (and ``trace_module``, ``freeze``,
  ``optimize_for_inference``) return the object they were given, **unchanged**: no compilation,
  no type checking, no graph capture, no speed-up. ``trace`` does not run ``func`` on the example
  inputs, so the things tracing would reveal (data-dependent control flow, unsupported ops) are
  not reported either.
- The decorators ``ignore``, ``unused``, ``export``, ``interface``, ``script_if_tracing`` return
  the function or class they decorate.
- ``is_scripting()`` and ``is_tracing()`` are always False; ``annotate(type, value)`` returns value;
  ``Final`` is ``typing.Final``.
- ``save`` and ``load`` raise NotImplementedError: there is no TorchScript archive to write or
  read. Save the model's weights with ``flambeau.save(model.state_dict(), path)`` and load them
  into the model class with ``model.load_state_dict(flambeau.load(path))``.

``flambeau.compile`` is the same kind of passthrough.
"""
import types
import typing
import warnings

__all__ = ["script", "trace", "trace_module", "ignore", "unused", "export", "interface", "is_scripting",
           "is_tracing", "annotate", "Final", "save", "load", "freeze", "optimize_for_inference",
           "script_if_tracing", "fork", "wait", "ScriptModule", "ScriptFunction", "RecursiveScriptModule",
           "TracerWarning", "Future", "set_fusion_strategy", "enable_onednn_fusion", "onednn_fusion_enabled",
           "isinstance"]

Final = typing.Final

_NO_TORCHSCRIPT = ("flambeau has no TorchScript (flambeau.jit.script/trace return the model unchanged and "
                   "nothing is compiled), so there is no TorchScript archive to {}. Save the weights with "
                   "flambeau.save(model.state_dict(), path) and restore them with "
                   "model.load_state_dict(flambeau.load(path)) into an instance of the model's class.")


class ScriptModule:
    """Never instantiated by flambeau (script returns the module unchanged); exists so that
    ``isinstance(m, flambeau.jit.ScriptModule)`` checks are False instead of failing."""


class RecursiveScriptModule(ScriptModule):
    pass


class ScriptFunction:
    """See ScriptModule: nothing flambeau returns is a ScriptFunction."""


class TracerWarning(Warning):
    @staticmethod
    def ignore_lib_warnings():
        pass


def script(obj, optimize=None, _frames_up=0, _rcb=None, example_inputs=None):
    """Returns `obj` (a module, function or class) unchanged: flambeau runs eagerly and compiles
    nothing (see the module docstring)."""
    if optimize is not None:
        warnings.warn("`optimize` is deprecated and has no effect.", FutureWarning, stacklevel=2)
    return obj


def trace(func, example_inputs=None, optimize=None, check_trace=True, check_inputs=None, check_tolerance=1e-5,
          strict=True, _force_outplace=False, _module_class=None, _compilation_unit=None,
          example_kwarg_inputs=None, _store_inputs=True):
    """Returns `func` (a module or function) unchanged, without running it on `example_inputs`:
    flambeau runs eagerly and records no trace (see the module docstring)."""
    if optimize is not None:
        warnings.warn("`optimize` is deprecated and has no effect.", FutureWarning, stacklevel=2)
    return func


def trace_module(mod, inputs, optimize=None, check_trace=True, check_inputs=None, check_tolerance=1e-5,
                 strict=True, _force_outplace=False, _module_class=None, _compilation_unit=None,
                 example_inputs_is_kwarg=False, _store_inputs=True):
    """Returns `mod` unchanged (see trace)."""
    return mod


def freeze(mod, preserved_attrs=None, optimize_numerics=True):
    """Returns `mod` unchanged (nothing to freeze without TorchScript)."""
    return mod


def optimize_for_inference(mod, other_methods=None):
    """Returns `mod` unchanged (no graph to optimize)."""
    return mod


def ignore(drop=False, **kwargs):
    """@ignore or @ignore(drop=True): returns the function unchanged (it runs in Python, as
    everything does in flambeau)."""
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn):
    """Returns fn unchanged."""
    return fn


def export(fn):
    """Returns fn unchanged."""
    return fn


def interface(obj):
    """Returns the class unchanged."""
    return obj


def script_if_tracing(fn):
    """Returns fn unchanged."""
    return fn


def _overload(func):
    return func


def _overload_method(func):
    return func


def is_scripting():
    """Always False: flambeau code never runs under TorchScript."""
    return False


def is_tracing():
    """Always False: flambeau never traces."""
    return False


def annotate(the_type, the_value):
    """Returns the_value (the type is a TorchScript hint only)."""
    return the_value


def isinstance(obj, target_type):  # noqa: A001 - torch.jit.isinstance
    """Python's isinstance, extended to the parameterised container types TorchScript accepts
    (List[int], Dict[str, Tensor], Optional[T], Tuple[...]), checked element by element."""
    import builtins
    origin = typing.get_origin(target_type)
    if origin is None:
        return builtins.isinstance(obj, target_type)
    args = typing.get_args(target_type)
    if origin is typing.Union or origin is types.UnionType:
        return any(isinstance(obj, a) for a in args)
    if origin in (list, tuple, dict) and not builtins.isinstance(obj, origin):
        return False
    if origin is list:
        return all(isinstance(x, args[0]) for x in obj) if args else True
    if origin is dict:
        return all(isinstance(k, args[0]) and isinstance(v, args[1]) for k, v in obj.items()) if args else True
    if origin is tuple:
        if not args:
            return True
        if len(args) == 2 and args[1] is Ellipsis:
            return all(isinstance(x, args[0]) for x in obj)
        return len(obj) == len(args) and all(isinstance(x, a) for x, a in zip(obj, args))
    return builtins.isinstance(obj, origin)


class Future:
    """The result of fork(): already computed (flambeau runs the function at fork time)."""

    def __init__(self, value):
        self._value = value

    def wait(self):
        return self._value

    def value(self):
        return self._value

    def done(self):
        return True


def fork(func, *args, **kwargs):
    """Runs func(*args, **kwargs) now, synchronously, and returns a completed Future."""
    return Future(func(*args, **kwargs))


def wait(future):
    return future.wait()


def set_fusion_strategy(strategy):
    """Accepted and ignored (no fuser); returns the previous strategy as PyTorch does."""
    return [("STATIC", 2), ("DYNAMIC", 10)]


def enable_onednn_fusion(enabled):
    pass


def onednn_fusion_enabled():
    return False


def save(m, f, _extra_files=None):
    """Not supported: raises NotImplementedError (use flambeau.save(model.state_dict(), path))."""
    raise NotImplementedError(_NO_TORCHSCRIPT.format("write"))


def load(f, map_location=None, _extra_files=None, _restore_shapes=False):
    """Not supported: raises NotImplementedError (use model.load_state_dict(flambeau.load(path)))."""
    raise NotImplementedError(_NO_TORCHSCRIPT.format("read"))
