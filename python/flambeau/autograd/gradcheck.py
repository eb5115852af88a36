"""gradcheck / gradgradcheck: analytical gradients against float64 central differences."""
from .. import _tensor


class GradcheckError(RuntimeError):
    pass


def _flatten_inputs(inputs):
    Tensor = _tensor.Tensor
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    return tuple(inputs)


def _outputs(func, inputs):
    Tensor = _tensor.Tensor
    out = func(*inputs)
    if isinstance(out, Tensor):
        return (out,)
    return tuple(o for o in out if isinstance(o, Tensor))


def _numerical_jacobian(func, inputs, k, out_idx, eps):
    """d output[out_idx] / d inputs[k] by central differences, shape (numel_in, numel_out)."""
    import numpy as np
    x = inputs[k]
    contiguous = x.is_contiguous()
    n = x.numel()
    cols = []
    if True:  # not under no_grad: func may itself differentiate (gradgradcheck)
        # Row-major copies: reshape(-1) of them is a view, so writing one element perturbs them.
        base = x.detach().clone(memory_format=_contiguous())
        for i in range(n):
            orig = float(base.reshape(-1)[i].item())
            vals = []
            for delta in (eps, -eps):
                pert = base.clone()
                pert.reshape(-1)[i] = orig + delta
                if contiguous:
                    x.data.copy_(pert)
                    args = inputs
                else:
                    args = tuple(pert if j == k else a for j, a in enumerate(inputs))
                out = _outputs(func, args)[out_idx]
                vals.append(out.detach().to(dtype=_float64()).reshape(-1).cpu().numpy().copy())
            cols.append((vals[0] - vals[1]) / (2 * eps))
        if contiguous:
            x.data.copy_(base)
    return np.stack(cols, 0) if cols else np.zeros((0, 0))


def _contiguous():
    from .._memory_format import contiguous_format
    return contiguous_format


def _float64():
    from .._dtype import float64
    return float64


def _analytical_jacobian(func, inputs, out_idx, diff_idx):
    """Rows of the Jacobian by backward passes with one-hot gradients: (numel_in, numel_out) per input."""
    import numpy as np
    from . import grad as _grad
    from .._creation import zeros_like
    outs = _outputs(func, inputs)
    out = outs[out_idx]
    m = out.numel()
    jac = [np.zeros((inputs[k].numel(), m)) for k in diff_idx]
    for j in range(m):
        g = zeros_like(out, memory_format=_contiguous())  # row-major: reshape(-1) below is a view
        g.reshape(-1)[j] = 1.0
        grads = _grad(out, [inputs[k] for k in diff_idx], g, retain_graph=True, allow_unused=True)
        for col, (k, gk) in enumerate(zip(diff_idx, grads)):
            if gk is not None:
                jac[col][:, j] = gk.detach().to(dtype=_float64()).reshape(-1).cpu().numpy()
    return jac


def _forward_jacobian(func, inputs, out_idx, diff_idx):
    """Rows of the Jacobian by forward-mode passes with one-hot tangents: (numel_in, numel_out) per input."""
    import numpy as np
    from . import forward_ad
    from .._creation import zeros
    jac = []
    for k in diff_idx:
        x = inputs[k]
        rows = []
        for i in range(x.numel()):
            t = zeros(tuple(x.shape), dtype=x.dtype, device=x.device)
            t.reshape(-1)[i] = 1.0
            with forward_ad.dual_level():
                args = tuple(forward_ad.make_dual(a, t) if j == k else a for j, a in enumerate(inputs))
                out = _outputs(func, args)[out_idx]
                tangent = forward_ad.unpack_dual(out).tangent
                rows.append(np.zeros(out.numel()) if tangent is None else
                            tangent.detach().to(dtype=_float64()).reshape(-1).cpu().numpy().copy())
        jac.append(np.stack(rows, 0) if rows else np.zeros((0, 0)))
    return jac


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, nondet_tol=0.0,
              check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
              check_batched_forward_grad=False, check_forward_ad=False, check_backward_ad=True,
              fast_mode=False, masked=None):
    """Checks func's analytical gradients (wrt inputs that require grad) against finite differences.
    Inputs should be float64 for the check to be meaningful (as in PyTorch, a warning-free rule)."""
    import numpy as np
    inputs = _flatten_inputs(inputs)
    Tensor = _tensor.Tensor
    diff_idx = [k for k, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but none of the them "
                         "have requires_grad=True.")
    n_out = len(_outputs(func, inputs))
    for o in range(n_out):
        out = _outputs(func, inputs)[o]
        if not out.requires_grad:
            continue
        checks = []  # (analytical Jacobians, how they were computed)
        if check_backward_ad:
            checks.append((_analytical_jacobian(func, inputs, o, diff_idx), ""))
        if check_forward_ad:
            checks.append((_forward_jacobian(func, inputs, o, diff_idx), " computed with forward mode"))
        for col, k in enumerate(diff_idx):
            if not checks:
                break
            numerical = _numerical_jacobian(func, inputs, k, o, eps)
            for analytical, how in checks:
                a = analytical[col]
                num = numerical.reshape(a.shape) if numerical.shape != a.shape else numerical
                if not np.allclose(a, num, rtol=rtol, atol=atol):
                    msg = (f"Jacobian{how} mismatch for output {o} with respect to input {k},\n"
                           f"numerical:{num}\nanalytical:{a}\n")
                    if raise_exception:
                        raise GradcheckError(msg)
                    return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, gen_non_contig_grad_outputs=False,
                  raise_exception=True, nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
                  check_batched_grad=False, check_fwd_over_rev=False, check_rev_over_rev=True, fast_mode=False,
                  masked=False):
    """Checks second derivatives: gradcheck of (inputs, grad_outputs) -> grad(func(inputs), inputs)."""
    from . import grad as _grad
    from .._random import randn
    inputs = _flatten_inputs(inputs)
    Tensor = _tensor.Tensor
    outs = _outputs(func, inputs)
    if grad_outputs is None:
        grad_outputs = tuple(randn(o.shape, dtype=o.dtype, device=o.device).requires_grad_() for o in outs)
    else:
        grad_outputs = _flatten_inputs(grad_outputs)
    n_in = len(inputs)
    diff = [k for k, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first_grads(*args):
        ins, gos = args[:n_in], args[n_in:]
        o = _outputs(func, ins)
        gs = _grad(o, [ins[k] for k in diff], gos, create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    # check_fwd_over_rev: the first gradients' Jacobian in forward mode (forward-over-reverse)
    return gradcheck(first_grads, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, check_forward_ad=check_fwd_over_rev,
                     check_backward_ad=check_rev_over_rev)
