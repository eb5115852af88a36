"""torch.nn.attention.flex_attention, computed eagerly: attention whose scores a user function may
modify (score_mod) and whose pattern a user function may mask (mask_mod, carried by a BlockMask).

What is computed is PyTorch's eager reference (torch._higher_order_ops.flex_attention.math_attention):

    scores = (q @ k^T) * scale                     in float32 (float64 for float64 inputs)
    scores = where(mask_mod(b, h, q_idx, kv_idx), score_mod(scores, b, h, q_idx, kv_idx), -inf)
    out    = safe_softmax(scores) @ v              rows with every key masked give 0 (lse = -inf)

PyTorch evaluates score_mod and mask_mod on scalar indices under four nested vmaps. flambeau calls them
once on broadcastable index tensors instead: b [B,1,1,1], h [1,H,1,1], q_idx [1,1,L,1],
kv_idx [1,1,1,S]. Mods written from elementwise ops, comparisons, torch.where and tensor indexing by the
indices (bias[h], document_id[q_idx]) give the same values; one that branches in Python on an index fails
in both libraries. The [B,H,L,S] score matrix is materialised (there is no fused kernel), and autograd runs
through score_mod, so gradients reach q, k, v and any tensor score_mod captures. PyTorch's eager CPU
flex_attention has no backward at all; flambeau's gradients are those of the formula above.

BlockMask keeps PyTorch's block-sparse layout (kv_num_blocks / kv_indices, full blocks apart, q-major
transposes), its printing, to_dense() and sparsity(). As in PyTorch's eager path, attention itself applies
the BlockMask's mask_mod element by element; the block structure only describes it."""
import functools
import inspect
import itertools
import math
import operator
import warnings
from enum import Enum
from typing import NamedTuple

import flambeau

__all__ = ["BlockMask", "flex_attention", "AuxOutput", "AuxRequest", "FlexKernelOptions", "create_block_mask",
           "create_mask", "or_masks", "and_masks", "noop_mask"]

_DEFAULT_SPARSE_BLOCK_SIZE = 128
_LARGE_SPARSE_BLOCK_SIZE = 1 << 30

FlexKernelOptions = dict  # tuning knobs of PyTorch's compiled kernels; accepted and unused here


class AuxRequest(NamedTuple):
    """Which auxiliary outputs flex_attention(return_aux=...) returns."""
    lse: bool = False
    max_scores: bool = False


class AuxOutput(NamedTuple):
    """flex_attention's auxiliary outputs: logsumexp and max of each row's modified scores (natural log)."""
    lse: "flambeau.Tensor | None" = None
    max_scores: "flambeau.Tensor | None" = None


class _ModificationType(Enum):
    SCORE_MOD = 1
    MASK_MOD = 2
    UNKNOWN = 3


def _get_mod_type(fn):
    """5 positional parameters (no default): a score_mod; 4: a mask_mod (PyTorch's rule)."""
    if hasattr(fn, "__code__"):
        n = fn.__code__.co_argcount - len(getattr(fn, "__defaults__", None) or ())
    else:
        n = sum(1 for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty)
    if n not in (4, 5):
        raise AssertionError(f"Expected 4 or 5 positional args, got {n}")
    return _ModificationType.SCORE_MOD if n == 5 else _ModificationType.MASK_MOD


def _identity(score, b, h, q_idx, kv_idx):
    return score


def noop_mask(batch, head, token_q, token_kv):
    """A mask_mod that masks nothing."""
    return batch.new_ones(size=(), dtype=flambeau.bool, device=batch.device)


def and_masks(*mask_mods):
    """A mask_mod that is the intersection of the given mask_mods."""
    if not all(callable(arg) for arg in mask_mods):
        raise RuntimeError(f"All inputs should be callable mask_mods: {mask_mods}")

    def and_mask(b, h, q_idx, kv_idx):
        result = b.new_ones((), dtype=flambeau.bool)
        for mask in mask_mods:
            result = result & mask(b, h, q_idx, kv_idx)
        return result

    return and_mask


def or_masks(*mask_mods):
    """A mask_mod that is the union of the given mask_mods."""
    if not all(callable(arg) for arg in mask_mods):
        raise RuntimeError(f"All inputs should be callable mask_mods: {mask_mods}")

    def or_mask(b, h, q_idx, kv_idx):
        result = b.new_zeros((), dtype=flambeau.bool)
        for mask in mask_mods:
            result = result | mask(b, h, q_idx, kv_idx)
        return result

    return or_mask


def _sliced_mask_mod_error(b, h, q_idx, kv_idx):
    raise RuntimeError("Cannot use mask_mod from a sliced BlockMask")


def _index_grid(B, H, Q_LEN, KV_LEN, device):
    """b, h, q_idx, kv_idx as int64 tensors shaped to broadcast to [B, H, Q_LEN, KV_LEN] (what PyTorch's
    four vmaps give a mod one element at a time)."""
    return (flambeau.arange(B, device=device).view(B, 1, 1, 1),
            flambeau.arange(H, device=device).view(1, H, 1, 1),
            flambeau.arange(Q_LEN, device=device).view(1, 1, Q_LEN, 1),
            flambeau.arange(KV_LEN, device=device).view(1, 1, 1, KV_LEN))


def _apply_mask_mod(mask_mod, B, H, Q_LEN, KV_LEN, device):
    b, h, m, n = _index_grid(B, H, Q_LEN, KV_LEN, device)
    mask = mask_mod(b, h, m, n)
    if not isinstance(mask, flambeau.Tensor):
        mask = flambeau.tensor(mask, device=device)
    return mask.to(flambeau.bool).expand(B, H, Q_LEN, KV_LEN)


def _default_device(device):
    if device is None:
        return flambeau.accelerator.current_accelerator() or "cpu"
    return device


def create_mask(mod_fn, B, H, Q_LEN, KV_LEN, device=None):
    """The dense bool mask [B, H, Q_LEN, KV_LEN] of a mask_mod (or of a score_mod: True where it does not
    give -inf)."""
    device = _default_device(device)
    B = 1 if B is None else B
    H = 1 if H is None else H
    if _get_mod_type(mod_fn) == _ModificationType.SCORE_MOD:
        b, h, m, n = _index_grid(B, H, Q_LEN, KV_LEN, device)
        out = mod_fn(flambeau.zeros(B, H, Q_LEN, KV_LEN, device=device), b, h, m, n)
        return ~flambeau.isneginf(out.expand(B, H, Q_LEN, KV_LEN))
    return _apply_mask_mod(mod_fn, B, H, Q_LEN, KV_LEN, device).contiguous()


def _dense_to_ordered(dense_mask):
    """Block rows as (how many blocks are on, their column indices first in ascending order)."""
    dense_mask = dense_mask.to(flambeau.int32)
    num_blocks_in_row = dense_mask.sum(dim=-1)
    col_indices = flambeau.argsort(dense_mask, dim=-1, descending=True, stable=True)
    return num_blocks_in_row.to(flambeau.int32), col_indices.to(flambeau.int32)


def _ordered_to_dense(num_blocks_in_row, col_indices, num_cols):
    """Inverse of _dense_to_ordered: an int32 [..., rows, num_cols] 0/1 block matrix."""
    device = col_indices.device
    max_entries = col_indices.shape[-1]
    valid = flambeau.arange(max_entries, device=device) < num_blocks_in_row.unsqueeze(-1).to(flambeau.int64)
    hits = col_indices.to(flambeau.int64).unsqueeze(-1) == flambeau.arange(num_cols, device=device)
    return (hits & valid.unsqueeze(-1)).any(dim=-2).to(flambeau.int32)


def _transpose_ordered(num_blocks_in_row, col_indices):
    dense = _ordered_to_dense(num_blocks_in_row, col_indices, col_indices.shape[-1])
    return _dense_to_ordered(dense.transpose(-2, -1))


def _round_up_to_multiple(x, multiple):
    return (x + multiple - 1) // multiple * multiple


def _convert_mask_to_block_mask(mask, Q_BLOCK_SIZE, KV_BLOCK_SIZE, separate_full_blocks):
    """Per block of the (zero-padded) mask: partial (some True) and full (all True) 0/1 int8 matrices."""
    B, H, Q, KV = mask.shape
    Qp, KVp = _round_up_to_multiple(Q, Q_BLOCK_SIZE), _round_up_to_multiple(KV, KV_BLOCK_SIZE)
    counts = flambeau.nn.functional.pad(mask.to(flambeau.int32), (0, KVp - KV, 0, Qp - Q))
    counts = counts.view(B, H, Qp // Q_BLOCK_SIZE, Q_BLOCK_SIZE, KVp // KV_BLOCK_SIZE, KV_BLOCK_SIZE)
    block_sum = counts.permute(0, 1, 2, 4, 3, 5).sum(dim=[-2, -1])
    if separate_full_blocks:
        full_size = Q_BLOCK_SIZE * KV_BLOCK_SIZE
        full_blocks = block_sum == full_size
        partial_blocks = (block_sum > 0) & (block_sum < full_size)
        return partial_blocks.to(flambeau.int8), full_blocks.to(flambeau.int8)
    return (block_sum > 0).to(flambeau.int8), None


def _adjust_num_blocks_and_indices(num_blocks, indices, new_num_rows, new_num_cols):
    indices = indices[:, :, :new_num_rows, :new_num_cols]
    num_blocks = num_blocks[:, :, :new_num_rows]
    num_blocks = flambeau.where(num_blocks < new_num_cols, num_blocks, new_num_cols)
    num_blocks = (indices < num_blocks[:, :, :, None]).sum(dim=-1).to(flambeau.int32)
    return num_blocks, indices


class BlockMask:
    """A block-sparse attention mask: for each (batch, head, query block) the key blocks that are partly
    (kv_num_blocks / kv_indices) or fully (full_kv_num_blocks / full_kv_indices) attended, their q-major
    transposes, the BLOCK_SIZE, and the mask_mod that gives the exact mask inside partial blocks."""

    _TENSOR_ATTRS = ["kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices", "q_num_blocks",
                     "q_indices", "full_q_num_blocks", "full_q_indices"]

    def __init__(self, seq_lengths, kv_num_blocks, kv_indices, full_kv_num_blocks, full_kv_indices, q_num_blocks,
                 q_indices, full_q_num_blocks, full_q_indices, BLOCK_SIZE, mask_mod):
        if kv_indices.dim() < 2:
            raise RuntimeError("BlockMask must have at least 2 dimensions")
        self.seq_lengths = tuple(seq_lengths)
        self.kv_num_blocks = kv_num_blocks
        self.kv_indices = kv_indices
        self.full_kv_num_blocks = full_kv_num_blocks
        self.full_kv_indices = full_kv_indices
        self.q_num_blocks = q_num_blocks
        self.q_indices = q_indices
        self.full_q_num_blocks = full_q_num_blocks
        self.full_q_indices = full_q_indices
        self.BLOCK_SIZE = tuple(BLOCK_SIZE)
        self.mask_mod = mask_mod

    @classmethod
    def from_kv_blocks(cls, kv_num_blocks, kv_indices, full_kv_num_blocks=None, full_kv_indices=None,
                       BLOCK_SIZE=_DEFAULT_SPARSE_BLOCK_SIZE, mask_mod=None, seq_lengths=None,
                       compute_q_blocks=True):
        """A BlockMask from its kv-major block lists (the q-major ones are derived)."""
        if kv_indices.dim() < 2:
            raise RuntimeError("BlockMask must have at least 2 dimensions")
        if (full_kv_num_blocks is None) != (full_kv_indices is None):
            raise AssertionError("full_kv_num_blocks and full_kv_indices must be both provided or omitted")
        q_num_blocks = q_indices = full_q_num_blocks = full_q_indices = None
        if compute_q_blocks:
            q_num_blocks, q_indices = _transpose_ordered(kv_num_blocks, kv_indices)
            if full_kv_num_blocks is not None:
                full_q_num_blocks, full_q_indices = _transpose_ordered(full_kv_num_blocks, full_kv_indices)
        if isinstance(BLOCK_SIZE, int):
            BLOCK_SIZE = (BLOCK_SIZE, BLOCK_SIZE)
        if seq_lengths is None:
            seq_lengths = (kv_indices.shape[-2] * BLOCK_SIZE[0], kv_indices.shape[-1] * BLOCK_SIZE[1])
        return cls(seq_lengths, kv_num_blocks, kv_indices, full_kv_num_blocks, full_kv_indices, q_num_blocks,
                   q_indices, full_q_num_blocks, full_q_indices, BLOCK_SIZE,
                   mask_mod if mask_mod is not None else noop_mask)

    def as_tuple(self, flatten=True):
        block_size = (self.BLOCK_SIZE[0], self.BLOCK_SIZE[1]) if flatten else (self.BLOCK_SIZE,)
        seq_lengths = (self.seq_lengths[0], self.seq_lengths[1]) if flatten else (self.seq_lengths,)
        return (*seq_lengths, *(getattr(self, a) for a in self._TENSOR_ATTRS), *block_size, self.mask_mod)

    @property
    def shape(self):
        return tuple(self.kv_indices.shape[:-2]) + self.seq_lengths

    def numel(self):
        """Elements of the mask, sparsity not counted."""
        return functools.reduce(operator.mul, self.shape, 1)

    def sparsity(self):
        """Percentage of blocks not computed (PyTorch's formula: it counts padded blocks whole, so a mask
        whose lengths are not multiples of BLOCK_SIZE can show a negative sparsity)."""
        computed_blocks = int(self.kv_num_blocks.to(flambeau.int64).sum().item())
        if self.full_kv_num_blocks is not None:
            computed_blocks += int(self.full_kv_num_blocks.to(flambeau.int64).sum().item())
        computed_size = computed_blocks * self.BLOCK_SIZE[0] * self.BLOCK_SIZE[1]
        return 100 * (1 - computed_size / self.numel())

    def to_dense(self):
        """The block-level mask: int32 [..., query blocks, key blocks], 1 where a block is computed."""
        partial = _ordered_to_dense(self.kv_num_blocks, self.kv_indices, self.kv_indices.shape[-1])
        if self.full_kv_num_blocks is not None:
            return partial | _ordered_to_dense(self.full_kv_num_blocks, self.full_kv_indices,
                                               self.full_kv_indices.shape[-1])
        return partial

    def __getitem__(self, index):
        """The BlockMask of some batches / heads / query blocks (an integer keeps its dimension); its
        mask_mod can no longer be used, as in PyTorch."""
        index = index if isinstance(index, tuple) else (index,)
        padded = (*index, slice(None), slice(None), slice(None))[:3]
        sizes = self.kv_num_blocks.shape[:3]
        index = tuple((slice(i + n, i + n + 1) if -n <= i < 0 else slice(i, i + 1)) if isinstance(i, int) else i
                      for i, n in zip(padded, sizes))
        full = (self.full_kv_num_blocks[index], self.full_kv_indices[index]) \
            if self.full_kv_num_blocks is not None else (None, None)
        return BlockMask.from_kv_blocks(self.kv_num_blocks[index], self.kv_indices[index], *full,
                                        BLOCK_SIZE=self.BLOCK_SIZE, mask_mod=_sliced_mask_mod_error,
                                        seq_lengths=self.seq_lengths, compute_q_blocks=self.q_indices is not None)

    def _adjust(self, new_q_len, new_kv_len):
        """This mask cropped to the upper-left new_q_len x new_kv_len corner (PyTorch's _adjust)."""
        rows = (new_q_len + self.BLOCK_SIZE[0] - 1) // self.BLOCK_SIZE[0]
        cols = (new_kv_len + self.BLOCK_SIZE[1] - 1) // self.BLOCK_SIZE[1]
        kv = _adjust_num_blocks_and_indices(self.kv_num_blocks, self.kv_indices, rows, cols)
        full = _adjust_num_blocks_and_indices(self.full_kv_num_blocks, self.full_kv_indices, rows, cols) \
            if self.full_kv_num_blocks is not None else (None, None)
        return self.from_kv_blocks(*kv, *full, BLOCK_SIZE=self.BLOCK_SIZE, mask_mod=self.mask_mod,
                                   seq_lengths=(new_q_len, new_kv_len), compute_q_blocks=self.q_indices is not None)

    def to(self, device):
        moved = [getattr(self, a).to(device) if getattr(self, a) is not None else None for a in self._TENSOR_ATTRS]
        return BlockMask(self.seq_lengths, *moved, self.BLOCK_SIZE, self.mask_mod)

    def to_string(self, grid_size=(20, 20), limit=4):
        """The block mask drawn in characters, one grid per (batch, head), at most `limit` of them."""
        dense_mask = self.to_dense()
        *batch_dims, num_rows, num_cols = dense_mask.shape
        if isinstance(grid_size, int) and grid_size == -1:
            max_rows, max_cols = num_rows, num_cols
        elif isinstance(grid_size, int):
            max_rows = max_cols = grid_size
        else:
            max_rows, max_cols = grid_size
        row_step = max(1, -(-num_rows // max_rows))
        col_step = max(1, -(-num_cols // max_cols))

        def summarize_section(section):
            fraction = section.float().mean().item()
            return "█" if fraction == 1 else (" " if fraction == 0 else "░")

        def create_block_vis(*batch_idx):
            vis = f"{batch_idx}\n"
            cur = dense_mask
            for i in batch_idx:
                cur = cur[i]
            for r in range(0, num_rows, row_step):
                for c in range(0, num_cols, col_step):
                    vis += summarize_section(cur[r:r + row_step, c:c + col_step]) * 2
                vis += "\n"
            return vis

        total_vis = []
        for n, batch_idx in enumerate(itertools.product(*[range(i) for i in batch_dims])):
            if n == limit:
                total_vis.append("...")
                total_vis.append("To print out more, set BlockMask.to_string(limit=N)")
                total_vis.append("You can also index (BlockMask[batch, head]) to choose a specific batch or head")
                break
            total_vis.append(create_block_vis(*batch_idx))
        return "\n".join(total_vis)

    def __str__(self):
        return (f"BlockMask(shape={self.shape}, sparsity={self.sparsity():.2f}%, \n"
                + self.to_string().strip() + "\n)")

    def __repr__(self):
        def shape_or_none(x):
            return x.shape if x is not None else None
        return ("BlockMask(\n"
                f"    kv_num_blocks={self.kv_num_blocks.shape},\n"
                f"    kv_indices={self.kv_indices.shape},\n"
                f"    full_kv_num_blocks={shape_or_none(self.full_kv_num_blocks)},\n"
                f"    full_kv_indices={shape_or_none(self.full_kv_indices)},\n"
                f"    q_num_blocks={shape_or_none(self.q_num_blocks)},\n"
                f"    q_indices={shape_or_none(self.q_indices)},\n"
                f"    full_q_num_blocks={shape_or_none(self.full_q_num_blocks)},\n"
                f"    full_q_indices={shape_or_none(self.full_q_indices)},\n"
                f"    BLOCK_SIZE={self.BLOCK_SIZE},\n"
                f"    shape={self.shape},\n"
                f"    sparsity={self.sparsity():.2f}%,\n"
                f"    mask_mod={getattr(self.mask_mod, '__name__', self.mask_mod)}\n"
                ")")


def create_block_mask(mask_mod, B, H, Q_LEN, KV_LEN, device=None, BLOCK_SIZE=_DEFAULT_SPARSE_BLOCK_SIZE,
                      _compile=False, separate_full_blocks=True):
    """The BlockMask of mask_mod over [B, H, Q_LEN, KV_LEN] (B or H None: 1, broadcast over the batch or
    heads); device defaults to the current accelerator, else the CPU, as in PyTorch."""
    device = _default_device(device)
    if _get_mod_type(mask_mod) != _ModificationType.MASK_MOD:
        raise AssertionError(f"create-block_mask requires a mask_mod function! Got {mask_mod}")
    B = 1 if B is None else B
    H = 1 if H is None else H
    Q_BLOCK_SIZE, KV_BLOCK_SIZE = (BLOCK_SIZE, BLOCK_SIZE) if isinstance(BLOCK_SIZE, int) else BLOCK_SIZE
    if _compile:
        warnings.warn("_compile flag on create_block_mask was originally added to work around a torch.compile "
                      "limitation. That limitation has since been addressed. So, to compile create_block_mask, we "
                      "suggest doing torch.compile(create_block_mask). This still works for now, but will be "
                      "removed in the future.", DeprecationWarning, stacklevel=2)
    mask = _apply_mask_mod(mask_mod, B, H, Q_LEN, KV_LEN, device)
    partial, full = _convert_mask_to_block_mask(mask, Q_BLOCK_SIZE, KV_BLOCK_SIZE, separate_full_blocks)
    kv_num_blocks, kv_indices = _dense_to_ordered(partial)
    full_kv = _dense_to_ordered(full) if full is not None else (None, None)
    return BlockMask.from_kv_blocks(kv_num_blocks, kv_indices, *full_kv, BLOCK_SIZE=(Q_BLOCK_SIZE, KV_BLOCK_SIZE),
                                    mask_mod=mask_mod, seq_lengths=(Q_LEN, KV_LEN))


_warned_return_lse = [False]


def _check_inputs(query, key, value, block_mask, enable_gqa):
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, flambeau.Tensor):
            raise TypeError(f"flex_attention: {name} must be a Tensor, got {type(t).__name__}")
    if query.dim() != 4 or key.dim() != 4 or value.dim() != 4:
        raise NotImplementedError("NYI: query, key, and value must be 4D tensors")
    if not (query.dtype == key.dtype == value.dtype):
        raise ValueError(f"Expected query, key, and value to have the same dtype, but got query.dtype: "
                         f"{query.dtype}, key.dtype: {key.dtype}, and value.dtype: {value.dtype} instead.")
    if not (query.device == key.device == value.device):
        raise ValueError(f"Expected query, key, and value to have the same device type, but got query.device: "
                         f"{query.device}, key.device: {key.device}, and value.device: {value.device} instead.")
    if query.size(-1) != key.size(-1):
        raise ValueError(f"Expect query and key to have the same head dimension but got "
                         f"query {tuple(query.shape)} and key {tuple(key.shape)}")
    if key.size(-2) != value.size(-2) or key.size(1) != value.size(1):
        raise ValueError(f"Expect key and value to have the same number of heads and sequence length but got "
                         f"key {tuple(key.shape)} and value {tuple(value.shape)}")
    if not enable_gqa and query.size(-3) != key.size(-3):
        raise ValueError(f"Expect query and key/value to have the same number of heads but got "
                         f"Hq={query.size(-3)} and Hkv={key.size(-3)}. Try setting enable_gqa=True for GQA.")
    if enable_gqa and query.size(1) % key.size(1) != 0:
        raise ValueError(f"Expect number of query heads to be a multiple of kv heads for GQA but got "
                         f"Hq={query.size(1)} and Hkv={key.size(1)}.")
    Bq, Bkv = query.size(0), key.size(0)
    if Bq != Bkv:
        if block_mask is None:
            raise ValueError(f"Expect query and key/value to have the same batch size, or non-none block_mask, "
                             f"but got block_mask=None, Bq={Bq}, and Bkv={Bkv}.")
        if block_mask.kv_num_blocks.size(0) != Bq:
            raise ValueError(f"Expect query and key/value to have the same batch size, or block_mask and query to "
                             f"have the same batch size, but got Bq={Bq}, Bkv={Bkv}, "
                             f"B_block_mask={block_mask.kv_num_blocks.size(0)}.")
        if Bkv != 1:
            raise RuntimeError(f"Bq and Bkv must broadcast. Got Bq={Bq} and Bkv={Bkv}")
    if block_mask is not None:
        if block_mask.mask_mod is _sliced_mask_mod_error:
            raise RuntimeError("Cannot use mask_mod from a sliced BlockMask")
        mq, mkv = block_mask.shape[-2], block_mask.shape[-1]
        if query.size(-2) > mq or key.size(-2) > mkv:
            raise ValueError(f"block_mask was created for block_mask.shape={block_mask.shape} but got "
                             f"q_len={query.size(-2)} and kv_len={key.size(-2)}. As the block mask was created for "
                             "a smaller length than you're using it for, you likely need to create a new block mask.")
        if query.size(-2) != mq or key.size(-2) != mkv:
            raise ValueError(f"block_mask was created for block_mask.shape={block_mask.shape} but got "
                             f"q_len={query.size(-2)} and kv_len={key.size(-2)}. As the block mask was created for "
                             "a larger length than you're using it for, create a new block mask with the correct "
                             "length.")
        if query.device != block_mask.kv_num_blocks.device:
            raise RuntimeError(f"Expect q/k/v and block_mask to be on the same device but got {query.device} and "
                               f"{block_mask.kv_num_blocks.device}.")


def flex_attention(query, key, value, score_mod=None, block_mask=None, scale=None, enable_gqa=False,
                   return_lse=False, kernel_options=None, *, return_aux=None):
    """Attention over query [B, Hq, L, E], key [B, Hkv, S, E], value [B, Hkv, S, Ev] with the scores
    modified by score_mod(score, b, h, q_idx, kv_idx) and masked by block_mask's mask_mod. Returns the
    output [B, Hq, L, Ev], with (output, logsumexp [B, Hq, L]) for return_lse=True and
    (output, AuxOutput) for return_aux."""
    _check_inputs(query, key, value, block_mask, enable_gqa)
    if return_lse and return_aux is not None:
        raise ValueError("Cannot specify both return_lse and return_aux. return_lse is deprecated, please use "
                         "return_aux=AuxRequest(lse=True) instead.")
    if return_lse and not _warned_return_lse[0]:
        _warned_return_lse[0] = True
        warnings.warn("return_lse is deprecated and will be removed in v2.10. Please use "
                      "return_aux=AuxRequest(lse=True) instead.", FutureWarning, stacklevel=2)
    if score_mod is None:
        score_mod = _identity
    mask_mod = block_mask.mask_mod if block_mask is not None else noop_mask
    if scale is None:
        scale = 1.0 / math.sqrt(query.size(-1))

    # GQA: each group of Hq/Hkv query heads shares one key/value head; a batch-1 key/value broadcasts.
    G = query.size(1) // key.size(1)
    if G > 1:
        key = key.repeat_interleave(G, dim=1)
        value = value.repeat_interleave(G, dim=1)
    B, H, L, S = query.size(0), query.size(1), query.size(2), key.size(2)
    key = key.expand(B, *key.shape[1:])
    value = value.expand(B, *value.shape[1:])

    working = flambeau.float64 if query.dtype == flambeau.float64 else flambeau.float32
    scores = query.to(working).matmul(key.to(working).transpose(-2, -1)) * scale
    b, h, m, n = _index_grid(B, H, L, S, query.device)
    modified = score_mod(scores, b, h, m, n)
    if not isinstance(modified, flambeau.Tensor):
        modified = flambeau.tensor(modified, dtype=working, device=query.device)
    modified = modified.to(working).expand(B, H, L, S)
    mask = _apply_mask_mod(mask_mod, B, H, L, S, query.device)
    post = flambeau.where(mask, modified, float("-inf"))

    # rows whose every key is masked: output 0 and lse -inf (PyTorch's _safe_softmax), no NaN anywhere,
    # also not in the backward (their scores are replaced by 0 before the softmax).
    masked_rows = ~mask.any(dim=-1, keepdim=True)
    has_masked_rows = bool(masked_rows.any())
    if has_masked_rows:
        post = flambeau.where(masked_rows, 0.0, post)
    probs = post.softmax(-1)
    if has_masked_rows:
        probs = flambeau.where(masked_rows, 0.0, probs)
    out = probs.to(query.dtype).matmul(value.to(query.dtype))

    want_lse = return_lse or (return_aux is not None and return_aux.lse)
    want_max = return_aux is not None and return_aux.max_scores
    lse = max_scores = None
    if want_lse:
        lse = post.logsumexp(dim=-1)
        if has_masked_rows:
            lse = flambeau.where(masked_rows.squeeze(-1), float("-inf"), lse)
    if want_max:
        max_scores = post.amax(dim=-1)
        if has_masked_rows:
            max_scores = flambeau.where(masked_rows.squeeze(-1), float("-inf"), max_scores)
    if return_aux is not None:
        return out, AuxOutput(lse=lse, max_scores=max_scores)
    if return_lse:
        return out, lse
    return out
