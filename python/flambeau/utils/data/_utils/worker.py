"""The DataLoader worker process: its loop, its WorkerInfo, its seeds (as torch.utils.data._utils.worker).

A worker receives (task index, sampler indices) messages on its end of a socket pair, fetches and
collates the batch with its own copy of the dataset, and sends (task index, batch) back on the same
socket (large tensors in shared memory, see sharing.py). None ends it; so does the main process
dying (the socket closes, or the parent pid changes) and Ctrl-C. An exception in the dataset or
collate_fn is sent back as an ExceptionWrapper, re-raised in the main process with this traceback.
"""
import os
import pickle
import random
import sys
import traceback
from dataclasses import dataclass

from . import fetch, sharing

__all__ = ["WorkerInfo", "get_worker_info", "ExceptionWrapper"]

# How long a worker waits for a message before checking that the main process is still there (s).
STATUS_CHECK_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """What a worker knows about itself (PyTorch's fields): dataset is this process's copy."""
    id: int
    num_workers: int
    seed: int
    dataset: object
    rng: object = None
    worker_method: str = "multiprocessing"


_worker_info = None


def get_worker_info():
    """Inside a DataLoader worker process, its WorkerInfo; in the main process, None."""
    return _worker_info


class KeyErrorMessage(str):
    """A str whose repr is itself: KeyError's message shows the traceback's lines, not one escaped line."""

    def __repr__(self):
        return self


class ExceptionWrapper:
    """An exception's type and formatted traceback, picklable, re-raised in another process."""

    def __init__(self, exc_info=None, where="in background"):
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_name = self.exc_type.__name__
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def __getstate__(self):
        state = dict(self.__dict__)
        try:  # a class defined inside a function does not pickle: re-raised as RuntimeError, same message
            pickle.dumps(self.exc_type)
        except Exception:
            state["exc_type"] = RuntimeError
        return state

    def reraise(self):
        msg = f"Caught {self.exc_name} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        elif getattr(self.exc_type, "message", None):
            raise self.exc_type(message=msg)
        try:
            exception = self.exc_type(msg)
        except Exception:  # a type that needs other arguments
            raise RuntimeError(msg) from None
        raise exception


@dataclass(frozen=True)
class _IterableDatasetStopIteration:
    """Sent by a worker whose IterableDataset iterator is exhausted."""
    worker_id: int


@dataclass(frozen=True)
class _ResumeIteration:
    """Sent to persistent workers at the start of an epoch (and echoed back): new fetcher, same process."""


def _generate_state(base_seed, worker_id):
    """numpy's seed for a worker, as PyTorch seeds it: numpy's own SeedSequence over the words (worker_id,
    low and high halves of base_seed, 0), four 32-bit words of state (PyTorch writes the same hashing out
    by hand, as numpy may be absent there); the workers' numpy streams differ and equal PyTorch's."""
    import numpy as np
    words = [worker_id, base_seed & 0xFFFFFFFF, base_seed >> 32, 0]
    return [int(v) for v in np.random.SeedSequence(words).generate_state(4)]


def _seed_worker(base_seed, worker_id):
    """PyTorch's per-worker seeding: base_seed + worker_id for the framework's generator and Python's
    random, PyTorch's hash of both for numpy's global generator."""
    import numpy as np

    import flambeau
    seed = base_seed + worker_id
    random.seed(seed)
    flambeau.manual_seed(seed)
    np.random.seed(_generate_state(base_seed, worker_id))
    return seed


def _worker_loop(dataset_kind, dataset, conn, done_event, auto_collation, collate_fn, drop_last, base_seed,
                 init_fn, worker_id, num_workers):
    global _worker_info
    try:
        import flambeau
        # One compute thread per worker, as PyTorch: the workers are the parallelism, and a worker's
        # ops never wait for a pool of threads sized for the whole machine.
        flambeau.set_num_threads(1)
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        sharing._files = sharing._WorkerFiles()
        sock = sharing.socket_of(conn)
        where = f"in DataLoader worker process {worker_id}"

        init_exception = None
        fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = fetch.create_fetcher(dataset_kind, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_exception = ExceptionWrapper(where=where)

        parent = os.getppid()
        iteration_end = False
        while True:
            if not conn.poll(STATUS_CHECK_INTERVAL):
                if os.getppid() != parent:  # the main process died: we were re-parented
                    break
                continue
            try:
                r = conn.recv()
            except (EOFError, OSError):  # the main process closed its end (or died)
                break
            if r is None:
                break
            if isinstance(r, _ResumeIteration):
                iteration_end = False
                try:
                    fetcher = fetch.create_fetcher(dataset_kind, dataset, auto_collation, collate_fn, drop_last)
                except Exception:
                    init_exception = ExceptionWrapper(where=where)
                sharing.send(conn, sock, (r, None))
                continue
            if done_event.is_set() or iteration_end:
                continue  # shutting down, or nothing left to fetch this epoch: the main process drops these
            idx, index = r
            if init_exception is not None:
                data, init_exception = init_exception, None
            else:
                try:
                    data = fetcher.fetch(index)
                except Exception as e:
                    if isinstance(e, StopIteration) and dataset_kind == "iterable":
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                    else:
                        data = ExceptionWrapper(where=where)
            try:
                sharing.send(conn, sock, (idx, data))
            except (BrokenPipeError, ConnectionResetError):
                break
            except Exception:  # the batch does not pickle: say so in the main process
                sharing.send(conn, sock, (idx, ExceptionWrapper(where=where + " (sending the batch)")))
            del data, idx, index, r
    except KeyboardInterrupt:
        pass  # Ctrl-C reaches the whole process group: the main process reports it
