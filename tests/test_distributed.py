"""flambeau.distributed: stores, init methods and every collective on 2-3 spawned ranks, each result checked
against the same computation done locally (every rank can build every rank's input from its seed)."""
import datetime
import os
import tempfile
import threading

import numpy as np
import pytest

import flambeau
import flambeau.distributed as dist
from _dist_util import run_world, free_port, tensor_equal



# ------------------------------------------------------------------------------------------------ helpers
def _inp(rank, shape, dtype, seed=0):
    """Rank `rank`'s input: the same on every process that asks."""
    g = np.random.default_rng(1000 * seed + rank)
    if dtype == flambeau.bool:
        return flambeau.from_numpy(np.asarray(g.random(shape) < 0.5))
    if dtype in (flambeau.int8, flambeau.uint8, flambeau.int16, flambeau.int32, flambeau.int64):
        return flambeau.from_numpy(np.asarray(g.integers(-50 if dtype != flambeau.uint8 else 0, 100, size=shape))).to(dtype)
    if dtype in (flambeau.complex64, flambeau.complex128):
        re, im = np.asarray(g.standard_normal(shape)), np.asarray(g.standard_normal(shape))
        return flambeau.complex(flambeau.from_numpy(re), flambeau.from_numpy(im)).to(dtype)
    return flambeau.from_numpy(np.asarray(g.standard_normal(shape))).to(dtype)


def _fold_local(values, op, n):
    """The reduction every rank must produce: a left fold in rank order, with flambeau's ops."""
    acc = values[0]
    for v in values[1:]:
        if op in (dist.ReduceOp.SUM, dist.ReduceOp.AVG):
            acc = (acc | v) if acc.dtype == flambeau.bool else acc + v
        elif op == dist.ReduceOp.PRODUCT:
            acc = (acc & v) if acc.dtype == flambeau.bool else acc * v
        elif op == dist.ReduceOp.MIN:
            acc = flambeau.minimum(acc, v)
        elif op == dist.ReduceOp.MAX:
            acc = flambeau.maximum(acc, v)
        elif op == dist.ReduceOp.BAND:
            acc = acc & v
        elif op == dist.ReduceOp.BOR:
            acc = acc | v
        elif op == dist.ReduceOp.BXOR:
            acc = acc ^ v
    return acc / n if op == dist.ReduceOp.AVG else acc


def _torch_fold(values, op, n):
    """The same fold with PyTorch's ops (the oracle), on float32 / float64 / int64 inputs."""
    import torch  # here, not at the top: the spawned ranks import this module
    vs = [torch.from_numpy(v.numpy().copy()) for v in values]
    acc = vs[0]
    for v in vs[1:]:
        acc = {dist.ReduceOp.SUM: torch.add, dist.ReduceOp.AVG: torch.add, dist.ReduceOp.PRODUCT: torch.mul,
               dist.ReduceOp.MIN: torch.minimum, dist.ReduceOp.MAX: torch.maximum}[op](acc, v)
    return acc / n if op == dist.ReduceOp.AVG else acc


_FLOATS = (flambeau.float32, flambeau.float64, flambeau.float16, flambeau.bfloat16)
_INTS = (flambeau.int64, flambeau.int32, flambeau.int8, flambeau.uint8)


# ------------------------------------------------------------------------------------------------ the world
def _collectives(rank, n):
    assert dist.is_initialized() and dist.get_rank() == rank and dist.get_world_size() == n
    assert dist.get_backend() == "gloo" and dist.group.WORLD is not None and dist.GroupMember.WORLD is dist.group.WORLD
    R = dist.ReduceOp

    # all_reduce: every op, every dtype, odd shapes, empty, 0-d, non-contiguous views
    cases = []
    for dt in _FLOATS + (flambeau.complex64,):
        for op in (R.SUM, R.AVG, R.PRODUCT, R.MIN, R.MAX):
            if dt.is_complex and op in (R.MIN, R.MAX):
                continue
            cases.append((dt, op))
    for dt in _INTS + (flambeau.bool,):
        for op in (R.SUM, R.PRODUCT, R.MIN, R.MAX, R.BAND, R.BOR, R.BXOR):
            cases.append((dt, op))
    for k, (dt, op) in enumerate(cases):
        for shape in ((7, 5), (), (0, 3)):
            t = _inp(rank, shape, dt, seed=k)
            want = _fold_local([_inp(r, shape, dt, seed=k) for r in range(n)], op, n)
            dist.all_reduce(t, op=op)
            assert tensor_equal(t, want), (dt, op, shape)
    # against PyTorch's own ops, and the result is identical on every rank
    for dt in (flambeau.float32, flambeau.float64, flambeau.int64):
        for op in (R.SUM, R.AVG, R.PRODUCT, R.MIN, R.MAX):
            if op == R.AVG and dt == flambeau.int64:
                continue
            t = _inp(rank, (33,), dt, seed=7)
            dist.all_reduce(t, op=op)
            ref = _torch_fold([_inp(r, (33,), dt, seed=7) for r in range(n)], op, n)
            assert np.array_equal(t.numpy(), ref.numpy()), (dt, op)
            everyone = [flambeau.empty_like(t) for _ in range(n)]
            dist.all_gather(everyone, t)
            assert all(tensor_equal(e, t) for e in everyone)
    base = _inp(rank, (6, 4), flambeau.float32, seed=99)
    view = base.t()[1:, ::2]  # non-contiguous: only the view's elements change
    dist.all_reduce(view)
    want = _fold_local([_inp(r, (6, 4), flambeau.float32, seed=99).t()[1:, ::2] for r in range(n)], R.SUM, n)
    assert tensor_equal(view, want)
    untouched = _inp(rank, (6, 4), flambeau.float32, seed=99).t()
    assert tensor_equal(base.t()[0], untouched[0])

    # async_op: Work
    t = flambeau.full((5,), float(rank + 1))
    work = dist.all_reduce(t, async_op=True)
    assert isinstance(work, dist.Work) and work.wait() is True and work.is_completed() and work.is_success()
    assert t.tolist() == [n * (n + 1) / 2] * 5 and work.result()[0] is t
    assert work.get_future().wait()[0] is t
    # two async ops on one tensor run in issue order, the second reading the first's result
    for t in (flambeau.full((4,), float(rank + 1)), flambeau.full((4, 2), float(rank + 1)).t()):
        w1, w2 = dist.all_reduce(t, async_op=True), dist.all_reduce(t, async_op=True)
        w2.wait()
        assert w1.is_completed() and t.reshape(-1).tolist() == [n * n * (n + 1) / 2] * t.numel()
    # leaves that require grad: reduced in place, outside autograd
    p = flambeau.ones(3, requires_grad=True)
    dist.all_reduce(p)
    assert p.requires_grad and p.grad_fn is None and p.tolist() == [float(n)] * 3

    # reduce / broadcast
    for root in range(n):
        t = _inp(rank, (4, 3), flambeau.float64, seed=root)
        dist.reduce(t, dst=root, op=R.MAX)
        want = _fold_local([_inp(r, (4, 3), flambeau.float64, seed=root) for r in range(n)], R.MAX, n) \
            if rank == root else _inp(rank, (4, 3), flambeau.float64, seed=root)
        assert tensor_equal(t, want)
        t = _inp(rank, (5,), flambeau.bfloat16, seed=root)
        dist.broadcast(t, src=root)
        assert tensor_equal(t, _inp(root, (5,), flambeau.bfloat16, seed=root))

    # all_gather, all_gather_into_tensor (concatenated and stacked)
    outs = [flambeau.empty(2, 3, dtype=flambeau.int16) for _ in range(n)]
    dist.all_gather(outs, _inp(rank, (2, 3), flambeau.int16))
    assert all(tensor_equal(outs[r], _inp(r, (2, 3), flambeau.int16)) for r in range(n))
    cat = flambeau.empty(2 * n, 3)
    dist.all_gather_into_tensor(cat, _inp(rank, (2, 3), flambeau.float32))
    assert tensor_equal(cat, flambeau.cat([_inp(r, (2, 3), flambeau.float32) for r in range(n)]))
    stacked = flambeau.empty(n, 2, 3).transpose(1, 2).contiguous().transpose(1, 2)  # non-contiguous output
    dist.all_gather_into_tensor(stacked, _inp(rank, (2, 3), flambeau.float32))
    assert tensor_equal(stacked, flambeau.stack([_inp(r, (2, 3), flambeau.float32) for r in range(n)]))

    # gather / scatter
    for root in range(n):
        lst = [flambeau.empty(4) for _ in range(n)] if rank == root else None
        dist.gather(_inp(rank, (4,), flambeau.float32, seed=root), lst, dst=root)
        if rank == root:
            assert all(tensor_equal(lst[r], _inp(r, (4,), flambeau.float32, seed=root)) for r in range(n))
        out = flambeau.empty(3, dtype=flambeau.int64)
        src_list = [flambeau.full((3,), 10 * root + r, dtype=flambeau.int64) for r in range(n)] if rank == root else None
        dist.scatter(out, src_list, src=root)
        assert out.tolist() == [10 * root + rank] * 3

    # reduce_scatter / reduce_scatter_tensor
    ins = [_inp(rank, (3,), flambeau.float32, seed=r) for r in range(n)]
    out = flambeau.empty(3)
    dist.reduce_scatter(out, ins)
    assert tensor_equal(out, _fold_local([_inp(s, (3,), flambeau.float32, seed=rank) for s in range(n)], R.SUM, n))
    big = _inp(rank, (2 * n, 2), flambeau.float64, seed=5)
    out = flambeau.empty(2, 2, dtype=flambeau.float64)
    dist.reduce_scatter_tensor(out, big, op=R.MIN)
    assert tensor_equal(out, _fold_local([_inp(s, (2 * n, 2), flambeau.float64, seed=5)[2 * rank:2 * rank + 2]
                                          for s in range(n)], R.MIN, n))

    # all_to_all / all_to_all_single (equal and uneven splits)
    ins = [flambeau.full((2,), float(100 * rank + r)) for r in range(n)]
    outs = [flambeau.empty(2) for _ in range(n)]
    dist.all_to_all(outs, ins)
    assert [o.tolist() for o in outs] == [[100 * s + rank] * 2 for s in range(n)]
    inp = flambeau.arange(2 * n, dtype=flambeau.float32) + 100 * rank
    out = flambeau.empty(2 * n)
    dist.all_to_all_single(out, inp)
    assert out.tolist() == [100 * s + 2 * rank + k for s in range(n) for k in range(2)]
    # rank s sends (s + r + 1) rows to rank r
    in_splits = [rank + r + 1 for r in range(n)]
    out_splits = [s + rank + 1 for s in range(n)]
    inp = flambeau.arange(sum(in_splits) * 2, dtype=flambeau.int64).reshape(-1, 2) + 1000 * rank
    out = flambeau.empty(sum(out_splits), 2, dtype=flambeau.int64)
    dist.all_to_all_single(out, inp, out_splits, in_splits)
    want = []
    for s in range(n):
        sp = [s + r + 1 for r in range(n)]
        full = flambeau.arange(sum(sp) * 2, dtype=flambeau.int64).reshape(-1, 2) + 1000 * s
        want.append(full[sum(sp[:rank]):sum(sp[:rank + 1])])
    assert tensor_equal(out, flambeau.cat(want))

    # point to point: send/recv in a ring, tags, isend/irecv order, recv from any source
    right, left = (rank + 1) % n, (rank - 1) % n
    sent = _inp(rank, (3, 2), flambeau.complex128)
    w = dist.isend(sent, right, tag=1)
    got = flambeau.empty(3, 2, dtype=flambeau.complex128)
    assert dist.recv(got, left, tag=1) == left
    w.wait()
    assert tensor_equal(got, _inp(left, (3, 2), flambeau.complex128))
    a, b = flambeau.empty(2), flambeau.empty(2)
    wa, wb = dist.irecv(a, left, tag=7), dist.irecv(b, left, tag=7)  # posted first, filled first
    dist.send(flambeau.full((2,), 1.0), right, tag=7)
    dist.send(flambeau.full((2,), 2.0), right, tag=7)
    wb.wait()
    wa.wait()
    assert a.tolist() == [1.0, 1.0] and b.tolist() == [2.0, 2.0]
    if rank == 0:
        seen = set()
        for _ in range(n - 1):
            t = flambeau.empty(1, dtype=flambeau.int64)
            src = dist.recv(t, tag=3)
            assert t.item() == src and src not in seen
            seen.add(src)
        assert seen == set(range(1, n))
    else:
        dist.send(flambeau.tensor([rank]), 0, tag=3)
    ops = [dist.P2POp(dist.isend, flambeau.full((2,), float(rank)), right),
           dist.P2POp(dist.irecv, flambeau.empty(2), left)]
    for w in dist.batch_isend_irecv(ops):
        w.wait()
    assert ops[1].tensor.tolist() == [float(left)] * 2

    # objects
    objs = [None] * n
    dist.all_gather_object(objs, {"rank": rank, "t": flambeau.tensor([rank])})
    assert [o["rank"] for o in objs] == list(range(n)) and [o["t"].item() for o in objs] == list(range(n))
    lst = ["a", 1, None] if rank == 1 else [None, None, None]
    dist.broadcast_object_list(lst, src=1)
    assert lst == ["a", 1, None]
    gl = [None] * n if rank == 0 else None
    dist.gather_object(("x", rank), gl, dst=0)
    if rank == 0:
        assert gl == [("x", r) for r in range(n)]
    out = [None]
    dist.scatter_object_list(out, [{"to": r} for r in range(n)] if rank == n - 1 else None, src=n - 1)
    assert out == [{"to": rank}]
    if rank == 0:
        dist.send_object_list([1, "two", (3,)], dst=1)
    elif rank == 1:
        got = [None] * 3
        assert dist.recv_object_list(got, src=0) == 0 and got == [1, "two", (3,)]

    # subgroups: every rank calls new_group; non-members get NON_GROUP_MEMBER and their calls are no-ops
    sub = dist.new_group([0, n - 1])
    member = rank in (0, n - 1)
    if member:
        assert dist.get_world_size(sub) == 2 and dist.get_rank(sub) == (0 if rank == 0 else 1)
        assert dist.get_process_group_ranks(sub) == [0, n - 1] and dist.get_global_rank(sub, 1) == n - 1
        assert dist.get_group_rank(sub, n - 1) == 1
        t = flambeau.tensor([float(rank)])
        dist.all_reduce(t, group=sub)
        assert t.item() == float(n - 1)
        t = flambeau.tensor([float(rank)])
        dist.broadcast(t, src=n - 1, group=sub)  # src: a global rank
        assert t.item() == float(n - 1)
        t = flambeau.tensor([float(rank)])
        dist.broadcast(t, group=sub, group_src=0)
        assert t.item() == 0.0
    else:
        assert sub == dist.GroupMember.NON_GROUP_MEMBER and dist.get_rank(sub) == -1
        with pytest.warns(UserWarning, match="does not belong to the given group"):
            assert dist.all_reduce(flambeau.ones(1), group=sub) is None
    dist.barrier()
    dist.barrier(group=sub) if member else None
    w = dist.barrier(async_op=True)
    w.wait()
    dist.monitored_barrier(timeout=datetime.timedelta(seconds=30))

    # bad input: refused before any traffic, on every rank alike
    with pytest.raises(RuntimeError, match="Cannot use ReduceOp.BAND with non-integral dtype"):
        dist.all_reduce(flambeau.ones(2), op=R.BAND)
    with pytest.raises(ValueError, match="does not support RedOpType.MAX on complex"):
        dist.all_reduce(flambeau.ones(2, dtype=flambeau.complex64), op=R.MAX)
    with pytest.raises(ValueError, match="AVG needs a floating-point"):
        dist.all_reduce(flambeau.ones(2, dtype=flambeau.int64), op=R.AVG)
    with pytest.raises(ValueError, match="tensor_list has 1 tensors, the group has"):
        dist.all_gather([flambeau.empty(2)], flambeau.ones(2))
    with pytest.raises(ValueError, match="rank should not be the same"):
        dist.send(flambeau.ones(1), rank)
    with pytest.raises(ValueError, match="split sizes"):
        dist.all_to_all_single(flambeau.empty(n), flambeau.empty(n), [n] + [0] * (n - 2), None)
    with pytest.raises(TypeError, match="must be a flambeau Tensor"):
        dist.all_reduce(np.ones(2))
    with pytest.raises(ValueError, match="initialize the default process group twice"):
        dist.init_process_group("gloo")
    # a size mismatch is caught where the bytes arrive
    if rank == 0:
        dist.send(flambeau.ones(3), 1, tag=9)
    elif rank == 1:
        with pytest.raises(dist.DistBackendError, match="received 12 bytes from rank 0 but the tensor here has shape"):
            dist.recv(flambeau.empty(2), 0, tag=9)
    dist.barrier()


def test_collectives_three_ranks():
    run_world(_collectives, 3)


def _two_rank_basics(rank, n, path):
    t = flambeau.tensor([1.0, 2.0]) * (rank + 1)
    dist.all_reduce(t)
    assert t.tolist() == [3.0, 6.0]
    # a peer that exits makes the other rank's pending receive fail instead of hanging
    if rank == 1:
        return
    with pytest.raises(dist.DistBackendError, match="rank 1"):
        dist.recv(flambeau.empty(1), 1)


def test_file_init_and_dead_peer():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "rdzv")
        run_world(_two_rank_basics, 2, path, init_method=f"file://{path}")


# ------------------------------------------------------------------------------------------------ one process
def test_single_process_group_and_errors():
    assert dist.is_available() and dist.is_gloo_available() and not dist.is_nccl_available()
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="doesn't have NCCL built in"):
        dist.init_process_group("nccl", store=dist.HashStore(), rank=0, world_size=1)
    with pytest.raises(ValueError, match="Cannot specify both init_method and store"):
        dist.init_process_group("gloo", init_method="env://", store=dist.HashStore(), rank=0, world_size=1)
    with pytest.raises(ValueError, match="environment variable .* expected, but not set"):
        saved = {k: os.environ.pop(k) for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k in os.environ}
        try:
            dist.init_process_group("gloo")
        finally:
            os.environ.update(saved)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    try:
        assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
        t = flambeau.arange(5.0)
        dist.all_reduce(t, op=dist.ReduceOp.AVG)
        assert t.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
        objs = [None]
        dist.all_gather_object(objs, {"a": 1})
        assert objs == [{"a": 1}]
        from flambeau.utils.data import DistributedSampler
        s = DistributedSampler(list(range(10)), shuffle=False)
        assert s.num_replicas == 1 and s.rank == 0 and list(s) == list(range(10))
    finally:
        dist.destroy_process_group()
    assert not dist.is_initialized()


# ------------------------------------------------------------------------------------------------ stores
def _store_api(store, extra_keys=0):
    store.set("a", "x")
    assert store.get("a") == b"x"
    store.set("b", b"\x00\xff")
    assert store.get("b") == b"\x00\xff"
    assert store.add("n", 2) == 2 and store.add("n", 3) == 5 and store.get("n") == b"5"
    assert store.num_keys() == 3 + extra_keys
    assert store.delete_key("a") is True and store.delete_key("zz") is False
    assert store.check(["n"]) and not store.check(["n", "q"])
    assert store.compare_set("c", "", "v1") == b"v1" and store.compare_set("c", "v1", "v2") == b"v2"
    assert store.compare_set("c", "zz", "v3") == b"v2"
    store.append("ap", "1")
    store.append("ap", b"2")
    assert store.get("ap") == b"12" and store.multi_get(["b", "n"]) == [b"\x00\xff", b"5"]
    store.multi_set(["k1", "k2"], ["v1", b"v2"])
    assert store.get("k2") == b"v2"
    with pytest.raises(dist.DistStoreError, match=r"wait timeout after 100ms, keys: /missing"):
        store.wait(["missing"], datetime.timedelta(milliseconds=100))
    # a waiting get is answered by a later set (from another thread here)
    threading.Timer(0.1, lambda: store.set("late", "v")).start()
    assert store.get("late") == b"v"


def test_hash_store():
    _store_api(dist.HashStore())
    assert dist.HashStore().timeout == datetime.timedelta(seconds=300)


def test_tcp_store():
    master = dist.TCPStore("127.0.0.1", 0, 1, True, timeout=datetime.timedelta(seconds=5))
    assert master.port > 0 and master.num_keys() == 1  # PyTorch's too: the clients' arrival counter
    _store_api(master, extra_keys=1)
    client = dist.TCPStore("127.0.0.1", master.port, is_master=False, timeout=datetime.timedelta(seconds=5))
    assert client.get("n") == b"5"
    client.set("from_client", "y")
    assert master.get("from_client") == b"y"
    client.set_timeout(datetime.timedelta(milliseconds=100))
    with pytest.raises(dist.DistStoreError, match="wait timeout after 100ms"):
        client.get("nothing")
    with pytest.raises(dist.DistStoreError, match="not an integer"):
        client.add("b", 1)
    client.close()
    master.close()


def test_file_store_and_prefix_store():
    with tempfile.TemporaryDirectory() as d:
        s = dist.FileStore(os.path.join(d, "f"), 1)
        _store_api(s)
        other = dist.FileStore(os.path.join(d, "f"), 1)  # a second opener sees the same keys
        assert other.get("n") == b"5" and other.num_keys() == s.num_keys()
    h = dist.HashStore()
    p = dist.PrefixStore("pre", h)
    p.set("k", "v")
    assert h.get("pre/k") == b"v" and p.get("k") == b"v" and p.add("c", 1) == 1 and h.get("pre/c") == b"1"


def test_tensor_parallel_names_exist_and_refuse():
    # transformers imports these once torch.distributed.is_available() is True
    from flambeau.distributed.tensor import DTensor, Placement, Replicate, Shard, Partial
    from flambeau.distributed.tensor.placement_types import Shard as Shard2
    from flambeau.distributed.device_mesh import init_device_mesh
    assert Shard is Shard2 and Shard(0) == Shard(0) and Shard(0) != Shard(1) and Replicate().is_replicate()
    assert isinstance(Shard(1), Placement) and Partial().is_partial() and not Replicate().is_shard()
    assert not isinstance(flambeau.ones(2), DTensor)
    for fn in (lambda: DTensor.from_local(flambeau.ones(2)), lambda: DTensor(), lambda: init_device_mesh("cpu", (2,))):
        with pytest.raises(NotImplementedError, match="no DTensor / DeviceMesh tensor parallelism"):
            fn()
    from flambeau.distributed.fsdp import FullyShardedDataParallel, ShardingStrategy
    from flambeau.distributed._tensor import DTensor as OldName
    assert OldName is DTensor and not isinstance(flambeau.nn.Linear(2, 2), FullyShardedDataParallel)
    assert ShardingStrategy.FULL_SHARD.name == "FULL_SHARD"
    with pytest.raises(NotImplementedError, match="no fully sharded data parallelism"):
        FullyShardedDataParallel(flambeau.nn.Linear(2, 2))
