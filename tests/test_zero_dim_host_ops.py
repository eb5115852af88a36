"""Ops computed on the host through numpy (incomplete gamma, modified Bessel functions, gcd/lcm, frexp, ...)
keep a 0-d input 0-d, as PyTorch's: np.ascontiguousarray had turned their 0-d results into shape (1,),
which broke e.g. Gamma(3., 2.).cdf(tensor(0.5)) and Chi2's cdf on scalar parameters."""
import numpy as np
import pytest
import torch

import flambeau


@pytest.mark.parametrize("name, args", [
    ("igamma", (1.5, 0.5)), ("igammac", (1.5, 0.5)),
    ("special.i0", (1.5,)), ("special.i0e", (1.5,)), ("special.i1", (1.5,)), ("special.i1e", (-1.5,)),
    ("gcd", (12, 18)), ("lcm", (4, 6)), ("bitwise_left_shift", (3, 2)), ("bitwise_right_shift", (-9, 1)),
    ("nextafter", (1.0, 2.0)),
])
def test_zero_dim_inputs_give_zero_dim_results(name, args):
    def get(mod):
        for part in name.split("."):
            mod = getattr(mod, part)
        return mod
    t = get(torch)(*[torch.tensor(a) for a in args])
    f = get(flambeau)(*[flambeau.tensor(a) for a in args])
    assert tuple(f.shape) == tuple(t.shape) == ()
    np.testing.assert_allclose(f.numpy(), t.numpy(), rtol=1e-6)


def test_frexp_of_a_zero_dim_tensor():
    tm, te = torch.frexp(torch.tensor(6.0))
    fm, fe = flambeau.frexp(flambeau.tensor(6.0))
    assert tuple(fm.shape) == tuple(tm.shape) == () and tuple(fe.shape) == tuple(te.shape) == ()
    assert (fm.item(), fe.item()) == (tm.item(), te.item())


def test_gamma_cdf_on_scalar_parameters():
    import flambeau.distributions as FD
    import torch.distributions as TD
    for f, t in ((FD.Gamma(3.0, 2.0), TD.Gamma(3.0, 2.0)), (FD.Chi2(3.0), TD.Chi2(3.0))):
        fv, tv = f.cdf(flambeau.tensor(0.5)), t.cdf(torch.tensor(0.5))
        assert tuple(fv.shape) == () and abs(fv.item() - tv.item()) < 1e-6
