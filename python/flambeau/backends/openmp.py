"""flambeau.backends.openmp: whether the CPU kernels were built with OpenMP threads."""
from .. import _C


def is_available():
    return bool(_C.has_openmp)
