"""flambeau.backends: build and capability switches (cuda, cpu, cudnn, and the CPU libraries PyTorch can use)."""
from . import cuda, cpu, cudnn, mha, mps, mkl, mkldnn, openmp, opt_einsum  # noqa: F401
