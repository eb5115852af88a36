"""flambeau.backends: build and capability switches (cuda, cpu, cudnn)."""
from . import cuda, cpu, cudnn, mps  # noqa: F401
