"""torchvision.ops' box operations. Boxes are (N, 4) tensors, (x1, y1, x2, y2) unless a format says otherwise.

box_iou, generalized_box_iou, box_area and box_convert are tensor arithmetic (differentiable), in the same
order of operations as torchvision. nms is the greedy algorithm of torchvision's CPU kernel: boxes visited by
decreasing score (a stable sort: equal scores keep their order), each one kept unless its IoU with a box kept
before it is > iou_threshold; the IoU is computed in the boxes' dtype with the kernel's formula
inter / (area_i + area_j - inter), so the decisions at the threshold are the same.
"""
import numpy as np

import flambeau
from ..._tensor import Tensor

__all__ = ["batched_nms", "box_area", "box_convert", "box_iou", "clip_boxes_to_image", "generalized_box_iou",
           "nms", "remove_small_boxes"]


def _check_boxes(name, boxes):
    if not isinstance(boxes, Tensor):
        raise TypeError(f"{name}: boxes must be a Tensor, got {type(boxes).__name__}")
    if boxes.dim() != 2 or boxes.size(1) != 4:
        raise ValueError(f"{name}: boxes must have shape (N, 4), got {tuple(boxes.shape)}")


def _upcast(t):
    """float16/bfloat16 -> float32, small integers -> int32: box products would overflow otherwise."""
    if t.is_floating_point():
        return t if t.dtype in (flambeau.float32, flambeau.float64) else t.float()
    return t if t.dtype in (flambeau.int32, flambeau.int64) else t.int()


def box_area(boxes):
    """(x2 - x1) * (y2 - y1) of each box, shape (N,)."""
    _check_boxes("box_area", boxes)
    boxes = _upcast(boxes)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _box_inter_union(boxes1, boxes2):
    area1, area2 = box_area(boxes1), box_area(boxes2)
    lt = flambeau.max(boxes1[:, None, :2], boxes2[:, :2])
    rb = flambeau.min(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = _upcast(rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2 - inter
    return inter, union


def box_iou(boxes1, boxes2):
    """Intersection over union of every pair, shape (N, M)."""
    _check_boxes("box_iou", boxes1)
    _check_boxes("box_iou", boxes2)
    inter, union = _box_inter_union(boxes1, boxes2)
    return inter / union


def generalized_box_iou(boxes1, boxes2):
    """IoU - (enclosing area - union) / enclosing area of every pair, shape (N, M)."""
    _check_boxes("generalized_box_iou", boxes1)
    _check_boxes("generalized_box_iou", boxes2)
    inter, union = _box_inter_union(boxes1, boxes2)
    iou = inter / union
    lti = flambeau.min(boxes1[:, None, :2], boxes2[:, :2])
    rbi = flambeau.max(boxes1[:, None, 2:], boxes2[:, 2:])
    whi = _upcast(rbi - lti).clamp(min=0)
    areai = whi[:, :, 0] * whi[:, :, 1]
    return iou - (areai - union) / areai


_FORMATS = ("xyxy", "xywh", "cxcywh")


def box_convert(boxes, in_fmt, out_fmt):
    """Boxes from in_fmt to out_fmt, each of 'xyxy', 'xywh' (corner, size), 'cxcywh' (centre, size)."""
    if in_fmt not in _FORMATS or out_fmt not in _FORMATS:
        raise ValueError(f"Unsupported Bounding Box Conversions for given in_fmt {in_fmt} and out_fmt "
                         f"{out_fmt} (supported: {', '.join(_FORMATS)})")
    if boxes.size(-1) != 4:
        raise ValueError(f"box_convert: boxes must have 4 values in their last dimension, got {tuple(boxes.shape)}")
    if in_fmt == out_fmt:
        return boxes.clone()
    if in_fmt == "xywh":
        x, y, w, h = boxes.unbind(-1)
        boxes = flambeau.stack([x, y, x + w, y + h], dim=-1)
    elif in_fmt == "cxcywh":
        cx, cy, w, h = boxes.unbind(-1)
        boxes = flambeau.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)
    if out_fmt == "xywh":
        x1, y1, x2, y2 = boxes.unbind(-1)
        boxes = flambeau.stack([x1, y1, x2 - x1, y2 - y1], dim=-1)
    elif out_fmt == "cxcywh":
        x1, y1, x2, y2 = boxes.unbind(-1)
        boxes = flambeau.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)
    return boxes


def clip_boxes_to_image(boxes, size):
    """Boxes clamped into an image of size (height, width)."""
    height, width = size
    boxes_x = boxes[..., 0::2].clamp(min=0, max=width)
    boxes_y = boxes[..., 1::2].clamp(min=0, max=height)
    return flambeau.stack((boxes_x, boxes_y), dim=boxes.dim()).reshape(boxes.shape)


def remove_small_boxes(boxes, min_size):
    """Indices of the boxes whose width and height are both >= min_size."""
    ws, hs = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return flambeau.where((ws >= min_size) & (hs >= min_size))[0]


def _nms_numpy(b, s, iou_threshold):
    """Kept indices (into b), by decreasing score. b: (N, 4) float array, s: (N,)."""
    order = np.argsort(-s, kind="stable") if s.dtype.kind == "f" else np.argsort(s, kind="stable")[::-1]
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    suppressed = np.zeros(len(b), dtype=bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        xx1 = np.maximum(x1[i], x1)
        yy1 = np.maximum(y1[i], y1)
        xx2 = np.minimum(x2[i], x2)
        yy2 = np.minimum(y2[i], y2)
        w = np.maximum(b.dtype.type(0), xx2 - xx1)
        h = np.maximum(b.dtype.type(0), yy2 - yy1)
        inter = w * h
        with np.errstate(divide="ignore", invalid="ignore"):
            ovr = inter / (areas[i] + areas - inter)
        suppressed |= ovr > iou_threshold
    return np.asarray(keep, dtype=np.int64)


def nms(boxes, scores, iou_threshold):
    """Indices (int64) of the boxes kept by non-maximum suppression, by decreasing score."""
    _check_boxes("nms", boxes)
    if not isinstance(scores, Tensor) or scores.dim() != 1 or scores.size(0) != boxes.size(0):
        raise ValueError(f"nms: scores must be a 1-D Tensor of {boxes.size(0)} values, got "
                         f"{tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__}")
    if not boxes.is_floating_point():
        raise TypeError(f"nms: boxes must be floating point, got {boxes.dtype}")
    if boxes.size(0) == 0:
        return flambeau.empty((0,), dtype=flambeau.int64, device=boxes.device)
    b = boxes.detach().cpu()
    if b.dtype not in (flambeau.float32, flambeau.float64):
        b = b.float()
    s = scores.detach().cpu()
    s = s.double() if s.dtype not in (flambeau.float32, flambeau.float64) else s
    keep = _nms_numpy(b.numpy(), s.numpy(), float(iou_threshold))
    return flambeau.from_numpy(keep).to(boxes.device)


def batched_nms(boxes, scores, idxs, iou_threshold):
    """nms run within each category of idxs (boxes of different categories never suppress each other);
    indices of the kept boxes, by decreasing score."""
    _check_boxes("batched_nms", boxes)
    if boxes.size(0) == 0:
        return flambeau.empty((0,), dtype=flambeau.int64, device=boxes.device)
    idx_np = idxs.detach().cpu().numpy()
    keep_mask = np.zeros(boxes.size(0), dtype=bool)
    for class_id in np.unique(idx_np):
        curr = np.nonzero(idx_np == class_id)[0]
        sel = flambeau.from_numpy(curr).to(boxes.device)
        kept = nms(boxes[sel], scores[sel], iou_threshold).cpu().numpy()
        keep_mask[curr[kept]] = True
    keep = np.nonzero(keep_mask)[0]
    s = scores.detach().cpu().double().numpy()[keep]
    keep = keep[np.argsort(-s, kind="stable")]
    return flambeau.from_numpy(np.ascontiguousarray(keep, dtype=np.int64)).to(boxes.device)
