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
