"""flambeau.vision.utils (make_grid, save_image's PNG writer) on hand-computed grids and decoded files, and
flambeau.vision.ops (box_iou, box_convert, nms, batched_nms, ...) against brute-force Python and PyTorch."""
import io
import itertools

import numpy as np
import pytest
import torch

import flambeau
from flambeau.vision import ops
from flambeau.vision.utils import make_grid, save_image, write_png
from png_decode import decode_png


def _f(a):
    return flambeau.from_numpy(np.ascontiguousarray(a))


def test_make_grid_hand_computed():
    # three 1-channel 2x2 images, two to a row, padding 1 of value 9: a 7x7 canvas, channel copied three times
    imgs = np.arange(12, dtype=np.float32).reshape(3, 1, 2, 2)
    g = make_grid(_f(imgs), nrow=2, padding=1, pad_value=9).numpy()
    expect = np.array([[9, 9, 9, 9, 9, 9, 9],
                       [9, 0, 1, 9, 4, 5, 9],
                       [9, 2, 3, 9, 6, 7, 9],
                       [9, 9, 9, 9, 9, 9, 9],
                       [9, 8, 9, 9, 9, 9, 9],
                       [9, 10, 11, 9, 9, 9, 9],
                       [9, 9, 9, 9, 9, 9, 9]], dtype=np.float32)
    assert g.shape == (3, 7, 7) and all(np.array_equal(g[c], expect) for c in range(3))
    # default: 8 to a row, padding 2, zeros; 3-channel images keep their channels
    rgb = np.random.rand(10, 3, 3, 4).astype(np.float32)
    g = make_grid(_f(rgb)).numpy()
    assert g.shape == (3, 2 * (3 + 2) + 2, 8 * (4 + 2) + 2)
    assert np.array_equal(g[:, 2:5, 2 + 6 * 7:6 + 6 * 7], rgb[7]) and np.array_equal(g[:, 7:10, 8:12], rgb[9])
    assert g[:, 7:10, 14:].max() == 0  # the empty cells of the last row stay pad_value
    # one image comes back alone (no padding), a 2-D image gets three channels
    assert np.array_equal(make_grid(_f(rgb[:1])).numpy(), rgb[0])
    assert make_grid(_f(np.ones((2, 5), np.float32))).shape == (3, 2, 5)
    # a list of (C, H, W) tensors is stacked
    assert np.array_equal(make_grid([_f(rgb[0]), _f(rgb[1])], padding=0).numpy(), np.concatenate([rgb[0], rgb[1]], 2))
    with pytest.raises(TypeError, match="tensor or list of tensors"):
        make_grid(rgb)


def test_make_grid_normalize():
    a = np.array([[[[-2.0, 0.0], [2.0, 6.0]]], [[[1.0, 1.5], [2.0, 3.0]]]], dtype=np.float32)
    t = _f(a)
    g = make_grid(t, normalize=True, padding=0).numpy()[0]
    assert np.allclose(g, np.concatenate([(a[0, 0] + 2) / 8, (a[1, 0] + 2) / 8], 1))
    g = make_grid(t, normalize=True, scale_each=True, padding=0).numpy()[0]
    assert np.allclose(g, np.concatenate([(a[0, 0] + 2) / 8, (a[1, 0] - 1) / 2], 1))
    g = make_grid(t, normalize=True, value_range=(0.0, 2.0), padding=0).numpy()[0]
    assert np.allclose(g, np.concatenate([np.clip(a[0, 0], 0, 2) / 2, np.clip(a[1, 0], 0, 2) / 2], 1))
    assert np.array_equal(t.numpy(), a)  # the input is not modified
    with pytest.raises(TypeError, match="value_range has to be a tuple"):
        make_grid(t, normalize=True, value_range=[0, 1])


def test_save_image_rounds_like_torchvision_and_writes_png(tmp_path):
    # x * 255 + 0.5, clamped to [0, 255], truncated: 0.5 -> 128, 1/255 -> 1, 0.998 -> 254, out of range clamped
    vals = np.array([0.0, 0.5, 1 / 255, 0.998, -0.3, 1.7], dtype=np.float32)
    img = np.stack([vals.reshape(2, 3), vals[::-1].reshape(2, 3), np.zeros((2, 3), np.float32)])
    path = tmp_path / "g.png"
    save_image(_f(img), str(path))
    pix = decode_png(path.read_bytes())
    expect = np.clip(np.float32(img) * np.float32(255) + np.float32(0.5), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    assert pix.shape == (2, 3, 3) and np.array_equal(pix, expect)
    assert pix[0, 1, 0] == 128 and pix[0, 2, 0] == 1 and pix[1, 0, 0] == 254 and pix[1, 1, 0] == 0
    # a batch goes through make_grid first; a file object works
    buf = io.BytesIO()
    batch = np.random.rand(5, 1, 4, 3).astype(np.float32)
    save_image(_f(batch), buf, nrow=4, padding=1)
    grid = make_grid(_f(batch), nrow=4, padding=1).numpy()
    pix = decode_png(buf.getvalue())
    assert pix.shape == (11, 17, 3) and np.array_equal(
        pix, np.clip(grid * np.float32(255) + np.float32(0.5), 0, 255).astype(np.uint8).transpose(1, 2, 0))
    # gray and RGBA arrays through write_png; PIL (when installed) reads the same pixels
    for shape in ((3, 4), (2, 5, 4)):
        arr = np.random.randint(0, 256, shape, dtype=np.uint8)
        buf = io.BytesIO()
        write_png(buf, arr)
        assert np.array_equal(decode_png(buf.getvalue()).reshape(arr.shape), arr)
        try:
            from PIL import Image
        except ImportError:
            continue
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(buf.getvalue()))), arr)
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        write_png(io.BytesIO(), np.zeros((2, 2, 2), np.uint8))


def _random_boxes(n, rng, scale=20.0):
    xy = rng.uniform(0, scale, (n, 2))
    wh = rng.uniform(0.5, scale / 2, (n, 2))
    return np.concatenate([xy, xy + wh], 1).astype(np.float32)


def _iou_py(a, b):
    """IoU of two boxes in Python floats."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def test_box_iou_and_giou_brute_force_and_gradients():
    rng = np.random.default_rng(0)
    a, b = _random_boxes(7, rng), _random_boxes(5, rng)
    iou = ops.box_iou(_f(a), _f(b)).numpy()
    expect = np.array([[_iou_py(x.tolist(), y.tolist()) for y in b] for x in a])
    assert iou.shape == (7, 5) and np.allclose(iou, expect, rtol=1e-5, atol=1e-6)
    assert ops.box_iou(_f(a), _f(a)).numpy().diagonal() == pytest.approx(1.0)
    assert np.allclose(ops.box_area(_f(a)).numpy(), (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))
    giou = ops.generalized_box_iou(_f(a), _f(b)).numpy()
    for i, j in itertools.product(range(7), range(5)):
        x, y = a[i].astype(np.float64), b[j].astype(np.float64)
        hull = (max(x[2], y[2]) - min(x[0], y[0])) * (max(x[3], y[3]) - min(x[1], y[1]))
        inter = max(0, min(x[2], y[2]) - max(x[0], y[0])) * max(0, min(x[3], y[3]) - max(x[1], y[1]))
        union = (x[2] - x[0]) * (x[3] - x[1]) + (y[2] - y[0]) * (y[3] - y[1]) - inter
        assert giou[i, j] == pytest.approx(inter / union - (hull - union) / hull, rel=1e-5, abs=1e-6)
    # gradients through box_iou, against the same formula in PyTorch
    fa, fb = _f(a.astype(np.float64)).requires_grad_(), _f(b.astype(np.float64)).requires_grad_()
    ta = torch.from_numpy(a.astype(np.float64)).requires_grad_()
    tb = torch.from_numpy(b.astype(np.float64)).requires_grad_()
    w = np.random.randn(7, 5)
    (ops.box_iou(fa, fb) * _f(w)).sum().backward()
    lt, rb = torch.max(ta[:, None, :2], tb[:, :2]), torch.min(ta[:, None, 2:], tb[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area = lambda t: (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])  # noqa: E731
    ((inter / (area(ta)[:, None] + area(tb) - inter)) * torch.from_numpy(w)).sum().backward()
    assert np.allclose(fa.grad.numpy(), ta.grad.numpy(), atol=1e-12)
    assert np.allclose(fb.grad.numpy(), tb.grad.numpy(), atol=1e-12)
    with pytest.raises(ValueError, match=r"box_iou: boxes must have shape \(N, 4\), got \(3, 5\)"):
        ops.box_iou(flambeau.zeros(3, 5), flambeau.zeros(2, 4))


def test_box_convert_hand_cases_and_round_trips():
    xyxy = _f(np.array([[1.0, 2.0, 5.0, 8.0], [0.0, 0.0, 0.0, 0.0]], np.float32))
    assert ops.box_convert(xyxy, "xyxy", "xywh").tolist() == [[1, 2, 4, 6], [0, 0, 0, 0]]
    assert ops.box_convert(xyxy, "xyxy", "cxcywh").tolist() == [[3, 5, 4, 6], [0, 0, 0, 0]]
    centre = _f(np.array([[3.0, 5.0, 4.0, 6.0]], np.float32))
    assert ops.box_convert(centre, "cxcywh", "xyxy").tolist() == [[1, 2, 5, 8]]
    b = _f(_random_boxes(6, np.random.default_rng(1)).astype(np.float64))
    for fmt in ("xywh", "cxcywh"):
        assert np.allclose(ops.box_convert(ops.box_convert(b, "xyxy", fmt), fmt, "xyxy").numpy(), b.numpy())
    same = ops.box_convert(b, "xywh", "xywh")
    assert same is not b and flambeau.equal(same, b)
    with pytest.raises(ValueError, match="Unsupported Bounding Box Conversions"):
        ops.box_convert(b, "xyxy", "yxyx")
    wide = _f(np.array([[-1.0, 2.0, 30.0, 12.0]], np.float32))
    assert ops.clip_boxes_to_image(wide, (10, 20)).tolist() == [[0, 2, 20, 10]]
    small = _f(np.array([[0, 0, 1, 5], [0, 0, 3, 3], [1, 1, 4, 2]], np.float32))
    assert ops.remove_small_boxes(small, 2.0).tolist() == [1]


def _greedy_nms(boxes, scores, thr):
    """Brute force: visit by decreasing score (ties: lower index first), keep unless IoU > thr with a kept box."""
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        if all(_iou_py(boxes[i], boxes[k]) <= thr for k in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("n,thr", [(1, 0.5), (13, 0.3), (60, 0.5), (200, 0.7)])
def test_nms_matches_brute_force(n, thr):
    rng = np.random.default_rng(n)
    boxes = _random_boxes(n, rng, scale=30.0).astype(np.float64)
    scores = rng.random(n)
    keep = ops.nms(_f(boxes), _f(scores), thr)
    assert keep.dtype == flambeau.int64
    assert keep.tolist() == _greedy_nms(boxes.tolist(), scores.tolist(), thr)


def test_nms_hand_cases():
    b = _f(np.array([[0, 0, 10, 10], [0, 0, 10, 5], [0, 5, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32))
    s = _f(np.array([0.9, 0.8, 0.7, 0.6, 0.9], np.float32))
    # box 1 and 2 have IoU exactly 0.5 with box 0: kept at threshold 0.5 (suppression needs IoU > threshold);
    # box 4 duplicates box 0 with the same score: the stable order keeps box 0 and drops box 4
    assert ops.nms(b, s, 0.5).tolist() == [0, 1, 2, 3]
    assert ops.nms(b, s, 0.49).tolist() == [0, 3]
    assert ops.nms(b, s, 1.0).tolist() == [0, 4, 1, 2, 3]
    assert ops.nms(flambeau.zeros(0, 4), flambeau.zeros(0), 0.5).tolist() == []
    with pytest.raises(ValueError, match="nms: scores must be a 1-D Tensor of 5 values"):
        ops.nms(b, flambeau.zeros(4), 0.5)


def test_batched_nms_never_suppresses_across_categories():
    rng = np.random.default_rng(7)
    boxes = _random_boxes(80, rng, scale=15.0).astype(np.float64)
    scores = rng.random(80)
    idxs = rng.integers(0, 4, 80)
    keep = ops.batched_nms(_f(boxes), _f(scores), _f(idxs), 0.4).tolist()
    expect = []
    for c in range(4):
        members = [i for i in range(80) if idxs[i] == c]
        kept = _greedy_nms(boxes[members].tolist(), scores[members].tolist(), 0.4)
        expect += [members[k] for k in kept]
    assert keep == sorted(expect, key=lambda i: -scores[i])
    # the same boxes in one category suppress each other
    assert len(ops.batched_nms(_f(boxes), _f(scores), _f(np.zeros(80, np.int64)), 0.4)) < len(keep)
    none = ops.batched_nms(flambeau.zeros(0, 4), flambeau.zeros(0), flambeau.zeros(0, dtype=flambeau.int64), 0.5)
    assert none.tolist() == []


def _roi_align_ref(x, rois, ph, pw, scale, sampling_ratio, aligned):
    """torchvision's CPU kernel, one sample point at a time, in float64."""
    n, c, h, w = x.shape
    out = np.zeros((len(rois), c, ph, pw))
    off = 0.5 if aligned else 0.0
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        sw, sh = x1 * scale - off, y1 * scale - off
        rw, rh = x2 * scale - off - sw, y2 * scale - off - sh
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        gh = sampling_ratio if sampling_ratio > 0 else int(np.ceil(rh / ph))
        gw = sampling_ratio if sampling_ratio > 0 else int(np.ceil(rw / pw))
        count = max(gh * gw, 1)
        for i, j in itertools.product(range(ph), range(pw)):
            acc = np.zeros(c)
            for iy, ix in itertools.product(range(gh), range(gw)):
                yy = sh + i * rh / ph + (iy + 0.5) * (rh / ph) / gh
                xx = sw + j * rw / pw + (ix + 0.5) * (rw / pw) / gw
                if yy < -1 or yy > h or xx < -1 or xx > w:
                    continue
                yy, xx = max(yy, 0.0), max(xx, 0.0)
                yl, xl = int(yy), int(xx)
                if yl >= h - 1:
                    yl = yh = h - 1
                    yy = float(yl)
                else:
                    yh = yl + 1
                if xl >= w - 1:
                    xl = xh = w - 1
                    xx = float(xl)
                else:
                    xh = xl + 1
                ly, lx = yy - yl, xx - xl
                img = x[int(b)]
                acc += ((1 - ly) * (1 - lx) * img[:, yl, xl] + (1 - ly) * lx * img[:, yl, xh]
                        + ly * (1 - lx) * img[:, yh, xl] + ly * lx * img[:, yh, xh])
            out[k, :, i, j] = acc / count
    return out


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 2])
def test_roi_align_matches_the_kernels_rule(aligned, sampling_ratio):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 11))
    rois = np.array([[0, 1.3, 2.2, 7.9, 6.1], [1, -2.0, -1.5, 4.0, 3.0], [1, 8.5, 6.2, 12.5, 10.4],
                     [0, 3.0, 3.0, 3.2, 3.1], [1, 0.0, 0.0, 22.0, 18.0], [0, 5.0, 4.0, 2.0, 1.0]])
    for scale, size in ((1.0, (3, 4)), (0.5, 2)):
        ours = ops.roi_align(_f(x), _f(rois), size, scale, sampling_ratio, aligned).numpy()
        ph, pw = (size, size) if isinstance(size, int) else size
        ref = _roi_align_ref(x, rois, ph, pw, scale, sampling_ratio, aligned)
        assert ours.shape == ref.shape and np.allclose(ours, ref, atol=1e-12), np.abs(ours - ref).max()
    # the list-of-boxes form and the module give the same; float32 agrees to rounding
    boxes = [_f(rois[rois[:, 0] == i, 1:]) for i in range(2)]
    order = np.argsort(rois[:, 0], kind="stable")
    listed = ops.roi_align(_f(x), boxes, 2, 0.5, sampling_ratio, aligned).numpy()
    assert np.allclose(listed, _roi_align_ref(x, rois[order], 2, 2, 0.5, sampling_ratio, aligned), atol=1e-12)
    m = ops.RoIAlign((3, 4), 1.0, sampling_ratio, aligned)
    out32 = m(_f(x.astype(np.float32)), _f(rois.astype(np.float32)))
    assert out32.dtype == flambeau.float32
    assert np.allclose(out32.numpy(), _roi_align_ref(x, rois, 3, 4, 1.0, sampling_ratio, aligned), atol=1e-5)


def test_roi_align_gradient_and_errors():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 2, 6, 7))
    rois = _f(np.array([[0, 0.5, 1.0, 5.5, 4.0], [0, 2.0, 0.0, 6.0, 6.0]]))
    xf = _f(x).requires_grad_()
    g = rng.standard_normal((2, 2, 2, 3))
    (ops.roi_align(xf, rois, (2, 3), 1.0, 2, True) * _f(g)).sum().backward()
    # the output is linear in x: its gradient is the adjoint, checked against finite differences
    eps, grad = 1e-6, np.zeros_like(x)
    for idx in itertools.product(*map(range, x.shape)):
        d = np.zeros_like(x)
        d[idx] = eps
        grad[idx] = ((_roi_align_ref(x + d, rois.numpy(), 2, 3, 1.0, 2, True)
                      - _roi_align_ref(x - d, rois.numpy(), 2, 3, 1.0, 2, True)) * g).sum() / (2 * eps)
    assert np.allclose(xf.grad.numpy(), grad, atol=1e-6)
    assert tuple(ops.roi_align(_f(x), flambeau.zeros(0, 5, dtype=flambeau.float64), 2).shape) == (0, 2, 2, 2)
    with pytest.raises(ValueError, match=r"roi_align: boxes must be a Tensor \(K, 5\)"):
        ops.roi_align(_f(x), flambeau.zeros(3, 4), 2)
    with pytest.raises(IndexError, match="RoI batch index 1.0 out of range"):
        ops.roi_align(_f(x), _f(np.array([[1.0, 0, 0, 2, 2]])), 2)
