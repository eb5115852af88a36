"""torch.onnx.export: trace the model on its example inputs (_trace.py), translate each recorded op
(_symbolic.py) into ONNX nodes, and write the ModelProto (_proto.py).

Dynamic axes. A traced program sees concrete sizes: `x.view(x.size(0), -1)` records (2, 400), not
(batch, 400). When dynamic_axes names some input axes, the model is traced a second time with those axes
one longer (the inputs' data repeated along them, so token ids stay valid) and the two recordings are
matched op by op: a size that differs between them depends on a dynamic axis. The translations then use
the ONNX forms that follow the input at run time (Reshape's 0 = "this input dim" and -1, Expand's 1, sizes
read with Shape), and raise where they have none. Models whose ops themselves change with the batch size
(Python branching on sizes) are refused.
"""
import enum
import io
import os

import numpy as np

from .. import nn
from .._tensor import Tensor
from . import _proto
from ._symbolic import FACTORIES, SYMBOLICS
from ._trace import Val, tensors_of, trace
from .errors import OnnxExporterError, UnsupportedOperatorError

DEFAULT_OPSET = 17
_MIN_OPSET, _MAX_OPSET = 13, 20
# the IR version each opset first appeared with (onnx/helper.py's table, from the spec's release notes)
_IR_VERSION = {13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9}
_WHOLE_MODULES = {nn.LSTM: "lstm_module", nn.GRU: "gru_module", nn.RNN: "rnn_module"}

_in_export = False


class OperatorExportTypes(enum.IntEnum):
    ONNX = 0
    ONNX_ATEN = 1
    ONNX_ATEN_FALLBACK = 2
    ONNX_FALLTHROUGH = 3


class TrainingMode(enum.IntEnum):
    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


def is_in_onnx_export():
    """True while export() is running the model (a model may take an export-friendly path)."""
    return _in_export


class ONNXProgram:
    """What export(..., dynamo=True) returns: the serialized model, with save(). `model_proto` parses it with
    the onnx package (needed only for that)."""

    def __init__(self, model_bytes):
        self.model_bytes = model_bytes

    def save(self, destination, **kwargs):
        _write(self.model_bytes, destination)

    @property
    def model_proto(self):
        import onnx
        return onnx.load_model_from_string(self.model_bytes)

    def __repr__(self):
        return f"ONNXProgram({len(self.model_bytes)} bytes)"


def _np_dtype(dtype):
    name = str(dtype).rsplit(".", 1)[-1]
    try:
        return np.dtype(name)
    except TypeError:
        raise UnsupportedOperatorError(f"onnx export: dtype {dtype} has no ONNX element type here") from None


# ONNX ops a translation may apply to constants, computed with numpy instead (same dtype rules: both
# operands already have the output's dtype)
_FOLD = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Neg": np.negative,
         "Transpose": lambda x, perm=None: np.transpose(x, perm),
         # (a 0 in the shape means "keep this dim" in ONNX: left to the runtime)
         "Reshape": lambda x, shape: None if 0 in shape.tolist() else x.reshape(shape.tolist()),
         "Squeeze": lambda x, axes: np.squeeze(x, tuple(axes.tolist())),
         "Unsqueeze": lambda x, axes: np.expand_dims(x, tuple(axes.tolist())),
         "Slice": lambda x, starts, ends, axes=None, steps=None: x[_slices(x.ndim, starts, ends, axes, steps)]}


def _slices(ndim, starts, ends, axes, steps):
    """ONNX Slice's bounds as a numpy index (positive steps: Python clamps as ONNX does)."""
    sl = [slice(None)] * ndim
    starts, ends = starts.tolist(), ends.tolist()
    axes = list(range(len(starts))) if axes is None else axes.tolist()
    steps = [1] * len(starts) if steps is None else steps.tolist()
    for s, e, a, st in zip(starts, ends, axes, steps):
        sl[a] = slice(s, e, st)
    return tuple(sl)


class _Graph:
    """The ONNX graph being built; the helpers the symbolic functions call."""

    def __init__(self, opset, param_names, dyn_dims, fold=True):
        self.opset = opset
        self.fold = fold                  # do_constant_folding
        self.param_names = param_names    # id(tensor) -> state_dict name
        self.dyn_dims = dyn_dims          # [(input name, axis, size in trace 1, size in trace 2)]
        self.nodes = []                   # [op_type, inputs, outputs, attrs]
        self.inits = {}                   # name -> ndarray
        self.const_of = {}                # id(tensor) -> initializer name
        self.env = {}                     # recorded value name -> ONNX value name
        self.count = 0

    def fresh(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    # -- nodes and constants --------------------------------------------------------------------------
    def op(self, op_type, *inputs, outs=1, **attrs):
        inputs = list(inputs)
        while inputs and inputs[-1] == "":  # trailing optional inputs left out
            inputs.pop()
        fold = _FOLD.get(op_type)
        if self.fold and fold is not None and all(i in self.inits for i in inputs):
            # a translation's own step on constants (baddbmm's beta * input): computed here
            value = fold(*[self.inits[i] for i in inputs], **attrs)
            if value is not None:
                return self.const(np.asarray(value))
        names = [self.fresh(op_type) for _ in range(outs)]
        self.nodes.append([op_type, inputs, names, attrs])
        return names[0] if outs == 1 else names

    def const(self, array, name=None):
        name = name or self.fresh("onnx::Const")
        self.inits[name] = np.asarray(array)
        return name

    def scalar(self, value, dtype):
        return self.const(np.array(value, dtype=dtype))

    def ints(self, values, scalar=False):
        return self.const(np.array(values if not scalar else int(values), dtype=np.int64))

    def np_dtype(self, val):
        return _np_dtype(val.dtype)

    def v(self, val):
        """The ONNX name of a recorded tensor: its graph value, or an initializer holding its value."""
        if not isinstance(val, Val):
            raise UnsupportedOperatorError(f"onnx export: expected a tensor, got {val!r}")
        if val.name is not None:
            return self.env[val.name]
        key = id(val.t) if val.snap is None else (id(val.t), hash(val.snap.tobytes()))
        name = self.const_of.get(key)
        if name is None:
            name = self.param_names.get(id(val.t)) if val.snap is None else None
            if name is None and val.t2 is not None and val.t2 is not val.t:
                self._check_constant(val)
            if name is None or name in self.inits:
                name = self.fresh("onnx::Const")
            self.inits[name] = val.snap if val.snap is not None else np.array(val.t.detach().cpu().numpy(), copy=True)
            self.const_of[key] = name
        return name

    @staticmethod
    def _check_constant(val):
        """A tensor nothing recorded produced must be the same in both traces: one that changed with the
        inputs was computed from them by something the tracer did not see."""
        a = val.snap if val.snap is not None else val.t.detach().cpu().numpy()
        b = val.snap2 if val.snap2 is not None else val.t2.detach().cpu().numpy()
        if a.shape != b.shape:
            raise UnsupportedOperatorError(
                f"onnx export: a tensor the model builds without using its inputs has a shape that follows a "
                f"dynamic axis ({a.shape} vs {b.shape}); build it from the input (e.g. zeros_like) to export it "
                f"with dynamic axes")
        if not np.array_equal(a, b, equal_nan=np.issubdtype(a.dtype, np.floating)):
            raise OnnxExporterError(
                f"onnx export: a tensor of shape {a.shape} changes with the inputs but was not produced by any op "
                f"the exporter saw (computed by a call that bypasses flambeau's API dispatch, or random): "
                f"exporting it as a constant would be wrong")

    def cast(self, name, to, frm=None):
        to = np.dtype(to)
        if frm is not None and np.dtype(frm) == to:
            return name
        return self.op("Cast", name, to=_proto.onnx_dtype(to))

    def operand(self, x, dtype):
        """A binary op's operand in dtype: a tensor (cast when it differs) or a Python number."""
        if isinstance(x, Val):
            return self.cast(self.v(x), dtype, self.np_dtype(x))
        if isinstance(x, (bool, int, float)):
            return self.scalar(x, dtype)
        raise UnsupportedOperatorError(f"onnx export: unsupported operand {x!r}")

    def transposed(self, w):
        """w.T for a MatMul: folded into an initializer when w is a parameter or constant."""
        name = self.v(w)
        if self.fold and name in self.inits:
            return self.const(np.ascontiguousarray(self.inits[name].T))
        return self.op("Transpose", name, perm=[1, 0])

    def reduce(self, op, x, axes, keepdims):
        """Reduce* over axes (None: all). ReduceSum takes axes as an input from opset 13, the others
        from opset 18; before, as an attribute."""
        if axes is None:
            return self.op(op, x, keepdims=int(keepdims))
        if op == "ReduceSum" or self.opset >= 18:
            return self.op(op, x, self.ints(axes), keepdims=int(keepdims))
        return self.op(op, x, axes=list(axes), keepdims=int(keepdims))

    # -- sizes that may follow a dynamic axis --------------------------------------------------------
    def reshape(self, x, out):
        """Reshape x to out's shape: a size equal in both traces is a constant; one that differs is 0 ("the
        input's size here") when it is the input's size at the same position in both traces, else the one
        -1 of the shape; more than that is written with Shape."""
        s1, s2, i1, i2 = out.shape, out.shape2, x.shape, x.shape2
        if s1 == i1 and s2 == i2:
            return self.v(x)
        shape, minus = [], False
        for j, (a, b) in enumerate(zip(s1, s2)):
            if a == b:
                if a == 0:
                    return self.op("Reshape", self.v(x), self.shape_tensor(s1, s2, None), allowzero=1)
                shape.append(a)
            elif j < len(i1) and i1[j] == a and i2[j] == b:
                shape.append(0)
            elif not minus:
                shape.append(-1)
                minus = True
            else:
                return self.op("Reshape", self.v(x), self.shape_tensor(s1, s2, None))
        return self.op("Reshape", self.v(x), self.ints(shape))

    def size_scalar(self, a, b, n):
        """A 0-d int64 size: a constant, or (a then b in the second trace) read from the input with that dynamic
        axis by Shape and a scalar Gather (the form PyTorch writes; onnxruntime's fusions expect it)."""
        if a == b:
            return self.ints(a, scalar=True)
        src = self._dyn_source(a, b, n)
        return self.op("Gather", self.op("Shape", self.env[src[0]]), self.ints(src[1], scalar=True), axis=0)

    def _dyn_source(self, a, b, n):
        src = next(((nm, ax) for nm, ax, x1, x2 in self.dyn_dims if (x1, x2) == (a, b)), None)
        if src is None:
            raise UnsupportedOperatorError(
                f"onnx export: '{n.op if n else 'reshape'}' takes a size or index {a} (then {b} in the second "
                f"trace), which follows a dynamic axis but is no input's size; not supported")
        return src

    def shape_tensor(self, s1, s2, n):
        """A 1-D int64 shape: static sizes as constants, a size that differs between the traces read from
        the model input whose dynamic axis has the same two sizes."""
        parts, static = [], []
        for a, b in zip(s1, s2):
            if a == b:
                static.append(a)
                continue
            src = self._dyn_source(a, b, n)
            if static:
                parts.append(self.ints(static))
                static = []
            parts.append(self.op("Gather", self.op("Shape", self.env[src[0]]), self.ints([src[1]]), axis=0))
        if static:
            parts.append(self.ints(static))
        return parts[0] if len(parts) == 1 else self.op("Concat", *parts, axis=0)


# -------------------------------------------------------------------------------------------------------
def _flatten_args(args, kwargs):
    if isinstance(args, Tensor):
        args = (args,)
    elif not isinstance(args, tuple):
        args = tuple(args) if isinstance(args, list) else (args,)
    kwargs = dict(kwargs or {})
    if args and isinstance(args[-1], dict):
        kwargs.update(args[-1])
        args = args[:-1]
    return args, kwargs


def _replace(x, mapping):
    if isinstance(x, Tensor):
        return mapping.get(id(x), x)
    if isinstance(x, tuple):
        return tuple(_replace(e, mapping) for e in x)
    if isinstance(x, list):
        return [_replace(e, mapping) for e in x]
    if isinstance(x, dict):
        return {k: _replace(v, mapping) for k, v in x.items()}
    return x


def _dynamic_axes(dynamic_axes, names):
    """{name: {axis: symbol}}; a list of axes gets PyTorch's generated symbol names."""
    out = {}
    for name, axes in (dynamic_axes or {}).items():
        if name not in names:
            raise ValueError(f"onnx export: dynamic_axes names {name!r}, which is no input or output name "
                             f"(inputs and outputs: {names})")
        if isinstance(axes, dict):
            out[name] = {int(a): str(s) for a, s in axes.items()}
        else:
            out[name] = {int(a): f"{name}_dynamic_axes_{i + 1}" for i, a in enumerate(axes)}
    return out


def _pair_vals(a, b, where):
    """Sets each Val's t2 in recording a from the matching Val of recording b."""
    if isinstance(a, Val):
        if not isinstance(b, Val):
            raise OnnxExporterError(f"onnx export: {where} differs between the two traces")
        a.t2, a.snap2 = b.t, b.snap
    elif isinstance(a, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(a) != len(b):
            raise OnnxExporterError(f"onnx export: {where} differs between the two traces")
        for x, y in zip(a, b):
            _pair_vals(x, y, where)
    elif isinstance(a, dict):
        for k in a:
            _pair_vals(a[k], b.get(k), where)


def _second_inputs(inputs, names, dyn):
    """The inputs with each dynamic axis one longer (the symbol's size shared by all inputs naming it)."""
    from .. import from_numpy
    sizes, mapping, dyn_dims = {}, {}, []
    for t, name in zip(inputs, names):
        axes = dyn.get(name) or {}
        a = t.detach().cpu().numpy()
        if np.issubdtype(a.dtype, np.floating):
            a = a * np.asarray(0.75, a.dtype) + np.asarray(0.125, a.dtype)
        for axis, sym in sorted(axes.items()):
            if not -a.ndim <= axis < a.ndim:
                raise ValueError(f"onnx export: dynamic_axes[{name!r}] names axis {axis} of a {a.ndim}-d input")
            axis %= a.ndim
            n1 = t.shape[axis]
            if n1 == 0:
                raise ValueError(f"onnx export: dynamic axis {axis} of input {name!r} has size 0 in the example")
            n2 = sizes.setdefault(sym, n1 + 1 if n1 > 1 else 3)
            a = np.take(a, np.arange(n2) % n1, axis=axis)
            dyn_dims.append((name, axis, n1, n2))
        t2 = from_numpy(np.ascontiguousarray(a))
        mapping[id(t)] = t2 if t.device.type == "cpu" else t2.to(t.device)
    return mapping, dyn_dims


def _unchanged(val):
    """Whether a constant node's output is the same in both traces."""
    a, b = val.snap, val.snap2
    if a is None or b is None or a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(np.array_equal(a, b, equal_nan=np.issubdtype(a.dtype, np.floating)))


def _fuse_conv_batchnorm(g, outputs):
    """Conv followed by an inference BatchNormalization, both on constant weights, becomes one Conv with
    w * s and (b - mean) * s + beta, s = gamma / sqrt(var + eps) (computed in float64), as PyTorch's
    exporter does in eval mode. The Conv's output must feed nothing else."""
    producer, uses = {}, {}
    for i, (op, ins, outs, _) in enumerate(g.nodes):
        for o in outs:
            producer[o] = i
        for x in ins:
            uses[x] = uses.get(x, 0) + 1
    drop = set()
    for j, (op, ins, outs, attrs) in enumerate(g.nodes):
        if op != "BatchNormalization" or len(outs) != 1 or ins[0] not in producer:
            continue
        i = producer[ins[0]]
        cop, cins, couts, cattrs = g.nodes[i]
        if cop != "Conv" or uses.get(ins[0]) != 1 or ins[0] in outputs or i in drop:
            continue
        if not all(x in g.inits for x in cins[1:] + ins[1:5]):
            continue
        w = g.inits[cins[1]]
        gamma, beta, mean, var = (g.inits[x].astype(np.float64) for x in ins[1:5])
        b = g.inits[cins[2]].astype(np.float64) if len(cins) > 2 else np.zeros(w.shape[0])
        scale = gamma / np.sqrt(var + attrs.get("epsilon", 1e-5))
        w2 = (w.astype(np.float64) * scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(w.dtype)
        b2 = ((b - mean) * scale + beta).astype(w.dtype)
        g.nodes[i] = [cop, [cins[0], g.const(w2), g.const(b2)], outs, cattrs]
        drop.add(j)
    g.nodes = [nd for k, nd in enumerate(g.nodes) if k not in drop]


def _export_bytes(model, args, kwargs, input_names, output_names, opset, dynamic_axes,
                  keep_initializers_as_inputs, verbose, fold=True):
    args, kwargs = _flatten_args(args, kwargs)
    inputs = tensors_of(list(args)) + tensors_of(list(kwargs.values()))
    input_names = list(input_names or [])
    if len(input_names) > len(inputs):
        raise ValueError(f"onnx export: {len(input_names)} input_names for {len(inputs)} input tensors")
    input_names += [f"input_{k}" for k in range(len(input_names), len(inputs))]

    params = {}
    if isinstance(model, nn.Module):
        for name, p in model.named_parameters():
            params.setdefault(id(p), name)
        for name, b in model.named_buffers():
            if b is not None:
                params.setdefault(id(b), name)

    from .. import no_grad
    with no_grad():
        nodes, result, tracer = trace(model, args, kwargs, input_names, SYMBOLICS, _WHOLE_MODULES, params, FACTORIES)
        outputs = tensors_of(result)
        output_names = list(output_names or [])
        if len(output_names) > len(outputs):
            raise ValueError(f"onnx export: {len(output_names)} output_names for {len(outputs)} output tensors")
        output_names += [f"output_{k}" for k in range(len(output_names), len(outputs))]
        dyn = _dynamic_axes(dynamic_axes, input_names + output_names)
        # the second trace: dynamic axes one longer and floating-point inputs changed, to tell sizes and
        # constants that follow the inputs from those that do not
        mapping, dyn_dims = _second_inputs(inputs, input_names, dyn)
        nodes2, result2, _ = trace(model, _replace(args, mapping), _replace(kwargs, mapping), input_names,
                                   SYMBOLICS, _WHOLE_MODULES, params, FACTORIES)
        if [n.op for n in nodes] != [n.op for n in nodes2]:
            raise OnnxExporterError(
                "onnx export: the model runs different ops on other input values or sizes (Python control flow "
                "on data or sizes?); a trace cannot capture it")
        for a, b in zip(nodes, nodes2):
            where = f"an argument of '{a.op}'"
            _pair_vals(a.args, b.args, where)
            _pair_vals(a.kwargs, b.kwargs, where)
            _pair_vals(a.outs, b.outs, where)
            a.args2, a.kwargs2, a.outs2 = b.args, b.kwargs, b.outs
        outputs2 = tensors_of(result2)

    g = _Graph(opset, params, dyn_dims, fold)
    for name in input_names:
        g.env[name] = name
    for n in nodes:
        if verbose:
            print(f"onnx export: {n}")
        if fold and n.const and all(_unchanged(v) for v in n.outs):
            # computed from constants only, and the same in both traces: its value is the initializer
            for val in n.outs:
                g.env[val.name] = g.const(val.snap)
            continue
        names = SYMBOLICS[n.op](g, n)
        if isinstance(names, str):
            names = [names]
        if len(names) != len(n.outs):
            raise OnnxExporterError(f"onnx export: translation of '{n.op}' gave {len(names)} outputs for "
                                    f"{len(n.outs)}")
        for val, name in zip(n.outs, names):
            g.env[val.name] = name

    # graph outputs under their names: the producing node's output renamed, or an Identity
    rename = {}
    used = set(input_names)
    for t, t2, name in zip(outputs, outputs2, output_names):
        rec = tracer.names.get(id(t))
        if rec is None:
            const = Val(None, t)
            const.t2 = t2
            inner = g.v(const)
        else:
            inner = g.env[rec]
        if inner in used or inner in g.inits or inner in rename:
            g.nodes.append(["Identity", [rename.get(inner, inner)], [name], {}])
        else:
            rename[inner] = name
        used.add(name)
    for node in g.nodes:
        node[1] = [rename.get(i, i) for i in node[1]]
        node[2] = [rename.get(o, o) for o in node[2]]

    if fold:
        _fuse_conv_batchnorm(g, set(output_names))
    # dead-code elimination (a traced composite may have computed things it did not return)
    needed, kept = set(output_names), []
    for node in reversed(g.nodes):
        if any(o in needed for o in node[2]):
            kept.append(node)
            needed.update(i for i in node[1] if i)
    kept.reverse()

    def dims(t, t2, name):
        axes = dyn.get(name, {})
        out = []
        for i, (a, b) in enumerate(zip(t.shape, t2.shape)):
            if i in axes:
                out.append(axes[i])
            elif a != b:
                sym = next((dyn[nm][ax] for nm, ax, x1, x2 in dyn_dims if (x1, x2) == (a, b)), None)
                out.append(sym or f"{name}_dim_{i}")
            else:
                out.append(int(a))
        return out

    in_vi = [_proto.value_info(name, _proto.onnx_dtype(_np_dtype(t.dtype)), dims(t, t, name))
             for t, name in zip(inputs, input_names) if name in needed]
    out_vi = [_proto.value_info(name, _proto.onnx_dtype(_np_dtype(t.dtype)), dims(t, t2, name))
              for t, t2, name in zip(outputs, outputs2, output_names)]
    inits = [(k, v) for k, v in g.inits.items() if k in needed]
    total = sum(v.nbytes for _, v in inits)
    if total >= 2 ** 31 - 2 ** 24:
        raise OnnxExporterError(f"onnx export: the weights take {total / 2 ** 30:.2f} GiB; a protobuf file holds "
                                f"less than 2 GiB and ONNX external data is not supported here")
    if keep_initializers_as_inputs:
        in_vi += [_proto.value_info(k, _proto.onnx_dtype(v.dtype), list(v.shape)) for k, v in inits]
    node_msgs = [_proto.node(op, ins, outs, name=f"/{op}_{i}", **attrs)
                 for i, (op, ins, outs, attrs) in enumerate(kept)]
    graph = _proto.graph(node_msgs, "main_graph", [_proto.tensor(k, v) for k, v in inits], in_vi, out_vi)
    from ..version import __version__
    return _proto.model(graph, opset, _IR_VERSION[opset], "flambeau", __version__).tobytes()


def _write(data, f):
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            fh.write(data)
    elif f is not None:
        f.write(data)


def export(model, args=(), f=None, *, kwargs=None, export_params=True, verbose=None, input_names=None,
           output_names=None, opset_version=None, dynamic_axes=None, keep_initializers_as_inputs=False,
           dynamo=False, training=TrainingMode.EVAL, operator_export_type=OperatorExportTypes.ONNX,
           do_constant_folding=True, external_data=True, **ignored):
    """Exports `model` (an nn.Module or a function of tensors) to ONNX, written to f (a path or a binary
    file object). The model is traced on `args` (a tensor, or a tuple of them, optionally ending in a dict
    of keyword arguments), so Python control flow is fixed to the path those inputs take. Parameters and
    buffers become initializers under their state_dict names; the model runs in eval mode (dropout is
    removed, batch norm uses its running statistics) unless training says otherwise. dynamic_axes
    ({name: {axis: symbol}} or {name: [axes]}) makes those input/output axes symbolic (dim_param).

    The default opset is 17; opsets 13 to 20 are accepted. An op without an ONNX translation raises
    UnsupportedOperatorError naming it. Returns None, or with dynamo=True an ONNXProgram (the same model:
    there is one exporter here, the argument only picks the return type)."""
    global _in_export
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if not _MIN_OPSET <= opset <= _MAX_OPSET:
        raise ValueError(f"onnx export: opset_version {opset} is not supported (flambeau exports opsets "
                         f"{_MIN_OPSET} to {_MAX_OPSET})")
    if not export_params:
        raise ValueError("onnx export: export_params=False is not supported (parameters are always written "
                         "as initializers)")
    if operator_export_type not in (OperatorExportTypes.ONNX, None):
        raise ValueError(f"onnx export: operator_export_type={operator_export_type!r} is not supported "
                         f"(only OperatorExportTypes.ONNX)")
    if ignored.get("dynamic_shapes") is not None:
        raise ValueError("onnx export: dynamic_shapes is not supported; name the dynamic axes with dynamic_axes")
    is_module = isinstance(model, nn.Module)
    was_training = model.training if is_module else False
    if is_module:
        if training == TrainingMode.EVAL:
            model.train(False)
        elif training == TrainingMode.TRAINING:
            model.train(True)
    _in_export = True
    try:
        data = _export_bytes(model, args, kwargs, input_names, output_names, opset, dynamic_axes,
                             keep_initializers_as_inputs, verbose, bool(do_constant_folding))
    finally:
        _in_export = False
        if is_module:
            model.train(was_training)
    _write(data, f)
    return ONNXProgram(data) if dynamo else None


def export_to_bytes(model, args=(), **kw):
    """export() into memory: the serialized ModelProto."""
    buf = io.BytesIO()
    export(model, args, buf, **kw)
    return buf.getvalue()
