"""torch.histc's binning: bin = int((x - min) * bins / (max - min)) in the input's dtype, the last edge
inclusive. Values next to a bin edge land where PyTorch puts them (numpy's float64 edges differ)."""
import numpy as np
import torch

import flambeau


def test_histc_matches_pytorch_near_edges():
    for trial in range(40):
        x = (np.random.randn(3000) * np.random.uniform(0.1, 10)).astype(np.float32)
        bins = int(np.random.choice([7, 100, 2048]))
        lo = float(x.min() - (np.random.uniform(0, 1) if trial % 2 else 0))
        hi = float(x.max() + (np.random.uniform(0, 1) if trial % 3 == 0 else 0))
        want = torch.histc(torch.from_numpy(x), bins, min=lo, max=hi).numpy()
        got = flambeau.histc(flambeau.from_numpy(x), bins, min=lo, max=hi).numpy()
        np.testing.assert_array_equal(got, want)
    x = np.random.randn(500)
    np.testing.assert_array_equal(flambeau.histc(flambeau.from_numpy(x), 64, min=-1, max=1).numpy(),
                                  torch.histc(torch.from_numpy(x), 64, min=-1, max=1).numpy())
    np.testing.assert_array_equal(flambeau.histc(flambeau.from_numpy(x), 10).numpy(),
                                  torch.histc(torch.from_numpy(x), 10).numpy())
