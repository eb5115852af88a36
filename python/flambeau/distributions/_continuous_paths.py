"""torch.distributions' module paths for the continuous families that share a file here
(`from torch.distributions.studentT import StudentT`, `torch.distributions.half_normal.HalfNormal`, ...),
registered as _module_paths.py registers the older families' paths. exponential, exp_family, von_mises,
kumaraswamy, continuous_bernoulli and logistic_normal are real modules of those names already."""
from ._module_paths import register
from .extreme_value import GeneralizedPareto, Gumbel, Pareto, Weibull
from .gamma_derived import Chi2, FisherSnedecor, InverseGamma, StudentT
from .half_families import HalfCauchy, HalfNormal
from .laplace_cauchy import Cauchy, Laplace

_PATHS = {
    "laplace": {"Laplace": Laplace},
    "cauchy": {"Cauchy": Cauchy},
    "half_normal": {"HalfNormal": HalfNormal},
    "half_cauchy": {"HalfCauchy": HalfCauchy},
    "gumbel": {"Gumbel": Gumbel},
    "weibull": {"Weibull": Weibull},
    "pareto": {"Pareto": Pareto},
    "generalized_pareto": {"GeneralizedPareto": GeneralizedPareto},
    "chi2": {"Chi2": Chi2},
    "studentT": {"StudentT": StudentT},
    "fishersnedecor": {"FisherSnedecor": FisherSnedecor},
    "inverse_gamma": {"InverseGamma": InverseGamma},
}

register(_PATHS)
