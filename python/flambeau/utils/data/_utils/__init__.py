"""torch.utils.data._utils: the collate helpers scripts import from their PyTorch path
(`from torch.utils.data._utils.collate import collate, default_collate_fn_map`)."""
from . import collate  # noqa: F401
