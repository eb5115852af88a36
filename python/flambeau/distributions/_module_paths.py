"""torch.distributions' per-family module paths, which scripts import from as often as from the package:
`from torch.distributions.kl import kl_divergence`, `from torch.distributions.normal import Normal`,
`from torch.distributions.categorical import Categorical`, `torch.distributions.utils.logits_to_probs`.
Each path is registered as a module holding the same objects as flambeau.distributions (one table here
rather than a dozen two-line files)."""
import sys
import types

import flambeau
from . import (Bernoulli, Beta, Categorical, Dirichlet, Distribution, Gamma, Independent, LogNormal,
               MixtureSameFamily, Normal, OneHotCategorical, OneHotCategoricalStraightThrough, RelaxedBernoulli,
               RelaxedOneHotCategorical, Uniform, _clamp_probs, _logits_to_probs, _probs_to_logits, kl_divergence,
               register_kl)
from .relaxed import ExpRelaxedCategorical, LogitRelaxedBernoulli


def _broadcast_all(*values):
    """torch.distributions.utils.broadcast_all: numbers become tensors like the tensor arguments, then all
    are broadcast to one shape."""
    like = next((v for v in values if isinstance(v, flambeau.Tensor)), None)
    if like is None:
        return flambeau.broadcast_tensors(*[flambeau.tensor(float(v)) for v in values])
    return flambeau.broadcast_tensors(*[v if isinstance(v, flambeau.Tensor) else
                                        flambeau.tensor(float(v), dtype=like.dtype, device=like.device)
                                        for v in values])


_PATHS = {
    "distribution": {"Distribution": Distribution},
    "kl": {"kl_divergence": kl_divergence, "register_kl": register_kl},
    "normal": {"Normal": Normal},
    "uniform": {"Uniform": Uniform},
    "bernoulli": {"Bernoulli": Bernoulli},
    "categorical": {"Categorical": Categorical},
    "one_hot_categorical": {"OneHotCategorical": OneHotCategorical,
                            "OneHotCategoricalStraightThrough": OneHotCategoricalStraightThrough},
    "beta": {"Beta": Beta},
    "gamma": {"Gamma": Gamma},
    "dirichlet": {"Dirichlet": Dirichlet},
    "independent": {"Independent": Independent},
    "mixture_same_family": {"MixtureSameFamily": MixtureSameFamily},
    "log_normal": {"LogNormal": LogNormal},
    "relaxed_categorical": {"RelaxedOneHotCategorical": RelaxedOneHotCategorical,
                            "ExpRelaxedCategorical": ExpRelaxedCategorical},
    "relaxed_bernoulli": {"RelaxedBernoulli": RelaxedBernoulli, "LogitRelaxedBernoulli": LogitRelaxedBernoulli},
    "utils": {"logits_to_probs": _logits_to_probs, "probs_to_logits": _probs_to_logits,
              "clamp_probs": _clamp_probs, "broadcast_all": _broadcast_all},
}

_package = sys.modules[__name__.rsplit(".", 1)[0]]


def register(paths):
    """Registers each `name -> {member: object}` of `paths` as the module flambeau.distributions.<name>
    (also in sys.modules, so `from flambeau.distributions.<name> import ...` works)."""
    for name, members in paths.items():
        mod = types.ModuleType(f"{_package.__name__}.{name}", f"torch.distributions.{name}'s names")
        mod.__dict__.update(members)
        sys.modules[mod.__name__] = mod
        setattr(_package, name, mod)


register(_PATHS)
