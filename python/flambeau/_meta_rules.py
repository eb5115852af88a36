"""Shape rules of the meta device (_meta.py) for the ops a model's forward calls beyond the elementwise,
view, matmul and reduction families: convolutions and pooling, interpolation and padding, advanced
indexing, gather/scatter/index_*, sorting and scans, losses and the embedding bag (linear algebra is in
_meta_linalg.py). Each rule takes the op's arguments (as the op does) and returns meta tensors of PyTorch's shapes and dtypes,
raising PyTorch's error where the arguments do not fit. Results whose shape depends on the data (boolean
mask indexing, nonzero, unique, masked_select) raise NotImplementedError, as on PyTorch's meta device.

`COMPOSITE` names the functions whose own Python body is run on meta tensors instead of a rule: they only
call public ops that have rules (multi_head_attention_forward, lp_pool, the *_with_indices aliases).
"""
import math

from ._tensor import Tensor
from ._utils import wrap_dim
from . import _promote

_DATA_DEPENDENT = ("{op}: the shape of the result depends on the tensor's values, which a meta tensor "
                   "(device='meta') does not have (PyTorch's meta device cannot run it either)")


def _m():
    from . import _meta
    return _meta


def make(shape, dtype):
    return _m().make(shape, dtype)


def _shape(x):
    impl = getattr(x, "_impl", None)
    return () if impl is None else tuple(impl.shape)


def _dt(x):
    return x._impl.dtype


def _tup(v, n, name="argument"):
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            return tuple(int(v[0]) for _ in range(n))
        if len(v) != n:
            raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} values to match "
                               f"the convolution dimensions, but got {name}={list(v)}")
        return tuple(int(x) for x in v)
    return (int(v),) * n


def data_dependent(op):
    def rule(*args, **kwargs):
        raise NotImplementedError(_DATA_DEPENDENT.format(op=op))
    return rule


# ---------------------------------------------------------------- convolution
def _conv(nd, transposed):
    op = f"conv{'_transpose' if transposed else ''}{nd}d"

    def conv(input, weight, bias=None, *args, **kwargs):
        if transposed:
            names = ("stride", "padding", "output_padding", "groups", "dilation")
            defaults = (1, 0, 0, 1, 1)
        else:
            names = ("stride", "padding", "dilation", "groups")
            defaults = (1, 0, 1, 1)
        a = dict(zip(names, defaults))
        a.update(zip(names, args))
        a.update(kwargs)
        x, w = _shape(input), _shape(weight)
        if len(w) != nd + 2:
            raise RuntimeError(f"{op}: expected weight to be {nd + 2}-D, but got {len(w)}-D weight of size {list(w)}")
        if len(x) not in (nd + 1, nd + 2):
            raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {op}, but got "
                               f"input of size: {list(x)}")
        unbatched = len(x) == nd + 1
        if unbatched:
            x = (1,) + x
        groups = int(a["groups"])
        stride = _tup(a["stride"], nd, "stride")
        dil = _tup(a["dilation"], nd, "dilation")
        spatial = x[2:]
        k = w[2:]
        if transposed:
            if x[1] != w[0]:
                raise RuntimeError(f"Given transposed=1, weight of size {list(w)}, expected input{list(x)} to have "
                                   f"{w[0]} channels, but got {x[1]} channels instead")
            pad = _tup(a["padding"], nd, "padding")
            opad = _tup(a["output_padding"], nd, "output_padding")
            out_c = w[1] * groups
            out = tuple((spatial[i] - 1) * stride[i] - 2 * pad[i] + dil[i] * (k[i] - 1) + opad[i] + 1
                        for i in range(nd))
        else:
            if x[1] != w[1] * groups:
                raise RuntimeError(f"Given groups={groups}, weight of size {list(w)}, expected input{list(x)} to "
                                   f"have {w[1] * groups} channels, but got {x[1]} channels instead")
            padding = a["padding"]
            if isinstance(padding, str):
                if padding == "valid":
                    pad = (0,) * nd
                elif padding == "same":
                    if any(s != 1 for s in stride):
                        raise RuntimeError("padding='same' is not supported for strided convolutions")
                    out = spatial
                    pad = None
                else:
                    raise RuntimeError(f"Invalid padding string: '{padding}'")
            else:
                pad = _tup(padding, nd, "padding")
            if pad is not None:
                out = tuple((spatial[i] + 2 * pad[i] - dil[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(nd))
            out_c = w[0]
            if any(o <= 0 for o in out):
                raise RuntimeError(f"{op}: Calculated output size {list(out)} is too small (input {list(x)}, kernel "
                                   f"{list(k)}, meta)")
        if bias is not None and _shape(bias) != (out_c,):
            raise RuntimeError(f"Given weight of size {list(w)}, expected bias to be 1-dimensional with {out_c} "
                               f"elements, but got bias of size {list(_shape(bias))} instead")
        shape = (x[0], out_c) + tuple(out)
        return make(shape[1:] if unbatched else shape, _promote.result_type_names(input, weight))
    return conv


# ---------------------------------------------------------------- pooling
def _pool_len(n, k, s, p, d, ceil):
    num = n + 2 * p - d * (k - 1) - 1
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pool_input(op, input, nd):
    x = _shape(input)
    if len(x) not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: Expected {nd + 1}D or {nd + 2}D input tensor, but got {list(x)}")
    return x


def _max_pool(nd):
    op = f"max_pool{nd}d"

    def pool(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
        x = _pool_input(op, input, nd)
        k = _tup(kernel_size, nd, "kernel_size")
        s = k if stride is None or (isinstance(stride, (list, tuple)) and not stride) else _tup(stride, nd, "stride")
        p, d = _tup(padding, nd, "padding"), _tup(dilation, nd, "dilation")
        for i in range(nd):
            if p[i] > k[i] // 2:
                raise RuntimeError(f"{op}: pad should be at most half of effective kernel size, but got pad={p[i]}, "
                                   f"kernel_size={k[i]} and dilation={d[i]}")
        out = tuple(_pool_len(x[-nd + i], k[i], s[i], p[i], d[i], ceil_mode) for i in range(nd))
        if any(o <= 0 for o in out):
            raise RuntimeError(f"{op}: Given input size: {list(x)}. Calculated output size: {list(out)}. Output "
                               "size is too small")
        shape = x[:-nd] + out
        r = make(shape, _dt(input))
        return (r, make(shape, "int64")) if return_indices else r
    return pool


def _avg_pool(nd):
    op = f"avg_pool{nd}d"

    def pool(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
             divisor_override=None):
        x = _pool_input(op, input, nd)
        k = _tup(kernel_size, nd, "kernel_size")
        s = k if stride is None or (isinstance(stride, (list, tuple)) and not stride) else _tup(stride, nd, "stride")
        p = _tup(padding, nd, "padding")
        for i in range(nd):
            if p[i] > k[i] // 2:
                raise RuntimeError(f"{op}: pad should be at most half of effective kernel size, but got "
                                   f"pad={p[i]}, kernel_size={k[i]}")
        out = tuple(_pool_len(x[-nd + i], k[i], s[i], p[i], 1, ceil_mode) for i in range(nd))
        if any(o <= 0 for o in out):
            raise RuntimeError(f"{op}: Given input size: {list(x)}. Calculated output size: {list(out)}. Output "
                               "size is too small")
        return make(x[:-nd] + out, _dt(input))
    return pool


def _adaptive(nd, with_indices):
    op = f"adaptive_{'max' if with_indices else 'avg'}_pool{nd}d"

    def pool(input, output_size, return_indices=False):
        x = _pool_input(op, input, nd)
        sizes = tuple(output_size) if isinstance(output_size, (list, tuple)) else (output_size,) * nd
        if len(sizes) != nd:
            raise RuntimeError(f"{op}: output_size must be {nd}")
        out = tuple(x[-nd + i] if sizes[i] is None else int(sizes[i]) for i in range(nd))
        shape = x[:-nd] + out
        r = make(shape, _dt(input))
        return (r, make(shape, "int64")) if (with_indices and return_indices) else r
    return pool


# ---------------------------------------------------------------- interpolation, padding
def _interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None, antialias=False):
    x = _shape(input)
    nd = len(x) - 2
    if nd < 1:
        raise ValueError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {len(x)}D) for the modes: "
                         f"nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact (got {mode})")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined" if size is not None
                         else "either size or scale_factor should be defined")
    if size is not None:
        out = tuple(int(s) for s in size) if isinstance(size, (list, tuple)) else (int(size),) * nd
        if len(out) != nd:
            raise ValueError(f"Input and output must have the same number of spatial dimensions, but got input with "
                             f"spatial dimensions of {list(x[2:])} and output size of {list(out)}. Please provide "
                             "input tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) "
                             "format.")
    else:
        sf = tuple(scale_factor) if isinstance(scale_factor, (list, tuple)) else (scale_factor,) * nd
        out = tuple(int(math.floor(float(x[2 + i]) * float(sf[i]))) for i in range(nd))
    return make(x[:2] + out, _dt(input))


def _upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return _interpolate(input, size, scale_factor, mode, align_corners)


def _pad(input, pad, mode="constant", value=None):
    x = list(_shape(input))
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if mode != "constant" and len(pad) // 2 not in (len(x) - 1, len(x) - 2):
        raise NotImplementedError(f"Padding size {len(pad)} is not supported for {len(x)}D input tensor.")
    if len(pad) // 2 > len(x):
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {len(x)}")
    for i in range(len(pad) // 2):
        d = len(x) - 1 - i
        x[d] += int(pad[2 * i]) + int(pad[2 * i + 1])
        if x[d] < 0:
            raise RuntimeError(f"The input size {x[d] - int(pad[2 * i]) - int(pad[2 * i + 1])}, plus negative "
                               f"padding {pad[2 * i]} and {pad[2 * i + 1]} resulted in a negative output size, which "
                               f"is invalid. Check dimension {d} of your input.")
    return make(x, _dt(input))


# ---------------------------------------------------------------- advanced indexing
_INDEX_DTYPES = ("int64", "int32", "int16", "int8", "uint8", "bool")


def _as_index(i):
    """A list index as a tensor (as PyTorch treats it), other index kinds unchanged."""
    if isinstance(i, (list, tuple)) and not isinstance(i, Tensor):
        import flambeau
        return flambeau.tensor(i) if len(i) else flambeau.tensor(i, dtype=flambeau.int64)
    return i


def index_shape(shape, idx, op="__getitem__"):
    """PyTorch's indexing result shape: ints select (dims removed) before the advanced indices apply, slices
    and None keep/insert a dim, bool scalars insert a dim indexed by a length-1/0 index, integer tensors index
    their dim (broadcast together; the result dims take the first one's place when the advanced indices are
    adjacent, else go in front), and bool/uint8 masks on cpu count as their nonzero() index tensors."""
    from ._meta import MetaTensor
    if not isinstance(idx, tuple):
        idx = (idx,)
    idx = tuple(_as_index(i) for i in idx)
    consumed = 0
    for i in idx:
        if i is None or i is Ellipsis or isinstance(i, bool):
            continue
        if isinstance(i, Tensor) and i._impl.dtype in ("bool", "uint8"):
            consumed += max(i._impl.ndim, 1) if i._impl.ndim else 0
        else:
            consumed += 1
    if consumed > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    dims = []  # each: ("plain", size) or ("adv", index shape)
    d = 0
    for i in idx:
        if i is Ellipsis:
            k = len(shape) - consumed
            dims.extend(("plain", s) for s in shape[d:d + k])
            d += k
            consumed = len(shape)  # a second Ellipsis is an error in PyTorch; here it expands to nothing
        elif i is None:
            dims.append(("plain", 1))
        elif isinstance(i, bool):
            dims.append(("adv", (1,) if i else (0,)))
        elif isinstance(i, int) or (isinstance(i, Tensor) and not isinstance(i, MetaTensor) and i._impl.ndim == 0
                                    and i._impl.dtype not in ("bool", "uint8")
                                    and i._impl.dtype in _INDEX_DTYPES):
            n = shape[d]
            v = int(i) if isinstance(i, int) else int(i.item())
            if not -n <= v < n:
                raise IndexError(f"index {v} is out of bounds for dimension {d} with size {n}")
            d += 1
        elif isinstance(i, slice):
            dims.append(("plain", len(range(*i.indices(shape[d])))))
            d += 1
        elif isinstance(i, Tensor):
            dt = i._impl.dtype
            if dt not in _INDEX_DTYPES:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            if dt in ("bool", "uint8"):
                if isinstance(i, MetaTensor):
                    raise NotImplementedError(_DATA_DEPENDENT.format(op=f"{op} with a boolean mask"))
                k = i._impl.ndim
                if k == 0:  # a 0-dim mask: a new dim indexed by [0] or []
                    dims.append(("adv", (1,) if bool(i) else (0,)))
                    continue
                ms = tuple(i._impl.shape)
                for j in range(k):
                    if ms[j] != shape[d + j]:
                        raise IndexError(f"The shape of the mask {list(ms)} at index {j} does not match the shape of "
                                         f"the indexed tensor {list(shape)} at index {d + j}")
                count = int(i.sum())
                dims.extend(("adv", (count,)) for _ in range(k))
                d += k
            else:
                dims.append(("adv", tuple(i._impl.shape)))
                d += 1
        else:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
                             f"valid indices (got {type(i).__name__})")
    dims.extend(("plain", s) for s in shape[d:])
    adv = [k for k, (kind, _) in enumerate(dims) if kind == "adv"]
    if not adv:
        return tuple(s for _, s in dims)
    from ._meta import _broadcast
    try:
        b = _broadcast(*(dims[k][1] for k in adv))
    except RuntimeError:
        raise IndexError("shape mismatch: indexing tensors could not be broadcast together with shapes "
                         + " ".join(str(list(dims[k][1])) for k in adv)) from None
    plain = [s for kind, s in dims if kind == "plain"]
    if adv == list(range(adv[0], adv[-1] + 1)):
        before = [s for kind, s in dims[:adv[0]]]
        return tuple(before) + b + tuple(s for _, s in dims[adv[-1] + 1:])
    return b + tuple(plain)


def _getitem(t, idx):
    return make(index_shape(tuple(t._impl.shape), idx), t._impl.dtype)


def _index_select(input, dim, index, *, out=None):
    x = _shape(input)
    d = wrap_dim(dim, max(len(x), 1))
    if len(_shape(index)) > 1 or index._impl.dtype not in ("int64", "int32"):
        raise IndexError("index_select(): Index is supposed to be a vector")
    n = _shape(index)[0] if _shape(index) else 1
    return make(x[:d] + (n,) + x[d + 1:] if x else (), _dt(input))


def _gather(input, dim, index, *, sparse_grad=False, out=None):
    x, i = _shape(input), _shape(index)
    if len(x) != len(i) and not (len(x) <= 1 and len(i) <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    d = wrap_dim(dim, max(len(x), 1))
    for j, (a, b) in enumerate(zip(i, x)):
        if j != d and a > b:
            raise RuntimeError(f"Size does not match at dimension {j} expected index {list(i)} to be no larger "
                               f"than self {list(x)} apart from dimension {d}")
    if index._impl.dtype != "int64":
        raise RuntimeError("gather(): Expected dtype int64 for index")
    return make(i, _dt(input))


def _take_along_dim(input, indices, dim=None, *, out=None):
    if dim is None:
        return make(_shape(indices), _dt(input))
    x, i = _shape(input), _shape(indices)
    d = wrap_dim(dim, len(x))
    from ._meta import _broadcast
    bx = _broadcast(x[:d] + (1,) + x[d + 1:], i[:d] + (1,) + i[d + 1:])
    return make(bx[:d] + (i[d],) + bx[d + 1:], _dt(input))


def _take(input, index):
    return make(_shape(index), _dt(input))


def _same_as_input(input, *args, **kwargs):
    """index_add/index_copy/index_fill/scatter*/masked_scatter and their in-place forms' out-of-place
    results: the input's shape and dtype."""
    return make(_shape(input), _dt(input))


def _embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                   mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    x = _shape(input)
    dim = _shape(weight)[1]
    if len(x) == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             "fixed length sequences. However, found offsets of type Tensor")
        bags = x[0]
    elif len(x) == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        bags = _shape(offsets)[0] - (1 if include_last_offset else 0)
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {len(x)}")
    return make((bags, dim), _dt(weight))


def _one_hot(tensor, num_classes=-1):
    if num_classes < 0:
        raise NotImplementedError(_DATA_DEPENDENT.format(op="one_hot without num_classes"))
    return make(_shape(tensor) + (int(num_classes),), "int64")


# ---------------------------------------------------------------- sorting and scans
def _values_indices(name, shape_v, dt):
    from ._functions.reduction import return_types
    return getattr(return_types, name)(make(shape_v, dt), make(shape_v, "int64"))


def _sort(input, dim=-1, descending=False, stable=False, *, out=None):
    if isinstance(dim, bool):  # sort(input, stable=..., dim=...) positional quirks: (stable, dim) order
        dim = -1
    wrap_dim(dim, max(len(_shape(input)), 1))
    return _values_indices("sort", _shape(input), _dt(input))


def _argsort(input, dim=-1, descending=False, stable=False):
    wrap_dim(dim, max(len(_shape(input)), 1))
    return make(_shape(input), "int64")


def _msort(input):
    return make(_shape(input), _dt(input))


def _topk(input, k, dim=-1, largest=True, sorted=True, *, out=None):
    x = _shape(input)
    if not x:
        if k > 1:
            raise RuntimeError("selected index k out of range")
        return _values_indices("topk", (), _dt(input))
    d = wrap_dim(dim, len(x))
    if not 0 <= k <= x[d]:
        raise RuntimeError("selected index k out of range")
    return _values_indices("topk", x[:d] + (k,) + x[d + 1:], _dt(input))


def _dim_values_indices(name):
    def rule(input, *args, **kwargs):
        from ._meta import _reduce_shape
        x = _shape(input)
        if name == "kthvalue":
            dim = args[1] if len(args) > 1 else kwargs.get("dim", -1)
            keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
        else:
            dim = args[0] if args else kwargs.get("dim", None)
            keepdim = args[1] if len(args) > 1 else kwargs.get("keepdim", False)
            if dim is None:
                if name == "mode":
                    dim = -1
                else:  # median()/nanmedian() of everything: one value
                    return make((), _dt(input))
        return _values_indices(name, _reduce_shape(x, dim, keepdim), _dt(input))
    return rule


def _cum(name):
    def rule(input, dim=None, *, dtype=None, out=None):
        dt = _dt(input)
        if name in ("cumsum", "cumprod") and dt in ("bool", "uint8", "int8", "int16", "int32"):
            dt = "int64"
        if dtype is not None:
            from ._meta import _dt_name
            dt = _dt_name(dtype, dt)
        if dim is None:
            raise TypeError(f"{name}() missing required argument 'dim'")
        wrap_dim(dim, max(len(_shape(input)), 1))
        if name in ("cummax", "cummin"):
            return _values_indices(name, _shape(input), dt)
        return make(_shape(input), dt)
    return rule


# ---------------------------------------------------------------- more products and shapes
def _mv(input, vec, *, out=None):
    a, v = _shape(input), _shape(vec)
    if len(a) != 2 or len(v) != 1 or a[1] != v[0]:
        raise RuntimeError(f"size mismatch, got input ({a[0] if a else 0}), mat ({'x'.join(map(str, a))}), vec "
                           f"({v[0] if v else 0})")
    return make((a[0],), _promote.result_type_names(input, vec))


def _dot(input, other, *, out=None):
    a, b = _shape(input), _shape(other)
    if len(a) != 1 or len(b) != 1:
        raise RuntimeError(f"1D tensors expected, but got {len(a)}D and {len(b)}D tensors")
    if a != b:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{a[0]}] and src [{b[0]}] to have the same "
                           "number of elements, but got {a[0]} and {b[0]} elements respectively")
    return make((), _promote.result_type_names(input, other))


def _outer(input, vec2, *, out=None):
    return make(_shape(input) + _shape(vec2), _promote.result_type_names(input, vec2))


def _baddbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    from ._meta import _matmul_shape
    return make(_m()._broadcast(_shape(input), _matmul_shape(_shape(batch1), _shape(batch2), "baddbmm")),
                _promote.result_type_names(batch1, batch2))


def _addbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    from ._meta import _matmul_shape
    b = _matmul_shape(_shape(batch1), _shape(batch2), "addbmm")
    return make(_m()._broadcast(_shape(input), b[-2:]), _promote.result_type_names(batch1, batch2))


def _addmv(input, mat, vec, *, beta=1, alpha=1, out=None):
    return make(_m()._broadcast(_shape(input), _shape(_mv(mat, vec))), _promote.result_type_names(mat, vec))


def _einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    eq = equation.replace(" ", "")
    lhs, _, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError(f"einsum(): more operands were provided than specified in the equation"
                           if len(operands) > len(terms) else "einsum(): fewer operands were provided than specified "
                           "in the equation")
    sizes, ell = {}, ()
    for term, op in zip(terms, operands):
        s = _shape(op)
        if "..." in term:
            a, b = term.split("...")
            n_ell = len(s) - len(a) - len(b)
            ell = _m()._broadcast(ell, s[len(a):len(a) + n_ell])
            letters = list(a) + list(b)
            dims = s[:len(a)] + s[len(a) + n_ell:]
        else:
            letters, dims = list(term), s
            if len(letters) != len(s):
                raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(letters)}) does not "
                                   f"match the number of dimensions ({len(s)}) for operand and no ellipsis was given")
        for c, n in zip(letters, dims):
            if c in sizes and sizes[c] != n and 1 not in (sizes[c], n):
                raise RuntimeError(f"einsum(): operands do not broadcast with remapped shapes (original->remapped): "
                                   f"subscript {c} has size {sizes[c]} and {n}")
            sizes[c] = max(sizes.get(c, 1), n) if n != 0 and sizes.get(c, 1) != 0 else 0
    if _ == "":  # implicit output: the letters seen once, sorted, after the ellipsis dims
        counts = {}
        for term in terms:
            for c in term.replace("...", ""):
                counts[c] = counts.get(c, 0) + 1
        out = ell + tuple(sizes[c] for c in sorted(c for c, k in counts.items() if k == 1))
    else:
        a, sep, b = rhs.partition("...")
        out = tuple(sizes[c] for c in a) + (ell if sep else ()) + tuple(sizes[c] for c in b)
    return make(out, _promote.result_type_names(*operands))


def _tensordot(a, b, dims=2, out=None):
    sa, sb = _shape(a), _shape(b)
    if isinstance(dims, int):
        da, db = list(range(len(sa) - dims, len(sa))), list(range(dims))
    else:
        da, db = dims
        da = [da] if isinstance(da, int) else list(da)
        db = [db] if isinstance(db, int) else list(db)
    da = [wrap_dim(d, len(sa)) for d in da]
    db = [wrap_dim(d, len(sb)) for d in db]
    out = tuple(s for i, s in enumerate(sa) if i not in da) + tuple(s for i, s in enumerate(sb) if i not in db)
    return make(out, _promote.result_type_names(a, b))


def _repeat(t, *sizes):
    from ._utils import parse_size
    sizes = parse_size(sizes, "repeat")
    x = _shape(t)
    if len(sizes) < len(x):
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                           "tensor")
    x = (1,) * (len(sizes) - len(x)) + x
    return make(tuple(a * b for a, b in zip(x, sizes)), _dt(t))


def _tile(t, dims):
    dims = tuple(dims) if isinstance(dims, (list, tuple)) else (dims,)
    x = _shape(t)
    if len(dims) < len(x):
        dims = (1,) * (len(x) - len(dims)) + dims
    return _repeat(t, *dims)


def _repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    if isinstance(repeats, Tensor) and repeats._impl.ndim > 0:
        if output_size is None:
            raise NotImplementedError(_DATA_DEPENDENT.format(op="repeat_interleave with a tensor of repeats"))
        n = int(output_size)
    else:
        n = None
    x = _shape(input)
    if dim is None:
        total = math.prod(x)
        return make((n if n is not None else total * int(repeats),), _dt(input))
    d = wrap_dim(dim, len(x))
    return make(x[:d] + (n if n is not None else x[d] * int(repeats),) + x[d + 1:], _dt(input))


def _unfold_view(t, dimension, size, step):
    x = _shape(t)
    d = wrap_dim(dimension, max(len(x), 1))
    n = x[d] if x else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    return make(x[:d] + ((n - size) // step + 1,) + x[d + 1:] + (size,), _dt(t))


def _im2col(input, kernel_size, dilation=1, padding=0, stride=1):
    x = _shape(input)
    if len(x) not in (3, 4):
        raise NotImplementedError(f"Input Error: Only 3D or 4D input Tensors are supported (got {len(x)}D)")
    k, d, p, s = (_tup(v, 2) for v in (kernel_size, dilation, padding, stride))
    blocks = 1
    for i in range(2):
        blocks *= (x[-2 + i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1
    out = (x[-3] * k[0] * k[1], blocks)
    return make(x[:-3] + out, _dt(input))


def _col2im(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    x = _shape(input)
    k = _tup(kernel_size, 2)
    o = _tup(output_size, 2)
    return make(x[:-2] + (x[-2] // (k[0] * k[1]),) + o, _dt(input))


def _pixel_shuffle(input, upscale_factor):
    x = _shape(input)
    r = int(upscale_factor)
    if len(x) < 3 or x[-3] % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={x[-3] if len(x) >= 3 else 0} is not divisible by "
                           f"{r * r}")
    return make(x[:-3] + (x[-3] // (r * r), x[-2] * r, x[-1] * r), _dt(input))


def _pixel_unshuffle(input, downscale_factor):
    x = _shape(input)
    r = int(downscale_factor)
    return make(x[:-3] + (x[-3] * r * r, x[-2] // r, x[-1] // r), _dt(input))


def _diagonal(input, offset=0, dim1=0, dim2=1):
    x = _shape(input)
    a, b = wrap_dim(dim1, len(x)), wrap_dim(dim2, len(x))
    n = max(0, min(x[a], x[b] - offset) if offset >= 0 else min(x[a] + offset, x[b]))
    return make(tuple(s for i, s in enumerate(x) if i not in (a, b)) + (n,), _dt(input))


def _diag_embed(input, offset=0, dim1=-2, dim2=-1):
    x = _shape(input)
    n = x[-1] + abs(offset)
    nd = len(x) + 1
    a, b = wrap_dim(dim1, nd), wrap_dim(dim2, nd)
    rest = iter(x[:-1])
    return make(tuple(n if i in (a, b) else next(rest) for i in range(nd)), _dt(input))


def _diag(input, diagonal=0, *, out=None):
    x = _shape(input)
    if len(x) == 1:
        n = x[0] + abs(diagonal)
        return make((n, n), _dt(input))
    if len(x) != 2:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {len(x)}D")
    return _diagonal(input, diagonal)


def _broadcast_to(input, size):
    return _m()._expand(input, *size)


def _broadcast_tensors(*tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    shape = _m()._broadcast(*(_shape(t) for t in tensors))
    return tuple(make(shape, _dt(t)) for t in tensors)


def _meshgrid(*tensors, indexing=None):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    sizes = [(_shape(t)[0] if _shape(t) else 1) for t in tensors]
    if indexing == "xy" and len(sizes) >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    return tuple(make(tuple(sizes), _dt(t)) for t in tensors)


def _cdist(x1, x2, p=2.0, compute_mode=None):
    a, b = _shape(x1), _shape(x2)
    return make(_m()._broadcast(a[:-2], b[:-2]) + (a[-2], b[-2]), _promote.result_type_names(x1, x2))


def _pairwise(x1, x2, *args, **kwargs):
    shape = _m()._broadcast(_shape(x1), _shape(x2))
    return make(shape[:-1] if shape else (), _promote.result_type_names(x1, x2))


def _cosine_similarity(x1, x2, dim=1, eps=1e-8):
    shape = _m()._broadcast(_shape(x1), _shape(x2))
    d = wrap_dim(dim, len(shape))
    return make(shape[:d] + shape[d + 1:], _promote.result_type_names(x1, x2))


def _bilinear(input1, input2, weight, bias=None):
    return make(_shape(input1)[:-1] + (_shape(weight)[0],), _promote.result_type_names(input1, weight))


def _diff(input, n=1, dim=-1, prepend=None, append=None):
    x = list(_shape(input))
    d = wrap_dim(dim, len(x))
    for extra in (prepend, append):
        if extra is not None:
            x[d] += _shape(extra)[d] if _shape(extra) else 1
    x[d] = max(x[d] - n, 0)
    dt = "bool" if _dt(input) == "bool" else _dt(input)
    return make(x, dt)


def _tensor_split(input, indices_or_sections, dim=0):
    x = _shape(input)
    d = wrap_dim(dim, len(x))
    n = x[d]
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    else:
        bounds = [0] + [min(max(int(i), 0), n) for i in indices_or_sections] + [n]
        sizes = [max(b - a, 0) for a, b in zip(bounds, bounds[1:])]
    return tuple(make(x[:d] + (s,) + x[d + 1:], _dt(input)) for s in sizes)


def _split_with_sizes(t, split_sizes, dim=0):
    x = _shape(t)
    d = wrap_dim(dim, len(x))
    if sum(split_sizes) != x[d]:
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {x[d]} (input tensor's size at "
                           f"dimension {d}), but got split_sizes={list(split_sizes)}")
    return tuple(make(x[:d] + (s,) + x[d + 1:], _dt(t)) for s in split_sizes)


# ---------------------------------------------------------------- losses
def _loss(kind):
    def loss(input, target, *args, reduction="mean", **kwargs):
        if "size_average" in kwargs or "reduce" in kwargs:
            sa, rd = kwargs.pop("size_average", None), kwargs.pop("reduce", None)
            if sa is not None or rd is not None:
                from .nn.functional import _legacy_reduction
                reduction = _legacy_reduction(sa, rd)
        x, t = _shape(input), _shape(target)
        if kind == "class":  # cross_entropy / nll_loss: (N, C, d...) with class-index targets (N, d...)
            if _dt(target) in ("int64", "int32", "uint8", "int16", "int8"):
                expect = (x[0],) + x[2:] if len(x) >= 2 else ()
                if t != expect:
                    raise RuntimeError(f"Expected target size {list(expect)}, got {list(t)}" if len(x) > 2 else
                                       f"Expected input batch_size ({x[0] if x else 1}) to match target batch_size "
                                       f"({t[0] if t else 1}).")
                none_shape = t
            else:  # class probabilities: the input's shape
                if t != x:
                    raise RuntimeError(f"Expected target size {list(x)}, got {list(t)} (meta)")
                none_shape = (x[0],) + x[2:] if len(x) >= 2 else ()
        else:
            none_shape = _m()._broadcast(x, t)
        dt = _dt(input) if kind != "class" or _dt(input) in ("float32", "float64", "float16", "bfloat16") \
            else _dt(input)
        if reduction == "none":
            return make(none_shape, dt)
        if reduction not in ("mean", "sum", "batchmean"):
            raise ValueError(f"{reduction} is not a valid value for reduction")
        return make((), dt)
    return loss


def _float_power(input, exponent, *, out=None):
    from ._meta import _broadcast
    cx = any(isinstance(a, complex) or (isinstance(a, Tensor) and a._impl.dtype.startswith("complex"))
             for a in (input, exponent))
    return make(_broadcast(_shape(input), _shape(exponent)), "complex128" if cx else "float64")


def _new_tensor(t, data, *, dtype=None, device=None, requires_grad=False, **kwargs):
    """t.new_tensor(data): data's shape, t's dtype unless one is given (as PyTorch's)."""
    import flambeau
    from ._meta import is_meta_device, _dt_name
    shape = tuple(data._impl.shape) if isinstance(data, Tensor) else \
        tuple(flambeau.tensor(data, device="cpu")._impl.shape)
    dt = _dt_name(dtype, t._impl.dtype)
    if device is not None and not is_meta_device(device):
        return flambeau.tensor(data, dtype=flambeau._dtype._BY_NAME[dt], device=device, requires_grad=requires_grad)
    return _m().make(shape, dt, requires_grad=requires_grad)


def _trace(input):
    x = _shape(input)
    if len(x) != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {len(x)}")
    dt = _dt(input)
    return make((), "int64" if dt in ("bool", "uint8", "int8", "int16", "int32") else dt)


def _stat_mean(input, dim=None, *args, keepdim=False, **kwargs):
    from ._meta import _reduction
    if args and isinstance(args[0], bool) and isinstance(dim, bool):  # std_mean(input, unbiased)
        dim = None
    r = _reduction("float")(input, dim, keepdim)
    return r, make(tuple(r._impl.shape), r._impl.dtype)


def _bucketize(input, boundaries, *, out_int32=False, right=False, out=None):
    return make(_shape(input), "int32" if out_int32 else "int64")


def _searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None, out=None):
    return make(_shape(input) if isinstance(input, Tensor) else (), "int32" if out_int32 else "int64")


def _histc(input, bins=100, min=0, max=0, *, out=None):
    return make((int(bins),), _dt(input))


def _ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    x = _shape(log_probs)
    if reduction == "none":
        return make(x[1:2] if len(x) == 3 else (), _dt(log_probs))
    return make((), _dt(log_probs))


def _grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    x, g = _shape(input), _shape(grid)
    return make(x[:2] + g[1:-1], _dt(input))


def _affine_grid(theta, size, align_corners=None):
    size = tuple(size)
    return make((size[0],) + size[2:] + (len(size) - 2,), _dt(theta))


def _max_unpool(nd):
    def rule(input, indices, kernel_size, stride=None, padding=0, output_size=None):
        x = _shape(input)
        k = _tup(kernel_size, nd)
        s = k if stride is None else _tup(stride, nd)
        p = _tup(padding, nd)
        if output_size is not None:
            out = tuple(output_size)[-nd:]
        else:
            out = tuple((x[-nd + i] - 1) * s[i] - 2 * p[i] + k[i] for i in range(nd))
        return make(x[:-nd] + out, _dt(input))
    return rule


def _fractional_max_pool(nd):
    def rule(input, kernel_size, output_size=None, output_ratio=None, return_indices=False, _random_samples=None):
        x = _shape(input)
        if output_size is None:
            ratio = tuple(output_ratio) if isinstance(output_ratio, (list, tuple)) else (output_ratio,) * nd
            out = tuple(int(x[-nd + i] * ratio[i]) for i in range(nd))
        else:
            out = _tup(output_size, nd)
        r = make(x[:-nd] + out, _dt(input))
        return (r, make(x[:-nd] + out, "int64")) if return_indices else r
    return rule


def _linalg_rules():
    from ._meta_linalg import RULES as linalg
    return linalg


# ---------------------------------------------------------------- the table
RULES = {
    **{f"conv{n}d": _conv(n, False) for n in (1, 2, 3)},
    **{f"conv_transpose{n}d": _conv(n, True) for n in (1, 2, 3)},
    **{f"max_pool{n}d": _max_pool(n) for n in (1, 2, 3)},
    **{f"avg_pool{n}d": _avg_pool(n) for n in (1, 2, 3)},
    **{f"adaptive_avg_pool{n}d": _adaptive(n, False) for n in (1, 2, 3)},
    **{f"adaptive_max_pool{n}d": _adaptive(n, True) for n in (1, 2, 3)},
    "interpolate": _interpolate, "upsample": _upsample, "pad": _pad,
    "__getitem__": _getitem, "index_select": _index_select, "gather": _gather, "take": _take,
    "take_along_dim": _take_along_dim,
    **{n: _same_as_input for n in ("scatter", "scatter_add", "scatter_reduce", "index_add", "index_copy",
                                   "index_fill", "index_put", "index_reduce", "masked_scatter")},
    "nonzero": data_dependent("nonzero"), "argwhere": data_dependent("argwhere"),
    "masked_select": data_dependent("masked_select"), "unique": data_dependent("unique"),
    "unique_consecutive": data_dependent("unique_consecutive"), "bincount": data_dependent("bincount"),
    "embedding_bag": _embedding_bag, "one_hot": _one_hot,
    "sort": _sort, "argsort": _argsort, "msort": _msort, "topk": _topk,
    "kthvalue": _dim_values_indices("kthvalue"), "median": _dim_values_indices("median"),
    "nanmedian": _dim_values_indices("nanmedian"), "mode": _dim_values_indices("mode"),
    "cumsum": _cum("cumsum"), "cumprod": _cum("cumprod"), "logcumsumexp": _cum("logcumsumexp"),
    "cummax": _cum("cummax"), "cummin": _cum("cummin"),
    **_linalg_rules(),
    "mv": _mv, "dot": _dot, "inner": None, "outer": _outer, "ger": _outer, "baddbmm": _baddbmm, "addbmm": _addbmm,
    "addmv": _addmv,
    "einsum": _einsum, "tensordot": _tensordot, "repeat": _repeat, "tile": _tile,
    "repeat_interleave": _repeat_interleave, "unfold": None, "fold": _col2im, "pixel_shuffle": _pixel_shuffle,
    "pixel_unshuffle": _pixel_unshuffle, "diagonal": _diagonal, "diag_embed": _diag_embed, "diag": _diag,
    "broadcast_to": _broadcast_to, "broadcast_tensors": _broadcast_tensors, "meshgrid": _meshgrid,
    "cdist": _cdist, "pairwise_distance": _pairwise, "cosine_similarity": _cosine_similarity,
    "bilinear": _bilinear, "diff": _diff, "tensor_split": _tensor_split, "split_with_sizes": _split_with_sizes,
    **{n: _loss("class") for n in ("cross_entropy", "nll_loss")},
    **{n: _loss("pointwise") for n in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
                                       "binary_cross_entropy_with_logits", "kl_div", "soft_margin_loss",
                                       "poisson_nll_loss", "hinge_embedding_loss")},
    "float_power": _float_power, "new_tensor": _new_tensor, "bucketize": _bucketize,
    "searchsorted": _searchsorted, "histc": _histc, "ctc_loss": _ctc_loss, "grid_sample": _grid_sample,
    "affine_grid": _affine_grid, "trace": _trace, "std_mean": _stat_mean, "var_mean": _stat_mean,
    "narrow_copy": lambda t, dim, start, length: _m()._narrow(t, dim, start, length),
    **{f"max_unpool{n}d": _max_unpool(n) for n in (1, 2, 3)},
    **{f"fractional_max_pool{n}d": _fractional_max_pool(n) for n in (2, 3)},
}
del RULES["inner"]
RULES["unfold"] = None  # (set below: Tensor.unfold is a view, F.unfold im2col; told apart by their arity)


def _unfold(*args, **kwargs):
    if len(args) >= 4 or "step" in kwargs:
        return _unfold_view(*args, **kwargs)
    return _im2col(*args, **kwargs)


RULES["unfold"] = _unfold

# Functions run through their own Python body on meta tensors (every op they call has a rule).
COMPOSITE = frozenset((
    "multi_head_attention_forward", "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_pool1d_with_indices",
    "max_pool2d_with_indices", "max_pool3d_with_indices", "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices", "upsample_nearest",
    "upsample_bilinear", "rot90", "hstack", "vstack", "dstack", "column_stack", "row_stack", "atleast_1d",
    "atleast_2d", "atleast_3d", "ravel", "kron", "block_diag", "cartesian_prod",
    "aminmax", "chain_matmul", "triplet_margin_loss", "margin_ranking_loss",
    "gaussian_nll_loss", "channel_shuffle", "gumbel_softmax",
    "hinge_embedding_loss", "multilabel_soft_margin_loss", "multi_margin_loss", "soft_margin_loss",
))
