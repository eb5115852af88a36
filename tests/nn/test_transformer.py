"""nn.MultiheadAttention and the Transformer family against PyTorch: outputs, attention weights, input
and parameter gradients with PyTorch's weights loaded (same state-dict keys), every constructor option,
masks (float, bool, key padding, causal), batch_first, unbatched inputs, float64 gradchecks, errors.
Dropout is 0 or the modules are compared in training mode, where PyTorch takes no fused fast path."""
import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn as nn
from nn_helpers import assert_close, check_module, copy_state, t2f

TN = torch.nn


def rnd(*shape, dtype=np.float32):
    return np.random.randn(*shape).astype(dtype)


class Wrap:
    """Calls module(*inputs, **extra) where extra holds the masks (as each library's tensors)."""

    def __init__(self, mod, lib, **extra):
        self.mod, self.lib, self.extra = mod, lib, extra

    def __call__(self, *inputs):
        conv = (lambda a: torch.from_numpy(np.array(a, copy=True))) if self.lib is torch else \
            (lambda a: flambeau.from_numpy(np.array(a, copy=True)))
        kw = {k: (conv(v) if isinstance(v, np.ndarray) else v) for k, v in self.extra.items()}
        out = self.mod(*inputs, **kw)
        if isinstance(out, tuple) and out[1] is None:  # (output, None) without need_weights
            return out[0]
        return out

    def named_parameters(self):
        return self.mod.named_parameters()

    def named_buffers(self):
        return self.mod.named_buffers()


def check(tmod, fmod, inputs, dtype="float32", **extra):
    copy_state(tmod, fmod)
    return check_module(Wrap(tmod, torch, **extra), Wrap(fmod, flambeau, **extra), inputs, copy=False, dtype=dtype)


@pytest.mark.parametrize("kw", [dict(), dict(bias=False), dict(add_bias_kv=True), dict(add_zero_attn=True),
                                dict(kdim=5, vdim=7), dict(add_bias_kv=True, add_zero_attn=True)])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_matches_torch(kw, batch_first, need_weights):
    tm = TN.MultiheadAttention(16, 4, batch_first=batch_first, **kw)
    fm = nn.MultiheadAttention(16, 4, batch_first=batch_first, **kw)
    assert sorted(tm.state_dict()) == sorted(fm.state_dict())
    L, S, N = 5, 6, 3
    lead = (lambda n, t: (N, t, n)) if batch_first else (lambda n, t: (t, N, n))
    q, k, v = rnd(*lead(16, L)), rnd(*lead(kw.get("kdim", 16), S)), rnd(*lead(kw.get("vdim", 16), S))
    check(tm, fm, [q, k, v], need_weights=need_weights)


@pytest.mark.parametrize("average", [True, False])
def test_multihead_attention_masks(average):
    tm, fm = TN.MultiheadAttention(12, 3), nn.MultiheadAttention(12, 3)
    L, S, N = 4, 7, 2
    q, kv = rnd(L, N, 12), rnd(S, N, 12)
    kpm = np.zeros((N, S), bool)
    kpm[0, -3:] = True
    float_mask = rnd(L, S)
    bool_mask = np.triu(np.ones((L, S), bool), 3)
    per_head = rnd(N * 3, L, S)
    for extra in [dict(key_padding_mask=kpm), dict(attn_mask=float_mask), dict(attn_mask=bool_mask),
                  dict(attn_mask=per_head), dict(attn_mask=bool_mask, key_padding_mask=kpm),
                  dict(attn_mask=float_mask, key_padding_mask=kpm.astype(np.float32) * -1e9)]:
        for nw in (True, False):
            check(tm, fm, [q, kv, kv], need_weights=nw, average_attn_weights=average, **extra)


def test_multihead_attention_self_attention_and_unbatched():
    tm, fm = TN.MultiheadAttention(8, 2), nn.MultiheadAttention(8, 2)
    copy_state(tm, fm)
    x = rnd(5, 8)
    to, tw = tm(torch.from_numpy(x), torch.from_numpy(x), torch.from_numpy(x))
    fo, fw = fm(t2f(x), t2f(x), t2f(x))
    assert_close(fo, to)
    assert_close(fw, tw)
    xb = t2f(rnd(5, 2, 8), requires_grad=True)
    out, _ = fm(xb, xb, xb)  # one tensor for q, k and v: the packed projection
    out.sum().backward()
    tx = torch.from_numpy(xb.detach().numpy().copy()).requires_grad_(True)
    tm(tx, tx, tx)[0].sum().backward()
    assert_close(xb.grad, tx.grad)


def test_multihead_attention_causal_hint():
    tm, fm = TN.MultiheadAttention(8, 2), nn.MultiheadAttention(8, 2)
    x = rnd(6, 2, 8)
    mask = TN.Transformer.generate_square_subsequent_mask(6).numpy()
    check(tm, fm, [x, x, x], attn_mask=mask, is_causal=True, need_weights=False)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        fm(t2f(x), t2f(x), t2f(x), is_causal=True)


def test_multihead_attention_gradcheck_float64():
    fm = nn.MultiheadAttention(6, 2, add_bias_kv=True).double()
    q = flambeau.randn(3, 2, 6, dtype=flambeau.float64, requires_grad=True)
    kv = flambeau.randn(4, 2, 6, dtype=flambeau.float64, requires_grad=True)
    mask = flambeau.randn(3, 4, dtype=flambeau.float64)
    assert flambeau.autograd.gradcheck(lambda a, b: fm(a, b, b, attn_mask=mask)[0], (q, kv), eps=1e-6, atol=1e-5,
                                       rtol=1e-3)


def test_multihead_attention_errors_and_init():
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="embed_dim and num_heads must be greater than 0"):
        nn.MultiheadAttention(0, 2)
    fm = nn.MultiheadAttention(8, 2)
    assert float(fm.in_proj_bias.abs().sum()) == 0 and float(fm.out_proj.bias.abs().sum()) == 0
    bound = (6 / (8 + 24)) ** 0.5  # xavier_uniform_ of the [24, 8] packed weight
    assert float(fm.in_proj_weight.abs().max()) <= bound
    with pytest.raises(AssertionError, match="key_padding_mask shape"):
        fm(t2f(rnd(3, 2, 8)), t2f(rnd(4, 2, 8)), t2f(rnd(4, 2, 8)), key_padding_mask=flambeau.zeros(2, 3,
                                                                                                    dtype=flambeau.bool))
    with pytest.raises(RuntimeError, match="The shape of the 2D attn_mask"):
        fm(t2f(rnd(3, 2, 8)), t2f(rnd(4, 2, 8)), t2f(rnd(4, 2, 8)), attn_mask=flambeau.zeros(3, 3))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer_matches_torch(norm_first, activation, batch_first):
    kw = dict(dim_feedforward=32, dropout=0.0, activation=activation, norm_first=norm_first, batch_first=batch_first)
    tm, fm = TN.TransformerEncoderLayer(16, 4, **kw), nn.TransformerEncoderLayer(16, 4, **kw)
    assert sorted(tm.state_dict()) == sorted(fm.state_dict())
    x = rnd(3, 5, 16) if batch_first else rnd(5, 3, 16)  # batch 3, length 5
    check(tm, fm, [x])
    check(tm, fm, [x], src_mask=TN.Transformer.generate_square_subsequent_mask(5).numpy())
    kpm = np.zeros((3, 5), bool)
    kpm[1, -2:] = True
    check(tm, fm, [x], src_key_padding_mask=kpm)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(norm_first):
    kw = dict(dim_feedforward=24, dropout=0.0, norm_first=norm_first, batch_first=True)
    tm, fm = TN.TransformerDecoderLayer(8, 2, **kw), nn.TransformerDecoderLayer(8, 2, **kw)
    assert sorted(tm.state_dict()) == sorted(fm.state_dict())
    tgt, mem = rnd(2, 4, 8), rnd(2, 6, 8)
    mask = TN.Transformer.generate_square_subsequent_mask(4).numpy()
    mkpm = np.zeros((2, 6), bool)
    mkpm[0, -1] = True
    check(tm, fm, [tgt, mem], tgt_mask=mask, memory_key_padding_mask=mkpm)


def test_stacks_and_transformer_match_torch():
    torch.manual_seed(3)
    enc_t = TN.TransformerEncoder(TN.TransformerEncoderLayer(8, 2, 16, 0.0), 2, norm=TN.LayerNorm(8))
    enc_f = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, 0.0), 2, norm=nn.LayerNorm(8))
    assert sorted(enc_t.state_dict()) == sorted(enc_f.state_dict())
    enc_t.train(), enc_f.train()
    check(enc_t, enc_f, [rnd(5, 3, 8)])
    dec_t = TN.TransformerDecoder(TN.TransformerDecoderLayer(8, 2, 16, 0.0), 2)
    dec_f = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, 0.0), 2)
    check(dec_t, dec_f, [rnd(4, 3, 8), rnd(5, 3, 8)])
    tt = TN.Transformer(8, 2, 2, 2, 16, 0.0, batch_first=True)
    ft = nn.Transformer(8, 2, 2, 2, 16, 0.0, batch_first=True)
    assert sorted(tt.state_dict()) == sorted(ft.state_dict())
    mask = TN.Transformer.generate_square_subsequent_mask(4).numpy()
    check(tt, ft, [rnd(3, 5, 8), rnd(3, 4, 8)], tgt_mask=mask)


def test_square_subsequent_mask_and_transformer_errors():
    m = nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(m.numpy(), TN.Transformer.generate_square_subsequent_mask(4).numpy())
    t = nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        t(flambeau.randn(4, 2, 8), flambeau.randn(4, 3, 8))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to d_model"):
        t(flambeau.randn(4, 2, 6), flambeau.randn(4, 2, 6))
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")


def test_tiny_transformer_learns_to_copy():
    # A one-layer encoder over one-hot tokens learns the identity map: the loss falls by far.
    flambeau.manual_seed(0)
    emb = nn.Embedding(6, 16)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True), 1)
    head = nn.Linear(16, 6)
    params = list(emb.parameters()) + list(enc.parameters()) + list(head.parameters())
    opt = flambeau.optim.Adam(params, lr=1e-2)
    x = flambeau.randint(0, 6, (32, 7))
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(head(enc(emb(x))).reshape(-1, 6), x.reshape(-1))
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss)
    assert float(loss) < 0.1 * first


def _encoder_pair(**layer_kw):
    """(torch encoder, flambeau encoder, the warnings each constructor gave), same weights, eval mode."""
    import warnings
    enc_kw = {k: layer_kw.pop(k) for k in ("enable_nested_tensor", "mask_check", "final_norm") if k in layer_kw}
    final_norm = enc_kw.pop("final_norm", False)
    made = []
    for lib in (torch, flambeau):
        layer_kw_lib = dict(layer_kw)
        if layer_kw_lib.get("activation") == "gelu_fn":
            layer_kw_lib["activation"] = lib.nn.functional.gelu
        elif layer_kw_lib.get("activation") == "tanh_fn":
            layer_kw_lib["activation"] = lib.tanh
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            layer = lib.nn.TransformerEncoderLayer(**layer_kw_lib)
            enc = lib.nn.TransformerEncoder(layer, 2, norm=lib.nn.LayerNorm(layer_kw["d_model"]) if final_norm else None,
                                            **enc_kw)
        made.append((enc, sorted(str(w.message) for w in caught if "nested" in str(w.message))))
    (tenc, twarn), (fenc, fwarn) = made
    copy_state(tenc, fenc)
    return tenc.eval(), fenc.eval(), twarn, fwarn


@pytest.mark.parametrize("layer_kw", [
    dict(batch_first=True), dict(batch_first=True, activation="gelu"), dict(batch_first=True, activation="gelu_fn"),
    dict(batch_first=True, activation="tanh_fn"), dict(batch_first=True, norm_first=True), dict(batch_first=False),
    dict(batch_first=True, nhead=1), dict(batch_first=True, bias=False), dict(batch_first=True, layer_norm_eps=1e-6),
    dict(batch_first=True, enable_nested_tensor=False), dict(batch_first=True, final_norm=True),
    dict(batch_first=True, mask_check=False)])
def test_encoder_inference_pads_with_zeros_like_torch(layer_kw):
    """PyTorch's TransformerEncoder, in inference with a key-padding mask, runs on nested tensors and returns 0
    at padded positions (then the final norm), under conditions set by the layer: the same numbers here, and
    the same constructor warning when enable_nested_tensor cannot be honoured."""
    kw = dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0)
    kw.update(layer_kw)
    tenc, fenc, twarn, fwarn = _encoder_pair(**kw)
    assert fwarn == twarn
    N, S = 3, 6
    x = rnd(N, S, 8) if kw.get("batch_first") else rnd(S, N, 8)
    pad = np.zeros((N, S), bool)
    pad[0, 4:] = True
    pad[2, 1:] = True
    for mask in (pad, np.where(pad, -1e9, 0.0).astype(np.float32)):
        with torch.no_grad():
            want = tenc(torch.from_numpy(x), src_key_padding_mask=torch.from_numpy(mask))
        with flambeau.no_grad():
            got = fenc(flambeau.from_numpy(x), src_key_padding_mask=flambeau.from_numpy(mask))
        assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_encoder_pads_with_zeros_only_under_torch_conditions():
    """Training mode, grad enabled, a src mask as well, a padding mask that is not left aligned (unless
    mask_check=False) and a disabled fast path all keep the computed values at padded positions, as in PyTorch."""
    tenc, fenc, _, _ = _encoder_pair(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True)
    x = rnd(2, 5, 8)
    pad = np.zeros((2, 5), bool)
    pad[0, 3:] = True
    not_left_aligned = np.zeros((2, 5), bool)
    not_left_aligned[1, :2] = True
    causal = TN.Transformer.generate_square_subsequent_mask(5).numpy()

    def both(fn):
        with torch.no_grad():
            want = fn(tenc, torch)
        with flambeau.no_grad():
            got = fn(fenc, flambeau)
        assert_close(got, want, atol=1e-5, rtol=1e-4)
        return to_np_(got)

    t = lambda lib, a: lib.from_numpy(np.array(a, copy=True))  # noqa: E731
    out = both(lambda e, lib: e(t(lib, x), src_key_padding_mask=t(lib, pad)))
    assert (out[0, 3:] == 0).all() and (out[0, :3] != 0).all()
    out = both(lambda e, lib: e(t(lib, x), src_key_padding_mask=t(lib, not_left_aligned)))
    assert (out[1, :2] != 0).all()
    out = both(lambda e, lib: e(t(lib, x), mask=t(lib, causal), src_key_padding_mask=t(lib, pad)))
    assert (out[0, 3:] != 0).all()
    for e in (tenc, fenc):
        e.layers[0].train()
    out = both(lambda e, lib: e(t(lib, x), src_key_padding_mask=t(lib, pad)))
    assert (out[0, 3:] != 0).all()
    for e in (tenc, fenc):
        e.layers[0].eval()
    for lib in (torch, flambeau):
        lib.backends.mha.set_fastpath_enabled(False)
    try:
        out = both(lambda e, lib: e(t(lib, x), src_key_padding_mask=t(lib, pad)))
        assert (out[0, 3:] != 0).all()
    finally:
        for lib in (torch, flambeau):
            lib.backends.mha.set_fastpath_enabled(True)
    assert flambeau.backends.mha.get_fastpath_enabled()
    # grad enabled with parameters that require grad: the ordinary path, differentiable
    want = tenc(torch.from_numpy(x), src_key_padding_mask=torch.from_numpy(pad))
    got = fenc(flambeau.from_numpy(x), src_key_padding_mask=flambeau.from_numpy(pad))
    assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert got.requires_grad and (to_np_(got)[0, 3:] != 0).all()


def to_np_(t):
    return t.detach().cpu().numpy()


def _mask_warnings(fn):
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in caught if "mismatched" in str(w.message)]


def test_mismatched_mask_types_warn_like_torch():
    """A bool key-padding mask with a float attention mask (the translation tutorial's masks) still works and
    gives PyTorch's deprecation warning; so does TransformerEncoder's pair of masks. Same types: no warning."""
    L, N = 4, 2
    x = rnd(L, N, 8)
    pad = np.zeros((N, L), bool)
    pad[1, -1] = True
    float_causal = TN.Transformer.generate_square_subsequent_mask(L).numpy()
    bool_causal = np.triu(np.ones((L, L), bool), 1)
    tm, fm = TN.MultiheadAttention(8, 2), nn.MultiheadAttention(8, 2)
    copy_state(tm, fm)
    tenc = TN.TransformerEncoder(TN.TransformerEncoderLayer(8, 2, 16, 0.0), 2, enable_nested_tensor=False)
    fenc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, 0.0), 2, enable_nested_tensor=False)
    copy_state(tenc, fenc)
    for attn_mask in (float_causal, bool_causal):
        for lib, mha, enc in ((torch, tm, tenc), (flambeau, fm, fenc)):
            t = lambda a: lib.from_numpy(np.array(a, copy=True))  # noqa: E731
            out, warned = _mask_warnings(lambda: mha(t(x), t(x), t(x), key_padding_mask=t(pad), attn_mask=t(attn_mask))[0])
            enc_out, enc_warned = _mask_warnings(lambda: enc(t(x), mask=t(attn_mask), src_key_padding_mask=t(pad)))
            if lib is torch:
                want = (to_np_(out), warned, to_np_(enc_out), enc_warned)
            else:
                got = (to_np_(out), warned, to_np_(enc_out), enc_warned)
        assert_close(got[0], want[0])
        assert_close(got[2], want[2])
        assert got[1] == want[1] and got[3] == want[3]
        assert bool(want[1]) == (attn_mask.dtype != bool)
