"""Differential fuzzing of flambeau's public ops against PyTorch CPU (the oracle).

Every case is a few lines of Python in which `L` is the library (torch or flambeau) and `T(...)` builds
the same input tensor in either library from a seed (shape, dtype, layout: contiguous / transposed /
step-2 sliced / expanded / offset view, and values: normal, small ints, NaN/inf-laden, positive).
The case runs once per library; its result is `out` plus the final state of every tensor it built
(so in-place and out= writes are compared too). Outcomes are classified:

  a  crash / abort / hang of flambeau (the worker process died or stopped answering)
  b  PyTorch raises but flambeau returns something
  c  flambeau raises but PyTorch returns (a gap)
  d  both return but shape / dtype / values differ
  e  both raise, but flambeau's message names neither the op nor a shape

Cases run in a worker subprocess; the parent watches it with a per-case timeout, and when the worker
dies (segfault, abort) or hangs, the case that was running is reported with its reproducing code and a
fresh worker resumes after it. Everything is derived from --seed, so a run is reproducible:

    PYTHONPATH=python python3 tools/fuzz_ops.py --seed 0 --cases 3000          # summary + findings
    PYTHONPATH=python python3 tools/fuzz_ops.py --seed 0 --show 1234           # one case, both results
    PYTHONPATH=python python3 tools/fuzz_ops.py --seed 0 --cases 3000 --only gather,scatter
"""
import argparse
import json
import os
import random
import re
import select
import subprocess
import sys
import tempfile
import time

# --------------------------------------------------------------------------------------------------
# Input tensors: built identically in both libraries from (shape, dtype, layout, values, seed).

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
          "float64", "complex64"]
FLOATS = ["float16", "bfloat16", "float32", "float64"]
INTS = ["uint8", "int8", "int16", "int32", "int64"]
LAYOUTS = ["c", "c", "c", "t", "s", "e", "o"]


def make_T(L, prepare=None):
    """T(...) for library L. `prepare(t, dtype)`, when given, is applied to the freshly built base tensor
    before the layout's view is taken (tools/fuzz_grads.py makes it a leaf that requires grad there, so the
    gradient flows through the view)."""
    import numpy as np

    def T(shape, dtype="float32", layout="c", vals="n", seed=0):
        shape = tuple(shape)
        rng = np.random.default_rng(seed)
        nd = len(shape)
        base = list(shape)
        if layout == "t" and nd >= 2:
            base[-1], base[-2] = base[-2], base[-1]
        elif layout == "s" and nd >= 1:
            base[-1] = 2 * base[-1]
        elif layout == "o" and nd >= 1:
            base[0] = base[0] + 1
        elif layout == "e" and nd >= 1:
            base = [1 if (i % 2 == 0) else d for i, d in enumerate(shape)]
        if vals == "i":
            a = rng.integers(-4, 5, size=base).astype(np.float64)
        elif vals == "p":
            a = rng.uniform(0.1, 3.0, size=base)
        elif vals == "x":
            pool = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e30, -1e-30, 3.5, 65504.0,
                             1e5, -7.25])
            a = rng.choice(pool, size=base)
        else:
            a = rng.standard_normal(size=base) * 3
        if dtype == "complex64":
            a = (a + 1j * rng.standard_normal(size=base)).astype(np.complex64)
            t = L.tensor(a)
        elif dtype == "bool":
            t = L.tensor(a > 0)
        elif dtype in INTS:
            info = np.iinfo(getattr(np, dtype))
            a = np.nan_to_num(np.round(a), nan=0.0, posinf=info.max, neginf=info.min)
            if dtype == "uint8":
                a = np.abs(a)
            t = L.tensor(np.clip(a, info.min, info.max).astype(getattr(np, dtype)))
        elif dtype == "bfloat16":
            t = L.tensor(a.astype(np.float32)).to(L.bfloat16)
        else:
            t = L.tensor(a.astype(getattr(np, dtype)))
        if prepare is not None:
            t = prepare(t, dtype)
        if layout == "t" and nd >= 2:
            t = t.transpose(-1, -2)
        elif layout == "s" and nd >= 1:
            t = t[..., ::2]
        elif layout == "o" and nd >= 1:
            t = t[1:]
        elif layout == "e" and nd >= 1:
            t = t.expand(*shape)
        return t

    return T


# --------------------------------------------------------------------------------------------------
# Case generation. A case is (op, code); `code` assigns `out`.

SHAPES = [(), (0,), (1,), (5,), (3, 0), (0, 3), (2, 3), (1, 4), (4, 1), (2, 3, 4), (2, 1, 3), (3, 4, 0, 2),
          (1, 1, 1, 1, 1, 1, 1, 2), (7, 1, 1, 3), (2, 2, 2, 2, 2, 2), (3, 5), (6,), (4, 4), (2, 4, 4)]
LONG_SHAPES = [(70001,), (3, 40000), (40000, 3)]


class Gen:
    def __init__(self, rng):
        self.r = rng
        self.n = 0
        self.lines = []
        self.seed = rng.randrange(1 << 30)

    def shape(self, long_ok=True):
        if long_ok and self.r.random() < 0.03:
            return self.r.choice(LONG_SHAPES)
        return self.r.choice(SHAPES)

    def dtype(self, pool=None):
        pool = pool or DTYPES
        # favour float32 so that values, not only dtype gaps, get exercised
        if pool is DTYPES and self.r.random() < 0.4:
            return "float32"
        return self.r.choice(pool)

    def tensor(self, shape=None, dtype=None, layout=None, vals=None):
        shape = self.shape() if shape is None else tuple(shape)
        dtype = dtype or self.dtype()
        layout = layout or self.r.choice(LAYOUTS)
        vals = vals or self.r.choice("nnnixp")
        name = "t%d" % self.n
        self.n += 1
        self.lines.append("%s = T(%r, %r, %r, %r, %d)" % (name, list(shape), dtype, layout, vals,
                                                         self.seed + self.n))
        return name

    def dim(self, nd):
        return self.r.randint(-nd - 1, max(nd, 0)) if self.r.random() < 0.25 else \
            (self.r.randint(-nd, nd - 1) if nd > 0 else self.r.choice([0, -1]))

    def bshape(self, shape):
        """A shape broadcastable with `shape` (mostly) or not (sometimes)."""
        s = list(shape)
        x = self.r.random()
        if x < 0.4:
            return tuple(s)
        if x < 0.7:
            s = [1 if self.r.random() < 0.5 else d for d in s]
            drop = self.r.randint(0, len(s))
            return tuple(s[drop:])
        if x < 0.8:
            return (1,) * self.r.randint(0, 2) + tuple(s)
        return self.shape(long_ok=False)

    def code(self, stmt):
        return "\n".join(self.lines + ["out = " + stmt])


UNARY = ["abs", "neg", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "floor", "ceil",
         "round", "trunc", "frac", "sign", "sgn", "reciprocal", "rsqrt", "square", "erf", "expm1", "log1p",
         "log2", "exp2", "logical_not", "bitwise_not", "isnan", "isinf", "isfinite", "signbit",
         "nan_to_num", "angle", "positive", "atan", "asin", "acos", "sinh", "cosh", "digamma", "lgamma",
         "erfinv", "logit", "deg2rad", "sinc", "isposinf", "isneginf", "isreal", "conj", "real",
         "exp", "log10", "asinh", "acosh", "atanh", "erfc", "i0", "sigmoid", "fix", "tan"]
BINARY = ["add", "sub", "mul", "div", "true_divide", "floor_divide", "remainder", "fmod", "pow",
          "maximum", "minimum", "fmax", "fmin", "eq", "ne", "lt", "le", "gt", "ge", "logical_and",
          "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift",
          "bitwise_right_shift", "atan2", "hypot", "copysign", "nextafter", "xlogy", "gcd", "lcm",
          "heaviside", "isclose", "ldexp", "float_power", "rsub"]
REDUCE = ["sum", "mean", "prod", "amax", "amin", "max", "min", "argmax", "argmin", "std", "var",
          "logsumexp", "all", "any", "count_nonzero", "nansum", "nanmean", "norm", "median", "nanmedian",
          "cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "softmax", "log_softmax", "sort",
          "argsort", "topk", "kthvalue", "mode", "aminmax", "std_mean", "var_mean", "msort"]


def gen_unary(g):
    op = g.r.choice(UNARY)
    a = g.tensor()
    v = g.r.random()
    if v < 0.5:
        return op, g.code("L.%s(%s)" % (op, a))
    if v < 0.7:
        return op, g.code("%s.%s_()" % (a, op)) if op not in ("isnan", "isinf", "isfinite", "signbit",
                                                                 "angle", "positive", "isposinf",
                                                                 "isneginf", "isreal", "conj", "real",
                                                                 "sgn", "logical_not") \
            else g.code("%s.%s()" % (a, op))
    o = g.tensor(shape=g.r.choice([None, ()]) or None, layout="c")
    return op + "_out", g.code("L.%s(%s, out=%s)" % (op, a, o))


def scalar(g):
    return g.r.choice(["2", "-3", "0", "0.5", "-1.5", "True", "float('nan')", "float('inf')", "1e40", "2**40",
                       "(1+2j)"])


def gen_binary(g):
    op = g.r.choice(BINARY)
    sa = g.shape()
    a = g.tensor(shape=sa)
    v = g.r.random()
    b = scalar(g) if v < 0.2 else g.tensor(shape=g.bshape(sa))
    kw = ""
    if op in ("add", "sub") and g.r.random() < 0.2:
        kw = ", alpha=%s" % g.r.choice(["2", "0.5", "True", "-1"])
    if op == "div" and g.r.random() < 0.4:
        kw = ", rounding_mode=%r" % g.r.choice(["floor", "trunc", "bad"])
    w = g.r.random()
    if w < 0.55:
        return op, g.code("L.%s(%s, %s%s)" % (op, a, b, kw))
    if w < 0.7 and op not in ("rsub", "isclose"):
        return op + "_", g.code("%s.%s_(%s%s)" % (a, op, b, kw))
    if w < 0.8:
        sym = {"add": "+", "sub": "-", "mul": "*", "div": "/", "floor_divide": "//", "remainder": "%",
               "pow": "**", "bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^", "eq": "==",
               "lt": "<", "ge": ">=", "bitwise_left_shift": "<<", "bitwise_right_shift": ">>"}.get(op)
        if sym:
            if g.r.random() < 0.5:
                return op + "_operator", g.code("%s %s %s" % (a, sym, b))
            return op + "_roperator", g.code("%s %s %s" % (b, sym, a))
    if op in ("rsub", "isclose", "float_power", "ldexp"):
        return op, g.code("L.%s(%s, %s)" % (op, a, b))
    oshape = g.r.choice([sa, sa, (), (7,)])
    odt = g.r.choice([None, "float32", "int64", "bool", "float64"])
    if g.r.random() < 0.3:
        # aliasing: out= is an input, or overlaps one partially
        o = g.r.choice([a, "%s[1:]" % a if sa else a, "%s.T" % a])
        return op + "_out_alias", g.code("L.%s(%s, %s%s, out=%s)" % (op, a, b, kw, o))
    o = g.tensor(shape=oshape, dtype=odt, layout="c")
    return op + "_out", g.code("L.%s(%s, %s%s, out=%s)" % (op, a, b, kw, o))


def gen_reduce(g):
    op = g.r.choice(REDUCE)
    sa = g.shape()
    nd = len(sa)
    a = g.tensor(shape=sa)
    args = []
    if op in ("softmax", "log_softmax", "cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"):
        args.append(str(g.dim(nd)))
    elif op == "topk":
        args.append(str(g.r.randint(-1, 4)))
        if g.r.random() < 0.8:
            args.append("dim=%d" % g.dim(nd))
        if g.r.random() < 0.3:
            args.append("largest=False")
    elif op == "kthvalue":
        args.append(str(g.r.randint(0, 4)))
        if g.r.random() < 0.8:
            args.append("dim=%d" % g.dim(nd))
    elif op == "msort":
        pass
    elif g.r.random() < 0.75:
        if op in ("sum", "mean", "amax", "amin", "std", "var", "logsumexp", "count_nonzero", "nansum",
                  "nanmean", "norm", "std_mean", "var_mean") and g.r.random() < 0.3:
            args.append("dim=(%s,)" % ", ".join(str(g.dim(nd)) for _ in range(g.r.randint(0, 2))))
        else:
            args.append("dim=%d" % g.dim(nd))
        if op not in ("sort", "argsort", "count_nonzero", "mode") and g.r.random() < 0.4:
            args.append("keepdim=True")
    if op in ("sum", "prod", "cumsum", "mean", "softmax") and g.r.random() < 0.2:
        args.append("dtype=L.%s" % g.r.choice(["float64", "int64", "float16"]))
    if op in ("std", "var", "std_mean", "var_mean") and g.r.random() < 0.3:
        args.append("correction=%d" % g.r.randint(0, 3))
    if op in ("sort", "argsort"):
        args.append("stable=True")
    call = "L.%s(%s)" % (op, ", ".join([a] + args))
    if op in ("topk", "kthvalue", "mode", "median", "nanmedian") and "dim" in call:
        call += "[0]"  # values only: index choice among ties is unspecified
    return op, g.code(call)


def gen_shape(g):
    sa = g.shape(long_ok=False)
    nd = len(sa)
    a = g.tensor(shape=sa)
    r = g.r
    choices = [
        ("reshape", lambda: "%s.reshape(%s)" % (a, r.choice(["-1", "(-1, 2)", "(0, -1)", "(2, -1, 1)", "()",
                                                               "(%d,)" % (max(1, len(sa)) * 3), "(-2, 3)"]))),
        ("view", lambda: "%s.view(%s)" % (a, r.choice(["-1", "(-1, 2)", "(%s)" % ",".join(map(str, sa[::-1])) +
                                                         ("," if len(sa) == 1 else "")]))),
        ("transpose", lambda: "%s.transpose(%d, %d)" % (a, g.dim(nd), g.dim(nd))),
        ("permute", lambda: "%s.permute(%s)" % (a, ", ".join(str(g.dim(nd)) for _ in range(nd)) or "()")),
        ("flatten", lambda: "%s.flatten(%d, %d)" % (a, g.dim(nd), g.dim(nd))),
        ("unflatten", lambda: "%s.unflatten(%d, %s)" % (a, g.dim(nd), r.choice(["(1, -1)", "(2, -1)", "(-1,)",
                                                                                    "(0, -1)"]))),
        ("squeeze", lambda: "%s.squeeze(%d)" % (a, g.dim(nd))),
        ("unsqueeze", lambda: "%s.unsqueeze(%d)" % (a, r.randint(-nd - 2, nd + 1))),
        ("expand", lambda: "%s.expand(%s)" % (a, ", ".join(str(r.choice([-1, 1, 2, 3, d])) for d in
                                                          ((r.choice([2, 1]),) * r.randint(0, 1) + sa)) or "()")),
        ("repeat", lambda: "%s.repeat(%s)" % (a, ", ".join(str(r.randint(0, 3)) for _ in range(r.randint(nd - 1,
                                                                                              nd + 1))))),
        ("tile", lambda: "L.tile(%s, (%s,))" % (a, ", ".join(str(r.randint(0, 3)) for _ in range(r.randint(1, 3))))),
        ("flip", lambda: "L.flip(%s, (%d,))" % (a, g.dim(nd))),
        ("roll", lambda: "L.roll(%s, %d, %s)" % (a, r.randint(-7, 7), r.choice(["None", str(g.dim(nd))]))),
        ("narrow", lambda: "%s.narrow(%d, %d, %d)" % (a, g.dim(nd), r.randint(-3, 3), r.randint(-1, 3))),
        ("select", lambda: "%s.select(%d, %d)" % (a, g.dim(nd), r.randint(-4, 4))),
        ("chunk", lambda: "%s.chunk(%d, %d)" % (a, r.randint(1, 4), g.dim(nd))),
        ("split", lambda: "%s.split(%s, %d)" % (a, r.choice(["1", "2", "[1, 2]", "[0, 3]", "0"]), g.dim(nd))),
        ("tensor_split", lambda: "L.tensor_split(%s, %s, %d)" % (a, r.choice(["3", "[1, 5]", "[2, 1]"]),
                                                                    g.dim(nd))),
        ("movedim", lambda: "L.movedim(%s, %d, %d)" % (a, g.dim(nd), g.dim(nd))),
        ("diagonal", lambda: "L.diagonal(%s, %d, %d, %d)" % (a, r.randint(-3, 3), g.dim(nd), g.dim(nd))),
        ("diag", lambda: "L.diag(%s, %d)" % (a, r.randint(-3, 3))),
        ("tril", lambda: "L.tril(%s, %d)" % (a, r.randint(-3, 3))),
        ("triu_", lambda: "%s.triu_(%d)" % (a, r.randint(-3, 3))),
        ("cat", lambda: "L.cat([%s, %s], %d)" % (a, g.tensor(shape=g.bshape(sa)), g.dim(nd))),
        ("stack", lambda: "L.stack([%s, %s], %d)" % (a, g.tensor(shape=g.bshape(sa)), r.randint(-nd - 2, nd + 1))),
        ("cat_out_alias", lambda: "L.cat([%s, %s], 0, out=%s)" % (a, a, a)),
        ("hstack", lambda: "L.hstack([%s, %s])" % (a, g.tensor(shape=g.bshape(sa)))),
        ("contiguous", lambda: "%s.contiguous()" % a),
        ("clone", lambda: "%s.clone()" % a),
        ("to", lambda: "%s.to(L.%s)" % (a, g.dtype())),
        ("type_as", lambda: "%s.type_as(%s)" % (a, g.tensor(shape=(2,)))),
        ("copy_", lambda: "%s.copy_(%s)" % (a, g.tensor(shape=g.bshape(sa)))),
        ("fill_", lambda: "%s.fill_(%s)" % (a, scalar(g))),
        ("zero_", lambda: "%s.zero_()" % a),
        ("clamp", lambda: "L.clamp(%s, %s, %s)" % (a, r.choice(["None", "-1", "0.5", g.tensor(shape=(1,))]),
                                                    r.choice(["None", "1", "-2", "float('nan')"]))),
        ("clamp_", lambda: "%s.clamp_(min=%s)" % (a, r.choice(["0", "0.5", "-1"]))),
        ("where", lambda: "L.where(%s, %s, %s)" % (g.tensor(shape=g.bshape(sa), dtype=r.choice(["bool", "bool",
                                                                                                "uint8"])),
                                                   a, r.choice([scalar(g), g.tensor(shape=g.bshape(sa))]))),
        ("lerp", lambda: "L.lerp(%s, %s, %s)" % (a, g.tensor(shape=g.bshape(sa)), r.choice(["0.5", "2"]))),
        ("addcmul", lambda: "L.addcmul(%s, %s, %s, value=%s)" % (a, g.tensor(shape=g.bshape(sa)),
                                                                 g.tensor(shape=g.bshape(sa)), r.choice(["1", "0.5"]))),
        ("nonzero", lambda: "L.nonzero(%s)" % a),
        ("unique", lambda: "L.unique(%s, sorted=True, return_counts=True)" % a),
        ("unique_consecutive", lambda: "L.unique_consecutive(%s)" % a),
        ("bincount", lambda: "L.bincount(%s, minlength=%d)" % (g.tensor(shape=(r.randint(0, 6),), dtype=r.choice(
            ["int64", "int64", "uint8", "float32", "int32"]), vals=r.choice("ip")), r.randint(-1, 3))),
        ("histc", lambda: "L.histc(%s, bins=%d, min=%s, max=%s)" % (a, r.randint(-1, 6), r.choice(["0", "-1", "2"]),
                                                                    r.choice(["0", "1", "3"]))),
        ("searchsorted", lambda: "L.searchsorted(L.sort(%s, -1)[0], %s)" % (a, g.tensor(shape=g.bshape(sa)))),
        ("bucketize", lambda: "L.bucketize(%s, L.sort(%s)[0])" % (a, g.tensor(shape=(r.randint(0, 5),)))),
        ("cumsum_", lambda: "%s.cumsum_(%d)" % (a, g.dim(nd))),
        ("trace", lambda: "L.trace(%s)" % a),
        ("kron", lambda: "L.kron(%s, %s)" % (a, g.tensor(shape=g.shape(long_ok=False)))),
        ("cross", lambda: "L.linalg.cross(%s, %s, dim=%d)" % (g.tensor(shape=r.choice([(3,), (2, 3), (3, 2), (4,)])),
                                                              g.tensor(shape=r.choice([(3,), (2, 3), (1, 3)])),
                                                              r.choice([-1, 0, 1, 2]))),
        ("rot90", lambda: "L.rot90(%s, %d, (%d, %d))" % (a, r.randint(-2, 5), g.dim(nd), g.dim(nd))),
        ("as_strided", lambda: "L.as_strided(%s, (%d, %d), (%d, %d), %d)" % (a, r.randint(0, 3), r.randint(0, 3),
                                                                              r.randint(0, 3), r.randint(0, 3),
                                                                              r.randint(0, 4))),
        ("unfold", lambda: "%s.unfold(%d, %d, %d)" % (a, g.dim(nd), r.randint(0, 4), r.randint(0, 3))),
        ("broadcast_to", lambda: "L.broadcast_to(%s, %s)" % (a, tuple(g.bshape(sa))[::-1])),
        ("meshgrid", lambda: "L.meshgrid(%s, %s, indexing='ij')" % (a, g.tensor(shape=(r.randint(0, 3),)))),
        ("repeat_interleave", lambda: "L.repeat_interleave(%s, %s, dim=%s)" % (
            a, r.choice(["2", "0", g.tensor(shape=(r.randint(0, 4),), dtype="int64", vals="p")]),
            r.choice(["None", str(g.dim(nd))]))),
    ]
    name, f = r.choice(choices)
    return name, g.code(f())


def idx_tensor(g, n, shape=None, dtype="int64"):
    """An index tensor with values in [-n-2, n+2): mostly valid, sometimes out of range."""
    shape = shape if shape is not None else (g.r.randint(0, 5),)
    lo, hi = (0, max(n, 1)) if g.r.random() < 0.6 else (-n - 2, n + 2)
    name = "t%d" % g.n
    g.n += 1
    g.lines.append("%s = L.tensor(np.random.default_rng(%d).integers(%d, %d, size=%r)).to(L.%s)"
                   % (name, g.seed + g.n, lo, hi, tuple(shape), dtype))
    return name


def gen_index(g):
    r = g.r
    sa = g.shape(long_ok=False)
    nd = len(sa)
    a = g.tensor(shape=sa)
    d = g.dim(nd)
    n = sa[d] if -nd <= d < nd and nd else 1
    idt = r.choice(["int64", "int64", "int64", "int32", "float32", "int16", "uint8"])
    oth = [s for s in sa]
    ishape = tuple(max(0, s - r.randint(0, 1)) for s in sa) if r.random() < 0.7 else g.shape(long_ok=False)
    choices = [
        ("gather", lambda: "L.gather(%s, %d, %s)" % (a, d, idx_tensor(g, n, ishape, idt))),
        ("take_along_dim", lambda: "L.take_along_dim(%s, %s, %d)" % (a, idx_tensor(g, n, ishape), d)),
        ("scatter", lambda: "%s.scatter(%d, %s, %s)" % (a, d, idx_tensor(g, n, ishape, idt),
                                                        r.choice([g.tensor(shape=ishape), "1.5"]))),
        ("scatter_", lambda: "%s.scatter_(%d, %s, %s)" % (a, d, idx_tensor(g, n, ishape, idt),
                                                          g.tensor(shape=ishape))),
        ("scatter_add", lambda: "L.scatter_add(%s, %d, %s, %s)" % (a, d, idx_tensor(g, n, ishape, idt),
                                                                  g.tensor(shape=r.choice([ishape, sa])))),
        ("scatter_reduce", lambda: "L.scatter_reduce(%s, %d, %s, %s, %r, include_self=%s)" % (
            a, d, idx_tensor(g, n, ishape), g.tensor(shape=ishape), r.choice(["sum", "prod", "mean", "amax", "amin"]),
            r.choice(["True", "False"]))),
        ("index_select", lambda: "L.index_select(%s, %d, %s)" % (a, d, idx_tensor(g, n, None, idt))),
        ("index_add", lambda: "%s.index_add(%d, %s, %s)" % (a, d, idx_tensor(g, n, (2,)),
                                                            g.tensor(shape=tuple(2 if i == d % max(nd, 1) else s
                                                                                 for i, s in enumerate(sa))))),
        ("index_copy_", lambda: "%s.index_copy_(%d, %s, %s)" % (a, d, idx_tensor(g, n, (1,)),
                                                                g.tensor(shape=tuple(1 if i == d % max(nd, 1) else s
                                                                                     for i, s in enumerate(sa))))),
        ("index_fill_", lambda: "%s.index_fill_(%d, %s, %s)" % (a, d, idx_tensor(g, n, None, idt), scalar(g))),
        ("masked_fill", lambda: "%s.masked_fill(%s, %s)" % (a, g.tensor(shape=g.bshape(sa), dtype=r.choice(
            ["bool", "bool", "uint8", "float32"])), r.choice([scalar(g), g.tensor(shape=r.choice([(), (1,)]))]))),
        ("masked_fill_", lambda: "%s.masked_fill_(%s, %s)" % (a, g.tensor(shape=g.bshape(sa), dtype="bool"),
                                                              scalar(g))),
        ("masked_select", lambda: "L.masked_select(%s, %s)" % (a, g.tensor(shape=g.bshape(sa), dtype="bool"))),
        ("masked_scatter", lambda: "%s.masked_scatter(%s, %s)" % (a, g.tensor(shape=g.bshape(sa), dtype="bool"),
                                                                  g.tensor(shape=g.shape(long_ok=False)))),
        ("take", lambda: "L.take(%s, %s)" % (a, idx_tensor(g, max(1, _numel(sa)), ishape, idt))),
        ("put_", lambda: "%s.put_(%s, %s, accumulate=%s)" % (a, idx_tensor(g, max(1, _numel(sa)), (3,)),
                                                             g.tensor(shape=(3,)), r.choice(["True", "False"]))),
        ("index_put_", lambda: "%s.index_put_((%s,), %s, accumulate=%s)" % (
            a, idx_tensor(g, sa[0] if nd else 1, (3,)), g.tensor(shape=r.choice([(), (3,) + tuple(sa[1:]), (2,)])),
            r.choice(["True", "False"]))),
        ("getitem_int", lambda: "%s[%d]" % (a, r.randint(-(sa[0] if nd else 1) - 1, (sa[0] if nd else 1)))),
        ("getitem_tensor", lambda: "%s[%s]" % (a, idx_tensor(g, sa[0] if nd else 1, ishape[:2], idt))),
        ("getitem_bool", lambda: "%s[%s]" % (a, g.tensor(shape=r.choice([sa, sa[:1], g.shape(long_ok=False)]),
                                                         dtype="bool"))),
        ("getitem_slices", lambda: "%s[%s]" % (a, ", ".join(r.choice(["1:", ":-1", "::2", "None", "...", "5:2",
                                                                       "-10:10", "0", "-1", "2:2"])
                                                            for _ in range(r.randint(1, nd + 1))))),
        ("getitem_multi", lambda: "%s[%s, %s]" % (a, idx_tensor(g, sa[0] if nd else 1, (2,)),
                                                  idx_tensor(g, sa[1] if nd > 1 else 1, r.choice([(2,), (1,), (3,)])))),
        ("setitem_tensor", lambda: "%s.__setitem__(%s, %s)" % (a, idx_tensor(g, sa[0] if nd else 1, (2,)),
                                                               r.choice([scalar(g), g.tensor(shape=r.choice(
                                                                   [(), (1,), tuple(sa[1:]), (2,) + tuple(sa[1:])]))]))),
        ("setitem_bool", lambda: "%s.__setitem__(%s, %s)" % (a, g.tensor(shape=r.choice([sa, sa[:1]]), dtype="bool"),
                                                             r.choice([scalar(g), g.tensor(shape=(1,))]))),
        ("setitem_slice", lambda: "None\n%s[%s] = %s\nout = %s" % (
            a, ", ".join(r.choice(["1:", ":-1", "::2", "...", "0", "-1", "None"]) for _ in range(r.randint(1, nd + 1))),
            r.choice([scalar(g), g.tensor(shape=g.shape(long_ok=False)), a]), a)),
        ("one_hot", lambda: "L.nn.functional.one_hot(%s, %d)" % (idx_tensor(g, 4, ishape), r.randint(-1, 5))),
        ("embedding", lambda: "L.nn.functional.embedding(%s, %s, padding_idx=%s)" % (
            idx_tensor(g, 5, ishape, r.choice(["int64", "int32", "float32"])), g.tensor(shape=(5, 3)),
            r.choice(["None", "0", "-1", "7"]))),
    ]
    name, f = r.choice(choices)
    return name, g.code(f())


def _numel(s):
    n = 1
    for d in s:
        n *= d
    return n


def gen_nn(g):
    r = g.r
    F = "L.nn.functional"
    C = r.choice([1, 3, 4])
    N = r.choice([0, 1, 2])
    sp = r.choice([(5, 5), (1, 1), (0, 4), (7, 3), (2, 9)])
    dt = r.choice(["float32", "float32", "float64", "float16", "bfloat16", "int64"])
    x4 = lambda: g.tensor(shape=(N, C) + sp, dtype=dt)
    choices = [
        ("conv2d", lambda: "%s.conv2d(%s, %s, None, stride=%d, padding=%s, dilation=%d, groups=%d)" % (
            F, x4(), g.tensor(shape=(r.choice([2, 4]), r.choice([C, 1, 2]), r.randint(1, 4), r.randint(1, 3)), dtype=dt),
            r.choice([1, 1, 2, 0, -1]), r.choice(["0", "1", "'same'", "'valid'", "-1"]), r.choice([1, 2]),
            r.choice([1, 1, 2, C]))),
        ("conv1d", lambda: "%s.conv1d(%s, %s, %s, stride=%d, padding=%d)" % (
            F, g.tensor(shape=r.choice([(N, C, 6), (C, 6), (N, C, 0)]), dtype=dt),
            g.tensor(shape=(2, C, r.randint(0, 7)), dtype=dt), r.choice(["None", g.tensor(shape=(r.choice([2, 3]),),
                                                                                           dtype=dt)]),
            r.choice([1, 2, 0]), r.choice([0, 1, 3, -1]))),
        ("conv_transpose2d", lambda: "%s.conv_transpose2d(%s, %s, stride=%d, padding=%d, output_padding=%d)" % (
            F, x4(), g.tensor(shape=(C, 2, 3, 3), dtype=dt), r.choice([1, 2]), r.choice([0, 1]), r.choice([0, 1, 2]))),
        ("max_pool2d", lambda: "%s.max_pool2d(%s, %d, stride=%s, padding=%d, ceil_mode=%s)" % (
            F, x4(), r.randint(0, 6), r.choice(["None", "1", "2", "0"]), r.randint(0, 3), r.choice(["True", "False"]))),
        ("avg_pool2d", lambda: "%s.avg_pool2d(%s, %d, stride=%s, padding=%d, ceil_mode=%s, count_include_pad=%s)" % (
            F, x4(), r.randint(0, 6), r.choice(["None", "1", "2"]), r.randint(0, 3), r.choice(["True", "False"]),
            r.choice(["True", "False"]))),
        ("adaptive_avg_pool2d", lambda: "%s.adaptive_avg_pool2d(%s, %s)" % (F, x4(), r.choice(["1", "(2, 3)", "0",
                                                                                              "(7, 7)", "(None, 2)"]))),
        ("adaptive_max_pool2d", lambda: "%s.adaptive_max_pool2d(%s, %s)" % (F, x4(), r.choice(["1", "(2, 3)", "0"]))),
        ("interpolate", lambda: "%s.interpolate(%s, size=%s, mode=%r)" % (
            F, x4(), r.choice(["(3, 4)", "7", "(0, 2)", "(1, 1)"]), r.choice(["nearest", "bilinear", "bicubic",
                                                                             "nearest-exact", "area"]))),
        ("pad", lambda: "%s.pad(%s, %s, mode=%r)" % (
            F, x4(), r.choice(["(1, 1)", "(-1, 2)", "(2, 2, 1, 1)", "(-6, 0)", "(1,)", "(9, 9)"]),
            r.choice(["constant", "reflect", "replicate", "circular"]))),
        ("softmax", lambda: "%s.softmax(%s, dim=%d)" % (F, g.tensor(), r.randint(-3, 2))),
        ("cross_entropy", lambda: "%s.cross_entropy(%s, %s, ignore_index=%d, reduction=%r, label_smoothing=%s)" % (
            F, g.tensor(shape=(r.choice([0, 3]), C)), idx_tensor(g, C, (r.choice([0, 3]),), r.choice(["int64", "int32"])),
            r.choice([-100, 0, 1]), r.choice(["mean", "sum", "none"]), r.choice(["0.0", "0.1"]))),
        ("cross_entropy_probs", lambda: "%s.cross_entropy(%s, %s)" % (F, g.tensor(shape=(3, C)),
                                                                     g.tensor(shape=r.choice([(3, C), (3, C + 1)]),
                                                                              vals="p"))),
        ("nll_loss", lambda: "%s.nll_loss(%s, %s, weight=%s, ignore_index=%d)" % (
            F, g.tensor(shape=r.choice([(3, C), (C,), (2, C, 4)])), idx_tensor(g, C, r.choice([(3,), (), (2, 4)])),
            r.choice(["None", g.tensor(shape=(r.choice([C, C + 1]),), vals="p")]), r.choice([-100, 1]))),
        ("binary_cross_entropy", lambda: "%s.binary_cross_entropy(%s, %s)" % (
            F, g.tensor(shape=(4,), vals=r.choice("pnx")), g.tensor(shape=r.choice([(4,), (3,)]), vals="p"))),
        ("bce_with_logits", lambda: "%s.binary_cross_entropy_with_logits(%s, %s, pos_weight=%s)" % (
            F, g.tensor(shape=(2, 4)), g.tensor(shape=r.choice([(2, 4), (4,)]), vals="p"),
            r.choice(["None", g.tensor(shape=r.choice([(4,), (3,)]))]))),
        ("mse_loss", lambda: "%s.mse_loss(%s, %s, reduction=%r)" % (F, g.tensor(shape=(2, 3)),
                                                                   g.tensor(shape=r.choice([(2, 3), (3,), (2, 1), (4,)])),
                                                                   r.choice(["mean", "sum", "none", "bad"]))),
        ("l1_loss", lambda: "%s.l1_loss(%s, %s)" % (F, g.tensor(shape=(0,)), g.tensor(shape=(0,)))),
        ("kl_div", lambda: "%s.kl_div(%s, %s, reduction=%r)" % (F, g.tensor(shape=(3, 4)), g.tensor(shape=(3, 4), vals="p"),
                                                               r.choice(["batchmean", "mean", "sum"]))),
        ("layer_norm", lambda: "%s.layer_norm(%s, %s)" % (F, g.tensor(shape=(2, 3, 4), dtype=dt),
                                                          r.choice(["(4,)", "(3, 4)", "(3,)", "(2, 3, 4)", "()"]))),
        ("group_norm", lambda: "%s.group_norm(%s, %d)" % (F, x4(), r.choice([1, 2, C, 3]))),
        ("batch_norm", lambda: "%s.batch_norm(%s, %s, %s, training=%s)" % (
            F, x4(), g.tensor(shape=(r.choice([C, C + 1]),)), g.tensor(shape=(C,), vals="p"), r.choice(["True", "False"]))),
        ("linear", lambda: "%s.linear(%s, %s, %s)" % (F, g.tensor(shape=r.choice([(2, 3), (3,), (0, 3), (2, 4)]), dtype=dt),
                                                      g.tensor(shape=r.choice([(5, 3), (3,), (0, 3)]), dtype=dt),
                                                      r.choice(["None", g.tensor(shape=r.choice([(5,), (4,), ()]),
                                                                                 dtype=dt)]))),
        ("dropout", lambda: "%s.dropout(%s, p=%s, training=%s)" % (F, g.tensor(), r.choice(["0.0", "1.0", "1.5", "-0.1"]),
                                                                   r.choice(["True", "False"]))),
        ("pixel_shuffle", lambda: "%s.pixel_shuffle(%s, %d)" % (F, g.tensor(shape=(1, r.choice([4, 8, 3]), 2, 2)),
                                                                r.choice([2, 0, 3]))),
        ("unfold", lambda: "%s.unfold(%s, %d, padding=%d, stride=%d)" % (F, x4(), r.randint(0, 4), r.randint(0, 2),
                                                                         r.randint(1, 2))),
        ("normalize", lambda: "%s.normalize(%s, p=%s, dim=%d)" % (F, g.tensor(), r.choice(["2", "1", "0", "float('inf')"]),
                                                                  r.randint(-2, 1))),
        ("cosine_similarity", lambda: "%s.cosine_similarity(%s, %s, dim=%d)" % (F, g.tensor(shape=(3, 4)),
                                                                              g.tensor(shape=g.bshape((3, 4))),
                                                                              r.randint(-3, 2))),
        ("gelu", lambda: "%s.gelu(%s, approximate=%r)" % (F, g.tensor(), r.choice(["none", "tanh", "bad"]))),
        ("leaky_relu", lambda: "%s.leaky_relu(%s, %s)" % (F, g.tensor(), r.choice(["0.01", "-2", "0"]))),
        ("hardtanh", lambda: "%s.hardtanh(%s, %s, %s)" % (F, g.tensor(), r.choice(["-1", "1"]), r.choice(["1", "-1"]))),
        ("glu", lambda: "%s.glu(%s, %d)" % (F, g.tensor(), r.randint(-2, 1))),
        ("prelu", lambda: "%s.prelu(%s, %s)" % (F, x4(), g.tensor(shape=(r.choice([1, C, C + 1]),)))),
        ("elu", lambda: "%s.elu(%s, alpha=%s)" % (F, g.tensor(), r.choice(["1.0", "-1", "0"]))),
        ("softplus", lambda: "%s.softplus(%s, beta=%s, threshold=%s)" % (F, g.tensor(), r.choice(["1", "0", "-2"]),
                                                                        r.choice(["20", "0"]))),
        ("logsigmoid", lambda: "%s.logsigmoid(%s)" % (F, g.tensor())),
        ("grid_sample", lambda: "%s.grid_sample(%s, %s, align_corners=False)" % (
            F, x4(), g.tensor(shape=(N, 2, 3, r.choice([2, 3])), vals=r.choice("nx")))),
        ("embedding_bag", lambda: "%s.embedding_bag(%s, %s, %s, mode=%r)" % (
            F, idx_tensor(g, 5, (4,)), g.tensor(shape=(5, 3)), idx_tensor(g, 4, (2,)), r.choice(["sum", "mean", "max"]))),
        ("ctc_loss", lambda: "%s.ctc_loss(%s.log_softmax(2), %s, %s, %s)" % (
            F, g.tensor(shape=(6, 2, 4)), idx_tensor(g, 4, (2, 3)), idx_tensor(g, 8, (2,)), idx_tensor(g, 4, (2,)))),
    ]
    name, f = r.choice(choices)
    return name, g.code(f())


def gen_linalg(g):
    r = g.r
    dt = r.choice(["float32", "float32", "float64", "float16", "bfloat16", "int64", "complex64", "int32"])
    m, k, n = r.choice([0, 1, 3]), r.choice([0, 1, 4]), r.choice([0, 2, 5])
    k2 = r.choice([k, k, k + 1])
    b = r.choice([(), (2,), (1,), (0,), (2, 3)])
    sq = r.choice([0, 1, 3])
    A = lambda s, **kw: g.tensor(shape=s, dtype=kw.pop("dtype", dt), **kw)
    choices = [
        ("matmul", lambda: "L.matmul(%s, %s)" % (A(r.choice([(k,), (m, k), b + (m, k)])),
                                                 A(r.choice([(k2,), (k2, n), b + (k2, n), (2, 1, k2, n)])))),
        ("mm", lambda: "L.mm(%s, %s)" % (A((m, k)), A((k2, n)))),
        ("mm_out", lambda: "L.mm(%s, %s, out=%s)" % (A((m, k)), A((k, n)), A(r.choice([(m, n), (n, m), (1,)]),
                                                                             layout="c"))),
        ("bmm", lambda: "L.bmm(%s, %s)" % (A((2, m, k)), A((r.choice([2, 3]), k2, n)))),
        ("mv", lambda: "L.mv(%s, %s)" % (A((m, k)), A((k2,)))),
        ("dot", lambda: "L.dot(%s, %s)" % (A((k,)), A((k2,), dtype=r.choice([dt, "float32"])))),
        ("vdot", lambda: "L.vdot(%s, %s)" % (A((k,)), A((k2,)))),
        ("outer", lambda: "L.outer(%s, %s)" % (A((m,)), A((n,)))),
        ("addmm", lambda: "L.addmm(%s, %s, %s, beta=%s, alpha=%s)" % (A(r.choice([(m, n), (n,), (1,), (m, 1)])), A((m, k)),
                                                                      A((k2, n)), r.choice(["1", "0", "0.5"]),
                                                                      r.choice(["1", "2"]))),
        ("baddbmm", lambda: "L.baddbmm(%s, %s, %s)" % (A((2, m, n)), A((2, m, k)), A((2, k2, n)))),
        ("addmv", lambda: "L.addmv(%s, %s, %s)" % (A((m,)), A((m, k)), A((k2,)))),
        ("einsum", lambda: "L.einsum(%r, %s, %s)" % (r.choice(["ij,jk->ik", "ij,ij->", "bij,bjk->bik", "ii->i",
                                                                "i,j->ij", "ij->ji", "ij,jk"]),
                                                      A((m, k)), A((k2, n)))),
        ("tensordot", lambda: "L.tensordot(%s, %s, dims=%d)" % (A((m, k)), A((k2, n)), r.randint(0, 2))),
        ("vector_norm", lambda: "L.linalg.vector_norm(%s, ord=%s)" % (A(b + (m, k)), r.choice(
            ["2", "1", "0", "float('inf')", "-float('inf')", "3.5", "-1"]))),
        ("matrix_norm", lambda: "L.linalg.matrix_norm(%s, ord=%r)" % (A(b + (sq, sq)), r.choice(["fro", "nuc", 1, 2, -2]))),
        ("norm", lambda: "L.norm(%s, p=%s)" % (A(b + (m, k)), r.choice(["2", "'fro'", "1", "float('inf')"]))),
        ("det", lambda: "L.linalg.det(%s)" % A(b + (sq, r.choice([sq, sq, sq + 1]))))  ,
        ("slogdet", lambda: "L.linalg.slogdet(%s)" % A(b + (sq, sq))),
        ("inv", lambda: "L.linalg.inv(%s)" % A(b + (sq, sq), vals=r.choice("nni"))),
        ("inv_ex", lambda: "L.linalg.inv_ex(%s)" % A(b + (sq, sq), vals="i")),
        ("solve", lambda: "L.linalg.solve(%s, %s)" % (A(b + (sq, sq)), A(r.choice([b + (sq, 2), (sq,), b + (sq,),
                                                                                   (sq + 1, 2)])))),
        ("cholesky", lambda: "L.linalg.cholesky(%s)" % A(b + (sq, sq))),
        ("qr", lambda: "[x.abs() for x in L.linalg.qr(%s, mode=%r)]" % (A(b + (m, k)), r.choice(["reduced", "complete", "r",
                                                                                               "bad"]))),
        ("eigvalsh", lambda: "L.linalg.eigvalsh(%s)" % A(b + (sq, sq))),
        ("svdvals", lambda: "L.linalg.svdvals(%s)" % A(b + (m, k))),
        ("pinv", lambda: "L.linalg.pinv(%s)" % A(b + (m, k))),
        ("matrix_power", lambda: "L.linalg.matrix_power(%s, %d)" % (A(b + (sq, sq), vals="i"), r.randint(-2, 3))),
        ("lstsq", lambda: "L.linalg.lstsq(%s, %s).solution" % (A((sq, sq)), A((sq, 2)))),
        ("triangular_solve", lambda: "L.linalg.solve_triangular(%s, %s, upper=%s)" % (A(b + (sq, sq)), A(b + (sq, 2)),
                                                                                    r.choice(["True", "False"]))),
        ("cdist", lambda: "L.cdist(%s, %s, p=%s)" % (A((m, k)), A((n, k2)), r.choice(["2.0", "1.0", "0.0", "-1.0"]))),
        ("trace", lambda: "L.trace(%s)" % A((m, n))),
        ("diag_embed", lambda: "L.diag_embed(%s, offset=%d)" % (A(b + (k,)), r.randint(-2, 2))),
        ("cumulative_trapezoid", lambda: "L.cumulative_trapezoid(%s)" % A(b + (k,))),
    ]
    name, f = r.choice(choices)
    return name, g.code(f())


def gen_creation(g):
    r = g.r
    sz = r.choice(["(2, 3)", "(0,)", "(-1,)", "(2, -3)", "()", "(1 << 62, 0)", "(3,)"])
    dt = r.choice(["None", "L.float32", "L.int64", "L.bool", "L.float16", "L.complex64", "L.uint8"])
    choices = [
        ("zeros", lambda: "L.zeros(%s, dtype=%s)" % (sz, dt)),
        ("ones", lambda: "L.ones(%s, dtype=%s)" % (sz, dt)),
        ("full", lambda: "L.full(%s, %s, dtype=%s)" % (sz, scalar(g), dt)),
        ("empty_shape", lambda: "L.empty(%s).shape" % sz),
        ("arange", lambda: "L.arange(%s, %s, %s, dtype=%s)" % (r.choice(["0", "5", "-3", "0.5", "float('nan')"]),
                                                             r.choice(["10", "-2", "3.3", "5", "float('inf')"]),
                                                             r.choice(["1", "-1", "0", "0.25", "3"]), dt)),
        ("linspace", lambda: "L.linspace(%s, %s, %d, dtype=%s)" % (r.choice(["0", "-1", "2.5"]), r.choice(["1", "10"]),
                                                                 r.randint(-1, 5), dt)),
        ("logspace", lambda: "L.logspace(%s, %s, %d)" % (r.choice(["0", "-1"]), r.choice(["1", "2"]), r.randint(-1, 5))),
        ("eye", lambda: "L.eye(%d, %s, dtype=%s)" % (r.randint(-1, 3), r.choice(["None", "0", "2", "-1"]), dt)),
        ("tril_indices", lambda: "L.tril_indices(%d, %d, %d)" % (r.randint(-1, 4), r.randint(-1, 4), r.randint(-2, 2))),
        ("full_like", lambda: "L.full_like(%s, %s)" % (g.tensor(), scalar(g))),
        ("zeros_like", lambda: "L.zeros_like(%s, dtype=%s)" % (g.tensor(), dt)),
        ("tensor", lambda: "L.tensor(%s, dtype=%s)" % (r.choice(["[]", "[[1, 2], [3]]", "[1, 2.5, True]", "[[[]]]",
                                                                 "[1 << 70]", "[float('nan')]", "3", "[[1], [2]]",
                                                                 "[1, -1]", "[300]", "[-1.5]"]), dt)),
        ("as_tensor", lambda: "L.as_tensor(%s, dtype=%s)" % (r.choice(["[1, 2]", "[]", "2.5", "[[0.5]]"]), dt)),
        ("randint_shape", lambda: "L.randint(%d, %d, %s).shape" % (r.randint(-1, 3), r.randint(-1, 5), sz)),
        ("randperm_shape", lambda: "L.randperm(%d).shape" % r.randint(-1, 3)),
        ("multinomial_shape", lambda: "L.multinomial(%s, %d, replacement=%s).shape" % (
            g.tensor(shape=r.choice([(4,), (2, 4), (0,)]), vals=r.choice("pnx")), r.randint(0, 6),
            r.choice(["True", "False"]))),
        ("polar", lambda: "L.polar(%s, %s)" % (g.tensor(shape=(3,), vals="p"), g.tensor(shape=(3,)))),
        ("complex", lambda: "L.complex(%s, %s)" % (g.tensor(shape=(3,), dtype=r.choice(["float32", "float64", "int64"])),
                                                   g.tensor(shape=(3,), dtype=r.choice(["float32", "float64"])))),
        ("view_as_real", lambda: "L.view_as_real(%s)" % g.tensor(shape=(2, 3), dtype=r.choice(["complex64", "float32"]))),
        ("view_dtype", lambda: "%s.view(L.%s)" % (g.tensor(shape=r.choice([(2, 4), (3,), (4, 3)])),
                                                   r.choice(["int32", "int16", "uint8", "float64", "complex64"]))),
    ]
    name, f = r.choice(choices)
    return name, g.code(f())


def gen_more(g):
    """Less common ops: pooling/conv in 1-d and 3-d, folds, norms, statistics, fft, special functions."""
    r = g.r
    F = "L.nn.functional"
    dt = r.choice(["float32", "float32", "float64", "float16", "bfloat16", "int64"])
    sa = g.shape(long_ok=False)
    nd = len(sa)
    x3 = lambda: g.tensor(shape=(r.choice([0, 1, 2]), r.choice([1, 3])) + (r.choice([0, 1, 5, 8]),), dtype=dt)
    x5 = lambda: g.tensor(shape=(r.choice([0, 1, 2]), r.choice([1, 2]), r.choice([1, 3]), r.choice([2, 4]),
                                 r.choice([0, 3, 4])), dtype=dt)
    choices = [
        ("max_pool1d", lambda: "%s.max_pool1d(%s, %d, stride=%s, padding=%d, dilation=%d, ceil_mode=%s)" % (
            F, x3(), r.randint(0, 4), r.choice(["None", "1", "2", "0"]), r.randint(0, 2), r.randint(1, 2),
            r.choice(["True", "False"]))),
        ("avg_pool1d", lambda: "%s.avg_pool1d(%s, %d, stride=%s, padding=%d, ceil_mode=%s)" % (
            F, x3(), r.randint(0, 4), r.choice(["None", "1", "2"]), r.randint(0, 2), r.choice(["True", "False"]))),
        ("max_pool3d", lambda: "%s.max_pool3d(%s, %d, stride=%s, padding=%d)" % (
            F, x5(), r.randint(0, 3), r.choice(["None", "1", "2"]), r.randint(0, 2))),
        ("avg_pool3d", lambda: "%s.avg_pool3d(%s, %d, stride=%s, padding=%d)" % (
            F, x5(), r.randint(0, 3), r.choice(["None", "1", "2"]), r.randint(0, 2))),
        ("adaptive_avg_pool1d", lambda: "%s.adaptive_avg_pool1d(%s, %d)" % (F, x3(), r.randint(-1, 6))),
        ("adaptive_max_pool3d", lambda: "%s.adaptive_max_pool3d(%s, %d)" % (F, x5(), r.randint(0, 3))),
        ("conv3d", lambda: "%s.conv3d(%s, %s, stride=%d, padding=%d)" % (
            F, x5(), g.tensor(shape=(2, r.choice([1, 2]), r.randint(1, 3), r.randint(1, 2), r.randint(1, 3)), dtype=dt),
            r.choice([1, 2, 0]), r.choice([0, 1, -1]))),
        ("conv_transpose1d", lambda: "%s.conv_transpose1d(%s, %s, stride=%d, padding=%d, output_padding=%d)" % (
            F, x3(), g.tensor(shape=(r.choice([1, 3]), 2, r.randint(0, 3)), dtype=dt), r.choice([1, 2]),
            r.choice([0, 1, 3]), r.choice([0, 1]))),
        ("fold", lambda: "%s.fold(%s, output_size=%s, kernel_size=%d, stride=%d)" % (
            F, g.tensor(shape=(r.choice([1, 2]), r.choice([4, 3, 8]), r.choice([4, 9, 2]))), r.choice(["(3, 3)", "(4, 4)",
                                                                                                        "(2, 2)"]),
            r.choice([1, 2, 0]), r.choice([1, 2]))),
        ("pixel_unshuffle", lambda: "%s.pixel_unshuffle(%s, %d)" % (F, g.tensor(shape=(1, 2, r.choice([4, 3, 0]), 4)),
                                                                    r.choice([2, 0, 3]))),
        ("instance_norm", lambda: "%s.instance_norm(%s)" % (F, g.tensor(shape=(r.choice([1, 2]), 3, r.choice([1, 4]),
                                                                                  r.choice([1, 4])), dtype=dt))),
        ("local_response_norm", lambda: "%s.local_response_norm(%s, %d)" % (F, x3(), r.randint(0, 4))),
        ("embedding_bag2d", lambda: "%s.embedding_bag(%s, %s, mode=%r, padding_idx=%s)" % (
            F, idx_tensor(g, 5, (r.choice([0, 2]), 3)), g.tensor(shape=(5, 3)), r.choice(["sum", "mean", "max"]),
            r.choice(["None", "0", "-1"]))),
        ("affine_grid", lambda: "%s.affine_grid(%s, %s, align_corners=False)" % (
            F, g.tensor(shape=r.choice([(1, 2, 3), (2, 2, 3), (1, 3, 3)])), r.choice(["[1, 1, 2, 3]", "[2, 1, 0, 3]",
                                                                                 "[1, 1, 2]"]))),
        ("interpolate_scale", lambda: "%s.interpolate(%s, scale_factor=%s, mode=%r)" % (
            F, x3(), r.choice(["2", "0.5", "0", "1.7", "-1"]), r.choice(["nearest", "linear", "area"]))),
        ("quantile", lambda: "L.quantile(%s, %s, dim=%s)" % (g.tensor(shape=sa, dtype=r.choice(["float32", "float64"])),
                                                            r.choice(["0.5", "0.0", "1.0", "1.5", "-0.1"]),
                                                            r.choice(["None", str(g.dim(nd))]))),
        ("nanquantile", lambda: "L.nanquantile(%s, %s)" % (g.tensor(shape=sa, vals="x"), r.choice(["0.25", "0.75"]))),
        ("cov", lambda: "L.cov(%s, correction=%d)" % (g.tensor(shape=r.choice([(3, 4), (4,), (0, 3), (3, 1)]), dtype=dt),
                                                      r.randint(0, 2))),
        ("corrcoef", lambda: "L.corrcoef(%s)" % g.tensor(shape=r.choice([(3, 4), (2, 1), (1, 5)]))),
        ("diff", lambda: "L.diff(%s, n=%d, dim=%d)" % (g.tensor(shape=sa, dtype=dt), r.randint(0, 3), g.dim(nd))),
        ("cummax_dim", lambda: "L.cummax(%s, %d)[0]" % (g.tensor(shape=sa, dtype=dt), g.dim(nd))),
        ("sort_desc", lambda: "L.sort(%s, dim=%d, descending=True, stable=True)" % (g.tensor(shape=sa, dtype=dt,
                                                                                      vals=r.choice("nix")), g.dim(nd))),
        ("unique_dim", lambda: "L.unique(%s, dim=%d)" % (g.tensor(shape=sa, vals="i"), g.dim(nd))),
        ("fft", lambda: "L.fft.fft(%s, n=%s, dim=%d)" % (g.tensor(shape=sa), r.choice(["None", "0", "3", "-1"]), g.dim(nd))),
        ("rfft", lambda: "L.fft.rfft(%s, dim=%d)" % (g.tensor(shape=sa, dtype=r.choice(["float32", "float64",
                                                                                       "complex64"])), g.dim(nd))),
        ("irfft", lambda: "L.fft.irfft(%s, n=%s)" % (g.tensor(shape=sa, dtype="complex64"), r.choice(["None", "1", "4"]))),
        ("special_fn", lambda: "L.special.%s(%s)" % (r.choice(["erfcx", "log_ndtr", "ndtri", "i0e", "i1", "i1e",
                                                               "entr", "expit", "bessel_j0", "ndtr", "logit"]),
                                                      g.tensor(shape=sa, dtype=dt, vals=r.choice("nxp")))),
        ("polygamma", lambda: "L.polygamma(%d, %s)" % (r.randint(-1, 3), g.tensor(shape=sa, vals=r.choice("nxp")))),
        ("mvlgamma", lambda: "L.mvlgamma(%s, %d)" % (g.tensor(shape=sa, vals="p"), r.randint(0, 3))),
        ("renorm", lambda: "L.renorm(%s, %s, %d, %s)" % (g.tensor(shape=sa), r.choice(["2", "1", "0", "-1"]), g.dim(nd),
                                                         r.choice(["1.0", "0", "-1"]))),
        ("logaddexp", lambda: "L.logaddexp(%s, %s)" % (g.tensor(shape=sa, vals="x"), g.tensor(shape=g.bshape(sa), vals="x"))),
        ("cumprod_grad_free", lambda: "L.cumprod(%s, %d)" % (g.tensor(shape=sa, dtype=dt, vals="x"), g.dim(nd))),
        ("trapezoid", lambda: "L.trapezoid(%s, dim=%d)" % (g.tensor(shape=sa, dtype=dt), g.dim(nd))),
        ("block_diag", lambda: "L.block_diag(%s, %s)" % (g.tensor(shape=r.choice([(2, 3), (0,), (), (1, 0), (2,)])),
                                                         g.tensor(shape=r.choice([(1, 1), (3,), (0, 2)])))),
        ("cartesian_prod", lambda: "L.cartesian_prod(%s, %s)" % (g.tensor(shape=(r.randint(0, 3),)),
                                                                 g.tensor(shape=(r.randint(0, 3),)))),
        ("combinations", lambda: "L.combinations(%s, %d)" % (g.tensor(shape=(r.randint(0, 4),)), r.randint(0, 4))),
        ("atleast_3d", lambda: "L.atleast_3d(%s)" % g.tensor(shape=sa)),
        ("vander", lambda: "L.vander(%s, N=%s)" % (g.tensor(shape=(r.randint(0, 4),), dtype=dt), r.choice(["None", "0", "3"]))),
        ("take_along_dim_none", lambda: "L.take_along_dim(%s, %s)" % (g.tensor(shape=sa), idx_tensor(g, _numel(sa),
                                                                                                     (r.randint(0, 4),)))),
        ("index_reduce", lambda: "%s.index_reduce(%d, %s, %s, %r)" % (
            g.tensor(shape=(4, 3)), 0, idx_tensor(g, 4, (2,)), g.tensor(shape=r.choice([(2, 3), (2, 1), (3, 3)])),
            r.choice(["prod", "mean", "amax", "amin", "bad"]))),
        ("narrow_copy", lambda: "L.narrow_copy(%s, %d, %d, %d)" % (g.tensor(shape=sa), g.dim(nd), r.randint(-2, 3),
                                                                    r.randint(0, 3))),
        ("select_scatter", lambda: "L.select_scatter(%s, %s, %d, %d)" % (g.tensor(shape=sa), g.tensor(shape=sa[1:]),
                                                                          0, r.randint(-3, 3))),
        ("slice_scatter", lambda: "L.slice_scatter(%s, %s, %d, %d, %d)" % (
            g.tensor(shape=sa), g.tensor(shape=g.bshape(sa)), 0, r.randint(-2, 2), r.randint(0, 4))),
        ("diagonal_scatter", lambda: "L.diagonal_scatter(%s, %s, %d)" % (g.tensor(shape=r.choice([(3, 3), (2, 4), (3,)])),
                                                                         g.tensor(shape=(r.randint(0, 3),)),
                                                                         r.randint(-2, 2))),
    ]
    name, f = r.choice(choices)
    return name, g.code(f())


FAMILIES = [(gen_unary, 3), (gen_binary, 4), (gen_reduce, 3), (gen_shape, 4), (gen_index, 4), (gen_nn, 3),
            (gen_linalg, 3), (gen_creation, 1), (gen_more, 4)]


def generate(seed, count):
    rng = random.Random(seed)
    fams = [f for f, w in FAMILIES for _ in range(w)]
    cases = []
    for i in range(count):
        g = Gen(random.Random(rng.randrange(1 << 62)))
        op, code = g.r.choice(fams)(g)
        cases.append((op, code))
    return cases


# --------------------------------------------------------------------------------------------------
# Running one case in one library, and comparing the two outcomes.

def _leaves(x, out):
    if isinstance(x, (tuple, list)):
        out.append(("seq", len(x)))
        for y in x:
            _leaves(y, out)
    elif hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, type):
        out.append(("tensor", x))
    elif x is None or isinstance(x, (bool, int, float, complex, str)):
        out.append(("py", x))
    elif type(x).__name__ in ("Size", "dtype"):
        out.append(("py", tuple(x) if type(x).__name__ == "Size" else str(x).split(".")[-1]))
    elif hasattr(x, "_fields"):  # named tuples (torch.return_types)
        out.append(("seq", len(x)))
        for y in x:
            _leaves(y, out)
    else:
        out.append(("py", repr(type(x).__name__)))
    return out


def _to_numpy(t):
    import numpy as np
    t = t.detach()
    dt = str(t.dtype).split(".")[-1]
    if t.numel() == 0:  # numpy cannot hold shapes like (1 << 62, 0)
        return dt, np.zeros((0,) * max(1, t.dim()), dtype=np.float32) if any(d > 1 << 40 for d in t.shape) \
            else np.zeros(tuple(t.shape), dtype=np.float32)
    if dt == "bfloat16":
        t = t.float()
    elif dt == "complex32":  # PyTorch's ComplexHalf (flambeau has none; numpy neither)
        import torch
        t = t.to(torch.complex64)
    try:
        if t.is_conj():
            t = t.resolve_conj()
    except Exception:
        pass
    if hasattr(t, "resolve_neg"):
        try:
            t = t.resolve_neg()
        except Exception:
            pass
    return dt, np.array(t.contiguous().numpy(), copy=True)


def run_case(L, code):
    """(True, snapshot) or (False, (exception type name, message))."""
    import numpy as np
    ns = {"L": L, "T": make_T(L), "np": np}
    try:
        exec(code, ns)
    except Exception as e:  # noqa: BLE001 -- we classify every failure
        return False, (type(e).__name__, str(e).split("\n")[0][:300])
    try:
        snap = []
        for kind, v in _leaves(ns.get("out"), []):
            snap.append((kind, _to_numpy(v) if kind == "tensor" else v))
        inputs = []
        for name in sorted(k for k in ns if re.fullmatch(r"t\d+", k)):
            inputs.append(_to_numpy(ns[name]))
    except Exception as e:  # noqa: BLE001 -- a result we cannot read back counts as an error
        return False, ("unreadable result: " + type(e).__name__, str(e).split("\n")[0][:300])
    return True, (snap, inputs)


TOL = {"float16": (1e-2, 1e-2), "bfloat16": (5e-2, 2e-2), "float32": (1e-4, 1e-4), "float64": (1e-9, 1e-9),
       "complex64": (1e-4, 1e-4), "complex128": (1e-9, 1e-9)}


def layout_difference(a, b):
    """Why two (dtype, array) results differ in dtype or shape, or None (shared with fuzz_grads)."""
    (dta, xa), (dtb, xb) = a, b
    if dta != dtb:
        return "dtype %s vs %s" % (dta, dtb)
    if xa.shape != xb.shape:
        return "shape %s vs %s" % (list(xa.shape), list(xb.shape))
    return None


def first_difference(ok, xa, xb):
    """The report for elementwise agreement `ok` of xa and xb: None when all agree, else the first mismatch."""
    import numpy as np
    if ok.all():
        return None
    k = int(np.argmin(ok.reshape(-1)))
    return "values differ at flat %d: %r vs %r (%d of %d)" % (k, xa.reshape(-1)[k], xb.reshape(-1)[k],
                                                                int((~ok).sum()), ok.size)


def _same_array(a, b):
    import numpy as np
    m = layout_difference(a, b)
    (dta, xa), (_, xb) = a, b
    if m is not None or xa.size == 0:
        return m
    if dta in TOL:
        atol, rtol = TOL[dta]
        ya, yb = xa.astype(np.complex128), xb.astype(np.complex128)
        # inf vs inf of the same sign is fine; isclose handles it
        return first_difference(np.isclose(ya, yb, atol=atol, rtol=rtol, equal_nan=True), ya, yb)
    return first_difference(xa == xb, xa, xb)


def compare(tr, fr):
    (tsnap, tin), (fsnap, fin) = tr, fr
    if len(tsnap) != len(fsnap):
        return "result structure %d vs %d leaves" % (len(tsnap), len(fsnap))
    for i, ((tk, tv), (fk, fv)) in enumerate(zip(tsnap, fsnap)):
        if tk != fk:
            return "result leaf %d: %s vs %s" % (i, tk, fk)
        if tk == "tensor":
            m = _same_array(tv, fv)
            if m:
                return "result leaf %d: %s" % (i, m)
        elif tk == "py" and not _py_equal(tv, fv):
            return "result leaf %d: %r vs %r" % (i, tv, fv)
        elif tk == "seq" and tv != fv:
            return "result leaf %d: length %r vs %r" % (i, tv, fv)
    for i, (a, b) in enumerate(zip(tin, fin)):
        m = _same_array(a, b)
        if m:
            return "input t%d after the call: %s" % (i, m)
    return None


def _py_equal(a, b):
    import math
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
        except TypeError:
            return False
    return a == b


def _names_op(op, msg):
    words = [w for w in re.split(r"[_\W]+", op) if len(w) > 2 and w not in ("out", "alias", "operator", "roperator")]
    low = msg.lower()
    if any(w.lower() in low for w in words):
        return True
    # a shape written as [2, 3] or (2, 3) or "size 3" / "dimension" counts as naming the shapes
    return bool(re.search(r"\[\d+(, ?\d+)*\]|\(\d+(, ?\d+)*\)|\bsize\b|\bshape|\bdim", low))


def classify(op, code, tres, fres):
    tok, tv = tres
    fok, fv = fres
    if not tok and fok:
        return "b", "PyTorch raises %s: %s" % tv
    if tok and not fok:
        return "c", "flambeau raises %s: %s" % fv
    if tok and fok:
        m = compare(tv, fv)
        return ("d", m) if m else (None, None)
    if not _names_op(op, fv[1]) and fv[1] != tv[1]:  # PyTorch's own words are accepted as they are
        return "e", "%s: %s  (PyTorch: %s: %s)" % (fv[0], fv[1], tv[0], tv[1])
    return None, None


# --------------------------------------------------------------------------------------------------
# Worker (runs cases, reports progress line by line) and parent (watchdog).

def judge_forward(op, code, phase):
    """fuzz_ops' judgement of one case: run it in PyTorch, then in flambeau, and classify."""
    import torch
    import flambeau
    phase("torch")
    tres = run_case(torch, code)
    phase("flambeau")
    fres = run_case(flambeau, code)
    return classify(op, code, tres, fres)


def worker(seed, count, start, end, only, judge=judge_forward):
    """Runs cases [start, end) and reports, one JSON line each, the phase it enters and the verdict.
    `judge(op, code, phase)` returns (class or None, why) and calls phase(name) before each risky step, so
    the parent can say where a crash happened."""
    import numpy as np  # noqa: F401
    import torch
    import warnings
    import flambeau  # noqa: F401
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    # The protocol goes to a private copy of stdout; anything an op prints lands on stderr instead.
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = proto
    cases = generate(seed, count)
    for i in range(start, end):
        op, code = cases[i]
        if only and op not in only:
            continue

        def phase(name, i=i):
            sys.stdout.write(json.dumps({"i": i, "phase": name}) + "\n")
            sys.stdout.flush()

        cls, why = judge(op, code, phase)
        sys.stdout.write(json.dumps({"i": i, "done": True, "cls": cls, "why": why}) + "\n")
        sys.stdout.flush()


NAMES = {"a": "crash/hang", "b": "PyTorch raises, flambeau returns", "c": "flambeau raises, PyTorch returns",
         "d": "values/shape/dtype differ", "e": "error message names neither op nor shapes"}


def parent(args, script=None, title="fuzz_ops", names=NAMES, extra_argv=(), failing="ab"):
    """The watchdog: runs `script --worker` over the cases, restarting after a crash or hang. `names` maps
    each class letter to its description (in print order); the exit status is 1 when any case falls in a
    class listed in `failing`."""
    script = script or __file__
    cases = generate(args.seed, args.cases)
    only = set(args.only.split(",")) if args.only else None
    findings = []
    i = 0
    t0 = time.time()
    counts = {}
    while i < args.cases:
        cmd = [sys.executable, script, "--worker", "--seed", str(args.seed), "--cases", str(args.cases),
               "--start", str(i), "--end", str(args.cases)] + (["--only", args.only] if args.only else []) + \
            list(extra_argv)
        errf = tempfile.TemporaryFile("w+")  # a file, not a pipe: a chatty worker must not block on it
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, text=True, bufsize=1,
                             env=dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2")))
        cur, phase = None, None
        buf = ""
        while True:
            rl, _, _ = select.select([p.stdout], [], [], args.timeout)
            if not rl:
                p.kill()
                p.wait()
                findings.append((cur, "a", "hang (> %ss) in %s" % (args.timeout, phase)))
                i = (cur if cur is not None else i) + 1
                break
            line = p.stdout.readline()
            if not line:
                rc = p.wait()
                if cur is None:  # finished (or died before the first case)
                    if rc != 0:
                        errf.seek(0)
                        sys.stderr.write(errf.read()[-3000:])
                    i = args.cases
                    break
                errf.seek(0)
                err = errf.read()[-400:].strip().replace("\n", " | ")
                findings.append((cur, "a", "process died (rc %s) in %s: %s" % (rc, phase, err)))
                i = cur + 1
                break
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            if "phase" in msg:
                cur, phase = msg["i"], msg["phase"]
                continue
            counts[cases[msg["i"]][0]] = counts.get(cases[msg["i"]][0], 0) + 1
            if msg["cls"]:
                findings.append((msg["i"], msg["cls"], msg["why"]))
            cur, phase = None, None
    elapsed = time.time() - t0
    by = {}
    for idx, cls, why in findings:
        by.setdefault(cls, []).append((idx, why))
    print("%s: seed %d, %d cases (%d ops), %.0fs" % (title, args.seed, args.cases, len(counts), elapsed))
    for cls in names:
        print("  (%s) %-42s %d" % (cls, names[cls], len(by.get(cls, []))))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"i": i, "cls": c, "op": cases[i][0], "why": w, "code": cases[i][1]} for i, c, w in findings],
                      f, indent=1)
    for cls in args.classes:
        seen = {}
        for idx, why in by.get(cls, []):
            seen.setdefault(cases[idx][0], []).append((idx, why))
        for op, lst in sorted(seen.items()):
            idx, why = lst[0]
            print("\n[%s] %s  (%d cases; first #%d)  %s" % (cls, op, len(lst), idx, why))
            if args.verbose:
                print("    " + cases[idx][1].replace("\n", "\n    "))
    return 1 if any(by.get(c) for c in failing) else 0


def show(args):
    import torch
    import flambeau
    op, code = generate(args.seed, max(args.cases, args.show + 1))[args.show]
    print("# case %d (%s)\n%s\n" % (args.show, op, code))
    tres = run_case(torch, code)
    print("torch   :", tres if not tres[0] else "ok", )
    fres = run_case(flambeau, code)
    print("flambeau:", fres if not fres[0] else "ok")
    print("class   :", classify(op, code, tres, fres))


def add_common_args(ap, classes):
    """The options fuzz_ops and fuzz_grads share (`classes`: the default of --classes)."""
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--only", default="", help="comma-separated op names (as printed in findings)")
    ap.add_argument("--classes", default=classes, help="which classes to list in detail")
    ap.add_argument("--json", default="", help="write all findings (with code) to this file")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each finding's reproducing code")
    ap.add_argument("--show", type=int, default=-1, help="run one case and print both outcomes")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--end", type=int, default=0, help=argparse.SUPPRESS)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap, "abcde")
    args = ap.parse_args()
    if args.worker:
        worker(args.seed, args.cases, args.start, args.end, set(args.only.split(",")) if args.only else None)
        return 0
    if args.show >= 0:
        show(args)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
