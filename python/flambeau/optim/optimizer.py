"""Optimizer base class: parameter groups, per-parameter state, state_dict round trips, hooks."""
import functools
import math
import warnings
from collections import OrderedDict, defaultdict
from copy import deepcopy
from itertools import chain
from operator import is_

import flambeau
from flambeau._tensor import Tensor
from flambeau._sparse import SparseCooTensor as _SparseCoo
from flambeau.profiler._recorder import RECORDER as _PROFILER

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Singleton class representing a required parameter for an Optimizer."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


class _Handle:
    _next_id = 0

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = _Handle._next_id
        _Handle._next_id += 1

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.remove()


def _to_scalar(x):
    """A Python number from a number or a one-element tensor (lr, betas may be tensors)."""
    if isinstance(x, Tensor):
        return x.item()
    return x


def _typename(obj):
    return type(obj).__module__ + "." + type(obj).__qualname__


_global_step_pre_hooks = OrderedDict()
_global_step_post_hooks = OrderedDict()
_NO_HOOKS = OrderedDict()  # never written: what an optimizer without its own hook tables reads


class Optimizer:
    """Base class for all optimizers.

    params: an iterable of Tensors, of (name, Tensor) pairs, or of dicts defining parameter groups;
    defaults: the default value of each option for groups that do not set it.
    """

    def __init__(self, params, defaults):
        self.defaults = defaults
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        self._optimizer_state_dict_pre_hooks = OrderedDict()
        self._optimizer_state_dict_post_hooks = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks = OrderedDict()
        self._optimizer_load_state_dict_post_hooks = OrderedDict()
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + _typename(params))
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _with_step_hooks(cls.__dict__["step"])

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks",
                     "_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
                     "_optimizer_load_state_dict_pre_hooks", "_optimizer_load_state_dict_post_hooks"):
            if name not in self.__dict__:
                self.__dict__[name] = OrderedDict()
        self.defaults.setdefault("differentiable", False)
        # the groups are new dicts: forget what was cached about the old ones
        self.__dict__.pop("_group_cache", None)

    def __repr__(self):
        format_string = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            format_string += "\n"
            format_string += f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    format_string += f"    {key}: {group[key]}\n"
        format_string += ")"
        return format_string

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but "
                            "the ordering of tensors in sets will change between runs. Please use "
                            "a list instead.")
        else:
            param_group["params"] = list(params)

        extracted_param_tensors = []
        extracted_param_names = []
        for param in param_group["params"]:
            if isinstance(param, tuple):
                extracted_param_names.append(param[0])
                extracted_param_tensors.append(param[1])
            else:
                extracted_param_tensors.append(param)
        param_group["params"] = extracted_param_tensors
        if len(extracted_param_names) != 0:
            if len(extracted_param_names) == len(extracted_param_tensors):
                param_group["param_names"] = extracted_param_names
            else:
                raise ValueError("all optimizer params should be with/without names. Some param "
                                 "names are missing")

        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + _typename(param))
            if not self.defaults.get("differentiable", None) and not (
                    param.is_leaf or getattr(param, "retains_grad", False)):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required optimization "
                                 f"parameter {name}")
            param_group.setdefault(name, default)

        params = param_group["params"]
        if len(params) != len({id(p) for p in params}):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)

        param_set = set()
        for group in self.param_groups:
            param_set.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                current_group_txt = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. cannot "
                                 f"add param group {current_group_txt} to the optimizer")
        if not param_set.isdisjoint(id(p) for p in param_group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------------ gradients
    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if p._grad is not None:  # (the slot under Tensor.grad: parameters are leaves)
                    if set_to_none:
                        p._grad = None
                    else:
                        if p.grad.grad_fn is not None:
                            p.grad.detach_()
                        else:
                            p.grad.requires_grad_(False)
                        p.grad.zero_()

    def step(self, closure=None):
        raise NotImplementedError

    # ------------------------------------------------------------------ hooks
    def register_step_pre_hook(self, hook):
        handle = _Handle(self._optimizer_step_pre_hooks)
        self._optimizer_step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook):
        handle = _Handle(self._optimizer_step_post_hooks)
        self._optimizer_step_post_hooks[handle.id] = hook
        return handle

    def register_state_dict_pre_hook(self, hook, prepend=False):
        handle = _Handle(self._optimizer_state_dict_pre_hooks)
        self._optimizer_state_dict_pre_hooks[handle.id] = hook
        if prepend:
            self._optimizer_state_dict_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_state_dict_post_hook(self, hook, prepend=False):
        handle = _Handle(self._optimizer_state_dict_post_hooks)
        self._optimizer_state_dict_post_hooks[handle.id] = hook
        if prepend:
            self._optimizer_state_dict_post_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_load_state_dict_pre_hook(self, hook, prepend=False):
        handle = _Handle(self._optimizer_load_state_dict_pre_hooks)
        self._optimizer_load_state_dict_pre_hooks[handle.id] = hook
        if prepend:
            self._optimizer_load_state_dict_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_load_state_dict_post_hook(self, hook, prepend=False):
        handle = _Handle(self._optimizer_load_state_dict_post_hooks)
        self._optimizer_load_state_dict_post_hooks[handle.id] = hook
        if prepend:
            self._optimizer_load_state_dict_post_hooks.move_to_end(handle.id, last=False)
        return handle

    # ------------------------------------------------------------------ state_dict
    def state_dict(self):
        """{'state': {param index: state dict}, 'param_groups': [group options with 'params' as
        indices]}, numbered over all groups in order, as in PyTorch."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        param_mappings = {}
        start_index = 0

        def pack_group(group):
            nonlocal start_index
            packed = {k: v for k, v in group.items() if k != "params"}
            param_mappings.update({id(p): i for i, p in enumerate(group["params"], start_index)
                                   if id(p) not in param_mappings})
            packed["params"] = [param_mappings[id(p)] for p in group["params"]]
            start_index += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {(param_mappings[id(k)] if isinstance(k, Tensor) else k): v
                        for k, v in self.state.items()}
        state_dict = {"state": packed_state, "param_groups": param_groups}
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            hook_result = post_hook(self, state_dict)
            if hook_result is not None:
                state_dict = hook_result
        return state_dict

    @staticmethod
    def _process_value_according_to_param_policy(param, value, param_id, param_groups, key=None):
        fused = False
        capturable = False
        for pg in param_groups:
            if param_id in pg["params"]:
                fused = pg.get("fused", False)
                capturable = pg.get("capturable", False)
                break
        if key == "step":
            if capturable or fused:
                return value.to(dtype=flambeau.float32, device=param.device)
            return value
        if param.is_floating_point():
            return value.to(dtype=param.dtype, device=param.device)
        return value.to(device=param.device)

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            hook_result = pre_hook(self, state_dict)
            if hook_result is not None:
                state_dict = hook_result
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        param_lens = (len(g["params"]) for g in groups)
        saved_lens = (len(g["params"]) for g in saved_groups)
        if any(p_len != s_len for p_len, s_len in zip(param_lens, saved_lens)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the "
                             "size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        def _cast(param, value, param_id=None, param_groups=None, key=None):
            if isinstance(value, Tensor):
                return Optimizer._process_value_according_to_param_policy(
                    param, value, param_id, param_groups, key)
            if isinstance(value, dict):
                return {k: _cast(param, v, param_id=param_id, param_groups=param_groups, key=k)
                        for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return type(value)(_cast(param, v, param_id=param_id, param_groups=param_groups)
                                   for v in value)
            return value

        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = _cast(param, v, param_id=k,
                                     param_groups=state_dict["param_groups"])
            else:
                state[k] = v

        def update_group(group, new_group):
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self.__setstate__({"state": state, "param_groups": param_groups})
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    # ------------------------------------------------------------------ the fused / per-parameter step
    # SGD, Adam, AdamW, RMSprop and Adagrad update each param group either with one call of a fused
    # multi-tensor kernel (optim/_fused.py) or, when that kernel does not take the group (or the
    # flags ask for it), with their per-parameter Python path (the same rule, op by op). _step_groups
    # is that shared sequence; a subclass states only what differs:
    #
    #   _group_scalars(group) -> hp     the group's hyperparameters as Python numbers, hp[0] the lr
    #                                   (both paths receive hp; may raise for bad flag combinations)
    #   _kernel_takes_options(group, hp) whether the kernel takes these option values (default True)
    #   _fused_state(group, params) -> (state_lists, steps)
    #                                   creates the state the kernel needs and returns it: a tuple of
    #                                   per-parameter lists of state tensors (None entries allowed:
    #                                   SGD's buffers before the first step), the step counters or None
    #   _fused_update(group, params, grads, state_lists, steps, hp)   the one _fused.* call
    #   _single_tensor_step(group, params, hp)                         the per-parameter path
    #
    # Class attributes: _fused_differentiable_error (the message torch raises at step for a group
    # with fused=True and differentiable=True; None: no error) and _foreach_differentiable_error
    # (whether foreach=True with differentiable=True raises torch's AssertionError at step).
    _fused_differentiable_error = None
    _foreach_differentiable_error = False
    # torch's error for a sparse gradient (None: the per-parameter path takes them: SGD, Adagrad),
    # and with fused=True (the fused kernels take none)
    _sparse_grad_error = None
    _fused_sparse_grad_error = None

    def _check_sparse_grads(self, group):
        """Raises torch's error when this optimizer (or its fused=True variant) takes no sparse
        gradient; called for a param group holding one."""
        if self._sparse_grad_error is not None:
            raise RuntimeError(self._sparse_grad_error)
        if group.get("fused") and self._fused_sparse_grad_error is not None:
            raise RuntimeError(self._fused_sparse_grad_error)

    def _kernel_takes_options(self, group, hp):
        return True

    def _check_fused_flags(self, fused, foreach, differentiable):
        """torch.optim's constructor checks of fused=True (after the param groups are built)."""
        if fused:
            if differentiable:
                raise RuntimeError("`fused` does not support `differentiable`")
            if foreach:
                raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    def _step_groups(self, closure):
        """step() of the fused-kernel optimizers: evaluates `closure` (with grad enabled), then per
        param group with at least one gradient, one fused kernel call when _kernel_path says the
        kernel takes the group, else the per-parameter path."""
        loss = None
        if closure is not None:
            with flambeau.enable_grad():
                loss = closure()
        with flambeau.no_grad():
            for group in self.param_groups:
                params = [p for p in group["params"] if p._grad is not None]  # (Tensor.grad's slot)
                if not params:
                    continue
                hp = self._group_scalars(group)
                grads = [p._grad for p in params]
                entry = self._kernel_path(group, params, grads, hp)
                if entry is not None:
                    state_lists, steps = self._fused_state(group, params)
                    if _fused_state_ok(entry, state_lists, steps):
                        self._fused_update(group, params, grads, state_lists, steps, hp)
                        continue
                # (the kernel never takes sparse gradients: they all come this way)
                if any(g.__class__ is _SparseCoo for g in grads):
                    self._check_sparse_grads(group)
                self._single_tensor_step(group, params, hp)
        return loss

    def _kernel_path(self, group, params, grads, hp):
        """The group's _GroupCache entry when the fused kernel can take the group's parameters and
        grads (the state is checked by _fused_state_ok once created), else None. Needed:

        - the flags allow it: fused=True, foreach=True, or both None (the default); foreach=False
          with fused not True, or fused=False with foreach None, ask for the per-parameter path
          (what torch.optim runs for those flags on the CPU);
        - not `differentiable=True` (the kernels record no graph); a finite learning rate and
          option values the kernel takes (_kernel_takes_options);
        - every parameter a float32/float64 tensor, all on one device (the kernels run on the CPU
          and on CUDA; float32 and float64 may be mixed), no parameter twice in the group (the kernel would update it from
          several threads at once; the Python path updates it twice in turn): checked once per
          group and cached (_group_entry) while the group's parameter tensors stay the same;
        - each grad of its parameter's dtype and shape (the Python path would promote or broadcast
          another): checked every step, as grads are new tensors after zero_grad().

        Checked before the state is created so that the Python path, when taken, creates it as it
        always has (one parameter at a time, between the updates).
        """
        fused = group.get("fused")
        foreach = group.get("foreach")
        differentiable = group.get("differentiable", False)
        if fused:
            if differentiable and self._fused_differentiable_error:
                raise RuntimeError(self._fused_differentiable_error)
        elif foreach:
            if differentiable and self._foreach_differentiable_error:
                raise AssertionError("_foreach ops don't support autograd")
        elif fused is not None or foreach is not None:
            return None
        entry = self._group_entry(group, params, bool(fused))
        if not (entry.ok and _use_fused_kernels) or differentiable or not math.isfinite(hp[0]):
            return None
        if not self._kernel_takes_options(group, hp):
            return None
        for (dt, shape), g in zip(entry.meta, grads):
            if g.__class__ is _SparseCoo:
                return None
            gi = g._impl
            # (a grad on another device than its parameter fails on both paths: not checked)
            if gi.dtype != dt or gi.shape != shape:
                return None
        return entry

    def _group_entry(self, group, params, fused):
        """The cached parameter-side facts of `group` (a _GroupCache), recomputed when the list of
        parameter tensors with a grad changes (another parameter, or a parameter given new data:
        a TensorImpl's dtype, device and shape never change, so its identity is the key). With
        fused=True, raises torch's error for a parameter that is not floating point."""
        cache = self.__dict__.get("_group_cache")
        if cache is None:
            cache = self.__dict__["_group_cache"] = {}
        impls = [p._impl for p in params]
        entry = cache.get(id(group))
        if (entry is not None and entry.group is group and len(entry.impls) == len(impls)
                and all(map(is_, entry.impls, impls)) and (entry.fused or not fused)):
            return entry
        ok = len({id(p) for p in params}) == len(params)
        meta = []
        device = impls[0].device if impls else None
        for p, pi in zip(params, impls):
            dt = pi.dtype
            if fused and not p.is_floating_point():
                raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of "
                                   f"supported devices: {_FUSED_DEVICES} but {p.dtype} and {p.device.type}")
            if dt not in _FUSED_DTYPES or pi.device != device or device == "meta":
                ok = False  # (meta parameters: the per-parameter path's tensor ops have shape rules)
            meta.append((dt, pi.shape))
        entry = cache[id(group)] = _GroupCache(group, impls, ok, meta, fused)
        return entry

    @staticmethod
    def _step_tensor(fused=False, device=None, value=0.0):
        """A step counter holding `value`: torch's 0-dim tensor of the default float dtype on the
        CPU, or with fused=True a float32 one on the parameter's device (torch's
        `_get_scalar_dtype(is_fused)`)."""
        if fused:
            return flambeau.tensor(float(value), dtype=flambeau.float32, device=device)
        return flambeau.tensor(float(value), dtype=_scalar_dtype())


# ---------------------------------------------------------------------- fused-kernel eligibility
# False sends every step down the per-parameter Python path (tests and benchmarks compare the two).
_use_fused_kernels = True

# complex parameters go to the kernels as their (re, im) pairs (optim/_fused.py), as PyTorch updates them
_FUSED_DTYPES = ("float32", "float64", "complex64", "complex128")
_STEP_DTYPES = ("float32", "float64", "int64")
# where fused=True is accepted (torch's list for its build); the kernels run on both (one device per
# group: a group with parameters on several devices takes the per-parameter path)
_FUSED_DEVICES = ["cuda", "cpu"]


class _GroupCache:
    """What Optimizer._kernel_path learnt about one param group: the group and the TensorImpls of
    its parameters with a grad (strong references: their ids cannot be reused while cached), ok
    (all of them kernel-eligible and distinct), meta ((dtype, shape) per parameter, for the grad
    check), fused (whether fused=True's dtype check ran), and states: the TensorImpls of the state
    tensors last found kernel-eligible by _fused_state_ok (None: not yet)."""
    __slots__ = ("group", "impls", "ok", "meta", "fused", "states")

    def __init__(self, group, impls, ok, meta, fused):
        self.group, self.impls, self.ok, self.meta, self.fused = group, impls, ok, meta, fused
        self.states = None


def _fused_state_ok(entry, state_lists=(), steps=None):
    """The state half of the kernel's checks: each state tensor (an entry of a list in
    `state_lists`; None is skipped: SGD's not-yet-created momentum buffers) of its parameter's
    dtype, each step counter a 1-element tensor of float32/float64/int64 on the CPU or on the
    parameters' device. Normally true (the
    state is created like the parameter and load_state_dict casts it so); false for state set by
    hand to something else, which the Python path accepts. The result is cached on `entry` while
    the state tensors stay the same TensorImpls."""
    if not state_lists and steps is None:
        return True
    impls = [None if s is None else s._impl for lst in state_lists for s in lst]
    if steps is not None:
        impls += [s._impl for s in steps]
    old = entry.states
    if old is not None and len(old) == len(impls) and all(map(is_, old, impls)):
        return True
    n = len(entry.meta)
    for j, si in enumerate(impls[:len(state_lists) * n]):
        if si is not None and si.dtype != entry.meta[j % n][0]:
            return False
    if steps is not None:
        # CPU counters, or counters on the parameters' device (fused=True creates them there, as
        # torch): the kernel reads them with one device-to-host copy and writes them back in place.
        pdev = entry.impls[0].device if entry.impls else "cpu"
        for si in impls[len(state_lists) * n:]:
            if si.dtype not in _STEP_DTYPES or (si.device != "cpu" and si.device != pdev) or si.numel != 1:
                return False
    entry.states = impls
    return True


def _scalar_dtype():
    get_default = getattr(flambeau, "get_default_dtype", None)
    if get_default is not None and get_default() == flambeau.float64:
        return flambeau.float64
    return flambeau.float32


def _with_step_hooks(step):
    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        # (getattr: a subclass that never calls Optimizer.__init__, as accelerate's AcceleratedOptimizer
        # wrapping another optimizer, has no hook tables; PyTorch does not wrap its step then)
        for pre_hook in chain(_global_step_pre_hooks.values(),
                              getattr(self, "_optimizer_step_pre_hooks", _NO_HOOKS).values()):
            result = pre_hook(self, args, kwargs)
            if result is not None:
                if isinstance(result, tuple) and len(result) == 2:
                    args, kwargs = result
                else:
                    raise RuntimeError(f"{step} must return None or a tuple of (new_args, "
                                       f"new_kwargs), but got {result}.")
        if _PROFILER.recording:
            ev = _PROFILER.begin(f"Optimizer.step#{type(self).__name__}.step", "optimizer")
            try:
                out = step(self, *args, **kwargs)
            finally:
                _PROFILER.end(ev)
        else:
            out = step(self, *args, **kwargs)
        for post_hook in chain(getattr(self, "_optimizer_step_post_hooks", _NO_HOOKS).values(),
                               _global_step_post_hooks.values()):
            post_hook(self, args, kwargs)
        return out

    wrapper._wrapped_by_step_hooks = True
    return wrapper


def register_optimizer_step_pre_hook(hook):
    handle = _Handle(_global_step_pre_hooks)
    _global_step_pre_hooks[handle.id] = hook
    return handle


def register_optimizer_step_post_hook(hook):
    handle = _Handle(_global_step_post_hooks)
    _global_step_post_hooks[handle.id] = hook
    return handle


# ---------------------------------------------------------------------- in-place math helpers
# The update rules use PyTorch's in-place Tensor ops; these helpers fall back to compositions
# with the same arithmetic where the core does not provide the fused method.
def _add_(t, other, alpha=1.0):
    if alpha == 1.0:
        return t.add_(other)
    return t.add_(other * alpha)


def _check_adam_hparams(betas, eps, weight_decay):
    """torch.optim's checks of eps, betas and weight_decay for the Adam family, in its order."""
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def _addcmul_(t, a, b, value=1.0):
    f = getattr(t, "addcmul_", None)
    if f is not None:
        return f(a, b, value=value)
    return t.add_(a * b * value if value != 1.0 else a * b)


def _addcdiv_(t, a, b, value=1.0):
    f = getattr(t, "addcdiv_", None)
    if f is not None:
        return f(a, b, value=value)
    return t.add_((a / b) * value if value != 1.0 else a / b)


def _lerp_(t, end, weight):
    f = getattr(t, "lerp_", None)
    if f is not None:
        return f(end, weight)
    return t.add_((end - t) * weight)
