"""A PyTorch DDP training script, run by tests/test_distributed_ddp.py both under PyTorch's torchrun (gloo)
and under flambeau's launcher with the torch alias, which must print the same losses.

    torchrun --nproc_per_node=N ddp_train.py OUT.json [--crash] [--steps K]

Initial weights come from numpy (seed = rank, so the ranks start different and DDP's broadcast from rank 0
matters); data: 12 fixed samples, each rank reads its DistributedSampler shard. Phase 1: SGD with momentum
on the mean loss of each shard. Phase 2: gradient accumulation over two micro-batches with no_sync() on the
first. Rank 0 writes the losses (all_reduce'd means), the final parameters and the DDP state_dict keys.
"""
import json
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.distributed.elastic.multiprocessing.errors import record
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

N, D_IN, D_HID, D_OUT = 12, 5, 7, 3


def make_model(seed):
    model = nn.Sequential(nn.Linear(D_IN, D_HID), nn.Tanh(), nn.Linear(D_HID, D_OUT))
    g = np.random.default_rng(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(g.standard_normal(tuple(p.shape)).astype(np.float32) * 0.5))
    return model


def data():
    g = np.random.default_rng(1234)
    x = torch.from_numpy(g.standard_normal((N, D_IN)).astype(np.float32))
    y = torch.from_numpy(g.integers(0, D_OUT, size=N).astype(np.int64))
    return x, y


@record
def main():
    out_path = sys.argv[1]
    steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 4
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if "--crash" in sys.argv and rank == world - 1:
        raise RuntimeError(f"deliberate failure in rank {rank}")
    model = DDP(make_model(seed=rank))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = data()
    ds = TensorDataset(x, y)
    sampler = DistributedSampler(ds, shuffle=False)  # rank and world size from the process group
    loader = DataLoader(ds, batch_size=N // world, sampler=sampler)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for step in range(steps):
        sampler.set_epoch(step)
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            metric = loss.detach().clone()
            dist.all_reduce(metric)
            losses.append(metric.item() / world)
    # gradient accumulation: two micro-batches, the first without communication
    for step in range(2):
        xb, yb = next(iter(loader))
        half = xb.shape[0] // 2
        opt.zero_grad()
        with model.no_sync():
            (loss_fn(model(xb[:half]), yb[:half]) / 2).backward()
        (loss_fn(model(xb[half:]), yb[half:]) / 2).backward()
        opt.step()
    with torch.no_grad():
        final = [p.detach().reshape(-1).tolist() for p in model.module.parameters()]
    gathered = [None] * world
    dist.all_gather_object(gathered, final)
    if rank == 0:
        with open(out_path, "w") as fh:
            json.dump({"losses": losses, "params": final, "replicas_equal": all(g == final for g in gathered),
                       "keys": list(model.state_dict().keys()), "world": world}, fh)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
