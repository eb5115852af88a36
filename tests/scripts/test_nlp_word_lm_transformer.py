"""Script parity: the Transformer language model of PyTorch's examples/word_language_model (model.py's
TransformerModel): sequence-first nn.TransformerEncoder with the causal mask built as
torch.log(torch.tril(torch.ones(sz, sz))), a PositionalEncoding buffer, init_weights with uniform_/zeros_,
log_softmax output with NLLLoss, the example's hand-written SGD with clip_grad_norm_, batchify/get_batch
with seq-first bptt slices, evaluation under no_grad, and export of the model's state_dict through a buffer.

Runs with PyTorch and with flambeau from the same initial weights and data; losses, gradient norms, outputs and
perplexities are compared step by step. Dropout is 0 for the parity run."""
import io
import math

import numpy as np

from script_parity import FLAMBEAU, TORCH, assert_records_close, load_numpy_state, numpy_state, to_np
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


def run(lib, corpus, init_state=None, steps=6):
    torch, nn, F = lib.torch, lib.nn, lib.F

    class PositionalEncoding(nn.Module):
        def __init__(self, d_model, dropout=0.1, max_len=5000):
            super(PositionalEncoding, self).__init__()
            self.dropout = nn.Dropout(p=dropout)
            pe = torch.zeros(max_len, d_model)
            position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
            pe[:, 0::2] = torch.sin(position * div_term)
            pe[:, 1::2] = torch.cos(position * div_term)
            pe = pe.unsqueeze(0).transpose(0, 1)
            self.register_buffer("pe", pe)

        def forward(self, x):
            x = x + self.pe[:x.size(0), :]
            return self.dropout(x)

    class TransformerModel(nn.Transformer):
        """Container module with an encoder, a recurrent or transformer module, and a decoder."""

        def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
            super(TransformerModel, self).__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid,
                                                   num_encoder_layers=nlayers)
            self.model_type = "Transformer"
            self.src_mask = None
            self.pos_encoder = PositionalEncoding(ninp, dropout, max_len=64)
            self.input_emb = nn.Embedding(ntoken, ninp)
            self.ninp = ninp
            self.decoder = nn.Linear(ninp, ntoken)
            # the example leaves nn.Transformer's own dropout at 0.1; the parity run needs it off everywhere
            for mod in self.modules():
                if isinstance(mod, nn.Dropout):
                    mod.p = dropout
                elif isinstance(mod, nn.MultiheadAttention):
                    mod.dropout = dropout
            self.init_weights()

        def _generate_square_subsequent_mask(self, sz):
            return torch.log(torch.tril(torch.ones(sz, sz)))

        def init_weights(self):
            initrange = 0.1
            nn.init.uniform_(self.input_emb.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

        def forward(self, src, has_mask=True):
            if has_mask:
                device = src.device
                if self.src_mask is None or self.src_mask.size(0) != len(src):
                    mask = self._generate_square_subsequent_mask(len(src)).to(device)
                    self.src_mask = mask
            else:
                self.src_mask = None
            src = self.input_emb(src) * math.sqrt(self.ninp)
            src = self.pos_encoder(src)
            output = self.encoder(src, mask=self.src_mask)
            output = self.decoder(output)
            return F.log_softmax(output, dim=-1)

    def batchify(data, bsz):
        nbatch = data.size(0) // bsz
        data = data.narrow(0, 0, nbatch * bsz)
        return data.view(bsz, -1).t().contiguous()

    bptt = 8

    def get_batch(source, i):
        seq_len = min(bptt, len(source) - 1 - i)
        data = source[i:i + seq_len]
        target = source[i + 1:i + 1 + seq_len].view(-1)
        return data, target

    ntokens = int(corpus.max()) + 1
    train_data = batchify(torch.from_numpy(corpus[:400]), 5)
    val_data = batchify(torch.from_numpy(corpus[400:]), 2)
    model = TransformerModel(ntokens, 16, 2, 32, 2, dropout=0.0)
    if init_state is not None:
        load_numpy_state(lib, model, init_state)
    start_state = numpy_state(model)
    criterion = nn.NLLLoss()
    lr = 1.0
    rec = {"loss": [], "norm": [], "first_out": None}

    def evaluate(data_source):
        model.eval()
        total_loss = 0.
        with torch.no_grad():
            for i in range(0, data_source.size(0) - 1, bptt):
                data, targets = get_batch(data_source, i)
                output = model(data)
                output = output.view(-1, ntokens)
                total_loss += len(data) * criterion(output, targets).item()
        return total_loss / (len(data_source) - 1)

    rec["val_before"] = evaluate(val_data)
    model.train()
    for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
        if batch == steps:
            break
        data, targets = get_batch(train_data, i)
        model.zero_grad()
        output = model(data)
        output = output.view(-1, ntokens)
        if rec["first_out"] is None:
            rec["first_out"] = to_np(output)
        loss = criterion(output, targets)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        rec["loss"].append(loss.item())
        rec["norm"].append(norm.item())
    val_loss = evaluate(val_data)
    rec["val_after"] = val_loss
    rec["val_ppl"] = math.exp(val_loss)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    reloaded = TransformerModel(ntokens, 16, 2, 32, 2, dropout=0.0)
    reloaded.load_state_dict(torch.load(buf))
    reloaded.eval()
    with torch.no_grad():
        rec["reloaded_out"] = to_np(reloaded(val_data[:bptt]))
        rec["no_mask_out"] = to_np(reloaded(val_data[:bptt], has_mask=False))
    rec["mask"] = to_np(model._generate_square_subsequent_mask(4))
    return rec, start_state


def test_word_language_model_transformer_matches_torch():
    rng = np.random.default_rng(111)
    corpus = np.cumsum(rng.integers(1, 4, size=520)) % 23  # a drifting sequence of 23 word ids
    want, state = run(TORCH, corpus.astype(np.int64))
    got, _ = run(FLAMBEAU, corpus.astype(np.int64), init_state=state)
    assert_records_close(got, want, atol=5e-5, rtol=5e-4)
