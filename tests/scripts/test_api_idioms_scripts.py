"""Script parity: the tensor-API and autograd idioms practitioners write around their models, each as
a small realistic script written against module parameters (torch, nn, F, optim, data), run once with
PyTorch and once with flambeau from the same initial weights (copied through numpy) on the same numpy
data; what each script records step by step must agree.

- device-agnostic training loop (device selection, .to(device, non_blocking=True), cudnn flags,
  matmul precision, DataLoader(pin_memory=...), inference_mode / set_grad_enabled evaluation,
  rng state save/restore, generator-driven dropout check);
- per-sample gradients with torch.func (vmap(grad) + functional_call) and DP-SGD-style clipping;
- WGAN-GP gradient penalty (autograd.grad(create_graph=True)) and a Hessian-vector product;
- a custom autograd.Function (save_for_backward, mark_non_differentiable, once_differentiable) with
  tensor hooks and retain_grad;
- data processing: masks, index_put_(accumulate), scatter_add segment sums, unique, bucketize,
  one_hot, gather, meshgrid, unfold;
- a channels_last conv net, strides checked along with the losses.
"""
import warnings

import numpy as np
import torch

from script_parity import FLAMBEAU, TORCH, assert_records_close, numpy_state
from script_parity import load_numpy_state as load_state
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


def _global_flags(lib):
    t = lib.torch
    return (t.get_float32_matmul_precision(), t.backends.cudnn.benchmark, t.backends.cudnn.deterministic,
            t.are_deterministic_algorithms_enabled())


def _restore_flags(lib, flags):
    t = lib.torch
    t.set_float32_matmul_precision(flags[0])
    t.backends.cudnn.benchmark, t.backends.cudnn.deterministic = flags[1], flags[2]
    t.use_deterministic_algorithms(flags[3])


def run_both(script, *args, **kwargs):
    """The script under each library; the process-wide flags scripts set are restored afterwards."""
    saved = [(lib, _global_flags(lib)) for lib in (TORCH, FLAMBEAU)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pin_memory without an accelerator warns in both
            return script(TORCH, *args, **kwargs), script(FLAMBEAU, *args, **kwargs)
    finally:
        for lib, flags in saved:
            _restore_flags(lib, flags)


# ---------------------------------------------------------------- 1. device-agnostic training loop
def device_agnostic_training(lib, state, X, Y):
    torch, nn, F, optim, data = lib.torch, lib.nn, lib.F, lib.optim, lib.data
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.deterministic = True
    torch.set_float32_matmul_precision("high")
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.0), nn.Linear(16, 3))
    load_state(lib, model, state)
    model = model.to(device)
    opt = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-2)
    ds = data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))
    loader = data.DataLoader(ds, batch_size=8, shuffle=False, pin_memory=True, drop_last=False)
    rec = {"loss": [], "eval": [], "acc": []}
    for epoch in range(3):
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            opt.step()
            rec["loss"].append(loss.item())
        model.eval()
        with torch.inference_mode():
            logits = model(torch.from_numpy(X).to(device))
            rec["eval"].append(F.cross_entropy(logits, torch.from_numpy(Y)).item())
            rec["acc"].append((logits.argmax(dim=1) == torch.from_numpy(Y)).float().mean().item())
            assert not logits.requires_grad
    with torch.set_grad_enabled(False):
        assert not model(torch.from_numpy(X[:2])).requires_grad
    assert torch.is_grad_enabled()
    # rng state round trip and generator-driven sampling
    state_rng = torch.get_rng_state()
    a = torch.rand(5)
    torch.set_rng_state(state_rng)
    rec["rng_roundtrip"] = bool((a == torch.rand(5)).all())
    g = torch.Generator().manual_seed(7)
    b1 = torch.randn(4, generator=g)
    g.manual_seed(7)
    rec["gen_repeat"] = bool((b1 == torch.randn(4, generator=g)).all())
    rec["threads"] = torch.get_num_threads() >= 1
    return rec


def test_device_agnostic_training_loop():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 6)).astype(np.float32)
    Y = rng.integers(0, 3, 20).astype(np.int64)
    ref = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Dropout(0.0), torch.nn.Linear(16, 3))
    rt, rf = run_both(device_agnostic_training, numpy_state(ref), X, Y)
    assert_records_close(rf, rt, atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------- 2. per-sample gradients (torch.func)
def per_sample_gradients(lib, state, X, Y):
    torch, nn, F, func = lib.torch, lib.nn, lib.F, lib.func
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))
    load_state(lib, model, state)
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def compute_loss(params, buffers, sample, target):
        out = func.functional_call(model, (params, buffers), (sample.unsqueeze(0),))
        return F.cross_entropy(out, target.unsqueeze(0))

    ps_grad = func.vmap(func.grad(compute_loss), in_dims=(None, None, 0, 0))
    rec = {"norms": [], "loss": []}
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    for step in range(3):
        grads = ps_grad(params, buffers, x, y)
        # DP-SGD: clip each sample's gradient to norm 1, average, step
        flat = torch.cat([g.reshape(g.shape[0], -1) for g in grads.values()], dim=1)
        norms = flat.norm(dim=1)
        scale = (1.0 / (norms + 1e-6)).clamp(max=1.0)
        with torch.no_grad():
            for k in params:
                g = (grads[k] * scale.view(-1, *([1] * (grads[k].dim() - 1)))).mean(0)
                params[k] = params[k] - 0.5 * g
        rec["norms"].append(norms)
        rec["loss"].append(F.cross_entropy(func.functional_call(model, (params, buffers), (x,)), y).item())
    # the batched gradient equals the average of the per-sample ones
    full = func.grad(lambda p: F.cross_entropy(func.functional_call(model, (p, buffers), (x,)), y))(params)
    per = ps_grad(params, buffers, x, y)
    rec["mean_matches"] = [full[k] - per[k].mean(0) for k in sorted(full)]
    return rec


def test_per_sample_gradients_vmap_grad():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 5)).astype(np.float32)
    Y = rng.integers(0, 2, 6).astype(np.int64)
    ref = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    rt, rf = run_both(per_sample_gradients, numpy_state(ref), X, Y)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)
    for d in rf["mean_matches"]:
        assert float(abs(d).max()) < 1e-5


# ---------------------------------------------------------------- 3. WGAN-GP penalty and a Hessian-vector product
def wgan_gp(lib, dstate, real, fake, alpha):
    torch, nn, optim = lib.torch, lib.nn, lib.optim
    D = nn.Sequential(nn.Linear(4, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    load_state(lib, D, dstate)
    opt = optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.9))
    real, fake, alpha = torch.from_numpy(real), torch.from_numpy(fake), torch.from_numpy(alpha)
    rec = {"gp": [], "loss": [], "w": []}
    for step in range(3):
        interp = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        d_interp = D(interp)
        grads = torch.autograd.grad(outputs=d_interp, inputs=interp, grad_outputs=torch.ones_like(d_interp),
                                    create_graph=True, retain_graph=True)[0]
        gp = ((grads.norm(2, dim=1) - 1) ** 2).mean()
        loss = D(fake).mean() - D(real).mean() + 10.0 * gp
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec["gp"].append(gp.item())
        rec["loss"].append(loss.item())
    rec["w"] = [p.detach() for p in D.parameters()]
    # Hessian-vector product of a smooth loss w.r.t. the first layer's weight
    w = D[0].weight
    out = (D(real) ** 2).mean()
    g, = torch.autograd.grad(out, w, create_graph=True)
    v = torch.ones_like(w)
    hv, = torch.autograd.grad((g * v).sum(), w)
    rec["hvp"] = hv
    rec["hvp_fn"] = torch.autograd.functional.hvp(lambda a: (a.tanh() ** 2).sum(), real[0], torch.ones_like(real[0]))[1]
    return rec


def test_wgan_gp_and_hvp():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((8, 4)).astype(np.float32)
    fake = rng.standard_normal((8, 4)).astype(np.float32)
    alpha = rng.random((8, 1)).astype(np.float32)
    ref = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.LeakyReLU(0.2), torch.nn.Linear(16, 1))
    rt, rf = run_both(wgan_gp, numpy_state(ref), real, fake, alpha)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)


# ---------------------------------------------------------------- 4. custom autograd.Function, hooks, retain_grad
def custom_function_and_hooks(lib, state, X):
    torch, nn = lib.torch, lib.nn
    from importlib import import_module
    once_differentiable = import_module(torch.__name__ + ".autograd.function").once_differentiable

    class ClampedExp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, limit):
            y = x.clamp(max=limit).exp()
            mask = x <= limit
            ctx.mark_non_differentiable(mask)
            ctx.save_for_backward(y, mask)
            return y, mask

        @staticmethod
        @once_differentiable
        def backward(ctx, gy, gmask):
            y, mask = ctx.saved_tensors
            return gy * y * mask, None

    lin = nn.Linear(4, 4)
    load_state(lib, lin, state)
    x = torch.from_numpy(X).requires_grad_(True)
    seen = []
    h = lin.weight.register_hook(lambda g: g.clamp(-0.1, 0.1))  # per-tensor gradient clipping
    hidden = lin(x)
    hidden.retain_grad()
    hidden.register_hook(lambda g: seen.append(g.abs().sum()))
    y, mask = ClampedExp.apply(hidden, 0.5)
    loss = (y * torch.linspace(-1, 1, 4)).sum()
    loss.backward()
    h.remove()
    rec = {"y": y, "mask": mask.float(), "mask_rg": mask.requires_grad, "w_grad": lin.weight.grad,
           "b_grad": lin.bias.grad, "x_grad": x.grad, "hidden_grad": hidden.grad, "seen": seen,
           "grad_fn": type(y.grad_fn).__name__ == "ClampedExpBackward"}
    # detach_/requires_grad_ and backward(gradient=...)
    z = x * 3
    z.detach_()
    rec["detached"] = (z.requires_grad, z.grad_fn is None)
    w = torch.ones(4).requires_grad_()
    (w * torch.arange(4.0)).backward(gradient=torch.full((4,), 0.5))
    rec["w"] = w.grad
    return rec


def test_custom_function_hooks_retain_grad():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3, 4)).astype(np.float32)
    rt, rf = run_both(custom_function_and_hooks, numpy_state(torch.nn.Linear(4, 4)), X)
    assert_records_close(rf, rt)


# ---------------------------------------------------------------- 5. data processing
def data_processing(lib, feats, seg, labels, boundaries):
    torch, F = lib.torch, lib.F
    x = torch.from_numpy(feats)
    seg_t = torch.from_numpy(seg)
    rec = {}
    # masks: zero the negatives, keep rows with a large max, fill NaNs
    y = x.clone()
    y[y < 0] = 0.0
    rec["relu_mask"] = y
    rec["rows"] = x[x.max(dim=1).values > 1.0]
    z = x.clone()
    z[0, 1] = float("nan")
    rec["nan_fill"] = torch.where(torch.isnan(z), torch.zeros_like(z), z)
    # segment sums / means: scatter_add_ and index_put_(accumulate=True)
    n_seg = int(seg_t.max().item()) + 1
    sums = torch.zeros(n_seg, x.shape[1]).scatter_add_(0, seg_t.unsqueeze(1).expand_as(x), x)
    counts = torch.zeros(n_seg).index_put_((seg_t,), torch.ones(len(seg_t)), accumulate=True)
    rec["seg_mean"] = sums / counts.clamp(min=1).unsqueeze(1)
    rec["bincount"] = torch.bincount(seg_t, minlength=n_seg)
    # unique labels, inverse and counts; one-hot; gather of the picked class score
    lab = torch.from_numpy(labels)
    uniq, inv, cnt = torch.unique(lab, return_inverse=True, return_counts=True)
    rec["unique"] = (uniq, inv, cnt)
    oh = F.one_hot(inv, num_classes=len(uniq)).float()
    rec["onehot_sum"] = oh.sum(0)
    scores = x[:, :len(uniq)] if x.shape[1] >= len(uniq) else x
    rec["picked"] = scores.gather(1, inv.unsqueeze(1) % scores.shape[1]).squeeze(1)
    # bucketize a feature, histogram-like counts, searchsorted
    b = torch.from_numpy(boundaries)
    buckets = torch.bucketize(x[:, 0].contiguous(), b)
    rec["buckets"] = buckets
    rec["bucket_counts"] = torch.bincount(buckets, minlength=len(boundaries) + 1)
    rec["searchsorted"] = torch.searchsorted(b, x[:, 1].contiguous(), right=True)
    rec["histc"] = torch.histc(x[:, 2], bins=5, min=-2, max=2)
    # nonzero / topk / sort idioms
    rows, cols = (x > 1.5).nonzero(as_tuple=True)
    rec["nonzero"] = (rows, cols)
    vals, idx = x.topk(2, dim=1)
    rec["topk"] = (vals, idx)
    # grids and windows
    gy, gx = torch.meshgrid(torch.arange(3.0), torch.arange(4.0), indexing="ij")
    rec["grid"] = torch.stack([gx, gy], dim=-1).flatten(0, 1)
    rec["windows"] = torch.arange(10.0).unfold(0, 4, 2)
    rec["patches"] = F.unfold(x[:4, :6].reshape(1, 1, 4, 6), kernel_size=2, stride=2)
    rec["chunks"] = [c.sum() for c in x.chunk(3, dim=0)]
    rec["split"] = [s.shape[0] for s in x.split([2, 3, len(x) - 5])]
    rec["cart"] = torch.cartesian_prod(torch.arange(2), torch.arange(3))
    rec["tril"] = torch.tril_indices(3, 3, offset=-1)
    rec["einsum"] = torch.einsum("nd,md->nm", x[:3], x[3:6])
    rec["promote"] = (torch.arange(3) / 2, torch.arange(3) * 1.5, (torch.arange(3) > 0) + 1,
                      torch.tensor([1, 2], dtype=torch.int32) + torch.tensor(5))
    rec["tolist"] = [float(v) for v in x[0].tolist()]
    return rec


def test_data_processing_idioms():
    rng = np.random.default_rng(4)
    feats = rng.standard_normal((10, 6)).astype(np.float32)
    seg = rng.integers(0, 4, 10).astype(np.int64)
    labels = rng.choice([3, 7, 11], size=10).astype(np.int64)
    boundaries = np.array([-1.0, 0.0, 0.5, 1.0], dtype=np.float32)
    rt, rf = run_both(data_processing, feats, seg, labels, boundaries)
    assert_records_close(rf, rt)


# ---------------------------------------------------------------- 6. channels_last conv net
def channels_last_training(lib, state, X, Y):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 2))
    load_state(lib, model, state)
    model = model.to(memory_format=torch.channels_last)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.from_numpy(X).contiguous(memory_format=torch.channels_last)
    y = torch.from_numpy(Y)
    rec = {"loss": [], "layout": []}
    rec["layout"].append((x.is_contiguous(), x.is_contiguous(memory_format=torch.channels_last), tuple(x.stride())))
    z = (x * 2 + 1).relu()
    rec["layout"].append((z.is_contiguous(memory_format=torch.channels_last), tuple(z.stride())))
    for step in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        rec["loss"].append(loss.item())
    rec["w_layout"] = (tuple(model[0].weight.stride()), tuple(model[5].weight.stride()))
    rec["w"] = [p.detach() for p in model.parameters()]
    rec["x_like"] = tuple(torch.zeros_like(x).stride())
    rec["x_clone"] = tuple(x.clone().stride())
    rec["x_back"] = tuple(x.contiguous().stride())
    return rec


def test_channels_last_training():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
    Y = rng.integers(0, 2, 4).astype(np.int64)
    ref = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    rt, rf = run_both(channels_last_training, numpy_state(ref), X, Y)
    assert_records_close(rf, rt, atol=1e-5, rtol=1e-4)
