"""flambeau.version: what scripts read from torch.version (`torch.version.cuda is None` on a CPU-only
build, as on PyTorch's CPU wheels; the CUDA toolkit's "major.minor" on a CUDA build)."""
from . import _C

__version__ = "0.1.0"
git_version = None
hip = None
debug = False
cuda = getattr(_C, "cuda_version", None)
