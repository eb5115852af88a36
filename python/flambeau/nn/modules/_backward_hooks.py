"""nn.Module full backward hooks: PyTorch's BackwardHook (torch/utils/hooks.py), on flambeau's autograd.

How it works (the same design as PyTorch's, so the hooks see the same values):

- Before forward, the module's positional Tensor arguments go through `BackwardHookFunction`, an
  identity autograd Function, so the module's computation hangs below one graph node whose
  incoming-edge gradients are exactly d(loss)/d(inputs).
- After forward (and after the forward hooks), the module's output Tensors (the result itself or
  the Tensors of a result tuple) go through a second BackwardHookFunction node.
- In backward, a post-hook on the output node records grad_output (with None for outputs that got
  no gradient and for non-Tensor outputs), lets the backward pre-hooks replace it, and sends it
  into the module. A post-hook on the input node then calls the full backward hooks with
  (module, grad_input, grad_output); a hook may return a new grad_input. Both nodes are shared by
  all inputs / all outputs, so a hook fires once per backward however many outputs are used.
- When no input requires grad (a first layer, say), there is no input node: the hooks are called
  from the output node with grad_input all None, with PyTorch's warning.

As in PyTorch, grad_input holds None for non-Tensor arguments, and zeros for Tensor arguments that
do not require grad while another one does (the identity node's gradient for them). The outputs
of the identity nodes behave as views created inside a custom Function: modifying them in place
under autograd raises (the node class is marked `_forbid_inplace`; the check is _functions._dispatch._check_custom_view_inplace).
"""
import warnings

from flambeau import _C
from flambeau._tensor import Tensor, _wrap
from flambeau.autograd.function import Function
from flambeau.autograd.grad_mode import _state as _gs

__all__ = ["BackwardHook", "BackwardHookFunction"]


class BackwardHookFunction(Function):
    """Identity on any number of Tensors; its node is where module backward hooks attach."""

    @staticmethod
    def forward(ctx, *args):
        ctx.mark_non_differentiable(*[a for a in args if not a.requires_grad])
        # Post-hooks must see the raw grad_outputs (None where no gradient arrived), as PyTorch's
        # do; the zeros a Function's backward normally gets are made here instead.
        ctx.set_materialize_grads(False)
        return args

    @staticmethod
    def backward(ctx, *grads):
        meta = ctx._out_meta
        out = []
        for g, m in zip(grads, meta):
            if g is None and m is not None:
                shape, dt, dev = m
                g = _wrap(_C.full(shape, 0, dt, dev))
            out.append(g)
        return tuple(out)


# Its node returns a gradient for every Tensor input (zeros for those that do not require grad,
# as PyTorch's does): the engine's per-input check would turn those into None before the hooks.
BackwardHookFunction._backward_cls._validate = False
# Outputs of this node are views made inside a custom Function: no in-place writes under autograd.
BackwardHookFunction._backward_cls._forbid_inplace = True

class BackwardHook:
    """Per-call helper that wires a module's full backward (pre-)hooks into the graph
    (PyTorch's torch.utils.hooks.BackwardHook)."""

    def __init__(self, module, user_hooks, user_pre_hooks):
        self.user_hooks = user_hooks
        self.user_pre_hooks = user_pre_hooks
        self.module = module
        self.grad_outputs = None
        self.n_outputs = -1
        self.output_tensors_index = None
        self.n_inputs = -1
        self.input_tensors_index = None

    @staticmethod
    def _pack_with_none(indices, values, size):
        res = [None] * size
        for idx, val in zip(indices, values):
            res[idx] = val
        return tuple(res)

    @staticmethod
    def _unpack_none(indices, values):
        return tuple(values[idx] for idx in indices)

    def _set_user_hook(self, grad_fn):
        def hook(grad_input, _):
            if self.grad_outputs is None:
                # Gradient reached the module's inputs without passing through its outputs
                # (e.g. double backward): nothing to report.
                return None
            res = self._pack_with_none(self.input_tensors_index, grad_input, self.n_inputs)
            for user_hook in self.user_hooks:
                out = user_hook(self.module, res, self.grad_outputs)
                if out is None:
                    continue
                if len(out) != len(res):
                    raise RuntimeError("Backward hook returned an invalid number of grad_input, "
                                       f"got {len(out)}, but expected {len(res)}")
                res = out
            self.grad_outputs = None
            return self._unpack_none(self.input_tensors_index, res)

        grad_fn.register_hook(hook)

    def _apply_on_tensors(self, fn, args):
        tensors_idx = []
        tensors = []
        requires_grad = False
        for i, arg in enumerate(args):
            if isinstance(arg, Tensor):
                tensors_idx.append(i)
                tensors.append(arg)
                requires_grad |= bool(arg._rg)
        if not (requires_grad and _gs.enabled):
            return args, None
        new_tensors = BackwardHookFunction.apply(*tensors)
        if len(new_tensors) == 0:
            raise RuntimeError("Cannot set Module backward hook for a Module with no input Tensors.")
        grad_fns = [t.grad_fn for t in new_tensors
                    if t.grad_fn is not None and t.grad_fn.name() == "BackwardHookFunctionBackward"]
        if not grad_fns:
            raise RuntimeError("Error while setting up backward hooks: no BackwardHookFunctionBackward node "
                               "was recorded.")
        fn(grad_fns[0])
        arg_list = list(args)
        for idx, val in zip(tensors_idx, new_tensors):
            arg_list[idx] = val
        if type(args) is tuple:
            out = tuple(arg_list)
        else:
            out = type(args)(*arg_list)  # a namedtuple
        return out, tensors_idx

    def setup_input_hook(self, args):
        res, input_idx = self._apply_on_tensors(self._set_user_hook, args)
        self.n_inputs = len(args)
        self.input_tensors_index = input_idx
        return res

    def setup_output_hook(self, args):
        def fn(grad_fn):
            def hook(_, grad_output):
                self.grad_outputs = self._pack_with_none(self.output_tensors_index, grad_output,
                                                         self.n_outputs)
                if self.user_pre_hooks:
                    expected_len = len(self.grad_outputs)
                    for user_pre_hook in self.user_pre_hooks:
                        hook_grad_outputs = user_pre_hook(self.module, self.grad_outputs)
                        if hook_grad_outputs is None:
                            continue
                        actual_len = len(hook_grad_outputs)
                        if actual_len != expected_len:
                            raise RuntimeError("Backward pre hook returned an invalid number of grad_output, "
                                               f"got {actual_len}, but expected {expected_len}")
                        self.grad_outputs = hook_grad_outputs
                local_grad_outputs = self.grad_outputs
                if self.input_tensors_index is None:
                    # No input requires grad: no input node will fire, so call the hooks now.
                    warnings.warn("Full backward hook is firing when gradients are computed with respect to "
                                  "module outputs since no inputs require gradients. See "
                                  "https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
                                  "#torch.nn.Module.register_full_backward_hook for more details.",
                                  stacklevel=5)
                    grad_inputs = self._pack_with_none([], [], self.n_inputs)
                    for user_hook in self.user_hooks:
                        res = user_hook(self.module, grad_inputs, self.grad_outputs)
                        if res is not None and not (isinstance(res, tuple) and all(el is None for el in res)):
                            raise RuntimeError("Backward hook for Modules where no input requires "
                                               "gradient should always return None or None for all gradients.")
                    self.grad_outputs = None
                if local_grad_outputs is not None:
                    return tuple(local_grad_outputs[i] for i in self.output_tensors_index)
                return None

            grad_fn.register_hook(hook)

        is_tuple = True
        if not isinstance(args, tuple):
            args = (args,)
            is_tuple = False
        res, output_idx = self._apply_on_tensors(fn, args)
        self.n_outputs = len(args)
        self.output_tensors_index = output_idx
        if not is_tuple:
            res = res[0]
        return res
