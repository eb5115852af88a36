"""Regressions found by tools/fuzz_ops.py (differential fuzzing against PyTorch CPU).

Each case is `fn(lib)`, run with lib=torch and lib=flambeau: either both return the same thing (shape,
dtype, values, and the final state of the tensors the case built), or both raise. Where flambeau raises,
its message must name the op or the shapes. The comment on each case says what flambeau did before.
"""
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

import flambeau
from fuzz_parity import check as fuzz_check, same, to_numpy as _np
from helpers import run_python


def _same(t, f, path="result"):
    same(t, f, path, rtol=1e-5, atol=1e-6)


def check(fn, names=None):
    """fn(torch) and fn(flambeau) agree; when both raise, flambeau's message matches `names`."""
    fuzz_check(fn, _same, names)


def _expanded(L, dtype=None):
    base = L.ones(1, 4) if dtype is None else L.ones(1, 4, dtype=dtype)
    return base, base.expand(3, 4)


# --------------------------------------------------------------------------------------------- (a)
def test_flip_0d_does_not_crash():
    # flip of a 0-d tensor with dims (0,) read sizes[0] of an empty shape: a segfault
    code = ("import flambeau as L\n"
            "print(L.flip(L.tensor(3.0), (0,)).item(), L.flip(L.tensor(2.0), -1).item())")
    r = run_python(code)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["3.0", "2.0"]
    check(lambda L: L.flip(L.tensor(3.0), (0,)))
    check(lambda L: L.flip(L.tensor(3.0), (0, -1)), r"(?i)flip|multiple")


@pytest.mark.parametrize("k,dims", [(1, (0, -1)), (3, (-1, 0)), (2, (0, 1))])
def test_rot90_needs_two_dims(k, dims):
    # rot90 of a 0-d tensor reached flip with an invalid dim (segfault)
    check(lambda L: L.rot90(L.tensor(1.5), k, dims), r"rot90")
    check(lambda L: L.rot90(L.arange(3.0), k, dims), r"rot90")


@pytest.mark.parametrize("dims", [(0, 0), (0, 2), (1, -1)])
def test_rot90_bad_dims(dims):
    check(lambda L: L.rot90(L.arange(6.0).reshape(2, 3), 1, dims), r"rot90")


# ------------------------------------------------------------------ (b)/(d) writes into expanded views
INPLACE_ON_EXPANDED = [
    "a.copy_(L.arange(12.0).reshape(3, 4))", "a.cumsum_(0)", "a.nan_to_num_()",
    "a.put_(L.tensor([0, 5]), L.tensor([9.0, 8.0]))", "a.scatter_(0, L.tensor([[0]]), L.tensor([[7.0]]))",
    "a.scatter_add_(0, L.tensor([[0]]), L.tensor([[7.0]]))", "a.uniform_()", "a.normal_()", "a.bernoulli_()",
    "a.exponential_()", "a.random_()", "a.frac_()", "a.xlogy_(2)", "a.logit_()", "a.pow_(2)", "a.fmod_(2)",
    "a.floor_divide_(2)", "a.masked_scatter_(L.ones(3, 4, dtype=L.bool), L.ones(12))", "a.eq_(1)",
    "a.index_reduce_(0, L.tensor([0]), L.ones(1, 4), 'prod')", "a.__setitem__((slice(None), 0), 3.0)",
    "a.__setitem__((slice(None), 0), L.tensor([3.0, 4.0, 5.0]))",
]


@pytest.mark.parametrize("stmt", INPLACE_ON_EXPANDED)
def test_inplace_on_expanded_tensor_raises(stmt):
    # these wrote through the stride-0 view (last write wins) instead of refusing, as PyTorch does
    def fn(L):
        base, a = _expanded(L)
        exec(stmt, {"L": L, "a": a})
        return base
    check(fn, r"(?i)memory location|share memory")
    # the base is untouched by the refused write
    base, a = _expanded(flambeau)
    with pytest.raises(RuntimeError):
        exec(stmt, {"L": flambeau, "a": a})
    assert base.tolist() == [[1.0] * 4]


@pytest.mark.parametrize("stmt", ["a.fill_(3)", "a.zero_()", "a[0] = 5.0", "a[1] = L.tensor(6.0)",
                                  "a.masked_fill_(L.ones(3, 4, dtype=L.bool), 2.0)"])
def test_writes_into_expanded_tensor_that_pytorch_allows(stmt):
    def fn(L):
        base, a = _expanded(L)
        exec(stmt, {"L": L, "a": a})
        return base
    check(fn)


@pytest.mark.parametrize("stmt", ["a.add_(1)", "a.copy_(L.ones(3, 0))", "a.sqrt_()", "a.cumsum_(0)",
                                  "a.eq_(1)", "a.uniform_()", "a.__setitem__(Ellipsis, 2.0)"])
def test_inplace_on_empty_expanded_tensor_is_fine(stmt):
    # an expanded tensor with no elements has nothing to write twice: PyTorch accepts it
    def fn(L):
        a = L.ones(3, 1).expand(3, 0)
        exec(stmt, {"L": L, "a": a})
        return a
    check(fn)


@pytest.mark.parametrize("stmt", [
    "a[L.tensor([True, False, True, False, False, False])] = 2",   # stayed -4 (where() + copy_ undid it)
    "a[L.zeros(6, dtype=L.bool)] = 2",
    "a.masked_fill_(L.tensor([False, True, False, False, False, False]), 7)",
])
def test_bool_mask_fill_on_expanded_tensor(stmt):
    # PyTorch fills every memory location that one of its aliases' mask entries selects
    def fn(L):
        base = L.tensor([-4], dtype=L.int32)
        a = base.expand(6)
        exec(stmt, {"L": L, "a": a})
        return base
    check(fn)


def test_masked_fill_on_expanded_2d():
    def fn(L):
        b = L.arange(4.0).reshape(1, 4)
        m = L.zeros(3, 4, dtype=L.bool)
        m[2, 1] = True
        m[0, 3] = True
        b.expand(3, 4).masked_fill_(m, 9.0)
        c = L.arange(3.0).reshape(3, 1)
        c.expand(3, 4).masked_fill_(L.tensor(True), 5)
        return b, c
    check(fn)


# --------------------------------------------------------------------------------------------- (d)
def test_cosine_similarity_int8_operand():
    # x2 * x2 in int8 overflowed: 6.2192 instead of 0.1898
    a = np.array([[1, 2, 3, 4], [100, -100, 50, 7]], dtype=np.int8)
    b = np.array([[1.0, 2, 3, 4], [1, 1, 1, 1]], dtype=np.float32)
    check(lambda L: L.nn.functional.cosine_similarity(L.tensor(b), L.tensor(a), dim=1))
    check(lambda L: L.nn.functional.cosine_similarity(L.tensor(a), L.tensor(a)), r"cosine_similarity")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64", "complex64", "complex128"])
def test_nan_to_num_dtypes(dtype):
    # float16 / bfloat16 kept inf (the float32 / float64 max was used); complex kept NaN and inf
    vals = [math.inf, -math.inf, math.nan, 1.0]
    def fn(L):
        if dtype.startswith("complex"):
            x = L.tensor([complex(math.inf, math.nan), complex(1, 2), complex(-math.inf, math.inf)],
                         dtype=getattr(L, dtype))
        else:
            x = L.tensor(vals).to(getattr(L, dtype))
        return L.nan_to_num(x), L.nan_to_num(x, 1.0, 2.0, -3.0), x.clone().nan_to_num_()
    check(fn)


@pytest.mark.parametrize("lo,hi", [(-1, math.nan), (math.nan, 1), (math.nan, None), (None, math.nan)])
def test_clamp_nan_bound(lo, hi):
    # a NaN scalar bound was ignored by the scalar kernel (PyTorch: NaN everywhere)
    check(lambda L: L.clamp(L.tensor([1.0, -3.0, 5.0]), lo, hi))
    check(lambda L: L.tensor([1.0, -3.0, 5.0]).clamp_(lo, hi))
    check(lambda L: L.clamp(L.tensor([1.0, -3.0, 5.0]).half(), lo, hi))


@pytest.mark.parametrize("shape,chunks,dim", [((0, 3), 3, 0), ((5, 0), 2, 1), ((0, 3), 1, 0), ((0,), 4, 0)])
def test_chunk_empty_dim(shape, chunks, dim):
    # an empty dim gave one piece instead of `chunks`
    check(lambda L: [t.shape for t in L.zeros(*shape).chunk(chunks, dim)])


@pytest.mark.parametrize("idx", [[-1], [-2, 4], [2, 1], [7, 2], [-9, 3], [], [3, 3, 1]])
def test_tensor_split_indices(idx):
    # a decreasing index made the next piece start at the larger index (PyTorch: at that index)
    check(lambda L: L.tensor_split(L.arange(5), idx))
    check(lambda L: L.tensor_split(L.arange(15).reshape(3, 5), idx, dim=1))


def test_tensor_split_gradient():
    x = flambeau.arange(6.0, requires_grad=True)
    a, _, c = flambeau.tensor_split(x, [4, 2])
    (a.sum() + 2 * c.sum()).backward()
    assert x.grad.tolist() == [1.0, 1.0, 3.0, 3.0, 2.0, 2.0]


def test_linalg_ex_info_is_int32():
    A = np.eye(3) + 0.1
    check(lambda L: [L.linalg.inv_ex(L.tensor(A)).info.dtype == L.int32,
                     L.linalg.cholesky_ex(L.tensor(A)).info.dtype == L.int32,
                     L.linalg.cholesky_ex(L.tensor(A).to(L.complex64)).info.dtype == L.int32,
                     L.linalg.solve_ex(L.tensor(A), L.tensor(A)).info.dtype == L.int32,
                     L.linalg.lu_factor_ex(L.tensor(A)).info.dtype == L.int32])
    check(lambda L: L.linalg.inv_ex(L.zeros(2, 3, 3, dtype=L.float64)).info)


# ------------------------------------------------------------------------ (b) index ops' own rules
@pytest.mark.parametrize("code", [
    "L.zeros(4).index_add(0, L.tensor([-1]), L.ones(1))",     # wrapped to 3 (index_put's rule)
    "L.zeros(4).index_copy(0, L.tensor([-1]), L.ones(1))",    # wrapped to 3
    "L.zeros(4).index_add(0, L.tensor([4]), L.ones(1))",
    "L.zeros(4).index_fill(0, L.tensor([4]), 1.0)",
    "L.zeros(4).index_fill(0, L.tensor([-5]), 1.0)",
    "L.zeros(4, 3).index_add(0, L.tensor([0, 1]), L.ones(1, 3))",  # source broadcast silently
    "L.zeros(4).scatter(0, L.tensor([-1]), 1.0)",             # wrapped
    "L.zeros(4).scatter(0, L.tensor([4]), 1.0)",
    "L.zeros(2, 3).scatter(0, L.tensor([[1, 1, 1, 1]]), L.ones(2, 4))",
    "L.zeros(2, 3).scatter(0, L.tensor([1, 1]), L.ones(2))",
    "L.zeros(4, 3).scatter_reduce(-3, L.zeros(3, 0, dtype=L.int64), L.zeros(3, 0), 'sum')",  # dim unchecked
])
def test_index_ops_refuse_what_pytorch_refuses(code):
    check(lambda L: eval(code), r"index|dim|shape|\[")


@pytest.mark.parametrize("code", [
    "L.zeros(4).index_fill(0, L.tensor([-1]), 1.0)",          # negative indices are fine for index_fill
    "L.zeros(4, 3).index_add(1, L.tensor([0, 2]), L.arange(8.0).reshape(4, 2), alpha=2)",
    "L.zeros(4).index_copy(0, L.tensor([1]), L.tensor(5.0))",
    "L.zeros(4, 3).index_add(1, L.tensor([], dtype=L.int64), L.ones(4, 0))",
    "L.zeros(2, 3).scatter(0, L.zeros(0, dtype=L.int64), L.ones(2))",
    "L.tensor(2.0).scatter(0, L.tensor(0), 5.0)",
    "L.zeros(2, 3).scatter_(1, L.tensor([[2], [0]]), 7.0)",
    "L.zeros(4).scatter(0, L.tensor([3, 1]), L.tensor([5.0, 6.0]))",
])
def test_index_ops_still_accept_valid_input(code):
    check(lambda L: eval(code))


@pytest.mark.parametrize("code", [
    "L.tensordot(L.zeros(3, 0), L.zeros(0, 5), dims=2)",       # only the products were compared: 0.0
    "L.tensordot(L.ones(2, 3), L.ones(3, 5), dims=3)",
    "L.tensordot(L.ones(2, 3), L.ones(3, 5), dims=-1)",
    "L.tensordot(L.ones(2, 3), L.ones(3, 5), dims=([1], [0, 1]))",
    "L.tensordot(L.ones(2, 3), L.ones(3, 5), dims=([1, 1], [0, 0]))",
    "L.tensordot(L.ones(2, 3), L.ones(1, 5), dims=([1], [0]))",  # a size-1 dim broadcasts
    "L.tensordot(L.ones(2, 1), L.arange(15.0).reshape(3, 5), dims=([1], [0]))",
    "L.tensordot(L.arange(24.0).reshape(2, 3, 4), L.arange(24.0).reshape(4, 3, 2), dims=([1, 2], [1, 0]))",
    "L.tensordot(L.arange(24.0).reshape(2, 3, 4), L.arange(24.0).reshape(3, 4, 2), dims=2)",
])
def test_tensordot_contracted_dims(code):
    check(lambda L: eval(code), r"tensordot")


@pytest.mark.parametrize("code", [
    "F.linear(L.ones(3), L.ones(3), L.ones(5))",             # broadcast the 0-d result to the bias
    "F.linear(L.ones(2, 3), L.ones(3), L.ones(2))",
    "F.linear(L.ones(2, 3), L.ones(4, 3), L.ones(1))",       # a broadcasting bias was refused
    "F.linear(L.ones(2, 3), L.ones(4, 3), L.ones(2, 4))",
    "F.linear(L.ones(2, 3), L.ones(4, 3), L.ones(5))",
    "F.linear(L.ones(3), L.ones(3), L.ones(()))",
    "F.linear(L.ones(2, 3), L.ones(3))",
])
def test_linear_bias_and_vector_weight(code):
    check(lambda L: eval(code, {"L": L, "F": L.nn.functional}), r"linear")


# ---------------------------------------------------------------------------------------- (c) gaps
@pytest.mark.parametrize("p", [0, -math.inf, 3])
def test_normalize_other_norms(p):
    # p=0 divided by zero (1 / p) in Python
    check(lambda L: L.nn.functional.normalize(L.tensor([[1.0, 0, -3], [0, 0, 0]]), p=p, dim=1))


def test_movedim_0d_and_repeats():
    check(lambda L: L.movedim(L.tensor(1.5), -1, 0))
    check(lambda L: L.movedim(L.zeros(2, 3, 4), (0, 0), (1, 2)), r"movedim")


def test_matmul_batched_with_empty_inner_dim():
    # reshape(-1, 0) is ambiguous: the batch fold refused (2, 3, 0) @ (0,)
    check(lambda L: L.matmul(L.zeros(2, 3, 0), L.zeros(0)))
    check(lambda L: L.matmul(L.zeros(2, 3, 0), L.zeros(0, 4)))


def test_inplace_cast_error_names_the_op():
    with pytest.raises(RuntimeError, match=r"sub_.*\[3\]"):
        flambeau.ones(3, dtype=flambeau.int64).sub_(0.5)
    with pytest.raises(RuntimeError, match=r"sub_.*\[3\]"):
        flambeau.ones(3, dtype=flambeau.int64).sub_(flambeau.ones(3))


# ------------------------------------------------------------------------------- the harness itself
def test_fuzz_harness_runs_clean(tmp_path):
    """A short deterministic run of tools/fuzz_ops.py: no crash or hang (class a)."""
    import os
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(Path(flambeau.__file__).resolve().parent.parent))
    r = subprocess.run([sys.executable, str(root / "tools" / "fuzz_ops.py"), "--seed", "7", "--cases", "600",
                        "--classes", "a", "--timeout", "120"], env=env, capture_output=True, text=True, timeout=600)
    assert "(a) crash/hang" in r.stdout, r.stdout + r.stderr[-2000:]
    line = [x for x in r.stdout.splitlines() if "(a) crash/hang" in x][0]
    assert line.split()[-1] == "0", r.stdout


@pytest.mark.parametrize("a,b", [("bfloat16", "float32"), ("float16", "bfloat16"), ("float32", "float64"),
                                 ("float16", "float32")])
@pytest.mark.parametrize("loss", ["l1_loss", "mse_loss", "smooth_l1_loss"])
def test_pointwise_loss_promotion(a, b, loss):
    # any two different float dtypes were promoted to float64 (bfloat16 with float32 gave float64)
    x = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    check(lambda L: getattr(L.nn.functional, loss)(L.tensor(x).to(getattr(L, a)), L.tensor(x[::-1].copy()).to(
        getattr(L, b))))


def test_clamp_nan_bound_integer_input():
    check(lambda L: L.clamp(L.tensor([1, -3, 5], dtype=L.int32), None, math.nan))
    check(lambda L: L.tensor([1, -3, 5], dtype=L.int32).clamp_(max=math.nan), r"(?i)cast")


@pytest.mark.parametrize("code", [
    "L.full((2,), 1e40)", "L.zeros(2).fill_(1e40)", "L.zeros(2, dtype=L.float16).fill_(1e5)",
    "L.zeros(2, dtype=L.float16).fill_(65519.0)", "L.zeros(2, dtype=L.bfloat16).fill_(1e39)",
    "L.zeros(2).masked_fill(L.ones(2, dtype=L.bool), 1e40)", "L.zeros(2).index_fill(0, L.tensor([0]), 1e40)",
    "L.full_like(L.zeros(2), 1e40)", "L.zeros(2).__setitem__(0, 1e40)", "L.zeros(2, dtype=L.int64).fill_(2**63)",
    "L.full((2,), 2**70)", "L.zeros(2, dtype=L.uint8).index_fill_(0, L.tensor([0]), 300)",
])
def test_fill_value_overflow_raises(code):
    # these stored inf (or a wrapped integer) where PyTorch refuses the value
    check(lambda L: eval(code), r"overflow|out of range")


@pytest.mark.parametrize("code", [
    "L.tensor([1e40])", "L.zeros(2) + 1e40", "L.zeros(2).fill_(float('inf'))", "L.zeros(2).fill_(float('nan'))",
    "L.zeros(2, dtype=L.float16).fill_(65504.0)", "L.zeros(2, dtype=L.int64).fill_(-2**63)",
    "L.zeros(2, dtype=L.float64).fill_(1e300)", "L.zeros(2).index_fill(0, L.tensor([0]), 300)",
    "L.full((2,), -1e38)",
])
def test_fill_values_that_fit(code):
    check(lambda L: eval(code))


@pytest.mark.parametrize("code", [
    "L.ones(3, dtype=L.int64).add(L.ones(3, dtype=L.int64), alpha=0.5)",   # gave a float result
    "L.ones(3, dtype=L.uint8).sub_(2, alpha=0.5)",
    "L.ones(3).add(L.ones(3), alpha=True)",
    "L.ones(3).add(L.ones(3), alpha=1j)",
    "L.add(2, L.ones(3, dtype=L.int64), alpha=0.5)",
    "L.ones(3, dtype=L.bool).add(L.ones(3, dtype=L.bool), alpha=True)",
    "L.ones(3).sub(L.ones(3, dtype=L.int64), alpha=0.5)",
    "L.ones(3, dtype=L.int64).add(2.5, alpha=0.5)",
    "L.ones(3, dtype=L.int64).add_(L.ones(3, dtype=L.int64), alpha=2)",
])
def test_add_alpha_rules(code):
    check(lambda L: eval(code), r"alpha")


@pytest.mark.parametrize("code", [
    "L.histc(L.ones(3), bins=4, min=2, max=1)",            # counted nothing
    "L.histc(L.ones(3), bins=0)", "L.histc(L.ones(3), bins=-1)",
    "L.histc(L.tensor([1.0, math.inf]), bins=3)", "L.histc(L.tensor([1.0, math.nan]), bins=3)",
    "L.histc(L.tensor([1.0, 2.0]), bins=3, min=0, max=math.inf)",
    "L.histc(L.ones(3), bins=3, min=1, max=1)", "L.histc(L.tensor([0.0, 5.0]), bins=3)", "L.histc(L.zeros(0), bins=3)",
])
def test_histc_arguments(code):
    check(lambda L: eval(code), r"histc")


@pytest.mark.parametrize("shape,size", [((2, 1, 8), 0), ((2, 3, 4), -1), ((0, 1, 3), 0), ((2, 3, 4), 2)])
def test_local_response_norm_size(shape, size):
    x = np.linspace(-2, 2, int(np.prod(shape)), dtype=np.float32).reshape(shape)
    check(lambda L: L.nn.functional.local_response_norm(L.tensor(x), size), r"local_response_norm")


def test_cosine_similarity_broadcast_dim():
    # dim counts in the broadcast shape: (3, 4) with (2, 3, 4), dim=0 normalised x1 over its own dim 0
    a = np.random.default_rng(0).standard_normal((3, 4))
    b = np.random.default_rng(1).standard_normal((2, 3, 4))
    for dim in (0, 1, -1):
        check(lambda L: L.nn.functional.cosine_similarity(L.tensor(a), L.tensor(b), dim=dim))
    check(lambda L: L.nn.functional.cosine_similarity(L.tensor(a[0]), L.tensor(b), dim=-1))


@pytest.mark.parametrize("code", [
    "F.pixel_shuffle(L.ones(1, 4, 2, 2), 0)",                  # ZeroDivisionError in Python
    "F.pixel_unshuffle(L.ones(1, 4, 2, 2), -1)",
    "L.isclose(L.ones(2), 1)",                                 # AttributeError: 'int' has no '_impl'
    "L.ldexp(L.ones(2), 1.0)", "L.ones(2).ldexp_(2)",
    "L.take_along_dim(L.zeros(1, 1, 2), L.zeros(4, 1, dtype=L.int64), -2)",   # IndexError: list assignment
    "L.take_along_dim(L.tensor(2.0), L.tensor(0), 0)",
    "L.take_along_dim(L.arange(6.0).reshape(2, 3), L.tensor([[2], [0]]), 1)",
    "L.ldexp(L.ones(2), L.tensor([1, 2]))",
])
def test_argument_errors_are_clear(code):
    check(lambda L: eval(code, {"L": L, "F": L.nn.functional}),
          r"pixel_shuffle|pixel_unshuffle|isclose|ldexp|take_along_dim")


# ------------------------------------------------------------------------ second round (session 18)
def check_grad(fn, n_inputs):
    """fn(lib, *leaves) -> tensor; the result and the leaves' gradients (of a weighted sum) agree."""
    rng = np.random.default_rng(7)
    outs = []
    for L in (torch, flambeau):
        leaves = fn.inputs(L)
        r = fn(L, *leaves)
        w = L.tensor(rng.standard_normal(tuple(r.shape)) if r.numel() else np.zeros(tuple(r.shape))).to(r.dtype)
        rng = np.random.default_rng(7)
        (r * w).sum().backward()
        outs.append([r] + [x.grad if x.grad is not None else L.zeros_like(x) for x in leaves[:n_inputs]])
    _same(outs[0], outs[1])


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4), (0,), (2, 0), (3, 1)])
@pytest.mark.parametrize("offset,dim1,dim2", [(0, -2, -1), (1, -2, -1), (-2, -2, -1), (3, -1, -2), (1, 0, 2),
                                              (-1, 2, 0), (0, 1, 0), (0, 1, 1), (0, 5, 0)])
@pytest.mark.parametrize("dtype", ["float32", "int64", "bool", "complex64"])
def test_diag_embed_offset_and_dims(shape, offset, dim1, dim2, dtype):
    # any offset or dims other than (0, -2, -1) raised NotImplementedError (71 cases in 3 seeds); offset 0
    # multiplied by an identity, so an inf put NaN off the diagonal
    x = np.random.default_rng(3).standard_normal(shape)
    if x.size:
        x.flat[0] = np.inf
    check(lambda L: L.diag_embed(L.tensor(x).to(getattr(L, dtype)), offset, dim1, dim2), r"diagonal|Dimension")


def test_diag_embed_gradient():
    def fn(L, a):
        return L.diag_embed(a * 2, -1, 2, 0)
    fn.inputs = lambda L: [L.tensor(np.random.default_rng(4).standard_normal((2, 3, 3)), requires_grad=True)]
    check_grad(fn, 1)
    check(lambda L: L.diag_embed(L.tensor(3.0)), r"diag_embed|Dimension")


@pytest.mark.parametrize("op", ["select", "slice", "diagonal"])
@pytest.mark.parametrize("idt,sdt", [("int8", "float32"), ("float32", "bool"), ("float32", "float64"),
                                     ("float64", "complex64"), ("bool", "int64"), ("complex64", "float32")])
def test_view_scatters_cast_src(op, idt, sdt):
    # select/slice/diagonal_scatter refused a src of another dtype; PyTorch copies it in (cast to input's)
    a = np.random.default_rng(0).standard_normal((3, 3)) * 3
    s = np.random.default_rng(1).standard_normal(3) * 3

    def fn(L):
        x, src = L.tensor(a).to(getattr(L, idt)), L.tensor(s).to(getattr(L, sdt))
        if op == "select":
            return L.select_scatter(x, src, 0, 1)
        if op == "slice":
            return L.slice_scatter(x, src.reshape(1, 3), 0, 0, 1)
        return L.diagonal_scatter(x, src)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # complex -> real discards the imaginary part, with a warning
        check(fn)


def test_view_scatter_gradient_in_src_dtype():
    def fn(L, x, s):
        return L.select_scatter(x, s, 0, 1)
    fn.inputs = lambda L: [L.tensor(np.random.default_rng(0).standard_normal((3, 4)), dtype=L.float32,
                                    requires_grad=True),
                           L.tensor(np.random.default_rng(1).standard_normal(4), requires_grad=True)]
    check_grad(fn, 2)


@pytest.mark.parametrize("dtype", ["int64", "int8", "uint8", "int32", "bfloat16", "float16", "float32"])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, -1])
@pytest.mark.parametrize("shape", [(4, 4), (0, 0), (2, 0, 0), (3, 2)])
def test_matrix_power_any_matmul_dtype(dtype, n, shape):
    # integer and half-precision inputs raised "Expected a floating point"; PyTorch multiplies them with
    # matmul (only a negative power needs inv's float input). n = 3 is (A @ A) @ A there, bit for bit.
    x = np.random.default_rng(5).standard_normal(shape) * 2
    check(lambda L: L.linalg.matrix_power(L.tensor(x).to(getattr(L, dtype)), n), r"matrix_power|inv|square")


@pytest.mark.parametrize("code", [
    "L.gather(x, 0, L.zeros(0))", "L.gather(x, -1, L.zeros(2, 0, 5, dtype=L.bool))",
    "L.gather(x, 0, L.zeros(0, 4, dtype=L.uint8))", "L.gather(x, 1, L.zeros(0, dtype=L.int32))",
    "L.scatter(x, 0, L.zeros(0), 2.0)", "L.scatter(x, 0, L.zeros(0, 3, dtype=L.uint8), x)",
    "L.scatter(x, 0, L.zeros(0), 2.0, reduce='add')", "x.clone().scatter_(0, L.zeros(0, dtype=L.int16), x)",
    "L.scatter_add(x, 0, L.zeros(0), x)", "x.clone().scatter_add_(0, L.zeros(2, 0, 5), x)",
    "L.scatter_reduce(x, 0, L.zeros(0), x, 'amax')", "L.scatter_reduce(x, 0, L.zeros(0, 3, dtype=L.int64), x, 'sum')",
    "L.gather(x, 0, L.zeros(1, 1))", "L.scatter(x, 0, L.zeros(1, 1), 2.0)",       # a non-empty one still raises
    "L.index_select(x, 0, L.zeros(0))",
    "L.scatter(x, 0, L.zeros(0, dtype=L.int64), x.double())",      # src's dtype is checked all the same
    "x.clone().scatter_(0, L.zeros(1, 1, dtype=L.int64), x.int())",  # (scatter did not check it at all)
])
def test_empty_index_skips_dtype_and_shape_checks(code):
    # gather/scatter* raised "Expected dtype int64 for index" (or an index/self ndim mismatch) for an empty
    # index; PyTorch checks neither then: nothing is read or written
    x = np.random.default_rng(0).standard_normal((3, 4))
    check(lambda L: eval(code, {"L": L, "x": L.tensor(x)}), r"gather|scatter|index_select")


@pytest.mark.parametrize("shape,nstat", [((0, 4, 3), 4), ((0, 4, 0, 4), 5), ((0, 1, 1, 1), 2)])
@pytest.mark.parametrize("pdt", ["float32", "bfloat16", "complex64"])
@pytest.mark.parametrize("training", [False, True])
def test_batch_norm_empty_input_checks_nothing(shape, nstat, pdt, training):
    # an empty input raised on the statistics' dtype or size; PyTorch returns input.clone() (times weight[0],
    # plus bias[0]) before checking them
    def fn(L, wb):
        x = L.zeros(shape, dtype=L.float16)
        rm, rv = L.ones(nstat).to(getattr(L, pdt)), L.ones(nstat).to(getattr(L, pdt))
        w, b = (L.full((3,), 2.0), L.full((3,), 0.5)) if wb else (None, None)
        return L.nn.functional.batch_norm(x, rm, rv, w, b, training=training)
    check(lambda L: fn(L, False))
    check(lambda L: fn(L, True))


@pytest.mark.parametrize("xdt", ["float16", "bfloat16"])
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("wb", [False, True])
def test_batch_norm_half_input_float32_params(xdt, training, wb):
    # PyTorch's CPU mixed-dtype path (half input, float32 parameters and statistics) raised "running_mean has
    # dtype float32 but input has dtype bfloat16": normalized in float32, rounded to the input's dtype
    def fn(L):
        rng = np.random.default_rng(0)
        x = L.tensor(rng.standard_normal((2, 4, 3))).to(getattr(L, xdt))
        rm, rv = L.tensor(rng.standard_normal(4), dtype=L.float32), L.tensor(rng.uniform(0.5, 2, 4), dtype=L.float32)
        w, b = (L.tensor(rng.standard_normal(4), dtype=L.float32), L.ones(4)) if wb else (None, None)
        return L.nn.functional.batch_norm(x, rm, rv, w, b, training=training), rm, rv
    check(fn)
    check(lambda L: L.nn.functional.batch_norm(L.ones(2, 4, dtype=getattr(L, xdt)), L.zeros(4), L.ones(4).double()),
          r"batch_norm|dtype")


def test_batch_norm_half_input_float32_params_gradient():
    def fn(L, x):
        return L.nn.functional.batch_norm(x, L.zeros(4), L.full((4,), 1.5), training=False)
    fn.inputs = lambda L: [L.tensor(np.random.default_rng(0).standard_normal((2, 4, 3))).to(L.bfloat16)
                           .requires_grad_(True)]
    check_grad(fn, 1)


@pytest.mark.parametrize("shape", [(1, 2, 0, 4), (0, 8, 2, 2), (2, 0, 2, 2), (3, 4, 4), (0, 3, 0), (0, 0, 3, 3)])
def test_pixel_shuffles_empty_batch(shape):
    # reshape((-1, c, 0, ...)) is ambiguous for an empty image: "shape '[-1, 2, 0, 2, 2, 2]' is invalid for
    # input of size 0" (11 cases in 3 seeds); PyTorch's pixel_unshuffle returns an empty input unchanged
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    check(lambda L: L.nn.functional.pixel_unshuffle(L.tensor(x).to(L.int64), 2), r"pixel_unshuffle")
    check(lambda L: L.nn.functional.pixel_shuffle(L.tensor(x).repeat_interleave(4, -3), 2), r"pixel_shuffle")


@pytest.mark.parametrize("a,b", [("int8", "int8"), ("int32", "float16"), ("int64", "int32"), ("float16", "complex64"),
                                 ("int8", "complex64"), ("float32", "bool"), ("bool", "int8"), ("uint8", "float32")])
@pytest.mark.parametrize("n", [0, 3])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "bogus"])
def test_l1_loss_integer_complex_bool_operands(a, b, n, reduction):
    # an integer input raised "l1_loss: expected a floating-point input" (15 cases in 3 seeds, all empty); a
    # complex target kept input's dtype; a bool target was accepted. PyTorch: (input - target).abs() reduced
    def fn(L):
        x = L.tensor(np.arange(n) * 1.5 - 1).to(getattr(L, a))
        y = L.tensor(np.arange(n) * 0.7).to(getattr(L, b))
        return L.nn.functional.l1_loss(x, y, reduction=reduction)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(fn, r"l1_loss|reduction|mean|Subtraction")


def test_l1_loss_complex_target_gradient():
    def fn(L, x):
        return L.nn.functional.l1_loss(x, L.tensor([1 + 1j, -2j, 0.5], dtype=L.complex64))
    fn.inputs = lambda L: [L.tensor([0.5, 1.0, -2.0], requires_grad=True)]
    check_grad(fn, 1)


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool", "float16", "float32", "complex64"])
@pytest.mark.parametrize("shape", [(0, 0), (2, 1), (1, 4), (2, 3), (3, 0)])
@pytest.mark.parametrize("mode", ["none", "dx", "x_int", "x_float64", "x_2d"])
def test_cumulative_trapezoid_dtypes(dtype, shape, mode):
    # an integer y (empty along dim) kept its dtype where PyTorch gives float32 (13 cases in 3 seeds); a complex
    # y raised "cumsum: not implemented for dtype complex64"; an empty y ignored x's dtype
    def fn(L):
        y = L.tensor(np.random.default_rng(0).standard_normal(shape) * 3).to(getattr(L, dtype))
        n = shape[-1]
        kw = {"none": {}, "dx": {"dx": 2.5}, "x_int": {"x": L.arange(n) * 2},
              "x_float64": {"x": L.tensor(np.cumsum(np.random.default_rng(1).uniform(0.1, 1, n)))},
              "x_2d": {"x": L.tensor(np.random.default_rng(1).uniform(0.1, 1, shape))}}[mode]
        return L.cumulative_trapezoid(y, **kw)
    check(fn, r"cumulative_trapezoid")


def test_cumulative_trapezoid_gradient():
    def fn(L, y):
        return L.cumulative_trapezoid(y, dx=0.5)
    fn.inputs = lambda L: [L.tensor(np.random.default_rng(0).standard_normal((2, 5)), requires_grad=True)]
    check_grad(fn, 1)


@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (3, 4, 4), (0, 1, 5, 5), (2, 3, 5, 5), (1, 0, 4, 4)])
@pytest.mark.parametrize("return_indices", [False, True])
def test_max_pool2d_integer_empty_batch(shape, return_indices):
    # the integer path gathered through reshape(lead + (-1,)), ambiguous for an empty batch: "shape
    # '[0, 3, -1]' is invalid for input of size 0"
    x = np.random.default_rng(0).integers(-9, 9, shape)
    check(lambda L: L.nn.functional.max_pool2d(L.tensor(x), 2, return_indices=return_indices), r"max_pool2d")


@pytest.mark.parametrize("code", [
    "L.take(x, L.tensor([1, 5], dtype=L.int32))", "L.take(x, L.zeros(0, dtype=L.int32))", "L.take(x, L.tensor([1.0]))",
    "L.take(x, L.tensor([1, -2]))",
    "x.index_fill(0, L.tensor([1], dtype=L.int32), 1.0)", "x.clone().index_fill_(0, L.zeros(0), 1.0)",
    "x.index_fill(1, L.tensor([0, 2]), L.tensor(2.0))", "x.index_fill(0, L.zeros(0, dtype=L.int64), -1.0)",
])
def test_take_and_index_fill_want_int64_indices(code):
    # take and index_fill accepted int32 (and float) indices, which PyTorch refuses (23 + 6 (b) cases in 3 seeds)
    x = np.random.default_rng(0).standard_normal((3, 4))
    check(lambda L: eval(code, {"L": L, "x": L.tensor(x)}), r"take|index_fill")


@pytest.mark.parametrize("a,b", [("float64", "float32"), ("float32", "float64"), ("bfloat16", "float32"),
                                 ("float32", "float16"), ("float16", "bfloat16")])
@pytest.mark.parametrize("pos_weight", [None, "float32", "int8"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_with_logits_mixed_dtypes(a, b, pos_weight, reduction):
    # mixed input/target dtypes: the loss took the promoted dtype (float64 input, float32 target gave float64,
    # PyTorch float32: its composite's in-place steps keep target's dtype) and log_sigmoid's rounding differed
    def fn(L):
        rng = np.random.default_rng(0)
        x = L.tensor(rng.standard_normal((2, 4)) * 3).to(getattr(L, a))
        t = L.tensor(rng.uniform(0, 1, (2, 4))).to(getattr(L, b))
        p = None if pos_weight is None else L.tensor(rng.standard_normal(4) * 2).to(getattr(L, pos_weight))
        return L.nn.functional.binary_cross_entropy_with_logits(x, t, reduction=reduction, pos_weight=p)
    tv, fv = fn(torch), fn(flambeau)
    assert str(tv.dtype).split(".")[-1] == str(fv.dtype).split(".")[-1]
    np.testing.assert_allclose(_np(fv), _np(tv), rtol=1e-2 if "16" in a + b else 1e-6, atol=1e-3 if "16" in a + b else 1e-7)


def test_bce_with_logits_mixed_dtypes_gradient():
    def fn(L, x, t):
        return L.nn.functional.binary_cross_entropy_with_logits(x, t, pos_weight=L.tensor([0.5, 2.0, 1.0, 3.0]))
    fn.inputs = lambda L: [L.tensor(np.random.default_rng(0).standard_normal((2, 4)), requires_grad=True),
                           L.tensor(np.random.default_rng(1).uniform(0, 1, (2, 4)), dtype=L.float32,
                                    requires_grad=True)]
    check_grad(fn, 2)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("v", [2.0, 3.7, -0.1, 65000.0])
@pytest.mark.parametrize("s", [3, 0.1, 1.7, 1e-3])
def test_zero_dim_half_mul_div_by_python_scalar(dtype, v, s):
    # a 0-d float16/bfloat16 tensor times or over a Python scalar raised "div: expected both operands to have the
    # same dtype, got float16 and float32" (the scalar goes in as float32, which the core took next to a half
    # tensor with dims only); half_loss.mean().backward() went through it
    for op in ("mul", "div"):
        check(lambda L: getattr(L.tensor(v, dtype=getattr(L, dtype)), op)(s))
        check(lambda L: getattr(L, op)(L.tensor(v, dtype=getattr(L, dtype)), s))


def test_half_mean_backward_through_a_cast():
    def fn(L, x):
        return ((x * 2).mean().double() * 1.5).reshape(1)
    fn.inputs = lambda L: [L.tensor([1.0, 2.5, -3.0], dtype=L.float16, requires_grad=True)]
    check_grad(fn, 1)
