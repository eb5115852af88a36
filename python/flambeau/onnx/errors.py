"""torch.onnx.errors: the exceptions export raises."""

__all__ = ["OnnxExporterError", "UnsupportedOperatorError"]


class OnnxExporterError(RuntimeError):
    """The model could not be exported (PyTorch's base class for export errors)."""


class UnsupportedOperatorError(OnnxExporterError):
    """The model calls an op (or passes an argument) flambeau.onnx has no ONNX translation for."""
