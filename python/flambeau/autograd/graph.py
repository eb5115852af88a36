"""torch.autograd.graph for flambeau: saved_tensors_hooks, save_on_cpu, disable_saved_tensors_hooks.

Inside a `saved_tensors_hooks(pack_hook, unpack_hook)` block, every tensor a recorded op saves for
backward (ctx.save_for_backward, built-in ops included) is stored as `pack_hook(tensor)`; the
node's backward gets `unpack_hook(packed)` back, re-attached to the saved tensor's place in the
graph (its grad_fn, or the node itself for a saved output) so double backward still works. Only
the innermost block's hooks apply; the hooks are thread-local and are off while a pack hook runs.
The packing happens in autograd.function where a node's saved tensors are recorded; with no block
open that costs one attribute test per node that saves something.

Not covered (flambeau-specific): a few built-in ops keep small tensors as ctx attributes instead
of saved tensors (max-pooling indices, normalization statistics, some loss weights); those are
kept as they are, not packed.
"""
from .function import Node  # noqa: F401
from .grad_mode import _state as _gs

__all__ = ["saved_tensors_hooks", "save_on_cpu", "disable_saved_tensors_hooks", "Node"]


class saved_tensors_hooks:
    """Context manager setting the pack/unpack hooks of tensors saved for backward."""

    def __init__(self, pack_hook, unpack_hook):
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook
        self._prev = []

    def __enter__(self):
        msg = _gs.saved_hooks_disabled
        if msg is not None:
            raise RuntimeError(msg)
        self._prev.append(_gs.saved_hooks)
        _gs.saved_hooks = (self.pack_hook, self.unpack_hook)
        return self

    def __exit__(self, *args):
        _gs.saved_hooks = self._prev.pop()


class save_on_cpu(saved_tensors_hooks):
    """Saved tensors are moved to the CPU when saved and back to their device when backward needs
    them (a no-op for CPU tensors). pin_memory is accepted; the copies are synchronous."""

    def __init__(self, pin_memory=False, device_type="cuda"):
        def pack_to_cpu(tensor):
            return (tensor.device, tensor.cpu())

        def unpack_from_cpu(packed):
            device, tensor = packed
            return tensor.to(device)

        super().__init__(pack_to_cpu, unpack_from_cpu)


class disable_saved_tensors_hooks:
    """Inside the block, opening a saved_tensors_hooks block raises RuntimeError(error_message)
    (so does entering this block while saved tensor hooks are set)."""

    def __init__(self, error_message):
        self.error_message = error_message
        self._prev = []

    def __enter__(self):
        if _gs.saved_hooks is not None:
            raise RuntimeError(self.error_message)  # as PyTorch: hooks already set
        self._prev.append((_gs.saved_hooks_disabled, _gs.saved_hooks))
        _gs.saved_hooks_disabled = self.error_message
        _gs.saved_hooks = None
        return self

    def __exit__(self, *args):
        _gs.saved_hooks_disabled, _gs.saved_hooks = self._prev.pop()
