"""ONNX translations of the recorded ops ("symbolic functions", as PyTorch calls them).

Each takes (g, n): g the graph being built (export._Graph), n the recorded Node, and returns the ONNX value
name of each tensor the op returned (one name, or a list in the order of n.outs). Translations read
static facts (ranks, sizes, dtypes) from the example tensors in n; where a size depends on a dynamic axis
(it differs between the two traces) they use the forms that follow the input's size at run time (Reshape's
0 and -1, sizes read with Shape) or raise UnsupportedOperatorError.
"""
import math

import numpy as np

from .errors import UnsupportedOperatorError
from ._trace import Val

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


# ---------------------------------------------------------------------------------------------------------
# elementwise
# ---------------------------------------------------------------------------------------------------------
def _binary(op_type, reverse=False):
    def fn(g, n):
        a, b = n.args[0], n.arg(1, "other")
        if reverse:
            a, b = b, a
        dt = g.np_dtype(n.outs[0])
        x, y = g.operand(a, dt), g.operand(b, dt)
        alpha = n.kwargs.get("alpha", 1)
        if alpha != 1:
            y = g.op("Mul", y, g.scalar(alpha, dt))
        return g.op(op_type, x, y)
    return fn


for _names, _op, _rev in ((("add", "add_"), "Add", False), (("sub", "sub_", "subtract"), "Sub", False),
                          (("mul", "mul_", "multiply"), "Mul", False), (("rsub",), "Sub", True),
                          (("maximum",), "Max", False), (("minimum",), "Min", False)):
    register(*_names)(_binary(_op, _rev))


@register("div", "div_", "divide", "true_divide", "rdiv")
def _div(g, n):
    a, b = n.args[0], n.arg(1, "other")
    if n.op == "rdiv":
        a, b = b, a
    mode = n.kwargs.get("rounding_mode")
    dt = g.np_dtype(n.outs[0])
    if mode is None:
        return g.op("Div", g.operand(a, dt), g.operand(b, dt))
    if mode == "floor" and np.issubdtype(dt, np.floating):
        return g.op("Floor", g.op("Div", g.operand(a, dt), g.operand(b, dt)))
    _unsupported(n, f"with rounding_mode={mode!r} on {dt} is not supported")


@register("addcmul", "addcdiv", "addcmul_", "addcdiv_")
def _addcmul(g, n):
    x, t1, t2, value = n.args[0], n.arg(1, "tensor1"), n.arg(2, "tensor2"), n.kwargs.get("value", 1)
    if len(n.args) > 3:
        value = n.args[3]
    dt = g.np_dtype(n.outs[0])
    p = g.op("Mul" if n.op.startswith("addcmul") else "Div", g.operand(t1, dt), g.operand(t2, dt))
    if value != 1:
        p = g.op("Mul", p, g.scalar(value, dt))
    return g.op("Add", g.operand(x, dt), p)


def _remainder_of(g, x, y, dt):
    """PyTorch's remainder (the divisor's sign, as Python's %): Mod for integers; a - floor(a / b) * b for
    floats (ONNX's float Mod is C's fmod)."""
    if np.issubdtype(dt, np.integer):
        return g.op("Mod", x, y, fmod=0)
    return g.op("Sub", x, g.op("Mul", g.op("Floor", g.op("Div", x, y)), y))


@register("remainder", "floor_divide", "remainder_", "floor_divide_")
def _remainder(g, n):
    dt = g.np_dtype(n.outs[0])
    x, y = g.operand(n.args[0], dt), g.operand(n.arg(1, "other"), dt)
    if n.op.startswith("remainder"):
        return _remainder_of(g, x, y, dt)
    if np.issubdtype(dt, np.integer):   # (a - a mod b) / b divides exactly: ONNX's truncation is the floor
        return g.op("Div", g.op("Sub", x, _remainder_of(g, x, y, dt)), y)
    return g.op("Floor", g.op("Div", x, y))


@register("pow", "pow_", "rpow")
def _pow(g, n):
    a, b = n.args[0], n.arg(1, "exponent")
    if n.op == "rpow":
        a, b = b, a
    dt = g.np_dtype(n.outs[0])
    return g.op("Pow", g.operand(a, dt), g.operand(b, dt))


def _compare(op_type, negate=False):
    def fn(g, n):
        a, b = n.args[0], n.arg(1, "other")
        vals = [v for v in (a, b) if isinstance(v, Val)]
        dt = next((g.np_dtype(v) for v in vals if np.issubdtype(g.np_dtype(v), np.floating)), g.np_dtype(vals[0]))
        r = g.op(op_type, g.operand(a, dt), g.operand(b, dt))
        return g.op("Not", r) if negate else r
    return fn


for _names, _op, _neg in ((("eq",), "Equal", False), (("ne",), "Equal", True), (("gt", "greater"), "Greater", False),
                          (("lt", "less"), "Less", False), (("ge", "greater_equal"), "GreaterOrEqual", False),
                          (("le", "less_equal"), "LessOrEqual", False)):
    register(*_names)(_compare(_op, _neg))


@register("logical_and", "logical_or", "bitwise_and", "bitwise_or")
def _logical(g, n):
    """logical_*: operands as bool. The bitwise forms (& and |) only on bool tensors, where they agree."""
    if n.op.startswith("bitwise") and g.np_dtype(n.outs[0]) != np.bool_:
        _unsupported(n, "on integer tensors is not supported")
    op = "And" if n.op.endswith("and") else "Or"
    return g.op(op, g.operand(n.args[0], np.bool_), g.operand(n.arg(1, "other"), np.bool_))


@register("logical_not", "bitwise_not")
def _not(g, n):
    if n.op == "bitwise_not" and g.np_dtype(n.outs[0]) != np.bool_:
        _unsupported(n, "on integer tensors is not supported")
    return g.op("Not", g.operand(n.args[0], np.bool_))


def _unary(op_type):
    def fn(g, n):
        return g.op(op_type, g.v(n.args[0]))
    return fn


for _names, _op in ((("relu", "relu_"), "Relu"), (("sigmoid", "sigmoid_"), "Sigmoid"), (("tanh", "tanh_"), "Tanh"),
                    (("exp", "exp_"), "Exp"), (("log", "log_"), "Log"), (("sqrt", "sqrt_"), "Sqrt"),
                    (("abs", "abs_"), "Abs"), (("neg", "neg_", "negative"), "Neg"), (("erf", "erf_"), "Erf"),
                    (("sin",), "Sin"), (("cos",), "Cos"), (("floor",), "Floor"), (("ceil",), "Ceil"),
                    (("reciprocal",), "Reciprocal"), (("softsign",), "Softsign"),
                    (("sign",), "Sign")):
    register(*_names)(_unary(_op))


@register("rsqrt")
def _rsqrt(g, n):
    return g.op("Reciprocal", g.op("Sqrt", g.v(n.args[0])))


@register("hardsigmoid", "hardsigmoid_")
def _hardsigmoid(g, n):
    return g.op("HardSigmoid", g.v(n.args[0]), alpha=1.0 / 6, beta=0.5)


@register("hardswish", "hardswish_")
def _hardswish(g, n):   # x * relu6(x + 3) / 6, PyTorch's definition (ONNX's HardSwish is the same)
    return g.op("HardSwish", g.v(n.args[0]))


@register("prelu")
def _prelu(g, n):
    x, w = n.args[0], n.arg(1, "weight")
    slope = g.v(w)
    if w.ndim == 1 and w.shape[0] > 1 and x.ndim > 2:   # one slope per channel (dim 1)
        slope = g.op("Reshape", slope, g.ints([w.shape[0]] + [1] * (x.ndim - 2)))
    return g.op("PRelu", g.v(x), slope)


@register("silu")
def _silu(g, n):
    x = g.v(n.args[0])
    return g.op("Mul", x, g.op("Sigmoid", x))


@register("leaky_relu", "leaky_relu_")
def _leaky_relu(g, n):
    return g.op("LeakyRelu", g.v(n.args[0]), alpha=float(n.arg(1, "negative_slope", 0.01)))


@register("elu")
def _elu(g, n):
    return g.op("Elu", g.v(n.args[0]), alpha=float(n.arg(1, "alpha", 1.0)))


@register("softplus")
def _softplus(g, n):
    if n.arg(1, "beta", 1) != 1:
        _unsupported(n, "with beta != 1 is not supported")
    return g.op("Softplus", g.v(n.args[0]))


@register("hardtanh", "hardtanh_", "clamp", "clip", "clamp_", "relu6")
def _clip(g, n):
    x = n.args[0]
    dt = g.np_dtype(x)
    if n.op == "relu6":
        lo, hi = 0.0, 6.0
    elif n.op.startswith("hardtanh"):
        lo, hi = n.arg(1, "min_val", -1.0), n.arg(2, "max_val", 1.0)
    else:
        lo, hi = n.arg(1, "min"), n.arg(2, "max")
    if isinstance(lo, Val) or isinstance(hi, Val):
        _unsupported(n, "with tensor bounds is not supported")
    return g.op("Clip", g.v(x), g.scalar(lo, dt) if lo is not None else "",
                g.scalar(hi, dt) if hi is not None else "")


@register("gelu")
def _gelu(g, n):
    x = n.args[0]
    approximate = n.arg(1, "approximate", "none")
    if g.opset >= 20:
        return g.op("Gelu", g.v(x), approximate=approximate)
    dt = g.np_dtype(x)
    xv = g.v(x)
    if approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        inner = g.op("Add", xv, g.op("Mul", g.op("Mul", g.op("Mul", xv, xv), xv), g.scalar(0.044715, dt)))
        t = g.op("Tanh", g.op("Mul", inner, g.scalar(math.sqrt(2.0 / math.pi), dt)))
    else:  # 0.5 x (1 + erf(x / sqrt(2)))
        t = g.op("Erf", g.op("Div", xv, g.scalar(math.sqrt(2.0), dt)))
    return g.op("Mul", g.op("Mul", xv, g.scalar(0.5, dt)), g.op("Add", t, g.scalar(1.0, dt)))


@register("softmax", "log_softmax")
def _softmax(g, n):
    x = n.args[0]
    dim = n.arg(1, "dim")
    if dim is None:
        _unsupported(n, "without dim is not supported")
    # a dtype= argument shows as the output's dtype (F.softmax's third parameter is _stacklevel, the
    # method's is dtype: the output is the unambiguous witness)
    y = g.cast(g.v(x), g.np_dtype(n.outs[0]), g.np_dtype(x))
    return g.op("Softmax" if n.op == "softmax" else "LogSoftmax", y, axis=_norm(dim, x.ndim))


@register("where")
def _where(g, n):
    cond, a, b = n.args[0], n.arg(1, "input"), n.arg(2, "other")
    dt = g.np_dtype(n.outs[0])
    return g.op("Where", g.operand(cond, np.bool_), g.operand(a, dt), g.operand(b, dt))


@register("masked_fill", "masked_fill_")
def _masked_fill(g, n):
    x, mask, value = n.args[0], n.args[1], n.arg(2, "value")
    dt = g.np_dtype(x)
    return g.op("Where", g.operand(mask, np.bool_), g.operand(value, dt), g.v(x))


# ---------------------------------------------------------------------------------------------------------
# dtype changes and identities
# ---------------------------------------------------------------------------------------------------------
@register("to", "float", "double", "long", "int", "bool", "half", "type", "type_as", "contiguous", "clone",
          "detach", "cpu", "data", "positive", "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
          "feature_alpha_dropout", "identity")
def _cast_like(g, n):
    # F.dropout/dropout1d/2d/3d default to training=True, the alpha dropouts to False
    if "dropout" in n.op and n.arg(2, "training", "alpha" not in n.op) and n.arg(1, "p", 0.5) > 0:
        _unsupported(n, "with training=True cannot be exported (export puts modules in eval mode; a "
                          "functional call must pass training=False)")
    x = n.args[0]
    return g.cast(g.v(x), g.np_dtype(n.outs[0]), g.np_dtype(x))


@register("zeros_like", "ones_like", "full_like")
def _fill_like(g, n):
    x = n.args[0]
    value = {"zeros_like": 0, "ones_like": 1}.get(n.op)
    if value is None:
        value = n.arg(1, "fill_value")
    dt = g.np_dtype(n.outs[0])
    return g.op("ConstantOfShape", g.op("Shape", g.v(x)), value=np.array([value], dtype=dt))


# Factories (no tensor argument) are recorded too, as constant nodes: written as their value unless their
# size follows a dynamic axis (torch.arange(x.size(1)) for position ids), then built at run time.
FACTORIES = frozenset(("arange", "zeros", "ones", "full"))


@register("zeros", "ones", "full")
def _constant_of_shape(g, n):
    out = n.outs[0]
    value = {"zeros": 0, "ones": 1}.get(n.op)
    if value is None:
        value = n.arg(1, "fill_value")
        if value != n.arg(1, "fill_value", second=True):
            _unsupported(n, "with a fill value that changes with the inputs is not supported")
    return g.op("ConstantOfShape", g.shape_tensor(out.shape, out.shape2, n),
                value=np.array([value], dtype=g.np_dtype(out)))


@register("arange")
def _arange(g, n):
    nums = [a for a in n.args if isinstance(a, (int, float))]
    nums2 = [a for a in n.args2 if isinstance(a, (int, float))]
    for k in ("start", "end", "step"):
        if k in n.kwargs:
            _unsupported(n, f"with {k}= given by keyword and a size that follows a dynamic axis is not supported")
    start, end, step = (0, nums[0], 1) if len(nums) == 1 else (nums + [1])[:3]
    start2, end2, step2 = (0, nums2[0], 1) if len(nums2) == 1 else (nums2 + [1])[:3]
    if (start, step) != (start2, step2) or not all(isinstance(v, int) for v in (start, end, step, end2)):
        _unsupported(n, "whose start or step follows a dynamic axis (or with float bounds) is not supported")
    limit = g.size_scalar(end, end2, n)
    r = g.op("Range", g.ints(start, scalar=True), limit, g.ints(step, scalar=True))
    return g.cast(r, g.np_dtype(n.outs[0]), np.int64)


# ---------------------------------------------------------------------------------------------------------
# shapes
# ---------------------------------------------------------------------------------------------------------
@register("view", "reshape", "flatten", "unflatten", "view_as", "reshape_as", "ravel")
def _reshape(g, n):
    x = n.args[0]
    if n.op == "flatten" and x.ndim > 2 and _norm(n.arg(1, "start_dim", 0), x.ndim) == 1 \
            and _norm(n.arg(2, "end_dim", -1), x.ndim) == x.ndim - 1:
        return g.op("Flatten", g.v(x), axis=1)   # (N, everything else): what PyTorch's exporter writes
    return g.reshape(x, n.outs[0])


@register("unsqueeze", "unsqueeze_")
def _unsqueeze(g, n):
    dim = n.arg(1, "dim")
    return g.op("Unsqueeze", g.v(n.args[0]), g.ints([_norm(dim, n.args[0].ndim + 1)]))


@register("squeeze", "squeeze_")
def _squeeze(g, n):
    x = n.args[0]
    dim = n.arg(1, "dim")
    if dim is None:
        dims = [i for i, s in enumerate(x.shape) if s == 1]
    else:
        dims = [_norm(d, x.ndim) for d in (dim if isinstance(dim, (list, tuple)) else [dim]) if x.shape[d] == 1]
    if not dims:
        return g.v(x)
    return g.op("Squeeze", g.v(x), g.ints(dims))


@register("transpose", "swapaxes", "t", "T", "mT")
def _transpose(g, n):
    x = n.args[0]
    r = x.ndim
    if r < 2:
        return g.v(x)
    if n.op in ("t", "T") and r == 2:
        d0, d1 = 0, 1
    elif n.op == "T":
        return g.op("Transpose", g.v(x), perm=list(range(r))[::-1])
    elif n.op == "mT":
        d0, d1 = r - 2, r - 1
    else:
        d0, d1 = _norm(n.arg(1, "dim0"), r), _norm(n.arg(2, "dim1"), r)
    perm = list(range(r))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return g.op("Transpose", g.v(x), perm=perm)


@register("permute")
def _permute(g, n):
    x = n.args[0]
    return g.op("Transpose", g.v(x), perm=[_norm(d, x.ndim) for d in _varargs(n)])


@register("expand", "expand_as", "broadcast_to")
def _expand(g, n):
    x, out = n.args[0], n.outs[0]
    if out.shape == x.shape and out.shape2 == x.shape2:
        return g.v(x)
    off = out.ndim - x.ndim
    # a size the input already has stays 1 (Expand broadcasts), so only new sizes are spelled out
    s1 = [1 if i >= off and x.shape[i - off] == s else s for i, s in enumerate(out.shape)]
    s2 = [1 if i >= off and x.shape2[i - off] == s else s for i, s in enumerate(out.shape2)]
    return g.op("Expand", g.v(x), g.shape_tensor(s1, s2, n))


@register("repeat")
def _repeat(g, n):
    x = n.args[0]
    reps = [int(r) for r in _varargs(n)]
    reps2 = [int(r) for r in (n.args2[1:] if not isinstance(n.args2[1], (list, tuple)) else n.args2[1])]
    if reps != reps2:
        _unsupported(n, "with repeats that depend on a dynamic axis is not supported")
    y = g.v(x)
    if len(reps) > x.ndim:
        y = g.op("Unsqueeze", y, g.ints(list(range(len(reps) - x.ndim))))
    return g.op("Tile", y, g.ints(reps))


@register("cat", "concat", "concatenate")
def _cat(g, n):
    tensors = [t for t in n.args[0] if not (isinstance(t, Val) and t.t.numel() == 0 and t.ndim == 1)]
    dim = n.arg(1, "dim", 0)
    return g.op("Concat", *[g.v(t) for t in tensors], axis=_norm(dim, n.outs[0].ndim))


@register("stack")
def _stack(g, n):
    dim = _norm(n.arg(1, "dim", 0), n.outs[0].ndim)
    return g.op("Concat", *[g.op("Unsqueeze", g.v(t), g.ints([dim])) for t in n.args[0]], axis=dim)


@register("chunk", "split", "unbind", "split_with_sizes", "tensor_split")
def _split(g, n):
    x = n.args[0]
    if n.op == "unbind":
        dim = _norm(n.arg(1, "dim", 0), x.ndim)
    elif n.op == "tensor_split":
        _unsupported(n, "is not supported")
    else:
        dim = _norm(n.arg(2, "dim", 0), x.ndim)
    sizes = [o.shape[dim] if n.op != "unbind" else 1 for o in n.outs]
    sizes2 = [o.shape2[dim] if n.op != "unbind" else 1 for o in n.outs]
    if sizes != sizes2:
        _unsupported(n, f"along dim {dim}, whose size depends on a dynamic axis, is not supported")
    outs = g.op("Split", g.v(x), g.ints(sizes), axis=dim, outs=len(sizes))
    if len(sizes) == 1:
        outs = [outs]
    if n.op == "unbind":
        outs = [g.op("Squeeze", o, g.ints([dim])) for o in outs]
    return outs


@register("narrow")
def _narrow(g, n):
    x, dim, start, length = n.args[0], n.arg(1, "dim"), n.arg(2, "start"), n.arg(3, "length")
    dim = _norm(dim, x.ndim)
    return g.op("Slice", g.v(x), g.ints([start]), g.ints([start + length]), g.ints([dim]))


@register("index_select")
def _index_select(g, n):
    x, dim, index = n.args[0], n.arg(1, "dim"), n.arg(2, "index")
    return g.op("Gather", g.v(x), g.v(index), axis=_norm(dim, x.ndim))


@register("select")
def _select(g, n):
    x, dim, index = n.args[0], n.arg(1, "dim"), n.arg(2, "index")
    return g.op("Gather", g.v(x), g.ints(index, scalar=True), axis=_norm(dim, x.ndim))


@register("getitem")
def _getitem(g, n):
    x = n.args[0]
    idx, idx2 = n.args[1], n.args2[1]
    if not isinstance(idx, tuple):
        idx, idx2 = (idx,), (idx2,)
    if sum(1 for i in idx if i is not None and i is not Ellipsis) > x.ndim:
        _unsupported(n, f"with too many indices for a tensor of {x.ndim} dimensions")
    # expand the Ellipsis into full slices
    if any(i is Ellipsis for i in idx):
        k = [i for i, e in enumerate(idx) if e is Ellipsis][0]
        fill = x.ndim - sum(1 for e in idx if e is not None and e is not Ellipsis)
        idx = idx[:k] + (slice(None),) * fill + idx[k + 1:]
        idx2 = idx2[:k] + (slice(None),) * fill + idx2[k + 1:]
    adv = [i for i, e in enumerate(idx) if isinstance(e, (int, Val)) and not isinstance(e, bool)]
    if any(isinstance(e, Val) for e in idx) and adv != list(range(adv[0], adv[0] + len(adv))):
        # PyTorch moves the indexed dims to the front when ints and a tensor index are not side by side
        _unsupported(n, "with a tensor index and ints separated by a slice or None is not supported")
    starts, ends, axes, steps, squeeze, unsqueeze, gathers = [], [], [], [], [], [], []
    starts2, ends2 = [], []   # the bounds in the second trace: one that differs follows a dynamic axis
    d = 0     # input dim
    od = 0    # output dim (after the ints are squeezed away)
    for e, e2 in zip(idx, idx2):
        if e is None:
            unsqueeze.append(od)
            od += 1
            continue
        if isinstance(e, bool):
            _unsupported(n, "with a bool index is not supported")
        if isinstance(e, int):
            if e != e2:
                _unsupported(n, "with an index that depends on a dynamic axis is not supported")
            starts.append(e)
            ends.append(e + 1 if e != -1 else INT64_MAX)
            starts2.append(starts[-1])
            ends2.append(ends[-1])
            axes.append(d)
            steps.append(1)
            squeeze.append(d)
            d += 1
            continue
        if isinstance(e, slice):
            step = 1 if e.step is None else e.step
            if step <= 0:
                _unsupported(n, "with a non-positive slice step is not supported")
            size, size2 = x.shape[d], x.shape2[d]
            start = 0 if e.start is None else e.start
            start2 = 0 if e2.start is None else e2.start
            stop = INT64_MAX if e.stop is None else e.stop
            stop2 = INT64_MAX if e2.stop is None else e2.stop
            if stop != stop2 and stop >= size and stop2 >= size2:
                stop = stop2 = INT64_MAX
            if not (start == 0 and start2 == 0 and stop == INT64_MAX and stop2 == INT64_MAX and step == 1):
                starts.append(start)
                ends.append(stop)
                starts2.append(start2)
                ends2.append(stop2)
                axes.append(d)
                steps.append(step)
            d += 1
            od += 1
            continue
        if isinstance(e, Val) and not np.issubdtype(g.np_dtype(e), np.bool_):
            gathers.append((d, od, e))
            d += 1
            od += e.ndim
            continue
        _unsupported(n, f"with index {e!r} is not supported (ints, slices, None, ... and one integer tensor are)")
    y = g.v(x)
    if starts:
        y = g.op("Slice", y, g.shape_tensor(starts, starts2, n), g.shape_tensor(ends, ends2, n), g.ints(axes),
                 g.ints(steps))
    if len(gathers) > 1:
        _unsupported(n, "with more than one tensor index is not supported")
    if gathers:
        gd, god, gi = gathers[0]
        # the ints before the tensor index are squeezed away afterwards: count them into the axis
        y = g.op("Gather", y, g.cast(g.v(gi), np.dtype(np.int64)), axis=gd)
        if squeeze:
            squeeze = [s if s < gd else s + gi.ndim - 1 for s in squeeze]
    if squeeze:
        y = g.op("Squeeze", y, g.ints(squeeze))
    if unsqueeze:
        y = g.op("Unsqueeze", y, g.ints(unsqueeze))
    return y


# ---------------------------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------------------------
def _dims(n, x, pos=1, name="dim"):
    dim = n.arg(pos, name)
    if dim is None:
        return None
    if isinstance(dim, int):
        dim = [dim]
    return [_norm(d, x.ndim) for d in dim]


@register("mean", "sum", "amax", "amin", "prod")
def _reduce(g, n):
    x = n.args[0]
    op = {"mean": "ReduceMean", "sum": "ReduceSum", "amax": "ReduceMax", "amin": "ReduceMin",
          "prod": "ReduceProd"}[n.op]
    dims = _dims(n, x)
    keepdim = bool(n.arg(2, "keepdim", False))
    y = g.v(x)
    if n.kwargs.get("dtype") is not None or g.np_dtype(n.outs[0]) != g.np_dtype(x):
        y = g.cast(y, g.np_dtype(n.outs[0]))
    return g.reduce(op, y, dims, keepdim)


@register("max", "min")
def _max(g, n):
    x = n.args[0]
    other = n.arg(1, "dim")
    if isinstance(other, Val):
        dt = g.np_dtype(n.outs[0])
        return g.op("Max" if n.op == "max" else "Min", g.operand(x, dt), g.operand(other, dt))
    keepdim = bool(n.arg(2, "keepdim", False))
    op = "ReduceMax" if n.op == "max" else "ReduceMin"
    if other is None:
        return g.reduce(op, g.v(x), None, False)
    d = _norm(other, x.ndim)
    vals = g.reduce(op, g.v(x), [d], keepdim)
    idx = g.op("ArgMax" if n.op == "max" else "ArgMin", g.v(x), axis=d, keepdims=int(keepdim),
               select_last_index=0)
    return [vals, idx]


@register("argmax", "argmin")
def _argmax(g, n):
    x = n.args[0]
    dim = n.arg(1, "dim")
    keepdim = bool(n.arg(2, "keepdim", False))
    y = g.v(x)
    if dim is None:
        y = g.op("Reshape", y, g.ints([-1]))
        dim = 0
    return g.op("ArgMax" if n.op == "argmax" else "ArgMin", y, axis=_norm(dim, max(x.ndim, 1)),
                keepdims=int(keepdim))


# ---------------------------------------------------------------------------------------------------------
# linear algebra
# ---------------------------------------------------------------------------------------------------------
@register("linear")
def _linear(g, n):
    x, w, b = n.args[0], n.arg(1, "weight"), n.arg(2, "bias")
    if x.ndim == 2:
        ins = [g.v(x), g.v(w)] + ([g.v(b)] if b is not None else [])
        return g.op("Gemm", *ins, transB=1)
    y = g.op("MatMul", g.v(x), g.transposed(w))
    return g.op("Add", y, g.v(b)) if b is not None else y


@register("matmul", "mm", "bmm", "rmatmul")
def _matmul(g, n):
    a, b = n.args[0], n.arg(1, "other", n.arg(1, "mat2"))
    if n.op == "rmatmul":
        a, b = b, a
    return g.op("MatMul", g.v(a), g.v(b))


@register("baddbmm", "addmm", "addbmm")
def _addmm(g, n):
    if n.op == "addbmm":
        _unsupported(n, "is not supported")
    c, a, b = n.args[0], n.args[1], n.args[2]
    beta, alpha = n.kwargs.get("beta", 1), n.kwargs.get("alpha", 1)
    dt = g.np_dtype(n.outs[0])
    y = g.op("MatMul", g.v(a), g.v(b))
    if alpha != 1:
        y = g.op("Mul", y, g.scalar(alpha, dt))
    cc = g.v(c)
    if beta != 1:
        cc = g.op("Mul", cc, g.scalar(beta, dt))
    return g.op("Add", cc, y) if beta != 0 else y


# ---------------------------------------------------------------------------------------------------------
# neural-network layers
# ---------------------------------------------------------------------------------------------------------
@register("conv1d", "conv2d", "conv3d")
def _conv(g, n):
    x, w, b = n.args[0], n.arg(1, "weight"), n.arg(2, "bias")
    k = w.ndim - 2
    stride, padding = _tuple(n.arg(3, "stride", 1), k), n.arg(4, "padding", 0)
    dilation, groups = _tuple(n.arg(5, "dilation", 1), k), n.arg(6, "groups", 1)
    if x.ndim != k + 2:
        _unsupported(n, f"on an unbatched input of shape {x.shape} is not supported")
    ks = list(w.shape[2:])
    if padding == "valid":
        pads = [0] * (2 * k)
    elif padding == "same":
        total = [dilation[i] * (ks[i] - 1) for i in range(k)]
        pads = [t // 2 for t in total] + [t - t // 2 for t in total]
    else:
        p = _tuple(padding, k)
        pads = p + p
    ins = [g.v(x), g.v(w)] + ([g.v(b)] if b is not None else [])
    return g.op("Conv", *ins, kernel_shape=ks, strides=stride, pads=pads, dilations=dilation, group=int(groups))


@register("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def _conv_transpose(g, n):
    x, w, b = n.args[0], n.arg(1, "weight"), n.arg(2, "bias")
    k = w.ndim - 2
    stride, padding = _tuple(n.arg(3, "stride", 1), k), _tuple(n.arg(4, "padding", 0), k)
    output_padding, groups = _tuple(n.arg(5, "output_padding", 0), k), n.arg(6, "groups", 1)
    dilation = _tuple(n.arg(7, "dilation", 1), k)
    if x.ndim != k + 2:
        _unsupported(n, f"on an unbatched input of shape {x.shape} is not supported")
    ins = [g.v(x), g.v(w)] + ([g.v(b)] if b is not None else [])
    return g.op("ConvTranspose", *ins, kernel_shape=list(w.shape[2:]), strides=stride, pads=padding + padding,
                dilations=dilation, group=int(groups), output_padding=output_padding)


@register("max_pool1d", "max_pool2d", "max_pool3d")
def _max_pool(g, n):
    x = n.args[0]
    k = int(n.op[-2])
    if x.ndim != k + 2:
        _unsupported(n, f"on an unbatched input of shape {x.shape} is not supported")
    kernel = _tuple(n.arg(1, "kernel_size"), k)
    stride = n.arg(2, "stride")
    stride = kernel if stride is None or stride == [] or stride == () else _tuple(stride, k)
    padding, dilation = _tuple(n.arg(3, "padding", 0), k), _tuple(n.arg(4, "dilation", 1), k)
    if n.arg(6, "return_indices", False):
        _unsupported(n, "with return_indices=True is not supported")
    return g.op("MaxPool", g.v(x), kernel_shape=kernel, strides=stride, pads=padding + padding,
                dilations=dilation, ceil_mode=int(bool(n.arg(5, "ceil_mode", False))))


@register("avg_pool1d", "avg_pool2d", "avg_pool3d")
def _avg_pool(g, n):
    x = n.args[0]
    k = int(n.op[-2])
    if x.ndim != k + 2:
        _unsupported(n, f"on an unbatched input of shape {x.shape} is not supported")
    kernel = _tuple(n.arg(1, "kernel_size"), k)
    stride = n.arg(2, "stride")
    stride = kernel if stride is None or stride == [] or stride == () else _tuple(stride, k)
    padding = _tuple(n.arg(3, "padding", 0), k)
    if n.arg(6, "divisor_override") is not None:
        _unsupported(n, "with divisor_override is not supported")
    return g.op("AveragePool", g.v(x), kernel_shape=kernel, strides=stride, pads=padding + padding,
                ceil_mode=int(bool(n.arg(4, "ceil_mode", False))),
                count_include_pad=int(bool(n.arg(5, "count_include_pad", True))))


@register("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d")
def _adaptive_avg_pool(g, n):
    x, out = n.args[0], n.outs[0]
    k = int(n.op[-2])
    if x.ndim != k + 2:
        _unsupported(n, f"on an unbatched input of shape {x.shape} is not supported")
    ins, outs = x.shape[2:], out.shape[2:]
    if all(o == 1 for o in outs):
        return g.op("GlobalAveragePool", g.v(x))
    if any(i % o for i, o in zip(ins, outs)) or x.shape2[2:] != ins:
        _unsupported(n, f"from {tuple(ins)} to {tuple(outs)} is not supported (only output size 1 or an "
                        f"exact divisor of a static input size)")
    kernel = [i // o for i, o in zip(ins, outs)]
    return g.op("AveragePool", g.v(x), kernel_shape=kernel, strides=kernel)


@register("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d")
def _adaptive_max_pool(g, n):
    x, out = n.args[0], n.outs[0]
    if len(n.outs) != 1:
        _unsupported(n, "with return_indices=True is not supported")
    if x.ndim != int(n.op[-2]) + 2 or any(o != 1 for o in out.shape[2:]):
        _unsupported(n, f"to {tuple(out.shape[2:])} on shape {x.shape} is not supported (only batched, output "
                        f"size 1)")
    return g.op("GlobalMaxPool", g.v(x))


@register("batch_norm")
def _batch_norm(g, n):
    x, mean, var = n.args[0], n.arg(1, "running_mean"), n.arg(2, "running_var")
    w, b = n.arg(3, "weight"), n.arg(4, "bias")
    training, eps = n.arg(5, "training", False), n.arg(7, "eps", 1e-5)
    if training or mean is None:
        _unsupported(n, "with batch statistics (training mode, or track_running_stats=False) is not supported")
    c = x.shape[1]
    dt = g.np_dtype(x)
    scale = g.v(w) if w is not None else g.const(np.ones(c, dt))
    bias = g.v(b) if b is not None else g.const(np.zeros(c, dt))
    return g.op("BatchNormalization", g.v(x), scale, bias, g.v(mean), g.v(var), epsilon=float(eps))


@register("layer_norm")
def _layer_norm(g, n):
    x, shape = n.args[0], n.arg(1, "normalized_shape")
    w, b, eps = n.arg(2, "weight"), n.arg(3, "bias"), n.arg(4, "eps", 1e-5)
    k = len(shape) if isinstance(shape, (list, tuple)) else 1
    dt = g.np_dtype(x)
    if g.opset >= 17:
        scale = g.v(w) if w is not None else g.const(np.ones(x.shape[-k:], dt))
        ins = [g.v(x), scale] + ([g.v(b)] if b is not None else [])
        return g.op("LayerNormalization", *ins, axis=-k, epsilon=float(eps))
    axes = list(range(x.ndim - k, x.ndim))
    xv = g.v(x)
    d = g.op("Sub", xv, g.reduce("ReduceMean", xv, axes, True))
    var = g.reduce("ReduceMean", g.op("Mul", d, d), axes, True)
    y = g.op("Div", d, g.op("Sqrt", g.op("Add", var, g.scalar(eps, dt))))
    if w is not None:
        y = g.op("Mul", y, g.v(w))
    if b is not None:
        y = g.op("Add", y, g.v(b))
    return y


@register("embedding")
def _embedding(g, n):
    idx, w = n.args[0], n.arg(1, "weight")
    if n.arg(3, "max_norm") is not None:
        _unsupported(n, "with max_norm is not supported (it renormalizes the weight in place)")
    return g.op("Gather", g.v(w), g.v(idx), axis=0)


@register("pad")
def _pad(g, n):
    x, pad = n.args[0], list(n.arg(1, "pad"))
    mode, value = n.arg(2, "mode", "constant"), n.arg(3, "value", None)
    r = x.ndim
    begins, ends = [0] * r, [0] * r
    for i in range(len(pad) // 2):
        begins[r - 1 - i], ends[r - 1 - i] = pad[2 * i], pad[2 * i + 1]
    onnx_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}.get(mode)
    if onnx_mode is None or (onnx_mode == "wrap" and g.opset < 19):
        _unsupported(n, f"with mode={mode!r} is not supported at opset {g.opset}")
    ins = [g.v(x), g.ints(begins + ends)]
    if onnx_mode == "constant":
        ins.append(g.scalar(0 if value is None else value, g.np_dtype(x)))
    return g.op("Pad", *ins, mode=onnx_mode)


@register("scaled_dot_product_attention")
def _sdpa(g, n):
    q, k, v = n.args[0], n.arg(1, "key"), n.arg(2, "value")
    mask, dropout_p = n.arg(3, "attn_mask"), n.arg(4, "dropout_p", 0.0)
    is_causal, scale = n.arg(5, "is_causal", False), n.arg(6, "scale")
    if dropout_p:
        _unsupported(n, "with dropout_p > 0 is not supported")
    if n.arg(7, "enable_gqa", False) and k.shape[-3] != q.shape[-3]:
        _unsupported(n, "with grouped-query attention is not supported")
    dt = g.np_dtype(q)
    r = k.ndim
    perm = list(range(r))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = g.op("Mul", g.op("MatMul", g.v(q), g.op("Transpose", g.v(k), perm=perm)), g.scalar(scale, dt))
    if is_causal:
        L, S = q.shape[-2], k.shape[-2]
        if (L, S) != (q.shape2[-2], k.shape2[-2]):
            _unsupported(n, "with is_causal over a dynamic sequence length is not supported")
        keep = np.tril(np.ones((L, S), dtype=np.bool_))
        s = g.op("Where", g.const(keep), s, g.scalar(-np.inf, dt))
    if mask is not None:
        if np.issubdtype(g.np_dtype(mask), np.bool_):
            s = g.op("Where", g.v(mask), s, g.scalar(-np.inf, dt))
        else:
            s = g.op("Add", s, g.operand(mask, dt))
    return g.op("MatMul", g.op("Softmax", s, axis=-1), g.v(v))


def _gates(a, H, order):
    """PyTorch's gate blocks of H rows, in ONNX's order (order: the PyTorch block index of each)."""
    return np.concatenate([a[k * H:(k + 1) * H] for k in order], axis=0)


# (ONNX op, gate count, the PyTorch gate of each ONNX gate): LSTM iofc <- ifgo, GRU zrh <- rzn
_RNN_KINDS = {"lstm_module": ("LSTM", 4, (0, 3, 1, 2)), "gru_module": ("GRU", 3, (1, 0, 2)),
              "rnn_module": ("RNN", 1, (0,))}


@register("lstm_module", "gru_module", "rnn_module")
def _rnn(g, n):
    """nn.LSTM / nn.GRU / nn.RNN as one ONNX LSTM / GRU / RNN per layer, with PyTorch's gates reordered into
    ONNX's, the bias as the input and recurrent biases concatenated, GRU with linear_before_reset=1 (PyTorch
    applies the reset gate after the recurrent product), and ONNX's layout (sequence first, the directions
    an axis of their own: Y [seq, dirs, batch, hidden]) turned back into PyTorch's."""
    op_type, ngates, order = _RNN_KINDS[n.op]
    m, x = n.args[0], n.args[1]
    hx = n.args[2] if len(n.args) > 2 else n.kwargs.get("hx")
    if getattr(m, "proj_size", 0):
        _unsupported(n, "with proj_size > 0 is not supported")
    if not isinstance(x, Val):
        _unsupported(n, "with a PackedSequence input is not supported")
    H, L = m.hidden_size, m.num_layers
    dirs = 2 if m.bidirectional else 1
    batched = x.ndim == 3
    dt = g.np_dtype(x)
    y = g.v(x)
    if not batched:
        y = g.op("Unsqueeze", y, g.ints([1]))
    elif m.batch_first:
        y = g.op("Transpose", y, perm=[1, 0, 2])
    states = []   # initial h (and c): [layers * dirs, batch, H]
    if hx is not None:
        for h in (hx if n.op == "lstm_module" else (hx,)):
            h = g.v(h)
            states.append(g.op("Unsqueeze", h, g.ints([1])) if not batched else h)
    attrs = {"hidden_size": H, "direction": "bidirectional" if dirs == 2 else "forward"}
    if op_type == "GRU":
        attrs["linear_before_reset"] = 1
    if op_type == "RNN":
        attrs["activations"] = ["Relu" if m.nonlinearity == "relu" else "Tanh"] * dirs
    finals = [[] for _ in range(2 if op_type == "LSTM" else 1)]
    for layer in range(L):
        Ws, Rs, Bs = [], [], []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            Ws.append(_gates(getattr(m, "weight_ih" + sfx).detach().cpu().numpy(), H, order))
            Rs.append(_gates(getattr(m, "weight_hh" + sfx).detach().cpu().numpy(), H, order))
            if m.bias:
                Bs.append(np.concatenate([_gates(getattr(m, "bias_ih" + sfx).detach().cpu().numpy(), H, order),
                                          _gates(getattr(m, "bias_hh" + sfx).detach().cpu().numpy(), H, order)]))
            else:
                Bs.append(np.zeros(2 * ngates * H, dt))
        ins = [y, g.const(np.stack(Ws).astype(dt)), g.const(np.stack(Rs).astype(dt)),
               g.const(np.stack(Bs).astype(dt)), ""]
        for st in states:
            ins.append(g.op("Slice", st, g.ints([layer * dirs]), g.ints([(layer + 1) * dirs]), g.ints([0])))
        outs = g.op(op_type, *ins, outs=1 + len(finals), **attrs)
        for f, o in zip(finals, outs[1:]):
            f.append(o)
        # [seq, dirs, batch, H] -> [seq, batch, dirs * H]
        y = g.op("Reshape", g.op("Transpose", outs[0], perm=[0, 2, 1, 3]), g.ints([0, 0, -1]))
    finals = [f[0] if L == 1 else g.op("Concat", *f, axis=0) for f in finals]
    if not batched:
        y = g.op("Squeeze", y, g.ints([1]))
        finals = [g.op("Squeeze", f, g.ints([1])) for f in finals]
    elif m.batch_first:
        y = g.op("Transpose", y, perm=[1, 0, 2])
    return [y] + finals
