"""The constraints that act on structured values, as torch.distributions.constraints has them:
corr_cholesky (Cholesky factors of correlation matrices: lower triangular, positive diagonal, rows of
unit length), cat and stack (a list of constraints, each applied to its slice of one dimension, as
torch.cat / torch.stack lay the slices out). Kept apart from constraints.py, which re-exports them."""
import flambeau
from .constraints import Constraint, _LowerCholesky


class _CorrCholesky(Constraint):
    event_dim = 2

    def check(self, value):
        tol = flambeau.finfo(value.dtype).eps * value.size(-1) * 10  # PyTorch's fudge factor
        row_norm = flambeau.linalg.norm(value.detach(), dim=-1)
        unit_row_norm = (row_norm - 1.0).abs().le(tol).all(dim=-1)
        return _LowerCholesky().check(value) & unit_row_norm


def _check_constraints(cseq):
    if not all(isinstance(c, Constraint) for c in cseq):
        raise AssertionError("All elements of cseq must be Constraint instances")
    return list(cseq)


def _check_dim(dim, value):
    if not (-value.dim() <= dim < value.dim()):
        raise AssertionError(f"dim {dim} out of range for value with {value.dim()} dimensions")


class _Cat(Constraint):
    """cseq[i] applies to the lengths[i] entries of dimension dim that torch.cat would have put there."""
    def __init__(self, cseq, dim=0, lengths=None):
        self.cseq = _check_constraints(cseq)
        self.lengths = [1] * len(self.cseq) if lengths is None else list(lengths)
        if len(self.lengths) != len(self.cseq):
            raise AssertionError(f"lengths ({len(self.lengths)}) must match cseq ({len(self.cseq)})")
        self.dim = dim
        super().__init__()

    @property
    def is_discrete(self):
        return any(c.is_discrete for c in self.cseq)

    @property
    def event_dim(self):
        return max(c.event_dim for c in self.cseq)

    def check(self, value):
        _check_dim(self.dim, value)
        checks = []
        start = 0
        for constr, length in zip(self.cseq, self.lengths):
            checks.append(constr.check(value.narrow(self.dim, start, length)))
            start = start + length
        return flambeau.cat(checks, self.dim)


class _Stack(Constraint):
    """cseq[i] applies to value.select(dim, i)."""
    def __init__(self, cseq, dim=0):
        self.cseq = _check_constraints(cseq)
        self.dim = dim
        super().__init__()

    @property
    def is_discrete(self):
        return any(c.is_discrete for c in self.cseq)

    @property
    def event_dim(self):
        dim = max(c.event_dim for c in self.cseq)
        if self.dim + dim < 0:
            dim += 1
        return dim

    def check(self, value):
        _check_dim(self.dim, value)
        vs = [value.select(self.dim, i) for i in range(value.size(self.dim))]
        return flambeau.stack([constr.check(v) for v, constr in zip(vs, self.cseq)], self.dim)


corr_cholesky = _CorrCholesky()
cat = _Cat
stack = _Stack
