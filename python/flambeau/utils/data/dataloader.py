"""DataLoader, default_collate, default_convert, get_worker_info.

Workers (num_workers > 0) are threads in this process, not processes: the dataset is not copied
or pickled, batches come back in sampler order, and get_worker_info() works inside a worker as in
PyTorch. The heavy work (numpy decoding, flambeau kernels) releases the GIL.
persistent_workers and multiprocessing_context are accepted for compatibility: thread workers are
started for each epoch (worker_init_fn runs once per worker per epoch). pin_memory does not pin:
flambeau has no page-locked host allocator yet, so batches stay in ordinary memory (same values).
"""
import collections.abc
import itertools
import queue
import re
import threading
import warnings

import numpy as np

import flambeau
from flambeau._tensor import Tensor
from .dataset import IterableDataset, TensorDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info", "WorkerInfo"]

_np_str_obj_array_pattern = re.compile(r"[SaUO]")

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}")


def default_convert(data):
    """Convert numpy arrays (and numpy scalars) to tensors, recursing into containers."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        if data.dtype.kind in "SaUO":
            return data
        return _from_numpy(data)
    if isinstance(data, np.generic) and data.dtype.kind not in "SaUO":
        return _from_numpy(np.asarray(data))
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        try:
            return type(data)({key: default_convert(data[key]) for key in data})
        except TypeError:
            return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data




def _from_numpy(arr):
    """A flambeau tensor from a numpy array (copy), of the array's dtype (uint8 images stay uint8);
    integer arrays the core lacks (uint16/32/64) become int64 (float16 stays float16, as in PyTorch)."""
    arr = np.array(arr, order="C")
    try:
        return flambeau.from_numpy(arr)
    except (TypeError, ValueError, RuntimeError):
        if arr.dtype.kind in "iu":
            return flambeau.from_numpy(arr.astype(np.int64))
        if arr.dtype.kind == "f":
            return flambeau.from_numpy(arr.astype(np.float32))
        raise


def default_collate(batch):
    """Stack a list of samples into a batch: tensors and numpy arrays are stacked along a new
    first dim, numbers become 1-D tensors (float64 for floats, int64 for ints), strings stay a
    list, and dicts/sequences/namedtuples are collated field by field."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return flambeau.stack(list(batch), 0)
    elem_type = type(elem)
    if isinstance(elem, np.ndarray):
        if _np_str_obj_array_pattern.search(elem.dtype.str) is not None:
            raise TypeError(default_collate_err_msg_format.format(elem.dtype))
        return default_collate([_from_numpy(b) for b in batch])
    if isinstance(elem, np.generic):
        if elem.dtype.kind in "SaUO":
            raise TypeError(default_collate_err_msg_format.format(elem.dtype))
        return _from_numpy(np.array(batch))
    if isinstance(elem, bool):
        return flambeau.tensor(list(batch), dtype=flambeau.bool)
    if isinstance(elem, float):
        return flambeau.tensor(list(batch), dtype=flambeau.float64)
    if isinstance(elem, int):
        return flambeau.tensor(list(batch), dtype=flambeau.int64)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        try:
            return elem_type({key: default_collate([d[key] for d in batch]) for key in elem})
        except TypeError:
            return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return elem_type(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        it = iter(batch)
        elem_size = len(next(it))
        if not all(len(e) == elem_size for e in it):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [default_collate(samples) for samples in transposed]
        try:
            return elem_type([default_collate(samples) for samples in transposed])
        except TypeError:
            return [default_collate(samples) for samples in transposed]
    raise TypeError(default_collate_err_msg_format.format(elem_type))


class WorkerInfo:
    """What a worker knows about itself: id, num_workers, seed, dataset."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def __repr__(self):
        items = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"WorkerInfo({items})"


_worker_local = threading.local()


def get_worker_info():
    """Inside a DataLoader worker, its WorkerInfo; in the main thread, None."""
    return getattr(_worker_local, "info", None)


class _InfiniteConstantSampler(Sampler):
    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Iterates over a dataset in batches, with PyTorch's arguments and validation."""

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set "
                             "prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        if pin_memory and not flambeau.cuda.is_available():
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, then "
                          "device pinned memory won't be used.", stacklevel=2)
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.persistent_workers = persistent_workers
        self.in_order = in_order

        if isinstance(dataset, IterableDataset):
            self._dataset_kind = "iterable"
            if shuffle not in {False, None}:
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
            self._dataset_kind = "map"

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None:
            if drop_last:
                raise ValueError("batch_size=None option disables auto-batching and is mutually "
                                 "exclusive with drop_last")

        if sampler is None:
            if self._dataset_kind == "iterable":
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self):
        if self._dataset_kind == "iterable":
            length = len(self.dataset)
            if self.batch_size is not None:
                from math import ceil
                length = length // self.batch_size if self.drop_last else \
                    ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)

    def __iter__(self):
        # As PyTorch, every epoch first draws a base seed from the loader's generator (workers'
        # seeds derive from it), so the sample order is the same with or without workers.
        seed = self._base_seed()
        if self.num_workers == 0:
            return self._single_thread_iter()
        if self._dataset_kind == "iterable":
            return self._iterable_worker_iter(seed)
        return self._map_worker_iter(seed)

    # ------------------------------------------------------------------ fetching
    def _fetch_map(self, index):
        if self._auto_collation:
            if type(self.dataset) is TensorDataset and self.collate_fn is default_collate:
                # One row gather per tensor: the same batch as stacking the samples (a list, as
                # default_collate makes of tuples), without 2 views per sample and a stack of them
                # (an epoch of 10000 MNIST-sized samples: 51 ms, PyTorch's DataLoader 45).
                idx = flambeau.tensor(list(index), dtype=flambeau.int64)
                return [t[idx if t.device == idx.device else idx.to(t.device)] for t in self.dataset.tensors]
            getitems = getattr(self.dataset, "__getitems__", None)
            if callable(getitems):
                data = getitems(index)
            else:
                data = [self.dataset[i] for i in index]
        else:
            data = self.dataset[index]
        return self.collate_fn(data)

    def _iterable_batches(self, iterator):
        """Batches (or converted samples) from a dataset iterator."""
        if not self._auto_collation:
            for sample in iterator:
                yield self.collate_fn(sample)
            return
        while True:
            batch = list(itertools.islice(iterator, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield self.collate_fn(batch)

    def _single_thread_iter(self):
        if self._dataset_kind == "iterable":
            yield from self._iterable_batches(iter(self.dataset))
            return
        for index in self._index_sampler:
            yield self._fetch_map(index)

    # ------------------------------------------------------------------ thread workers
    def _base_seed(self):
        kw = {} if self.generator is None else {"generator": self.generator}
        return int(flambeau.randint(0, 2 ** 62, (1,), **kw).item())

    def _start_worker(self, worker_id, seed):
        _worker_local.info = WorkerInfo(id=worker_id, num_workers=self.num_workers,
                                        seed=seed + worker_id, dataset=self.dataset)
        if self.worker_init_fn is not None:
            self.worker_init_fn(worker_id)

    def _get(self, q):
        try:
            return q.get(timeout=self.timeout if self.timeout > 0 else None)
        except queue.Empty:
            raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds") from None

    def _map_worker_iter(self, seed):
        """Worker w fetches the batches w, w + num_workers, ...; each has a bounded output
        queue (prefetch_factor batches) and the main thread reads them round-robin, so batches
        come out in sampler order."""
        n = self.num_workers
        indices = list(self._index_sampler)
        stop = threading.Event()
        queues = [queue.Queue(maxsize=max(1, self.prefetch_factor)) for _ in range(n)]

        def work(wid):
            try:
                self._start_worker(wid, seed)
                for k in range(wid, len(indices), n):
                    if stop.is_set():
                        return
                    item = ("ok", self._fetch_map(indices[k]))
                    while not stop.is_set():
                        try:
                            queues[wid].put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
            except BaseException as e:  # surfaced in the main thread
                queues[wid].put(("err", e))

        threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in range(n)]
        for t in threads:
            t.start()
        try:
            for k in range(len(indices)):
                kind, value = self._get(queues[k % n])
                if kind == "err":
                    raise RuntimeError(f"Caught {type(value).__name__} in DataLoader worker "
                                       f"{k % n}: {value}") from value
                yield value
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=1.0)

    def _iterable_worker_iter(self, seed):
        """Each worker iterates its own iterator of the dataset (which may shard itself with
        get_worker_info()); batches are taken from the workers in turn while they last."""
        n = self.num_workers
        stop = threading.Event()
        done = object()
        queues = [queue.Queue(maxsize=max(1, self.prefetch_factor)) for _ in range(n)]

        def work(wid):
            try:
                self._start_worker(wid, seed)
                for batch in self._iterable_batches(iter(self.dataset)):
                    while not stop.is_set():
                        try:
                            queues[wid].put(("ok", batch), timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                queues[wid].put(("ok", done))
            except BaseException as e:
                queues[wid].put(("err", e))

        threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in range(n)]
        for t in threads:
            t.start()
        try:
            active = list(range(n))
            while active:
                for wid in list(active):
                    kind, value = self._get(queues[wid])
                    if kind == "err":
                        raise RuntimeError(f"Caught {type(value).__name__} in DataLoader worker "
                                           f"{wid}: {value}") from value
                    if value is done:
                        active.remove(wid)
                        continue
                    yield value
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=1.0)
