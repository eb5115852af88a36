"""How DataLoader worker processes hand batches to the main process: pickled messages on a Unix socket,
with large tensors in shared memory instead of the pickle.

A tensor of at least SHARE_THRESHOLD bytes travels as an anonymous shared-memory file (memfd): the
worker writes the batch into it (collate stacks straight into it, other tensors are copied once), sends
the file descriptor with the message (SCM_RIGHTS on the worker's socket), and the main process maps it
and wraps the mapping as a tensor, with no copy on its side. Pickling the bytes instead costs four
copies (into the pickle, through the kernel twice, out of the pickle), all but the first in the main
process, which is the process that has to keep up. A memfd has no name, so nothing is left behind if
either side dies. PyTorch does the same with its file_descriptor sharing strategy.

Unlike PyTorch, the files are reused: a fresh 1.5 MB file costs ~1.2 ms to fill with zeroed pages in the
worker, and as much again to map in and free in the main process (a CIFAR batch of 128, measured on the
2-core machine), more than stacking the batch. Each worker keeps a pool of up to POOL_SLOTS files mapped
on both sides, and a one-byte-per-file control region (another memfd, sent with the first message): the
worker sets a file's byte when it puts a batch in it, the main process clears it when the last tensor
(or view) on that batch dies (a _Lease object is the numpy base of those tensors). A worker reuses a
file whose byte is clear, and makes a one-off file when none is (the script keeps many batches).

Smaller tensors (labels, scalars) go inside the pickle: a file, two mappings and a descriptor cost
more than copying a few kilobytes.
"""
import io
import mmap
import os
import pickle
import socket
import struct
from multiprocessing import reduction

import numpy as np

import flambeau
from flambeau import _C
from flambeau._shared_memory import mapping_address as _address
from flambeau._tensor import Tensor

__all__ = ["SHARE_THRESHOLD", "POOL_SLOTS", "shared_empty_like_stack", "send", "Receiver", "socket_of"]

# Measured on the 2-core development machine: memfd_create + ftruncate + mmap + close in the worker and
# recvmsg + mmap in the main process cost ~30 us together, which is what pickling ~64 KiB costs.
SHARE_THRESHOLD = 64 * 1024
POOL_SLOTS = 16  # files a worker keeps for reuse, at most
POOL_BYTES = 256 << 20  # and at most this much memory in them (larger batches than that: one-off files)

_HEADER = struct.Struct("<II")  # descriptors sent after the message; 1 if the first is the control region
_PID = "flambeau.shared_tensor"


def _new_file(nbytes, name="flambeau-dataloader"):
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, nbytes)
        mm = mmap.mmap(fd, nbytes, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
    except BaseException:
        os.close(fd)
        raise
    return fd, mm


class _WorkerFiles:
    """A worker's shared-memory files: the pool, and those written for the message being built.

    collate asks new() for the file to stack into; the pickler looks tensors up by address in the
    message's files (a view of one is sent as that file plus an offset) and copies the others into
    new ones. The message's files stay mapped here until it is sent, so that no new file is mapped at
    the address of one that is still registered."""

    def __init__(self):
        self.ctl_fd, self.ctl = _new_file(POOL_SLOTS, "flambeau-dataloader-control")
        self.ctl_sent = False
        self.pool = []  # slot -> (nbytes, fd, mm, address)
        self.known = set()  # slots whose descriptor the main process has
        self.message = []  # (start, end, slot or -1, fd, mm) of the files of the message being built

    def new(self, nbytes):
        """A writable mapping of at least nbytes of a file for this message; returns the mmap."""
        for slot, (size, fd, mm, start) in enumerate(self.pool):
            if self.ctl[slot] == 0 and nbytes <= size <= 2 * nbytes:
                break
        else:
            fd, mm = _new_file(nbytes)
            start, size = _address(mm), nbytes
            if len(self.pool) < POOL_SLOTS and sum(f[0] for f in self.pool) + nbytes <= POOL_BYTES:
                slot = len(self.pool)
                self.pool.append((size, fd, mm, start))
            else:
                slot = -1
        if slot >= 0:
            self.ctl[slot] = 1
        self.message.append((start, start + nbytes, slot, fd, mm))
        return mm

    def find(self, lo, hi):
        for entry in self.message:
            if entry[0] <= lo and hi <= entry[1]:
                return entry
        return None

    def end_message(self, sent):
        """After a send (sent=True) or a failed one: one-off files are closed here (the main process
        holds its own descriptor), pooled ones not sent are free again."""
        for _, _, slot, fd, _ in self.message:
            if slot < 0:
                os.close(fd)
            elif not sent:
                self.ctl[slot] = 0
        self.message = []


# Set in a worker process (worker._worker_loop). None elsewhere, so that collate in the main process
# (num_workers=0) allocates ordinary memory.
_files = None


def _shareable(dtype, nbytes):
    return _files is not None and nbytes >= SHARE_THRESHOLD and dtype.kind in "biufc"


def shared_empty_like_stack(batch):
    """In a worker process, collate's output for stacking `batch` (same-shape, same-dtype CPU tensors
    that do not require grad) as a tensor on a shared-memory file, so that it is sent without a copy;
    None where that does not apply (main process, small batch, mixed or unusual tensors)."""
    if _files is None:
        return None
    first = batch[0]._impl
    if first.device != "cpu" or first.dtype == "bfloat16":
        return None
    dtype, shape = first.dtype, first.shape
    impls = []
    for t in batch:  # (one pass of cheap checks: 256 MNIST samples a batch)
        if type(t) is not Tensor or t._rg:
            return None
        impl = t._impl
        if impl.dtype != dtype or impl.shape != shape or impl.device != "cpu":
            return None
        impls.append(impl)
    arrays = [_C.to_numpy(i) for i in impls]
    dtype = arrays[0].dtype
    nbytes = dtype.itemsize * arrays[0].size * len(arrays)
    if not _shareable(dtype, nbytes):
        return None
    out = np.ndarray((len(arrays),) + arrays[0].shape, dtype=dtype, buffer=_files.new(nbytes))
    np.stack(arrays, 0, out=out)
    return flambeau.from_numpy(out)


class _Pickler(pickle.Pickler):
    """Large CPU tensors become references to shared-memory files (persistent ids); fds collects the
    descriptors to send, in the order the ids number them."""

    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.fds = []
        self.new_slots = []
        self._fd_index = {}

    def persistent_id(self, obj):
        if type(obj) is not Tensor:
            return None
        impl = obj._impl
        if impl.device != "cpu" or impl.dtype == "bfloat16" or obj.grad_fn is not None:
            return None
        arr = _C.to_numpy(impl)
        if not _shareable(arr.dtype, arr.nbytes):
            return None
        lo = arr.__array_interface__["data"][0]
        hi = lo + sum((n - 1) * s for n, s in zip(arr.shape, arr.strides)) + arr.itemsize
        entry = _files.find(lo, hi)
        strides = arr.strides
        if entry is None:  # not written by collate: one copy into a file, contiguous
            mm = _files.new(arr.nbytes)
            np.copyto(np.ndarray(arr.shape, dtype=arr.dtype, buffer=mm), arr)
            entry, lo, strides = _files.message[-1], _files.message[-1][0], None
        start, end, slot, fd, _ = entry
        index = -1
        if slot < 0 or slot not in _files.known:
            if fd not in self._fd_index:
                self._fd_index[fd] = len(self.fds)
                self.fds.append(fd)
                if slot >= 0:
                    self.new_slots.append(slot)
            index = self._fd_index[fd]
        size = _files.pool[slot][0] if slot >= 0 else end - start
        return (_PID, slot, index, size, lo - start, arr.shape, strides, arr.dtype.str, bool(obj.requires_grad))


def send(conn, sock, obj):
    """Sends obj on the worker's Connection; the descriptors of the shared-memory files it uses go on
    sock (a socket on the same descriptor as conn)."""
    buf = io.BytesIO()
    buf.write(_HEADER.pack(0, 0))
    p = _Pickler(buf)
    sent = False
    try:
        p.dump(obj)
        fds = p.fds
        first = _files is not None and not _files.ctl_sent
        if first:
            fds = [_files.ctl_fd] + fds
        data = buf.getbuffer()
        _HEADER.pack_into(data, 0, len(fds), int(first))
        conn.send_bytes(data)
        del data
        if fds:
            reduction.sendfds(sock, fds)
        sent = True
        if first:
            _files.ctl_sent = True
        if _files is not None:
            _files.known.update(p.new_slots)
    finally:
        if _files is not None:
            _files.end_message(sent)


class _Lease:
    """The numpy base of the tensors on one pooled file from one message: when the last of them dies,
    the file is the worker's again."""

    __slots__ = ("__array_interface__", "_mm", "_ctl", "_slot")

    def __init__(self, mm, ctl, slot, size):
        self._mm, self._ctl, self._slot = mm, ctl, slot
        self.__array_interface__ = {"data": (_address(mm), False), "shape": (size,), "typestr": "|u1",
                                    "version": 3}

    def __del__(self):
        try:
            self._ctl[self._slot] = 0
        except (ValueError, IndexError, TypeError):  # the control region is gone (interpreter exit)
            pass


class Receiver:
    """The main process's side of one worker's socket: its pooled files, mapped once each."""

    def __init__(self, conn):
        self.conn = conn
        self.sock = socket_of(conn)
        self.ctl = None
        self.files = {}  # slot -> mmap

    def recv(self):
        data = self.conn.recv_bytes()
        nfds, has_ctl = _HEADER.unpack_from(data, 0)
        try:
            fds = reduction.recvfds(self.sock, nfds) if nfds else []
        except (RuntimeError, OSError) as e:  # the worker died between the message and its descriptors
            raise EOFError(f"DataLoader: a worker's message came without its shared memory ({e})") from e
        try:
            if has_ctl:
                self.ctl = mmap.mmap(fds[0], POOL_SLOTS, flags=mmap.MAP_SHARED)
                fds = fds[1:]
            return _Unpickler(io.BytesIO(memoryview(data)[_HEADER.size:]), fds, self).load()
        finally:
            for fd in fds:  # the mappings keep the memory
                os.close(fd)

    def close(self):
        self.sock.close()


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, fds, receiver):
        super().__init__(file)
        self._fds = fds
        self._rx = receiver
        self._bytes = {}  # (slot, fd index) -> uint8 array over the file, for this message

    def persistent_load(self, pid):
        kind, slot, index, size, offset, shape, strides, dtype, requires_grad = pid
        if kind != _PID:
            raise pickle.UnpicklingError(f"DataLoader: unknown reference {kind!r} in a worker's message")
        key = (slot, index)
        base = self._bytes.get(key)
        if base is None:
            if slot >= 0:
                mm = self._rx.files.get(slot)
                if index >= 0:
                    mm = self._rx.files[slot] = mmap.mmap(self._fds[index], size,
                                                          flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
                base = np.asarray(_Lease(mm, self._rx.ctl, slot, size))
            else:
                mm = mmap.mmap(self._fds[index], size, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
                base = np.frombuffer(mm, dtype=np.uint8)
            self._bytes[key] = base
        arr = np.ndarray(shape, dtype=np.dtype(dtype), buffer=base, offset=offset, strides=strides)
        t = flambeau.from_numpy(arr)
        if requires_grad:
            t.requires_grad_(True)
        return t


def socket_of(conn):
    """A socket object on (a duplicate of) a Connection's descriptor, to pass descriptors on it."""
    return socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)
