"""Checks the register-resident row kernels (csrc/cuda/softmax.cu, layer norm in normalization.cu)
on a GPU against flambeau's CPU build and PyTorch CUDA: row lengths around every template bound,
aligned / misaligned rows, special values, forward and backward, run-to-run determinism.

    PYTHONPATH=python python3 tools/verify_cuda_rowreg.py
Prints one line per case, FAIL lines first in the summary; exit status 1 if any failed.
"""
import sys

import numpy as np
import torch

import flambeau as fl
import flambeau.nn.functional as F

rng = np.random.default_rng(0)
DEV = "cuda" if fl.cuda.is_available() else "cpu"  # cpu: a dry run of the script's plumbing
QUICK = (5, 129) if "--quick" in sys.argv else None
TDEV = "cuda" if torch.cuda.is_available() else "cpu"
fails = []


def to_cuda(a, misalign):
    """A contiguous CUDA tensor holding a; misalign: its data starts 4 bytes past a 16-byte boundary."""
    if not misalign:
        return fl.from_numpy(np.ascontiguousarray(a)).to(DEV)
    flat = np.concatenate([np.zeros(1, a.dtype), a.ravel()])
    t = fl.from_numpy(flat).to(DEV)[1:].reshape(*a.shape)
    assert t.is_contiguous()
    return t


def cmp(name, ours, ref, tol, elementwise=False):
    """NaN/inf at the same places; finite values within tol, relative to max |ref| (elementwise:
    relative to each |ref|)."""
    ours = np.asarray(ours, np.float64)
    ref = np.asarray(ref, np.float64)
    ok = ours.shape == ref.shape and np.array_equal(np.isnan(ours), np.isnan(ref))
    fin = np.isfinite(ref) & np.isfinite(ours)
    ok = ok and np.array_equal(ours[~fin & ~np.isnan(ref)], ref[~fin & ~np.isnan(ref)])
    if fin.any():
        d = np.abs(ours[fin] - ref[fin])
        err = float(np.max(d / np.maximum(np.abs(ref[fin]), 1e-30))) if elementwise else \
            float(np.max(d) / max(np.max(np.abs(ref[fin])), 1e-30))
    else:
        err = 0.0
    ok = ok and err <= tol
    line = f"{'ok  ' if ok else 'FAIL'} {name}: max rel err {err:.2e}"
    print(line, flush=True)
    if not ok:
        fails.append(line)


def softmax_cases():
    for log in (False, True):
        fsm = F.log_softmax if log else F.softmax
        tsm = torch.log_softmax if log else torch.softmax
        for n in QUICK or (1, 3, 4, 10, 31, 32, 33, 127, 128, 129, 256, 257, 511, 512, 513, 1000, 1001, 1023, 1024, 1025,
                  1500, 2047, 2048, 2049, 4096):
            for lines in (1000, 7):
                for mis in (False, True):
                    x = rng.standard_normal((lines, n)).astype(np.float32) * 3
                    if lines > 3 and n > 2:
                        x[0, :] = -np.inf
                        x[1, n // 2] = np.nan
                        x[2, n - 1] = np.inf
                        x[3, :] += 3000.0  # large logits: log_softmax near 0 keeps its digits
                    g = rng.standard_normal((lines, n)).astype(np.float32)
                    xc = to_cuda(x, mis).requires_grad_()
                    y = fsm(xc, dim=-1)
                    gc = to_cuda(g, mis)
                    y.backward(gc)
                    yn, gn = y.detach().cpu().numpy(), xc.grad.cpu().numpy()
                    y2 = fsm(to_cuda(x, mis), dim=-1).cpu().numpy()
                    tag = f"{'log_' if log else ''}softmax [{lines},{n}]{' mis' if mis else ''}"
                    if not np.array_equal(yn.view(np.uint32), y2.view(np.uint32)):
                        fails.append(f"FAIL {tag}: not deterministic")
                        print(fails[-1])
                    xr = fl.from_numpy(x).requires_grad_()
                    yr = fsm(xr, dim=-1)
                    yr.backward(fl.from_numpy(g))
                    cmp(tag + " fwd vs cpu", yn, yr.detach().numpy(), 1e-5)
                    cmp(tag + " bwd vs cpu", gn, xr.grad.numpy(), 1e-5)
                    xt = torch.from_numpy(x).to(TDEV).requires_grad_()
                    yt = tsm(xt, -1)
                    yt.backward(torch.from_numpy(g).to(TDEV))
                    cmp(tag + " fwd vs torch", yn, yt.detach().cpu().numpy(), 1e-5)
                    cmp(tag + " bwd vs torch", gn, xt.grad.cpu().numpy(), 1e-5)
                    if log and lines > 3 and n > 2:  # near-0 outputs of the large-logit row, digit for digit
                        ref = torch.log_softmax(torch.from_numpy(x[3]).double(), -1).numpy()
                        cmp(tag + " large-logit row vs float64", yn[3], ref, 1e-3, elementwise=True)


def layer_norm_cases():
    for K in QUICK or (1, 3, 4, 5, 64, 100, 128, 129, 256, 257, 512, 513, 1000, 1023, 1024, 1025, 2048):
        for M in (1000, 7):
            for mis in (False, True):
                for wb in (False, True):
                    x = (rng.standard_normal((M, K)) * 2 + 5).astype(np.float32)
                    g = rng.standard_normal((M, K)).astype(np.float32)
                    w = rng.standard_normal(K).astype(np.float32) if wb else None
                    b = rng.standard_normal(K).astype(np.float32) if wb else None
                    tag = f"layer_norm [{M},{K}]{' mis' if mis else ''}{' w,b' if wb else ''}"

                    def run(dev_x, dev_p):
                        xx = dev_x(x).requires_grad_()
                        ww = dev_p(w).requires_grad_() if wb else None
                        bb = dev_p(b).requires_grad_() if wb else None
                        y = F.layer_norm(xx, (K,), ww, bb)
                        y.backward(dev_x(g))
                        out = [y.detach(), xx.grad] + ([ww.grad, bb.grad] if wb else [])
                        return [np.asarray(o.cpu().numpy() if hasattr(o, "cpu") else o.numpy()) for o in out]

                    ours = run(lambda a: to_cuda(a, mis), lambda a: to_cuda(a, mis))
                    again = run(lambda a: to_cuda(a, mis), lambda a: to_cuda(a, mis))
                    if not all(np.array_equal(p.view(np.uint32), q.view(np.uint32)) for p, q in zip(ours, again)):
                        fails.append(f"FAIL {tag}: not deterministic")
                        print(fails[-1])
                    cpu = run(lambda a: fl.from_numpy(a), lambda a: fl.from_numpy(a))
                    names = ["y", "dx", "dw", "db"]
                    for nm, o, c in zip(names, ours, cpu):
                        cmp(f"{tag} {nm} vs cpu", o, c, 1e-5)
                    diff = int(np.sum(ours[0].view(np.uint32) != cpu[0].view(np.uint32)))
                    print(f"     {tag} y: {diff} of {ours[0].size} elements differ in bits from the CPU")


if __name__ == "__main__":
    softmax_cases()
    layer_norm_cases()
    print(f"\n{len(fails)} failures")
    for f in fails:
        print(f)
    sys.exit(1 if fails else 0)
