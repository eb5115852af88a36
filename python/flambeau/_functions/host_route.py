"""CUDA tensors through the host, for the kernels that have no CUDA version yet (or only a gated one).

Some `_C` kernels exist only on the CPU (3-D convolution and pooling, grid_sample, ctc_loss,
scatter_reduce, the dense linear algebra): their C++ entry points raise NotImplementedError for CUDA
tensors. So that a `model.cuda()` script using them still runs, their callers go through a
`HostRouted` object instead of `_C`:

    _on_host = HostRouted()
    out, idx = _on_host.max_pool3d(x._impl, ...)       # instead of _C.max_pool3d(...)

`_on_host.<name>(*args)` calls `_C.<name>` unchanged when no argument is a CUDA tensor. Otherwise it
copies every tensor argument to the host (lists and tuples of tensors too), runs the CPU kernel there,
and copies every tensor it returns back to the arguments' device. So the results, and the gradients
computed by the routed backward kernels, land on the device, with the CPU kernel's values bit for bit.
A kernel that writes an argument in place (`inplace=` names its position) has the host copy written
back into the device tensor. Tensors on two different devices raise, as PyTorch's device check does.

`HostRouted(gated=True)` is for kernels that have a CUDA version not yet run on a GPU (gated by
FLAMBEAU_CUDA_UNVERIFIED=1, csrc/cuda/GPU_STATUS.md): with the gate on, CUDA tensors go to the CUDA
kernel; with it off (the default), through the host. When the CUDA kernel has passed on a GPU, its
callers go back to `_C`.

This is the same route sort/topk/cumprod take for CUDA tensors (sorting.py: indices computed on a host
copy); it costs two copies per call and synchronises the device, which is correct but slow: the list of
routed ops is in csrc/cuda/GPU_STATUS.md, as the ops that still want CUDA kernels.
"""
import functools

from .. import _C

_Impl = _C.TensorImpl

# Tests only (tests/host_route_plugin.py): route CPU tensors too, through real copies, so the routing of
# every call site (argument structures, outputs, in-place write-back) is exercised without a GPU.
_FORCE = False
# Tests only: the names routed so far, to check that an op's call sites go through here.
_ROUTED = set()


def _devices(x, found):
    if isinstance(x, _Impl):
        found.append(x.device)
    elif isinstance(x, (list, tuple)):
        for e in x:
            _devices(e, found)
    return found


def _move(x, device, copy=False):
    if isinstance(x, _Impl):
        return _C.to(x, x.dtype, device, copy)
    if isinstance(x, (list, tuple)) and any(isinstance(e, (_Impl, list, tuple)) for e in x):
        return type(x)(_move(e, device, copy) for e in x)
    return x


def _route_device(name, args, kwargs):
    """The device the call's tensors live on when it must be routed (None: call _C directly)."""
    found = []
    for a in args:
        _devices(a, found)
    for a in kwargs.values():
        _devices(a, found)
    devs = list(dict.fromkeys(found))
    if len(devs) > 1:
        raise RuntimeError(f"{name}: Expected all tensors to be on the same device, but found at least two "
                           f"devices, {devs[0]} and {devs[1]}!")
    if devs and devs[0] != "cpu":
        return devs[0]
    return "cpu" if (_FORCE and devs) else None


def on_host(fn, name=None, inplace=(), gated=False):
    """fn (a _C kernel) made callable with CUDA tensors: see the module's comment. `inplace`: positions
    of the arguments fn writes."""
    name = name or getattr(fn, "__name__", "kernel")

    @functools.wraps(fn)
    def routed(*args, **kwargs):
        dev = _route_device(name, args, kwargs)
        if dev is None or (gated and dev != "cpu" and _C.cuda_unverified_kernels()):
            return fn(*args, **kwargs)
        _ROUTED.add(name)
        copy = dev == "cpu"  # only when forced: real copies, as a device would make
        host_args = [_move(a, "cpu", copy) for a in args]
        host_kwargs = {k: _move(v, "cpu", copy) for k, v in kwargs.items()}
        out = fn(*host_args, **host_kwargs)
        if inplace:  # the written host copies back into the caller's tensors; such kernels return the first
            for i in inplace:
                _C.copy_(args[i], host_args[i])
            return args[inplace[0]]
        return _move(out, dev, copy)

    return routed


class HostRouted:
    """`_C`, with every kernel taken through `on_host` (cached per name). `inplace` maps a kernel's name
    to the positions of the arguments it writes."""

    def __init__(self, gated=False, inplace=None):
        self._gated = gated
        self._inplace = dict(inplace or {})

    def __getattr__(self, name):
        fn = on_host(getattr(_C, name), name, self._inplace.get(name, ()), self._gated)
        setattr(self, name, fn)
        return fn


def to_numpy(impl):
    """numpy copy of a tensor impl on any device (the host reads of the composed ops)."""
    if impl.device != "cpu":
        impl = _C.to(impl, impl.dtype, "cpu", False)
    return _C.to_numpy(impl)


def from_numpy(arr, device):
    """A tensor impl holding numpy array `arr` on `device`."""
    impl = _C.from_numpy(arr)
    return impl if device == "cpu" else _C.to(impl, impl.dtype, device, False)
