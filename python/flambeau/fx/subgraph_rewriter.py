"""fx.replace_pattern(gm, pattern, replacement): every non-overlapping occurrence of the pattern's
graph in gm.graph is replaced by the replacement's graph (torch.fx.subgraph_rewriter semantics for
patterns returning one value). A pattern placeholder matches any node; literals must be equal; nodes
inside a match other than its result may not be used outside it."""
from typing import NamedTuple

from .graph import Graph
from .node import Node


class Match(NamedTuple):
    anchor: Node   # the pattern's returned node (nodes_map[anchor] is where it matched in gm.graph)
    nodes_map: dict  # pattern node -> graph node


def _graph_of(f):
    if isinstance(f, Graph):
        return f
    from ._symbolic_trace import symbolic_trace
    return symbolic_trace(f).graph


def _returned_node(graph, what):
    out = next(n for n in graph.nodes if n.op == "output")
    ret = out.args[0]
    if not isinstance(ret, Node):
        raise NotImplementedError(f"fx.replace_pattern: a {what} returning several values (or a constant) is not "
                                  "supported by flambeau.fx; return one value")
    return ret


class _Matcher:
    def __init__(self, pattern_graph):
        self.anchor = _returned_node(pattern_graph, "pattern")
        self.pattern_nodes = [n for n in pattern_graph.nodes if n.op != "output"]

    def match_at(self, gn):
        nodes_map = {}
        if not self._match_nodes(self.anchor, gn, nodes_map):
            return None
        inner = set(nodes_map[pn] for pn in self.pattern_nodes if pn.op != "placeholder" and pn in nodes_map)
        if len(inner) != sum(1 for pn in nodes_map if pn.op != "placeholder"):
            return None  # two pattern nodes on one graph node
        for pn, g in nodes_map.items():
            if pn.op == "placeholder" or pn is self.anchor:
                continue
            if any(u not in inner for u in g.users):
                return None  # an intermediate value escapes the match: replacing it would change the program
        if any(pn not in nodes_map for pn in self.pattern_nodes if pn.op == "placeholder" and pn.users):
            return None
        return nodes_map

    def _match_nodes(self, pn, gn, nodes_map):
        if pn in nodes_map:
            return nodes_map[pn] is gn
        if pn.op == "placeholder":
            nodes_map[pn] = gn
            return True
        if pn.op != gn.op or pn.target != gn.target:
            return False
        if len(pn.args) != len(gn.args) or set(pn.kwargs) != set(gn.kwargs):
            return False
        nodes_map[pn] = gn
        ok = all(self._match_args(a, b, nodes_map) for a, b in zip(pn.args, gn.args)) and \
            all(self._match_args(pn.kwargs[k], gn.kwargs[k], nodes_map) for k in pn.kwargs)
        if not ok:
            del nodes_map[pn]
        return ok

    def _match_args(self, pa, ga, nodes_map):
        if isinstance(pa, Node) and isinstance(ga, Node):
            snapshot = dict(nodes_map)
            if self._match_nodes(pa, ga, nodes_map):
                return True
            nodes_map.clear()
            nodes_map.update(snapshot)
            return False
        if isinstance(pa, (list, tuple)) and isinstance(ga, (list, tuple)):
            return len(pa) == len(ga) and all(self._match_args(a, b, nodes_map) for a, b in zip(pa, ga))
        if isinstance(pa, Node) or isinstance(ga, Node):
            return False
        return type(pa) is type(ga) and pa == ga


def replace_pattern(gm, pattern, replacement):
    """Replaces pattern by replacement in gm (in place, then recompiles); returns the Matches."""
    pattern_graph = _graph_of(pattern)
    replacement_graph = _graph_of(replacement)
    for n in list(pattern_graph.nodes) + list(replacement_graph.nodes):
        if n.op in ("call_module", "get_attr"):
            raise NotImplementedError(f"fx.replace_pattern: {n.op} nodes in the pattern or the replacement are not "
                                      "supported by flambeau.fx (use functions and methods)")
    matcher = _Matcher(pattern_graph)
    pattern_placeholders = [n for n in pattern_graph.nodes if n.op == "placeholder"]
    repl_placeholders = [n for n in replacement_graph.nodes if n.op == "placeholder"]
    if len(pattern_placeholders) != len(repl_placeholders):
        raise ValueError("fx.replace_pattern: the pattern and the replacement must take the same number of inputs")
    graph = gm.graph
    matches, consumed = [], set()
    for gn in list(graph.nodes):
        if gn in consumed or gn.op in ("placeholder", "output"):
            continue
        nodes_map = matcher.match_at(gn)
        if nodes_map is None:
            continue
        inner = {g for p, g in nodes_map.items() if p.op != "placeholder"}
        if inner & consumed:
            continue
        consumed |= inner
        matches.append(Match(anchor=matcher.anchor, nodes_map=nodes_map))

    replaced = {}  # a matched result already rewritten -> its replacement (a later match may read it)

    def current(n):
        while n in replaced:
            n = replaced[n]
        return n

    for match in matches:
        val_map = {rp: current(match.nodes_map[pp]) for pp, rp in zip(pattern_placeholders, repl_placeholders)}
        result = match.nodes_map[match.anchor]
        order = {n: i for i, n in enumerate(graph.nodes)}
        users = sorted(result.users, key=order.__getitem__)
        # (inserted before the result's first user, as PyTorch's rewriter does)
        with graph.inserting_before(users[0] if users else result.next):
            for rn in replacement_graph.nodes:
                if rn.op in ("placeholder", "output"):
                    continue
                val_map[rn] = graph.node_copy(rn, lambda n: val_map[n])
        new_result = val_map[_returned_node(replacement_graph, "replacement")]
        result.replace_all_uses_with(new_result)
        replaced[result] = new_result
        for pn in reversed(matcher.pattern_nodes):
            if pn.op != "placeholder":
                g = match.nodes_map[pn]
                if not g.users:
                    graph.erase_node(g)
    gm.recompile()
    return matches
