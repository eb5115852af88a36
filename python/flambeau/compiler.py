"""flambeau.compiler: torch.compiler's API with PyTorch's eager semantics. flambeau has no graph
compiler (flambeau.compile returns the function, or an OptimizedModule wrapping the module), so
nothing is ever being compiled: is_compiling() is False, disable() wraps without changing what runs,
allow_in_graph / assume_constant_result return their function, reset() and cudagraph_mark_step_begin()
have no compiled state to clear, and set_stance() records a stance (one of PyTorch's) that changes
nothing, every stance meaning "run eagerly" here."""
import functools

from ._compile import OptimizedModule, compile  # noqa: F401
from .autograd.grad_mode import _DecoratorContextManager
from .nn.modules.module import Module

__all__ = ["compile", "assume_constant_result", "reset", "allow_in_graph", "list_backends", "disable",
           "set_stance", "cudagraph_mark_step_begin", "is_compiling", "is_dynamo_compiling", "is_exporting",
           "nested_compile_region", "get_default_backend", "set_default_backend"]

_STANCES = ("default", "force_eager", "eager_on_recompile", "fail_on_recompile", "eager_then_compile",
            "aot_eager_then_compile")
_state = {"stance": "default", "backend": None, "default_backend": "inductor"}


def is_compiling():
    """False: flambeau never traces or compiles the code that calls this."""
    return False


def is_dynamo_compiling():
    return False


def is_exporting():
    return False


def reset():
    """Clear compiled code caches: flambeau keeps none."""


def cudagraph_mark_step_begin():
    """Mark a new iteration for CUDA-graph trees: flambeau records no CUDA graphs."""


def list_backends(exclude_tags=("debug", "experimental")):
    """[]: flambeau.compile accepts a backend name but has no compiler backend to run it with."""
    return []


def get_default_backend():
    return _state["default_backend"]


def set_default_backend(backend):
    _state["default_backend"] = backend


def allow_in_graph(fn):
    """Let a compiler put fn into its graph unexamined: fn itself (a list of functions: a list)."""
    if isinstance(fn, (list, tuple)):
        return [allow_in_graph(x) for x in fn]
    if not callable(fn):
        raise AssertionError("allow_in_graph expects a callable")
    return fn


def assume_constant_result(fn):
    """Let a compiler treat fn's result as a constant: fn itself, marked as PyTorch marks it."""
    fn._dynamo_marked_constant = True
    return fn


def disable(fn=None, recursive=True, *, reason=None):
    """Exclude fn from compilation: a wrapper that calls fn (a module: an OptimizedModule around it, as
    PyTorch returns); without fn, a decorator doing the same."""
    if fn is None:
        return functools.partial(disable, recursive=recursive, reason=reason)
    if isinstance(fn, Module):
        return OptimizedModule(fn)
    if not callable(fn):
        raise TypeError(f"torch.compiler.disable: expected a callable, got {type(fn).__name__}")

    @functools.wraps(fn)
    def _fn(*args, **kwargs):
        return fn(*args, **kwargs)
    _fn._torchdynamo_disable = True
    return _fn


def nested_compile_region(fn=None, *, options=None, max_reuse_entries=8, reuse_hash_fn=None):
    """Mark fn as a region a compiler may compile once and reuse: eagerly, fn itself."""
    if fn is None:
        return lambda f: f
    return fn


class set_stance(_DecoratorContextManager):
    """Set the compiler's stance: as a call (until changed), a context manager or a decorator. Every
    stance runs eagerly in flambeau; the name is checked so a typo fails here."""

    def __init__(self, stance="default", *, skip_guard_eval_unsafe=False, force_backend=None):
        if force_backend is not None and stance != "default":
            raise RuntimeError("non-default stance cannot have force_backend set")
        if stance not in _STANCES:
            raise RuntimeError(f"invalid torch.compile stance '{stance}' (expected one of {', '.join(_STANCES)})")
        self.stance, self.backend = stance, force_backend
        self.prev = (_state["stance"], _state["backend"])
        _state["stance"], _state["backend"] = stance, force_backend

    def __call__(self, fn):
        _state["stance"], _state["backend"] = self.prev
        return super().__call__(fn)

    def __enter__(self):
        _state["stance"], _state["backend"] = self.stance, self.backend

    def __exit__(self, *exc):
        _state["stance"], _state["backend"] = self.prev

    def clone(self):
        # entering the clone must restore what was current when the decorated function was called
        prev = (_state["stance"], _state["backend"])
        new = self.__class__(self.stance, force_backend=self.backend)
        new.prev = prev
        _state["stance"], _state["backend"] = prev
        return new
