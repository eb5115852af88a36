"""fx.passes.shape_prop.ShapeProp: runs the graph on example inputs and stores each tensor value's
shape, dtype, requires_grad, stride and memory format in node.meta['tensor_meta']."""
from typing import NamedTuple

from ..interpreter import Interpreter
from ..node import map_aggregate


class TensorMetadata(NamedTuple):
    shape: object
    dtype: object
    requires_grad: bool
    stride: tuple
    memory_format: object
    is_quantized: bool
    qparams: dict


def _extract_tensor_metadata(result, include_contiguity=True):
    import flambeau
    memory_format = None
    if include_contiguity:
        for fmt in (flambeau.contiguous_format, flambeau.channels_last, flambeau.channels_last_3d):
            try:
                if result.is_contiguous(memory_format=fmt):
                    memory_format = fmt
                    break
            except (RuntimeError, ValueError, TypeError):
                continue
    return TensorMetadata(result.shape, result.dtype, result.requires_grad, tuple(result.stride()),
                          memory_format, False, {})


class ShapeProp(Interpreter):
    """ShapeProp(gm).propagate(*example_inputs) fills node.meta['tensor_meta'] (and node.meta['type'])."""

    def __init__(self, gm, fake_mode=None):
        if fake_mode is not None:
            raise NotImplementedError("ShapeProp(fake_mode=...): fake tensors are not supported by flambeau.fx")
        super().__init__(gm)

    def run_node(self, n):
        from ..._tensor import Tensor
        try:
            result = super().run_node(n)
        except Exception as e:
            raise RuntimeError(f"ShapeProp error for: node={n.format_node()} with meta={n.meta}") from e
        found = []

        def extract(obj):
            if isinstance(obj, Tensor):
                found.append(True)
                return _extract_tensor_metadata(obj)
            return obj
        meta = map_aggregate(result, extract)
        if found:
            n.meta["tensor_meta"] = meta
        n.meta["type"] = type(result)
        return result

    def propagate(self, *args):
        return super().run(*args)


__all__ = ["TensorMetadata", "ShapeProp"]
