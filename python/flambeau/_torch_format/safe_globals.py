"""torch.serialization's allow-list extension: add_safe_globals, safe_globals, get/clear_safe_globals.

A checkpoint may hold objects of types neither PyTorch's nor flambeau's allow-list knows (numpy
scalars and arrays, a training script's dataclass). As in PyTorch, the user may name the classes and
functions they trust; the restricted unpickler then lets a file call them, BUILD their instances
(__setstate__, else their __dict__) and create them with NEWOBJ. Globals from sys, os, posix and nt
are never allowed, whoever asks.
"""

_BLOCKED_MODULES = ("sys", "os", "posix", "nt")
_user_globals = set()


def _full_name(entry):
    if isinstance(entry, tuple):
        if len(entry) != 2:
            raise ValueError(f"Expected tuple of length 2 (global, str of callable full path), but "
                             f"got tuple of length: {len(entry)}")
        if type(entry[1]) is not str:
            raise TypeError(f"Expected second item in tuple to be str of callable full path, but "
                            f"got: {type(entry[1])}")
        return entry[1], entry[0]
    return f"{entry.__module__}.{entry.__qualname__}", entry


def add_safe_globals(safe_globals):
    """Mark globals (classes, functions; or (global, "module.name") pairs for globals pickled under
    another name) as safe for flambeau.load to call when a file names them."""
    global _user_globals
    for entry in safe_globals:
        _full_name(entry)  # checks the form now rather than at load time
    _user_globals = _user_globals | set(safe_globals)


def get_safe_globals():
    """The globals marked safe by add_safe_globals."""
    return list(_user_globals)


def clear_safe_globals():
    """Forget every global marked safe by add_safe_globals."""
    global _user_globals
    _user_globals = set()


class safe_globals:
    """with flambeau.serialization.safe_globals([...]): the globals are safe inside the block only."""

    def __init__(self, safe_globals):
        self.safe_globals = safe_globals

    def __enter__(self):
        add_safe_globals(self.safe_globals)

    def __exit__(self, exc_type, exc, tb):
        global _user_globals
        _user_globals = _user_globals - set(self.safe_globals)


def user_allowed():
    """{"module.name": object} of the globals marked safe (blocked modules left out)."""
    allowed = {}
    for entry in _user_globals:
        name, obj = _full_name(entry)
        if name.split(".", 1)[0] not in _BLOCKED_MODULES:
            allowed[name] = obj
    return allowed
