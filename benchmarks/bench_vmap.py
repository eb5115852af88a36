"""vmap: flambeau.func.vmap (batching rules, func/_batched.py) beside torch.func.vmap, same process,
alternating, the same thread count for both.

    PYTHONPATH=python python benchmarks/bench_vmap.py            # everything
    PYTHONPATH=python python benchmarks/bench_vmap.py --quick    # fewer repeats
    PYTHONPATH=python python benchmarks/bench_vmap.py --loop     # also the per-sample loop (the old vmap),
                                                                  # but for mask-256

Cases:
- mask-S: transformers' padded causal attention mask (masking_utils.sdpa_mask_recent_torch): the mask
  function `(kv <= q) & padding_mask[b, kv]` under four nested vmaps over batch 2, head 1, query S, key S.
- matmul64: vmap over a batch of 64 small matmuls (x[i] @ w[i], 16x32 @ 32x16).
- psgrad: per-sample gradients of a small MLP (784-128-10, batch 64), vmap(grad(loss), in_dims=(None, 0, 0)).
  Our vmap runs grad once per sample (batching through autograd is not done: _batched.py docstring).

For each case: the median over rounds of the best-of-k time, ours and PyTorch's, and the ratio
torch/ours (> 1: we are faster).
"""
import argparse
import statistics
import time

import torch

import flambeau


def best_of(fn, k):
    fn()
    best = float("inf")
    for _ in range(k):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def looped(fn):
    """fn with flambeau's vmap running the function once per sample (the vmap before batching rules)."""
    from flambeau.func import _transforms as T

    def run():
        orig = T._vmap_batched
        T._vmap_batched = T._vmap_loop
        try:
            return fn()
        finally:
            T._vmap_batched = orig
    return run


def mask_case(lib, seq):
    pad = lib.ones(2, seq, dtype=lib.bool)
    pad[1, : seq // 4] = False  # left padding of the second sequence

    def and_mask(b, h, q, kv):
        result = q.new_ones((), dtype=lib.bool)
        result = result & (kv <= q).to(result.device)
        return result & pad[b, kv].to(result.device)

    fn = and_mask
    for dims in [(None, None, None, 0), (None, None, 0, None), (None, 0, None, None), (0, None, None, None)]:
        fn = lib.vmap(fn, in_dims=dims, out_dims=0)
    args = (lib.arange(2), lib.arange(1), lib.arange(seq), lib.arange(seq))
    return lambda: fn(*args)


def matmul_case(lib):
    g = torch.Generator().manual_seed(0)
    x = lib.tensor(torch.randn(64, 16, 32, generator=g).numpy())
    w = lib.tensor(torch.randn(64, 32, 16, generator=g).numpy())
    fn = lib.func.vmap(lambda a, b: a @ b)
    return lambda: fn(x, w)


def psgrad_case(lib):
    g = torch.Generator().manual_seed(0)
    params = {"w1": lib.tensor((torch.randn(128, 784, generator=g) * 0.03).numpy()),
              "b1": lib.zeros(128),
              "w2": lib.tensor((torch.randn(10, 128, generator=g) * 0.1).numpy()),
              "b2": lib.zeros(10)}
    x = lib.tensor(torch.randn(64, 784, generator=g).numpy())
    y = lib.tensor(torch.randint(0, 10, (64,), generator=g).numpy())
    F = lib.nn.functional

    def loss(p, xi, yi):
        h = F.relu(F.linear(xi[None], p["w1"], p["b1"]))
        return F.cross_entropy(F.linear(h, p["w2"], p["b2"]), yi[None])

    fn = lib.func.vmap(lib.func.grad(loss), in_dims=(None, 0, 0))
    return lambda: fn(params, x, y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--loop", action="store_true", help="also time flambeau's per-sample loop vmap")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
        flambeau.set_num_threads(a.threads)
    rounds, k = (3, 3) if a.quick else (5, 5)
    cases = [("mask-64", lambda lib: mask_case(lib, 64)), ("mask-256", lambda lib: mask_case(lib, 256)),
             ("matmul64", matmul_case), ("psgrad", psgrad_case)]
    print(f"threads: torch {torch.get_num_threads()}, flambeau {flambeau.get_num_threads()}")
    print(f"{'case':10s} {'ours ms':>10s} {'torch ms':>10s} {'torch/ours':>10s}" + (f" {'loop ms':>10s}" if a.loop else ""))
    for name, make in cases:
        ours_fn, torch_fn = make(flambeau), make(torch)
        loop_fn = None
        if a.loop and name != "mask-256":  # (the loop takes minutes there)
            loop_fn = looped(make(flambeau))
        o, t, lp = [], [], []
        for _ in range(rounds):
            o.append(best_of(ours_fn, k))
            t.append(best_of(torch_fn, k))
            if loop_fn is not None:
                lp.append(best_of(loop_fn, 1))
        mo, mt = statistics.median(o), statistics.median(t)
        line = f"{name:10s} {mo * 1e3:10.3f} {mt * 1e3:10.3f} {mt / mo:10.2f}"
        if lp:
            line += f" {statistics.median(lp) * 1e3:10.1f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
