"""torch.cond and torch.while_loop with PyTorch's eager semantics: structured control flow that a
compiler could capture, run here as the Python `if` / `while` it stands for. Autograd flows through
the branch or the iterations that ran, as through any other code.

PyTorch's eager torch.cond traces both branches (and so rejects branches whose outputs differ in
number, shape or dtype); flambeau runs only the branch taken, so such a mismatch goes unnoticed here.
The argument checks and their error messages are PyTorch's."""
from ._tensor import Tensor
from .func._pytree import tree_flatten

__all__ = ["cond", "while_loop"]


def cond(pred, true_fn, false_fn, operands=()):
    """true_fn(*operands) if pred else false_fn(*operands); pred is a bool or a one-element tensor."""
    if isinstance(pred, (bool, int, float)):
        return true_fn(*operands) if pred else false_fn(*operands)
    if not isinstance(pred, Tensor):
        raise RuntimeError(f"Expected pred to be bool or tensor, but got {pred}.")
    if pred.numel() != 1:
        raise RuntimeError(f"Expected pred to be bool or single-element tensor, but got {pred}.")
    if not callable(true_fn) or not callable(false_fn):
        raise RuntimeError("Expect both branches to be callable.")
    if not isinstance(operands, (tuple, list)) or any(not isinstance(t, Tensor) for t in tree_flatten(operands)[0]):
        raise RuntimeError("Expect operands to be a tuple of possibly nested dict/list/tuple that only consists of "
                           f"tensor leaves, but got {operands}.")
    return true_fn(*operands) if bool(pred) else false_fn(*operands)


def _check_cond_output(pred):
    from ._dtype import bool as _bool
    if isinstance(pred, bool) or (isinstance(pred, Tensor) and pred.dim() == 0 and pred.dtype == _bool):
        return
    raise RuntimeError(f"torch.while_loop: cond_fn must return a boolean scalar tensor or a boolean but got {pred}")


def while_loop(cond_fn, body_fn, carried_inputs):
    """Run carried = body_fn(*carried) while cond_fn(*carried); return the final carried values (a tuple;
    tensors cloned when the loop body never ran, as PyTorch's)."""
    if not callable(cond_fn) or not callable(body_fn):
        raise RuntimeError("Expect cond_fn and body_fn to be callable.")
    if not isinstance(carried_inputs, (tuple, list)):
        raise RuntimeError(f"carried_inputs must be a tuple or list but got {type(carried_inputs)}")
    if any(not isinstance(t, (Tensor, int)) for t in tree_flatten(carried_inputs)[0]):
        raise RuntimeError("Expect carried_inputs to be a tuple of possibly nested dict/list/tuple that only"
                           f"consists of tensor or int leaves, but got {carried_inputs}.")
    carried = tuple(carried_inputs)
    should_loop = cond_fn(*carried)
    _check_cond_output(should_loop)
    if not should_loop:
        return tuple(v.clone() if isinstance(v, Tensor) else v for v in carried)
    while should_loop:
        out = body_fn(*carried)
        if not isinstance(out, tuple):
            raise RuntimeError(f"torch.while_loop: body_fn should return a tuple but got {type(out).__name__}")
        if len(out) != len(carried):
            raise RuntimeError("torch.while_loop: body_fn should return the same number of elements as "
                               f"carried_inputs, got {len(out)} vs {len(carried)}")
        carried = out
        should_loop = cond_fn(*carried)
        _check_cond_output(should_loop)
    return carried
