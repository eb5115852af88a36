"""Capturing a model as a list of op calls, by running it once on example inputs under a TorchFunctionMode.

Every public API call the model makes (flambeau.*, nn.functional, Tensor methods and operators) reaches
`_Tracer.__torch_function__`. A call whose name has an ONNX translation (symbolic.SYMBOLICS) runs and is
recorded as one `Node`; any other call is entered (its plain implementation runs with the tracer still
active), so a composite function such as multi_head_attention_forward is captured as the ops it is made of.
A call that produced tensors from graph values without recording anything is an op without a translation:
it raises UnsupportedOperatorError naming it (and the composite it was inside). Calls that return no
tensor (size, dim, shape) just run. In-place writes into a value computed from the inputs (setitem,
fill_, ... without a translation) are refused: the graph would miss them.

In the recorded nodes, tensors are replaced by `Val`s: a graph value (a model input or a recorded node's
output, by its name at that point: an in-place op gives its tensor a new name) or, for a tensor nothing
recorded produced (a parameter, a buffer, a tensor the model built from constants), a constant that
becomes an initializer (copied when used, unless it is a parameter or buffer). A node whose inputs are
all constants is marked `const` and its outputs copied: export writes it as its value (constant folding)
unless the value differs between the two traces. Factories (arange, zeros, ...) are recorded as such
nodes. Modules ONNX has one op for (nn.LSTM, nn.GRU, nn.RNN) are recorded whole, their forward run
without tracing.
"""
import numpy as np

from .. import _torch_function as _tf
from .._tensor import Tensor
from ..overrides import TorchFunctionMode
from .errors import UnsupportedOperatorError

# Tensor operators under the PyTorch op names the symbolics use (the in-place forms end in "_").
_DUNDER = {"__add__": "add", "__radd__": "add", "__iadd__": "add_", "__sub__": "sub", "__rsub__": "rsub",
           "__isub__": "sub_", "__mul__": "mul", "__rmul__": "mul", "__imul__": "mul_", "__truediv__": "div",
           "__div__": "div", "__rtruediv__": "rdiv", "__rdiv__": "rdiv", "__itruediv__": "div_", "__idiv__": "div_",
           "__pow__": "pow", "__rpow__": "rpow", "__mod__": "remainder", "__floordiv__": "floor_divide",
           "__matmul__": "matmul", "__rmatmul__": "rmatmul", "__neg__": "neg", "__abs__": "abs",
           "__getitem__": "getitem", "__setitem__": "setitem", "__gt__": "gt", "__lt__": "lt", "__ge__": "ge",
           "__le__": "le", "__ifloordiv__": "floor_divide_", "__imod__": "remainder_", "__ipow__": "pow_",
           "__iand__": "bitwise_and_", "__ior__": "bitwise_or_", "__ixor__": "bitwise_xor_",
           "__ilshift__": "bitwise_left_shift_", "__irshift__": "bitwise_right_shift_", "__eq__": "eq",
           "__ne__": "ne", "__and__": "bitwise_and", "__or__": "bitwise_or", "__invert__": "bitwise_not",
           "__pos__": "positive"}


class Val:
    """A tensor in a recorded node: `name` is its graph value's name, or None for a constant (a parameter,
    buffer or tensor built from constants: `t` is then its value; `snap` a copy of a constant that is no
    parameter, taken when it was used, as the model may change it in place later). `t2` is the same tensor
    in the second trace (snap2 its copy), set when the two traces are matched."""
    __slots__ = ("name", "t", "t2", "snap", "snap2")

    def __init__(self, name, t, snap=None):
        self.name, self.t, self.t2, self.snap, self.snap2 = name, t, None, snap, None

    @property
    def shape(self):
        return tuple(self.t.shape)

    @property
    def shape2(self):
        return tuple((self.t2 if self.t2 is not None else self.t).shape)

    @property
    def ndim(self):
        return self.t.dim()

    @property
    def dtype(self):
        return self.t.dtype

    def __repr__(self):
        return f"Val({self.name or 'const'}, {tuple(self.t.shape)})"


class Node:
    """One recorded call: the op's name, its arguments with tensors as Vals, and its output Vals (the
    result's tensors in order). args2/kwargs2/outs2: the same from the second trace, when there is one."""
    __slots__ = ("op", "args", "kwargs", "outs", "const", "args2", "kwargs2", "outs2")

    def __init__(self, op, args, kwargs, outs, const):
        self.op, self.args, self.kwargs, self.outs = op, args, kwargs, outs
        self.const = const   # no input follows the model's inputs (outs carry copies: snap)
        self.args2, self.kwargs2, self.outs2 = args, kwargs, outs

    def arg(self, i, name, default=None, second=False):
        args, kwargs = (self.args2, self.kwargs2) if second else (self.args, self.kwargs)
        if i is not None and i < len(args):
            return args[i]
        return kwargs.get(name, default)

    def __repr__(self):
        return f"Node({self.op}, {self.args}, {self.kwargs}) -> {self.outs}"


def vals_of(x):
    """The Vals of a nested argument structure."""
    if isinstance(x, Val):
        yield x
    elif isinstance(x, (list, tuple)):
        for e in x:
            yield from vals_of(e)
    elif isinstance(x, dict):
        for e in x.values():
            yield from vals_of(e)


def tensors_of(x):
    """The tensors of a nested result, in order."""
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for e in x for t in tensors_of(e)]
    if isinstance(x, dict):
        return [t for e in x.values() for t in tensors_of(e)]
    return []


class _Tracer(TorchFunctionMode):
    def __init__(self, symbolics, whole_modules, params, factories=()):
        super().__init__()
        self.factories = factories          # ops recorded without a tensor argument
        self.inside = []                    # the composite calls being entered (for error messages)
        self.params = params                # ids of the model's parameters and buffers
        self.symbolics = symbolics
        self.whole_modules = whole_modules  # {module type: op name}
        self.nodes = []
        self.names = {}   # id(tensor) -> current graph value name
        self.keep = []    # every tensor seen, alive until the trace ends (ids must not be reused)
        self.const_names = set()  # outputs of nodes whose inputs are all constants
        self.count = 0
        self._attr_names = None

    # -- names -------------------------------------------------------------------------------------
    def op_name(self, func):
        if self._attr_names is None:  # Tensor's methods/operators and properties, by their wrapper's id
            self._attr_names = {}
            for k, v in Tensor.__dict__.items():
                self._attr_names[id(v)] = _DUNDER.get(k, k)
        n = self._attr_names.get(id(func))
        if n is None:
            owner = getattr(func, "__self__", None)  # a property getter: prop.__get__
            n = self._attr_names.get(id(owner)) if isinstance(owner, property) else None
        return n or getattr(func, "__name__", repr(func))

    def add_input(self, t, name):
        self.names[id(t)] = name
        self.keep.append(t)

    def _val(self, x):
        if isinstance(x, Tensor):
            self.keep.append(x)
            name = self.names.get(id(x))
            if name is None and id(x) not in self.params:
                return Val(None, x, np.array(x.detach().cpu().numpy(), copy=True))
            return Val(name, x)
        if isinstance(x, (list, tuple)) and any(isinstance(e, (Tensor, list, tuple)) for e in x):
            return type(x)(self._val(e) for e in x) if type(x) in (list, tuple) else [self._val(e) for e in x]
        if isinstance(x, dict):
            return {k: self._val(v) for k, v in x.items()}
        return x

    def _uses_graph(self, args, kwargs):
        """Whether a tensor among the arguments follows the model's inputs (a constant node's output does not)."""
        for t in tensors_of(list(args)) + tensors_of(list(kwargs.values())):
            name = self.names.get(id(t))
            if name is not None and name not in self.const_names:
                return True
        return False

    @staticmethod
    def _has_tensor(args, kwargs):
        return bool(tensors_of(list(args)) or tensors_of(list(kwargs.values())))

    def record(self, op, a, kw, result):
        """Records a call whose arguments were converted (_val) before it ran: an in-place op changes them."""
        const = all(v.name is None or v.name in self.const_names for v in vals_of((a, kw)))
        outs = []
        for t in tensors_of(result):
            self.count += 1
            name = f"{op}_{self.count}"
            self.keep.append(t)
            self.names[id(t)] = name
            outs.append(Val(name, t, np.array(t.detach().cpu().numpy(), copy=True) if const else None))
            if const:
                self.const_names.add(name)
        self.nodes.append(Node(op, a, kw, outs, const))

    # -- the mode ----------------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = self.op_name(func)
        if name in self.symbolics:
            # ops on constants too (class_token.expand(batch, -1, -1) must follow the batch size); only
            # factories (no tensor argument) give constants
            if not self._has_tensor(args, kwargs) and name not in self.factories:
                return func(*args, **kwargs)
            a, kw = self._val(args), self._val(kwargs)
            out = func(*args, **kwargs)
            if tensors_of(out):   # (x.type() with no argument returns a str)
                self.record(name, a, kw, out)
            return out
        if isinstance(getattr(func, "__self__", None), property):
            out = func(*args, **kwargs)    # shape, dtype, device ...
            if tensors_of(out) and self._uses_graph(args, kwargs):
                raise UnsupportedOperatorError(f"onnx export: no ONNX translation for the Tensor property '{name}'")
            return out
        if (name == "setitem" or (name.endswith("_") and not name.startswith("_"))) and args \
                and isinstance(args[0], Tensor) and id(args[0]) in self.names:
            if self.names[id(args[0])] not in self.const_names:
                raise UnsupportedOperatorError(
                    f"onnx export: in-place '{name}' on a value computed from the inputs has no ONNX translation "
                    f"(called with {_describe(args, kwargs)}); write it out of place")
            del self.names[id(args[0])]   # a constant changed in place: its later uses see the new value
        self.inside.append(name)
        try:
            with self:  # enter the call: a composite op is recorded as the ops it calls
                out = _tf.unwrapped(func)(*args, **kwargs)
        finally:
            self.inside.pop()
        if self._uses_graph(args, kwargs):
            for t in tensors_of(out):
                if id(t) not in self.names:
                    where = f" inside {' > '.join(self.inside)}" if self.inside else ""
                    raise UnsupportedOperatorError(
                        f"onnx export: no ONNX translation for '{name}'{where} (called with "
                        f"{_describe(args, kwargs)}); flambeau.onnx supports: {', '.join(sorted(self.symbolics))}")
        return out

    def module_forward(self, orig, op):
        """A forward (for a module class) that runs `orig` untraced and records the call as one node."""
        def forward(module, *args, **kwargs):
            a, kw = self._val((module,) + tuple(args)), self._val(kwargs)
            with _tf.DisableTorchFunction():
                out = orig(module, *args, **kwargs)
            if self._uses_graph(args, kwargs):
                self.record(op, a, kw, out)
            return out
        return forward


def _describe(args, kwargs):
    def d(x):
        if isinstance(x, Tensor):
            return f"tensor{tuple(x.shape)}"
        if isinstance(x, (list, tuple)):
            return "[" + ", ".join(d(e) for e in x) + "]"
        return repr(x)
    return ", ".join([d(a) for a in args] + [f"{k}={d(v)}" for k, v in kwargs.items()])


def trace(model, args, kwargs, input_names, symbolics, whole_modules, params=(), factories=()):
    """Runs model(*args, **kwargs) under the tracer; returns (nodes, result, tracer). params: the ids of the
    model's parameters and buffers (constants that need no copy)."""
    tracer = _Tracer(symbolics, whole_modules, params, factories)
    for t, n in zip(tensors_of(list(args)) + tensors_of(list(kwargs.values())), input_names):
        tracer.add_input(t, n)
    # modules recorded whole: their class's forward, for every instance the model reaches (a submodule or
    # not); a subclass's forward that calls super().forward is recorded through it
    patched = [(cls, cls.__dict__.get("forward")) for cls in whole_modules]
    for cls, op in whole_modules.items():
        cls.forward = tracer.module_forward(cls.forward, op)
    rebound = []
    if hasattr(model, "modules"):
        wrappers = _api_wrappers()
        for m in model.modules():
            # a module attribute holding a plain API function (TransformerEncoderLayer.activation = F.relu,
            # taken before the protocol was installed) would run unseen: the wrapper stands in meanwhile
            for k, v in list(vars(m).items()):
                w = wrappers.get(id(v))
                if w is not None and w._tf_original is v:
                    m.__dict__[k] = w
                    rebound.append((m, k, v))
    try:
        with tracer:
            result = model(*args, **kwargs)
    finally:
        for cls, fwd in patched:
            if fwd is None:
                del cls.forward   # it was inherited
            else:
                cls.forward = fwd
        for m, k, v in rebound:
            m.__dict__[k] = v
    return tracer.nodes, result, tracer


def _api_wrappers():
    """id(plain API function) -> its dispatching wrapper (installing the protocol first)."""
    import sys
    _tf.install()
    out = {}
    for modname in _tf._API_MODULES:
        mod = sys.modules.get(modname)
        for v in vars(mod).values() if mod is not None else ():
            orig = getattr(v, "_tf_original", None)
            if orig is not None:
                out[id(orig)] = v
    return out
