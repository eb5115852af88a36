"""fx.Proxy: the stand-in value a Tracer passes through a program; every operation on it becomes a
node of the graph being built (torch.fx.proxy semantics: operators, attribute access, method calls,
and flambeau functions called with a Proxy, the latter through _targets' wrappers)."""
import collections
import dis
import inspect
import operator

from .graph import Graph, magic_methods, reflectable_magic_methods
from .node import Node


def _tensor_internals():
    from .._tensor import Tensor
    return frozenset(s for s in Tensor.__slots__ if s.startswith("_") and not s.startswith("__"))


_TENSOR_INTERNALS = _tensor_internals()


class TraceError(ValueError):
    pass


class TracerBase:
    """What Proxy needs from a tracer: node creation and the value-to-argument conversion."""
    graph: Graph
    record_stack_traces = False
    check_mutable_operations = False
    trace_asserts = False
    proxy_buckets = None
    scope = None

    def create_node(self, kind, target, args, kwargs, name=None, type_expr=None):
        target = getattr(target, "__fx_original__", target)
        node = self.graph.create_node(kind, target, args, kwargs, name, type_expr)
        return node

    def proxy(self, node):
        return Proxy(node, self)

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
        args_ = self.create_arg(args)
        kwargs_ = self.create_arg(kwargs)
        if not isinstance(args_, tuple) or not isinstance(kwargs_, dict):
            raise AssertionError("create_proxy: args must be a tuple and kwargs a dict")
        node = self.create_node(kind, target, args_, kwargs_, name, type_expr)
        return self.proxy(node) if proxy_factory_fn is None else proxy_factory_fn(node)

    def create_arg(self, a):
        """A value as it may stand in node.args: proxies become their nodes, containers are walked."""
        if isinstance(a, Proxy):
            return a.node
        if isinstance(a, Node):
            return a
        if isinstance(a, tuple):
            if hasattr(a, "_fields"):
                return type(a)(*[self.create_arg(e) for e in a])
            return tuple(self.create_arg(e) for e in a)
        if isinstance(a, list):
            return [self.create_arg(e) for e in a]
        if isinstance(a, dict):
            out = {}
            for k, v in a.items():
                k = self.create_arg(k)
                if isinstance(k, Node):
                    raise RuntimeError(f"Keys for dictionaries used as an argument cannot contain a Node. Got key: {k}")
                out[k] = self.create_arg(v)
            return out
        if isinstance(a, slice):
            return slice(self.create_arg(a.start), self.create_arg(a.stop), self.create_arg(a.step))
        if isinstance(a, range):
            return range(self.create_arg(a.start), self.create_arg(a.stop), self.create_arg(a.step))
        if a is None or a is ... or isinstance(a, _base_types()):
            return a
        raise NotImplementedError(f"argument of type: {type(a)}")

    def to_bool(self, obj):
        raise TraceError("symbolically traced variables cannot be used as inputs to control flow")

    def iter(self, obj):
        raise TraceError("Proxy object cannot be iterated. This can be attempted when the Proxy is used in a loop or"
                         " as a *args or **kwargs function argument. See the torch.fx docs on pytorch.org for a "
                         "more detailed explanation of what types of control flow can be traced, and check out the"
                         " Proxy docstring for help troubleshooting Proxy iteration errors")

    def keys(self, obj):
        return Attribute(obj, "keys")()


def _base_types():
    import flambeau
    return (str, int, float, bool, complex, flambeau.dtype, flambeau.device, flambeau.memory_format,
            flambeau.layout)


class GraphAppendingTracer(TracerBase):
    """A tracer that appends to an existing graph (used to build Proxies over a graph by hand)."""

    def __init__(self, graph):
        super().__init__()
        self.graph = graph
        self.scope = None
        self.module_stack = collections.OrderedDict()
        self.node_name_to_scope = {}


class Proxy:
    """A value of the program being traced; operations on it record nodes (see module docstring)."""

    def __init__(self, node, tracer=None):
        if tracer is None:
            tracer = GraphAppendingTracer(node.graph)
        self.tracer = tracer
        self.node = node

    def __repr__(self):
        return f"Proxy({self.node.name})"

    def __getattr__(self, k):
        # Dunder lookups (__array__, __len__ probes by numpy and Python) are not tensor attributes.
        if k.startswith("__") and k.endswith("__"):
            raise AttributeError(k)
        if k in _TENSOR_INTERNALS:
            raise NotImplementedError(
                "a flambeau function was called with an fx.Proxy outside symbolic tracing (or a function fx does "
                "not patch, such as an unbound Tensor method): fx does not go through __torch_function__, so "
                "only the public functions of flambeau, nn.functional, linalg, special and fft and Tensor's "
                "methods record nodes, and only inside Tracer.trace and Transformer.transform; build the node "
                "with graph.call_function(...) instead")
        return Attribute(self, k)

    def __getstate__(self):
        return self.__dict__

    def __setstate__(self, d):
        self.__dict__ = d

    def __deepcopy__(self, memo):
        raise NotImplementedError("deepcopy of an fx.Proxy (copying a value while it is being traced) is not supported")

    def __call__(self, *args, **kwargs):
        return self.tracer.create_proxy("call_method", "__call__", (self,) + args, kwargs)

    def __iter__(self):
        # `a, b = proxy` unpacks through getitem when the calling bytecode says how many values it wants.
        frame = inspect.currentframe().f_back
        for inst in dis.get_instructions(frame.f_code):
            if inst.offset == frame.f_lasti:
                if inst.opname == "UNPACK_SEQUENCE":
                    return (self[j] for j in range(inst.argval))
                break
        return self.tracer.iter(self)

    def __abs__(self):
        return self.tracer.create_proxy("call_function", operator.abs, (self,), {})

    def __bool__(self):
        return self.tracer.to_bool(self)

    def keys(self):
        return self.tracer.keys(self)

    def __len__(self):
        raise RuntimeError("'len' is not supported in symbolic tracing by default. If you want this call to be "
                           "recorded, please call torch.fx.wrap('len') at module scope")

    def __hash__(self):
        return id(self)


class Attribute(Proxy):
    """proxy.attr: a getattr node made only when the value is used, so proxy.method(...) records one
    call_method node and no dangling getattr."""

    def __init__(self, root, attr):
        self.root = root
        self.attr = attr
        self.tracer = root.tracer
        self._node = None

    @property
    def node(self):
        if self._node is None:
            self._node = self.tracer.create_proxy("call_function", getattr, (self.root, self.attr), {}).node
        return self._node

    def __call__(self, *args, **kwargs):
        return self.tracer.create_proxy("call_method", self.attr, (self.root,) + args, kwargs)


def _scope(method):
    target = getattr(operator, method, None)
    if target is None:  # ('div': Python 2's operator, no dunder of Python 3 calls it)
        return

    def impl(*args, **kwargs):
        tracer = args[0].tracer
        return tracer.create_proxy("call_function", target, args, kwargs)
    impl.__name__ = method
    setattr(Proxy, f"__{method.strip('_')}__", impl)


for _method in magic_methods:
    if _method != "getattr":
        _scope(_method)


def _define_reflectable(orig_method_name):
    method_name = f"__r{orig_method_name.strip('_')}__"
    target = getattr(operator, orig_method_name, None)
    if target is None:
        return

    def impl(self, rhs):
        return self.tracer.create_proxy("call_function", target, (rhs, self), {})
    impl.__name__ = method_name
    setattr(Proxy, method_name, impl)


for _orig in reflectable_magic_methods:
    _define_reflectable(_orig)


def _has_proxy(a):
    """The first Proxy anywhere inside a (tuples, lists, dicts, slices), or None."""
    if isinstance(a, Proxy):
        return a
    if isinstance(a, (tuple, list)):
        items = a
    elif isinstance(a, dict):
        items = a.values()
    elif isinstance(a, slice):
        items = (a.start, a.stop, a.step)
    else:
        return None
    for x in items:
        p = _has_proxy(x)
        if p is not None:
            return p
    return None


__all__ = ["Proxy", "Attribute", "TraceError", "TracerBase", "GraphAppendingTracer"]
