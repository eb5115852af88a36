"""ONNX translations of the recorded ops ("symbolic functions", as PyTorch calls them).

Each takes (g, n): g the graph being built (export._Graph), n the recorded Node, and returns the ONNX value
name of each tensor the op returned (one name, or a list in the order of n.outs). Translations read
static facts (ranks, sizes, dtypes) from the example tensors in n; where a size depends on a dynamic axis
(it differs between the two traces) they use the forms that follow the input's size at run time (Reshape's
0 and -1, sizes read with Shape) or raise UnsupportedOperatorError.

The translations live by family in _sym_elementwise.py, _sym_shape.py and _sym_nn.py; this module holds
the registry and the helpers they share, and imports them (last: they import this module).
"""
from .errors import UnsupportedOperatorError

SYMBOLICS = {}
INT64_MAX = 2 ** 63 - 1


def register(*names):
    def deco(fn):
        for name in names:
            SYMBOLICS[name] = fn
        return fn
    return deco


def _unsupported(n, why):
    raise UnsupportedOperatorError(f"onnx export: '{n.op}' {why}")


def _norm(d, rank):
    return d + rank if d < 0 else d


def _tuple(v, k):
    if isinstance(v, (list, tuple)):
        return [int(e) for e in v] if len(v) == k else [int(v[0])] * k
    return [int(v)] * k


def _varargs(n, start=1):
    """Sizes or dims given as varargs (x.permute(0, 2, 1)) or as one sequence (x.permute((0, 2, 1)))."""
    a = n.args[start:]
    if len(a) == 1 and isinstance(a[0], (list, tuple)):
        return list(a[0])
    if not a:
        for k in ("dims", "size", "sizes", "shape"):
            if k in n.kwargs:
                return list(n.kwargs[k])
    return list(a)


# the translations register themselves on import (after the registry above exists)
from . import _sym_elementwise, _sym_nn, _sym_shape  # noqa: E402,F401
from ._sym_shape import FACTORIES  # noqa: E402,F401
