"""torch.distributed.elastic.multiprocessing: errors.record for worker entry points."""
from . import errors  # noqa: F401
