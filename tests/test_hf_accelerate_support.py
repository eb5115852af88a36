"""What accelerate and transformers' Trainer reach for beyond the training API (found running the Trainer under
flambeau.run, tests/scripts/test_hf_transformers.py): torch._dynamo.eval_frame.OptimizedModule, FSDP's module
paths and auto-wrap policies, and an Optimizer subclass that wraps another optimizer without calling
Optimizer.__init__ (accelerate's AcceleratedOptimizer)."""
import numpy as np
import torch

import flambeau


def test_eval_frame_optimized_module_is_what_compile_returns():
    m = flambeau.nn.Linear(2, 2)
    assert isinstance(flambeau.compile(m), flambeau._dynamo.eval_frame.OptimizedModule)
    assert not isinstance(m, flambeau._dynamo.eval_frame.OptimizedModule)
    f = flambeau.compiler.disable(lambda x: x + 1)
    assert flambeau._dynamo.eval_frame.innermost_fn(f)(1) == 2


def test_fsdp_module_paths_and_wrap_policies_match_pytorch():
    from flambeau.distributed.fsdp.fully_sharded_data_parallel import FullyShardedDataParallel, StateDictType
    from flambeau.distributed.fsdp import FullyShardedDataParallel as F2, MixedPrecisionPolicy, CPUOffloadPolicy
    from flambeau.distributed.fsdp import wrap as fwrap
    from torch.distributed.fsdp import wrap as twrap
    assert FullyShardedDataParallel is F2 and StateDictType.FULL_STATE_DICT is not None
    assert MixedPrecisionPolicy(param_dtype=flambeau.float32).param_dtype is flambeau.float32
    assert CPUOffloadPolicy().pin_memory is True
    pairs = [(flambeau.nn.Linear(2, 2), torch.nn.Linear(2, 2)),
             (flambeau.nn.MultiheadAttention(4, 2), torch.nn.MultiheadAttention(4, 2)),
             (flambeau.nn.ModuleList(), torch.nn.ModuleList())]
    for fm, tm in pairs:
        for recurse in (True, False):
            for numel in (10, 10 ** 9):
                assert fwrap.size_based_auto_wrap_policy(fm, recurse, numel) == \
                    twrap.size_based_auto_wrap_policy(tm, recurse, numel), (type(fm).__name__, recurse, numel)
    layer_f, layer_t = flambeau.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    for recurse in (True, False):
        assert fwrap.transformer_auto_wrap_policy(layer_f, recurse, 0, transformer_layer_cls={flambeau.nn.Linear}) == \
            twrap.transformer_auto_wrap_policy(layer_t, recurse, 0, transformer_layer_cls={torch.nn.Linear})
        assert fwrap.transformer_auto_wrap_policy(layer_f, False, 0, transformer_layer_cls={flambeau.nn.ReLU}) is False


def _wrapping_optimizer(lib):
    class Wrapping(lib.optim.Optimizer):  # accelerate's pattern: no Optimizer.__init__
        def __init__(self, optimizer):
            self.optimizer = optimizer

        @property
        def param_groups(self):
            return self.optimizer.param_groups

        def step(self, closure=None):
            self.optimizer.step(closure)

        def zero_grad(self, set_to_none=True):
            self.optimizer.zero_grad(set_to_none)
    return Wrapping


def test_optimizer_subclass_without_optimizer_init_steps_like_pytorch():
    rng = np.random.default_rng()
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    finals = []
    for lib in (flambeau, torch):
        w = lib.tensor(w0, requires_grad=True)
        opt = _wrapping_optimizer(lib)(lib.optim.SGD([w], lr=0.1, momentum=0.9))
        for _ in range(3):
            opt.zero_grad()
            (lib.tensor(x) @ w).pow(2).sum().backward()
            opt.step()
        finals.append(w.detach().numpy())
    np.testing.assert_allclose(finals[0], finals[1], rtol=1e-6, atol=1e-6)
