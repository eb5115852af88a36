"""Top-level functions of PyTorch's that scripts (and code ported from its internals) call directly:
torch.native_layer_norm / native_batch_norm / native_group_norm / native_dropout (the ops behind the nn layers,
returning the statistics or mask with the result, as tuples), the deprecated frobenius_norm / nuclear_norm,
conv_tbc (time-batch-channel 1-D convolution, over conv1d), segment_reduce (over scatter_reduce/index_add, so
gradients come from those ops) and torch.matrix_rank (removed in PyTorch: its RuntimeError)."""
import math
import warnings

import flambeau

__all__ = ["native_layer_norm", "native_batch_norm", "native_group_norm", "native_dropout", "frobenius_norm",
           "nuclear_norm", "conv_tbc", "segment_reduce", "matrix_rank"]


def native_layer_norm(input, normalized_shape, weight, bias, eps):
    """(layer_norm(input), mean, rstd), mean and rstd of shape input.shape[:axis] + (1,) * len(normalized_shape)
    with axis = input.dim() - len(normalized_shape); rstd = 1 / sqrt(biased var + eps)."""
    from ..nn import functional as F
    normalized_shape = [int(normalized_shape)] if isinstance(normalized_shape, int) else list(normalized_shape)
    out = F.layer_norm(input, normalized_shape, weight, bias, eps)
    dims = tuple(range(input.dim() - len(normalized_shape), input.dim()))
    mean, rstd = _mean_rstd(input, dims, eps)
    return out, mean, rstd


def _mean_rstd(x, dims, eps):
    """The statistics PyTorch's normalisation kernels save (computed in float32 for half inputs)."""
    acc = x.float() if x.dtype in (flambeau.float16, flambeau.bfloat16) else x
    mean = acc.mean(dim=dims, keepdim=True)
    var = acc.var(dim=dims, unbiased=False, keepdim=True)
    return mean, flambeau.rsqrt(var + eps)


def native_batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps):
    """(batch_norm(input), save_mean, save_invstd): in training the batch's mean and 1 / sqrt(biased var + eps)
    per channel (and the running statistics updated, as batch_norm does); in evaluation two empty tensors."""
    from ..nn import functional as F
    out = F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    if not training:
        empty = flambeau.empty((0,), dtype=input.dtype, device=input.device)
        return out, empty, empty.clone()
    dims = (0,) + tuple(range(2, input.dim()))
    mean, rstd = _mean_rstd(input.detach(), dims, eps)
    return out, mean.reshape(-1), rstd.reshape(-1)


def native_group_norm(input, weight, bias, N, C, HxW, group, eps):
    """(group_norm(input), mean, rstd), the statistics of shape (N, group)."""
    from ..nn import functional as F
    if input.shape[0] != N or input.shape[1] != C or input.numel() != N * C * HxW:
        raise RuntimeError(f"native_group_norm: input of shape {list(input.shape)} is not (N={N}, C={C}, "
                           f"HxW={HxW})")
    out = F.group_norm(input, group, weight, bias, eps)
    mean, rstd = _mean_rstd(input.reshape(N, group, -1), (2,), eps)
    return out, mean.reshape(N, group), rstd.reshape(N, group)


def native_dropout(input, p, train):
    """(output, mask): with train, mask ~ Bernoulli(1 - p) (bool) and output = input * mask / (1 - p) (zeros for
    p = 1); without, (input, all-True mask)."""
    if not train:
        return input.clone(), flambeau.ones(input.shape, dtype=flambeau.bool, device=input.device)
    if not 0 <= p <= 1:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {p}")
    mask = flambeau.rand(input.shape, device=input.device) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return input * mask.to(input.dtype) * scale, mask


def frobenius_norm(input, dim, keepdim=False, *, out=None):
    warnings.warn("at::frobenius_norm is deprecated and it is just left for JIT compatibility. It will be removed "
                  "in a future PyTorch release. Please use `linalg.vector_norm(A, 2., dim, keepdim)` instead",
                  UserWarning, stacklevel=2)
    r = flambeau.linalg.vector_norm(input, 2.0, dim, keepdim)
    return r if out is None else out.copy_(r)


def nuclear_norm(input, dim=None, keepdim=False, *, out=None):
    """nuclear_norm(input, keepdim=False) or nuclear_norm(input, dim, keepdim=False)."""
    if isinstance(dim, bool):  # nuclear_norm(input, True): the keepdim form
        dim, keepdim = None, dim
    warnings.warn("at::nuclear_norm is deprecated and it is just left for JIT compatibility. It will be removed "
                  "in a future PyTorch release. Please use `linalg.matrix_norm(A, 'nuc', dim, keepdim)` instead",
                  UserWarning, stacklevel=2)
    r = flambeau.linalg.matrix_norm(input, "nuc", (-2, -1) if dim is None else tuple(dim), keepdim)
    return r if out is None else out.copy_(r)


def matrix_rank(*args, **kwargs):
    raise RuntimeError("This function was deprecated since version 1.9 and is now removed.\nPlease use the "
                       "`torch.linalg.matrix_rank` function instead. The parameter 'symmetric' was renamed in "
                       "`torch.linalg.matrix_rank()` to 'hermitian'.")


def conv_tbc(input, weight, bias, pad=0):
    """1-D convolution of a (time, batch, in_channels) input with a (kernel_width, in_channels, out_channels)
    filter and an (out_channels,) bias, `pad` steps of zeros on each side of time: (time', batch, out)."""
    if input.dim() != 3:
        raise RuntimeError(f"conv_tbc: Input must have 3 dims: time, batch, in_channel (got {input.dim()})")
    if weight.dim() != 3:
        raise RuntimeError(f"conv_tbc: Weight tensor must have 3 dims: kernel_width, in_channels, out_channels. "
                           f"(got {weight.dim()})")
    if bias.dim() != 1:
        raise RuntimeError(f"conv_tbc: Bias must be 1-D (got {bias.dim()})")
    if input.shape[2] != weight.shape[1]:
        raise RuntimeError(f"conv_tbc: Input dim 2 (input channels, {input.shape[2]}) is not == dim 1 in the "
                           f"weight tensor ({weight.shape[1]})")
    if weight.shape[2] != bias.shape[0]:
        raise RuntimeError(f"conv_tbc: Bias size ({bias.shape[0]}) must equal the weight's output channels "
                           f"({weight.shape[2]})")
    from ..nn import functional as F
    out = F.conv1d(input.permute(1, 2, 0), weight.permute(2, 1, 0), bias, padding=pad)
    return out.permute(2, 0, 1).contiguous()


_SEGMENT_REDUCE = {"sum": "sum", "mean": "mean", "max": "amax", "amax": "amax", "min": "amin", "amin": "amin",
                   "prod": "prod"}


def segment_reduce(data, reduce, *, lengths=None, indices=None, offsets=None, axis=0, unsafe=False, initial=None):
    """Reduces `data` along `axis` over consecutive segments given by 1-D `lengths` or `offsets` (offsets[i] to
    offsets[i + 1]): sum, mean, max/amax, min/amin or prod, optionally starting from `initial`. An empty segment
    gives `initial`, or sum 0, prod 1, max -inf, min +inf, mean NaN."""
    op = _SEGMENT_REDUCE.get(reduce)
    if op is None:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    if indices is not None:
        raise RuntimeError("segment_reduce(): indices based reduction is not supported yet.")
    if lengths is None and offsets is None:
        raise RuntimeError("segment_reduce(): Either lengths or offsets must be defined.")
    if data.dtype not in (flambeau.float32, flambeau.float64, flambeau.float16, flambeau.bfloat16):
        raise NotImplementedError(f'"_segment_reduce_cpu" not implemented for \'{str(data.dtype).split(".")[-1]}\'')
    axis = axis + data.dim() if axis < 0 else axis
    if lengths is not None:
        counts = lengths
    else:
        counts = offsets[1:] - offsets[:-1]
        start = int(offsets[0]) if offsets.numel() else 0
        if start:  # elements before the first offset belong to no segment
            data = data.narrow(axis, start, data.shape[axis] - start)
    if counts.dim() != 1 or axis != 0:
        raise NotImplementedError("segment_reduce: flambeau takes 1-D lengths/offsets with axis=0 only")
    counts = counts.to(flambeau.int64)
    if bool((counts < 0).any()):
        raise RuntimeError("lengths contains negative value!")
    total = int(counts.sum())
    if not unsafe and lengths is not None and total != data.shape[0]:
        raise RuntimeError("segment_reduce(): Expected all rows of lengths along axis to sum to "
                           "data.size(lengths.dim()-1) when !unsafe.")
    data = data.narrow(0, 0, total)
    nseg = counts.numel()
    segment_of = flambeau.repeat_interleave(flambeau.arange(nseg, device=data.device), counts)
    shape = (nseg,) + tuple(data.shape[1:])
    index = segment_of.reshape((-1,) + (1,) * (data.dim() - 1)).expand(data.shape)
    if op in ("sum", "mean"):
        base = flambeau.full(shape, 0.0 if initial is None else initial, dtype=data.dtype, device=data.device)
        out = base.index_add(0, segment_of, data)
        if op == "mean":
            n = counts.to(data.dtype).reshape((-1,) + (1,) * (data.dim() - 1))
            empty = flambeau.full((), math.nan if initial is None else initial, dtype=data.dtype,
                                  device=data.device)
            out = flambeau.where(n > 0, out / n.clamp(min=1), empty)
        return out
    identity = {"amax": -math.inf, "amin": math.inf, "prod": 1.0}[op]
    base = flambeau.full(shape, identity if initial is None else initial, dtype=data.dtype, device=data.device)
    return base.scatter_reduce(0, index, data, op, include_self=True)
