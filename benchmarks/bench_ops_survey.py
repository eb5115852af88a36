"""A sweep over common foundation ops (reductions, pow, clamp, where, broadcasting, softmax, cumsum,
sort, indexing, pow, float64 math and activations) beside PyTorch CPU: finds the ops that are far behind (marked <<<
below 0.5x). 1024x1024 float32 operands, 2 threads for both, best of 5 rounds of 10 calls, in ms.

    PYTHONPATH=python python benchmarks/bench_ops_survey.py

Session 8's log: benchmarks/logs/survey_s8.txt (its more_cases end with that session's ops).
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

idx = np.random.randint(0, 1024, (1024, 1024)).astype(np.int64); fi, ti = fl.from_numpy(idx), torch.from_numpy(idx)
i1 = np.random.randint(0, 1024, 512).astype(np.int64); fi1, ti1 = fl.from_numpy(i1), torch.from_numpy(i1)
mask = a > 0; fm, tm = fl.from_numpy(mask), torch.from_numpy(mask)
more_cases = {  # reductions over other dims, indexing, gather/scatter, shape ops (session 7)
 'max(0)': lambda m, x, y, i, j, k: x.max(0), 'argmax(0)': lambda m, x, y, i, j, k: x.argmax(0), 'min(1)': lambda m, x, y, i, j, k: x.min(1),
 'prod(1)': lambda m, x, y, i, j, k: x.prod(1), 'any': lambda m, x, y, i, j, k: (x > 3).any(), 'all(1)': lambda m, x, y, i, j, k: (x > -5).all(1),
 'mean(0)': lambda m, x, y, i, j, k: x.mean(0), 'var(0)': lambda m, x, y, i, j, k: x.var(0), 'std(1)': lambda m, x, y, i, j, k: x.std(1),
 'cumsum(0)': lambda m, x, y, i, j, k: x.cumsum(0), 'softmax(0)': lambda m, x, y, i, j, k: m.softmax(x, 0), 'sort(0)': lambda m, x, y, i, j, k: x.sort(0)[0],
 'cat(1)': lambda m, x, y, i, j, k: m.cat([x, y], 1), 'gather(1)': lambda m, x, y, i, j, k: x.gather(1, i), 'index_select0': lambda m, x, y, i, j, k: x.index_select(0, j),
 'x[idx]': lambda m, x, y, i, j, k: x[j], 'scatter_add': lambda m, x, y, i, j, k: m.zeros(1024, 1024).scatter_add_(1, i, y),
 'masked_fill': lambda m, x, y, i, j, k: x.masked_fill(k, 0.0), 'where_b': lambda m, x, y, i, j, k: m.where(k, x, 0.0), 'x[mask]=0': lambda m, x, y, i, j, k: x.clone().__setitem__(k, 0.0),
 'clamp_min': lambda m, x, y, i, j, k: x.clamp(min=0), 'abs': lambda m, x, y, i, j, k: x.abs(), 'neg': lambda m, x, y, i, j, k: -x, 'x/y': lambda m, x, y, i, j, k: x / y,
 'x>0 float': lambda m, x, y, i, j, k: (x > 0).float(), 'mm 256': lambda m, x, y, i, j, k: x[:256, :256] @ y[:256, :256], 'flip(1)': lambda m, x, y, i, j, k: x.flip(1),
 'roll': lambda m, x, y, i, j, k: x.roll(3, 1), 'repeat': lambda m, x, y, i, j, k: x[:256].repeat(2, 2), 'tril': lambda m, x, y, i, j, k: x.tril(),
 'diag': lambda m, x, y, i, j, k: x.diagonal().sum(), 'unique': lambda m, x, y, i, j, k: m.unique(i[:64]), 'bincount': lambda m, x, y, i, j, k: m.bincount(j),
 'nonzero': lambda m, x, y, i, j, k: k.nonzero(), 'argsort1': lambda m, x, y, i, j, k: x.argsort(1), 'median1': lambda m, x, y, i, j, k: x.median(1)[0],
 'lerp_': lambda m, x, y, i, j, k: x.clone().lerp_(y, 0.3), 'addcmul': lambda m, x, y, i, j, k: m.addcmul(x, x, y, value=0.5), 'sqrt_abs': lambda m, x, y, i, j, k: x.abs().sqrt(),
 'to int64': lambda m, x, y, i, j, k: x.long(), 'int add': lambda m, x, y, i, j, k: i + i, 'bool and': lambda m, x, y, i, j, k: k & k, 'f32 sum bool': lambda m, x, y, i, j, k: k.sum(),
 'expand+add': lambda m, x, y, i, j, k: x[:, :1] + y[:1, :], 'outer': lambda m, x, y, i, j, k: m.outer(x[0], y[0]), 'einsum': lambda m, x, y, i, j, k: m.einsum('ij,ij->i', x, y),
 # session 8
 'addcdiv_': lambda m, x, y, i, j, k: x.clone().addcdiv_(y, x.abs() + 1, value=0.1), 'lerp(w)': lambda m, x, y, i, j, k: m.lerp(x, y, x.abs()),
 'triu(1)': lambda m, x, y, i, j, k: x.triu(1), 'flip(0)': lambda m, x, y, i, j, k: x.flip(0), 'roll 64': lambda m, x, y, i, j, k: x[:64, :64].roll(3, 1),
 'min(0)': lambda m, x, y, i, j, k: x.min(0), 'scatter_add0': lambda m, x, y, i, j, k: m.zeros(1024, 1024).scatter_add_(0, i, y),
 'mv': lambda m, x, y, i, j, k: x @ y[0], 'vm': lambda m, x, y, i, j, k: y[0] @ x, 'dot 1k': lambda m, x, y, i, j, k: x[0] @ y[0],
 'dot 1M': lambda m, x, y, i, j, k: x.reshape(-1) @ y.reshape(-1), 'linear b1': lambda m, x, y, i, j, k: m.nn.functional.linear(x[:1], y[:512]),
 'sort int64 64K': lambda m, x, y, i, j, k: i[:64].reshape(-1).sort()[0], 'sort f32 1M': lambda m, x, y, i, j, k: x.reshape(-1).sort()[0],
 'unique 64K': lambda m, x, y, i, j, k: m.unique(i[:64]), 'maximum': lambda m, x, y, i, j, k: m.maximum(x, y),
 'f64 erf': lambda m, x, y, i, j, k: x.double().erf(), 'f64 gelu': lambda m, x, y, i, j, k: m.nn.functional.gelu(x.double()),
}
for name, f in more_cases.items():
    try:
        o = bench(lambda: f(fl, fa, fb, fi, fi1, fm), 5); t = bench(lambda: f(torch, ta, tb, ti, ti1, tm), 5)
    except Exception as e:
        print(f"{name:14s} ERR {type(e).__name__}: {str(e)[:80]}"); continue
    flag = '  <<<' if t / o < 0.5 else ''
    print(f"{name:14s} ours {o:8.3f} torch {t:8.3f} ratio {t/o:6.2f}{flag}")
