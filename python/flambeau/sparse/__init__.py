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
