"""torch.serialization's allow-list extension: add_safe_globals, safe_globals, get/clear_safe_globals,
get_unsafe_globals_in_checkpoint.

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


def get_unsafe_globals_in_checkpoint(f):
    """The globals a PyTorch zip checkpoint names that flambeau.load does not allow by default
    ("module.name" strings), read from its pickle's opcodes without unpickling anything."""
    import pickletools

    from .reader import _Archive
    from .unpickler import RestrictedUnpickler

    if isinstance(f, (str, bytes)) or hasattr(f, "__fspath__"):
        with open(f, "rb") as fh:
            return get_unsafe_globals_in_checkpoint(fh)
    archive = _Archive(f, getattr(f, "name", "<file object>"))
    try:
        data = bytes(archive.read("data.pkl"))
    finally:
        archive.zf.close()
    import io
    probe = RestrictedUnpickler(io.BytesIO(), None)
    probe._user = {}  # by default: what the user allowed does not count
    names, strings = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            module, name = arg.split(" ", 1)
        elif op.name == "STACK_GLOBAL" and len(strings) == 2:  # protocol 4: two strings pushed
            module, name = strings
        else:
            if op.name != "MEMOIZE":
                strings = (strings + [arg])[-2:] if isinstance(arg, str) and "UNICODE" in op.name \
                    else []
            continue
        try:
            probe.find_class(module, name)
        except Exception:
            names.add(f"{module}.{name}")
    return sorted(names)
