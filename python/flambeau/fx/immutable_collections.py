"""The lists and dicts inside node.args/kwargs: immutable, so a graph's edges (users) cannot go stale
by editing an argument in place (torch.fx.immutable_collections)."""


def _no_mutation(self, *args, **kwargs):
    raise TypeError(f"'{type(self).__name__}' object does not support mutation. If you are attempting to "
                    f"modify the kwargs or args of a torch.fx.Node object,\ninstead create a new copy of it "
                    f"and assign the copy to the node:\n    new_args = ... # copy and mutate args\n"
                    f"    node.args = new_args\n")


class immutable_list(list):
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _no_mutation
    append = extend = insert = pop = remove = clear = sort = reverse = _no_mutation

    def __hash__(self):
        return hash(tuple(self))

    def __reduce__(self):
        return (immutable_list, (tuple(iter(self)),))


class immutable_dict(dict):
    __setitem__ = __delitem__ = __ior__ = _no_mutation
    clear = pop = popitem = setdefault = update = _no_mutation

    def __hash__(self):
        return hash(tuple(self.items()))

    def __reduce__(self):
        return (immutable_dict, (tuple(self.items()),))
