"""Losses: one autograd Function per loss, each one fused `_C` kernel forward and one backward
(csrc/cpu/loss.cpp). torch.nn.functional's signatures, defaults and semantics: the weighted mean of
cross_entropy/nll_loss divides by the sum of the target weights (ignored targets excluded, label
smoothing term included), probability targets divide by the number of rows, binary_cross_entropy
clamps its logs at -100, binary_cross_entropy_with_logits uses the log-sigmoid formulation with
pos_weight, kl_div has 'batchmean' and log_target.

Gradients flow to the input and, where PyTorch gives one, to the target (probability targets of
cross_entropy, the regression losses, binary cross-entropies, kl_div). Class `weight`, `pos_weight`
and other weights get no gradient (asking for one raises, as nll_loss does in PyTorch). Double
backward (create_graph=True) recomputes the loss with nn.functional's composed (differentiable-op) version and
differentiates that, so higher derivatives are right (MAML-style inner loops, gradient penalties); only
multi_margin_loss and cosine_embedding_loss still raise there.
"""
import warnings

from .. import _C
from .._tensor import Tensor, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _gs
from ..amp import _cast as _amp_cast

_FLOAT = ("float32", "float64", "float16", "bfloat16")


# ---------------------------------------------------------------- helpers
def _legacy_reduction(size_average, reduce, stacklevel=4):
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        ret = "mean"
    elif reduce:
        ret = "sum"
    else:
        ret = "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
                  stacklevel=stacklevel)
    return ret


def _reduction(size_average, reduce, reduction):
    if size_average is not None or reduce is not None:
        return _legacy_reduction(size_average, reduce)
    return reduction


def _check_reduction(reduction, allowed=("none", "mean", "sum")):
    if reduction not in allowed:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _check(t, name, what="input"):
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}(): argument '{what}' (position 1) must be Tensor, not {type(t).__name__}")


def _byte_target_as_long(input, target):
    """PyTorch's nll_loss (and cross_entropy through it) also takes uint8 class indices for 1-D and 2-D input
    (labels read from uint8 numpy arrays); the kernels take int64, so such targets are widened here."""
    if target._impl.dtype == "uint8" and input._impl.ndim <= 2:
        return target.long()
    return target


_TORCH_DTYPE_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
                      "bool": "Bool", "complex64": "ComplexFloat", "complex128": "ComplexDouble"}


def _float_pair(input, target, name, kernel=None):
    """Casts input/target to one floating dtype (differentiably), as PyTorch's type promotion does. With
    `kernel` (PyTorch's CPU kernel of the loss), integer and bool operands promote too, as in PyTorch: a
    floating result dtype is computed, any other is refused with that kernel's NotImplementedError."""
    from .shape import _to
    di, dt = input._impl.dtype, target._impl.dtype
    if kernel is not None and (di not in _FLOAT or dt not in _FLOAT):
        from .._promote import result_type_names
        dtn = result_type_names(input, target)
        if dtn not in _FLOAT:
            raise NotImplementedError(f"\"{kernel}\" not implemented for '{_TORCH_DTYPE_NAMES.get(dtn, dtn)}'")
        return _to(input, dtn, input._impl.device), _to(target, dtn, target._impl.device)
    if di not in _FLOAT:
        raise TypeError(f"{name}: expected a floating-point input, got {di} with shape {list(input.shape)}")
    if dt == di:
        return input, target
    if dt in _FLOAT:  # PyTorch's promotion: float32 with float64 -> float64, bfloat16 with float32 -> float32,
        from .._promote import result_type_names  # float16 with bfloat16 -> float32 (it was float64 for all)
        dtn = result_type_names(input, target)
        return _to(input, dtn, input._impl.device), _to(target, dtn, target._impl.device)
    return input, _to(target, di, target._impl.device)


def _like(t, input):
    """An optional weight-like tensor in input's dtype (no gradient is taken through it)."""
    if t is None:
        return None
    if t._impl.dtype != input._impl.dtype:
        return _wrap(_C.to(t._impl, input._impl.dtype, t._impl.device, False))
    return t


def _impl(t):
    return None if t is None else t._impl


def _grads_via_composed(name, g, needs, input, target, **kwargs):
    """(grad input, grad target) of loss `name` under create_graph=True: nn.functional's composed version of
    the loss, run on fresh views of input and target (so that only its own paths count), differentiated with
    a graph. needs: which of the two want a gradient."""
    import warnings as _warnings
    from ..nn import functional as F  # imported here: nn.functional is built on this module
    from ..autograd import grad as _grad
    # A backward without create_graph inside a forward-AD level runs with the ops' gate open but no
    # graph recorded (grad_mode's fw_gate): this path needs one, and its result is then detached.
    gate = _gs.fw_gate
    _gs.fw_gate = False
    try:
        x = input.view_as(input) if needs[0] else input
        t = target.view_as(target) if needs[1] else target
        with _warnings.catch_warnings():  # the forward already gave the loss's warnings
            _warnings.simplefilter("ignore")
            loss = getattr(F, name).composed(x, t, **kwargs)
        wanted = [v for v, n in zip((x, t), needs) if n]
        got = iter(_grad(loss, wanted, g, create_graph=True, allow_unused=True))
        res = tuple(next(got) if n else None for n in needs)
    finally:
        _gs.fw_gate = gate
    if gate:
        res = tuple(None if r is None else r.detach() for r in res)
    return res


def _no_double_backward(name):
    if _gs.enabled:
        raise NotImplementedError(f"{name}: double backward (create_graph=True) through this loss is not supported "
                                  "yet")


def _sum_to(g, shape):
    from .shape import _sum_to as _s
    return _s(g, tuple(shape))


def _warn_size(input, target, stacklevel=3):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
                      "This will likely lead to incorrect results due to broadcasting. Please ensure they have the "
                      "same size.", stacklevel=stacklevel)


def _needs(*ts):
    return _gs.enabled and any(t is not None and t._rg for t in ts)


def _no_grad_for(name, what, t):
    if t is not None and _gs.enabled and t._rg:
        raise RuntimeError(f"{name}: the derivative for '{what}' is not implemented")


# ---------------------------------------------------------------- cross-entropy and NLL
class CrossEntropy(Function):
    _builtin = True
    _grad_fn_name = "CrossEntropyLossBackward0"

    @staticmethod
    def forward(ctx, input, target, weight, reduction, ignore_index, label_smoothing):
        loss, lse, tw = _C.cross_entropy(input._impl, target._impl, _impl(weight), reduction, ignore_index,
                                         label_smoothing)
        ctx.save_for_backward(input, target)
        ctx.lse, ctx.tw, ctx.weight = lse, tw, weight
        ctx.opts = (reduction, ignore_index, label_smoothing)
        ctx._release_attrs = ("lse", "weight")
        return _wrap(loss)

    @staticmethod
    def backward(ctx, g):
        input, target = ctx.saved_tensors
        reduction, ignore_index, ls = ctx.opts
        need_x, need_t = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        w = ctx.weight
        if _gs.enabled:  # double backward
            gx, gt = _grads_via_composed("cross_entropy", g, (need_x, need_t), input, target, weight=w,
                                         ignore_index=ignore_index, reduction=reduction, label_smoothing=ls)
            return gx, gt, None, None, None, None
        gx, gt = _C.cross_entropy_backward(g._impl, input._impl, target._impl, ctx.lse, _impl(w), reduction,
                                           ignore_index, ls, ctx.tw, need_x, need_t)
        return (_wrap(gx) if gx is not None else None), (_wrap(gt) if gt is not None else None), None, None, None, \
            None


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    if _amp_cast.state[0] is not None:  # CPU autocast: PyTorch computes the losses in float32
        input, target = _amp_cast.to_float32(input, target)
    _check(input, "cross_entropy")
    _check(target, "cross_entropy", "target")
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if input._impl.dtype not in _FLOAT:
        raise TypeError(f"cross_entropy: expected a floating-point input, got {input._impl.dtype}")
    target = _byte_target_as_long(input, target)
    if target._impl.dtype in _FLOAT:
        if ignore_index != -100:
            raise RuntimeError("ignore_index is not supported for floating point target")
        input, target = _float_pair(input, target, "cross_entropy")
    weight = _like(weight, input)
    _no_grad_for("cross_entropy", "weight", weight)
    ignore_index, label_smoothing = int(ignore_index), float(label_smoothing)
    if _needs(input, target):
        return CrossEntropy.apply(input, target, weight, reduction, ignore_index, label_smoothing)
    loss, _, _ = _C.cross_entropy(input._impl, target._impl, _impl(weight), reduction, ignore_index,
                                  label_smoothing)
    return _wrap(loss)


class NllLoss(Function):
    _builtin = True
    _grad_fn_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, input, target, weight, reduction, ignore_index):
        loss, tw = _C.nll_loss(input._impl, target._impl, _impl(weight), reduction, ignore_index)
        ctx.save_for_backward(input, target)
        ctx.tw, ctx.weight, ctx.opts = tw, weight, (reduction, ignore_index)
        ctx._release_attrs = ("weight",)
        return _wrap(loss)

    @staticmethod
    def backward(ctx, g):
        input, target = ctx.saved_tensors
        reduction, ignore_index = ctx.opts
        if _gs.enabled:  # double backward
            gx, _ = _grads_via_composed("nll_loss", g, (True, False), input, target, weight=ctx.weight,
                                        ignore_index=ignore_index, reduction=reduction)
            # PyTorch's nll_loss_backward(grad, self, ...) reads self: it requires grad with self, whose own
            # gradient is zeros (the composed version's does not depend on the input: linear in it)
            from .zero_link import link_zero_to
            return link_zero_to(gx, input) if gx is not None and not gx._rg else gx, None, None, None, None
        gx = _C.nll_loss_backward(g._impl, input._impl, target._impl, _impl(ctx.weight), reduction, ignore_index,
                                  ctx.tw)
        return _wrap(gx), None, None, None, None


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    if _amp_cast.state[0] is not None:  # CPU autocast: PyTorch computes the losses in float32
        input, target = _amp_cast.to_float32(input, target)
    _check(input, "nll_loss")
    _check(target, "nll_loss", "target")
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    target = _byte_target_as_long(input, target)
    weight = _like(weight, input) if input._impl.dtype in _FLOAT else weight
    _no_grad_for("nll_loss", "weight", weight)
    ignore_index = int(ignore_index)
    if _needs(input):
        return NllLoss.apply(input, target, weight, reduction, ignore_index)
    loss, _ = _C.nll_loss(input._impl, target._impl, _impl(weight), reduction, ignore_index)
    return _wrap(loss)


# ---------------------------------------------------------------- pointwise losses
class _PointLoss(Function):
    """loss(input, target; weight, pos_weight, param) for the pointwise losses; gradients reach input
    and target (summed back to their shapes if they were broadcast)."""
    _builtin = True
    _cname = None

    @classmethod
    def forward(cls, ctx, input, target, weight, pos_weight, param, reduction):
        fn = getattr(_C, cls._cname)
        out = fn(input._impl, target._impl, _impl(weight), reduction, param, _impl(pos_weight))
        ctx.save_for_backward(input, target)
        ctx.extra = (weight, pos_weight, param, reduction)
        ctx._release_attrs = ("extra",)
        return _wrap(out)

    @classmethod
    def backward(cls, ctx, g):
        input, target = ctx.saved_tensors
        weight, pos_weight, param, reduction = ctx.extra
        need_x, need_t = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if _gs.enabled:  # double backward
            gx, gt = _grads_via_composed(cls._cname, g, (need_x, need_t), input, target, reduction=reduction,
                                         **cls._composed_kwargs(weight, pos_weight, param))
            return gx, gt, None, None, None, None
        fn = getattr(_C, cls._cname + "_backward")
        gx, gt = fn(g._impl, input._impl, target._impl, _impl(weight), reduction, param, _impl(pos_weight),
                    need_x, need_t)
        gx = _sum_to(_wrap(gx), input.shape) if gx is not None else None
        gt = _sum_to(_wrap(gt), target.shape) if gt is not None else None
        return gx, gt, None, None, None, None


    @staticmethod
    def _composed_kwargs(weight, pos_weight, param):
        return {}


def _point_class(name, cname, grad_fn, composed_kwargs):
    """composed_kwargs(weight, pos_weight, param): the keyword arguments of nn.functional's composed version."""
    return type(name, (_PointLoss,), {"_cname": cname, "_grad_fn_name": grad_fn,
                                      "_composed_kwargs": staticmethod(composed_kwargs)})


MseLoss = _point_class("MseLoss", "mse_loss", "MseLossBackward0", lambda w, pw, p: dict(weight=w))
L1Loss = _point_class("L1Loss", "l1_loss", "L1LossBackward0", lambda w, pw, p: dict(weight=w))
SmoothL1Loss = _point_class("SmoothL1Loss", "smooth_l1_loss", "SmoothL1LossBackward0", lambda w, pw, p: dict(beta=p))
HuberLoss = _point_class("HuberLoss", "huber_loss", "HuberLossBackward0", lambda w, pw, p: dict(delta=p, weight=w))
BinaryCrossEntropy = _point_class("BinaryCrossEntropy", "binary_cross_entropy", "BinaryCrossEntropyBackward0",
                                  lambda w, pw, p: dict(weight=w))
BinaryCrossEntropyWithLogits = _point_class("BinaryCrossEntropyWithLogits", "binary_cross_entropy_with_logits",
                                            "BinaryCrossEntropyWithLogitsBackward0",
                                            lambda w, pw, p: dict(weight=w, pos_weight=pw))


def _run_point(Fn, name, input, target, weight, pos_weight, param, reduction, kernel=None):
    _check(input, name)
    _check(target, name, "target")
    _check_reduction(reduction)
    input, target = _float_pair(input, target, name, kernel)
    weight, pos_weight = _like(weight, input), _like(pos_weight, input)
    _no_grad_for(name, "weight", weight)
    _no_grad_for(name, "pos_weight", pos_weight)
    if _needs(input, target):
        return Fn.apply(input, target, weight, pos_weight, float(param), reduction)
    fn = getattr(_C, Fn._cname)
    return _wrap(fn(input._impl, target._impl, _impl(weight), reduction, float(param), _impl(pos_weight)))


def _check_weight_size(weight, input):
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    if _amp_cast.state[0] is not None:  # CPU autocast: PyTorch computes the losses in float32
        input, target = _amp_cast.to_float32(input, target)
    _check(input, "mse_loss")
    _warn_size(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    if isinstance(target, Tensor):  # PyTorch broadcasts the pair before it reads the reduction
        _C.broadcast_shapes(list(input._impl.shape), list(target._impl.shape), "mse_loss")
    _check_weight_size(weight, input)
    return _run_point(MseLoss, "mse_loss", input, target, weight, None, 0.0, reduction, "mse_cpu")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    if _amp_cast.state[0] is not None:  # CPU autocast: PyTorch computes the losses in float32
        input, target = _amp_cast.to_float32(input, target)
    _check(input, "l1_loss")
    _warn_size(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    _check_weight_size(weight, input)
    if weight is None and isinstance(target, Tensor) and \
            (input._impl.dtype not in _FLOAT or target._impl.dtype in ("complex64", "complex128", "bool")):
        # integer, complex or bool operands: PyTorch's l1_loss is (input - target).abs() reduced, with its type
        # promotion (int with int sums to int64, a complex difference's abs is real; mean of ints raises)
        _check_reduction(reduction)
        d = (input - target).abs()
        return d if reduction == "none" else d.sum() if reduction == "sum" else d.mean()
    return _run_point(L1Loss, "l1_loss", input, target, weight, None, 0.0, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    if _amp_cast.state[0] is not None:  # CPU autocast: PyTorch computes the losses in float32
        input, target = _amp_cast.to_float32(input, target)
    _check(input, "smooth_l1_loss")
    _warn_size(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    return _run_point(SmoothL1Loss, "smooth_l1_loss", input, target, None, None, beta, reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    if _amp_cast.state[0] is not None:  # CPU autocast: PyTorch computes the losses in float32
        input, target = _amp_cast.to_float32(input, target)
    _check(input, "huber_loss")
    _warn_size(input, target)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _check_weight_size(weight, input)
    return _run_point(HuberLoss, "huber_loss", input, target, weight, None, delta, reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    if _amp_cast.state[0] is not None:  # CPU autocast: PyTorch computes the losses in float32
        input, target = _amp_cast.to_float32(input, target)
    _check(input, "binary_cross_entropy")
    _check(target, "binary_cross_entropy", "target")
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    return _run_point(BinaryCrossEntropy, "binary_cross_entropy", input, target, weight, None, 0.0, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    if _amp_cast.state[0] is not None:  # CPU autocast: PyTorch computes the losses in float32
        input, target = _amp_cast.to_float32(input, target)
    _check(input, "binary_cross_entropy_with_logits")
    _check(target, "binary_cross_entropy_with_logits", "target")
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    if input._impl.dtype != target._impl.dtype and input._impl.dtype in _FLOAT and target._impl.dtype in _FLOAT:
        # mixed dtypes: PyTorch's composite, whose in-place steps keep target's dtype for the loss (float64
        # input, float32 target -> float32) and input's for log_sigmoid (a bfloat16 input rounds it)
        import flambeau as fl
        lsi = fl.nn.functional.logsigmoid(input)
        if pos_weight is not None:
            lsi = lsi.mul_((pos_weight - 1).mul(target).add_(1))
        loss = (1 - target).mul_(input).sub_(lsi)
        if weight is not None:
            loss = loss.mul_(weight)
        return loss if reduction == "none" else loss.sum() if reduction == "sum" else loss.mean()
    return _run_point(BinaryCrossEntropyWithLogits, "binary_cross_entropy_with_logits", input, target, weight,
                      pos_weight, 0.0, reduction)


class KlDiv(Function):
    _builtin = True
    _grad_fn_name = "KlDivBackward0"

    @staticmethod
    def forward(ctx, input, target, reduction, log_target):
        ctx.save_for_backward(input, target)
        ctx.opts = (reduction, log_target)
        return _wrap(_C.kl_div(input._impl, target._impl, reduction, log_target))

    @staticmethod
    def backward(ctx, g):
        input, target = ctx.saved_tensors
        reduction, log_target = ctx.opts
        need_x, need_t = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if _gs.enabled:  # double backward
            gx, gt = _grads_via_composed("kl_div", g, (need_x, need_t), input, target, reduction=reduction,
                                         log_target=log_target)
            return gx, gt, None, None
        gx, gt = _C.kl_div_backward(g._impl, input._impl, target._impl, reduction, log_target, need_x, need_t)
        gx = _sum_to(_wrap(gx), input.shape) if gx is not None else None
        gt = _sum_to(_wrap(gt), target.shape) if gt is not None else None
        return gx, gt, None, None


_INTEGRAL = ("bool", "uint8", "int8", "int16", "int32", "int64")


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    if _amp_cast.state[0] is not None:  # CPU autocast: PyTorch computes the losses in float32
        input, target = _amp_cast.to_float32(input, target)
    _check(input, "kl_div")
    _check(target, "kl_div", "target")
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    _check_reduction(reduction, ("none", "mean", "sum", "batchmean"))
    if input._impl.dtype in _INTEGRAL or target._impl.dtype in _INTEGRAL:  # (PyTorch refuses them)
        raise RuntimeError("kl_div: Integral inputs not supported.")
    input, target = _float_pair(input, target, "kl_div")
    if _needs(input, target):
        return KlDiv.apply(input, target, reduction, bool(log_target))
    return _wrap(_C.kl_div(input._impl, target._impl, reduction, bool(log_target)))


# ---------------------------------------------------------------- multi-margin, cosine embedding
class MultiMarginLoss(Function):
    _builtin = True
    _grad_fn_name = "MultiMarginLossBackward0"

    @staticmethod
    def forward(ctx, input, target, p, margin, weight, reduction):
        ctx.save_for_backward(input, target)
        ctx.opts = (p, margin, weight, reduction)
        ctx._release_attrs = ("opts",)
        return _wrap(_C.multi_margin_loss(input._impl, target._impl, p, margin, _impl(weight), reduction))

    @staticmethod
    def backward(ctx, g):
        _no_double_backward("multi_margin_loss")
        input, target = ctx.saved_tensors
        p, margin, weight, reduction = ctx.opts
        gx = _C.multi_margin_loss_backward(g._impl, input._impl, target._impl, p, margin, _impl(weight), reduction)
        return _wrap(gx), None, None, None, None, None


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    _check(input, "multi_margin_loss")
    _check(target, "multi_margin_loss", "target")
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.dim() != 1:
        raise ValueError("weight must be one-dimensional")
    weight = _like(weight, input) if input._impl.dtype in _FLOAT else weight
    _no_grad_for("multi_margin_loss", "weight", weight)
    if _needs(input):
        return MultiMarginLoss.apply(input, target, int(p), float(margin), weight, reduction)
    return _wrap(_C.multi_margin_loss(input._impl, target._impl, int(p), float(margin), _impl(weight), reduction))


class CosineEmbeddingLoss(Function):
    _builtin = True
    _grad_fn_name = "CosineEmbeddingLossBackward0"

    @staticmethod
    def forward(ctx, x1, x2, target, margin, reduction):
        ctx.save_for_backward(x1, x2, target)
        ctx.opts = (margin, reduction)
        return _wrap(_C.cosine_embedding_loss(x1._impl, x2._impl, target._impl, margin, reduction))

    @staticmethod
    def backward(ctx, g):
        _no_double_backward("cosine_embedding_loss")
        x1, x2, target = ctx.saved_tensors
        margin, reduction = ctx.opts
        n1, n2 = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        g1, g2 = _C.cosine_embedding_loss_backward(g._impl, x1._impl, x2._impl, target._impl, margin, reduction,
                                                   n1, n2)
        return (_wrap(g1) if g1 is not None else None), (_wrap(g2) if g2 is not None else None), None, None, None


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    _check(input1, "cosine_embedding_loss", "input1")
    _check(input2, "cosine_embedding_loss", "input2")
    _check(target, "cosine_embedding_loss", "target")
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    input1, input2 = _float_pair(input1, input2, "cosine_embedding_loss")
    target = _like(target, input1)
    if _needs(input1, input2):
        return CosineEmbeddingLoss.apply(input1, input2, target, float(margin), reduction)
    return _wrap(_C.cosine_embedding_loss(input1._impl, input2._impl, target._impl, float(margin), reduction))


__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "kl_div", "multi_margin_loss", "cosine_embedding_loss"]
