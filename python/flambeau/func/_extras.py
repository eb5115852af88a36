"""torch.func.linearize and replace_all_batch_norm_modules_.

linearize(func, *primals) returns func(*primals) and a function giving the Jacobian-vector product at the
primals for any tangents; PyTorch traces the linearised graph once, here each call of the returned function
is a jvp at the saved primals (same values). replace_all_batch_norm_modules_ makes every BatchNorm use batch
statistics only (running stats removed), which vmap over a model with BatchNorm needs."""
from ._transforms import jvp

__all__ = ["linearize", "replace_all_batch_norm_modules_"]


def linearize(func, *primals):
    """(func(*primals), jvp_fn) with jvp_fn(*tangents) = J(primals) @ tangents."""
    output, _ = jvp(func, primals, tuple(p.new_zeros(p.shape) if hasattr(p, "new_zeros") else p for p in primals))

    def jvp_fn(*tangents):
        if len(tangents) != len(primals):
            raise RuntimeError(f"Expected {len(primals)} tangents, but got {len(tangents)}")
        for p, t in zip(primals, tangents):
            if tuple(p.shape) != tuple(t.shape) or p.dtype != t.dtype:
                raise RuntimeError(f"linearize: tangent of shape {tuple(t.shape)} and dtype {t.dtype} does not "
                                   f"match the primal of shape {tuple(p.shape)} and dtype {p.dtype}")
        return jvp(func, primals, tangents)[1]
    return output, jvp_fn


def _batch_norm_without_running_stats(module):
    from ..nn.modules.batchnorm import _BatchNorm
    if isinstance(module, _BatchNorm) and module.track_running_stats:
        module.running_mean = None
        module.running_var = None
        module.num_batches_tracked = None
        module.track_running_stats = False


def replace_all_batch_norm_modules_(root):
    """In place: every BatchNorm in root stops tracking running statistics (they are set to None)."""
    for module in root.modules():
        _batch_norm_without_running_stats(module)
    return root


_FUNCTIONALIZE_REMOVE = ("mutations", "mutations_and_views")


def functionalize(func, *, remove="mutations"):
    """func with its mutations functionalized. Run eagerly, PyTorch's functionalize is observable only at
    its boundary, which is what this reproduces: in-place changes to the inputs still reach them; an output
    that is an input, or a view of one, comes back as a new tensor (a copy) when that input was written in
    place, and unchanged otherwise; with remove='mutations_and_views' every view of an input is a copy
    (view_copy semantics), while an unwritten input returned as it is stays the same object."""
    if remove not in _FUNCTIONALIZE_REMOVE:
        raise RuntimeError(
            f"functionalize(f, remove='mutations'): received invalid argument for remove={remove}. Valid options "
            "are:\n     remove='mutations': all inplace and out= operators will be removed from the program, and "
            "replaced with their out-of-place equivalents.\n     remove='mutations_and_views': In addition to the "
            "above, all aliasing operators {view} will be replaced with their non-aliasing counterparts, "
            "{view}_copy.\n")
    import functools
    from .._tensor import Tensor
    from ._pytree import tree_flatten, tree_map

    @functools.wraps(func)
    def functionalized(*args, **kwargs):
        inputs = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, Tensor)]
        versions = [a._version for a in inputs]
        out = func(*args, **kwargs)
        written = {id(a): a._version != v for a, v in zip(inputs, versions)}
        by_storage = {}
        for a in inputs:
            ptr = a.untyped_storage().data_ptr()
            by_storage[ptr] = by_storage.get(ptr, False) or written[id(a)]

        def boundary(o):
            if not isinstance(o, Tensor):
                return o
            if id(o) in written:
                return o.clone() if written[id(o)] else o
            ptr = o.untyped_storage().data_ptr()
            if ptr in by_storage and (remove == "mutations_and_views" or by_storage[ptr]):
                return o.clone()
            return o
        return tree_map(boundary, out)
    return functionalized
