"""Activation checkpointing (torch.utils.checkpoint): checkpoint and checkpoint_sequential.

A checkpointed function keeps only its inputs for backward; what its ops would have saved is
recomputed, by running the function again, when backward needs it. Both of PyTorch's variants:

- use_reentrant=True (what use_reentrant=None still means, with PyTorch's warning):
  `CheckpointFunction`, one autograd Function whose forward runs `function` under no_grad and
  saves the tensor arguments; its backward re-runs `function` with grad enabled on detached
  copies of them and backpropagates through that fresh graph with a nested backward call.
  Parameters used inside `function` get their .grad from that nested call, so it cannot serve
  autograd.grad or backward(inputs=...) (RuntimeError, as in PyTorch), and an output gets a
  gradient only when some tensor argument requires grad.
- use_reentrant=False: `function` runs with grad enabled under saved_tensors_hooks
  (autograd/graph.py) whose pack hook stores a placeholder instead of each saved tensor. The graph
  is the plain one; its nodes just hold no activations. The first unpack in a backward pass re-runs
  `function` (under a hook that collects the tensors it saves, in order, stopping as soon as all
  are there) and each node gets its tensor back. Gradients are therefore those of the plain graph,
  bit for bit, and autograd.grad, keyword arguments and parameters-only gradients all work.

With preserve_rng_state (the default) the recomputation runs from the random state the forward
started from (flambeau has one Philox stream for every device, so that is one (seed, offset)
pair), so dropout draws the same mask; the surrounding random state is restored afterwards.

The structure follows PyTorch's implementation (the frame/holder bookkeeping of the
non-reentrant variant in particular), on flambeau's engine.
"""
import contextlib
import traceback
import warnings
import weakref
from collections import defaultdict

from .. import _C
from .. import amp as _amp
from .._tensor import Tensor
from ..autograd import backward as _autograd_backward
from ..autograd.engine import _current_graph_task_id, _is_checkpoint_valid
from ..autograd.function import Function
from ..autograd.grad_mode import enable_grad, is_grad_enabled
from ..autograd.graph import saved_tensors_hooks

__all__ = ["checkpoint", "checkpoint_sequential", "CheckpointError", "CheckpointFunction",
           "check_backward_validity", "detach_variable", "noop_context_fn", "set_checkpoint_debug_enabled",
           "set_checkpoint_early_stop", "get_device_states", "set_device_states"]

_DEFAULT_DETERMINISM_MODE = "default"

_checkpoint_debug_enabled = None


@contextlib.contextmanager
def set_checkpoint_debug_enabled(enabled):
    """Overrides checkpoint's `debug` flag inside the block (None: use each call's flag)."""
    global _checkpoint_debug_enabled
    prev = _checkpoint_debug_enabled
    _checkpoint_debug_enabled = enabled
    try:
        yield
    finally:
        _checkpoint_debug_enabled = prev


_enable_checkpoint_early_stop = None


@contextlib.contextmanager
def set_checkpoint_early_stop(enable):
    """Overrides checkpoint's `early_stop` for the forwards run inside the block."""
    global _enable_checkpoint_early_stop
    prev = _enable_checkpoint_early_stop
    _enable_checkpoint_early_stop = enable
    try:
        yield
    finally:
        _enable_checkpoint_early_stop = prev


class CheckpointError(RuntimeError):
    pass


def detach_variable(inputs):
    """Detached copies of the tensors in tuple `inputs`, each keeping its requires_grad."""
    if isinstance(inputs, tuple):
        out = []
        for inp in inputs:
            if not isinstance(inp, Tensor):
                out.append(inp)
                continue
            x = inp.detach()
            x.requires_grad = inp.requires_grad
            out.append(x)
        return tuple(out)
    raise RuntimeError(f"Only tuple of tensors is supported. Got Unsupported input type: {type(inputs).__name__}")


def check_backward_validity(inputs):
    if not any(inp.requires_grad for inp in inputs if isinstance(inp, Tensor)):
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", stacklevel=2)


def noop_context_fn():
    return contextlib.nullcontext(), contextlib.nullcontext()


@contextlib.contextmanager
def _fork_rng(enabled):
    """Restores the global random state on exit (flambeau has one stream for all devices)."""
    if not enabled:
        yield
        return
    state = _C.get_rng_state()
    try:
        yield
    finally:
        _C.set_rng_state(*state)


@contextlib.contextmanager
def _autocast_as(state):
    """Runs the block with autocast in the state the forward saw (flambeau's autocast is a
    float32 no-op, so this only keeps is_autocast_enabled() / get_autocast_dtype() consistent)."""
    prev = _amp._snapshot()
    _amp._restore(state)
    try:
        yield
    finally:
        _amp._restore(prev)


# ----------------------------------------------------------------------------------- reentrant variant

class CheckpointFunction(Function):
    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, *args):
        check_backward_validity(args)
        ctx.run_function = run_function
        ctx.preserve_rng_state = preserve_rng_state
        ctx.autocast_state = _amp._snapshot()
        if preserve_rng_state:
            ctx.fwd_rng_state = _C.get_rng_state()
        # Non-tensor arguments are kept on ctx; tensors are saved (placeholders None meanwhile).
        ctx.inputs = []
        ctx.tensor_indices = []
        tensor_inputs = []
        for i, arg in enumerate(args):
            if isinstance(arg, Tensor):
                tensor_inputs.append(arg)
                ctx.tensor_indices.append(i)
                ctx.inputs.append(None)
            else:
                ctx.inputs.append(arg)
        ctx.save_for_backward(*tensor_inputs)
        # Function.apply runs forward with grad mode off: nothing inside is recorded or kept.
        return run_function(*args)

    @staticmethod
    def backward(ctx, *args):
        if not _is_checkpoint_valid():
            raise RuntimeError(
                "When use_reentrant=True, flambeau.utils.checkpoint is incompatible with .grad() or passing an "
                "`inputs` parameter to .backward(). To resolve this error, you can either set use_reentrant=False, "
                "or call .backward() without passing the `inputs` argument.")
        inputs = list(ctx.inputs)
        tensors = ctx.saved_tensors
        for i, idx in enumerate(ctx.tensor_indices):
            inputs[idx] = tensors[i]
        with _fork_rng(ctx.preserve_rng_state):
            if ctx.preserve_rng_state:
                _C.set_rng_state(*ctx.fwd_rng_state)
            detached_inputs = detach_variable(tuple(inputs))
            with enable_grad(), _autocast_as(ctx.autocast_state):
                outputs = ctx.run_function(*detached_inputs)
        if isinstance(outputs, Tensor):
            outputs = (outputs,)
        outputs_with_grad = []
        args_with_grad = []
        for i in range(len(outputs)):
            if isinstance(outputs[i], Tensor) and outputs[i].requires_grad:
                outputs_with_grad.append(outputs[i])
                args_with_grad.append(args[i])
        if len(outputs_with_grad) == 0:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is not necessary")
        _autograd_backward(outputs_with_grad, args_with_grad)
        grads = tuple(inp.grad if isinstance(inp, Tensor) else None for inp in detached_inputs)
        return (None, None) + grads


# ------------------------------------------------------------------------------- non-reentrant variant
#
# Bookkeeping as in PyTorch: each tensor saved inside the checkpointed forward is packed as a
# _Holder (the frame keeps weak references to them, in save order). A backward pass (identified
# by its graph task id) recomputes once: the recomputation hook counts saves in the same order and
# files each recomputed tensor under a fresh _Handle in that holder, in a WeakKeyDictionary, so a
# tensor is freed as soon as the node holding its holder is released. Unpacking hands the tensor
# over and clears the handle.

class _Handle:
    pass


class _Holder:
    def __init__(self):
        self.handles = {}


class _StopRecomputationError(Exception):
    pass


_outside_ids = iter(range(-2, -(1 << 62), -1))  # graph ids for unpacks outside any backward pass


def _default_meta_extractor(x):
    return {"shape": x.shape, "dtype": x.dtype, "device": x.device}


_allowed_determinism_checks_to_fns = {
    _DEFAULT_DETERMINISM_MODE: _default_meta_extractor,
    "none": lambda _: None,
}

_debug_tip_msg = """
Tip: To see a more detailed error message, either pass `debug=True` to
`flambeau.utils.checkpoint.checkpoint(...)` or wrap the code block
with `with flambeau.utils.checkpoint.set_checkpoint_debug_enabled(True):` to
enable checkpoint-debug mode globally.
"""


class _CheckpointFrame:
    def __init__(self, recompute_fn, early_stop, metadata_fn, debug):
        self.recompute_fn = recompute_fn
        self.saved_args = []
        self.saved_versions = []
        self.weak_holders = []
        self.recomputed = defaultdict(weakref.WeakKeyDictionary)
        self.recomp_counter = defaultdict(int)
        self.is_recomputed = defaultdict(bool)
        self.early_stop = early_stop
        self.metadata_fn = metadata_fn
        self.x_metadatas = []
        self.forward_completed = False
        self.ignore_saved_mismatch = False
        # debug=True: a line per saved tensor (what, where), forward and recomputation.
        self.debug = debug
        self.fwd_log = []
        self.recompute_log = defaultdict(list)

    def save_inputs(self, *args):
        self.saved_args = list(args)
        self.saved_versions = [a._impl.version if isinstance(a, Tensor) and hasattr(a._impl, "version") else None
                               for a in args]

    def get_inputs(self):
        for i, (a, v) in enumerate(zip(self.saved_args, self.saved_versions)):
            if v is not None and a._impl.version != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: argument {i} of the checkpointed function {list(a.shape)} is at version "
                    f"{a._impl.version}; expected version {v} instead. Hint: the inputs of a checkpointed "
                    "function are saved for its recomputation; use an out-of-place operation (or .clone()).")
        return self.saved_args

    def _logs(self, gid):
        if not self.debug:
            return ""
        return ("\n\nTensors saved during the original forward:\n" + "\n".join(self.fwd_log)
                + "\n\nTensors saved during recomputation:\n" + "\n".join(self.recompute_log[gid]))

    def check_recomputed_tensors_match(self, gid):
        if self.ignore_saved_mismatch:
            return
        if not len(self.weak_holders) == self.recomp_counter[gid]:
            raise CheckpointError(
                "flambeau.utils.checkpoint: A different number of tensors was saved during the original forward "
                "and recomputation.\n"
                f"Number of tensors saved during forward: {len(self.weak_holders)}\n"
                f"Number of tensors saved during recomputation: {self.recomp_counter[gid]}.\n"
                f"{_debug_tip_msg}{self._logs(gid)}")
        nb_meta_different = []
        for idx, weak_holder in enumerate(self.weak_holders):
            holder = weak_holder()
            if holder is None:
                continue
            x_meta = self.x_metadatas[idx]
            recomputed_x = self.recomputed[gid][holder.handles[gid]]
            if x_meta != self.metadata_fn(recomputed_x):
                nb_meta_different.append((idx, x_meta, self.metadata_fn(recomputed_x)))
        if nb_meta_different:
            mismatched = ""
            for idx, x_meta, recomputed_meta in nb_meta_different:
                mismatched += (f"tensor at position {idx}:\nsaved metadata: {x_meta}\n"
                               f"recomputed metadata: {recomputed_meta}\n")
            raise CheckpointError(
                "flambeau.utils.checkpoint: Recomputed values for the following tensors have different metadata "
                f"than during the forward pass.\n{mismatched}.\n{_debug_tip_msg}{self._logs(gid)}")


def _describe(x):
    """A debug log line for saved tensor x: its shape and dtype, the node that made it, and the
    user-code line that saved it."""
    import os
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    where = ""
    for f in reversed(traceback.extract_stack()):
        if not os.path.abspath(f.filename).startswith(pkg):
            where = f"  ({f.filename}:{f.lineno}: {f.line})"
            break
    fn = x.grad_fn
    what = "leaf tensor" if fn is None else f"output of {fn.name()}"
    return f"{what} {list(x.shape)} {x.dtype}{where}"


class _recomputation_hook(saved_tensors_hooks):
    def __init__(self, target_frame_ref, gid):
        def pack_hook(x):
            x = x.detach() if x.requires_grad else x
            target_frame = target_frame_ref()
            recomp_idx = target_frame.recomp_counter[gid]
            target_frame.recomp_counter[gid] += 1
            if target_frame.debug:
                target_frame.recompute_log[gid].append(f"{recomp_idx}: {_describe(x)}")
            if recomp_idx >= len(target_frame.weak_holders):
                if not target_frame.forward_completed:
                    # backward inside the checkpointed forward with early stop off: nothing to match
                    target_frame.ignore_saved_mismatch = True
                    return x
                raise CheckpointError(
                    "flambeau.utils.checkpoint: trying to save more tensors during recomputation than during the "
                    f"original forward pass.\n{_debug_tip_msg}{target_frame._logs(gid)}")
            holder = target_frame.weak_holders[recomp_idx]()
            # The holder is gone when its node was already released (a backward inside forward).
            if holder is not None:
                holder.handles[gid] = _Handle()
                target_frame.recomputed[gid][holder.handles[gid]] = x
            if target_frame.early_stop and target_frame.recomp_counter[gid] == len(target_frame.weak_holders):
                raise _StopRecomputationError
            return x

        def unpack_hook(x):
            return x

        super().__init__(pack_hook, unpack_hook)


class _checkpoint_hook(saved_tensors_hooks):
    def __init__(self, frame):
        def pack_hook(x):
            holder = _Holder()
            frame.weak_holders.append(weakref.ref(holder))
            if frame.metadata_fn is not None:
                frame.x_metadatas.append(frame.metadata_fn(x))
            if frame.debug:
                frame.fwd_log.append(f"{len(frame.weak_holders) - 1}: {_describe(x)}")
            return holder

        def unpack_hook(holder):
            gid = _current_graph_task_id()
            if gid == -1:
                gid = next(_outside_ids)  # outside backward: recompute for this unpack alone
            if not frame.is_recomputed[gid]:
                args = frame.get_inputs()
                try:
                    with _recomputation_hook(weakref.ref(frame), gid), enable_grad():
                        frame.recompute_fn(*args)
                except _StopRecomputationError:
                    pass
                frame.is_recomputed[gid] = True
                frame.check_recomputed_tensors_match(gid)
            if gid not in holder.handles:
                raise CheckpointError(
                    "flambeau.utils.checkpoint: a saved tensor was not recomputed (it was released before the "
                    f"recomputation ran).\n{_debug_tip_msg}")
            if holder.handles[gid] is None:
                raise CheckpointError(
                    "flambeau.utils.checkpoint: Unpack is being triggered for a tensor that was already unpacked "
                    "once. If you are calling ctx.saved_tensors in backward, make sure to do so only once. "
                    "Otherwise please open an issue with details on your use case.")
            ret = frame.recomputed[gid][holder.handles[gid]]
            holder.handles[gid] = None
            return ret

        super().__init__(pack_hook, unpack_hook)


def _checkpoint_without_reentrant(fn, preserve_rng_state, context_fn, determinism_check, debug, early_stop,
                                  args, kwargs):
    debug = _checkpoint_debug_enabled if _checkpoint_debug_enabled is not None else debug
    if debug and context_fn is not noop_context_fn:
        raise ValueError("debug=True is incompatible with non-default context_fn")
    if determinism_check in _allowed_determinism_checks_to_fns:
        metadata_fn = _allowed_determinism_checks_to_fns[determinism_check]
    else:
        raise ValueError(f"determinism_check should be one of {list(_allowed_determinism_checks_to_fns.keys())}, "
                         f"but got {determinism_check}")
    forward_context, recompute_context = context_fn()
    autocast_state = _amp._snapshot()
    fwd_rng_state = _C.get_rng_state() if preserve_rng_state else None

    def recompute_fn(*inputs):
        with _fork_rng(preserve_rng_state):
            if preserve_rng_state:
                _C.set_rng_state(*fwd_rng_state)
            with _autocast_as(autocast_state), recompute_context:
                fn(*inputs, **kwargs)

    frame = _CheckpointFrame(
        recompute_fn,
        _enable_checkpoint_early_stop if _enable_checkpoint_early_stop is not None else early_stop,
        metadata_fn, bool(debug))

    if not is_grad_enabled():
        return fn(*args, **kwargs)

    frame.save_inputs(*args)
    suppressed = True
    with _checkpoint_hook(frame), forward_context:
        ret = fn(*args, **kwargs)
        suppressed = False
    if suppressed:
        raise RuntimeError(
            "flambeau.utils.checkpoint: the forward context provided by context_fn suppressed an exception raised "
            "during the checkpointed forward. This is not supported because checkpoint cannot return a value for a "
            "failed forward.")
    frame.forward_completed = True
    return ret


# ------------------------------------------------------------------------------------------ public API

def checkpoint(function, *args, use_reentrant=None, context_fn=noop_context_fn,
               determinism_check=_DEFAULT_DETERMINISM_MODE, debug=False, early_stop=True, **kwargs):
    """Runs function(*args, **kwargs) keeping only its inputs for backward (see the module
    docstring). Keyword-only: use_reentrant (None warns and means True, as in PyTorch),
    preserve_rng_state=True, context_fn (a callable returning the two context managers the forward
    and the recomputation run under), determinism_check ('default': compare shape/dtype/device of
    recomputed tensors; 'none'), debug, early_stop; the last four need use_reentrant=False
    (determinism_check and early_stop are ignored otherwise)."""
    if use_reentrant is None:
        warnings.warn(
            "flambeau.utils.checkpoint: the use_reentrant parameter should be passed explicitly. Starting in "
            "PyTorch 2.9, calling checkpoint without use_reentrant will raise an exception. use_reentrant=False is "
            "recommended, but if you need to preserve the current default behavior, you can pass use_reentrant=True. "
            "Refer to docs for more details on the differences between the two variants.", stacklevel=2)
        use_reentrant = True
    if context_fn is None:
        context_fn = noop_context_fn
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs and use_reentrant:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    if use_reentrant:
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError("Passing `context_fn` or `debug` is only supported when use_reentrant=False.")
        return CheckpointFunction.apply(function, preserve, *args)
    return _checkpoint_without_reentrant(function, preserve, context_fn, determinism_check, debug, early_stop,
                                         args, kwargs)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Splits `functions` (an nn.Sequential or a list of modules/functions) into `segments` chunks
    and checkpoints every chunk but the last. Keyword: preserve_rng_state=True."""
    if use_reentrant is None:
        warnings.warn(
            "flambeau.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be passed "
            "explicitly. In version 2.9 we will raise an exception if use_reentrant is not passed. "
            "use_reentrant=False is recommended, but if you need to preserve the current default behavior, you can "
            "pass use_reentrant=True. Refer to docs for more details on the differences between the two variants.",
            stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))

    def run_function(start, end, functions):
        def forward(input):
            for j in range(start, end + 1):
                input = functions[j](input)
            return input
        return forward

    from ..nn import Sequential
    if isinstance(functions, Sequential):
        functions = list(functions.children())

    segment_size = len(functions) // segments
    # the last chunk is run normally (its activations are needed right away by backward)
    end = -1
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        input = checkpoint(run_function(start, end, functions), input, use_reentrant=use_reentrant,
                           preserve_rng_state=preserve)
    return run_function(end + 1, len(functions) - 1, functions)(input)


def _tensors_in(args):
    """The tensors in a (nested) structure of tuples / lists / dicts."""
    if isinstance(args, Tensor):
        yield args
    elif isinstance(args, (list, tuple)):
        for a in args:
            yield from _tensors_in(a)
    elif isinstance(args, dict):
        for a in args.values():
            yield from _tensors_in(a)


def get_device_states(*args):
    """(device ids, RNG states) for the accelerator tensors among args, as PyTorch's; reversible-network
    code saves them before a forward it will recompute. CPU tensors contribute nothing."""
    from .. import cuda
    ids = [t.get_device() for t in _tensors_in(args) if t.device.type not in ("cpu", "meta")]
    states = []
    for device_id in ids:
        with cuda.device(device_id):
            states.append(cuda.get_rng_state())
    return ids, states


def set_device_states(devices, states, *, device_type=None):
    """Restore the RNG states get_device_states returned."""
    if device_type == "meta":
        return
    from .. import cuda
    for device_id, state in zip(devices, states):
        with cuda.device(device_id):
            cuda.set_rng_state(state)
