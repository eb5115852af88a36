"""Window functions of length M (torch.signal.windows), computed as PyTorch computes them (the same
linspace of sample positions and the same formula in the requested dtype, so float32 results agree to
rounding). sym=True gives a symmetric window (filter design), sym=False a periodic one (spectral
analysis: the symmetric window of length M + 1 without its last sample)."""
from collections.abc import Iterable
from math import sqrt

import flambeau

__all__ = ["bartlett", "blackman", "cosine", "exponential", "gaussian", "general_cosine", "general_hamming",
           "hamming", "hann", "kaiser", "nuttall"]


def _checks(name, M, dtype, layout):
    if M < 0:
        raise ValueError(f"{name} requires non-negative window length, got M={M}")
    if layout is not flambeau.strided:
        raise ValueError(f"{name} is implemented for strided tensors only, got: {layout}")
    if dtype not in (flambeau.float32, flambeau.float64):
        raise ValueError(f"{name} expects float32 or float64 dtypes, got: {dtype}")


def _empty_or_one(M, dtype, layout, device, requires_grad, one=True):
    """The window of length 0 (empty) or, when `one`, of length 1 ([1.]); None for longer ones."""
    if M == 0:
        return flambeau.empty((0,), dtype=dtype, layout=layout, device=device, requires_grad=requires_grad)
    if one and M == 1:
        return flambeau.ones((1,), dtype=dtype, layout=layout, device=device, requires_grad=requires_grad)
    return None


def exponential(M, *, center=None, tau=1.0, sym=True, dtype=None, layout=flambeau.strided, device=None,
                requires_grad=False):
    """exp(-|n - center| / tau)."""
    dtype = dtype or flambeau.get_default_dtype()
    _checks("exponential", M, dtype, layout)
    if tau <= 0:
        raise ValueError(f"Tau must be positive, got: {tau} instead.")
    if sym and center is not None:
        raise ValueError("Center must be None for symmetric windows")
    if M == 0:
        return _empty_or_one(M, dtype, layout, device, requires_grad)
    if center is None:
        center = (M if not sym and M > 1 else M - 1) / 2.0
    constant = 1 / tau
    k = flambeau.linspace(start=-center * constant, end=(-center + (M - 1)) * constant, steps=M, dtype=dtype,
                          layout=layout, device=device, requires_grad=requires_grad)
    return flambeau.exp(-flambeau.abs(k))


def cosine(M, *, sym=True, dtype=None, layout=flambeau.strided, device=None, requires_grad=False):
    """sin(pi (n + 0.5) / M) (the sine window)."""
    dtype = dtype or flambeau.get_default_dtype()
    _checks("cosine", M, dtype, layout)
    if M == 0:
        return _empty_or_one(M, dtype, layout, device, requires_grad)
    start = 0.5
    constant = flambeau.pi / (M + 1 if not sym and M > 1 else M)
    k = flambeau.linspace(start=start * constant, end=(start + (M - 1)) * constant, steps=M, dtype=dtype,
                          layout=layout, device=device, requires_grad=requires_grad)
    return flambeau.sin(k)


def gaussian(M, *, std=1.0, sym=True, dtype=None, layout=flambeau.strided, device=None, requires_grad=False):
    """exp(-(n - (M-1)/2)^2 / (2 std^2))."""
    dtype = dtype or flambeau.get_default_dtype()
    _checks("gaussian", M, dtype, layout)
    if std <= 0:
        raise ValueError(f"Standard deviation must be positive, got: {std} instead.")
    if M == 0:
        return _empty_or_one(M, dtype, layout, device, requires_grad)
    start = -(M if not sym and M > 1 else M - 1) / 2.0
    constant = 1 / (std * sqrt(2))
    k = flambeau.linspace(start=start * constant, end=(start + (M - 1)) * constant, steps=M, dtype=dtype,
                          layout=layout, device=device, requires_grad=requires_grad)
    return flambeau.exp(-(k ** 2))


def kaiser(M, *, beta=12.0, sym=True, dtype=None, layout=flambeau.strided, device=None, requires_grad=False):
    """I0(beta sqrt(1 - (2n/(M-1) - 1)^2)) / I0(beta)."""
    dtype = dtype or flambeau.get_default_dtype()
    _checks("kaiser", M, dtype, layout)
    if beta < 0:
        raise ValueError(f"beta must be non-negative, got: {beta} instead.")
    small = _empty_or_one(M, dtype, layout, device, requires_grad)
    if small is not None:
        return small
    beta = flambeau.tensor(beta, dtype=dtype, device=device)
    start = -beta
    constant = 2.0 * beta / (M if not sym else M - 1)
    end = flambeau.minimum(beta, start + (M - 1) * constant)
    k = flambeau.linspace(start=start, end=end, steps=M, dtype=dtype, layout=layout, device=device,
                          requires_grad=requires_grad)
    return flambeau.i0(flambeau.sqrt(beta * beta - flambeau.pow(k, 2))) / flambeau.i0(beta)


def hamming(M, *, sym=True, dtype=None, layout=flambeau.strided, device=None, requires_grad=False):
    """general_hamming with alpha = 0.54."""
    return general_hamming(M, sym=sym, dtype=dtype, layout=layout, device=device, requires_grad=requires_grad)


def hann(M, *, sym=True, dtype=None, layout=flambeau.strided, device=None, requires_grad=False):
    """general_hamming with alpha = 0.5."""
    return general_hamming(M, alpha=0.5, sym=sym, dtype=dtype, layout=layout, device=device,
                           requires_grad=requires_grad)


def blackman(M, *, sym=True, dtype=None, layout=flambeau.strided, device=None, requires_grad=False):
    """general_cosine with a = [0.42, 0.5, 0.08]."""
    dtype = dtype or flambeau.get_default_dtype()
    _checks("blackman", M, dtype, layout)
    return general_cosine(M, a=[0.42, 0.5, 0.08], sym=sym, dtype=dtype, layout=layout, device=device,
                          requires_grad=requires_grad)


def bartlett(M, *, sym=True, dtype=None, layout=flambeau.strided, device=None, requires_grad=False):
    """1 - |2n/(M-1) - 1| (the triangular window reaching 0 at both ends)."""
    dtype = dtype or flambeau.get_default_dtype()
    _checks("bartlett", M, dtype, layout)
    small = _empty_or_one(M, dtype, layout, device, requires_grad)
    if small is not None:
        return small
    start = -1
    constant = 2 / (M if not sym else M - 1)
    k = flambeau.linspace(start=start, end=start + (M - 1) * constant, steps=M, dtype=dtype, layout=layout,
                          device=device, requires_grad=requires_grad)
    return 1 - flambeau.abs(k)


def general_cosine(M, *, a, sym=True, dtype=None, layout=flambeau.strided, device=None, requires_grad=False):
    """sum_i (-1)^i a_i cos(2 pi i n / (M-1))."""
    dtype = dtype or flambeau.get_default_dtype()
    _checks("general_cosine", M, dtype, layout)
    small = _empty_or_one(M, dtype, layout, device, requires_grad)
    if small is not None:
        return small
    if not isinstance(a, Iterable):
        raise TypeError("Coefficients must be a list/tuple")
    if not a:
        raise ValueError("Coefficients cannot be empty")
    constant = 2 * flambeau.pi / (M if not sym else M - 1)
    k = flambeau.linspace(start=0, end=(M - 1) * constant, steps=M, dtype=dtype, layout=layout, device=device,
                          requires_grad=requires_grad)
    a_i = flambeau.tensor([(-1) ** i * w for i, w in enumerate(a)], device=device, dtype=dtype,
                          requires_grad=requires_grad)
    i = flambeau.arange(a_i.shape[0], dtype=a_i.dtype, device=a_i.device, requires_grad=a_i.requires_grad)
    return (a_i.unsqueeze(-1) * flambeau.cos(i.unsqueeze(-1) * k)).sum(0)


def general_hamming(M, *, alpha=0.54, sym=True, dtype=None, layout=flambeau.strided, device=None,
                    requires_grad=False):
    """alpha - (1 - alpha) cos(2 pi n / (M-1))."""
    return general_cosine(M, a=[alpha, 1.0 - alpha], sym=sym, dtype=dtype, layout=layout, device=device,
                          requires_grad=requires_grad)


def nuttall(M, *, sym=True, dtype=None, layout=flambeau.strided, device=None, requires_grad=False):
    """general_cosine with Nuttall's four coefficients."""
    return general_cosine(M, a=[0.3635819, 0.4891775, 0.1365995, 0.0106411], sym=sym, dtype=dtype, layout=layout,
                          device=device, requires_grad=requires_grad)
