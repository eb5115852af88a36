"""PyTorch's default DDP communication hooks, for DistributedDataParallel.register_comm_hook(state, hook),
state being a process group or None (the default group).

- allreduce_hook: divide by the world size, then all_reduce (DDP's default behaviour).
- fp16_compress_hook / bf16_compress_hook: the same on a float16 / bfloat16 copy, halving the bytes sent;
  the result is cast back into the bucket.
"""
import flambeau
from ... import distributed_c10d as dist

__all__ = ["allreduce_hook", "fp16_compress_hook", "bf16_compress_hook"]


def _group(process_group):
    return process_group if process_group is not None else dist.group.WORLD


def allreduce_hook(process_group, bucket):
    group = _group(process_group)
    tensor = bucket.buffer()
    with flambeau.no_grad():
        tensor.div_(dist.get_world_size(group))
    return dist.all_reduce(tensor, group=group, async_op=True).get_future().then(lambda fut: fut.value()[0])


def _compress_hook(dtype, process_group, bucket):
    group = _group(process_group)
    buffer = bucket.buffer()
    with flambeau.no_grad():
        compressed = buffer.to(dtype).div_(dist.get_world_size(group))

    def decompress(fut):
        with flambeau.no_grad():
            buffer.copy_(fut.value()[0])
        return buffer
    return dist.all_reduce(compressed, group=group, async_op=True).get_future().then(decompress)


def fp16_compress_hook(process_group, bucket):
    return _compress_hook(flambeau.float16, process_group, bucket)


def bf16_compress_hook(process_group, bucket):
    return _compress_hook(flambeau.bfloat16, process_group, bucket)
