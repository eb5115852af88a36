"""Folding an eval-mode BatchNorm into the convolution or linear layer before it (PyTorch's
torch.nn.utils.fusion): y = bn(conv(x)) becomes y = conv'(x) with
W' = W * (gamma / sqrt(var + eps)) per output channel and b' = (b - mean) * gamma / sqrt(var + eps) + beta."""
import copy

import flambeau
from ..parameter import Parameter

__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights"]


def _check_bn_stats(bn):
    if getattr(bn, "running_mean", None) is None or getattr(bn, "running_var", None) is None:
        raise AssertionError("bn.running_mean and bn.running_var must not be None")


def fuse_conv_bn_eval(conv, bn, transpose=False):
    """A new convolution (a deep copy of conv) equal to bn(conv(x)) in eval mode. Both modules must
    be in eval mode; transpose=True for ConvTranspose (output channels on dim 1 of its weight)."""
    if conv.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    _check_bn_stats(bn)
    fused_conv = copy.deepcopy(conv)
    fused_conv.weight, fused_conv.bias = fuse_conv_bn_weights(
        fused_conv.weight, fused_conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight,
        bn.bias, transpose)
    return fused_conv


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose=False):
    """(fused weight, fused bias) as Parameters, for convolution weights and BatchNorm statistics
    (conv_b, bn_w, bn_b may be None)."""
    conv_weight_dtype = conv_w.dtype
    conv_bias_dtype = conv_b.dtype if conv_b is not None else conv_weight_dtype
    if conv_b is None:
        conv_b = flambeau.zeros_like(bn_rm)
    if bn_w is None:
        bn_w = flambeau.ones_like(bn_rm)
    if bn_b is None:
        bn_b = flambeau.zeros_like(bn_rm)
    bn_var_rsqrt = flambeau.rsqrt(bn_rv + bn_eps)
    if transpose:
        shape = [1, -1] + [1] * (len(conv_w.shape) - 2)
    else:
        shape = [-1, 1] + [1] * (len(conv_w.shape) - 2)
    fused_conv_w = (conv_w * (bn_w * bn_var_rsqrt).reshape(shape)).to(dtype=conv_weight_dtype)
    fused_conv_b = ((conv_b - bn_rm) * bn_var_rsqrt * bn_w + bn_b).to(dtype=conv_bias_dtype)
    return (Parameter(fused_conv_w, conv_w.requires_grad), Parameter(fused_conv_b, conv_b.requires_grad))


def fuse_linear_bn_eval(linear, bn):
    """A new Linear (a deep copy of linear) equal to bn(linear(x)) in eval mode (bn.num_features
    must be linear.out_features or 1)."""
    if linear.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    # bn's features must broadcast against linear's output features to keep the weight's shape
    if linear.out_features != bn.num_features and bn.num_features != 1:
        raise AssertionError("To fuse, linear.out_features == bn.num_features or bn.num_features == 1, "
                             f"got linear.out_features={linear.out_features} and "
                             f"bn.num_features={bn.num_features}")
    _check_bn_stats(bn)
    fused_linear = copy.deepcopy(linear)
    fused_linear.weight, fused_linear.bias = fuse_linear_bn_weights(
        fused_linear.weight, fused_linear.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight,
        bn.bias)
    return fused_linear


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    """(fused weight, fused bias) as Parameters, for Linear weights and BatchNorm statistics."""
    linear_weight_dtype = linear_w.dtype
    linear_bias_dtype = linear_b.dtype if linear_b is not None else linear_weight_dtype
    if linear_b is None:
        linear_b = flambeau.zeros_like(bn_rm)
    if bn_w is None:  # affine=False BatchNorm (PyTorch fails here)
        bn_w = flambeau.ones_like(bn_rm)
    if bn_b is None:
        bn_b = flambeau.zeros_like(bn_rm)
    bn_scale = bn_w * flambeau.rsqrt(bn_rv + bn_eps)
    fused_w = linear_w * bn_scale.unsqueeze(-1).to(dtype=linear_weight_dtype)
    fused_b = ((linear_b - bn_rm) * bn_scale + bn_b).to(dtype=linear_bias_dtype)
    return Parameter(fused_w, linear_w.requires_grad), Parameter(fused_b, linear_b.requires_grad)
