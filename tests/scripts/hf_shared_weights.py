"""For the hf_*.py scripts that run once with PyTorch and once under flambeau.run: the PyTorch run saves the
model's initial weights, the flambeau run loads them, so both start from the same model."""
import os

import numpy as np
import torch


def library():
    """"torch" or "flambeau": which library `import torch` gave this run."""
    return "flambeau" if torch.__name__ == "flambeau" else "torch"


def share_initial_weights(model, out, name):
    path = os.path.join(out, f"{name}_weights.npz")
    if library() == "torch":
        np.savez(path, **{k: v.numpy() for k, v in model.state_dict().items()})
    else:
        model.load_state_dict({k: torch.tensor(v) for k, v in np.load(path).items()})
