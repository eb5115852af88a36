"""Poisson and binomial draws (torch.poisson, torch.binomial), with PyTorch's CPU algorithms run as
vectorised rejection loops: every element that has not yet accepted draws a new candidate each round.

Poisson(rate): rate >= 10 by Hoermann's transformed rejection with squeeze (PTRS, about 1.1 rounds);
rate < 10 by multiplying uniforms until the product drops below exp(-rate) (rate + 1 rounds on average).
Binomial(n, p): with q = min(p, 1 - p), n q >= 10 by Hoermann's BTRS, otherwise by summing geometric
waiting times until they pass n (about n q + 1 rounds); p > 1/2 draws n - Binomial(n, 1 - p). Both work in
float64 on the CPU and return the input's dtype and device; the draws come from flambeau's generator (not
PyTorch's numbers)."""
import flambeau

__all__ = ["poisson", "binomial"]

_TORCH_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _torch_name(dtype):
    name = str(dtype).split(".")[-1]
    return _TORCH_NAMES.get(name, name.capitalize())


def _uniform(shape, generator):
    return flambeau.rand(shape, dtype=flambeau.float64, generator=generator)


def _poisson_ptrs(lam, generator):
    """PTRS for rates >= 10 (float64 1-D tensor)."""
    slam = lam.sqrt()
    loglam = lam.log()
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2)
    out = flambeau.zeros_like(lam)
    done = flambeau.zeros(lam.shape, dtype=flambeau.bool)
    while not bool(done.all()):
        U = _uniform(lam.shape, generator) - 0.5
        V = _uniform(lam.shape, generator)
        us = 0.5 - U.abs()
        k = flambeau.floor((2 * a / us + b) * U + lam + 0.43)
        quick = (us >= 0.07) & (V <= vr)
        reject = (k < 0) | ((us < 0.013) & (V > us))
        slow = (V.log() + invalpha.log() - (a / (us * us) + b).log()
                <= -lam + k * loglam - flambeau.lgamma(k + 1))
        accept = ~done & (quick | (~reject & slow))
        out = flambeau.where(accept, k, out)
        done = done | accept
    return out


def _poisson_multiply(lam, generator):
    """Knuth's product of uniforms for rates < 10 (float64 1-D tensor)."""
    enlam = (-lam).exp()
    count = flambeau.zeros_like(lam)
    prod = flambeau.ones_like(lam)
    active = lam > 0
    while bool(active.any()):
        prod = prod * _uniform(lam.shape, generator)
        still = active & (prod > enlam)
        count = count + still.to(flambeau.float64)
        active = still
    return count


def poisson(input, generator=None):
    """torch.poisson: one Poisson(rate) draw per element of `input` (rates >= 0), same dtype."""
    if not isinstance(input, flambeau.Tensor):
        raise TypeError(f"poisson(): argument 'input' must be Tensor, not {type(input).__name__}")
    if not input.is_floating_point():
        raise NotImplementedError(f"\"poisson_cpu\" not implemented for '{_torch_name(input.dtype)}'")
    lam = input.detach().cpu().to(flambeau.float64).reshape(-1)  # (drawn on the CPU, returned on input's device)
    if lam.numel() and not bool((lam >= 0).all()):
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    out = flambeau.zeros_like(lam)
    infinite = lam == float("inf")  # an infinite rate counts infinitely many (PyTorch overflows int64 there)
    out = flambeau.where(infinite, lam, out)
    large = (lam >= 10) & ~infinite
    if bool(large.any()):
        idx = large.nonzero().reshape(-1)
        out = out.index_put((idx,), _poisson_ptrs(lam[idx], generator))
    small = ~large & ~infinite
    if bool(small.any()):
        idx = small.nonzero().reshape(-1)
        out = out.index_put((idx,), _poisson_multiply(lam[idx], generator))
    return out.reshape(input.shape).to(device=input.device, dtype=input.dtype)


_STIRLING_TAIL = (0.08106146679532726, 0.04134069595540929, 0.02767792568499834, 0.02079067210376509,
                  0.01664469118982119, 0.01387612882307075, 0.01189670994589177, 0.01041126526197209,
                  0.009255462182712733, 0.008330563433362871)


def _stirling_approx_tail(k):
    """log(k!) - Stirling's approximation of it: a table for k <= 9, the series beyond."""
    kp1sq = (k + 1) * (k + 1)
    series = (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / kp1sq) / kp1sq) / (k + 1)
    table = flambeau.tensor(_STIRLING_TAIL, dtype=flambeau.float64)
    small = k <= 9
    index = k.clamp(min=0, max=9).nan_to_num(0.0).long()  # (a NaN k, from an infinite count, is not looked up)
    return flambeau.where(small, table[index], series)


def _binomial_btrs(n, p, generator):
    """BTRS for n p >= 10 and p <= 1/2 (float64 1-D tensors)."""
    stddev = (n * p * (1 - p)).sqrt()
    b = 1.15 + 2.53 * stddev
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    r = p / (1 - p)
    alpha = (2.83 + 5.1 / b) * stddev
    m = flambeau.floor((n + 1) * p)
    out = flambeau.zeros_like(n)
    done = flambeau.zeros(n.shape, dtype=flambeau.bool)
    while not bool(done.all()):
        U = _uniform(n.shape, generator) - 0.5
        V = _uniform(n.shape, generator)
        us = 0.5 - U.abs()
        k = flambeau.floor((2 * a / us + b) * U + c)
        in_range = (k >= 0) & (k <= n)
        quick = (us >= 0.07) & (V <= v_r)
        ks = k.clamp(min=0)
        ks = flambeau.minimum(ks, n)
        logv = (V * alpha / (a / (us * us) + b)).log()
        upper = ((m + 0.5) * ((m + 1) / (r * (n - m + 1))).log()
                 + (n + 1) * ((n - m + 1) / (n - ks + 1)).log()
                 + (ks + 0.5) * (r * (n - ks + 1) / (ks + 1)).log()
                 + _stirling_approx_tail(m) + _stirling_approx_tail(n - m)
                 - _stirling_approx_tail(ks) - _stirling_approx_tail(n - ks))
        accept = ~done & in_range & (quick | (logv <= upper))
        out = flambeau.where(accept, k, out)
        done = done | accept
    return out


def _binomial_inversion(n, p, generator):
    """Counts geometric waiting times until their sum passes n (float64 1-D tensors, n p < 10)."""
    logq = (-p).log1p()
    geom_sum = flambeau.zeros_like(n)
    count = flambeau.zeros_like(n)
    active = flambeau.ones(n.shape, dtype=flambeau.bool)
    while bool(active.any()):
        geom = flambeau.ceil(_uniform(n.shape, generator).log() / logq)
        geom_sum = geom_sum + flambeau.where(active, geom, flambeau.zeros_like(geom))
        active = active & (geom_sum <= n)
        count = count + active.to(flambeau.float64)
    return count


def binomial(count, prob, generator=None):
    """torch.binomial: one Binomial(count, prob) draw per element of count and prob broadcast together
    (floating tensors of one dtype, which the result has)."""
    if not isinstance(count, flambeau.Tensor) or not isinstance(prob, flambeau.Tensor):
        raise TypeError("binomial(): arguments 'count' and 'prob' must be Tensors")
    for name, t in (("count", count), ("prob", prob)):
        if not t.is_floating_point():
            raise ValueError(f"binomial only supports floating-point dtypes for {name}, got: {_torch_name(t.dtype)}")
    if count.dtype != prob.dtype:
        raise RuntimeError(f"binomial: found dtype {str(prob.dtype).split('.')[-1]} for prob but expected "
                           f"{str(count.dtype).split('.')[-1]} (count's)")
    count, prob = flambeau.broadcast_tensors(count, prob)
    n = count.detach().cpu().to(flambeau.float64).reshape(-1)  # (drawn on the CPU, returned on prob's device)
    p = prob.detach().cpu().to(flambeau.float64).reshape(-1)
    out = flambeau.zeros_like(n)
    trivial_zero = (n <= 0) | (p <= 0)
    # PyTorch's order of cases: no trials or p <= 0 give 0, p >= 1 all trials, a NaN probability NaN
    out = flambeau.where(p >= 1, n, out)
    out = flambeau.where(p != p, flambeau.full_like(out, float("nan")), out)
    out = flambeau.where(trivial_zero, flambeau.zeros_like(out), out)
    work = ~trivial_zero & (p > 0) & (p < 1)
    infinite = work & (n == float("inf"))  # infinitely many trials: infinitely many successes, as PyTorch
    out = flambeau.where(infinite, n, out)
    work = work & ~infinite
    flip = p > 0.5
    q = flambeau.where(flip, 1 - p, p)
    for use_btrs, sampler in ((True, _binomial_btrs), (False, _binomial_inversion)):
        sel = work & ((n * q >= 10) == use_btrs)
        if bool(sel.any()):
            idx = sel.nonzero().reshape(-1)
            k = sampler(n[idx], q[idx], generator)
            k = flambeau.where(flip[idx], n[idx] - k, k)
            out = out.index_put((idx,), k)
    return out.reshape(prob.shape).to(device=prob.device, dtype=prob.dtype)

