"""One GRU layer and direction over a whole sequence as one autograd node (CPU): _lstm_layer.py's design
for the GRU.

The forward loop calls the two kernels of a step (hp = h W_hh^T + b_hh, then the fused gates
`_C.gru_cell`) on bare TensorImpls and keeps each step's hp and activated gates; the backward loop runs
the fused gate backward and one product per step (dh_{t-1} = dh_direct + dhp W_hh); the weight gradient
is then one product over all steps, dW_hh = dHP^T [h_{t-1}], and db_hh one sum. Double backward
(create_graph) recomputes the layer in differentiable ops, as the fused step does.

Same equations, gate order (r, z, n) and kernels as the step path in rnn.py; the sums over steps for
dW_hh and db_hh are grouped differently (one product instead of one per step), so gradients may differ
from the step path in the last bits.
"""
from ... import _C
from ..._tensor import _wrap
from ...autograd.function import Function
from ...autograd.grad_mode import _state as _gs
from ._lstm_layer import _stack, recurrent_weight_grads


class GRULayerFn(Function):
    """(out [L, N, H], h_n) = the layer over xp [L, N, 3H] (x W_ih^T + b_ih, every step) from h0."""
    _builtin = True
    # PyTorch's CPU GRU records every step and stacks them: its output's grad_fn is a StackBackward0.
    _grad_fn_name = "StackBackward0"

    @staticmethod
    def forward(ctx, xp, h0, w_hh, b_hh, reverse):
        xi, wi = xp._impl, w_hh._impl
        bi = None if b_hh is None else b_hh._impl
        L, N, G = xi.shape
        H = G // 3
        steps = range(L - 1, -1, -1) if reverse else range(L)
        h = h0._impl
        hs, hps, acts = [None] * L, [None] * L, [None] * L
        for t in steps:
            hp = _C.linear(h, wi, bi)
            h, a = _C.gru_cell(_C.select(xi, 0, t), hp, h)
            hs[t], hps[t], acts[t] = h, hp, a
        ctx.layer_state = (xp, h0, w_hh, b_hh, reverse, hs, hps, acts)
        return _wrap(_stack(hs, [N, H])), _wrap(h)

    @staticmethod
    def backward(ctx, dout, dh_n):
        xp, h0, w_hh, b_hh, reverse, hs, hps, acts = ctx.layer_state
        if _gs.enabled:  # double backward: the layer again in differentiable ops
            from .rnn import _grads_through
            ins = (xp, h0, w_hh) + ((b_hh,) if b_hh is not None else ())

            def layer(xp_, h0_, w_, b_=None):
                return gru_layer_composite(xp_, h0_, w_, b_, reverse)

            grads = _grads_through(layer, ins, (dout, dh_n))
            return tuple(grads[:3]) + ((grads[3] if b_hh is not None else None), None)
        L = len(hs)
        N, H = h0._impl.shape
        wi = w_hh._impl
        dt, dev = hs[0].dtype, hs[0].device
        dh = dh_n._impl if dh_n is not None else _C.full([N, H], 0, dt, dev)
        do = dout._impl if dout is not None else None
        dxps, dhps = [None] * L, [None] * L
        steps = range(L) if reverse else range(L - 1, -1, -1)  # the forward loop's order, backwards
        for t in steps:
            dh_t = _C.add(dh, _C.select(do, 0, t)) if do is not None else dh
            prev = t + 1 if reverse else t - 1
            h_prev = hs[prev] if 0 <= prev < L else h0._impl
            dxp, dhp, dhv = _C.gru_cell_backward(dh_t, acts[t], hps[t], h_prev)
            dxps[t], dhps[t] = dxp, dhp
            dh = _C.add(dhv, _C.mm(dhp, wi))
        dXP = _stack(dxps, [N, 3 * H])  # [L, N, 3H]: the gradient of xp
        d_w, d_b = recurrent_weight_grads(_stack(dhps, [N, 3 * H]), h0._impl, hs, reverse, b_hh is not None)
        return (_wrap(dXP), _wrap(dh), _wrap(d_w), None if d_b is None else _wrap(d_b), None)


def gru_layer_composite(xp, h0, w_hh, b_hh, reverse):
    """The same layer in differentiable tensor ops (double backward)."""
    import flambeau
    from .. import functional as F
    from .rnn import _gru_composite
    L = xp.shape[0]
    h = h0
    outs = [None] * L
    for t in (range(L - 1, -1, -1) if reverse else range(L)):
        h = _gru_composite(xp[t], F.linear(h, w_hh, b_hh), h)
        outs[t] = h
    return flambeau.stack(outs), h
