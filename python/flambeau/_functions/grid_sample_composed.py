"""grid_sample written with differentiable flambeau ops, for its double backward only.

The fused kernel (csrc/cpu/grid_sample.cpp) gives the forward and the first-order gradients, to
PyTorch's bits. Under create_graph=True those gradients must be differentiable again (PyTorch's
GridSampler2DBackwardBackward0 is; gradient penalties and MAML through a spatial transformer use it),
so grid_sample.py differentiates this composed version with a graph and keeps the kernel's values
(`graph_of` below). Nothing here runs in first-order training.

The composed sampler follows the kernel's rules (see grid_sample.cpp's header): each coordinate is
unnormalized, then (bilinear and nearest) clipped or reflected, which is piecewise linear in the grid
value: the padded coordinate is built as its exact value plus slope * (u - u.detach()), slope being
the kernel's (0 where the clip is active, -1 on a reflected stretch), so its value is the padded
one and its derivatives are the kernel's. Neighbour indices are constants (floor, or round half to
even for nearest); bilinear weights are products of the distances, bicubic's the cubic convolution
coefficients (A = -0.75) of the unpadded coordinate with each tap's index padded on its own; a
neighbour outside the input reads 0.
"""
import itertools

from .._tensor import _wrap
from .zero_link import _link

_A = -0.75


def _L():
    import flambeau  # the package is built on this module: imported when first needed
    return flambeau


def _unnormalize(c, size, align_corners):
    return ((c + 1) / 2) * (size - 1) if align_corners else ((c + 1) * size - 1) / 2


def _reflect(v, size, align_corners, L):
    """(reflected value, slope) of a constant coordinate v, as the kernel's reflect_coordinates."""
    lo2, hi2 = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
    if lo2 == hi2:
        return L.zeros_like(v), L.zeros_like(v)
    mn, span = lo2 / 2, (hi2 - lo2) / 2
    v = v - mn
    mult = L.where(v < 0, -1.0, 1.0).to(v.dtype)
    v = v.abs()
    extra = L.fmod(v, span)
    even = L.remainder(L.floor(v / span), 2) == 0
    return L.where(even, extra + mn, span - extra + mn), L.where(even, mult, -mult)


def _pad_constant(v, size, padding, align_corners, L):
    """A constant coordinate padded (border: clipped; reflection: reflected, then clipped), and the
    slope of that map (the kernel's clip_coordinates_set_grad / reflect_coordinates_set_grad)."""
    if padding == "zeros":
        return v, None
    slope = L.ones_like(v)
    if padding == "reflection":
        v, slope = _reflect(v, size, align_corners, L)
    inside = (v > 0) & (v < size - 1)
    return v.clamp(0, size - 1), L.where(inside, slope, 0.0).to(v.dtype)


def _coordinate(c, size, padding, align_corners, L):
    """The grid value c (differentiable) as a padded pixel coordinate."""
    u = _unnormalize(c, size, align_corners)
    if padding == "zeros":
        return u
    ud = u.detach()
    v, slope = _pad_constant(ud, size, padding, align_corners, L)
    return v + slope * (u - ud)


def _index(f, size, L):
    """A float tensor of whole numbers as int64 indices (non-finite or far outside: out of range)."""
    f = L.where(L.isfinite(f), f, -2.0).clamp(-2, size + 2)
    return f.to(L.int64)


def _read(flat, idx, sizes, L):
    """flat [N, C, prod(sizes)] at the integer coordinates idx (one [N, *O] tensor per axis, last axis
    first as the grid orders them: x, y, z), 0 outside: [N, C, P]."""
    n, c, p = flat.shape[0], flat.shape[1], 1
    for d in idx[0].shape[1:]:
        p *= d
    valid, lin, stride = None, None, 1
    for i, size in zip(idx, reversed(sizes)):
        ok = (i >= 0) & (i < size)
        valid = ok if valid is None else valid & ok
        term = i.clamp(0, max(size - 1, 0)) * stride
        lin = term if lin is None else lin + term
        stride *= size
    lin = L.where(valid, lin, 0).reshape(n, 1, p)
    vals = flat.gather(2, lin.expand(n, c, p))
    return L.where(valid.reshape(n, 1, p), vals, L.zeros((), dtype=vals.dtype))


def grid_sample_composed(input, grid, mode, padding_mode, align_corners):
    """grid_sample(input, grid, ...) (4-D or 5-D input) in differentiable ops: [N, C, *O]."""
    L = _L()
    n, c = input.shape[0], input.shape[1]
    sizes = tuple(input.shape[2:])  # (H, W) or (D, H, W)
    out_shape = (n, c) + tuple(grid.shape[1:-1])
    npix, p = 1, 1
    for d in sizes:
        npix *= d
    for d in grid.shape[1:-1]:
        p *= d
    flat = input.reshape(n, c, npix)
    axes = [grid[..., k] for k in range(grid.shape[-1])]  # x, y(, z): x indexes the last input dim
    axis_sizes = list(reversed(sizes))
    if mode == "bicubic":
        return _bicubic(flat, axes, sizes, axis_sizes, padding_mode, align_corners, out_shape, p, L)
    coords = [_coordinate(a, s, padding_mode, align_corners, L) for a, s in zip(axes, axis_sizes)]
    if mode == "nearest":
        idx = [_index(L.round(u.detach()), s, L) for u, s in zip(coords, axis_sizes)]
        return _read(flat, idx, sizes, L).reshape(out_shape)
    lows = [L.floor(u.detach()) for u in coords]
    frac = [u - f for u, f in zip(coords, lows)]
    out = None
    for corner in itertools.product((0, 1), repeat=len(coords)):
        w = None
        for k, bit in enumerate(corner):
            wk = frac[k] if bit else 1 - frac[k]
            w = wk if w is None else w * wk
        idx = [_index(f + bit, s, L) for f, bit, s in zip(lows, corner, axis_sizes)]
        term = w.reshape(n, 1, p) * _read(flat, idx, sizes, L)
        out = term if out is None else out + term
    return out.reshape(out_shape)


def _cubic_weights(t):
    def near(x):  # |x| <= 1
        return ((_A + 2) * x - (_A + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((_A * x - 5 * _A) * x + 8 * _A) * x - 4 * _A
    return far(t + 1), near(t), near(1 - t), far(2 - t)


def _bicubic(flat, axes, sizes, axis_sizes, padding, align_corners, out_shape, p, L):
    n = flat.shape[0]
    us = [_unnormalize(a, s, align_corners) for a, s in zip(axes, axis_sizes)]  # the coordinate is not padded
    lows = [L.floor(u.detach()) for u in us]
    weights = [_cubic_weights(u - f) for u, f in zip(us, lows)]
    taps = [[_index(_pad_constant(f + (k - 1), s, padding, align_corners, L)[0], s, L) for k in range(4)]
            for f, s in zip(lows, axis_sizes)]
    out = None
    for j in range(4):
        row = None
        for i in range(4):
            term = weights[0][i].reshape(n, 1, p) * _read(flat, [taps[0][i], taps[1][j]], sizes, L)
            row = term if row is None else row + term
        term = weights[1][j].reshape(n, 1, p) * row
        out = term if out is None else out + term
    return out.reshape(out_shape)


def graph_of(value, graph, *tensors):
    """value's numbers (a kernel result that does not require grad) with `graph`'s gradient path (a
    tensor of the same shape computed with a graph, or None), joined with no gradient to those of
    `tensors` that require grad (so the result requires grad whenever PyTorch's does)."""
    if graph is not None and graph._rg:
        graph = _link(graph, [])
        graph._impl = value._impl
        value = graph
    from .zero_link import link_none_to
    return link_none_to(value, *tensors)
