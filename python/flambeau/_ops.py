"""flambeau.ops: torch.ops' namespaces of operators, holding the operators made by
flambeau.library.custom_op (flambeau.ops.mylib.numpy_sin, with its one overload .default). The built-in
operators are not under flambeau.ops (there is no aten namespace): call them as flambeau.<name>."""
import types

_REGISTRY = {}  # "ns::name" -> CustomOpDef


def register(op):
    _REGISTRY[op._qualname] = op


def lookup(qualname):
    return _REGISTRY.get(qualname)


class OpOverload:
    """One overload of an operator (custom ops have only .default)."""

    def __init__(self, op):
        self._op = op
        self._schema = op._schema
        self.__name__ = f"{op._name}.default"

    def __call__(self, *args, **kwargs):
        return self._op(*args, **kwargs)

    def __repr__(self):
        return f"{self._op._namespace}.{self._op._name}.default"


class OpOverloadPacket:
    """flambeau.ops.<ns>.<name>: calls the operator; .default is its overload."""

    def __init__(self, op):
        self._op = op
        self.default = OpOverload(op)
        self.__name__ = op._name
        self._qualified_op_name = op._qualname

    def overloads(self):
        return ["default"]

    def __call__(self, *args, **kwargs):
        return self._op(*args, **kwargs)

    def __repr__(self):
        return f"<OpOverloadPacket(op='{self._op._namespace}.{self._op._name}')>"


class _OpNamespace(types.ModuleType):
    def __init__(self, name):
        super().__init__(f"flambeau.ops.{name}")
        self.name = name

    def __getattr__(self, op_name):
        if op_name.startswith("__"):
            raise AttributeError(op_name)
        op = _REGISTRY.get(f"{self.name}::{op_name}")
        if op is None:
            raise AttributeError(f"'_OpNamespace' '{self.name}' object has no attribute '{op_name}'")
        return OpOverloadPacket(op)


class _Ops(types.ModuleType):
    def __init__(self):
        super().__init__("flambeau.ops")
        self._namespaces = {}

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        ns = self.__dict__["_namespaces"].get(name)
        if ns is None:
            ns = self.__dict__["_namespaces"][name] = _OpNamespace(name)
        return ns

    def load_library(self, path):
        raise RuntimeError(f"flambeau.ops.load_library({path!r}): flambeau cannot load PyTorch C++ operator "
                           "libraries (they are built against libtorch)")


ops = _Ops()
