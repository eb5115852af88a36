"""First contact with a GPU: small calls on every layer of the CUDA backend, one line each.

    FLAMBEAU_CUDA_SYNC=1 PYTHONPATH=python python3 tools/cuda_smoke.py

Each step runs in order and prints `ok` with what it checked, or `FAIL` with the exception; a CUDA
error that poisons the context (an illegal address) makes every later step fail too, so the first
FAIL is the one to read. Compares with the same calls on the CPU (exact or to float32 rounding).
"""
import sys
import traceback

import numpy as np

import flambeau as fl
import flambeau.nn.functional as F

failed = 0


def step(name):
    def deco(fn):
        global failed
        try:
            msg = fn()
            print(f"ok    {name}" + (f": {msg}" if msg else ""), flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL  {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(limit=3, file=sys.stdout)
        return fn
    return deco


rng = np.random.default_rng(0)
A = rng.standard_normal((37, 53)).astype(np.float32)
B = rng.standard_normal((53, 29)).astype(np.float32)


def close(a, b, tol=1e-5):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    err = np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)
    assert a.shape == b.shape and np.isfinite(a).all() == np.isfinite(b).all() and err <= tol, (a.shape, b.shape, err)
    return f"rel err {err:.1e}"


@step("is_available / device_count")
def _():
    assert fl.cuda.is_available(), "cuda.is_available() is False"
    return f"{fl.cuda.device_count()} device(s)"


@step("host -> device -> host round trip")
def _():
    x = fl.from_numpy(A).to("cuda")
    assert x.device.type == "cuda"
    assert np.array_equal(x.cpu().numpy(), A)


@step("creation on device: zeros/ones/full/arange/empty")
def _():
    assert fl.zeros(5, device="cuda").cpu().numpy().tolist() == [0] * 5
    assert fl.ones(2, 3, device="cuda").sum().item() == 6
    assert fl.full((3,), 2.5, device="cuda").cpu().numpy().tolist() == [2.5] * 3
    assert fl.arange(7, device="cuda").cpu().numpy().tolist() == list(range(7))


@step("elementwise broadcast a + b, a * 2, exp")
def _():
    a = fl.from_numpy(A).cuda()
    b = fl.from_numpy(A[:1]).cuda()
    close((a + b).cpu().numpy(), A + A[:1])
    close((a * 2).exp().cpu().numpy(), np.exp(A * 2))


@step("non-contiguous view (transpose) + contiguous()")
def _():
    a = fl.from_numpy(A).cuda()
    assert np.array_equal(a.t().contiguous().cpu().numpy(), A.T)


@step("reductions sum/mean/max/argmax")
def _():
    a = fl.from_numpy(A).cuda()
    close(a.sum(1).cpu().numpy(), A.sum(1))
    close(a.mean(0).cpu().numpy(), A.mean(0))
    assert np.array_equal(a.max(1)[0].cpu().numpy(), A.max(1))
    assert np.array_equal(a.argmax(0).cpu().numpy(), A.argmax(0))


@step("matmul (reference + tuned GEMM)")
def _():
    return close((fl.from_numpy(A).cuda() @ fl.from_numpy(B).cuda()).cpu().numpy(), A @ B)


@step("softmax / log_softmax (csrc/cuda/softmax.cu)")
def _():
    a = fl.from_numpy(A).cuda()
    close(fl.softmax(a, 1).cpu().numpy(), fl.softmax(fl.from_numpy(A), 1).numpy())
    return close(fl.log_softmax(a, 0).cpu().numpy(), fl.log_softmax(fl.from_numpy(A), 0).numpy())


@step("indexing: a[idx], masked_fill, gather")
def _():
    a = fl.from_numpy(A).cuda()
    idx = fl.tensor([3, 0, 7], device="cuda")
    assert np.array_equal(a[idx].cpu().numpy(), A[[3, 0, 7]])
    assert np.array_equal(a.masked_fill(a > 0, 0.0).cpu().numpy(), np.where(A > 0, 0, A))


@step("autograd: (a @ b).relu().sum().backward()")
def _():
    a = fl.from_numpy(A).cuda().requires_grad_()
    b = fl.from_numpy(B).cuda().requires_grad_()
    (a @ b).relu().sum().backward()
    ac = fl.from_numpy(A).requires_grad_()
    bc = fl.from_numpy(B).requires_grad_()
    (ac @ bc).relu().sum().backward()
    close(a.grad.cpu().numpy(), ac.grad.numpy())
    return close(b.grad.cpu().numpy(), bc.grad.numpy())


for name, fn in [("relu", F.relu), ("gelu", F.gelu), ("sigmoid", F.sigmoid), ("tanh", F.tanh),
                 ("silu", F.silu), ("softplus", F.softplus), ("elu", F.elu)]:
    @step(f"activation kernel {name} fwd + bwd")
    def _(fn=fn):
        x = fl.from_numpy(A).cuda().requires_grad_()
        xc = fl.from_numpy(A).requires_grad_()
        y, yc = fn(x), fn(xc)
        y.sum().backward()
        yc.sum().backward()
        close(y.cpu().detach().numpy(), yc.detach().numpy())
        return close(x.grad.cpu().numpy(), xc.grad.numpy())


@step("cross_entropy fwd + bwd")
def _():
    t = rng.integers(0, 53, 37)
    x = fl.from_numpy(A).cuda().requires_grad_()
    xc = fl.from_numpy(A).requires_grad_()
    l = F.cross_entropy(x, fl.from_numpy(t).cuda())
    lc = F.cross_entropy(xc, fl.from_numpy(t))
    l.backward()
    lc.backward()
    close([l.item()], [lc.item()])
    return close(x.grad.cpu().numpy(), xc.grad.numpy())


@step("batch_norm / layer_norm train fwd + bwd")
def _():
    X = rng.standard_normal((4, 3, 5, 6)).astype(np.float32)
    for fn in (lambda t: F.batch_norm(t, None, None, training=True), lambda t: F.layer_norm(t, (5, 6))):
        x = fl.from_numpy(X).cuda().requires_grad_()
        xc = fl.from_numpy(X).requires_grad_()
        y, yc = fn(x), fn(xc)
        (y * y).sum().backward()
        (yc * yc).sum().backward()
        close(y.detach().cpu().numpy(), yc.detach().numpy(), 1e-4)
        close(x.grad.cpu().numpy(), xc.grad.numpy(), 1e-4)


@step("max_pool2d / avg_pool2d fwd + bwd")
def _():
    X = rng.standard_normal((2, 3, 9, 7)).astype(np.float32)
    for fn in (lambda t: F.max_pool2d(t, 3, 2, 1), lambda t: F.avg_pool2d(t, 2)):
        x = fl.from_numpy(X).cuda().requires_grad_()
        xc = fl.from_numpy(X).requires_grad_()
        y, yc = fn(x), fn(xc)
        y.sum().backward()
        yc.sum().backward()
        close(y.detach().cpu().numpy(), yc.detach().numpy())
        close(x.grad.cpu().numpy(), xc.grad.numpy())


@step("conv2d fwd + bwd (implicit GEMM)")
def _():
    X = rng.standard_normal((2, 3, 11, 9)).astype(np.float32)
    W = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    x, w = fl.from_numpy(X).cuda().requires_grad_(), fl.from_numpy(W).cuda().requires_grad_()
    xc, wc = fl.from_numpy(X).requires_grad_(), fl.from_numpy(W).requires_grad_()
    y, yc = F.conv2d(x, w, padding=1), F.conv2d(xc, wc, padding=1)
    y.sum().backward()
    yc.sum().backward()
    close(y.detach().cpu().numpy(), yc.detach().numpy())
    close(x.grad.cpu().numpy(), xc.grad.numpy())
    return close(w.grad.cpu().numpy(), wc.grad.numpy())


@step("dropout: same seed -> same mask on CPU and CUDA")
def _():
    fl.manual_seed(123)
    m1 = F.dropout(fl.ones(1000, device="cuda"), 0.5).cpu().numpy()
    fl.manual_seed(123)
    m2 = F.dropout(fl.ones(1000), 0.5).numpy()
    assert np.array_equal(m1, m2), (m1 != m2).sum()


@step("Adam step on CUDA params (fused kernel)")
def _():
    p = fl.nn.Parameter(fl.from_numpy(A).cuda())
    pc = fl.nn.Parameter(fl.from_numpy(A))
    o, oc = fl.optim.Adam([p], lr=0.1), fl.optim.Adam([pc], lr=0.1)
    for _ in range(3):
        p.grad = fl.from_numpy(A).cuda()
        pc.grad = fl.from_numpy(A)
        o.step()
        oc.step()
    return close(p.detach().cpu().numpy(), pc.detach().numpy(), 1e-6)


@step("memory_allocated / empty_cache / synchronize")
def _():
    fl.cuda.synchronize()
    n = fl.cuda.memory_allocated()
    fl.cuda.empty_cache()
    return f"allocated {n} B, max {fl.cuda.max_memory_allocated()} B"


print(f"{failed} failed", flush=True)
sys.exit(1 if failed else 0)
