"""flambeau.fft against torch.fft (CPU): every transform, lengths with small and large prime factors
(Bluestein), n padding and trimming, each norm, dims, non-contiguous and empty-batch inputs, dtypes,
gradients (the adjoint transforms) and a finite-difference check in complex128; stft/istft."""
import numpy as np
import pytest
import torch

import flambeau
from complex_helpers import crand, both, npy, assert_same, check

NORMS = [None, "backward", "ortho", "forward"]
LENGTHS = [1, 2, 3, 5, 7, 8, 12, 17, 30, 64, 97, 128, 210, 257]

FFT_TOL = {"complex64": (3e-6, 1e-4), "complex128": (1e-13, 1e-10), "float32": (3e-6, 1e-4),
           "float64": (1e-13, 1e-10)}


def fcheck(fn_t, fn_f, arrays, grad=True):
    dn = str(arrays[0].dtype)
    kind = {"float32": "complex64", "float64": "complex128"}.get(dn, dn)
    return check(fn_t, fn_f, arrays, grad=grad, tol=FFT_TOL[kind], grad_tol=FFT_TOL[kind])


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("dt", ["complex64", "complex128"])
def test_fft_ifft_lengths(n, dt):
    a = crand((3, n), dt)
    fcheck(torch.fft.fft, flambeau.fft.fft, [a])
    fcheck(torch.fft.ifft, flambeau.fft.ifft, [a])


@pytest.mark.parametrize("n", [1, 4, 7, 16, 97, 1000, 1009, 4096])
def test_fft_accuracy_against_numpy(n):
    # complex128 to ~1e-13 of the largest output, complex64 to float rounding (computed in double)
    a = crand((2, n), "complex128")
    ref = np.fft.fft(a)
    got = flambeau.fft.fft(flambeau.tensor(a)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-13 * np.abs(ref).max() * max(1, np.log2(n)), rtol=0)
    got32 = flambeau.fft.fft(flambeau.tensor(a.astype(np.complex64))).numpy()
    np.testing.assert_allclose(got32, np.fft.fft(a.astype(np.complex64).astype(np.complex128)),
                               atol=2e-7 * np.abs(ref).max(), rtol=0)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("op", ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"])
def test_1d_norms_and_n(op, norm):
    real_in = op in ("rfft", "ihfft")
    for dt in (("float32", "float64") if real_in else ("complex64", "complex128")):
        for length, n in ((8, None), (9, None), (8, 5), (7, 12), (6, 11), (10, 1)):
            a = crand((2, length), dt)
            kw = {"n": n, "norm": norm}
            fcheck(lambda x: getattr(torch.fft, op)(x, **kw), lambda x: getattr(flambeau.fft, op)(x, **kw), [a])


@pytest.mark.parametrize("op", ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"])
def test_1d_dims_and_non_contiguous(op):
    real_in = op in ("rfft", "ihfft")
    dt = "float64" if real_in else "complex128"
    a = crand((4, 6, 5), dt)
    for dim in (0, 1, -1, -2):
        fcheck(lambda x: getattr(torch.fft, op)(x, dim=dim), lambda x: getattr(flambeau.fft, op)(x, dim=dim), [a])
    fcheck(lambda x: getattr(torch.fft, op)(x.transpose(0, 2)[:, ::2], n=7, dim=1),
           lambda x: getattr(flambeau.fft, op)(x.transpose(0, 2)[:, ::2], n=7, dim=1), [a])


def test_integer_and_real_input_promotion():
    x = np.arange(6)
    assert_same(flambeau.fft.fft(flambeau.tensor(x)), torch.fft.fft(torch.tensor(x)), tol=FFT_TOL["complex64"])
    assert_same(flambeau.fft.rfft(flambeau.tensor(x)), torch.fft.rfft(torch.tensor(x)), tol=FFT_TOL["complex64"])
    fcheck(torch.fft.fft, flambeau.fft.fft, [crand((5,), "float32")])
    fcheck(torch.fft.ifft, flambeau.fft.ifft, [crand((5,), "float64")])
    fcheck(torch.fft.irfft, flambeau.fft.irfft, [crand((5,), "float64")])


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("op", ["fft2", "ifft2", "rfft2", "irfft2", "hfft2", "ihfft2", "fftn", "ifftn", "rfftn",
                                "irfftn", "hfftn", "ihfftn"])
def test_nd(op, norm):
    real_in = op.startswith(("rfft", "ihfft"))
    dt = "float64" if real_in else "complex128"
    a = crand((3, 4, 6), dt)
    for kw in ({}, {"s": (5, 4)}, {"dim": (0, 2)}, {"s": (3, 7), "dim": (0, -1)}, {"dim": (-1,)}, {"s": (2, 3, 8)}):
        if op.endswith("2") and "dim" not in kw and "s" in kw and len(kw["s"]) != 2:
            continue
        if op.endswith("2") and "dim" in kw and "s" not in kw and len(kw["dim"]) != 2:
            continue
        kw = dict(kw, norm=norm)
        fcheck(lambda x: getattr(torch.fft, op)(x, **kw), lambda x: getattr(flambeau.fft, op)(x, **kw), [a])


def test_nd_complex64_and_batch():
    a = crand((2, 3, 8, 9), "complex64")
    fcheck(torch.fft.fft2, flambeau.fft.fft2, [a])
    fcheck(torch.fft.ifftn, flambeau.fft.ifftn, [a])
    r = crand((2, 3, 8, 9), "float32")
    fcheck(torch.fft.rfft2, flambeau.fft.rfft2, [r])
    fcheck(lambda x: torch.fft.irfft2(torch.fft.rfft2(x), s=x.shape[-2:]),
           lambda x: flambeau.fft.irfft2(flambeau.fft.rfft2(x), s=x.shape[-2:]), [r])


def test_round_trips():
    a = crand((3, 11), "float64")
    x = flambeau.tensor(a)
    np.testing.assert_allclose(flambeau.fft.irfft(flambeau.fft.rfft(x), n=11).numpy(), a, atol=1e-13)
    c = crand((3, 11), "complex128")
    z = flambeau.tensor(c)
    np.testing.assert_allclose(flambeau.fft.ifft(flambeau.fft.fft(z)).numpy(), c, atol=1e-13)
    np.testing.assert_allclose(flambeau.fft.ifftn(flambeau.fft.fftn(z, norm="ortho"), norm="ortho").numpy(), c,
                               atol=1e-13)


def test_empty_batch():
    # (the PyTorch build here raises from MKL for empty batches; pocketfft, PyTorch's other CPU
    # backend, returns the empty transforms checked below)
    a = np.zeros((0, 5), np.complex64)
    out = flambeau.fft.fft(flambeau.tensor(a))
    assert tuple(out.shape) == (0, 5) and out.dtype is flambeau.complex64
    r = np.zeros((3, 0, 8), np.float32)
    out = flambeau.fft.rfft(flambeau.tensor(r))
    assert tuple(out.shape) == (3, 0, 5) and out.dtype is flambeau.complex64


def test_errors():
    x = flambeau.ones(4)
    with pytest.raises(RuntimeError, match="Invalid normalization mode"):
        flambeau.fft.fft(x, norm="abc")
    with pytest.raises(RuntimeError, match="Invalid number of data points"):
        flambeau.fft.fft(x, n=0)
    with pytest.raises(RuntimeError, match="Invalid number of data points"):
        flambeau.fft.fft(flambeau.ones(0))
    with pytest.raises(RuntimeError, match="expects a real input"):
        flambeau.fft.rfft(x * 1j)
    with pytest.raises(RuntimeError, match="Unsupported dtype Half"):
        flambeau.fft.fft(x.half())
    with pytest.raises(IndexError):
        flambeau.fft.fft(x, dim=2)
    with pytest.raises(RuntimeError, match="same length"):
        flambeau.fft.fft2(flambeau.ones(2, 3), s=(2,), dim=(0, 1))
    with pytest.raises(RuntimeError, match="Invalid number of data points"):
        flambeau.fft.irfft(flambeau.ones(1, dtype=flambeau.complex64))


@pytest.mark.parametrize("n", [1, 2, 5, 8])
@pytest.mark.parametrize("d", [1.0, 0.1])
def test_fftfreq(n, d):
    assert_same(flambeau.fft.fftfreq(n, d), torch.fft.fftfreq(n, d), tol=(0, 0))
    assert_same(flambeau.fft.rfftfreq(n, d), torch.fft.rfftfreq(n, d), tol=(0, 0))
    assert_same(flambeau.fft.fftfreq(n, d, dtype=flambeau.float64), torch.fft.fftfreq(n, d, dtype=torch.float64),
                tol=(0, 0))


def test_fftshift():
    a = crand((4, 5, 3), "complex64")
    t, f = both(a)
    for dim in (None, 0, 1, (0, 2), -1):
        assert_same(flambeau.fft.fftshift(f, dim), torch.fft.fftshift(t, dim))
        assert_same(flambeau.fft.ifftshift(f, dim), torch.fft.ifftshift(t, dim))
    r = crand((7,), "float32")
    assert_same(flambeau.fft.fftshift(flambeau.tensor(r)), torch.fft.fftshift(torch.tensor(r)))


def test_gradcheck_finite_differences_complex128():
    # A real loss of complex input through fft, irfft and rfft: autograd's gradient against central
    # differences of dL/dx + i dL/dy (PyTorch's convention).
    a = crand((6,), "complex128")
    w = flambeau.tensor(crand((6,), "complex128"))

    def loss(z):
        y = flambeau.fft.fft(z * w, norm="ortho")
        r = flambeau.fft.irfft(y[:4], n=7)
        return (flambeau.fft.rfft(r * r).abs() ** 2).sum() + y.real.sum()

    z = flambeau.tensor(a, requires_grad=True)
    (g,) = flambeau.autograd.grad(loss(z), z)
    eps = 1e-6
    num = np.zeros_like(a)
    for i in range(a.size):
        for unit in (1, 1j):
            zp, zm = a.copy(), a.copy()
            zp[i] += eps * unit
            zm[i] -= eps * unit
            num[i] += unit * (float(loss(flambeau.tensor(zp))) - float(loss(flambeau.tensor(zm)))) / (2 * eps)
    np.testing.assert_allclose(g.numpy(), num, rtol=1e-6, atol=1e-6)


def test_spectral_loss_gradients_match_pytorch():
    x = crand((2, 32), "float32")
    y = crand((2, 32), "float32")
    fcheck(lambda a, b: (torch.fft.rfft(a) - torch.fft.rfft(b)).abs().mean(),
           lambda a, b: (flambeau.fft.rfft(a) - flambeau.fft.rfft(b)).abs().mean(), [x, y])


# ---------------------------------------------------------------- stft / istft
STFT_CASES = [dict(n_fft=16), dict(n_fft=16, hop_length=5), dict(n_fft=15, win_length=11, hop_length=3),
              dict(n_fft=16, center=False), dict(n_fft=16, normalized=True), dict(n_fft=16, onesided=False),
              dict(n_fft=12, pad_mode="constant"), dict(n_fft=8, hop_length=8)]


@pytest.mark.parametrize("kw", STFT_CASES)
@pytest.mark.parametrize("window", [None, "hann"])
def test_stft(kw, window):
    x = crand((2, 67), "float64")
    wt = torch.hann_window(kw.get("win_length", kw["n_fft"]), dtype=torch.float64) if window else None
    wf = flambeau.hann_window(kw.get("win_length", kw["n_fft"]), dtype=flambeau.float64) if window else None
    fcheck(lambda a: torch.stft(a, window=wt, return_complex=True, **kw),
           lambda a: flambeau.stft(a, window=wf, return_complex=True, **kw), [x])
    fcheck(lambda a: torch.stft(a[0], window=wt, return_complex=True, **kw),
           lambda a: flambeau.stft(a[0], window=wf, return_complex=True, **kw), [x])


def test_stft_float32_and_real_output():
    x = crand((3, 100), "float32")
    w_t, w_f = torch.hann_window(32), flambeau.hann_window(32)
    fcheck(lambda a: torch.stft(a, 32, 8, window=w_t, return_complex=True),
           lambda a: flambeau.stft(a, 32, 8, window=w_f, return_complex=True), [x])
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torch.stft(torch.tensor(x), 32, 8, window=w_t, return_complex=False)
    assert_same(flambeau.stft(flambeau.tensor(x), 32, 8, window=w_f, return_complex=False), ref,
                tol=FFT_TOL["float32"])
    with pytest.raises(RuntimeError, match="return_complex"):
        flambeau.stft(flambeau.tensor(x), 32)


@pytest.mark.parametrize("kw", [dict(n_fft=16), dict(n_fft=16, hop_length=5), dict(n_fft=15, win_length=11, hop_length=3),
                                dict(n_fft=16, normalized=True), dict(n_fft=16, length=60), dict(n_fft=16, length=75)])
def test_istft(kw):
    x = crand((2, 67), "float64")
    n_fft = kw["n_fft"]
    win = kw.get("win_length", n_fft)
    wt, wf = torch.hann_window(win, dtype=torch.float64), flambeau.hann_window(win, dtype=flambeau.float64)
    skw = {k: v for k, v in kw.items() if k != "length"}
    spec = torch.stft(torch.tensor(x), window=wt, return_complex=True, **skw).numpy()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fcheck(lambda s: torch.istft(s, window=wt, **kw), lambda s: flambeau.istft(s, window=wf, **kw), [spec])
    # stft -> istft reconstructs the signal
    if "length" not in kw:
        rec = flambeau.istft(flambeau.stft(flambeau.tensor(x), window=wf, return_complex=True, **skw), window=wf,
                             length=67, **skw)
        np.testing.assert_allclose(rec.numpy(), x, atol=1e-10)


def test_istft_two_sided_and_complex_output():
    x = crand((40,), "complex128")
    wt, wf = torch.hann_window(8, dtype=torch.float64), flambeau.hann_window(8, dtype=flambeau.float64)
    spec = torch.stft(torch.tensor(x), 8, 2, window=wt, return_complex=True).numpy()
    fcheck(lambda s: torch.istft(s, 8, 2, window=wt, return_complex=True),
           lambda s: flambeau.istft(s, 8, 2, window=wf, return_complex=True), [spec])
    fcheck(lambda s: torch.stft(s, 8, 2, window=wt, return_complex=True),
           lambda s: flambeau.stft(s, 8, 2, window=wf, return_complex=True), [x])
