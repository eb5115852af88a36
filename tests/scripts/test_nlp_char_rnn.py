"""Script parity: a character-level language model (the pattern of PyTorch's word_language_model example and
Karpathy's char-rnn): Embedding -> 2-layer LSTM or GRU (dropout between layers, batch_first) -> Linear,
CrossEntropyLoss over reshaped logits, clip_grad_norm_, truncated BPTT with the hidden state detached between
batches, evaluation under no_grad (perplexity), and sampling with a softmax temperature and torch.multinomial.

The script body is `run(lib, ...)`; it runs with PyTorch and with flambeau from the same initial weights and
the same data, and the losses, gradient norms, hidden states and greedy samples are compared step by step.
Dropout is only compared in eval mode (the two libraries draw different random masks)."""
import math

import numpy as np
import pytest

from script_parity import FLAMBEAU, TORCH, assert_records_close, load_numpy_state, numpy_state, to_np
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


def synthetic_text(rng, n_chars=1200):
    """A small 'language': words from a fixed vocabulary, so there is structure to learn."""
    words = ["the", "cat", "sat", "on", "mat", "and", "dog", "ran", "to", "a", "big", "red", "hat"]
    out = []
    while sum(len(w) + 1 for w in out) < n_chars:
        out.append(words[rng.integers(len(words))])
    text = " ".join(out) + "."
    return text[:n_chars]


def run(lib, text, cell, init_state=None, dropout=0.0, steps=6, compare_eval_dropout=0.0):
    torch, nn, optim = lib.torch, lib.nn, lib.optim

    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    itos = {i: c for c, i in stoi.items()}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)

    def batchify(data, bsz):
        nbatch = data.size(0) // bsz
        data = data.narrow(0, 0, nbatch * bsz)
        return data.view(bsz, -1).contiguous()  # (bsz, T): batch_first

    class CharRNN(nn.Module):
        def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.5, rnn_type="LSTM"):
            super().__init__()
            self.ntoken = ntoken
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(ntoken, ninp)
            if rnn_type == "LSTM":
                self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout, batch_first=True)
            else:
                self.rnn = nn.GRU(ninp, nhid, num_layers=nlayers, dropout=dropout, batch_first=True)
            self.decoder = nn.Linear(nhid, ntoken)
            self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers
            self.init_weights()

        def init_weights(self):
            initrange = 0.1
            nn.init.uniform_(self.encoder.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

        def forward(self, input, hidden):
            emb = self.drop(self.encoder(input))
            output, hidden = self.rnn(emb, hidden)
            output = self.drop(output)
            decoded = self.decoder(output)
            decoded = decoded.view(-1, self.ntoken)
            return decoded, hidden

        def init_hidden(self, bsz):
            weight = next(self.parameters())
            if self.rnn_type == "LSTM":
                return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                        weight.new_zeros(self.nlayers, bsz, self.nhid))
            return weight.new_zeros(self.nlayers, bsz, self.nhid)

    def repackage_hidden(h):
        """Wraps hidden states in new Tensors, to detach them from their history."""
        if isinstance(h, torch.Tensor):
            return h.detach()
        return tuple(repackage_hidden(v) for v in h)

    bptt, batch_size, eval_batch_size = 12, 4, 2
    split = int(0.85 * len(data))
    train_data = batchify(data[:split], batch_size)
    val_data = batchify(data[split:], eval_batch_size)

    def get_batch(source, i):
        seq_len = min(bptt, source.size(1) - 1 - i)
        x = source[:, i:i + seq_len]
        y = source[:, i + 1:i + 1 + seq_len].reshape(-1)
        return x, y

    model = CharRNN(len(chars), 16, 32, 2, dropout=dropout, rnn_type=cell)
    if init_state is not None:
        load_numpy_state(lib, model, init_state)
    start_state = numpy_state(model)
    criterion = nn.CrossEntropyLoss()
    rec = {"losses": [], "grad_norms": [], "hidden": [], "logit_shapes": []}

    if cell == "LSTM":
        # word_language_model's hand-written SGD
        optimizer, lr = None, 2.0
    else:
        optimizer = optim.Adam(model.parameters(), lr=3e-3)
        scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)

    def evaluate(source):
        model.eval()
        total_loss = 0.0
        hidden = model.init_hidden(eval_batch_size)
        with torch.no_grad():
            for i in range(0, source.size(1) - 1, bptt):
                x, y = get_batch(source, i)
                output, hidden = model(x, hidden)
                hidden = repackage_hidden(hidden)
                total_loss += x.size(1) * criterion(output, y).item()
        return total_loss / (source.size(1) - 1)

    rec["val_loss_before"] = evaluate(val_data)
    model.train()
    hidden = model.init_hidden(batch_size)
    step = 0
    for batch, i in enumerate(range(0, train_data.size(1) - 1, bptt)):
        if step == steps:
            break
        x, y = get_batch(train_data, i)
        # Starting each batch, we detach the hidden state from how it was previously produced.
        hidden = repackage_hidden(hidden)
        if optimizer is None:
            model.zero_grad()
        else:
            optimizer.zero_grad()
        output, hidden = model(x, hidden)
        rec["logit_shapes"].append(tuple(output.shape))
        loss = criterion(output, y)
        loss.backward()
        total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        if optimizer is None:
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
        else:
            optimizer.step()
            scheduler.step()
        rec["losses"].append(loss.item())
        rec["grad_norms"].append(float(total_norm))
        h = hidden[0] if isinstance(hidden, tuple) else hidden
        assert not h.requires_grad or h.grad_fn is not None
        rec["hidden"].append(to_np(h))
        step += 1
    val_loss = evaluate(val_data)
    rec["val_loss_after"] = val_loss
    rec["val_ppl"] = math.exp(val_loss)
    if optimizer is not None:
        rec["last_lr"] = scheduler.get_last_lr()[0]

    # Greedy decoding is deterministic: both libraries must write the same text.
    def generate(n, temperature=None, prime=" "):
        model.eval()
        hidden = model.init_hidden(1)
        inp = torch.tensor([[stoi[prime]]], dtype=torch.long)
        out = []
        with torch.no_grad():
            for _ in range(n):
                output, hidden = model(inp, hidden)
                if temperature is None:
                    idx = int(output[-1].argmax())
                else:
                    probs = torch.softmax(output[-1] / temperature, dim=-1)
                    idx = torch.multinomial(probs, num_samples=1).item()
                out.append(itos[idx])
                inp.fill_(idx)
        return "".join(out)

    rec["greedy"] = generate(30)
    sampled = generate(40, temperature=0.8)
    assert len(sampled) == 40 and set(sampled) <= set(chars)
    # Temperature sampling is random; its distribution is checked in the library's own numbers below.
    with torch.no_grad():
        logits = model(torch.tensor([[stoi["t"]]], dtype=torch.long), model.init_hidden(1))[0][-1]
    rec["final_logits"] = to_np(logits)
    return rec, start_state, model


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_char_rnn_training_matches_torch(cell):
    rng = np.random.default_rng(0)
    text = synthetic_text(rng)
    want, state, _ = run(TORCH, text, cell)
    got, _, _ = run(FLAMBEAU, text, cell, init_state=state)
    assert_records_close(got, want, atol=5e-5, rtol=5e-4)
    assert want["losses"][-1] < want["losses"][0]


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_char_rnn_with_dropout_eval_matches_and_train_is_random(cell):
    """With dropout 0.3 between the layers, eval-mode outputs agree exactly as without; train-mode outputs are
    random (two forwards differ) and the drop rate is right."""
    import torch
    import flambeau
    rng = np.random.default_rng(1)
    text = synthetic_text(rng, 400)
    tm = (torch.nn.LSTM if cell == "LSTM" else torch.nn.GRU)(8, 16, 2, dropout=0.3, batch_first=True)
    fm = (flambeau.nn.LSTM if cell == "LSTM" else flambeau.nn.GRU)(8, 16, 2, dropout=0.3, batch_first=True)
    load_numpy_state(FLAMBEAU, fm, numpy_state(tm))
    x = rng.standard_normal((3, 7, 8)).astype(np.float32)
    tm.eval(); fm.eval()
    want = tm(torch.from_numpy(x))[0]
    got = fm(flambeau.from_numpy(x))[0]
    np.testing.assert_allclose(to_np(got), to_np(want), atol=2e-5, rtol=2e-4)
    fm.train()
    a, b = fm(flambeau.from_numpy(x))[0], fm(flambeau.from_numpy(x))[0]
    assert not np.allclose(to_np(a), to_np(b))
    # nn.Dropout's rate, as the script's self.drop applies it
    drop = flambeau.nn.Dropout(0.3)
    y = drop(flambeau.ones(200000))
    kept = to_np(y) != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(to_np(y)[kept], 1 / 0.7, rtol=1e-6)


def test_temperature_sampling_distribution():
    """softmax(logits / T) then multinomial: flambeau's sample frequencies follow the same probabilities as
    PyTorch's (the draws themselves differ: the generators are different)."""
    import torch
    import flambeau
    logits = np.array([2.0, 1.0, 0.5, -1.0, 0.0], np.float32)
    for lib in (torch, flambeau):
        lib.manual_seed(0)
        probs = lib.softmax(lib.from_numpy(logits) / 0.7, dim=-1)
        draws = lib.multinomial(probs.expand(4000, 5), num_samples=1)
        assert tuple(draws.shape) == (4000, 1) and str(draws.dtype).endswith("int64")
        freq = np.bincount(to_np(draws).ravel(), minlength=5) / 4000
        np.testing.assert_allclose(freq, to_np(probs), atol=0.03)
        one = lib.multinomial(probs, 1).item()
        assert isinstance(one, int) and 0 <= one < 5
