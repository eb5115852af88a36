"""ATen-level entry points PyTorch exposes at top level, which libraries call directly instead of the
functional API: torch.convolution (what every F.conv*/conv_transpose* lowers to), torch.grid_sampler(_2d/_3d)
with integer modes, torch.affine_grid_generator, torch.batch_norm_update_stats, torch.norm_except_dim /
torch._weight_norm (weight norm's kernels), torch.embedding_renorm_, in-place torch.gcd_/lcm_,
torch.from_file (a memory-mapped tensor), the torch.sym_* helpers (on plain Python numbers they are the
builtins: flambeau has no symbolic shapes), and the build-flag queries. Each one forwards to the op that
already does the work, so results and gradients are the functional API's."""
import builtins
import math
import os

import numpy as np

__all__ = ["convolution", "grid_sampler", "grid_sampler_2d", "grid_sampler_3d", "affine_grid_generator",
           "batch_norm_update_stats", "norm_except_dim", "_weight_norm", "embedding_renorm_", "gcd_", "lcm_",
           "from_file", "sym_int", "sym_float", "sym_max", "sym_min", "sym_not", "sym_ite", "sym_sqrt",
           "sym_sum", "sym_constrain_range", "sym_constrain_range_for_size", "is_distributed",
           "compiled_with_cxx11_abi"]

# torch.grid_sampler's integer codes (aten's GridSamplerInterpolation / GridSamplerPadding enums)
_INTERPOLATION = {0: "bilinear", 1: "nearest", 2: "bicubic"}
_PADDING = {0: "zeros", 1: "border", 2: "reflection"}


def _tuple(v, n, name):
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(x) for x in v)
    if len(v) == 1:
        return v * n
    if len(v) != n:
        raise RuntimeError(f"convolution: expected {name} to be a single integer value or a list of {n} values "
                           f"to match the convolution dimensions, but got {name}={list(v)}")
    return v


def convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    """torch.convolution: the one entry point behind conv{1,2,3}d and conv_transpose{1,2,3}d; the spatial rank
    comes from the weight (a batch-less input is accepted as by the functional API)."""
    from .nn import functional as F
    nd = weight.dim() - 2
    if nd not in (1, 2, 3):
        raise RuntimeError(f"convolution: expected a weight of 3, 4 or 5 dimensions (1-3 spatial), got weight of "
                           f"size {list(weight.shape)}")
    stride, padding, dilation = (_tuple(stride, nd, "stride"), _tuple(padding, nd, "padding"),
                                 _tuple(dilation, nd, "dilation"))
    if transposed:
        output_padding = _tuple(output_padding, nd, "output_padding")
        fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
        return fn(input, weight, bias, stride, padding, output_padding, groups, dilation)
    if any(output_padding if not isinstance(output_padding, int) else (output_padding,)):
        raise RuntimeError("convolution: output_padding is only supported for transposed convolution, got "
                           f"output_padding={output_padding}")
    fn = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    return fn(input, weight, bias, stride, padding, dilation, groups)


def _grid_modes(interpolation_mode, padding_mode):
    if interpolation_mode not in _INTERPOLATION:
        raise RuntimeError(f"grid_sampler: expected interpolation_mode to be 0 (bilinear), 1 (nearest) or "
                           f"2 (bicubic), got {interpolation_mode}")
    if padding_mode not in _PADDING:
        raise RuntimeError(f"grid_sampler: expected padding_mode to be 0 (zeros), 1 (border) or 2 (reflection), "
                           f"got {padding_mode}")
    return _INTERPOLATION[interpolation_mode], _PADDING[padding_mode]


def grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners):
    """torch.grid_sampler: F.grid_sample with aten's integer mode codes."""
    from .nn import functional as F
    mode, pad = _grid_modes(interpolation_mode, padding_mode)
    return F.grid_sample(input, grid, mode=mode, padding_mode=pad, align_corners=bool(align_corners))


def _grid_sampler_nd(nd):
    def sampler(input, grid, interpolation_mode, padding_mode, align_corners):
        if input.dim() != nd + 2:
            raise RuntimeError(f"grid_sampler_{nd}d(): expected {nd + 2}D input, but got input with sizes "
                               f"{list(input.shape)}")
        return grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners)
    sampler.__name__ = sampler.__qualname__ = f"grid_sampler_{nd}d"
    sampler.__doc__ = f"torch.grid_sampler_{nd}d: grid_sampler on a {nd + 2}-D input."
    return sampler


grid_sampler_2d, grid_sampler_3d = _grid_sampler_nd(2), _grid_sampler_nd(3)


def affine_grid_generator(theta, size, align_corners):
    """torch.affine_grid_generator: F.affine_grid with align_corners positional."""
    from .nn import functional as F
    return F.affine_grid(theta, list(size), align_corners=bool(align_corners))


def batch_norm_update_stats(input, running_mean, running_var, momentum):
    """torch.batch_norm_update_stats: the batch's per-channel mean and variance (over every dim but dim 1),
    blended into running_mean / running_var (the unbiased variance) in place when they are given, as a training
    batch_norm step does; returns (mean, biased variance), as PyTorch's."""
    from .autograd.grad_mode import no_grad
    if input.dim() < 2:
        raise RuntimeError(f"batch_norm_update_stats: expected an input of at least 2 dimensions (N, C, ...), "
                           f"got input of size {list(input.shape)}")
    dims = [0] + list(range(2, input.dim()))
    with no_grad():
        mean = input.mean(dims)
        var = input.var(dims, unbiased=False)
        if running_mean is not None:
            running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
        if running_var is not None:
            n = input.numel() // max(input.shape[1], 1)
            running_var.mul_(1 - momentum).add_(var * (n / max(n - 1, 1)), alpha=momentum)
    return mean, var


def norm_except_dim(v, pow=2, dim=0):  # noqa: A002  (PyTorch's argument name)
    """torch.norm_except_dim (weight norm's norm): see nn.utils.weight_norm."""
    from .nn.utils.weight_norm import norm_except_dim as impl
    return impl(v, pow, dim)


def _weight_norm(v, g, dim=0):
    """torch._weight_norm: v * (g / norm_except_dim(v, 2, dim))."""
    from .nn.utils.weight_norm import _weight_norm as impl
    return impl(v, g, dim)


def embedding_renorm_(weight, indices, max_norm, norm_type):
    """torch.embedding_renorm_: rescale, in place and without recording, the rows of weight that indices name
    whose norm exceeds max_norm (what F.embedding(max_norm=...) does first); returns weight."""
    from .nn.functional import _embedding_renorm_
    _embedding_renorm_(weight, indices, max_norm, norm_type)
    return weight


def gcd_(input, other):
    """torch.gcd_: input.gcd_(other)."""
    return input.gcd_(other)


def lcm_(input, other):
    """torch.lcm_: input.lcm_(other)."""
    return input.lcm_(other)


def from_file(filename, shared=None, size=0, *, dtype=None, layout=None, device=None, pin_memory=False):
    """torch.from_file: a 1-D CPU tensor of `size` elements over a memory map of the file. shared=True writes
    changes through to the file (created or grown to size elements first, as PyTorch does); otherwise the map
    is private (copy-on-write) and the file must already hold size elements."""
    from ._creation import from_numpy, empty
    from ._dtype import _to_dtype, get_default_dtype
    if device is not None and str(device) != "cpu":
        raise RuntimeError(f"from_file: only CPU tensors can be mapped from a file, got device={device}")
    dt = _to_dtype(dtype) if dtype is not None else get_default_dtype()
    bf16 = dt._name == "bfloat16"  # numpy has no bfloat16: map its bits as int16, then view
    npdt = np.dtype(np.int16 if bf16 else dt._name)
    size = int(size)
    if size < 0:
        raise RuntimeError(f"from_file: size must be non-negative, got {size}")
    nbytes = size * npdt.itemsize
    if shared:
        if not os.path.exists(filename) or os.path.getsize(filename) < nbytes:
            with open(filename, "ab") as f:
                f.truncate(nbytes)
    else:
        have = os.path.getsize(filename) if os.path.exists(filename) else -1
        if have < nbytes:
            raise RuntimeError(f"from_file: unable to map {nbytes} bytes ({size} elements of {dt}) from "
                               f"'{filename}': the file holds {max(have, 0)} bytes")
    if size == 0:
        return empty(0, dtype=dt)
    arr = np.memmap(filename, dtype=npdt, mode="r+" if shared else "c", shape=(size,))
    t = from_numpy(arr)
    return t.view(dt) if bf16 else t


# ------------------------------------------------------------------------ torch.sym_* on plain Python numbers
def sym_int(a):
    """torch.sym_int: int() truncating toward zero (floats), as PyTorch's on non-symbolic values."""
    if isinstance(a, float):
        return math.trunc(a)
    return int(a)


def sym_float(a):
    return float(a)


def sym_max(a, b):
    """torch.sym_max: the larger; a float if either is a float (PyTorch's promotion)."""
    r = builtins.max(a, b)
    return float(r) if isinstance(a, float) or isinstance(b, float) else r


def sym_min(a, b):
    r = builtins.min(a, b)
    return float(r) if isinstance(a, float) or isinstance(b, float) else r


def sym_not(a):
    return not a


def sym_ite(b, t, f):
    """torch.sym_ite: t if b else f."""
    return t if b else f


def sym_sqrt(a):
    return math.sqrt(a)


def sym_sum(args):
    """torch.sym_sum: sum of the iterable, starting from the int 0."""
    return builtins.sum(args)


def sym_constrain_range(size, min=None, max=None):  # noqa: A002
    """torch.sym_constrain_range: for a concrete int, checks the range (PyTorch does the same)."""
    if isinstance(size, int):
        if min is not None and size < min or max is not None and size > max:
            raise RuntimeError(f"Invalid value {size} for range [{min}:{max}]")


def sym_constrain_range_for_size(size, min=None, max=None):  # noqa: A002
    if isinstance(size, int):
        if size < 0:
            raise RuntimeError(f"Invalid value {size} for range [{0 if min is None else min}:{max}]")
        sym_constrain_range(size, min, max)


def is_distributed(input):
    """torch.is_distributed: False (no tensor of ours is distributed)."""
    return False


def compiled_with_cxx11_abi():
    """The module is built with the new (C++11) libstdc++ ABI, as PyTorch's wheels."""
    return True
