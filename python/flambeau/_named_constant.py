"""The base of flambeau's named singletons (torch.layout, torch.memory_format, torch.qscheme): printed as
`flambeau.<name>`, compared by identity, and pickled as a call of the subclass's module-level `_by_name`
lookup, so that loading gives back the singleton."""


class NamedConstant:
    __slots__ = ("_name",)
    _by_name = None  # each subclass: a module-level function name -> singleton (a staticmethod)

    def __init__(self, name):
        self._name = name

    def __repr__(self):
        return "flambeau." + self._name

    __str__ = __repr__

    def __reduce__(self):
        return (type(self)._by_name, (self._name,))
