"""torch.gradient: values (PyTorch's bits: same operation order), gradients, spacing forms, errors."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import check_op, check_error, rand_array, to_np


def _bits_equal(fl_outs, t_outs):
    assert len(fl_outs) == len(t_outs)
    for f, t in zip(fl_outs, t_outs):
        assert f.dtype == getattr(flambeau, str(t.dtype).rsplit(".", 1)[-1])
        np.testing.assert_array_equal(to_np(f), t.detach().numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("edge_order", [1, 2])
@pytest.mark.parametrize("shape, kw", [((7,), {}), ((5, 6), {}), ((4, 3, 5), {"dim": 1}), ((4, 3, 5), {"dim": [2, 0]}),
                                       ((3, 9), {"spacing": 0.7}), ((3, 9), {"spacing": [2.0, 0.25]}),
                                       ((6, 4), {"spacing": [1.5], "dim": -2}), ((5, 3), {"dim": (1,)})])
def test_uniform_spacing_bits(dtype, edge_order, shape, kw):
    x = rand_array(shape, dtype)
    t = torch.gradient(torch.tensor(x), edge_order=edge_order, **kw)
    f = flambeau.gradient(flambeau.tensor(x), edge_order=edge_order, **kw)
    _bits_equal(f, t)


@pytest.mark.parametrize("edge_order", [1, 2])
def test_coordinate_spacing_bits(edge_order):
    x = rand_array((6, 5), "float64")
    c0 = np.cumsum(np.random.uniform(0.1, 1.0, 6))
    c1 = np.cumsum(np.random.uniform(0.1, 1.0, 5))
    t = torch.gradient(torch.tensor(x), spacing=[torch.tensor(c0), torch.tensor(c1)], edge_order=edge_order)
    f = flambeau.gradient(flambeau.tensor(x), spacing=[flambeau.tensor(c0), flambeau.tensor(c1)],
                          edge_order=edge_order)
    _bits_equal(f, t)
    # a 0-dim tensor is a uniform spacing; integer input is computed in the default float dtype
    xi = np.random.randint(-9, 9, (4, 5))
    _bits_equal(flambeau.gradient(flambeau.tensor(xi), spacing=flambeau.tensor(2.0)),
                torch.gradient(torch.tensor(xi), spacing=torch.tensor(2.0)))


@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradients_flow(edge_order):
    check_op(lambda x: torch.gradient(x, spacing=0.5, edge_order=edge_order),
             lambda x: flambeau.gradient(x, spacing=0.5, edge_order=edge_order), shapes=[(5, 4)], dtype="float64")
    check_op(lambda x: torch.gradient(x, dim=1, edge_order=edge_order)[0],
             lambda x: flambeau.gradient(x, dim=1, edge_order=edge_order)[0], shapes=[(3, 6)], non_contiguous=True)


def test_errors():
    check_error(lambda m: m.gradient(m.ones(1, 4)), RuntimeError, "at least edge_order\\+1")
    check_error(lambda m: m.gradient(m.ones(2, 4), edge_order=2), RuntimeError, "at least edge_order\\+1")
    check_error(lambda m: m.gradient(m.ones(3, 4), spacing=[1.0, 2.0, 3.0]), RuntimeError, "list of length 3")
    check_error(lambda m: m.gradient(m.ones(3, 4), edge_order=3), RuntimeError, "edge_order")
