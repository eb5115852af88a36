"""flambeau.utils.data: datasets, random_split, samplers, collation and the DataLoader (coverage,
determinism with a seeded generator, drop_last, batch_size=None, worker processes, errors).
More on worker processes: tests/test_dataloader_workers.py."""
from collections import namedtuple

import numpy as np
import pytest

import flambeau
from flambeau.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset,
                                 IterableDataset, RandomSampler, SequentialSampler, Subset,
                                 SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                                 default_collate, get_worker_info, random_split)


def np_of(t):
    return t.detach().cpu().numpy()


def make_tensor_dataset(n=10):
    x = flambeau.arange(n * 3, dtype=flambeau.float32).reshape(n, 3)
    y = flambeau.arange(n)
    return TensorDataset(x, y)


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"x": np.full((2,), i, np.float32), "y": i, "name": f"s{i}", "sq": float(i * i)}


def test_tensor_dataset_subset_concat():
    ds = make_tensor_dataset(10)
    assert len(ds) == 10
    x, y = ds[4]
    assert np.array_equal(np_of(x), [12, 13, 14]) and int(y) == 4
    with pytest.raises(AssertionError, match="Size mismatch"):
        TensorDataset(flambeau.zeros(3), flambeau.zeros(4))
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and int(sub[0][1]) == 7
    cat = ConcatDataset([sub, ds])
    assert len(cat) == 13 and int(cat[3][1]) == 0 and int(cat[-1][1]) == 9
    assert len(ds + sub) == 13
    with pytest.raises(ValueError):
        cat[-14]


def test_random_split_lengths_fractions_and_determinism():
    ds = make_tensor_dataset(10)
    a, b = random_split(ds, [7, 3], generator=flambeau.Generator().manual_seed(0))
    ia = [int(a[i][1]) for i in range(len(a))]
    ib = [int(b[i][1]) for i in range(len(b))]
    assert sorted(ia + ib) == list(range(10)) and len(ia) == 7
    a2, _ = random_split(ds, [7, 3], generator=flambeau.Generator().manual_seed(0))
    assert [int(a2[i][1]) for i in range(7)] == ia
    parts = random_split(ds, [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [5, 3, 2]
    parts = random_split(make_tensor_dataset(11), [0.5, 0.5])
    assert [len(p) for p in parts] == [6, 5]  # remainder distributed round-robin
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [5, 4])


def test_samplers():
    ds = make_tensor_dataset(10)
    assert list(SequentialSampler(ds)) == list(range(10))
    perm = list(RandomSampler(ds))
    assert sorted(perm) == list(range(10))
    g = flambeau.Generator().manual_seed(3)
    s = RandomSampler(ds, generator=g)
    e1, e2 = list(s), list(s)
    assert sorted(e1) == sorted(e2) == list(range(10)) and e1 != e2  # new order per epoch
    g.manual_seed(3)
    assert list(s) == e1
    with_rep = list(RandomSampler(ds, replacement=True, num_samples=50))
    assert len(with_rep) == 50 and all(0 <= i < 10 for i in with_rep)
    more = list(RandomSampler(ds, num_samples=25))
    assert len(more) == 25 and sorted(more[:10]) == list(range(10))
    assert sorted(SubsetRandomSampler([3, 5, 9])) == [3, 5, 9]
    w = list(WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 200))
    assert set(w) <= {1, 3} and 0.6 < w.count(3) / 200 < 0.9
    nr = list(WeightedRandomSampler([1, 1, 1, 0.001], 3, replacement=False))
    assert len(set(nr)) == 3
    assert list(BatchSampler(range(7), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(ds, num_samples=0)


def test_dataloader_batches_and_drop_last():
    ds = make_tensor_dataset(10)
    batches = list(DataLoader(ds, batch_size=4))
    assert len(batches) == 3 == len(DataLoader(ds, batch_size=4))
    x, y = batches[0]
    assert tuple(x.shape) == (4, 3) and np.array_equal(np_of(y), [0, 1, 2, 3])
    assert tuple(batches[-1][0].shape) == (2, 3)
    dl = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and len(list(dl)) == 2


@pytest.mark.parametrize("num_workers", [0, 2])
def test_shuffle_covers_every_sample_once_per_epoch(num_workers):
    ds = make_tensor_dataset(23)
    dl = DataLoader(ds, batch_size=5, shuffle=True, num_workers=num_workers)
    for _ in range(2):
        seen = np.concatenate([np_of(y) for _, y in dl])
        assert sorted(seen.tolist()) == list(range(23))


def test_seeded_generator_gives_the_same_order():
    ds = make_tensor_dataset(20)

    def order(seed, workers=0):
        g = flambeau.Generator()
        g.manual_seed(seed)
        dl = DataLoader(ds, batch_size=6, shuffle=True, generator=g, num_workers=workers)
        return [np_of(y).tolist() for _, y in dl]

    assert order(1) == order(1)
    assert order(1) != order(2)
    assert order(1, workers=3) == order(1)  # workers change nothing about the order
    flambeau.manual_seed(5)
    a = [np_of(y).tolist() for _, y in DataLoader(ds, batch_size=6, shuffle=True)]
    flambeau.manual_seed(5)
    b = [np_of(y).tolist() for _, y in DataLoader(ds, batch_size=6, shuffle=True)]
    assert a == b


def test_default_collate_structures():
    dl = DataLoader(Squares(5), batch_size=3)
    batch = next(iter(dl))
    assert set(batch) == {"x", "y", "name", "sq"}
    assert tuple(batch["x"].shape) == (3, 2) and batch["x"].dtype == flambeau.float32
    assert batch["y"].dtype == flambeau.int64 and np_of(batch["y"]).tolist() == [0, 1, 2]
    assert batch["sq"].dtype == flambeau.float64
    assert batch["name"] == ["s0", "s1", "s2"]
    Point = namedtuple("Point", "a b")
    out = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(out, Point) and np_of(out.a).tolist() == [1, 3]
    out = default_collate([(np.float32(1.5), True), (np.float32(2.5), False)])
    assert isinstance(out, list) and np_of(out[0]).tolist() == [1.5, 2.5]
    assert out[1].dtype == flambeau.bool
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError):
        default_collate([object(), object()])


def test_batch_size_none_and_custom_collate_and_samplers():
    ds = Squares(4)
    items = list(DataLoader(ds, batch_size=None))
    assert len(items) == 4 and items[2]["y"] == 2
    assert tuple(items[1]["x"].shape) == (2,)  # numpy converted to tensors
    dl = DataLoader(ds, batch_size=2, collate_fn=lambda b: [s["y"] for s in b])
    assert list(dl) == [[0, 1], [2, 3]]
    dl = DataLoader(ds, sampler=[3, 1, 2, 0], batch_size=2, collate_fn=lambda b: [s["y"] for s in b])
    assert list(dl) == [[3, 1], [2, 0]]
    dl = DataLoader(ds, batch_sampler=[[0, 3], [1]], collate_fn=lambda b: [s["y"] for s in b])
    assert list(dl) == [[0, 3], [1]] and len(dl) == 2


def test_dataloader_argument_errors_match_pytorch():
    ds = make_tensor_dataset(4)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(ds, prefetch_factor=2)


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


def test_iterable_dataset_single_and_workers():
    assert [np_of(b).tolist() for b in DataLoader(Stream(7), batch_size=3)] == \
        [[0, 1, 2], [3, 4, 5], [6]]
    assert len(DataLoader(Stream(7), batch_size=3)) == 3
    assert len(list(DataLoader(Stream(7), batch_size=3, drop_last=True))) == 2
    got = [np_of(b).tolist() for b in DataLoader(Stream(10), batch_size=2, num_workers=2)]
    flat = sorted(v for b in got for v in b)
    assert flat == list(range(10))
    assert got[0] == [0, 2] and got[1] == [1, 3]  # batches alternate between the two workers
    with pytest.raises(ValueError, match="IterableDataset"):
        DataLoader(Stream(3), shuffle=True)


def test_workers_see_worker_info_and_init_fn_and_errors():
    # Workers are processes: what a worker sees comes back in the samples (a set filled in the
    # worker would stay empty here); worker_init_fn runs in the worker, on its copy of the dataset.
    class Probe(Dataset):
        tag = None

        def __len__(self):
            return 8

        def __getitem__(self, i):
            info = get_worker_info()
            return i, info.id, info.num_workers, info.dataset.tag

    def init(worker_id):
        get_worker_info().dataset.tag = 10 + worker_id

    batches = list(DataLoader(Probe(), batch_size=2, num_workers=2, worker_init_fn=init))
    assert [np_of(b[0]).tolist() for b in batches] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert [np_of(b[1]).tolist() for b in batches] == [[0, 0], [1, 1], [0, 0], [1, 1]]
    assert all(np_of(b[2]).tolist() == [2, 2] for b in batches)
    assert [np_of(b[3]).tolist() for b in batches] == [[10, 10], [11, 11], [10, 10], [11, 11]]
    assert get_worker_info() is None and Probe.tag is None

    class Broken(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            if i == 2:
                raise KeyError("bad sample")
            return i

    # As PyTorch: the worker's exception type, its traceback in the message.
    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process 0"):
        list(DataLoader(Broken(), batch_size=1, num_workers=2))
    with pytest.raises(KeyError):
        list(DataLoader(Broken(), batch_size=1))


def test_training_loop_over_a_dataloader():
    flambeau.manual_seed(0)
    x = flambeau.randn(64, 2)
    y = (x[:, 0] + x[:, 1] > 0).to(flambeau.int64)
    dl = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    model = flambeau.nn.Linear(2, 2)
    opt = flambeau.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(10):
        for xb, yb in dl:
            loss = flambeau.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    acc = float((model(x).argmax(1) == y).to(flambeau.float32).mean())
    assert acc > 0.9


@pytest.mark.parametrize("num_workers", [0, 2])
def test_tensor_dataset_batches_are_row_gathers(num_workers):
    # A TensorDataset with the default collate is batched by one row gather per tensor: the same
    # batches (values, dtypes, a list per batch) as collating the samples one by one, shuffled or not,
    # with a partial last batch, a strided tensor among the dataset's tensors, and worker processes.
    rng = np.random.default_rng(0)
    x = flambeau.from_numpy(rng.standard_normal((103, 2, 3)).astype(np.float32))
    y = flambeau.from_numpy(rng.integers(0, 10, 103))
    z = flambeau.from_numpy(rng.standard_normal((5, 103))).t()
    ds = TensorDataset(x, y, z)
    for shuffle in (False, True):
        flambeau.manual_seed(3)
        fast = list(DataLoader(ds, batch_size=16, shuffle=shuffle, num_workers=num_workers))
        flambeau.manual_seed(3)
        slow = list(DataLoader(ds, batch_size=16, shuffle=shuffle, num_workers=num_workers,
                               collate_fn=lambda b: default_collate(b)))
        assert len(fast) == len(slow) == 7
        for a, b in zip(fast, slow):
            assert isinstance(a, list) and len(a) == 3
            for u, v in zip(a, b):
                assert u.dtype == v.dtype and np.array_equal(u.numpy(), v.numpy())
