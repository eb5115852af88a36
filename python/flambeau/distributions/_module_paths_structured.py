"""torch.distributions' module paths for the families and helpers of discrete.py, lowrank_wishart_lkj.py
and transforms_structured.py (`from torch.distributions.poisson import Poisson`,
`torch.distributions.utils.vec_to_tril_matrix`), registered as _module_paths.py registers the others."""
from ._module_paths import register
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

register(_PATHS)
from . import utils as _utils  # noqa: E402 (registered by _module_paths)
_utils.__dict__.update({"tril_matrix_to_vec": tril_matrix_to_vec, "vec_to_tril_matrix": vec_to_tril_matrix,
                        "lazy_property": lazy_property})
