"""How DataLoader worker processes hand batches to the main process: pickled messages on a Unix socket,
with large tensors in shared memory instead of the pickle.

A tensor of at least SHARE_THRESHOLD bytes travels as an anonymous shared-memory file (memfd): the
worker writes the batch into it (collate stacks straight into it, other tensors are copied once), sends
the file descriptor with the message (SCM_RIGHTS on the worker's socket), and the main process maps it
and wraps the mapping as a tensor, with no copy on its side. Pickling the bytes instead costs four
copies (into the pickle, through the kernel twice, out of the pickle), all but the first in the
main process, which is the process that has to keep up. The memory is freed when the last tensor (or
view) on it dies in the main process: a memfd has no name, so nothing is left behind if either side
dies. PyTorch does the same with its file_descriptor sharing strategy.

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
from flambeau._tensor import Tensor

__all__ = ["SHARE_THRESHOLD", "shared_empty_like_stack", "send", "recv"]

# Measured on the 2-core development machine: memfd_create + ftruncate + mmap + close in the worker and
# recvmsg + mmap in the main process cost ~30 us together, which is what pickling ~64 KiB costs.
SHARE_THRESHOLD = 64 * 1024

_HEADER = struct.Struct("<I")  # number of descriptors sent after the message


class _Segments:
    """The shared-memory files written for the message being built in this worker: [(start, end, fd, mmap)].

    collate registers the files it stacks into; the pickler looks tensors up here by address (a view
    of a registered file is sent as that file plus an offset) and registers the files it copies into.
    Cleared (and the worker's descriptors closed) once the message has been sent; until then the mappings
    are held here, so that no new file is mapped at the address of one that is still registered."""

    def __init__(self):
        self.items = []

    def new(self, nbytes):
        """A writable mapping of a fresh nbytes-long memfd, registered; returns the mmap."""
        fd = os.memfd_create("flambeau-dataloader", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, nbytes)
            mm = mmap.mmap(fd, nbytes, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
        except BaseException:
            os.close(fd)
            raise
        start = np.frombuffer(mm, dtype=np.uint8, count=0).__array_interface__["data"][0]
        self.items.append((start, start + nbytes, fd, mm))
        return mm

    def find(self, lo, hi):
        for start, end, fd, _ in self.items:
            if start <= lo and hi <= end:
                return start, fd
        return None

    def close(self):
        for _, _, fd, _ in self.items:
            os.close(fd)
        self.items = []


# Set in a worker process (worker._worker_loop): the files of the batch being built. None elsewhere, so
# collate in the main process (num_workers=0) allocates ordinary memory.
_segments = None


def _shareable(arrays_dtype, nbytes):
    return _segments is not None and nbytes >= SHARE_THRESHOLD and arrays_dtype.kind in "biufc"


def shared_empty_like_stack(batch):
    """In a worker process, collate's output for stacking `batch` (same-shape, same-dtype CPU tensors
    that do not require grad) as a tensor on a fresh shared-memory file, so that it is sent without a
    copy; None where that does not apply (main process, small batch, mixed or unusual tensors)."""
    if _segments is None:
        return None
    first = batch[0]._impl
    if first.device != "cpu" or first.dtype == "bfloat16":
        return None
    for t in batch:
        if type(t) is not Tensor or t.requires_grad or t._impl.dtype != first.dtype or t._impl.shape != first.shape \
                or t._impl.device != "cpu":
            return None
    arrays = [_C.to_numpy(t._impl) for t in batch]
    dtype = arrays[0].dtype
    nbytes = dtype.itemsize * arrays[0].size * len(arrays)
    if not _shareable(dtype, nbytes):
        return None
    out = np.ndarray((len(arrays),) + arrays[0].shape, dtype=dtype, buffer=_segments.new(nbytes))
    np.stack(arrays, 0, out=out)
    return flambeau.from_numpy(out)


class _Pickler(pickle.Pickler):
    """Large CPU tensors become references to shared-memory files (persistent ids); fds collects the
    descriptors to send, in the order the ids number them."""

    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.fds = []
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
        found = _segments.find(lo, hi)
        if found is None:  # not written by collate: one copy into a new file, contiguous
            mm = _segments.new(arr.nbytes)
            np.copyto(np.ndarray(arr.shape, dtype=arr.dtype, buffer=mm), arr)
            found = _segments.items[-1][0], _segments.items[-1][2]
            lo, strides = found[0], None
        else:
            strides = arr.strides
        start, fd = found
        if fd not in self._fd_index:
            self._fd_index[fd] = len(self.fds)
            self.fds.append(fd)
        return ("flambeau.shared_tensor", self._fd_index[fd], lo - start, arr.shape, strides, arr.dtype.str,
                bool(obj.requires_grad))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, fds):
        super().__init__(file)
        self._fds = fds
        self._maps = {}

    def persistent_load(self, pid):
        kind, index, offset, shape, strides, dtype, requires_grad = pid
        if kind != "flambeau.shared_tensor":
            raise pickle.UnpicklingError(f"DataLoader: unknown reference {kind!r} in a worker's message")
        mm = self._maps.get(index)
        if mm is None:
            fd = self._fds[index]
            mm = self._maps[index] = mmap.mmap(fd, 0, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
        arr = np.ndarray(shape, dtype=np.dtype(dtype), buffer=mm, offset=offset, strides=strides)
        t = flambeau.from_numpy(arr)
        if requires_grad:
            t.requires_grad_(True)
        return t


def send(conn, sock, obj):
    """Sends obj on the worker's Connection; large tensors' memory goes as descriptors on sock (a socket
    on the same descriptor as conn). The worker's descriptors are closed once sent (the receiver holds
    its own copies)."""
    buf = io.BytesIO()
    buf.write(_HEADER.pack(0))
    p = _Pickler(buf)
    try:
        p.dump(obj)
        data = buf.getbuffer()
        _HEADER.pack_into(data, 0, len(p.fds))
        conn.send_bytes(data)
        del data
        if p.fds:
            reduction.sendfds(sock, p.fds)
    finally:
        if _segments is not None:
            _segments.close()


def recv(conn, sock):
    """Receives one message sent by send()."""
    data = conn.recv_bytes()
    (nfds,) = _HEADER.unpack_from(data, 0)
    fds = reduction.recvfds(sock, nfds) if nfds else []
    try:
        return _Unpickler(io.BytesIO(memoryview(data)[_HEADER.size:]), fds).load()
    finally:
        for fd in fds:  # the mappings keep the memory
            os.close(fd)


def socket_of(conn):
    """A socket object on (a duplicate of) a Connection's descriptor, to pass descriptors on it."""
    return socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)
