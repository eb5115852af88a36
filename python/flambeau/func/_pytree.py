"""The containers torch.func's transforms look through: tuples, lists, dicts (and namedtuples), with
every other object a leaf. Enough for func.grad over a dict of parameters and vmap over tuples of
tensors, the shapes PyTorch scripts pass."""


def tree_flatten(tree):
    """(leaves, spec): the leaves in order and what rebuilds the tree from them."""
    leaves = []

    def walk(node):
        if isinstance(node, dict):
            keys = list(node.keys())
            return ("dict", keys, [walk(node[k]) for k in keys])
        if isinstance(node, tuple) and hasattr(node, "_fields"):  # namedtuple
            return ("namedtuple", type(node), [walk(v) for v in node])
        if isinstance(node, (tuple, list)):
            return (type(node).__name__, None, [walk(v) for v in node])
        leaves.append(node)
        return ("leaf", None, None)

    spec = walk(tree)
    return leaves, spec


def tree_unflatten(leaves, spec):
    it = iter(leaves)

    def build(sp):
        kind, extra, children = sp
        if kind == "leaf":
            return next(it)
        values = [build(c) for c in children]
        if kind == "dict":
            return dict(zip(extra, values))
        if kind == "namedtuple":
            return extra(*values)
        return tuple(values) if kind == "tuple" else list(values)

    return build(spec)


def tree_map(fn, tree):
    leaves, spec = tree_flatten(tree)
    return tree_unflatten([fn(x) for x in leaves], spec)


def broadcast_prefix(prefix, tree, what):
    """The leaves of `prefix` (an int/None, or a tree shaped like the top of `tree`) repeated down to
    every leaf of `tree` (vmap's in_dims against its args)."""
    if not isinstance(prefix, (tuple, list, dict)):
        leaves, _ = tree_flatten(tree)
        return [prefix] * len(leaves)
    if isinstance(prefix, dict):
        if not isinstance(tree, dict) or set(prefix) != set(tree):
            raise ValueError(f"{what}: in_dims is not compatible with the structure of the inputs")
        return [x for k in tree for x in broadcast_prefix(prefix[k], tree[k], what)]
    if not isinstance(tree, (tuple, list)) or len(prefix) != len(tree):
        raise ValueError(f"{what}: in_dims is not compatible with the structure of `inputs`. in_dims has "
                         f"structure {type(prefix).__name__} of length {len(prefix)} but inputs has "
                         f"{type(tree).__name__}")
    return [x for p, t in zip(prefix, tree) for x in broadcast_prefix(p, t, what)]
