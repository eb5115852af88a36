"""F.interpolate: nearest, nearest-exact, (bi/tri)linear, bicubic, area, and the antialiased
bilinear / bicubic resize (antialias=True), with PyTorch's argument handling and coordinate maps.

Every mode except 'area' is separable: along each spatial dim an output index reads a few input
indices ("taps") with fixed weights, so the resize is a chain of 1-D passes, each a handful of
index_selects and multiply-adds that autograd differentiates (index_select's backward scatters the
gradient back with index_add). The taps and weights are computed once in numpy, in the input's
float type as PyTorch computes them (its CPU kernels work in float for float32 input), so the
weights are PyTorch's bit for bit; the passes run W first, then H (then D), as PyTorch's separable
antialias kernel does. 'area' is adaptive average pooling, as in PyTorch.
"""
import math

import numpy as np

import flambeau

_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area", "lanczos")
_DIM_NAMES = {1: ("W",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _is_integer(x):
    if isinstance(x, (int, np.integer)):
        return True
    return hasattr(x, "is_floating_point") and not x.is_floating_point() and x.numel() == 1


def _output_size_and_scales(input, size, scale_factor, dim, mode, recompute_scale_factor):
    """PyTorch's size / scale_factor validation; returns (output_size or None, scales or None)."""
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        scale_factors = None
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got "
                    f"input with spatial dimensions of {list(input.shape[2:])} and output size of "
                    f"{size}. Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                    "output size in (o1, o2, ...,oK) format.")
            if not all(_is_integer(x) for x in size):
                raise TypeError("expected size to be one of int or Tuple[int] or Tuple[int, int] or "
                                f"Tuple[int, int, int], but got size with types "
                                f"{[type(x) for x in size]}")
            output_size = [int(x) for x in size]
        else:
            output_size = [int(size) for _ in range(dim)]
    elif scale_factor is not None:
        output_size = None
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, but "
                    f"got input with spatial dimensions of {list(input.shape[2:])} and "
                    f"scale_factor of shape {scale_factor}. Please provide input tensor in (N, C, "
                    "d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format.")
            scale_factors = [float(s) for s in scale_factor]
        else:
            scale_factors = [float(scale_factor) for _ in range(dim)]
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and output_size is None:
        recompute_scale_factor = True  # area always works from an explicit size
    if recompute_scale_factor:
        output_size = [int(math.floor(float(input.shape[i + 2]) * scale_factors[i])) for i in range(dim)]
        scale_factors = None
    return output_size, scale_factors


def _check_sizes(in_sizes, out_sizes):
    if all(o > 0 for o in out_sizes) and all(i > 0 for i in in_sizes):
        return
    names = _DIM_NAMES[len(in_sizes)]
    i_txt = ", ".join(f"{n}: {v}" for n, v in zip(names, in_sizes))
    o_txt = ", ".join(f"{n}: {v}" for n, v in zip(names, out_sizes))
    sep = " and output" if len(in_sizes) == 1 else " output"
    raise RuntimeError(f"Input and output sizes should be greater than 0, but got input ({i_txt})"
                       f"{sep} ({o_txt})")


def _scale(ft, in_size, out_size, align_corners, scale):
    """PyTorch's area_pixel_compute_scale in float type ft."""
    if align_corners:
        return ft(in_size - 1) / ft(out_size - 1) if out_size > 1 else ft(0)
    if scale is not None and scale > 0:
        return ft(1.0 / scale)
    return ft(in_size) / ft(out_size)


def _nearest_taps(in_size, out_size, scale, exact, ft, shortcuts=False):
    """PyTorch's nearest_idx / nearest_neighbor_exact_compute_source_index: nearest works in
    float32 for every dtype; nearest-exact in the input's float type (which matches PyTorch on all
    but a few boundary cases, where its kernels round differently). PyTorch's 2-D nearest kernel
    (only it) copies a kept size and halves the index for an exact doubling, whatever the scale."""
    if shortcuts and out_size == in_size:
        return np.arange(out_size, dtype=np.int64)
    if shortcuts and out_size == 2 * in_size:
        return np.arange(out_size, dtype=np.int64) >> 1
    f = ft if exact else np.float32
    ratio = f(1.0 / scale) if scale is not None and scale > 0 else f(in_size) / f(out_size)
    dst = np.arange(out_size).astype(f)
    src = np.floor((dst + f(0.5)) * ratio) if exact else np.floor(dst * ratio)
    return np.minimum(src.astype(np.int64), in_size - 1)


def _linear_taps(in_size, out_size, scale, align_corners, ft):
    """(index (out, 2), weight (out, 2)) of a linear resize along one axis, in PyTorch's float
    arithmetic: source coordinate clamped at 0, weights (1 - lambda, lambda)."""
    sc = _scale(ft, in_size, out_size, align_corners, scale)
    dst = np.arange(out_size).astype(ft)
    src = sc * dst if align_corners else np.maximum(sc * (dst + ft(0.5)) - ft(0.5), ft(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    lam = np.clip(src - i0.astype(ft), ft(0), ft(1)).astype(ft)
    i1 = np.minimum(i0 + 1, in_size - 1)
    return np.stack([i0, i1], 1), np.stack([ft(1) - lam, lam], 1).astype(ft)


def _cubic1(x, a):  # |x| <= 1
    return ((a + 2) * x - (a + 3)) * x * x + 1


def _cubic2(x, a):  # 1 < |x| < 2
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


def _bicubic_taps(in_size, out_size, scale, align_corners, ft):
    """(index (out, 4), weight (out, 4)): Keys' cubic convolution with A = -0.75, the source
    coordinate unclamped and the four taps clamped to the edge (PyTorch's upsample_bicubic2d)."""
    a = ft(-0.75)
    sc = _scale(ft, in_size, out_size, align_corners, scale)
    dst = np.arange(out_size).astype(ft)
    src = sc * dst if align_corners else sc * (dst + ft(0.5)) - ft(0.5)
    base = np.floor(src)
    t = (src - base).astype(ft)
    one = ft(1)
    w = np.stack([_cubic2(t + one, a), _cubic1(t, a), _cubic1(one - t, a), _cubic2((one - t) + one, a)], 1)
    idx = np.clip(base.astype(np.int64)[:, None] + np.arange(-1, 3)[None, :], 0, in_size - 1)
    return idx, w.astype(ft)


def _aa_filter(mode, ft):
    if mode == "bilinear":
        return lambda x: np.maximum(ft(1) - np.abs(x), ft(0)).astype(ft)
    a = ft(-0.5)  # PIL's (and so PyTorch's) antialiased bicubic uses a = -0.5

    def cubic(x):
        x = np.abs(x)
        return np.where(x < 1, _cubic1(x, a), np.where(x < 2, _cubic2(x, a), ft(0))).astype(ft)
    return cubic


def _antialias_taps(in_size, out_size, scale, align_corners, mode, ft):
    """(index (out, K), weight (out, K)) of PyTorch's antialiased resize (_upsample_*_aa): the
    filter is stretched by the scale when downsampling, so every input pixel under an output pixel
    contributes; weights are normalised to sum to one, unused taps get weight 0."""
    interp_size = 2 if mode == "bilinear" else 4
    filt = _aa_filter(mode, ft)
    sc = _scale(ft, in_size, out_size, align_corners, scale)
    support = ft(interp_size * 0.5) * sc if sc >= 1.0 else ft(interp_size * 0.5)
    invscale = ft(1.0) / sc if sc >= 1.0 else ft(1.0)
    rows = []
    for i in range(out_size):
        center = sc * (ft(i) + ft(0.5))
        xmin = max(int(center - support + ft(0.5)), 0)
        xsize = min(int(center + support + ft(0.5)), in_size) - xmin
        j = np.arange(xsize)
        w = filt(((j + xmin).astype(ft) - center + ft(0.5)) * invscale)
        total = w.sum(dtype=ft)
        if total != 0:
            w = (w / total).astype(ft)
        rows.append((xmin, w))
    k = max(len(w) for _, w in rows)
    idx = np.zeros((out_size, k), dtype=np.int64)
    wt = np.zeros((out_size, k), dtype=ft)
    for i, (xmin, w) in enumerate(rows):
        idx[i, :len(w)] = np.arange(xmin, xmin + len(w))
        idx[i, len(w):] = xmin  # weight 0: any valid index
        wt[i, :len(w)] = w
    return idx, wt


def _weighted_pass(x, dim, idx, w, index, const):
    """out[..., o, ...] = sum_k w[o, k] * x[..., idx[o, k], ...] along dim, accumulated from the
    last tap down with fused multiply-adds (addcmul): for two taps that is fma(t0, w0, t1 * w1),
    the rounding of PyTorch's compiled linear kernel, so (bi/tri)linear results match it bit for
    bit."""
    shape = [1] * x.dim()
    shape[dim] = idx.shape[0]
    k = idx.shape[1] - 1
    out = x.index_select(dim, index(idx[:, k], x.device)) * const(w[:, k].reshape(shape), x)
    for k in range(idx.shape[1] - 2, -1, -1):
        out = flambeau.addcmul(out, x.index_select(dim, index(idx[:, k], x.device)),
                               const(w[:, k].reshape(shape), x))
    return out


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    from . import functional as F
    from .functional import _const, _index

    if input.dtype in (flambeau.float16, flambeau.bfloat16) and mode not in ("nearest", "nearest-exact"):
        # PyTorch's CPU kernels weight float16/bfloat16 pixels in float and round each output once;
        # the separable passes below would round after every pass. (nearest only copies values.)
        out = interpolate(input.float(), size, scale_factor, mode, align_corners, recompute_scale_factor,
                          antialias)
        return out.to(input.dtype)
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    dim = input.dim() - 2
    output_size, scales = _output_size_and_scales(input, size, scale_factor, dim, mode,
                                                  recompute_scale_factor)
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.dim() == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos modes "
                         "and requires a 4-D tensor as input")
    wanted = {"linear": 1, "bilinear": 2, "trilinear": 3, "bicubic": 2, "lanczos": 2}.get(mode)
    if mode not in _MODES or dim not in (1, 2, 3) or (wanted == 2 and mode in ("bicubic", "lanczos")
                                                        and dim != 2):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.dim()}D) for "
            "the modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | "
            f"nearest-exact (got {mode})")
    if wanted is not None and wanted != dim:
        raise NotImplementedError(f"Got {input.dim()}D input, but {mode} mode needs "
                                  f"{wanted + 2}D input")
    if mode == "lanczos":
        if align_corners:
            raise ValueError("Lanczos mode does not support align_corners=True")
        if not antialias:
            raise ValueError("Lanczos mode requires antialias=True")
        raise NotImplementedError("interpolate: mode 'lanczos' is not supported by flambeau")
    in_sizes = [int(s) for s in input.shape[2:]]
    out_sizes = output_size if output_size is not None else [
        int(math.floor(float(n) * s)) for n, s in zip(in_sizes, scales)]
    scales = scales if scales is not None else [None] * dim
    if mode == "area":  # PyTorch calls the adaptive pool directly: its checks, empty sizes and dtypes
        pool = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}[dim]
        return pool(input, output_size)
    _check_sizes(in_sizes, out_sizes)
    uint8 = _check_integer_input(input, mode, dim)

    ft = np.float64 if str(input.dtype).endswith("float64") else np.float32
    x = input
    if uint8 and mode not in ("nearest", "nearest-exact"):
        x = x.to(flambeau.float32)
    # last spatial dim first (PyTorch's separable order); a dim whose size is kept is the
    # identity in every mode but is still resampled by nearest/linear, as PyTorch does
    for k in reversed(range(dim)):
        d = 2 + k
        n_in, n_out, sc = in_sizes[k], out_sizes[k], scales[k]
        if mode in ("nearest", "nearest-exact"):
            taps = _nearest_taps(n_in, n_out, sc, mode == "nearest-exact", ft,
                                 shortcuts=(mode == "nearest" and dim == 2))
            x = x.index_select(d, _index(taps, x.device))
        elif antialias:
            if n_in == n_out:
                continue
            idx, w = _antialias_taps(n_in, n_out, sc, align_corners, mode, ft)
            x = _weighted_pass(x, d, idx, w, _index, _const)
        elif mode == "bicubic":
            idx, w = _bicubic_taps(n_in, n_out, sc, align_corners, ft)
            x = _weighted_pass(x, d, idx, w, _index, _const)
        else:
            if n_in == n_out:
                # PyTorch's linear kernels copy a dim whose size is kept, whatever the scale
                # factor (interpolate(x, scale_factor=1.1) of a length-4 axis is x itself)
                continue
            idx, w = _linear_taps(n_in, n_out, sc, align_corners, ft)
            x = _weighted_pass(x, d, idx, w, _index, _const)
        if uint8 and mode not in ("nearest", "nearest-exact"):
            # PyTorch's uint8 kernels keep each separable pass in uint8: round, saturate
            x = flambeau.floor(x + 0.5).clamp(0, 255)
    if uint8 and x.dtype != input.dtype:
        x = x.to(input.dtype)
    return x


_TORCH_TYPE_NAMES = {"uint8": "Byte", "int8": "Char", "int16": "Short", "int32": "Int", "int64": "Long",
                     "bool": "Bool", "complex64": "ComplexFloat", "complex128": "ComplexDouble"}


def _check_integer_input(input, mode, dim):
    """True for a uint8 image in a mode PyTorch resizes in uint8 (bilinear, bicubic, with or without
    antialias, and nearest); PyTorch's NotImplementedError for other integer and bool input (its nearest
    kernels too, although they only copy values)."""
    if input.is_floating_point():
        return False
    name = str(input.dtype).split(".")[-1]
    if mode in ("nearest", "nearest-exact"):
        if name == "uint8":
            return False
        kernel = "upsample_nearest2d_channels_last" if dim == 2 else "compute_indices_weights_nearest"
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_TORCH_TYPE_NAMES.get(name, name)}\'')
    if name == "uint8" and mode in ("bilinear", "bicubic"):
        return True
    kernel = {"bilinear": "upsample_bilinear2d_channels_last", "bicubic": "compute_indices_weights_cubic",
              "linear": "compute_indices_weights_linear", "trilinear": "compute_indices_weights_linear",
              "area": f"adaptive_avg_pool{max(dim, 2)}d"}[mode]
    raise NotImplementedError(f'"{kernel}" not implemented for \'{_TORCH_TYPE_NAMES.get(name, name)}\'')
