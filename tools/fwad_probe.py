"""Probe (session 15): forward-AD tangents of ~80 ops and modules, flambeau vs torch.autograd.forward_ad in
float64; ops torch has no forward-AD formula for are checked against central differences instead.

    python tools/fwad_probe.py [case ...]      (from the repository root; prints OK/BAD per case)
"""
import sys, traceback
import numpy as np
import torch, torch.autograd.forward_ad as tfw
sys.path.insert(0, "python")
import flambeau, flambeau.autograd.forward_ad as ffw

def run(L, fw, fn, arrs, seed):
    with fw.dual_level():
        ds = [fw.make_dual(L.tensor(a), L.tensor(t)) for a, t in arrs]
        L.manual_seed(seed)
        out = fn(L, *ds)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        r = []
        for o in outs:
            p, t = fw.unpack_dual(o)
            r.append((p.detach().numpy().copy(), None if t is None else t.detach().numpy().copy()))
        return r

F = lambda L: L.nn.functional
CASES = {
 "nll": (lambda L, x: F(L).nll_loss(F(L).log_softmax(x, 1), L.tensor([1, 0, 3])), [(3, 4)]),
 "kl_div": (lambda L, x, y: F(L).kl_div(F(L).log_softmax(x, 1), F(L).softmax(y, 1), reduction="batchmean"), [(3, 4), (3, 4)]),
 "l1": (lambda L, x, y: F(L).l1_loss(x, y), [(3, 4), (3, 4)]),
 "huber": (lambda L, x, y: F(L).huber_loss(x, y, delta=0.5), [(3, 4), (3, 4)]),
 "bce": (lambda L, x, y: F(L).binary_cross_entropy(x.sigmoid(), y.sigmoid()), [(3, 4), (3, 4)]),
 "ce_smooth": (lambda L, x: F(L).cross_entropy(x, L.tensor([1, 0, 3]), label_smoothing=0.1), [(3, 4)]),
 "ce_probs": (lambda L, x, y: F(L).cross_entropy(x, y.softmax(1)), [(3, 4), (3, 4)]),
 "addmm": (lambda L, a, b, c: L.addmm(a, b, c), [(3, 2), (3, 4), (4, 2)]),
 "baddbmm": (lambda L, a, b, c: L.baddbmm(a, b, c, beta=0.5, alpha=2), [(2, 3, 2), (2, 3, 4), (2, 4, 2)]),
 "einsum": (lambda L, a, b: L.einsum("ij,jk->ik", a, b), [(3, 4), (4, 2)]),
 "cumprod": (lambda L, x: x.cumprod(1), [(3, 4)]),
 "sort": (lambda L, x: x.sort(1)[0], [(3, 4)]),
 "topk": (lambda L, x: x.topk(2, 1)[0], [(3, 4)]),
 "masked_fill": (lambda L, x: x.masked_fill(x > 0, 0.5), [(3, 4)]),
 "index_add": (lambda L, x, s: x.index_add(0, L.tensor([0, 2]), s), [(3, 4), (2, 4)]),
 "scatter": (lambda L, x, s: x.scatter(1, L.tensor([[0], [2], [1]]), s), [(3, 4), (3, 1)]),
 "hardtanh": (lambda L, x: F(L).hardtanh(x * 2), [(3, 4)]),
 "mish_hardswish": (lambda L, x: F(L).mish(x) + F(L).hardswish(x) + F(L).selu(x), [(3, 4)]),
 "adaptive_avg": (lambda L, x: F(L).adaptive_avg_pool2d(x, 2), [(2, 3, 5, 5)]),
 "adaptive_max": (lambda L, x: F(L).adaptive_max_pool2d(x, 2), [(2, 3, 5, 5)]),
 "max_pool1d": (lambda L, x: F(L).max_pool1d(x, 2), [(2, 3, 7)]),
 "interp_nearest": (lambda L, x: F(L).interpolate(x, scale_factor=2), [(1, 2, 3, 3)]),
 "interp_bilinear": (lambda L, x: F(L).interpolate(x, size=(5, 4), mode="bilinear", align_corners=False), [(1, 2, 3, 3)]),
 "instance_norm": (lambda L, x: F(L).instance_norm(x), [(2, 3, 5)]),
 "batch_norm_eval": (lambda L, x, m: F(L).batch_norm(x, L.zeros(3, dtype=x.dtype), L.ones(3, dtype=x.dtype), m, None, training=False), [(4, 3), (3,)]),
 "conv_t2d": (lambda L, x, w: F(L).conv_transpose2d(x, w, stride=2), [(1, 2, 3, 3), (2, 3, 2, 2)]),
 "conv3d": (lambda L, x, w: F(L).conv3d(x, w), [(1, 2, 4, 4, 4), (3, 2, 2, 2, 2)]),
 "pixel_shuffle": (lambda L, x: F(L).pixel_shuffle(x, 2), [(1, 4, 2, 3)]),
 "unfold": (lambda L, x: F(L).unfold(x, 2), [(1, 2, 4, 4)]),
 "sdpa": (lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v, is_causal=True), [(2, 3, 5, 4)] * 3),
 "cosine_sim": (lambda L, a, b: F(L).cosine_similarity(a, b), [(3, 4), (3, 4)]),
 "normalize": (lambda L, a: F(L).normalize(a), [(3, 4)]),
 "pdist": (lambda L, a, b: L.cdist(a, b), [(3, 4), (5, 4)]),
 "lerp": (lambda L, a, b: L.lerp(a, b, 0.3), [(3, 4), (3, 4)]),
 "addcdiv": (lambda L, a, b, c: L.addcdiv(a, b, c * c + 1), [(3, 4), (3, 4), (3, 4)]),
 "where_t": (lambda L, a, b: L.where(a > b, a, b), [(3, 4), (3, 4)]),
 "clamp_t": (lambda L, a, b: a.clamp(min=b), [(3, 4), (3, 4)]),
 "log1p_expm1": (lambda L, a: a.exp().log1p() + a.expm1() + a.reciprocal(), [(3, 4)]),
 "rsqrt_tan": (lambda L, a: (a * a + 1).rsqrt() + a.tan() * 0.1 + a.asinh(), [(3, 4)]),
 "glu": (lambda L, a: F(L).glu(a, 1), [(3, 4)]),
 "prelu": (lambda L, a, w: F(L).prelu(a, w), [(3, 4), (1,)]),
 "logsigmoid": (lambda L, a: F(L).logsigmoid(a) + F(L).softsign(a), [(3, 4)]),
 "std_mean": (lambda L, a: L.std_mean(a, 1)[0] + L.var_mean(a, 0)[1].sum(), [(3, 4)]),
 "diag_trace": (lambda L, a: L.diag(a).sum() + a.trace() + a.diagonal().sum(), [(4, 4)]),
 "triu_outer": (lambda L, a, b: L.outer(a, b).triu(), [(4,), (4,)]),
 "repeat_tile": (lambda L, a: a.repeat(2, 1) + 0, [(3, 4)]),
 "roll_narrow": (lambda L, a: a.narrow(1, 1, 2).roll(1, 0), [(3, 4)]),
 "masked_select": (lambda L, a: a.masked_select(a > 0), [(3, 4)]),
 "nonzero_index": (lambda L, a: a[a > 0], [(3, 4)]),
 "embedding_bag": (lambda L, w: F(L).embedding_bag(L.tensor([0, 2, 1, 3]), w, L.tensor([0, 2])), [(4, 3)]),
 "lstm": (lambda L, x: _rnn(L, L.nn.LSTM, x), [(5, 2, 3)]),
 "gru": (lambda L, x: _rnn(L, L.nn.GRU, x), [(5, 2, 3)]),
 "rnn": (lambda L, x: _rnn(L, L.nn.RNN, x), [(5, 2, 3)]),
 "mha": (lambda L, x: _mha(L, x), [(2, 5, 4)]),
 "enc_layer": (lambda L, x: _enc(L, x), [(2, 5, 4)]),
 "linalg_inv": (lambda L, a: L.linalg.inv(a + 3 * L.eye(3, dtype=a.dtype)), [(3, 3)]),
 "linalg_solve": (lambda L, a, b: L.linalg.solve(a + 3 * L.eye(3, dtype=a.dtype), b), [(3, 3), (3, 2)]),
 "det": (lambda L, a: L.linalg.det(a), [(3, 3)]),
 "cholesky": (lambda L, a: L.linalg.cholesky(a @ a.mT + L.eye(3, dtype=a.dtype)), [(3, 3)]),
 "qr": (lambda L, a: L.linalg.qr(a)[1], [(4, 3)]),
 "svdvals": (lambda L, a: L.linalg.svdvals(a), [(4, 3)]),
 "eigh": (lambda L, a: L.linalg.eigh(a + a.mT)[0], [(3, 3)]),
 "grid_sample": (lambda L, x, g: F(L).grid_sample(x, g.tanh(), align_corners=False), [(1, 2, 4, 4), (1, 3, 3, 2)]),
 "ctc": (lambda L, x: F(L).ctc_loss(x.log_softmax(2), L.tensor([[1, 2]]), L.tensor([5]), L.tensor([2])), [(5, 1, 4)]),
 "special": (lambda L, a: L.special.erfinv(a.tanh() * 0.9) + L.lgamma(a.abs() + 1) + L.digamma(a.abs() + 1), [(3, 4)]),
 "dropout_train": (lambda L, a: F(L).dropout(a, 0.0, training=True), [(3, 4)]),
 "fmod_rem": (lambda L, a: L.fmod(a, 0.7) + L.remainder(a, 0.6), [(3, 4)]),
 "max_binary": (lambda L, a, b: L.max(a, b) + L.fmin(a, b), [(3, 4), (3, 4)]),
 "median_mode": (lambda L, a: a.median(1)[0] + a.kthvalue(2, 1)[0], [(3, 5)]),
 "nan_to_num": (lambda L, a: L.nan_to_num(a) + a.logit(eps=0.1) * 0.01 + a.sinc() + L.xlogy(a.abs(), a.abs() + 1), [(3, 4)]),
 "cross_norm": (lambda L, a, b: L.linalg.cross(a, b) + L.linalg.vector_norm(a, 3, dim=1, keepdim=True), [(3, 3), (3, 3)]),
 "matrix_norm": (lambda L, a: L.linalg.matrix_norm(a) + L.linalg.norm(a, 1), [(3, 3)]),
 "polar_hypot": (lambda L, a, b: L.hypot(a, b) + L.copysign(a, b) + L.logaddexp(a, b), [(3, 4), (3, 4)]),
 "amp_to": (lambda L, a: a.to(L.float32).exp().to(L.float64), [(3, 4)]),
 "channel_shuffle": (lambda L, a: a.flatten(1).unflatten(1, (2, 6)).movedim(1, 2).contiguous(), [(2, 3, 4)]),
 "split_cat": (lambda L, a: L.cat(a.chunk(2, 1)[::-1], 1) + L.hstack([a, a])[:, :4] + L.vstack([a])[0], [(3, 4)]),
}

def _rnn(L, cls, x):
    L.manual_seed(0)
    m = cls(3, 4, num_layers=2).double()
    if L is flambeau:
        m.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in _TM[cls.__name__].state_dict().items()})
    else:
        _TM[cls.__name__] = m
    out = m(x)
    return out[0]

def _mha(L, x):
    L.manual_seed(0)
    m = L.nn.MultiheadAttention(4, 2, batch_first=True).double()
    if L is flambeau:
        m.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in _TM["mha"].state_dict().items()})
    else:
        _TM["mha"] = m
    return m(x, x, x)[0]

def _enc(L, x):
    m = L.nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0, batch_first=True).double()
    if L is flambeau:
        m.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in _TM["enc"].state_dict().items()})
    else:
        _TM["enc"] = m
    m.eval()
    return m(x)

_TM = {}
only = sys.argv[1:]
bad = 0
for name, (fn, shapes) in CASES.items():
    if only and name not in only:
        continue
    rng = np.random.default_rng(abs(hash(name)) % 2**31)
    arrs = [(rng.standard_normal(s), rng.standard_normal(s)) for s in shapes]
    try:
        want = run(torch, tfw, fn, arrs, 0)
    except Exception as e:
        try:  # no forward-AD formula in torch: central differences of flambeau's own primal
            got = run(flambeau, ffw, fn, arrs, 0)
            eps = 1e-6
            f = lambda s: fn(flambeau, *[flambeau.tensor(a + s * eps * t) for a, t in arrs]).detach().numpy()  # noqa
            err = np.abs(got[0][1] - (f(1) - f(-1)) / (2 * eps)).max()
            print(f"{name:18s} (torch: {type(e).__name__}) vs finite differences: max err {err:.2g}")
        except Exception as e2:
            print(f"{name:18s} (torch: {type(e).__name__}) flambeau raises too: {type(e2).__name__}: {str(e2)[:90]}")
        continue
    try:
        got = run(flambeau, ffw, fn, arrs, 0)
    except Exception as e:
        bad += 1
        print(f"{name:18s} FLAMBEAU ERROR {type(e).__name__}: {str(e)[:200]}")
        if only: traceback.print_exc()
        continue
    msg = []
    for (gp, gt), (wp, wt) in zip(got, want):
        if gp.shape != wp.shape or not np.allclose(gp, wp, rtol=1e-7, atol=1e-9):
            msg.append("primal differs")
        elif (wt is None) != (gt is None or not gt.any()) and not (wt is not None and not wt.any()):
            msg.append(f"tangent presence {gt is None} vs {wt is None}")
        elif wt is not None and not np.allclose(gt, wt, rtol=1e-6, atol=1e-8):
            msg.append(f"tangent differs max {np.abs(gt - wt).max():.3g}")
    if msg:
        bad += 1
    print(f"{name:18s} {'OK' if not msg else 'BAD ' + '; '.join(msg)}")
print("bad:", bad)
