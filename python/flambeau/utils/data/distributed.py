"""DistributedSampler: each of num_replicas processes reads its own share of a dataset.

The partition is PyTorch's: the (optionally shuffled) indices are padded by repeating them from
the start until their number divides evenly by num_replicas (or the tail is dropped, with
drop_last), and replica `rank` takes every num_replicas-th index starting at `rank`. Shuffling
draws flambeau.randperm from a Generator seeded with seed + epoch, so every replica computes the
same permutation and set_epoch(e) gives a new one per epoch. flambeau's random numbers are not
PyTorch's, so the shuffled order differs from PyTorch's; the unshuffled partition is identical.
"""
import math

import flambeau

from .sampler import Sampler

__all__ = ["DistributedSampler"]


def _default_group():
    """(world_size, rank) of the initialised default process group (flambeau.distributed), as PyTorch's
    sampler reads them when num_replicas / rank are not given."""
    from ... import distributed as dist
    if not dist.is_available():
        raise RuntimeError("Requires distributed package to be available")
    # PyTorch without an initialised process group raises this ValueError (from get_world_size).
    return dist.get_world_size(), dist.get_rank()


class DistributedSampler(Sampler):
    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None:
            num_replicas = _default_group()[0]
        if rank is None:
            rank = _default_group()[1]
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        if self.drop_last and len(self.dataset) % self.num_replicas != 0:
            # Split to the nearest available length that is evenly divisible.
            self.num_samples = math.ceil((len(self.dataset) - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(len(self.dataset) / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        if self.shuffle:
            g = flambeau.Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = flambeau.randperm(len(self.dataset), generator=g).tolist()
        else:
            indices = list(range(len(self.dataset)))
        if not self.drop_last:
            padding_size = self.total_size - len(indices)
            if padding_size <= len(indices):
                indices += indices[:padding_size]
            else:
                indices += (indices * math.ceil(padding_size / len(indices)))[:padding_size]
        else:
            indices = indices[:self.total_size]
        if len(indices) != self.total_size:
            raise AssertionError(f"Number of indices ({len(indices)}) does not match total_size ({self.total_size})")
        indices = indices[self.rank:self.total_size:self.num_replicas]
        if len(indices) != self.num_samples:
            raise AssertionError(f"Number of subsampled indices ({len(indices)}) does not match num_samples "
                                 f"({self.num_samples})")
        return iter(indices)

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Sets the epoch, which with shuffle=True selects the permutation (seed + epoch)."""
        self.epoch = epoch
