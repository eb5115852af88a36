"""DataParallel with PyTorch's interface, run on one device.

Without a CUDA device (PyTorch's rule: no accelerator) the wrapper is a passthrough: forward calls
the wrapped module with the inputs as they are, and device_ids is []. With CUDA it moves the inputs
to device_ids[0] (the module's parameters and buffers must live there, as in PyTorch; with a single
device id the constructor moves the module there) and runs the module once. flambeau does not split
a batch across several GPUs: with more than one device id the whole batch runs on device_ids[0] and
the output is moved to output_device, so results are PyTorch's, without the parallel speed-up.

Either way the wrapped model is `.module`, and state_dict() keys carry the `module.` prefix, as in
PyTorch.
"""
import warnings

import flambeau
from flambeau._tensor import Tensor
from ..modules.module import Module

__all__ = ["DataParallel", "data_parallel"]


def _device_index(device):
    if isinstance(device, int):
        return device
    if isinstance(device, str):
        device = flambeau.device(device)
    if getattr(device, "type", None) != "cuda":
        raise ValueError(f"DataParallel: expected a CUDA device or a device index, got {device!r}")
    return 0 if device.index is None else int(device.index)


def _move(obj, device):
    """obj with every Tensor inside (tuples, lists, dicts) moved to `device` (differentiably)."""
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(_move(o, device) for o in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_move(o, device) for o in obj)
    if isinstance(obj, dict):
        return type(obj)((k, _move(v, device)) for k, v in obj.items())
    return obj


_warned_multi = False


def _warn_multi(device_ids):
    global _warned_multi
    if not _warned_multi:
        _warned_multi = True
        warnings.warn(f"DataParallel: flambeau runs the whole batch on cuda:{device_ids[0]} "
                      f"(device_ids={device_ids}); the batch is not split across devices",
                      stacklevel=3)


class DataParallel(Module):
    """Wraps `module` (its `.module`); see this file's docstring for what runs where."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        if not flambeau.cuda.is_available():
            self.module = module
            self.device_ids = []
            return
        if device_ids is None:
            device_ids = list(range(flambeau.cuda.device_count()))
        if not device_ids:
            raise RuntimeError("no available devices were found")
        if output_device is None:
            output_device = device_ids[0]
        self.dim = dim
        self.module = module
        self.device_ids = [_device_index(d) for d in device_ids]
        self.output_device = _device_index(output_device)
        self.src_device_obj = flambeau.device("cuda", self.device_ids[0])
        if len(self.device_ids) == 1:
            self.module.to(self.src_device_obj)

    def forward(self, *inputs, **kwargs):
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        src = self.src_device_obj
        for t in list(self.module.parameters()) + list(self.module.buffers()):
            if t.device != src:
                raise RuntimeError("module must have its parameters and buffers on device "
                                   f"{src} (device_ids[0]) but found one of them on device: "
                                   f"{t.device}")
        if len(self.device_ids) > 1:
            _warn_multi(self.device_ids)
        inputs, kwargs = _move(inputs, src), _move(kwargs, src)
        out = self.module(*inputs, **kwargs)
        if len(self.device_ids) > 1 and self.output_device != self.device_ids[0]:
            out = _move(out, flambeau.device("cuda", self.output_device))
        return out


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0, module_kwargs=None):
    """The functional form: module(*inputs, **module_kwargs) evaluated as DataParallel would."""
    if not isinstance(inputs, tuple):
        inputs = (inputs,) if inputs is not None else ()
    module_kwargs = module_kwargs or {}
    if not flambeau.cuda.is_available():
        return module(*inputs, **module_kwargs)
    if device_ids is None:
        device_ids = list(range(flambeau.cuda.device_count()))
    device_ids = [_device_index(d) for d in device_ids]
    if output_device is None:
        output_device = device_ids[0]
    src = flambeau.device("cuda", device_ids[0])
    for t in list(module.parameters()) + list(module.buffers()):
        if t.device != src:
            raise RuntimeError("module must have its parameters and buffers on device "
                               f"{src} (device_ids[0]) but found one of them on device: {t.device}")
    out = module(*_move(inputs, src), **_move(module_kwargs, src))
    if _device_index(output_device) != device_ids[0]:
        out = _move(out, flambeau.device("cuda", _device_index(output_device)))
    return out
