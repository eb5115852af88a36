"""torch.func's transforms (grad, grad_and_value, vjp, jvp, jacrev, jacfwd, hessian, vmap) built on
flambeau's reverse-mode autograd.

How each is computed, and where that differs from functorch:
- grad / vjp / jacrev run the function on fresh differentiable copies of the chosen arguments and
  call autograd.grad. When an argument already requires grad (a transform nested inside another,
  or a user's tracked tensor) its copy stays connected, so grad(grad(f)), jacrev(grad(f)) and
  hessian compose, and results are differentiable exactly then.
- jvp and jacfwd use forward-mode AD (autograd.forward_ad), as functorch does: one forward pass
  carrying tangents (jacfwd: one per input element). Inside an open dual level (a jvp nested in
  a jvp) flambeau has no second level, so jvp falls back to the double-vjp trick (with u a dummy
  cotangent, J v = d/du <J^T u, v>, what torch.autograd.functional.jvp computes) and jacfwd to
  jacrev; the numbers are the same up to rounding.
- vmap runs the function once on the whole batch through batching rules, as functorch does
  (_batched.py: BatchedTensor, the rules, the per-op loop for ops without one); .item() and
  data-dependent control flow raise functorch's errors. grad/grad_and_value under one vmap run in
  one batched pass too (each differentiated argument a leaf with a batch dim); other transforms on
  batched arguments, and randomness='different', run once per sample. randomness='error' (the
  default) raises when a call drew from the default generator; 'same' gives every index the same
  draws; 'different' independent ones.
"""
import functools
import sys

from .. import _C
from .._tensor import Tensor
from ..autograd.grad_mode import enable_grad
from ._pytree import tree_flatten, tree_unflatten, tree_map, broadcast_prefix


def _per_sample(fn, args, kwargs):
    """Under vmap, a transform called on batched arguments runs once per sample (_batched.per_sample):
    a 1-tuple holding the stacked result, or None outside vmap."""
    if "flambeau.func._batched" not in sys.modules:
        return None
    from ._batched import per_sample
    return per_sample(fn, args, kwargs)


def _check_unbatched(outputs):
    if "flambeau.func._batched" in sys.modules:
        from ._batched import check_unbatched
        check_unbatched(outputs)


def _argnums_tuple(argnums, nargs, name):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums:
        raise RuntimeError(f"{name}: argnums must be non-empty")
    for n in nums:
        if not isinstance(n, int):
            raise RuntimeError(f"{name}: argnums must be int or Tuple[int, ...], got: {type(n).__name__}")
        if not -nargs <= n < nargs:
            raise RuntimeError(f"Got argnum={n}, but only {nargs} positional inputs")
    return tuple(n % nargs for n in nums)


def _track(x, name):
    """A differentiable stand-in for leaf x: connected to x's graph when x has one (nesting), and
    keeping x's forward-AD tangent (a reverse transform inside jvp/jacfwd: forward-over-reverse)."""
    if not isinstance(x, Tensor):
        raise RuntimeError(f"{name}: Expected all inputs to be Tensors, got {type(x).__name__}")
    if not x.is_floating_point():
        raise RuntimeError(f"{name}: only Tensors of floating point dtype can require gradients, got {x.dtype}")
    if x.requires_grad:
        return x.view_as(x)
    return _keep_tangent(x, x.detach().requires_grad_(True))


def _keep_tangent(src, t):
    """t carrying src's forward-AD tangent, if it has one (detach() drops it, as in PyTorch; the
    transforms detach to cut their own reverse graph, not an enclosing forward-mode one)."""
    if src._fw is not None:
        from ..autograd import forward_ad
        forward_ad.set_tangent_tracked(t, src._fw)
    return t


def _zeros_of(x):
    from .._creation import zeros
    return zeros(tuple(x.shape), dtype=x.dtype, device=x.device)


def _detach(t):
    return _keep_tangent(t, t.detach())


def _prepare(args, nums, name):
    """args with the trees at positions `nums` replaced by tracked copies; also the flat tracked
    leaves, each tree's spec and leaf count, and whether any original leaf required grad."""
    args = list(args)
    flat, specs, nested = [], [], False
    for n in nums:
        leaves, spec = tree_flatten(args[n])
        nested = nested or any(isinstance(x, Tensor) and x.requires_grad for x in leaves)
        tracked = [_track(x, name) for x in leaves]
        args[n] = tree_unflatten(tracked, spec)
        flat.extend(tracked)
        specs.append((spec, len(tracked)))
    return args, flat, specs, nested


def _regroup(flat, specs, argnums):
    out, i = [], 0
    for spec, n in specs:
        out.append(tree_unflatten(flat[i:i + n], spec))
        i += n
    return out[0] if isinstance(argnums, int) else tuple(out)


def _grads(outputs, inputs, grad_outputs, create):
    from ..autograd import grad as autograd_grad
    _check_unbatched(outputs)
    from .._creation import zeros_like
    gs = autograd_grad(outputs, inputs, grad_outputs, retain_graph=True, create_graph=create, allow_unused=True)
    return [zeros_like(x) if g is None else g for g, x in zip(gs, inputs)]


def _zeros_for(inputs):
    """The gradient of an output that doesn't depend on `inputs` at all (a constant function)."""
    from .._creation import zeros_like
    return [zeros_like(x.detach()) for x in inputs]


def _detach_tree(tree, keep):
    return tree if keep else tree_map(lambda t: _detach(t) if isinstance(t, Tensor) else t, tree)


def grad_and_value(func, argnums=0, has_aux=False):
    """grad_and_value(f)(*args) -> (gradient of f's scalar output w.r.t. args[argnums], f's output)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if "flambeau.func._batched" in sys.modules:
            r = _grad_and_value_batched(func, args, kwargs, argnums, has_aux)
            if r is None:
                r = _per_sample(wrapper, args, kwargs)
            if r is not None:
                return r[0]
        nums = _argnums_tuple(argnums, len(args), "grad_and_value")
        with enable_grad():
            args, flat, specs, nested = _prepare(args, nums, "grad_and_value")
            out = func(*args, **kwargs)
            aux = None
            if has_aux:
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise RuntimeError("grad_and_value(f)(*args): output of function f should be a tuple: "
                                       "(output, aux) if has_aux is True")
                out, aux = out
            _check_unbatched((out,))
            if not isinstance(out, Tensor):
                raise RuntimeError("grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got "
                                   f"{type(out)}")
            if out.dim() != 0:
                raise RuntimeError("grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got "
                                   f"tensor with {out.dim()} dims. Maybe you wanted to use the vjp or jacrev "
                                   "APIs instead?")
            gs = _grads((out,), flat, None, nested) if out.requires_grad else \
                _zeros_for(flat)
        grads = _regroup(gs, specs, argnums)
        value = out if nested else out.detach()
        if has_aux:
            return grads, (value, _detach_tree(aux, nested))
        return grads, value

    return wrapper


def _grad_and_value_batched(func, args, kwargs, argnums, has_aux):
    """grad_and_value under one vmap, for the whole batch in one pass: each differentiated argument becomes
    a leaf with a batch dim (an unbatched one expanded: one copy per sample), f runs batched, and the
    gradient of the sum of the per-sample outputs w.r.t. those leaves is, sample by sample, each sample's
    gradient (samples do not mix under vmap). A 1-tuple (grads, value), or None where this does not apply
    (no batched argument, nested vmaps or transforms: the caller loops per sample)."""
    from . import _batched
    if len(_batched._levels.active) != 1:
        return None
    lvl, n, _ = _batched._levels.active[0]
    leaves_all = tree_flatten((args, kwargs))[0]
    if not any(isinstance(x, _batched.BatchedTensor) for x in leaves_all):
        return None
    for x in leaves_all:
        if isinstance(x, Tensor) and x.requires_grad:
            return None  # a transform over this one: its graph must connect (the loop keeps it)
        if isinstance(x, _batched.BatchedTensor) and (x._level != lvl or isinstance(x._value, _batched.BatchedTensor)):
            return None
    nums = _argnums_tuple(argnums, len(args), "grad_and_value")
    args = list(args)
    flat, specs = [], []
    with enable_grad():
        for k in nums:
            leaves, spec = tree_flatten(args[k])
            tracked = []
            for x in leaves:
                if not isinstance(x, Tensor):
                    raise RuntimeError(f"grad_and_value: Expected all inputs to be Tensors, got {type(x).__name__}")
                if not x.is_floating_point():
                    raise RuntimeError("grad_and_value: only Tensors of floating point dtype can require gradients, "
                                       f"got {x.dtype}")
                if isinstance(x, _batched.BatchedTensor):
                    p = x._value.detach()
                else:
                    p = x.detach().unsqueeze(0).expand((n,) + tuple(x.shape))
                p.requires_grad_(True)
                flat.append(p)
                tracked.append(_batched.wrap(p, lvl))
            args[k] = tree_unflatten(tracked, spec)
            specs.append((spec, len(tracked)))
        out = func(*args, **kwargs)
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise RuntimeError("grad_and_value(f)(*args): output of function f should be a tuple: "
                                   "(output, aux) if has_aux is True")
            out, aux = out
        if not isinstance(out, Tensor):
            raise RuntimeError(f"grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got {type(out)}")
        if out.dim() != 0:
            raise RuntimeError("grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got "
                               f"tensor with {out.dim()} dims. Maybe you wanted to use the vjp or jacrev "
                               "APIs instead?")
        if isinstance(out, _batched.BatchedTensor):
            o = out._value
            if isinstance(o, _batched.BatchedTensor):
                return None
        else:
            o = out.unsqueeze(0).expand((n,))
        if o.requires_grad:
            from .._creation import ones_like
            gs = _grads((o,), flat, (ones_like(o),), False)
        else:
            gs = _zeros_for(flat)
    grads = _regroup([_batched.wrap(g, lvl) for g in gs], specs, argnums)
    value = _batched.wrap(o.detach(), lvl)
    if has_aux:
        return ((grads, (value, _detach_tree(aux, False))),)
    return ((grads, value),)


def grad(func, argnums=0, has_aux=False):
    """grad(f)(*args): the gradient of f's scalar output w.r.t. args[argnums] (trees of tensors)."""
    gv = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


def vjp(func, *primals, has_aux=False):
    """(func(*primals), vjp_fn): vjp_fn(cotangents) gives the vector-Jacobian product for every primal."""
    nums = tuple(range(len(primals)))
    if _per_sample(lambda *a: None, primals, {}) is not None:
        from ._batched import NeedsLoop  # vjp_fn is a function: not a result the loop could stack
        raise NeedsLoop("vjp of batched primals")
    with enable_grad():
        args, flat, specs, nested = _prepare(primals, nums, "vjp")
        out = func(*args)
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise RuntimeError("vjp(f, *primals): output of function f should be a tuple: (output, aux) "
                                   "if has_aux is True")
            out, aux = out
    out_leaves, out_spec = tree_flatten(out)
    for o in out_leaves:
        if not isinstance(o, Tensor):
            raise RuntimeError(f"vjp(f, *primals): Expected f to be a function that has only Tensors or "
                               f"Python scalars as outputs, got {type(o).__name__}")

    def vjp_fn(*cotangents):
        r = _per_sample(vjp_fn, cotangents, {})
        if r is not None:
            return r[0]
        ct = cotangents[0] if len(cotangents) == 1 else cotangents
        ct_leaves, _ = tree_flatten(ct)
        if len(ct_leaves) != len(out_leaves):
            raise RuntimeError("Expected pytree structure of cotangents to be the same as pytree structure "
                               "of outputs to the function")
        for c, o in zip(ct_leaves, out_leaves):
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {tuple(c.shape)} and "
                                   f"output[0] has a shape of {tuple(o.shape)}.")
        pairs = [(o, c) for o, c in zip(out_leaves, ct_leaves) if o.requires_grad]
        with enable_grad():
            if pairs:
                gs = _grads(tuple(o for o, _ in pairs), flat, tuple(c for _, c in pairs),
                            nested or any(c.requires_grad for _, c in pairs))
            else:
                gs = _zeros_for(flat)
        return tuple(_regroup(gs, specs, nums))

    value = _detach_tree(out, nested)
    if has_aux:
        return value, vjp_fn, _detach_tree(aux, nested)
    return value, vjp_fn


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """(func(*primals), J @ tangents) by forward-mode AD (see the module docstring)."""
    from ..autograd import forward_ad
    r = _per_sample(lambda p, t: jvp(func, p, t, strict=strict, has_aux=has_aux), (primals, tangents), {})
    if r is not None:
        return r[0]
    _check_jvp_args(primals, tangents)
    if forward_ad._current_level >= 0:
        return _jvp_double_vjp(func, primals, tangents, has_aux)
    from .._creation import zeros_like
    p_leaves, p_spec = tree_flatten(tuple(primals))
    t_leaves = tree_flatten(tuple(tangents))[0]
    for p in p_leaves:
        if not isinstance(p, Tensor):
            raise RuntimeError(f"jvp: Expected all inputs to be Tensors, got {type(p).__name__}")
    with forward_ad.dual_level():
        duals = [forward_ad.make_dual(p, t) for p, t in zip(p_leaves, t_leaves)]
        out = func(*tree_unflatten(duals, p_spec))
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise RuntimeError("jvp(f, primals, tangents): output of function f should be a tuple: (output, aux) "
                                   "if has_aux is True")
            out, aux = out
        out_leaves, out_spec = tree_flatten(out)
        values, tans = [], []
        for o in out_leaves:
            if not isinstance(o, Tensor):
                raise RuntimeError("jvp(f, primals, tangents): expected f(*primals) to return only tensors, got "
                                   f"unsupported type {type(o).__name__}")
            _check_unbatched((o,))
            p, t = forward_ad.unpack_dual(o)
            values.append(p)
            tans.append(zeros_like(p) if t is None else t)
        if has_aux:
            aux = tree_map(lambda a: forward_ad.unpack_dual(a).primal if isinstance(a, Tensor) else a, aux)
    nested = any(p.requires_grad for p in p_leaves) or any(t.requires_grad for t in t_leaves)
    value = _detach_tree(tree_unflatten(values, out_spec), nested)
    tangent_out = _detach_tree(tree_unflatten(tans, out_spec), nested)
    if has_aux:
        return value, tangent_out, _detach_tree(aux, nested)
    return value, tangent_out


def _check_jvp_args(primals, tangents):
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise RuntimeError("jvp(f, primals, tangents): Expected primals and tangents to be tuples")
    if len(primals) != len(tangents):
        raise RuntimeError("jvp(f, primals, tangents): Expected primals and tangents to have the same length")
    p_leaves = tree_flatten(tuple(primals))[0]
    t_leaves = tree_flatten(tuple(tangents))[0]
    if len(p_leaves) != len(t_leaves):
        raise RuntimeError("jvp(f, primals, tangents): Expected primals and tangents to have the same python "
                           "structure")
    for p, t in zip(p_leaves, t_leaves):
        if not isinstance(p, Tensor) or not isinstance(t, Tensor):
            raise RuntimeError("jvp(f, primals, tangents): Expected primals and tangents to be tuples of Tensors")
        if tuple(p.shape) != tuple(t.shape):
            raise RuntimeError(f"jvp(f, primals, tangents): Expected primals and tangents to have the same "
                               f"shape, got {tuple(p.shape)} and {tuple(t.shape)}")


def _jvp_double_vjp(func, primals, tangents, has_aux):
    """jvp by the double-vjp trick, for a jvp nested in an open dual level."""
    from .._creation import zeros_like
    nums = tuple(range(len(primals)))
    t_leaves = tree_flatten(tuple(tangents))[0]
    with enable_grad():
        args, flat, specs, nested = _prepare(tuple(primals), nums, "jvp")
        out = func(*args)
        aux = None
        if has_aux:
            out, aux = out
        out_leaves, out_spec = tree_flatten(out)
        create = nested or any(t.requires_grad for t in t_leaves)
        # u: a dummy cotangent for every output; g(u) = J^T u is linear in u, and d<g(u), v>/du = J v.
        us = [zeros_like(o).requires_grad_(True) for o in out_leaves]
        diff = [(o, u) for o, u in zip(out_leaves, us) if o.requires_grad]
        if diff:
            from ..autograd import grad as autograd_grad
            gs = autograd_grad(tuple(o for o, _ in diff), flat, tuple(u for _, u in diff), create_graph=True,
                               allow_unused=True)
            pairs = [(g, t) for g, t in zip(gs, t_leaves) if g is not None and g.requires_grad]
            if pairs:
                jv = autograd_grad(tuple(g for g, _ in pairs), us, tuple(t for _, t in pairs),
                                   create_graph=create, allow_unused=True)
            else:
                jv = [None] * len(us)
        else:
            jv = [None] * len(us)
        jv = [zeros_like(o) if j is None else j for j, o in zip(jv, out_leaves)]
    value = _detach_tree(out, nested)
    tangent_out = tree_unflatten(jv if create else [_detach(j) for j in jv], out_spec)
    if has_aux:
        return value, tangent_out, _detach_tree(aux, nested)
    return value, tangent_out


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None, _preallocate_and_copy=False):
    """jacrev(f)(*args): d f(*args) / d args[argnums], shaped output.shape + input.shape, row by row
    of reverse-mode passes."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from .._functions.join import stack
        r = _per_sample(wrapper, args, kwargs)
        if r is not None:
            return r[0]
        nums = _argnums_tuple(argnums, len(args), "jacrev")
        with enable_grad():
            args, flat, specs, nested = _prepare(args, nums, "jacrev")
            out = func(*args, **kwargs)
            aux = None
            if has_aux:
                out, aux = out
            out_leaves, out_spec = tree_flatten(out)
            per_out = []
            for o in out_leaves:
                if not isinstance(o, Tensor):
                    raise RuntimeError(f"jacrev(f, ...)(*args): expected f(*args) to return only tensors, got "
                                       f"unsupported type {type(o).__name__}")
                rows = [[] for _ in flat]
                of = o.reshape(-1)
                for i in range(of.numel()):
                    gs = _grads((of[i],), flat, None, nested) if o.requires_grad else \
                        _zeros_for(flat)
                    for j, g in enumerate(gs):
                        rows[j].append(g)
                jac = []
                for j, x in enumerate(flat):
                    shape = tuple(o.shape) + tuple(x.shape)
                    if rows[j]:
                        jac.append(stack(rows[j]).reshape(shape))
                    else:
                        from .._creation import zeros
                        jac.append(zeros(shape, dtype=x.dtype, device=x.device))
                if not nested:
                    jac = [_detach(t) for t in jac]
                per_out.append(_regroup(jac, specs, argnums))
        result = tree_unflatten(per_out, out_spec)
        if has_aux:
            return result, _detach_tree(aux, nested)
        return result

    return wrapper


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """jacfwd(f)(*args): d f(*args) / d args[argnums], shaped output.shape + input.shape, column by
    column of forward-mode passes (one jvp per input element, what functorch's vmap over basis
    tangents computes). Inside an open dual level: jacrev (see the module docstring)."""
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. "
                           f"Got {randomness}")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from ..autograd import forward_ad
        r = _per_sample(wrapper, args, kwargs)
        if r is not None:
            return r[0]
        if forward_ad._current_level >= 0:
            return jacrev(func, argnums, has_aux=has_aux)(*args, **kwargs)
        from .._functions.join import stack
        from .._creation import zeros_like
        nums = _argnums_tuple(argnums, len(args), "jacfwd")
        flat, specs = [], []
        for n in nums:
            leaves, spec = tree_flatten(args[n])
            for x in leaves:
                if not isinstance(x, Tensor):
                    raise RuntimeError(f"jacfwd: Expected all inputs to be Tensors, got {type(x).__name__}")
                if not x.is_floating_point():
                    raise RuntimeError(f"jacfwd: only Tensors of floating point dtype can be differentiated, got "
                                       f"{x.dtype}")
            flat.extend(leaves)
            specs.append((spec, len(leaves)))

        def call(tangents):
            a = list(args)
            i = 0
            for n, (spec, k) in zip(nums, specs):
                a[n] = tree_unflatten([forward_ad.make_dual(x, t) for x, t in zip(flat[i:i + k], tangents[i:i + k])],
                                      spec)
                i += k
            out = func(*a, **kwargs)
            aux = None
            if has_aux:
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise RuntimeError("jacfwd(f, ...)(*args): output of function f should be a tuple: (output, aux) "
                                       "if has_aux is True")
                out, aux = out
            leaves, spec = tree_flatten(out)
            for o in leaves:
                if not isinstance(o, Tensor):
                    raise RuntimeError(f"jacfwd(f, ...)(*args): expected f(*args) to return only tensors, got "
                                       f"unsupported type {type(o).__name__}")
            _check_unbatched(leaves)
            pairs = [forward_ad.unpack_dual(o) for o in leaves]
            return [p for p, _ in pairs], [zeros_like(p) if t is None else t for p, t in pairs], spec, aux

        start = _rng_state()
        columns = []  # per input leaf: list (one per element) of the output tangents
        values = spec = aux = None
        with forward_ad.dual_level():
            for j, x in enumerate(flat):
                cols = []
                for e in range(x.numel()):
                    basis = [_zeros_of(y) for y in flat]
                    basis[j].view(-1)[e] = 1
                    if randomness == "same":
                        _C.set_rng_state(*start)
                    before = _rng_state()
                    values, tans, spec, aux = call(basis)
                    if randomness == "error" and _rng_state() != before:
                        raise RuntimeError("vmap: called random operation while in randomness error mode. Please "
                                           "either use the 'same' or 'different' randomness flags on vmap or perform "
                                           "the randomness operation out of vmap")
                    cols.append(tans)
                columns.append(cols)
            if values is None:  # every input is empty: one call for the output's structure
                values, _, spec, aux = call([_zeros_of(y) for y in flat])
        nested = any(x.requires_grad for x in flat)
        per_out = []
        for k, v in enumerate(values):
            jac = []
            for j, x in enumerate(flat):
                shape = tuple(v.shape) + tuple(x.shape)
                if columns[j]:
                    jac.append(stack([c[k] for c in columns[j]], dim=-1).reshape(shape))
                else:
                    from .._creation import zeros
                    jac.append(zeros(shape, dtype=v.dtype, device=v.device))
            if not nested:
                jac = [_detach(t) for t in jac]
            per_out.append(_regroup(jac, specs, argnums))
        result = tree_unflatten(per_out, spec)
        if has_aux:
            return result, _detach_tree(aux, nested)
        return result

    return wrapper


def hessian(func, argnums=0):
    """hessian(f)(*args): the Jacobian of the gradient (jacfwd(jacrev(f)) in PyTorch)."""
    return jacfwd(jacrev(func, argnums), argnums)


# ---------------------------------------------------------------- vmap
def _rng_state():
    return tuple(_C.get_rng_state())


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """vmap(f)(*args): f applied to every slice of args along in_dims, results stacked along out_dims."""
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. "
                           f"Got {randomness}")
    if not (in_dims is None or isinstance(in_dims, (int, tuple, dict))):  # a list is refused, as PyTorch
        raise ValueError(f"vmap(f, in_dims={in_dims}, ...): expected `in_dims` to be int or a (potentially "
                         f"nested) tuple matching the structure of inputs, got: {type(in_dims)}.")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from .._functions.join import stack
        if not args:
            raise ValueError("vmap(f)(): got no inputs. Maybe you forgot to add inputs, or you are trying to "
                             "vmap over a function with no inputs. The latter is unsupported.")
        dims_prefix = in_dims
        if isinstance(dims_prefix, tuple) and len(dims_prefix) != len(args):
            raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the "
                             f"structure of `inputs`. in_dims has structure {type(in_dims).__name__} of length "
                             f"{len(dims_prefix)} but inputs has length {len(args)}")
        leaves, spec = tree_flatten(tuple(args))
        dims = broadcast_prefix(dims_prefix if isinstance(dims_prefix, tuple) else dims_prefix, tuple(args), "vmap")
        sizes = set()
        norm = []
        for x, d in zip(leaves, dims):
            if d is None:
                norm.append(None)
                continue
            if not isinstance(x, Tensor):
                raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for an input but "
                                 f"the input is of type {type(x)}. We cannot vmap over non-Tensor arguments, "
                                 "please use None as the respective in_dim")
            if not -x.dim() <= d < max(x.dim(), 1) or x.dim() == 0:
                raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for some input, "
                                 f"but that input is a Tensor of dimensionality {x.dim()} so expected in_dim to "
                                 f"satisfy -{x.dim()} <= in_dim < {x.dim()}.")
            d = d % x.dim()
            norm.append(d)
            sizes.add(x.shape[d])
        if not sizes:
            raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): at least one input must be mapped "
                             "over (got in_dims=None for every input)")
        if len(sizes) > 1:
            got = [x.shape[d] for x, d in zip(leaves, norm) if d is not None]
            raise ValueError("vmap: Expected all tensors to have the same size in the mapped dimension, got "
                             f"sizes {got} for the mapped dimension")
        n = sizes.pop()
        if n == 0:
            raise ValueError("vmap: the mapped dimension has size 0; flambeau's vmap needs at least one "
                             "element to know the output's structure")
        if chunk_size is not None and chunk_size < n:
            return _vmap_chunks(func, leaves, spec, norm, n, kwargs, out_dims, randomness, chunk_size)
        return _vmap_call(func, leaves, spec, norm, n, kwargs, out_dims, randomness)

    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")
    return wrapper


def _vmap_call(func, leaves, spec, norm, n, kwargs, out_dims, randomness):
    """One vmap call: batched (_batched.py), or once per sample for randomness='different' and where
    batched execution gave up (NeedsLoop)."""
    if randomness == "different":
        return _vmap_loop(func, leaves, spec, norm, n, kwargs, out_dims, randomness)
    from ._batched import NeedsLoop
    start = _rng_state()
    try:
        return _vmap_batched(func, leaves, spec, norm, n, kwargs, out_dims, randomness)
    except NeedsLoop:
        _C.set_rng_state(*start)
        return _vmap_loop(func, leaves, spec, norm, n, kwargs, out_dims, randomness)


def _vmap_chunks(func, leaves, spec, norm, n, kwargs, out_dims, randomness, chunk_size):
    """chunk_size: vmap over chunks of the batch one after the other, outputs concatenated."""
    from .._functions.join import cat
    parts = []
    for s in range(0, n, chunk_size):
        k = min(chunk_size, n - s)
        sub = [x if d is None else x.narrow(d, s, k) for x, d in zip(leaves, norm)]
        parts.append(_vmap_call(func, sub, spec, norm, k, kwargs, out_dims, randomness))
    first, out_spec = tree_flatten(parts[0])
    per = [tree_flatten(p)[0] for p in parts]
    odims = _out_dims_for(out_dims, parts[0], len(first))
    res = []
    for k, (o0, od) in enumerate(zip(first, odims)):
        if od is None:
            res.append(o0)
        else:
            res.append(cat([p[k] for p in per], dim=od % o0.dim()))
    return tree_unflatten(res, out_spec)


def _out_dims_for(out_dims, out, count):
    if isinstance(out_dims, (tuple, list, dict)):
        return broadcast_prefix(out_dims, out, "vmap")
    return [out_dims] * count


def _non_tensor_output(o0):
    return ValueError(f"vmap(f, ...): `f` must only return Tensors, got type {type(o0)}. Did you mean "
                      "to set out_dims= to None for output?")


def _vmap_batched(func, leaves, spec, norm, n, kwargs, out_dims, randomness):
    from . import _batched
    start = _rng_state()
    lvl = _batched.push_level(n, randomness)
    try:
        args = [x if d is None else _batched.wrap(x if d == 0 else x.movedim(d, 0), lvl) for x, d in zip(leaves, norm)]
        out = func(*tree_unflatten(args, spec), **kwargs)
    finally:
        _batched.pop_level(lvl)
    if randomness == "error" and _rng_state() != start:
        raise RuntimeError(_batched.RANDOM_ERROR)
    out_leaves, out_spec = tree_flatten(out)
    odims = _out_dims_for(out_dims, out, len(out_leaves))
    res = []
    for o, od in zip(out_leaves, odims):
        batched = isinstance(o, _batched.BatchedTensor) and o._level == lvl
        if od is None:
            if batched:
                raise ValueError("vmap: out_dims=None for an output that depends on the mapped inputs: it has a "
                                 "value per sample (Cannot return a BatchedTensor when out_dim is None)")
            res.append(o)
            continue
        if not isinstance(o, Tensor):
            raise _non_tensor_output(o)
        if batched:
            v = o._value
        else:  # the same for every sample: broadcast over the batch, as functorch does
            v = o.unsqueeze(0).expand((n,) + tuple(o.shape))
        nd = v.dim()
        if not -nd <= od < nd:
            raise ValueError(f"vmap: out_dim={od} is out of range for an output of {nd - 1} dims")
        od = od % nd
        res.append(v if od == 0 else v.movedim(0, od))
    return tree_unflatten(res, out_spec)


def _vmap_loop(func, leaves, spec, norm, n, kwargs, out_dims, randomness):
    """vmap by calling func once per index and stacking the results."""
    from .._functions.join import stack
    start = _rng_state()
    results = []
    for i in range(n):
        if randomness == "same":
            _C.set_rng_state(*start)
        before = _rng_state()
        sliced = [x if d is None else x.select(d, i) for x, d in zip(leaves, norm)]
        out = func(*tree_unflatten(sliced, spec), **kwargs)
        if randomness == "error" and _rng_state() != before:
            raise RuntimeError("vmap: called random operation while in randomness error mode. Please either "
                               "use the 'same' or 'different' randomness flags on vmap or perform the "
                               "randomness operation out of vmap")
        results.append(out)
    out_leaves0, out_spec = tree_flatten(results[0])
    per_sample = [tree_flatten(r)[0] for r in results]
    odims = broadcast_prefix(out_dims, results[0], "vmap") if isinstance(out_dims, (tuple, list, dict)) \
        else [out_dims] * len(out_leaves0)
    stacked = []
    for k, (o0, od) in enumerate(zip(out_leaves0, odims)):
        vals = [ps[k] for ps in per_sample]
        if od is None:
            stacked.append(vals[0])
            continue
        if not isinstance(o0, Tensor):
            raise _non_tensor_output(o0)
        nd = vals[0].dim() + 1
        if not -nd <= od < nd:
            raise ValueError(f"vmap: out_dim={od} is out of range for an output of {nd - 1} dims")
        stacked.append(stack(vals, dim=od % nd))
    return tree_unflatten(stacked, out_spec)
