"""fx.Node: one operation of a Graph (torch.fx.node semantics).

A node has an `op` (placeholder, get_attr, call_function, call_module, call_method, output), a
`target` (a callable for call_function, a string otherwise), `args`/`kwargs` that may hold other nodes
(nested in tuples, lists, dicts and slices), and `users`: the nodes that read its value. The graph keeps
its nodes in a doubly linked list, so inserting and erasing are O(1) and iteration follows program order.
"""
import builtins
import operator
import types

from .immutable_collections import immutable_dict, immutable_list

_OPS = ("placeholder", "call_method", "call_module", "call_function", "get_attr", "output", "root")


def map_aggregate(a, fn):
    """fn applied to every leaf of a (tuples, lists, dicts, slices kept as they are; lists and dicts
    come back immutable, as in PyTorch, so args cannot be edited behind the graph's back)."""
    if isinstance(a, tuple):
        t = tuple(map_aggregate(e, fn) for e in a)
        return t if not hasattr(a, "_fields") else type(a)(*t)  # namedtuples keep their type
    if isinstance(a, list):
        return immutable_list(map_aggregate(e, fn) for e in a)
    if isinstance(a, dict):
        return immutable_dict((k, map_aggregate(v, fn)) for k, v in a.items())
    if isinstance(a, slice):
        return slice(map_aggregate(a.start, fn), map_aggregate(a.stop, fn), map_aggregate(a.step, fn))
    return fn(a)


def map_arg(a, fn):
    """fn applied to every Node inside the argument structure a."""
    if not callable(fn):
        raise AssertionError("torch.fx.map_arg(a, fn): fn must be a callable")
    return map_aggregate(a, lambda x: fn(x) if isinstance(x, Node) else x)


def _find_module_path(func):
    """'torch.relu', 'torch.nn.functional.relu', 'operator.add', 'math.sqrt': the dotted path under
    which generated code reaches a function (flambeau functions are spelled as PyTorch's, since the
    generated code names flambeau `torch`)."""
    from ._targets import public_name
    name = public_name(func)
    if name is not None:
        return name
    fname = getattr(func, "__name__", None)
    if fname is not None and getattr(builtins, fname, None) is func:
        return fname
    if isinstance(func, (types.MethodDescriptorType, types.WrapperDescriptorType)):
        return f"{func.__objclass__.__module__}.{func.__qualname__}"
    module = getattr(func, "__module__", None) or "__main__"
    if module == "_operator":
        module = "operator"
    if module == "flambeau" or module.startswith("flambeau."):
        module = "torch" + module[len("flambeau"):]  # generated code names flambeau `torch`
    return f"{module}.{getattr(func, '__qualname__', fname)}"


def _get_qualified_name(func):
    return _find_module_path(func)


def _format_arg(arg, max_list_len=float("inf")):
    """How print(graph) shows an argument: %name for nodes, {k: v} without quotes for dicts."""
    if hasattr(arg, "_custom_fx_repr_fn"):
        return arg._custom_fx_repr_fn()
    if isinstance(arg, list):
        items = ", ".join(_format_arg(a) for idx, a in enumerate(arg) if idx < max_list_len)
        more = "" if len(arg) < max_list_len + 1 else f", ...[total_len={len(arg)}]"
        return f"[{items}{more}]"
    if isinstance(arg, tuple):
        items = ", ".join(_format_arg(a) for idx, a in enumerate(arg) if idx < max_list_len)
        more = "" if len(arg) < max_list_len + 1 else f", ...[total_len={len(arg)}]"
        maybe_comma = "," if len(arg) == 1 else ""
        return f"({items}{maybe_comma}{more})"
    if isinstance(arg, dict):
        items = ", ".join(f"{k}: {_format_arg(v)}" for k, v in arg.items())
        return f"{{{items}}}"
    if isinstance(arg, Node):
        return "%" + str(arg)
    return str(arg)


class Node:
    """One operation of an fx.Graph (see the module docstring)."""

    def __init__(self, graph, name, op, target, args, kwargs, return_type=None):
        if op not in _OPS:
            raise ValueError(f"Node op must be one of {_OPS[:-1]}, got '{op}'")
        if op == "call_function" and not callable(target):
            raise ValueError(f"Node [graph = {graph}, name = '{name}'] target {target} has type "
                             f"{type(target)} but a Callable is expected")
        if op in ("placeholder", "call_method", "call_module", "get_attr", "output") and not isinstance(target, str):
            raise ValueError(f"Node [graph = {graph}, name = '{name}'] target {target} has type "
                             f"{type(target)} but a str is expected")
        self.graph = graph
        self.name = name
        self.op = op
        self.target = target
        self._input_nodes = {}
        self.users = {}
        self.type = return_type
        self._prev = self
        self._next = self
        self._erased = False
        self.meta = {}
        self._args = ()
        self._kwargs = {}
        self._update_args_kwargs(args, kwargs)

    # ---------------------------------------------------------------- linked list
    @property
    def next(self):
        return self._next

    @property
    def prev(self):
        return self._prev

    def prepend(self, x):
        """Insert x before this node (moving it if it is already in the graph)."""
        if self.graph is not x.graph:
            raise AssertionError("Attempting to move a Node into a different Graph")
        if self is x:
            return
        x._remove_from_list()
        p = self._prev
        p._next, x._prev = x, p
        x._next, self._prev = self, x

    def append(self, x):
        """Insert x after this node."""
        self._next.prepend(x)

    def _remove_from_list(self):
        # (the node keeps its own links, so an iteration standing on it when it is erased goes on)
        p, n = self._prev, self._next
        p._next, n._prev = n, p

    # ---------------------------------------------------------------- args, kwargs, users
    @property
    def args(self):
        return self._args

    @args.setter
    def args(self, a):
        self._update_args_kwargs(a, self._kwargs)

    @property
    def kwargs(self):
        return self._kwargs

    @kwargs.setter
    def kwargs(self, k):
        self._update_args_kwargs(self._args, k)

    @property
    def all_input_nodes(self):
        return list(self._input_nodes.keys())

    def _update_args_kwargs(self, new_args, new_kwargs):
        self._args = map_aggregate(tuple(new_args), lambda x: x)
        self._kwargs = map_aggregate(dict(new_kwargs), lambda x: x)
        for old in self._input_nodes:
            old.users.pop(self, None)
        self._input_nodes = {}
        map_arg(self._args, self._input_nodes.setdefault)
        map_arg(self._kwargs, self._input_nodes.setdefault)
        for n in self._input_nodes:
            n.users.setdefault(self)

    def update_arg(self, idx, arg):
        args = list(self.args)
        args[idx] = arg
        self.args = tuple(args)

    def insert_arg(self, idx, arg):
        args = list(self.args)
        args.insert(idx, arg)
        self.args = tuple(args)

    def update_kwarg(self, key, arg):
        self.kwargs = {**self.kwargs, key: arg}

    def replace_all_uses_with(self, replace_with, delete_user_cb=lambda user: True, *, propagate_meta=False):
        """Every user of this node reads replace_with instead; returns the users changed."""
        if propagate_meta:
            if len(replace_with.meta) != 0:
                raise AssertionError("Called node.replace_all_uses_with(replace_with, propagate_meta=True), "
                                     "but replace_with already has .meta keys")
            replace_with.meta.update(self.meta)
        to_process = list(self.users)
        skipped = []
        for use_node in to_process:
            if not delete_user_cb(use_node):
                skipped.append(use_node)
                continue
            use_node._replace_input(self, replace_with)
        return [n for n in to_process if n not in skipped]

    def replace_input_with(self, old_input, new_input):
        self._replace_input(old_input, new_input)

    def _replace_input(self, old, new):
        def swap(n):
            return new if n is old else n
        self._update_args_kwargs(map_arg(self._args, swap), map_arg(self._kwargs, swap))

    # ---------------------------------------------------------------- misc
    @property
    def stack_trace(self):
        return self.meta.get("stack_trace", None)

    @stack_trace.setter
    def stack_trace(self, trace):
        self.meta["stack_trace"] = trace

    def is_impure(self, impure_random=True):
        """What dead-code elimination keeps, as PyTorch decides it: placeholder/output, call_module of a
        module marked `_is_impure`, and call_function of a side-effectful function (fx.has_side_effect,
        torch._assert, operator.setitem) or of a random-number function. Methods, in-place ones included,
        are pure to PyTorch's DCE."""
        if self.op in ("placeholder", "output"):
            return True
        if self.op == "call_module":
            mod = self.graph.owning_module
            if mod is None:
                raise AssertionError("self.graph.owning_module not set for purity check")
            return getattr(mod.get_submodule(self.target), "_is_impure", False)
        if self.op == "call_function":
            random_functions = _random_functions()  # (also registers torch._assert on first use)
            return self.target in _side_effectful_functions or self.target in random_functions
        return False

    def format_node(self, placeholder_names=None, maybe_return_typename=None):
        """One line of print(graph)."""
        if self.op == "placeholder":
            assert isinstance(self.target, str)
            arg_str = self.target
            arg_str += f": {_type_repr(self.type)}" if self.type else ""
            if placeholder_names:
                placeholder_names.append(arg_str)
                return None
            maybe_typename = f"{_type_repr(self.type)} " if self.type else ""
            default_val = "(default=" + str(self.args[0]) + ")" if self.args else ""
            return f"%{self.name} : {maybe_typename}[num_users={len(self.users)}] = {self.op}[target={self.target}]{default_val}"
        if self.op == "get_attr":
            maybe_typename = f"{_type_repr(self.type)} " if self.type is not None else ""
            return (f"%{self.name} : {maybe_typename}[num_users={len(self.users)}] = "
                    f"{self.op}[target={self._pretty_print_target(self.target)}]")
        if self.op == "output":
            if self.type and maybe_return_typename:
                maybe_return_typename[0] = f" -> {_type_repr(self.type)}"
            return f"return {self.args[0]}"
        maybe_typename = f"{_type_repr(self.type)} " if self.type is not None else ""
        return (f"%{self.name} : {maybe_typename}[num_users={len(self.users)}] = "
                f"{self.op}[target={self._pretty_print_target(self.target)}]("
                f"args = {_format_arg(self.args)}, kwargs = {_format_arg(self.kwargs)})")

    @staticmethod
    def _pretty_print_target(target):
        if isinstance(target, str):
            return target
        if hasattr(target, "__module__") or hasattr(target, "__name__"):
            name = getattr(target, "__name__", None)
            if name is None:
                return _get_qualified_name(target)
            if getattr(builtins, name, None) is target:
                return f"builtins.{name}"
            return _get_qualified_name(target)
        return str(target)

    def __repr__(self):
        return self.name

    def __getstate__(self):
        return self.__dict__

    def __setstate__(self, state):
        self.__dict__.update(state)


def _type_repr(obj):
    if isinstance(obj, type):
        if obj.__module__ == "builtins":
            return obj.__qualname__
        return f"{obj.__module__}.{obj.__qualname__}"
    if obj is ...:
        return "..."
    if isinstance(obj, types.FunctionType):
        return obj.__name__
    return repr(obj)


_side_effectful_functions = {operator.setitem}


def _random_functions():
    """flambeau's counterparts of the RNG functions PyTorch's DCE always keeps (their calls move the
    generator's state)."""
    import flambeau
    if not _RANDOM:
        _side_effectful_functions.add(flambeau._assert)
        names = ("normal", "bernoulli", "randn_like", "rand", "poisson", "randperm", "randint", "multinomial",
                 "randint_like", "randn", "rand_like")
        _RANDOM.update(getattr(flambeau, n) for n in names if hasattr(flambeau, n))
    return _RANDOM


_RANDOM = set()


def has_side_effect(fn):
    """Marks fn as side-effectful: dead-code elimination keeps its call_function nodes."""
    _side_effectful_functions.add(fn)
    return fn
