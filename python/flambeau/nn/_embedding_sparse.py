"""The sparse gradient of an embedding's weight (nn.Embedding(sparse=True), F.embedding(sparse=True),
and through it EmbeddingBag(sparse=True)), built as PyTorch's embedding_sparse_backward: indices
are the looked-up indices in input order (not coalesced), values the rows of the output gradient,
entries equal to padding_idx left out."""
from .. import _sparse


def embedding_sparse_backward(grad_rows, flat_indices, num_weights, padding_idx, scale_grad_by_freq):
    """grad_rows: (N, D) output gradient; flat_indices: (N,) int64. Returns the (num_weights, D)
    sparse COO gradient."""
    if scale_grad_by_freq:
        raise RuntimeError("embedding_backward: scale_grad_by_freq not supported with sparse gradients")
    indices, values = flat_indices, grad_rows
    if padding_idx is not None:
        keep = indices != padding_idx
        indices, values = indices[keep], values[keep]
    d = grad_rows.shape[1]
    if values.numel() == 0:  # nothing but padding (or no rows): PyTorch's empty (1, 0) / (0, D) gradient
        indices = indices.new_zeros((1, 0))
        values = values.new_zeros((0, d))
        return _sparse._make(indices, values, (num_weights, d))
    return _sparse._make(indices.reshape(1, -1), values.reshape(-1, d), (num_weights, d))
