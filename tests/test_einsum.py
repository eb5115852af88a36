"""einsum against PyTorch: contractions (matmul, batched, outer, traces, diagonals, sums, ellipsis,
three operands), the batched dot products that take the multiply-and-sum path, values and gradients."""
import pytest
import torch

import flambeau
from helpers import check_op

CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij,ij->i", [(6, 7), (6, 7)]),      # batched dot: multiply and sum
    ("ij,ij->", [(6, 7), (6, 7)]),
    ("i,i->", [(9,), (9,)]),
    ("ij,ij->ij", [(4, 5), (4, 5)]),
    ("bi,bi->b", [(3, 8), (3, 8)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("ij->ji", [(3, 5)]),
    ("ij->", [(3, 5)]),
    ("ij,jk", [(3, 4), (4, 2)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ij,j->i", [(5, 6), (6,)]),
]


@pytest.mark.parametrize("eq,shapes", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_einsum_against_torch(eq, shapes, dtype, device, rng):
    check_op(lambda *x: torch.einsum(eq, *x), lambda *x: flambeau.einsum(eq, *x), shapes=shapes, dtype=dtype,
             device=device, rng=rng)


def test_einsum_errors():
    with pytest.raises(RuntimeError, match="operand"):
        flambeau.einsum("ij,jk->ik", flambeau.zeros(2, 3))
    with pytest.raises(RuntimeError, match="subscripts"):
        flambeau.einsum("ijk->i", flambeau.zeros(2, 3))
