"""flambeau.backends: build and capability switches (cuda, cpu, cudnn)."""
from . import cuda, cpu, cudnn, mha, mps  # noqa: F401
