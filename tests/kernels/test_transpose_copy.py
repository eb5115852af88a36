"""Transposing copies (x.t().contiguous(), permute(...).contiguous(), copies into transposed views):
csrc/cpu/copy.cpp's tiled copy_transposed, whose 4-byte tiles run the AVX2 8x8 register transpose
(simd::transpose32) at the AVX2 and AVX-512 capabilities. Every capability gives numpy's result bit
for bit, for sizes around the 8-element blocks and 16-element tiles, batch dims and NaN payloads."""
import numpy as np
import pytest

import flambeau
from helpers import with_cpu_capability

CAPS = ["default", "avx2", "avx512"]
SIZES = [8, 9, 15, 16, 17, 33, 100]


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows", SIZES)
@pytest.mark.parametrize("cols", SIZES)
def test_t_contiguous(rows, cols, dtype, cap, rng):
    x = rng.standard_normal((rows, cols)).astype(dtype)
    if dtype == "float32":  # a NaN with a payload: copied as is
        x.view(np.uint32)[0, 1] = 0x7FC0_1234
    t = flambeau.from_numpy(x)
    got = with_cpu_capability(cap, lambda: t.t().contiguous().numpy())
    assert got.tobytes() == np.ascontiguousarray(x.T).tobytes()


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("perm", [(0, 2, 1), (1, 0, 2), (2, 1, 0), (0, 1, 3, 2), (0, 2, 1, 3), (3, 1, 2, 0)])
def test_permute_contiguous(perm, cap, rng):
    shape = (3, 17, 40, 9)[: len(perm)] if len(perm) == 4 else (5, 33, 24)
    x = rng.standard_normal(shape).astype(np.float32)
    t = flambeau.from_numpy(x)
    got = with_cpu_capability(cap, lambda: t.permute(*perm).contiguous().numpy())
    assert got.tobytes() == np.ascontiguousarray(x.transpose(perm)).tobytes()


@pytest.mark.parametrize("cap", CAPS)
def test_copy_into_transposed_view(cap, rng):
    # The other direction: the destination is the strided operand.
    x = rng.standard_normal((37, 70)).astype(np.float32)
    def run():
        dst = flambeau.zeros(70, 37)
        dst.t().copy_(flambeau.from_numpy(x))
        return dst.numpy()
    assert with_cpu_capability(cap, run).tobytes() == np.ascontiguousarray(x.T).tobytes()
