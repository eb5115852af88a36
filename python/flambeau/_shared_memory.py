"""Tensors in memory shared between processes: Tensor.share_memory_(), is_shared(), and the multiprocessing
pickling that hands a shared tensor to another process without copying it (PyTorch's torch.multiprocessing
reductions, file_descriptor strategy).

share_memory_() moves the tensor's whole storage, in place, into an anonymous shared-memory file (a memfd on
Linux): the bytes are copied once into a MAP_SHARED mapping and the storage is repointed there (C++
`move_storage_to`), so the tensor, its views and everything holding them keep working and now read and write
the shared pages. A process forked afterwards shares them; a process reached by multiprocessing pickling
(spawn/forkserver arguments, Queue, Pipe, Pool) receives the file's descriptor (multiprocessing's DupFd: passed
at spawn, or through its resource sharer) and maps the same pages. Hogwild-style training, where processes
update one model in place (`model.share_memory()`), therefore updates the parent's model, as with PyTorch.

Pickled by multiprocessing, a CPU tensor that is not yet shared is moved to shared memory first (PyTorch does
the same: putting a tensor on a Queue shares its storage). Ordinary pickling (torch.save, pickle.dumps) is
unchanged: by value. CUDA tensors are left where they are (share_memory_ is a no-op for them, as PyTorch's)
and still cross processes by value. A non-leaf tensor that requires grad is refused, with PyTorch's message.

The mapping lives as long as the storage: the storage's deleter releases the owner object below, which
unmaps the memory and closes the descriptor.
"""
import mmap
import os
import weakref
from multiprocessing import reduction

import numpy as np

from . import _C
from ._tensor import Tensor, _blank

__all__ = ["share_memory_", "is_shared"]

# storage base address -> its _SharedBlock (weakly: the storage owns the block)
_blocks = weakref.WeakValueDictionary()


def mapping_address(mm):
    """The address of an mmap's first byte (what a storage is repointed to; the DataLoader's shared batches
    use it too)."""
    return np.frombuffer(mm, dtype=np.uint8, count=0).__array_interface__["data"][0]


class _SharedBlock:
    """A shared-memory file mapped into this process: the owner of a shared storage's memory."""
    __slots__ = ("fd", "mm", "nbytes", "address", "__weakref__")

    def __init__(self, fd, nbytes):
        self.fd = fd
        self.nbytes = nbytes
        self.mm = mmap.mmap(fd, max(nbytes, 1), mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.address = mapping_address(self.mm)

    def __del__(self):
        try:
            self.mm.close()
        except (BufferError, ValueError):  # a numpy view still exports it: the mapping dies with that view
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass


def _new_file(nbytes):
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("flambeau-shared-tensor", os.MFD_CLOEXEC)
    else:  # no memfd (not Linux): an unlinked temporary file, which a descriptor keeps alive just as well
        import tempfile
        fd, path = tempfile.mkstemp(prefix="flambeau-shared-")
        os.unlink(path)
    os.ftruncate(fd, max(nbytes, 1))
    return fd


def _block_of(impl):
    return _blocks.get(impl.storage_ptr)


def is_shared(tensor):
    """Whether the tensor's storage is in shared memory (made so by share_memory_ or received from another
    process)."""
    impl = tensor._impl
    return type(impl) is _C.TensorImpl and _block_of(impl) is not None


def share_memory_(tensor):
    """Moves the tensor's storage to shared memory in place (a no-op when it is there already, and for CUDA
    tensors); returns the tensor."""
    impl = tensor._impl
    if type(impl) is not _C.TensorImpl or impl.is_cuda or _block_of(impl) is not None:
        return tensor
    nbytes = impl.storage_nbytes
    block = _SharedBlock(_new_file(nbytes), nbytes)
    impl.move_storage_to(block.address, block)
    _blocks[block.address] = block
    return tensor


# ------------------------------------------------------------------------------------ multiprocessing pickling
def _reduce_tensor(t):
    impl = t._impl
    if type(impl) is not _C.TensorImpl or impl.is_cuda:
        return t.__reduce_ex__(4)  # by value, as ordinary pickling
    if t.requires_grad and t.grad_fn is not None:
        raise RuntimeError("Cowardly refusing to serialize non-leaf tensor which requires_grad, since autograd "
                           "does not support crossing process boundaries.  If you just want to transfer the data, "
                           "call detach() on the tensor before serializing (e.g., putting it on the queue).")
    share_memory_(t)
    block = _block_of(impl)
    return (_rebuild_shared, (reduction.DupFd(block.fd), block.nbytes, impl.storage_offset, tuple(impl.shape),
                              tuple(impl.stride), impl.dtype, bool(t.requires_grad),
                              getattr(t, "__dict__", None) or None))


def _rebuild_shared(dupfd, nbytes, offset, shape, stride, dtype, requires_grad, state):
    """The receiving side: map the sender's file and view it as the sender's tensor (same offset, shape,
    strides), the mapping owned by the new storage."""
    from ._dtype import _dtype_from_name
    block = _SharedBlock(dupfd.detach(), nbytes)
    raw = _blank(Tensor)
    raw._impl = _C.from_numpy(np.frombuffer(block.mm, dtype=np.uint8, count=nbytes))
    raw._impl.move_storage_to(block.address, block)  # same address: the block becomes the memory's owner
    _blocks[block.address] = block
    t = raw.view(_dtype_from_name(dtype)).as_strided(shape, stride, offset)
    t._rg = requires_grad
    if state:
        t.__dict__.update(state)
    return t


# Only plain tensors (ForkingPickler's table is keyed by exact type): a Parameter pickles as its plain .data
# and is rebuilt around it; other subclasses keep their own __reduce_ex__ (by value).
reduction.ForkingPickler.register(Tensor, _reduce_tensor)
