"""Script parity for the newer PyTorch API names a current training script imports: a tiny causal
language model trained with scaled_dot_product_attention under nn.attention.sdpa_kernel(MATH) and a
lower-right CausalBias, a torch.library custom op (numpy tanh, with register_autograd) in its MLP,
torch.cond choosing a residual scale from a tensor predicate, a torch.signal.windows.hann loss
weighting, torch.compile / torch.compiler.disable / torch._dynamo.config as scripts set them; then an
evaluation pass with flex_attention (causal sliding-window block mask and an ALiBi score_mod). Run
with PyTorch and with flambeau from the same weights and data; losses, gradients' norms and outputs
must agree. (PyTorch's eager flex_attention has no CPU backward, so flex runs only in evaluation.)"""
import importlib

import numpy as np

from script_parity import FLAMBEAU, TORCH, assert_records_close, numpy_state
from script_parity import load_numpy_state as load_state
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)
from dynamo_guard import keep_torch_distribution_validation  # noqa: F401  (autouse: PyTorch's dynamo turns it off)

VOCAB, T, D, H = 11, 9, 16, 2


def _define_tanh_op(lib):
    torch = lib.torch

    @torch.library.custom_op(f"{lib.name}_script::np_tanh", mutates_args=())
    def np_tanh(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.tanh(x.detach().cpu().numpy()))

    @np_tanh.register_fake
    def _(x):
        return torch.empty_like(x)

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)

    np_tanh.register_autograd(backward, setup_context=setup_context)
    return np_tanh


_OPS = {}


def _modules(lib):
    name = lib.name
    return (importlib.import_module(f"{name}.nn.attention"), importlib.import_module(f"{name}.nn.attention.bias"),
            importlib.import_module(f"{name}.nn.attention.flex_attention"))


def build(lib):
    torch, nn, F = lib.torch, lib.nn, lib.F
    attention, bias, _ = _modules(lib)
    if lib.name not in _OPS:
        _OPS[lib.name] = _define_tanh_op(lib)
    np_tanh = _OPS[lib.name]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
            self.fc1, self.fc2 = nn.Linear(D, 2 * D), nn.Linear(2 * D, D)

        def heads(self, x):
            B = x.shape[0]
            q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)
            return [t.view(B, T, H, D // H).transpose(1, 2) for t in (q, k, v)]

        def forward(self, x):
            q, k, v = self.heads(x)
            with attention.sdpa_kernel([attention.SDPBackend.MATH]):
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.causal_lower_right(T, T))
            x = x + self.proj(y.transpose(1, 2).reshape(x.shape))
            h = np_tanh(self.fc1(self.ln2(x)))
            scale = torch.cond(h.abs().mean() > 0.5, lambda a: a * 0.5, lambda a: a * 1.5, (self.fc2(h),))
            return x + scale

    class TinyLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(VOCAB, D)
            self.block = Block()
            self.head = nn.Linear(D, VOCAB)

        def forward(self, idx):
            return self.head(self.block(self.emb(idx)))

    return TinyLM()


def script(lib, state, data):
    torch, F = lib.torch, lib.F
    _, _, flex = _modules(lib)
    model = build(lib)
    load_state(lib, model, state)
    torch._dynamo.config.cache_size_limit = 16
    compiled = torch.compile(model, backend="eager")  # PyTorch: dynamo only, no inductor build in a test
    opt = torch.optim.AdamW(compiled.parameters(), lr=3e-3, weight_decay=0.01)
    weights = torch.signal.windows.hann(T, sym=False) + 0.5

    @torch.compiler.disable
    def weighted_loss(logits, targets):
        per_token = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), reduction="none")
        return (per_token.view(-1, T) * weights).mean()

    record = {"compiling": torch.compiler.is_compiling(), "keys": sorted(compiled.state_dict())[:3],
              "loss": [], "grad_norm": []}
    for x, y in data:
        loss = weighted_loss(compiled(torch.from_numpy(x)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        record["grad_norm"].append(torch.nn.utils.clip_grad_norm_(compiled.parameters(), 1.0).item())
        opt.step()
        record["loss"].append(loss.item())

    def sliding_causal(b, h, q_idx, kv_idx):
        return (q_idx >= kv_idx) & (q_idx - kv_idx <= 3)
    slopes = torch.tensor([0.5, 0.25])

    def alibi(score, b, h, q_idx, kv_idx):
        return score + slopes[h] * (kv_idx - q_idx)
    block_mask = flex.create_block_mask(sliding_causal, None, None, T, T, device="cpu", BLOCK_SIZE=4)
    with torch.no_grad():
        q, k, v = model.block.heads(model.emb(torch.from_numpy(data[0][0])))
        out = flex.flex_attention(q, k, v, score_mod=alibi, block_mask=block_mask)
    record["flex_out"] = out
    record["block_mask"] = block_mask.to_dense()
    record["sparsity"] = block_mask.sparsity()
    return record


def test_modern_api_training_script():
    rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
    data = [(rng.integers(0, VOCAB, (3, T)).astype(np.int64), rng.integers(0, VOCAB, (3, T)).astype(np.int64))
            for _ in range(5)]
    state = numpy_state(build(TORCH))
    import warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyTorch warns that flex_attention runs uncompiled
            want = script(TORCH, state, data)
        got = script(FLAMBEAU, state, data)
    finally:  # the script sets a process-wide compiler option in both libraries: put the default back
        for lib in (TORCH, FLAMBEAU):
            lib.torch._dynamo.config.cache_size_limit = 8
    assert_records_close(got, want, atol=1e-4, rtol=1e-3)
