"""torch._dynamo._trace_wrapped_higher_order_op: the one public piece scripts import, TransformGetItemToIndex
(transformers >= 4.50 builds its attention masks under it when torch >= 2.6, vmapping a mask function that
indexes a tensor with 0-d index tensors).

Inside `with TransformGetItemToIndex():` a Tensor.__getitem__ whose index is made only of tensors and Python
ints is answered by advanced indexing, each int turned into a 0-d int64 tensor: x[i, j] with 0-d tensors i, j
reads x at (i, j) without converting i and j to Python numbers (which a batched index under vmap cannot be).
The result's values are those of x[i, j]; an int index becomes a 0-d tensor index, which drops its dimension
just as the int does. Any other index (slices, None, Ellipsis, bools, lists) is left to the normal __getitem__.
"""
from .. import Tensor, int64, tensor
from ..overrides import TorchFunctionMode
from ..utils import _pytree as pytree


def _index(x, indices):
    # mod_index in PyTorch: aten.index(x, indices), every index a tensor, so advanced indexing throughout
    return Tensor.__getitem__(x, tuple(indices))


class TransformGetItemToIndex(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is Tensor.__getitem__:
            tensor_to_index = args[0]
            if not isinstance(tensor_to_index, Tensor):
                raise AssertionError(f"expected torch.Tensor, got {type(tensor_to_index)}")
            index_args = pytree.tree_leaves(args[1])
            if all(isinstance(x, (Tensor, int)) for x in index_args):
                converted = [tensor(x, dtype=int64, device=tensor_to_index.device) if isinstance(x, int) else x
                             for x in index_args]
                return _index(tensor_to_index, converted)
        return func(*args, **(kwargs or {}))
