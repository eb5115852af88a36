"""torch.nn.utils.rnn: PackedSequence and the functions that build and undo it (pack_padded_sequence,
pad_packed_sequence, pack_sequence, unpack_sequence), and the padding helpers pad_sequence and
unpad_sequence, for variable-length sequences fed to nn.RNN / nn.LSTM / nn.GRU.

A PackedSequence holds the time steps of a batch of sequences sorted by decreasing length, step after
step: `data` is [sum(lengths), *] with step t's batch_sizes[t] rows (the sequences still running at t)
following step t-1's. Packing and padding are each one gather (index_select) with indices computed on
the host from the lengths, so gradients flow through them (index_select's backward scatters them back)
and an unsorted batch's permutation costs nothing more: it is folded into the same gather.
"""
from collections import namedtuple

import numpy as np

import flambeau
from ... import _creation
from ..._tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "unpad_sequence", "pack_sequence", "unpack_sequence"]

PackedSequence_ = namedtuple("PackedSequence_", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


def bind(optional, fn):
    return None if optional is None else fn(optional)


class PackedSequence(PackedSequence_):
    """Holds the data and the batch_sizes of a packed batch of sequences (see pack_padded_sequence).

    data: the packed steps [sum(lengths), *]; batch_sizes: CPU int64 tensor, the number of sequences
    still running at each step; sorted_indices / unsorted_indices: int64 tensors on data's device, the
    permutation that sorted the batch by decreasing length and its inverse (None when it was sorted).
    Instances are meant to be made by pack_padded_sequence / pack_sequence, not by hand.
    """

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        return super().__new__(cls, *_packed_sequence_init_args(data, batch_sizes, sorted_indices,
                                                                unsorted_indices))

    def _with_data(self, data):
        if data is self.data:
            return self
        move = lambda t: t.to(data.device)  # noqa: E731
        return type(self)(data, self.batch_sizes, bind(self.sorted_indices, move), bind(self.unsorted_indices, move))

    def pin_memory(self):
        return type(self)(self.data.pin_memory(), self.batch_sizes, bind(self.sorted_indices, lambda t: t.pin_memory()),
                          bind(self.unsorted_indices, lambda t: t.pin_memory()))

    def to(self, *args, **kwargs):
        """Tensor.to on data (the indices follow data's device; batch_sizes stays on the CPU). Returns self
        when data already has the dtype and device asked for."""
        return self._with_data(self.data.to(*args, **kwargs))

    def cuda(self, *args, **kwargs):
        return self._with_data(self.data.cuda(*args, **kwargs))

    def cpu(self, *args, **kwargs):
        return self._with_data(self.data.cpu(*args, **kwargs))

    def _to_dtype(self, name):
        dtype = getattr(flambeau, name, None)
        if dtype is None:
            raise TypeError(f"PackedSequence.to: flambeau has no {name} dtype")
        return self.to(dtype=dtype)

    def double(self):
        return self._to_dtype("float64")

    def float(self):
        return self._to_dtype("float32")

    def half(self):
        return self._to_dtype("float16")

    def long(self):
        return self._to_dtype("int64")

    def int(self):
        return self._to_dtype("int32")

    def short(self):
        return self._to_dtype("int16")

    def char(self):
        return self._to_dtype("int8")

    def byte(self):
        return self._to_dtype("uint8")

    @property
    def is_cuda(self):
        """True if data is stored on a GPU."""
        return self.data.is_cuda

    def is_pinned(self):
        return self.data.is_pinned()


def _packed_sequence_init_args(data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
    if unsorted_indices is None:
        unsorted_indices = invert_permutation(sorted_indices)
    if batch_sizes is not None:
        if batch_sizes.device.type != "cpu":
            raise ValueError("batch_sizes should always be on CPU. Instances of PackedSequence should never be created "
                             "manually. They should be instantiated by functions like pack_sequence and "
                             "pack_padded_sequences in nn.utils.rnn. "
                             "https://pytorch.org/docs/stable/nn.html#torch.nn.utils.rnn.pack_sequence")
        return data, batch_sizes, sorted_indices, unsorted_indices
    # PackedSequence((data, batch_sizes), sorted_indices=...)
    if not (isinstance(data, (list, tuple)) and len(data) == 2):
        raise AssertionError("Expected data to be a list or tuple of length 2")
    return data[0], data[1], sorted_indices, unsorted_indices


def _packed_sequence_init(data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
    return PackedSequence(*_packed_sequence_init_args(data, batch_sizes, sorted_indices, unsorted_indices))


def invert_permutation(permutation):
    """The inverse of a 1-D permutation tensor (None for None)."""
    if permutation is None:
        return None
    out = flambeau.empty_like(permutation)
    out.scatter_(0, permutation, flambeau.arange(0, permutation.numel(), device=permutation.device))
    return out


def _host_ints(t):
    """A CPU int64 tensor (or a list) as a list of Python ints."""
    return t.tolist() if isinstance(t, Tensor) else list(t)


def _lengths_array(lengths):
    """lengths (list, tuple, numpy array or CPU tensor) as a 1-D int64 numpy array, checked as torch does."""
    if isinstance(lengths, Tensor):
        if lengths.dim() != 1 or lengths.device.type != "cpu":
            raise RuntimeError(f"'lengths' argument should be a 1D CPU int64 tensor, but got {lengths.dim()}D "
                               f"{lengths.device.type} Long tensor")
        return np.asarray(lengths.tolist(), dtype=np.float64).astype(np.int64)
    arr = np.asarray(lengths)
    if arr.dtype == object:
        arr = np.asarray([int(v) for v in lengths])
    arr = arr.astype(np.int64)
    if arr.ndim != 1:
        raise RuntimeError(f"'lengths' argument should be a 1D CPU int64 tensor, but got {arr.ndim}D cpu Long tensor")
    return arr


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Packs a padded batch [T, B, *] ([B, T, *] with batch_first) of sequences of the given lengths.

    With enforce_sorted=True the lengths must be in decreasing order; otherwise the batch is sorted
    (stably, as torch.sort) and the permutation kept in sorted_indices / unsorted_indices. Steps past a
    sequence's length are dropped. Differentiable with respect to input.
    """
    lengths = _lengths_array(lengths)
    if input.dim() < 2:
        raise IndexError(f"pack_padded_sequence: expected a padded input with at least 2 dimensions "
                         f"(T x B x * or B x T x *), got {input.dim()}-D")
    sorted_indices = None
    order = np.arange(len(lengths))
    if not enforce_sorted:
        order = np.argsort(-lengths, kind="stable")
        lengths = lengths[order]
        sorted_indices = flambeau.tensor(order.astype(np.int64), device=input.device)
    T, B = (input.shape[1], input.shape[0]) if batch_first else (input.shape[0], input.shape[1])
    if input.numel() == 0:
        raise RuntimeError("Cannot pack empty tensors.")
    if len(lengths) != B:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} "
                           f"(batch_size={B})")
    if lengths[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                           "that is <= 0")
    if np.any(lengths[:-1] < lengths[1:]):
        raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You "
                           "can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep "
                           "this requirement if you do not need ONNX exportability.")
    if lengths[0] > T:
        raise RuntimeError(f"pack_padded_sequence: a sequence length ({int(lengths[0])}) exceeds the input's "
                           f"sequence dimension ({T}); `lengths` must not be longer than the padded input")
    steps = np.arange(int(lengths[0]))
    batch_sizes = (lengths[None, :] > steps[:, None]).sum(1)  # [T_max]
    # Row of the flattened input holding step t of sorted sequence j (original batch index order[j]).
    t_idx, j_idx = np.nonzero(lengths[None, :] > steps[:, None])  # step-major, then sorted position
    b_idx = order[j_idx]
    flat_idx = b_idx * T + t_idx if batch_first else t_idx * B + b_idx
    flat = input.reshape((T * B,) + tuple(input.shape[2:]))
    data = flat.index_select(0, flambeau.tensor(flat_idx.astype(np.int64), device=input.device))
    batch_sizes = flambeau.tensor(batch_sizes.astype(np.int64))
    return _packed_sequence_init(data, batch_sizes, sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Pads a PackedSequence back to [T, B, *] ([B, T, *] with batch_first) in the original batch order;
    returns (padded, lengths) with lengths a CPU int64 tensor. total_length pads to that many steps (it
    must be at least the longest length). Differentiable with respect to sequence.data."""
    data = sequence.data
    bs = np.asarray(_host_ints(sequence.batch_sizes), dtype=np.int64)
    max_seq_length = len(bs)
    if total_length is not None:
        if total_length < max_seq_length:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, but "
                             f"got total_length={total_length} and max sequence length being {max_seq_length}")
        max_seq_length = total_length
    B = int(bs[0]) if len(bs) else 0
    n = data.shape[0]
    offsets = np.concatenate([[0], np.cumsum(bs)[:-1]]).astype(np.int64)
    lengths_sorted = (bs[None, :] > np.arange(B)[:, None]).sum(1)  # [B]
    unsorted = sequence.unsorted_indices
    perm = np.arange(B) if unsorted is None else np.asarray(unsorted.cpu().tolist(), dtype=np.int64)
    # idx[t, p]: the data row of step t of the output's sequence p (sorted position perm[p]); n = padding.
    T = max_seq_length
    steps = np.arange(T)[:, None]
    j = perm[None, :]
    valid = steps < lengths_sorted[perm][None, :]
    idx = np.where(valid, offsets[np.minimum(steps, len(bs) - 1)] + j if len(bs) else 0, n)
    if batch_first:
        idx = idx.T
    trailing = tuple(data.shape[1:])
    src = data
    if not valid.all():
        pad = _creation.full((1,) + trailing, padding_value, dtype=data.dtype, device=data.device)
        src = flambeau.cat([data, pad], 0)
    out = src.index_select(0, flambeau.tensor(np.ascontiguousarray(idx).reshape(-1), device=data.device))
    out = out.reshape(idx.shape + trailing)
    return out, flambeau.tensor(lengths_sorted[perm].astype(np.int64))


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shape [L_i, *] into [L_max, B, *] ([B, L_max, *] with batch_first), padding
    each on the right (or left) with padding_value."""
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    try:
        sequences = list(sequences)
    except TypeError:
        raise RuntimeError("pad_sequence: Expected iterable for input sequences, but got arg of type: "
                           f"{type(sequences)}") from None
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


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """Splits a padded batch [T, B, *] ([B, T, *] with batch_first) into a list of B tensors [L_i, *]
    (copies, as torch's masked selection makes). Unlike torch, padded_sequences is not transposed in place."""
    lens = _lengths_array(lengths) if not isinstance(lengths, Tensor) else np.asarray(lengths.cpu().tolist())
    batch_dim = 0 if batch_first else 1
    B = padded_sequences.shape[batch_dim]
    if len(lens) != B:
        raise ValueError(f"unpad_sequence: got {len(lens)} lengths for a batch of {B} sequences")
    out = []
    for b, n in enumerate(lens.tolist()):
        seq = padded_sequences.select(batch_dim, b)
        out.append(seq[:max(int(n), 0)].clone())
    return out


def pack_sequence(sequences, enforce_sorted=True):
    """Packs a list of tensors [L_i, *] (pad_sequence, then pack_padded_sequence)."""
    lengths = [v.size(0) for v in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of tensors [L_i, *] a PackedSequence holds, in the original batch order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
