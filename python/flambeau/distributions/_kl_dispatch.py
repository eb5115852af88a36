"""PyTorch's lookup of a KL function: a pair registered for the exact types, else the most specific
registered pair of base classes (so Chi2 uses Gamma's KL, LogNormal the TransformedDistribution one, two
ExponentialFamily members the Bregman divergence), with PyTorch's warning when the match is ambiguous."""
import functools
import warnings


@functools.total_ordering
class _Match:
    """A registered (type_p, type_q) pair, ordered so that the most specific pair is the smallest."""
    __slots__ = ["types"]

    def __init__(self, *types):
        self.types = types

    def __eq__(self, other):
        return self.types == other.types

    def __le__(self, other):
        for x, y in zip(self.types, other.types):
            if not issubclass(x, y):
                return False
            if x is not y:
                break
        return True


def dispatch_kl(registry, type_p, type_q):
    """The function registered for the closest (super_p, super_q) of (type_p, type_q), or None."""
    matches = [(super_p, super_q) for super_p, super_q in registry
               if issubclass(type_p, super_p) and issubclass(type_q, super_q)]
    if not matches:
        return None
    left_p, left_q = min(_Match(*m) for m in matches).types
    right_q, right_p = min(_Match(*reversed(m)) for m in matches).types
    left_fun = registry[left_p, left_q]
    if left_fun is not registry[right_p, right_q]:
        warnings.warn(f"Ambiguous kl_divergence({type_p.__name__}, {type_q.__name__}). "
                      f"Please register_kl({left_p.__name__}, {right_q.__name__})", RuntimeWarning, stacklevel=3)
    return left_fun
