"""Script parity: nn.MultiheadAttention used directly (attn_mask and key_padding_mask, need_weights and
average_attn_weights), and an encoder-decoder nn.Transformer trained as in PyTorch's "Language Translation with
nn.Transformer" tutorial (TokenEmbedding * sqrt(emb), a positional-encoding buffer, masks built by create_mask
with Transformer.generate_square_subsequent_mask, xavier_uniform_ on every p.dim() > 1, CrossEntropyLoss
(ignore_index=PAD), Adam(betas=(0.9, 0.98), eps=1e-9), model.encode/decode and greedy decoding).

Runs with PyTorch and with flambeau from the same initial weights and data; outputs, attention weights, losses and
decoded tokens are compared. Dropout is 0 for the parity run."""
import math

import numpy as np
import pytest

from script_parity import FLAMBEAU, TORCH, assert_records_close, load_numpy_state, numpy_state, to_np
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)

PAD_IDX, BOS_IDX, EOS_IDX = 1, 2, 3
SRC_VOCAB, TGT_VOCAB = 17, 19


def run_mha(lib, x_np, mem_np, pad_np, init_state=None):
    torch, nn = lib.torch, lib.nn

    class CrossAttentionBlock(nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.self_attn = nn.MultiheadAttention(d, heads, dropout=0.0, batch_first=True)
            self.cross_attn = nn.MultiheadAttention(d, heads, dropout=0.0, batch_first=True, kdim=12, vdim=10)
            self.norm = nn.LayerNorm(d)

        def forward(self, x, mem, mem_v, causal, mem_pad):
            h, self_w = self.self_attn(x, x, x, attn_mask=causal, need_weights=True, average_attn_weights=False)
            x = self.norm(x + h)
            h, cross_w = self.cross_attn(x, mem, mem_v, key_padding_mask=mem_pad, need_weights=True)
            return x + h, self_w, cross_w

    block = CrossAttentionBlock(16, 4)
    if init_state is not None:
        load_numpy_state(lib, block, init_state)
    start_state = numpy_state(block)
    x = torch.from_numpy(x_np).requires_grad_()
    mem = torch.from_numpy(mem_np)
    mem_v = mem[..., :10].contiguous()
    L = x.size(1)
    causal = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=1)  # True = not allowed
    mem_pad = torch.from_numpy(pad_np)
    out, self_w, cross_w = block(x, mem, mem_v, causal, mem_pad)
    rec = {"out": to_np(out), "self_w": to_np(self_w), "cross_w": to_np(cross_w),
           "self_w_shape": tuple(self_w.shape), "cross_w_shape": tuple(cross_w.shape)}
    (out.pow(2).mean() + cross_w.sum() * 0.1).backward()
    rec["x_grad"] = to_np(x.grad)
    rec["grads"] = {n: to_np(p.grad) for n, p in block.named_parameters()}
    # the float-mask form of the same causal mask, and an additive float key-padding mask
    float_causal = torch.zeros(L, L).masked_fill(causal, float("-inf"))
    h2, w2 = block.self_attn(x, x, x, attn_mask=float_causal, average_attn_weights=True)
    rec["float_mask_out"] = to_np(h2)
    rec["float_mask_w"] = to_np(w2)
    # inference without weights (PyTorch's fast path in eval mode), self-attention with padding
    block.eval()
    with torch.no_grad():
        pad_self = torch.zeros(x.size(0), L, dtype=torch.bool)
        pad_self[0, -2:] = True
        h3, w3 = block.self_attn(x, x, x, key_padding_mask=pad_self, need_weights=False)
        assert w3 is None
        rec["eval_fast_path"] = to_np(h3)
    return rec, start_state


def test_multihead_attention_direct_use_matches_torch():
    rng = np.random.default_rng(21)
    x = rng.standard_normal((3, 5, 16)).astype(np.float32)
    mem = rng.standard_normal((3, 7, 12)).astype(np.float32)
    pad = np.zeros((3, 7), bool)
    pad[1, 5:] = True
    pad[2, 3:] = True
    want, state = run_mha(TORCH, x, mem, pad)
    got, _ = run_mha(FLAMBEAU, x, mem, pad, init_state=state)
    assert_records_close(got, want, atol=2e-5, rtol=2e-4)
    assert want["self_w_shape"] == (3, 4, 5, 5) and want["cross_w_shape"] == (3, 5, 7)


def run_translation(lib, pairs, init_state=None, steps=6, emb_size=32):
    torch, nn, F = lib.torch, lib.nn, lib.F
    from_rnn = nn.utils.rnn

    class PositionalEncoding(nn.Module):
        def __init__(self, emb_size, dropout, maxlen=100):
            super().__init__()
            den = torch.exp(- torch.arange(0, emb_size, 2) * math.log(10000) / emb_size)
            pos = torch.arange(0, maxlen).reshape(maxlen, 1)
            pos_embedding = torch.zeros((maxlen, emb_size))
            pos_embedding[:, 0::2] = torch.sin(pos * den)
            pos_embedding[:, 1::2] = torch.cos(pos * den)
            pos_embedding = pos_embedding.unsqueeze(-2)
            self.dropout = nn.Dropout(dropout)
            self.register_buffer("pos_embedding", pos_embedding)

        def forward(self, token_embedding):
            return self.dropout(token_embedding + self.pos_embedding[:token_embedding.size(0), :])

    class TokenEmbedding(nn.Module):
        def __init__(self, vocab_size, emb_size):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, emb_size)
            self.emb_size = emb_size

        def forward(self, tokens):
            return self.embedding(tokens.long()) * math.sqrt(self.emb_size)

    class Seq2SeqTransformer(nn.Module):
        def __init__(self, num_encoder_layers, num_decoder_layers, emb_size, nhead, src_vocab_size,
                     tgt_vocab_size, dim_feedforward=512, dropout=0.1):
            super().__init__()
            self.transformer = nn.Transformer(d_model=emb_size, nhead=nhead, num_encoder_layers=num_encoder_layers,
                                              num_decoder_layers=num_decoder_layers,
                                              dim_feedforward=dim_feedforward, dropout=dropout)
            self.generator = nn.Linear(emb_size, tgt_vocab_size)
            self.src_tok_emb = TokenEmbedding(src_vocab_size, emb_size)
            self.tgt_tok_emb = TokenEmbedding(tgt_vocab_size, emb_size)
            self.positional_encoding = PositionalEncoding(emb_size, dropout=dropout)

        def forward(self, src, trg, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask,
                    memory_key_padding_mask):
            src_emb = self.positional_encoding(self.src_tok_emb(src))
            tgt_emb = self.positional_encoding(self.tgt_tok_emb(trg))
            outs = self.transformer(src_emb, tgt_emb, src_mask, tgt_mask, None,
                                    src_padding_mask, tgt_padding_mask, memory_key_padding_mask)
            return self.generator(outs)

        def encode(self, src, src_mask):
            return self.transformer.encoder(self.positional_encoding(self.src_tok_emb(src)), src_mask)

        def decode(self, tgt, memory, tgt_mask):
            return self.transformer.decoder(self.positional_encoding(self.tgt_tok_emb(tgt)), memory, tgt_mask)

    def generate_square_subsequent_mask(sz):
        mask = (torch.triu(torch.ones((sz, sz))) == 1).transpose(0, 1)
        mask = mask.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1, float(0.0))
        return mask

    def create_mask(src, tgt):
        src_seq_len = src.shape[0]
        tgt_seq_len = tgt.shape[0]
        tgt_mask = generate_square_subsequent_mask(tgt_seq_len)
        src_mask = torch.zeros((src_seq_len, src_seq_len)).type(torch.bool)
        src_padding_mask = (src == PAD_IDX).transpose(0, 1)
        tgt_padding_mask = (tgt == PAD_IDX).transpose(0, 1)
        return src_mask, tgt_mask, src_padding_mask, tgt_padding_mask

    def collate_fn(batch):
        src_batch, tgt_batch = [], []
        for src_sample, tgt_sample in batch:
            src_batch.append(torch.cat([torch.tensor([BOS_IDX]), torch.tensor(src_sample), torch.tensor([EOS_IDX])]))
            tgt_batch.append(torch.cat([torch.tensor([BOS_IDX]), torch.tensor(tgt_sample), torch.tensor([EOS_IDX])]))
        src_batch = from_rnn.pad_sequence(src_batch, padding_value=PAD_IDX)
        tgt_batch = from_rnn.pad_sequence(tgt_batch, padding_value=PAD_IDX)
        return src_batch, tgt_batch

    model = Seq2SeqTransformer(2, 2, emb_size, 4, SRC_VOCAB, TGT_VOCAB, dim_feedforward=64, dropout=0.0)
    for p in model.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)
    if init_state is not None:
        load_numpy_state(lib, model, init_state)
    start_state = numpy_state(model)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=PAD_IDX)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.0005, betas=(0.9, 0.98), eps=1e-9)
    loader = torch.utils.data.DataLoader(pairs, batch_size=8, collate_fn=collate_fn)
    rec = {"loss": [], "logits": []}
    model.train()
    step = 0
    while step < steps:
        for src, tgt in loader:
            if step == steps:
                break
            tgt_input = tgt[:-1, :]
            src_mask, tgt_mask, src_padding_mask, tgt_padding_mask = create_mask(src, tgt_input)
            logits = model(src, tgt_input, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask,
                           src_padding_mask)
            optimizer.zero_grad()
            tgt_out = tgt[1:, :]
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
            loss.backward()
            optimizer.step()
            rec["loss"].append(loss.item())
            rec["logits"].append(to_np(logits[:, :2]))
            step += 1

    def greedy_decode(model, src, src_mask, max_len, start_symbol):
        memory = model.encode(src, src_mask)
        ys = torch.ones(1, 1).fill_(start_symbol).type(torch.long)
        for i in range(max_len - 1):
            tgt_mask = (generate_square_subsequent_mask(ys.size(0)).type(torch.bool))
            out = model.decode(ys, memory, tgt_mask)
            out = out.transpose(0, 1)
            prob = model.generator(out[:, -1])
            _, next_word = torch.max(prob, dim=1)
            next_word = next_word.item()
            ys = torch.cat([ys, torch.ones(1, 1).type_as(src.data).fill_(next_word)], dim=0)
            if next_word == EOS_IDX:
                break
        return ys

    model.eval()
    decoded = []
    with torch.no_grad():
        for src_sample, _ in pairs[:4]:
            src = torch.tensor([BOS_IDX] + list(src_sample) + [EOS_IDX]).view(-1, 1)
            num_tokens = src.shape[0]
            src_mask = (torch.zeros(num_tokens, num_tokens)).type(torch.bool)
            decoded.append(to_np(greedy_decode(model, src, src_mask, max_len=num_tokens + 3,
                                               start_symbol=BOS_IDX).flatten()))
        # nn.Transformer.generate_square_subsequent_mask is the float form of the tutorial's own mask
        m = nn.Transformer.generate_square_subsequent_mask(5)
        rec["mask_equal"] = bool((m == generate_square_subsequent_mask(5)).all())
    rec["decoded"] = decoded
    return rec, start_state


def test_translation_transformer_matches_torch():
    rng = np.random.default_rng(31)
    pairs = []
    for _ in range(16):
        n = int(rng.integers(2, 7))
        src = [int(t) for t in rng.integers(4, SRC_VOCAB, size=n)]
        pairs.append((src, [4 + (t * 2) % (TGT_VOCAB - 4) for t in src]))
    want, state = run_translation(TORCH, pairs)
    got, _ = run_translation(FLAMBEAU, pairs, init_state=state)
    assert want["mask_equal"]
    assert_records_close(got, want, atol=5e-5, rtol=5e-4)
    assert want["loss"][-1] < want["loss"][0]
