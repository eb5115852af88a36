"""Script parity: recommenders, a physics-informed network and the mixed-precision idioms, run with PyTorch and
with flambeau from the same weights on the same data.

- matrix factorisation with user/item embeddings and biases, MSE on observed ratings, SGD with weight
  decay, then top-k recommendations with the seen items masked out;
- a DLRM-style click model: EmbeddingBag (sum with offsets and per_sample_weights, mean, max) for
  multi-hot categorical features, dense features through an MLP, pairwise dot-product interactions
  (bmm + triu_indices), BCE;
- a PINN for the 1-D heat equation u_t = k u_xx: u_x, u_xx, u_t by autograd.grad(create_graph=True),
  boundary and initial-condition losses, Adam then a few L-BFGS steps with a closure;
- the mixed-precision training idiom of the PyTorch AMP recipe written device-agnostically
  (autocast/GradScaler enabled only on CUDA, so disabled here: both libraries then compute in float32),
  and with a GradScaler("cpu"), which is enabled in both; scaler.scale/unscale_/step/update and the
  scaler's state_dict in the checkpoint.
"""
import numpy as np
import torch

from script_parity import assert_records_close, numpy_state, run_both_checked
from script_parity import load_numpy_state as load_state
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)

N_USERS, N_ITEMS = 9, 12


def _mf(nn, dim=4):
    class MF(nn.Module):
        def __init__(self):
            super().__init__()
            self.user = nn.Embedding(N_USERS, dim)
            self.item = nn.Embedding(N_ITEMS, dim)
            self.user_bias = nn.Embedding(N_USERS, 1)
            self.item_bias = nn.Embedding(N_ITEMS, 1)
            self.user_bias.weight.data.zero_()
            self.item_bias.weight.data.zero_()

        def forward(self, u, i):
            dot = (self.user(u) * self.item(i)).sum(dim=1)
            return dot + self.user_bias(u).squeeze(1) + self.item_bias(i).squeeze(1)
    return MF()


def mf_script(lib, state, U, I, R):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    model = _mf(nn)
    load_state(lib, model, state)
    u, i, r = torch.from_numpy(U), torch.from_numpy(I), torch.from_numpy(R)
    global_mean = r.mean()
    opt = optim.SGD(model.parameters(), lr=0.05, weight_decay=1e-3)
    loader = lib.data.DataLoader(lib.data.TensorDataset(u, i, r), batch_size=10)
    rec = {"loss": [], "rmse": []}
    for epoch in range(4):
        for ub, ib, rb in loader:
            pred = model(ub, ib) + global_mean
            loss = F.mse_loss(pred, rb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec["loss"].append(loss.item())
        with torch.no_grad():
            rec["rmse"].append(torch.sqrt(F.mse_loss(model(u, i) + global_mean, r)).item())
    with torch.no_grad():
        scores = model.user.weight @ model.item.weight.T + model.item_bias.weight.T + model.user_bias.weight
        seen = torch.zeros(N_USERS, N_ITEMS, dtype=torch.bool)
        seen[u, i] = True
        scores = scores.masked_fill(seen, float("-inf"))
        top = torch.topk(scores, k=3, dim=1)
    rec["top_vals"], rec["top_idx"] = top.values, top.indices
    rec["item_grad"] = model.item.weight.grad
    return rec


def test_matrix_factorisation_recommender():
    rng = np.random.default_rng(70)
    n = 40
    pairs = rng.choice(N_USERS * N_ITEMS, size=n, replace=False)
    U, I = (pairs // N_ITEMS).astype(np.int64), (pairs % N_ITEMS).astype(np.int64)
    R = np.clip(rng.normal(3.5, 1.0, n), 1, 5).astype(np.float32)
    rt, rf = run_both_checked(mf_script, numpy_state(_mf(torch.nn)), U, I, R)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)


def _dlrm(nn):
    class DLRM(nn.Module):
        def __init__(self, vocab=(10, 15, 8), dim=4):
            super().__init__()
            self.bags = nn.ModuleList([nn.EmbeddingBag(vocab[0], dim, mode="sum"),
                                       nn.EmbeddingBag(vocab[1], dim, mode="mean"),
                                       nn.EmbeddingBag(vocab[2], dim, mode="max", padding_idx=0)])
            self.bottom = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, dim), nn.ReLU())
            n_feat = 1 + len(vocab)
            self.top = nn.Sequential(nn.Linear(dim + n_feat * (n_feat - 1) // 2, 8), nn.ReLU(), nn.Linear(8, 1))

        def forward(self, torch, dense, idx0, off0, w0, idx1, off1, idx2):
            d = self.bottom(dense)
            e = [self.bags[0](idx0, off0, per_sample_weights=w0), self.bags[1](idx1, off1), self.bags[2](idx2)]
            T = torch.stack([d] + e, dim=1)  # (B, F, dim)
            Z = torch.bmm(T, T.transpose(1, 2))
            li, lj = torch.triu_indices(T.shape[1], T.shape[1], offset=1)
            return self.top(torch.cat([d, Z[:, li, lj]], dim=1)).squeeze(1)
    return DLRM()


def dlrm_script(lib, state, batches):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    model = _dlrm(nn)
    load_state(lib, model, state)
    opt = optim.Adagrad(model.parameters(), lr=0.05)
    rec = {"loss": [], "bag_grads": []}
    for epoch in range(2):
        for b in batches:
            t = {k: torch.from_numpy(v) for k, v in b.items()}
            logit = model(torch, t["dense"], t["idx0"], t["off0"], t["w0"], t["idx1"], t["off1"], t["idx2"])
            loss = F.binary_cross_entropy(torch.sigmoid(logit), t["y"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec["loss"].append(loss.item())
            rec["bag_grads"].append([bag.weight.grad for bag in model.bags])
    return rec


def _dlrm_batch(rng, B=6):
    lens0 = rng.integers(1, 4, B)
    lens1 = rng.integers(1, 3, B)
    idx0 = rng.integers(0, 10, lens0.sum())
    idx1 = rng.integers(0, 15, lens1.sum())
    return {
        "dense": rng.standard_normal((B, 3)).astype(np.float32),
        "idx0": idx0.astype(np.int64), "off0": np.concatenate([[0], np.cumsum(lens0)[:-1]]).astype(np.int64),
        "w0": rng.random(lens0.sum()).astype(np.float32),
        "idx1": idx1.astype(np.int64), "off1": np.concatenate([[0], np.cumsum(lens1)[:-1]]).astype(np.int64),
        "idx2": rng.integers(0, 8, (B, 3)).astype(np.int64),  # 2-D input: fixed-size bags, 0 is padding
        "y": (rng.random(B) < 0.4).astype(np.float32),
    }


def test_dlrm_embeddingbag_offsets_weights():
    rng = np.random.default_rng(71)
    batches = [_dlrm_batch(rng) for _ in range(3)]
    rt, rf = run_both_checked(dlrm_script, numpy_state(_dlrm(torch.nn)), batches)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)


# ---------------------------------------------------------------- PINN
def _pinn(nn):
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))


def pinn_script(lib, state, Xc, Xb, Xi):
    torch, nn, optim = lib.torch, lib.nn, lib.optim
    import math
    net = _pinn(nn)
    load_state(lib, net, state)
    kappa = 0.1
    xc = torch.from_numpy(Xc).requires_grad_(True)  # collocation points (x, t)
    xb = torch.from_numpy(Xb)  # boundary x in {0, 1}
    xi = torch.from_numpy(Xi)  # t = 0
    u0 = torch.sin(math.pi * xi[:, :1])

    def residual():
        u = net(xc)
        du = torch.autograd.grad(u, xc, grad_outputs=torch.ones_like(u), create_graph=True)[0]
        u_x, u_t = du[:, 0:1], du[:, 1:2]
        u_xx = torch.autograd.grad(u_x, xc, grad_outputs=torch.ones_like(u_x), create_graph=True)[0][:, 0:1]
        return u_t - kappa * u_xx

    def total_loss():
        f = residual()
        return (f ** 2).mean() + (net(xb) ** 2).mean() + ((net(xi) - u0) ** 2).mean()

    rec = {"adam": [], "lbfgs": []}
    opt = optim.Adam(net.parameters(), lr=5e-3)
    for it in range(5):
        opt.zero_grad()
        loss = total_loss()
        loss.backward()
        opt.step()
        rec["adam"].append(loss.item())
    lbfgs = optim.LBFGS(net.parameters(), lr=0.5, max_iter=4, history_size=5, line_search_fn="strong_wolfe")

    def closure():
        lbfgs.zero_grad()
        loss = total_loss()
        loss.backward()
        return loss
    for it in range(2):
        rec["lbfgs"].append(lbfgs.step(closure).item())
    # the third derivative through the same graph machinery
    u = net(xc)
    g1 = torch.autograd.grad(u.sum(), xc, create_graph=True)[0][:, 0]
    g2 = torch.autograd.grad(g1.sum(), xc, create_graph=True)[0][:, 0]
    rec["u_xxx"] = torch.autograd.grad(g2.sum(), xc)[0][:, 0]
    rec["grads"] = [p.grad for p in net.parameters()]
    return rec


def test_pinn_heat_equation_higher_order_grad():
    rng = np.random.default_rng(72)
    Xc = rng.random((24, 2)).astype(np.float32)
    Xb = np.stack([rng.integers(0, 2, 8), rng.random(8)], 1).astype(np.float32)
    Xi = np.stack([rng.random(8), np.zeros(8)], 1).astype(np.float32)
    rt, rf = run_both_checked(pinn_script, numpy_state(_pinn(torch.nn)), Xc, Xb, Xi)
    assert_records_close(rf, rt, atol=5e-5, rtol=5e-4)


# ---------------------------------------------------------------- mixed precision idiom
def _amp_net(nn):
    return nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.LayerNorm(32), nn.Linear(32, 4))


def amp_script(lib, state, X, Y, scaler_on_cpu):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    import io
    device = "cuda" if torch.cuda.is_available() else "cpu"
    use_amp = device == "cuda"
    model = _amp_net(nn)
    load_state(lib, model, state)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    # the recipe's scaler is enabled only with CUDA; a CPU scaler (PyTorch's works on CPU) is the other variant
    scaler = torch.amp.GradScaler("cpu") if scaler_on_cpu else torch.amp.GradScaler(device, enabled=use_amp)
    legacy = torch.cuda.amp.GradScaler(enabled=use_amp)
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    rec = {"loss": [], "dtype": [], "scale": [], "enabled": (scaler.is_enabled(), legacy.is_enabled()),
           "autocast_on": []}
    for step in range(4):
        with torch.autocast(device_type=device, dtype=torch.float16, enabled=use_amp):
            out = model(x)
            loss = F.cross_entropy(out, y)
            rec["autocast_on"].append(torch.is_autocast_enabled())
        rec["dtype"].append(str(out.dtype).split(".")[-1])
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        rec["loss"].append(loss.item())
        rec["scale"].append(scaler.get_scale())
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "scaler": scaler.state_dict()}, buf)
    buf.seek(0)
    ck = torch.load(buf)
    scaler2 = torch.amp.GradScaler("cpu") if scaler_on_cpu else torch.amp.GradScaler(device, enabled=use_amp)
    scaler2.load_state_dict(ck["scaler"])
    rec["scaler_state"] = ck["scaler"]
    rec["scaler2_scale"] = scaler2.get_scale()
    rec["final"] = dict(model.state_dict())
    # inference under autocast on CPU with bfloat16 disabled explicitly, the common eval idiom
    with torch.no_grad(), torch.autocast(device_type="cpu", enabled=False):
        rec["eval"] = model(x)
    return rec


def test_mixed_precision_idiom_device_agnostic():
    rng = np.random.default_rng(73)
    X = rng.standard_normal((10, 8)).astype(np.float32)
    Y = rng.integers(0, 4, 10).astype(np.int64)
    for scaler_on_cpu in (False, True):
        rt, rf = run_both_checked(amp_script, numpy_state(_amp_net(torch.nn)), X, Y, scaler_on_cpu)
        assert_records_close(rf, rt, atol=2e-5, rtol=2e-4, path=f"scaler_on_cpu={scaler_on_cpu}")
        assert rt["enabled"][0] == scaler_on_cpu
