"""flambeau.vision.ops: torchvision.ops' box operations (boxes.py)."""
from .boxes import (batched_nms, box_area, box_convert, box_iou, clip_boxes_to_image,  # noqa: F401
                    generalized_box_iou, nms, remove_small_boxes)
from ..models.mobilenetv2 import Conv2dNormActivation  # noqa: F401

__all__ = ["batched_nms", "box_area", "box_convert", "box_iou", "clip_boxes_to_image", "generalized_box_iou",
           "nms", "remove_small_boxes", "Conv2dNormActivation"]
