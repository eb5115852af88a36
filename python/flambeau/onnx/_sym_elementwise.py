"""Translations of elementwise ops, comparisons, activations, casts and identities (see _symbolic.py)."""
import math

import numpy as np

from ._symbolic import _norm, _unsupported, register
from ._trace import Val

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
