"""torch.rnn_tanh / rnn_relu / lstm / gru: the functional forms of the recurrent layers, taking the weights as a
flat list in nn.RNN/LSTM/GRU's _flat_weights order (per layer and direction: w_ih, w_hh[, b_ih, b_hh][, w_hr]).
They run nn.RNNBase's own code (its _run) on an RNNBase holding the given tensors in place of Parameters, so
values and gradients are those of the modules."""
import flambeau

__all__ = ["rnn_tanh", "rnn_relu", "lstm", "gru"]

_holder_cls = None


def _holder(mode, params, has_biases, num_layers, dropout, train, bidirectional, input_size):
    """An RNNBase (never constructed by its __init__) whose weights are `params`, with the options given."""
    global _holder_cls
    if _holder_cls is None:
        from ..nn.modules.rnn import RNNBase

        class _FunctionalRNN(RNNBase):
            pass
        _holder_cls = _FunctionalRNN
    dirs = 2 if bidirectional else 1
    per = len(params) // (num_layers * dirs)
    allowed = (4, 5) if has_biases else (2, 3)
    if per * num_layers * dirs != len(params) or per not in allowed or (per % 2 == 1 and mode != "LSTM"):
        raise RuntimeError(f"{mode.lower()}: got {len(params)} weight tensors for num_layers={num_layers}, "
                           f"bidirectional={bidirectional}, has_biases={has_biases}")
    proj = per % 2 == 1  # LSTM with proj_size: a weight_hr per layer and direction
    names, groups = [], []
    for layer in range(num_layers):
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
            group = [f"weight_ih{sfx}", f"weight_hh{sfx}"]
            group += [f"bias_ih{sfx}", f"bias_hh{sfx}"] if has_biases else []
            group += [f"weight_hr{sfx}"] if proj else []
            names += group
            groups.append(group)
    rnn = object.__new__(_holder_cls)
    rnn.__dict__.update(zip(names, params))
    hidden = params[per - 1].shape[1] if proj else params[1].shape[1]
    rnn.__dict__.update(mode=mode, input_size=input_size, hidden_size=hidden, num_layers=num_layers,
                        bias=has_biases, batch_first=False, dropout=float(dropout), bidirectional=bidirectional,
                        proj_size=params[1].shape[1] if proj else 0, training=bool(train),
                        _flat_weights_names=names, _all_weights=groups)
    return rnn


def _call(mode, args):
    """Either of PyTorch's overloads: (input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
    batch_first), or for packed sequences (data, batch_sizes, hx, params, has_biases, num_layers, dropout,
    train, bidirectional); returns (output, hidden) as RNNBase._run does."""
    if len(args) != 9:
        raise TypeError(f"{mode.lower()}() takes 9 positional arguments ({len(args)} given)")
    packed = isinstance(args[1], flambeau.Tensor) and args[1].dim() == 1 and args[1].dtype == flambeau.int64
    if packed:
        input, batch_sizes, hx, params, has_biases, num_layers, dropout, train, bidirectional = args
        batch_first = False
    else:
        input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first = args
    if mode == "LSTM":
        hx = tuple(hx)
    rnn = _holder(mode, list(params), has_biases, num_layers, dropout, train, bidirectional, input.shape[-1])
    if packed:
        return rnn._run(input, [int(b) for b in batch_sizes.tolist()], hx)
    if batch_first:
        input = input.transpose(0, 1)
    out, hid = rnn._run(input, None, hx)
    return (out.transpose(0, 1) if batch_first else out), hid


def rnn_tanh(*args):
    """(output, h_n) of an Elman RNN with tanh."""
    return _call("RNN_TANH", args)


def rnn_relu(*args):
    """(output, h_n) of an Elman RNN with ReLU."""
    return _call("RNN_RELU", args)


def gru(*args):
    """(output, h_n) of a GRU."""
    return _call("GRU", args)


def lstm(*args):
    """(output, h_n, c_n) of an LSTM; hx is (h_0, c_0)."""
    out, (h, c) = _call("LSTM", args)
    return out, h, c
