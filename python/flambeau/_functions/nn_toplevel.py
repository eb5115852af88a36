"""The nn.functional ops PyTorch also exposes at top level (torch.conv2d, torch.dropout,
torch.batch_norm, ...), with the top-level *positional* signatures, which differ from F's in places:
torch.dropout(input, p, train), torch.batch_norm(input, weight, bias, running_mean, running_var,
training, momentum, eps, cudnn_enabled), torch.embedding(weight, indices, ...), losses taking an
int reduction (0 none, 1 mean, 2 sum), max_pool1d/2d returning values only, adaptive_max_pool1d
returning (values, indices). Each forwards to nn.functional (imported after the core package).

The top-level losses default to reduction 0 ('none'): that is what torch 2.13 does when the argument is
left out (torch.kl_div(x, t).shape == x.shape), whatever its stubs say.
"""
import warnings

from ..nn import functional as F

_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _reduction(r):
    if isinstance(r, str):
        return r
    try:
        return _REDUCTIONS[int(r)]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{r} is not a valid value for reduction (0: none, 1: mean, 2: sum)") from None


def _stride(stride):
    return None if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else stride


conv1d = F.conv1d
conv2d = F.conv2d
conv_transpose1d = F.conv_transpose1d
conv_transpose2d = F.conv_transpose2d
conv3d = F.conv3d
conv_transpose3d = F.conv_transpose3d
adaptive_avg_pool1d = F.adaptive_avg_pool1d
cosine_similarity = F.cosine_similarity
pairwise_distance = F.pairwise_distance
pixel_shuffle = F.pixel_shuffle
pixel_unshuffle = F.pixel_unshuffle
prelu = F.prelu
bilinear = F.bilinear
channel_shuffle = F.channel_shuffle
native_channel_shuffle = F.channel_shuffle


def max_pool1d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return F.max_pool1d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool2d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return F.max_pool2d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool3d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return F.max_pool3d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def avg_pool1d(input, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True):
    return F.avg_pool1d(input, kernel_size, _stride(stride), padding, ceil_mode, count_include_pad)


def adaptive_max_pool1d(input, output_size):
    return tuple(F.adaptive_max_pool1d(input, output_size, return_indices=True))


# ---------------------------------------------------------------- dropout family: (input, p, train)
def dropout(input, p, train):
    return F.dropout(input, p, train)


def dropout_(input, p, train):
    return F.dropout(input, p, train, inplace=True)


def alpha_dropout(input, p, train):
    return F.alpha_dropout(input, p, train)


def alpha_dropout_(input, p, train):
    return F.alpha_dropout(input, p, train, inplace=True)


def feature_dropout(input, p, train):
    """Whole channels (dim 1) zeroed: the mask has shape (N, C, 1, ...)."""
    return F._feature_dropout(input, p, train, False, input.dim())


def feature_dropout_(input, p, train):
    return F._feature_dropout(input, p, train, True, input.dim())


def feature_alpha_dropout(input, p, train):
    return F.feature_alpha_dropout(input, p, train)


def feature_alpha_dropout_(input, p, train):
    return F.feature_alpha_dropout(input, p, train, inplace=True)


# ---------------------------------------------------------------- normalization
def batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled):
    return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps, cudnn_enabled):
    return F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    return F.layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):
    return F.group_norm(input, num_groups, weight, bias, eps)


# ---------------------------------------------------------------- activations
def selu(input):
    return F.selu(input)


def selu_(input):
    return F.selu(input, inplace=True)


def celu(input, alpha=1.0):
    return F.celu(input, alpha)


def celu_(input, alpha=1.0):
    return F.celu(input, alpha, inplace=True)


def threshold(input, threshold, value, *, out=None):  # noqa: A002 - PyTorch's argument name
    r = F.threshold(input, threshold, value)
    if out is not None:
        from ._dispatch import _write_out
        return _write_out(out, r)
    return r


def threshold_(input, threshold, value):
    return F.threshold(input, threshold, value, inplace=True)


def hardshrink(input, lambd=0.5, *, out=None):
    r = F.hardshrink(input, lambd)
    if out is not None:
        from ._dispatch import _write_out
        return _write_out(out, r)
    return r


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, generator=None):
    return F.rrelu(input, lower, upper, training)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False, generator=None):
    return F.rrelu(input, lower, upper, training, inplace=True)


# ---------------------------------------------------------------- losses (int reduction)
def kl_div(input, target, reduction=0, *, log_target=False):
    with warnings.catch_warnings():  # torch.kl_div's 'mean' does not warn (F.kl_div's does)
        warnings.simplefilter("ignore", UserWarning)
        return F.kl_div(input, target, reduction=_reduction(reduction), log_target=log_target)


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None, reduction=0):
    return F.binary_cross_entropy_with_logits(input, target, weight, reduction=_reduction(reduction),
                                              pos_weight=pos_weight)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction=0):
    return F.cosine_embedding_loss(input1, input2, target, margin, reduction=_reduction(reduction))


def hinge_embedding_loss(input, target, margin=1.0, reduction=0):
    return F.hinge_embedding_loss(input, target, margin, reduction=_reduction(reduction))


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction=0):
    return F.margin_ranking_loss(input1, input2, target, margin, reduction=_reduction(reduction))


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, reduction=0):
    return F.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction=_reduction(reduction))


def poisson_nll_loss(input, target, log_input, full, eps, reduction):
    return F.poisson_nll_loss(input, target, log_input, full, eps=eps, reduction=_reduction(reduction))


# ---------------------------------------------------------------- embedding, padding
def embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    """torch.embedding(weight, indices, ...): weight first; padding_idx -1 (or any negative) means none."""
    return F.embedding(indices, weight, None if padding_idx is None or padding_idx < 0 else padding_idx,
                       scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def constant_pad_nd(input, pad, value=0):
    return F.pad(input, list(pad), "constant", value)


__all__ = """conv1d conv2d conv_transpose1d conv_transpose2d max_pool1d max_pool2d avg_pool1d adaptive_avg_pool1d
    adaptive_max_pool1d dropout dropout_ alpha_dropout alpha_dropout_ feature_dropout feature_dropout_
    feature_alpha_dropout feature_alpha_dropout_ batch_norm instance_norm layer_norm group_norm selu selu_ celu
    celu_ threshold threshold_ hardshrink rrelu rrelu_ kl_div binary_cross_entropy_with_logits
    cosine_embedding_loss hinge_embedding_loss margin_ranking_loss triplet_margin_loss poisson_nll_loss bilinear
    embedding constant_pad_nd channel_shuffle native_channel_shuffle cosine_similarity pairwise_distance
    pixel_shuffle pixel_unshuffle prelu""".split()
__all__ += ["conv3d", "conv_transpose3d", "max_pool3d"]
