"""Differential fuzzing of flambeau's gradients against PyTorch CPU (the oracle).

The cases are tools/fuzz_ops.py's (same generators, same seeds, same case numbers). Here every input that
T(...) builds in float32, float64 or complex64 is made a leaf that requires grad *before* the layout's view
is taken, so the gradient flows back through the transpose / slice / expand / offset view as well. (Cases
that write in place or into out= get `leaf.clone()` in between: PyTorch refuses in-place writes into a leaf
that requires grad, and into views of one.) After the case runs, a seeded random grad_output is
backpropagated through every floating result that requires grad (autograd.backward(outs, gs), i.e. the
gradient of sum(out * g)), and the leaves' .grad are compared with PyTorch's.

In second-order cases (--order 2, or about a third of the cases with the default --order mixed) the first
backward is autograd.grad(..., create_graph=True); a second seeded grad_output is backpropagated through the
first-order gradients that require grad, and both orders are compared. Outcomes:

  a  crash / abort / hang of flambeau (the worker died or stopped answering)
  b  PyTorch raises in backward, flambeau returns
  c  flambeau raises in backward, PyTorch returns (a gap)
  d  gradients differ (shape, dtype or values) on finite inputs: a silently wrong gradient
  x  gradients differ where the inputs hold NaN / inf (edge conventions; triage after d)
  n  a gradient (or a result's requires_grad) is None / False on one side only
  f  the forward already differs (fuzz_ops' business: counted, not compared further)
  s  nothing to compare (no floating leaf, no result that requires grad, or both raise in forward)

    PYTHONPATH=python python3 tools/fuzz_grads.py --seed 0 --cases 3000          # summary + findings
    PYTHONPATH=python python3 tools/fuzz_grads.py --seed 0 --show 1234           # one case, both gradients
    PYTHONPATH=python python3 tools/fuzz_grads.py --seed 0 --cases 3000 --only cumprod,pow -v
"""
import argparse
import os
import re
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzz_ops as F  # noqa: E402

GRAD_DTYPES = ("float32", "float64", "complex64")
# Gradients go through more arithmetic than the forward (and reductions of up to 70001 terms), so the
# absolute tolerance scales with the largest finite gradient PyTorch produced.
GRAD_TOL = {"float16": (2e-2, 2e-2), "bfloat16": (8e-2, 5e-2), "float32": (2e-4, 2e-4), "float64": (1e-8, 1e-8),
            "complex64": (2e-4, 2e-4), "complex128": (1e-8, 1e-8)}
NAMES = {"a": "crash/hang", "b": "PyTorch raises in backward, we return", "c": "we raise in backward, PyTorch returns",
         "d": "gradients differ (finite inputs)", "x": "gradients differ (NaN/inf inputs)",
         "n": "grad None / requires_grad on one side only", "f": "forward differs (not compared)",
         "s": "nothing to compare"}
WRITES = re.compile(r"\.\w+_\(|out=|__setitem__|\]\s*=[^=]")


def _is_float(L, t):
    return t.dtype.is_floating_point or t.dtype.is_complex


def _seeded(L, like, seed):
    """A grad_output like `like` (shape and dtype), the same numbers in both libraries."""
    import numpy as np
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(size=tuple(like.shape))
    dt = str(like.dtype).split(".")[-1]
    if like.dtype.is_complex:
        a = a + 1j * rng.standard_normal(size=tuple(like.shape))
        return L.tensor(a.astype(np.complex128)).to(like.dtype)
    return L.tensor(a).to(like.dtype) if dt != "float64" else L.tensor(a)


def _snap(t):
    if t is None:
        return None
    if getattr(t, "_is_zerotensor", lambda: False)():  # PyTorch's symbolic zeros cannot go to numpy
        import torch
        t = torch.zeros(t.shape, dtype=t.dtype)
    return F._to_numpy(t)


def _work_tol(code, grads):
    """(atol, rtol) for a case: the loosest of its gradient's dtype and every floating dtype it builds
    (a float64 leaf multiplied into a float32 result gets a float32-accurate gradient)."""
    dts = set(re.findall(r"'(float16|bfloat16|float32|float64|complex64)'", code)) | \
        set(re.findall(r"L\.(float16|bfloat16|float32|float64|complex64)", code))
    dts |= {g[0] for g in grads if g is not None}
    return max((GRAD_TOL[d] for d in dts if d in GRAD_TOL), default=(0, 0))


def second_order(code, order):
    return order == 2 or (order == 0 and zlib.crc32(code.encode()) % 3 == 0)


def run_grad(L, code, order2, phase=lambda name: None):
    """Runs one case in library L; returns a dict: stage ('fwd-raise', 'bwd-raise', 'ok'), the forward
    snapshot, which results require grad, the leaves' first-order grads and (order2) second-order grads."""
    import numpy as np
    leaves = []
    clone = bool(WRITES.search(code))

    def prepare(t, dtype):
        if dtype not in GRAD_DTYPES:
            return t
        t.requires_grad_(True)
        leaves.append(t)
        return t.clone() if clone else t

    ns = {"L": L, "T": F.make_T(L, prepare), "np": np}
    res = {"stage": "ok", "nleaves": 0}
    try:
        exec(code, ns)
    except Exception as e:  # noqa: BLE001 -- we classify every failure
        res.update(stage="fwd-raise", err=(type(e).__name__, str(e).split("\n")[0][:300]))
        return res
    res["nleaves"] = len(leaves)
    try:
        tensors = [v for kind, v in F._leaves(ns.get("out"), []) if kind == "tensor"]
        res["fwd"] = ([(kind, F._to_numpy(v) if kind == "tensor" else v) for kind, v in F._leaves(ns.get("out"), [])],
                      [])
        outs = [t for t in tensors if _is_float(L, t)]
        res["req"] = [bool(t.requires_grad) for t in outs]
    except Exception as e:  # noqa: BLE001
        res.update(stage="fwd-raise", err=("unreadable result: " + type(e).__name__, str(e).split("\n")[0][:300]))
        return res
    seed = zlib.crc32(code.encode())
    diff = [(t, _seeded(L, t, seed + k)) for k, t in enumerate(outs) if t.requires_grad]
    if not diff or not leaves:
        return res
    phase(L.__name__ + " backward")
    try:
        ys, gs = [t for t, _ in diff], [g for _, g in diff]
        if not order2:
            L.autograd.backward(ys, gs)
            res["g1"] = [_snap(x.grad) for x in leaves]
            return res
        g1 = L.autograd.grad(ys, leaves, gs, create_graph=True, allow_unused=True)
        res["g1"] = [_snap(x) for x in g1]
        res["req2"] = [x is not None and bool(x.requires_grad) for x in g1]
        d2 = [(x, _seeded(L, x, seed + 1000 + k)) for k, x in enumerate(g1) if x is not None and x.requires_grad]
        if d2:
            phase(L.__name__ + " second-order backward")
            L.autograd.backward([x for x, _ in d2], [g for _, g in d2])
        res["g2"] = [_snap(x.grad) for x in leaves]
    except Exception as e:  # noqa: BLE001
        res.update(stage="bwd-raise", err=(type(e).__name__, str(e).split("\n")[0][:300]))
    return res


def _same_grad(a, b, tol):
    """None when PyTorch's grad `a` and ours `b` (dtype, array) agree within tol (atol, rtol), else why not."""
    import numpy as np
    if a is None or b is None:
        return None if a is None and b is None else ("None vs %s" % ("a gradient" if b is not None else "None")
                                                     if a is None else "a gradient vs None")
    m = F.layout_difference(a, b)
    (_, xa), (_, xb) = a, b
    if m is not None or xa.size == 0:
        return m
    atol, rtol = tol
    ya, yb = xa.astype(np.complex128), xb.astype(np.complex128)
    fin = np.isfinite(ya)
    scale = max(1.0, float(np.abs(ya[fin]).max())) if fin.any() else 1.0
    ok = np.isclose(ya, yb, atol=atol * scale, rtol=rtol, equal_nan=True)
    # isclose treats nan+1j*x vs nan+1j*y as different; a NaN anywhere on both sides counts as equal
    ok |= np.isnan(ya) & np.isnan(yb)
    return F.first_difference(ok, ya, yb)


def classify(op, code, tr, fr):
    if tr["stage"] == "fwd-raise" or fr["stage"] == "fwd-raise":
        if tr["stage"] == fr["stage"]:
            return "s", "both raise in forward"
        return "f", "forward: %s raises %s" % ("PyTorch" if tr["stage"] == "fwd-raise" else "flambeau",
                                               (tr if tr["stage"] == "fwd-raise" else fr)["err"])
    m = F.compare(tr["fwd"], fr["fwd"])
    if m:
        return "f", "forward: " + m
    if tr["req"] != fr["req"]:
        return "n", "results' requires_grad %s vs %s" % (tr["req"], fr["req"])
    if tr["stage"] == "bwd-raise" or fr["stage"] == "bwd-raise":
        if tr["stage"] == fr["stage"]:
            return None, None
        if tr["stage"] == "bwd-raise":
            return "b", "PyTorch raises in backward %s: %s" % tr["err"]
        return "c", "flambeau raises in backward %s: %s" % fr["err"]
    if "g1" not in tr:
        return "s", "no result requires grad" if not any(tr["req"]) else "no floating leaf"
    nonfinite = "'x'," in code
    for key, label in (("g1", ""), ("req2", "2nd order: "), ("g2", "2nd order: ")):
        if key not in tr and key not in fr:
            continue
        if key == "req2":
            if tr[key] != fr[key]:
                return "n", "2nd order: first-order grads' requires_grad %s vs %s" % (tr[key], fr[key])
            continue
        tol = _work_tol(code, tr[key])
        for k, (a, b) in enumerate(zip(tr[key], fr[key])):
            m = _same_grad(a, b, tol)
            if m:
                cls = "n" if "None" in m else ("x" if nonfinite else "d")
                return cls, "%sgrad of leaf %d: %s" % (label, k, m)
    return None, None


ORDER = [1]  # set from --order in main(): 1, 2, or 0 (mixed)


def judge_grads(op, code, phase):
    import torch
    import flambeau
    o2 = second_order(code, ORDER[0])
    phase("torch")
    tres = run_grad(torch, code, o2)
    phase("flambeau")
    fres = run_grad(flambeau, code, o2, phase)
    return classify(op, code, tres, fres)


def show(args):
    import torch
    import flambeau
    op, code = F.generate(args.seed, max(args.cases, args.show + 1))[args.show]
    o2 = second_order(code, ORDER[0])
    print("# case %d (%s)%s\n%s\n" % (args.show, op, " [second order]" if o2 else "", code))
    res = []
    for L in (torch, flambeau):
        r = run_grad(L, code, o2)
        res.append(r)
        print("%-8s: stage %s %s; results require grad %s" % (L.__name__, r["stage"], r.get("err", ""), r.get("req")))
        for key in ("g1", "g2"):
            for k, x in enumerate(r.get(key, [])):
                print("    %s leaf %d: %s" % (key, k, None if x is None else (x[0], x[1].reshape(-1)[:8])))
    print("class   :", classify(op, code, *res))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    F.add_common_args(ap, "abcdxn")
    ap.add_argument("--order", default="mixed", choices=["1", "2", "mixed"],
                    help="first-order only, second-order for every case, or for about a third of them")
    args = ap.parse_args()
    ORDER[0] = {"1": 1, "2": 2, "mixed": 0}[args.order]
    if args.worker:
        F.worker(args.seed, args.cases, args.start, args.end, set(args.only.split(",")) if args.only else None,
                 judge=judge_grads)
        return 0
    if args.show >= 0:
        show(args)
        return 0
    return F.parent(args, script=os.path.abspath(__file__), title="fuzz_grads", names=NAMES,
                    extra_argv=["--order", args.order], failing="abdn")


if __name__ == "__main__":
    sys.exit(main())
