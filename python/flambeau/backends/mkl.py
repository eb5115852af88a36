"""flambeau.backends.mkl: flambeau does not use Intel MKL (its GEMM is its own, csrc/cpu/gemm.cpp)."""


def is_available():
    return False
