"""flambeau.backends.cpu: the SIMD level the CPU kernels run at ('avx512', 'avx2' or 'default')."""
from ... import _C


def get_cpu_capability():
    return _C.cpu_capability()


def capability():
    return _C.cpu_capability()


def set_capability(name):
    """Caps the kernels at `name` (never above what the CPU supports); returns the level in effect."""
    _C.set_cpu_capability(name)
    return _C.cpu_capability()
