"""Tensor repr in PyTorch's exact format (ported from torch/_tensor_str.py, computed on a numpy
copy so printing never records graph or depends on our own ops).

    tensor([[1., 2.],
            [3., 4.]], requires_grad=True)
    tensor([0.1000, 0.2000], dtype=flambeau.float64, grad_fn=<AddBackward0>)
"""
import math
from dataclasses import dataclass, asdict

import numpy as np

from . import _C


@dataclass
class _PrintOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: object = None


PRINT_OPTS = _PrintOptions()


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    if profile is not None:
        if profile == "default":
            PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems, PRINT_OPTS.linewidth = 4, 1000, 3, 80
        elif profile == "short":
            PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems, PRINT_OPTS.linewidth = 2, 1000, 2, 80
        elif profile == "full":
            PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems, PRINT_OPTS.linewidth = 4, math.inf, 3, 80
    if precision is not None:
        PRINT_OPTS.precision = precision
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = edgeitems
    if linewidth is not None:
        PRINT_OPTS.linewidth = linewidth
    PRINT_OPTS.sci_mode = sci_mode


def get_printoptions():
    return asdict(PRINT_OPTS)


class _Formatter:
    def __init__(self, arr, floating):
        self.floating_dtype = floating
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = arr.reshape(-1)
        p = PRINT_OPTS.precision
        if not floating:
            for value in flat.tolist():
                self.max_width = max(self.max_width, len(f"{value}"))
            return
        vals = flat[np.isfinite(flat) & (flat != 0)]
        if vals.size == 0:
            return
        a = np.abs(vals).astype(np.float64)
        nmin, nmax = float(a.min()), float(a.max())
        self.int_mode = bool(np.all(vals == np.ceil(vals)))
        if PRINT_OPTS.sci_mode is None:
            self.sci_mode = nmax / nmin > 1000.0 or nmax > 1.0e8 or nmin < 1.0e-4
        else:
            self.sci_mode = PRINT_OPTS.sci_mode
        values = vals.tolist()
        if self.int_mode:
            if self.sci_mode:
                for v in values:
                    self.max_width = max(self.max_width, len(f"{{:.{p}e}}".format(v)))
            else:
                for v in values:
                    self.max_width = max(self.max_width, len(f"{v:.0f}") + 1)
        elif self.sci_mode:
            for v in values:
                self.max_width = max(self.max_width, len(f"{{:.{p}e}}".format(v)))
        else:
            for v in values:
                self.max_width = max(self.max_width, len(f"{{:.{p}f}}".format(v)))

    def width(self):
        return self.max_width

    def format(self, value):
        p = PRINT_OPTS.precision
        if self.floating_dtype:
            if self.sci_mode:
                ret = f"{{:{self.max_width}.{p}e}}".format(value)
            elif self.int_mode:
                ret = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    ret += "."
            else:
                ret = f"{{:.{p}f}}".format(value)
        else:
            ret = f"{value}"
        return (self.max_width - len(ret)) * " " + ret


class _ComplexFormatter:
    """PyTorch's complex format: the real parts by one formatter, the imaginary parts by another, as
    `re+imj` (the imaginary part's padding stripped, its sign joining the two)."""

    def __init__(self, arr):
        self.re = _Formatter(arr.real, True)
        self.im = _Formatter(arr.imag, True)

    def width(self):
        return self.re.width() + self.im.width() + 1  # + the 'j'

    def format(self, value):
        value = complex(value)
        real_str = self.re.format(value.real)
        imag_str = (self.im.format(value.imag) + "j").lstrip()
        if imag_str[0] in "+-":
            return real_str + imag_str
        return real_str + "+" + imag_str


def _vector_str(arr, indent, summarize, fmt):
    element_length = fmt.width() + 2
    per_line = max(1, math.floor((PRINT_OPTS.linewidth - indent) / element_length))
    e = PRINT_OPTS.edgeitems
    if summarize and not e:
        data = ["..."]
    elif summarize and arr.shape[0] > 2 * e:
        data = [fmt.format(v) for v in arr[:e].tolist()] + [" ..."] + [fmt.format(v) for v in arr[-e:].tolist()]
    else:
        data = [fmt.format(v) for v in arr.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _str_with_formatter(arr, indent, summarize, fmt):
    dim = arr.ndim
    if dim == 0:
        return fmt.format(arr.item())
    if dim == 1:
        return _vector_str(arr, indent, summarize, fmt)
    e = PRINT_OPTS.edgeitems
    n = arr.shape[0]
    if summarize and n > 2 * e:
        slices = ([_str_with_formatter(arr[i], indent + 1, summarize, fmt) for i in range(e)] + ["..."]
                  + [_str_with_formatter(arr[i], indent + 1, summarize, fmt) for i in range(n - e, n)])
    else:
        slices = [_str_with_formatter(arr[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (dim - 1) + " " * (indent + 1)).join(slices) + "]"


def _summarized(arr):
    e = PRINT_OPTS.edgeitems
    if arr.ndim == 0:
        return arr
    if arr.ndim == 1:
        return np.concatenate((arr[:e], arr[-e:])) if arr.shape[0] > 2 * e else arr
    if not e:
        return np.empty([0] * arr.ndim, arr.dtype)
    if arr.shape[0] > 2 * e:
        parts = [arr[i] for i in range(e)] + [arr[i] for i in range(arr.shape[0] - e, arr.shape[0])]
        return np.stack([_summarized(x) for x in parts])
    return np.stack([_summarized(x) for x in arr])


def _tensor_str(arr, indent, floating):
    if arr.size == 0:
        return "[]"
    summarize = arr.size > PRINT_OPTS.threshold
    shown = _summarized(arr) if summarize else arr
    fmt = _ComplexFormatter(shown) if arr.dtype.kind == "c" else _Formatter(shown, floating)
    return _str_with_formatter(arr, indent, summarize, fmt)


def _add_suffixes(tensor_str, suffixes, indent):
    out = [tensor_str]
    last_line_len = len(tensor_str) - tensor_str.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > PRINT_OPTS.linewidth:
            out.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            out.append(", " + suffix)
            last_line_len += len(suffix) + 2
    out.append(")")
    return "".join(out)


def tensor_repr(t):
    from ._dtype import get_default_dtype, _BY_NAME
    impl = t._impl
    cls_name = type(t).__name__
    prefix = "tensor(" if cls_name in ("Tensor", "Parameter") else f"{cls_name}("
    indent = len(prefix)
    suffixes = []
    dev = impl.device
    if dev != "cpu":  # PyTorch shows the device whenever it is not the (CPU) default
        suffixes.append(f"device='{dev}'")
    dt = impl.dtype
    default_name = get_default_dtype()._name
    # complex: the default complex dtype (complex128 under a float64 default) is not shown either
    has_default_dtype = dt in (default_name, "int64", "bool",
                               "complex128" if default_name == "float64" else "complex64")
    # float16/bfloat16 are shown through their exact float32 values (numpy has no bfloat16), which
    # is how PyTorch formats them too.
    half = dt in ("float16", "bfloat16")
    host = impl if dev == "cpu" and not half else _C.to(impl, "float32" if half else dt, "cpu", False)
    arr = _C.to_numpy(host)
    floating = dt in ("float32", "float64", "float16", "bfloat16")
    if impl.numel == 0:
        if impl.ndim != 1:
            suffixes.append("size=" + str(tuple(impl.shape)))
        if dt != default_name:
            suffixes.append("dtype=" + repr(_BY_NAME[dt]))
        tensor_str = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append("size=" + str(tuple(impl.shape)))
        if not has_default_dtype:
            suffixes.append("dtype=" + repr(_BY_NAME[dt]))
        tensor_str = _tensor_str(arr, indent, floating)
    try:
        fn = t.grad_fn
        fn_name = type(fn).__name__
    except RuntimeError:  # a view made under no_grad whose base was written since (_dispatch.no_grad_view_error)
        fn, fn_name = True, "Invalid"  # (PyTorch's repr says so too)
    if fn is not None:
        suffixes.append(f"grad_fn=<{fn_name}>")
    elif t.requires_grad:  # (not a leaf tracked only to carry a forward-AD tangent: forward_ad.py)
        suffixes.append("requires_grad=True")
    if t._fw is not None:  # a dual tensor shows its tangent, as PyTorch's
        suffixes.append(f"tangent={tensor_repr(t._fw)}")
    return _add_suffixes(prefix + tensor_str, suffixes, indent)
