"""flambeau.distributed: PyTorch's torch.distributed surface, for a library with no distributed backend.

flambeau trains in one process (one device). There is no NCCL, Gloo or MPI backend, no process
group and no collective. This module exists so that scripts written for PyTorch, which guard their
distributed code with ``dist.is_available()`` / ``dist.is_initialized()``, run unchanged:

- ``is_available()``, ``is_initialized()``, ``is_nccl_available()``, ``is_gloo_available()``,
  ``is_mpi_available()``, ``is_torchelastic_launched()`` are False;
- every call that needs a process group (``init_process_group``, ``get_rank``, ``get_world_size``,
  ``barrier``, ``all_reduce``, ``broadcast``, ...) raises a RuntimeError that says so. (PyTorch,
  built with distributed support but not initialised, raises ValueError from get_rank; here no
  process group can ever exist, hence RuntimeError for every call.)
- ``ReduceOp``, ``Backend`` and ``group.WORLD`` exist, so they can appear as default arguments.
"""
import enum

__all__ = ["is_available", "is_initialized", "is_nccl_available", "is_gloo_available", "is_mpi_available",
           "is_ucc_available", "is_xccl_available", "is_backend_available", "is_torchelastic_launched",
           "ReduceOp", "Backend", "group", "GroupMember", "DistError", "DistBackendError",
           "init_process_group", "destroy_process_group", "get_rank", "get_world_size", "get_backend",
           "get_global_rank", "get_group_rank", "get_process_group_ranks", "get_node_local_rank", "new_group",
           "barrier", "monitored_barrier", "all_reduce", "reduce", "broadcast", "all_gather",
           "all_gather_into_tensor", "gather", "scatter", "reduce_scatter", "reduce_scatter_tensor", "all_to_all",
           "all_to_all_single", "send", "recv", "isend", "irecv", "batch_isend_irecv", "all_gather_object",
           "broadcast_object_list", "gather_object", "scatter_object_list", "send_object_list",
           "recv_object_list"]


def is_available():
    """False: flambeau is built without any distributed backend."""
    return False


def is_initialized():
    """False: no process group can be initialised."""
    return False


def is_nccl_available():
    return False


def is_gloo_available():
    return False


def is_mpi_available():
    return False


def is_ucc_available():
    return False


def is_xccl_available():
    return False


def is_backend_available(backend):
    return False


def is_torchelastic_launched():
    return False


class DistError(RuntimeError):
    """Raised by every flambeau.distributed call that needs a process group."""


class DistBackendError(DistError):
    pass


class ReduceOp(enum.Enum):
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


class Backend(str):
    """Backend names, as in PyTorch; none of them is available in flambeau."""

    UNDEFINED = "undefined"
    GLOO = "gloo"
    NCCL = "nccl"
    UCC = "ucc"
    MPI = "mpi"
    XCCL = "xccl"

    def __new__(cls, name):
        return str.__new__(cls, name.lower())


class GroupMember:
    WORLD = None
    NON_GROUP_MEMBER = -100


class group:  # noqa: N801 - torch.distributed.group
    WORLD = None


def _unavailable(name):
    def fn(*args, **kwargs):
        raise DistError(
            f"flambeau has no distributed backend; flambeau.distributed.{name}() cannot run. flambeau trains in "
            "a single process: guard distributed code with flambeau.distributed.is_available() / "
            "is_initialized() (both False), and use rank 0 / world size 1 when they are False.")
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Raises RuntimeError: flambeau has no distributed backend (torch.distributed.{name})."
    return fn


for _name in ("init_process_group", "destroy_process_group", "get_rank", "get_world_size", "get_backend",
              "get_global_rank", "get_group_rank", "get_process_group_ranks", "get_node_local_rank", "new_group",
              "barrier", "monitored_barrier", "all_reduce", "reduce", "broadcast", "all_gather",
              "all_gather_into_tensor", "gather", "scatter", "reduce_scatter", "reduce_scatter_tensor",
              "all_to_all", "all_to_all_single", "send", "recv", "isend", "irecv", "batch_isend_irecv",
              "all_gather_object", "broadcast_object_list", "gather_object", "scatter_object_list",
              "send_object_list", "recv_object_list"):
    globals()[_name] = _unavailable(_name)
del _name
