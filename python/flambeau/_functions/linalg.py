"""Matrix products (mm, bmm, matmul and friends) and softmax/log_softmax.

`_C` offers only 2-D `mm` and 3-D `bmm`; matmul maps every other case onto them with views
(PyTorch's own strategy): a batch against a matrix folds the batch into rows (one GEMM), and
broadcast batch dims are expanded then flattened. Because that mapping uses differentiable view
ops, gradients for broadcast batch dims are summed back by the expand's backward for free.
"""
from . import _numpy_names as _np
from .. import _C
from .._tensor import Tensor, _wrap
from .._utils import wrap_dim
from ..autograd.function import Function, apply_binary
from ..autograd.grad_mode import _state as _gs
from . import elementwise as ew, _dispatch as dsp
from .shape import reshape, expand, transpose, unsqueeze, broadcast_shapes
from ..amp import _cast as _amp_cast

_TYPE_NAMES = {"float32": "float", "float64": "double", "int64": "long int", "bool": "bool", "int32": "int", "int16": "short int",
               "int8": "signed char", "uint8": "unsigned char", "float16": "c10::Half", "bfloat16": "c10::BFloat16"}


def _check_same_dtype(a, b, op):
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        bad = a if not isinstance(a, Tensor) else b
        raise TypeError(f"{op}(): argument must be Tensor, not {type(bad).__name__}")
    da, db = a._impl.dtype, b._impl.dtype
    if da != db:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {_TYPE_NAMES.get(da, da)} != "
                           f"{_TYPE_NAMES.get(db, db)} ({op} of shapes {list(a.shape)} and {list(b.shape)})")


class Mm(Function):
    _builtin = True
    _grad_fn_name = "MmBackward0"

    @staticmethod
    def forward(ctx, a, b):
        nig = ctx.needs_input_grad
        ctx.save_for_backward(a if nig[1] else None, b if nig[0] else None)
        return _wrap(_C.mm(a._impl, b._impl))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        nig = ctx.needs_input_grad
        return (mm(g, transpose(b, 0, 1)) if nig[0] else None,
                mm(transpose(a, 0, 1), g) if nig[1] else None)


class Bmm(Function):
    _builtin = True
    _grad_fn_name = "BmmBackward0"

    @staticmethod
    def forward(ctx, a, b):
        nig = ctx.needs_input_grad
        ctx.save_for_backward(a if nig[1] else None, b if nig[0] else None)
        return _wrap(_C.bmm(a._impl, b._impl))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        nig = ctx.needs_input_grad
        return (bmm(g, transpose(b, 1, 2)) if nig[0] else None,
                bmm(transpose(a, 1, 2), g) if nig[1] else None)


def mm(input, mat2, *, out=None):
    if (input.__class__ is not Tensor or mat2.__class__ is not Tensor) and _sparse_mm().involves_sparse(input, mat2):
        return _sparse_mm().mm(input, mat2, out=out)
    if _amp_cast.state[0] is not None:  # CPU autocast: in its lower-precision dtype
        input, mat2 = _amp_cast.lower(input, mat2)
    _check_same_dtype(input, mat2, "mm")
    ai, bi = input._impl, mat2._impl
    if ai.ndim != 2 or bi.ndim != 2:
        raise RuntimeError(f"{'self' if ai.ndim != 2 else 'mat2'} must be a matrix")
    if ai.shape[1] != bi.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({ai.shape[0]}x{ai.shape[1]} and "
                           f"{bi.shape[0]}x{bi.shape[1]})")
    r = _mm_checked(input, mat2)
    return dsp._write_out(out, r) if out is not None else r


def _mm_checked(input, mat2):
    """mm of two matrices already checked (dtypes, shapes): what mm and matmul's 2-D case end with."""
    if (input._rg or mat2._rg) and _gs.enabled:
        return apply_binary(Mm, input, mat2)  # (Mm.apply's graph, without its generic argument loop)
    return _wrap(_C.mm(input._impl, mat2._impl))


def bmm(input, mat2, *, out=None):
    if _amp_cast.state[0] is not None:  # CPU autocast: in its lower-precision dtype
        input, mat2 = _amp_cast.lower(input, mat2)
    _check_same_dtype(input, mat2, "bmm")
    ai, bi = input._impl, mat2._impl
    if ai.ndim != 3 or bi.ndim != 3:
        raise RuntimeError(f"batch{1 if ai.ndim != 3 else 2} must be a 3D tensor")
    if ai.shape[0] != bi.shape[0] or ai.shape[2] != bi.shape[1]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{ai.shape[0]}, "
                           f"{ai.shape[2]}] but got: [{bi.shape[0]}, {bi.shape[1]}].")
    if (input._rg or mat2._rg) and _gs.enabled:
        r = Bmm.apply(input, mat2)
    else:
        r = _wrap(_C.bmm(ai, bi))
    return dsp._write_out(out, r) if out is not None else r


def matmul(input, other, *, out=None):
    if (input.__class__ is not Tensor or other.__class__ is not Tensor) and _sparse_mm().involves_sparse(input, other):
        return _sparse_mm().matmul(input, other, out=out)
    if _amp_cast.state[0] is not None:  # CPU autocast: in its lower-precision dtype
        input, other = _amp_cast.lower(input, other)
    _check_same_dtype(input, other, "matmul")
    sa, sb = input._impl.shape, other._impl.shape
    na, nb = len(sa), len(sb)
    if na == 0 or nb == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {na}D and {nb}D")
    if sa[-1] != sb[-2 if nb >= 2 else 0]:
        if na == 1 and nb == 1:
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{sa[0]}] and src [{sb[0]}] to have the "
                               f"same number of elements, but got {sa[0]} and {sb[0]} elements respectively")
        ra = sa if na >= 2 else (1,) + tuple(sa)
        ra = (ra[-2] if na == 2 else _prod(ra[:-1]), ra[-1])
        rb = sb if nb >= 2 else tuple(sb) + (1,)
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({ra[0]}x{ra[1]} and {rb[-2]}x{rb[-1]})")
    if na == 2 and nb == 2:
        r = _mm_checked(input, other)  # (mm's checks are the ones just made)
    elif na == 1 and nb == 1:
        if (input._rg or other._rg) and _gs.enabled:
            r = reshape(mm(reshape(input, (1, sa[0])), reshape(other, (sb[0], 1))), ())
        else:  # a dot product without a graph: one _C call (gemm's GEMV path does the work)
            r = _wrap(_C.dot(input._impl, other._impl))
    elif na == 2 and nb == 1:
        r = reshape(mm(input, reshape(other, (sb[0], 1))), (sa[0],))
    elif na == 1 and nb == 2:
        r = reshape(mm(reshape(input, (1, sa[0])), other), (sb[1],))
    elif na >= 3 and nb <= 2:
        # Fold the batch into the rows: one GEMM instead of a batched one.
        b2 = reshape(other, (sb[0], 1)) if nb == 1 else other
        r = mm(reshape(input, (_prod(sa[:-1]), sa[-1])), b2)  # not -1: ambiguous when sa[-1] == 0
        r = reshape(r, tuple(sa[:-1]) + (() if nb == 1 else (sb[-1],)))
    else:
        a = unsqueeze(input, 0) if na == 1 else input
        b = unsqueeze(other, -1) if nb == 1 else other
        a_s, b_s = a._impl.shape, b._impl.shape
        batch = tuple(broadcast_shapes(a_s[:-2], b_s[:-2]))
        m, k, p = a_s[-2], a_s[-1], b_s[-1]
        bn = _prod(batch)
        a3 = reshape(expand(a, batch + (m, k)), (bn, m, k))
        b3 = reshape(expand(b, batch + (k, p)), (bn, k, p))
        r = reshape(bmm(a3, b3), batch + (m, p))
        if na == 1:
            r = reshape(r, batch + (p,))
        elif nb == 1:
            r = reshape(r, batch + (m,))
    return dsp._write_out(out, r) if out is not None else r


def _sparse_mm():
    """flambeau._sparse_mm, imported on first use (it imports this module's neighbours)."""
    from .. import _sparse_mm as m
    return m


def _prod(xs):
    n = 1
    for x in xs:
        n *= x
    return n


def dot(input, other, *, out=None):
    if input._impl.ndim != 1 or other._impl.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input._impl.ndim}D and {other._impl.ndim}D tensors")
    if input._impl.dtype != other._impl.dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found "
                           f"{dsp._TORCH_TYPE_NAMES[input._impl.dtype]} and {dsp._TORCH_TYPE_NAMES[other._impl.dtype]}")
    return matmul(input, other, out=out)


def inner(input, other, *, out=None):
    """Sum of products over the last dims (any ranks, as PyTorch's inner; dot only takes 1-D): a 0-d operand
    scales the other, otherwise the result has shape input.shape[:-1] + other.shape[:-1]."""
    if input._impl.ndim == 0 or other._impl.ndim == 0:
        r = ew.mul(input, other)
    elif input._impl.shape[-1] != other._impl.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but got shapes "
                           f"{list(input._impl.shape)} and {list(other._impl.shape)}")
    elif input._impl.ndim == 1 and other._impl.ndim == 1:
        return dot(input, other, out=out)
    else:
        r = tensordot(input, other, dims=([-1], [-1]))
    if out is not None:
        return dsp._write_out(out, r)
    return r


vdot = dot


def mv(input, vec, *, out=None):
    if input._impl.ndim != 2 or vec._impl.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {vec._impl.ndim}, {input._impl.ndim}, {vec._impl.ndim}")
    return matmul(input, vec, out=out)


def outer(input, vec2):
    return ew.mul(unsqueeze(input, 1), unsqueeze(vec2, 0))


ger = outer


@_amp_cast.lower_op
def addmm(input, mat1, mat2, *, beta=1, alpha=1, out=None):
    if mat1.__class__ is not Tensor and _sparse_mm().involves_sparse(input, mat1, mat2):
        return _sparse_mm().addmm(input, mat1, mat2, beta=beta, alpha=alpha, out=out)
    if _half_on_cpu(input, mat1, mat2):
        with _amp_cast.full_precision():  # (the float32 call must not be cast back by autocast)
            r = addmm(input.float(), mat1.float(), mat2.float(), beta=beta, alpha=alpha).to(mat1.dtype)
        return dsp._write_out(out, r) if out is not None else r
    if _fused_addmm_ok(input, mat1, mat2, beta, alpha):
        # CUDA: one GEMM with the bias row added in its epilogue (F.linear's kernel, W = mat2^T).
        from .linear import Linear
        r = Linear.apply(mat1, transpose(mat2, 0, 1), input)
        return dsp._write_out(out, r) if out is not None else r
    prod = mm(mat1, mat2)
    r = _axpby(input, prod, beta, alpha)
    return dsp._write_out(out, r) if out is not None else r


def _fused_addmm_ok(input, mat1, mat2, beta, alpha):
    """addmm(bias, x, w) with a 1-d bias row, beta = alpha = 1, one floating dtype, on CUDA: what
    nn.Linear-style code writes. Anything else (and every CPU call) takes mm + axpby."""
    if beta != 1 or alpha != 1 or not all(isinstance(t, Tensor) for t in (input, mat1, mat2)):
        return False
    i, a, b = input._impl, mat1._impl, mat2._impl
    return (i.device != "cpu" and a.device == i.device and b.device == i.device and
            i.ndim == 1 and a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[0] and
            i.shape[0] == b.shape[1] and i.dtype == a.dtype == b.dtype and a.dtype in ("float32", "float64"))


def addmv(input, mat, vec, *, beta=1, alpha=1):
    return _axpby(input, mv(mat, vec), beta, alpha)


@_amp_cast.lower_op
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    if _half_on_cpu(input, batch1, batch2):
        with _amp_cast.full_precision():  # (the float32 call must not be cast back by autocast)
            return baddbmm(input.float(), batch1.float(), batch2.float(), beta=beta, alpha=alpha).to(batch1.dtype)
    return _axpby(input, bmm(batch1, batch2), beta, alpha)


def _half_on_cpu(*tensors):
    """All bfloat16 (or all float16) CPU tensors: PyTorch's CPU addmm/baddbmm then compute
    beta * input + alpha * (mat1 @ mat2) in float32 and round once to the half type (checked bit for bit);
    rounding the product, the scalings and the sum separately differed in about half of the elements."""
    if not all(isinstance(t, Tensor) for t in tensors):
        return False
    dt = tensors[0]._impl.dtype
    return dt in ("bfloat16", "float16") and all(t._impl.dtype == dt and t._impl.device == "cpu" for t in tensors)


@_amp_cast.lower_op
def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    from .reduction import sum as _sum
    return _axpby(input, _sum(bmm(batch1, batch2), 0), beta, alpha)


_INT_NAMES = frozenset(("uint8", "int8", "int16", "int32", "int64", "bool"))


class _BetaZero(Function):
    """result, with input in its graph: beta = 0 leaves input out of the value, but PyTorch still gives it
    the gradient grad * beta (zeros; NaN where grad is NaN)."""

    _builtin = True
    _grad_fn_name = "AddmmBackward0"

    @staticmethod
    def forward(ctx, r, input):
        ctx.shape = input._impl.shape
        return _wrap(r._impl)

    @staticmethod
    def backward(ctx, g):
        from .shape import _sum_to
        return g, _sum_to(ew.mul(g, 0), ctx.shape)


def _axpby(input, prod, beta, alpha):
    """beta * input + alpha * prod; beta == 0 ignores input entirely (NaNs included), as in PyTorch.
    Integer results take alpha and beta truncated to integers, as PyTorch converts them to the dtype
    (addmm of int32 with beta=0.5 gave a float32 result)."""
    if prod._impl.dtype in _INT_NAMES and (not isinstance(input, Tensor) or input._impl.dtype in _INT_NAMES):
        alpha, beta = int(alpha), int(beta)
    if alpha != 1:
        prod = ew.mul(prod, alpha)
    if beta == 0:
        shape = tuple(broadcast_shapes(input._impl.shape, prod._impl.shape))
        r = prod if prod._impl.shape == shape else expand(prod, shape).contiguous()
        if _gs.enabled and isinstance(input, Tensor) and input._rg:
            r = _BetaZero.apply(r, input)
        return r
    return ew.add(ew.mul(input, beta) if beta != 1 else input, prod)


def tensordot(a, b, dims=2):
    from .shape import permute
    from .reduction import sum as _sum
    na, nb = a._impl.ndim, b._impl.ndim
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > na or dims > nb:
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims} (shapes "
                               f"{list(a._impl.shape)} and {list(b._impl.shape)})")
        da = list(range(na - dims, na))
        db = list(range(dims))
    else:
        da, db = dims
        da = [wrap_dim(d, na) for d in ([da] if isinstance(da, int) else da)]
        db = [wrap_dim(d, nb) for d in ([db] if isinstance(db, int) else db)]
        if len(da) != len(db):
            raise RuntimeError(f"tensordot: both dimension lists should have same length, got {len(da)} and {len(db)}")
        for lst in (da, db):
            for d in lst:
                if lst.count(d) > 1:
                    raise RuntimeError(f"tensordot: dim {d} appears multiple times in the list of dims")
    # Contracted sizes must match, except that a size-1 dim broadcasts (PyTorch then sums the other
    # operand over that dim); comparing only their products mixed up [3, 0] with [0, 5].
    for x, y in zip(da, db):
        s1, s2 = a._impl.shape[x], b._impl.shape[y]
        if s1 != s2:
            # (summed in the operand's own dtype: an int32 sum is int64, which mm then refused with int32)
            if s1 == 1:
                b = _sum(b, y, keepdim=True, dtype=b.dtype)
            elif s2 == 1:
                a = _sum(a, x, keepdim=True, dtype=a.dtype)
            else:
                raise RuntimeError(f"tensordot: contracted dimensions need to match, but first has size {s1} in "
                                   f"dim {x} and second has size {s2} in dim {y} (shapes {list(a._impl.shape)} "
                                   f"and {list(b._impl.shape)})")
    sa, sb = a._impl.shape, b._impl.shape
    fa = [d for d in range(len(sa)) if d not in da]
    fb = [d for d in range(len(sb)) if d not in db]
    k = _prod(sa[d] for d in da)
    A = reshape(permute(a, fa + da), (_prod(sa[d] for d in fa), k))
    B = reshape(permute(b, db + fb), (k, _prod(sb[d] for d in fb)))
    return reshape(mm(A, B), tuple(sa[d] for d in fa) + tuple(sb[d] for d in fb))


def einsum(equation, *operands):
    """einsum via permute/reshape/bmm: each operand's labels are split into batch (in both and
    the output), contracted (in both, not the output) and free labels; labels of one operand that
    appear nowhere else are summed first. Two operands at most per contraction step."""
    from .reduction import sum as _sum
    from .shape import permute, diagonal
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    eq = equation.replace(" ", "")
    if "..." in eq:
        eq = _expand_ellipsis(eq, operands)
    if "->" in eq:
        lhs, out_labels = eq.split("->")
    else:
        lhs = eq
        counts = {}
        for c in lhs.replace(",", ""):
            counts[c] = counts.get(c, 0) + 1
        out_labels = "".join(sorted(c for c, n in counts.items() if n == 1))
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError(f"einsum(): {len(terms)} operand(s) in the equation but {len(operands)} were given")
    ops = []
    for t, labels in zip(operands, terms):
        if len(labels) != t._impl.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(labels)}) does not match "
                               f"the number of dimensions ({t._impl.ndim}) for operand {len(ops)}")
        # Repeated labels within one operand take the diagonal.
        while len(set(labels)) != len(labels):
            for i, c in enumerate(labels):
                j = labels.find(c, i + 1)
                if j >= 0:
                    t = diagonal(t, 0, i, j)
                    labels = labels[:i] + labels[i + 1:j] + labels[j + 1:] + c
                    break
        ops.append((t, labels))

    def reduce_unused(t, labels, keep):
        drop = [i for i, c in enumerate(labels) if c not in keep]
        if drop:
            t = _sum(t, drop)
            labels = "".join(c for c in labels if c in keep)
        return t, labels

    while len(ops) > 1:
        (a, la), (b, lb) = ops[0], ops[1]
        rest = "".join(l for _, l in ops[2:]) + out_labels
        a, la = reduce_unused(a, la, set(lb) | set(rest))
        b, lb = reduce_unused(b, lb, set(la) | set(rest))
        batch = [c for c in la if c in lb and c in rest]
        contract = [c for c in la if c in lb and c not in rest]
        fa = [c for c in la if c not in lb]
        fb = [c for c in lb if c not in la]
        size = {}
        for c, s in zip(la, a._impl.shape):
            size[c] = s
        for c, s in zip(lb, b._impl.shape):
            # a size-1 dim broadcasts against the other operand's size, 0 included (max(1, 0) expanded
            # a size-0 dim to 1)
            p = size.get(c, 1)
            if p != 1 and s != 1 and p != s:
                raise RuntimeError(f"einsum(): subscript {c} has size {s} for operand {len(terms) - len(ops) + 1} "
                                   f"which does not broadcast with previously seen size {p}")
            size[c] = s if p == 1 else p
        A = permute(a, [la.index(c) for c in batch + fa + contract])
        B = permute(b, [lb.index(c) for c in batch + contract + fb])
        A = expand(A, [size[c] for c in batch + fa + contract])
        B = expand(B, [size[c] for c in batch + contract + fb])
        nb_, nf_a, nk, nf_b = (_prod(size[c] for c in batch), _prod(size[c] for c in fa),
                               _prod(size[c] for c in contract), _prod(size[c] for c in fb))
        if not fa and not fb:
            # Batched dot products ('ij,ij->i', 'i,i->'): a bmm of 1x1 blocks would do one tiny
            # matmul per batch entry (0.25x PyTorch); the product summed over the contracted dims
            # is one memory-bound pass.
            R = ew.mul(A, B)
            if contract:
                R = _sum(R, list(range(len(batch), len(batch) + len(contract))))
        else:
            R = bmm(reshape(A, (nb_, nf_a, nk)), reshape(B, (nb_, nk, nf_b)))
        labels = "".join(batch + fa + fb)
        R = reshape(R, [size[c] for c in labels])
        ops = [(R, labels)] + ops[2:]
    t, labels = ops[0]
    t, labels = reduce_unused(t, labels, set(out_labels))
    return permute(t, [labels.index(c) for c in out_labels]) if labels else t


def _expand_ellipsis(eq, operands):
    """Rewrites '...' as explicit labels (unused capital letters), right-aligned across operands
    so broadcasting works as in NumPy."""
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    used = set(eq)
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used]
    n_ell = 0
    for t, op in zip(terms, operands):
        if "..." in t:
            n_ell = max(n_ell, op.dim() - (len(t) - 3))
    ell = "".join(free[:n_ell])
    new_terms = []
    for t, op in zip(terms, operands):
        if "..." in t:
            k = op.dim() - (len(t) - 3)
            t = t.replace("...", ell[n_ell - k:] if k else "")
        new_terms.append(t)
    if arrow:
        rhs = rhs.replace("...", ell)
    else:
        counts = {}
        for c in "".join(new_terms):
            counts[c] = counts.get(c, 0) + 1
        rhs = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    return ",".join(new_terms) + "->" + rhs


# ---------------------------------------------------------------- softmax
class Softmax(Function):
    _builtin = True
    _grad_fn_name = "SoftmaxBackward0"

    @staticmethod
    def forward(ctx, x, dim):
        out = _wrap(_C.softmax(x._impl, dim))
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        d = ctx.dim
        if _gs.enabled:  # double backward: the formula in differentiable ops
            from .reduction import sum as _sum
            return ew.mul(y, ew.sub(g, _sum(ew.mul(g, y), d, True))), None
        return _wrap(_C.softmax_backward(g._impl, y._impl, d)), None


class LogSoftmax(Function):
    _builtin = True
    _grad_fn_name = "LogSoftmaxBackward0"

    @staticmethod
    def forward(ctx, x, dim):
        out = _wrap(_C.log_softmax(x._impl, dim))
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        d = ctx.dim
        if _gs.enabled:
            from .reduction import sum as _sum
            return ew.sub(g, ew.mul(ew.exp(y), _sum(g, d, True))), None
        return _wrap(_C.log_softmax_backward(g._impl, y._impl, d)), None


def _softmax_dim(ndim):
    # PyTorch's legacy implicit dim (it warns; so do we not, to keep output clean).
    return 0 if ndim in (0, 1, 3) else 1


def _softmax_common(Fn, cfn, input, dim, dtype):
    if dtype is not None:
        from .._dtype import _to_dtype
        from .shape import _to
        input = _to(input, _to_dtype(dtype)._name, input._impl.device)
    nd = input._impl.ndim
    if dim is None:
        dim = _softmax_dim(nd)
    d = wrap_dim(dim, nd)
    if input._rg and _gs.enabled:
        return Fn.apply(input, d)
    if input._impl.numel == 0 and input._impl.dtype not in ("float32", "float64", "float16", "bfloat16"):
        # PyTorch returns an empty input as it is, whatever its dtype (its kernels refuse integers only
        # when there is something to compute)
        return input.clone()
    try:
        return _wrap(cfn(input._impl, d))
    except TypeError as e:  # (the kernel names its dtype; the shape tells which call it was)
        raise TypeError(f"{e} (input of shape {list(input.shape)}, dim {d})") from None


def softmax(input, dim=None, dtype=None, *, _stacklevel=3, axis=None):
    if axis is not None:
        dim = _np.numpy_dim("softmax", dim, axis, None)
    return _softmax_common(Softmax, _C.softmax, input, dim, dtype)


def log_softmax(input, dim=None, dtype=None, *, _stacklevel=3, axis=None):
    if axis is not None:
        dim = _np.numpy_dim("log_softmax", dim, axis, None)
    return _softmax_common(LogSoftmax, _C.log_softmax, input, dim, dtype)
