"""torch.distributed.device_mesh's names: DeviceMesh and init_device_mesh raise NotImplementedError, as
flambeau has no tensor parallelism (see flambeau.distributed.tensor)."""

__all__ = ["DeviceMesh", "init_device_mesh"]


def _no_tensor_parallelism(name):
    raise NotImplementedError(f"flambeau.distributed has no {name}: no DTensor / DeviceMesh tensor parallelism. "
                              "Train data-parallel with flambeau.nn.parallel.DistributedDataParallel.")


class DeviceMesh:
    def __init__(self, *args, **kwargs):
        _no_tensor_parallelism("DeviceMesh")


def init_device_mesh(*args, **kwargs):
    _no_tensor_parallelism("init_device_mesh")
