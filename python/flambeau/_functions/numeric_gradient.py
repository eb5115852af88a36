"""torch.gradient: derivatives of sampled values by finite differences, one tensor per dim.

Second-order central differences inside; first- or second-order one-sided differences at the two
ends (edge_order). The sample spacing is 1, one number for every dim, one number per dim, or per dim a
1-D tensor of coordinates (unevenly spaced samples). Written as PyTorch's ATen composite
(ReduceOps.cpp, gradient_helper / gradient_helper_float) in the same operation order, so the results
are PyTorch's bits, and built from differentiable ops, so it has gradients.
"""
import numbers

from .._dtype import get_default_dtype
from .._tensor import Tensor
from .._utils import wrap_dim


def _check(input, spacing, dim, edge_order):
    if edge_order not in (1, 2):
        raise RuntimeError("torch.gradient only supports edge_order=1 and edge_order=2.")
    if dim is None:
        dims = list(range(input.dim()))
    elif isinstance(dim, numbers.Integral):
        dims = [wrap_dim(int(dim), input.dim())]
    else:
        dims = [wrap_dim(int(d), input.dim()) for d in dim]
        if len(set(dims)) != len(dims):
            raise RuntimeError("torch.gradient expected each dim to appear once, got dim=" + str(list(dim)))
    for d in dims:
        if input.shape[d] < edge_order + 1:
            raise RuntimeError("torch.gradient expected each dimension size to be at least edge_order+1")
    if isinstance(spacing, (list, tuple)) and len(spacing) != len(dims):
        if dim is None:
            raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar, or a list of length "
                               f"equal to 'self.dim() = {input.dim()}', since dim argument was not given, but got "
                               f"a list of length {len(spacing)}")
        raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar or it's spacing and dim "
                           f"arguments to have the same length, but got a spacing argument of length {len(spacing)} "
                           f"and a dim argument of length {len(dims)}.")
    return dims


def _cat_on(prepend, center, append, d):
    from .join import cat
    return cat([prepend, center, append], d)


def _uniform(x, h, d, edge_order):
    n = x.shape[d]
    center = (x.narrow(d, 2, n - 2) - x.narrow(d, 0, n - 2)) / h
    if edge_order == 1:
        prepend = (x.narrow(d, 1, 1) - x.narrow(d, 0, 1)) / h
        append = (x.narrow(d, n - 1, 1) - x.narrow(d, n - 2, 1)) / h
    else:
        prepend = (-1.5 * x.narrow(d, 0, 1) + 2 * x.narrow(d, 1, 1) - 0.5 * x.narrow(d, 2, 1)) / h
        append = (0.5 * x.narrow(d, n - 3, 1) - 2 * x.narrow(d, n - 2, 1) + 1.5 * x.narrow(d, n - 1, 1)) / h
    return _cat_on(prepend, center / 2, append, d)


def _coordinates(x, coords, d, edge_order):
    n = x.shape[d]
    if coords.dim() != 1 or coords.shape[0] != n:
        raise RuntimeError(f"torch.gradient expected each tensor to be on the same device and to have as many "
                           f"coordinates as the size of dim {d} ({n}), got shape {tuple(coords.shape)}")
    shape = [1] * x.dim()
    shape[d] = -1
    dx = coords.diff(1, 0)
    dx1, dx2 = dx[:-1], dx[1:]
    a = (-dx2 / (dx1 * (dx1 + dx2))).reshape(shape)
    b = ((dx2 - dx1) / (dx1 * dx2)).reshape(shape)
    c = (dx1 / (dx2 * (dx1 + dx2))).reshape(shape)
    center = a * x.narrow(d, 0, n - 2) + b * x.narrow(d, 1, n - 2) + c * x.narrow(d, 2, n - 2)
    if edge_order == 1:
        prepend = (x.narrow(d, 1, 1) - x.narrow(d, 0, 1)) / dx[0]
        append = (x.narrow(d, n - 1, 1) - x.narrow(d, n - 2, 1)) / dx[-1]
    else:
        a = -(2.0 * dx[0] + dx[1]) / (dx[0] * (dx[0] + dx[1]))
        b = (dx[0] + dx[1]) / (dx[0] * dx[1])
        c = (-dx[0]) / (dx[1] * (dx[0] + dx[1]))
        prepend = a * x.narrow(d, 0, 1) + b * x.narrow(d, 1, 1) + c * x.narrow(d, 2, 1)
        a = (dx[-1]) / (dx[-2] * (dx[-1] + dx[-2]))
        b = -(dx[-1] + dx[-2]) / (dx[-1] * dx[-2])
        c = (2 * dx[-1] + dx[-2]) / (dx[-1] * (dx[-1] + dx[-2]))
        append = a * x.narrow(d, n - 3, 1) + b * x.narrow(d, n - 2, 1) + c * x.narrow(d, n - 1, 1)
    return _cat_on(prepend, center, append, d)


def gradient(input, *, spacing=1, dim=None, edge_order=1):
    """(df/dx_d for each d in dim): torch.gradient's finite differences (see the module docstring)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"gradient(): argument 'input' must be Tensor, not {type(input).__name__}")
    dims = _check(input, spacing, dim, edge_order)
    x = input
    if not x.dtype.is_floating_point:
        x = x.to(get_default_dtype())
    if isinstance(spacing, Tensor) and spacing.dim() == 0:
        spacing = spacing.item()
    if isinstance(spacing, (list, tuple)):
        per_dim = list(spacing)
    else:
        per_dim = [spacing] * len(dims)
    out = []
    for d, h in zip(dims, per_dim):
        if isinstance(h, Tensor):
            if h.dim() == 0:
                out.append(_uniform(x, h.item(), d, edge_order))
            else:
                coords = h if h.dtype.is_floating_point else h.to(x.dtype)
                out.append(_coordinates(x, coords, d, edge_order))
        elif isinstance(h, numbers.Number):
            out.append(_uniform(x, h, d, edge_order))
        else:
            raise TypeError(f"gradient(): spacing must be a number, a list of numbers or a list of 1-D tensors, "
                            f"got {type(h).__name__}")
    return tuple(out)


__all__ = ["gradient"]
