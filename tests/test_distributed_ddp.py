"""DistributedDataParallel and the launcher: N ranks training on shards equal one process on the whole
batch; the same PyTorch script gives the same losses under PyTorch's torchrun (gloo) and under flambeau's
launcher with the torch alias; a crashing worker fails the launch; DDP's options on spawned ranks."""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import pytest

import flambeau
import flambeau.distributed as dist
import flambeau.nn as nn
from flambeau.nn.parallel import DistributedDataParallel as DDP
from _dist_util import ROOT, run, run_world, launcher, free_port

SCRIPT = os.path.join(ROOT, "tests", "scripts", "ddp_train.py")


def _reference(steps=4):
    """One process, no DDP, the whole batch: what ddp_train.py's ranks must reproduce."""
    N, D_IN, D_HID, D_OUT = 12, 5, 7, 3
    model = nn.Sequential(nn.Linear(D_IN, D_HID), nn.Tanh(), nn.Linear(D_HID, D_OUT))
    g = np.random.default_rng(0)  # rank 0's weights, which DDP broadcasts
    with flambeau.no_grad():
        for p in model.parameters():
            p.copy_(flambeau.from_numpy(g.standard_normal(tuple(p.shape)).astype(np.float32) * 0.5))
    g = np.random.default_rng(1234)
    x = flambeau.from_numpy(g.standard_normal((N, D_IN)).astype(np.float32))
    y = flambeau.from_numpy(g.integers(0, D_OUT, size=N).astype(np.int64))
    opt = flambeau.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    for _ in range(2):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return losses, [p.detach().reshape(-1).tolist() for p in model.parameters()]


def _launch(nproc, out, *extra, torch_alias=True):
    if torch_alias:
        cmd = [sys.executable, "-m", "flambeau.run", "-m", "torch.distributed.run"]
    else:
        cmd = launcher()[:3]
    return run(cmd + ["--standalone", f"--nproc_per_node={nproc}", SCRIPT, out, *extra])


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _close(a, b, tol):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape and np.allclose(a, b, rtol=tol, atol=tol), np.abs(a - b).max()


@pytest.mark.parametrize("nproc", [2, 3])
def test_ddp_ranks_equal_one_process_on_the_whole_batch(nproc, tmp):
    out = os.path.join(tmp, "out.json")
    r = _launch(nproc, out)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.load(open(out))
    assert got["world"] == nproc and got["replicas_equal"]
    assert got["keys"] == ["module.0.weight", "module.0.bias", "module.2.weight", "module.2.bias"]
    losses, params = _reference()
    _close(got["losses"], losses, 1e-6)
    for p, q in zip(got["params"], params):
        _close(p, q, 1e-6)


def test_same_losses_as_pytorch_torchrun_gloo(tmp):
    torchrun = shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("PyTorch's torchrun is not installed")
    ours, theirs = os.path.join(tmp, "ours.json"), os.path.join(tmp, "theirs.json")
    r = run([torchrun, "--standalone", "--nproc_per_node=2", SCRIPT, theirs], PYTHONPATH="")
    assert r.returncode == 0, r.stderr[-3000:]
    r = _launch(2, ours)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = json.load(open(ours)), json.load(open(theirs))
    assert a["keys"] == b["keys"] and a["replicas_equal"] and b["replicas_equal"]
    _close(a["losses"], b["losses"], 1e-6)
    for p, q in zip(a["params"], b["params"]):
        _close(p, q, 1e-6)


def test_launcher_fails_when_a_worker_crashes(tmp):
    r = _launch(2, os.path.join(tmp, "x.json"), "--crash")
    assert r.returncode == 1
    assert "RuntimeError: deliberate failure in rank 1" in r.stderr
    report = r.stderr[r.stderr.index("FAILED"):]
    assert "rank       : 1 (local_rank: 1)" in report and "deliberate failure in rank 1" in report


def test_launcher_environment_and_plain_mode(tmp):
    script = os.path.join(tmp, "env.py")
    with open(script, "w") as fh:
        fh.write("import os, sys, json\n"
                 "keys = ['RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT',\n"
                 "        'TORCHELASTIC_RUN_ID', 'OMP_NUM_THREADS', 'GROUP_RANK']\n"
                 "import flambeau.distributed as dist\n"
                 "dist.init_process_group('gloo')\n"
                 "objs = [None] * dist.get_world_size()\n"
                 "dist.all_gather_object(objs, {k: os.environ.get(k) for k in keys} | {'argv': sys.argv[1:],\n"
                 "                       'launched': dist.is_torchelastic_launched(), 'torch': 'torch' in sys.modules})\n"
                 "if dist.get_rank() == 0:\n"
                 "    json.dump(objs, open(sys.argv[1], 'w'))\n"
                 "dist.destroy_process_group()\n")
    out = os.path.join(tmp, "env.json")
    port = free_port()
    r = run(launcher("--nnodes=1", "--nproc-per-node=2", "--master_addr=127.0.0.1", f"--master_port={port}",
                     script, out, "--flag"), OMP_NUM_THREADS="")
    assert r.returncode == 0, r.stderr[-3000:]
    objs = json.load(open(out))
    for rank, o in enumerate(objs):
        assert o["RANK"] == o["LOCAL_RANK"] == str(rank) and o["WORLD_SIZE"] == o["LOCAL_WORLD_SIZE"] == "2"
        assert o["MASTER_PORT"] == str(port) and o["MASTER_ADDR"] == "127.0.0.1" and o["GROUP_RANK"] == "0"
        assert o["argv"] == [out, "--flag"] and o["launched"] is True and o["TORCHELASTIC_RUN_ID"]
        assert o["torch"] is False  # plain mode: the script runs as it is, no torch alias
    assert objs[0]["TORCHELASTIC_RUN_ID"] == objs[1]["TORCHELASTIC_RUN_ID"]
    r = run(launcher("--nproc_per_node=0", script))
    assert r.returncode == 2 and "--nproc_per_node must be at least 1" in r.stderr
    # a worker without @record that dies: its stderr's last lines make the report
    crash = os.path.join(tmp, "crash.py")
    with open(crash, "w") as fh:
        fh.write("import os, sys\nif os.environ['RANK'] == '0':\n    sys.exit('worker 0 gives up')\n")
    r = run(launcher("--standalone", "--nproc_per_node=1", crash))
    assert r.returncode == 1 and "the last lines of the worker's stderr" in r.stderr
    assert "exitcode   : 1" in r.stderr and "    worker 0 gives up" in r.stderr


# ------------------------------------------------------------------------------------------------ DDP options
class _TwoBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 2)
        self.b = nn.Linear(3, 2)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x, use_b=True):
        x = self.bn(x)
        return self.a(x) + (self.b(x) if use_b else 0)


def _ddp_options(rank, n):
    flambeau.manual_seed(rank)  # different weights on every rank
    net = _TwoBranch()
    ddp = DDP(net)
    # construction broadcast rank 0's parameters and buffers
    everyone = [None] * n
    dist.all_gather_object(everyone, [p.detach().clone() for p in net.parameters()])
    assert all(all(flambeau.equal(p, q) for p, q in zip(everyone[0], e)) for e in everyone)
    assert ddp.module is net and list(ddp.state_dict())[0] == "module.a.weight"
    assert set(ddp.state_dict()) == {"module." + k for k in net.state_dict()}

    x = flambeau.from_numpy(np.random.default_rng(rank).standard_normal((4, 3)).astype(np.float32))
    # broadcast_buffers: rank 0's running statistics win at every forward
    ddp(x).sum().backward()
    stats = [None] * n
    dist.all_gather_object(stats, net.bn.running_mean.clone())
    assert not all(flambeau.equal(stats[0], s) for s in stats)  # each rank updated its own...
    ddp.zero_grad()
    ddp(x).sum().backward()
    first = [None] * n
    dist.all_gather_object(first, [p.grad.clone() for p in net.parameters()])
    for e in first:  # ...but the gradients are averaged, equal everywhere
        assert all(flambeau.equal(p, q) for p, q in zip(first[0], e))

    # a parameter without gradient: the next forward raises PyTorch's error
    ddp.zero_grad()
    ddp(x, use_b=False).sum().backward()
    with pytest.raises(RuntimeError, match="Expected to have finished reduction in the prior iteration.*b.weight"):
        ddp(x)

    # no_sync: local gradients, then the next synced backward averages the accumulated .grad
    ddp2 = DDP(_TwoBranch())
    net2 = ddp2.module
    with ddp2.no_sync():
        ddp2(x).sum().backward()
    local = [p.grad.clone() for p in net2.parameters()]
    grads = [None] * n
    dist.all_gather_object(grads, local)
    assert not all(flambeau.equal(grads[0][0], g[0]) for g in grads)
    ddp2(x).sum().backward()
    # accumulated = 2 x local on each rank (same x, same weights both times); averaged over ranks
    for i, p in enumerate(net2.parameters()):
        mean = grads[0][i] * 2 * (1.0 / n)
        for g in grads[1:]:
            mean = mean + g[i] * 2 * (1.0 / n)
        assert flambeau.allclose(p.grad, mean, atol=1e-6), i

    # find_unused_parameters: rank 0 does not use branch b, the others do; b's gradient is the average
    # of the others' (rank 0 contributes zeros); a parameter no rank uses keeps .grad None
    ddp3 = DDP(_TwoBranch(), find_unused_parameters=True)
    net3 = ddp3.module
    ddp3(x, use_b=(rank != 0)).sum().backward()
    contrib = [None] * n
    local_b = flambeau.autograd.grad(net3(x).sum(), net3.b.weight)[0] if rank != 0 else flambeau.zeros(2, 3)
    dist.all_gather_object(contrib, local_b)
    mean = contrib[0] * (1.0 / n)
    for c in contrib[1:]:
        mean = mean + c * (1.0 / n)
    assert flambeau.allclose(net3.b.weight.grad, mean, atol=1e-6)
    ddp3.zero_grad()
    ddp3(x, use_b=False).sum().backward()
    assert net3.b.weight.grad is None and net3.a.weight.grad is not None
    ddp3(x).sum().backward()  # and it goes on without the error of the default mode

    with pytest.raises(RuntimeError, match="doesn't have any parameter that requires a gradient"):
        DDP(nn.ReLU())

    # communication hooks: PyTorch's default ones give the default reduction (fp16: to its precision)
    from flambeau.distributed.algorithms.ddp_comm_hooks import default_hooks
    flambeau.manual_seed(0)
    plain = DDP(_TwoBranch())
    plain(x).sum().backward()
    for hook, tol in ((default_hooks.allreduce_hook, 1e-6), (default_hooks.fp16_compress_hook, 2e-3),
                      (default_hooks.bf16_compress_hook, 2e-2)):
        flambeau.manual_seed(0)
        hooked = DDP(_TwoBranch())
        calls = []

        def spy(state, bucket, hook=hook):
            calls.append((bucket.index(), bucket.is_last(), len(bucket.parameters())))
            return hook(state, bucket)
        hooked.register_comm_hook(None, spy)
        hooked(x).sum().backward()
        assert calls and calls[-1][1] and sum(c[2] for c in calls) == 6
        for p, q in zip(plain.module.parameters(), hooked.module.parameters()):
            assert flambeau.allclose(p.grad, q.grad, atol=tol, rtol=tol)
        with pytest.raises(RuntimeError, match="can only be called once"):
            hooked.register_comm_hook(None, spy)


def test_ddp_options_three_ranks():
    run_world(_ddp_options, 3)


# ------------------------------------------------------------------------------------------------ SyncBatchNorm
def _sync_bn(rank, n):
    g = np.random.default_rng(7)
    sizes = [3, 5, 4][:n]  # uneven shards
    full = g.standard_normal((sum(sizes), 4, 3))
    dy_full = g.standard_normal((sum(sizes), 4, 3))
    lo = sum(sizes[:rank])
    x = flambeau.from_numpy(full[lo:lo + sizes[rank]].copy()).requires_grad_()
    dy = flambeau.from_numpy(dy_full[lo:lo + sizes[rank]].copy())
    sbn = nn.SyncBatchNorm(4, momentum=0.3).double()
    with flambeau.no_grad():
        sbn.weight.copy_(flambeau.tensor([0.5, -1.0, 2.0, 1.5], dtype=flambeau.float64))
        sbn.bias.copy_(flambeau.tensor([0.1, 0.2, -0.3, 0.0], dtype=flambeau.float64))
    out = sbn(x)
    out.backward(dy)
    # the reference: BatchNorm1d over the whole batch in this process
    bn = nn.BatchNorm1d(4, momentum=0.3).double()
    with flambeau.no_grad():
        bn.weight.copy_(sbn.weight)
        bn.bias.copy_(sbn.bias)
    xf = flambeau.from_numpy(full.copy()).requires_grad_()
    outf = bn(xf)
    outf.backward(flambeau.from_numpy(dy_full.copy()))
    assert flambeau.allclose(out, outf[lo:lo + sizes[rank]], atol=1e-12)
    assert flambeau.allclose(x.grad, xf.grad[lo:lo + sizes[rank]], atol=1e-12)
    assert flambeau.allclose(sbn.running_mean, bn.running_mean, atol=1e-12)
    assert flambeau.allclose(sbn.running_var, bn.running_var, atol=1e-12)
    # grad_weight / grad_bias are local: their sum over the ranks is the whole batch's
    gw = sbn.weight.grad.clone()
    gb = sbn.bias.grad.clone()
    dist.all_reduce(gw)
    dist.all_reduce(gb)
    assert flambeau.allclose(gw, bn.weight.grad, atol=1e-12) and flambeau.allclose(gb, bn.bias.grad, atol=1e-12)
    # evaluation mode: the running statistics, no communication
    sbn.eval()
    bn.eval()
    assert flambeau.allclose(sbn(x), bn(x), atol=1e-12)


def test_sync_batch_norm_equals_batch_norm_on_the_whole_batch():
    run_world(_sync_bn, 3)


def test_legacy_launch_passes_local_rank(tmp):
    script = os.path.join(tmp, "lr.py")
    with open(script, "w") as fh:
        fh.write("import os, sys\nprint('ARGS', os.environ['LOCAL_RANK'], sys.argv[1:], flush=True)\n")
    r = run([sys.executable, "-m", "flambeau.distributed.launch", "--nproc_per_node=2", "--standalone", script, "x"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(line for line in r.stdout.splitlines() if line.startswith("ARGS")) == [
        "ARGS 0 ['--local-rank=0', 'x']", "ARGS 1 ['--local-rank=1', 'x']"]
    r = run([sys.executable, "-m", "flambeau.distributed.launch", "--use-env", "--standalone", script, "x"])
    assert r.returncode == 0 and "ARGS 0 ['x']" in r.stdout
