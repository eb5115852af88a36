"""torch.autograd.graph for flambeau: saved_tensors_hooks, save_on_cpu, disable_saved_tensors_hooks,
allow_mutation_on_saved_tensors, GradientEdge/get_gradient_edge, register_multi_grad_hook and
increment_version.

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
import threading
from typing import NamedTuple, Optional

from .function import Node, _edge  # noqa: F401
from .grad_mode import _state as _gs

__all__ = ["saved_tensors_hooks", "save_on_cpu", "disable_saved_tensors_hooks", "Node", "GradientEdge",
           "get_gradient_edge", "increment_version", "register_multi_grad_hook",
           "allow_mutation_on_saved_tensors"]


class GradientEdge(NamedTuple):
    """An input slot of a graph node: where the gradient of some tensor is computed. autograd.grad
    accepts one in place of a tensor in `inputs`."""
    node: Node
    output_nr: int
    ownership_token: Optional[Node] = None  # PyTorch keeps its C++ graph alive with it; Python nodes need none


def _node_of(t):
    """t's grad_fn, or its AccumulateGrad node when t is a leaf (a GradientEdge: its node)."""
    if isinstance(t, GradientEdge):
        return t.node
    return _edge(t)[0]


def get_gradient_edge(tensor):
    """The edge where tensor's gradient is computed: autograd.grad(loss, get_gradient_edge(x)) equals
    autograd.grad(loss, x), and stays valid after x itself is gone."""
    if not tensor.requires_grad:
        raise RuntimeError("It is not possible to get the gradient edge for a Tensor that does not require gradients")
    return GradientEdge(*_edge(tensor))


def increment_version(tensor):
    """Marks tensor (or each tensor of an iterable) as modified in place, so that backward through a node
    that saved it raises, as after any in-place op; for writes autograd cannot see (e.g. through numpy)."""
    from .._tensor import Tensor
    for t in ((tensor,) if isinstance(tensor, Tensor) else tensor):
        t._impl.bump_version()


class _MultiHandle:
    """The handle register_multi_grad_hook returns: remove() unregisters the hook from every tensor."""

    def __init__(self, handles):
        self.handles = handles

    def remove(self):
        for h in self.handles:
            h.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def register_multi_grad_hook(tensors, fn, *, mode="all"):
    """mode="all": fn(grads) runs once per backward pass, after the gradients of all the tensors this pass
    computes are known (None for the others: tensors outside the graph, or not leading to the pass's
    `inputs`). mode="any": fn(grad) runs once per pass, with the first of these gradients computed."""
    from . import engine
    if mode not in ("all", "any"):
        raise ValueError(f"Expects mode to be one of ('all', 'any') but got {mode}")
    lock = threading.Lock()
    if mode == "any":
        done = set()  # ids of the backward passes that already ran fn

        def first_only(grad):
            with lock:
                task = engine._current_graph_task_id()
                if task in done:
                    return
                done.add(task)
            fn(grad)
        return _MultiHandle(tuple(t.register_hook(first_only) for t in tensors if t.requires_grad))

    nodes = [_node_of(t) for t in tensors]
    pending = {}  # backward pass id -> [gradients so far, how many are still to come]

    def collector(k):
        def hook(grad):
            task = engine._current_graph_task_id()
            with lock:
                entry = pending.get(task)
                if entry is None:  # the pass's first call: how many of the nodes will it run?
                    entry = pending[task] = [[None] * len(nodes), sum(map(engine._will_engine_execute_node, nodes))]
                entry[0][k] = grad
                entry[1] -= 1
                finished = entry[1] == 0
                if finished:
                    del pending[task]
            if finished:
                fn(entry[0])
        return hook
    return _MultiHandle(tuple(t.register_hook(collector(k)) for k, t in enumerate(tensors)))


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


class allow_mutation_on_saved_tensors:
    """Inside the block, tensors saved for backward may be modified in place afterwards: backward uses the
    values they had when saved. PyTorch clones a saved tensor when it is first modified; flambeau clones
    every tensor a node saves inside the block, at save time (the same gradients, more memory). Backward
    through such a graph must run inside the block, as in PyTorch."""

    def __init__(self):
        self._hooks = None
        self._active = False

    def __enter__(self):
        if self._active:
            raise RuntimeError("allow_mutation_on_saved_tensors contexts cannot be nested")
        self._active = True
        state = self

        def pack(t):
            return t.detach().clone()

        def unpack(saved):
            if not state._active:
                # AssertionError, as PyTorch's
                raise AssertionError("Trying to backward outside of the 'allow_mutation_on_saved_tensors' context in "
                                   "which the graph was originally recorded.")
            return saved
        self._hooks = saved_tensors_hooks(pack, unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)
        self._active = False
