"""torch.distributions.ExponentialFamily: densities exp(<t(x), theta> - F(theta) + k(x)). A family gives its
natural parameters theta (`_natural_params`), its log-normalizer F (`_log_normalizer`) and the expected
carrier measure E[k(x)] (`_mean_carrier_measure`); the entropy and the KL divergence between two members
of one family then follow from the Bregman divergence of F, with grad F taken by autograd (as PyTorch's,
after Nielsen and Nock, "Entropies and cross-entropies of exponential families")."""
import flambeau
from . import Distribution, register_kl
from .transforms import _sum_rightmost

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):

    @property
    def _natural_params(self):
        raise NotImplementedError

    def _log_normalizer(self, *natural_params):
        raise NotImplementedError

    @property
    def _mean_carrier_measure(self):
        raise NotImplementedError

    def entropy(self):
        """H = F(theta) - <theta, grad F(theta)> - E[k(x)]."""
        result = -self._mean_carrier_measure
        with flambeau.enable_grad():
            nparams = [p.detach().requires_grad_() for p in self._natural_params]
            lg_normal = self._log_normalizer(*nparams)
            gradients = flambeau.autograd.grad(lg_normal.sum(), nparams, create_graph=True)
        result = result + lg_normal
        for p, g in zip(nparams, gradients):
            result = result - (p * g).reshape(tuple(self._batch_shape) + (-1,)).sum(-1)
        return result


@register_kl(ExponentialFamily, ExponentialFamily)
def _kl_expfamily_expfamily(p, q):
    """KL(p || q) = F(theta_q) - F(theta_p) - <theta_q - theta_p, grad F(theta_p)>, within one family."""
    if type(p) is not type(q):
        raise NotImplementedError("The cross KL-divergence between different exponential families cannot "
                                  "be computed using Bregman divergences")
    with flambeau.enable_grad():
        p_nparams = [p_.detach().requires_grad_() for p_ in p._natural_params]
        lg_normal = p._log_normalizer(*p_nparams)
        gradients = flambeau.autograd.grad(lg_normal.sum(), p_nparams, create_graph=True)
    q_nparams = q._natural_params
    result = q._log_normalizer(*q_nparams) - lg_normal
    for pnp, qnp, g in zip(p_nparams, q_nparams, gradients):
        result = result - _sum_rightmost((qnp - pnp) * g, len(q.event_shape))
    return result
