"""Elementwise ops against PyTorch: forward and gradient, float32/float64 (+ int64/bool where PyTorch
allows), odd sizes, empty and 0-d tensors, non-contiguous views, broadcasting, special values,
type promotion, and sizes that straddle SIMD widths and the OpenMP threshold."""
from functools import partial

import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close, check_op, fl_tensor, rand_array

SHAPES = [(), (1,), (7,), (3, 5), (2, 3, 4), (0, 3), (2, 1, 3, 2)]
BROADCAST_PAIRS = [
    ((), ()),
    ((7,), (7,)),
    ((3, 5), (3, 5)),
    ((3, 1), (1, 4)),
    ((5,), (2, 3, 5)),
    ((2, 3, 5), (5,)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((2, 1, 4), (3, 1)),
    ((4, 1, 1), (1, 3, 1)),
    ((0, 3), (1, 3)),
    ((0, 3), (3,)),
    ((1,), (0,)),
]


def both(spec):
    """spec(lib, *args) -> (torch_fn, flambeau_fn)."""
    return partial(spec, torch), partial(spec, flambeau)


# name -> (spec(lib, x), positive-only inputs)
UNARY = {
    "neg_op": (lambda m, x: -x, False),
    "neg": (lambda m, x: m.neg(x), False),
    "abs_builtin": (lambda m, x: abs(x), False),
    "abs": (lambda m, x: m.abs(x), False),
    "abs_method": (lambda m, x: x.abs(), False),
    "exp": (lambda m, x: m.exp(x), False),
    "exp_method": (lambda m, x: x.exp(), False),
    "log": (lambda m, x: m.log(x), True),
    "log_method": (lambda m, x: x.log(), True),
    "sqrt": (lambda m, x: m.sqrt(x), True),
    "sqrt_method": (lambda m, x: x.sqrt(), True),
    "sin": (lambda m, x: m.sin(x), False),
    "cos": (lambda m, x: m.cos(x), False),
    "cos_method": (lambda m, x: x.cos(), False),
    "tanh": (lambda m, x: m.tanh(x), False),
    "tanh_method": (lambda m, x: x.tanh(), False),
    "sigmoid": (lambda m, x: m.sigmoid(x), False),
    "sigmoid_method": (lambda m, x: x.sigmoid(), False),
    "clamp_both": (lambda m, x: m.clamp(x, -0.5, 0.7), False),
    "clamp_min": (lambda m, x: m.clamp(x, min=-0.3), False),
    "clamp_max_method": (lambda m, x: x.clamp(max=0.4), False),
    "clamp_kw_method": (lambda m, x: x.clamp(min=-1, max=1), False),
    "pow2": (lambda m, x: x ** 2, False),
    "pow3": (lambda m, x: x ** 3, False),
    "pow_half": (lambda m, x: x ** 0.5, True),
    "pow_neg1": (lambda m, x: x ** -1, True),
    "pow_0": (lambda m, x: x ** 0, False),
    "pow_method": (lambda m, x: x.pow(2.5), True),
    "rpow": (lambda m, x: 2 ** x, False),
    "add_scalar": (lambda m, x: x + 1.5, False),
    "radd_scalar": (lambda m, x: 1.5 + x, False),
    "sub_scalar": (lambda m, x: x - 2, False),
    "rsub_scalar": (lambda m, x: 2 - x, False),
    "mul_scalar": (lambda m, x: x * 3, False),
    "rmul_scalar": (lambda m, x: -0.5 * x, False),
    "div_scalar": (lambda m, x: x / 4, False),
    "rdiv_scalar": (lambda m, x: 2 / x, True),
    "chain": (lambda m, x: (m.sigmoid(x) * m.tanh(x) + m.exp(-x * x)).sin() ** 2, False),
}


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, shape, dtype, non_contiguous, device):
    spec, positive = UNARY[name]
    check_op(*both(spec), shapes=[shape], dtype=dtype, positive=positive, non_contiguous=non_contiguous,
             device=device)


BINARY = {
    "add": lambda m, a, b: a + b,
    "add_fn": lambda m, a, b: m.add(a, b),
    "add_method": lambda m, a, b: a.add(b),
    "sub": lambda m, a, b: a - b,
    "sub_fn": lambda m, a, b: m.sub(a, b),
    "mul": lambda m, a, b: a * b,
    "mul_fn": lambda m, a, b: m.mul(a, b),
    "div": lambda m, a, b: a / b,
    "div_fn": lambda m, a, b: m.div(a, b),
    "pow": lambda m, a, b: a ** b,
    "pow_fn": lambda m, a, b: m.pow(a, b),
    "maximum": lambda m, a, b: m.maximum(a, b),
    "minimum": lambda m, a, b: m.minimum(a, b),
    "max_binary": lambda m, a, b: m.max(a, b),
    "mixed": lambda m, a, b: (a * b - a / (b * b + 1)) ** 2,
}


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary(name, shapes, dtype, non_contiguous, device):
    # div and pow draw positive operands: no division by ~0, no negative bases.
    positive = name.startswith(("div", "pow", "mixed"))
    check_op(*both(BINARY[name]), shapes=list(shapes), dtype=dtype, positive=positive,
             non_contiguous=non_contiguous, device=device)


def test_binary_same_tensor_twice(device):
    # x * x: both operands are the same leaf; gradients from both uses accumulate.
    check_op(*both(lambda m, x: x * x + x / (x + 3)), shapes=[(4, 3)], positive=True, device=device)


INT_UNARY = {
    "neg": lambda m, x: -x,
    "abs": lambda m, x: m.abs(x),
    "clamp": lambda m, x: x.clamp(-2, 3),
    "clamp_min": lambda m, x: x.clamp(min=0),
    "add_int": lambda m, x: x + 2,
    "mul_int": lambda m, x: 3 * x,
    "pow_int": lambda m, x: x ** 2,
    "add_float": lambda m, x: x + 2.5,  # int64 tensor + float scalar -> float32
    "div_int": lambda m, x: x / 2,  # true division -> float32
    "clamp_float": lambda m, x: x.clamp(0.5, 1.5),  # -> float32
    "exp": lambda m, x: m.exp(x),  # float-only math on int64 -> float32
    "sqrt": lambda m, x: m.sqrt(m.abs(x)),
    "sin": lambda m, x: m.sin(x),
    "tanh": lambda m, x: m.tanh(x),
    "sigmoid": lambda m, x: m.sigmoid(x),
}


@pytest.mark.parametrize("shape", [(), (7,), (3, 5), (0, 2)], ids=str)
@pytest.mark.parametrize("name", list(INT_UNARY))
def test_unary_int64(name, shape, device):
    check_op(*both(INT_UNARY[name]), shapes=[shape], dtype="int64", device=device)


INT_BINARY = {
    "add": lambda m, a, b: a + b,
    "sub": lambda m, a, b: a - b,
    "mul": lambda m, a, b: a * b,
    "truediv": lambda m, a, b: a / (b * b + 1),  # -> float32
    "maximum": lambda m, a, b: m.maximum(a, b),
    "minimum": lambda m, a, b: m.minimum(a, b),
}


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("shapes", [((7,), (7,)), ((3, 1), (1, 4)), ((), (2, 3)), ((0, 3), (3,))], ids=str)
@pytest.mark.parametrize("name", list(INT_BINARY))
def test_binary_int64(name, shapes, non_contiguous, device):
    check_op(*both(INT_BINARY[name]), shapes=list(shapes), dtype="int64", non_contiguous=non_contiguous,
             device=device)


# Type promotion: (dtype of a, dtype of b) where None means a Python scalar given in `scalar`.
PROMOTION = [
    ("float32", "float64", None),
    ("float64", "float32", None),
    ("int64", "float32", None),
    ("float64", "int64", None),
    ("bool", "int64", None),
    ("bool", "float32", None),
    ("int64", None, 2.5),
    ("int64", None, 2),
    ("float32", None, 2),
    ("float64", None, 0.5),
    ("bool", None, 3),
    ("bool", None, 1.5),
    ("float32", "float64_0d", None),  # 0-d tensors don't promote within a category
    ("int64", "float64_0d", None),  # ... but do across categories
    ("int64", "int64", "div"),  # true division of ints -> float32
]


@pytest.mark.parametrize("case", PROMOTION, ids=str)
@pytest.mark.parametrize("op", ["add", "mul", "sub"])
def test_type_promotion(case, op, device, rng):
    da, db, scalar = case
    if op == "sub" and da == "bool":
        pytest.skip("subtracting from a bool tensor is an error in PyTorch")
    a = rand_array((2, 3), da, rng, positive=True)
    if db is None:
        t_b, f_b = scalar, scalar
    elif db == "float64_0d":
        arr = np.array(1.25)
        t_b, f_b = torch.tensor(arr), fl_tensor(arr, device)
    else:
        arr = rand_array((2, 3), db, rng, positive=True)
        t_b, f_b = torch.tensor(arr), fl_tensor(arr, device)
    t_a, f_a = torch.tensor(a), fl_tensor(a, device)
    if scalar == "div":
        t_out, f_out = t_a / t_b, f_a / f_b
    else:
        fn = {"add": lambda x, y: x + y, "mul": lambda x, y: x * y, "sub": lambda x, y: x - y}[op]
        t_out, f_out = fn(t_a, t_b), fn(f_a, f_b)
    assert_close(f_out, t_out)


def test_mixed_dtype_gradients_keep_input_dtypes(device):
    # float32 leaf + float64 leaf -> float64 result; each grad has its own leaf's dtype.
    check_op(*both(lambda m, a, b: a * b), shapes=[(3, 4), (4,)], dtype=["float32", "float64"],
             device=device)


COMPARE = {
    "eq": lambda m, a, b: a == b,
    "ne": lambda m, a, b: a != b,
    "lt": lambda m, a, b: a < b,
    "le": lambda m, a, b: a <= b,
    "gt": lambda m, a, b: a > b,
    "ge": lambda m, a, b: a >= b,
    "eq_fn": lambda m, a, b: m.eq(a, b),
    "ne_fn": lambda m, a, b: m.ne(a, b),
    "lt_fn": lambda m, a, b: m.lt(a, b),
    "le_fn": lambda m, a, b: m.le(a, b),
    "gt_fn": lambda m, a, b: m.gt(a, b),
    "ge_fn": lambda m, a, b: m.ge(a, b),
}


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("shapes", [((7,), (7,)), ((3, 1), (1, 4)), ((2, 3, 5), (5,)), ((), (3,)), ((0, 2), (2,))],
                         ids=str)
@pytest.mark.parametrize("name", list(COMPARE))
def test_compare(name, shapes, dtype, device, rng):
    # Small integer-valued inputs so that equal elements actually occur.
    inputs = [rng.integers(-2, 3, size=s).astype(dtype) for s in shapes]
    t_out, f_out = check_op(*both(COMPARE[name]), inputs=inputs, device=device)
    assert f_out.dtype == flambeau.bool
    assert not f_out.requires_grad


@pytest.mark.parametrize("name", ["eq", "ne"])
def test_compare_bool(name, device, rng):
    inputs = [rng.random(size=(4, 3)) < 0.5, rng.random(size=(3,)) < 0.5]
    check_op(*both(COMPARE[name]), inputs=inputs, device=device)


@pytest.mark.parametrize("expr", ["x > 0.5", "x <= 0", "0.5 < x", "x == 1", "x != 1", "1 >= x"])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_compare_scalar(expr, dtype, device, rng):
    fn = eval("lambda x: " + expr)
    check_op(fn, inputs=[rng.integers(-1, 3, size=(3, 4)).astype(dtype)], device=device)


def test_compare_requires_grad_input_gives_bool_without_grad(device):
    x = flambeau.tensor([1.0, 2.0, 3.0], requires_grad=True, device=device)
    y = x > 1.5
    assert y.dtype == flambeau.bool and not y.requires_grad and y.grad_fn is None
    assert y.tolist() == [False, True, True]


@pytest.mark.parametrize("op", ["and", "or", "xor", "not"])
def test_logical_bool_ops(op, device, rng):
    fn = {"and": lambda a, b: a & b, "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b,
          "not": lambda a, b: ~a}[op]
    check_op(fn, shapes=[(3, 4), (4,)], dtype="bool", device=device)


WHERE_SHAPES = [
    ((7,), (7,), (7,)),
    ((3, 1), (1, 4), (3, 4)),
    ((2, 3, 4), (4,), ()),
    ((3, 4), (2, 1, 4), (1,)),
    ((0, 3), (3,), (1, 3)),
    ((), (), ()),
]


@pytest.mark.parametrize("non_contiguous", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
def test_where(shapes, dtype, non_contiguous, device):
    check_op(*both(lambda m, c, a, b: m.where(c, a, b)), shapes=list(shapes),
             dtype=["bool", dtype, dtype], non_contiguous=non_contiguous, device=device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_where_scalar_branch(dtype, device):
    check_op(*both(lambda m, c, a: m.where(c, a, 0.0)), shapes=[(3, 4), (4,)], dtype=["bool", dtype],
             device=device)
    check_op(*both(lambda m, c, a: m.where(c, -1.5, a)), shapes=[(3, 4), (3, 1)], dtype=["bool", dtype],
             device=device)


def test_where_method_and_mask_from_comparison(device):
    check_op(lambda x: (x > 0).float() * x + x.where(x < 0.5, x * 2), shapes=[(5, 6)], device=device)


SPECIAL = [-np.inf, -100.0, -20.0, -1.0, -0.0, 0.0, 1e-30, 0.5, 1.0, 20.0, 88.0, 100.0, 710.0, np.inf, np.nan]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["neg", "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid"])
def test_unary_special_values(name, dtype, device):
    arr = np.array(SPECIAL, dtype=dtype)
    check_op(*both(lambda m, x: getattr(m, name)(x)), inputs=[arr], grad=False, device=device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_division_special_values(dtype, device):
    a = np.array([1.0, -1.0, 0.0, np.inf, 2.0, np.nan], dtype=dtype)
    b = np.array([0.0, 0.0, 0.0, np.inf, -0.0, 1.0], dtype=dtype)
    check_op(lambda x, y: x / y, inputs=[a, b], grad=False, device=device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_abs_clamp_max_gradient_at_ties(dtype, device):
    # Subgradient conventions are PyTorch's: abs'(0) = 0, clamp passes the gradient at the bounds,
    # maximum/minimum split it equally between equal operands.
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0], dtype=dtype)
    check_op(lambda t: t.abs(), inputs=[x], device=device)
    check_op(lambda t: t.clamp(0.0, 1.0), inputs=[x], device=device)
    check_op(*both(lambda m, a, b: m.maximum(a, b)), inputs=[x, np.full(5, 0.5, dtype)], device=device)
    check_op(*both(lambda m, a, b: m.minimum(a, b)), inputs=[x, np.full(5, 1.0, dtype)], device=device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_large_magnitude_stability(dtype, device, rng):
    # sigmoid/tanh/exp of large |x| must saturate, not produce NaN; gradients stay finite.
    x = (rng.uniform(-1, 1, size=(64,)) * 200).astype(dtype)
    check_op(lambda t: t.sigmoid(), inputs=[x], device=device)
    check_op(lambda t: t.tanh(), inputs=[x], device=device)


# Sizes on both sides of SIMD vector widths (4/8/16 lanes), unroll factors and the parallel threshold.
SIMD_SIZES = [1, 3, 7, 8, 15, 16, 17, 31, 33, 63, 65, 1025, 4099, 100003]
SIMD_OPS = {
    "add": (lambda m, a, b: a + b, 2, False),
    "mul": (lambda m, a, b: a * b, 2, False),
    "div": (lambda m, a, b: a / b, 2, True),
    "maximum": (lambda m, a, b: m.maximum(a, b), 2, False),
    "exp": (lambda m, a: m.exp(a), 1, False),
    "log": (lambda m, a: m.log(a), 1, True),
    "tanh": (lambda m, a: m.tanh(a), 1, False),
    "sigmoid": (lambda m, a: m.sigmoid(a), 1, False),
    "sqrt": (lambda m, a: m.sqrt(a), 1, True),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", SIMD_SIZES)
@pytest.mark.parametrize("name", list(SIMD_OPS))
def test_simd_tail_sizes(name, n, dtype, device):
    spec, arity, positive = SIMD_OPS[name]
    check_op(*both(spec), shapes=[(n,)] * arity, dtype=dtype, positive=positive, low=-8, high=8,
             device=device)


@pytest.mark.parametrize("name", ["add", "mul", "exp", "sigmoid"])
def test_large_broadcast_and_strided(name, device):
    # Big enough to be split across threads, with a stride-0 operand and a transposed one.
    spec, arity, positive = SIMD_OPS[name]
    if arity == 2:
        check_op(*both(spec), shapes=[(301, 257), (257,)], non_contiguous=True, device=device)
    else:
        check_op(*both(spec), shapes=[(301, 257)], non_contiguous=True, device=device)


def test_results_do_not_alias_inputs(device):
    x = flambeau.tensor([1.0, 2.0, 3.0], device=device)
    y = x + 0
    y[0] = 100.0
    assert x.tolist() == [1.0, 2.0, 3.0]


def test_elementwise_on_expanded_input(device, rng):
    a = rand_array((3, 1), "float32", rng)
    b = rand_array((3, 4), "float32", rng)
    t = torch.tensor(a).expand(3, 4) * torch.tensor(b)
    f = fl_tensor(a, device).expand(3, 4) * fl_tensor(b, device)
    assert_close(f, t)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("e", [2, 1, 3, 0.5, -1, -2, -0.5, 2.5, 0])
def test_pow_scalar_exponent_special_cases(e, dtype, rng):
    # PyTorch takes x*x, sqrt, 1/x, ... for these scalar exponents (sqrt(-0) = -0 and sqrt(-inf) = NaN,
    # unlike pow); ours must give the same values, special inputs included.
    x = np.concatenate([rng.normal(0, 3, 1000), [-np.inf, -0.0, 0.0, -1.0, np.inf, np.nan, 1e-30, 1e30]]).astype(dtype)
    ours = (flambeau.from_numpy(x) ** e).numpy()
    ref = (torch.from_numpy(x) ** e).numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(ours[ok], ref[ok], rtol=2e-7 if dtype == "float32" else 1e-15, atol=0)
    z = ok & (ref == 0)
    np.testing.assert_array_equal(np.signbit(ours[z]), np.signbit(ref[z]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_nan_and_signed_zeros(op, dtype, rng):
    # max_nan/min_nan are branch-free selects (csrc/cpu/elementwise.cpp): a NaN operand wins, ties
    # give b (so max(0, -0) = -0 as in PyTorch), in every position of a vector and in the tail.
    vals = np.array([np.nan, -np.inf, -1.0, -0.0, 0.0, 1.0, np.inf], dtype)
    a = np.repeat(vals, len(vals))
    b = np.tile(vals, len(vals))
    a = np.concatenate([a, rng.standard_normal(1000).astype(dtype)])
    b = np.concatenate([b, rng.standard_normal(1000).astype(dtype)])
    for x, y in ((a, b), (b, a)):
        ours = getattr(flambeau, op)(flambeau.from_numpy(x), flambeau.from_numpy(y)).numpy()
        ref = getattr(torch, op)(torch.from_numpy(x), torch.from_numpy(y)).numpy()
        assert np.array_equal(np.isnan(ours), np.isnan(ref))
        fin = ~np.isnan(ref)
        assert np.array_equal(ours[fin], ref[fin]) and np.array_equal(np.signbit(ours[fin]), np.signbit(ref[fin]))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("shape", [(7, 9), (300, 301), (2, 260, 130)])
def test_binary_with_a_transposed_operand(shape, dtype, rng):
    """x + y.t(), y.t() - x, ...: 4-byte operands of 64K+ elements across the output's order are
    first copied into its order (the fast transposing copy); the result is the same as the walk."""
    a = (rng.standard_normal(shape) * 10).astype(dtype)
    b = np.ascontiguousarray(np.swapaxes((rng.standard_normal(shape) * 10).astype(dtype), -1, -2))
    fa, fb, ta, tb = flambeau.from_numpy(a), flambeau.from_numpy(b), torch.from_numpy(a), torch.from_numpy(b)
    for op in ["add", "sub", "mul", "maximum"]:
        f, t = getattr(flambeau, op), getattr(torch, op)
        np.testing.assert_array_equal(f(fa, fb.transpose(-1, -2)).numpy(), t(ta, tb.transpose(-1, -2)).numpy())
        np.testing.assert_array_equal(f(fb.transpose(-1, -2), fa).numpy(), t(tb.transpose(-1, -2), ta).numpy())
    if shape[-1] == shape[-2] or len(shape) == 2 and shape[0] == shape[1]:
        return
    sq = (rng.standard_normal((shape[-1], shape[-1])) * 10).astype(dtype)
    x, tx = flambeau.from_numpy(sq.copy()), torch.from_numpy(sq.copy())
    # the output overlaps the transposed operand: PyTorch refuses it (a partial overlap), so do we
    msg = "some elements of the input tensor and the written-to tensor refer to a single memory location"
    with pytest.raises(RuntimeError, match=msg):
        tx.add_(tx.t())
    with pytest.raises(RuntimeError, match=msg):
        x.add_(x.t())
    np.testing.assert_array_equal(x.numpy(), sq)  # (refused before writing)
    x.add_(x.t().clone())
    np.testing.assert_array_equal(x.numpy(), (tx + tx.t().clone()).numpy())


@pytest.mark.parametrize("shapes", [[(7,), (7,)], [(33, 65), (33, 65)], [(4, 1, 5), (3, 1)], [(300, 301), ()]])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_atan2_against_torch(shapes, dtype, device, rng):
    check_op(torch.atan2, flambeau.atan2, shapes, dtype=dtype, device=device, rng=rng, grad=True)
    check_op(torch.atan2, flambeau.atan2, shapes, dtype=dtype, device=device, rng=rng, grad=False, non_contiguous=True)


@pytest.mark.parametrize("cap", ["default", "avx2", "avx512"])
@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_float32_maximum_minimum_on_every_capability(name, cap, rng):
    """float32 maximum/minimum run in the elementwise SIMD leaves: PyTorch's values (NaN wins, +-0 as
    its comparison leaves them) for tensor and scalar operands, tails included."""
    from helpers import with_cpu_capability
    a = rng.standard_normal(10007).astype(np.float32)
    b = rng.standard_normal(10007).astype(np.float32)
    sp = np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 1.0], np.float32)
    a[:36], b[:36] = np.repeat(sp, 6), np.tile(sp, 6)

    def run():
        for y, ty in ((flambeau.from_numpy(b), torch.from_numpy(b)), (flambeau.tensor(0.0), torch.tensor(0.0)),
                      (flambeau.tensor(-0.0), torch.tensor(-0.0))):
            r = getattr(flambeau, name)(flambeau.from_numpy(a), y).numpy()
            t = getattr(torch, name)(torch.from_numpy(a), ty).numpy()
            np.testing.assert_array_equal(np.isnan(r), np.isnan(t))
            ok = ~np.isnan(t)
            np.testing.assert_array_equal(r[ok].view(np.int32), t[ok].view(np.int32))  # -0.0 vs +0.0 too

    with_cpu_capability(cap, run)


@pytest.mark.parametrize("cap", ["avx2", "avx512"])
@pytest.mark.parametrize("shapes", [((300, 257), (257,)), ((300, 257), (300, 1)), ((300, 1), (300, 257)),
                                    ((300, 1), (1, 257)), ((1, 257), (300, 1)), ((3, 100, 50), (100, 1))])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "minimum"])
def test_float32_broadcast_rows_take_the_simd_leaves(op, shapes, cap, rng):
    """Broadcast float32 operands big enough for the row path (cpu/elementwise.cpp,
    simd_binary_f32_rows): PyTorch's bits, whichever operand is broadcast."""
    from helpers import with_cpu_capability
    a = rng.standard_normal(shapes[0]).astype(np.float32)
    b = rng.standard_normal(shapes[1]).astype(np.float32) + (3.0 if op == "div" else 0.0)

    def run():
        r = getattr(flambeau, op)(flambeau.from_numpy(a), flambeau.from_numpy(b)).numpy()
        t = getattr(torch, op)(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        np.testing.assert_array_equal(r.view(np.int32), t.view(np.int32))

    with_cpu_capability(cap, run)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_where_and_masked_fill_select_bits(dtype, rng):
    """where's unit-stride rows select on the bits by a mask (cpu/elementwise.cpp): every bit pattern
    (NaN payloads, -0.0) is kept, for tensor and scalar operands on either side."""
    n = 50002
    if dtype == "bool":
        a, b = rng.integers(0, 2, n).astype(bool), rng.integers(0, 2, n).astype(bool)
    elif dtype == "int64":
        a, b = rng.integers(-(2 ** 62), 2 ** 62, n), rng.integers(-(2 ** 62), 2 ** 62, n)
    else:
        a, b = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
        a[:4] = [np.nan, -0.0, np.inf, -np.nan]
    c = rng.integers(0, 2, n).astype(bool)
    fa, fb, fc = flambeau.from_numpy(a), flambeau.from_numpy(b), flambeau.from_numpy(c)
    bits = lambda x: np.ascontiguousarray(x).view(np.uint8)
    np.testing.assert_array_equal(bits(flambeau.where(fc, fa, fb).numpy()), bits(np.where(c, a, b)))
    s = a[5].item()
    np.testing.assert_array_equal(bits(flambeau.where(fc, fa, s).numpy()), bits(np.where(c, a, np.array(s, a.dtype))))
    np.testing.assert_array_equal(bits(fb.masked_fill(fc, s).numpy()), bits(np.where(c, np.array(s, a.dtype), b)))
    # strided operands keep the general loop
    np.testing.assert_array_equal(bits(flambeau.where(fc[::2], fa[::2], fb[1::2]).numpy()), bits(np.where(c[::2], a[::2], b[1::2])))


@pytest.mark.parametrize("name", ["tanh", "exp", "sin", "log1p", "sqrt", "sigmoid", "erf", "expm1"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unary_strided_views_give_the_contiguous_bits(name, dtype):
    # Strided operands and outputs go through the same vector leaf as contiguous ones (a contiguous
    # copy first): the same bits whatever the layout, in place on a view too.
    dt = getattr(flambeau, dtype)
    base = flambeau.rand(48, 40, dtype=dt) + 0.1
    f = getattr(flambeau, name)
    for view in (base.t(), base[:, ::3], base.chunk(4, -1)[2], base[::2, 1::2].t()):
        ref = f(view.contiguous()).numpy()
        np.testing.assert_array_equal(f(view).numpy(), ref)
        inplace = base.clone()
        sub = {0: inplace.t(), 1: inplace[:, ::3], 2: inplace.chunk(4, -1)[2], 3: inplace[::2, 1::2].t()}
        for k, v in sub.items():
            if v.shape == view.shape and np.array_equal(v.numpy(), view.numpy()):
                getattr(v, name + "_")()
                np.testing.assert_array_equal(v.numpy(), ref)
                break


def test_number_divided_by_tensor_has_torchs_bits():
    # PyTorch computes number / tensor as tensor.reciprocal() * number: the same bits and graph here.
    x = np.random.default_rng(3).uniform(0.1, 10, 4099).astype(np.float32)
    np.testing.assert_array_equal((3.7 / flambeau.tensor(x)).numpy(), (3.7 / torch.from_numpy(x)).numpy())
    y = flambeau.tensor(x[:4], requires_grad=True)
    assert type((2 / y).grad_fn).__name__ == "MulBackward0"
    assert_close(2 / flambeau.tensor([1, 2]), 2 / torch.tensor([1, 2]))


@pytest.mark.parametrize("name", ["fmax", "fmin"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fmax_fmin_ignore_nan_and_give_ties_to_input(name, dtype):
    """fmax/fmin take the other operand where one is NaN (they were maximum/minimum, which propagate NaN), and
    their gradient goes to input on ties and where other is NaN, as PyTorch's (maximum splits ties)."""
    a = np.array([[0.2, np.nan, 1.0, -2.0], [0.1, np.nan, 3.0, 5.0]], dtype)
    b = np.array([[0.2, 0.4, np.nan, -2.0], [0.0, np.nan, 0.8, 6.0]], dtype)
    out = []
    for lib in (torch, flambeau):
        x, y = lib.from_numpy(a.copy()).requires_grad_(), lib.from_numpy(b[:, None].copy()).requires_grad_()
        r = getattr(lib, name)(x, y)  # broadcast: (2, 4) with (2, 1, 4)
        (r.nan_to_num() * lib.arange(1.0, 5.0, dtype=r.dtype)).sum().backward()
        out.append([r.detach().numpy(), x.grad.numpy(), y.grad.numpy()])
    for got, want in zip(out[1], out[0]):
        np.testing.assert_array_equal(got, want)
    ints = getattr(flambeau, name)(flambeau.tensor([1, 5]), flambeau.tensor([2.5, 1.0]))
    np.testing.assert_array_equal(ints.numpy(), getattr(torch, name)(torch.tensor([1, 5]), torch.tensor([2.5, 1.0])).numpy())
    with pytest.raises(TypeError, match="must be Tensor"):
        getattr(flambeau, name)(flambeau.tensor([1.0]), 2.0)


@pytest.mark.parametrize("bounds", ["both", "min", "max", "crossed"])
def test_clamp_with_tensor_bounds_gradients_like_torch(bounds):
    """clamp(x, min=Tensor, max=Tensor): values as PyTorch (NaN propagates, max wins where min > max) and its
    gradients: x keeps it at the bounds (ties), min gets it where x < min, max where x > max."""
    x = np.array([[0.2, 0.5, 1.0, np.nan], [0.1, 0.8, 3.0, 0.5]], np.float32)
    lo = np.array([[0.2, 0.6, 0.0, 0.0]], np.float32)
    hi = np.array([[0.9, 0.5, 1.0, 1.0], [0.05, 0.8, 2.0, 0.1]], np.float32)
    if bounds == "crossed":
        lo, hi = hi, lo
    out = []
    for lib in (torch, flambeau):
        t = [lib.from_numpy(v.copy()).requires_grad_() for v in (x, lo, hi)]
        kw = dict(min=t[1], max=t[2]) if bounds in ("both", "crossed") else {bounds: t[1 if bounds == "min" else 2]}
        r = lib.clamp(t[0], **kw)
        (r.nan_to_num() * 3).sum().backward()
        out.append([r.detach().numpy()] + [v.grad.numpy() if v.grad is not None else None for v in t])
    for got, want in zip(out[1], out[0]):
        if want is None:
            assert got is None
        else:
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fmod_is_c_fmod_bit_for_bit(dtype):
    """fmod's values are C's fmod (PyTorch's std::fmod), not the rounded a - trunc(a / b) * b, which
    differed in about half of random float32 pairs; gradients stay 1 and -trunc(a / b)."""
    a = (np.random.standard_normal(2000) * 10).astype(dtype)
    b = np.random.standard_normal(2000).astype(dtype)
    np.testing.assert_array_equal(flambeau.fmod(flambeau.tensor(a), flambeau.tensor(b)).numpy(),
                                  torch.fmod(torch.tensor(a), torch.tensor(b)).numpy())
    np.testing.assert_array_equal(flambeau.fmod(flambeau.tensor(a), 0.7).numpy(), torch.fmod(torch.tensor(a), 0.7).numpy())
    x = flambeau.tensor(a[:12].reshape(3, 4))
    x.fmod_(flambeau.tensor(b[:4]))
    np.testing.assert_array_equal(x.numpy(), torch.tensor(a[:12].reshape(3, 4)).fmod_(torch.tensor(b[:4])).numpy())
    check_op(lambda p, q: torch.fmod(p, q), lambda p, q: flambeau.fmod(p, q), shapes=[(3, 5), (5,)], dtype=dtype)
    # edge values: zero divisors, infinities, signed zeros; one graph node named as PyTorch's
    e = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5.5, -5.5, 1e30, -7.0], dtype=dtype)
    d = np.array([0.0, 1.0, 2.0, -3.0, 1.0, np.inf, -np.inf, 3.0, 0.5], dtype=dtype)
    np.testing.assert_array_equal(flambeau.fmod(flambeau.tensor(e), flambeau.tensor(d)).numpy(),
                                  torch.fmod(torch.tensor(e), torch.tensor(d)).numpy())
    p = flambeau.tensor(a[:5], requires_grad=True)
    assert flambeau.fmod(p, 0.3).grad_fn.name() == "FmodBackward0"


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8"])
def test_fmod_integers_truncate(dtype):
    """Integer fmod is C's % (the dividend's sign), a division by zero raises as in PyTorch."""
    a = np.random.randint(-50, 50, 300).astype(dtype)
    b = np.random.randint(1, 9, 300).astype(dtype) * np.random.choice([-1, 1], 300).astype(dtype)
    np.testing.assert_array_equal(flambeau.fmod(flambeau.tensor(a), flambeau.tensor(b)).numpy(),
                                  torch.fmod(torch.tensor(a), torch.tensor(b)).numpy())
    np.testing.assert_array_equal(flambeau.fmod(flambeau.tensor(a), -3).numpy(), torch.fmod(torch.tensor(a), -3).numpy())
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        flambeau.fmod(flambeau.tensor(a), flambeau.zeros(300, dtype=getattr(flambeau, dtype)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hypot_is_std_hypot(dtype):
    """hypot is the C++ Hypot kernel (std::hypot, as PyTorch's): equal bits on random operands, no overflow
    where the squares would overflow (|x| ~ 1e30 in float32), PyTorch's gradients g*a/r, g*b/r."""
    a = (np.random.standard_normal(3001) * 10.0 ** np.random.randint(-20, 20, 3001)).astype(dtype)
    b = (np.random.standard_normal(3001) * 10.0 ** np.random.randint(-20, 20, 3001)).astype(dtype)
    np.testing.assert_array_equal(flambeau.hypot(flambeau.tensor(a), flambeau.tensor(b)).numpy(),
                                  torch.hypot(torch.tensor(a), torch.tensor(b)).numpy())
    big = np.array([1e30, -3e38, 0.0, np.inf, np.nan, -np.inf], dtype=dtype)
    other = np.array([1e30, 1e38, -0.0, np.nan, np.inf, 2.0], dtype=dtype)
    np.testing.assert_array_equal(flambeau.hypot(flambeau.tensor(big), flambeau.tensor(other)).numpy(),
                                  torch.hypot(torch.tensor(big), torch.tensor(other)).numpy())
    check_op(lambda p, q: torch.hypot(p, q), lambda p, q: flambeau.hypot(p, q), shapes=[(3, 5), (5,)], dtype=dtype)
    check_op(lambda p, q: torch.hypot(p.t(), q), lambda p, q: flambeau.hypot(p.t(), q), shapes=[(4, 3), (1,)], dtype=dtype)
    p = flambeau.tensor(a[:5], requires_grad=True)
    assert flambeau.hypot(p, p).grad_fn.name() == "HypotBackward0"


def test_hypot_float32_is_correctly_rounded_down_to_subnormals():
    """Correctly rounded over the whole float32 range (checked against float64 math.hypot), where PyTorch's
    vector kernel is an ulp off for results below 1.2e-38."""
    import math
    rng = np.random.default_rng()
    a = (rng.standard_normal(20000) * 10.0 ** rng.integers(-44, 38, 20000)).astype(np.float32)
    b = (rng.standard_normal(20000) * 10.0 ** rng.integers(-44, 38, 20000)).astype(np.float32)
    got = flambeau.hypot(flambeau.tensor(a), flambeau.tensor(b)).numpy()
    want = np.array([math.hypot(float(x), float(y)) for x, y in zip(a, b)]).astype(np.float32)
    np.testing.assert_array_equal(got, want)


def test_hypot_dtypes_and_errors():
    """Half operands round once from float32; an integer pair raises (PyTorch: "hypot_cpu" not implemented
    for 'Long'); a Python number operand is a TypeError, as in PyTorch."""
    a = np.random.standard_normal(50).astype(np.float32)
    for dt in ("float16", "bfloat16"):
        got = flambeau.hypot(flambeau.tensor(a).to(getattr(flambeau, dt)), flambeau.tensor(a[::-1].copy()).to(getattr(flambeau, dt)))
        want = torch.hypot(torch.tensor(a).to(getattr(torch, dt)), torch.tensor(a[::-1].copy()).to(getattr(torch, dt)))
        np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())
    mixed = flambeau.hypot(flambeau.tensor([3.0], dtype=flambeau.float16), flambeau.tensor([4]))
    assert mixed.dtype == flambeau.float16 and mixed.item() == 5.0
    with pytest.raises(RuntimeError, match="hypot"):
        flambeau.hypot(flambeau.tensor([3]), flambeau.tensor([4]))
    with pytest.raises(TypeError):
        flambeau.hypot(flambeau.tensor([3.0]), 4.0)
    assert flambeau.hypot(flambeau.empty(0, 3), flambeau.empty(3)).shape == (0, 3)
