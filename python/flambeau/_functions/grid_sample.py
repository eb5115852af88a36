"""grid_sample and affine_grid (kernels: _C.grid_sample / _C.grid_sample_backward,
csrc/cpu/grid_sample.cpp; argument checks in csrc/ops/grid_sample.cpp; CUDA tensors go through the host,
host_route.py).

grid_sample is one Function (PyTorch's GridSampler2DBackward0, or GridSampler3DBackward0 for 5-D
input) whose backward calls the fused backward kernel once for the input and grid gradients together.
With create_graph=True those gradients are differentiable again, as PyTorch's: their values are still
the kernel's, their graph that of grid_sample_composed.py's version differentiated with a graph (any
order; nothing of it runs in first-order training).

affine_grid is composed: a constant base grid of normalized pixel coordinates (x, y, 1) times
theta^T with bmm, which gives the theta gradient through bmm's backward. The base grid follows
PyTorch's AffineGridGenerator (linspace(-1, 1, n), scaled by (n - 1) / n without align_corners, 0
for a unit dimension).
"""
import warnings

import numpy as np

from .. import _C
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs, no_grad as _no_grad
from .zero_link import link_zero_to
from .grid_sample_composed import graph_of, grid_sample_composed
from .host_route import HostRouted
from ..amp import _cast as _amp_cast

_on_host = HostRouted()  # CPU kernels only: CUDA tensors go through the host (host_route.py)

_MODES = ("bilinear", "nearest", "bicubic")
_PADDINGS = ("zeros", "border", "reflection")
_DEFAULT_AC_MSG = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since "
                   "1.3.0. Please specify align_corners=True if the old behavior is desired. See the "
                   "documentation of grid_sample for details.")


def _opt_wrap(impl):
    return None if impl is None else _wrap(impl)


class _GridSample(Function):
    _builtin = True
    _grad_fn_name = "GridSampler2DBackward0"

    @staticmethod
    def forward(ctx, input, grid, mode, padding_mode, align_corners):
        ctx.args = (mode, padding_mode, bool(align_corners))
        ctx.save_for_backward(input, grid)
        return _wrap(_on_host.grid_sample(input._impl, grid._impl, mode, padding_mode, bool(align_corners)))

    @staticmethod
    def backward(ctx, g):
        input, grid = ctx.saved_tensors
        mask = [bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1])]
        gi, gg = (_opt_wrap(t) for t in _on_host.grid_sample_backward(g._impl, input._impl, grid._impl, *ctx.args,
                                                                 mask))
        if _gs.enabled and (g._rg or input._rg or grid._rg):  # create_graph=True
            gi, gg = _differentiable(gi, gg, g, input, grid, ctx.args, mask)
        return gi, gg, None, None, None


class _GridSample3D(_GridSample):
    _grad_fn_name = "GridSampler3DBackward0"


def _differentiable(gi, gg, g, input, grid, args, mask):
    """The kernel's gradients gi, gg with the graph of the composed sampler's gradients (under
    create_graph=True). As PyTorch's, both require grad whenever g, input or grid does; nearest's grid
    gradient (zeros) has no gradient, its input gradient gives the grid a zero one."""
    from ..autograd import grad as _grad
    # A backward without create_graph inside a forward-AD level runs with the ops' gate open but no graph
    # recorded (grad_mode's fw_gate): this path needs one, and its result is then detached (as loss.py's).
    gate = _gs.fw_gate
    _gs.fw_gate = False
    try:
        x = input.view_as(input) if mask[0] else input
        gr = grid.view_as(grid) if mask[1] else grid
        wanted = [v for v, m in zip((x, gr), mask) if m]
        out = grid_sample_composed(x, gr, *args)
        graphs = [None, None]
        if out._rg:  # nearest with only the grid requiring grad: no path
            got = iter(_grad(out, wanted, g, create_graph=True, allow_unused=True))
            graphs = [next(got) if m else None for m in mask]
    finally:
        _gs.fw_gate = gate
    if gate:
        return gi, gg
    if gi is not None:
        gi = graph_of(gi, graphs[0], g, input, grid)
        if args[0] == "nearest":  # PyTorch's double backward gives the grid zeros through the input gradient
            gi = link_zero_to(gi, grid, twice="none")
    if gg is not None:
        gg = graph_of(gg, graphs[1], g, input, grid)
    return gi, gg


_FLOATS = ("float32", "float64", "float16", "bfloat16")


def _cast(t, dtype):
    return _wrap(_C.to(t._impl, dtype, t._impl.device, False))


@_amp_cast.fp32_op
def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Samples input [N, C, H, W] at grid [N, OH, OW, 2] ((x, y) in [-1, 1]) -> [N, C, OH, OW]; or
    input [N, C, D, H, W] at grid [N, OD, OH, OW, 3] (x, y, z) -> [N, C, OD, OH, OW] (bilinear is
    then trilinear; no bicubic)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"grid_sample(): argument 'input' must be Tensor, not {type(input).__name__}")
    if not isinstance(grid, Tensor):
        raise TypeError(f"grid_sample(): argument 'grid' must be Tensor, not {type(grid).__name__}")
    if mode not in _MODES:
        raise ValueError("nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', "
                         f"but got: '{mode}'")
    if padding_mode not in _PADDINGS:
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warnings.warn(_DEFAULT_AC_MSG, stacklevel=2)
        align_corners = False
    align_corners = bool(align_corners)
    idt, gdt = input._impl.dtype, grid._impl.dtype
    if input._impl.ndim in (4, 5) and input._impl.shape[0] == 0 and (gdt != idt or idt not in _FLOATS):
        # an empty batch: PyTorch's kernel has nothing to sample, so neither dtype is checked (the shapes are:
        # the float kernel runs on the empty operands)
        ft = idt if idt in _FLOATS else "float32"
        with _no_grad():
            out = _cast(grid_sample(_cast(input, ft), _cast(grid, ft), mode, padding_mode, align_corners), idt)
        # in the operands' graph, as PyTorch's; its double backward gives the input a (zero) gradient through
        # the grid's only (the input gradient does not depend on the input)
        return link_zero_to(out, input, grid, twice="zeros" if grid._rg else "none")
    if _gs.enabled and (input._rg or grid._rg):
        cls = _GridSample3D if input.dim() == 5 else _GridSample
        return cls.apply(input, grid, mode, padding_mode, align_corners)
    return _wrap(_on_host.grid_sample(input._impl, grid._impl, mode, padding_mode, align_corners))


# ---------------------------------------------------------------------------------------------------
# affine_grid

def _np_dtype(dtype):
    return np.float64 if str(dtype).endswith("float64") else np.float32


def _linspace_from_neg_one(n, align_corners, npdt):
    """AffineGridGenerator.cpp's linspace_from_neg_one, in the grid's dtype: linspace(-1, 1, n) as
    PyTorch's CPU kernel computes it (from the nearer end), times (n - 1) / n without align_corners."""
    if n <= 1:
        return np.zeros(1, dtype=npdt)
    one = npdt(1)
    step = (one - npdt(-1)) / npdt(n - 1)
    i = np.arange(n)
    r = np.where(i < n // 2, npdt(-1) + step * i.astype(npdt), one - step * (n - 1 - i).astype(npdt)).astype(npdt)
    if not align_corners:
        r = (r * npdt(n - 1)).astype(npdt) / npdt(n)
    return r.astype(npdt)


def affine_grid(theta, size, align_corners=None):
    """Sampling grid [N, H, W, 2] (or [N, D, H, W, 3]) of the affine maps theta [N, 2, 3] ([N, 3, 4])
    applied to the normalized output pixel coordinates, for grid_sample."""
    import flambeau

    if align_corners is None:
        warnings.warn(_DEFAULT_AC_MSG, stacklevel=2)
        align_corners = False
    if not isinstance(theta, Tensor):
        raise TypeError(f"affine_grid(): argument 'theta' must be Tensor, not {type(theta).__name__}")
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got torch.{theta._impl.dtype}")  # (PyTorch's)
    shown = size  # messages print size as given, as PyTorch's do
    size = tuple(int(s) for s in size)
    if len(size) == 4:
        if theta.dim() != 3 or theta.shape[-2] != 2 or theta.shape[-1] != 3:
            raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {shown}. "
                             f"Got {theta.shape}.")
        spatial = size[-2:]
    elif len(size) == 5:
        if theta.dim() != 3 or theta.shape[-2] != 3 or theta.shape[-1] != 4:
            raise ValueError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size {shown}. "
                             f"Got {theta.shape}.")
        spatial = size[-3:]
    else:
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {shown}.")
    if align_corners and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. See the "
                      "documentation of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {shown}")
    n = size[0]
    if theta.shape[0] != n:
        raise RuntimeError(f"affine_grid: theta has {theta.shape[0]} matrices ({list(theta.shape)}), but size "
                           f"{list(size)} asks for a batch of {n}")
    npdt = _np_dtype(theta.dtype)
    axes = [_linspace_from_neg_one(s, align_corners, npdt) for s in reversed(spatial)]  # x (W), y (H), z (D)
    mesh = np.meshgrid(*reversed(axes), indexing="ij")  # (D,) H, W order
    k = len(spatial)
    base = np.empty(tuple(spatial) + (k + 1,), dtype=npdt)
    for j in range(k):
        base[..., j] = mesh[k - 1 - j]
    base[..., k] = 1
    points = int(np.prod(spatial))
    base_t = flambeau.tensor(base.reshape(1, points, k + 1), dtype=theta.dtype, device=theta.device)
    grid = flambeau.bmm(base_t.expand(n, points, k + 1), theta.transpose(1, 2))
    return grid.reshape((n,) + tuple(spatial) + (k,))
