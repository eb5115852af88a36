"""Which flambeau functions fx records, and under which name generated code calls them.

fx does not use the __torch_function__ protocol (flambeau switches it on only once a program defines a
Tensor subclass with an override, since it costs every real-tensor call a check), so while a Tracer runs, the public functions of the torch-like namespaces are swapped for wrappers that record a
call_function node when an argument holds a Proxy and call the original otherwise; the originals are
put back when tracing ends. Generated code spells them as PyTorch does (`torch.relu`,
`torch.nn.functional.relu`) with `torch` bound to flambeau, so printed graphs read like PyTorch's.
"""
import functools
import inspect
import types

# PyTorch's torch.nn.functional entries that are C builtins: their calls are recorded with the
# arguments as written. The other F functions are Python functions that hand __torch_function__ their
# tensor arguments positionally and every defaulted parameter as a keyword, so fx records those with
# the defaults filled in (F.relu(x) -> relu(x, inplace=False)); _record_args does the same.
_F_BUILTINS = frozenset((
    "adaptive_avg_pool1d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "bilinear", "celu_", "channel_shuffle",
    "conv1d", "conv2d", "conv3d", "conv_tbc", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "cosine_similarity", "elu_", "gelu", "hardshrink", "hardtanh_", "leaky_relu_", "linear", "logsigmoid",
    "native_channel_shuffle", "one_hot", "pairwise_distance", "pdist", "pixel_shuffle", "pixel_unshuffle",
    "prelu", "relu_", "rrelu_", "scaled_dot_product_attention", "selu_", "softplus", "softshrink",
    "threshold_"))

# PyTorch's F.sigmoid and F.tanh are plain `input.sigmoid()` in Python, so fx traces through them and
# records the method call; flambeau records the same node.
F_AS_METHOD = frozenset(("sigmoid", "tanh"))

# Private names that PyTorch's generated code calls (concrete_args' specialisation check).
_PRIVATE_RECORDED = frozenset(("_assert",))


def _namespaces():
    import flambeau
    import flambeau.nn.functional as F
    return (("torch", flambeau), ("torch.nn.functional", F), ("torch.linalg", flambeau.linalg),
            ("torch.special", flambeau.special), ("torch.fft", flambeau.fft))


def _is_recordable(name, value):
    if name.startswith("_") and name not in _PRIVATE_RECORDED:
        return False
    return isinstance(value, (types.FunctionType, types.BuiltinFunctionType, functools.partial))


@functools.lru_cache(maxsize=None)
def _public_names():
    """id(function) -> (function, 'torch.<path>'): the first namespace that holds it wins, and within
    one namespace the name equal to the function's __name__ (aliases such as torch.absolute resolve
    to the function's own name, as PyTorch's qualified names do)."""
    out = {}
    for prefix, mod in _namespaces():
        items = [(n, v) for n, v in vars(mod).items() if _is_recordable(n, v)]
        items.sort(key=lambda nv: (nv[0] != getattr(nv[1], "__name__", None), nv[0]))
        for name, value in items:
            out.setdefault(id(value), (value, f"{prefix}.{name}"))
    return out


def public_name(func):
    hit = _public_names().get(id(func))
    return hit[1] if hit is not None and hit[0] is func else None


def patch_targets():
    """[(module, name, original)] for every function to wrap while tracing."""
    return [(prefix, mod, name, value) for prefix, mod in _namespaces()
            for name, value in list(vars(mod).items()) if _is_recordable(name, value)]


def record_args(prefix, name, fn, args, kwargs):
    """The (args, kwargs) a node records for fn(*args, **kwargs) (see _F_BUILTINS)."""
    if prefix != "torch.nn.functional" or name in _F_BUILTINS:
        return args, kwargs
    try:
        sig = inspect.signature(fn)
        bound = sig.bind(*args, **kwargs)
    except (TypeError, ValueError):
        return args, kwargs
    bound.apply_defaults()
    pos, kw = [], {}
    for pname, param in sig.parameters.items():
        if pname not in bound.arguments:
            continue
        value = bound.arguments[pname]
        if param.kind is param.VAR_POSITIONAL:
            pos.extend(value)
        elif param.kind is param.VAR_KEYWORD:
            kw.update(value)
        elif param.default is param.empty and param.kind is not param.KEYWORD_ONLY and not kw:
            pos.append(value)
        else:
            kw[pname] = value
    return tuple(pos), kw
