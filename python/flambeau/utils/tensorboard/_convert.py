"""Turn what users log (flambeau tensors, numpy arrays, Python numbers) into numpy arrays."""
import numpy as np


def _is_tensor_like(x):
    # flambeau tensors, and anything else that can be detached and copied to the host the same way
    # (a torch.Tensor logged by a script that mixes both libraries).
    return all(hasattr(x, name) for name in ("detach", "cpu", "numpy", "dtype"))


def make_np(x):
    """numpy view/copy of `x`; a Python or numpy scalar becomes a 1-element array (as PyTorch does)."""
    if isinstance(x, np.ndarray):
        return x
    if np.isscalar(x):
        return np.array([x])
    if _is_tensor_like(x):
        x = x.detach().cpu()
        if str(x.dtype).endswith("bfloat16"):
            # numpy has no bfloat16. PyTorch goes through float16 here (losing range and bits);
            # we do the same so that both libraries log the same numbers.
            x = x.float().half()
        return x.numpy()
    raise NotImplementedError(
        f"tensorboard: got {type(x).__name__}, expected a flambeau tensor, a numpy array or a number")
