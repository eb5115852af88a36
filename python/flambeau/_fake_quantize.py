"""Fake quantization (quantization-aware training): torch.fake_quantize_per_tensor_affine,
fake_quantize_per_channel_affine and fused_moving_avg_obs_fake_quant.

Forward (PyTorch's CPU kernels, float32 arithmetic, inv = 1.0f / float(scale)):
    q = nearbyint(x * inv) + zero_point;  y = (clamp(q, quant_min, quant_max) - zero_point) * scale
Backward: the straight-through estimator, grad where quant_min <= q <= quant_max and 0 elsewhere.
Composed from flambeau's float ops, each of which rounds once as the C++ kernel does (the products
of a float32 by a float32-exact scalar are the same whether formed in float or double).

fused_moving_avg_obs_fake_quant is the op behind FusedMovingAvgObsFakeQuantize (the x86/fbgemm QAT
qconfig): moving-average min/max in float32, then qparams by fbgemm's ChooseQuantizationParams
(double intermediate, float scale; `_choose_qparams` below), then the fake quantization above.
"""
import numpy as np

from ._tensor import Tensor
from ._dtype import float32
from .autograd.function import Function


def _scalar_scale(scale, op):
    if isinstance(scale, Tensor):
        if scale.numel() != 1:
            raise RuntimeError(f"{op}: expected a one-element scale tensor, got shape {tuple(scale.shape)}")
        scale = scale.item()
    return float(np.float32(scale))


def _scalar_zp(zp, op):
    if isinstance(zp, Tensor):
        if zp.numel() != 1:
            raise RuntimeError(f"{op}: expected a one-element zero_point tensor, got shape {tuple(zp.shape)}")
        zp = zp.item()
    return int(zp)


def _check_range(op, zp_min, zp_max, quant_min, quant_max, x):
    if quant_min > quant_max:
        raise RuntimeError(f"{op}: `quant_min` ({quant_min}) should be less than or equal to `quant_max` "
                           f"({quant_max}).")
    if not x.is_floating_point():
        raise RuntimeError(f"{op}: expected a floating-point input, got {x.dtype} of shape {tuple(x.shape)}")
    if zp_min < quant_min or zp_max > quant_max:
        raise RuntimeError(f"{op}: `zero_point` must be between `quant_min` ({quant_min}) and `quant_max` "
                           f"({quant_max}).")


def _fake_quant(x, inv, scale, zp, quant_min, quant_max):
    """(output, mask) for reciprocal scale(s) `inv`, scale(s) and zero point(s) (numbers or tensors
    broadcasting against x)."""
    q = (x * inv).round() + zp
    mask = (q >= quant_min) & (q <= quant_max)
    return (q.clamp(quant_min, quant_max) - zp) * scale, mask


class _FakeQuantizeFunction(Function):
    """The straight-through gradient: grad * mask (no gradient for the qparams)."""

    @staticmethod
    def forward(ctx, x, inv, scale, zp, quant_min, quant_max):
        out, mask = _fake_quant(x, inv, scale, zp, quant_min, quant_max)
        ctx.save_for_backward(mask)
        return out

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None, None, None, None


def fake_quantize_per_tensor_affine(input, scale, zero_point, quant_min, quant_max):
    """torch.fake_quantize_per_tensor_affine(input, scale, zero_point, quant_min, quant_max); scale and
    zero_point may be numbers or one-element tensors."""
    op = "fake_quantize_per_tensor_affine"
    s = _scalar_scale(scale, op)
    z = _scalar_zp(zero_point, op)
    _check_range(op, z, z, quant_min, quant_max, input)
    inv = float(np.float32(1.0) / np.float32(s))
    return _FakeQuantizeFunction.apply(input, inv, s, z, quant_min, quant_max)


def fake_quantize_per_channel_affine(input, scale, zero_point, axis, quant_min, quant_max):
    """torch.fake_quantize_per_channel_affine(input, scale, zero_point, axis, quant_min, quant_max):
    scale (float32) and zero_point (int32) hold one value per slice of `axis`."""
    from ._creation import from_numpy
    op = "fake_quantize_per_channel_affine"
    nd = input.dim()
    if not -nd <= axis < nd:
        raise RuntimeError(f"{op}: `axis` ({axis}) must be between 0 and the number of dimensions of the input "
                           f"(shape {tuple(input.shape)})")
    axis %= nd
    n = input.shape[axis]
    if scale.dim() != 1 or zero_point.dim() != 1 or scale.shape[0] != n or zero_point.shape[0] != n:
        raise RuntimeError(f"{op}: dimensions of scale ({tuple(scale.shape)}) and zero_point "
                           f"({tuple(zero_point.shape)}) must match the size of axis {axis} of the input "
                           f"({tuple(input.shape)})")
    if zero_point.is_floating_point():
        raise NotImplementedError(f"{op}: float zero points (per_channel_affine_float_qparams) are not supported "
                                  "by flambeau")
    zl = zero_point.tolist()
    _check_range(op, min(zl) if zl else 0, max(zl) if zl else 0, quant_min, quant_max, input)
    shape = [1] * nd
    shape[axis] = n
    s_np = scale.detach().cpu().numpy().astype(np.float32)
    inv = from_numpy((np.float32(1.0) / s_np).astype(np.float32)).reshape(shape).to(input.device)
    s = from_numpy(s_np).reshape(shape).to(input.device)
    z = zero_point.detach().to(float32).reshape(shape)
    if input.dtype is not float32:
        inv, s, z = inv.to(input.dtype), s.to(input.dtype), z.to(input.dtype)
    return _FakeQuantizeFunction.apply(input, inv, s, z, quant_min, quant_max)


def _choose_qparams(mn, mx, qmin, qmax, preserve_sparsity, reduce_range=False, fbgemm=True):
    """ChooseQuantizationParams: fbgemm's (fbgemm=True: the fused observer op) or PyTorch's quant_utils
    one (the dynamic linear's: a small-scale cutoff, another error estimate for the zero point).
    Returns (scale as a float32-exact Python float, int zero point); float32 where the C++ works in
    float, float64 where it works in double."""
    f = np.float32
    mn, mx = f(mn), f(mx)
    if mn > mx:
        raise RuntimeError("In ChooseQuantizationParams, min should be less than or equal to max")
    if reduce_range:
        qmin, qmax = int(qmin / 2), int(qmax / 2)  # C++ division truncates toward zero
    if mn < 0 and mx > 0 and preserve_sparsity:
        sym_qmin = -((qmax - qmin) // 2 + 1)
        sym_qmax = (qmax - qmin) // 2
        max_scale = float(max(abs(f(mn / f(sym_qmin))), abs(f(mx / f(sym_qmax)))))
        mn = f(max_scale * sym_qmin)
        mx = f(max_scale * sym_qmax)
    mn = min(mn, f(0.0))
    mx = max(mx, f(0.0))
    scale = (float(mx) - float(mn)) / (qmax - qmin)
    if f(scale) == 0 or np.isinf(f(1.0) / f(scale)):
        scale = 0.1
    small = float(f(6.1e-5))
    if not fbgemm and scale < small:
        org = f(scale)
        scale = small
        if mn == 0:
            mx = f(small * (qmax - qmin))
        elif mx == 0:
            mn = f(-small * (qmax - qmin))
        else:
            amp = f(f(small) / org)
            mn, mx = f(mn * amp), f(mx * amp)
    zp_min = qmin - float(mn) / scale
    zp_max = qmax - float(mx) / scale
    sign = 1 if fbgemm else -1
    err_min = abs(qmin) + sign * abs(float(mn) / scale)
    err_max = abs(qmax) + sign * abs(float(mx) / scale)
    init = zp_min if err_min < err_max else zp_max
    if mn < 0 and mx > 0 and preserve_sparsity:
        init = (qmin + qmax) / 2
    if init < qmin:
        zp = qmin
    elif init > qmax:
        zp = qmax
    else:
        zp = int(np.rint(init))
    return float(f(scale)), zp


def fused_moving_avg_obs_fake_quant(input, observer_on, fake_quant_on, running_min, running_max, scale, zero_point,
                                    averaging_const, quant_min, quant_max, ch_axis, per_row_fake_quant=False,
                                    symmetric_quant=False):
    """torch.fused_moving_avg_obs_fake_quant: updates running_min/running_max (moving average) and
    scale/zero_point in place, returns the fake-quantized input."""
    from . import no_grad
    from ._creation import tensor as _tensor
    op = "fused_moving_avg_obs_fake_quant"
    f = np.float32
    c = f(averaging_const)
    with no_grad():
        x = input.detach()
        if int(observer_on.reshape(-1)[0].item()):
            if per_row_fake_quant:
                if ch_axis != 0:
                    raise RuntimeError(f"{op}: Per-channel FakeQuant in fused_moving_avg_obs_fake_quant is only "
                                       "supported on axis == 0")
                rows = x.reshape(x.shape[0], -1)
                cur_min, cur_max = rows.amin(1).numpy().astype(f), rows.amax(1).numpy().astype(f)
            else:
                cur_min = np.array([x.min().item()], dtype=f)
                cur_max = np.array([x.max().item()], dtype=f)
            if running_min.numel() != cur_min.size:  # the per-channel observer's buffers start empty
                running_min.resize_((cur_min.size,))
                running_max.resize_(running_min.shape)
                running_min.fill_(float("inf"))
                running_max.fill_(float("-inf"))
            rmin = running_min.reshape(-1).numpy().astype(f)
            rmax = running_max.reshape(-1).numpy().astype(f)
            with np.errstate(invalid="ignore"):  # (the moving average of an unset, infinite entry is not used)
                new_min = np.where(np.isinf(rmin), cur_min, rmin + c * (cur_min - rmin)).astype(f)
                new_max = np.where(np.isinf(rmax), cur_max, rmax + c * (cur_max - rmax)).astype(f)
            running_min.copy_(_tensor(new_min.tolist() if running_min.dim() else float(new_min[0])))
            running_max.copy_(_tensor(new_max.tolist() if running_max.dim() else float(new_max[0])))
        if not int(fake_quant_on.reshape(-1)[0].item()):
            return input.clone()
        mins = running_min.reshape(-1).tolist()
        maxs = running_max.reshape(-1).tolist()
        qp = [_choose_qparams(a, b, quant_min, quant_max, symmetric_quant) for a, b in zip(mins, maxs)]
        if scale.numel() != len(qp):
            scale.resize_((len(qp),))
            zero_point.resize_((len(qp),))
        scale.copy_(_tensor([s for s, _ in qp], dtype=scale.dtype))
        zero_point.copy_(_tensor([z for _, z in qp], dtype=zero_point.dtype))
    if per_row_fake_quant:
        return fake_quantize_per_channel_affine(input, scale, zero_point, ch_axis, quant_min, quant_max)
    return fake_quantize_per_tensor_affine(input, scale, zero_point, quant_min, quant_max)
