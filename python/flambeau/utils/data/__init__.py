"""flambeau.utils.data: datasets, samplers and the DataLoader (PyTorch's API)."""
from .dataset import (Dataset, IterableDataset, ChainDataset, TensorDataset, StackDataset,  # noqa: F401
                      Subset, ConcatDataset, random_split)
from .sampler import (Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler,  # noqa: F401
                      WeightedRandomSampler, BatchSampler)
from .distributed import DistributedSampler  # noqa: F401
from .dataloader import (DataLoader, default_collate, default_convert, get_worker_info,  # noqa: F401
                         WorkerInfo)

__all__ = ["Dataset", "IterableDataset", "ChainDataset", "TensorDataset", "StackDataset", "Subset",
           "ConcatDataset", "random_split", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler", "DistributedSampler", "DataLoader",
           "default_collate", "default_convert", "get_worker_info", "WorkerInfo"]
