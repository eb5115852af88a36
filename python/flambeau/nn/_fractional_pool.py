"""Fractional max pooling (Graham, 2014): F.fractional_max_pool2d / 3d and their _with_indices forms.

Each (sample, channel) plane draws one number u in [0, 1) per spatial dim (or takes them from
`_random_samples`, shape (N, C, 2 or 3)); the windows along a dim of input size n, output size m and
pool size k start at floor((i + u) * alpha) - floor(u * alpha) with alpha = (n - k) / (m - 1), the
last at n - k -- PyTorch's generate_intervals, computed in the input's float type, so with the same
samples the output and the indices are PyTorch's. The windows are gathered from the flattened plane
and reduced with max (NaN wins, ties go to the first element in row-major order, as PyTorch's strict
`>` scan); the gradient flows back through the gather to the arg-max positions.
"""
import numpy as np

import flambeau


def _tuple(x, n):
    if isinstance(x, (list, tuple)):
        return tuple(x) if len(x) != 1 else tuple(x) * n
    return (x,) * n


def _intervals(samples, in_size, out_size, pool, ft):
    """(P, out_size) window starts for P planes' samples."""
    s = samples.astype(ft)
    seq = np.empty((s.shape[0], out_size), dtype=np.int64)
    if out_size > 1:
        alpha = ft(in_size - pool) / ft(out_size - 1)
        i = np.arange(out_size - 1).astype(ft)
        seq[:, :-1] = ((i[None, :] + s[:, None]) * alpha).astype(np.int64) - (s * alpha).astype(np.int64)[:, None]
    if out_size > 0:
        seq[:, -1] = in_size - pool
    return seq


def _fractional_max_pool(input, kernel_size, output_size, output_ratio, _random_samples, nd, name):
    if output_size is None and output_ratio is None:
        raise ValueError(f"{name} requires specifying either an output_size or an output_ratio")
    if input.dim() not in (nd + 1, nd + 2):
        raise RuntimeError(f"{name}(): Expected {nd + 1}D or {nd + 2}D tensor, but got: "
                           f"{list(input.shape)}")
    spatial = tuple(input.shape[-nd:])
    if output_size is None:
        if isinstance(output_ratio, (list, tuple)) and len(output_ratio) > nd:
            raise ValueError(f"{name} requires output_ratio to either be a single Int or tuple of Ints.")
        ratio = _tuple(output_ratio, nd)
        output_size = [int(n * r) for n, r in zip(spatial, ratio)]
    out = tuple(int(v) for v in _tuple(output_size, nd))
    pool = tuple(int(v) for v in _tuple(kernel_size, nd))
    batched = input.dim() == nd + 2
    x = input if batched else input.unsqueeze(0)
    n, c = x.shape[0], x.shape[1]
    if _random_samples is None:
        _random_samples = flambeau.rand(n, c, nd, dtype=input.dtype, device=input.device)
    rs = _random_samples
    if rs.dtype != input.dtype:
        raise RuntimeError("Expect _random_samples to have the same dtype as input")
    if rs.dim() != 3:
        raise RuntimeError(f"Expect _random_samples to be 3D tensor, got {rs.dim()}D")
    if rs.shape[0] < n:
        raise RuntimeError("Expect _random_samples.size(0) no less then input batch size.")
    if rs.shape[1] != c:
        raise RuntimeError("Expect _random_samples.size(1) equals to input channel size.")
    if rs.shape[2] != nd:
        raise RuntimeError(f"Expect _random_samples.size(2) equals to {nd}; got {rs.shape[2]}.")
    # PyTorch's size checks (2-D: height then width, the window may end on the last pixel;
    # 3-D: time, width, height, strictly inside)
    names = {2: ("height", "width"), 3: ("time", "height", "width")}[nd]
    order = (0, 1) if nd == 2 else (0, 2, 1)
    for k in order:
        too_large = out[k] + pool[k] - 1 > spatial[k] if nd == 2 else out[k] + pool[k] - 1 >= spatial[k]
        if too_large:
            prefix = name if nd == 2 else "fractional_max_pool3d_out"
            raise RuntimeError(f"{prefix}(): pool {names[k]} {pool[k]} too large relative to input "
                               f"{names[k]} {spatial[k]}")
    ft = np.float64 if input.dtype == flambeau.float64 else np.float32
    samples = rs[:n].detach().to("cpu").numpy().reshape(n * c, nd)
    # which sample drives which dim: 2-D uses sample 0 for the width and 1 for the height;
    # 3-D uses 0, 1, 2 for time, height, width
    sample_of_dim = (1, 0) if nd == 2 else (0, 1, 2)
    starts = [_intervals(samples[:, sample_of_dim[k]], spatial[k], out[k], pool[k], ft) for k in range(nd)]
    # flat plane index of every (output position, window element), per plane
    strides = [int(np.prod(spatial[k + 1:])) for k in range(nd)]
    planes = n * c
    idx = np.zeros((planes,) + out + pool, dtype=np.int64)
    for k in range(nd):
        pos = starts[k][:, :, None] + np.arange(pool[k])[None, None, :]  # (P, out_k, pool_k)
        shape = [planes] + [1] * (2 * nd)
        shape[1 + k] = out[k]
        shape[1 + nd + k] = pool[k]
        idx = idx + (pos * strides[k]).reshape(shape)
    m = int(np.prod(out))
    window = int(np.prod(pool))
    flat_idx = flambeau.from_numpy(idx.reshape(n, c, m * window)).to(input.device)
    planes_x = x.reshape(n, c, -1)
    vals = planes_x.gather(2, flat_idx).reshape(n, c, m, window)
    best, arg = vals.max(dim=3)
    indices = flat_idx.reshape(n, c, m, window).gather(3, arg.unsqueeze(3)).squeeze(3)
    best = best.reshape((n, c) + out)
    indices = indices.reshape((n, c) + out)
    if not batched:
        best, indices = best.squeeze(0), indices.squeeze(0)
    return best, indices


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, _random_samples, 2,
                                "fractional_max_pool2d")


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    out = fractional_max_pool2d_with_indices(input, kernel_size, output_size, output_ratio, return_indices,
                                             _random_samples)
    return out if return_indices else out[0]


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, _random_samples, 3,
                                "fractional_max_pool3d")


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    out = fractional_max_pool3d_with_indices(input, kernel_size, output_size, output_ratio, return_indices,
                                             _random_samples)
    return out if return_indices else out[0]

