"""flambeau.nn: modules, parameters, functional ops, initialisers and utilities (PyTorch's API)."""
from .parameter import Parameter, Buffer, UninitializedParameter, UninitializedBuffer
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from . import functional, init, utils, parallel, grad
from . import attention  # torch.nn.attention: sdpa_kernel, CausalBias, flex_attention
from .parallel import DataParallel

__all__ = ["Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer", "DataParallel",
           "functional", "init", "utils", "parallel", "attention"] + list(_modules_all)
