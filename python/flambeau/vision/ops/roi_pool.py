"""torchvision.ops.roi_pool / RoIPool (Fast R-CNN's RoI max pooling).

Each RoI's corners are scaled by spatial_scale and rounded (half away from zero) to whole pixels, the RoI
(at least 1x1, both ends included) is cut into output_size bins with floor/ceil edges clipped to the map, and
each bin takes the maximum of its pixels (0 for an empty bin), as torchvision's kernel does, in the input's
precision. The first maximum in row-major order wins a tie, as the kernel's strict '>' scan.

The argmax of every bin is found in numpy, and the output is a gather of the input at those positions, so the
gradient flows to the argmax pixels (summed where bins share one), which is torchvision's backward.
"""
import numpy as np

import flambeau
from ... import nn
from ..._tensor import Tensor
from .roi_align import _pair, _rois_from

__all__ = ["roi_pool", "RoIPool"]


def _edges(start, size, bins, length, ft):
    """(lo, hi) pixel ranges of the bins along one axis, in the kernel's float type ft."""
    bin_size = ft(size) / ft(bins)
    lo = np.floor(np.arange(bins, dtype=ft) * bin_size).astype(np.int64) + start
    hi = np.ceil(np.arange(1, bins + 1, dtype=ft) * bin_size).astype(np.int64) + start
    return np.clip(lo, 0, length), np.clip(hi, 0, length)


def roi_pool(input, boxes, output_size, spatial_scale=1.0):
    """RoIs of input (N, C, H, W) max-pooled to (K, C, *output_size); boxes (K, 5) (batch index, x1, y1, x2,
    y2) or a list of (L, 4) per image."""
    if not isinstance(input, Tensor) or input.dim() != 4:
        raise ValueError(f"roi_pool: input must be a 4-D Tensor (N, C, H, W), got "
                         f"{tuple(input.shape) if isinstance(input, Tensor) else type(input)}")
    if not input.is_floating_point():
        raise TypeError(f"roi_pool: input must be a floating-point Tensor, got {input.dtype}")
    ft = np.float64 if input.dtype == flambeau.float64 else np.float32
    rois = _rois_from(boxes, "roi_pool").detach().cpu().numpy().astype(ft)
    ph, pw = _pair(output_size)
    n, c, h, w = input.shape
    if len(rois) == 0:
        return input.new_zeros((0, c, ph, pw))
    x = input.detach().cpu().numpy()
    index = np.zeros((len(rois), c, ph, pw), np.int64)  # into input.reshape(-1)
    keep = np.ones((len(rois), 1, ph, pw), bool)
    scale = ft(spatial_scale)
    for k, roi in enumerate(rois):
        b = int(roi[0])
        if not 0 <= b < n:
            raise IndexError(f"roi_pool: RoI batch index {b} out of range for input of {n} images")
        # np.round rounds half to even; the kernel's std::round rounds half away from zero
        x1, y1, x2, y2 = (int(np.sign(v) * np.floor(np.abs(v) + 0.5)) for v in roi[1:] * scale)
        hs, he = _edges(y1, max(y2 - y1 + 1, 1), ph, h, ft)
        ws, we = _edges(x1, max(x2 - x1 + 1, 1), pw, w, ft)
        for i in range(ph):
            for j in range(pw):
                if he[i] <= hs[i] or we[j] <= ws[j]:
                    keep[k, 0, i, j] = False
                    index[k, :, i, j] = b * c * h * w
                    continue
                window = x[b, :, hs[i]:he[i], ws[j]:we[j]].reshape(c, -1)
                arg = window.argmax(axis=1)  # first maximum, row-major: the kernel's scan order
                bw = we[j] - ws[j]
                index[k, :, i, j] = ((b * c + np.arange(c)) * h + hs[i] + arg // bw) * w + ws[j] + arg % bw
    flat_index = flambeau.from_numpy(index.reshape(-1)).to(input.device)
    out = input.reshape(-1).index_select(0, flat_index).reshape(len(rois), c, ph, pw)
    if not keep.all():
        out = out * flambeau.from_numpy(keep).to(dtype=input.dtype, device=input.device)
    return out


class RoIPool(nn.Module):
    def __init__(self, output_size, spatial_scale):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input, rois):
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self):
        return f"{self.__class__.__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale})"
