"""flambeau.distributed: torch.distributed on the CPU, for training with several processes.

    python -m flambeau.distributed.run --nproc_per_node=2 train.py      # (torchrun's flags)

    import flambeau.distributed as dist
    dist.init_process_group("gloo")             # env:// from the launcher's MASTER_ADDR/PORT, RANK, WORLD_SIZE
    dist.all_reduce(t)                          # in place, every rank gets the sum
    model = flambeau.nn.parallel.DistributedDataParallel(model)

The backend answers to "gloo" (the only one: "nccl", "mpi", "ucc" raise), runs in pure Python over TCP
sockets between the processes, and carries tensors of every dtype (CUDA ones through host memory). What it
computes is PyTorch's, with reductions done in rank order so that results are reproducible bit for bit:
see distributed_c10d.py for the algorithms and the one difference (MIN/MAX propagate NaN), store.py for
the rendezvous stores (TCPStore, FileStore, HashStore, PrefixStore), _mesh.py for the transport and run.py
for the launcher.

The *_object collectives unpickle what other ranks send, as PyTorch's do: only run them among processes
you trust. The listening sockets accept only the process group's own handshake, but carry no
authentication.
"""
from .store import (Store, TCPStore, FileStore, HashStore, PrefixStore, DistError, DistBackendError,  # noqa: F401
                    DistStoreError, DistNetworkError)
from .distributed_c10d import *  # noqa: F401,F403
from .distributed_c10d import Future, __all__ as _c10d_all  # noqa: F401

__all__ = list(_c10d_all) + ["Store", "TCPStore", "FileStore", "HashStore", "PrefixStore", "Future"]
