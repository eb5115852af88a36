"""One LSTM layer and direction over a whole sequence as one autograd node (CPU).

Recorded step by step, an LSTM of 50 steps made ~10 graph nodes and ~20 Python tensor wrappers per
step, and its backward walked them all: on a 2-layer LSTM (64 -> 128, batch 32 x 50) that bookkeeping
cost more than the arithmetic (30.9 ms a training step against PyTorch's 19.5). Here the forward loop
calls the two kernels of a step (h W_hh^T + b_hh, then the fused gates `_C.lstm_cell`) on bare
TensorImpls, keeps each step's activated gates and cell state, and the backward loop runs the fused
gate backward and one product per step (dh_{t-1} = dgates W_hh); the weight gradient is then one
product over all steps, dW_hh = dG^T [h_{t-1}], and db_hh one sum. Double backward (create_graph)
recomputes the layer in differentiable ops, as the fused step does.

Same equations, gate order and kernels as the step path in rnn.py; the sums over steps for dW_hh and
db_hh are grouped differently (one product instead of one per step), so gradients may differ from the
step path in the last bits.

For float32/float64 the forward's time loop runs in C++ (`_C.lstm_layer`, csrc/cpu/rnn_layer.cpp: the
same two kernels per step, so the same bits), which keeps the per-step state only when autograd records
the node: the eval forward of a 2-layer LSTM (64 -> 128, batch 32 x 50) went from 12.4 to 7.2 ms, one
thread, where the Python loop cost ~50 us a step.
"""
from ... import _C
from ..._tensor import _wrap
from ...autograd.function import Function
from ...autograd.grad_mode import _state as _gs


def _stack(impls, shape_tail):
    return _C.cat([_C.reshape(t, [1] + shape_tail) for t in impls], 0)


def recurrent_weight_grads(dG, h0, hs, reverse, with_bias):
    """dW_hh and db_hh of a layer from the gradients dG [L, N, G] of every step's h_{t-1} W_hh^T + b_hh:
    one product over all steps, dW_hh = dG^T [h_{t-1}], and one sum (shared by the LSTM and GRU nodes)."""
    L, N, G = dG.shape
    H = h0.shape[1]
    # h_{t-1} of every step t, in time order: h0 enters at the first step the loop took
    first = [_C.reshape(h0, [1, N, H])]
    rest = [_C.reshape(hs[t], [1, N, H]) for t in (range(L - 1) if not reverse else range(1, L))]
    h_prev = _C.cat(first + rest if not reverse else rest + first, 0)
    dG2 = _C.reshape(dG, [L * N, G])
    d_w = _C.mm(_C.transpose(dG2, 0, 1), _C.reshape(h_prev, [L * N, H]))
    return d_w, (_C.sum(dG2, [0]) if with_bias else None)


class LSTMLayerFn(Function):
    """(out [L, N, H], h_n, c_n) = the layer over xp [L, N, 4H] (x W_ih^T + b_ih, every step) from h0, c0."""
    _builtin = True
    _grad_fn_name = "MkldnnRnnLayerBackward0"

    @staticmethod
    def forward(ctx, xp, h0, c0, w_hh, b_hh, reverse):
        xi, wi = xp._impl, w_hh._impl
        bi = None if b_hh is None else b_hh._impl
        if xi.dtype in ("float32", "float64"):
            # The time loop in C++ (_C.lstm_layer, cpu/rnn_layer.cpp): the same two kernels per step as
            # the loop below, so the same bits, without three _C calls and their wrappers a step. It keeps
            # every step's cell state and gates only when autograd records this node.
            keep = True in ctx.needs_input_grad
            r = _C.lstm_layer(xi, h0._impl, c0._impl, wi, bi, reverse, keep)
            if not keep:
                return _wrap(r[0]), _wrap(r[1]), _wrap(r[2])
            out, h, c, cs, acts = r
            ctx.layer_state = (xp, h0, c0, w_hh, b_hh, reverse, out, cs, acts)
            # the caller gets its own copy of out: the saved one is the backward's h_{t-1}
            return _wrap(_C.clone(out)), _wrap(h), _wrap(c)
        # float16 / bfloat16: step by step, each kernel's result rounded to the half type (_C's half rule)
        L, N, G = xi.shape
        H = G // 4
        steps = range(L - 1, -1, -1) if reverse else range(L)
        h, c = h0._impl, c0._impl
        hs, cs, acts = [None] * L, [None] * L, [None] * L
        for t in steps:
            hp = _C.linear(h, wi, bi)
            h, c, a = _C.lstm_cell(_C.select(xi, 0, t), hp, c)
            hs[t], cs[t], acts[t] = h, c, a
        ctx.layer_state = (xp, h0, c0, w_hh, b_hh, reverse, hs, cs, acts)
        return _wrap(_stack(hs, [N, H])), _wrap(h), _wrap(c)

    @staticmethod
    def backward(ctx, dout, dh_n, dc_n):
        xp, h0, c0, w_hh, b_hh, reverse, hs, cs, acts = ctx.layer_state
        if not isinstance(hs, list):  # the C++ loop's [L, ...] tensors: one view per step
            hs, cs, acts = ([_C.select(t, 0, i) for i in range(t.shape[0])] for t in (hs, cs, acts))
        if _gs.enabled:  # double backward: the layer again in differentiable ops
            from .rnn import _grads_through
            ins = (xp, h0, c0, w_hh) + ((b_hh,) if b_hh is not None else ())

            def layer(xp_, h0_, c0_, w_, b_=None):
                return lstm_layer_composite(xp_, h0_, c0_, w_, b_, reverse)

            grads = _grads_through(layer, ins, (dout, dh_n, dc_n))
            return tuple(grads[:4]) + ((grads[4] if b_hh is not None else None), None)
        L = len(hs)
        N, H = h0._impl.shape
        wi = w_hh._impl
        dt, dev = hs[0].dtype, hs[0].device
        dh = dh_n._impl if dh_n is not None else _C.full([N, H], 0, dt, dev)
        dc = dc_n._impl if dc_n is not None else None
        do = dout._impl if dout is not None else None
        dgs = [None] * L
        steps = range(L) if reverse else range(L - 1, -1, -1)  # the forward loop's order, backwards
        for t in steps:
            dh_t = _C.add(dh, _C.select(do, 0, t)) if do is not None else dh
            prev = t + 1 if reverse else t - 1
            c_prev = cs[prev] if 0 <= prev < L else c0._impl
            dg, dc = _C.lstm_cell_backward(dh_t, dc, acts[t], c_prev, cs[t])
            dgs[t] = dg
            dh = _C.mm(dg, wi)
        dG = _stack(dgs, [N, 4 * H])  # [L, N, 4H]: also the gradient of xp
        d_w, d_b = recurrent_weight_grads(dG, h0._impl, hs, reverse, b_hh is not None)
        return (_wrap(dG), _wrap(dh), _wrap(dc), _wrap(d_w), None if d_b is None else _wrap(d_b), None)


def lstm_layer_composite(xp, h0, c0, w_hh, b_hh, reverse):
    """The same layer in differentiable tensor ops (double backward)."""
    import flambeau
    from .. import functional as F
    from .rnn import _lstm_composite
    L = xp.shape[0]
    h, c = h0, c0
    outs = [None] * L
    for t in (range(L - 1, -1, -1) if reverse else range(L)):
        h, c = _lstm_composite(xp[t], F.linear(h, w_hh, b_hh), c)
        outs[t] = h
    return flambeau.stack(outs), h, c
