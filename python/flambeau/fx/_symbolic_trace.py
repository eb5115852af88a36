"""fx.Tracer and fx.symbolic_trace: run a module's forward on Proxies and record what it does.

While a trace runs, these are patched and restored afterwards (the real-tensor path pays nothing
outside tracing):
  * nn.Module.__call__: a leaf module (flambeau.nn's own modules except Sequential, or what
    is_leaf_module says) becomes one call_module node, other modules are traced through;
  * nn.Module.__getattr__: a parameter read becomes a get_attr node;
  * the public functions of flambeau, nn.functional, linalg, special and fft (see _targets), the
    same functions imported by name into a traced module's file, the functions registered with
    fx.wrap and the tracer's autowrap functions: called with a Proxy they record a call_function node;
  * flambeau.Tensor's operators (`tensor + proxy` defers to Proxy.__radd__) and methods (a buffer's
    `self.pe.expand_as(x)` records call_method), which is what PyTorch's __torch_function__ gives fx.
"""
import builtins
import functools
import inspect
import math
import operator
import types

from .graph import Graph, reflectable_magic_methods, magic_methods
from .graph_module import GraphModule
from .proxy import Proxy, TracerBase, TraceError, _has_proxy
from . import _targets

# fx.wrap registrations: (id(globals), name) -> globals dict
_wrapped_fns_to_patch = {}
_is_fx_tracing_flag = False


def is_fx_tracing():
    return _is_fx_tracing_flag


def _assert_is_none(value, msg):
    assert value is None, msg


class _Patcher:
    """Sets attributes for the duration of a trace and puts the originals back, in reverse order."""

    def __init__(self):
        self._undo = []

    def patch(self, obj, name, new):
        if isinstance(obj, dict):
            had, old = name in obj, obj.get(name)
            obj[name] = new
            self._undo.append(lambda: obj.__setitem__(name, old) if had else obj.pop(name, None))
        else:
            had = name in vars(obj)
            old = vars(obj).get(name)
            setattr(obj, name, new)
            self._undo.append(lambda: setattr(obj, name, old) if had else delattr(obj, name))

    def restore(self):
        while self._undo:
            self._undo.pop()()


class _RecordingFunction:
    """Stands in for a flambeau function while tracing: with a Proxy among its arguments it records a
    call_function node of the original, otherwise it calls the original. It compares and hashes equal
    to the original, so `node.target == torch.neg` in a Transformer or pass still holds while patched."""
    __slots__ = ("__fx_original__", "_prefix", "_name", "__wrapped__")

    def __init__(self, prefix, name, orig):
        self.__fx_original__ = orig
        self.__wrapped__ = orig
        self._prefix = prefix
        self._name = name

    def __call__(self, *args, **kwargs):
        orig = self.__fx_original__
        proxy = _has_proxy(args)
        if proxy is None:
            proxy = _has_proxy(kwargs)
            if proxy is None:
                return orig(*args, **kwargs)
        if self._prefix == "torch.nn.functional" and self._name in _targets.F_AS_METHOD and args:
            return proxy.tracer.create_proxy("call_method", self._name, args, kwargs)
        rec_args, rec_kwargs = _targets.record_args(self._prefix, self._name, orig, args, kwargs)
        return proxy.tracer.create_proxy("call_function", orig, rec_args, rec_kwargs)

    def __eq__(self, other):
        return getattr(other, "__fx_original__", other) is self.__fx_original__

    def __hash__(self):
        return hash(self.__fx_original__)

    def __getattr__(self, name):
        return getattr(self.__fx_original__, name)

    def __repr__(self):
        return repr(self.__fx_original__)


def _tensor_operator_wrapper(orig):
    """A flambeau.Tensor operator that gives way (NotImplemented) to a Proxy operand."""
    @functools.wraps(orig)
    def op(self, *args):
        if _has_proxy(args) is not None:
            return NotImplemented
        return orig(self, *args)
    return op


def _tensor_method_wrapper(name, orig):
    """A flambeau.Tensor method called on a real tensor (a buffer, a constant) with a Proxy argument
    records a call_method node, as PyTorch's __torch_function__ does (`self.w.mul(x)`)."""
    @functools.wraps(orig)
    def method(self, *args, **kwargs):
        if isinstance(self, Proxy):  # the unbound form, flambeau.Tensor.relu(x): PyTorch's TypeError
            raise TypeError(f"descriptor '{name}' for 'Tensor' objects doesn't apply to a 'Proxy' object")
        proxy = _has_proxy(args)
        if proxy is None:
            proxy = _has_proxy(kwargs)
            if proxy is None:
                return orig(self, *args, **kwargs)
        return proxy.tracer.create_proxy("call_method", name, (self,) + args, kwargs)
    method.__fx_original__ = orig
    return method


def _tensor_getitem_wrapper(orig):
    @functools.wraps(orig)
    def getitem(self, idx):
        proxy = _has_proxy(idx)
        if proxy is not None:
            return proxy.tracer.create_proxy("call_function", operator.getitem, (self, idx), {})
        return orig(self, idx)
    return getitem


class Tracer(TracerBase):
    """Records a Graph from a module or function (torch.fx.Tracer's API: trace, is_leaf_module,
    call_module, create_arg, getattr, path_of_module, create_args_for_root)."""

    def __init__(self, autowrap_modules=(math,), autowrap_functions=(), param_shapes_constant=False):
        super().__init__()
        self._autowrap_function_ids = {id(v) for m in autowrap_modules for n, v in vars(m).items()
                                       if not n.startswith("_") and callable(v)}
        self._autowrap_function_ids.update(id(f) for f in autowrap_functions)
        self._autowrap_search = list(autowrap_modules)
        self.param_shapes_constant = param_shapes_constant
        self.submodule_paths = None
        self.root_module_name = ""
        self.scope = None
        self.module_stack = {}
        self.node_name_to_scope = {}

    # ---------------------------------------------------------------- customisation points
    def is_leaf_module(self, m, module_qualified_name):
        from ..nn import Sequential
        mod = type(m).__module__
        return (mod.startswith("flambeau.nn") or mod.startswith("torch.nn")) and not isinstance(m, Sequential)

    def path_of_module(self, mod):
        if self.submodule_paths:
            path = self.submodule_paths.get(mod)
            if path is None:
                raise NameError("module is not installed as a submodule")
            return path
        for n, p in self.root.named_modules():
            if mod is p:
                return n
        raise NameError("module is not installed as a submodule")

    def call_module(self, m, forward, args, kwargs):
        module_qualified_name = self.path_of_module(m)
        if not self.is_leaf_module(m, module_qualified_name):
            return forward(*args, **kwargs)
        return self.create_proxy("call_module", module_qualified_name, args, kwargs)

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        from ..nn import Parameter
        if isinstance(attr_val, Parameter):
            for n, p in self.root.named_parameters():
                if attr_val is p:
                    if n not in parameter_proxy_cache:
                        parameter_proxy_cache[n] = self.create_proxy("get_attr", n, (), {})
                    return parameter_proxy_cache[n]
        return attr_val

    def create_arg(self, a):
        from .._tensor import Tensor
        from ..nn import Parameter
        if isinstance(a, Parameter):
            for n, p in self.root.named_parameters():
                if a is p:
                    return self.create_node("get_attr", n, (), {})
            raise NameError("parameter is not a member of this module")
        if isinstance(a, Tensor):
            for n, b in self.root.named_buffers():
                if a is b:
                    return self.create_node("get_attr", n, (), {})
            qualname = self.tensor_attrs.get(id(a))
            if qualname is None or qualname[0] is not a:
                i = 0
                while True:
                    name = f"_tensor_constant{i}"
                    if not hasattr(self.root, name):
                        break
                    i += 1
                setattr(self.root, name, a)
                self.tensor_attrs[id(a)] = (a, name)
                return self.create_node("get_attr", name, (), {})
            return self.create_node("get_attr", qualname[1], (), {})
        from ..nn import Module
        if isinstance(a, Module):
            raise NotImplementedError(f"argument of type: {type(a)} (a module passed as a function argument "
                                      "while tracing is not supported)")
        return super().create_arg(a)

    # ---------------------------------------------------------------- the trace
    def create_args_for_root(self, root_fn, is_module, concrete_args=None):
        fn = inspect.unwrap(root_fn)
        co = fn.__code__
        total_args = co.co_argcount + co.co_kwonlyargcount
        names_iter = iter(co.co_varnames)
        args = []
        skip = 0
        if is_module:
            if total_args == 0:
                raise RuntimeError("``self`` argument cannot be part of *args expansion!")
            skip = 1
            next(names_iter)
            args.append(self.root)
        sig = inspect.signature(fn)
        arg_names = [next(names_iter) for _ in range(skip, total_args)]
        if isinstance(concrete_args, tuple):
            if len(arg_names) != len(concrete_args):
                raise RuntimeError(f"Tracing expected {len(arg_names)} arguments but got {len(concrete_args)} "
                                   "concrete arguments")
            concrete_args = dict(zip(arg_names, concrete_args))
        args.extend(self._proxy_placeholder(name, concrete_args, sig, fn) for name in arg_names)
        if co.co_kwonlyargcount > 0 or co.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS):
            if co.co_flags & inspect.CO_VARARGS:
                args.append(self._proxy_placeholder("*" + next(names_iter), concrete_args, sig, fn))
            if co.co_flags & inspect.CO_VARKEYWORDS:
                args.append(self._proxy_placeholder("**" + next(names_iter), concrete_args, sig, fn))
            root_fn = _patch_function(root_fn, co, len(args))
        return root_fn, args

    def _proxy_placeholder(self, name, concrete_args, sig, fn):
        import flambeau
        if concrete_args is not None and name in concrete_args:
            x = concrete_args[name]
            if isinstance(x, (list, tuple, dict)) and not isinstance(x, flambeau.Tensor):
                raise NotImplementedError("fx.symbolic_trace: concrete_args holding containers (PyTorch's pytree "
                                          f"flattening of inputs) are not supported by flambeau.fx (argument '{name}')")
            param = sig.parameters[name]
            default = () if param.default is inspect.Parameter.empty else (param.default,)
            out = self.create_proxy("placeholder", f"{name}_1", default, {})
            if type(x) is bool or (type(x) in (str, int, float, complex)):
                # (recorded directly: placeholders are made before flambeau's functions are patched)
                self.create_proxy("call_function", flambeau._assert,
                                  (out == x, f"{name} has been specialized to have value {x} but got another value"), {})
            elif x is None:
                self.create_proxy("call_function", _assert_is_none,
                                  (out, f"{name} has been specialized to have value None but got another value"), {})
            else:
                import warnings
                warnings.warn(f"Was not able to add assertion to guarantee correct input {name} to specialized "
                              f"function. It is up to the user to make sure that your inputs match the inputs "
                              f"you specialized the function with.")
            return x
        if name[0] == "*":
            default = ()
        else:
            param = sig.parameters[name]
            default = () if param.default is inspect.Parameter.empty else (param.default,)
        return self.create_proxy("placeholder", name, default, {}, type_expr=fn.__annotations__.get(name, None))

    def trace(self, root, concrete_args=None):
        global _is_fx_tracing_flag
        from ..nn import Module
        old_flag = _is_fx_tracing_flag
        _is_fx_tracing_flag = True
        try:
            if isinstance(root, Module):
                self.root = root
                fn = type(root).forward
                self.submodule_paths = {mod: name for name, mod in root.named_modules()}
            else:
                self.root = Module()
                fn = root
            self.graph = Graph(tracer_cls=type(self))
            self.tensor_attrs = {}

            def collect_tensor_attrs(m, prefix):
                from .._tensor import Tensor
                for k, v in m.__dict__.items():
                    if isinstance(v, Tensor):
                        self.tensor_attrs[id(v)] = (v, ".".join(prefix + [k]))
                for k, v in m.named_children():
                    collect_tensor_attrs(v, prefix + [k])
            collect_tensor_attrs(self.root, [])

            fn_globals = fn.__globals__
            fn, args = self.create_args_for_root(fn, isinstance(root, Module), concrete_args)
            parameter_proxy_cache = {}
            patcher = _Patcher()
            _targets._public_names()  # (computed from the unpatched namespaces)
            try:
                self._patch(patcher, fn_globals, parameter_proxy_cache)
                result = fn(*args)
            finally:
                patcher.restore()
            self.create_node("output", "output", (self.create_arg(result),), {},
                             type_expr=fn.__annotations__.get("return", None))
            self.submodule_paths = None
        finally:
            _is_fx_tracing_flag = old_flag
        return self.graph

    def _patch(self, patcher, fn_globals, parameter_proxy_cache):
        from ..nn import Module
        from .._tensor import Tensor
        tracer = self
        orig_getattr = Module.__getattr__
        orig_call = Module.__call__

        def module_getattr_wrapper(mod, attr):
            attr_val = orig_getattr(mod, attr)
            return tracer.getattr(attr, attr_val, parameter_proxy_cache)

        patched_globals = set()

        def patch_imported_names(globals_):
            """`from flambeau.nn.functional import relu` in a module's file: that name is patched too."""
            if id(globals_) in patched_globals:
                return
            patched_globals.add(id(globals_))
            names = _targets._public_names()
            for name, value in list(globals_.items()):
                hit = names.get(id(value)) if callable(value) else None
                if hit is not None and hit[0] is value:
                    prefix, public = hit[1].rsplit(".", 1)
                    patcher.patch(globals_, name, _RecordingFunction(prefix, public, value))

        def module_call_wrapper(mod, *args, **kwargs):
            fwd = getattr(type(mod).forward, "__globals__", None)
            if fwd is not None:
                patch_imported_names(fwd)

            def forward(*args, **kwargs):
                return orig_call(mod, *args, **kwargs)
            return tracer.call_module(mod, forward, args, kwargs)

        patcher.patch(Module, "__getattr__", module_getattr_wrapper)
        patcher.patch(Module, "__call__", module_call_wrapper)
        patch_imported_names(fn_globals)
        _patch_functions_and_operators(patcher)
        # fx.wrap registrations and the autowrap functions found in the traced function's globals
        for (_, name), globals_ in list(_wrapped_fns_to_patch.items()):
            orig = globals_.get(name, getattr(builtins, name, None))
            if orig is not None:
                patcher.patch(globals_, name, _autowrap_wrapper(orig))
        # (the autowrap modules' own functions too, so `math.sqrt(n)` records as PyTorch's fx does)
        for globals_ in [fn_globals] + [vars(m) for m in self._autowrap_search]:
            for name, value in list(globals_.items()):
                if not name.startswith("_") and callable(value) and id(value) in self._autowrap_function_ids:
                    patcher.patch(globals_, name, _autowrap_wrapper(value))


def _patch_functions_and_operators(patcher):
    """The flambeau namespaces' functions record nodes when given a Proxy; Tensor operators give way."""
    from .._tensor import Tensor
    _targets._public_names()  # (computed from the unpatched namespaces)
    for prefix, mod, name, value in _targets.patch_targets():
        patcher.patch(mod, name, _RecordingFunction(prefix, name, getattr(value, "__fx_original__", value)))
    for meth in list(reflectable_magic_methods) + list(magic_methods):
        if meth == "getitem":
            continue
        for dunder in (f"__{meth.strip('_')}__", f"__r{meth.strip('_')}__"):
            if dunder in vars(Tensor):
                patcher.patch(Tensor, dunder, _tensor_operator_wrapper(vars(Tensor)[dunder]))
    patcher.patch(Tensor, "__getitem__", _tensor_getitem_wrapper(vars(Tensor)["__getitem__"]))
    for name, value in list(vars(Tensor).items()):
        if not name.startswith("_") and isinstance(value, types.FunctionType):
            patcher.patch(Tensor, name, _tensor_method_wrapper(name, value))


def _autowrap_wrapper(orig):
    """A wrapped free function: recorded as one call_function node when it sees a Proxy."""
    @functools.wraps(orig)
    def wrapper(*args, **kwargs):
        proxy = _has_proxy(args)
        if proxy is None:
            proxy = _has_proxy(kwargs)
        if proxy is None:
            return orig(*args, **kwargs)
        out = proxy.tracer.create_proxy("call_function", orig, args, kwargs)
        out.node.meta["is_wrapped"] = True  # (generated code re-registers it with fx.wrap)
        return out
    wrapper.__fx_original__ = orig
    return wrapper


def _patch_function(fn, co, nargs):
    """fn with *args/**kwargs turned into plain positional parameters, so the placeholder Proxies for
    them bind to `args`/`kwargs` themselves (PyTorch's _patch_function does the same)."""
    flags = co.co_flags & ~(inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)
    new_code = co.replace(co_flags=flags, co_argcount=nargs, co_kwonlyargcount=0, co_posonlyargcount=0)
    return types.FunctionType(new_code, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


def wrap(fn_or_name):
    """Marks a module-level function (or its name) as a leaf: traced calls of it become one
    call_function node instead of being traced through. Call it at module scope, as in PyTorch."""
    if not callable(fn_or_name) and not isinstance(fn_or_name, str):
        raise AssertionError("Unsupported type for global function! Must be either a callable or string name")
    if callable(fn_or_name):
        if isinstance(fn_or_name, str):
            raise AssertionError
        fn_name = fn_or_name.__name__
    else:
        fn_name = fn_or_name
    currentframe = inspect.currentframe()
    f = currentframe.f_back
    if f.f_code.co_name != "<module>":
        raise NotImplementedError("wrap must be called at the top level of a module")
    _wrapped_fns_to_patch[(id(f.f_globals), fn_name)] = f.f_globals
    return fn_or_name


def symbolic_trace(root, concrete_args=None):
    """Traces root (a Module or a function) and returns a GraphModule running the recorded graph."""
    from ..nn import Module
    tracer = Tracer()
    graph = tracer.trace(root, concrete_args)
    name = root.__class__.__name__ if isinstance(root, Module) else root.__name__
    return GraphModule(tracer.root, graph, name)


__all__ = ["Tracer", "symbolic_trace", "wrap", "TraceError", "is_fx_tracing"]
