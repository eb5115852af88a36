"""flambeau.nn.init: in-place parameter initialisers with PyTorch's names, defaults and distributions."""
import math
import warnings

import numpy as np

import flambeau

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
           "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_", "orthogonal_", "sparse_"]


def _gen_kw(generator):
    return {} if generator is None else {"generator": generator}


def calculate_gain(nonlinearity, param=None):
    """Recommended gain for a nonlinearity (PyTorch's table)."""
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    with flambeau.no_grad():
        return tensor.uniform_(a, b, **_gen_kw(generator))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    with flambeau.no_grad():
        return tensor.normal_(mean, std, **_gen_kw(generator))


def _erfinv(y):
    """Inverse error function of a tensor with values in (-1, 1): Giles' single-precision
    approximation refined by two Newton steps on erf (all in flambeau ops)."""
    if hasattr(y, "erfinv"):
        return y.erfinv()
    w = -((1.0 - y) * (1.0 + y)).log()
    # central region (w < 5)
    wc = w - 2.5
    p = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
              -0.00417768164, 0.246640727, 1.50140941):
        p = p * wc + c
    # tail region (w >= 5)
    wt = w.clamp(min=5.0).sqrt() - 3.0
    q = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
              0.00943887047, 1.00167406, 2.83297682):
        q = q * wt + c
    x = flambeau.where(w < 5.0, p, q) * y
    two_over_sqrt_pi = 2.0 / math.sqrt(math.pi)
    for _ in range(2):
        err = x.erf() - y
        x = x - err / (two_over_sqrt_pi * (-(x * x)).exp())
    return x


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with N(mean, std^2) truncated to [a, b] by inverse-CDF sampling, as PyTorch does."""
    def norm_cdf(x):
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The "
                      "distribution of values may be incorrect.", stacklevel=2)
    with flambeau.no_grad():
        lo = norm_cdf((a - mean) / std)
        hi = norm_cdf((b - mean) / std)
        # computed in float64 on the CPU (float64 is CPU-only in flambeau), then copied over
        u = flambeau.empty(tuple(tensor.shape), dtype=flambeau.float64)
        u.uniform_(2 * lo - 1, 2 * hi - 1, **_gen_kw(generator))
        u = u.clamp(min=-1.0 + 1e-15, max=1.0 - 1e-15)
        x = _erfinv(u) * (std * math.sqrt(2.0)) + mean
        x = x.clamp(min=a, max=b)
        tensor.copy_(x)
        return tensor


def constant_(tensor, val):
    with flambeau.no_grad():
        return tensor.fill_(val)


def ones_(tensor):
    with flambeau.no_grad():
        return tensor.fill_(1.0)


def zeros_(tensor):
    with flambeau.no_grad():
        return tensor.zero_()


def eye_(tensor):
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    with flambeau.no_grad():
        tensor.copy_(flambeau.eye(tensor.shape[0], tensor.shape[1], dtype=tensor.dtype,
                                  device=tensor.device))
    return tensor


def dirac_(tensor, groups=1):
    dimensions = tensor.dim()
    if dimensions not in [3, 4, 5]:
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tuple(tensor.shape)
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_chans_per_grp = sizes[0] // groups
    min_dim = min(out_chans_per_grp, sizes[1])
    arr = np.zeros(sizes)
    for g in range(groups):
        for d in range(min_dim):
            centre = tuple(s // 2 for s in sizes[2:])
            arr[(g * out_chans_per_grp + d, d) + centre] = 1
    with flambeau.no_grad():
        tensor.copy_(flambeau.from_numpy(arr).to(dtype=tensor.dtype, device=tensor.device))
    return tensor


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 "
                         "dimensions")
    num_input_fmaps = tensor.shape[1]
    num_output_fmaps = tensor.shape[0]
    receptive_field_size = 1
    for s in tensor.shape[2:]:
        receptive_field_size *= s
    return num_input_fmaps * receptive_field_size, num_output_fmaps * receptive_field_size


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor, gain=1, generator=None):
    """(Semi-)orthogonal matrix from the QR decomposition of a Gaussian matrix (sign-corrected)."""
    if tensor.dim() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    g = flambeau.empty((rows, cols), dtype=flambeau.float64)
    g.normal_(0.0, 1.0, **_gen_kw(generator))
    flat = g.numpy()
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    with flambeau.no_grad():
        tensor.copy_(flambeau.from_numpy(np.ascontiguousarray(q * gain).reshape(tuple(tensor.shape)))
                     .to(dtype=tensor.dtype, device=tensor.device))
    return tensor


def sparse_(tensor, sparsity, std=0.01, generator=None):
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    with flambeau.no_grad():
        tensor.normal_(0, std, **_gen_kw(generator))
        if num_zeros > 0:
            mask = np.ones((rows, cols))
            for col_idx in range(cols):
                row_indices = flambeau.randperm(rows).numpy()[:num_zeros]
                mask[row_indices, col_idx] = 0
            tensor.mul_(flambeau.from_numpy(mask).to(dtype=tensor.dtype, device=tensor.device))
    return tensor


# deprecated aliases without the trailing underscore, as in PyTorch
def _deprecate(meth):
    new_name = meth.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args, **kwargs):
        warnings.warn(f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
                      FutureWarning, stacklevel=2)
        return meth(*args, **kwargs)

    deprecated_init.__name__ = old_name
    return deprecated_init


uniform = _deprecate(uniform_)
normal = _deprecate(normal_)
constant = _deprecate(constant_)
eye = _deprecate(eye_)
dirac = _deprecate(dirac_)
xavier_uniform = _deprecate(xavier_uniform_)
xavier_normal = _deprecate(xavier_normal_)
kaiming_uniform = _deprecate(kaiming_uniform_)
kaiming_normal = _deprecate(kaiming_normal_)
orthogonal = _deprecate(orthogonal_)
sparse = _deprecate(sparse_)
