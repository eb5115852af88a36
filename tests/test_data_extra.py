"""utils.data additions against PyTorch: DistributedSampler (the index partition exactly, with
shuffle=False; the properties of the shuffled one, whose permutation comes from flambeau's own
random stream), StackDataset, get_worker_info, default_convert."""
import itertools

import numpy as np
import pytest
import torch
import torch.utils.data as tdata

import flambeau
import flambeau.utils.data as fdata


@pytest.mark.parametrize("n", [0, 1, 2, 5, 7, 10, 16, 33])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_partition_matches_torch(n, replicas, drop_last):
    ds = list(range(n))
    for rank in range(replicas):
        ours = fdata.DistributedSampler(ds, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        ref = tdata.DistributedSampler(ds, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        assert len(ours) == len(ref)
        assert (ours.num_samples, ours.total_size) == (ref.num_samples, ref.total_size)
        assert list(ours) == list(ref)
        ours.set_epoch(3)
        ref.set_epoch(3)
        assert list(ours) == list(ref)


def _all_ranks(n, replicas, epoch=0, seed=0, drop_last=False):
    out = []
    for rank in range(replicas):
        s = fdata.DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=True, seed=seed,
                                     drop_last=drop_last)
        s.set_epoch(epoch)
        out.append(list(s))
    return out


@pytest.mark.parametrize("n,replicas", [(10, 3), (16, 4), (7, 2), (50, 8), (3, 5)])
def test_distributed_sampler_shuffle_properties(n, replicas):
    parts = _all_ranks(n, replicas)
    per = -(-n // replicas)
    assert all(len(p) == per for p in parts)
    flat = list(itertools.chain.from_iterable(parts))
    assert set(flat) == set(range(n))  # complete cover
    # padding repeats as few indices as needed: each index at most ceil(total/n) times
    assert len(flat) == per * replicas
    assert max(flat.count(i) for i in range(n)) <= -(-per * replicas // n)
    # drop_last: disjoint shares, each index at most once
    dl = _all_ranks(n, replicas, drop_last=True)
    flat = list(itertools.chain.from_iterable(dl))
    assert len(flat) == len(set(flat)) == (n // replicas) * replicas
    # deterministic per (seed, epoch), different across epochs and seeds
    assert _all_ranks(n, replicas, epoch=2) == _all_ranks(n, replicas, epoch=2)
    if n >= 7:
        assert _all_ranks(n, replicas, epoch=1) != parts
        assert _all_ranks(n, replicas, seed=5) != parts


def test_distributed_sampler_permutation_is_randperm_with_seeded_generator():
    n, replicas = 23, 3
    g = flambeau.Generator()
    g.manual_seed(7 + 4)
    perm = flambeau.randperm(n, generator=g).tolist()
    perm += perm[:24 - n]
    got = _all_ranks(n, replicas, epoch=4, seed=7)
    assert got == [perm[r::replicas] for r in range(replicas)]
    # the global random stream is not consumed
    flambeau.manual_seed(0)
    a = flambeau.rand(3)
    flambeau.manual_seed(0)
    list(fdata.DistributedSampler(range(9), 2, 0))
    assert bool((flambeau.rand(3) == a).all())


def test_distributed_sampler_errors_like_torch():
    for lib in (tdata, fdata):
        with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
            lib.DistributedSampler(range(4), num_replicas=2, rank=2)
        with pytest.raises(ValueError, match=r"Invalid rank -1, rank should be in the interval \[0, 1\]"):
            lib.DistributedSampler(range(4), num_replicas=2, rank=-1)
    # no process group: both raise the same error
    msgs = []
    for lib in (tdata, fdata):
        for kw in ({}, {"num_replicas": 2}, {"rank": 0}):
            with pytest.raises(ValueError) as info:
                lib.DistributedSampler(range(4), **kw)
            msgs.append(str(info.value))
    assert msgs[:3] == msgs[3:]
    assert "Default process group has not been initialized" in msgs[0]


def test_distributed_sampler_with_dataloader():
    ds = fdata.TensorDataset(flambeau.arange(10.0))
    seen = []
    for rank in range(2):
        s = fdata.DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=False)
        for (b,) in fdata.DataLoader(ds, batch_size=2, sampler=s):
            seen += b.tolist()
    assert sorted(seen) == [float(i) for i in range(10)]


def test_stack_dataset_matches_torch():
    a, b = list(range(5)), [f"s{i}" for i in range(5)]
    arr = np.arange(10.0).reshape(5, 2)
    ours = fdata.StackDataset(a, b, fdata.TensorDataset(flambeau.tensor(arr)))
    ref = tdata.StackDataset(a, b, tdata.TensorDataset(torch.tensor(arr)))
    assert len(ours) == len(ref) == 5
    for i in range(5):
        o, r = ours[i], ref[i]
        assert o[:2] == r[:2] and o[2][0].tolist() == r[2][0].tolist()
    ours = fdata.StackDataset(x=a, y=b)
    ref = tdata.StackDataset(x=a, y=b)
    assert [ours[i] for i in range(5)] == [ref[i] for i in range(5)]
    assert ours.__getitems__([3, 1]) == ref.__getitems__([3, 1])
    assert fdata.StackDataset(a, b).__getitems__([0, 4]) == tdata.StackDataset(a, b).__getitems__([0, 4])


def test_stack_dataset_getitems_of_nested_and_dataloader():
    class Batched(fdata.Dataset):
        calls = 0

        def __len__(self):
            return 6

        def __getitem__(self, i):
            raise AssertionError("should be read in batches")

        def __getitems__(self, idx):
            Batched.calls += 1
            return [i * 10 for i in idx]

    ds = fdata.StackDataset(Batched(), list(range(6)))
    assert ds.__getitems__([1, 2]) == [(10, 1), (20, 2)]
    batches = list(fdata.DataLoader(ds, batch_size=4))
    assert [b[0].tolist() for b in batches] == [[0, 10, 20, 30], [40, 50]]
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5]]
    d = list(fdata.DataLoader(fdata.StackDataset(p=list(range(3)), q=list(range(3))), batch_size=3))[0]
    assert d["p"].tolist() == d["q"].tolist() == [0, 1, 2]


def test_stack_dataset_errors_like_torch():
    cases = [((([1, 2], [1]), {}), "Size mismatch between datasets"),
             (((), {"a": [1, 2], "b": [1]}), "Size mismatch between datasets"),
             ((([1],), {"a": [1]}), "but both types are given"),
             (((), {}), "At least one dataset should be passed")]
    for (args, kwargs), msg in cases:
        for lib in (tdata, fdata):
            with pytest.raises(ValueError, match=msg):
                lib.StackDataset(*args, **kwargs)

    class Short(fdata.Dataset):
        def __len__(self):
            return 3

        def __getitems__(self, idx):
            return [0]

    with pytest.raises(ValueError, match="Nested dataset's output size mismatch. Expected 2, got 1"):
        fdata.StackDataset(Short(), [1, 2, 3]).__getitems__([0, 1])


def test_worker_info_and_default_convert():
    assert fdata.get_worker_info() is None
    for name in ("StackDataset", "DistributedSampler", "get_worker_info", "default_convert"):
        assert name in fdata.__all__ and hasattr(tdata, name)
    out = fdata.default_convert({"a": np.arange(3), "b": [np.float64(2.5)], "s": "txt"})
    assert isinstance(out["a"], flambeau.Tensor) and out["a"].tolist() == [0, 1, 2]
    assert isinstance(out["b"][0], flambeau.Tensor) and out["s"] == "txt"


def test_collate_with_a_custom_fn_map_matches_pytorch():
    """torch.utils.data._utils.collate: extending default collation for a script's own type, a dict
    subclass kept as its type, lists kept as lists, and the module paths scripts import from."""
    import functools
    import importlib

    class Boxes:
        def __init__(self, n):
            self.n = n

    class Record(dict):
        pass

    def run(lib):
        mod = importlib.import_module(lib.__name__ + ".utils.data._utils.collate")
        assert lib.utils.data.dataloader.default_collate is lib.utils.data.default_collate

        def collate_boxes(batch, *, collate_fn_map=None):
            return [b.n for b in batch]
        fn = functools.partial(mod.collate, collate_fn_map={Boxes: collate_boxes, **mod.default_collate_fn_map})
        samples = [Record(x=np.full(2, i, np.float32), boxes=Boxes(i), tags=["a", "b"], y=i, w=0.5 * i, flag=i > 0)
                   for i in range(3)]
        out = fn(samples)
        assert type(out) is Record and out["boxes"] == [0, 1, 2]
        loader = lib.utils.data.DataLoader(samples, batch_size=2, collate_fn=fn)
        batches = list(loader)
        with pytest.raises(TypeError, match="batch must contain tensors, numpy arrays, numbers"):
            mod.default_collate([object(), object()])
        return out, batches

    (t_out, t_batches), (f_out, f_batches) = run(torch), run(flambeau)
    for key in ("x", "y", "w", "flag"):
        assert str(f_out[key].dtype).split(".")[-1] == str(t_out[key].dtype).split(".")[-1]
        np.testing.assert_array_equal(f_out[key].numpy(), t_out[key].numpy())
    assert f_out["tags"] == t_out["tags"] and f_out["boxes"] == t_out["boxes"]
    assert [b["boxes"] for b in f_batches] == [b["boxes"] for b in t_batches]
