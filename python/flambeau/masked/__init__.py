"""torch.masked: reductions and normalizations over the elements a boolean mask selects (_ops.py), and the
MaskedTensor that carries its mask through ops (_masked_tensor.py)."""
from ._ops import (sum, prod, cumsum, cumprod, amax, amin, argmax, argmin, mean, median, logsumexp,  # noqa: F401,A004
                   logaddexp, norm, var, std, softmax, log_softmax, softmin, normalize)
from ._masked_tensor import MaskedTensor, masked_tensor, as_masked_tensor, is_masked_tensor  # noqa: F401
from . import _ops  # noqa: F401

__all__ = ["amax", "amin", "argmax", "argmin", "as_masked_tensor", "cumprod", "cumsum", "is_masked_tensor",
           "log_softmax", "logaddexp", "logsumexp", "masked_tensor", "MaskedTensor", "mean", "median", "norm",
           "normalize", "prod", "softmax", "softmin", "std", "sum", "var"]
