"""Regressions found by tools/fuzz_ops.py, class e (session 20): both libraries refuse, and flambeau's message
names the op the user called and the shapes or dtypes, in PyTorch's words where they are sensible.

Each case runs with lib=torch and lib=flambeau (tests/fuzz_parity.py's check): both must raise, flambeau's
message matching the pattern given. The comment on each case says what flambeau said before.
"""
import pytest

from fuzz_parity import check as fuzz_check


def refuses(fn, pattern):
    fuzz_check(fn, lambda t, f: pytest.fail(f"both returned: {t!r} / {f!r}"), pattern)


def test_embedding_index_type_in_pytorchs_words():
    # "... but got flambeau.float32 instead" (no op named)
    for dt, name in (("float32", "torch.FloatTensor"), ("float64", "torch.DoubleTensor"), ("bool", "CPUBoolType")):
        refuses(lambda L, dt=dt: L.nn.functional.embedding(L.zeros(2, dtype=getattr(L, dt)), L.zeros(3, 4)),
                rf"but got {name} instead \(while checking arguments for embedding\)$")


def test_affine_grid_theta_type():
    # "... but got flambeau.int32"
    refuses(lambda L: L.nn.functional.affine_grid(L.zeros(1, 2, 3, dtype=L.int32), (1, 1, 2, 2), align_corners=False),
            r"^Expected theta to have floating point type, but got torch.int32$")


def test_isclose_dtype_mismatch():
    # "flambeau.float32 did not match flambeau.int64"
    refuses(lambda L: L.isclose(L.zeros(2), L.zeros(2, dtype=L.int64)), r"^Float did not match Long$")
    refuses(lambda L: L.isclose(L.zeros(2, dtype=L.complex64), L.zeros(2)), r"^ComplexFloat did not match Float$")


def test_arange_randperm_and_overflow_words():
    # "upper bound and larger bound" (PyTorch 2.13: lower); "n must be non-negative, got-1"; "int32_t" where
    # PyTorch's c10 says "int"
    refuses(lambda L: L.arange(0, 5, -1), r"^upper bound and lower bound inconsistent with step sign$")
    refuses(lambda L: L.randperm(-1), r"randperm: n must be non-negative, got -1")
    refuses(lambda L: L.zeros(2, dtype=L.int32).masked_fill_(L.tensor([True, False]), 1e300),
            r"^value cannot be converted to type int without overflow$")
    refuses(lambda L: L.full((2,), 1 + 2j, dtype=L.int32), r"^value cannot be converted to type int without overflow$")


def test_out_and_in_place_dtype_refusals_give_shapes():
    # "result type ComplexFloat can't be cast to the desired output type Float" named no op or shape
    refuses(lambda L: L.rsqrt(L.ones(2, dtype=L.complex64), out=L.zeros(2)), r"out= of shape \[2\]")
    refuses(lambda L: L.neg(L.ones(2, 3), out=L.zeros(2, 3, dtype=L.int64)), r"out= of shape \[2, 3\]")
    refuses(lambda L: L.ones(3, 0, dtype=L.int32).true_divide_(L.ones(1, 4)), r"shape|size")
    refuses(lambda L: L.ones(2, dtype=L.int8).asin_(), r"asin_ into a tensor of shape \[2\]")
    refuses(lambda L: L.zeros(2, dtype=L.int8).clamp_(0.5), r"desired output type signed char$")


@pytest.mark.parametrize("call,pattern", [
    (lambda L, z: L.median(z), r"^\"median_cpu\" not implemented for 'ComplexFloat'$"),
    (lambda L, z: L.median(z, 0), r"^\"median_out\" not implemented for 'ComplexFloat'$"),
    (lambda L, z: L.nanmedian(z, 1), r"^\"median_out\" not implemented for 'ComplexFloat'$"),
    (lambda L, z: L.min(z), r"^\"min_all\" not implemented for 'ComplexFloat'$"),
    (lambda L, z: L.max(z, 1), r"^max\(\): does not support complex input$"),
    (lambda L, z: L.min(z, dim=0), r"^min\(\): does not support complex input$"),
    (lambda L, z: L.aminmax(z), r"^\"aminmax_cpu\" not implemented for 'ComplexFloat'$"),
    (lambda L, z: L.gt(z, z), r"^\"gt_cpu\" not implemented for 'ComplexFloat'$"),
    (lambda L, z: L.le(L.ones(2, 3), z), r"^\"le_cpu\" not implemented for 'ComplexFloat'$"),
    (lambda L, z: L.ones(2).lt_(1j), r"^\"lt_cpu\" not implemented for 'ComplexFloat'$"),
])
def test_complex_refusals_name_the_op_called(call, pattern):
    # median said "sort: not implemented for dtype complex64", min "max: ...", lt_ "a complex Python number
    # cannot become a scalar operand of a real op"
    refuses(lambda L: call(L, L.ones(2, 3, dtype=L.complex64)), pattern)


def test_bincount_checks():
    # numpy's "Cannot cast array data from dtype('float32') ...", "'minlength' must not be negative", "'list'
    # argument must have no negative elements"; a bool input was counted
    refuses(lambda L: L.bincount(L.tensor([1.0, 2.0])), r"^\"bincount_cpu\" not implemented for 'Float'$")
    refuses(lambda L: L.bincount(L.tensor([True])), r"^\"bincount_cpu\" not implemented for 'Bool'$")
    refuses(lambda L: L.bincount(L.tensor([1, 2]), minlength=-1), r"minlength should be >= 0")
    refuses(lambda L: L.bincount(L.tensor([1, -1])), r"^bincount only supports 1-d non-negative integral inputs.$")
    refuses(lambda L: L.bincount(L.tensor([[1, 2]])), r"bincount only supports 1-d .* shape \[1, 2\]")
    refuses(lambda L: L.bincount(L.tensor([1, 2]), weights=L.ones(3)), r"weights should be 1-d and have the same length")


def test_complex_and_polar_dtype_checks():
    # "got int64 and Double" (flambeau's name in PyTorch's sentence); polar said "Float or Double" and dtype names
    refuses(lambda L: L.complex(L.ones(2, dtype=L.int64), L.ones(2, dtype=L.float64)),
            r"^Expected both inputs to be Half, Float or Double tensors but got Long and Double$")
    refuses(lambda L: L.polar(L.ones(2, dtype=L.uint8), L.ones(2, dtype=L.float64)),
            r"^Expected both inputs to be Half, Float or Double tensors but got Byte and Double$")
    refuses(lambda L: L.polar(L.ones(2), L.ones(2, dtype=L.float64)),
            r"^Expected object of scalar type Float but got scalar type Double for second argument$")
    refuses(lambda L: L.polar(L.ones(2, dtype=L.float16), L.ones(2, dtype=L.float16)), r"\"polar_cpu\" not implemented")


def test_misc_messages():
    # cdist: KeyError 'complex64'; floor_divide: no op named; log_softmax of int32 inside ctc_loss: no shape;
    # unflatten of 0-d: "tuple index out of range"; lerp with a bool end: sub's bool refusal; dot: no shapes
    refuses(lambda L: L.cdist(L.ones(2, 3, dtype=L.complex64), L.ones(2, 3)),
            r"^cdist only supports floating-point dtypes, X1 got: ComplexFloat$")
    refuses(lambda L: L.floor_divide(L.tensor([1, 2]), L.tensor([0, 1])), r"^ZeroDivisionError.*floor_divide")
    refuses(lambda L: L.remainder(L.tensor([1, 2]), 0), r"^ZeroDivisionError.*remainder")
    refuses(lambda L: L.log_softmax(L.ones(6, 2, 4, dtype=L.int32), 2), r"log_softmax.*shape \[6, 2, 4\]")
    refuses(lambda L: L.tensor(1.0).unflatten(-1, (1, -1)), r"unflatten.*no dimensions")
    refuses(lambda L: L.lerp(L.ones(2, dtype=L.float64), L.ones(2, dtype=L.bool), 0.5),
            r"^expected dtype double for `end` but got dtype bool$")
    refuses(lambda L: L.lerp(L.ones(2), L.ones(2), L.ones(2, dtype=L.bool)),
            r"^expected dtype float for `weight` but got dtype bool$")
    refuses(lambda L: L.dot(L.ones(0, dtype=L.complex64), L.ones(0)), r"shapes \[0\] and \[0\]")


def test_refusals_that_protect_from_a_wrong_result():
    # fuzz class b: PyTorch refuses and flambeau returned something meaningless: a 3-D tensor's trace (the sum
    # of its diagonals), meshgrid of a 2-D tensor (flattened) or of mixed dtypes (promoted), nanmean/kl_div of
    # integers, argmax/argmin of bool, an integer embedding_bag weight (reduced), mode of complex
    refuses(lambda L: L.trace(L.ones(2, 2, 2)), r"^trace: expected a matrix, but got tensor with dim 3$")
    refuses(lambda L: L.ones(3).trace(), r"^trace: expected a matrix, but got tensor with dim 1$")
    refuses(lambda L: L.meshgrid(L.ones(2, 2), L.ones(3), indexing="ij"),
            r"meshgrid: Expected 0D or 1D tensor in the tensor list")
    refuses(lambda L: L.meshgrid(L.ones(2), L.ones(3, dtype=L.int64), indexing="xy"),
            r"^meshgrid expects all tensors to have the same dtype")
    refuses(lambda L: L.cartesian_prod(L.ones(2), L.ones(3, dtype=L.int64)),
            r"^meshgrid expects all tensors to have the same dtype")
    refuses(lambda L: L.nanmean(L.ones(3, dtype=L.int32)),
            r"^nanmean\(\): expected input to have floating point or complex dtype but got Int$")
    refuses(lambda L: L.nn.functional.kl_div(L.ones(3, dtype=L.int32), L.ones(3)), r"^kl_div: Integral inputs")
    refuses(lambda L: L.argmax(L.ones(2, 3, dtype=L.bool), 1), r"^argmax\(\): does not support bool input$")
    refuses(lambda L: L.argmin(L.ones(3, dtype=L.bool)), r"^argmin\(\): does not support bool input$")
    refuses(lambda L: L.mode(L.ones(3, dtype=L.complex64)), r"^\"mode_cpu\" not implemented for 'ComplexFloat'$")
    refuses(lambda L: L.nn.functional.embedding_bag(L.tensor([[0, 1]]), L.ones(3, 4, dtype=L.int32)),
            r"but got torch.IntTensor instead \(while checking arguments for embedding_bag\)$")


def test_session21_refusals_in_pytorchs_words():
    # (session 21, helper grads4) complex input of the unary ops PyTorch refuses: "trunc: not implemented for
    # dtype complex64" (and floor, ceil, round, sign...) where PyTorch names its kernel or says why
    z = lambda L: L.tensor([1.5 + 2.5j])  # noqa: E731
    for op, pattern in (("trunc", r"^trunc is not supported for complex inputs$"),
                        ("fix", r"^trunc is not supported for complex inputs$"),
                        ("floor", r"^floor is not supported for complex inputs$"),
                        ("ceil", r"^ceil is not supported for complex inputs$"),
                        ("round", r"^\"round_vml_cpu\" not implemented for 'ComplexFloat'$"),
                        ("sign", r"^Unlike NumPy, torch.sign is not intended to support complex numbers"),
                        ("erf", r"^\"erf_vml_cpu\" not implemented for 'ComplexFloat'$"),
                        ("lgamma", r"^\"lgamma_vml_cpu\" not implemented for 'ComplexFloat'$")):
        fuzz_check(lambda L, op=op: getattr(L, op)(z(L)), lambda t, f: pytest.fail("both returned"), pattern,
                   same_exception_type=True)
        fuzz_check(lambda L, op=op: getattr(z(L), op + "_")(), lambda t, f: pytest.fail("both returned"), pattern,
                   same_exception_type=True)
    # tensor_split of a 0-d tensor: "IndexError: tuple index out of range"
    refuses(lambda L: L.tensor_split(L.tensor(3.0), 2), r"^tensor_split expected at least a 1-dimensional tensor")
    refuses(lambda L: L.tensor(3.0).tensor_split([1]), r"^tensor_split expected at least a 1-dimensional tensor")
    # cummax/cummin of a 0-d tensor along a dim other than -1 or 0: returned (PyTorch refuses)
    for op in ("cummax", "cummin"):
        for d in (1, -2):
            refuses(lambda L, op=op, d=d: getattr(L, op)(L.tensor(3.0), d),
                    rf"^{op}\(\): Expected reduction dim -1 or 0 for scalar but got {d}$")
    # fold of an integer tensor: "fold: expected a floating-point input, got int64"
    refuses(lambda L: L.nn.functional.fold(L.ones(1, 4, 4, dtype=L.int64), (3, 3), 2),
            r"^\"col2im_out_cpu\" not implemented for 'Long'$")
