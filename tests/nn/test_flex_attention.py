"""torch.nn.attention.flex_attention against PyTorch's eager reference, on the masks and score mods of
PyTorch's flex-attention blog (causal, sliding window, prefix LM, document masking, ALiBi, soft-capping,
relative position, a learned bias). Forward values are compared with torch's flex_attention itself;
PyTorch's eager flex_attention has no CPU backward, so gradients are compared with
torch._higher_order_ops.flex_attention.math_attention (the eager formula it runs) under torch autograd."""
import warnings

import numpy as np
import pytest
import torch
from torch._higher_order_ops.flex_attention import math_attention as torch_math_attention
from torch.nn.attention import flex_attention as TF

import flambeau
from flambeau.nn.attention import flex_attention as FF
from dynamo_guard import keep_torch_distribution_validation  # noqa: F401  (autouse: PyTorch's dynamo turns it off)

warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")


def _pair(shape, dtype=np.float32, grad=True):
    a = np.random.randn(*shape).astype(dtype)
    return (torch.tensor(a, requires_grad=grad), flambeau.tensor(a, requires_grad=grad))


def _qkv(B, Hq, Hkv, L, S, E, dtype=np.float32):
    return _pair((B, Hq, L, E), dtype), _pair((B, Hkv, S, E), dtype), _pair((B, Hkv, S, E), dtype)


def _close(f, t, atol=2e-5, rtol=2e-4):
    np.testing.assert_allclose(f.detach().numpy(), t.detach().numpy(), atol=atol, rtol=rtol)


# masks and score mods written once, for both libraries (they only use operators and indexing)
def causal(b, h, q_idx, kv_idx):
    return q_idx >= kv_idx


def sliding_window(window):
    def mask(b, h, q_idx, kv_idx):
        return (q_idx >= kv_idx) & (q_idx - kv_idx <= window)
    return mask


def relative_position(score, b, h, q_idx, kv_idx):
    return score + (q_idx - kv_idx)


def soft_cap(score, b, h, q_idx, kv_idx):
    return 2.0 * (score / 2.0).tanh()


def run_both(score_mod_for, mask_mod_for, B, Hq, Hkv, L, S, E, block=16, enable_gqa=False, mask_B=None,
             mask_H=None, scale=None, dtype=np.float32, atol=2e-5, rtol=2e-4):
    """flambeau's flex_attention vs torch's (values, lse) and vs torch's math_attention (gradients)."""
    (tq, fq), (tk, fk), (tv, fv) = _qkv(B, Hq, Hkv, L, S, E, dtype)
    t_mod, f_mod = score_mod_for(torch), score_mod_for(flambeau)
    t_mask, f_mask = mask_mod_for(torch), mask_mod_for(flambeau)
    tbm = TF.create_block_mask(t_mask, mask_B, mask_H, L, S, device="cpu", BLOCK_SIZE=block) if t_mask else None
    fbm = FF.create_block_mask(f_mask, mask_B, mask_H, L, S, device="cpu", BLOCK_SIZE=block) if f_mask else None
    if tbm is not None:
        np.testing.assert_array_equal(fbm.to_dense().numpy(), tbm.to_dense().numpy())
    with torch.no_grad():
        t_out, t_lse = TF.flex_attention(tq.detach(), tk.detach(), tv.detach(), score_mod=t_mod, block_mask=tbm, scale=scale,
                                         enable_gqa=enable_gqa, return_aux=TF.AuxRequest(lse=True))
        t_lse = t_lse.lse
    f_out, f_aux = FF.flex_attention(fq, fk, fv, score_mod=f_mod, block_mask=fbm, scale=scale,
                                     enable_gqa=enable_gqa, return_aux=FF.AuxRequest(lse=True, max_scores=True))
    _close(f_out, t_out, atol, rtol)
    _close(f_aux.lse, t_lse, atol, rtol)
    assert f_out.dtype == flambeau.float64 if dtype == np.float64 else f_out.dtype == flambeau.float32

    # gradients: torch's eager formula under torch autograd (same GQA expansion as torch's flex does)
    if tbm is None:
        tbm = TF._create_empty_block_mask(tq, tk)
    t_ref, _, t_max = torch_math_attention(tq, tk, tv, t_mod or (lambda s, b, h, m, n: s), tbm.as_tuple(),
                                           scale if scale is not None else tq.shape[-1] ** -0.5, {})
    _close(f_out, t_ref, atol, rtol)
    _close(f_aux.max_scores, t_max * np.log(2.0), atol, rtol)
    g = np.random.randn(*f_out.shape).astype(dtype)
    t_ref.backward(torch.tensor(g))
    f_out.backward(flambeau.tensor(g))
    for t, f in ((tq, fq), (tk, fk), (tv, fv)):
        _close(f.grad, t.grad, 10 * atol, 10 * rtol)
    return f_out


def test_no_mask_no_mod_is_sdpa():
    run_both(lambda lib: None, lambda lib: None, 2, 3, 3, 7, 9, 8)


@pytest.mark.parametrize("L,S,block", [(13, 13, 4), (20, 11, 8), (5, 33, 128)])
def test_causal(L, S, block):
    run_both(lambda lib: None, lambda lib: causal, 2, 2, 2, L, S, 8, block=block)


def test_sliding_window_and_relative_position():
    run_both(lambda lib: relative_position, lambda lib: sliding_window(3), 1, 2, 2, 17, 17, 4, block=4)


def test_alibi_bias_gqa_and_scale():
    Hq, Hkv = 4, 2
    slopes = np.exp2(-8.0 * np.arange(1, Hq + 1) / Hq).astype(np.float32)

    def alibi(lib):
        s = lib.tensor(slopes)

        def mod(score, b, h, q_idx, kv_idx):
            return score + s[h] * (kv_idx - q_idx)
        return mod
    run_both(alibi, lambda lib: causal, 2, Hq, Hkv, 10, 10, 8, enable_gqa=True, mask_H=Hq, scale=0.3)


def test_document_mask_soft_cap_float64():
    doc = np.array([0] * 5 + [1] * 7 + [2] * 4)

    def document_causal(lib):
        d = lib.tensor(doc)

        def mask(b, h, q_idx, kv_idx):
            return (d[q_idx] == d[kv_idx]) & (q_idx >= kv_idx)
        return mask
    run_both(lambda lib: soft_cap, document_causal, 1, 2, 2, 16, 16, 4, block=4, dtype=np.float64,
             atol=1e-10, rtol=1e-9)


def test_prefix_lm_or_masks_and_masks_batch_dependent():
    prefix = np.array([3, 6])

    def prefix_lm(lib):
        p = lib.tensor(prefix)
        mod = TF if lib is torch else FF

        def prefix_mask(b, h, q_idx, kv_idx):
            return kv_idx < p[b]
        return mod.and_masks(mod.or_masks(prefix_mask, causal), mod.noop_mask)
    run_both(lambda lib: None, prefix_lm, 2, 2, 2, 12, 12, 8, block=4, mask_B=2)


def test_fully_masked_rows_give_zero_and_neg_inf_lse():
    def skip_row_3(b, h, q_idx, kv_idx):
        return (q_idx >= kv_idx) & (q_idx != 3)
    out = run_both(lambda lib: None, lambda lib: skip_row_3, 1, 2, 2, 8, 8, 4, block=2)
    assert float(out[:, :, 3].abs().sum()) == 0.0


def test_learned_bias_gets_gradient():
    """A tensor captured by score_mod is differentiated (a learned relative bias)."""
    L = 6
    tb, fb = _pair((2, L, L))
    (tq, fq), (tk, fk), (tv, fv) = _qkv(1, 2, 2, L, L, 4)
    t_out, _, _ = torch_math_attention(tq, tk, tv, lambda s, b, h, m, n: s + tb[h, m, n],
                                       TF._create_empty_block_mask(tq, tk).as_tuple(), 0.5, {})
    f_out = FF.flex_attention(fq, fk, fv, score_mod=lambda s, b, h, m, n: s + fb[h, m, n], scale=0.5)
    _close(f_out, t_out)
    t_out.sum().backward()
    f_out.sum().backward()
    _close(fb.grad, tb.grad, 1e-4, 1e-3)
    _close(fq.grad, tq.grad, 1e-4, 1e-3)


def test_return_lse_and_create_mask():
    (tq, fq), (tk, fk), (tv, fv) = _qkv(1, 1, 1, 5, 5, 4)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_out, t_lse = TF.flex_attention(tq.detach(), tk.detach(), tv.detach(), return_lse=True)
        f_out, f_lse = FF.flex_attention(fq, fk, fv, return_lse=True)
    _close(f_lse, t_lse)
    np.testing.assert_array_equal(FF.create_mask(causal, 2, 1, 5, 7, device="cpu").numpy(),
                                  TF.create_mask(causal, 2, 1, 5, 7, device="cpu").numpy())
    np.testing.assert_array_equal(FF.create_mask(relative_position, 1, 1, 3, 3, device="cpu").numpy(),
                                  TF.create_mask(relative_position, 1, 1, 3, 3, device="cpu").numpy())


@pytest.mark.parametrize("B,H,L,S,block", [(2, None, 300, 200, 128), (1, 2, 6, 6, 2), (2, 3, 37, 53, 8)])
def test_block_mask_layout_printing_sparsity(B, H, L, S, block):
    fbm = FF.create_block_mask(causal, B, H, L, S, device="cpu", BLOCK_SIZE=block)
    tbm = TF.create_block_mask(causal, B, H, L, S, device="cpu", BLOCK_SIZE=block)
    for name in fbm._TENSOR_ATTRS:
        np.testing.assert_array_equal(getattr(fbm, name).numpy(), getattr(tbm, name).numpy(), err_msg=name)
        assert getattr(fbm, name).dtype == flambeau.int32
    assert fbm.shape == tbm.shape
    assert str(fbm) == str(tbm)
    assert repr(fbm).replace("flambeau.Size", "torch.Size") == repr(tbm)
    assert fbm.sparsity() == pytest.approx(tbm.sparsity())
    assert fbm[1 if B > 1 else 0].shape == tbm[1 if B > 1 else 0].shape
    with pytest.raises(RuntimeError, match="sliced BlockMask"):
        q = flambeau.randn(1, fbm.shape[1], L, 4)
        FF.flex_attention(q, flambeau.randn(1, fbm.shape[1], S, 4), flambeau.randn(1, fbm.shape[1], S, 4),
                          block_mask=fbm[0])


def test_errors():
    q = flambeau.randn(1, 4, 8, 4)
    kv = flambeau.randn(1, 2, 8, 4)
    with pytest.raises(ValueError, match="enable_gqa=True"):
        FF.flex_attention(q, kv, kv)
    with pytest.raises(ValueError, match="multiple of kv heads"):
        FF.flex_attention(flambeau.randn(1, 3, 8, 4), kv, kv, enable_gqa=True)
    bm = FF.create_block_mask(causal, 1, 1, 16, 16, device="cpu")
    with pytest.raises(ValueError, match="block_mask was created"):
        FF.flex_attention(q, q, q, block_mask=bm)
    with pytest.raises(AssertionError, match="requires a mask_mod"):
        FF.create_block_mask(relative_position, 1, 1, 4, 4, device="cpu")
    with pytest.raises(NotImplementedError, match="4D"):
        FF.flex_attention(q[0], q[0], q[0])


def test_batch_one_key_value_broadcast_over_the_query_batch():
    """Bkv = 1 with a block mask of the query's batch: key/value broadcast (PyTorch's rule)."""
    (tq, fq), (tk, fk), (tv, fv) = _qkv(1, 2, 2, 6, 6, 4)
    tq, fq = _pair((3, 2, 6, 4))

    def per_batch(b, h, q_idx, kv_idx):
        return kv_idx <= q_idx + b
    tbm = TF.create_block_mask(per_batch, 3, None, 6, 6, device="cpu", BLOCK_SIZE=2)
    fbm = FF.create_block_mask(per_batch, 3, None, 6, 6, device="cpu", BLOCK_SIZE=2)
    with torch.no_grad():
        t_out = TF.flex_attention(tq.detach(), tk.detach(), tv.detach(), block_mask=tbm)
    f_out = FF.flex_attention(fq, fk, fv, block_mask=fbm)
    _close(f_out, t_out)
    with pytest.raises(ValueError, match="same batch size"):
        FF.flex_attention(fq, fk, fv)


def test_block_mask_indexing_and_adjust():
    fbm = FF.create_block_mask(sliding_window(5), 3, 2, 40, 48, device="cpu", BLOCK_SIZE=8)
    tbm = TF.create_block_mask(sliding_window(5), 3, 2, 40, 48, device="cpu", BLOCK_SIZE=8)
    for index in (-1, (1, -1), (slice(0, 2), 1, 3), (0, slice(None), slice(1, 4))):
        f, t = fbm[index], tbm[index]
        assert f.shape == t.shape, index
        for name in f._TENSOR_ATTRS:
            np.testing.assert_array_equal(getattr(f, name).numpy(), getattr(t, name).numpy(), err_msg=name)
    f, t = fbm._adjust(20, 30), tbm._adjust(20, 30)
    assert f.shape == t.shape and str(f) == str(t)
    for name in f._TENSOR_ATTRS:
        np.testing.assert_array_equal(getattr(f, name).numpy(), getattr(t, name).numpy(), err_msg=name)
