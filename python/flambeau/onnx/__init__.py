"""torch.onnx: export a model to the ONNX format, with no dependency on the onnx package.

    flambeau.onnx.export(model, (x,), "model.onnx", input_names=["x"], output_names=["y"],
                         dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})

The model is captured by running it on the example inputs (_trace.py), each op is translated to ONNX
(_symbolic.py: the supported ops are the keys of SUPPORTED_OPS) and the protobuf is written by hand
(_proto.py). See export() for the arguments.
"""
from ._export import (DEFAULT_OPSET, ONNXProgram, OperatorExportTypes, TrainingMode, export,  # noqa: F401
                      export_to_bytes, is_in_onnx_export)
from ._symbolic import SYMBOLICS as _SYMBOLICS
from . import errors  # noqa: F401
from .errors import OnnxExporterError, UnsupportedOperatorError  # noqa: F401

SUPPORTED_OPS = tuple(sorted(_SYMBOLICS))

__all__ = ["export", "is_in_onnx_export", "OperatorExportTypes", "TrainingMode", "ONNXProgram", "errors",
           "OnnxExporterError", "UnsupportedOperatorError", "SUPPORTED_OPS"]
