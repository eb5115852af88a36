"""Script parity: time-series forecasting and 1-D audio classification, run with PyTorch and with flambeau from
the same weights on the same synthetic data.

- forecasting: sliding windows cut from noisy sines with unfold, z-scored; an LSTM seq2one regressor
  (last hidden state -> Linear) trained with MSE and an Adam + StepLR schedule, then autoregressive
  multi-step forecasting; a GRU over variable-length series through pack_padded_sequence
  (enforce_sorted=False) / pad_packed_sequence, HuberLoss, gradient clipping;
- audio: the torchaudio tutorial's M5 net (Conv1d with a large stride, BatchNorm1d, MaxPool1d,
  avg_pool1d over the remaining time, log_softmax + nll_loss) on synthetic tones of three pitches, and a
  hand-made log-power spectrogram (framing with unfold, a Hann window, a real DFT as a matmul) into a
  small Conv1d classifier.
"""
import math

import numpy as np
import torch

from script_parity import assert_records_close, numpy_state, run_both_checked
from script_parity import load_numpy_state as load_state
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


class _LSTMForecaster:
    @staticmethod
    def build(nn):
        class Forecaster(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = nn.LSTM(input_size=2, hidden_size=12, num_layers=2, batch_first=True, dropout=0.0)
                self.head = nn.Linear(12, 1)

            def forward(self, x):
                out, (h, c) = self.lstm(x)
                return self.head(out[:, -1, :]), h
        return Forecaster()


def lstm_forecast_script(lib, state, series):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    s = torch.from_numpy(series)  # (T, 2): target and a covariate
    mean, std = s.mean(0), s.std(0)
    z = (s - mean) / std
    window = 10
    wins = z.unfold(0, window + 1, 1).permute(0, 2, 1)  # (N, window+1, 2)
    x, y = wins[:, :-1, :], wins[:, -1, :1]
    model = _LSTMForecaster.build(nn)
    load_state(lib, model, state)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    loader = lib.data.DataLoader(lib.data.TensorDataset(x, y), batch_size=8, shuffle=False)
    rec = {"loss": [], "lr": [], "h_shape": None, "stats": [mean, std]}
    for epoch in range(3):
        for xb, yb in loader:
            pred, h = model(xb)
            loss = F.mse_loss(pred, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec["loss"].append(loss.item())
        sched.step()
        rec["lr"].append(sched.get_last_lr()[0])
    rec["h_shape"] = tuple(h.shape)
    model.eval()
    with torch.no_grad():  # autoregressive forecast of 5 steps, covariate held at its last value
        ctx = z[-window:].clone().unsqueeze(0)
        preds = []
        for _ in range(5):
            p, _ = model(ctx)
            preds.append(p.squeeze())
            nxt = torch.cat([p, ctx[:, -1:, 1]], dim=1).unsqueeze(1)
            ctx = torch.cat([ctx[:, 1:], nxt], dim=1)
        rec["forecast"] = torch.stack(preds) * std[0] + mean[0]
    rec["grads"] = {k: p.grad for k, p in model.named_parameters()}
    return rec


def test_lstm_seq2one_forecasting():
    rng = np.random.default_rng(60)
    t = np.arange(60)
    series = np.stack([np.sin(t / 4.0) * 3 + 10 + rng.normal(0, 0.2, 60), np.cos(t / 7.0)], 1).astype(np.float32)
    rt, rf = run_both_checked(lstm_forecast_script, numpy_state(_LSTMForecaster.build(torch.nn)), series)
    assert_records_close(rf, rt, atol=3e-5, rtol=3e-4)


class _GRUModel:
    @staticmethod
    def build(torch, nn):
        class PackedGRU(nn.Module):
            def __init__(self):
                super().__init__()
                self.gru = nn.GRU(1, 8, batch_first=True, bidirectional=True)
                self.head = nn.Linear(16, 1)

            def forward(self, x, lengths):
                packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
                out, h = self.gru(packed)
                padded, out_lens = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
                last = torch.cat([h[0], h[1]], dim=1)  # final forward and backward states
                return self.head(last).squeeze(-1), padded, out_lens
        return PackedGRU()


def packed_gru_script(lib, state, seqs, targets):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    model = _GRUModel.build(torch, nn)
    load_state(lib, model, state)
    xs = [torch.from_numpy(s).unsqueeze(-1) for s in seqs]
    lengths = torch.tensor([len(s) for s in seqs])
    x = nn.utils.rnn.pad_sequence(xs, batch_first=True)
    y = torch.from_numpy(targets)
    crit = nn.HuberLoss(delta=0.5)
    opt = optim.RMSprop(model.parameters(), lr=5e-3)
    rec = {"loss": [], "gnorm": []}
    for step in range(5):
        pred, padded, out_lens = model(x, lengths)
        loss = crit(pred, y)
        opt.zero_grad()
        loss.backward()
        rec["gnorm"].append(nn.utils.clip_grad_norm_(model.parameters(), 1.0))
        opt.step()
        rec["loss"].append(loss.item())
    rec["out_lens"] = out_lens
    rec["padded"] = padded.detach()
    rec["pad_is_zero"] = bool((padded[0, int(lengths[0]):] == 0).all()) if int(lengths[0]) < x.shape[1] else True
    packed = nn.utils.rnn.pack_sequence(xs, enforce_sorted=False)
    rec["batch_sizes"] = packed.batch_sizes
    rec["sorted_indices"] = packed.sorted_indices
    return rec


def test_gru_packed_variable_length():
    rng = np.random.default_rng(61)
    lens = [7, 3, 5, 9, 4, 6]
    seqs = [np.cumsum(rng.normal(0, 1, n)).astype(np.float32) for n in lens]
    targets = np.array([s[-1] + 0.5 * s.mean() for s in seqs], dtype=np.float32)
    rt, rf = run_both_checked(packed_gru_script, numpy_state(_GRUModel.build(torch, torch.nn)), seqs, targets)
    assert_records_close(rf, rt, atol=3e-5, rtol=3e-4)


# ---------------------------------------------------------------- audio
def _tones(rng, n_per_class=4, sr=800, dur=1.0):
    t = np.arange(int(sr * dur)) / sr
    X, Y = [], []
    for label, f0 in enumerate((55.0, 110.0, 220.0)):
        for _ in range(n_per_class):
            phase = rng.uniform(0, 2 * np.pi)
            wave = np.sin(2 * np.pi * f0 * t + phase) + 0.3 * np.sin(4 * np.pi * f0 * t) + rng.normal(0, 0.3, t.size)
            X.append(wave * rng.uniform(0.5, 1.5))
            Y.append(label)
    return np.array(X, dtype=np.float32)[:, None, :], np.array(Y, dtype=np.int64)


def _m5(nn, n_input=1, n_output=3, stride=8, n_channel=8):
    class M5(nn.Module):
        def __init__(self):
            super().__init__()
            # the tutorial's convs have biases; here they are off, because before a BatchNorm their true
            # gradient is 0 and Adam turns the rounding noise in it into full-size, library-dependent steps
            self.conv1 = nn.Conv1d(n_input, n_channel, kernel_size=40, stride=stride, bias=False)
            self.bn1 = nn.BatchNorm1d(n_channel)
            self.pool1 = nn.MaxPool1d(4)
            self.conv2 = nn.Conv1d(n_channel, n_channel, kernel_size=3, bias=False)
            self.bn2 = nn.BatchNorm1d(n_channel)
            self.pool2 = nn.MaxPool1d(2)
            self.conv3 = nn.Conv1d(n_channel, 2 * n_channel, kernel_size=3, padding="same", bias=False)
            self.bn3 = nn.BatchNorm1d(2 * n_channel)
            self.fc1 = nn.Linear(2 * n_channel, n_output)

        def forward(self, x, F):
            x = self.pool1(F.relu(self.bn1(self.conv1(x))))
            x = self.pool2(F.relu(self.bn2(self.conv2(x))))
            x = F.relu(self.bn3(self.conv3(x)))
            x = F.avg_pool1d(x, x.shape[-1])
            x = self.fc1(x.permute(0, 2, 1))
            return F.log_softmax(x, dim=2)
    return M5()


def m5_script(lib, state, X, Y):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    model = _m5(nn)
    load_state(lib, model, state)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-4)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
    loader = lib.data.DataLoader(lib.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y)), batch_size=4)
    rec = {"n_params": n_params, "loss": [], "correct": []}
    for epoch in range(3):
        model.train()
        for data, target in loader:
            output = model(data, F)
            loss = F.nll_loss(output.squeeze(), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec["loss"].append(loss.item())
        sched.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for data, target in loader:
                pred = model(data, F).argmax(dim=-1)
                correct += pred.squeeze().eq(target).sum().item()
        rec["correct"].append(correct)
    return rec


def test_m5_raw_waveform_classifier():
    rng = np.random.default_rng(62)
    X, Y = _tones(rng)
    rt, rf = run_both_checked(m5_script, numpy_state(_m5(torch.nn)), X, Y)
    assert_records_close(rf, rt, atol=3e-5, rtol=3e-4)


def _spec_net(nn):
    return nn.Sequential(nn.Conv1d(17, 12, 3, padding=1), nn.BatchNorm1d(12), nn.ReLU(),
                         nn.AdaptiveMaxPool1d(4), nn.Flatten(), nn.Dropout(0.0), nn.Linear(48, 3))


def spectrogram_script(lib, state, X, Y):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    n_fft, hop = 32, 16
    wave = torch.from_numpy(X).squeeze(1)
    wave = F.pad(wave.unsqueeze(1), (n_fft // 2, n_fft // 2), mode="reflect").squeeze(1)  # center=True
    frames = wave.unfold(-1, n_fft, hop)  # (B, frames, n_fft)
    window = torch.hann_window(n_fft, periodic=True)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float32).unsqueeze(1)
    n = torch.arange(n_fft, dtype=torch.float32).unsqueeze(0)
    ang = 2 * math.pi * k * n / n_fft
    re = (frames * window) @ torch.cos(ang).T
    im = -(frames * window) @ torch.sin(ang).T
    power = re ** 2 + im ** 2
    logspec = torch.log10(power.clamp_min(1e-10)).transpose(1, 2)  # (B, freq, time)
    logspec = (logspec - logspec.mean(dim=(1, 2), keepdim=True)) / logspec.std(dim=(1, 2), keepdim=True)
    model = _spec_net(nn)
    load_state(lib, model, state)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    y = torch.from_numpy(Y)
    rec = {"spec": logspec, "loss": []}
    for step in range(5):
        loss = F.cross_entropy(model(logspec), y, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec["loss"].append(loss.item())
    rec["peak_bins"] = power.mean(1).argmax(-1)
    return rec


def test_handmade_spectrogram_classifier():
    rng = np.random.default_rng(63)
    X, Y = _tones(rng, n_per_class=3, sr=400, dur=0.5)
    rt, rf = run_both_checked(spectrogram_script, numpy_state(_spec_net(torch.nn)), X, Y)
    assert_records_close(rf, rt, atol=5e-5, rtol=5e-4)
