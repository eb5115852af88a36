"""Translations of linear algebra and neural-network layers, recurrent modules included (see _symbolic.py)."""
import math

import numpy as np

from ._symbolic import _tuple, _unsupported, register
from ._trace import Val

# ---------------------------------------------------------------------------------------------------------
# linear algebra
# ---------------------------------------------------------------------------------------------------------
@register("linear")
def _linear(g, n):
    x, w, b = n.args[0], n.arg(1, "weight"), n.arg(2, "bias")
    if x.ndim == 2:
        ins = [g.v(x), g.v(w)] + ([g.v(b)] if b is not None else [])
        return g.op("Gemm", *ins, transB=1)
    y = g.op("MatMul", g.v(x), g.transposed(w))
    return g.op("Add", y, g.v(b)) if b is not None else y


@register("matmul", "mm", "bmm", "rmatmul")
def _matmul(g, n):
    a, b = n.args[0], n.arg(1, "other", n.arg(1, "mat2"))
    if n.op == "rmatmul":
        a, b = b, a
    return g.op("MatMul", g.v(a), g.v(b))


@register("baddbmm", "addmm", "addbmm")
def _addmm(g, n):
    if n.op == "addbmm":
        _unsupported(n, "is not supported")
    c, a, b = n.args[0], n.args[1], n.args[2]
    beta, alpha = n.kwargs.get("beta", 1), n.kwargs.get("alpha", 1)
    dt = g.np_dtype(n.outs[0])
    y = g.op("MatMul", g.v(a), g.v(b))
    if alpha != 1:
        y = g.op("Mul", y, g.scalar(alpha, dt))
    cc = g.v(c)
    if beta != 1:
        cc = g.op("Mul", cc, g.scalar(beta, dt))
    return g.op("Add", cc, y) if beta != 0 else y


# ---------------------------------------------------------------------------------------------------------
# neural-network layers
# ---------------------------------------------------------------------------------------------------------
@register("conv1d", "conv2d", "conv3d")
def _conv(g, n):
    x, w, b = n.args[0], n.arg(1, "weight"), n.arg(2, "bias")
    k = w.ndim - 2
    stride, padding = _tuple(n.arg(3, "stride", 1), k), n.arg(4, "padding", 0)
    dilation, groups = _tuple(n.arg(5, "dilation", 1), k), n.arg(6, "groups", 1)
    if x.ndim != k + 2:
        _unsupported(n, f"on an unbatched input of shape {x.shape} is not supported")
    ks = list(w.shape[2:])
    if padding == "valid":
        pads = [0] * (2 * k)
    elif padding == "same":
        total = [dilation[i] * (ks[i] - 1) for i in range(k)]
        pads = [t // 2 for t in total] + [t - t // 2 for t in total]
    else:
        p = _tuple(padding, k)
        pads = p + p
    ins = [g.v(x), g.v(w)] + ([g.v(b)] if b is not None else [])
    return g.op("Conv", *ins, kernel_shape=ks, strides=stride, pads=pads, dilations=dilation, group=int(groups))


@register("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def _conv_transpose(g, n):
    x, w, b = n.args[0], n.arg(1, "weight"), n.arg(2, "bias")
    k = w.ndim - 2
    stride, padding = _tuple(n.arg(3, "stride", 1), k), _tuple(n.arg(4, "padding", 0), k)
    output_padding, groups = _tuple(n.arg(5, "output_padding", 0), k), n.arg(6, "groups", 1)
    dilation = _tuple(n.arg(7, "dilation", 1), k)
    if x.ndim != k + 2:
        _unsupported(n, f"on an unbatched input of shape {x.shape} is not supported")
    ins = [g.v(x), g.v(w)] + ([g.v(b)] if b is not None else [])
    return g.op("ConvTranspose", *ins, kernel_shape=list(w.shape[2:]), strides=stride, pads=padding + padding,
                dilations=dilation, group=int(groups), output_padding=output_padding)


def _pool_geometry(n):
    """max/avg_pool{1,2,3}d's common arguments: (input, spatial rank, kernel, stride (the kernel when not
    given), padding); a batch-less input is refused."""
    x = n.args[0]
    k = int(n.op[-2])
    if x.ndim != k + 2:
        _unsupported(n, f"on an unbatched input of shape {x.shape} is not supported")
    kernel = _tuple(n.arg(1, "kernel_size"), k)
    stride = n.arg(2, "stride")
    stride = kernel if stride is None or stride == [] or stride == () else _tuple(stride, k)
    return x, k, kernel, stride, _tuple(n.arg(3, "padding", 0), k)


@register("max_pool1d", "max_pool2d", "max_pool3d")
def _max_pool(g, n):
    x, k, kernel, stride, padding = _pool_geometry(n)
    dilation = _tuple(n.arg(4, "dilation", 1), k)
    if n.arg(6, "return_indices", False):
        _unsupported(n, "with return_indices=True is not supported")
    return g.op("MaxPool", g.v(x), kernel_shape=kernel, strides=stride, pads=padding + padding,
                dilations=dilation, ceil_mode=int(bool(n.arg(5, "ceil_mode", False))))


@register("avg_pool1d", "avg_pool2d", "avg_pool3d")
def _avg_pool(g, n):
    x, _, kernel, stride, padding = _pool_geometry(n)
    if n.arg(6, "divisor_override") is not None:
        _unsupported(n, "with divisor_override is not supported")
    return g.op("AveragePool", g.v(x), kernel_shape=kernel, strides=stride, pads=padding + padding,
                ceil_mode=int(bool(n.arg(4, "ceil_mode", False))),
                count_include_pad=int(bool(n.arg(5, "count_include_pad", True))))


@register("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d")
def _adaptive_avg_pool(g, n):
    x, out = n.args[0], n.outs[0]
    k = int(n.op[-2])
    if x.ndim != k + 2:
        _unsupported(n, f"on an unbatched input of shape {x.shape} is not supported")
    ins, outs = x.shape[2:], out.shape[2:]
    if all(o == 1 for o in outs):
        return g.op("GlobalAveragePool", g.v(x))
    if any(i % o for i, o in zip(ins, outs)) or x.shape2[2:] != ins:
        _unsupported(n, f"from {tuple(ins)} to {tuple(outs)} is not supported (only output size 1 or an "
                        f"exact divisor of a static input size)")
    kernel = [i // o for i, o in zip(ins, outs)]
    return g.op("AveragePool", g.v(x), kernel_shape=kernel, strides=kernel)


@register("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d")
def _adaptive_max_pool(g, n):
    x, out = n.args[0], n.outs[0]
    if len(n.outs) != 1:
        _unsupported(n, "with return_indices=True is not supported")
    if x.ndim != int(n.op[-2]) + 2 or any(o != 1 for o in out.shape[2:]):
        _unsupported(n, f"to {tuple(out.shape[2:])} on shape {x.shape} is not supported (only batched, output "
                        f"size 1)")
    return g.op("GlobalMaxPool", g.v(x))


@register("batch_norm")
def _batch_norm(g, n):
    x, mean, var = n.args[0], n.arg(1, "running_mean"), n.arg(2, "running_var")
    w, b = n.arg(3, "weight"), n.arg(4, "bias")
    training, eps = n.arg(5, "training", False), n.arg(7, "eps", 1e-5)
    if training or mean is None:
        _unsupported(n, "with batch statistics (training mode, or track_running_stats=False) is not supported")
    c = x.shape[1]
    dt = g.np_dtype(x)
    scale = g.v(w) if w is not None else g.const(np.ones(c, dt))
    bias = g.v(b) if b is not None else g.const(np.zeros(c, dt))
    return g.op("BatchNormalization", g.v(x), scale, bias, g.v(mean), g.v(var), epsilon=float(eps))


@register("layer_norm")
def _layer_norm(g, n):
    x, shape = n.args[0], n.arg(1, "normalized_shape")
    w, b, eps = n.arg(2, "weight"), n.arg(3, "bias"), n.arg(4, "eps", 1e-5)
    k = len(shape) if isinstance(shape, (list, tuple)) else 1
    dt = g.np_dtype(x)
    if g.opset >= 17:
        scale = g.v(w) if w is not None else g.const(np.ones(x.shape[-k:], dt))
        ins = [g.v(x), scale] + ([g.v(b)] if b is not None else [])
        return g.op("LayerNormalization", *ins, axis=-k, epsilon=float(eps))
    axes = list(range(x.ndim - k, x.ndim))
    xv = g.v(x)
    d = g.op("Sub", xv, g.reduce("ReduceMean", xv, axes, True))
    var = g.reduce("ReduceMean", g.op("Mul", d, d), axes, True)
    y = g.op("Div", d, g.op("Sqrt", g.op("Add", var, g.scalar(eps, dt))))
    if w is not None:
        y = g.op("Mul", y, g.v(w))
    if b is not None:
        y = g.op("Add", y, g.v(b))
    return y


@register("embedding")
def _embedding(g, n):
    idx, w = n.args[0], n.arg(1, "weight")
    if n.arg(3, "max_norm") is not None:
        _unsupported(n, "with max_norm is not supported (it renormalizes the weight in place)")
    return g.op("Gather", g.v(w), g.v(idx), axis=0)


@register("pad")
def _pad(g, n):
    x, pad = n.args[0], list(n.arg(1, "pad"))
    mode, value = n.arg(2, "mode", "constant"), n.arg(3, "value", None)
    r = x.ndim
    begins, ends = [0] * r, [0] * r
    for i in range(len(pad) // 2):
        begins[r - 1 - i], ends[r - 1 - i] = pad[2 * i], pad[2 * i + 1]
    onnx_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}.get(mode)
    if onnx_mode is None or (onnx_mode == "wrap" and g.opset < 19):
        _unsupported(n, f"with mode={mode!r} is not supported at opset {g.opset}")
    ins = [g.v(x), g.ints(begins + ends)]
    if onnx_mode == "constant":
        ins.append(g.scalar(0 if value is None else value, g.np_dtype(x)))
    return g.op("Pad", *ins, mode=onnx_mode)


@register("scaled_dot_product_attention")
def _sdpa(g, n):
    q, k, v = n.args[0], n.arg(1, "key"), n.arg(2, "value")
    mask, dropout_p = n.arg(3, "attn_mask"), n.arg(4, "dropout_p", 0.0)
    is_causal, scale = n.arg(5, "is_causal", False), n.arg(6, "scale")
    if dropout_p:
        _unsupported(n, "with dropout_p > 0 is not supported")
    if n.arg(7, "enable_gqa", False) and k.shape[-3] != q.shape[-3]:
        _unsupported(n, "with grouped-query attention is not supported")
    dt = g.np_dtype(q)
    r = k.ndim
    perm = list(range(r))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = g.op("Mul", g.op("MatMul", g.v(q), g.op("Transpose", g.v(k), perm=perm)), g.scalar(scale, dt))
    if is_causal:
        L, S = q.shape[-2], k.shape[-2]
        if (L, S) != (q.shape2[-2], k.shape2[-2]):
            _unsupported(n, "with is_causal over a dynamic sequence length is not supported")
        keep = np.tril(np.ones((L, S), dtype=np.bool_))
        s = g.op("Where", g.const(keep), s, g.scalar(-np.inf, dt))
    if mask is not None:
        if np.issubdtype(g.np_dtype(mask), np.bool_):
            s = g.op("Where", g.v(mask), s, g.scalar(-np.inf, dt))
        else:
            s = g.op("Add", s, g.operand(mask, dt))
    return g.op("MatMul", g.op("Softmax", s, axis=-1), g.v(v))


def _gates(a, H, order):
    """PyTorch's gate blocks of H rows, in ONNX's order (order: the PyTorch block index of each)."""
    return np.concatenate([a[k * H:(k + 1) * H] for k in order], axis=0)


# (ONNX op, gate count, the PyTorch gate of each ONNX gate): LSTM iofc <- ifgo, GRU zrh <- rzn
_RNN_KINDS = {"lstm_module": ("LSTM", 4, (0, 3, 1, 2)), "gru_module": ("GRU", 3, (1, 0, 2)),
              "rnn_module": ("RNN", 1, (0,))}


@register("lstm_module", "gru_module", "rnn_module")
def _rnn(g, n):
    """nn.LSTM / nn.GRU / nn.RNN as one ONNX LSTM / GRU / RNN per layer, with PyTorch's gates reordered into
    ONNX's, the bias as the input and recurrent biases concatenated, GRU with linear_before_reset=1 (PyTorch
    applies the reset gate after the recurrent product), and ONNX's layout (sequence first, the directions
    an axis of their own: Y [seq, dirs, batch, hidden]) turned back into PyTorch's."""
    op_type, ngates, order = _RNN_KINDS[n.op]
    m, x = n.args[0], n.args[1]
    hx = n.args[2] if len(n.args) > 2 else n.kwargs.get("hx")
    if getattr(m, "proj_size", 0):
        _unsupported(n, "with proj_size > 0 is not supported")
    if not isinstance(x, Val):
        _unsupported(n, "with a PackedSequence input is not supported")
    H, L = m.hidden_size, m.num_layers
    dirs = 2 if m.bidirectional else 1
    batched = x.ndim == 3
    dt = g.np_dtype(x)
    y = g.v(x)
    if not batched:
        y = g.op("Unsqueeze", y, g.ints([1]))
    elif m.batch_first:
        y = g.op("Transpose", y, perm=[1, 0, 2])
    states = []   # initial h (and c): [layers * dirs, batch, H]
    if hx is not None:
        for h in (hx if n.op == "lstm_module" else (hx,)):
            h = g.v(h)
            states.append(g.op("Unsqueeze", h, g.ints([1])) if not batched else h)
    attrs = {"hidden_size": H, "direction": "bidirectional" if dirs == 2 else "forward"}
    if op_type == "GRU":
        attrs["linear_before_reset"] = 1
    if op_type == "RNN":
        attrs["activations"] = ["Relu" if m.nonlinearity == "relu" else "Tanh"] * dirs
    finals = [[] for _ in range(2 if op_type == "LSTM" else 1)]
    for layer in range(L):
        Ws, Rs, Bs = [], [], []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            Ws.append(_gates(getattr(m, "weight_ih" + sfx).detach().cpu().numpy(), H, order))
            Rs.append(_gates(getattr(m, "weight_hh" + sfx).detach().cpu().numpy(), H, order))
            if m.bias:
                Bs.append(np.concatenate([_gates(getattr(m, "bias_ih" + sfx).detach().cpu().numpy(), H, order),
                                          _gates(getattr(m, "bias_hh" + sfx).detach().cpu().numpy(), H, order)]))
            else:
                Bs.append(np.zeros(2 * ngates * H, dt))
        ins = [y, g.const(np.stack(Ws).astype(dt)), g.const(np.stack(Rs).astype(dt)),
               g.const(np.stack(Bs).astype(dt)), ""]
        for st in states:
            ins.append(g.op("Slice", st, g.ints([layer * dirs]), g.ints([(layer + 1) * dirs]), g.ints([0])))
        outs = g.op(op_type, *ins, outs=1 + len(finals), **attrs)
        for f, o in zip(finals, outs[1:]):
            f.append(o)
        # [seq, dirs, batch, H] -> [seq, batch, dirs * H]
        y = g.op("Reshape", g.op("Transpose", outs[0], perm=[0, 2, 1, 3]), g.ints([0, 0, -1]))
    finals = [f[0] if L == 1 else g.op("Concat", *f, axis=0) for f in finals]
    if not batched:
        y = g.op("Squeeze", y, g.ints([1]))
        finals = [g.op("Squeeze", f, g.ints([1])) for f in finals]
    elif m.batch_first:
        y = g.op("Transpose", y, perm=[1, 0, 2])
    return [y] + finals
