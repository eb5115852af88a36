"""torch.distributions' module paths for the families and helpers of discrete.py, lowrank_wishart_lkj.py
and transforms_structured.py (`from torch.distributions.poisson import Poisson`,
`torch.distributions.utils.vec_to_tril_matrix`), registered as _module_paths.py registers the others."""
import sys
import types

from . import (Binomial, Geometric, LKJCholesky, LowRankMultivariateNormal, Multinomial, NegativeBinomial, Poisson,
               Wishart)
from ._arg_validation import lazy_property
from .transforms_structured import tril_matrix_to_vec, vec_to_tril_matrix

_PATHS = {
    "poisson": {"Poisson": Poisson},
    "binomial": {"Binomial": Binomial},
    "geometric": {"Geometric": Geometric},
    "negative_binomial": {"NegativeBinomial": NegativeBinomial},
    "multinomial": {"Multinomial": Multinomial},
    "lowrank_multivariate_normal": {"LowRankMultivariateNormal": LowRankMultivariateNormal},
    "wishart": {"Wishart": Wishart},
    "lkj_cholesky": {"LKJCholesky": LKJCholesky},
}

_package = sys.modules[__name__.rsplit(".", 1)[0]]
for _name, _members in _PATHS.items():
    _mod = types.ModuleType(f"{_package.__name__}.{_name}", f"torch.distributions.{_name}'s names")
    _mod.__dict__.update(_members)
    sys.modules[_mod.__name__] = _mod
    setattr(_package, _name, _mod)
_package.utils.__dict__.update({"tril_matrix_to_vec": tril_matrix_to_vec, "vec_to_tril_matrix": vec_to_tril_matrix,
                                "lazy_property": lazy_property})
