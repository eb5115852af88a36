"""Script parity: sequence-to-sequence with attention (the pattern of PyTorch's "Translation with a Sequence to
Sequence Network and Attention" and chatbot tutorials). Variable-length sequences batched with pad_sequence;
a bidirectional GRU encoder over pack_padded_sequence(enforce_sorted=False) / pad_packed_sequence; a GRU
decoder with additive (Bahdanau) or dot-product (Luong) attention over the source (torch.bmm, masked_fill on
source padding, softmax over the source length); teacher forcing chosen by Python's random; log_softmax +
NLLLoss(ignore_index=PAD); clip_grad_norm_; greedy decoding with topk(1) and .detach().

Runs with PyTorch and with flambeau from the same initial weights and data; losses, attention weights, gradients
and decoded tokens are compared step by step. Dropout is 0 for the parity run."""
import random

import numpy as np
import pytest

from script_parity import FLAMBEAU, TORCH, assert_records_close, load_numpy_state, numpy_state, to_np
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)

PAD, SOS, EOS = 0, 1, 2
VOCAB = 14


def synthetic_pairs(rng, n=24):
    """The 'translation' reverses the source and maps each token t to (t + 3) mod ... (a learnable rule)."""
    pairs = []
    for _ in range(n):
        length = int(rng.integers(2, 8))
        src = rng.integers(3, VOCAB, size=length)
        tgt = 3 + (src[::-1] - 3 + 2) % (VOCAB - 3)
        pairs.append((list(src) + [EOS], list(tgt) + [EOS]))
    return pairs


def run(lib, pairs, attention, init_state=None, epochs=2, hidden_size=24):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    from_lib_rnn = nn.utils.rnn

    class EncoderRNN(nn.Module):
        def __init__(self, input_size, hidden_size, dropout_p=0.0):
            super().__init__()
            self.hidden_size = hidden_size
            self.embedding = nn.Embedding(input_size, hidden_size, padding_idx=PAD)
            self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
            self.fc = nn.Linear(2 * hidden_size, hidden_size)
            self.dropout = nn.Dropout(dropout_p)

        def forward(self, input, lengths):
            embedded = self.dropout(self.embedding(input))
            packed = from_lib_rnn.pack_padded_sequence(embedded, lengths.cpu(), batch_first=True,
                                                       enforce_sorted=False)
            packed_out, hidden = self.gru(packed)
            output, out_lengths = from_lib_rnn.pad_packed_sequence(packed_out, batch_first=True,
                                                                   padding_value=0.0)
            # sum the two directions' outputs; the decoder starts from both final states
            output = output[:, :, :self.hidden_size] + output[:, :, self.hidden_size:]
            hidden = torch.tanh(self.fc(torch.cat((hidden[-2], hidden[-1]), dim=1))).unsqueeze(0)
            return output, hidden, out_lengths

    class BahdanauAttention(nn.Module):
        def __init__(self, hidden_size):
            super().__init__()
            self.Wa = nn.Linear(hidden_size, hidden_size)
            self.Ua = nn.Linear(hidden_size, hidden_size)
            self.Va = nn.Linear(hidden_size, 1)

        def forward(self, query, keys, mask):
            scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))  # (B, S, 1)
            scores = scores.squeeze(2).unsqueeze(1)  # (B, 1, S)
            scores = scores.masked_fill(mask.unsqueeze(1), -1e10)
            weights = F.softmax(scores, dim=-1)
            context = torch.bmm(weights, keys)
            return context, weights

    class DotAttention(nn.Module):
        """Luong's 'general' score: query^T W keys."""

        def __init__(self, hidden_size):
            super().__init__()
            self.W = nn.Linear(hidden_size, hidden_size, bias=False)

        def forward(self, query, keys, mask):
            scores = torch.bmm(self.W(query), keys.transpose(1, 2)) / keys.size(-1) ** 0.5  # (B, 1, S)
            scores = scores.masked_fill(mask.unsqueeze(1), float("-inf"))
            weights = scores.softmax(dim=2)
            context = weights.bmm(keys)
            return context, weights

    class AttnDecoderRNN(nn.Module):
        def __init__(self, hidden_size, output_size, attention, dropout_p=0.0):
            super().__init__()
            self.embedding = nn.Embedding(output_size, hidden_size)
            self.attention = BahdanauAttention(hidden_size) if attention == "additive" else DotAttention(hidden_size)
            self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
            self.out = nn.Linear(hidden_size, output_size)
            self.dropout = nn.Dropout(dropout_p)

        def forward(self, encoder_outputs, encoder_hidden, src_mask, target_tensor=None, teacher_forcing=0.5,
                    max_len=10):
            batch_size = encoder_outputs.size(0)
            decoder_input = torch.empty(batch_size, 1, dtype=torch.long).fill_(SOS)
            decoder_hidden = encoder_hidden
            decoder_outputs, attentions = [], []
            steps = target_tensor.size(1) if target_tensor is not None else max_len
            for i in range(steps):
                decoder_output, decoder_hidden, attn_weights = self.forward_step(
                    decoder_input, decoder_hidden, encoder_outputs, src_mask)
                decoder_outputs.append(decoder_output)
                attentions.append(attn_weights)
                if target_tensor is not None and random.random() < teacher_forcing:
                    decoder_input = target_tensor[:, i].unsqueeze(1)  # Teacher forcing
                else:
                    _, topi = decoder_output.topk(1)
                    decoder_input = topi.squeeze(-1).detach()
            decoder_outputs = torch.cat(decoder_outputs, dim=1)
            decoder_outputs = F.log_softmax(decoder_outputs, dim=-1)
            attentions = torch.cat(attentions, dim=1)
            return decoder_outputs, decoder_hidden, attentions

        def forward_step(self, input, hidden, encoder_outputs, src_mask):
            embedded = self.dropout(self.embedding(input))
            query = hidden.permute(1, 0, 2)
            context, attn_weights = self.attention(query, encoder_outputs, src_mask)
            input_gru = torch.cat((embedded, context), dim=2)
            output, hidden = self.gru(input_gru, hidden)
            output = self.out(output)
            return output, hidden, attn_weights

    def collate(batch):
        srcs = [torch.tensor(s, dtype=torch.long) for s, _ in batch]
        tgts = [torch.tensor(t, dtype=torch.long) for _, t in batch]
        lengths = torch.tensor([len(s) for s in srcs])
        src = from_lib_rnn.pad_sequence(srcs, batch_first=True, padding_value=PAD)
        tgt = from_lib_rnn.pad_sequence(tgts, batch_first=True, padding_value=PAD)
        return src, lengths, tgt

    encoder = EncoderRNN(VOCAB, hidden_size)
    decoder = AttnDecoderRNN(hidden_size, VOCAB, attention)
    if init_state is not None:
        load_numpy_state(lib, encoder, init_state[0])
        load_numpy_state(lib, decoder, init_state[1])
    start_state = (numpy_state(encoder), numpy_state(decoder))
    encoder_optimizer = optim.Adam(encoder.parameters(), lr=0.01)
    decoder_optimizer = optim.Adam(decoder.parameters(), lr=0.01)
    criterion = nn.NLLLoss(ignore_index=PAD)
    loader = torch.utils.data.DataLoader(pairs, batch_size=8, shuffle=False, collate_fn=collate)

    rec = {"loss": [], "attn": [], "enc_lengths": [], "grad_norm": [], "enc_out": []}
    random.seed(0)  # teacher forcing decisions: the same sequence for both libraries
    for epoch in range(epochs):
        encoder.train(); decoder.train()
        for src, lengths, tgt in loader:
            encoder_optimizer.zero_grad()
            decoder_optimizer.zero_grad()
            encoder_outputs, encoder_hidden, out_lengths = encoder(src, lengths)
            src_mask = src[:, :encoder_outputs.size(1)] == PAD
            decoder_outputs, _, attentions = decoder(encoder_outputs, encoder_hidden, src_mask, tgt,
                                                     teacher_forcing=0.5)
            loss = criterion(decoder_outputs.view(-1, decoder_outputs.size(-1)), tgt.view(-1))
            loss.backward()
            gn = nn.utils.clip_grad_norm_(list(encoder.parameters()) + list(decoder.parameters()), 5.0)
            encoder_optimizer.step()
            decoder_optimizer.step()
            rec["loss"].append(loss.item())
            rec["attn"].append(to_np(attentions))
            rec["enc_lengths"].append(to_np(out_lengths))
            rec["enc_out"].append(to_np(encoder_outputs))
            rec["grad_norm"].append(gn.item())
            # attention puts no weight on padded source positions and sums to 1
            a = to_np(attentions)
            assert np.allclose(a.sum(-1), 1.0, atol=1e-5)
            assert np.all(a[to_np(src_mask)[:, None, :].repeat(a.shape[1], 1)] < 1e-6)

    encoder.eval(); decoder.eval()
    with torch.no_grad():
        src, lengths, tgt = collate(pairs[:6])
        enc_out, enc_hidden, _ = encoder(src, lengths)
        dec_out, _, attn = decoder(enc_out, enc_hidden, src == PAD, max_len=9)
        _, topi = dec_out.topk(1)
        rec["decoded"] = to_np(topi.squeeze(-1))
        rec["eval_logprobs"] = to_np(dec_out)
    # unpad_sequence / pack_sequence round trip on the same batch
    seqs = from_lib_rnn.unpad_sequence(src, lengths, batch_first=True)
    rec["unpadded_lengths"] = [len(s) for s in seqs]
    packed = from_lib_rnn.pack_sequence(seqs, enforce_sorted=False)
    rec["packed_batch_sizes"] = to_np(packed.batch_sizes)
    rec["packed_sorted_indices"] = to_np(packed.sorted_indices)
    rec["packed_data"] = to_np(packed.data)
    return rec, start_state


@pytest.mark.parametrize("attention", ["additive", "dot"])
def test_seq2seq_attention_matches_torch(attention):
    pairs = synthetic_pairs(np.random.default_rng(11))
    want, state = run(TORCH, pairs, attention)
    got, _ = run(FLAMBEAU, pairs, attention, init_state=state)
    assert_records_close(got, want, atol=5e-5, rtol=5e-4)
    assert want["loss"][-1] < want["loss"][0]
