"""Script parity: a Transformer-encoder text classifier (the pattern of PyTorch's "language modeling with
nn.Transformer" and text-classification tutorials): Embedding scaled by sqrt(d_model), a sinusoidal positional
encoding kept in a register_buffer, nn.TransformerEncoder over nn.TransformerEncoderLayer(batch_first=True,
norm_first=...), src_key_padding_mask from padded token ids, masked mean pooling, AdamW with a LambdaLR linear
warm-up + cosine decay, CrossEntropyLoss(label_smoothing=0.1), clip_grad_norm_, accuracy under no_grad.

Runs with PyTorch and with flambeau from the same initial weights and data; losses, learning rates, logits and
gradients are compared step by step. Dropout is 0 for the parity run (the masks are random)."""
import math

import numpy as np
import pytest

from script_parity import FLAMBEAU, TORCH, assert_records_close, load_numpy_state, numpy_state, to_np
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)

PAD = 0


def synthetic_dataset(rng, n=48, vocab=30, max_len=11):
    """Variable-length token sequences; the label says whether token 3 occurs more often than token 4 (so
    the model must look at the whole sequence); padded on the right with PAD."""
    seqs, labels = [], []
    for _ in range(n):
        length = rng.integers(3, max_len + 1)
        s = rng.integers(1, vocab, size=length)
        seqs.append(s)
        labels.append(int((s == 3).sum() > (s == 4).sum()) + int(length > 7))  # 3 classes
    tokens = np.full((n, max_len), PAD, np.int64)
    for i, s in enumerate(seqs):
        tokens[i, :len(s)] = s
    return tokens, np.array(labels, np.int64)


def run(lib, tokens, labels, norm_first, init_state=None, steps=8, dropout=0.0, use_sdpa_fast_path=False):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim

    class PositionalEncoding(nn.Module):
        def __init__(self, d_model, dropout=0.1, max_len=5000):
            super().__init__()
            self.dropout = nn.Dropout(p=dropout)
            position = torch.arange(max_len).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
            pe = torch.zeros(1, max_len, d_model)
            pe[0, :, 0::2] = torch.sin(position * div_term)
            pe[0, :, 1::2] = torch.cos(position * div_term)
            self.register_buffer("pe", pe, persistent=False)

        def forward(self, x):
            """x: (batch, seq_len, d_model)"""
            x = x + self.pe[:, :x.size(1)]
            return self.dropout(x)

    class TransformerClassifier(nn.Module):
        def __init__(self, ntoken, d_model, nhead, d_hid, nlayers, nclass, dropout=0.5, norm_first=False):
            super().__init__()
            self.model_type = "Transformer"
            self.embedding = nn.Embedding(ntoken, d_model, padding_idx=PAD)
            self.pos_encoder = PositionalEncoding(d_model, dropout, max_len=64)
            encoder_layers = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=d_hid, dropout=dropout,
                                                        activation="gelu", batch_first=True, norm_first=norm_first)
            self.transformer_encoder = nn.TransformerEncoder(encoder_layers, nlayers)
            self.d_model = d_model
            self.norm = nn.LayerNorm(d_model)
            self.classifier = nn.Linear(d_model, nclass)
            self.init_weights()

        def init_weights(self):
            initrange = 0.1
            self.embedding.weight.data.uniform_(-initrange, initrange)
            self.classifier.bias.data.zero_()
            self.classifier.weight.data.uniform_(-initrange, initrange)

        def forward(self, src):
            padding_mask = src == PAD  # (batch, seq): True where padded
            x = self.embedding(src) * math.sqrt(self.d_model)
            x = self.pos_encoder(x)
            x = self.transformer_encoder(x, src_key_padding_mask=padding_mask)
            keep = (~padding_mask).unsqueeze(-1).type_as(x)
            pooled = (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
            return self.classifier(self.norm(pooled))

    model = TransformerClassifier(30, 32, 4, 64, 2, 3, dropout=dropout, norm_first=norm_first)
    assert "pos_encoder.pe" not in model.state_dict()  # persistent=False
    assert any(n == "pos_encoder.pe" for n, _ in model.named_buffers())
    if init_state is not None:
        load_numpy_state(lib, model, init_state)
    start_state = numpy_state(model)

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "norm" in name or name.endswith(".bias") else decay).append(p)
    optimizer = optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.98), eps=1e-9)
    warmup, total = 3, steps

    def lr_lambda(step):
        if step < warmup:
            return float(step + 1) / float(max(1, warmup))
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

    scheduler = optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

    X, Y = torch.from_numpy(tokens), torch.from_numpy(labels)
    dataset = torch.utils.data.TensorDataset(X, Y)
    loader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=False)
    rec = {"loss": [], "lr": [], "grad_norm": [], "emb_grad_pad_row": []}
    model.train()
    step = 0
    while step < steps:
        for xb, yb in loader:
            if step == steps:
                break
            optimizer.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = criterion(logits, yb)
            loss.backward()
            rec["emb_grad_pad_row"].append(to_np(model.embedding.weight.grad[PAD]))
            gn = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
            scheduler.step()
            rec["loss"].append(loss.item())
            rec["lr"].append([g["lr"] for g in optimizer.param_groups])
            rec["grad_norm"].append(gn.item())
            step += 1

    model.eval()
    with torch.no_grad():
        logits = model(X)
        pred = logits.argmax(dim=-1)
        acc = (pred == Y).float().mean().item()
        probs = F.softmax(logits, dim=-1)
    rec["eval_logits"] = to_np(logits)
    rec["pred"] = to_np(pred)
    rec["acc"] = acc
    rec["probs_sum"] = to_np(probs.sum(-1))
    # Padding must not change the output: the same sequence with more PAD columns classifies the same.
    with torch.no_grad():
        wider = torch.cat([X[:4], torch.zeros(4, 5, dtype=torch.long)], dim=1)
        rec["pad_invariance"] = to_np((model(wider) - model(X[:4])).abs().max())
        # The raw encoder output in inference (PyTorch's nested-tensor path writes 0 at padded positions).
        h = model.pos_encoder(model.embedding(X[:6]) * math.sqrt(model.d_model))
        rec["encoder_out_eval"] = to_np(model.transformer_encoder(h, src_key_padding_mask=X[:6] == PAD))
    rec["final_state"] = numpy_state(model)
    # The key projection's bias has an exactly-zero true gradient (it adds the same q.b_k to every score of a
    # query, and softmax ignores that); what either library computes there is rounding noise, which Adam then
    # scales up to +-lr steps. It cannot affect any output, so it is left out of the comparison.
    for name, v in rec["final_state"].items():
        if name.endswith("self_attn.in_proj_bias"):
            v[32:64] = 0.0
    return rec, start_state


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_classifier_training_matches_torch(norm_first):
    rng = np.random.default_rng(2)
    tokens, labels = synthetic_dataset(rng)
    want, state = run(TORCH, tokens, labels, norm_first)
    got, _ = run(FLAMBEAU, tokens, labels, norm_first, init_state=state)
    assert float(want["pad_invariance"]) < 1e-4
    assert_records_close(got, want, atol=1e-4, rtol=1e-3)


def test_positional_encoding_buffer_follows_the_module():
    """register_buffer(persistent=False): not in state_dict, moved by .to(), kept by .double()."""
    import flambeau
    import torch
    for lib in (torch, flambeau):
        m = lib.nn.Module()
        m.register_buffer("pe", lib.zeros(1, 4, 6), persistent=False)
        m.register_buffer("kept", lib.ones(2))
        assert list(m.state_dict()) == ["kept"]
        m = m.double()
        assert m.pe.dtype == lib.float64 and m.kept.dtype == lib.float64
        assert [n for n, _ in m.named_buffers()] == ["pe", "kept"]
