"""CUDA cross-entropy / point-loss kernels against flambeau's CPU kernels (same API, same inputs):
every fast path (row in registers, warp-per-row backward, 16-byte packs) and its fallbacks
(odd C, C > 1024, misaligned views, N-d inputs), weights, ignore_index, label smoothing, every
reduction, NaN / -inf rows, float32 and float64; each CUDA call twice (bitwise determinism).

    PYTHONPATH=python python3 tools/check_cuda_losses.py
"""
import sys
import numpy as np
import flambeau as fl
import flambeau.nn.functional as F

import os
GPU = os.environ.get("CHECK_DEV", "cuda")
rng = np.random.default_rng(0)
fails = 0
count = 0


def cmp(name, a, b, tol):
    global fails
    a = np.asarray(a, dtype=np.float64); b = np.asarray(b, dtype=np.float64)
    ok = a.shape == b.shape and np.array_equal(np.isnan(a), np.isnan(b))
    if ok:
        m = ~np.isnan(a)
        ok = np.array_equal(a[m] == b[m], a[m] == b[m]) and np.allclose(a[m], b[m], rtol=tol, atol=tol, equal_nan=True)
    if not ok:
        fails += 1
        d = np.nanmax(np.abs(a - b)) if a.shape == b.shape and a.size else "shape"
        print(f"FAIL {name}: max|diff|={d}", flush=True)


def on(arr, dev, misalign=False, grad=False):
    if dev == GPU and misalign:
        flat = np.concatenate([np.zeros(1, arr.dtype), arr.ravel()])
        t = fl.from_numpy(flat).to(GPU)[1:].view(*arr.shape).detach()
    else:
        t = fl.from_numpy(np.ascontiguousarray(arr)).to(dev)
    if grad:
        t.requires_grad_(True)
    return t


def run_ce(x, t, w, kw, dev, mis):
    xt = on(x, dev, mis, grad=True)
    tt = on(t, dev, grad=t.dtype != np.int64)
    wt = on(w, dev) if w is not None else None
    loss = F.cross_entropy(xt, tt, weight=wt, **kw)
    if loss.dim() == 0:
        loss.backward()
    else:
        (loss * on(np.linspace(0.5, 1.5, loss.numel()).reshape(loss.shape).astype(x.dtype), dev)).sum().backward()
    g = xt.grad.cpu().numpy()
    if t.dtype != np.int64:
        g = np.concatenate([g.ravel(), tt.grad.cpu().numpy().ravel()])
    return loss.detach().cpu().numpy(), g


def ce_cases():
    global count
    for dtype, tol in ((np.float32, 3e-5), (np.float64, 1e-11)):
        for shape in ((5, 1), (7, 3), (9, 4), (33, 8), (40, 100), (65, 128), (17, 129), (300, 1000), (31, 1024),
                      (12, 1028), (6, 2000), (3, 3000), (4, 5, 3), (3, 7, 2, 5), (0, 10)):
            C = shape[1]
            x = rng.standard_normal(shape).astype(dtype) * 3
            tshape = (shape[0],) + shape[2:]
            t = rng.integers(0, C, size=tshape).astype(np.int64)
            if shape[0] > 3 and len(shape) == 2:
                x[1, 0] = np.nan
                x[2, :] = -np.inf
                x[3, C // 2] = 80.0
            for opt in range(8):
                kw = {}
                w = None
                if opt in (1, 4):
                    w = rng.random(C).astype(dtype) + 0.1
                if opt in (2, 4) and t.size:
                    kw["ignore_index"] = int(t.ravel()[0])
                if opt in (3, 4, 5):
                    kw["label_smoothing"] = 0.1
                if opt == 5:
                    w = rng.random(C).astype(dtype) + 0.1
                tgt = t
                if opt >= 6:  # class-probability targets (opt 7: weighted, smoothed)
                    tgt = rng.random(shape).astype(dtype)
                    tgt /= np.maximum(tgt.sum(1, keepdims=True), 1e-3)
                    kw.pop("ignore_index", None)
                    if opt == 7:
                        w = rng.random(C).astype(dtype) + 0.1
                        kw["label_smoothing"] = 0.2
                for red in ("mean", "sum", "none"):
                    kw["reduction"] = red
                    for mis in (False, True):
                        if len(shape) != 2 and mis:
                            continue
                        count += 1
                        name = f"ce {dtype.__name__} {shape} opt{opt} {red} mis={mis}"
                        try:
                            lc, gc = run_ce(x, tgt, w, kw, "cpu", False)
                            lg, gg = run_ce(x, tgt, w, kw, GPU, mis)
                            lg2, gg2 = run_ce(x, tgt, w, kw, GPU, mis)
                        except Exception as e:  # noqa: BLE001
                            global fails
                            fails += 1
                            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
                            continue
                        cmp(name + " loss", lg, lc, tol)
                        cmp(name + " grad", gg, gc, tol)
                        if not (np.array_equal(lg, lg2, equal_nan=True) and np.array_equal(gg, gg2, equal_nan=True)):
                            fails += 1
                            print(f"FAIL {name}: not deterministic", flush=True)


POINT = {
    "mse": lambda a, b, **k: F.mse_loss(a, b, **k),
    "l1": lambda a, b, **k: F.l1_loss(a, b, **k),
    "smooth_l1": lambda a, b, **k: F.smooth_l1_loss(a, b, beta=0.5, **k),
    "huber": lambda a, b, **k: F.huber_loss(a, b, delta=0.7, **k),
    "bce": lambda a, b, **k: F.binary_cross_entropy(a, b, **k),
    "bce_logits": lambda a, b, **k: F.binary_cross_entropy_with_logits(a, b, **k),
    "kl": lambda a, b, **k: F.kl_div(a, b, **k),
    "kl_log": lambda a, b, **k: F.kl_div(a, b, log_target=True, **k),
}


def point_cases():
    global count, fails
    for dtype, tol in ((np.float32, 2e-5), (np.float64, 1e-11)):
        for n in (0, 1, 3, 4, 5, 1001, (1 << 18) + 3):
            for name, fn in POINT.items():
                x = rng.standard_normal(n).astype(dtype)
                y = rng.standard_normal(n).astype(dtype)
                if name == "bce":
                    x = rng.random(n).astype(dtype) * 0.98 + 0.01
                    y = rng.random(n).astype(dtype)
                if name in ("kl",):
                    y = rng.random(n).astype(dtype)
                if n > 3 and name in ("mse", "l1"):
                    x[2] = np.nan
                reds = ("mean", "sum", "none") if not name.startswith("kl") else ("mean", "sum", "none", "batchmean")
                for red in reds:
                    for mis in (False, True):
                        count += 1
                        tag = f"{name} {dtype.__name__} n={n} {red} mis={mis}"
                        res = []
                        try:
                            for dev, m in (("cpu", False), (GPU, mis), (GPU, mis)):
                                a = on(x, dev, m, grad=True)
                                b = on(y, dev, m, grad=True)
                                out = fn(a, b, reduction=red)
                                if out.dim() == 0:
                                    out.backward()
                                else:
                                    (out * on(np.linspace(0.5, 1.5, n).astype(dtype), dev)).sum().backward()
                                res.append((out.detach().cpu().numpy(), a.grad.cpu().numpy(),
                                            b.grad.cpu().numpy() if b.grad is not None else None))
                        except Exception as e:  # noqa: BLE001
                            fails += 1
                            print(f"FAIL {tag}: {type(e).__name__}: {e}", flush=True)
                            continue
                        cmp(tag + " out", res[1][0], res[0][0], tol)
                        cmp(tag + " gx", res[1][1], res[0][1], tol)
                        if res[0][2] is not None:
                            cmp(tag + " gt", res[1][2], res[0][2], tol)
                        if not np.array_equal(res[1][0], res[2][0], equal_nan=True):
                            fails += 1
                            print(f"FAIL {tag}: not deterministic", flush=True)


ce_cases()
point_cases()
print(f"check_cuda_losses: {count} cases, {fails} failures")
sys.exit(1 if fails else 0)
