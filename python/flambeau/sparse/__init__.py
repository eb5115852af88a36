"""flambeau.sparse (torch.sparse): functions of sparse COO tensors. The tensor class and its
methods are in flambeau/_sparse.py."""
from .._sparse import SparseCooTensor as _Sparse

__all__ = ["sum"]


def sum(input, dim=None, dtype=None):
    """The sum of all entries of a sparse COO tensor, as a 0-dim dense tensor (torch.sparse.sum).
    Sums over some of the dims are not supported."""
    if input.__class__ is not _Sparse:
        raise RuntimeError("torch.sparse.sum: expected a sparse COO tensor, got a dense one (layout=flambeau.strided)")
    if dim is not None:
        raise NotImplementedError("flambeau.sparse.sum: sums over some dims of a sparse COO tensor are not supported "
                                  "by flambeau (dim=None only)")
    return input.sum(dtype=dtype)
