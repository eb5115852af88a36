"""flambeau.utils._pytree (torch.utils._pytree) against PyTorch's: the same leaves, the same TreeSpec repr,
equality and node counts, the same behaviour for registered classes, namedtuples and dict subclasses, the
same errors for mismatched trees, and the same key paths."""
import copy
import pickle
from collections import OrderedDict, defaultdict, deque, namedtuple

import pytest
import torch
import torch.utils._pytree as tpt

import flambeau
import flambeau.utils._pytree as fpt

Point = namedtuple("Point", ["x", "y"])


class Sub(dict):
    pass


TREES = [
    1,
    None,
    [],
    (),
    {},
    [1, (2, 3), {"b": 4, "a": [5, None]}],
    (1, [2, [3, [4]]]),
    OrderedDict([("z", 1), ("y", (2, 3))]),
    defaultdict(list, {"k": [1, 2], "j": 3}),
    deque([1, (2, 3)], maxlen=5),
    Point(1, [2, 3]),
    {"p": Point((1, 2), None), "s": Sub(a=1)},
    [{"a": ()}, [[]], "text", 2.5],
]


@pytest.mark.parametrize("tree", TREES, ids=range(len(TREES)))
def test_flatten_unflatten_like_pytorch(tree):
    leaves, spec = fpt.tree_flatten(tree)
    tleaves, tspec = tpt.tree_flatten(tree)
    assert leaves == tleaves
    assert repr(spec) == repr(tspec)
    assert (spec.num_leaves, spec.num_nodes, spec.num_children, spec.is_leaf()) == \
        (tspec.num_leaves, tspec.num_nodes, tspec.num_children, tspec.is_leaf())
    rebuilt = fpt.tree_unflatten(leaves, spec)
    assert rebuilt == tpt.tree_unflatten(tleaves, tspec)
    assert type(rebuilt) is type(tree)
    assert fpt.tree_leaves(tree) == tpt.tree_leaves(tree)
    assert fpt.tree_structure(tree) == spec
    assert hash(fpt.tree_structure(tree)) == hash(spec)
    assert [(fpt.keystr(k), v) for k, v in fpt.tree_leaves_with_path(tree)] == \
        [(tpt.keystr(k), v) for k, v in tpt.tree_leaves_with_path(tree)]


def test_defaultdict_and_deque_rebuilt_with_their_context():
    d = fpt.tree_map(lambda x: x * 10, defaultdict(list, {"k": 1}))
    assert d.default_factory is list and d == {"k": 10}
    q = fpt.tree_map(lambda x: x + 1, deque([1, 2], maxlen=3))
    assert isinstance(q, deque) and q.maxlen == 3 and list(q) == [2, 3]


def test_spec_of_leaf_and_builders():
    assert repr(fpt.treespec_leaf()) == repr(tpt.treespec_leaf()) == "*"
    assert isinstance(fpt.tree_structure(flambeau.ones(2)), fpt.LeafSpec)
    spec = fpt.treespec_tuple([fpt.treespec_leaf(), fpt.treespec_dict(a=fpt.treespec_leaf())])
    tspec = tpt.treespec_tuple([tpt.treespec_leaf(), tpt.treespec_dict(a=tpt.treespec_leaf())])
    assert repr(spec) == repr(tspec)
    assert spec == fpt.tree_structure((0, {"a": 0}))
    assert spec != fpt.tree_structure((0, {"b": 0}))
    assert copy.deepcopy(spec) == spec and pickle.loads(pickle.dumps(spec)) == spec


def test_tensors_are_leaves_and_tree_map_keeps_structure():
    a, b = flambeau.ones(2), flambeau.zeros(3)
    tree = {"x": (a, 1), "y": [b]}
    out = fpt.tree_map_only(flambeau.Tensor, lambda t: t + 1, tree)
    assert out["x"][1] == 1 and out["y"][0].tolist() == [1.0, 1.0, 1.0] and out["x"][0].tolist() == [2.0, 2.0]
    assert fpt.tree_all(lambda v: v is not None, tree)
    assert fpt.tree_any_only(flambeau.Tensor, lambda t: t.numel() == 3, tree)
    assert not fpt.tree_all_only(int, lambda v: v > 1, tree)
    seen = []
    assert fpt.tree_map_(seen.append, tree) is tree
    assert len(seen) == 3


def test_tree_map_with_prefix_rests_like_pytorch():
    tree, rest = [5, 6], [[7, 9], [1, 2]]
    assert fpt.tree_map(lambda x, y: [x] + y, tree, rest) == tpt.tree_map(lambda x, y: [x] + y, tree, rest)
    # dict kinds stand in for each other, matched by key, in the first tree's order
    assert fpt.tree_map(lambda x, y: (x, y), {"a": 1, "b": 2}, OrderedDict(b=3, a=4)) == \
        tpt.tree_map(lambda x, y: (x, y), {"a": 1, "b": 2}, OrderedDict(b=3, a=4))
    assert fpt.tree_map_with_path(lambda k, x, y: fpt.keystr(k) + str(x + y), {"a": [1]}, {"a": [2]}) == \
        {"a": ["['a'][0]3"]}


@pytest.mark.parametrize("tree,rest", [
    ([1, 2], (1, 2)),
    ([1, 2], [1, 2, 3]),
    ({"a": 1}, {"b": 1}),
    ({"a": 1, "b": 2}, {"a": 1, "c": 2}),
    (Point(1, 2), namedtuple("Other", ["x", "y"])(1, 2)),
])
def test_mismatched_trees_raise_like_pytorch(tree, rest):
    with pytest.raises(ValueError) as theirs:
        tpt.tree_map(lambda *a: a, tree, rest)
    with pytest.raises(ValueError) as ours:
        fpt.tree_map(lambda *a: a, tree, rest)
    assert str(ours.value).split(";")[0] == str(theirs.value).split(";")[0]


def test_unflatten_wrong_count_and_swapped_arguments():
    spec = fpt.tree_structure([1, 2])
    with pytest.raises(ValueError, match="`leaves` has length 3 but the spec refers to a pytree that holds 2"):
        fpt.tree_unflatten([1, 2, 3], spec)
    assert fpt.tree_unflatten(spec, [7, 8]) == [7, 8]  # PyTorch accepts the arguments swapped
    with pytest.raises(TypeError, match="Expected `treespec` to be an instance of PyTreeSpec"):
        fpt.tree_unflatten([1], [1])


class Box:
    def __init__(self, items, tag):
        self.items, self.tag = items, tag

    def __eq__(self, other):
        return type(other) is Box and self.items == other.items and self.tag == other.tag


class ModelOutputLike(OrderedDict):
    """transformers' ModelOutput is an OrderedDict subclass registered as a node this way."""


def _register(mod, cls):
    mod.register_pytree_node(cls, lambda b: (list(b.items), b.tag), lambda v, tag: Box(list(v), tag),
                             flatten_with_keys_fn=lambda b: ([(mod.SequenceKey(i), x) for i, x in
                                                              enumerate(b.items)], b.tag))


def test_register_pytree_node_like_pytorch():
    _register(fpt, Box)
    _register(tpt, Box)
    try:
        tree = {"box": Box([1, (2, 3)], "t")}
        assert fpt.tree_leaves(tree) == tpt.tree_leaves(tree) == [1, 2, 3]
        assert repr(fpt.tree_structure(tree)) == repr(tpt.tree_structure(tree))
        assert fpt.tree_map(lambda x: x * 2, tree) == {"box": Box([2, (4, 6)], "t")}
        assert [fpt.keystr(k) for k, _ in fpt.tree_leaves_with_path(tree)] == \
            [tpt.keystr(k) for k, _ in tpt.tree_leaves_with_path(tree)]
        with pytest.raises(ValueError, match="already registered as pytree node"):
            _register(fpt, Box)
        with pytest.raises(ValueError, match="Node context mismatch for custom node type"):
            fpt.tree_map(lambda x, y: x, Box([1], "t"), Box([1], "u"))
    finally:
        fpt._deregister_pytree_node(Box)
        tpt._deregister_pytree_node(Box)
    assert fpt.tree_leaves(Box([1], "t")) == [Box([1], "t")]  # a leaf again


def test_dict_subclass_is_a_leaf_until_registered():
    out = ModelOutputLike(a=1, b=[2])
    assert fpt.tree_leaves(out) == tpt.tree_leaves(out) == [out]
    for mod in (fpt, tpt):
        mod.register_pytree_node(ModelOutputLike, lambda o: (list(o.values()), list(o.keys())),
                                 lambda v, k: ModelOutputLike(zip(k, v)))
    try:
        assert fpt.tree_leaves(out) == tpt.tree_leaves(out) == [1, 2]
        doubled = fpt.tree_map(lambda x: x * 2, out)
        assert type(doubled) is ModelOutputLike and doubled == {"a": 2, "b": [4]}
        with pytest.raises(ValueError, match="Did not find a flatten_with_keys_fn"):
            fpt.tree_leaves_with_path(out)
    finally:
        fpt._deregister_pytree_node(ModelOutputLike)
        tpt._deregister_pytree_node(ModelOutputLike)


def test_is_leaf_predicate_and_broadcast():
    tree = [(1, 2), (3, 4)]
    assert fpt.tree_leaves(tree, is_leaf=lambda x: isinstance(x, tuple)) == \
        tpt.tree_leaves(tree, is_leaf=lambda x: isinstance(x, tuple))
    spec, tspec = fpt.tree_structure(tree), tpt.tree_structure(tree)
    assert fpt._broadcast_to_and_flatten([0, 1], spec) == tpt._broadcast_to_and_flatten([0, 1], tspec)
    assert fpt._broadcast_to_and_flatten([0, 1, 2], spec) is tpt._broadcast_to_and_flatten([0, 1, 2], tspec) is None
    assert fpt.is_namedtuple(Point) and fpt.is_namedtuple_instance(Point(1, 2)) and not fpt.is_namedtuple((1, 2))


def test_key_entries_like_pytorch():
    tree = {"a": [Point(1, 2)]}
    ours = [k for k, _ in fpt.tree_leaves_with_path(tree)]
    theirs = [k for k, _ in tpt.tree_leaves_with_path(tree)]
    assert [fpt.keystr(k) for k in ours] == [tpt.keystr(k) for k in theirs] == ["['a'][0].x", "['a'][0].y"]
    assert [fpt.key_get(tree, k) for k in ours] == [1, 2]


def test_reached_as_torch_utils_pytree_under_the_alias():
    import subprocess
    import sys
    code = ("import flambeau; flambeau.install_torch_alias(); import torch.utils._pytree as p; "
            "import torch.utils; assert p is flambeau.utils._pytree is torch.utils._pytree; "
            "print(p.tree_leaves({'a': (torch.ones(1), 2)})[1])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(__import__("os").environ, PYTHONPATH=":".join(p for p in sys.path if p)))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "2"


def test_reachable_as_attribute_after_import_flambeau():
    """`import torch; torch.utils._pytree` works in PyTorch without importing the submodule (fresh process:
    this one imported it already)."""
    from helpers import run_python
    r = run_python("import flambeau as torch\n"
                   "print(torch.utils._pytree.tree_leaves([1, (2, 3)]), hasattr(torch.utils, 'hooks'))\n"
                   "print(hasattr(torch.utils, 'no_such_thing'))\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["[1,", "2,", "3]", "True", "False"]


def test_fx_pytree_flatten_spec_matches_pytorch():
    import torch.fx._pytree as tfp
    import flambeau.fx._pytree as ffp
    import flambeau.fx
    assert flambeau.fx._pytree is ffp
    for tree, other in [({"a": 1, "b": [2, 3]}, {"b": [5, 6], "a": 4}), ((1, [2]), (7, [8])),
                        (Point(1, 2), Point(3, 4)), ([1, {"k": (2, 3)}], [9, {"k": (8, 7)}])]:
        ours = ffp.tree_flatten_spec(other, fpt.tree_structure(tree))
        assert ours == tfp.tree_flatten_spec(other, tpt.tree_structure(tree))
    # a dict with more keys than the spec: the spec's keys only, as PyTorch
    spec_f, spec_t = fpt.tree_structure({"a": 1}), tpt.tree_structure({"a": 1})
    assert ffp.tree_flatten_spec({"a": 5, "z": 6}, spec_f) == tfp.tree_flatten_spec({"a": 5, "z": 6}, spec_t) == [5]
    assert ffp._dict_flatten_spec_exact_match({"a": 5, "z": 6}, spec_f) is False

    class Box:
        def __init__(self, v):
            self.v = v
    fpt.register_pytree_node(Box, lambda b: ([b.v], None), lambda vs, c: Box(vs[0]))
    try:
        ffp.register_pytree_flatten_spec(Box, lambda b, spec: [b.v])
        assert ffp.tree_flatten_spec(Box([1, 2]), fpt.tree_structure(Box([0, 0]))) == [1, 2]
        ffp._deregister_pytree_flatten_spec(Box)
        assert Box not in ffp.SUPPORTED_NODES
    finally:
        fpt._deregister_pytree_node(Box)
    with pytest.raises(RuntimeError, match="is different from expected spec"):
        ffp.tree_flatten_spec([1, 2, 3], fpt.tree_structure(deque([1, 2])))
