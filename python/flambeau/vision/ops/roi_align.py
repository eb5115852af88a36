"""torchvision.ops.roi_align / RoIAlign (Mask R-CNN's RoIAlign).

Each output bin averages bilinear samples on a regular grid (sampling_ratio per side, or ceil(roi size / bins)
when it is <= 0), sampled as torchvision's kernel does: points more than one pixel outside the map give 0,
coordinates below 0 are clamped to 0 and the last row/column is repeated past the edge; aligned=False keeps
the legacy roi size of at least one pixel and no half-pixel shift.

A sample's bilinear weight is a product of a row weight and a column weight, and a point is dropped when its
row or its column is out of range, so each RoI's output is Wy @ X @ Wx^T with Wy (bins_h, H) and Wx (bins_w, W)
holding the summed weights of its samples: two matmuls per chunk of RoIs, differentiable in the input. The
sums run in another order than the kernel's per-sample loop (values agree to rounding, not bit for bit).
"""
import math

import numpy as np

import flambeau
from ... import nn
from ..._tensor import Tensor

__all__ = ["roi_align", "RoIAlign"]

_CHUNK = 64  # RoIs per batched matmul: bounds the (K, C, bins_h, W) intermediate


def _pair(v):
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


def _axis_weights(start, size, bins, grid, length):
    """(bins, length) float64: the summed bilinear weights of grid samples per bin along one axis."""
    w = np.zeros((bins, length))
    bin_size = size / bins
    for p in range(bins):
        for i in range(grid):
            c = start + p * bin_size + (i + 0.5) * bin_size / grid
            if c < -1.0 or c > length:
                continue  # the sample contributes 0
            c = max(c, 0.0)
            low = int(c)
            if low >= length - 1:
                low = high = length - 1
                c = float(low)
            else:
                high = low + 1
            frac = c - low
            w[p, low] += 1.0 - frac
            w[p, high] += frac
    return w


def _rois_from(boxes, name):
    if isinstance(boxes, (list, tuple)):
        parts = []
        for i, b in enumerate(boxes):
            if not isinstance(b, Tensor) or b.dim() != 2 or b.size(1) != 4:
                raise ValueError(f"{name}: each tensor of the boxes list must have shape (L, 4)")
            parts.append(flambeau.cat([flambeau.full((b.size(0), 1), float(i), dtype=b.dtype, device=b.device), b], 1))
        return flambeau.cat(parts, 0) if parts else flambeau.zeros(0, 5)
    if not isinstance(boxes, Tensor) or boxes.dim() != 2 or boxes.size(1) != 5:
        raise ValueError(f"{name}: boxes must be a Tensor (K, 5) of (batch index, x1, y1, x2, y2) or a list of "
                         f"(L, 4) Tensors, got {tuple(boxes.shape) if isinstance(boxes, Tensor) else type(boxes)}")
    return boxes


def roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    """RoIs of input (N, C, H, W) pooled to (K, C, *output_size)."""
    if not isinstance(input, Tensor) or input.dim() != 4:
        raise ValueError(f"roi_align: input must be a 4-D Tensor (N, C, H, W), got "
                         f"{tuple(input.shape) if isinstance(input, Tensor) else type(input)}")
    rois = _rois_from(boxes, "roi_align").detach().cpu().double().numpy()
    ph, pw = _pair(output_size)
    n, c, h, w = input.shape
    out_parts = []
    offset = 0.5 if aligned else 0.0
    for start in range(0, len(rois), _CHUNK):
        chunk = rois[start:start + _CHUNK]
        wy = np.zeros((len(chunk), ph, h))
        wx = np.zeros((len(chunk), pw, w))
        for k, (b, x1, y1, x2, y2) in enumerate(chunk):
            if not 0 <= b < n:
                raise IndexError(f"roi_align: RoI batch index {b} out of range for input of {n} images")
            sx, sy = x1 * spatial_scale - offset, y1 * spatial_scale - offset
            rw, rh = x2 * spatial_scale - offset - sx, y2 * spatial_scale - offset - sy
            if not aligned:
                rw, rh = max(rw, 1.0), max(rh, 1.0)
            gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / ph)
            gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / pw)
            count = max(gh * gw, 1)
            wy[k] = _axis_weights(sy, rh, ph, gh, h) / count
            wx[k] = _axis_weights(sx, rw, pw, gw, w)
        feats = input[flambeau.from_numpy(chunk[:, 0].astype(np.int64)).to(input.device)]  # (K, C, H, W)
        wy_t = flambeau.from_numpy(wy).to(dtype=input.dtype, device=input.device)
        wx_t = flambeau.from_numpy(wx).to(dtype=input.dtype, device=input.device)
        out_parts.append(flambeau.matmul(flambeau.matmul(wy_t[:, None], feats), wx_t[:, None].transpose(-1, -2)))
    if not out_parts:
        return input.new_zeros((0, c, ph, pw))
    return flambeau.cat(out_parts, 0)


class RoIAlign(nn.Module):
    def __init__(self, output_size, spatial_scale, sampling_ratio, aligned=False):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input, rois):
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def __repr__(self):
        return (f"{self.__class__.__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned})")
