"""flambeau.fx: PyTorch's torch.fx (symbolic tracing, graphs, GraphModule, Interpreter, Transformer)
for flambeau modules. Pure Python; see _symbolic_trace for how tracing works without the
__torch_function__ protocol."""
from .graph import Graph
from .graph_module import GraphModule
from .node import Node, map_arg, map_aggregate, has_side_effect
from .proxy import Proxy, Attribute, TraceError
from ._symbolic_trace import Tracer, symbolic_trace, wrap, is_fx_tracing
from .interpreter import Interpreter, Transformer
from .subgraph_rewriter import replace_pattern
from . import passes  # noqa: F401
from . import _pytree  # noqa: F401  (torch.fx._pytree, which transformers imports)

__all__ = ["symbolic_trace", "Tracer", "wrap", "Graph", "GraphModule", "Interpreter", "Transformer", "Node",
           "Proxy", "replace_pattern", "has_side_effect", "map_arg", "is_fx_tracing"]
