"""flambeau.random (torch.random): the default generator's seed and state, and fork_rng, which scripts
use to draw random numbers (a validation subset, an augmentation preview) without disturbing the
training stream. flambeau has one generator for every device, so forking it forks them all."""
import contextlib

from ._random import (manual_seed, seed, initial_seed, get_rng_state, set_rng_state,  # noqa: F401
                      default_generator, Generator)

__all__ = ["manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state", "fork_rng",
           "default_generator", "Generator"]


@contextlib.contextmanager
def fork_rng(devices=None, enabled=True, _caller="fork_rng", _devices_kw="devices", device_type="cuda"):
    """Restores the default generator's state on exit: random draws inside the block leave the
    stream outside it untouched. `devices` and `device_type` are accepted for PyTorch's signature."""
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
