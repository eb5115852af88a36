"""torch.binomial(count, prob, generator=None): Binomial(count, prob) samples, with PyTorch's samplers (from
TensorFlow's): BTRS transformed rejection (Hormann 1993) where count * min(p, 1 - p) >= 10, geometric-gap
inversion below, on min(p, 1 - p) then reflected. The uniforms come from flambeau's generator (so manual_seed
reproduces a draw); the rejection loops run vectorised over the elements still undecided, in float64 on the host.
Results have PyTorch's distribution, not its exact draws (the generators differ)."""
import math

import numpy as np

import flambeau
from .._random import rand as _rand

__all__ = ["binomial"]

_TAIL = np.array([0.0810614667953272, 0.0413406959554092, 0.0276779256849983, 0.02079067210376509,
                  0.0166446911898211, 0.0138761288230707, 0.0118967099458917, 0.0104112652619720,
                  0.00925546218271273, 0.00833056343336287])


def _stirling_tail(k):
    k = np.asarray(k, dtype=np.float64)
    kp1sq = (k + 1) * (k + 1)
    big = (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / kp1sq) / kp1sq) / (k + 1)
    small = _TAIL[np.clip(k, 0, 9).astype(np.int64)]
    return np.where(k < 10, small, big)


def _uniforms(n, generator):
    return _rand(n, dtype=flambeau.float64, generator=generator).numpy() if n else np.zeros(0)


def _inversion(n, p, generator):
    """Number of geometric(p) gaps that fit in n trials, for each (n, p)."""
    out = np.zeros(n.shape)
    gap_sum = np.zeros(n.shape)
    logq = np.log1p(-p)
    todo = np.arange(n.size)
    while todo.size:
        u = _uniforms(todo.size, generator)
        gap_sum[todo] += np.ceil(np.log(u) / logq[todo])
        done = gap_sum[todo] > n[todo]
        out[todo[~done]] += 1
        todo = todo[~done]
    return out


def _btrs(n, p, generator):
    spq = np.sqrt(n * p * (1 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    r = p / (1 - p)
    alpha = (2.83 + 5.1 / b) * spq
    m = np.floor((n + 1) * p)
    out = np.zeros(n.shape)
    todo = np.arange(n.size)
    while todo.size:
        uv = _uniforms(2 * todo.size, generator).reshape(todo.size, 2)
        U, V = uv[:, 0] - 0.5, uv[:, 1]
        nn, aa, bb, cc, rr, mm = n[todo], a[todo], b[todo], c[todo], r[todo], m[todo]
        us = 0.5 - np.abs(U)
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.floor((2 * aa / us + bb) * U + cc)
            valid = (k >= 0) & (k <= nn)
            accept = valid & (us >= 0.07) & (V <= v_r[todo])
            Vl = np.log(V * alpha[todo] / (aa / (us * us) + bb))
            upper = ((mm + 0.5) * np.log((mm + 1) / (rr * (nn - mm + 1)))
                     + (nn + 1) * np.log((nn - mm + 1) / (nn - k + 1))
                     + (k + 0.5) * np.log(rr * (nn - k + 1) / (k + 1))
                     + _stirling_tail(mm) + _stirling_tail(nn - mm) - _stirling_tail(np.maximum(k, 0))
                     - _stirling_tail(np.maximum(nn - k, 0)))
            accept |= valid & (Vl <= upper)
        out[todo[accept]] = k[accept]
        todo = todo[~accept]
    return out


def binomial(count, prob, generator=None):
    """Samples of Binomial(count, prob), elementwise (broadcast), in count's floating dtype."""
    if count.dtype not in (flambeau.float32, flambeau.float64, flambeau.float16, flambeau.bfloat16):
        from ._dispatch import _TORCH_TYPE_NAMES
        raise ValueError(f"binomial only supports floating-point dtypes for count, got: "
                         f"{_TORCH_TYPE_NAMES[count.dtype._name]}")
    cnt, pr = np.broadcast_arrays(count.detach().cpu().double().numpy(), prob.detach().cpu().double().numpy())
    n, p = cnt.ravel().copy(), pr.ravel().copy()
    out = np.zeros(n.shape)
    flip = p > 0.5
    q = np.where(flip, 1.0 - p, p)
    live = (n > 0) & (p > 0) & (p < 1)
    out[(p >= 1) & (n > 0)] = n[(p >= 1) & (n > 0)]
    big = live & (n * q >= 10.0)
    small = live & ~big
    if small.any():
        s = _inversion(n[small], q[small], generator)
        out[small] = np.where(flip[small], n[small] - s, s)
    if big.any():
        s = _btrs(n[big], q[big], generator)
        out[big] = np.where(flip[big], n[big] - s, s)
    res = flambeau.from_numpy(out.reshape(cnt.shape)).to(dtype=count.dtype, device=count.device)
    return res
