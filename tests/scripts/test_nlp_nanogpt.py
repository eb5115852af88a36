"""Script parity: a minimal GPT in nanoGPT's style. CausalSelfAttention written by hand (one Linear for q, k, v
split with .split, view/transpose into heads, masked_fill with a torch.tril buffer, softmax, dropout) and the
same through F.scaled_dot_product_attention(is_causal=True); LayerNorm, a GELU MLP, weight tying between the
token embedding and lm_head, model.apply(self._init_weights) with nn.init.normal_/zeros_ (and the scaled
init of c_proj), AdamW with parameter groups split by p.dim() >= 2, a cosine learning-rate schedule set by hand,
clip_grad_norm_, estimate_loss under torch.no_grad, and generate() with top-k (torch.topk and
logits[logits < v[:, [-1]]] = -float('Inf')) and torch.multinomial, plus greedy decoding.

Runs with PyTorch and with flambeau from the same initial weights and data; losses, gradients, logits and
greedy tokens are compared step by step. Dropout is 0 for the parity run."""
import math
from dataclasses import dataclass

import numpy as np
import pytest

from script_parity import FLAMBEAU, TORCH, assert_records_close, load_numpy_state, numpy_state, to_np
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


@dataclass
class GPTConfig:
    block_size: int = 16
    vocab_size: int = 37
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 32
    dropout: float = 0.0
    bias: bool = True
    flash: bool = False


def build(lib, config):
    torch, nn, F = lib.torch, lib.nn, lib.F

    class LayerNorm(nn.Module):
        """LayerNorm but with an optional bias. PyTorch doesn't support simply bias=False"""

        def __init__(self, ndim, bias):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(ndim))
            self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

        def forward(self, input):
            return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)

    class CausalSelfAttention(nn.Module):
        def __init__(self, config):
            super().__init__()
            assert config.n_embd % config.n_head == 0
            self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
            self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
            self.attn_dropout = nn.Dropout(config.dropout)
            self.resid_dropout = nn.Dropout(config.dropout)
            self.n_head = config.n_head
            self.n_embd = config.n_embd
            self.dropout = config.dropout
            self.flash = config.flash and hasattr(torch.nn.functional, "scaled_dot_product_attention")
            if not self.flash:
                self.register_buffer("bias", torch.tril(torch.ones(config.block_size, config.block_size))
                                     .view(1, 1, config.block_size, config.block_size))

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
            k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
            q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            if self.flash:
                y = torch.nn.functional.scaled_dot_product_attention(
                    q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0, is_causal=True)
            else:
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
                att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
                att = F.softmax(att, dim=-1)
                att = self.attn_dropout(att)
                y = att @ v
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            y = self.resid_dropout(self.c_proj(y))
            return y

    class MLP(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
            self.dropout = nn.Dropout(config.dropout)

        def forward(self, x):
            return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))

    class Block(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
            self.attn = CausalSelfAttention(config)
            self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
            self.mlp = MLP(config)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            x = x + self.mlp(self.ln_2(x))
            return x

    class GPT(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                ln_f=LayerNorm(config.n_embd, bias=config.bias),
            ))
            self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
            # weight tying
            self.transformer.wte.weight = self.lm_head.weight
            self.apply(self._init_weights)
            for pn, p in self.named_parameters():
                if pn.endswith("c_proj.weight"):
                    torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

        def get_num_params(self, non_embedding=True):
            n_params = sum(p.numel() for p in self.parameters())
            if non_embedding:
                n_params -= self.transformer.wpe.weight.numel()
            return n_params

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx, targets=None):
            device = idx.device
            b, t = idx.size()
            assert t <= self.config.block_size, f"Cannot forward sequence of length {t}"
            pos = torch.arange(0, t, dtype=torch.long, device=device)
            tok_emb = self.transformer.wte(idx)
            pos_emb = self.transformer.wpe(pos)
            x = self.transformer.drop(tok_emb + pos_emb)
            for block in self.transformer.h:
                x = block(x)
            x = self.transformer.ln_f(x)
            if targets is not None:
                logits = self.lm_head(x)
                loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
            else:
                logits = self.lm_head(x[:, [-1], :])  # inference: only the last position
                loss = None
            return logits, loss

        def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
            param_dict = {pn: p for pn, p in self.named_parameters()}
            param_dict = {pn: p for pn, p in param_dict.items() if p.requires_grad}
            decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
            nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
            optim_groups = [
                {"params": decay_params, "weight_decay": weight_decay},
                {"params": nodecay_params, "weight_decay": 0.0},
            ]
            num_decay_params = sum(p.numel() for p in decay_params)
            num_nodecay_params = sum(p.numel() for p in nodecay_params)
            use_fused = device_type == "cuda"
            extra_args = dict(fused=True) if use_fused else dict()
            optimizer = torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)
            return optimizer, (len(decay_params), num_decay_params, len(nodecay_params), num_nodecay_params)

        def crop_block_size(self, block_size):
            self.config.block_size = block_size
            self.transformer.wpe.weight = nn.Parameter(self.transformer.wpe.weight[:block_size])
            for block in self.transformer.h:
                if hasattr(block.attn, "bias"):
                    block.attn.bias = block.attn.bias[:, :, :block_size, :block_size]

        @torch.no_grad()
        def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, greedy=False):
            for _ in range(max_new_tokens):
                idx_cond = idx if idx.size(1) <= self.config.block_size else idx[:, -self.config.block_size:]
                logits, _ = self(idx_cond)
                logits = logits[:, -1, :] / temperature
                if top_k is not None:
                    v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                    logits[logits < v[:, [-1]]] = -float("Inf")
                probs = F.softmax(logits, dim=-1)
                if greedy:
                    idx_next = torch.argmax(probs, dim=-1, keepdim=True)
                else:
                    idx_next = torch.multinomial(probs, num_samples=1)
                idx = torch.cat((idx, idx_next), dim=1)
            return idx

    return GPT(config)


def run(lib, data, flash, init_state=None, max_iters=6):
    torch = lib.torch
    config = GPTConfig(flash=flash)
    model = build(lib, config)
    # tied: one Parameter under two names; named_parameters lists it once, state_dict under both keys
    assert model.transformer.wte.weight is model.lm_head.weight
    names = [n for n, _ in model.named_parameters()]
    assert "lm_head.weight" not in names and "transformer.wte.weight" in names
    assert "transformer.wte.weight" in model.state_dict() and "lm_head.weight" in model.state_dict()
    if init_state is not None:
        load_numpy_state(lib, model, init_state)
        assert model.transformer.wte.weight is model.lm_head.weight
    start_state = numpy_state(model)
    rec = {"num_params": model.get_num_params()}
    optimizer, rec["groups"] = model.configure_optimizers(0.1, 6e-4, (0.9, 0.95), "cpu")

    data_t = torch.from_numpy(data)
    batch_size, block_size = 4, config.block_size
    batch_rng = np.random.default_rng(3)

    def get_batch():
        ix = torch.from_numpy(batch_rng.integers(0, len(data) - block_size, size=(batch_size,)))
        x = torch.stack([data_t[i:i + block_size] for i in ix])
        y = torch.stack([data_t[i + 1:i + 1 + block_size].to(torch.int64) for i in ix])
        return x.long(), y

    warmup_iters, lr_decay_iters, learning_rate, min_lr = 2, max_iters, 6e-4, 6e-5

    def get_lr(it):
        if it < warmup_iters:
            return learning_rate * (it + 1) / (warmup_iters + 1)
        if it > lr_decay_iters:
            return min_lr
        decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
        coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
        return min_lr + coeff * (learning_rate - min_lr)

    @torch.no_grad()
    def estimate_loss(eval_iters=2):
        model.eval()
        losses = torch.zeros(eval_iters)
        for k in range(eval_iters):
            X, Y = get_batch()
            logits, loss = model(X, Y)
            losses[k] = loss.item()
        model.train()
        return losses.mean()

    rec.update(loss=[], lr=[], norm=[], wte_grad=[], eval=[])
    rec["eval"].append(estimate_loss().item())
    grad_accum = 2
    for it in range(max_iters):
        lr = get_lr(it)
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        for micro_step in range(grad_accum):
            X, Y = get_batch()
            logits, loss = model(X, Y)
            loss = loss / grad_accum
            loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        rec["wte_grad"].append(to_np(model.lm_head.weight.grad))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        rec["loss"].append(loss.item() * grad_accum)
        rec["lr"].append(lr)
        rec["norm"].append(norm.item())
    rec["eval"].append(estimate_loss().item())

    model.eval()
    start = torch.zeros((2, 1), dtype=torch.long)
    greedy = model.generate(start, 20, greedy=True)  # runs past block_size: idx_cond crops
    rec["greedy"] = to_np(greedy)
    logits, loss = model(greedy[:, :config.block_size])
    assert loss is None and tuple(logits.shape) == (2, 1, config.vocab_size)
    rec["last_logits"] = to_np(logits)
    sampled = model.generate(start, 10, temperature=0.8, top_k=5)
    assert tuple(sampled.shape) == (2, 11) and sampled.dtype == torch.long
    # every sampled token is among the top-5 of its step's logits
    with torch.no_grad():
        for t in range(1, sampled.size(1)):
            step_logits = model(sampled[:, max(0, t - config.block_size):t])[0][:, -1, :]
            top5 = torch.topk(step_logits, 5).indices
            assert bool((top5 == sampled[:, t:t + 1]).any(dim=1).all())
    model.crop_block_size(8)
    rec["cropped"] = to_np(model(greedy[:, :8])[0])
    rec["final_state"] = numpy_state(model)
    return rec, start_state


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    # a noisy repeating pattern, so the loss can fall in a few steps
    base = np.tile(np.arange(37), 12)
    noise = rng.integers(0, 37, size=base.shape)
    keep = rng.random(base.shape) < 0.8
    return np.where(keep, base, noise).astype(np.int64)


@pytest.mark.parametrize("flash", [False, True])
def test_nanogpt_matches_torch(data, flash):
    want, state = run(TORCH, data, flash)
    got, _ = run(FLAMBEAU, data, flash, init_state=state)
    assert_records_close(got, want, atol=5e-5, rtol=5e-4)
    assert want["loss"][-1] < want["loss"][0]


def test_manual_and_sdpa_attention_agree(data):
    """The hand-written attention and F.scaled_dot_product_attention(is_causal=True) are the same function:
    with the same weights, flambeau's two GPTs give the same logits and gradients."""
    import flambeau
    outs = []
    for flash in (False, True):
        flambeau.manual_seed(0)
        model = build(FLAMBEAU, GPTConfig(flash=flash))
        x = flambeau.from_numpy(data[:32].reshape(2, 16).copy())
        logits, loss = model(x, x)
        loss.backward()
        outs.append((to_np(logits), to_np(model.transformer.h[0].attn.c_attn.weight.grad)))
    np.testing.assert_allclose(outs[0][0], outs[1][0], atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(outs[0][1], outs[1][1], atol=1e-6, rtol=1e-4)


def test_top_k_masking_idiom():
    """logits[logits < v[:, [-1]]] = -inf keeps exactly the top k of each row (ties kept), as in PyTorch."""
    import flambeau
    import torch
    logits = np.random.default_rng(5).standard_normal((3, 11)).astype(np.float32)
    logits[1, 4] = logits[1, 7]  # a tie
    res = []
    for lib in (torch, flambeau):
        lg = lib.from_numpy(logits.copy())
        v, i = lib.topk(lg, 4)
        lg[lg < v[:, [-1]]] = -float("Inf")
        res.append((to_np(lg), to_np(v), to_np(i), to_np(lib.nn.functional.softmax(lg, dim=-1))))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, atol=1e-6)
