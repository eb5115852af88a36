"""Script parity for the complex and FFT features: realistic PyTorch scripts run with PyTorch and with
flambeau from the same weights and data, their records compared step by step.

- a 1-D Fourier neural operator (spectral convolution with complex weights, rfft/irfft, Adam on
  complex parameters);
- LLaMA-style rotary position embeddings (torch.polar, view_as_complex, view_as_real) in attention;
- a multi-resolution STFT loss training a small convolutional denoiser (torch.stft, hann_window).
"""
import math

import numpy as np

from script_parity import (assert_records_close, load_numpy_state, numpy_state, run_both_checked,
                           torch_single_thread)  # noqa: F401

import torch


def _fno(nn, torch_mod, modes=6, width=8):
    class SpectralConv1d(nn.Module):
        def __init__(self, cin, cout, modes):
            super().__init__()
            self.modes = modes
            scale = 1 / (cin * cout)
            self.weights = nn.Parameter(scale * torch_mod.rand(cin, cout, modes, dtype=torch_mod.cfloat))

        def forward(self, x):
            x_ft = torch_mod.fft.rfft(x)
            out_ft = torch_mod.zeros(x.shape[0], self.weights.shape[1], x.shape[-1] // 2 + 1,
                                     dtype=torch_mod.cfloat)
            out_ft[:, :, :self.modes] = torch_mod.einsum("bix,iox->box", x_ft[:, :, :self.modes], self.weights)
            return torch_mod.fft.irfft(out_ft, n=x.shape[-1])

    class FNO1d(nn.Module):
        def __init__(self):
            super().__init__()
            self.lift = nn.Linear(2, width)
            self.spec = SpectralConv1d(width, width, modes)
            self.w = nn.Conv1d(width, width, 1)
            self.proj = nn.Linear(width, 1)

        def forward(self, x):
            h = self.lift(x).permute(0, 2, 1)
            h = torch_mod.nn.functional.gelu(self.spec(h) + self.w(h))
            return self.proj(h.permute(0, 2, 1)).squeeze(-1)

    return FNO1d()


def fno_script(lib, state, X, Y):
    torch_mod = lib.torch
    model = _fno(lib.nn, torch_mod)
    load_numpy_state(lib, model, state)
    opt = lib.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch_mod.tensor(X), torch_mod.tensor(Y)
    rec = []
    for _ in range(5):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        rec.append(loss.item())
    rec.append(model.spec.weights.detach().numpy().copy())
    return rec


def test_fourier_neural_operator_1d():
    rng = np.random.default_rng(5)
    n = 32
    grid = np.linspace(0, 1, n, dtype=np.float32)
    a = rng.standard_normal((6, n)).astype(np.float32)
    X = np.stack([a, np.broadcast_to(grid, a.shape)], -1).astype(np.float32)
    Y = np.cumsum(a, -1).astype(np.float32) / n
    torch.manual_seed(0)
    state = numpy_state(_fno(torch.nn, torch))
    rt, rf = run_both_checked(fno_script, state, X, Y)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)


def _rope_attn(nn, torch_mod, dim=16, heads=2):
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(dim, 3 * dim)
            self.out = nn.Linear(dim, dim)

        def forward(self, x, freqs_cis):
            B, T, _ = x.shape
            q, k, v = self.qkv(x).view(B, T, 3, heads, dim // heads).unbind(2)
            q_ = torch_mod.view_as_complex(q.float().reshape(B, T, heads, -1, 2))
            k_ = torch_mod.view_as_complex(k.float().reshape(B, T, heads, -1, 2))
            fc = freqs_cis.view(1, T, 1, -1)
            q = torch_mod.view_as_real(q_ * fc).flatten(3)
            k = torch_mod.view_as_real(k_ * fc).flatten(3)
            att = (q.transpose(1, 2) @ k.transpose(1, 2).transpose(-1, -2)) / math.sqrt(dim // heads)
            y = att.softmax(-1) @ v.transpose(1, 2)
            return self.out(y.transpose(1, 2).reshape(B, T, dim))

    return Attn()


def rope_script(lib, state, X):
    torch_mod = lib.torch
    model = _rope_attn(lib.nn, torch_mod)
    load_numpy_state(lib, model, state)
    T, hd = X.shape[1], 16 // 2
    freqs = 1.0 / (10000 ** (torch_mod.arange(0, hd, 2)[: hd // 2].float() / hd))
    t = torch_mod.arange(T).float()
    freqs_cis = torch_mod.polar(torch_mod.ones(T, hd // 2), torch_mod.outer(t, freqs))
    opt = lib.optim.SGD(model.parameters(), lr=0.1)
    x = torch_mod.tensor(X)
    rec = [freqs_cis.numpy().copy()]
    for _ in range(3):
        opt.zero_grad()
        loss = model(x, freqs_cis).pow(2).mean()
        loss.backward()
        opt.step()
        rec.append(loss.item())
    return rec


def test_rotary_embeddings_with_polar():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((2, 6, 16)).astype(np.float32)
    state = numpy_state(_rope_attn(torch.nn, torch))
    rt, rf = run_both_checked(rope_script, state, X)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)


def _denoiser(nn):
    return nn.Sequential(nn.Conv1d(1, 8, 9, padding=4), nn.Tanh(), nn.Conv1d(8, 1, 9, padding=4))


def stft_loss_script(lib, state, X, Y):
    torch_mod = lib.torch
    model = _denoiser(lib.nn)
    load_numpy_state(lib, model, state)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch_mod.tensor(X), torch_mod.tensor(Y)

    def mr_stft_loss(a, b):
        loss = 0
        for n_fft, hop in ((64, 16), (32, 8), (16, 4)):
            w = torch_mod.hann_window(n_fft)
            sa = torch_mod.stft(a, n_fft, hop, window=w, return_complex=True).abs()
            sb = torch_mod.stft(b, n_fft, hop, window=w, return_complex=True).abs()
            loss = loss + (sa - sb).norm() / sb.norm() + (torch_mod.log(sa + 1e-7) - torch_mod.log(sb + 1e-7)).abs().mean()
        return loss

    rec = []
    for _ in range(4):
        opt.zero_grad()
        out = model(x.unsqueeze(1)).squeeze(1)
        loss = mr_stft_loss(out, y)
        loss.backward()
        opt.step()
        rec.append(loss.item())
    return rec


def test_multi_resolution_stft_loss():
    rng = np.random.default_rng(11)
    t = np.arange(256) / 256
    Y = np.stack([np.sin(2 * np.pi * f * t) for f in (5, 13, 29)]).astype(np.float32)
    X = (Y + 0.3 * rng.standard_normal(Y.shape)).astype(np.float32)
    state = numpy_state(_denoiser(torch.nn))
    rt, rf = run_both_checked(stft_loss_script, state, X, Y)
    assert_records_close(rf, rt, atol=5e-5, rtol=5e-4)
