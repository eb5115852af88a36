"""Recurrent layers with PyTorch's names, parameters and equations: RNN (tanh or relu), LSTM, GRU, and
their one-step cells.

Each layer and direction projects the whole input sequence at once (one matrix product for every
time step: x W_ih^T + b_ih), then steps through time adding h W_hh^T + b_hh and applying the gates;
autograd records the steps, so backward is backpropagation through time. Parameters are named as
PyTorch's (weight_ih_l{k}[_reverse], weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}) with the same gate
order (LSTM i, f, g, o; GRU r, z, n) and the same U(-1/sqrt(hidden), 1/sqrt(hidden)) initialisation,
so state dicts load in either library. LSTM proj_size adds weight_hr_l{k}[_reverse] (h_t = W_hr (o * tanh c_t)),
as PyTorch.

A PackedSequence input (nn.utils.rnn) runs the same steps over its batch_sizes: the batch shrinks as
sequences end (forward direction: a sequence's final state is its state at its own last step) and grows
back in the reverse direction (each sequence's reverse pass starts at its own last element from its
initial state); the output is a PackedSequence with the same batch_sizes and indices, and the initial
and final states are permuted by sorted_indices / unsorted_indices as PyTorch does.
"""
import warnings
import math

import flambeau
from ... import _C
from ..._tensor import _wrap
from ...autograd.function import Function
from ...amp import _cast as _amp_cast
from ...autograd.grad_mode import _state as _gs
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module
from ._gru_layer import GRULayerFn
from ._lstm_layer import LSTMLayerFn

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class _LSTMCellFn(Function):
    """The pointwise part of an LSTM step in one kernel each way (`_C.lstm_cell`, cpu/rnn.cpp)."""
    _builtin = True
    _grad_fn_name = "LstmCellBackward"

    @staticmethod
    def forward(ctx, xp, hp, c_prev):
        h, c, acts = _C.lstm_cell(xp._impl, hp._impl, c_prev._impl)
        h, c, acts = _wrap(h), _wrap(c), _wrap(acts)
        ctx.save_for_backward(xp, hp, c_prev, acts, c)
        return h, c

    @staticmethod
    def backward(ctx, dh, dc):
        xp, hp, c_prev, acts, c = ctx.saved_tensors
        if _gs.enabled:  # double backward: the same step in differentiable ops
            return _grads_through(_lstm_composite, (xp, hp, c_prev), (dh, dc))
        dg, dcp = _C.lstm_cell_backward(None if dh is None else dh._impl, None if dc is None else dc._impl,
                                        acts._impl, c_prev._impl, c._impl)
        dg = _wrap(dg)
        return dg, dg, _wrap(dcp)


class _GRUCellFn(Function):
    """The pointwise part of a GRU step in one kernel each way (`_C.gru_cell`, cpu/rnn.cpp)."""
    _builtin = True
    _grad_fn_name = "GruCellBackward"

    @staticmethod
    def forward(ctx, xp, hp, h_prev):
        h, acts = _C.gru_cell(xp._impl, hp._impl, h_prev._impl)
        ctx.save_for_backward(xp, hp, h_prev, _wrap(acts))
        return _wrap(h)

    @staticmethod
    def backward(ctx, dh):
        xp, hp, h_prev, acts = ctx.saved_tensors
        if _gs.enabled:
            return _grads_through(_gru_composite, (xp, hp, h_prev), (dh,))
        dxp, dhp, dhv = _C.gru_cell_backward(dh._impl, acts._impl, hp._impl, h_prev._impl)
        return _wrap(dxp), _wrap(dhp), _wrap(dhv)


def _lstm_composite(xp, hp, c):
    i, f, g, o = (xp + hp).chunk(4, -1)
    c = flambeau.sigmoid(f) * c + flambeau.sigmoid(i) * flambeau.tanh(g)
    return flambeau.sigmoid(o) * flambeau.tanh(c), c


def _gru_composite(xp, hp, h):
    xr, xz, xn = xp.chunk(3, -1)
    hr, hz, hn = hp.chunk(3, -1)
    r = flambeau.sigmoid(xr + hr)
    z = flambeau.sigmoid(xz + hz)
    n = flambeau.tanh(xn + r * hn)
    return (1 - z) * n + z * h


def _grads_through(fn, inputs, grads):
    """Gradients of fn's outputs with respect to inputs, with a graph (create_graph backward).

    fn runs on fresh views of the inputs: the gradient asked for is only along fn's own paths. On the
    inputs themselves, a path from one input to another through the graph that made them (a GRU step's
    hp = h W_hh^T + b_hh is made from its h_prev) would be counted here and again by the caller."""
    inputs = tuple(x.view_as(x) if x.requires_grad else x for x in inputs)
    outs = fn(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    pairs = [(o, g) for o, g in zip(outs, grads) if g is not None]
    need = [x for x in inputs if x.requires_grad]
    got = iter(flambeau.autograd.grad([o for o, _ in pairs], need, [g for _, g in pairs], create_graph=True,
                                      allow_unused=True)) if pairs and need else iter(())
    return tuple(next(got) if x.requires_grad else None for x in inputs)


def _rnn_step(mode, xp, h, c, w_hh, b_hh, w_hr=None):
    """One time step given xp = x W_ih^T + b_ih: returns (h', c'). LSTM and GRU steps on the CPU run
    the fused kernels; elsewhere (CUDA, meta) the same step in tensor ops. w_hr: LSTM projection (h' = W_hr h)."""
    hp = F.linear(h, w_hh, b_hh)
    if mode == "RNN_TANH":
        return flambeau.tanh(xp + hp), None
    if mode == "RNN_RELU":
        return F.relu(xp + hp), None
    fused = xp._impl.device == "cpu"  # (cuda and meta: the tensor ops)
    if mode == "LSTM":
        h, c = _LSTMCellFn.apply(xp, hp, c) if fused else _lstm_composite(xp, hp, c)
        return (h if w_hr is None else F.linear(h, w_hr)), c
    return (_GRUCellFn.apply(xp, hp, h) if fused else _gru_composite(xp, hp, h)), None


def _run_direction(mode, xs, batch_sizes, h, c, w_hh, b_hh, w_hr, reverse):
    """One layer and direction over the steps' input projections xs (a sequence of [N_t, G]) from the
    initial states h, c ([N, H]). batch_sizes None: every step has the full batch. Otherwise (packed
    input, N_t = batch_sizes[t], non-increasing) the forward direction drops the rows of the sequences
    that have ended, keeping them as their final states, and the reverse direction, walking from the last
    step, adds each sequence's initial state rows when its last step is reached.
    Returns (outputs of every step concatenated along dim 0, final h, final c)."""
    lstm = mode == "LSTM"
    L = len(xs)
    steps = [None] * L
    if batch_sizes is None:
        for t in (range(L - 1, -1, -1) if reverse else range(L)):
            h, c = _rnn_step(mode, xs[t], h, c, w_hh, b_hh, w_hr)
            steps[t] = h
        return flambeau.stack(steps), h, c
    if not reverse:
        cur = h.shape[0]
        done_h, done_c = [], []
        for t in range(L):
            b = batch_sizes[t]
            if b < cur:  # sequences b..cur-1 ended at step t-1: their states are final
                done_h.append(h[b:cur])
                h = h[:b]
                if lstm:
                    done_c.append(c[b:cur])
                    c = c[:b]
                cur = b
            h, c = _rnn_step(mode, xs[t], h, c, w_hh, b_hh, w_hr)
            steps[t] = h
        if done_h:
            h = flambeau.cat([h] + done_h[::-1], 0)
            if lstm:
                c = flambeau.cat([c] + done_c[::-1], 0)
        return flambeau.cat(steps, 0), h, c
    h0, c0 = h, c
    cur = batch_sizes[L - 1]
    if cur < h0.shape[0]:
        h = h0[:cur]
        c = c0[:cur] if lstm else None
    for t in range(L - 1, -1, -1):
        b = batch_sizes[t]
        if b > cur:  # sequences cur..b-1 have their last element at step t: they start here
            h = flambeau.cat([h, h0[cur:b]], 0)
            if lstm:
                c = flambeau.cat([c, c0[cur:b]], 0)
            cur = b
        h, c = _rnn_step(mode, xs[t], h, c, w_hh, b_hh, w_hr)
        steps[t] = h
    return flambeau.cat(steps, 0), h, c


class RNNBase(Module):
    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                          stacklevel=2)
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        gate = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        dirs = 2 if bidirectional else 1
        kw = dict(device=device, dtype=dtype)
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for d in range(dirs):
                size_in = input_size if layer == 0 else real_hidden * dirs
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                names = [f"weight_ih{sfx}", f"weight_hh{sfx}"]
                shapes = [(gate, size_in), (gate, real_hidden)]
                if bias:
                    names += [f"bias_ih{sfx}", f"bias_hh{sfx}"]
                    shapes += [(gate,), (gate,)]
                if proj_size > 0:
                    names.append(f"weight_hr{sfx}")
                    shapes.append((proj_size, hidden_size))
                for name, shape in zip(names, shapes):
                    setattr(self, name, Parameter(flambeau.empty(shape, **kw)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def flatten_parameters(self):
        """A no-op, as PyTorch's on the CPU (it packs cuDNN's weight buffer there)."""

    @property
    def _flat_weights(self):
        return [getattr(self, n, None) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += f", bidirectional={self.bidirectional}"
        return s

    def _weights(self, layer, d):
        sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
        b = (getattr(self, f"bias_ih{sfx}"), getattr(self, f"bias_hh{sfx}")) if self.bias else (None, None)
        w_hr = getattr(self, f"weight_hr{sfx}") if self.proj_size > 0 else None
        return getattr(self, f"weight_ih{sfx}"), getattr(self, f"weight_hh{sfx}"), b[0], b[1], w_hr

    @staticmethod
    def permute_hidden(hx, permutation):
        if permutation is None:
            return hx
        if isinstance(hx, tuple):
            return tuple(t.index_select(1, permutation) for t in hx)
        return hx.index_select(1, permutation)

    def _check_hidden(self, hx, x, n):
        """hx: (h0, c0) or h0 or None, batch n. Returns (h0, c0), zeros of x's dtype and device if not given."""
        lstm = self.mode == "LSTM"
        k = self.num_layers * (2 if self.bidirectional else 1)
        want_h = (k, n, self.proj_size if self.proj_size > 0 else self.hidden_size)
        want_c = (k, n, self.hidden_size)
        if hx is None:
            h0 = flambeau.zeros(want_h, dtype=x.dtype, device=x.device)
            c0 = (h0 if want_c == want_h else flambeau.zeros(want_c, dtype=x.dtype, device=x.device)) if lstm else None
            return h0, c0
        h0, c0 = hx if lstm else (hx, None)
        checks = (("hidden[0]", h0, want_h), ("hidden[1]", c0, want_c)) if lstm else (("hidden", h0, want_h),)
        for name, t, want in checks:
            if tuple(t.shape) != want:
                raise RuntimeError(f"Expected {name} size {want}, got {list(t.shape)}")
        return h0, c0

    def _run(self, x, batch_sizes, hx):
        """x: [L, N, H_in] (sequence first; batch_sizes None) or a packed sequence's data [sum(batch_sizes),
        H_in] with batch_sizes a list of ints; hx (h0, c0) or h0, each [layers*dirs, N, H], or None."""
        lstm = self.mode == "LSTM"
        dirs = 2 if self.bidirectional else 1
        w0 = getattr(self, self._flat_weights_names[0])
        if x.dtype != w0.dtype and _amp_cast.state[0] is None:  # (autocast: see _autocast_forward)
            raise ValueError(f"RNN input dtype ({x.dtype}) does not match weight dtype ({w0.dtype}). Convert input: "
                             f"input.to({w0.dtype}), or convert model: model.to({x.dtype})")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                               f"{x.shape[-1]}")
        if batch_sizes is None:
            if x.shape[0] == 0:
                raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
            n = x.shape[1]
        else:
            n = batch_sizes[0] if batch_sizes else 0
        h0, c0 = self._check_hidden(hx, x, n)
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, d)
                if _amp_cast.state[0] is not None:  # a half input under autocast (_autocast_forward)
                    w_hh, b_hh, w_hr = _amp_cast.lower(w_hh, b_hh, w_hr)
                # Every time step's input projection at once, then one view per step (unbind / split:
                # their backward joins the step gradients; xp[t] would add a zero-filled [L, N, G] per step).
                xp = F.linear(x, w_ih, b_ih)
                k = layer * dirs + d
                if lstm and batch_sizes is None and w_hr is None and xp._impl.device == "cpu":
                    # the whole sequence as one node (_lstm_layer.py): no per-step graph (cpu kernels only: not on
                    # cuda, nor on meta, where the per-step ops below work out the shapes)
                    out, h, c = LSTMLayerFn.apply(xp, h0[k], c0[k], w_hh, b_hh, d == 1)
                elif self.mode == "GRU" and batch_sizes is None and xp._impl.device == "cpu":
                    out, h = GRULayerFn.apply(xp, h0[k], w_hh, b_hh, d == 1)  # _gru_layer.py
                    c = None
                else:
                    xs = xp.unbind(0) if batch_sizes is None else xp.split(batch_sizes, 0)
                    out, h, c = _run_direction(self.mode, xs, batch_sizes, h0[k], c0[k] if lstm else None, w_hh,
                                               b_hh, w_hr, d == 1)
                outs.append(out)
                h_n.append(h)
                if lstm:
                    c_n.append(c)
            x = outs[0] if dirs == 1 else flambeau.cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        h_n = flambeau.stack(h_n)
        return x, ((h_n, flambeau.stack(c_n)) if lstm else h_n)

    def forward(self, input, hx=None):
        if _amp_cast.state[0] is not None and self.mode in ("LSTM", "GRU"):
            return _autocast_forward(self, input, hx)
        return self._forward_impl(input, hx)

    def _forward_impl(self, input, hx=None):
        from ..utils.rnn import PackedSequence
        lstm = self.mode == "LSTM"
        name = type(self).__name__
        if isinstance(input, PackedSequence):
            data, batch_sizes, sorted_indices, unsorted_indices = input
            if data.dim() != 2:
                raise RuntimeError(f"input must have 2 dimensions, got {data.dim()}")
            if hx is not None:
                hx = self.permute_hidden(tuple(hx) if lstm else hx, sorted_indices)
            out, hid = self._run(data, [int(b) for b in batch_sizes.tolist()], hx)
            return (PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices),
                    self.permute_hidden(hid, unsorted_indices))
        batched = input.dim() == 3
        if input.dim() not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D"
                             f"{' tensor' if self.mode.startswith('RNN') else ''} instead")
        want = 3 if batched else 2
        if hx is not None:
            dims = [t.dim() for t in hx] if lstm else [hx.dim()]
            if any(dd != want for dd in dims):
                kind = "batched 3-D" if batched else "unbatched 2-D"
                if lstm:
                    raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got "
                                       f"({dims[0]}-D, {dims[1]}-D) tensors")
                raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {dims[0]}-D tensor")
        if not batched:
            input = input.unsqueeze(1)
            if hx is not None:
                hx = tuple(t.unsqueeze(1) for t in hx) if lstm else hx.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        out, hid = self._run(input, None, hx)
        if not batched:
            out = out.squeeze(1)
            hid = tuple(t.squeeze(1) for t in hid) if lstm else hid.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, hid


def _no_proj(kwargs):
    if "proj_size" in kwargs:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
    if kwargs:
        raise TypeError(f"__init__() got an unexpected keyword argument '{next(iter(kwargs))}'")


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None, **kwargs):
        _no_proj(kwargs)
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o; c_t = f c_{t-1} + i g, h_t = o tanh(c_t) (times W_hr, of shape
    [proj_size, hidden_size], when proj_size > 0: h_t and the output then have proj_size features)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    """Gated recurrent unit: gates r, z; n = tanh(x W_in + b_in + r (h W_hn + b_hn)), h' = (1 - z) n + z h."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None, **kwargs):
        _no_proj(kwargs)
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


class RNNCellBase(Module):
    def __init__(self, mode, input_size, hidden_size, bias, device=None, dtype=None):
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gate = _GATES[mode] * hidden_size
        kw = dict(device=device, dtype=dtype)
        self.weight_ih = Parameter(flambeau.empty((gate, input_size), **kw))
        self.weight_hh = Parameter(flambeau.empty((gate, hidden_size), **kw))
        if bias:
            self.bias_ih = Parameter(flambeau.empty(gate, **kw))
            self.bias_hh = Parameter(flambeau.empty(gate, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        return s

    def _cell(self, input, hx):
        if input.dim() not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        batched = input.dim() == 2
        lstm = self.mode == "LSTM"
        if not batched:
            input = input.unsqueeze(0)
        if hx is None:
            z = flambeau.zeros((input.shape[0], self.hidden_size), dtype=input.dtype, device=input.device)
            h, c = z, (z if lstm else None)
        else:
            h, c = hx if lstm else (hx, None)
            if not batched:
                h, c = h.unsqueeze(0), (c.unsqueeze(0) if lstm else None)
        xp = F.linear(input, self.weight_ih, self.bias_ih)
        h, c = _rnn_step(self.mode, xp, h, c, self.weight_hh, self.bias_hh)
        if not batched:
            h, c = h.squeeze(0), (c.squeeze(0) if lstm else None)
        return (h, c) if lstm else h


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, bias,
                         device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._cell(input, hx)


def _autocast_forward(module, input, hx):
    """LSTM, GRU, LSTMCell and GRUCell inside a CPU autocast region, as PyTorch's: they run in their
    input's dtype. A float32 input gives float32 results (the autocast casts of the inner products
    left off); a bfloat16/float16 input, as a preceding autocast Linear makes, gives results in that
    dtype (the inner products cast to it, as autocast casts them)."""
    from ..utils.rnn import PackedSequence
    x = input.data if isinstance(input, PackedSequence) else input
    run = module._forward_impl if isinstance(module, RNNBase) else module._cell
    if x.dtype in (flambeau.float16, flambeau.bfloat16):
        saved = _amp_cast.state[0]
        _amp_cast.state[0] = str(x.dtype).rsplit(".", 1)[-1]
        try:
            return run(input, hx)
        finally:
            _amp_cast.state[0] = saved
    with _amp_cast.full_precision():
        return run(input, hx)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if _amp_cast.state[0] is not None:
            return _autocast_forward(self, input, hx)
        return self._cell(input, hx)


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if _amp_cast.state[0] is not None:
            return _autocast_forward(self, input, hx)
        return self._cell(input, hx)
