"""flambeau.vision.ops.roi_pool / RoIPool against torchvision's CPU kernel written out as scalar loops (the
rounding of the RoI corners, floor/ceil bin edges clipped to the map, the first maximum, 0 for empty bins),
its backward (the gradient goes to each bin's argmax) against the same loops, hand cases, and errors."""
import math

import numpy as np
import pytest
import torch

import flambeau
from flambeau.vision.ops import RoIPool, roi_pool


def ref_roi_pool(x, rois, ph, pw, scale):
    """torchvision's roi_pool_forward_kernel_impl in the input's precision; returns (output, argmax)."""
    ft = x.dtype.type
    n, c, h, w = x.shape
    out = np.zeros((len(rois), c, ph, pw), x.dtype)
    arg = -np.ones((len(rois), c, ph, pw), np.int64)

    def rnd(v):  # std::round: half away from zero
        return int(math.copysign(math.floor(abs(float(v)) + 0.5), float(v)))
    for k, r in enumerate(rois.astype(x.dtype)):
        b = int(r[0])
        sw, sh, ew, eh = (rnd(ft(v) * ft(scale)) for v in r[1:])
        rw, rh = max(ew - sw + 1, 1), max(eh - sh + 1, 1)
        bh, bw = ft(rh) / ft(ph), ft(rw) / ft(pw)
        for i in range(ph):
            for j in range(pw):
                hs = min(max(int(math.floor(ft(i) * bh)) + sh, 0), h)
                he = min(max(int(math.ceil(ft(i + 1) * bh)) + sh, 0), h)
                ws = min(max(int(math.floor(ft(j) * bw)) + sw, 0), w)
                we = min(max(int(math.ceil(ft(j + 1) * bw)) + sw, 0), w)
                for ch in range(c):
                    if he <= hs or we <= ws:
                        continue
                    best, where = -np.inf, -1
                    for yy in range(hs, he):
                        for xx in range(ws, we):
                            if x[b, ch, yy, xx] > best:
                                best, where = x[b, ch, yy, xx], yy * w + xx
                    out[k, ch, i, j], arg[k, ch, i, j] = best, where
    return out, arg


def _rois(rng, n, k, h, w, scale):
    x1 = rng.uniform(-3, w / scale, k)
    y1 = rng.uniform(-3, h / scale, k)
    x2 = x1 + rng.uniform(0, w / scale, k)
    y2 = y1 + rng.uniform(0, h / scale, k)
    rois = np.stack([rng.integers(0, n, k), x1, y1, x2, y2], 1)
    rois[0, 1:] = [2.5, 1.5, 6.5, 3.5]  # exact halves: std::round goes away from zero
    return rois


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("out_size,scale", [((3, 3), 1.0), ((2, 5), 0.5), ((7, 7), 0.25)])
def test_roi_pool_matches_the_kernel(dtype, out_size, scale):
    rng = np.random.default_rng(hash((out_size, scale)) % 1000)
    x = rng.standard_normal((2, 3, 13, 11)).astype(dtype)
    x[0, 0, 2:6, 2:6] = 0.5  # ties: the first in row-major order wins
    rois = _rois(rng, 2, 9, 13, 11, scale)
    ref, arg = ref_roi_pool(x, rois, *out_size, scale)
    xt = flambeau.from_numpy(x).requires_grad_(True)
    out = roi_pool(xt, flambeau.from_numpy(rois.astype(dtype)), out_size, scale)
    assert out.dtype == xt.dtype and out.detach().numpy().tolist() == ref.tolist()
    # backward: each bin's gradient lands on its argmax
    g = rng.standard_normal(ref.shape).astype(dtype)
    out.backward(flambeau.from_numpy(g))
    expect = np.zeros_like(x).reshape(2, 3, -1)
    for k, r in enumerate(rois):
        for ch in range(3):
            for i in range(out_size[0]):
                for j in range(out_size[1]):
                    if arg[k, ch, i, j] >= 0:
                        expect[int(r[0]), ch, arg[k, ch, i, j]] += g[k, ch, i, j]
    np.testing.assert_allclose(xt.grad.numpy(), expect.reshape(x.shape), rtol=1e-12 if dtype == np.float64 else 1e-6)


def test_roi_pool_hand_case_list_boxes_and_module():
    x = flambeau.arange(16, dtype=flambeau.float32).reshape(1, 1, 4, 4)
    out = roi_pool(x, [flambeau.tensor([[0.0, 0.0, 3.0, 3.0]])], 2)
    assert out.tolist() == [[[[5.0, 7.0], [13.0, 15.0]]]]
    box = flambeau.tensor([[0.0, 1.0, 1.0, 2.0, 2.0]])  # a 2x2 RoI in a 4x4 bin grid: some bins are single pixels
    assert RoIPool((4, 4), 1.0)(x, box).tolist() == [[[[5.0, 5.0, 6.0, 6.0], [5.0, 5.0, 6.0, 6.0],
                                                        [9.0, 9.0, 10.0, 10.0], [9.0, 9.0, 10.0, 10.0]]]]
    outside = roi_pool(x, flambeau.tensor([[0.0, 10.0, 10.0, 12.0, 12.0]]), 2)
    assert outside.tolist() == [[[[0.0, 0.0], [0.0, 0.0]]]]  # empty bins give 0
    assert tuple(roi_pool(x, flambeau.zeros(0, 5), 3).shape) == (0, 1, 3, 3)
    assert repr(RoIPool(7, 0.0625)) == "RoIPool(output_size=7, spatial_scale=0.0625)"


def test_roi_pool_matches_torch_max_pool_on_exact_bins():
    """A RoI covering the whole map with bins dividing it evenly is adaptive max pooling."""
    x = torch.randn(2, 4, 12, 8)
    rois = flambeau.tensor([[1.0, 0.0, 0.0, 7.0, 11.0], [0.0, 0.0, 0.0, 7.0, 11.0]])
    out = roi_pool(flambeau.from_numpy(x.numpy()), rois, (3, 2))
    ref = torch.nn.functional.adaptive_max_pool2d(x, (3, 2))
    assert out.numpy().tolist() == ref[[1, 0]].numpy().tolist()


def test_roi_pool_errors():
    x = flambeau.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="4-D"):
        roi_pool(flambeau.zeros(4, 4), flambeau.zeros(0, 5), 2)
    with pytest.raises(ValueError, match="boxes"):
        roi_pool(x, flambeau.zeros(3, 4), 2)
    with pytest.raises(IndexError, match="batch index 3"):
        roi_pool(x, flambeau.tensor([[3.0, 0.0, 0.0, 1.0, 1.0]]), 2)
    with pytest.raises(TypeError, match="floating"):
        roi_pool(flambeau.zeros((1, 1, 4, 4), dtype=flambeau.int64), flambeau.zeros(0, 5), 2)
