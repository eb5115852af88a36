"""torch.fx._pytree: flattening a pytree against a TreeSpec known in advance (what an fx GraphModule made
by torch.export does with its inputs), as PyTorch's. transformers imports it on some paths
(register_pytree_flatten_spec for its ModelOutput), so the names and behaviour are PyTorch's: a type with a
registered flatten-spec function is split by it, every other tree must flatten (utils._pytree) to exactly
the spec given."""
from collections import namedtuple
from typing import Any, Callable, NamedTuple, Optional

from ..utils._pytree import PyTree, TreeSpec, tree_flatten

FlattenFnSpec = Callable[[PyTree, TreeSpec], "list[Any]"]
FlattenFnExactMatchSpec = Callable[[PyTree, TreeSpec], bool]
FlattenFuncSpec = FlattenFnSpec  # PyTorch's deprecated aliases
FlattenFuncExactMatchSpec = FlattenFnExactMatchSpec

SUPPORTED_NODES = {}
SUPPORTED_NODES_EXACT_MATCH = {}


def register_pytree_flatten_spec(cls, flatten_fn_spec, flatten_fn_exact_match_spec=None):
    SUPPORTED_NODES[cls] = flatten_fn_spec
    SUPPORTED_NODES_EXACT_MATCH[cls] = flatten_fn_exact_match_spec


def _deregister_pytree_flatten_spec(cls):
    del SUPPORTED_NODES[cls]
    del SUPPORTED_NODES_EXACT_MATCH[cls]


def tree_flatten_spec(pytree, spec):
    """The leaves of pytree in the order spec lays them out."""
    if spec.is_leaf():
        return [pytree]
    if spec.type in SUPPORTED_NODES:
        children = SUPPORTED_NODES[spec.type](pytree, spec)
        result = []
        for child, child_spec in zip(children, spec.children()):
            result += tree_flatten_spec(child, child_spec)
        return result
    flat, real_spec = tree_flatten(pytree)
    if spec != real_spec:
        raise RuntimeError(f"Real spec {real_spec} of object {pytree} is different from expected spec {spec}. "
                           "Please file an issue at https://github.com/pytorch/pytorch/issues/new?template=bug-report.yml")
    return flat


def _dict_flatten_spec(d, spec):
    return [d[k] for k in spec.context]


def _list_flatten_spec(d, spec):
    return [d[i] for i in range(spec.num_children)]


def _tuple_flatten_spec(d, spec):
    return [d[i] for i in range(spec.num_children)]


def _namedtuple_flatten_spec(d, spec):
    return [d[i] for i in range(spec.num_children)]


def _dict_flatten_spec_exact_match(d, spec):
    return len(d) == spec.num_children


def _list_flatten_spec_exact_match(d, spec):
    return len(d) == spec.num_children


def _tuple_flatten_spec_exact_match(d, spec):
    return len(d) == spec.num_children


def _namedtuple_flatten_spec_exact_match(d, spec):
    return len(d) == spec.num_children


# (flambeau's return types, values/indices pairs, are namedtuples: the namedtuple entry covers them)
register_pytree_flatten_spec(dict, _dict_flatten_spec, _dict_flatten_spec_exact_match)
register_pytree_flatten_spec(list, _list_flatten_spec, _list_flatten_spec_exact_match)
register_pytree_flatten_spec(tuple, _tuple_flatten_spec, _tuple_flatten_spec_exact_match)
register_pytree_flatten_spec(namedtuple, _namedtuple_flatten_spec, _namedtuple_flatten_spec_exact_match)
