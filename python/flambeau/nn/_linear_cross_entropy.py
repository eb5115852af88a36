"""F.linear_cross_entropy (PyTorch 2.13; nn.LinearCrossEntropyLoss is in modules/linear_cross_entropy.py):
cross_entropy(linear(input, W, b), target), with W of shape (C, in_features) or (C, d_1, ..., d_K, in_features)
for a K-dimensional loss.

options=None (the default) is PyTorch's reference path: the logits are materialised and F.cross_entropy runs on
them, so values and gradients are those of the two ops. With options=LinearCrossEntropyOptions(...) the batch is
walked in chunks of rows (_ChunkedLinearCrossEntropy): each chunk's logits, log-sum-exp and loss are made and
dropped, and backward recomputes them chunk by chunk, so at most one chunk's (rows, C) logits exist at a time.
As PyTorch's, the chunked path takes class-index (int64) targets, reduction 'mean'/'sum'/'none', no label
smoothing and no out_features; other calls with options warn and take the reference path."""
import math
import warnings

import flambeau
from ..autograd import Function

__all__ = ["linear_cross_entropy"]


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None, reduction="mean",
                         ignore_index=None, label_smoothing=0.0, options=None):
    """cross_entropy(linear(input, linear_weight, linear_bias), target, ...): input (in_features,) or
    (N, in_features); ignore_index None means -100 for class-index targets and must stay None for
    probability targets (target of the logits' shape)."""
    from . import functional as F
    if input.dim() < 1 or input.dim() > 2:
        raise RuntimeError(f"expected input with dimensionality 1 or 2, got {input.dim()}")
    if linear_weight.dim() < 2:
        raise RuntimeError(f"expected linear_weight with dimensionality at least 2, got {linear_weight.dim()}")
    num_batches = tuple(input.shape[:-1])
    in_features = input.shape[-1]
    if in_features != linear_weight.shape[-1]:
        raise RuntimeError("expected equal input and linear_weight last dimensions (in_features), "
                           f"got {input.shape[-1]} and {linear_weight.shape[-1]}, respectively")
    num_classes = linear_weight.shape[0]
    out_features = tuple(linear_weight.shape[1:-1])
    if linear_bias is not None and tuple(linear_bias.shape) != (num_classes, *out_features):
        raise RuntimeError(f"expected linear_bias shape {(num_classes, *out_features)}, got "
                           f"{tuple(linear_bias.shape)}")
    if out_features and not num_batches:
        raise RuntimeError(f"K-dimensional loss defined by linear_weight shape {tuple(linear_weight.shape)} requires"
                           f" batched input, (N, {in_features}), got unbatched input with shape "
                           f"{tuple(input.shape)}")
    logits_shape = (*num_batches, num_classes, *out_features)
    # a target of the logits' shape holds probabilities (as cross_entropy tells them apart)
    if tuple(target.shape) == logits_shape and ignore_index is not None:
        raise RuntimeError("ignore_index cannot be specified when target contains probabilities")
    ignore_index = -100 if ignore_index is None else ignore_index
    if options is not None:
        chunked = (reduction in ("mean", "sum", "none") and label_smoothing == 0.0
                   and target.dtype == flambeau.int64 and not out_features)
        if not chunked:
            warnings.warn("linear_cross_entropy: ``options`` ignored; chunked path needs reduction in "
                          "{'mean','sum','none'}, label_smoothing == 0, target.dtype == int64, out_features == (). "
                          f"Got reduction={reduction!r}, label_smoothing={label_smoothing}, "
                          f"target.dtype={target.dtype}, out_features={tuple(out_features)}, tracing=False, "
                          f"linear_bias.shape={tuple(linear_bias.shape) if linear_bias is not None else None}.",
                          stacklevel=2)
        else:
            return _chunked(input, linear_weight, target, linear_bias, weight, reduction, ignore_index, options)
    if out_features:
        rows = math.prod(out_features, start=num_classes)
        linear_weight = linear_weight.reshape((rows, in_features))
        if linear_bias is not None:
            linear_bias = linear_bias.reshape(rows)
    logits = F.linear(input, linear_weight, linear_bias).reshape(logits_shape)
    return F.cross_entropy(logits, target, weight=weight, reduction=reduction, ignore_index=ignore_index,
                           label_smoothing=label_smoothing)


def _chunked(input, linear_weight, target, linear_bias, weight, reduction, ignore_index, options):
    unbatched = input.dim() == 1
    if unbatched:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    n, d = input.shape
    c = linear_weight.shape[0]
    if tuple(target.shape) != (n,):
        raise RuntimeError(f"linear_cross_entropy: expected target of shape {(n,)}, got {tuple(target.shape)}")
    if weight is not None and tuple(weight.shape) != (c,):
        raise RuntimeError(f"linear_cross_entropy: expected weight of shape {(c,)}, got {tuple(weight.shape)}")
    chunk, acc = options._resolve(n, d, c, input.dtype)
    out = _ChunkedLinearCrossEntropy.apply(input, linear_weight, linear_bias, target, weight, reduction,
                                           ignore_index, chunk, acc)
    return out.squeeze(0) if unbatched and reduction == "none" else out


def _rows(x, w, b, start, stop, acc):
    """Logits of rows start:stop, in the accumulation dtype."""
    logits = x[start:stop].to(acc) @ w.to(acc).t()
    return logits if b is None else logits + b.to(acc)


class _ChunkedLinearCrossEntropy(Function):
    """Per chunk of rows: logits, log-sum-exp, the target's logit; loss_i = w[t_i] (lse_i - logit_i), zero where
    t_i == ignore_index. 'mean' divides the sum by the sum of the weights of the rows kept (cross_entropy's rule).
    backward recomputes each chunk's softmax: dlogits = g_i w[t_i] (softmax_i - onehot(t_i))."""

    @staticmethod
    def forward(ctx, x, w, b, target, weight, reduction, ignore_index, chunk, acc):
        n = x.shape[0]
        keep = target != ignore_index
        safe_t = flambeau.where(keep, target, flambeau.zeros_like(target))
        row_w = keep.to(acc) if weight is None else weight.to(acc)[safe_t] * keep.to(acc)
        if bool(((safe_t < 0) | (safe_t >= w.shape[0])).any()):
            raise IndexError(f"Target {int(target[(safe_t < 0) | (safe_t >= w.shape[0])][0])} is out of bounds.")
        losses = []
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            logits = _rows(x, w, b, start, stop, acc)
            lse = flambeau.logsumexp(logits, 1)
            picked = logits.gather(1, safe_t[start:stop].unsqueeze(1)).squeeze(1)
            losses.append((lse - picked) * row_w[start:stop])
        loss = flambeau.cat(losses) if losses else flambeau.zeros(0, dtype=acc, device=x.device)
        ctx.save_for_backward(x, w, b, safe_t, row_w)
        ctx.reduction, ctx.chunk, ctx.acc = reduction, chunk, acc
        if reduction == "none":
            return loss.to(x.dtype)
        total = loss.sum()
        if reduction == "mean":
            ctx.denominator = row_w.sum()
            total = total / ctx.denominator
        return total.to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, w, b, safe_t, row_w = ctx.saved_tensors
        acc, chunk = ctx.acc, ctx.chunk
        n = x.shape[0]
        g = g.to(acc)
        if ctx.reduction == "none":
            scale = g * row_w
        elif ctx.reduction == "sum":
            scale = row_w * g
        else:
            scale = row_w * (g / ctx.denominator)
        need_x, need_w, need_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        gx = []
        gw = flambeau.zeros(w.shape, dtype=acc, device=w.device) if need_w else None
        gb = flambeau.zeros(w.shape[0], dtype=acc, device=w.device) if need_b else None
        wa = w.to(acc)
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            dlogits = flambeau.softmax(_rows(x, w, b, start, stop, acc), 1)
            rows = flambeau.arange(stop - start, device=x.device)
            dlogits[rows, safe_t[start:stop]] -= 1
            dlogits = dlogits * scale[start:stop].unsqueeze(1)
            if need_x:
                gx.append(dlogits @ wa)
            if need_w:
                gw += dlogits.t() @ x[start:stop].to(acc)
            if need_b:
                gb += dlogits.sum(0)
        grad_x = (flambeau.cat(gx) if gx else flambeau.zeros(x.shape, dtype=acc)).to(x.dtype) if need_x else None
        return (grad_x, gw.to(w.dtype) if need_w else None, gb.to(b.dtype) if need_b else None,
                None, None, None, None, None, None)
