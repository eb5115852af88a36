"""A sweep over common foundation ops (reductions, pow, clamp, where, broadcasting, softmax, cumsum,
sort, indexing, pow, float64 math and activations) beside PyTorch CPU: finds the ops that are far behind (marked <<<
below 0.5x). 1024x1024 float32 operands, 2 threads for both, best of 5 rounds of 10 calls, in ms.

    PYTHONPATH=python python benchmarks/bench_ops_survey.py

Session 5 ran it first (benchmarks/logs/survey_*): it found torch.* math on one libm call per
element, x ** 2 through pow, x.max() on one thread, clamp unvectorised and last-dim softmax in
float64 libm exp.
"""
import time

import numpy as np
import torch

import flambeau as fl

torch.set_num_threads(2)
n = 1 << 20
a = np.random.randn(1024, 1024).astype(np.float32); b = np.random.randn(1024, 1024).astype(np.float32)
fa, fb = fl.from_numpy(a), fl.from_numpy(b); ta, tb = torch.from_numpy(a), torch.from_numpy(b)
d = a.astype(np.float64); fd, td = fl.from_numpy(d), torch.from_numpy(d)
def bench(f, reps=10):
    f(); best = 1e9
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps): f()
        best = min(best, (time.perf_counter() - t) / reps)
    return best * 1e3
cases = {
 'sum': lambda m, x, y: x.sum(), 'sum_dim1': lambda m, x, y: x.sum(1), 'sum_dim0': lambda m, x, y: x.sum(0),
 'mean': lambda m, x, y: x.mean(), 'max': lambda m, x, y: x.max(), 'max_dim1': lambda m, x, y: x.max(1),
 'argmax_dim1': lambda m, x, y: x.argmax(1), 'var': lambda m, x, y: x.var(), 'std_dim1': lambda m, x, y: x.std(1),
 'norm': lambda m, x, y: x.norm(), 'pow2': lambda m, x, y: x ** 2, 'pow2.5': lambda m, x, y: x.abs() ** 2.5,
 'pow_tensor': lambda m, x, y: x.abs() ** y, 'clamp': lambda m, x, y: x.clamp(-1, 1), 'where': lambda m, x, y: m.where(x > 0, x, y),
 'gt': lambda m, x, y: x > y, 'maximum': lambda m, x, y: m.maximum(x, y), 'x*2+1': lambda m, x, y: x * 2 + 1,
 'add_bcast_row': lambda m, x, y: x + y[0], 'add_bcast_col': lambda m, x, y: x + y[:, :1], 'add_T': lambda m, x, y: x + y.t(),
 'contiguous_T': lambda m, x, y: x.t().contiguous(), 'softmax_F': lambda m, x, y: m.nn.functional.softmax(x, 1),
 'cumsum1': lambda m, x, y: x.cumsum(1), 'sort1': lambda m, x, y: x.sort(1)[0], 'topk': lambda m, x, y: x.topk(5, 1)[0],
 'abs_sum': lambda m, x, y: (x - y).abs().sum(), 'to_f64': lambda m, x, y: x.double(),
 'cat': lambda m, x, y: m.cat([x, y], 0), 'stack': lambda m, x, y: m.stack([x, y]), 'index_sel': lambda m, x, y: x[::2],
 'masked': lambda m, x, y: x[x > 1], 'mul_': lambda m, x, y: x.clone().mul_(y), 'lerp': lambda m, x, y: x + 0.5 * (y - x),
 'sign': lambda m, x, y: x.sign(), 'atan2': lambda m, x, y: m.atan2(x, y), 'fmod': lambda m, x, y: m.fmod(x, y.abs() + 1),
}
# float64 operands (session 7 moved these from one libm call per element to the float64 SIMD leaves)
f64_cases = {
 'f64_exp': lambda m, x: x.exp(), 'f64_log': lambda m, x: x.abs().log(), 'f64_sin': lambda m, x: x.sin(),
 'f64_tanh': lambda m, x: x.tanh(), 'f64_sigmoid': lambda m, x: x.sigmoid(), 'f64_expm1': lambda m, x: x.expm1(),
 'f64_sqrt': lambda m, x: x.abs().sqrt(), 'f64_F.silu': lambda m, x: m.nn.functional.silu(x),
 'f64_F.softplus': lambda m, x: m.nn.functional.softplus(x), 'f64_F.gelu': lambda m, x: m.nn.functional.gelu(x),
 'f64_softmax': lambda m, x: m.nn.functional.softmax(x, 1), 'f64_log_softmax': lambda m, x: m.nn.functional.log_softmax(x, 1),
}
for name, f in list(cases.items()) + [(k, None) for k in f64_cases]:
    if f is None:
        g = f64_cases[name]
        o = bench(lambda: g(fl, fd)); t = bench(lambda: g(torch, td))
    else:
        try:
            o = bench(lambda: f(fl, fa, fb)); t = bench(lambda: f(torch, ta, tb))
        except Exception as e:
            print(name, 'ERR', e); continue
    flag = '  <<<' if t / o < 0.5 else ''
    print(f"{name:14s} ours {o:8.3f} torch {t:8.3f} ratio {t/o:6.2f}{flag}")
