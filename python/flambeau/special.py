"""flambeau.special: PyTorch's torch.special names for the functions flambeau has (the same functions as
the top-level ones; ndtr is erfc-based, so it keeps its relative accuracy in the lower tail)."""
import math as _math

from ._functions.elementwise import erf, expm1, log1p, sigmoid as expit, round  # noqa: F401,A004
from ._functions.special import erfc, erfinv, lgamma as gammaln, digamma, polygamma, mvlgamma, entr  # noqa: F401
from ._functions.pointwise import xlogy, exp2  # noqa: F401
from ._functions.reduction import logsumexp  # noqa: F401
from ._functions.special import digamma as psi  # noqa: F401
from ._functions.misc import logit, sinc  # noqa: F401


def xlog1py(input, other):
    """input * log1p(other), 0 where input is 0 (and other is not NaN), as torch.special.xlog1py."""
    from ._functions.pointwise import where
    from ._functions.compare import eq, isnan, logical_and, logical_not
    from ._tensor import Tensor
    from ._functions._dispatch import _scalar_like
    if not isinstance(other, Tensor):
        other = _scalar_like(input, other)
    if not isinstance(input, Tensor):
        input = _scalar_like(other, input)
    r = input * log1p(other)
    return where(logical_and(eq(input, 0), logical_not(isnan(other))), 0.0, r)


def multigammaln(input, p):
    return mvlgamma(input, p)


def ndtr(input):
    """The standard normal CDF, 0.5 erfc(-x / sqrt 2)."""
    return erfc(input * (-1 / _math.sqrt(2))) * 0.5


def softmax(input, dim, *, dtype=None):
    from .nn.functional import softmax as _softmax
    return _softmax(input, dim, dtype=dtype)


def log_softmax(input, dim, *, dtype=None):
    from .nn.functional import log_softmax as _log_softmax
    return _log_softmax(input, dim, dtype=dtype)


from ._functions.extra import i0, i0e, i1, i1e  # noqa: E402,F401  (modified Bessel functions, order 0 and 1)
from ._functions.special_extra import (  # noqa: E402,F401  (C++ kernels: csrc/core/special_functions.h)
    airy_ai, bessel_j0, bessel_j1, bessel_y0, bessel_y1, modified_bessel_i0, modified_bessel_i1, modified_bessel_k0,
    modified_bessel_k1, scaled_modified_bessel_k0, scaled_modified_bessel_k1, spherical_bessel_j0, erfcx, log_ndtr,
    ndtri, zeta, chebyshev_polynomial_t, chebyshev_polynomial_u, chebyshev_polynomial_v, chebyshev_polynomial_w,
    shifted_chebyshev_polynomial_t, shifted_chebyshev_polynomial_u, shifted_chebyshev_polynomial_v,
    shifted_chebyshev_polynomial_w, hermite_polynomial_h, hermite_polynomial_he, laguerre_polynomial_l,
    legendre_polynomial_p)
from ._functions.extra import igamma as gammainc, igammac as gammaincc  # noqa: E402,F401
