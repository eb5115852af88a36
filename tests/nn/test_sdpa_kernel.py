"""torch.nn.attention.sdpa_kernel / SDPBackend, torch.backends.cuda's *_sdp flags and
torch.nn.attention.bias (CausalBias as scaled_dot_product_attention's attn_mask), against PyTorch.
flambeau has only the math backend: sets without MATH raise PyTorch's RuntimeError."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TFn
from torch.nn.attention import SDPBackend as TB, sdpa_kernel as t_sdpa_kernel
from torch.nn.attention import bias as tbias

import flambeau
import flambeau.nn.functional as FFn
from flambeau.nn.attention import SDPBackend as FB, sdpa_kernel as f_sdpa_kernel
from flambeau.nn.attention import bias as fbias


def _qkv(L=5, S=5, E=8):
    arrs = [np.random.randn(2, 3, n, E).astype(np.float32) for n in (L, S, S)]
    return ([torch.tensor(a, requires_grad=True) for a in arrs], [flambeau.tensor(a, requires_grad=True) for a in arrs])


def test_backend_enum_matches():
    assert {m.name: int(m) for m in FB} == {n: int(m) for n, m in TB.__members__.items()}


@pytest.mark.parametrize("names", [["MATH"], ["MATH", "FLASH_ATTENTION"], ["EFFICIENT_ATTENTION", "MATH"]])
def test_sets_with_math_run_and_restore_flags(names):
    (tq, tk, tv), (fq, fk, fv) = _qkv()
    with t_sdpa_kernel([getattr(TB, n) for n in names]):
        t_out = TFn.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
    with f_sdpa_kernel([FB[n] for n in names]):
        assert flambeau.backends.cuda.math_sdp_enabled()
        assert flambeau.backends.cuda.flash_sdp_enabled() == ("FLASH_ATTENTION" in names)
        assert flambeau.backends.cuda.mem_efficient_sdp_enabled() == ("EFFICIENT_ATTENTION" in names)
        f_out = FFn.scaled_dot_product_attention(fq, fk, fv, is_causal=True)
    np.testing.assert_allclose(f_out.detach().numpy(), t_out.detach().numpy(), atol=1e-5, rtol=1e-4)
    for flag in ("flash", "mem_efficient", "math", "cudnn"):  # all back on after the block
        assert getattr(flambeau.backends.cuda, f"{flag}_sdp_enabled")()


@pytest.mark.parametrize("names,message", [(["FLASH_ATTENTION"], "No available kernel"),
                                           (["EFFICIENT_ATTENTION"], "No viable backend"),
                                           (["CUDNN_ATTENTION", "OVERRIDEABLE"], "No viable backend")])
def test_sets_without_math_raise(names, message):
    (tq, _, _), (fq, _, _) = _qkv()
    if names != ["FLASH_ATTENTION"]:  # PyTorch's CPU build has a flash kernel; flambeau has none
        with warnings.catch_warnings(), t_sdpa_kernel([getattr(TB, n) for n in names]):
            warnings.simplefilter("ignore")
            with pytest.raises(RuntimeError, match=message):
                TFn.scaled_dot_product_attention(tq, tq, tq)
    with f_sdpa_kernel([FB[n] for n in names]), pytest.raises(RuntimeError, match=message):
        FFn.scaled_dot_product_attention(fq, fq, fq)
    FFn.scaled_dot_product_attention(fq, fq, fq)  # flags restored after the failing block


def test_as_decorator_and_single_backend_and_bad_argument():
    @f_sdpa_kernel(FB.EFFICIENT_ATTENTION)
    def attend(q):
        return FFn.scaled_dot_product_attention(q, q, q)
    with pytest.raises(RuntimeError, match="No viable backend"):
        attend(flambeau.randn(1, 2, 3, 4))
    assert flambeau.backends.cuda.math_sdp_enabled()
    with pytest.raises(AssertionError, match="SDPBackend"):
        with f_sdpa_kernel("math"):
            pass


def test_backends_cuda_flags_and_deprecated_sdp_kernel():
    cuda = flambeau.backends.cuda
    try:
        cuda.enable_math_sdp(False)
        assert not cuda.math_sdp_enabled()
        with pytest.raises(RuntimeError, match="No available kernel"):
            FFn.scaled_dot_product_attention(*[flambeau.randn(1, 2, 3)] * 3)
    finally:
        cuda.enable_math_sdp(True)
    with pytest.warns(FutureWarning, match="sdp_kernel"):
        ctx = cuda.sdp_kernel(enable_flash=False, enable_math=True, enable_mem_efficient=False)
    with ctx:
        assert not cuda.flash_sdp_enabled() and cuda.math_sdp_enabled()
    assert cuda.flash_sdp_enabled()


@pytest.mark.parametrize("L,S", [(4, 7), (6, 6), (7, 4)])
@pytest.mark.parametrize("variant", ["causal_upper_left", "causal_lower_right"])
def test_causal_bias_as_attn_mask(L, S, variant):
    (tq, tk, tv), (fq, fk, fv) = _qkv(L, S)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tb, fb = getattr(tbias, variant)(L, S), getattr(fbias, variant)(L, S)
        t_out = TFn.scaled_dot_product_attention(tq, tk, tv, attn_mask=tb)
    f_out = FFn.scaled_dot_product_attention(fq, fk, fv, attn_mask=fb)
    np.testing.assert_array_equal(fb._materialize().numpy(), tb._materialize().numpy())
    assert repr(fb) == repr(tb).replace("torch", "flambeau") or repr(fb).replace("flambeau", "torch") == repr(tb)
    # lower-right with L > S leaves the first rows without keys: NaN in PyTorch's CausalBias path, 0 in
    # flambeau's sdpa (PyTorch's own sdpa with the same bool mask gives 0 too)
    t_np, f_np = t_out.detach().numpy(), f_out.detach().numpy()
    rows = ~np.isnan(t_np).any(axis=(0, 1, 3))
    np.testing.assert_allclose(f_np[:, :, rows], t_np[:, :, rows], atol=1e-5, rtol=1e-4)
    if rows.all():
        g = np.random.randn(*t_np.shape).astype(np.float32)
        t_out.backward(torch.tensor(g))
        f_out.backward(flambeau.tensor(g))
        for t, f in ((tq, fq), (tk, fk), (tv, fv)):
            np.testing.assert_allclose(f.grad.numpy(), t.grad.numpy(), atol=1e-4, rtol=1e-3)


def test_causal_bias_errors():
    with pytest.raises(ValueError, match="causal=True"):
        FFn.scaled_dot_product_attention(*[flambeau.randn(1, 3, 4)] * 3, attn_mask=fbias.causal_upper_left(3, 3),
                                         is_causal=True)
    with pytest.raises(AssertionError, match="2D"):
        fbias.causal_lower_right(1, 2, 3)
    with pytest.warns(UserWarning, match="NaNs"):
        fbias.causal_lower_right(5, 3)
