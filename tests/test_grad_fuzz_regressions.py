"""Gradient regressions found by tools/fuzz_grads.py (differential gradient fuzzing against PyTorch CPU).

Each case is `fn(lib)` returning (outputs, leaves): it builds its leaves (requires_grad) in lib = torch or
flambeau, runs the op, and check() backpropagates the same seeded grad_output through every output in both
libraries and compares the leaves' .grad: None on both sides or the same dtype, shape and values (NaN
where PyTorch has NaN). Where the op is smooth at the test point, a float64 finite-difference gradcheck
backs the formula up. The comment on each case says what flambeau did before.
"""
import numpy as np
import pytest
import torch

import flambeau


def _np(x):
    return x.detach().contiguous().numpy()


def _seeded(lib, like, seed):
    a = np.random.default_rng(seed).standard_normal(tuple(like.shape))
    return lib.tensor(a).to(like.dtype)


def _grads(fn, lib, order2=False):
    outs, leaves = fn(lib)
    outs = [o for o in (outs if isinstance(outs, (tuple, list)) else (outs,)) if o.requires_grad]
    gs = [_seeded(lib, o, 7 + k) for k, o in enumerate(outs)]
    if not order2:
        lib.autograd.backward(outs, gs)
        return [x.grad for x in leaves], [o.requires_grad for o in outs]
    g1 = lib.autograd.grad(outs, leaves, gs, create_graph=True, allow_unused=True)
    ys = [(g, _seeded(lib, g, 70 + k)) for k, g in enumerate(g1) if g is not None and g.requires_grad]
    lib.autograd.backward([y for y, _ in ys], [g for _, g in ys])
    return list(g1) + [x.grad for x in leaves], [o.requires_grad for o in outs]


def check(fn, order2=False, rtol=1e-6, atol=1e-6):
    """fn(torch) and fn(flambeau) give the same gradients (first order, or both orders with order2)."""
    tg, treq = _grads(fn, torch, order2)
    fg, freq = _grads(fn, flambeau, order2)
    assert treq == freq, f"results' requires_grad {treq} vs {freq}"
    for k, (t, f) in enumerate(zip(tg, fg)):
        assert (t is None) == (f is None), f"grad {k}: {t} vs {f}"
        if t is None:
            continue
        assert str(t.dtype).split(".")[-1] == str(f.dtype).split(".")[-1], f"grad {k}: dtype {t.dtype} vs {f.dtype}"
        assert tuple(t.shape) == tuple(f.shape), f"grad {k}: shape"
        np.testing.assert_allclose(_np(f), _np(t), rtol=rtol, atol=atol, equal_nan=True, err_msg=f"grad {k}")


def gradcheck(fn, *arrays):
    """float64 finite differences against flambeau's analytic gradient of fn(*leaves)."""
    xs = tuple(flambeau.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays)
    assert flambeau.autograd.gradcheck(fn, xs, eps=1e-6, atol=1e-5, rtol=1e-3)


def leaf(lib, a, dtype="float32"):
    return lib.tensor(np.asarray(a, dtype=np.float64)).to(getattr(lib, dtype)).requires_grad_()


# ---- in-place comparisons: the 0/1 result has a zero gradient ------------------------------------------------
# Before: a.eq_(b) wrote 0/1 into a but left a's history in place, so grad_output flowed back through the
# comparison as if it were the identity (a silently wrong gradient; PyTorch's derivative is zeros).
@pytest.mark.parametrize("op", ["eq_", "ne_", "lt_", "le_", "gt_", "ge_"])
@pytest.mark.parametrize("other", ["tensor", "scalar", "uint8"])
def test_inplace_comparison_gradient_is_zero(op, other):
    def fn(L):
        a = leaf(L, [[0.5, -1.0, 2.0], [1.0, 0.0, -3.0]])
        b = leaf(L, [1.0, 0.0, 2.0]) if other == "tensor" else (
            0.5 if other == "scalar" else L.tensor(np.array([1, 0, 2], dtype=np.uint8)))
        r = getattr(a.clone() * 1.5, op)(b)
        return r, [a] + ([b] if other == "tensor" else [])
    check(fn)


def test_logical_inplace_keeps_passing_gradient():
    # PyTorch's logical_and_ is not differentiable and leaves self's history as it is: the gradient
    # flows through (unchanged by the fix above).
    check(lambda L: (lambda a: (a.clone().logical_and_(L.tensor([1.0, 0.0, 2.0])), [a]))(leaf(L, [1.0, 2.0, 0.0])))


def test_fmod_inplace_backward_reads_the_old_value():
    # Before: fmod_ saved self for backward, then overwrote it: "modified by an inplace operation".
    def fn(L):
        a = leaf(L, [3.5, -2.25, 7.0])
        b = leaf(L, [2.0, 1.5, -3.0])
        return a.clone().fmod_(b), [a, b]
    check(fn)


# ---- std / var: constant slices, non-positive degrees of freedom ---------------------------------------------
# Before: std's backward divided by std (0/0 = NaN on a constant slice; PyTorch masks it to 0); var's
# used inf for any n - correction <= 0, where PyTorch keeps 2 / (n - correction) (negative) over given dims.
@pytest.mark.parametrize("code", [
    "L.std(x, dim=0)", "L.std(x)", "L.std_mean(x)[0]", "L.std(x, dim=(0, 1), keepdim=True)",
    "L.var(x, dim=1, correction=3)", "L.var_mean(x, dim=-1, correction=3)", "L.std(x, dim=1, correction=3)",
    "L.var(x, correction=9)", "L.var(x, dim=0, correction=2)", "L.std(x, correction=6)"])
def test_std_var_degenerate(code):
    def fn(L):
        x = leaf(L, [[1.0, 2.0], [1.0, 2.0], [1.0, 5.0]], "float64")
        return eval(code, {"L": L, "x": x}), [x]
    check(fn)
    check(fn, order2=True)


def test_std_gradcheck():
    gradcheck(lambda x: flambeau.std(x, dim=1), [[1.0, 2.0, 4.0], [0.5, -1.0, 3.0]])
    gradcheck(lambda x: flambeau.var(x, dim=0, correction=0), [[1.0, 2.0, 4.0], [0.5, -1.0, 3.0]])


# ---- vector_norm with ord other than 0, 1, 2, inf ------------------------------------------------------------
# Before: the chain rule through pow(sum(pow(|x|, p)), 1/p) gave NaN at a zero element (p < 1) or a
# zero norm; PyTorch's norm_backward masks both.
@pytest.mark.parametrize("p", [-1.0, -2.5, 0.5, 1.5, 3.0, 4.0])
@pytest.mark.parametrize("row", [[0.0, 1.0, 2.0], [3.0, -1.0, 0.5], [0.0, 0.0, 0.0]])
def test_vector_norm_general_ord(p, row):
    def fn(L):
        x = leaf(L, [row, [1.0, 2.0, -3.0]], "float64")
        return L.linalg.vector_norm(x, ord=p, dim=1), [x]
    check(fn, rtol=1e-12, atol=1e-12)
    check(fn, order2=True, rtol=1e-9, atol=1e-9)


def test_vector_norm_general_ord_gradcheck():
    for p in (-1.5, 0.5, 3.0):
        gradcheck(lambda x: flambeau.linalg.vector_norm(x, ord=p, dim=1), [[0.7, -1.2, 2.0], [1.0, 2.0, -3.0]])


# ---- xlogy, atan2, logit, div(rounding_mode='trunc'): PyTorch's masked formulas ------------------------------
def test_xlogy_at_zero():
    # Before: d/dx at x == 0, y == 0 was 0 * log(0) = NaN (PyTorch: 0).
    def fn(L):
        x = leaf(L, [0.0, 1.0, 2.0, 0.0])
        y = leaf(L, [0.0, 0.0, 3.0, 2.0])
        return L.xlogy(x, y), [x, y]
    check(fn)
    check(lambda L: (lambda x: (L.xlogy(x, L.tensor([0, 0, 3])), [x]))(leaf(L, [0.0, 1.0, 2.0])))
    check(lambda L: (lambda x: (L.xlogy(x, 2.5), [x]))(leaf(L, [0.0, 1.0, 2.0])))
    gradcheck(flambeau.xlogy, [0.5, 1.0, 2.0], [0.3, 4.0, 3.0])


def test_atan2_at_origin():
    # Before: g * b / (a^2 + b^2) was 0/0 = NaN at a == b == 0, and where both squares underflow.
    def fn(L):
        x = leaf(L, [0.0, 1.0, 1e-30, 0.0, 1e-20])
        y = leaf(L, [0.0, 0.0, 0.0, 1e-30, 1e-20])
        return L.atan2(x, y), [x, y]
    check(fn)
    check(lambda L: (lambda x: (L.atan2(x, L.tensor([False, True, False])), [x]))(leaf(L, [0.0, 1.0, 2.0])))
    gradcheck(flambeau.atan2, [0.5, -1.0, 2.0], [1.0, 0.3, -3.0])


@pytest.mark.parametrize("eps", [None, 0.1])
def test_logit_outside_unit_interval(eps):
    # Before: the composite's gradient was finite outside [0, 1] (PyTorch: NaN without eps, 0 outside
    # [eps, 1 - eps] with it), and rounded differently inside.
    vals = [0.5, 2.0, -1.0, 0.05, 0.3, 0.97, 1.0, 0.0]
    check(lambda L: (lambda x: (L.logit(x, eps), [x]))(leaf(L, vals)))
    check(lambda L: (lambda x: (x.clone().logit_(eps), [x]))(leaf(L, vals)))
    check(lambda L: (lambda x: (L.special.logit(x, eps), [x]))(leaf(L, vals, "float64")), order2=True)
    gradcheck(lambda x: flambeau.logit(x, eps), [0.2, 0.5, 0.7])


def test_trunc_division_gradient_is_zero():
    # Before: trunc(a / b)'s chain rule gave 0 * (1 / 0) = NaN where b is 0 (PyTorch: zeros).
    def fn(L):
        x = leaf(L, [0.5, 2.0, -1.0])
        y = leaf(L, [0.0, 1.5, 2.0])
        return L.div(x, y, rounding_mode="trunc"), [x, y]
    check(fn)
    check(lambda L: (lambda x: (x.clone().div_(L.tensor([0, 1, 2], dtype=L.uint8), rounding_mode="trunc"), [x]))(
        leaf(L, [0.5, 2.0, -1.0], "float64")))


# ---- median() / nanmedian() over all elements: ties share the gradient ---------------------------------------
# Before: the whole gradient went to the one element the kernel picked (PyTorch: evenly distributed
# among the elements equal to the median, NaN ones when it is NaN).
@pytest.mark.parametrize("op", ["median", "nanmedian"])
@pytest.mark.parametrize("vals", [[[1.0, 1.0], [2.0, 3.0]], [[1.0, 1.0], [2.0, float("nan")]],
                                  [[4.0, 1.0, 1.0], [1.0, 0.0, 5.0]], [[float("nan"), 1.0], [2.0, 3.0]]])
def test_median_ties(op, vals):
    check(lambda L: (lambda x: (getattr(L, op)(x), [x]))(leaf(L, vals)))
    check(lambda L: (lambda x: (getattr(L, op)(x.t()), [x]))(leaf(L, vals, "float64")), order2=True)


# ---- cosine_similarity with a zero vector --------------------------------------------------------------------
def test_cosine_similarity_zero_vector():
    # Before: the norm's gradient was 0/0 = NaN for an all-zero slice; PyTorch's clamps the norm to eps
    # under no_grad, so the gradient is x / eps-scaled and finite.
    def fn(L):
        a = leaf(L, [[1.0, 2.0, 0.5, 3.0], [3.0, 4.0, -1.0, 2.0], [0.5, -2.0, 2.0, 1.0]])
        b = leaf(L, [[0.0, 1.0, 2.0, 0.0], [0.0, 2.0, 3.0, 0.0], [0.0, 1.0, 1.0, 0.0]])
        return L.nn.functional.cosine_similarity(a, b, dim=0), [a, b]
    check(fn, rtol=1e-5, atol=1e-4)
    check(fn, order2=True, rtol=1e-4, atol=1e-4)
    gradcheck(lambda a, b: flambeau.nn.functional.cosine_similarity(a, b, dim=1),
              [[1.0, 2.0, 0.5], [3.0, 4.0, -1.0]], [[0.3, 1.0, 2.0], [-1.0, 2.0, 3.0]])


def test_cosine_similarity_refuses_complex():
    for L in (torch, flambeau):
        with pytest.raises(RuntimeError, match="floating point"):
            L.nn.functional.cosine_similarity(L.ones(2, 3, dtype=L.complex64), L.ones(2, 3), dim=1)


def test_floor_division_gradient_is_zero():
    # Before: x.div_(y, rounding_mode='floor') kept x's history, so the gradient passed through it
    # unchanged (PyTorch: zeros), and div(x, 2., rounding_mode='floor') did not require grad.
    def fn(L):
        x = leaf(L, [3.0, 4.0, 5.0])
        return x.clone().div_(L.tensor([2.0, 3.0, -1.0], dtype=L.float16), rounding_mode="floor"), [x]
    check(fn)
    check(lambda L: (lambda x: (L.div(x, 2.0, rounding_mode="floor"), [x]))(leaf(L, [3.0, -4.0, 5.0])))
    check(lambda L: (lambda x, y: (L.div(x, y, rounding_mode="floor"), [x, y]))(leaf(L, [3.0, -4.0]), leaf(L, [2.0, 0.0])))


def test_remainder_fmod_second_order():
    # Before (with floor_divide's backward raising): remainder's backward used floor_divide for the
    # quotient; both now use div's rounding modes, whose derivative is zero as in PyTorch.
    for op in ("remainder", "fmod"):
        def fn(L):
            x = leaf(L, [3.5, -2.25, 7.0, 1.0])
            y = leaf(L, [2.0, 1.5, -3.0, 0.0])
            return getattr(L, op)(x, y), [x, y]
        check(fn, order2=True)


@pytest.mark.parametrize("code", ["L.floor_divide(x, 2.0)", "x // x", "x.clone().floor_divide_(L.tensor([2.0, 3.0]))"])
def test_floor_divide_result_requires_grad_and_backward_raises(code):
    # Before: the result did not require grad; and floor_divide_ kept self's history (the gradient went
    # through it unchanged). PyTorch: requires grad, and backward raises (no derivative).
    for L in (torch, flambeau):
        r = eval(code, {"L": L, "x": leaf(L, [3.0, -4.0])})
        assert r.requires_grad
        with pytest.raises(RuntimeError, match="floor_divide"):
            r.sum().backward()


@pytest.mark.parametrize("pos_weight", [None, [2.0, 0.5, 1.0, 3.0]])
def test_bce_with_logits_double_backward_at_zero(pos_weight):
    # Before: under create_graph=True the first-order gradient at a logit of exactly 0 was -target
    # (clamp's and abs's subgradients in the composite) instead of sigmoid(0) - target.
    def fn(L):
        x = leaf(L, [[3.0, -4.0, 0.0, 2.0], [0.0, 0.0, 1.0, -1.0]], "float64")
        pw = None if pos_weight is None else L.tensor(pos_weight, dtype=L.float64)
        t = L.tensor([[0.5, 1.0, 2.0, 0.3], [0.0, 1.0, 0.5, 0.5]], dtype=L.float64)
        return L.nn.functional.binary_cross_entropy_with_logits(x, t, pos_weight=pw), [x]
    check(fn, order2=True, rtol=1e-10, atol=1e-12)
    t = flambeau.tensor([[0.5, 1.0, 0.2]], dtype=flambeau.float64)
    assert flambeau.autograd.gradgradcheck(lambda x: flambeau.nn.functional.binary_cross_entropy_with_logits(x, t),
                                           (flambeau.tensor([[0.0, 1.5, -2.0]], dtype=flambeau.float64,
                                                            requires_grad=True),), eps=1e-6, atol=1e-5, rtol=1e-3)


# ---- second order at the kink of elu / softplus --------------------------------------------------------------
# Before: the derivative formulas' negative branch was differentiated at x == 0 too (elu: alpha * exp(0);
# softplus at x * beta == threshold), where PyTorch's double backwards mask with x < 0 (< threshold).
@pytest.mark.parametrize("code", ["F.elu(x, alpha=-1.0)", "F.elu(x, alpha=0.5)", "F.selu(x)", "F.celu(x, alpha=2.0)",
                                  "F.softplus(x, beta=-2, threshold=0)", "F.softplus(x, beta=2, threshold=1)",
                                  "F.elu(x.clone(), alpha=0.5, inplace=True)"])
def test_activation_second_order_at_kink(code):
    def fn(L):
        x = leaf(L, [-2.0, -1.0, 0.0, 0.5, 1.0, 3.0])
        return eval(code, {"F": L.nn.functional, "x": x}), [x]
    check(fn, order2=True)


# ---- complex gradients through real-looking nodes ------------------------------------------------------------
@pytest.mark.parametrize("code", ["L.sub(x, y)", "L.rsub(x, y)", "L.div(x, y)", "L.nn.functional.l1_loss(x, y)"])
@pytest.mark.parametrize("shape", [(3, 0), (2, 3)])
def test_mixed_real_complex_backward(code, shape):
    # Before: a complex grad_output reaching the real op's backward (neg(g), ...) raised "neg: not
    # implemented for dtype complex64" (second order, or an empty operand).
    def fn(L):
        rng = np.random.default_rng(3)
        x = leaf(L, rng.standard_normal(shape) + 3.0)
        y = L.tensor((rng.standard_normal(shape) + 1j * rng.standard_normal(shape) + 2).astype(np.complex64))
        y.requires_grad_()
        return eval(code, {"L": L, "x": x, "y": y}), [x, y]
    if code.startswith("L.nn") and shape == (2, 3):
        check(fn, rtol=1e-5, atol=1e-6)
        return
    check(fn, order2=True, rtol=1e-5, atol=1e-6)


# ---- 0-d inputs of gather / cummax / cummin ------------------------------------------------------------------
@pytest.mark.parametrize("code", ["L.gather(x, -1, L.tensor(0))", "L.cummax(x, 0)[0]", "L.cummin(x, 0)[0]",
                                  "x.scatter_add(0, L.tensor(0), x * 2)"])
def test_zero_dim_scatter_add_backward(code):
    # Before: their backward's scatter_add_ refused a 0-d self ("expected a tensor with at least one dim").
    check(lambda L: (lambda x: (eval(code, {"L": L, "x": x}), [x]))(leaf(L, 1.5)))


def test_nextafter_gradient():
    # Before: backward raised "the derivative for 'nextafter' is not implemented" (older PyTorch's);
    # PyTorch 2.x: grad for input, zeros for other.
    def fn(L):
        x = leaf(L, [[1.0, 2.0, -3.0]])
        y = leaf(L, [[3.0, 2.0, -3.0], [0.0, 0.0, 0.0]])  # where x == y the result is y: gradient 0
        return L.nextafter(x, y), [x, y]
    check(fn)
    check(fn, order2=True)
    check(lambda L: (lambda x: (x.clone().nextafter_(L.tensor([0.0, 5.0])), [x]))(leaf(L, [1.0, 2.0])))


def test_group_norm_empty_batch_double_backward():
    # Before: the composite backward reshaped to (0, G, -1), ambiguous for an empty batch.
    def fn(L):
        x = leaf(L, np.zeros((0, 4, 5, 5)))
        w = leaf(L, [1.0, 2.0, 0.5, -1.0])
        return L.nn.functional.group_norm(x, 2, w), [x, w]
    check(fn, order2=True)


@pytest.mark.parametrize("layout, size, stride, offset", [
    ("t", (3, 3), (1, 2), 0), ("s", (2, 2), (3, 1), 2), ("e", (3, 4), (1, 1), 0), ("c", (4, 4), (0, 1), 0),
    ("s", (0, 3), (1, 1), 0), ("c", (3, 2), (2, 1), 1)])
@pytest.mark.parametrize("dtype", ["float32", "complex64"])
def test_as_strided_backward_any_layout(layout, size, stride, offset, dtype):
    # Before: "as_strided: backward is only supported for contiguous inputs" for the transposed,
    # sliced and expanded ones.
    def fn(L):
        b = leaf(L, np.arange(24.0).reshape(4, 6) / 7, dtype)
        x = {"c": b, "t": b.t(), "s": b[:, ::2], "e": b[:1, :4].expand(5, 4)}[layout]
        return L.as_strided(x, size, stride, offset), [b]
    check(fn, rtol=1e-6, atol=1e-6)


def test_xlogy_scalar_self_and_complex():
    # xlogy(2.0, y) raised AttributeError (the number went to eq() as is) and, with y requiring grad,
    # would have bypassed the gradient; complex operands: PyTorch has no xlogy for them (under autograd
    # the new Function computed one).
    check(lambda L: (lambda y: (L.xlogy(2.0, y), [y]))(leaf(L, [0.5, 2.0, 0.0])))
    for L in (torch, flambeau):
        for a, b in ((L.tensor([1 + 1j]), L.tensor([1.0])), (leaf(L, [1.0]), L.tensor([2j]).requires_grad_())):
            with pytest.raises(NotImplementedError, match="xlogy"):
                L.xlogy(a, b)


# ---- session 19, round 2 (seeds 10-13) -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_xlogy_number_exponent_nan_masks_zero_input(dtype):
    # Before: xlogy(x, nan) with a Python number gave a NaN gradient where x == 0; PyTorch's Scalar_Other
    # derivative masks x == 0 unless other > 0 (a NaN tensor `other` still gives NaN there).
    for y in (float("nan"), 0.0, -1.0, float("inf"), 2.5):
        check(lambda L: (lambda x: (L.xlogy(x, y), [x]))(leaf(L, [0.0, 1.5, -0.0, 0.3], dtype)))
        check(lambda L: (lambda x: (L.xlogy(x, L.tensor(y, dtype=getattr(L, dtype))), [x]))(
            leaf(L, [0.0, 1.5, -0.0, 0.3], dtype)))
    gradcheck(lambda x: flambeau.xlogy(x, 2.5), [0.5, 1.5, -2.0])


def test_clamp_tensor_bound_gradient_keeps_input_dtype():
    # Before: a float64 bound on a float32 input gave the input a float64 gradient (ClampTensor is _builtin:
    # the engine does not cast, and g has the promoted dtype).
    def fn(L):
        x = leaf(L, [[0.5, -1.0, 2.0, 0.1]])
        lo = leaf(L, [0.2], "float64")
        hi = leaf(L, [1.5, 1.5, 1.5, 1.5], "float64")
        return [L.clamp(x, lo, None), L.clamp(x, None, hi), L.clamp(x, lo, hi)], [x, lo, hi]
    check(fn)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sinc_gradient_near_zero(dtype):
    # Before: the composite's chain rule cancelled near 0 (float32 at x = 8.2e-5: +1.5e-3 where the
    # derivative is -2.7e-4 and PyTorch's float32 formula gives 0). float64 matches PyTorch bit for bit;
    # float32 is now evaluated in float64 and rounded once (within 5e-4 of PyTorch's there).
    pts = [8.196408e-05, 0.0, 0.5, -1.3, 2.0, 1e-3, -3.25]
    check(lambda L: (lambda x: (L.sinc(x), [x]))(leaf(L, pts, dtype)), rtol=1e-5, atol=5e-4)
    if dtype == "float64":
        check(lambda L: (lambda x: (L.sinc(x), [x]))(leaf(L, pts[2:], dtype)), order2=True, rtol=1e-9, atol=1e-12)
    gradcheck(flambeau.sinc, [0.5, -1.3, 2.0, 1e-3])
    x = flambeau.tensor([8.196408e-05], requires_grad=True)
    flambeau.sinc(x).backward()
    assert abs(float(x.grad) - (-np.pi ** 2 * 8.196408e-05 / 3)) < 1e-8


def test_prod_half_dtype_of_zero_dim_tensor():
    # Before: prod(x0d, dim=0, dtype=float16) raised ZeroDivisionError (dim % ndim with ndim 0) in backward.
    for dim in (0, -1):
        check(lambda L: (lambda x: (L.prod(x, dim=dim, dtype=L.float16), [x]))(leaf(L, 0.7)), rtol=1e-3, atol=1e-3)


def test_pow_empty_complex_base_tensor_exponent():
    # Before: the backward compared the complex exponent with 0 (eq/ge have no complex kernels):
    # TypeError "eq: not implemented for dtype complex64".
    def fn(L):
        x = leaf(L, np.zeros(0), "complex64")
        e = leaf(L, [1.0], "complex64")
        return L.pow(x, e), [x, e]
    check(fn)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pow_tensor_exponent_grad_multiplies_outside_mask(dtype):
    # Before: d/db was where(a == 0 & b >= 0, 0, g * out * log a): a NaN / inf g (the second-order pass
    # brings 0 * log(0) = NaN through the mask's own backward) gave 0 where PyTorch's
    # g * where(mask, 0, out * log a) gives NaN; the products are also in PyTorch's order now.
    def fn(L):
        a = leaf(L, [0.0, 2.0, 0.0, 1.5, 3.0, 0.0], dtype)
        b = leaf(L, [1.5, 0.5, 0.0, -1.0, 2.2, 2.0], dtype)
        return L.pow(a, b), [a, b]
    check(fn, order2=True, rtol=1e-5)
    check(lambda L: (lambda b: (L.pow(L.tensor([0, 2, 3, 0]), b), [b]))(leaf(L, [1.0, 0.5, 2.0, 0.3], dtype)),
          order2=True, rtol=1e-5)
    check(lambda L: (lambda b: (L.float_power(L.tensor([0, 2, 3]), b), [b]))(leaf(L, [1.0, 0.5, 2.0], "float64")),
          order2=True)
    # an inf grad_output at a == 0, first order
    for L in (torch, flambeau):
        b = leaf(L, [1.0, 2.0], dtype)
        L.pow(L.tensor([0.0, 2.0], dtype=getattr(L, dtype)), b).backward(L.tensor([float("inf"), 1.0],
                                                                                  dtype=getattr(L, dtype)))
        assert np.isnan(_np(b.grad)[0])
    gradcheck(lambda a, b: flambeau.pow(a, b), [0.5, 2.0, 1.5], [1.5, -0.5, 2.2])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logaddexp_second_order_at_ties(dtype):
    # Before: logaddexp was the composite max(a, b) + log1p(exp(-|a - b|)), kinked where a == b: its second
    # order was 0 there (PyTorch's g / (1 + exp(b - a)) gives g/4-scaled curvature), and logcumsumexp (a
    # logaddexp scan) inherited it at tied inputs (fuzz seed 13 #11043).
    def fn(L):
        a = leaf(L, [-3.0, 1.0, 0.5, 2.0], dtype)
        b = leaf(L, [-3.0, 2.0, 0.5, -1.0], dtype)
        return L.logaddexp(a, b), [a, b]
    check(fn, order2=True, rtol=1e-5)
    check(lambda L: (lambda x: (L.logcumsumexp(x, 0), [x]))(
        leaf(L, [[-3.0, 0.0, 1.0], [-3.0, 1.0, 1.0], [-4.0, 2.0, 1.0]], dtype)), order2=True, rtol=1e-5)
    check(lambda L: (lambda a: (L.logaddexp(a, L.tensor(2.0, dtype=getattr(L, dtype))), [a]))(
        leaf(L, [2.0, float("inf"), -float("inf")], dtype)))
    gradcheck(lambda a, b: flambeau.logaddexp(a, b), [-3.0, 1.0, 0.5], [-3.0, 2.0, 0.5])


@pytest.mark.parametrize("dim", [0, 1, -1, None])
def test_prod_with_zeros_second_order(dim):
    # Before: with a zero in the slice the other elements' gradients were a constant 0 and the zero's a
    # masked product, so second order lost d(grad_j)/d(x_zero) = prod of the rest (fuzz seed 13 #4150).
    # PyTorch's prod_safe_zeros_backward (exclusive cumprods from both ends) is used now.
    def fn(zeros):
        def f(L):
            a = np.arange(1.0, 13.0).reshape(3, 4) / 3 - 1.5
            for z in zeros:
                a[z] = 0.0
            x = leaf(L, a, "float64")
            return (L.prod(x) if dim is None else L.prod(x, dim)), [x]
        return f
    for zeros in ([(1, 1)], [(1, 1), (2, 2)], [(0, 0), (0, 3), (2, 1)]):
        check(fn(zeros), rtol=1e-12, atol=1e-12)
        check(fn(zeros), order2=True, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("code", ["L.amax(x, 0)", "L.amax(x, 1)", "L.amin(x, 1, keepdim=True)", "L.amax(x)",
                                  "x.max()", "x.min()", "x[1].max()", "L.aminmax(x, dim=1)", "L.aminmax(x)"])
def test_amax_amin_max_gradient_with_nan(code):
    # Before: a slice whose result is NaN gave 0 gradients. PyTorch: amax/amin (and aminmax) scale by count,
    # (g / count) * mask, NaN across such a slice (count 0); max()/min() share g among the NaNs.
    nan = float("nan")
    a = [[1.0, nan, 3.0, 3.0], [2.0, 5.0, 5.0, -1.0], [nan, nan, 0.0, 1.0]]
    check(lambda L: (lambda x: (eval(code, {"L": L, "x": x}), [x]))(leaf(L, a, "float64")))


def test_complex_std_of_constant_slice_has_zero_gradient():
    # Before: complex std was sqrt(var(Re) + var(Im)) composed, so a constant slice (std 0) got
    # g / 0 * 0 = NaN; PyTorch's std_backward takes 0 there (fuzz seed 11 #25, std_mean of an expanded view).
    def fn(L):
        x = L.tensor(np.array([[1.5 + 0.5j, 2 - 1j, 0.3j], [1 + 1j, 1 + 1j, 1 + 1j]])).to(L.complex64).requires_grad_()
        return [L.std(x, 1), L.std_mean(x, dim=1)[0], L.std(x[1])], [x]
    check(fn)
    check(lambda L: (lambda x: (L.std(x, 1), [x]))(leaf(L, [[1.5, 2.0, 0.3], [1.0, -1.0, 2.0]], "complex128")),
          order2=True, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------------
# Session 20 (fuzz seeds 30-33): "None / requires_grad on one side only" (class n) and second order.

def check_flags(fn):
    """Both libraries agree on which first-order gradients (create_graph=True, constant grad_output)
    require grad, and on both orders' values (check(order2=True))."""
    flags = []
    for L in (torch, flambeau):
        outs, leaves = fn(L)
        outs = [o for o in (outs if isinstance(outs, (tuple, list)) else (outs,)) if o.requires_grad]
        g1 = L.autograd.grad(outs, leaves, [_seeded(L, o, 7 + k) for k, o in enumerate(outs)], create_graph=True,
                             allow_unused=True)
        flags.append([g is not None and g.requires_grad for g in g1])
    assert flags[0] == flags[1], f"first-order grads' requires_grad {flags[0]} vs {flags[1]}"
    check(fn, order2=True, rtol=1e-5, atol=1e-6)


_RNG20 = np.random.default_rng(20)
_X4 = _RNG20.standard_normal((2, 3, 5, 6))
_X5 = _RNG20.standard_normal((1, 2, 4, 5, 6))
_X3 = _RNG20.standard_normal((2, 3, 7))
_SECOND_ORDER_LINKED = {
    # Before: the gradient is linear in grad_output, and ours was computed from it alone, so under
    # create_graph=True with a constant grad_output it did not require grad; PyTorch's backward kernels
    # take the input (max_pool2d_with_indices_backward(grad, self, ...), threshold_backward(grad, result, 0))
    # and give it a zero second-order gradient (fuzz seeds 30-33: ~150 cases).
    "max_pool2d": (_X4, lambda F, x: F.max_pool2d(x, 2)),
    "max_pool1d": (_X3, lambda F, x: F.max_pool1d(x, 3, stride=2)),
    "max_pool3d": (_X5, lambda F, x: F.max_pool3d(x, 2)),
    "avg_pool2d": (_X4, lambda F, x: F.avg_pool2d(x, 3, stride=2, padding=1)),
    "avg_pool1d": (_X3, lambda F, x: F.avg_pool1d(x, 2)),
    "avg_pool3d": (_X5, lambda F, x: F.avg_pool3d(x, 2)),
    "adaptive_avg_pool2d": (_X4, lambda F, x: F.adaptive_avg_pool2d(x, (None, 2))),
    "adaptive_avg_pool1d": (_X3, lambda F, x: F.adaptive_avg_pool1d(x, 2)),
    "adaptive_avg_pool3d": (_X5, lambda F, x: F.adaptive_avg_pool3d(x, 3)),
    "adaptive_max_pool2d": (_X4, lambda F, x: F.adaptive_max_pool2d(x, (2, 3))),
    "adaptive_max_pool3d": (_X5, lambda F, x: F.adaptive_max_pool3d(x, 2)),
    "interpolate_area": (_X4, lambda F, x: F.interpolate(x, size=(3, 4), mode="area")),
    "relu": (_X4, lambda F, x: x.relu()),  # (torch.relu; F.relu was already right)
    "pad_reflect": (_X4, lambda F, x: F.pad(x, (2, 2, 1, 1), mode="reflect")),
    "pad_replicate": (_X4, lambda F, x: F.pad(x, (2, 2, 1, 1), mode="replicate")),
    "pad_circular": (_X4, lambda F, x: F.pad(x, (2, 2, 1, 1), mode="circular")),
}


@pytest.mark.parametrize("name", sorted(_SECOND_ORDER_LINKED))
def test_first_order_gradient_requires_grad_under_create_graph(name, dtype="float64"):
    a, op = _SECOND_ORDER_LINKED[name]
    check_flags(lambda L: (lambda x: (op(L.nn.functional, x), [x]))(leaf(L, a, dtype)))
    # and with a grad_output that depends on x (a gradient penalty): both orders, and finite differences
    check(lambda L: (lambda x: ((op(L.nn.functional, x) ** 2).sum(), [x]))(leaf(L, a, dtype)), order2=True,
          rtol=1e-10, atol=1e-10)
    x = flambeau.tensor(a, requires_grad=True)
    assert flambeau.autograd.gradgradcheck(lambda t: op(flambeau.nn.functional, t), (x,))


def test_pad_backward_is_differentiable():
    # Before: reflect/replicate/circular pad's backward called the scatter kernel outside the graph, so a
    # gradient penalty through F.pad (grad_output depending on x) lost its second-order term silently.
    for mode in ("reflect", "replicate", "circular"):
        def fn(L, mode=mode):
            x = leaf(L, _X4[:1], "float64")
            w = leaf(L, np.linspace(-1, 1, 210).reshape(1, 3, 7, 10), "float64")
            y = L.nn.functional.pad(x, (2, 2, 1, 1), mode=mode)
            return ((y * w).sin().sum(),), [x, w]
        check(fn, order2=True, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("code", [
    "F.conv1d(x, w)", "F.conv2d(x4, w4)", "F.conv_transpose1d(x, w.transpose(0, 1))",
    "F.conv_transpose2d(x4, w4.transpose(0, 1), stride=2, output_padding=1)", "F.adaptive_avg_pool1d(x, 4)",
    "F.adaptive_avg_pool2d(x4, (None, 2))", "F.interpolate(x, scale_factor=0.5, mode='area')"])
def test_empty_batch_gradients_require_grad_under_create_graph(code):
    # Before: an empty batch joined the graph as x.sum() * 0, whose gradients never require grad; PyTorch's
    # come from convolution_backward(grad, input, weight) / adaptive_avg_pool2d_backward(grad, self): they
    # require grad, and differentiating them gives None (convolution) or zeros (pooling) (fuzz seeds 30-33).
    def fn(L):
        x, w = leaf(L, np.zeros((0, 3, 8)), "float64"), leaf(L, _RNG20.standard_normal((2, 3, 3)), "float64")
        x4, w4 = leaf(L, np.zeros((0, 3, 4, 5)), "float64"), leaf(L, _RNG20.standard_normal((2, 3, 2, 2)), "float64")
        leaves = [x, w] if "x4" not in code else [x4, w4]
        return eval(code, {"F": L.nn.functional, "x": x, "w": w, "x4": x4, "w4": w4}), leaves
    check_flags(fn)


@pytest.mark.parametrize("code", ["L.unique(x)", "L.unique(x, return_inverse=True, return_counts=True)",
                                  "L.unique(x, dim=0)", "L.unique_consecutive(x)", "x.unique(sorted=True)",
                                  "L.unique(L.arange(9000.0, requires_grad=True))"])
def test_unique_values_require_grad_and_backward_raises(code):
    # Before: unique's values never required grad; PyTorch's do (derivatives.yaml: not_implemented), so
    # backward reaches the op and raises naming it (fuzz seeds 30-33: 227 cases).
    errs = []
    for L in (torch, flambeau):
        x = leaf(L, [[1.0, 2.0, 2.0], [0.5, 2.0, 1.0]])
        r = eval(code, {"L": L, "x": x})
        r = r if isinstance(r, tuple) else (r,)
        assert [t.requires_grad for t in r] == [True] + [False] * (len(r) - 1)
        with pytest.raises(NotImplementedError) as e:
            r[0].sum().backward()
        errs.append(str(e.value))
    assert errs[0] == errs[1]


@pytest.mark.parametrize("dim", [0, 1])
def test_cumprod_with_zeros_second_order(dim):
    # Before: with a zero in the input the create_graph gradient was the O(n) kernel's, outside the graph
    # (second order lost); PyTorch's O(n^2) formula is differentiable. A size-1 dim or one element: grad
    # itself, with no graph (fuzz seeds 30-33: 57 cases).
    a = [[1.5, 0.0, 2.0, -1.0, 0.5], [0.0, 3.0, 0.0, 2.0, 1.0], [0.5, -2.0, 1.5, 0.0, 3.0]]
    check_flags(lambda L: (lambda x: (L.cumprod(x, dim), [x]))(leaf(L, a, "float64")))
    check(lambda L: (lambda x: ((L.cumprod(x, dim) ** 2).sum(), [x]))(leaf(L, a, "float64")), order2=True,
          rtol=1e-10, atol=1e-10)
    assert flambeau.autograd.gradgradcheck(lambda t: flambeau.cumprod(t, dim),
                                           (flambeau.tensor(np.array(a), requires_grad=True),))
    check(lambda L: (lambda x: ((L.cumprod(x, dim) ** 2).sum(), [x]))(
        leaf(L, np.array(a) + 0.5j * np.array(a)[::-1], "complex128")), order2=True, rtol=1e-10, atol=1e-10)
    for shape in ((1, 5), (5, 1), (0, 3), ()):
        check_flags(lambda L: (lambda x: (L.cumprod(x, -1), [x]))(leaf(L, np.ones(shape) * 1.5, "float64")))


@pytest.mark.parametrize("shape,dtype", [((2, 1, 1), "float64"), ((2, 3, 1, 1), "complex64"), ((0, 0), "float64"),
                                         ((0, 3, 3), "float32"), ((0, 0, 0), "complex64")])
def test_det_degenerate_shapes(shape, dtype):
    # Before: 1x1 and empty matrices gave gradients inside the graph (PyTorch: grad itself / empty, no
    # graph); complex det of 0x0 matrices did not require grad (fuzz seeds 30-33: 23 cases).
    check_flags(lambda L: (lambda x: (L.linalg.det(x), [x]))(leaf(L, np.full(shape, 0.75), dtype)))


def test_norm_ord0_in_graph():
    # Before: vector_norm(ord=0) did not require grad, so normalize(p=0)'s gradient (input / count) did not
    # under create_graph=True; PyTorch's count is in the graph with no gradient of its own.
    check(lambda L: (lambda x: (L.linalg.vector_norm(x, ord=0), [x]))(leaf(L, _X3[0], "float64")))
    check_flags(lambda L: (lambda x: (L.nn.functional.normalize(x, p=0, dim=0), [x]))(leaf(L, _X3[0], "float64")))


@pytest.mark.parametrize("code,shape", [("L.logcumsumexp(x, 1)", (4, 1)), ("L.logcumsumexp(x, 0)", (3, 0)),
                                        ("L.cummax(x, 0)[0]", (3, 0)), ("L.cummin(x, -1)[0]", (0,)),
                                        ("L.median(x)", (3, 0)), ("L.nanmedian(x)", (0,)),
                                        ("L.prod(x, dim=-1, keepdim=True)", ()), ("L.prod(x)", ()),
                                        ("L.median(x, dim=1)[0]", (0, 3)), ("L.cummax(x, 1)[0]", (0, 3))])
def test_scans_and_medians_of_degenerate_shapes(code, shape):
    # Before: logcumsumexp along a size-1 dim, cummax/cummin of empty inputs: gradient outside the graph
    # (PyTorch's reads self: inside); logcumsumexp of empty: inside (PyTorch: grad itself); median of empty:
    # result did not require grad; prod of a 0-d input: gradient inside the graph (PyTorch: grad itself).
    check_flags(lambda L: (lambda x: (eval(code, {"L": L, "x": x}), [x]))(leaf(L, np.full(shape, 0.25), "float64")))


def test_zero_gradients_where_pytorch_gives_them():
    # Before: None where PyTorch gives zeros: masked_scatter's source with an all-False mask, addmm's input
    # with beta=0 (grad * beta: NaN where grad is NaN), scatter_add's src with an empty index, cat's skipped
    # 1-d empty inputs.
    def fn(L):
        x, s = leaf(L, _X4[0, 0]), leaf(L, np.arange(64.0))
        m = L.zeros(1, dtype=L.bool)
        i, a, b = leaf(L, [1.0, 2.0]), leaf(L, _X4[0, 1, :3, :4]), leaf(L, _X4[0, 2, :4, :2])
        e, c = leaf(L, np.zeros(0)), leaf(L, np.zeros((3, 0)))
        v, src = leaf(L, np.arange(6.0)), leaf(L, np.zeros((3, 0)))
        idx = L.zeros((3, 0), dtype=L.int64)
        return [x.masked_scatter(m, s), L.addmm(i, a, b, beta=0), L.cat([c, e], 1), L.scatter_add(v, 0, idx, src)], \
            [x, s, i, a, b, e, c, v, src]
    check(fn)


def test_results_in_graph_where_pytorch_has_them():
    # Before: these results did not require grad (or did where PyTorch's do not): qr(mode='r')'s empty Q,
    # irfft of an empty spectrum, scalar // tensor, grid_sample on an empty batch of mixed dtypes,
    # hstack of 1-d empties, matrix_norm of empty matrices.
    for code in ["[t.abs() for t in L.linalg.qr(x[:1], mode='r')]", "L.fft.irfft(z, n=4)", "2 // x",
                 "L.nn.functional.grid_sample(L.zeros(0, 1, 2, 3, dtype=L.bfloat16), g, align_corners=False)",
                 "L.hstack([e, e])", "L.linalg.matrix_norm(L.zeros(2, 0, 0) * x.sum(), ord=1)",
                 "L.linalg.matrix_norm(L.zeros(0, 3) * x.sum(), ord=float('inf'))",
                 "L.linalg.matrix_norm(L.zeros(2, 0, 3) * x.sum(), ord=2)",
                 "L.linalg.matrix_norm(L.zeros(0, 1, 1) * x.sum(), ord=2)",
                 "L.linalg.matrix_norm(L.zeros(2, 0, 0, dtype=L.complex64) * x.sum(), ord=1)"]:
        req = []
        for L in (torch, flambeau):
            x, e, g = leaf(L, [[1.0, 2.0], [3.0, 4.0]]), leaf(L, np.zeros(0)), leaf(L, np.zeros((0, 2, 3, 2)))
            z = L.zeros(0, dtype=L.complex64).requires_grad_()
            r = eval(code, {"L": L, "x": x, "e": e, "g": g, "z": z})
            req.append([t.requires_grad for t in (r if isinstance(r, list) else [r])])
        assert req[0] == req[1], f"{code}: {req[0]} vs {req[1]}"


def test_complex_wide_qr_gradient():
    # Before: NotImplementedError; now PyTorch's wide-case formula (trilImInvAdjSkew with the imaginary
    # diagonal halved).
    a = _RNG20.standard_normal((2, 3, 5)) + 1j * _RNG20.standard_normal((2, 3, 5))
    for mode in ("reduced", "complete"):
        check(lambda L: (lambda x: (list(L.linalg.qr(x, mode=mode)), [x]))(leaf(L, a, "complex128")),
              rtol=1e-10, atol=1e-10)


def test_relu_create_graph_gradient_at_nan_and_inf():
    # Before: the create_graph path was grad * (result > 0): 0 at a NaN input (PyTorch's threshold_backward
    # passes grad there) and NaN for an inf grad at a negative input.
    def fn(L):
        x = leaf(L, [-1.0, 0.0, 2.0, float("nan")])
        return L.relu(x) * L.tensor([float("inf"), 1.0, 3.0, 4.0]), [x]
    check_flags(fn)


@pytest.mark.parametrize("n", [1, 3])
def test_complex_eigvalsh_second_order(n):
    # Before: complex eigvalsh was the real eigvalsh of the 2n x 2n embedding, whose eigenvalues come in
    # equal pairs: its second order divided by their zero differences (NaN; fuzz seeds 30-33: 13 cases).
    # It goes through the complex eigh now, whose eigenvectors are saved as outputs (differentiated again).
    a = _RNG20.standard_normal((2, n, n)) + 1j * _RNG20.standard_normal((2, n, n))  # read from one triangle
    check(lambda L: (lambda x: (L.linalg.eigvalsh(x), [x]))(leaf(L, a, "complex128")), order2=True, rtol=1e-9,
          atol=1e-9)
    check(lambda L: (lambda x: (L.linalg.eigvalsh(x, UPLO="U") ** 2, [x]))(leaf(L, a, "complex128")), order2=True,
          rtol=1e-9, atol=1e-9)


# ---- session 21 (helper grads4): second order of prelu and of the 2-norm at zero

def _orders3(lib, fn, arrays, dtype="float64"):
    """First, second and third order gradients of fn(*leaves) (seeded grad_outputs), and which require grad."""
    xs = [leaf(lib, a, dtype) for a in arrays]
    out = fn(lib, *xs)
    g1 = lib.autograd.grad(out, xs, _seeded(lib, out, 1), create_graph=True, allow_unused=True)
    live = [g for g in g1 if g is not None and g.requires_grad]
    g2 = lib.autograd.grad(live, xs, [_seeded(lib, g, 2 + k) for k, g in enumerate(live)], create_graph=True,
                           allow_unused=True)
    l3 = [g.abs().sum() for g in g2 if g is not None and g.requires_grad]
    g3 = lib.autograd.grad(l3, xs, allow_unused=True) if l3 else []
    return [[None if g is None else _np(g) for g in gs] for gs in (g1, g2, g3)], [g.requires_grad for g in live]


def check_orders(fn, arrays, dtype="float64", tol=1e-12):
    want, want_rg = _orders3(torch, fn, arrays, dtype)
    got, got_rg = _orders3(flambeau, fn, arrays, dtype)
    assert got_rg == want_rg
    for order, (ws, gs) in enumerate(zip(want, got), 1):
        assert [w is None for w in ws] == [g is None for g in gs], f"order {order}"
        for w, g in zip(ws, gs):
            if w is not None:
                np.testing.assert_allclose(g, w, rtol=tol, atol=tol, equal_nan=True, err_msg=f"order {order}")


_PRELU_X = np.array([[[-2.0, 0.0, 1.5], [0.0, -1.0, 3.0]], [[0.5, -0.5, 0.0], [2.0, 0.0, -3.0]]])


@pytest.mark.parametrize("wshape", [(1,), (2,)])
def test_prelu_second_order_at_zero(wshape):
    # Before: the create_graph backward was where(x > 0, g, w g) differentiated, so at x == 0 the second
    # order took the negative side; PyTorch's _prelu_kernel_backward derivatives test x >= 0 (fuzz seed 31
    # #3335, 32 #3815). The first order keeps the kernel's values (x > 0) under create_graph.
    w = np.linspace(0.1, 0.4, wshape[0])
    check_orders(lambda L, x, a: L.nn.functional.prelu(x, a), [_PRELU_X, w])
    check_orders(lambda L, x, a: L.nn.functional.prelu(x, a), [_PRELU_X[0, 0], w[:1]])  # 1-D input
    x = flambeau.tensor(_PRELU_X + 0.25, requires_grad=True)  # away from the kink
    a = flambeau.tensor(w, requires_grad=True)
    assert flambeau.autograd.gradgradcheck(lambda x, a: flambeau.nn.functional.prelu(x, a), (x, a))


_ZERO_ROW = np.array([[0.3, -1.2, 2.0, 0.5], [0.0, 0.0, 0.0, 0.0], [1.5, 0.25, -0.75, 1.0]])


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
@pytest.mark.parametrize("dim", [0, 1])
def test_normalize_second_order_at_zero_slice(dtype, dim):
    # Before: normalize's 2-norm under autograd was sqrt(clamp(sum(x * x), eps^2)), whose second order at an
    # all-zero slice is 0; PyTorch's is norm(x).clamp_min(eps) with norm_backward
    # grad * (x / norm).masked_fill_(norm == 0, 0), which gives NaN there (fuzz seed 30 #14192). And a float32
    # zero slice got NaN at first order (the float32 range fix's sqrt(0) carried the gradient).
    a = _ZERO_ROW.astype(np.complex128) * (1 + 0.5j) if dtype == "complex128" else _ZERO_ROW
    check_orders(lambda L, x: L.nn.functional.normalize(x, p=2, dim=dim), [a], dtype,
                 1e-5 if dtype == "float32" else 1e-12)
    x = flambeau.tensor(_ZERO_ROW + 0.5, requires_grad=True)
    assert flambeau.autograd.gradgradcheck(lambda x: flambeau.nn.functional.normalize(x, p=2, dim=dim), (x,))


def test_vector_norm_float32_gradient_reads_pytorch_norm():
    # Before: the gradient divided by the float64-accumulated norm (x / 2.2e-30) where PyTorch's float32 norm
    # underflows to 0 and its gradient is masked to 0; and it was x * (g / norm), not PyTorch's g * (x / norm).
    a = [[1e-30, 2e-30, 0.0], [3e-20, 4e-20, 0.0], [0.0, 0.0, 0.0], [1e-3, 2.0, 3.0], [1e30, 1.0, 1.0]]
    check(lambda L: (lambda x: (L.linalg.vector_norm(x, 2, 1), [x]))(leaf(L, a)), rtol=0, atol=0)
    check(lambda L: (lambda x: (L.linalg.vector_norm(x, 2, 1), [x]))(leaf(L, a)), order2=True, rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_digamma_and_lgamma_derivatives_at_poles(dtype):
    # Before: digamma's derivative was the trigamma kernel (inf at the negative integers) where PyTorch's is
    # polygamma(1, x), large and finite there (1.29e15 at -1 in float32; fuzz seeds 41-43: digamma 5 cases,
    # lgamma second order 2); and polygamma(1, x)'s own derivative at a pole was NaN (a where() over the
    # kernel's inf) where PyTorch's is polygamma(2, x) = -inf.
    a = [-1.0, -2.0, 0.0, -3.0, 2.5, -2.0000001, 7.0]
    check(lambda L: (lambda x: (L.digamma(x), [x]))(leaf(L, a, dtype)), order2=True, rtol=1e-6, atol=0)
    check(lambda L: (lambda x: (L.lgamma(x), [x]))(leaf(L, a, dtype)), order2=True, rtol=1e-6, atol=0)
    check(lambda L: (lambda x: (L.polygamma(1, x), [x]))(leaf(L, a, dtype)), order2=True, rtol=1e-6, atol=0)


@pytest.mark.parametrize("code", [
    # Before: nll_loss's create_graph gradient (the composed loss's, linear in the input) did not require grad
    # where PyTorch's nll_loss_backward(grad, self, ...) does, with a zero second order (fuzz seeds 41-43: 7)
    "L.nn.functional.nll_loss(x[0, 0, 0, :4], L.tensor(2), ignore_index=1)",
    "L.nn.functional.nll_loss(x[0, 0, :3, :4], L.tensor([0, 3, 1]))",
    # Before: complex prod over an empty dim did not require grad (seed 42 #11106)
    "L.prod(x[:, :, :0].to(L.complex64), dim=-2)",
    "L.prod(x[:, :0].to(L.complex64))",
])
def test_session21_degenerate_second_order_flags(code):
    check_flags(lambda L: (lambda x: ([eval(code, {"L": L, "x": x})], [x]))(leaf(L, _X4, "float64")))


@pytest.mark.parametrize("code", [
    # Before: an empty index of another dtype or rank returned a clone with no path to src, whose PyTorch
    # gradient is (empty) zeros (fuzz seeds 40-43: 6 cases)
    "L.scatter_reduce(x, -1, L.zeros(0, 3, dtype=L.int64), s, 'sum', include_self=False)",
    "L.scatter_reduce(x, 0, L.zeros(0, 3, dtype=L.int32), s, 'amax')",
    # Before: complex cumprod of one or no element had a differentiable first order where PyTorch's backward
    # returns grad itself (seed 43 #8930)
    "L.cumprod(z[:, :0], -2)", "L.cumprod(z[:1, :1], 1)",
])
def test_session21_degenerate_leaves(code):
    def fn(L):
        x, s = leaf(L, _X3[0, 0, :6], "float64"), leaf(L, np.zeros((0, 3)), "float64")
        z = leaf(L, _X3[0, :, :4] * (1 + 0.5j), "complex128")
        return [eval(code, {"L": L, "x": x, "s": s, "z": z})], [x, s, z]
    check_flags(fn)


@pytest.mark.parametrize("which", [(True, True), (True, False), (False, True)])
def test_grid_sample_empty_batch_mixed_dtypes_second_order(which):
    # Before: the input got a zero second-order gradient also when only it required grad (PyTorch's comes
    # through the grid's gradient only: None there; fuzz seed 43 #2120)
    def fn(L):
        x = L.zeros(0, 4, 2, 9, dtype=L.float64).requires_grad_(which[0])
        g = L.zeros(0, 2, 3, 2).requires_grad_(which[1])
        return L.nn.functional.grid_sample(x, g, align_corners=False), [t for t in (x, g) if t.requires_grad]
    check_flags(fn)


@pytest.mark.parametrize("src_shape,index_shape", [((1,), (0,)), ((3,), (0,)), ((2, 3), (1, 2)), ((2, 0), (0, 0))])
def test_scatter_add_src_gradient_of_a_smaller_index(src_shape, index_shape):
    # PyTorch's src gradient is gather(grad, dim, index), of the index's shape, which its engine sums to src's
    # shape where that broadcasts (src [1], index [0]: zeros) and refuses otherwise ("invalid gradient").
    # Before: an expand error in backward for the first (fuzz seed 42 #13263) and the gather's shape returned
    # for the others (seeds 40-41: class b).
    def fn(L):
        x = leaf(L, np.ones((3, 3)) if len(src_shape) == 2 else np.ones(3))
        s = leaf(L, np.ones(src_shape))
        return L.scatter_add(x, 0, L.zeros(index_shape, dtype=L.int64), s), [x, s]
    from fuzz_parity import check as fuzz_check
    fuzz_check(lambda L: [g.tolist() for g in _grads(fn, L)[0]],
               lambda t, f: None if t == f else pytest.fail(f"{t} vs {f}"),
               r"^Function ScatterAddBackward0 returned an invalid gradient at index 1")


@pytest.mark.parametrize("e", [2 ** 40, 2 ** 40 + 1, -(2 ** 30) - 1])
def test_pow_gradient_with_a_huge_integer_exponent(e):
    # Before: e * x ** (e - 1) took the sign of an even exponent for odd e - 1 in float32 (fuzz seeds 41-43:
    # pow/pow_/pow_operator, 5 cases)
    check(lambda L: (lambda x: (x ** e, [x]))(leaf(L, [-1.5, -0.5, 0.5, 1.5, -1.0, 1.0])), order2=True, rtol=1e-6,
          atol=0)


def _exact(fn):
    """fn's first-order gradients in both libraries, the same bits (NaN where PyTorch has NaN)."""
    tg, _ = _grads(fn, torch)
    fg, _ = _grads(fn, flambeau)
    for t, f in zip(tg, fg):
        np.testing.assert_array_equal(_np(f), _np(t))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [3, 600, 40000])
def test_cumprod_gradient_overflowing_product(dtype, n):
    # the products overflow past ~n = 150 (float32): PyTorch's reversed_cumsum(g * y) / x gives inf - inf = NaN
    # there, our O(n) recurrence in double gave inf or a finite value; now PyTorch's formula, its bits
    def fn(lib):
        a = np.random.default_rng(n).uniform(0.1, 3.0, (n, 3)) * np.where(np.arange(3) == 1, -1, 1)
        x = lib.tensor(a).to(getattr(lib, dtype)).requires_grad_()
        return lib.cumprod(x, 0), [x]
    _exact(fn)


def test_inv_ex_gradient_of_singular_matrix():
    # -A^-T (g A^-T) in PyTorch's association: the other one, (A^-T g) A^-T, gave NaN where PyTorch has -inf
    def fn(lib):
        x = lib.tensor([[[0.0, -3.0, 4.0], [0.0, 2.0, -4.0], [0.0, 1.0, 1.0]]]).requires_grad_()  # (column 0 zero)
        return lib.linalg.inv_ex(x)[0], [x]
    _exact(fn)
