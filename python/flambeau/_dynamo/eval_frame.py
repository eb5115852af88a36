"""torch._dynamo.eval_frame: where libraries look for OptimizedModule (accelerate and transformers test
`isinstance(model, torch._dynamo.eval_frame.OptimizedModule)` to unwrap a compiled model)."""
from .._compile import OptimizedModule  # noqa: F401
from ..compiler import disable  # noqa: F401


def innermost_fn(fn):
    """The function under any compile/disable wrappers: flambeau's wrappers are the function itself."""
    while hasattr(fn, "_torchdynamo_orig_callable"):
        fn = fn._torchdynamo_orig_callable
    return fn
