"""flambeau.sparse (torch.sparse): functions of sparse tensors. The COO tensor class is in
flambeau/_sparse.py, its graph-script ops in _sparse_ops.py, the products in _sparse_mm.py and the
CSR layout in _sparse_csr.py."""
from .._sparse import SparseCooTensor as _Sparse
from .._sparse_mm import sparse_mm as mm, sparse_addmm as addmm, sampled_addmm  # noqa: F401
from .._sparse_ops import softmax, log_softmax, spdiags  # noqa: F401
from .. import _sparse_ops

__all__ = ["sum", "mm", "addmm", "sampled_addmm", "softmax", "log_softmax", "spdiags"]


def sum(input, dim=None, dtype=None):
    """torch.sparse.sum: every entry (a 0-d dense tensor), or over `dim` (an int or a list): a sparse
    tensor over the remaining dims, dense once every sparse dim is summed."""
    if input.__class__ is not _Sparse:
        raise RuntimeError("torch.sparse.sum: expected a sparse COO tensor, got a dense one (layout=flambeau.strided)")
    if dim is None:
        return _sparse_ops.full_sum(input, dtype, sparse_grad=True)
    return _sparse_ops.sum_dims(input, dim, dtype)


class _LegacySparseType(type):
    """torch.sparse.FloatTensor and friends (the pre-1.0 constructors old GCN code still calls, e.g.
    Kipf's pygcn: torch.sparse.FloatTensor(indices, values, shape)); isinstance checks layout,
    dtype and device as PyTorch's legacy type objects do."""

    def __instancecheck__(cls, x):
        return x.__class__ is _Sparse and x._impl.dtype == cls._dtype_name and x._impl.device == "cpu"


def _legacy_call(cls, *args, size=None):
    from .._tensor import Tensor
    from .._sparse import sparse_coo_tensor
    from .._dtype import _BY_NAME
    from .. import empty
    if len(args) >= 2 and isinstance(args[0], Tensor) and isinstance(args[1], Tensor):
        if len(args) > 3:
            raise TypeError(f"{cls.__name__}(indices, values, size): too many arguments")
        shape = args[2] if len(args) == 3 else size
        return sparse_coo_tensor(args[0], args[1], tuple(shape) if shape is not None else None)
    if all(isinstance(a, int) for a in args):
        dims = len(args)
        idx = empty((dims, 0), dtype=_BY_NAME["int64"])
        vals = empty((0,), dtype=_BY_NAME[cls._dtype_name])
        return sparse_coo_tensor(idx, vals, tuple(args))
    raise TypeError(f"{cls.__name__}: expected (indices, values[, size]) tensors or sizes as ints")


_LegacySparseType.__call__ = _legacy_call
FloatTensor = _LegacySparseType("FloatTensor", (), {"_dtype_name": "float32", "__module__": "flambeau.sparse"})
DoubleTensor = _LegacySparseType("DoubleTensor", (), {"_dtype_name": "float64", "__module__": "flambeau.sparse"})
LongTensor = _LegacySparseType("LongTensor", (), {"_dtype_name": "int64", "__module__": "flambeau.sparse"})
