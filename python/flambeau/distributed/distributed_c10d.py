"""Process groups and collectives: torch.distributed's API on flambeau's CPU backend (answering to "gloo").

init_process_group meets the other ranks through a store (env://, tcp://, file:// or store=) and builds a
Mesh (_mesh.py): a TCP connection between every pair of ranks. The default group and every new_group share
that mesh; each group numbers its collectives, and a collective's messages carry (group, sequence number),
so ranks match collectives by the order they issue them, as PyTorch requires of its users.

Every collective runs on its group's worker thread, in issue order. async_op=True returns a Work at once
(wait(), is_completed(), get_future()); without it the call waits for the Work. A collective reads its
inputs when it runs (after the collectives issued before it: an async all_reduce issued twice on one tensor
sums the first result) and writes its outputs in place when it completes; as in PyTorch, an input must not
be changed before its Work completes. A contiguous CPU input is sent from its own memory, without a copy.

Algorithms: each rank sends its contribution to each rank that needs it and every reduction is a left fold
in group-rank order, ((x0 op x1) op x2) ..., computed by flambeau's own ops in the tensor's dtype. All
ranks therefore hold bitwise identical results, the same on every run (PyTorch's gloo reduces along a ring
whose order depends on the world size). The traffic is (n - 1) messages per rank, which is what a small
single-host world wants; it is not a bandwidth-optimal ring for many ranks.

Tensors travel as their bytes (CUDA tensors through host memory); any dtype flambeau has. Reductions
follow PyTorch's gloo: SUM/PRODUCT of bools are OR/AND, BAND/BOR/BXOR need integer or bool tensors, MIN/MAX
refuse complex ones, AVG is the sum divided by the group size (floating and complex tensors only). One
difference: MIN/MAX propagate NaN (torch.minimum/maximum), where gloo's result depends on the ring order.
"""
import datetime
import enum
import io
import os
import pickle
import queue
import threading
import warnings
from urllib.parse import urlparse, parse_qs

import numpy as np

import flambeau
from .store import (DistError, DistBackendError, DistStoreError, DistNetworkError, Store, TCPStore, FileStore,
                    HashStore, PrefixStore)
from ._mesh import Mesh

__all__ = ["is_available", "is_initialized", "is_nccl_available", "is_gloo_available", "is_mpi_available",
           "is_ucc_available", "is_xccl_available", "is_backend_available", "is_torchelastic_launched",
           "ReduceOp", "Backend", "group", "GroupMember", "ProcessGroup", "Work", "P2POp", "default_pg_timeout",
           "DistError", "DistBackendError", "DistStoreError", "DistNetworkError",
           "init_process_group", "destroy_process_group", "get_rank", "get_world_size", "get_backend",
           "get_global_rank", "get_group_rank", "get_process_group_ranks", "get_node_local_rank", "new_group",
           "barrier", "monitored_barrier", "all_reduce", "reduce", "broadcast", "all_gather",
           "all_gather_into_tensor", "gather", "scatter", "reduce_scatter", "reduce_scatter_tensor", "all_to_all",
           "all_to_all_single", "send", "recv", "isend", "irecv", "batch_isend_irecv", "all_gather_object",
           "broadcast_object_list", "gather_object", "scatter_object_list", "send_object_list",
           "recv_object_list"]

default_pg_timeout = datetime.timedelta(minutes=30)


def is_available():
    """True: flambeau has a CPU process-group backend (answering to "gloo")."""
    return True


def is_nccl_available():
    return False


def is_gloo_available():
    return True


def is_mpi_available():
    return False


def is_ucc_available():
    return False


def is_xccl_available():
    return False


def is_backend_available(backend):
    return str(backend).lower() == "gloo"


def is_torchelastic_launched():
    """True in a process started by a launcher (flambeau.distributed.run / torchrun), which sets
    TORCHELASTIC_RUN_ID."""
    return os.environ.get("TORCHELASTIC_RUN_ID") is not None


class ReduceOp:
    """ReduceOp.SUM, .AVG, .PRODUCT, .MIN, .MAX, .BAND, .BOR, .BXOR (members of ReduceOp.RedOpType, as in
    PyTorch)."""

    class RedOpType(enum.Enum):
        SUM = 0
        AVG = 1
        PRODUCT = 2
        MIN = 3
        MAX = 4
        BAND = 5
        BOR = 6
        BXOR = 7
        PREMUL_SUM = 8
        UNUSED = 9

    SUM = RedOpType.SUM
    AVG = RedOpType.AVG
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX
    BAND = RedOpType.BAND
    BOR = RedOpType.BOR
    BXOR = RedOpType.BXOR
    PREMUL_SUM = RedOpType.PREMUL_SUM
    UNUSED = RedOpType.UNUSED


class Backend(str):
    """Backend names, as in PyTorch; flambeau's CPU backend answers to GLOO."""

    UNDEFINED = "undefined"
    GLOO = "gloo"
    NCCL = "nccl"
    UCC = "ucc"
    MPI = "mpi"
    XCCL = "xccl"

    def __new__(cls, name):
        return str.__new__(cls, name.lower())


class _WorldProperty(type):
    @property
    def WORLD(cls):  # noqa: N802 - torch.distributed.group.WORLD
        return _world.default_pg


class GroupMember(metaclass=_WorldProperty):
    """GroupMember.WORLD is the default process group (None before init); NON_GROUP_MEMBER is what
    new_group returns to the ranks outside the new group."""
    NON_GROUP_MEMBER = -100


class group(metaclass=_WorldProperty):  # noqa: N801 - torch.distributed.group
    """group.WORLD: the default process group (None before init_process_group)."""


class _World:
    def __init__(self):
        self.default_pg = None
        self.groups = []          # every ProcessGroup of this process, the default one first
        self.group_count = 0      # new_group calls since init (all ranks count the same)
        self.generation = 0       # init_process_group calls in this process (prefixes the store keys)
        self.store = None
        self.owned_stores = []    # stores init_process_group made (closed by destroy_process_group)
        self.mesh = None


_world = _World()


# ------------------------------------------------------------------------------------------------ Work / Future
class Future:
    """The result of a Work (torch.futures.Future's common methods): wait(), value(), done(), then()."""

    def __init__(self):
        self._event = threading.Event()
        self._value = None
        self._error = None
        self._callbacks = []
        self._lock = threading.Lock()

    def _finish(self, value=None, error=None):
        with self._lock:
            self._value, self._error = value, error
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            cb(self)

    def done(self):
        return self._event.is_set()

    def wait(self, timeout=None):
        if not self._event.wait(timeout):
            raise DistBackendError(f"Future.wait: not completed after {timeout}s")
        if self._error is not None:
            raise self._error
        return self._value

    def value(self):
        return self.wait()

    def then(self, callback):
        """A Future completed with callback(self) once this one completes."""
        fut = Future()

        def run(f):
            try:
                fut._finish(callback(f))
            except Exception as e:  # noqa: BLE001 - carried by the returned Future
                fut._finish(error=e)
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(run)
                return fut
        run(self)
        return fut

    def set_result(self, value):
        self._finish(value)

    def set_exception(self, error):
        self._finish(error=error)


class Work:
    """One issued operation: wait(timeout=None) blocks until it completes (raising its error, if any),
    is_completed(), is_success(), exception(), result() (its output tensors), get_future()."""

    def __init__(self, name, outputs=()):
        self._name = name
        self._outputs = list(outputs)
        self._future = Future()
        self._source_rank = -1

    def _run(self, fn):
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - reaches the caller through wait()
            if not isinstance(e, Exception):
                e = DistBackendError(f"{self._name}: {e!r}")
            self._future._finish(error=e)
        else:
            self._future._finish(self._outputs)

    def wait(self, timeout=None):
        if isinstance(timeout, datetime.timedelta):
            timeout = timeout.total_seconds()
        self._future.wait(timeout)
        return True

    def is_completed(self):
        return self._future.done()

    def is_success(self):
        return self._future.done() and self._future._error is None

    def exception(self):
        return self._future._error

    def result(self):
        self.wait()
        return self._outputs

    def get_future(self):
        return self._future

    def synchronize(self):
        self.wait()

    def source_rank(self):
        return self._source_rank


class _Worker:
    """One daemon thread running a group's collectives in issue order."""

    def __init__(self, name):
        self._q = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self):
        while True:
            item = self._q.get()
            if item is None:
                return
            work, fn = item
            with flambeau.no_grad():  # outputs are written in place, outside autograd, as PyTorch's
                work._run(fn)

    def submit(self, work, fn):
        self._q.put((work, fn))

    def stop(self):
        self._q.put(None)


# ------------------------------------------------------------------------------------------------ ProcessGroup
class ProcessGroup:
    """A set of ranks that run collectives together: rank() and size() within the group."""

    def __init__(self, mesh, ranks, gid, timeout, name):
        self._mesh = mesh
        self._ranks = list(ranks)
        self._group_rank = self._ranks.index(mesh.rank)
        self._gid = gid
        self._seq = 0
        self._lock = threading.Lock()
        self._timeout = timeout
        self._name = name
        self._worker = _Worker(f"flambeau-dist-pg{gid}")
        self._destroyed = False

    def rank(self):
        return self._group_rank

    def size(self):
        return len(self._ranks)

    def name(self):
        return "gloo"

    @property
    def group_name(self):
        return self._name

    def _get_backend_name(self):
        return "gloo"

    def __repr__(self):
        return f"ProcessGroup(gloo, ranks={self._ranks}, rank={self._group_rank})"

    # the traffic of one collective, in group ranks
    def _send(self, grank, key, payload):
        self._mesh.send(self._ranks[grank], key, payload)

    def _recv(self, grank, key, what):
        return self._mesh.recv(self._ranks[grank], key, what)

    def _issue(self, name, fn, outputs, async_op):
        """Runs fn(key) on the group's worker thread; a Work when async_op, else waits and returns None."""
        if self._destroyed:
            raise DistBackendError(f"{name}: the process group has been destroyed")
        with self._lock:
            key = f"c{self._gid}:{self._seq}"
            self._seq += 1
        work = Work(name, outputs)
        self._worker.submit(work, lambda: fn(key))
        if async_op:
            return work
        work.wait()
        return None


# ------------------------------------------------------------------------------------------------ tensors <-> bytes
def _check_tensor(t, op, what="tensor"):
    if not isinstance(t, flambeau.Tensor):
        raise TypeError(f"{op}: {what} must be a flambeau Tensor, got {type(t).__name__}")
    if getattr(t, "is_sparse", False):
        raise ValueError(f"{op}: sparse tensors are not supported")


def _check_list(lst, op, what):
    if not isinstance(lst, (list, tuple)):
        raise TypeError(f"{op}: {what} must be a list of Tensors, got {type(lst).__name__}")
    for i, t in enumerate(lst):
        _check_tensor(t, op, f"{what}[{i}]")


def _pack(t):
    """t's values in row-major order as a uint8 numpy array: a view of t's memory when t is a contiguous CPU
    tensor (no copy), else a copy. As in PyTorch, an input must not be modified before its operation
    completes (before wait() for async_op=True)."""
    c = t.detach()
    if c.device.type != "cpu":
        c = c.to("cpu")
    c = c.contiguous().reshape(-1)
    if c.dtype != flambeau.uint8:
        c = c.view(flambeau.uint8)
    return c.numpy()


def _unpack(payload, like, op, src=None):
    """A CPU tensor of like's dtype and shape over payload's bytes (a bytearray from the network, or the
    numpy array of this rank's own _pack), without copying."""
    nbytes = like.numel() * like.element_size()
    if len(payload) != nbytes:
        who = "" if src is None else f" from rank {src}"
        raise DistBackendError(f"{op}: received {len(payload)} bytes{who} but the tensor here has shape "
                               f"{tuple(like.shape)} and dtype {like.dtype} ({nbytes} bytes): the ranks' tensors "
                               "must have the same size")
    arr = payload if isinstance(payload, np.ndarray) else np.frombuffer(payload, dtype=np.uint8)
    flat = flambeau.from_numpy(arr)
    if like.dtype != flambeau.uint8:
        flat = flat.view(like.dtype)
    return flat.reshape(like.shape)


def _write(dst, src):
    """Copies the CPU tensor src into dst (any device or layout), outside autograd."""
    with flambeau.no_grad():
        dst.copy_(src)


_INTEGRAL = None


def _is_integral(dtype):
    global _INTEGRAL
    if _INTEGRAL is None:
        _INTEGRAL = {flambeau.int8, flambeau.int16, flambeau.int32, flambeau.int64, flambeau.uint8, flambeau.bool}
    return dtype in _INTEGRAL


def _check_op(op, dtype, opname):
    if isinstance(op, int) and not isinstance(op, enum.Enum):
        op = ReduceOp.RedOpType(op)
    if not isinstance(op, ReduceOp.RedOpType):
        raise TypeError(f"{opname}: op must be a ReduceOp (ReduceOp.SUM, ...), got {op!r}")
    if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and not _is_integral(dtype):
        raise RuntimeError(f"Cannot use ReduceOp.{op.name} with non-integral dtype")
    if op in (ReduceOp.MIN, ReduceOp.MAX) and dtype.is_complex:
        raise ValueError(f"{opname} does not support RedOpType.{op.name} on complex tensors")
    if op is ReduceOp.AVG and _is_integral(dtype):
        raise ValueError(f"{opname}: ReduceOp.AVG needs a floating-point or complex tensor, got {dtype}")
    if op in (ReduceOp.PREMUL_SUM, ReduceOp.UNUSED):
        raise ValueError(f"{opname}: ReduceOp.{op.name} is not supported by the gloo backend")
    return op


def _fold(values, op, n):
    """((v0 op v1) op v2) ... in rank order; AVG divides the sum by n."""
    acc = values[0]
    is_bool = acc.dtype == flambeau.bool
    for v in values[1:]:
        if op is ReduceOp.SUM or op is ReduceOp.AVG:
            acc = flambeau.logical_or(acc, v) if is_bool else acc + v
        elif op is ReduceOp.PRODUCT:
            acc = flambeau.logical_and(acc, v) if is_bool else acc * v
        elif op is ReduceOp.MIN:
            acc = flambeau.minimum(acc, v)
        elif op is ReduceOp.MAX:
            acc = flambeau.maximum(acc, v)
        elif op is ReduceOp.BAND:
            acc = flambeau.bitwise_and(acc, v)
        elif op is ReduceOp.BOR:
            acc = flambeau.bitwise_or(acc, v)
        elif op is ReduceOp.BXOR:
            acc = flambeau.bitwise_xor(acc, v)
    if op is ReduceOp.AVG:
        acc = acc / n
    return acc


# ------------------------------------------------------------------------------------------------ groups
def _default_pg(name="this call"):
    pg = _world.default_pg
    if pg is None:
        raise ValueError("Default process group has not been initialized, please make sure to call "
                         "init_process_group.")
    return pg


def _resolve(group, opname):
    """(the ProcessGroup, or None when this rank is not in `group`)."""
    if group is None:
        return _default_pg(opname)
    if group == GroupMember.NON_GROUP_MEMBER:
        return None
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"{opname}: group must be a ProcessGroup (from new_group) or None, got {group!r}")
    if group._destroyed:
        raise ValueError(f"{opname}: the process group has been destroyed")
    return group


def _not_in_group(pg, opname):
    if pg is None:
        warnings.warn(f"Running {opname} on global rank {get_rank()} which does not belong to the given group.",
                      stacklevel=3)
        return True
    return False


def _group_rank_of(pg, global_rank, group_rank, opname, what, default=None):
    if group_rank is not None:
        if global_rank is not None:
            raise ValueError("Can't specify both group_rank and global_rank")
        if not 0 <= group_rank < pg.size():
            raise ValueError(f"{opname}: group {what} rank {group_rank} is out of range for a group of size "
                             f"{pg.size()}")
        return group_rank
    if global_rank is None:
        if default is None:
            raise ValueError("Must specify global_rank or group_rank")
        global_rank = default
    if global_rank not in pg._ranks:
        raise ValueError(f"{opname}: global rank {global_rank} ({what}) is not part of group {pg._ranks}")
    return pg._ranks.index(global_rank)


def is_initialized():
    return _world.default_pg is not None


def _parse_init_method(init_method, rank, world_size):
    url = urlparse(init_method)
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    if "rank" in query and rank == -1:
        rank = int(query["rank"])
    if "world_size" in query and world_size == -1:
        world_size = int(query["world_size"])
    return url, rank, world_size


def _env(name, method):
    v = os.environ.get(name)
    if v is None:
        raise ValueError(f"Error initializing torch.distributed using {method} rendezvous: environment variable "
                         f"{name} expected, but not set")
    return v


def _check_backend(backend):
    if backend is None:
        return Backend.GLOO
    name = str(backend).lower()
    if ":" in name:  # "cpu:gloo,cuda:nccl": flambeau's backend serves every device
        parts = dict(p.split(":", 1) for p in name.split(",") if ":" in p)
        if parts.get("cpu", "gloo") != "gloo" or any(v not in ("gloo", "nccl") for v in parts.values()):
            raise ValueError(f"init_process_group: backend {backend!r}: flambeau has only the CPU backend 'gloo'")
        return Backend.GLOO
    if name == "gloo":
        return Backend.GLOO
    if name in ("nccl", "mpi", "ucc", "xccl"):
        raise RuntimeError(f"Distributed package doesn't have {name.upper()} built in: flambeau's only backend is "
                           "'gloo' (CPU; it also carries CUDA tensors, through host memory)")
    raise ValueError(f"init_process_group: unknown backend {backend!r} (flambeau has 'gloo')")


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Joins this process to the default process group (see the module docstring)."""
    if _world.default_pg is not None:
        raise ValueError("trying to initialize the default process group twice!")
    _check_backend(backend)
    timeout = default_pg_timeout if timeout is None else timeout
    if not isinstance(timeout, datetime.timedelta):
        raise TypeError(f"init_process_group: timeout must be a datetime.timedelta, got {type(timeout).__name__}")
    seconds = timeout.total_seconds()
    owned = []
    if store is not None:
        if init_method is not None:
            raise ValueError("Cannot specify both init_method and store.")
        if world_size <= 0:
            raise ValueError("world_size must be positive if using store")
        if rank < 0:
            raise ValueError("rank must be non-negative if using store")
        if not isinstance(store, Store):
            raise TypeError(f"init_process_group: store must be a flambeau.distributed Store, got {type(store).__name__}")
    else:
        init_method = "env://" if init_method is None else init_method
        url, rank, world_size = _parse_init_method(init_method, rank, world_size)
        if url.scheme == "env":
            if rank == -1:
                rank = int(_env("RANK", "env://"))
            if world_size == -1:
                world_size = int(_env("WORLD_SIZE", "env://"))
            host, port = _env("MASTER_ADDR", "env://"), int(_env("MASTER_PORT", "env://"))
        elif url.scheme == "tcp":
            if rank == -1 or world_size == -1:
                raise ValueError(f"init_process_group: {init_method} needs rank and world_size (arguments or "
                                 "?rank=&world_size= in the URL)")
            host, port = url.hostname, url.port
            if host is None or port is None:
                raise ValueError(f"init_process_group: {init_method!r} must be tcp://host:port")
        elif url.scheme == "file":
            if rank == -1 or world_size == -1:
                raise ValueError(f"init_process_group: {init_method} needs rank and world_size")
            path = url.path if not url.netloc else url.netloc + url.path
            store = FileStore(path, world_size)
            store.set_timeout(timeout)
        else:
            raise ValueError(f"init_process_group: unsupported init_method {init_method!r} (env://, tcp://host:port, "
                             "file://path)")
        if store is None:
            if not 0 <= rank < world_size:
                raise ValueError(f"init_process_group: rank {rank} is out of range for world_size {world_size}")
            store = TCPStore(host, port, world_size, is_master=(rank == 0), timeout=timeout)
            owned.append(store)
    if not 0 <= rank < world_size:
        raise ValueError(f"init_process_group: rank {rank} is out of range for world_size {world_size}")
    _world.generation += 1
    prefixed = PrefixStore(f"flambeau_pg/{_world.generation}", store)
    mesh = Mesh(prefixed, rank, world_size, seconds)
    _world.store, _world.owned_stores, _world.mesh = store, owned, mesh
    _world.group_count = 0
    pg = ProcessGroup(mesh, range(world_size), 0, seconds, group_name or "0")
    _world.default_pg = pg
    _world.groups = [pg]
    # every rank has connected to every other: from here a collective can run. A barrier makes the
    # rank-0 store server outlive no one's rendezvous.
    barrier()


def destroy_process_group(group=None):
    """Destroys `group`, or (None) every group and the connections, so init_process_group can run again."""
    if group is None or group is _world.default_pg:
        if _world.default_pg is None:
            raise ValueError("Default process group has not been initialized, please make sure to call "
                             "init_process_group.")
        for pg in _world.groups:
            pg._destroyed = True
            pg._worker.stop()
        _world.mesh.close()
        for s in _world.owned_stores:  # every rank finished the rendezvous (init's barrier): the store can go
            s.close()
        _world.default_pg = None
        _world.groups = []
        _world.store = _world.mesh = None
        _world.owned_stores = []
        return
    if group == GroupMember.NON_GROUP_MEMBER:
        return
    group._destroyed = True
    group._worker.stop()
    if group in _world.groups:
        _world.groups.remove(group)


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None, device_id=None):
    """A group of the given global ranks (all ranks when None). Every rank of the default group must call
    it, in the same order, members or not; non-members get GroupMember.NON_GROUP_MEMBER."""
    pg0 = _default_pg("new_group")
    _check_backend(backend)
    world = pg0.size()
    ranks = list(range(world)) if ranks is None else sorted(int(r) for r in ranks)
    if len(set(ranks)) != len(ranks):
        raise ValueError(f"new_group: ranks must be distinct, got {ranks}")
    for r in ranks:
        if not 0 <= r < world:
            raise ValueError(f"new_group: rank {r} is out of range for world size {world}")
    _world.group_count += 1
    gid = _world.group_count
    if _world.mesh.rank not in ranks:
        return GroupMember.NON_GROUP_MEMBER
    seconds = pg0._timeout if timeout is None else timeout.total_seconds()
    pg = ProcessGroup(_world.mesh, ranks, gid, seconds, str(gid))
    _world.groups.append(pg)
    return pg


def get_rank(group=None):
    """This process's rank in `group` (the default group when None); -1 outside the group."""
    pg = _resolve(group, "get_rank")
    return -1 if pg is None else (pg._mesh.rank if group is None else pg.rank())


def get_world_size(group=None):
    pg = _resolve(group, "get_world_size")
    return -1 if pg is None else pg.size()


def get_backend(group=None):
    pg = _resolve(group, "get_backend")
    if pg is None:
        raise ValueError("Invalid process group specified")
    return Backend(pg.name())


def get_global_rank(group, group_rank):
    pg = _resolve(group, "get_global_rank")
    if pg is None or not 0 <= group_rank < pg.size():
        raise ValueError(f"Group rank {group_rank} is not part of group {group}")
    return pg._ranks[group_rank]


def get_group_rank(group, global_rank):
    pg = _resolve(group, "get_group_rank")
    if pg is None or global_rank not in pg._ranks:
        raise ValueError(f"Global rank {global_rank} is not part of group {group}")
    return pg._ranks.index(global_rank)


def get_process_group_ranks(group):
    pg = _resolve(group, "get_process_group_ranks")
    return list(pg._ranks) if pg is not None else []


def get_node_local_rank(fallback_rank=None):
    """LOCAL_RANK from the environment (set by the launcher), else fallback_rank, else a RuntimeError."""
    if "LOCAL_RANK" in os.environ:
        return int(os.environ["LOCAL_RANK"])
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError("LOCAL_RANK is not in the environment. Consider passing fallback_rank to allow "
                       "`get_node_local_rank` to work, assuming you are not running in a multi-device context "
                       "and want the code to run locally instead.")


# ------------------------------------------------------------------------------------------------ collectives
def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduces `tensor` across the group, in place on every rank."""
    _check_tensor(tensor, "all_reduce")
    op = _check_op(op, tensor.dtype, "all_reduce")
    pg = _resolve(group, "all_reduce")
    if _not_in_group(pg, "all_reduce"):
        return None
    n, me = pg.size(), pg.rank()

    def run(key):
        mine = _pack(tensor)  # read when the operation runs, in issue order
        for r in range(n):
            if r != me:
                pg._send(r, key, mine)
        parts = [_unpack(mine if r == me else pg._recv(r, key, "all_reduce"), tensor, "all_reduce", r)
                 for r in range(n)]
        _write(tensor, _fold(parts, op, n))
    return pg._issue("all_reduce", run, [tensor], async_op)


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduces `tensor` across the group into rank dst's tensor (the others' are left as they are)."""
    _check_tensor(tensor, "reduce")
    op = _check_op(op, tensor.dtype, "reduce")
    pg = _resolve(group, "reduce")
    if _not_in_group(pg, "reduce"):
        return None
    root = _group_rank_of(pg, dst, group_dst, "reduce", "dst")
    n, me = pg.size(), pg.rank()

    def run(key):
        mine = _pack(tensor)  # read when the operation runs, in issue order
        if me != root:
            pg._send(root, key, mine)
            return
        parts = [_unpack(mine if r == me else pg._recv(r, key, "reduce"), tensor, "reduce", r) for r in range(n)]
        _write(tensor, _fold(parts, op, n))
    return pg._issue("reduce", run, [tensor], async_op)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copies rank src's tensor into every rank's tensor."""
    _check_tensor(tensor, "broadcast")
    pg = _resolve(group, "broadcast")
    if _not_in_group(pg, "broadcast"):
        return None
    root = _group_rank_of(pg, src, group_src, "broadcast", "src")
    n, me = pg.size(), pg.rank()

    def run(key):
        if me == root:
            mine = _pack(tensor)
            for r in range(n):
                if r != me:
                    pg._send(r, key, mine)
        else:
            _write(tensor, _unpack(pg._recv(root, key, "broadcast"), tensor, "broadcast", root))
    return pg._issue("broadcast", run, [tensor], async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[r] = rank r's tensor, on every rank."""
    _check_tensor(tensor, "all_gather")
    _check_list(tensor_list, "all_gather", "tensor_list")
    pg = _resolve(group, "all_gather")
    if _not_in_group(pg, "all_gather"):
        return None
    n, me = pg.size(), pg.rank()
    if len(tensor_list) != n:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors, the group has {n} ranks")

    def run(key):
        mine = _pack(tensor)  # read when the operation runs, in issue order
        for r in range(n):
            if r != me:
                pg._send(r, key, mine)
        for r in range(n):
            out = tensor_list[r]
            _write(out, _unpack(mine if r == me else pg._recv(r, key, "all_gather"), out, "all_gather", r))
    return pg._issue("all_gather", run, list(tensor_list), async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """output_tensor = the ranks' input tensors concatenated along dim 0 (or stacked: output of shape
    (world_size, *input.shape))."""
    _check_tensor(output_tensor, "all_gather_into_tensor", "output_tensor")
    _check_tensor(input_tensor, "all_gather_into_tensor", "input_tensor")
    pg = _resolve(group, "all_gather_into_tensor")
    if _not_in_group(pg, "all_gather_into_tensor"):
        return None
    n = pg.size()
    if output_tensor.numel() != n * input_tensor.numel() or output_tensor.dtype != input_tensor.dtype:
        raise ValueError(f"all_gather_into_tensor: output_tensor {tuple(output_tensor.shape)} ({output_tensor.dtype}) "
                         f"must hold world_size ({n}) times input_tensor {tuple(input_tensor.shape)} "
                         f"({input_tensor.dtype})")
    chunks = list(output_tensor.reshape(n, *input_tensor.shape).unbind(0)) if output_tensor.is_contiguous() else None
    tmp = None
    if chunks is None:
        tmp = flambeau.empty((n,) + tuple(input_tensor.shape), dtype=input_tensor.dtype)
        chunks = list(tmp.unbind(0))
    work = all_gather(chunks, input_tensor, group=group, async_op=True)
    if tmp is not None:
        inner = work
        work = Work("all_gather_into_tensor", [output_tensor])

        def finish():
            inner.wait()
            _write(output_tensor, tmp.reshape(output_tensor.shape))
        pg._worker.submit(work, finish)
    else:
        work._outputs = [output_tensor]
    if async_op:
        return work
    work.wait()
    return None


def _check_root_list(tensors, at_root, n, op, arg, role):
    """gather's gather_list / scatter's scatter_list: one tensor per rank on the root (the `role` rank: the
    destination or the source), nothing on the others (PyTorch's messages)."""
    if at_root:
        if tensors is None:
            raise ValueError(f"{op}: {arg} must be given on the {role} rank")
        _check_list(tensors, op, arg)
        if len(tensors) != n:
            raise ValueError(f"{op}: {arg} has {len(tensors)} tensors, the group has {n} ranks")
    elif tensors:
        raise ValueError(f"Argument ``{arg}`` must NOT be specified on non-{role} ranks.")


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """On rank dst, gather_list[r] = rank r's tensor."""
    _check_tensor(tensor, "gather")
    pg = _resolve(group, "gather")
    if _not_in_group(pg, "gather"):
        return None
    root = _group_rank_of(pg, dst, group_dst, "gather", "dst", default=0)
    n, me = pg.size(), pg.rank()
    _check_root_list(gather_list, me == root, n, "gather", "gather_list", "destination")

    def run(key):
        mine = _pack(tensor)  # read when the operation runs, in issue order
        if me != root:
            pg._send(root, key, mine)
            return
        for r in range(n):
            out = gather_list[r]
            _write(out, _unpack(mine if r == me else pg._recv(r, key, "gather"), out, "gather", r))
    return pg._issue("gather", run, list(gather_list or []), async_op)


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Rank r's tensor = scatter_list[r] of rank src."""
    _check_tensor(tensor, "scatter")
    pg = _resolve(group, "scatter")
    if _not_in_group(pg, "scatter"):
        return None
    root = _group_rank_of(pg, src, group_src, "scatter", "src", default=0)
    n, me = pg.size(), pg.rank()
    _check_root_list(scatter_list, me == root, n, "scatter", "scatter_list", "source")

    def run(key):
        if me == root:
            parts = [_pack(t) for t in scatter_list]
            for r in range(n):
                if r != me:
                    pg._send(r, key, parts[r])
            payload = parts[me]
        else:
            payload = pg._recv(root, key, "scatter")
        _write(tensor, _unpack(payload, tensor, "scatter", root))
    return pg._issue("scatter", run, [tensor], async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Rank r's output = the reduction over ranks of their input_list[r]."""
    _check_tensor(output, "reduce_scatter", "output")
    _check_list(input_list, "reduce_scatter", "input_list")
    op = _check_op(op, output.dtype, "reduce_scatter")
    pg = _resolve(group, "reduce_scatter")
    if _not_in_group(pg, "reduce_scatter"):
        return None
    n, me = pg.size(), pg.rank()
    if len(input_list) != n:
        raise ValueError(f"reduce_scatter: input_list has {len(input_list)} tensors, the group has {n} ranks")

    def run(key):
        parts = [_pack(t) for t in input_list]
        for r in range(n):
            if r != me:
                pg._send(r, key, parts[r])
        vals = [_unpack(parts[me] if r == me else pg._recv(r, key, "reduce_scatter"), output, "reduce_scatter", r)
                for r in range(n)]
        _write(output, _fold(vals, op, n))
    return pg._issue("reduce_scatter", run, [output], async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """reduce_scatter with the inputs as one tensor: chunk r of `input` (along dim 0, or input[r] when input
    has shape (world_size, *output.shape)) goes to rank r."""
    _check_tensor(output, "reduce_scatter_tensor", "output")
    _check_tensor(input, "reduce_scatter_tensor", "input")
    pg = _resolve(group, "reduce_scatter_tensor")
    if _not_in_group(pg, "reduce_scatter_tensor"):
        return None
    n = pg.size()
    if input.numel() != n * output.numel() or input.dtype != output.dtype:
        raise ValueError(f"reduce_scatter_tensor: input {tuple(input.shape)} ({input.dtype}) must hold world_size "
                         f"({n}) times output {tuple(output.shape)} ({output.dtype})")
    chunks = list(input.reshape(n, *output.shape).unbind(0))
    return reduce_scatter(output, chunks, op=op, group=group, async_op=async_op)


def all_to_all(output_tensor_list, input_tensor_list, group=None, async_op=False):
    """Rank r's output_tensor_list[s] = rank s's input_tensor_list[r]."""
    _check_list(output_tensor_list, "all_to_all", "output_tensor_list")
    _check_list(input_tensor_list, "all_to_all", "input_tensor_list")
    pg = _resolve(group, "all_to_all")
    if _not_in_group(pg, "all_to_all"):
        return None
    n, me = pg.size(), pg.rank()
    if len(output_tensor_list) != n or len(input_tensor_list) != n:
        raise ValueError(f"all_to_all: the tensor lists have {len(output_tensor_list)} and {len(input_tensor_list)} "
                         f"tensors, the group has {n} ranks")

    def run(key):
        parts = [_pack(t) for t in input_tensor_list]
        for r in range(n):
            if r != me:
                pg._send(r, key, parts[r])
        for r in range(n):
            out = output_tensor_list[r]
            _write(out, _unpack(parts[me] if r == me else pg._recv(r, key, "all_to_all"), out, "all_to_all", r))
    return pg._issue("all_to_all", run, list(output_tensor_list), async_op)


def _split(t, sizes, n, opname, what):
    if t.dim() == 0:
        raise ValueError(f"{opname}: {what} must have at least one dimension")
    if sizes is None or len(sizes) == 0:
        if t.shape[0] % n:
            raise ValueError(f"{opname}: {what} dim 0 ({t.shape[0]}) is not divisible by the world size ({n}); "
                             f"give {what}_split_sizes")
        sizes = [t.shape[0] // n] * n
    sizes = [int(s) for s in sizes]
    if len(sizes) != n or sum(sizes) != t.shape[0] or any(s < 0 for s in sizes):
        raise ValueError(f"{opname}: {what} split sizes {sizes} must be {n} non-negative sizes summing to "
                         f"{what}.shape[0] = {t.shape[0]}")
    return list(t.split(sizes, 0))


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None,
                      async_op=False):
    """all_to_all on dim-0 slices of one input and one output tensor (equal slices unless split sizes are
    given)."""
    _check_tensor(output, "all_to_all_single", "output")
    _check_tensor(input, "all_to_all_single", "input")
    pg = _resolve(group, "all_to_all_single")
    if _not_in_group(pg, "all_to_all_single"):
        return None
    n = pg.size()
    outs = _split(output, output_split_sizes, n, "all_to_all_single", "output")
    ins = _split(input, input_split_sizes, n, "all_to_all_single", "input")
    work = all_to_all(outs, ins, group=group, async_op=True)
    work._outputs = [output]
    if async_op:
        return work
    work.wait()
    return None


def barrier(group=None, async_op=False, device_ids=None):
    """Returns when every rank of the group has called barrier."""
    pg = _resolve(group, "barrier")
    if _not_in_group(pg, "barrier"):
        return None
    n, me = pg.size(), pg.rank()

    def run(key):
        for r in range(n):
            if r != me:
                pg._send(r, key, b"")
        for r in range(n):
            if r != me:
                pg._recv(r, key, "barrier")
    return pg._issue("barrier", run, [], async_op)


def monitored_barrier(group=None, timeout=None, wait_all_ranks=False):
    """A barrier through rank 0 that names the ranks which did not arrive within `timeout`."""
    pg = _resolve(group, "monitored_barrier")
    if _not_in_group(pg, "monitored_barrier"):
        return None
    n, me = pg.size(), pg.rank()
    seconds = pg._timeout if timeout is None else timeout.total_seconds()

    def run(key):
        mesh = pg._mesh
        if me != 0:
            pg._send(0, key, b"")
            pg._recv(0, key, "monitored_barrier")
            return
        tickets = {r: mesh.post(pg._ranks[r], key) for r in range(1, n)}
        import time
        deadline = time.monotonic() + seconds
        missing = []
        for r, t in tickets.items():
            while not mesh.ready(t) and time.monotonic() < deadline:
                time.sleep(0.001)
            if not mesh.ready(t):
                missing.append(r)
                if not wait_all_ranks:
                    break
        if missing:
            raise DistBackendError(f"monitored_barrier: rank{'s' if len(missing) > 1 else ''} "
                                   f"{', '.join(str(pg._ranks[r]) for r in missing)} failed to pass "
                                   f"monitoredBarrier in {seconds:g}s")
        for t in tickets.values():
            mesh.take(t)
        for r in range(1, n):
            pg._send(r, key, b"")
    pg._issue("monitored_barrier", run, [], False)


# ------------------------------------------------------------------------------------------------ point to point
def _p2p_key(pg, tag):
    return f"p{pg._gid}:{int(tag)}"


def _peer(pg, rank, group_rank, opname, what):
    gr = _group_rank_of(pg, rank, group_rank, opname, what)
    if gr == pg.rank():
        raise ValueError(f"Invalid {what} rank: {what} rank should not be the same as the rank of the current "
                         "process.")
    return gr


def isend(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Sends tensor to rank dst; the returned Work completes when the bytes are handed to the network."""
    _check_tensor(tensor, "isend")
    pg = _resolve(group, "isend")
    if _not_in_group(pg, "isend"):
        return None
    peer = _peer(pg, dst, group_dst, "isend", "dst")
    work = Work("send", [tensor])
    payload = _pack(tensor)
    work._run(lambda: pg._send(peer, _p2p_key(pg, tag), payload))
    return work


def send(tensor, dst=None, group=None, tag=0, group_dst=None):
    work = isend(tensor, dst, group, tag, group_dst)
    if work is not None:
        work.wait()


class _RecvWork(Work):
    """irecv's Work: the receive is posted (its place in the order of receives taken) when irecv is
    called; the bytes are copied into the tensor when they have arrived and wait() or is_completed()
    looks."""

    def __init__(self, pg, tensor, peer, key):
        super().__init__("recv", [tensor])
        self._pg, self._tensor, self._key = pg, tensor, key
        self._peer = peer
        self._ticket = None if peer is None else pg._mesh.post(pg._ranks[peer], key)
        self._lock = threading.Lock()

    def _complete(self):
        with self._lock:
            if self._future.done():
                return
            pg = self._pg

            def run():
                if self._ticket is None:
                    srcs = [pg._ranks[r] for r in range(pg.size()) if r != pg.rank()]
                    src, payload = pg._mesh.recv_any(srcs, self._key, "recv")
                    self._source_rank = src
                    peer = pg._ranks.index(src)
                else:
                    payload = pg._mesh.take(self._ticket, "recv")
                    self._source_rank = pg._ranks[self._peer]
                    peer = self._peer
                _write(self._tensor, _unpack(payload, self._tensor, "recv", pg._ranks[peer]))
            self._run(run)

    def wait(self, timeout=None):
        self._complete()
        return super().wait(timeout)

    def is_completed(self):
        if not self._future.done() and self._ticket is not None and self._pg._mesh.ready(self._ticket):
            self._complete()
        return self._future.done()


def irecv(tensor, src=None, group=None, tag=0, group_src=None):
    """Receives into tensor from rank src (any rank when src and group_src are None)."""
    _check_tensor(tensor, "irecv")
    pg = _resolve(group, "irecv")
    if _not_in_group(pg, "irecv"):
        return None
    peer = None if src is None and group_src is None else _peer(pg, src, group_src, "irecv", "src")
    return _RecvWork(pg, tensor, peer, _p2p_key(pg, tag))


def recv(tensor, src=None, group=None, tag=0, group_src=None):
    """Receives into tensor; returns the sender's rank (global rank; group rank when group_src is given)."""
    work = irecv(tensor, src, group, tag, group_src)
    if work is None:
        return -1
    work.wait()
    if group_src is not None:
        return work._pg._ranks.index(work.source_rank())
    return work.source_rank()


class P2POp:
    """One send or receive for batch_isend_irecv: P2POp(dist.isend or dist.irecv, tensor, peer, group, tag)."""

    def __init__(self, op, tensor, peer=None, group=None, tag=0, group_peer=None):
        if op not in (isend, irecv, send, recv):
            raise ValueError("Invalid ``op``. Expected ``op`` to be of type ``torch.distributed.isend`` or "
                             "``torch.distributed.irecv``.")
        self.op = isend if op in (isend, send) else irecv
        self.tensor, self.peer, self.group, self.tag, self.group_peer = tensor, peer, group, tag, group_peer


def batch_isend_irecv(p2p_op_list):
    """Issues every P2POp of the list; returns their Works."""
    if not isinstance(p2p_op_list, (list, tuple)) or not all(isinstance(p, P2POp) for p in p2p_op_list):
        raise ValueError("Invalid ``p2p_op_list``. Each op is expected to to be of type ``torch.distributed.P2POp``.")
    works = []
    for p in p2p_op_list:
        if p.op is isend:
            works.append(isend(p.tensor, p.peer, p.group, p.tag, p.group_peer))
        else:
            works.append(irecv(p.tensor, p.peer, p.group, p.tag, p.group_peer))
    return works


# ------------------------------------------------------------------------------------------------ objects
def _dumps(obj):
    buf = io.BytesIO()
    pickle.Pickler(buf).dump(obj)
    return buf.getvalue()


def _loads(data):
    return pickle.loads(bytes(data))


def _object_collective(pg, name, fn):
    pg._issue(name, fn, [], False)


def all_gather_object(object_list, obj, group=None):
    """object_list[r] = rank r's obj (pickled: only use with ranks you trust), on every rank."""
    pg = _resolve(group, "all_gather_object")
    if _not_in_group(pg, "all_gather_object"):
        return None
    n, me = pg.size(), pg.rank()
    if len(object_list) != n:
        raise ValueError(f"all_gather_object: object_list has {len(object_list)} entries, the group has {n} ranks")
    mine = _dumps(obj)

    def run(key):
        for r in range(n):
            if r != me:
                pg._send(r, key, mine)
        got = [mine if r == me else pg._recv(r, key, "all_gather_object") for r in range(n)]
        for r in range(n):
            object_list[r] = obj if r == me else _loads(got[r])
    _object_collective(pg, "all_gather_object", run)


def gather_object(obj, object_gather_list=None, dst=None, group=None, group_dst=None):
    pg = _resolve(group, "gather_object")
    if _not_in_group(pg, "gather_object"):
        return None
    root = _group_rank_of(pg, dst, group_dst, "gather_object", "dst", default=0)
    n, me = pg.size(), pg.rank()
    if me == root and (object_gather_list is None or len(object_gather_list) != n):
        raise ValueError(f"gather_object: object_gather_list must have {n} entries on the destination rank")
    mine = _dumps(obj)

    def run(key):
        if me != root:
            pg._send(root, key, mine)
            return
        for r in range(n):
            object_gather_list[r] = obj if r == me else _loads(pg._recv(r, key, "gather_object"))
    _object_collective(pg, "gather_object", run)


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """Every rank's object_list becomes rank src's (same length on every rank)."""
    pg = _resolve(group, "broadcast_object_list")
    if _not_in_group(pg, "broadcast_object_list"):
        return None
    root = _group_rank_of(pg, src, group_src, "broadcast_object_list", "src", default=0)
    n, me = pg.size(), pg.rank()
    mine = _dumps(list(object_list)) if me == root else None

    def run(key):
        if me == root:
            for r in range(n):
                if r != me:
                    pg._send(r, key, mine)
            return
        got = _loads(pg._recv(root, key, "broadcast_object_list"))
        if len(got) != len(object_list):
            raise ValueError(f"broadcast_object_list: rank {pg._ranks[root]} sent {len(got)} objects, this rank's "
                             f"object_list has {len(object_list)}")
        object_list[:] = got
    _object_collective(pg, "broadcast_object_list", run)


def scatter_object_list(scatter_object_output_list, scatter_object_input_list=None, src=None, group=None,
                        group_src=None):
    """scatter_object_output_list[0] = rank src's scatter_object_input_list[rank]."""
    pg = _resolve(group, "scatter_object_list")
    if _not_in_group(pg, "scatter_object_list"):
        return None
    if not isinstance(scatter_object_output_list, list) or len(scatter_object_output_list) < 1:
        raise ValueError("Expected argument scatter_object_output_list to be a list of size at least 1.")
    root = _group_rank_of(pg, src, group_src, "scatter_object_list", "src", default=0)
    n, me = pg.size(), pg.rank()
    if me == root:
        if scatter_object_input_list is None or len(scatter_object_input_list) != n:
            raise ValueError(f"scatter_object_list: scatter_object_input_list must have {n} entries on the source rank")
        parts = [_dumps(o) for o in scatter_object_input_list]

    def run(key):
        if me == root:
            for r in range(n):
                if r != me:
                    pg._send(r, key, parts[r])
            scatter_object_output_list[0] = _loads(parts[me])
        else:
            scatter_object_output_list[0] = _loads(pg._recv(root, key, "scatter_object_list"))
    _object_collective(pg, "scatter_object_list", run)


def send_object_list(object_list, dst=None, group=None, device=None, group_dst=None):
    pg = _resolve(group, "send_object_list")
    if _not_in_group(pg, "send_object_list"):
        return None
    peer = _peer(pg, dst, group_dst, "send_object_list", "dst")
    pg._send(peer, f"o{pg._gid}", _dumps(list(object_list)))


def recv_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """Fills object_list from send_object_list of rank src (any rank when None); returns the sender's rank."""
    pg = _resolve(group, "recv_object_list")
    if _not_in_group(pg, "recv_object_list"):
        return -1
    key = f"o{pg._gid}"
    if src is None and group_src is None:
        sender, payload = pg._mesh.recv_any([pg._ranks[r] for r in range(pg.size()) if r != pg.rank()], key,
                                            "recv_object_list")
    else:
        peer = _peer(pg, src, group_src, "recv_object_list", "src")
        sender, payload = pg._ranks[peer], pg._recv(peer, key, "recv_object_list")
    got = _loads(payload)
    if len(got) != len(object_list):
        raise ValueError(f"recv_object_list: rank {sender} sent {len(got)} objects, object_list has {len(object_list)}")
    object_list[:] = got
    return sender
