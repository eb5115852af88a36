"""flambeau.vision.ops: torchvision.ops' box operations (boxes.py) and roi_align (roi_align.py)."""
from .boxes import (batched_nms, box_area, box_convert, box_iou, clip_boxes_to_image,  # noqa: F401
                    generalized_box_iou, nms, remove_small_boxes)
from .roi_align import RoIAlign, roi_align  # noqa: F401
from ..models.mobilenetv2 import Conv2dNormActivation  # noqa: F401

__all__ = ["batched_nms", "box_area", "box_convert", "box_iou", "clip_boxes_to_image", "generalized_box_iou",
           "nms", "remove_small_boxes", "roi_align", "RoIAlign", "Conv2dNormActivation"]
