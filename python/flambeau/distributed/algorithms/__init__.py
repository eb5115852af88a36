"""torch.distributed.algorithms: DDP communication hooks (ddp_comm_hooks.default_hooks) and the Join context
manager for uneven inputs (join.py)."""
from .join import Join, Joinable, JoinHook  # noqa: F401
