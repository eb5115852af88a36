"""add_graph: the model's dataflow graph as a TensorFlow GraphDef for TensorBoard's graph dashboard.

PyTorch traces the model with torch.jit and lists ATen ops; we trace it with flambeau.fx
(symbolic tracing) and list its nodes: submodule calls (op = the module's class, e.g. 'Conv2d'),
function and method calls (op = their name, e.g. 'relu'), parameters read directly ('prim::GetAttr').
Node names are scoped as PyTorch's are, '<Model>/<Class>[<attribute>]/<node>', so the dashboard
folds each submodule into one box; inputs and outputs are 'input/<name>' and 'output/output.<i>'
'IO Node's. Each node carries its output shape (from running the graph on the example input,
fx's ShapeProp) in `_output_shapes`, and a readable description in `attr`.

Unlike PyTorch's jit trace, fx records no module stack for function calls, so a functional call
made inside a submodule's forward (F.relu in Block.forward) is drawn at the model's top level.
"""
from . import _proto as P


def _shape(dims):
    return b"".join(P.bytes_field(2, P.opt_int(1, d)) for d in dims)


def _node(name, op, inputs, shape, text):
    """NodeDef{name(1), op(2), input(3)..., attr(5): map<string, AttrValue>}: 'attr' -> AttrValue{s(2)},
    '_output_shapes' -> AttrValue{list(1): ListValue{shape(7)}}."""
    attrs = P.bytes_field(5, P.string_field(1, "attr") + P.bytes_field(2, P.bytes_field(2, text.encode("utf-8"))))
    if shape is not None:
        shapes = P.bytes_field(1, P.bytes_field(7, _shape(shape)))
        attrs += P.bytes_field(5, P.string_field(1, "_output_shapes") + P.bytes_field(2, shapes))
    return (P.string_field(1, name) + P.string_field(2, op)
            + b"".join(P.string_field(3, i) for i in inputs) + attrs)


def _describe(node):
    """The call's non-tensor arguments, e.g. '{dim: 1}', as the dashboard's node details."""
    from flambeau.fx.node import Node
    parts = [str(a) for a in node.args if not isinstance(a, Node)]
    parts += [f"{k}: {v}" for k, v in node.kwargs.items() if not isinstance(v, Node)]
    return "{" + ", ".join(parts) + "}"


def _node_inputs(node):
    from flambeau.fx.node import Node
    found = []

    def visit(a):
        if isinstance(a, Node):
            found.append(a)
        elif isinstance(a, (list, tuple)):
            for x in a:
                visit(x)
        elif isinstance(a, dict):
            for x in a.values():
                visit(x)
    visit(node.args)
    visit(node.kwargs)
    return found


def graph_def(model, example_inputs):
    """(GraphDef bytes, RunMetadata bytes) of `model` called on `example_inputs` (a tuple)."""
    from flambeau import fx, no_grad
    from flambeau.fx.passes.shape_prop import ShapeProp

    training = model.training
    model.train(False)        # as PyTorch traces: eval mode, so dropout and batch norm are fixed
    try:
        try:
            gm = fx.symbolic_trace(model)
        except Exception as e:
            raise RuntimeError(f"add_graph: flambeau.fx could not trace {type(model).__name__} "
                               f"({type(e).__name__}: {e}); data-dependent control flow cannot be traced") from e
        with no_grad():
            ShapeProp(gm).propagate(*example_inputs)
    finally:
        model.train(training)

    base = type(model).__name__
    modules = dict(model.named_modules())
    names = {}
    nodes = []
    for n in gm.graph.nodes:
        meta = n.meta.get("tensor_meta")
        shape = list(meta.shape) if meta is not None and hasattr(meta, "shape") else None
        if n.op == "placeholder":
            names[n] = f"input/{n.name}"
            nodes.append(_node(names[n], "IO Node", [], shape, ""))
            continue
        if n.op == "output":
            outs = n.args[0] if isinstance(n.args[0], (list, tuple)) else [n.args[0]]
            for i, o in enumerate(outs):
                if o in names:
                    m = o.meta.get("tensor_meta")
                    nodes.append(_node(f"output/output.{i + 1}", "IO Node", [names[o]],
                                       list(m.shape) if m is not None and hasattr(m, "shape") else None, ""))
            continue
        if n.op == "call_module":
            # scope = every module on the attribute path, each as Class[attribute]
            scope, path = [base], []
            for part in str(n.target).split("."):
                path.append(part)
                scope.append(f"{type(modules['.'.join(path)]).__name__}[{part}]")
            mod = modules[str(n.target)]
            names[n] = "/".join(scope + [n.name])
            op, text = type(mod).__name__, repr(mod)
        elif n.op == "get_attr":
            names[n] = f"{base}/{n.target}"
            op, text = "prim::GetAttr", "{ name :  " + str(n.target) + " }"
        else:   # call_function, call_method
            names[n] = f"{base}/{n.name}"
            target = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", str(n.target))
            op, text = target, _describe(n)
        nodes.append(_node(names[n], op, [names[i] for i in _node_inputs(n) if i in names], shape, text))

    graph = b"".join(P.bytes_field(1, nd) for nd in nodes) + P.bytes_field(4, P.int_field(1, 22))
    # RunMetadata{step_stats(1): StepStats{dev_stats(1): DeviceStepStats{device(1)}}}: the dashboard
    # expects one device; like PyTorch we name the CPU whatever the model ran on
    run_metadata = P.bytes_field(1, P.bytes_field(1, P.string_field(1, "/device:CPU:0")))
    return graph, run_metadata
