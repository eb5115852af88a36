"""torch.nn.utils.rnn's padding helpers, for collate functions of variable-length sequences.
(flambeau has no recurrent layers, so no PackedSequence.)"""
from ... import _creation
from ..._tensor import Tensor


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shape [L_i, *] into [L_max, B, *] ([B, L_max, *] with batch_first), padding
    each on the right (or left) with padding_value."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    first = sequences[0]
    trailing = tuple(first.shape[1:])
    for s in sequences[1:]:
        if tuple(s.shape[1:]) != trailing:
            raise RuntimeError(f"pad_sequence: every sequence must have the trailing shape {list(trailing)} of the "
                               f"first, got {list(s.shape)}")
    max_len = max(s.shape[0] for s in sequences)
    out = _creation.full((len(sequences), max_len) + trailing, padding_value, dtype=first.dtype, device=first.device)
    for i, s in enumerate(sequences):
        n = s.shape[0]
        if padding_side == "right":
            out[i, :n] = s
        else:
            out[i, max_len - n:] = s
    return out if batch_first else out.transpose(0, 1)
