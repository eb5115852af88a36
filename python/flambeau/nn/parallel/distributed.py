"""DistributedDataParallel: data-parallel training over the ranks of a flambeau.distributed process group.

Each rank runs the whole model on its share of the batch; after backward every parameter's .grad holds
the average over the ranks of their gradients, so an optimizer step keeps the replicas identical.

As PyTorch's:
- construction checks that every rank has the same parameter shapes and broadcasts parameters and
  buffers from rank 0 (init_sync=True);
- with broadcast_buffers=True, every forward first broadcasts the buffers from rank 0 (BatchNorm's
  running statistics stay those of rank 0);
- gradients are reduced in buckets of about bucket_cap_mb MiB (1 MiB for the first), filled in reverse
  parameter order (the order backward produces them). A hook on each parameter (post-accumulate-grad)
  marks it ready; a bucket whose parameters are all ready is launched as an asynchronous all_reduce, in
  bucket order, so that backward keeps running while earlier buckets travel. The hook that launches the
  last bucket waits for all of them and writes the averages back into the .grad tensors, so backward
  returns with the reduced gradients. Each gradient is multiplied by 1/world_size before the sum (PyTorch's
  reducer does the same, so the results agree bit for bit where the summation order does);
- no_sync(): forwards inside it (and their backwards) accumulate local gradients without communication;
  the next synchronised backward reduces the accumulated .grad;
- find_unused_parameters=True: each forward walks the autograd graph of the output to find the parameters
  it does not use; they count as ready at once (contributing their current .grad or zeros), and a
  parameter no rank used keeps its .grad untouched. Without it, every parameter must receive a gradient
  in every synchronised backward, or the next forward raises PyTorch's error;
- register_comm_hook(state, hook) replaces a bucket's all_reduce by hook(state, GradBucket) returning a
  Future (PyTorch's default_hooks: allreduce, fp16/bf16 compression, in flambeau.distributed.algorithms);
- `module` is the wrapped model and state_dict() keys carry the `module.` prefix.

The decision to synchronise is taken in forward (as PyTorch's prepare_for_backward): backward after a
forward run inside no_sync() does not communicate even if it runs outside the context.
"""
import contextlib

import flambeau
from flambeau.autograd.function import AccumulateGrad
from ..modules.module import Module

__all__ = ["DistributedDataParallel", "GradBucket"]

_MiB = 1024 * 1024
_DEFAULT_FIRST_BUCKET_BYTES = 1 * _MiB


def _dist():
    from flambeau import distributed
    return distributed


def _output_tensors(obj, out):
    if isinstance(obj, flambeau.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _output_tensors(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _output_tensors(o, out)
    return out


def _used_parameters(output):
    """ids of the leaf tensors reachable from output's autograd graph."""
    used, seen, stack = set(), set(), []
    for t in _output_tensors(output, []):
        if t.grad_fn is not None:
            stack.append(t.grad_fn)
        elif t.requires_grad:
            used.add(id(t))
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if isinstance(node, AccumulateGrad):
            var = node.variable
            if var is not None:
                used.add(id(var))
            continue
        for nf, _ in node.next_functions:
            if nf is not None and nf not in seen:
                stack.append(nf)
    return used


def _broadcast_coalesced(tensors, pg, src=0):
    """Broadcasts tensors from group rank src, one flat message per dtype and device."""
    dist = _dist()
    groups = {}
    for t in tensors:
        groups.setdefault((t.dtype, str(t.device)), []).append(t)
    src_global = dist.get_global_rank(pg, src)
    with flambeau.no_grad():
        for ts in groups.values():
            flat = flambeau.cat([t.detach().reshape(-1) for t in ts])
            dist.broadcast(flat, src_global, group=pg)
            off = 0
            for t in ts:
                n = t.numel()
                t.copy_(flat[off:off + n].reshape(t.shape))
                off += n


class _Bucket:
    def __init__(self, index, params):
        self.index = index
        self.params = params      # indices into DDP's parameter list
        self.pending = 0
        self.work = None
        self.flat = None


class GradBucket:
    """What a communication hook receives: one bucket's gradients flattened into buffer() (not yet divided by
    the world size), in the bucket's parameter order."""

    def __init__(self, index, buffer, params, is_last):
        self._index, self._buffer, self._params, self._is_last = index, buffer, params, is_last

    def index(self):
        return self._index

    def buffer(self):
        return self._buffer

    def set_buffer(self, buffer):
        self._buffer = buffer

    def parameters(self):
        return list(self._params)

    def gradients(self):
        out, off = [], 0
        for p in self._params:
            n = p.numel()
            out.append(self._buffer[off:off + n].view(p.shape))
            off += n
        return out

    def is_last(self):
        return self._is_last


class _HookWork:
    """The Future a comm hook returned, waited on like a Work."""

    def __init__(self, bucket, future):
        if not hasattr(future, "wait"):
            raise TypeError(f"DDP communication hook must return a Future, got {type(future).__name__}")
        self._future = future
        self._value = None

    def wait(self):
        v = self._future.wait()
        self._value = v[0] if isinstance(v, (list, tuple)) else v

    def result_tensor(self):
        return self._value


class DistributedDataParallel(Module):
    """Wraps `module` for data-parallel training (see the module docstring)."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True, init_sync=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, delay_all_reduce_named_params=None,
                 param_to_hook_all_reduce=None, mixed_precision=None, device_mesh=None,
                 skip_all_reduce_unused_params=False):
        super().__init__()
        dist = _dist()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an nn.Module, got {type(module).__name__}")
        params, seen = [], set()
        for p in module.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                params.append(p)
        if not params:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any parameter that "
                               "requires a gradient.")
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError("device_ids can only be None or contain a single element.")
        devices = {p.device.type for p in params}
        if "cpu" in devices and device_ids is not None:
            raise ValueError("DistributedDataParallel device_ids and output_device arguments only work with "
                             "single-device/multiple-device GPU modules or CPU modules, but got device_ids "
                             f"{device_ids}, output_device {output_device}, and module parameters {devices}.")
        self.module = module
        self.process_group = dist.group.WORLD if process_group is None else process_group
        if self.process_group is None:
            raise ValueError("Default process group has not been initialized, please make sure to call "
                             "init_process_group.")
        self.device_ids = None if device_ids is None else list(device_ids)
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * _MiB)
        self._params = params
        self._world = dist.get_world_size(self.process_group)
        if init_sync:
            self._verify_shapes()
            _broadcast_coalesced(params + list(module.buffers()), self.process_group)
        self._buckets, self._bucket_of = self._make_buckets(bucket_cap_mb)
        self._armed = False           # a synchronised backward is expected (set by forward)
        self._unfinished = False      # armed, and not every bucket reduced yet
        self._next_launch = 0
        self._used_globally = None    # find_unused_parameters: flags of the parameters some rank used
        self._ready_flags = [False] * len(params)
        self._comm_hook = None        # (state, hook) from register_comm_hook
        self._grad_hooks = [p.register_post_accumulate_grad_hook(self._make_hook(i)) for i, p in enumerate(params)]

    # ------------------------------------------------------------------ construction
    def _verify_shapes(self):
        dist = _dist()
        mine = [(tuple(p.shape), str(p.dtype)) for p in self._params]
        everyone = [None] * self._world
        dist.all_gather_object(everyone, mine, group=self.process_group)
        for r, theirs in enumerate(everyone):
            if theirs != mine:
                raise RuntimeError(f"DistributedDataParallel: the ranks' models differ: rank {r} has parameters "
                                   f"{theirs}, this rank (group rank {dist.get_rank(self.process_group)}) has "
                                   f"{mine}; DDP expects the same model on every rank")

    def _make_buckets(self, bucket_cap_mb):
        buckets, bucket_of = [], {}
        cur, cur_bytes, cur_key = [], 0, None
        cap = _DEFAULT_FIRST_BUCKET_BYTES if bucket_cap_mb is None else self.bucket_bytes_cap
        for i in reversed(range(len(self._params))):
            p = self._params[i]
            key = (p.dtype, str(p.device))
            nbytes = p.numel() * p.element_size()
            if cur and (key != cur_key or cur_bytes + nbytes > cap):
                buckets.append(_Bucket(len(buckets), cur))
                cur, cur_bytes = [], 0
                cap = self.bucket_bytes_cap
            cur.append(i)
            cur_bytes += nbytes
            cur_key = key
        if cur:
            buckets.append(_Bucket(len(buckets), cur))
        for b in buckets:
            for i in b.params:
                bucket_of[i] = b
        return buckets, bucket_of

    # ------------------------------------------------------------------ forward
    def forward(self, *inputs, **kwargs):
        sync = flambeau.is_grad_enabled() and self.require_backward_grad_sync
        if sync:
            self._prepare_for_backward()
        if self.broadcast_buffers and self.require_forward_param_sync:
            buffers = list(self.module.buffers())
            if buffers:
                _broadcast_coalesced(buffers, self.process_group)
        output = self.module(*inputs, **kwargs)
        if sync and self.find_unused_parameters:
            self._mark_unused(output)
        return output

    def _prepare_for_backward(self):
        if self._unfinished and not self.find_unused_parameters:
            missing = [i for b in self._buckets[self._next_launch:] for i in b.params if self._ready_flags[i] is False]
            names = {id(p): n for n, p in self.module.named_parameters()}
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a new one. This error "
                "indicates that your module has parameters that were not used in producing loss. You can enable "
                "unused parameter detection by passing the keyword argument `find_unused_parameters=True` to "
                "`torch.nn.parallel.DistributedDataParallel`, and by making sure all `forward` function outputs "
                "participate in calculating loss. Parameters which did not receive grad for rank "
                f"{_dist().get_rank(self.process_group)}: "
                + ", ".join(names.get(id(self._params[i]), f"#{i}") for i in sorted(missing)))
        if self._unfinished:
            self._drain()
        self._ready_flags = [False] * len(self._params)
        for b in self._buckets:
            b.pending = len(b.params)
            b.work = b.flat = None
        self._next_launch = 0
        self._used_globally = None
        self._armed = True
        self._unfinished = True

    def _mark_unused(self, output):
        dist = _dist()
        used = _used_parameters(output)
        local = [id(p) in used for p in self._params]
        flags = flambeau.tensor([1 if u else 0 for u in local], dtype=flambeau.int32)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=self.process_group)
        self._used_globally = [bool(v) for v in flags.tolist()]
        for i, u in enumerate(local):
            if not u:
                self._mark_ready(i)

    # ------------------------------------------------------------------ backward
    def _make_hook(self, i):
        def hook(param):
            if self._armed and not self._ready_flags[i]:
                self._mark_ready(i)
        return hook

    def _mark_ready(self, i):
        self._ready_flags[i] = True
        b = self._bucket_of[i]
        b.pending -= 1
        while self._next_launch < len(self._buckets) and self._buckets[self._next_launch].pending == 0:
            self._launch(self._buckets[self._next_launch])
            self._next_launch += 1
        if self._next_launch == len(self._buckets):
            self._finish()

    def _launch(self, b):
        dist = _dist()
        with flambeau.no_grad():
            parts = []
            for i in b.params:
                p = self._params[i]
                g = p.grad
                if g is None or (self._used_globally is not None and not self._used_globally[i]):
                    g = flambeau.zeros(p.shape, dtype=p.dtype, device=p.device)
                parts.append(g.detach().reshape(-1))
            flat = flambeau.cat(parts)
            if self._comm_hook is None:
                flat = flat * (1.0 / self._world)
        if self._comm_hook is None:
            b.flat = flat
            b.work = dist.all_reduce(flat, group=self.process_group, async_op=True)
            return
        state, hook = self._comm_hook
        b.flat = None
        b.work = _HookWork(b, hook(state, GradBucket(b.index, flat, [self._params[i] for i in b.params],
                                                     b.index == len(self._buckets) - 1)))

    def _finish(self):
        self._armed = False
        try:
            self._drain(write=True)
        finally:
            self._unfinished = False

    def _drain(self, write=False):
        """Waits for the launched buckets; with write, copies the averages into the .grad tensors."""
        with flambeau.no_grad():
            for b in self._buckets:
                if b.work is None:
                    continue
                b.work.wait()
                if isinstance(b.work, _HookWork):
                    b.flat = b.work.result_tensor()
                if write:
                    off = 0
                    for i in b.params:
                        p = self._params[i]
                        n = p.numel()
                        if self._used_globally is None or self._used_globally[i]:
                            avg = b.flat[off:off + n].reshape(p.shape)
                            if p.grad is None:
                                p.grad = avg.clone()
                            else:
                                p.grad.copy_(avg)
                        off += n
                b.work = b.flat = None

    # ------------------------------------------------------------------ API
    def register_comm_hook(self, state, hook):
        """hook(state, bucket: GradBucket) -> Future whose value is the bucket's reduced (averaged) flat
        gradient, replacing the default all_reduce, as PyTorch's (see
        flambeau.distributed.algorithms.ddp_comm_hooks.default_hooks). Register once, before training."""
        if not callable(hook):
            raise TypeError("register_comm_hook: hook must be callable")
        if self._comm_hook is not None:
            raise RuntimeError("register_comm_hook or register_builtin_comm_hook can only be called once.")
        self._comm_hook = (state, hook)

    @contextlib.contextmanager
    def no_sync(self):
        """Forwards (and their backwards) inside run without gradient communication."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def _set_static_graph(self):
        self.static_graph = True

    def extra_repr(self):
        return ""
