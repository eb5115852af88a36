"""flambeau._dynamo: the parts of torch._dynamo that training scripts touch (config, reset, disable,
allow_in_graph, mark_dynamic, ...). flambeau runs everything eagerly (see flambeau.compile), so these are
PyTorch's eager semantics: decorators return their function, marks record nothing, reset forgets nothing."""
from . import config, eval_frame  # noqa: F401
from ..compiler import (allow_in_graph, assume_constant_result, disable, is_compiling, list_backends,  # noqa: F401
                        reset, set_stance)
from .._compile import OptimizedModule  # noqa: F401


def is_dynamo_compiling():
    return False


def mark_dynamic(t, index, *, hint_override=None, min=None, max=None, specialize_on=None):
    """A hint to a compiler that t's dimension(s) `index` vary; nothing to do without one."""


def maybe_mark_dynamic(t, index):
    """As mark_dynamic."""


def mark_static(t, index=None):
    """A hint to a compiler that t's dimension(s) do not vary; nothing to do without one."""


def mark_static_address(t, guard=True):
    """A hint for CUDA graphs that t's storage does not move; nothing to do without them."""


def graph_break():
    """Where a compiler would split its graph; eager code has none."""


def disallow_in_graph(fn):
    if isinstance(fn, (list, tuple)):
        return [disallow_in_graph(x) for x in fn]
    if not callable(fn):
        raise AssertionError("disallow_in_graph expects a callable")
    return fn
