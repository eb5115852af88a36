"""flambeau.library: torch.library's Python custom operators, as far as an eager library can honour them.

    @flambeau.library.custom_op("mylib::numpy_sin", mutates_args=())
    def numpy_sin(x: Tensor) -> Tensor: ...
    numpy_sin.register_autograd(backward, setup_context=setup_context)
    numpy_sin.register_fake(fake_fn)
    flambeau.ops.mylib.numpy_sin(x)            # the same operator
    flambeau.library.opcheck(numpy_sin, (x,))

What is honoured: the name (callable as flambeau.ops.<ns>.<name> and .default), the schema inferred from the
type hints (PyTorch's rules and messages; see infer_schema), mutates_args, per-device kernels
(register_kernel), the kernel running with autograd off (as below PyTorch's Autograd key), outputs that
alias inputs refused, register_autograd's setup_context/backward driving the backward pass (and, without
one, PyTorch's error when a backward reaches the op). flambeau has no fake tensors or tracer: a
registered fake implementation is used by opcheck only, which runs it on the real inputs and compares
the metadata of what it returns with the real outputs. Library / define / impl (operators declared by
schema string) are not provided."""
import collections.abc
import inspect
import types
import typing

import numpy as _np

from . import _ops
from ._dtype import device as _device_cls, dtype as _dtype_cls
from ._tensor import Tensor
from .autograd.function import Function
from .autograd.grad_mode import no_grad

__all__ = ["custom_op", "register_fake", "register_autograd", "register_kernel", "impl_abstract", "opcheck",
           "infer_schema", "CustomOpDef", "OpCheckError"]

_UNKNOWN_MUTATES = "unknown"
_NoneType = type(None)


# ---------------------------------------------------------------------------------------------- schema
def _is_optional(tp):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if _NoneType in args:
            rest = tuple(a for a in args if a is not _NoneType)
            return True, (rest[0] if len(rest) == 1 else typing.Union[rest])
    return False, tp


_SCALAR_SET = {int, float, bool}


def _base_type(tp):
    if tp is Tensor or (isinstance(tp, type) and issubclass(tp, Tensor)):
        return "Tensor"
    if tp is bool:
        return "bool"
    if tp is int:
        return "SymInt"
    if tp is float:
        return "float"
    if tp is str:
        return "str"
    if tp is _dtype_cls:
        return "ScalarType"
    if tp is _device_cls:
        return "Device"
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and set(typing.get_args(tp)) == _SCALAR_SET:
        return "Scalar"
    return None


def _list_type(tp):
    """'Tensor[]', 'Tensor?[]', 'SymInt[]', ... for list/List/Sequence annotations, else None."""
    if typing.get_origin(tp) not in (list, collections.abc.Sequence):
        return None
    args = typing.get_args(tp)
    if len(args) != 1:
        return None
    opt, inner = _is_optional(args[0])
    base = _base_type(inner)
    if opt:
        return "Tensor?[]" if base == "Tensor" else None
    if base in ("Tensor", "SymInt", "float", "bool", "Scalar"):
        return base + "[]"
    return None


def _param_type(tp):
    opt, inner = _is_optional(tp)
    t = _base_type(inner) or _list_type(inner)
    if t is None or (opt and t == "Tensor?[]"):
        return None
    return t + "?" if opt else t


def _return_type(tp, error_fn):
    if tp is None or tp is _NoneType:
        return "()"
    if typing.get_origin(tp) is tuple:
        return "(" + ", ".join(_return_type(a, error_fn) for a in typing.get_args(tp)) + ")"
    t = _base_type(tp)
    if t in ("Tensor", "SymInt", "float", "bool", "Scalar"):
        return t
    if _list_type(tp) == "Tensor[]":
        return "Tensor[]"
    error_fn(f"Return has unsupported type {tp}.")


def _type_hints(fn):
    try:
        return typing.get_type_hints(fn)
    except Exception:
        return getattr(fn, "__annotations__", {})


def infer_schema(prototype_function, /, *, mutates_args, op_name=None):
    """The operator schema of a type-annotated function ("(Tensor x, float k=1.0) -> Tensor"; mutated
    Tensor arguments are written Tensor(a<i>!)), with PyTorch's rules and error messages."""
    sig = inspect.signature(prototype_function)
    hints = _type_hints(prototype_function)

    def error_fn(what):
        raise ValueError(f"infer_schema(func): {what} Got func with signature {sig})")

    params = []
    seen = set()
    kw_only_started = False
    for idx, (name, param) in enumerate(sig.parameters.items()):
        if param.kind not in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            error_fn("We do not support positional-only args, varargs, or varkwargs.")
        if param.kind == inspect.Parameter.KEYWORD_ONLY and not kw_only_started:
            params.append("*")
            kw_only_started = True
        if param.annotation is inspect.Parameter.empty:
            error_fn(f"Parameter {name} must have a type annotation.")
        annotation = hints.get(name, param.annotation)
        schema_type = _param_type(annotation)
        if schema_type is None:
            error_fn(f"Parameter {name} has unsupported type {annotation}. The valid types are: Tensor, "
                     "Tensor?, Tensor[], Tensor?[], int, float, bool, str, Scalar, dtype, device, and lists / "
                     "optionals of int, float, bool.")
        if mutates_args == _UNKNOWN_MUTATES or name in mutates_args:
            if schema_type.startswith("Tensor"):
                schema_type = f"Tensor(a{idx}!){schema_type[len('Tensor'):]}"
            elif name in mutates_args:
                error_fn(f"Parameter {name} is in mutable_args but only Tensors or collections of Tensors can "
                         "be mutated")
        seen.add(name)
        if param.default is inspect.Parameter.empty:
            params.append(f"{schema_type} {name}")
        else:
            d = param.default
            if d is None or isinstance(d, (int, float, bool)):
                default_repr = str(d)
            elif isinstance(d, (str, _device_cls)):
                default_repr = f'"{d}"'
            elif isinstance(d, _dtype_cls):
                default_repr = str(d).split(".", 1)[1]
            else:
                error_fn(f"Parameter {name} has an unsupported default value type {type(d)}. Please file an issue "
                         "on GitHub so we can prioritize this.")
            params.append(f"{schema_type} {name}={default_repr}")
    if mutates_args != _UNKNOWN_MUTATES:
        not_seen = set(mutates_args) - seen
        if not_seen:
            error_fn(f"{not_seen} in mutates_args were not found in the custom op's signature. mutates_args should "
                     "contain the names of all args that the custom op mutates, or just the string 'unknown' if "
                     "you don't know.")
    ret = _return_type(hints.get("return", sig.return_annotation), error_fn) \
        if sig.return_annotation is not inspect.Signature.empty else error_fn("No return type annotation was provided. "
                                                                               "Please add one.")
    if op_name is not None:
        return f"{op_name}({', '.join(params)}) -> {ret}"
    return f"({', '.join(params)}) -> {ret}"


# ------------------------------------------------------------------------------------------- the operator
def _flatten_args(args):
    """The tensors among the arguments (a list argument's tensors one by one) and how to put them back."""
    leaves, spec = [], []
    for a in args:
        if isinstance(a, Tensor):
            spec.append(("t", 1))
            leaves.append(a)
        elif isinstance(a, (list, tuple)) and a and all(isinstance(x, Tensor) or x is None for x in a):
            spec.append(("l", len(a), type(a)))
            leaves.extend(a)
        else:
            spec.append(("v", a))
    return leaves, spec


def _unflatten_args(spec, leaves):
    args, i = [], 0
    for s in spec:
        if s[0] == "t":
            args.append(leaves[i])
            i += 1
        elif s[0] == "l":
            args.append(s[2](leaves[i:i + s[1]]))
            i += s[1]
        else:
            args.append(s[1])
    return tuple(args)


def _tensors_in(obj):
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [x for o in obj for x in _tensors_in(o)]
    return []


class CustomOpDef:
    """A custom operator made by custom_op: call it like the function it wraps."""

    def __init__(self, namespace, name, schema, fn, mutates_args, device_types):
        self._namespace, self._name = namespace, name
        self._qualname = f"{namespace}::{name}"
        self._schema = f"{self._qualname}{schema}"
        self._init_fn = fn
        self._signature = inspect.signature(fn)
        self._mutates_args = mutates_args
        self._default_device_types = device_types
        self._backend_fns = {}
        self._abstract_fn = None
        self._setup_context_fn = None
        self._backward_fn = None
        self.__name__ = name
        self.__doc__ = fn.__doc__
        self._autograd_fn = self._make_autograd_function()

    def __repr__(self):
        return f"<CustomOpDef({self._qualname})>"

    @property
    def _opoverload(self):
        return _ops.OpOverload(self)

    # -- registration
    def register_kernel(self, device_types, fn=None, /):
        """Use fn for tensors on the given device type(s) ("cpu", "cuda")."""
        def inner(fn):
            types_ = [device_types] if isinstance(device_types, str) or device_types is None else device_types
            for dt in types_:
                self._backend_fns[dt] = fn
            return fn
        return inner if fn is None else inner(fn)

    def register_fake(self, fn, /):
        """The fake (meta) implementation; flambeau uses it only in opcheck (no tracer to feed)."""
        self._abstract_fn = fn
        return fn

    def register_autograd(self, backward, /, *, setup_context=None):
        """backward(ctx, *grads) -> one gradient per input (None for non-Tensors), with
        setup_context(ctx, inputs, output) saving what it needs."""
        if not callable(backward):
            raise TypeError(f"Expected backward to be a function, got {type(backward).__name__}")
        if setup_context is not None and not callable(setup_context):
            raise TypeError(f"Expected setup_context to be a function, got {type(setup_context).__name__}")
        self._backward_fn = backward
        self._setup_context_fn = setup_context

    # -- calling
    def _bind(self, args, kwargs):
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return tuple(bound.arguments.values())

    def _call_kernel(self, full_args):
        positional, keyword = [], {}
        for (pname, param), a in zip(self._signature.parameters.items(), full_args):
            if param.kind == inspect.Parameter.KEYWORD_ONLY:
                keyword[pname] = a
            else:
                positional.append(a)
        tensors = _tensors_in(full_args)
        device_type = tensors[0].device.type if tensors else "cpu"
        kernel = self._backend_fns.get(device_type) or self._backend_fns.get(None)
        if kernel is None:
            if self._default_device_types is not None and device_type not in self._default_device_types:
                raise NotImplementedError(f"{self._qualname}: no kernel registered for device type '{device_type}' "
                                          f"(the operator's kernel is for {list(self._default_device_types)})")
            kernel = self._init_fn
        out = kernel(*positional, **keyword)
        self._check_no_aliasing(tensors, out)
        return out

    def _check_no_aliasing(self, inputs, out):
        outs = _tensors_in(out)
        ptrs = {}
        for t in inputs:
            if t.numel():
                ptrs.setdefault(t.data_ptr(), t)
        seen = set()
        for i, o in enumerate(outs):
            p = o.data_ptr() if o.numel() else None
            if any(o is t for t in inputs) or (p is not None and (p in ptrs or p in seen)):
                raise RuntimeError(
                    f"{self._name} (with implementation in {inspect.getmodule(self._init_fn)}): The output of this "
                    "custom operator (1) must not also be an input to this custom operator and (2) may not alias any "
                    "inputs to this custom operator or other returns. The most common way to trigger this error is "
                    "if we have y = custom_op(x) and y and x are the same Tensor. Instead, return a clone of the "
                    "offending output tensor(s) (e.g. return x.clone()) or refactor the custom operator to not "
                    "return y.")
            if p is not None:
                seen.add(p)

    def _make_autograd_function(self):
        op = self

        def forward(ctx, spec, *leaves):
            full_args = _unflatten_args(spec, leaves)
            out = op._call_kernel(full_args)
            ctx._op_spec = spec
            ctx._op_arg_needs_grad = tuple(
                any(ctx.needs_input_grad[1 + j] for j in range(start, start + n))
                for start, n in _leaf_ranges(spec))
            if op._setup_context_fn is not None:
                op._setup_context_fn(ctx, full_args, out)
            if isinstance(out, list):
                # Function outputs are a tensor or a tuple; a Tensor[] return goes through as a tuple
                ctx._op_list_output = True
                return tuple(out)
            return out

        def backward(ctx, *grads):
            if op._backward_fn is None:
                raise RuntimeError(f"Trying to backward through {op._namespace}.{op._name}.default but no autograd "
                                   "formula was registered. Please use register_autograd to add one.")
            spec = ctx._op_spec
            saved_flags = ctx.needs_input_grad
            ctx.needs_input_grad = ctx._op_arg_needs_grad  # per operator argument, as PyTorch's ctx has it
            try:
                if getattr(ctx, "_op_list_output", False):
                    result = op._backward_fn(ctx, list(grads))
                else:
                    result = op._backward_fn(ctx, *grads)
            finally:
                ctx.needs_input_grad = saved_flags
            if not isinstance(result, tuple):
                result = (result,)
            if len(result) != len(spec):
                raise RuntimeError(f"{op._qualname}: expected the backward to return {len(spec)} gradients (one per "
                                   f"input, None for non-Tensor inputs), got {len(result)}")
            leaf_grads = []
            for s, g in zip(spec, result):
                if s[0] == "t":
                    leaf_grads.append(g)
                elif s[0] == "l":
                    leaf_grads.extend(list(g) if g is not None else [None] * s[1])
            return (None, *leaf_grads)

        cls_name = f"GeneratedBackwardFor_{self._namespace}_{self._name}_default"
        return type(cls_name, (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})

    def __call__(self, *args, **kwargs):
        full_args = self._bind(args, kwargs)
        leaves, spec = _flatten_args(full_args)
        out = self._autograd_fn.apply(spec, *leaves)
        if isinstance(out, tuple) and _returns_list(self._schema):
            out = list(out)
        return out


def _leaf_ranges(spec):
    start = 0
    for s in spec:
        n = 1 if s[0] == "t" else (s[1] if s[0] == "l" else 0)
        yield start, n
        start += n


def _returns_list(schema):
    return schema.rsplit("->", 1)[1].strip() == "Tensor[]"


def _resolve(op, what):
    if isinstance(op, CustomOpDef):
        return op
    if isinstance(op, _ops.OpOverloadPacket) or isinstance(op, _ops.OpOverload):
        return op._op
    if isinstance(op, str):
        found = _ops.lookup(op)
        if found is not None:
            return found
        raise ValueError(f"{what}: no operator {op!r} (flambeau registers only torch.library.custom_op operators; "
                         "Library.define is not provided)")
    raise TypeError(f"{what}: expected an operator name 'ns::name' or a CustomOpDef, got {type(op).__name__}")


def custom_op(name, fn=None, /, *, mutates_args, device_types=None, schema=None, tags=None):
    """Wrap fn as the operator name ("namespace::opname"); usable as a decorator."""
    if not isinstance(name, str) or "::" not in name:
        raise ValueError(f"custom_op: expected a name of the form 'namespace::opname', got {name!r}")
    namespace, opname = name.split("::", 1)
    if not namespace.isidentifier() or not opname.isidentifier():
        raise ValueError(f"custom_op: namespace and operator name must be identifiers, got {name!r}")
    if isinstance(mutates_args, str):
        if mutates_args != _UNKNOWN_MUTATES:
            raise ValueError("mutates_args must be either a sequence of the names of the arguments that are mutated "
                             "or the string 'unknown'. ")
    else:
        mutates_args = tuple(mutates_args)
    if isinstance(device_types, str):
        device_types = (device_types,)

    def inner(fn):
        if schema is None:
            inferred = infer_schema(fn, mutates_args=mutates_args)
        else:
            inferred = schema
        op = CustomOpDef(namespace, opname, inferred, fn, mutates_args, device_types)
        _ops.register(op)
        return op
    return inner if fn is None else inner(fn)


def register_fake(op, func=None, /, *, lib=None, _stacklevel=1, allow_override=True):
    """Register the fake implementation of op (a name or a CustomOpDef); usable as a decorator."""
    target = _resolve(op, "register_fake")

    def inner(fn):
        return target.register_fake(fn)
    return inner if func is None else inner(func)


impl_abstract = register_fake  # the deprecated name


def register_autograd(op, backward, /, *, setup_context=None, lib=None):
    """Register op's backward (and setup_context)."""
    _resolve(op, "register_autograd").register_autograd(backward, setup_context=setup_context)


def register_kernel(op, device_types, func=None, /, *, lib=None):
    """Register op's kernel for a device type; usable as a decorator."""
    return _resolve(op, "register_kernel").register_kernel(device_types, func)


# -------------------------------------------------------------------------------------------- opcheck
class OpCheckError(Exception):
    pass


_DEFAULT_TEST_UTILS = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")


def _clone_args(args):
    def c(a):
        if isinstance(a, Tensor):
            return a.detach().clone().requires_grad_(a.requires_grad)
        if isinstance(a, (list, tuple)):
            return type(a)(c(x) for x in a)
        if isinstance(a, dict):
            return {k: c(v) for k, v in a.items()}
        return a
    return c(args)


def _values(t):
    return t.detach().cpu().numpy()


def _same(a, b, atol, rtol):
    if a.shape != b.shape:
        return False
    a, b = _values(a), _values(b)
    if a.dtype.kind in "fc":
        return bool(_np.allclose(a, b, atol=atol or 1e-5, rtol=rtol or 1.3e-6, equal_nan=True))
    return bool(_np.array_equal(a, b))


def _test_schema(op, args, kwargs, atol, rtol):
    """Arguments the schema does not declare mutated are left unchanged; outputs do not alias inputs."""
    args, kwargs = _clone_args(args), _clone_args(kwargs)
    full = op._bind(args, kwargs)
    before = [[t.detach().clone() for t in _tensors_in(a)] for a in full]
    with no_grad():
        op(*args, **kwargs)
    for (pname, _), a, old in zip(op._signature.parameters.items(), full, before):
        if op._mutates_args == _UNKNOWN_MUTATES or pname in op._mutates_args:
            continue
        for t, o in zip(_tensors_in(a), old):
            if not _same(t, o, 0.0, 0.0):
                raise RuntimeError(f"Argument {pname} is not defined as mutable but was mutated")


def _test_autograd_registration(op, args, kwargs, atol, rtol):
    """Always passes for custom_op operators: their autograd (registered or the error-raising default) is
    part of the operator, as in PyTorch."""


def _meta(t):
    return (t.shape, t.dtype, t.device)


def _test_faketensor(op, args, kwargs, atol, rtol):
    """The fake implementation, run on the real inputs, returns outputs with the real outputs' shapes,
    dtypes and devices."""
    if op._abstract_fn is None:
        raise RuntimeError(f"There was no fake impl registered for {op}. This is necessary for torch.compile/export/"
                           f"fx tracing to work. Please use `{op._init_fn.__name__}.register_fake` to add an fake impl.")
    args, kwargs = _clone_args(args), _clone_args(kwargs)
    with no_grad():
        real = _tensors_in(op(*_clone_args(args), **_clone_args(kwargs)))
        fake = _tensors_in(op._abstract_fn(*args, **kwargs))
    if len(real) != len(fake):
        raise RuntimeError(f"When comparing the output of {op._namespace}.{op._name}.default on FakeTensor and "
                           f"concrete Tensors, found {len(fake)} fake outputs and {len(real)} real ones")
    for r, f in zip(real, fake):
        for what, x, y in zip(("Shapes", "Dtypes", "Devices"), _meta(f), _meta(r)):
            if x != y:
                raise RuntimeError(f"When comparing the output of {op._namespace}.{op._name}.default on FakeTensor "
                                   f"and concrete Tensors, found mismatched tensor metadata: {what} {y} and {x} are "
                                   "not equal!")


def _run_with_backward(op, args, kwargs, seed_grads):
    args, kwargs = _clone_args(args), _clone_args(kwargs)
    out = op(*args, **kwargs)
    outs = [o for o in _tensors_in(out) if o.requires_grad]
    ins = [t for t in _tensors_in((args, list(kwargs.values()))) if t.requires_grad]
    grads = []
    if outs and ins:
        from . import autograd
        gs = seed_grads(outs)
        grads = autograd.grad(outs, ins, gs, allow_unused=True)
    return _tensors_in(out), grads


def _test_aot_dispatch_dynamic(op, args, kwargs, atol, rtol):
    """flambeau has no compiled path to compare with; instead the operator is run twice on fresh copies
    of the inputs, with a backward pass when inputs require grad (which fails, as in PyTorch, without a
    registered autograd formula), and both runs must agree."""
    from . import randn_like
    seeds = {}

    def seed_grads(outs):
        if not seeds:
            seeds["g"] = [randn_like(o) for o in outs]
        return seeds["g"]
    out1, g1 = _run_with_backward(op, args, kwargs, seed_grads)
    out2, g2 = _run_with_backward(op, args, kwargs, seed_grads)
    for a, b in zip(list(out1) + list(g1), list(out2) + list(g2)):
        if (a is None) != (b is None) or (a is not None and not _same(a, b, atol, rtol)):
            raise RuntimeError(f"{op._qualname}: two eager runs on the same inputs disagree")


_TESTS = {"test_schema": _test_schema, "test_autograd_registration": _test_autograd_registration,
          "test_faketensor": _test_faketensor, "test_aot_dispatch_dynamic": _test_aot_dispatch_dynamic}


def opcheck(op, args, kwargs=None, *, test_utils=_DEFAULT_TEST_UTILS, raise_exception=True, atol=None, rtol=None):
    """Check a custom operator's registrations on sample inputs: {test name: "SUCCESS" or the exception}."""
    op = _resolve(op, "opcheck")
    kwargs = {} if kwargs is None else kwargs
    if isinstance(test_utils, str):
        test_utils = (test_utils,)
    unknown = set(test_utils) - set(_TESTS)
    if unknown:
        raise ValueError(f"opcheck(op, ...): test_utils is expected to only contain {list(_TESTS)}, got {test_utils}")
    results = {}
    for name in test_utils:
        try:
            _TESTS[name](op, args, kwargs, atol, rtol)
        except Exception as e:
            if raise_exception:
                raise OpCheckError(f"opcheck(op, ...): {name} failed with {e} (scroll up for stack trace)") from e
            results[name] = e
        else:
            results[name] = "SUCCESS"
    return results
