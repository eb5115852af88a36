"""Script parity: a reversible residual network trained without storing activations (the revtorch / Reformer
idiom), run with PyTorch and with flambeau from the same weights on the same data.

Each block computes y1 = x1 + f(x2), y2 = x2 + g(y1) in a custom autograd.Function that saves only its
outputs; backward reconstructs the inputs from the outputs and recomputes f and g under torch.enable_grad,
replaying the RNG state recorded in the forward (torch.get_rng_state, utils.checkpoint.get_device_states /
set_device_states, torch.random.fork_rng, torch.cuda._initialized), so dropout masks match. Checked: the
losses and gradients against PyTorch with dropout off, and, within each library, the reversible gradients
against plain autograd through the same blocks with dropout on (same seed, same masks).
"""
import numpy as np
import torch

from script_parity import FLAMBEAU, TORCH, assert_records_close, numpy_state, run_both_checked
from script_parity import load_numpy_state as load_state
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


def _build(lib, p_drop, n_blocks=2, dim=4):
    torch, nn = lib.torch, lib.nn
    from importlib import import_module
    ck = import_module(torch.__name__ + ".utils.checkpoint")

    class Deterministic(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net
            self.cpu_state = None
            self.cuda_in_fwd = None
            self.gpu_devices = None
            self.gpu_states = None

        def record_rng(self, *args):
            self.cpu_state = torch.get_rng_state()
            if torch.cuda._initialized:
                self.cuda_in_fwd = True
                self.gpu_devices, self.gpu_states = ck.get_device_states(*args)

        def forward(self, *args, record_rng=False, set_rng=False):
            if record_rng:
                self.record_rng(*args)
            if not set_rng:
                return self.net(*args)
            rng_devices = self.gpu_devices if self.cuda_in_fwd else []
            with torch.random.fork_rng(devices=rng_devices, enabled=True):
                torch.set_rng_state(self.cpu_state)
                if self.cuda_in_fwd:
                    ck.set_device_states(self.gpu_devices, self.gpu_states)
                return self.net(*args)

    class ReversibleBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.f = Deterministic(nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Dropout(p_drop)))
            self.g = Deterministic(nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.Dropout(p_drop)))

        def forward(self, x):  # plain autograd, same computation
            x1, x2 = torch.chunk(x, 2, dim=-1)
            y1 = x1 + self.f(x2, record_rng=self.training)
            y2 = x2 + self.g(y1, record_rng=self.training)
            return torch.cat([y1, y2], dim=-1)

        def backward_pass(self, y, dy):
            y1, y2 = torch.chunk(y, 2, dim=-1)
            dy1, dy2 = torch.chunk(dy, 2, dim=-1)
            with torch.enable_grad():
                y1.requires_grad = True
                gy1 = self.g(y1, set_rng=True)
                torch.autograd.backward(gy1, dy2)
            with torch.no_grad():
                x2 = y2 - gy1
                dx1 = dy1 + y1.grad
                y1.grad = None
            with torch.enable_grad():
                x2.requires_grad = True
                fx2 = self.f(x2, set_rng=True)
                torch.autograd.backward(fx2, dx1, retain_graph=True)
            with torch.no_grad():
                x1 = y1 - fx2
                dx2 = dy2 + x2.grad
                x2.grad = None
                x = torch.cat([x1, x2.detach()], dim=-1)
                dx = torch.cat([dx1, dx2], dim=-1)
            return x, dx

    class _ReversibleFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, blocks):
            ctx.blocks = blocks
            for block in blocks:
                x = block(x)
            ctx.y = x.detach()
            return x

        @staticmethod
        def backward(ctx, dy):
            y = ctx.y
            for block in ctx.blocks[::-1]:
                y, dy = block.backward_pass(y, dy)
            return dy, None

    class ReversibleSequence(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(dim, 2 * dim)  # so that the reversible part's input requires grad
            self.blocks = nn.ModuleList([ReversibleBlock() for _ in range(n_blocks)])
            self.head = nn.Linear(2 * dim, 3)

        def forward(self, x, reversible=True):
            x = self.embed(x)
            if reversible:
                x = _ReversibleFunction.apply(x, self.blocks)
            else:
                for block in self.blocks:
                    x = block(x)
            return self.head(x)

    return ReversibleSequence()


def reversible_script(lib, state, X, Y, p_drop):
    torch, F, optim = lib.torch, lib.F, lib.optim
    model = _build(lib, p_drop)
    load_state(lib, model, state)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    rec = {"loss": [], "grad_gap": []}
    for step in range(3):
        grads = {}
        for mode in (True, False):  # reversible, then plain autograd from the same RNG state
            torch.manual_seed(100 + step)
            opt.zero_grad()
            loss = F.cross_entropy(model(x, reversible=mode), y)
            loss.backward()
            grads[mode] = [p.grad.clone() for p in model.parameters()]
            if mode:
                rec["loss"].append(loss.item())
                rec["grads"] = grads[mode]
        rec["grad_gap"].append(max(float((a - b).abs().max()) for a, b in zip(grads[True], grads[False])))
        for p, g in zip(model.parameters(), grads[True]):
            p.grad = g
        opt.step()
    return rec


def test_reversible_network_parity_without_dropout():
    rng = np.random.default_rng(90)
    X = rng.standard_normal((6, 4)).astype(np.float32)
    Y = rng.integers(0, 3, 6).astype(np.int64)
    state = numpy_state(_build(TORCH, 0.0))
    rt, rf = run_both_checked(reversible_script, state, X, Y, 0.0)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)
    assert max(rf["grad_gap"]) < 1e-5


def test_reversible_gradients_replay_dropout_masks():
    rng = np.random.default_rng(91)
    X = rng.standard_normal((6, 4)).astype(np.float32)
    Y = rng.integers(0, 3, 6).astype(np.int64)
    for lib in (TORCH, FLAMBEAU):
        rec = reversible_script(lib, numpy_state(_build(TORCH, 0.3)), X, Y, 0.3)
        assert max(rec["grad_gap"]) < 1e-5, (lib.name, rec["grad_gap"])
