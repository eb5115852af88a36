"""Script parity: a miniature BERT pre-trained with masked language modelling, written the way Hugging Face's
modeling_bert.py and its run_mlm example are: position_ids / token_type_ids buffers (persistent=False) sliced in
forward, LayerNorm(eps=1e-12), an extended additive attention mask (1.0 - mask[:, None, None, :]) *
finfo(dtype).min, attention scores with torch.matmul and transpose_for_scores (view + permute), the tanh GELU
written out, a pooler, an MLM head whose decoder weight is tied to the word embeddings with its own bias
Parameter, _init_weights with normal_(std=0.02) / zero_ / fill_, CrossEntropyLoss over -100-masked labels, AdamW
with the ["bias", "LayerNorm.weight"] no-decay groups, get_linear_schedule_with_warmup as a LambdaLR, gradient
accumulation and clip_grad_norm_. The MLM masks are drawn once in numpy (80/10/10) so both libraries see the same.

Runs with PyTorch and with flambeau from the same initial weights and data; losses, learning rates, gradient norms
and predictions are compared step by step. Dropout is 0 for the parity run."""
import math

import numpy as np

from script_parity import FLAMBEAU, TORCH, assert_records_close, load_numpy_state, numpy_state, to_np
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)

VOCAB, PAD, CLS, SEP, MASK = 50, 0, 1, 2, 3


class Config:
    vocab_size = VOCAB
    hidden_size = 32
    num_hidden_layers = 2
    num_attention_heads = 4
    intermediate_size = 64
    max_position_embeddings = 24
    type_vocab_size = 2
    hidden_dropout_prob = 0.0
    attention_probs_dropout_prob = 0.0
    layer_norm_eps = 1e-12
    initializer_range = 0.02
    pad_token_id = PAD


def build(lib, config):
    torch, nn = lib.torch, lib.nn

    class NewGELUActivation(nn.Module):
        def forward(self, input):
            return 0.5 * input * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (input + 0.044715 * torch.pow(input, 3.0))))

    class BertEmbeddings(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
            self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
            self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
            self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)),
                                 persistent=False)
            self.register_buffer("token_type_ids", torch.zeros(self.position_ids.size(), dtype=torch.long),
                                 persistent=False)

        def forward(self, input_ids=None, token_type_ids=None, position_ids=None, past_key_values_length=0):
            input_shape = input_ids.size()
            seq_length = input_shape[1]
            if position_ids is None:
                position_ids = self.position_ids[:, past_key_values_length:seq_length + past_key_values_length]
            if token_type_ids is None:
                buffered_token_type_ids = self.token_type_ids[:, :seq_length]
                token_type_ids = buffered_token_type_ids.expand(input_shape[0], seq_length)
            embeddings = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
            embeddings += self.position_embeddings(position_ids)
            embeddings = self.LayerNorm(embeddings)
            return self.dropout(embeddings)

    class BertSelfAttention(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.num_attention_heads = config.num_attention_heads
            self.attention_head_size = int(config.hidden_size / config.num_attention_heads)
            self.all_head_size = self.num_attention_heads * self.attention_head_size
            self.query = nn.Linear(config.hidden_size, self.all_head_size)
            self.key = nn.Linear(config.hidden_size, self.all_head_size)
            self.value = nn.Linear(config.hidden_size, self.all_head_size)
            self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

        def transpose_for_scores(self, x):
            new_x_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)
            x = x.view(new_x_shape)
            return x.permute(0, 2, 1, 3)

        def forward(self, hidden_states, attention_mask=None):
            query_layer = self.transpose_for_scores(self.query(hidden_states))
            key_layer = self.transpose_for_scores(self.key(hidden_states))
            value_layer = self.transpose_for_scores(self.value(hidden_states))
            attention_scores = torch.matmul(query_layer, key_layer.transpose(-1, -2))
            attention_scores = attention_scores / math.sqrt(self.attention_head_size)
            if attention_mask is not None:
                attention_scores = attention_scores + attention_mask
            attention_probs = nn.functional.softmax(attention_scores, dim=-1)
            attention_probs = self.dropout(attention_probs)
            context_layer = torch.matmul(attention_probs, value_layer)
            context_layer = context_layer.permute(0, 2, 1, 3).contiguous()
            new_context_layer_shape = context_layer.size()[:-2] + (self.all_head_size,)
            return context_layer.view(new_context_layer_shape), attention_probs

    class BertSelfOutput(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.dense = nn.Linear(config.hidden_size, config.hidden_size)
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)

        def forward(self, hidden_states, input_tensor):
            hidden_states = self.dropout(self.dense(hidden_states))
            return self.LayerNorm(hidden_states + input_tensor)

    class BertLayer(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.attention = nn.ModuleDict({"self": BertSelfAttention(config), "output": BertSelfOutput(config)})
            self.intermediate = nn.Sequential(nn.Linear(config.hidden_size, config.intermediate_size),
                                              NewGELUActivation())
            self.output = BertSelfOutput.__new__(BertSelfOutput)
            nn.Module.__init__(self.output)
            self.output.dense = nn.Linear(config.intermediate_size, config.hidden_size)
            self.output.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.output.dropout = nn.Dropout(config.hidden_dropout_prob)

        def forward(self, hidden_states, attention_mask):
            self_out, probs = self.attention["self"](hidden_states, attention_mask)
            attention_output = self.attention["output"](self_out, hidden_states)
            layer_output = self.output(self.intermediate(attention_output), attention_output)
            return layer_output, probs

    class BertForMaskedLM(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config
            self.embeddings = BertEmbeddings(config)
            self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])
            self.pooler = nn.Sequential(nn.Linear(config.hidden_size, config.hidden_size), nn.Tanh())
            self.transform = nn.Sequential(nn.Linear(config.hidden_size, config.hidden_size), NewGELUActivation(),
                                           nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps))
            self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
            self.bias = nn.Parameter(torch.zeros(config.vocab_size))
            self.decoder.bias = self.bias
            self.apply(self._init_weights)
            self.decoder.weight = self.embeddings.word_embeddings.weight  # tie_weights

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
                if module.bias is not None:
                    module.bias.data.zero_()
            elif isinstance(module, nn.Embedding):
                module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
                if module.padding_idx is not None:
                    module.weight.data[module.padding_idx].zero_()
            elif isinstance(module, nn.LayerNorm):
                module.bias.data.zero_()
                module.weight.data.fill_(1.0)

        def get_extended_attention_mask(self, attention_mask, dtype):
            extended = attention_mask[:, None, None, :].to(dtype=dtype)
            return (1.0 - extended) * torch.finfo(dtype).min

        def forward(self, input_ids, attention_mask, labels=None):
            hidden = self.embeddings(input_ids)
            ext = self.get_extended_attention_mask(attention_mask, hidden.dtype)
            all_probs = []
            for layer in self.layer:
                hidden, probs = layer(hidden, ext)
                all_probs.append(probs)
            pooled = self.pooler(hidden[:, 0])
            prediction_scores = self.decoder(self.transform(hidden))
            loss = None
            if labels is not None:
                loss_fct = nn.CrossEntropyLoss()
                loss = loss_fct(prediction_scores.view(-1, self.config.vocab_size), labels.view(-1))
            return loss, prediction_scores, pooled, all_probs

    return BertForMaskedLM(config)


def make_batch_data(rng, n=32, max_len=14):
    ids = np.full((n, max_len), PAD, np.int64)
    am = np.zeros((n, max_len), np.int64)
    for i in range(n):
        length = int(rng.integers(6, max_len + 1))
        body = (int(rng.integers(4, VOCAB)) + np.arange(length - 2) * int(rng.integers(1, 3))) % (VOCAB - 4) + 4
        ids[i, :length] = np.concatenate([[CLS], body, [SEP]])
        am[i, :length] = 1
    special = (ids == CLS) | (ids == SEP) | (ids == PAD)
    masked = (rng.random(ids.shape) < 0.2) & ~special
    labels = np.where(masked, ids, -100)
    inputs = ids.copy()
    replace = masked & (rng.random(ids.shape) < 0.8)
    inputs[replace] = MASK
    rand = masked & ~replace & (rng.random(ids.shape) < 0.5)
    inputs[rand] = rng.integers(4, VOCAB, ids.shape)[rand]
    return inputs, am, labels


def run(lib, inputs, am, labels, init_state=None, steps=6, accum=2):
    torch = lib.torch
    model = build(lib, Config())
    assert model.decoder.weight is model.embeddings.word_embeddings.weight
    assert "embeddings.position_ids" not in model.state_dict()
    if init_state is not None:
        load_numpy_state(lib, model, init_state)
    start_state = numpy_state(model)

    no_decay = ["bias", "LayerNorm.weight"]
    optimizer_grouped_parameters = [
        {"params": [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)],
         "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(optimizer_grouped_parameters, lr=5e-3, eps=1e-6)

    def get_linear_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps, last_epoch=-1):
        def lr_lambda(current_step):
            if current_step < num_warmup_steps:
                return float(current_step) / float(max(1, num_warmup_steps))
            return max(0.0, float(num_training_steps - current_step) /
                       float(max(1, num_training_steps - num_warmup_steps)))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda, last_epoch)

    scheduler = get_linear_schedule_with_warmup(optimizer, 2, steps)
    X, A, Y = torch.from_numpy(inputs), torch.from_numpy(am), torch.from_numpy(labels)
    batch_size = 8
    rec = {"loss": [], "lr": [], "norm": [], "probs0": []}
    model.train()
    model.zero_grad()
    micro = 0
    for step in range(steps * accum):
        sl = slice((step * batch_size) % len(X), (step * batch_size) % len(X) + batch_size)
        batch = {"input_ids": X[sl], "attention_mask": A[sl], "labels": Y[sl]}
        loss, scores, pooled, probs = model(**batch)
        loss = loss / accum
        loss.backward()
        rec["loss"].append(loss.item())
        micro += 1
        if micro % accum == 0:
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            model.zero_grad()
            rec["norm"].append(norm.item())
            rec["lr"].append(scheduler.get_last_lr())
    rec["probs0"] = to_np(probs[0][:2])
    model.eval()
    with torch.no_grad():
        _, scores, pooled, _ = model(X[:8], A[:8])
        masked_positions = Y[:8] != -100
        rec["pred"] = to_np(scores.argmax(-1)[masked_positions])
        rec["pooled"] = to_np(pooled)
        rec["mlm_acc"] = (scores.argmax(-1)[masked_positions] == Y[:8][masked_positions]).float().mean().item()
    return rec, start_state


def test_mini_bert_mlm_matches_torch():
    inputs, am, labels = make_batch_data(np.random.default_rng(91))
    want, state = run(TORCH, inputs, am, labels)
    got, _ = run(FLAMBEAU, inputs, am, labels, init_state=state)
    assert_records_close(got, want, atol=5e-5, rtol=5e-4)
    # padded keys get no attention (finfo.min added before the softmax underflows to exactly 0)
    for b in range(2):
        assert (want["probs0"][b][..., am[b] == 0] == 0).all() and (got["probs0"][b][..., am[b] == 0] == 0).all()
