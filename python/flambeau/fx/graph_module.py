"""fx.GraphModule: an nn.Module whose forward is the code generated from a Graph.

The submodules, parameters and buffers the graph names (call_module / get_attr targets) are copied
from the root by reference, so the GraphModule shares them with the traced module. Each instance gets
its own class (as in PyTorch) so recompile() can set `forward` without touching other instances.
"""
import linecache

from ..nn import Module, Parameter
from .graph import Graph

_next_id = [0]


def _exec_with_source(src, globals_):
    """exec the generated code under a fake file name that linecache knows, so tracebacks show it."""
    key = f"<eval_with_key>.{_next_id[0]}"
    _next_id[0] += 1
    linecache.cache[key] = (len(src), None, src.splitlines(True), key)
    exec(compile(src, key, "exec"), globals_)
    return key


def _forward_from_src(src, globals_):
    globals_copy = dict(globals_)
    _exec_with_source(src, globals_copy)
    fn = globals_copy["forward"]
    del globals_copy["forward"]
    return fn


def _copy_attr(from_module, to_module, target):
    *prefix, field = target.split(".")
    for item in prefix:
        f = getattr(from_module, item)
        t = getattr(to_module, item, None)
        if f is t:
            return  # a parent already installed carries this attribute
        if t is None:
            t = Module()
            setattr(to_module, item, t)
        from_module, to_module = f, t
    orig = getattr(from_module, field)
    from .._tensor import Tensor
    if isinstance(orig, Tensor) and not isinstance(orig, Parameter):
        to_module.register_buffer(field, orig)
    else:
        setattr(to_module, field, orig)


def _assign_attr(from_obj, to_module, target):
    *prefix, field = target.split(".")
    for item in prefix:
        t = getattr(to_module, item, None)
        if t is None:
            t = Module()
            setattr(to_module, item, t)
        to_module = t
    from .._tensor import Tensor
    if isinstance(from_obj, Tensor) and not isinstance(from_obj, Parameter):
        to_module.register_buffer(field, from_obj)
    else:
        setattr(to_module, field, from_obj)


def _addindent(s_, num_spaces):
    s = s_.split("\n")
    if len(s) == 1:
        return s_
    first = s.pop(0)
    return first + "\n" + "\n".join(num_spaces * " " + line for line in s)


class GraphModule(Module):
    """GraphModule(root, graph, class_name='GraphModule'): root is a Module or a dict of the objects
    the graph's call_module/get_attr targets name."""

    def __new__(cls, *args, **kwargs):
        # One class per instance: recompile() sets forward on it (PyTorch's GraphModuleImpl).
        for t in cls.__mro__:
            c = t.__qualname__.split(".")[-1]
            if c != "GraphModuleImpl":
                cls = t
                break

        class GraphModuleImpl(cls):
            pass
        return super().__new__(GraphModuleImpl)

    def __init__(self, root, graph, class_name="GraphModule"):
        super().__init__()
        self.__class__.__name__ = class_name
        if isinstance(root, Module):
            if hasattr(root, "training"):
                self.training = root.training
            for node in graph.nodes:
                if node.op in ("get_attr", "call_module"):
                    _copy_attr(root, self, node.target)
        elif isinstance(root, dict):
            targets_to_copy = []
            for node in graph.nodes:
                if node.op in ("get_attr", "call_module"):
                    if node.target not in root:
                        raise RuntimeError(f"Node {node} referenced target {node.target} but that target was "
                                           f"not provided in ``root``!")
                    targets_to_copy.append(node.target)
            targets_to_copy.sort(key=lambda t: t.count("."))  # parents before children
            for target in targets_to_copy:
                _assign_attr(root[target], self, target)
        else:
            raise RuntimeError(f"Unsupported type {root} passed for root!")
        self.graph = graph
        self._tracer_cls = graph._tracer_cls
        self.meta = {}

    @property
    def graph(self):
        return self._graph

    @graph.setter
    def graph(self, g):
        if not isinstance(g, Graph):
            raise AssertionError(f"Expected a Graph instance, but got {type(g)}")
        self.__dict__["_graph"] = g
        g.owning_module = self
        self.recompile()

    @property
    def code(self):
        if not hasattr(self, "_code"):
            raise RuntimeError("Code has not been generated! Please report a bug to PyTorch")
        return self._code

    def recompile(self):
        """Regenerates forward's code from self.graph (call it after editing the graph)."""
        python_code = self._graph.python_code(root_module="self")
        self.__dict__["_code"] = python_code.src
        cls = type(self)
        cls.forward = _forward_from_src(python_code.src, python_code.globals)
        return python_code

    def _get_name(self):
        return type(self).__name__

    def print_readable(self, print_output=True, include_stride=False, include_device=False, colored=False):
        out = _print_readable(self, self._get_name(), print_output, include_stride, include_device)
        return out

    def __str__(self):
        return "\n".join([super().__str__(), self._code,
                          "# To see more debug info, please use `graph_module.print_readable()`"])

    def __copy__(self):
        res = GraphModule(self, self.graph)
        res.meta = getattr(self, "meta", {})
        return res

    def __deepcopy__(self, memo):
        import copy
        res = type(self).__new__(type(self))
        memo[id(self)] = res
        fake_mod = Module()
        fake_mod.__dict__.update(copy.deepcopy({k: v for k, v in self.__dict__.items()
                                                if k not in ("_graph", "_code")}, memo))
        GraphModule.__init__(res, fake_mod, copy.deepcopy(self.graph, memo), self._get_name())
        for k in ("_parameters", "_buffers", "_modules"):
            res.__dict__[k] = fake_mod.__dict__[k]
        res.meta = copy.deepcopy(getattr(self, "meta", {}), memo)
        return res

    def __reduce__(self):
        raise NotImplementedError("pickling an fx.GraphModule is not supported by flambeau.fx (flambeau.save "
                                  "stores tensors only; save the state_dict and re-trace instead)")

    def add_submodule(self, target, m):
        *prefix, field = target.split(".")
        mod = self
        for item in prefix:
            submod = getattr(mod, item, None)
            if submod is None:
                submod = Module()
                setattr(mod, item, submod)
            if not isinstance(submod, Module):
                return False
            mod = submod
        mod.add_module(field, m)
        return True

    def delete_submodule(self, target):
        atoms = target.split(".")
        path, target_submod = atoms[:-1], atoms[-1]
        mod = self
        for item in path:
            if not hasattr(mod, item):
                return False
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                return False
        if not hasattr(mod, target_submod):
            return False
        if not isinstance(getattr(mod, target_submod), Module):
            return False
        delattr(mod, target_submod)
        return True

    def delete_all_unused_submodules(self):
        used = []
        for node in self.graph.nodes:
            if node.op in ("call_module", "get_attr"):
                fullpath = node.target.split(".")
                used.extend(".".join(fullpath[:i]) for i in range(1, len(fullpath) + 1))
        used = set(used)
        for name, _ in list(self.named_modules()):
            if name not in used and name:
                self.delete_submodule(name)

    def to_folder(self, folder, module_name="FxModule"):
        raise NotImplementedError("GraphModule.to_folder (writing the module as a Python package) is not "
                                  "supported by flambeau.fx")


def _print_readable(module, module_name, print_output, include_stride, include_device):
    code = module.graph.python_code(root_module="self", verbose=True, include_stride=include_stride,
                                    include_device=include_device).src
    code = code.lstrip("\n").rstrip()
    module_code = _addindent(f"class {module_name}(torch.nn.Module):\n" + code, 4) + "\n"
    sub = [""]
    for name, submodule in module.named_children():
        if isinstance(submodule, GraphModule):
            sub.append(_print_readable(submodule, name, False, include_stride, include_device))
    output = module_code + _addindent("\n".join(sub), 4)
    if print_output:
        print(output)
    return output

