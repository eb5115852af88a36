"""SyncBatchNorm's training path: batch norm with the statistics of the whole batch across the ranks.

Forward: each rank computes its count, mean and sum of squared deviations (M2) per channel; an all_gather
brings every rank's triple and they are combined in rank order with Chan's parallel formula (the same
numbers on every rank, and no cancellation of a sum-of-squares formula). Running statistics take the
unbiased variance over the global count, as PyTorch's.

Backward (as PyTorch's SyncBatchNorm): the per-channel sums of dy and dy * (x - mean) are all_reduced; the
input gradient uses their global means; grad_weight and grad_bias stay the local sums (DDP then averages
them across the ranks like any other parameter's gradient).
"""
import flambeau
from flambeau.autograd import Function


def _dims(x):
    return [0] + list(range(2, x.dim()))


def _bshape(x):
    return [1, x.shape[1]] + [1] * (x.dim() - 2)


class _SyncBatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, eps, momentum, pg):
        from flambeau import distributed as dist
        c = x.shape[1]
        dims = _dims(x)
        count = x.numel() // c if c else 0
        if count:
            mean = x.mean(dims)
            m2 = ((x - mean.reshape(_bshape(x))) ** 2).sum(dims)
        else:
            mean = flambeau.zeros(c, dtype=x.dtype, device=x.device)
            m2 = flambeau.zeros(c, dtype=x.dtype, device=x.device)
        n = dist.get_world_size(pg)
        mine = flambeau.cat([flambeau.full((1,), float(count), dtype=x.dtype, device=x.device), mean, m2])
        everyone = [flambeau.empty_like(mine) for _ in range(n)]
        dist.all_gather(everyone, mine, group=pg)
        tot_n, tot_mean, tot_m2 = 0.0, None, None
        for e in everyone:
            nb = float(e[0].item())
            if nb == 0:
                continue
            mb, m2b = e[1:1 + c], e[1 + c:]
            if tot_mean is None:
                tot_n, tot_mean, tot_m2 = nb, mb, m2b
                continue
            total = tot_n + nb
            delta = mb - tot_mean
            tot_mean = tot_mean + delta * (nb / total)
            tot_m2 = tot_m2 + m2b + delta * delta * (tot_n * nb / total)
            tot_n = total
        if tot_n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got {int(tot_n)} across the "
                             "ranks")
        var = tot_m2 / tot_n
        invstd = (var + eps).rsqrt()
        if running_mean is not None and running_var is not None:
            running_mean.copy_(running_mean * (1 - momentum) + tot_mean * momentum)
            running_var.copy_(running_var * (1 - momentum) + var * (tot_n / (tot_n - 1)) * momentum)
        bs = _bshape(x)
        out = (x - tot_mean.reshape(bs)) * invstd.reshape(bs)
        if weight is not None:
            out = out * weight.reshape(bs)
        if bias is not None:
            out = out + bias.reshape(bs)
        ctx.save_for_backward(x, weight, tot_mean, invstd)
        ctx.pg, ctx.total = pg, tot_n
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx, grad):
        from flambeau import distributed as dist
        x, weight, mean, invstd = ctx.saved_tensors
        bs, dims, c = _bshape(x), _dims(x), x.shape[1]
        xmu = x - mean.reshape(bs)
        if x.numel():
            sum_dy = grad.sum(dims)
            sum_dy_xmu = (grad * xmu).sum(dims)
        else:
            sum_dy = flambeau.zeros(c, dtype=x.dtype, device=x.device)
            sum_dy_xmu = flambeau.zeros(c, dtype=x.dtype, device=x.device)
        grad_weight = sum_dy_xmu * invstd if weight is not None and ctx.needs_input_grad[1] else None
        grad_bias = sum_dy.clone() if ctx.has_bias and ctx.needs_input_grad[2] else None
        both = flambeau.cat([sum_dy, sum_dy_xmu])
        dist.all_reduce(both, group=ctx.pg)
        mean_dy = both[:c] / ctx.total
        mean_dy_xmu = both[c:] / ctx.total
        scale = invstd if weight is None else invstd * weight
        grad_input = (grad - mean_dy.reshape(bs) - xmu * (invstd * invstd * mean_dy_xmu).reshape(bs)) \
            * scale.reshape(bs)
        return grad_input, grad_weight, grad_bias, None, None, None, None, None


def sync_batch_norm(x, weight, bias, running_mean, running_var, eps, momentum, pg):
    return _SyncBatchNorm.apply(x, weight, bias, running_mean, running_var, eps, momentum, pg)
