"""fx.Graph: a program as a linked list of Nodes, with the editing API (create_node, inserting_before/
after, erase_node, eliminate_dead_code, lint) and the Python code generation GraphModule runs.

Generated code matches PyTorch's text: `torch` in it is flambeau (bound in the code's globals), a
value is set to None after its last use, and operators are printed as operators (`add = x + y`).
"""
import builtins
import inspect
import keyword
import math
import re

from .node import Node, _get_qualified_name, _type_repr, map_arg

reflectable_magic_methods = {
    "add": "{} + {}", "sub": "{} - {}", "mul": "{} * {}", "floordiv": "{} // {}", "truediv": "{} / {}",
    "div": "{} / {}", "mod": "{} % {}", "pow": "{} ** {}", "lshift": "{} << {}", "rshift": "{} >> {}",
    "and_": "{} & {}", "or_": "{} | {}", "xor": "{} ^ {}", "getitem": "{}[{}]", "matmul": "{} @ {}",
}
magic_methods = {
    "eq": "{} == {}", "ne": "{} != {}", "lt": "{} < {}", "gt": "{} > {}", "le": "{} <= {}", "ge": "{} >= {}",
    "pos": "+{}", "neg": "-{}", "invert": "~{}", **reflectable_magic_methods,
}

_illegal_names = {k: object() for k in keyword.kwlist}
_illegal_names.update(builtins.__dict__)  # generated names never shadow a builtin


def _custom_builtins():
    """Names every generated function can use: `torch` is flambeau."""
    import flambeau
    return {"inf": math.inf, "nan": math.nan, "NoneType": type(None), "torch": flambeau,
            "device": flambeau.device}


_name_regex = re.compile(r"^([a-zA-Z_][0-9a-zA-Z_]*?)(?:_(\d+))?$")
_illegal_char_regex = re.compile("[^0-9a-zA-Z_]+")
_snake_case_sub = re.compile(r"(?<=[a-z])([A-Z])")


def _snake_case(s):
    return _snake_case_sub.sub(r"_\1", s).lower()


def _is_magic(x):
    return x.startswith("__") and x.endswith("__")


class _Namespace:
    """Unique, valid Python names for nodes and globals: `add`, `add_1`, ...; builtins get a suffix."""

    def __init__(self):
        self._obj_to_name = {}
        self._used_names = set()
        self._base_count = {}

    def create_name(self, candidate, obj):
        if obj is not None and obj in self._obj_to_name:
            return self._obj_to_name[obj]
        match = _name_regex.match(candidate)
        if match is None:
            candidate = _illegal_char_regex.sub("_", candidate) or "_unnamed"
            if candidate[0].isdigit():
                candidate = f"_{candidate}"
            match = _name_regex.match(candidate)
        base, num = match.group(1, 2)
        if num is None or candidate in self._used_names:
            num = self._base_count.get(base, 0)
            if _illegal_names.get(candidate, obj) is not obj:
                num += 1
                candidate = f"{base}_{num}"
        else:
            num = int(num)
        while candidate in self._used_names:
            num += 1
            candidate = f"{base}_{num}"
        self._used_names.add(candidate)
        self._base_count[base] = num
        if obj is not None:
            self._obj_to_name[obj] = candidate
        return candidate

    def associate_name_with_obj(self, name, obj):
        if self._obj_to_name.setdefault(obj, name) is not name:
            raise AssertionError("obj is already associated")

    def _rename_object(self, obj, name):
        self._obj_to_name[obj] = name
        self._used_names.add(name)


def _format_target(base, target):
    r = base
    for e in target.split("."):
        r = f'getattr({r}, "{e}")' if not e.isidentifier() else f"{r}.{e}"
    return r


class PythonCode:
    """The generated source and the globals it runs with."""

    def __init__(self, src, globals_):
        self.src = src
        self.globals = globals_


class _NodeList:
    """graph.nodes: iterates the linked list (forwards or reversed), safe against erasing the current node."""

    def __init__(self, graph, direction="_next"):
        self._root = graph._root
        self._direction = direction

    def __len__(self):
        return self._root.graph._len

    def __iter__(self):
        root = self._root
        cur = getattr(root, self._direction)
        while cur is not root:
            nxt = getattr(cur, self._direction)
            if not cur._erased:
                yield cur
            cur = nxt

    def __reversed__(self):
        return _NodeList(self._root.graph, "_prev" if self._direction == "_next" else "_next")


_TENSOR_ABBR = {"float32": "f32", "float64": "f64", "float16": "f16", "bfloat16": "bf16", "int64": "i64",
                "int32": "i32", "int16": "i16", "int8": "i8", "uint8": "u8", "bool": "b8",
                "complex64": "c64", "complex128": "c128"}


def _dtype_abbr(dt):
    return _TENSOR_ABBR.get(str(dt).split(".")[-1], str(dt))


class Graph:
    """See the module docstring."""

    def __init__(self, owning_module=None, tracer_cls=None, tracer_extras=None):
        self._root = Node(self, "", "root", "", (), {})
        self._used_names = {}
        self._insert = self._root.prepend
        self._len = 0
        self._graph_namespace = _Namespace()
        self._owning_module = owning_module
        self._tracer_cls = tracer_cls
        self._tracer_extras = tracer_extras

    @property
    def owning_module(self):
        return self._owning_module

    @owning_module.setter
    def owning_module(self, mod):
        self._owning_module = mod

    @property
    def nodes(self):
        return _NodeList(self)

    def find_nodes(self, *, op, target=None, sort=True):
        return [n for n in self.nodes if n.op == op and (target is None or n.target == target)]

    # ---------------------------------------------------------------- building
    def create_node(self, op, target, args=None, kwargs=None, name=None, type_expr=None):
        args = () if args is None else args
        kwargs = {} if kwargs is None else kwargs
        if not isinstance(args, tuple):
            raise AssertionError("args must be a tuple")
        if not isinstance(kwargs, dict):
            raise AssertionError("kwargs must be a dict")
        candidate = name if name is not None else self._target_to_str(target)
        name = self._graph_namespace.create_name(candidate, None)
        n = Node(self, name, op, target, args, kwargs, type_expr)
        self._graph_namespace.associate_name_with_obj(name, n)
        self._insert(n)
        self._len += 1
        return n

    def _target_to_str(self, target):
        if callable(target):
            from ._targets import public_name
            public = public_name(target)
            op = public.rsplit(".", 1)[1] if public else getattr(target, "__name__", type(target).__name__)
        else:
            op = target
            if _is_magic(op):
                op = op[2:-2]
        return _snake_case(op)

    def placeholder(self, name, type_expr=None, default_value=inspect.Signature.empty):
        args = () if default_value is inspect.Signature.empty else (default_value,)
        return self.create_node("placeholder", name, args=args, type_expr=type_expr)

    def get_attr(self, qualified_name, type_expr=None):
        return self.create_node("get_attr", qualified_name, type_expr=type_expr)

    def call_module(self, module_name, args=None, kwargs=None, type_expr=None):
        return self.create_node("call_module", module_name, args, kwargs, type_expr=type_expr)

    def call_method(self, method_name, args=None, kwargs=None, type_expr=None):
        return self.create_node("call_method", method_name, args, kwargs, type_expr=type_expr)

    def call_function(self, the_function, args=None, kwargs=None, type_expr=None, name=None):
        return self.create_node("call_function", the_function, args, kwargs, name=name, type_expr=type_expr)

    def output(self, result, type_expr=None):
        return self.create_node(op="output", target="output", args=(result,), type_expr=type_expr)

    def node_copy(self, node, arg_transform=lambda x: x):
        """A copy of node (from any graph) appended here, its inputs mapped through arg_transform."""
        args = map_arg(node.args, arg_transform)
        kwargs = map_arg(node.kwargs, arg_transform)
        result = self.create_node(node.op, node.target, args, kwargs, node.name, node.type)
        result.meta = dict(node.meta)
        return result

    def graph_copy(self, g, val_map, return_output_node=False):
        """Copies g's nodes (except output) into self; val_map maps g's nodes to the copies."""
        for node in g.nodes:
            if node in val_map:
                continue
            if node.op == "output":
                rv = map_arg(node.args[0], lambda n: val_map[n])
                return rv if not return_output_node else (rv, node)
            val_map[node] = self.node_copy(node, lambda n: val_map[n])
        return None

    def __deepcopy__(self, memo=None):
        memo = memo if memo is not None else {}
        g = Graph(tracer_cls=self._tracer_cls)
        output_vals = g.graph_copy(self, val_map=memo, return_output_node=True)
        if output_vals is not None:
            out_val, old_out = output_vals
            new_out = g.output(out_val, type_expr=getattr(old_out, "type", None))
            new_out.meta = dict(old_out.meta)
        return g

    # ---------------------------------------------------------------- editing
    def inserting_before(self, n=None):
        if n is None:
            return self.inserting_after(self._root)
        if n.graph is not self:
            raise AssertionError("Node to insert before is not in graph.")
        return _InsertPoint(self, n.prepend)

    def inserting_after(self, n=None):
        if n is None:
            return self.inserting_before(self._root)
        if n.graph is not self:
            raise AssertionError("Node to insert after is not in graph.")
        return _InsertPoint(self, n.append)

    def erase_node(self, to_erase):
        if len(to_erase.users) > 0:
            raise RuntimeError(f"Tried to erase Node {to_erase} but it still had {len(to_erase.users)} "
                               f"users in the graph: {to_erase.users}!")
        if to_erase.graph is not self:
            raise RuntimeError(f"Attempting to remove {to_erase} from wrong graph!")
        if to_erase._erased:
            return
        to_erase._remove_from_list()
        to_erase._erased = True
        self._len -= 1
        to_erase._update_args_kwargs((), {})

    def eliminate_dead_code(self, is_impure_node=None):
        """Erases nodes whose value nobody uses (except impure ones); True when something changed."""
        self.lint()
        changed = False
        for node in reversed(self.nodes):
            impure = is_impure_node(node) if is_impure_node is not None else node.is_impure()
            if not impure and len(node.users) == 0:
                self.erase_node(node)
                changed = True
        return changed

    def lint(self):
        """Checks the graph's invariants: links, names, uses before definitions, targets that exist."""
        seen_names, seen_values = set(), set()
        for node in self.nodes:
            if node.graph is not self:
                raise RuntimeError(f"Node '{node}' does not belong to this Graph!")
            if node.op not in ("placeholder", "call_method", "call_module", "call_function", "get_attr", "output"):
                raise RuntimeError(f"Node {node} had unknown opcode {node.op}!")
            for arg in node._input_nodes:
                if arg.graph is not self:
                    raise RuntimeError(f"Argument '{arg}' of Node '{node}' does not belong to this Graph, but "
                                       f"was used as an argument! If you are copying nodes from another graph, "
                                       f"make sure to use ``arg_transform`` on node_copy() to remap values\n{self}")
                if arg not in seen_values:
                    raise RuntimeError(f"Argument '{arg}' of Node '{node}' was used before it has been defined! "
                                       f"Please check that Nodes in the graph are topologically ordered\n{self}")
            if node.name in seen_names:
                raise RuntimeError(f"Node redefined name {node.name}!")
            seen_names.add(node.name)
            seen_values.add(node)
        mod = self.owning_module
        if mod is not None:
            for node in self.nodes:
                if node.op == "call_module":
                    if not isinstance(node.target, str):
                        raise RuntimeError(f"Node {node} target {node.target} has type {type(node.target)} "
                                           "but a str is expected")
                    _lint_path(mod, node, "call_module")
                elif node.op == "get_attr":
                    _lint_path(mod, node, "get_attr")

    # ---------------------------------------------------------------- printing
    def __str__(self):
        placeholder_names = []
        maybe_return_typename = [""]
        node_strs = [node.format_node(placeholder_names) for node in self.nodes]
        param_str = ", ".join(placeholder_names)
        s = f"graph({param_str}){maybe_return_typename[0]}:"
        for node_str in node_strs:
            if node_str:
                s += "\n    " + node_str
        return s

    def print_tabular(self):
        """The nodes as a table (opcode, name, target, args, kwargs); needs the `tabulate` package."""
        try:
            from tabulate import tabulate
        except ImportError:
            print("`print_tabular` relies on the library `tabulate`, which could not be found on this machine. "
                  "Run `pip install tabulate` to install the library.")
            raise
        node_specs = [[n.op, n.name, n.target, n.args, n.kwargs] for n in self.nodes]
        print(tabulate(node_specs, headers=["opcode", "name", "target", "args", "kwargs"]))

    # ---------------------------------------------------------------- code generation
    def python_code(self, root_module, *, verbose=False, include_stride=False, include_device=False,
                    colored=False):
        return _gen_python_code(self, root_module, _Namespace(), verbose, include_stride, include_device)

    def on_generate_code(self, make_transformer):
        raise NotImplementedError("fx.Graph.on_generate_code (code-generation transformers) is not supported "
                                  "by flambeau.fx")

    def set_codegen(self, codegen):
        raise NotImplementedError("fx.Graph.set_codegen (custom CodeGen classes) is not supported by flambeau.fx")


def _lint_path(mod, node, what):
    atoms = node.target.split(".")
    m_itr = mod
    for i, atom in enumerate(atoms):
        new_m_itr = getattr(m_itr, atom, None)
        seen_qualname = ".".join(atoms[:i])
        if new_m_itr is None:
            raise RuntimeError(f"Node {node} target {node.target} references nonexistent attribute {atom} of "
                               f"{seen_qualname}")
        m_itr = new_m_itr
    if what == "call_module":
        from ..nn import Module
        if not isinstance(m_itr, Module):
            raise RuntimeError(f"Node {node} target {node.target} {atoms[-1]} of {'.'.join(atoms[:-1])} "
                               f"does not reference an nn.Module")


class _InsertPoint:
    def __init__(self, graph, new_insert):
        self.graph = graph
        self.orig_insert, graph._insert = graph._insert, new_insert

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        self.graph._insert = self.orig_insert


def _gen_python_code(graph, root_module, namespace, verbose, include_stride, include_device):
    free_vars = [root_module]
    body = []
    globals_ = {}
    for node in graph.nodes:  # node names are taken: globals get other names
        namespace.create_name(node.name, node)

    def add_global(name_hint, obj):
        if name_hint.startswith("torch.") and _resolves(name_hint, obj):
            return name_hint  # reached through `torch` (flambeau) in the generated code's globals
        if getattr(builtins, name_hint, None) is obj:
            return name_hint
        global_name = namespace.create_name(name_hint, obj)
        if global_name in globals_ and globals_[global_name] is not obj:
            raise AssertionError(f"Global name {global_name} already assigned to different object")
        globals_[global_name] = obj
        return global_name

    for name, obj in _custom_builtins().items():
        add_global(name, obj)

    def type_repr(o):
        if o == ():
            return "()"
        return add_global(_type_repr(o), o)

    def _get_repr(arg):
        if isinstance(arg, Node):
            return repr(arg)
        if isinstance(arg, tuple) and hasattr(arg, "_fields"):
            gname = add_global(_get_qualified_name(type(arg)), type(arg))
            return f"{gname}{repr(tuple(arg))}"
        from .._tensor import Tensor
        if isinstance(arg, Tensor):
            return f"torch.Tensor(size={list(arg.size())}, dtype={str(arg.dtype).split('.')[-1]})"
        if isinstance(arg, tuple):
            if len(arg) == 1:
                return f"({_get_repr(arg[0])},)"
            return "(" + ", ".join(_get_repr(a) for a in arg) + ")"
        if isinstance(arg, list):
            return "[" + ", ".join(_get_repr(a) for a in arg) + "]"
        if isinstance(arg, slice):
            return f"slice({_get_repr(arg.start)}, {_get_repr(arg.stop)}, {_get_repr(arg.step)})"
        if isinstance(arg, dict):
            return "{" + ", ".join(f"{_get_repr(k)}: {_get_repr(v)}" for k, v in arg.items()) + "}"
        if isinstance(arg, type):
            return add_global(_type_repr(arg), arg)
        if callable(arg) and not isinstance(arg, (int, float, str)) and hasattr(arg, "__name__"):
            return add_global(_get_qualified_name(arg), arg)
        r = repr(arg)
        if r.startswith("flambeau."):  # dtypes, memory formats, layouts: `torch` is flambeau in generated code
            r = "torch." + r[len("flambeau."):]
        return r

    def _format_args(args, kwargs):
        res = [_get_repr(a) for a in args]
        res.extend(f"{k} = {_get_repr(v)}" for k, v in kwargs.items())
        return ", ".join(res)

    nodes = list(graph.nodes)
    node_to_last_use, user_to_last_uses = {}, {}
    for node in reversed(nodes):
        for input_node in node._input_nodes:
            if input_node not in node_to_last_use:
                node_to_last_use[input_node] = node
                user_to_last_uses.setdefault(node, []).append(input_node)

    def delete_unused_values(user):
        if user.op == "placeholder":
            return
        if user.op == "output":
            body.append("\n")
            return
        to_delete = list(user_to_last_uses.get(user, []))
        if len(user.users) == 0:
            to_delete.append(user)
        if to_delete:
            body.append(f";  {' = '.join([repr(n) for n in to_delete] + ['None'])}\n")
        else:
            body.append("\n")

    maybe_return_annotation = [""]
    wrapped_fns = {}

    def annotation(node):
        if verbose:
            tm = node.meta.get("tensor_meta", None)
            from .._tensor import Tensor
            val = node.meta.get("val", None)
            if isinstance(val, Tensor):
                shape = f"[{', '.join(str(s) for s in val.shape)}]"
                return f': "{_dtype_abbr(val.dtype)}{shape}"'
            if tm is not None and hasattr(tm, "shape") and hasattr(tm, "dtype"):
                shape = f"[{', '.join(str(s) for s in tm.shape)}]"
                stride = f"[{', '.join(str(s) for s in tm.stride)}]" if include_stride else ""
                return f': "{_dtype_abbr(tm.dtype)}{shape}{stride}"'
        return "" if node.type is None else f" : {type_repr(node.type)}"

    def emit_node(node):
        ann = annotation(node)
        if node.op == "placeholder":
            default = "" if not node.args else f" = {_get_repr(node.args[0])}"
            free_vars.append(f"{node.target}{ann}{default}")
            raw_name = node.target.replace("*", "")
            if raw_name != repr(node):
                body.append(f"{repr(node)} = {raw_name}\n")
            return
        if node.op == "call_method":
            body.append(f"{repr(node)}{ann} = {_format_target(_get_repr(node.args[0]), node.target)}"
                        f"({_format_args(node.args[1:], node.kwargs)})")
            return
        if node.op == "call_function":
            tgt = node.target
            if getattr(tgt, "__module__", "") == "_operator" and tgt.__name__ in magic_methods:
                body.append(f"{repr(node)}{ann} = "
                            f"{magic_methods[tgt.__name__].format(*(_get_repr(a) for a in node.args))}")
                return
            global_name = add_global(_get_qualified_name(tgt), tgt)
            if (global_name == "getattr" and isinstance(node.args, tuple) and len(node.args) == 2
                    and isinstance(node.args[1], str) and node.args[1].isidentifier()):
                body.append(f"{repr(node)}{ann} = {_format_target(_get_repr(node.args[0]), node.args[1])}")
                return
            body.append(f"{repr(node)}{ann} = {global_name}({_format_args(node.args, node.kwargs)})")
            if node.meta.get("is_wrapped", False):
                wrapped_fns.setdefault(global_name)
            return
        if node.op == "call_module":
            body.append(f"{repr(node)}{ann} = {_format_target(root_module, node.target)}"
                        f"({_format_args(node.args, node.kwargs)})")
            return
        if node.op == "get_attr":
            body.append(f"{repr(node)}{ann} = {_format_target(root_module, node.target)}")
            return
        if node.op == "output":
            if node.type is not None:
                maybe_return_annotation[0] = f" -> {type_repr(node.type)}"
            body.append(f"return {_get_repr(node.args[0])}")
            return
        raise NotImplementedError(f"node: {node.op} {node.target}")

    summary_done = False
    for node in nodes:
        if verbose and not summary_done and node.op not in ("placeholder", "output"):
            body.append("\n# No stacktrace found for following nodes\n")  # (no stack traces are recorded)
            summary_done = True
        emit_node(node)
        delete_unused_values(node)
    if not body:
        body.append("pass\n")
    wrap_stmts = ""
    if wrapped_fns:
        from ._symbolic_trace import wrap
        wrap_name = add_global(_get_qualified_name(wrap), wrap)
        wrap_stmts = "\n".join(f'{wrap_name}("{name}")' for name in wrapped_fns)
    prologue = f"def forward({', '.join(free_vars)}){maybe_return_annotation[0]}:"
    code = "".join(body).lstrip("\n")
    code = "\n".join("    " + line for line in code.split("\n"))
    return PythonCode(f"\n{wrap_stmts}\n\n{prologue}\n{code}", globals_)


def _resolves(dotted, obj):
    """True when `torch.a.b` in generated code (torch = flambeau) reaches obj (outside tracing)."""
    import flambeau
    cur = flambeau
    for atom in dotted.split(".")[1:]:
        cur = getattr(cur, atom, None)
        if cur is None:
            return False
    return getattr(cur, "__fx_original__", cur) is obj


__all__ = ["Graph", "PythonCode"]
