"""Memory formats: torch.contiguous_format, preserve_format, channels_last, channels_last_3d.

PyTorch users observe layouts through stride() and is_contiguous(memory_format=...): clone(),
empty_like() and friends keep a transposed or channels_last input's layout (preserve_format, the
default), `x.contiguous(memory_format=torch.channels_last)` gives NHWC strides. The stride rules
themselves live in C++ (csrc/core/layout.h), shared with the elementwise ops' outputs.
"""
from . import _C
from ._named_constant import NamedConstant


class memory_format(NamedConstant):
    """One of the four memory formats; compared by identity, like PyTorch's."""
    __slots__ = ()


contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")

_ALL = {f._name: f for f in (contiguous_format, preserve_format, channels_last, channels_last_3d)}
# The order of a channels-last layout's dims from the fastest to the slowest (C, W, H, N / C, W, H, D, N).
_CL_ORDER = {channels_last: (1, 3, 2, 0), channels_last_3d: (1, 4, 3, 2, 0)}
_CL_RANK = {channels_last: 4, channels_last_3d: 5}


def _by_name(name):
    return _ALL[name]


memory_format._by_name = staticmethod(_by_name)


def parse(fmt, op, default=preserve_format):
    """The memory_format object for `fmt` (None: `default`). Internal callers may pass its name."""
    if fmt is None:
        return default
    if isinstance(fmt, memory_format):
        return fmt
    if isinstance(fmt, str) and fmt in _ALL:
        return _ALL[fmt]
    raise TypeError(f"{op}(): argument 'memory_format' must be torch.memory_format, not {type(fmt).__name__}")


def _check_rank(fmt, ndim):
    rank = _CL_RANK.get(fmt)
    if rank is not None and ndim != rank:
        raise RuntimeError(f"required rank {rank} tensor to use {fmt._name} format")


def _channels_last_strides(shape, fmt):
    strides = [0] * len(shape)
    cur = 1
    for d in _CL_ORDER[fmt]:
        strides[d] = cur
        cur *= max(shape[d], 1)
    return strides


def is_contiguous_as(impl, fmt):
    """Tensor.is_contiguous(memory_format=fmt): c10's rules (size-1 dims may have any stride)."""
    if fmt in (contiguous_format, preserve_format):
        return impl.is_contiguous()
    shape, stride = impl.shape, impl.stride
    if len(shape) != _CL_RANK[fmt]:
        return False
    expected = 1
    for d in _CL_ORDER[fmt]:  # c10's compute_channels_last_contiguous_2d/_3d
        if shape[d] != 1:
            if stride[d] != expected:
                return False
            expected *= shape[d]
    return True


def strides_for(impl, fmt):
    """The strides a new tensor like `impl` gets under `fmt`; None for plain row-major."""
    _check_rank(fmt, impl.ndim)
    if fmt is contiguous_format:
        return None
    if fmt is preserve_format:
        if impl.is_contiguous():
            return None
        return list(_C.preserve_strides(impl))
    return _channels_last_strides(list(impl.shape), fmt)


def empty_as(impl, fmt, dtype, device):
    """An uninitialised tensor of impl's shape, laid out by `fmt` (PyTorch's empty_like)."""
    strides = strides_for(impl, fmt)
    if strides is None:
        return _C.empty(list(impl.shape), dtype, device)
    return _C.empty_strided(list(impl.shape), strides, dtype, device)


def empty_shaped(shape, fmt, dtype, device):
    """torch.empty(shape, memory_format=fmt): only the row-major and channels-last formats apply."""
    if fmt is preserve_format:
        raise RuntimeError("preserve memory format is unsupported by the empty operator")
    _check_rank(fmt, len(shape))
    if fmt is contiguous_format:
        return _C.empty(list(shape), dtype, device)
    return _C.empty_strided(list(shape), _channels_last_strides(list(shape), fmt), dtype, device)


def copy_as(impl, fmt, dtype, device):
    """A copy of impl cast to dtype on device, laid out by `fmt` (clone, to, contiguous)."""
    if fmt is preserve_format:
        if impl.is_contiguous():
            return _C.to(impl, dtype, device, True)
        return _C.copy_preserve(impl, dtype, device)
    out = empty_as(impl, fmt, dtype, device)
    _C.copy_(out, impl)
    return out


def suggest_memory_format(impl):
    """c10's suggest_memory_format: channels_last(_3d) when the strides look like it (is_strides_like_
    channels_last, ambiguous cases going to row-major), else contiguous_format."""
    shape, stride = list(impl.shape), list(impl.stride)
    fmt = {4: channels_last, 5: channels_last_3d}.get(len(shape))
    if fmt is None or stride[1] == 0:
        return contiguous_format
    lo = 0
    for d in _CL_ORDER[fmt]:
        if shape[d] == 0 or stride[d] < lo:
            return contiguous_format
        if d == 0 and lo == stride[1]:
            return contiguous_format
        lo = stride[d] * (shape[d] if shape[d] > 1 else 1)
    return fmt


def cat_memory_format(impls):
    """The layout of torch.cat's result: the inputs' common suggested format, else row-major."""
    fmt = None
    for impl in impls:
        f = suggest_memory_format(impl)
        if f is contiguous_format or (fmt is not None and f is not fmt):
            return contiguous_format
        fmt = f
    return fmt or contiguous_format


def dim_order(impl):
    """Tensor.dim_order(): the dims from the outermost to the innermost in memory (PyTorch's
    compute_elementwise_output_logical_to_physical_perm for one tensor)."""
    shape, stride = list(impl.shape), list(impl.stride)
    nd = len(shape)
    if nd <= 1:
        return tuple(range(nd))
    # Short cuts only when the layout is unambiguous (size-1 dims can make both hold).
    rowmajor = impl.is_contiguous()
    cl = nd == 4 and is_contiguous_as(impl, channels_last)
    if rowmajor and not cl:
        return tuple(range(nd))
    if cl and not rowmajor:
        return (0, 2, 3, 1)

    def should_swap(a, b):
        sa, sb = stride[a], stride[b]
        if sa == 0 or sb == 0:
            return 0
        if sa < sb:
            return -1
        if sa > sb:
            return 1
        return 1 if shape[a] > shape[b] else 0

    perm = list(reversed(range(nd)))
    for i in range(1, nd):
        d1 = i
        for d0 in reversed(range(i)):
            c = should_swap(perm[d0], perm[d1])
            if c > 0:
                perm[d0], perm[d1] = perm[d1], perm[d0]
                d1 = d0
            elif c < 0:
                break
    return tuple(reversed(perm))
