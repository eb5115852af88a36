"""torch.distributed.algorithms.join: training with uneven inputs across ranks.

Inside `with Join([joinable, ...]):` each rank iterates over its own data; a rank that runs out early "joins"
and then shadows the collectives the others still make, so nobody hangs. PyTorch's protocol, kept exactly:

- every iteration of a rank that has not joined starts with `Join.notify_join_context(joinable)`: an
  all_reduce of 1 on the joinable's process group (only the first joinable of the context does it);
- a joined rank loops in `__exit__`: all_reduce of 0 (the sum counts the ranks still iterating); while that
  count is positive it runs each joinable's `JoinHook.main_hook()`, which must issue the same collectives one
  iteration of the others issues; once it is 0, every joinable's `post_hook(is_last_joiner)` runs.

A class takes part by deriving from `Joinable` (join_hook, join_device, join_process_group, and calling
`super().__init__()`). flambeau's DistributedDataParallel is not a Joinable yet: `Join([ddp_model])` raises a
TypeError saying so, rather than hanging in the first shadowed all_reduce.
"""
import abc
import warnings

import flambeau

__all__ = ["JoinHook", "Joinable", "Join"]


class JoinHook:
    """What a joined rank does for a Joinable: main_hook once per iteration the others still run, post_hook
    once all have joined."""

    def main_hook(self):
        pass

    def post_hook(self, is_last_joiner: bool):
        pass


class _JoinConfig:
    __slots__ = ("enable", "throw_on_early_termination", "is_first_joinable")

    def __init__(self, enable=False, throw_on_early_termination=False, is_first_joinable=False):
        self.enable = enable
        self.throw_on_early_termination = throw_on_early_termination
        self.is_first_joinable = is_first_joinable


class Joinable(abc.ABC):
    """Base of the classes a Join context manages."""

    @abc.abstractmethod
    def __init__(self):
        super().__init__()
        self._join_config = _JoinConfig()

    @abc.abstractmethod
    def join_hook(self, **kwargs) -> JoinHook:
        ...

    @property
    @abc.abstractmethod
    def join_device(self):
        ...

    @property
    @abc.abstractmethod
    def join_process_group(self):
        ...


class Join:
    """Join(joinables, enable=True, throw_on_early_termination=False, **hook_kwargs): see the module docstring."""

    def __init__(self, joinables, enable=True, throw_on_early_termination=False, **kwargs):
        joinables = list(joinables)
        if len(joinables) == 0:
            raise ValueError("The join context manager requires at least one joinable")
        for j in joinables:
            if not isinstance(j, Joinable):
                raise TypeError(f"Join: {type(j).__name__} is not a Joinable (flambeau's DistributedDataParallel "
                                "has no join hook yet: give every rank the same number of batches, e.g. "
                                "DistributedSampler(drop_last=True))")
        self._joinables = joinables
        self._join_hooks = [j.join_hook(**kwargs) for j in joinables]
        self._enable = enable
        self._throw_on_early_termination = throw_on_early_termination
        self._set_joinable_configs()
        self._extract_dist_info()

    def _set_joinable_configs(self):
        for i, j in enumerate(self._joinables):
            j._join_config = _JoinConfig(self._enable, self._throw_on_early_termination, i == 0)

    def _extract_dist_info(self):
        groups = {id(j.join_process_group) for j in self._joinables}
        if len(groups) > 1:
            raise ValueError("Using join context manager with multiple process groups")
        self._process_group = self._joinables[0].join_process_group
        self._device = self._joinables[0].join_device
        self._rank = flambeau.distributed.get_rank(self._process_group)

    def __enter__(self):
        pass

    def __exit__(self, exc_type, exc_value, traceback):
        if not self._enable or exc_type is not None:
            return  # an exception on one rank: the others will hang or fail as they would without Join
        all_joined = False
        is_last_joiner = True  # no rank was still iterating when this one joined
        warned = False
        while not all_joined:
            nonjoined = self._get_num_nonjoined_procs()
            if nonjoined == 0:
                all_joined = True
            else:
                if self._throw_on_early_termination:
                    self._notify_procs_to_terminate()
                if not warned:
                    warnings.warn(f"Detected uneven input: rank {self._rank} has joined with {nonjoined} ranks "
                                  "still iterating", stacklevel=2)
                    warned = True
                for hook in self._join_hooks:
                    hook.main_hook()
                is_last_joiner = False
        for hook in self._join_hooks:
            hook.post_hook(is_last_joiner)

    def _get_num_nonjoined_procs(self):
        count = flambeau.zeros(1, device=self._device)
        flambeau.distributed.all_reduce(count, group=self._process_group)
        return int(count.item())

    def _notify_procs_to_terminate(self):
        ones = flambeau.ones(1, device=self._device)
        flambeau.distributed.all_reduce(ones, group=self._process_group)
        raise RuntimeError(f"Rank {self._rank} exhausted all inputs.")

    @staticmethod
    def notify_join_context(joinable):
        """Called by a Joinable at the start of each of its iterations: the all_reduce of 1 that the joined
        ranks count (only for the first joinable of an enabled context); returns its Work, or None."""
        if not hasattr(joinable, "_join_config"):
            raise AssertionError(f"Check that the {type(joinable)} constructor calls the ``Joinable`` constructor")
        config = joinable._join_config
        if not config.is_first_joinable or not config.enable:
            return None
        ones = flambeau.ones(1, device=joinable.join_device)
        work = flambeau.distributed.all_reduce(ones, group=joinable.join_process_group, async_op=True)
        if config.throw_on_early_termination:
            zeros = flambeau.zeros(1, device=joinable.join_device)
            flambeau.distributed.all_reduce(zeros, group=joinable.join_process_group)
            if int(zeros.item()):
                raise RuntimeError("Detected at least one rank that exhausted inputs. Throwing across all ranks.")
        return work
