"""Bad input: mismatched shapes, wrong dtypes, out-of-range dims and indices, bad arguments, wrong devices.

Each case is `fn(lib)`, run once with lib=torch (which must raise the expected exception type: PyTorch is
the reference for the type) and once with lib=flambeau, which must raise the same type with a message
that names the op and/or the shapes (loose regexes: flambeau may word things its own way, e.g.
`add: shapes [2, 3] and [2, 4] cannot be broadcast`, or PyTorch's way). Nothing here may crash the
process or return a result."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import check_error

SHAPE_ERRORS = {
    "add_broadcast": (lambda m: m.zeros(2, 3) + m.zeros(2, 4), RuntimeError,
                      r"\[2, 3\].*\[2, 4\]|\(3\).*\(4\)"),
    "mul_broadcast_3d": (lambda m: m.ones(2, 3, 4) * m.ones(3, 3), RuntimeError,
                         r"\[2, 3, 4\].*\[3, 3\]|\(4\).*\(3\)"),
    "where_broadcast": (lambda m: m.where(m.ones(2, 3) > 0, m.ones(2, 3), m.ones(4)), RuntimeError,
                        r"\[2, 3\]|\[4\]|\(3\).*\(4\)"),
    "maximum_broadcast": (lambda m: m.maximum(m.ones(5), m.ones(3)), RuntimeError, r"\[5\].*\[3\]|\(5\).*\(3\)"),
    "matmul_2d": (lambda m: m.zeros(2, 3) @ m.zeros(4, 5), RuntimeError, r"2x3.*4x5|\[2, 3\].*\[4, 5\]"),
    "matmul_1d": (lambda m: m.zeros(3) @ m.zeros(4), RuntimeError, r"(?s)3.*4"),
    "matmul_2d_1d": (lambda m: m.zeros(2, 3) @ m.zeros(4), RuntimeError, r"(?s)3.*4"),
    "matmul_batch": (lambda m: m.zeros(2, 3, 4) @ m.zeros(3, 4, 5), RuntimeError, r"(?s)2.*3|\[2, 3, 4\]"),
    "matmul_0d": (lambda m: m.zeros(()) @ m.zeros(3), RuntimeError, r"(?i)matmul|dimension|0[- ]d|\[\]"),
    "mm_1d": (lambda m: m.mm(m.zeros(3), m.zeros(3, 2)), RuntimeError, r"(?i)mm|matri|2-?d|dim"),
    "bmm_batch": (lambda m: m.bmm(m.zeros(2, 3, 4), m.zeros(3, 4, 5)), RuntimeError,
                  r"(?i)bmm|batch|\[2, 3, 4\]"),
    "cat_sizes": (lambda m: m.cat([m.zeros(2, 3), m.zeros(2, 4)], 0), RuntimeError,
                  r"(?i)cat|Expected size 3 but got size 4|\[2, 4\]"),
    "cat_ndim": (lambda m: m.cat([m.zeros(2, 3), m.zeros(2, 3, 1)], 0), RuntimeError, r"(?i)cat|dim"),
    "cat_empty_list": (lambda m: m.cat([], 0), (RuntimeError, ValueError), r"(?i)cat|empty|non-empty"),
    "stack_sizes": (lambda m: m.stack([m.zeros(2, 3), m.zeros(2, 4)]), RuntimeError,
                    r"(?i)stack|\[2, 3\].*\[2, 4\]"),
    "reshape_numel": (lambda m: m.zeros(2, 3).reshape(4, 4), RuntimeError, r"\[4, 4\]|\(4, 4\)"),
    "reshape_two_infer": (lambda m: m.zeros(2, 3).reshape(-1, -1), RuntimeError, r"(?i)infer|-1|one dim"),
    "view_numel": (lambda m: m.zeros(6).view(4, 2), RuntimeError, r"\[4, 2\]|\(4, 2\)"),
    "view_non_contiguous": (lambda m: m.zeros(3, 4).T.view(12), RuntimeError, r"(?i)view|contiguous|stride"),
    "expand_incompatible": (lambda m: m.zeros(3).expand(2, 4), RuntimeError, r"(?i)expand|\[3\].*\[2, 4\]"),
    "expand_fewer_dims": (lambda m: m.zeros(2, 3).expand(3), RuntimeError, r"(?i)expand|dim"),
    "permute_len": (lambda m: m.zeros(2, 3, 4).permute(0, 1), RuntimeError, r"(?i)permute|dims|dimension"),
    "permute_repeat": (lambda m: m.zeros(2, 3).permute(0, 0), RuntimeError, r"(?i)permute|repeat|dim"),
    "split_sizes_sum": (lambda m: m.zeros(7).split([2, 3]), RuntimeError, r"(?i)split|sum|7"),
    "chunk_zero": (lambda m: m.zeros(7).chunk(0), RuntimeError, r"(?i)chunk|greater|positive|> ?0"),
    "flatten_order": (lambda m: m.zeros(2, 3, 4).flatten(2, 1), RuntimeError, r"(?i)flatten|start_dim|end_dim"),
    "setitem_value_shape": (lambda m: m.zeros(2, 3).__setitem__(0, m.zeros(4)), RuntimeError,
                            r"(?i)\[4\].*\[3\]|\[3\].*\[4\]|shape"),
    "backward_gradient_shape": (lambda m: (m.ones(2, 3, requires_grad=True) * 2).backward(m.ones(3, 2)),
                                RuntimeError, r"(?i)shape|\[3, 2\]|\[2, 3\]"),
}

DIM_ERRORS = {
    "sum_dim": (lambda m: m.zeros(2, 3).sum(dim=5), IndexError, r"(?i)range|5"),
    "sum_dim_neg": (lambda m: m.zeros(2, 3).sum(dim=-3), IndexError, r"(?i)range|-3"),
    "mean_dims": (lambda m: m.zeros(2, 3).mean(dim=(0, 2)), IndexError, r"(?i)range|2"),
    "max_dim": (lambda m: m.zeros(2, 3).max(dim=2), IndexError, r"(?i)range|2"),
    "argmax_dim": (lambda m: m.zeros(2, 3).argmax(dim=-3), IndexError, r"(?i)range|-3"),
    "var_dim": (lambda m: m.zeros(2, 3).var(dim=4), IndexError, r"(?i)range|4"),
    "logsumexp_dim": (lambda m: m.zeros(2, 3).logsumexp(dim=2), IndexError, r"(?i)range|2"),
    "softmax_dim": (lambda m: m.softmax(m.zeros(2, 3), 2), IndexError, r"(?i)range|2"),
    "transpose_dim": (lambda m: m.zeros(2, 3).transpose(0, 2), IndexError, r"(?i)range|2"),
    "unsqueeze_dim": (lambda m: m.zeros(2, 3).unsqueeze(4), IndexError, r"(?i)range|4"),
    "squeeze_dim": (lambda m: m.zeros(2, 3).squeeze(2), IndexError, r"(?i)range|2"),
    "cat_dim": (lambda m: m.cat([m.zeros(2, 3), m.zeros(2, 3)], 2), IndexError, r"(?i)range|2"),
    "stack_dim": (lambda m: m.stack([m.zeros(2, 3), m.zeros(2, 3)], 4), IndexError, r"(?i)range|4"),
    "flatten_dim": (lambda m: m.zeros(2, 3).flatten(0, 3), IndexError, r"(?i)range|3"),
    "max_empty_dim": (lambda m: m.zeros(0, 3).max(dim=0), IndexError, r"(?i)max|empty|zero|non-zero|size"),
    "argmax_empty": (lambda m: m.zeros(0, 3).argmax(), IndexError, r"(?i)argmax|empty|numel|zero"),
    "max_empty_all": (lambda m: m.zeros(0, 3).max(), RuntimeError, r"(?i)max|empty|numel|zero"),
}

DTYPE_ERRORS = {
    "where_float_cond": (lambda m: m.where(m.ones(3), m.ones(3), m.zeros(3)), RuntimeError,
                         r"(?i)bool|condition"),
    "bitwise_and_float": (lambda m: m.ones(3) & m.ones(3), RuntimeError, r"(?i)and|float|bool|int"),
    "invert_float": (lambda m: ~m.ones(3), TypeError, r"(?i)not|invert|float|bool|int"),
    "neg_bool": (lambda m: -(m.ones(3) > 0), RuntimeError, r"(?i)bool|neg"),
    "sub_bool": (lambda m: (m.ones(3) > 0) - (m.ones(3) > 0), RuntimeError, r"(?i)bool|sub"),
    "mean_int": (lambda m: m.arange(5).mean(), RuntimeError, r"(?i)mean|float|dtype|int|long"),
    "var_int": (lambda m: m.arange(5).var(), RuntimeError, r"(?i)var|std|float|dtype|int|long"),
    "matmul_mixed": (lambda m: m.ones(2, 3) @ m.ones(3, 2, dtype=m.float64), RuntimeError,
                     r"(?i)dtype|float|double"),
    "requires_grad_int": (lambda m: m.ones(3, dtype=m.int64, requires_grad=True), RuntimeError,
                          r"(?i)floating"),
    "requires_grad_int_method": (lambda m: m.arange(3).requires_grad_(), RuntimeError, r"(?i)floating"),
    "index_with_float": (lambda m: m.zeros(3)[m.tensor([0.0, 1.0])], IndexError, r"(?i)long|int|bool"),
    "arange_step_zero": (lambda m: m.arange(0, 5, 0), RuntimeError, r"(?i)step"),
    "arange_wrong_sign": (lambda m: m.arange(0, 5, -1), RuntimeError, r"(?i)step|bound|sign"),
    "linspace_negative": (lambda m: m.linspace(0, 1, -1), RuntimeError, r"(?i)steps|negative"),
    "randint_empty_range": (lambda m: m.randint(5, 5, (3,)), RuntimeError, r"(?i)from|low|high|5"),
    "zeros_negative": (lambda m: m.zeros(-1, 2), RuntimeError, r"(?i)negative|-1"),
    "randn_negative": (lambda m: m.randn(2, -3), RuntimeError, r"(?i)negative|-3"),
    "randperm_negative": (lambda m: m.randperm(-1), RuntimeError, r"(?i)negative|-1|n must"),
    "eye_negative": (lambda m: m.eye(-1), RuntimeError, r"(?i)negative|-1|greater"),
    "tensor_ragged": (lambda m: m.tensor([[1, 2], [3]]), ValueError, r"(?i)sequence|length|ragged|shape"),
    "tensor_strings": (lambda m: m.tensor(["a", "b"]), ValueError, r"(?i)str|type|dimension"),
    "item_many": (lambda m: m.zeros(2, 3).item(), RuntimeError, r"(?i)element|scalar|6"),
    "item_empty": (lambda m: m.zeros(0).item(), RuntimeError, r"(?i)element|scalar|0"),
    "from_numpy_negative_stride": (lambda m: m.from_numpy(np.arange(5.0)[::-1]), ValueError,
                                   r"(?i)negative|stride"),
    "from_numpy_strings": (lambda m: m.from_numpy(np.array(["a", "b"])), TypeError, r"(?i)type|dtype|convert"),
    "zeros_float_size": (lambda m: m.zeros(2.5), TypeError, r"(?i)float|int|size"),
    "reshape_float": (lambda m: m.zeros(4).reshape(2.0, 2), TypeError, r"(?i)float|int|size|shape"),
    "clamp_no_bounds": (lambda m: m.zeros(3).clamp(), RuntimeError, r"(?i)min|max"),
    "leaf_inplace_setitem": (lambda m: m.ones(3, requires_grad=True).__setitem__(0, 5.0), RuntimeError,
                             r"(?i)leaf|in-?place"),
    "bool_of_many": (lambda m: bool(m.ones(3)), RuntimeError, r"(?i)ambiguous|more than one|element"),
}

INDEX_ERRORS = {
    "int_past_end": (lambda m: m.zeros(3)[5], IndexError, r"(?i)5.*3|out of (bounds|range)"),
    "int_negative": (lambda m: m.zeros(3)[-4], IndexError, r"(?i)-4|out of (bounds|range)"),
    "int_dim1": (lambda m: m.zeros(2, 3)[:, 3], IndexError, r"(?i)3|out of (bounds|range)"),
    "too_many": (lambda m: m.zeros(2, 3)[0, 0, 0], IndexError, r"(?i)too many|dimension"),
    "index_0d": (lambda m: m.zeros(())[0], IndexError, r"(?i)0-d|dimension|scalar|invalid"),
    "array_past_end": (lambda m: m.zeros(3)[m.tensor([0, 5])], IndexError, r"(?i)5|out of (bounds|range)"),
    "list_past_end": (lambda m: m.zeros(3, 2)[[0, 3]], IndexError, r"(?i)3|out of (bounds|range)"),
    "array_negative": (lambda m: m.zeros(3)[m.tensor([-4])], IndexError, r"(?i)-4|out of (bounds|range)"),
    "array_dim1": (lambda m: m.zeros(2, 3)[:, m.tensor([1, 3])], IndexError, r"(?i)3|out of (bounds|range)"),
    "arrays_dont_broadcast": (lambda m: m.zeros(4, 4)[m.tensor([0, 1]), m.tensor([0, 1, 2])], IndexError,
                              r"(?i)broadcast|shape|\[2\].*\[3\]"),
    "mask_shape": (lambda m: m.zeros(3, 2)[m.tensor([True, False])], IndexError, r"(?i)mask|shape|\[2\]"),
    "setitem_past_end": (lambda m: m.zeros(3).__setitem__(3, 1.0), IndexError, r"(?i)3|out of (bounds|range)"),
    "setitem_array_past_end": (lambda m: m.zeros(3).__setitem__(m.tensor([1, 7]), 1.0), IndexError,
                               r"(?i)7|out of (bounds|range)"),
}


def _params(table):
    return [pytest.param(v, id=k) for k, v in table.items()]


@pytest.mark.parametrize("case", _params(SHAPE_ERRORS))
def test_shape_errors(case):
    fn, exc, match = case
    check_error(fn, exc, match)


@pytest.mark.parametrize("case", _params(DIM_ERRORS))
def test_dim_errors(case):
    fn, exc, match = case
    check_error(fn, exc, match)


@pytest.mark.parametrize("case", _params(DTYPE_ERRORS))
def test_dtype_and_argument_errors(case):
    fn, exc, match = case
    check_error(fn, exc, match)


@pytest.mark.parametrize("case", _params(INDEX_ERRORS))
def test_index_errors(case):
    fn, exc, match = case
    check_error(fn, exc, match)


def test_error_messages_name_the_shapes():
    # The design rule, stated directly: a broadcast failure names both shapes.
    with pytest.raises(RuntimeError) as info:
        flambeau.ones(2, 3) - flambeau.ones(5, 1, 4)
    msg = str(info.value)
    assert ("[2, 3]" in msg and "[5, 1, 4]" in msg) or ("(3)" in msg and "(4)" in msg), msg


def test_errors_leave_tensors_usable():
    x = flambeau.arange(6.0).reshape(2, 3)
    for bad in (lambda: x + flambeau.ones(4), lambda: x[7], lambda: x.reshape(5), lambda: x @ x):
        with pytest.raises((RuntimeError, IndexError)):
            bad()
    assert x.sum().item() == 15.0 and x.shape == (2, 3)


def test_custom_function_bad_gradient_shape():
    def make(m):
        class Bad(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return m.ones(3)  # input has shape [2]
        return Bad
    check_error(lambda m: make(m).apply(m.ones(2, requires_grad=True)).sum().backward(), RuntimeError,
                r"(?i)shape|\[3\]|\[2\]")


# ---- devices ------------------------------------------------------------------------------------------

def test_unknown_device_string():
    check_error(lambda m: m.zeros(2, device="tpu"), RuntimeError, r"(?i)device|tpu")
    check_error(lambda m: m.zeros(2, device="cuda:x"), RuntimeError, r"(?i)device|cuda:x")
    check_error(lambda m: m.zeros(2).to("gpu"), RuntimeError, r"(?i)device|gpu")


def test_cuda_request_without_cuda():
    if flambeau.cuda.is_available():
        pytest.skip("a CUDA device is present")
    # (PyTorch's CPU-only build raises AssertionError here; a CUDA build without a GPU raises RuntimeError,
    # which is what flambeau, always built to run without a GPU, should do.)
    with pytest.raises(RuntimeError, match=r"(?i)cuda"):
        flambeau.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match=r"(?i)cuda"):
        flambeau.zeros(2).to("cuda")
    with pytest.raises(RuntimeError, match=r"(?i)cuda"):
        flambeau.tensor([1.0], device="cuda")
    with pytest.raises(RuntimeError, match=r"(?i)cuda"):
        flambeau.zeros(2).cuda()


MIXED_DEVICE_OPS = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "matmul": lambda a, b: a @ b.T,
    "where": lambda a, b: flambeau.where(a > 0, a, b),
    "cat": lambda a, b: flambeau.cat([a, b]),
    "index": lambda a, b: a[b.long()],
    "setitem": lambda a, b: a.__setitem__(0, b[0]),
    "maximum": lambda a, b: flambeau.maximum(a, b),
}


@pytest.mark.parametrize("name", list(MIXED_DEVICE_OPS))
def test_mixed_devices(name, devices):
    if "cuda" not in devices:
        pytest.skip("needs a CUDA device")
    a = flambeau.zeros(3, 3, device="cuda")
    b = flambeau.zeros(3, 3, device="cpu")
    if name in ("index",):
        pytest.skip("PyTorch allows CPU index tensors on CUDA tensors")
    if name == "setitem":
        pytest.skip("PyTorch allows assigning a CPU tensor into a CUDA tensor")
    with pytest.raises(RuntimeError, match=r"(?i)device|cuda|cpu"):
        MIXED_DEVICE_OPS[name](a, b)
    with pytest.raises(RuntimeError, match=r"(?i)device|cuda|cpu"):
        MIXED_DEVICE_OPS[name](b, a)


def test_cpu_index_and_assignment_into_cuda_tensor(devices):
    if "cuda" not in devices:
        pytest.skip("needs a CUDA device")
    a = flambeau.arange(6.0, device="cuda")
    assert a[flambeau.tensor([1, 3])].tolist() == [1.0, 3.0]
    a[0] = flambeau.tensor(9.0)
    assert a[0].item() == 9.0


@pytest.mark.parametrize("op", ["lt", "le", "gt", "ge", "floor_divide", "minimum", "maximum", "fmod", "remainder",
                                "fmin", "fmax"])
def test_unsupported_complex_binary_names_the_op(op):
    # The kernels' dtype dispatch once said "binary: not implemented ...": every op says its own name now
    # (the orderings in PyTorch's words: "lt_cpu" not implemented for 'ComplexFloat').
    a = flambeau.randn(3, dtype=flambeau.complex64)
    with pytest.raises(Exception, match=rf"^{op}\b|^\"{op}_cpu\" not implemented for 'ComplexFloat'"):
        getattr(flambeau, op)(a, a)
    with pytest.raises(Exception):  # PyTorch refuses these too
        getattr(torch, op)(torch.randn(3, dtype=torch.complex64), torch.randn(3, dtype=torch.complex64))


# Errors that were Python's own (IndexError: tuple index out of range, TypeError: must be real number) or named
# another op: now PyTorch's exception type and words.
SAME_AS_TORCH = {
    "fft_0d": lambda m: m.fft.fft(m.tensor(1.0)),
    "rfft_0d": lambda m: m.fft.rfft(m.tensor(1.0)),
    "irfft_0d": lambda m: m.fft.irfft(m.tensor(1.0)),
    "repeat_interleave_0d": lambda m: m.repeat_interleave(m.tensor(1.0), 2, dim=-1),
    "tril_indices_row": lambda m: m.tril_indices(-1, 3),
    "triu_indices_col": lambda m: m.triu_indices(3, -1),
    "eye_m": lambda m: m.eye(3, -1),
    "eye_n": lambda m: m.eye(-1),
    "nansum_complex": lambda m: m.nansum(m.zeros(2, dtype=m.complex64)),
    "setitem_complex_into_float": lambda m: m.zeros(3).__setitem__(0, 1 + 2j),
    "setitem_complex_into_long": lambda m: m.zeros(3, dtype=m.int64).__setitem__(m.tensor([0]), 1 + 2j),
}


@pytest.mark.parametrize("name", list(SAME_AS_TORCH))
def test_error_type_and_message_as_torch(name):
    fn = SAME_AS_TORCH[name]
    with pytest.raises(Exception) as want:
        fn(torch)
    with pytest.raises(Exception) as got:
        fn(flambeau)
    assert type(got.value) is type(want.value) or isinstance(got.value, type(want.value))
    assert str(got.value) == str(want.value)
