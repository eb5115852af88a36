"""Flambeau's CUDA kernels against PyTorch on the same GPU, side by side in one run.

    PYTHONPATH=python python3 benchmarks/bench_cuda.py                    # on the GPU machine (~2-3 min on an H100)
    PYTHONPATH=python python3 benchmarks/bench_cuda.py --out $OUT/bench_cuda.md
    PYTHONPATH=python python3 benchmarks/bench_cuda.py --only softmax,adam
    PYTHONPATH=python python3 benchmarks/bench_cuda.py --device cpu --quick   # dry run of the plumbing, no GPU

What it measures (flambeau and PyTorch on the same device, same inputs, interleaved):
  1. the ceiling: a device-to-device copy of 64M float32 (dst.copy_(src), bytes = read + write) in
     both libraries; the faster of the two is "copy BW", the denominator of every "% copy" below;
  2. memory-bound kernels, forward alone and forward+backward together (y = f(x); y.backward(g)):
     relu, gelu, sigmoid, tanh, silu, softplus on 32M elements; softmax and log_softmax over the
     last dim of [32768, 1000] and over dim=1 of [32, 21, 224, 224]; cross_entropy on [32768, 1000]
     logits with int64 targets; batch_norm (training: batch statistics) on (64, 64, 56, 56); layer_norm on
     [32768, 1024]; dropout p=0.5 forward; mse_loss;
  3. one Adam step over ~10M float32 parameters in 50 tensors of mixed sizes: fl.optim.Adam against
     torch.optim.Adam(fused=True) and (foreach=True), and our multi-tensor kernel called directly
     (flambeau.optim._fused.fused_adam_) against torch fused; the check column says whether
     fl.optim.Adam took the fused kernel or the per-parameter Python path;
  4. one training step (forward, loss, backward, SGD momentum step) of LeNet-5 on [128, 1, 28, 28]
     and ResNet-18 (CIFAR form) on [128, 3, 32, 32], 10 classes; the same model code builds both
     (`lenet5(nn)`, `resnet18(nn)` take the nn module), and ours starts from torch's weights
     (the check compares the first two steps' losses).
--quick (for --device cpu) shrinks every size (1M elements, [1024, 1000] rows, batch 4, ...).
GEMM and conv are timed by tools/verify_cuda_gemm.py and tools/verify_cuda_conv.py, not here.

Per row: ours and torch's median time, torch/ours (> 1: we are faster), our effective bandwidth and
its fraction of copy BW, and a check of our result against torch's on the same inputs (rel =
||ours - torch|| / ||torch||, max = max |ours - torch|; "BAD" when rel exceeds the row's tolerance).
Bytes are the fewest a framework must move: a forward reads each input once and writes each
output once; a backward reads grad_output and the saved tensor and writes grad_input; the
forward+backward rows count both (cross_entropy: logits read by forward and by backward, grad
written; batch_norm forward 2N: one pass, as if the statistics came for free).

Targets (the CUDA-kernels issue): memory-bound kernels >= 85% of copy BW, cross_entropy and
batch_norm >= 70%; Adam >= 1.0x torch fused. Training steps: reported, no target.

Timing (/work/.library/device/METHOD.md): warm-up calls first; both devices synchronised before
and after each timed batch of calls (host clock); each side runs n calls per round (n chosen so a
round takes ~--round-ms), rounds alternate which library goes first, and the median over rounds is
reported. Inputs are random normals (never zeros). TF32 is off in both libraries. A case that
raises prints ERROR in its row and the run goes on (a CUDA error that poisons the context will make
every later case fail too: rerun the rest with --only).
"""
import argparse
import datetime
import gc
import math
import platform
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as TF

import flambeau as fl
import flambeau.nn.functional as F
from flambeau.optim import _fused

# (quick, full) sizes; fixed so runs compare
SIZES = {
    "copy": (1 << 20, 1 << 26),
    "act": (1 << 20, 1 << 25),
    "rows": ((1024, 1000), (32768, 1000)),
    "nd": ((2, 21, 64, 64), (32, 21, 224, 224)),
    "bn": ((8, 64, 28, 28), (64, 64, 56, 56)),
    "ln": ((1024, 1024), (32768, 1024)),
    "adam": (200_000, 10_000_000),
    "batch": (4, 128),
}
F32 = 4


# ---------------------------------------------------------------- device, inputs, clocks

class Ctx:
    """The device, the random source and the two libraries' synchronisations."""

    def __init__(self, args):
        self.dev = args.device
        self.tdev = torch.device(args.device)
        self.quick = args.quick
        self.rounds = args.rounds or (3 if args.quick else 7)
        self.round_s = args.round_ms / 1e3
        self.rng = np.random.default_rng(args.seed)
        cuda = args.device == "cuda"
        self._fsync = fl.cuda.synchronize if cuda else (lambda: None)
        self._tsync = torch.cuda.synchronize if cuda else (lambda: None)
        self.copy_bw = None  # bytes/s, set by the copy case

    def size(self, key):
        return SIZES[key][0 if self.quick else 1]

    def sync(self):
        self._fsync()
        self._tsync()

    def pair(self, a, requires_grad=False):
        """The same numpy array as a flambeau and a torch tensor on the device (separate copies)."""
        a = np.ascontiguousarray(a)
        f = fl.from_numpy(a.copy()).to(self.dev)
        t = torch.from_numpy(a.copy()).to(self.tdev)
        if requires_grad:
            f.requires_grad_()
            t.requires_grad_()
        return f, t

    def randn(self, shape, requires_grad=False, scale=1.0):
        a = self.rng.standard_normal(shape, dtype=np.float32)
        if scale != 1.0:
            a *= np.float32(scale)
        return self.pair(a, requires_grad)

    def randint(self, shape, high):
        return self.pair(self.rng.integers(0, high, size=shape, dtype=np.int64))


def run_n(ctx, fn, n):
    ctx.sync()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    ctx.sync()
    return (time.perf_counter() - t0) / n


def time_pair(ctx, ours, theirs):
    """Median seconds per call of ours and theirs: warm-up, calibrate n, interleaved rounds."""
    fns = (ours, theirs)
    for f in fns:  # first calls: module load, allocator growth, handles
        f()
        f()
    one = [run_n(ctx, f, 1) for f in fns]
    ns = [max(1, min(1000, int(ctx.round_s / max(t, 1e-7)))) for t in one]
    slowest = max(one)  # a very slow side (seconds per call): fewer rounds, so the run ends
    rounds = ctx.rounds if slowest < 0.3 else min(ctx.rounds, 3) if slowest < 1.5 else 1
    times = ([], [])
    for r in range(rounds):
        for i in ((0, 1) if r % 2 == 0 else (1, 0)):
            times[i].append(run_n(ctx, fns[i], ns[i]))
    return statistics.median(times[0]), statistics.median(times[1])


# ---------------------------------------------------------------- checks

def to_np(t):
    return t.detach().cpu().numpy().astype(np.float64)


def diff(ours, ref, tol):
    """'rel 1.2e-07 max 3.0e-06' for tensors or tuples of tensors (worst of each); BAD past tol."""
    if not isinstance(ours, (tuple, list)):
        ours, ref = (ours,), (ref,)
    worst_rel, worst_max = 0.0, 0.0
    for o, r in zip(ours, ref):
        o, r = to_np(o), to_np(r)
        if o.shape != r.shape:
            return f"BAD shape {o.shape} vs {r.shape}"
        if not np.isfinite(o).all():
            return "BAD non-finite output"
        den = np.linalg.norm(r)
        num = np.linalg.norm(o - r)
        worst_rel = max(worst_rel, num / den if den > 0 else num)
        worst_max = max(worst_max, float(np.abs(o - r).max()) if o.size else 0.0)
    flag = "" if worst_rel <= tol else "BAD "
    return f"{flag}rel {worst_rel:.1e} max {worst_max:.1e}"


# ---------------------------------------------------------------- cases
# A case builder takes ctx and returns a dict: ours, theirs (callables; their return values are
# compared once), bytes (per call, or None), target (fraction of copy BW, or ratio for
# kind='ratio'), tol, shape (text), and optionally check (a ready string instead of the compare).

def case_copy(ctx):
    n = ctx.size("copy")
    fs, ts = ctx.randn((n,))
    fd, td = ctx.randn((n,))
    return dict(ours=lambda: fd.copy_(fs), theirs=lambda: td.copy_(ts), bytes=2 * n * F32,
                shape=f"{n >> 20}M", tol=0.0, kind="copy")


ACTS = {
    "relu": (F.relu, TF.relu),
    "gelu": (F.gelu, TF.gelu),
    "sigmoid": (fl.sigmoid, torch.sigmoid),
    "tanh": (fl.tanh, torch.tanh),
    "silu": (F.silu, TF.silu),
    "softplus": (F.softplus, TF.softplus),
}


def unary_case(ctx, shape, fop, top, backward, tol=1e-5, target=0.85):
    """y = op(x) (forward), or y = op(x); y.backward(g) returning x.grad (forward+backward)."""
    n = math.prod(shape)
    fx, tx = ctx.randn(shape, requires_grad=backward)
    if not backward:
        return dict(ours=lambda: fop(fx), theirs=lambda: top(tx), bytes=2 * n * F32, tol=tol,
                    target=target, shape=shape_str(shape))
    fg, tg = ctx.randn(shape)

    def fwd_bwd(x, g, op):
        def run():
            x.grad = None
            op(x).backward(g)
            return x.grad
        return run
    return dict(ours=fwd_bwd(fx, fg, fop), theirs=fwd_bwd(tx, tg, top), bytes=5 * n * F32, tol=tol,
                target=target, shape=shape_str(shape))


def shape_str(shape):
    return "x".join(str(s) for s in shape) if isinstance(shape, tuple) else str(shape)


def act_case(name, backward):
    fop, top = ACTS[name]
    return lambda ctx: unary_case(ctx, (ctx.size("act"),), fop, top, backward)


def softmax_case(log, layout, backward):
    def build(ctx):
        shape, dim = (ctx.size("rows"), -1) if layout == "rows" else (ctx.size("nd"), 1)
        fsm, tsm = (F.log_softmax, TF.log_softmax) if log else (F.softmax, TF.softmax)
        return unary_case(ctx, shape, lambda x: fsm(x, dim=dim), lambda x: tsm(x, dim=dim), backward)
    return build


def cross_entropy_case(backward):
    def build(ctx):
        n, c = ctx.size("rows")
        fx, tx = ctx.randn((n, c), requires_grad=backward, scale=3.0)
        fy, ty = ctx.randint((n,), c)

        def run(x, y, ce):
            def fwd():
                return ce(x, y)

            def fwd_bwd():
                x.grad = None
                ce(x, y).backward()
                return x.grad
            return fwd_bwd if backward else fwd
        nbytes = (3 if backward else 1) * n * c * F32 + 8 * n
        return dict(ours=run(fx, fy, F.cross_entropy), theirs=run(tx, ty, TF.cross_entropy),
                    bytes=nbytes, tol=1e-5, target=0.70, shape=f"{n}x{c}")
    return build


def batch_norm_case(backward):
    def build(ctx):
        shape = ctx.size("bn")
        c = shape[1]
        fx, tx = ctx.randn(shape, requires_grad=backward)
        fw, tw = ctx.pair(1 + 0.1 * ctx.rng.standard_normal(c, dtype=np.float32), backward)
        fb, tb = ctx.randn((c,), requires_grad=backward, scale=0.1)
        fm, tm = ctx.pair(np.zeros(c, np.float32))
        fv, tv = ctx.pair(np.ones(c, np.float32))
        fg, tg = ctx.randn(shape)

        def run(x, w, b, m, v, g, bn):
            def fwd():
                return bn(x, m, v, w, b, training=True, momentum=0.1, eps=1e-5)

            def fwd_bwd():
                for t in (x, w, b):
                    t.grad = None
                fwd().backward(g)
                return x.grad, w.grad, b.grad
            return fwd_bwd if backward else fwd
        n = math.prod(shape)
        return dict(ours=run(fx, fw, fb, fm, fv, fg, F.batch_norm),
                    theirs=run(tx, tw, tb, tm, tv, tg, TF.batch_norm),
                    bytes=(5 if backward else 2) * n * F32, tol=1e-4, target=0.70, shape=shape_str(shape))
    return build


def layer_norm_case(backward):
    def build(ctx):
        shape = ctx.size("ln")
        d = shape[-1]
        fw, tw = ctx.pair(1 + 0.1 * ctx.rng.standard_normal(d, dtype=np.float32), backward)
        fb, tb = ctx.randn((d,), requires_grad=backward, scale=0.1)
        case = unary_case(ctx, shape, lambda x: F.layer_norm(x, (d,), fw, fb),
                          lambda x: TF.layer_norm(x, (d,), tw, tb), backward, tol=1e-4)
        return case
    return build


def dropout_case(ctx):
    n = ctx.size("act")
    fx, tx = ctx.randn((n,))
    x_np = to_np(fx)
    y = to_np(F.dropout(fx, 0.5, training=True))
    kept = y != 0
    err = float(np.abs(y[kept] - 2 * x_np[kept]).max()) if kept.any() else float("nan")
    frac = kept.mean()
    bad = "" if err <= 1e-6 and abs(frac - 0.5) < 0.01 else "BAD "
    return dict(ours=lambda: F.dropout(fx, 0.5, training=True), theirs=lambda: TF.dropout(tx, 0.5, training=True),
                bytes=2 * n * F32, target=0.85, shape=str(n),
                check=f"{bad}kept {frac:.4f}, max abs(y - 2x) {err:.1e}")


def mse_case(backward):
    def build(ctx):
        n = ctx.size("act")
        fx, tx = ctx.randn((n,), requires_grad=backward)
        fy, ty = ctx.randn((n,))

        def run(x, y, mse):
            def fwd():
                return mse(x, y)

            def fwd_bwd():
                x.grad = None
                mse(x, y).backward()
                return x.grad
            return fwd_bwd if backward else fwd
        return dict(ours=run(fx, fy, F.mse_loss), theirs=run(tx, ty, TF.mse_loss),
                    bytes=(5 if backward else 2) * n * F32, tol=1e-5, target=0.85, shape=str(n))
    return build


def kernel_path(fn, name):
    """Runs fn() once and says whether it went through flambeau.optim._fused.<name> (the fused
    multi-tensor kernel) or the per-parameter Python path (one small op per tensor per step)."""
    orig, calls = getattr(_fused, name), [0]

    def counting(*a, **k):
        calls[0] += 1
        return orig(*a, **k)
    setattr(_fused, name, counting)
    try:
        out = fn()
    finally:
        setattr(_fused, name, orig)
    return out, ("fused kernel" if calls[0] else "per-parameter path")


# ---------------------------------------------------------------- Adam

def adam_sizes(ctx, count=50):
    """`count` tensor sizes of mixed magnitude (log-uniform) summing to about SIZES['adam']."""
    raw = np.exp(np.random.default_rng(1).uniform(np.log(1e2), np.log(1e6), count))
    sizes = np.maximum(1, (raw / raw.sum() * ctx.size("adam")).astype(np.int64))
    return [int(s) for s in sizes]


def adam_params(ctx, sizes):
    """(fl params, torch params, numpy copies): leaf tensors with random grads attached."""
    fps, tps, arrays = [], [], []
    for s in sizes:
        a = ctx.rng.standard_normal(s, dtype=np.float32)
        fp, tp = ctx.pair(a, requires_grad=True)
        fp.grad, tp.grad = ctx.randn((s,), scale=0.01)
        fps.append(fp)
        tps.append(tp)
        arrays.append(a)
    return fps, tps, arrays


def update_diff(fps, tps, arrays):
    """Compares the first step's updates (p_after - p_before), not the parameters themselves."""
    fu = [to_np(p) - a for p, a in zip(fps, arrays)]
    tu = [to_np(p) - a for p, a in zip(tps, arrays)]
    num = math.sqrt(sum(float(np.sum((x - y) ** 2)) for x, y in zip(fu, tu)))
    den = math.sqrt(sum(float(np.sum(y ** 2)) for y in tu))
    mx = max(float(np.abs(x - y).max()) for x, y in zip(fu, tu))
    rel = num / den if den else num
    return f"{'' if rel <= 1e-3 else 'BAD '}update rel {rel:.1e} max {mx:.1e}"


def adam_case(mode):
    """mode: 'fused' or 'foreach' (fl.optim.Adam vs that torch Adam), or 'kernel' (our
    _fused.fused_adam_ called directly, CPU step counters, vs torch fused)."""
    def build(ctx):
        sizes = adam_sizes(ctx)
        fps, tps, arrays = adam_params(ctx, sizes)
        topt = torch.optim.Adam(tps, lr=1e-3, **{("foreach" if mode == "foreach" else "fused"): True})
        if mode == "kernel":
            ms = [fl.zeros_like(p) for p in fps]
            vs = [fl.zeros_like(p) for p in fps]
            steps = [fl.tensor(0.0) for _ in fps]

            def ours():
                _fused.fused_adam_(fps, [p.grad for p in fps], ms, vs, [], steps, lr=1e-3, beta1=0.9,
                                   beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False)
        else:
            ours = fl.optim.Adam(fps, lr=1e-3).step
        _, path = kernel_path(ours, "fused_adam_")
        topt.step()
        ctx.sync()
        check = update_diff(fps, tps, arrays) + ("" if mode == "kernel" else f"; fl took the {path}")
        n = sum(sizes)
        return dict(ours=ours, theirs=topt.step, bytes=7 * n * F32, kind="ratio", target=1.0 if mode != "foreach"
                    else None, shape=f"{n / 1e6:.1f}M in {len(sizes)}", check=check)
    return build


# ---------------------------------------------------------------- training steps

def lenet5(nn, num_classes=10):
    """LeNet-5 with ReLU and max pooling (examples/lenet5.py --modern), 28x28 input padded by 2."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes))


def resnet18(nn, num_classes=10):
    """ResNet-18 for 32x32 input (3x3 stem, no max pool; blocks 2-2-2-2 of 64-128-256-512)."""
    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.shortcut = nn.Identity()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                              nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + self.shortcut(x))

    layers = [nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)


def train_case(build_model, in_shape):
    """One SGD(momentum 0.9) step: zero_grad, forward, cross_entropy, backward, step. Ours starts
    from torch's initial weights; the check compares the losses of the first two steps."""
    def build(ctx):
        batch = ctx.size("batch")
        torch.manual_seed(0)
        tmodel = build_model(torch.nn)
        fmodel = build_model(fl.nn)
        fmodel.load_state_dict({k: fl.from_numpy(v.detach().cpu().numpy().copy())
                                for k, v in tmodel.state_dict().items()})
        tmodel.to(ctx.tdev).train()
        fmodel.to(ctx.dev).train()
        fx, tx = ctx.randn((batch,) + in_shape)
        fy, ty = ctx.randint((batch,), 10)

        def step_fn(model, opt, x, y, lossf):
            def step():
                opt.zero_grad()
                loss = lossf(model(x), y)
                loss.backward()
                opt.step()
                return loss
            return step
        fstep = step_fn(fmodel, fl.optim.SGD(fmodel.parameters(), lr=0.01, momentum=0.9), fx, fy, F.cross_entropy)
        tstep = step_fn(tmodel, torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9), tx, ty,
                        TF.cross_entropy)
        floss, path = kernel_path(fstep, "fused_sgd_")
        losses = [(float(floss.item()), float(tstep().item())), (float(fstep().item()), float(tstep().item()))]
        rel = max(abs(a - b) / abs(b) for a, b in losses)
        check = (f"{'' if rel <= 1e-3 else 'BAD '}loss1 {losses[0][0]:.5f}/{losses[0][1]:.5f} "
                 f"loss2 {losses[1][0]:.5f}/{losses[1][1]:.5f} (ours/torch); fl SGD took the {path}")
        nparams = sum(p.numel() for p in tmodel.parameters())
        return dict(ours=fstep, theirs=tstep, bytes=None, kind="ratio", target=None,
                    shape=f"{batch}x{'x'.join(map(str, in_shape))}, {nparams / 1e6:.2f}M params", check=check)
    return build


# ---------------------------------------------------------------- the list

def all_cases():
    cases = [("copy", case_copy)]
    for name in ACTS:
        cases += [(f"{name} fwd", act_case(name, False)), (f"{name} fwd+bwd", act_case(name, True))]
    for log in (False, True):
        op = "log_softmax" if log else "softmax"
        for layout, where in (("rows", "last dim"), ("nd", "dim=1")):
            cases += [(f"{op} {where} fwd", softmax_case(log, layout, False)),
                      (f"{op} {where} fwd+bwd", softmax_case(log, layout, True))]
    cases += [("cross_entropy fwd", cross_entropy_case(False)), ("cross_entropy fwd+bwd", cross_entropy_case(True)),
              ("batch_norm fwd (batch stats)", batch_norm_case(False)),
              ("batch_norm fwd+bwd (batch stats)", batch_norm_case(True)),
              ("layer_norm fwd", layer_norm_case(False)), ("layer_norm fwd+bwd", layer_norm_case(True)),
              ("dropout p=0.5 fwd", dropout_case),
              ("mse_loss fwd", mse_case(False)), ("mse_loss fwd+bwd", mse_case(True)),
              ("adam step vs torch fused", adam_case("fused")),
              ("adam step vs torch foreach", adam_case("foreach")),
              ("adam kernel _fused.fused_adam_ vs torch fused", adam_case("kernel")),
              ("lenet5 train step", train_case(lenet5, (1, 28, 28))),
              ("resnet18 train step", train_case(resnet18, (3, 32, 32)))]
    return cases


# ---------------------------------------------------------------- running and reporting

def run_case(ctx, name, build):
    """One row (a dict): times, ratio, bandwidth, check, or the error."""
    row = dict(name=name, shape="", error=None)
    try:
        spec = build(ctx)
        row["shape"] = spec.get("shape", "")
        if "check" in spec:
            row["check"] = spec["check"]
        else:
            o, t = spec["ours"](), spec["theirs"]()
            row["check"] = diff(o, t, spec.get("tol", 1e-5))
            del o, t
        to, tt = time_pair(ctx, spec["ours"], spec["theirs"])
        row.update(ours=to, torch=tt, kind=spec.get("kind", "bw"), target=spec.get("target"))
        nbytes = spec.get("bytes")
        if row["kind"] == "copy":
            ctx.copy_bw = max(nbytes / to, nbytes / tt)
            row.update(gbs=nbytes / to / 1e9, torch_gbs=nbytes / tt / 1e9)
        elif nbytes:
            row["gbs"] = nbytes / to / 1e9
            if ctx.copy_bw:
                row["frac"] = nbytes / to / ctx.copy_bw
    except Exception as e:  # a failing kernel must not stop the others
        msg = f"{type(e).__name__}: {e}".replace("\n", " ").replace("|", "/")
        row["error"] = msg[:200]
    free_memory(ctx)
    return row


def free_memory(ctx):
    """Between cases: drop the last case's tensors from both caching allocators."""
    gc.collect()
    if ctx.dev == "cuda":
        ctx.sync()
        torch.cuda.empty_cache()
        fl.cuda.empty_cache()


def met(row):
    target = row.get("target")
    if row.get("error") or target is None:
        return ""
    if row["kind"] == "ratio":
        return "yes" if row["torch"] / row["ours"] >= target else "no"
    if "frac" in row:
        return "yes" if row["frac"] >= target else "no"
    return ""


def target_str(row):
    target = row.get("target")
    if target is None:
        return ""
    return f">= {target:.2f}x torch" if row.get("kind") == "ratio" else f">= {target:.0%} copy"


def err_text(row):
    return row["error"] if row["error"].startswith("SKIPPED") else f"ERROR: {row['error']}"


def fmt_gbs(x):
    return f"{x:.0f}" if x >= 10 else f"{x:.2f}"


def fmt_time(s):
    return f"{s * 1e3:.3f}" if s < 1 else f"{s * 1e3:.0f}"


def progress_line(row):
    if row["error"]:
        return f"{row['name']:<46} {row['shape']:<22} {err_text(row)}"
    line = (f"{row['name']:<46} {row['shape']:<22} ours {fmt_time(row['ours']):>9} ms  "
            f"torch {fmt_time(row['torch']):>9} ms  torch/ours {row['torch'] / row['ours']:5.2f}")
    if row.get("kind") == "copy":
        line += f"  ours {fmt_gbs(row['gbs'])} GB/s, torch {fmt_gbs(row['torch_gbs'])} GB/s"
    elif "gbs" in row:
        line += f"  {row['gbs']:7.1f} GB/s"
        if "frac" in row:
            line += f" {row['frac']:5.0%} of copy"
    return line + f"  [{row['check']}]"


def markdown(rows, header):
    out = header + ["", "| case | shape | ours ms | torch ms | torch/ours | ours GB/s | % copy BW | target | met | check |",
                    "|---|---|---:|---:|---:|---:|---:|---|---|---|"]
    for r in rows:
        if r["error"]:
            out.append(f"| {r['name']} | {r['shape']} | {err_text(r)} | | | | | {target_str(r)} | | |")
            continue
        gbs = fmt_gbs(r['gbs']) if "gbs" in r else ""
        if r.get("kind") == "copy":
            gbs = f"{fmt_gbs(r['gbs'])} (torch {fmt_gbs(r['torch_gbs'])})"
        frac = f"{r['frac']:.0%}" if "frac" in r else ""
        out.append(f"| {r['name']} | {r['shape']} | {fmt_time(r['ours'])} | {fmt_time(r['torch'])} | "
                   f"{r['torch'] / r['ours']:.2f} | {gbs} | {frac} | {target_str(r)} | {met(r)} | {r['check'].replace('|', '/')} |")
    return "\n".join(out) + "\n"


def device_name(dev):
    if dev == "cuda":
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.processor() or platform.machine()}, dry run)"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                   help="cpu: dry run against PyTorch CPU (tests this script on a machine without a GPU)")
    p.add_argument("--quick", action="store_true", help="small sizes, 3 rounds (for the cpu dry run)")
    p.add_argument("--only", default="", help="comma-separated substrings of case names (copy always runs)")
    p.add_argument("--out", default="", help="also write the markdown table to this file")
    p.add_argument("--rounds", type=int, default=0, help="timed rounds per side (default 7, --quick 3)")
    p.add_argument("--round-ms", type=float, default=15.0, help="target length of one timed round")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-seconds", type=float, default=210.0,
                   help="start no new case after this long (the rest are listed as SKIPPED)")
    args = p.parse_args()

    if args.device == "cuda" and not (torch.cuda.is_available() and fl.cuda.is_available()):
        sys.exit(f"CUDA not usable: torch {torch.cuda.is_available()}, flambeau {fl.cuda.is_available()} "
                 "(use --device cpu for a dry run)")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    fl.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(args.seed)
    fl.manual_seed(args.seed)
    ctx = Ctx(args)

    header = [f"# bench_cuda: flambeau {fl.__version__} vs PyTorch {torch.__version__} "
              f"(CUDA {torch.version.cuda}) on {device_name(args.device)}",
              f"date {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
              f"command `PYTHONPATH=python python3 {' '.join(sys.argv)}`; "
              f"median of {ctx.rounds} interleaved rounds; sizes {'--quick' if args.quick else 'full'}"]
    print("\n".join(header), flush=True)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    t_start = time.perf_counter()
    rows = []
    for name, build in all_cases():
        if only and name != "copy" and not any(s in name for s in only):
            continue
        if time.perf_counter() - t_start > args.max_seconds:
            row = dict(name=name, shape="", error=f"SKIPPED (past --max-seconds {args.max_seconds:.0f})")
        else:
            row = run_case(ctx, name, build)
        rows.append(row)
        print(progress_line(row), flush=True)
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s\n", flush=True)
    table = markdown(rows, header)
    print(table, flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table)


if __name__ == "__main__":
    main()
