"""Object-detection utilities as detection repositories write them in plain torch (torchvision.ops'
box_iou / nms / generalized IoU, a YOLO-style grid target assignment with meshgrid and advanced
indexing, sigmoid focal loss, a tiny anchor-free head trained a few steps), with PyTorch and with
flambeau on the same boxes and weights."""
import numpy as np

from vision_parity import run_both


def detection_body(lib, rec, steps=3):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim

    def box_area(boxes):
        return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])

    def box_iou(boxes1, boxes2):
        area1, area2 = box_area(boxes1), box_area(boxes2)
        lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])
        rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])
        wh = (rb - lt).clamp(min=0)
        inter = wh[:, :, 0] * wh[:, :, 1]
        union = area1[:, None] + area2 - inter
        return inter / union, union

    def generalized_box_iou(boxes1, boxes2):
        iou, union = box_iou(boxes1, boxes2)
        lt = torch.min(boxes1[:, None, :2], boxes2[:, :2])
        rb = torch.max(boxes1[:, None, 2:], boxes2[:, 2:])
        wh = (rb - lt).clamp(min=0)
        area = wh[:, :, 0] * wh[:, :, 1]
        return iou - (area - union) / area

    def nms(boxes, scores, iou_threshold):
        order = scores.argsort(descending=True)
        keep = []
        suppressed = torch.zeros(boxes.shape[0], dtype=torch.bool)
        ious = box_iou(boxes, boxes)[0]
        for idx in order.tolist():
            if suppressed[idx]:
                continue
            keep.append(idx)
            suppressed |= ious[idx] > iou_threshold
        return torch.tensor(keep, dtype=torch.int64)

    def batched_nms(boxes, scores, idxs, iou_threshold):
        max_coordinate = boxes.max()
        offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
        return nms(boxes + offsets[:, None], scores, iou_threshold)

    def box_cxcywh_to_xyxy(x):
        x_c, y_c, w, h = x.unbind(-1)
        b = [(x_c - 0.5 * w), (y_c - 0.5 * h), (x_c + 0.5 * w), (y_c + 0.5 * h)]
        return torch.stack(b, dim=-1)

    def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none"):
        p = torch.sigmoid(inputs)
        ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
        p_t = p * targets + (1 - p) * (1 - targets)
        loss = ce_loss * ((1 - p_t) ** gamma)
        if alpha >= 0:
            alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
            loss = alpha_t * loss
        if reduction == "mean":
            loss = loss.mean()
        elif reduction == "sum":
            loss = loss.sum()
        return loss

    rs = np.random.RandomState(0)
    xy = rs.uniform(0, 20, (12, 2))
    wh = rs.uniform(2, 10, (12, 2))
    boxes = torch.tensor(np.concatenate([xy, xy + wh], 1), dtype=torch.float32)
    scores = torch.from_numpy(rs.rand(12).astype(np.float32))
    labels = torch.from_numpy(rs.randint(0, 3, 12))
    iou, _ = box_iou(boxes, boxes)
    rec.log("iou", iou)
    rec.log("giou", generalized_box_iou(boxes, boxes[:5]))
    rec.log("nms", nms(boxes, scores, 0.3))
    rec.log("batched_nms", batched_nms(boxes, scores, labels, 0.3))
    rec.log("cxcywh", box_cxcywh_to_xyxy(boxes))
    topk_scores, topk_idx = scores.topk(5)
    rec.log("topk", [topk_scores, topk_idx])
    keep = scores > 0.5
    rec.log("masked", [boxes[keep], labels[keep], keep.nonzero().squeeze(1)])

    # an anchor-free head on a 4x4 grid: YOLO-style target assignment
    S, C = 4, 3
    # (bias=False before BatchNorm, as detection backbones write it: such a bias only gets a
    # rounding-noise gradient, which AdamW turns into lr-sized steps of random sign)
    head = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.SiLU(),
                         nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.SiLU(),
                         nn.Conv2d(8, 5 + C, 1))
    rec.sync("head", head)
    opt = optim.AdamW(head.parameters(), lr=1e-3, weight_decay=0.05)
    gy, gx = torch.meshgrid(torch.arange(S), torch.arange(S), indexing="ij")
    grid = torch.stack((gx, gy), 2).view(1, S, S, 2).float()
    for step in range(steps):
        imgs = torch.from_numpy(rs.rand(2, 3, 16, 16).astype(np.float32))
        gt = torch.from_numpy(rs.uniform(0.05, 0.95, (2, 3, 4)).astype(np.float32))  # cx, cy, w, h
        gt_cls = torch.from_numpy(rs.randint(0, C, (2, 3)))
        out = head(imgs).permute(0, 2, 3, 1).contiguous()  # (B, S, S, 5 + C)
        pxy = (out[..., :2].sigmoid() + grid) / S
        pwh = out[..., 2:4].exp().clamp(max=4.0) / S
        obj_target = torch.zeros(2, S, S)
        cls_target = torch.zeros(2, S, S, C)
        box_target = torch.zeros(2, S, S, 4)
        b_idx = torch.arange(2).view(-1, 1).expand(-1, 3).reshape(-1)
        cell = (gt[..., :2] * S).long().clamp(0, S - 1).view(-1, 2)
        obj_target[b_idx, cell[:, 1], cell[:, 0]] = 1.0
        cls_target[b_idx, cell[:, 1], cell[:, 0], gt_cls.view(-1)] = 1.0
        box_target[b_idx, cell[:, 1], cell[:, 0]] = gt.view(-1, 4)
        pos = obj_target.bool()
        pred_boxes = box_cxcywh_to_xyxy(torch.cat([pxy, pwh], -1)[pos])
        tgt_boxes = box_cxcywh_to_xyxy(box_target[pos])
        giou = torch.diag(generalized_box_iou(pred_boxes, tgt_boxes))
        loss_box = (1 - giou).mean()
        loss_obj = sigmoid_focal_loss(out[..., 4], obj_target, reduction="mean")
        loss_cls = F.binary_cross_entropy_with_logits(out[..., 5:][pos], cls_target[pos])
        loss = loss_box + loss_obj + loss_cls
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(head.parameters(), max_norm=10.0)
        opt.step()
        rec.log("n_pos", int(pos.sum()))
        rec.log("losses", [loss_box, loss_obj, loss_cls])
        rec.log("grad.last", head[-1].weight.grad)
    head.eval()
    with torch.no_grad():
        out = head(imgs).permute(0, 2, 3, 1)
        conf = out[..., 4].sigmoid() * out[..., 5:].softmax(-1).max(-1).values
        rec.log("conf", conf)
        flat = conf.flatten(1)
        vals, idx = flat.sort(dim=1, descending=True)
        rec.log("sorted", [vals, idx])
        rows, cols = torch.div(idx, S, rounding_mode="floor"), idx % S
        rec.log("rows_cols", [rows, cols])


def test_detection_utilities_match_pytorch():
    run_both(detection_body, tol={"grad": (1e-5, 1e-3)})


if __name__ == "__main__":
    test_detection_utilities_match_pytorch()
    print("ok")
