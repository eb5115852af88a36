"""The backward engine: a reverse topological walk of the graph recorded by Function.apply.

1. Walk from the roots' nodes to count, for every node, how many edges point at it.
2. Seed the roots' gradients, then run nodes whose count has dropped to zero (Kahn's algorithm),
   so a node runs once, after every consumer of its outputs has contributed its gradient.
3. Gradients reaching a leaf's AccumulateGrad are added into `.grad` (or captured, for
   autograd.grad). Saved tensors are freed as each node finishes unless retain_graph.

With autograd.grad(inputs=...) only nodes that lead to an input run (the rest of the graph is
pruned), as in PyTorch.
"""
import itertools
import threading

from .. import _C
from .. import _tensor
from .. import _sparse
from .._sparse import SparseCooTensor as _Sparse
from . import function as _function
from .function import AccumulateGrad, _accumulate_node, _FREED_MSG  # noqa: F401
from .grad_mode import _state as _gs, _set_mode as _set_grad_mode
from .graph import GradientEdge
from ..profiler._recorder import RECORDER as _PROFILER


class _TaskState(threading.local):
    """The backward pass running on this thread (None outside one): its id, which activation
    checkpointing uses to recompute once per pass, and whether it was restricted to `inputs`
    (autograd.grad, backward(inputs=...)), which reentrant checkpointing cannot serve."""
    task_id = None
    has_inputs = False
    reachable = None  # node -> its next_functions, for every node reachable from the roots
    needed = None     # with `inputs`, the nodes that lead to one of them (None: all reachable nodes run)


_task = _TaskState()
_task_ids = itertools.count(1)


def _current_graph_task_id():
    """Id of the backward pass running on this thread, or -1 outside one (as PyTorch's)."""
    t = _task.task_id
    return -1 if t is None else t


def _is_checkpoint_valid():
    return not _task.has_inputs


def _will_engine_execute_node(node):
    """Whether the running backward pass will run `node` (a grad_fn or an AccumulateGrad), as
    PyTorch's torch._C._will_engine_execute_node; register_multi_grad_hook counts on it."""
    if _task.task_id is None:
        raise RuntimeError("_will_engine_execute_node should only be called during the backward pass")
    if node not in _task.reachable:
        return False
    return _task.needed is None or node in _task.needed


def _sum_grads(a, b):
    """a + b for gradient buffers; out-of-place because either may alias a user's tensor."""
    if a.__class__ is _Sparse or b.__class__ is _Sparse:
        return _sparse.sum_grads(a, b)  # PyTorch's order and layout rules for sparse gradients
    if _gs.enabled:
        return a + b
    ai, bi = a._impl, b._impl
    if ai.device == "meta" or bi.device == "meta":
        return a + b  # (meta gradients: the shape rule, no kernel)
    if ai.dtype[0] == "c" or bi.dtype[0] == "c":  # complex gradients: added as their (re, im) pairs
        if ai.dtype != bi.dtype or ai.shape != bi.shape:
            return a + b
        return _tensor._wrap(_C.view_as_complex(_C.add(_C.view_as_real(ai), _C.view_as_real(bi))))
    return _tensor._wrap(_C.add(ai, bi))


def _root_node(t):
    return _function._edge(t)


def _make_root_grads(tensors, grad_tensors, is_grads_batched=False):
    Tensor = _tensor.Tensor
    out = []
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if g is None:
            ti = t._impl
            if ti.numel != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            dt = ti.dtype
            if dt not in ("float32", "float64", "float16", "bfloat16"):
                raise RuntimeError("grad can be implicitly created only for real scalar outputs but got "
                                   f"flambeau.{dt}")
            g = _tensor._wrap(_C.full(ti.shape, 1.0, dt, ti.device)) if ti.device != "meta" else _meta_zeros(ti)
        else:
            if not isinstance(g, Tensor):
                g = _tensor._wrap(_C.scalar_tensor(g, t._impl.dtype, t._impl.device))
            if tuple(g._impl.shape) != tuple(t._impl.shape):
                from .._dtype import Size
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                   f"{Size(g._impl.shape)} and output[{i}] has a shape of {Size(t._impl.shape)}.")
            if g._impl.dtype != t._impl.dtype:
                g = g.to(t.dtype)
        out.append(g)
    return out


def _meta_zeros(impl, shape=None, dt=None):
    """A meta gradient (meta tensors have no values: ones and zeros alike are just a shape)."""
    from .. import _meta
    return _meta.make(impl.shape if shape is None else shape, impl.dtype if dt is None else dt)


def _accumulate_meta(var, cur, g):
    """.grad of a leaf reached by a meta gradient: a fresh meta tensor the first time, then kept (in place, as
    PyTorch keeps .grad's identity); a leaf with data cannot take a gradient that has none."""
    if var._impl.device != "meta":
        from .._meta import _NO_DATA
        raise NotImplementedError(_NO_DATA)
    if cur is None:
        return _meta_zeros(g._impl)
    if tuple(cur._impl.shape) != tuple(g._impl.shape):
        return cur + g
    return cur


def run_backward(tensors, grad_tensors, retain_graph, create_graph, inputs=None, allow_unused=True,
                 accumulate=True):
    """Runs backward from `tensors`. With accumulate=False returns the gradients of `inputs`
    (autograd.grad); otherwise accumulates into leaves' .grad (restricted to `inputs` if given)."""
    Tensor = _tensor.Tensor
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"backward: expected a Tensor at position {i}, got {type(t).__name__}")
        if not t._rg or _function._is_fw_tracked(t):  # (forward-AD-only: forward_ad.py)
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
    grads = _make_root_grads(tensors, grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph

    roots = [_root_node(t) for t in tensors]

    # Targets: where gradients are captured (autograd.grad) or the only leaves to accumulate into.
    capture = None  # (node, output_nr) -> position in inputs
    if inputs is not None:
        capture = {}
        for k, x in enumerate(inputs):
            if isinstance(x, GradientEdge):  # a node's input slot, as from graph.get_gradient_edge
                capture.setdefault((x.node, x.output_nr), []).append(k)
                continue
            if not isinstance(x, Tensor):
                raise TypeError(f"grad: inputs must be Tensors, got {type(x).__name__} at position {k}")
            if not x._rg or _function._is_fw_tracked(x):
                raise RuntimeError("One of the differentiated Tensors does not require grad")
            capture.setdefault(_root_node(x), []).append(k)

    # 1. Dependency counts over the reachable graph (iterative DFS; graphs can be deep).
    deps = {}
    children = {}
    stack = []
    for node, _ in roots:
        if node not in children:
            children[node] = None
            stack.append(node)
    order = []
    while stack:
        node = stack.pop()
        order.append(node)
        nexts = node.next_functions
        children[node] = nexts
        for nf, _ in nexts:
            if nf is None:
                continue
            deps[nf] = deps.get(nf, 0) + 1
            if nf not in children:
                children[nf] = None
                stack.append(nf)

    # Pruning: a node is needed when some target is reachable from it (all nodes for plain backward).
    needed = None
    if capture is not None:
        target_nodes = {n for n, _ in capture}
        needed = set()
        # Reverse DFS order approximates post-order poorly on DAGs; iterate to a fixed point instead,
        # over the nodes in reverse discovery order (children are mostly discovered after parents).
        changed = True
        while changed:
            changed = False
            for node in reversed(order):
                if node in needed:
                    continue
                if node in target_nodes or any(nf in needed for nf, _ in children[node] if nf is not None):
                    needed.add(node)
                    changed = True

    # 2. Seed the roots' gradients.
    buffers = {}
    for (node, nr), g in zip(roots, grads):
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * node._n_outputs
        buf[nr] = g if buf[nr] is None else _sum_grads(buf[nr], g)

    results = [None] * len(inputs) if (capture is not None and not accumulate) else None
    # Storages already owned by a .grad in this pass, or by a root gradient: a gradient sharing one
    # of them must be copied before it becomes a .grad, or later in-place accumulation would alias.
    owned = set()
    for g in grads:
        owned.add(_storage_key(g._impl))

    ready = []
    seen_ready = set()
    for node, _ in roots:
        if deps.get(node, 0) == 0 and node not in seen_ready:
            seen_ready.add(node)
            ready.append(node)

    prev_mode = (_gs.enabled, _gs.fw_gate)
    if _function._fw_hook is None:
        _gs.enabled = bool(create_graph)
    else:  # inside a forward-AD level the backward's ops must carry tangents (forward-over-reverse)
        _set_grad_mode(bool(create_graph), counted=False)  # (views made in backward are ordinary ones)
    task = _task
    prev_task = (task.task_id, task.has_inputs, task.reachable, task.needed)
    task.task_id = next(_task_ids)
    task.has_inputs = inputs is not None
    task.reachable, task.needed = children, needed
    anomaly = _function._anomaly_enabled
    try:
        while ready:
            node = ready.pop()
            buf = buffers.pop(node, None)
            nexts = children[node]
            if needed is not None and node not in needed:
                in_grads = None
            elif node.__class__ is AccumulateGrad:
                in_grads = None
                g = buf[0] if buf is not None else None
                if g is not None:
                    _run_accumulate(node, g, capture, results, accumulate, create_graph, owned)
            elif anomaly:
                in_grads = _run_node_anomaly(node, buf, capture, results, retain_graph)
            else:
                in_grads = _run_node(node, buf, capture, results, retain_graph)
            for k, (nf, nr) in enumerate(nexts):
                if nf is None:
                    continue
                if in_grads is not None:
                    g = in_grads[k]
                    if g is not None:
                        b = buffers.get(nf)
                        if b is None:
                            b = buffers[nf] = [None] * nf._n_outputs
                        b[nr] = g if b[nr] is None else _sum_grads(b[nr], g)
                d = deps[nf] - 1
                deps[nf] = d
                if d == 0:
                    ready.append(nf)
    finally:
        _gs.enabled, _gs.fw_gate = prev_mode
        task.task_id, task.has_inputs, task.reachable, task.needed = prev_task

    if results is not None:
        if not allow_unused:
            for k, r in enumerate(results):
                if r is None:
                    raise RuntimeError(f"The differentiated Tensor at index {k} appears to not have been used in "
                                       "the graph. Set allow_unused=True if this is the desired behavior.")
        return tuple(results)
    return None


def _storage_key(impl):
    # The storage's base address identifies it while alive (impl data_ptr includes the offset).
    return impl.storage_ptr


def _run_tensor_hooks(hooks, g):
    for fn in list(hooks.values()):
        r = fn(g)
        if r is not None:
            g = r
    return g


def _grad_layout(gi, vi):
    """PyTorch's gradient layout contract for a leaf's first .grad: the leaf's strides when it is
    dense (a channels_last or transposed parameter gets a gradient laid out the same), row-major
    otherwise. A copy of gi in that layout, or None when gi already obeys it (the usual case)."""
    if vi.is_contiguous():
        if gi.is_contiguous():
            return None
        return _C.contiguous(gi)
    if _C.is_non_overlapping_and_dense(vi):
        vs, gs, shape = vi.stride, gi.stride, vi.shape
        if all(shape[d] == 1 or gs[d] == vs[d] for d in range(len(shape))):
            return None
        out = _C.empty_strided(list(shape), list(vs), gi.dtype, gi.device)
        _C.copy_(out, gi)
        return out
    return None if gi.is_contiguous() else _C.contiguous(gi)


def _run_accumulate(node, g, capture, results, accumulate, create_graph, owned):
    var = node._ref()
    hooks = var._hooks if var is not None else None
    if hooks:
        g = _run_tensor_hooks(hooks, g)
    if capture is not None:
        pos = capture.get((node, 0))
        if pos is None:
            return  # not a requested input: backward(inputs=...) leaves it alone
        if not accumulate:
            for k in pos:
                results[k] = g
            return
    if var is None:
        return  # the leaf is gone; nobody can read its gradient
    cur = var._grad
    if g.__class__ is not _tensor.Tensor and g._impl.device == "meta":
        var._grad = _accumulate_meta(var, cur, g)
    elif g.__class__ is _Sparse or cur.__class__ is _Sparse or var.__class__ in _sparse.LEAF_CLASSES:
        var._grad = _sparse.accumulate_grad(cur, g, create_graph)  # (nn.Embedding(sparse=True)'s weight)
    elif cur is None:
        if not create_graph:
            laid = _grad_layout(g._impl, var._impl)
            if laid is not None:  # a fresh copy in the leaf's layout: owned by nobody else
                g = _tensor._wrap(laid)
                key = _storage_key(g._impl)
            else:
                key = _storage_key(g._impl)
                if key in owned or g._rg:
                    g = _tensor._wrap(_C.clone(g._impl))
                    key = _storage_key(g._impl)
                elif g.__class__ is not _tensor.Tensor:
                    g = _tensor._wrap(g._impl)
            owned.add(key)
        var._grad = g
    elif create_graph:
        var._grad = cur + g
    else:
        ci, gi = cur._impl, g._impl
        if ci.shape == gi.shape and ci.dtype == gi.dtype:
            if ci.dtype[0] == "c":  # complex: the (re, im) pairs, in place
                ci, gi = _C.view_as_real(ci), _C.view_as_real(gi)
            _C.add(ci, gi, out=ci)  # in place, like PyTorch: .grad keeps its identity across backwards
        else:
            var._grad = cur + g
    post = var._post_acc
    if post:
        for fn in list(post.values()):
            fn(var)


def _run_node(node, buf, capture, results, retain_graph):
    if buf is None:  # no gradient reached this node (every consumer's backward returned None for it)
        return None
    d = node.__dict__
    pre = d.get("_pre_hooks")  # tensor hooks of non-leaf outputs: {output_nr: {id: fn}}
    if pre:
        for nr, hooks in pre.items():
            if hooks and nr < len(buf) and buf[nr] is not None:
                buf[nr] = _run_tensor_hooks(hooks, buf[nr])
    node_pre = d.get("_node_pre_hooks")
    if node_pre:
        for fn in list(node_pre.values()):
            r = fn(tuple(buf))
            if r is not None:
                buf = list(r)
    retain = d.get("_retain_refs")
    if retain:
        for nr, ref in retain.items():
            t = ref()
            g = buf[nr] if nr < len(buf) else None
            if t is not None and g is not None:
                if t.grad is None:
                    t.grad = _tensor._wrap(_C.clone(g._impl)) if not (g._rg or g._impl.device == "meta") else g.clone()
                else:
                    t.grad = t.grad + g
    if capture is not None:
        for nr in range(len(buf)):
            pos = capture.get((node, nr))
            if pos is not None and results is not None:
                for k in pos:
                    results[k] = buf[nr]

    has_grad = has_none = False  # (`None in buf` would call Tensor.__eq__)
    for g in buf:
        if g is None:
            has_none = True
        else:
            has_grad = True
    if not has_grad:
        return None
    if node._freed:
        raise RuntimeError(_FREED_MSG)
    if has_none and node.materialize_grads:
        meta = node._out_meta
        for i, g in enumerate(buf):
            if g is None and meta[i] is not None:
                shape, dt, dev = meta[i]
                buf[i] = _tensor._wrap(_C.full(shape, 0, dt, dev)) if dev != "meta" else _meta_zeros(None, shape, dt)
    fwd = node._forward_cls
    if _PROFILER.recording:
        ev = _PROFILER.begin("autograd::engine::evaluate_function: " + type(node).__name__, "autograd")
        try:
            out = fwd.backward(node, *buf)
        finally:
            _PROFILER.end(ev)
    else:
        out = fwd.backward(node, *buf)
    if not retain_graph:
        node._release()
    if not isinstance(out, tuple):
        out = (out,)
    n_in = len(node.next_functions)
    if node._validate:
        out = _validate(node, out, n_in)
    post = d.get("_post_hooks")
    if post:
        for fn in list(post.values()):
            r = fn(out, tuple(buf))
            if r is not None:
                out = tuple(r)
    return out


def _run_node_anomaly(node, buf, capture, results, retain_graph):
    """_run_node in anomaly mode: a gradient holding NaN is an error naming the node, and any
    error in a node's backward is preceded by a warning with the forward call that created it."""
    from . import anomaly_mode
    try:
        out = _run_node(node, buf, capture, results, retain_graph)
        if out is not None and anomaly_mode._check_nan:
            prev = _gs.enabled
            _gs.enabled = False
            try:
                for i, g in enumerate(out):
                    if isinstance(g, _tensor.Tensor) and g._impl.numel and g.is_floating_point() \
                            and bool(g.isnan().any()):
                        raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th output.")
            finally:
                _gs.enabled = prev
        return out
    except Exception:
        anomaly_mode._warn_forward_trace(node)
        raise


def _validate(node, out, n_in):
    """Checks a user Function's gradients: count, then shape (summing broadcast dims back, as
    PyTorch does) and dtype/device against the inputs."""
    name = node._name
    if len(out) < n_in:
        raise RuntimeError(f"function {name} returned an incorrect number of gradients (expected {n_in}, got {len(out)})")
    if len(out) > n_in:
        if any(g is not None for g in out[n_in:]):
            raise RuntimeError(f"function {name} returned an incorrect number of gradients (expected {n_in}, got {len(out)})")
        out = out[:n_in]
    meta = node._in_meta
    res = []
    Tensor = _tensor.Tensor
    for i, g in enumerate(out):
        m = meta[i] if i < len(meta) else None
        if g is None or m is None:
            res.append(None if m is None else g)
            continue
        if not isinstance(g, Tensor):
            raise TypeError(f"function {name} returned a gradient of type {type(g).__name__} at index {i}; "
                            "expected a Tensor or None")
        shape, dt, dev = m
        gshape = g._impl.shape
        if gshape != shape:
            from .._functions.shape import _sum_to_or_none
            r = _sum_to_or_none(g, shape)
            if r is None:
                raise RuntimeError(f"Function {name} returned an invalid gradient at index {i} - got "
                                   f"{list(gshape)} but expected shape compatible with {list(shape)}")
            g = r
        if g._impl.dtype != dt or g._impl.device != dev:
            g = g.to(device=dev, dtype=dt)
        res.append(g)
    return tuple(res)
