"""flambeau.nn.utils: gradient clipping, parameter/vector conversion, pruning, weight and spectral
normalisation, parametrizations, conv/linear + BatchNorm fusion, skip_init, functional_call."""
from . import prune, rnn  # noqa: F401
from . import parametrize, parametrizations, stateless, fusion  # noqa: F401
from .clip_grad import (clip_grad_norm_, clip_grad_norm, clip_grad_value_, get_total_norm,  # noqa: F401
                        clip_grads_with_norm_)
from .convert_parameters import parameters_to_vector, vector_to_parameters  # noqa: F401
from .fusion import (fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval,  # noqa: F401
                     fuse_linear_bn_weights)
from .init import skip_init  # noqa: F401
from . import memory_format  # noqa: F401
from .memory_format import convert_conv2d_weight_memory_format, convert_conv3d_weight_memory_format  # noqa: F401
# the functions shadow their submodules' names, as in PyTorch
from .spectral_norm import spectral_norm, remove_spectral_norm  # noqa: F401
from .weight_norm import weight_norm, remove_weight_norm  # noqa: F401

__all__ = ["prune", "parametrize", "parametrizations", "stateless", "fusion", "clip_grad_norm_",
           "clip_grad_norm", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_",
           "parameters_to_vector", "vector_to_parameters", "fuse_conv_bn_eval", "fuse_conv_bn_weights",
           "fuse_linear_bn_eval", "fuse_linear_bn_weights", "skip_init", "spectral_norm",
           "remove_spectral_norm", "weight_norm", "remove_weight_norm", "convert_conv2d_weight_memory_format",
           "convert_conv3d_weight_memory_format"]
