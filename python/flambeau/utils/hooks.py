"""flambeau.utils.hooks: PyTorch's torch.utils.hooks (RemovableHandle, BackwardHook, unserializable_hook)."""
import warnings

from ..nn.modules._backward_hooks import BackwardHook, BackwardHookFunction  # noqa: F401
from ..nn.modules.module import RemovableHandle  # noqa: F401

__all__ = ["RemovableHandle", "BackwardHook", "unserializable_hook", "warn_if_has_hooks"]


def unserializable_hook(f):
    """Marks f as a hook that is not serialized (suppresses warn_if_has_hooks' warning)."""
    f.__torch_unserializable__ = True
    return f


def warn_if_has_hooks(tensor):
    hooks = getattr(tensor, "_hooks", None)
    if hooks:
        for hook in hooks.values():
            if not hasattr(hook, "__torch_unserializable__"):
                warnings.warn(f"backward hook {hook!r} on tensor will not be serialized.  If this is expected, you "
                              "can decorate the function with @flambeau.utils.hooks.unserializable_hook to suppress "
                              "this warning", stacklevel=2)
