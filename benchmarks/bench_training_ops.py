"""Ops that PyTorch-style training scripts call around the model (batch preparation, augmentation,
initialisation, attention reshapes, metrics), flambeau beside PyTorch CPU in the same process, 2
threads for both: finds the ops far behind (marked <<< below 0.9x). Each case is the best of 7
rounds of as many calls as take ~20 ms, in us; ratio = PyTorch time / ours.

    PYTHONPATH=python python benchmarks/bench_training_ops.py [substring]

Session 10 wrote it (benchmarks/logs/training_ops_s10_*.txt): it found randn 0.19x, arange 0.21x,
one_hot 0.25x, NCHW -> NHWC copies 0.30x, constant pad 0.33x, stack 0.54x, nonzero 0.67x and the
attention head reshape 0.65x, each fixed that session (RESULTS.md, session 10).
"""
import sys
import time

import numpy as np
import torch
import torch.nn.functional as TF

import flambeau as fl
import flambeau.nn.functional as F

torch.set_num_threads(2)
fl.set_num_threads(2)


def bench(f, k=None):
    f()
    t = time.perf_counter()
    f()
    one = time.perf_counter() - t
    k = k or max(3, int(0.02 / max(one, 1e-7)))
    best = 1e9
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(k):
            f()
        best = min(best, (time.perf_counter() - t) / k)
    return best * 1e6


rng = np.random.default_rng(0)
B = 128
logits = rng.standard_normal((B, 10)).astype(np.float32)
y = rng.integers(0, 10, B)
img = rng.standard_normal((B, 3, 32, 32)).astype(np.float32)
big = rng.standard_normal((4096, 1024)).astype(np.float32)
emb = rng.standard_normal((30000, 128)).astype(np.float32)
tok = rng.integers(0, 30000, (64, 128))
q = rng.standard_normal((32, 8, 128, 64)).astype(np.float32)
sm = rng.standard_normal((128, 256)).astype(np.float32)
w = rng.standard_normal((256, 256)).astype(np.float32)
seq = rng.standard_normal((64, 128, 256)).astype(np.float32)
lab = rng.integers(0, 10, 4096)


def make(m, Fm, T):
    L, Y, I, G, E, K = T(logits), T(y), T(img), T(big), T(emb), T(tok)
    Q, S, W, X, Y4 = T(q), T(sm), T(w), T(seq), T(lab)
    S64 = S.double()
    return {
     'acc (argmax==y).float().mean()': lambda: (L.argmax(1) == Y).float().mean(),
     'one_hot(y,10)': lambda: Fm.one_hot(Y, 10),
     'embedding 64x128 of 30000x128': lambda: Fm.embedding(K, E),
     'zeros(4096,1024)': lambda: m.zeros(4096, 1024),
     'randn(4096,1024)': lambda: m.randn(4096, 1024),
     'rand(4096,1024)': lambda: m.rand(4096, 1024),
     'arange(1M)': lambda: m.arange(1 << 20),
     'permute NCHW->NHWC contiguous': lambda: I.permute(0, 2, 3, 1).contiguous(),
     'F.pad 4 (reflect)': lambda: Fm.pad(I, (4, 4, 4, 4), mode='reflect'),
     'F.pad 4 (zeros)': lambda: Fm.pad(I, (4, 4, 4, 4)),
     'flip(3) images': lambda: I.flip(3),
     'img normalize (x-m)/s': lambda: (I - 0.5) / 0.25,
     'x.float().to(int64)': lambda: G.to(m.int64),
     'G.t() @ small': lambda: G[:256].t() @ G[:256],
     'topk(5) of [4096,1024]': lambda: G.topk(5, 1),
     'G.max(1)': lambda: G.max(1),
     'eq + sum': lambda: (G > 0).sum(),
     'clip_grad norm (norm of 4M)': lambda: G.norm(),
     'interpolate 2x nearest': lambda: Fm.interpolate(I, scale_factor=2, mode='nearest'),
     'interpolate 2x bilinear': lambda: Fm.interpolate(I, scale_factor=2, mode='bilinear', align_corners=False),
     'avg_pool 2': lambda: Fm.avg_pool2d(I, 2),
     'adaptive_avg_pool 1': lambda: Fm.adaptive_avg_pool2d(I, 1),
     'stack 128 images': lambda: m.stack([I[i] for i in range(B)]),
     'layer_norm [4096,1024]': lambda: Fm.layer_norm(G, (1024,)),
     'cumsum(1) [4096,1024]': lambda: G.cumsum(1),
     'where(G>0,G,0)': lambda: m.where(G > 0, G, m.zeros((), dtype=G.dtype) if m is torch else 0.0),

     'sdpa [32,8,128,64]': lambda: Fm.scaled_dot_product_attention(Q, Q, Q),
     'bmm [256,128,64]x[256,64,128]': lambda: m.bmm(Q.reshape(256,128,64), Q.reshape(256,128,64).transpose(1,2)),
     'linear 128x256 @256x256': lambda: Fm.linear(S, W),
     'layer_norm [64,128,256]': lambda: Fm.layer_norm(X, (256,)),
     'softmax [64,128,256] -1': lambda: m.softmax(X, -1),
     'gelu [64,128,256]': lambda: Fm.gelu(X),
     'einsum bij,bjk': lambda: m.einsum('bij,bjk->bik', X[:, :64, :128], X[:, :128, :64]),
     'transpose(1,2).contiguous seq': lambda: X.transpose(1, 2).contiguous(),
     'reshape/view chain': lambda: X.view(64, 128, 8, 32).transpose(1, 2).reshape(64 * 8, 128, 32),
     'masked_fill causal': lambda: X.masked_fill(m.ones(128, 256, dtype=m.bool).triu(1), float('-inf')),
     'argmax(1) [4096,1024]': lambda: G.argmax(1),
     'sort(1) [128,256]': lambda: S.sort(1),
     'cumsum(0) [4096,1024]': lambda: G.cumsum(0),
     'mean(dim=(2,3)) imgs': lambda: I.mean(dim=(2, 3)),
     'var(dim=(0,2,3)) imgs': lambda: I.var(dim=(0, 2, 3)),
     'normalize per-channel': lambda: (I - I.mean(dim=(0, 2, 3), keepdim=True)) / I.std(dim=(0, 2, 3), keepdim=True),
     'bincount 4096': lambda: m.bincount(Y4, minlength=10),
     'nonzero G>2': lambda: (G > 2).nonzero(),
     'clone G': lambda: G.clone(),
     'G.abs().max()': lambda: G.abs().max(),
     'isfinite all': lambda: m.isfinite(G).all(),
     'F.normalize rows': lambda: Fm.normalize(G, dim=1),
     'mse_loss': lambda: Fm.mse_loss(G, G * 0.5),
     'cross_entropy 4096x10': lambda: Fm.cross_entropy(G[:, :10], Y4),
     'chunk(4,1) + cat': lambda: m.cat(G.chunk(4, 1)[::-1], 1),
     'repeat_interleave': lambda: S.repeat_interleave(2, dim=0),
     'unfold 3x3 imgs': lambda: Fm.unfold(I[:16], 3, padding=1),
     'max_pool2d 2 imgs': lambda: Fm.max_pool2d(I, 2),
     'conv2d 3->16 imgs': lambda: Fm.conv2d(I, m.ones(16, 3, 3, 3), padding=1),
     'cdist [128,256]x[128,256] (mm path)': lambda: m.cdist(S, S),
     'cdist p=1 [128,256]x[128,256]': lambda: m.cdist(S, S, 1),
     'cdist p=3 [128,256]x[128,256]': lambda: m.cdist(S, S, 3),
     'cdist [20,256]x[20,256] (direct)': lambda: m.cdist(S[:20], S[:20]),
     'pdist [128,256]': lambda: Fm.pdist(S),
     'pdist p=1 [128,256]': lambda: Fm.pdist(S, 1),
     'pdist p=inf [128,256]': lambda: Fm.pdist(S, float('inf')),
     'pdist [128,256] float64': lambda: Fm.pdist(S64),
    }


def main():
    pick = sys.argv[1] if len(sys.argv) > 1 else ""
    ours, theirs = make(fl, F, fl.from_numpy), make(torch, TF, torch.from_numpy)
    for name in ours:
        if pick not in name:
            continue
        try:
            o, t = bench(ours[name]), bench(theirs[name])
        except Exception as e:  # an op flambeau lacks is a finding too
            print(f"{name:38s} ERR {type(e).__name__}: {str(e)[:90]}")
            continue
        flag = "  <<<" if t / o < 0.9 else ""
        print(f"{name:38s} ours {o:10.1f} us  torch {t:10.1f} us  ratio {t / o:5.2f}{flag}")


if __name__ == "__main__":
    main()
