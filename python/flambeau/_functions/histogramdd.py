"""torch.histogramdd: the D-dimensional histogram of the rows of a (..., D) input, computed on the host like
histogram (extra.py), whose edge rules it follows per dimension: `bins` an int, one int per dimension or one
1-D tensor of edges per dimension; `range` a flat [lo0, hi0, lo1, hi1, ...] (default: each dimension's
[min, max], widened by 0.5 on each side when empty); a value equal to the last edge falls in the last bin,
values outside are left out; weight: one per row; density: hist / (total * bin volume)."""
import math

import numpy as np

import flambeau
from .._tensor import Tensor
from .extra import _host, _named_pair, _tensor_from, _TYPE

__all__ = ["histogramdd"]

_HistogramddResult = _named_pair("histogramdd", "hist", "bin_edges")


def _edges_of(column, nb, lo_hi, dtype, dim):
    if nb <= 0:
        raise RuntimeError(f"torch.histogramdd(): bins must be > 0, but got {nb} for dimension {dim}")
    if lo_hi is not None:
        lo, hi = float(lo_hi[0]), float(lo_hi[1])
    elif column.size:
        lo, hi = float(column.min()), float(column.max())
    else:
        lo, hi = 0.0, 1.0
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"torch.histogramdd(): range of [{lo}, {hi}] is not finite")
    if lo > hi:
        raise ValueError(f"torch.histogramdd(): min should not exceed max, but got min {lo} max {hi}")
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return flambeau.linspace(lo, hi, nb + 1, dtype=dtype)


def histogramdd(input, bins, *, range=None, weight=None, density=False):  # noqa: A002
    if not isinstance(input, Tensor) or input.dtype not in (flambeau.float32, flambeau.float64):
        raise RuntimeError("torch.histogramdd: input tensor and bins tensors should have the same dtype, and be "
                           "floating point")
    if input.dim() < 1:
        raise RuntimeError("torch.histogramdd: input tensor should have at least 1 dimension")
    D = input.shape[-1]
    x = _host(input).reshape(-1, D)
    if weight is not None:
        if weight.dtype != input.dtype:
            raise RuntimeError(f"torch.histogramdd: if weight tensor is provided, input tensor and weight tensor "
                               f"should have the same dtype, but got input({_TYPE[input.dtype._name]}), and "
                               f"weight({_TYPE[weight.dtype._name]})")
        if tuple(weight.shape) != tuple(input.shape[:-1]):
            raise RuntimeError(f"torch.histogramdd: if weight tensor is provided it should have the same shape as "
                               f"the input tensor excluding its innermost dimension, got {list(weight.shape)} and "
                               f"{list(input.shape)}")
    if range is not None and len(range) != 2 * D:
        raise RuntimeError(f"torch.histogramdd: for a {D}-dimensional histogram range should have {2 * D} "
                           f"elements, but got {len(range)}")
    if isinstance(bins, int):
        bins = [bins] * D
    bins = list(bins)
    if len(bins) != D:
        raise RuntimeError(f"torch.histogramdd: expected {D} sequences of bin edges for each of the {D} dimensions "
                           f"of the input, but got {len(bins)}")
    edges_t = []
    for d, b in enumerate(bins):
        if isinstance(b, Tensor):
            if b.dim() != 1 or b.numel() < 1:
                raise RuntimeError(f"torch.histogramdd(): bins tensor should have one dimension and at least 1 "
                                   f"element, but got {list(b.shape)}")
            edges_t.append(b.detach().clone())
        else:
            lo_hi = None if range is None else (range[2 * d], range[2 * d + 1])
            edges_t.append(_edges_of(x[:, d], int(b), lo_hi, input.dtype, d))
    edges = [_host(e) for e in edges_t]
    nbins = [e.size - 1 for e in edges]
    keep = np.ones(x.shape[0], dtype=bool)
    idx = []
    for d, e in enumerate(edges):
        col = x[:, d]
        keep &= (col >= e[0]) & (col <= e[-1])
        idx.append(np.minimum(np.searchsorted(e, col, side="right") - 1, max(nbins[d] - 1, 0)))
    size = int(np.prod(nbins))
    hist = np.zeros(size, dtype=np.float64)
    if size and keep.any():
        flat = np.ravel_multi_index(tuple(i[keep] for i in idx), nbins)
        w = None if weight is None else _host(weight).reshape(-1)[keep].astype(np.float64)
        hist = np.bincount(flat, weights=w, minlength=size).astype(np.float64)
    hist = hist.reshape(nbins)
    if density:
        volume = np.ones(nbins, dtype=np.float64)
        for d, e in enumerate(edges):
            shape = [1] * D
            shape[d] = nbins[d]
            volume = volume * np.diff(e.astype(np.float64)).reshape(shape)
        hist = hist / (hist.sum() * volume)
    h = _tensor_from(hist.astype(x.dtype), input.dtype._name, input.device)
    return _HistogramddResult(h, tuple(e.to(input.device) for e in edges_t))
