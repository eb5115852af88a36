"""DataLoader, default_collate, default_convert, get_worker_info.

Workers (num_workers > 0) are processes, as PyTorch's: each has its own copy of the dataset (forked,
or pickled under spawn/forkserver), an IterableDataset is replicated in every worker (shard it with
get_worker_info()), and what a worker changes stays in that worker. Each worker is seeded
base_seed + worker_id (flambeau and Python's random; numpy with PyTorch's hash of both), runs with
one compute thread, and gets (task, indices) messages on its own socket; it sends the batch back on
the same socket with large tensors in shared memory (_utils/sharing.py). The main process keeps
prefetch_factor tasks in flight per worker and returns batches in sampler order (in_order=False:
as they arrive). A worker's exception is re-raised here with its traceback; a worker that dies is
reported with its signal or exit code; timeout bounds the wait for one batch.

Why processes (they used to be threads): transforms that hold the GIL (PIL, numpy augmentation in
Python) ran no faster with thread workers; processes run them side by side (the "gil" case of
benchmarks/bench_dataloader.py). No thread mode is kept: PyTorch's DataLoader has none either.
pin_memory does not pin: flambeau has no page-locked host allocator yet, so batches stay in ordinary
memory (same values).
"""
import itertools
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
import warnings

import flambeau
from ._utils import sharing
from ._utils.collate import default_collate, default_convert  # noqa: F401  (PyTorch exports them here too)
from ._utils.fetch import create_fetcher
from ._utils.worker import (ExceptionWrapper, WorkerInfo, _IterableDatasetStopIteration,  # noqa: F401
                            _ResumeIteration, _worker_loop, get_worker_info)
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info", "WorkerInfo"]

# Set at interpreter exit: iterators deleted then leave their workers to multiprocessing's own cleanup.
_python_exiting = [False]


def _set_python_exiting():
    _python_exiting[0] = True


import atexit  # noqa: E402

atexit.register(_set_python_exiting)


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
        self._iterator = None  # the persistent workers' iterator, reused across epochs

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
        self._check_worker_number_rationality()


    @property
    def multiprocessing_context(self):
        return self._multiprocessing_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, context):
        """None (the platform's default start method), a start method's name, or a context object."""
        if context is not None:
            if self.num_workers == 0:
                raise ValueError("multiprocessing_context can only be used with multi-process loading "
                                 f"(num_workers > 0), but got num_workers={self.num_workers}")
            if isinstance(context, str):
                methods = multiprocessing.get_all_start_methods()
                if context not in methods:
                    raise ValueError("multiprocessing_context option should specify a valid start method in "
                                     f"{methods!r}, but got multiprocessing_context={context!r}")
                context = multiprocessing.get_context(context)
            if not isinstance(context, multiprocessing.context.BaseContext):
                raise TypeError("multiprocessing_context option should be a valid context object or a string "
                                f"specifying the start method, but got multiprocessing_context={context}")
        self._multiprocessing_context = context

    def _check_worker_number_rationality(self):
        """PyTorch's warning when more workers than CPUs are asked for."""
        if not self.num_workers:
            return
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        if cpus is None or self.num_workers > cpus:
            warnings.warn(f"This DataLoader will create {self.num_workers} worker processes in total. Our suggested "
                          f"max number of worker in current system is {cpus}, which is smaller than what this "
                          "DataLoader is going to create. Please be aware that excessive worker creation might get "
                          "DataLoader running slow or even freeze, lower the worker number to avoid potential "
                          "slowness/freeze if necessary.", stacklevel=3)

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
        if self.num_workers == 0:
            # As PyTorch, every epoch first draws a base seed from the loader's generator (workers'
            # seeds derive from it), so the sample order is the same with or without workers.
            self._base_seed()
            return self._single_process_iter()
        if self.persistent_workers:
            if self._iterator is None:
                self._iterator = _MultiProcessingDataLoaderIter(self)
            else:
                self._iterator._reset(self)
            return self._iterator
        return _MultiProcessingDataLoaderIter(self)

    def _base_seed(self):
        kw = {} if self.generator is None else {"generator": self.generator}
        return int(flambeau.randint(0, 2 ** 62, (1,), **kw).item())

    def _single_process_iter(self):
        if self._dataset_kind == "iterable" and self._auto_collation:
            # islice over the iterator: the fetcher's per-sample loop, without a list of None indices
            iterator = iter(self.dataset)
            while True:
                batch = list(itertools.islice(iterator, self.batch_size))
                if not batch or (self.drop_last and len(batch) < self.batch_size):
                    return
                yield self.collate_fn(batch)
        fetcher = create_fetcher(self._dataset_kind, self.dataset, self._auto_collation, self.collate_fn,
                                 self.drop_last)
        if self._dataset_kind == "iterable":
            while True:
                try:
                    yield fetcher.fetch(None)
                except StopIteration:
                    return
        for index in self._index_sampler:
            yield fetcher.fetch(index)


class _MultiProcessingDataLoaderIter:
    """One epoch (or, with persistent_workers, every epoch) of a DataLoader with worker processes.

    Tasks are numbered in sampler order and dealt to the workers in turn (in_order=False: to any
    worker with fewer than its share of the tasks in flight); at most prefetch_factor * num_workers
    are in flight. Results that arrive ahead of their turn wait in _task_info until it comes."""

    def __init__(self, loader):
        self._dataset = loader.dataset
        self._dataset_kind = loader._dataset_kind
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        self._prefetch_factor = loader.prefetch_factor
        self._in_order = loader.in_order
        self._timeout = loader.timeout
        self._collate_fn = loader.collate_fn
        self._persistent_workers = loader.persistent_workers
        if self._prefetch_factor <= 0:
            raise ValueError("prefetch_factor must be greater than 0 for multi-process loading")
        self._base_seed = loader._base_seed()  # before the sampler draws, as with num_workers=0
        self._sampler_iter = iter(self._index_sampler)
        self._shutdown = False
        self._workers = []
        self._conns = []
        self._receivers = []
        ctx = loader.multiprocessing_context or multiprocessing.get_context()
        self._done_event = ctx.Event()
        try:
            for i in range(self._num_workers):
                ours, theirs = ctx.Pipe(duplex=True)
                w = ctx.Process(target=_worker_loop,
                                args=(self._dataset_kind, self._dataset, theirs, self._done_event,
                                      self._auto_collation, self._collate_fn, self._drop_last, self._base_seed,
                                      loader.worker_init_fn, i, self._num_workers),
                                daemon=True)
                w.start()
                theirs.close()  # the worker has its own copy: EOF here when it dies
                self._workers.append(w)
                self._conns.append(ours)
                self._receivers.append(sharing.Receiver(ours))
        except BaseException:
            self._shutdown_workers()
            raise
        self._reset(loader, first_iter=True)

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._index_sampler)

    def _reset(self, loader, first_iter=False):
        self._sampler_iter = iter(self._index_sampler)
        self._send_idx = 0  # the next task to send
        self._rcvd_idx = 0  # the next task to return
        self._task_info = {}  # task -> (worker,) while in flight, (worker, data) once arrived early
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._workers_num_tasks = [0] * self._num_workers
        self._worker_queue_idx_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:
            # persistent workers: each starts a new epoch (new fetcher) once it has answered what is
            # still in flight from the last one, which is dropped
            for conn in self._conns:
                conn.send(_ResumeIteration())
            resumed = 0
            while resumed < self._num_workers:
                idx, _ = self._get_data()
                if isinstance(idx, _ResumeIteration):
                    resumed += 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def _try_put_index(self):
        max_tasks = self._prefetch_factor * self._num_workers
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):  # the next active worker (in order), or one below its share
            worker = next(self._worker_queue_idx_cycle)
            if self._workers_status[worker]:
                if self._in_order or self._workers_num_tasks[worker] < max_tasks // sum(self._workers_status):
                    break
        else:
            return
        self._conns[worker].send((self._send_idx, index))
        self._task_info[self._send_idx] = (worker,)
        self._workers_num_tasks[worker] += 1
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _get_data(self):
        """The next message from any worker: waits on the workers' sockets and their process
        sentinels, so a worker's death is noticed at once; bounded by the loader's timeout."""
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = multiprocessing.connection.wait(self._conns + [w.sentinel for w in self._workers], wait)
            for k, conn in enumerate(self._conns):
                if conn in ready:
                    try:
                        return self._receivers[k].recv()
                    except (EOFError, ConnectionResetError):
                        pass  # the worker died after its last message: its sentinel tells how
            dead = [w for w in self._workers if w.sentinel in ready]
            if dead:
                self._raise_worker_death(dead)
            if not ready and deadline is not None and time.monotonic() >= deadline:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")

    def _raise_worker_death(self, dead):
        w = dead[0]
        w.join(timeout=1.0)
        code = w.exitcode
        pids = ", ".join(str(d.pid) for d in dead)
        self._shutdown_workers()
        if code is not None and code < 0:
            name = signal.strsignal(-code) or f"signal {-code}"
            msg = f"DataLoader worker (pid {w.pid}) is killed by signal: {name}. "
            if -code == signal.SIGBUS:
                msg += ("It is possible that dataloader's workers are out of shared memory. "
                        "Please try to raise your shared memory limit.")
            raise RuntimeError(msg)
        if code:
            raise RuntimeError(f"DataLoader worker (pid {w.pid}) exited unexpectedly with exit code {code}. "
                               "Details are lost due to multiprocessing. Rerunning with num_workers=0 may "
                               "give better error trace.")
        raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly")

    def __next__(self):
        if self._shutdown:
            raise StopIteration
        while True:
            # skip the tasks of workers that have finished their iterable (their slots never fill)
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info:
                    if len(info) == 2 or self._workers_status[info[0]]:
                        break
                    del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:
                worker, data = self._task_info.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                return self._process_data(data, worker)
            idx, data = self._get_data()
            if isinstance(idx, _ResumeIteration):
                continue
            self._tasks_outstanding -= 1
            if isinstance(data, _IterableDatasetStopIteration):
                self._workers_status[data.worker_id] = False
                self._workers_num_tasks[data.worker_id] -= 1
                self._task_info.pop(idx, None)
                self._try_put_index()
                continue
            if idx != self._rcvd_idx:
                if not self._in_order:
                    worker = self._task_info.pop(idx)[0]
                    return self._process_data(data, worker)
                self._task_info[idx] += (data,)
            else:
                worker = self._task_info.pop(idx)[0]
                self._rcvd_idx += 1
                return self._process_data(data, worker)

    def _process_data(self, data, worker):
        self._workers_num_tasks[worker] -= 1
        self._try_put_index()
        if isinstance(data, ExceptionWrapper):
            data.reraise()
        return data

    def _shutdown_workers(self):
        """Tells the workers to stop, waits a little, terminates the rest. Idempotent."""
        if self._shutdown or _python_exiting[0]:
            return
        self._shutdown = True
        self._done_event.set()
        for conn in self._conns:
            try:
                conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + 5.0
        for w in self._workers:
            w.join(timeout=max(0.0, deadline - time.monotonic()))
        for w in self._workers:
            if w.is_alive():
                w.terminate()
                w.join(timeout=1.0)
        for r in self._receivers:
            r.close()
        for conn in self._conns:
            conn.close()

    def __del__(self):
        if getattr(self, "_workers", None) is not None:
            self._shutdown_workers()

    def __getstate__(self):
        raise NotImplementedError(f"{type(self).__name__} cannot be pickled")
