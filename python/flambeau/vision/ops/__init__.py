"""flambeau.vision.ops: torchvision.ops' box operations (boxes.py), roi_align (roi_align.py), roi_pool
(roi_pool.py) and the models' building blocks (misc.py)."""
from .boxes import (batched_nms, box_area, box_convert, box_iou, clip_boxes_to_image,  # noqa: F401
                    generalized_box_iou, nms, remove_small_boxes)
from .roi_align import RoIAlign, roi_align  # noqa: F401
from .roi_pool import RoIPool, roi_pool  # noqa: F401
from .misc import SqueezeExcitation, StochasticDepth, stochastic_depth  # noqa: F401
from ..models.mobilenetv2 import Conv2dNormActivation  # noqa: F401

__all__ = ["batched_nms", "box_area", "box_convert", "box_iou", "clip_boxes_to_image", "generalized_box_iou",
           "nms", "remove_small_boxes", "roi_align", "RoIAlign", "roi_pool", "RoIPool", "Conv2dNormActivation",
           "SqueezeExcitation", "StochasticDepth", "stochastic_depth"]
