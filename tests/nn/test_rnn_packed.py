"""nn.utils.rnn (PackedSequence, pack/pad and their inverses) and recurrent layers on packed input and
with LSTM proj_size, against PyTorch: packed outputs, h_n / c_n (each sequence's own last step, reverse
direction from each sequence's own last element, sorted/unsorted permutations), gradients of the padded
input, of the initial states and of every parameter; round trips and their gradients; errors."""
import zlib

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn as nn
from flambeau.nn.utils import rnn as frnn
from nn_helpers import assert_close, copy_state, n2t, t2f

TN = torch.nn
trnn = torch.nn.utils.rnn


def rnd(rng, *shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def make(cls, input_size, hidden, **kw):
    if cls in ("RNN_TANH", "RNN_RELU"):
        kw["nonlinearity"] = "tanh" if cls == "RNN_TANH" else "relu"
        cls = "RNN"
    tm, fm = getattr(TN, cls)(input_size, hidden, **kw), getattr(nn, cls)(input_size, hidden, **kw)
    assert list(tm.state_dict()) == list(fm.state_dict())
    assert [n for n, _ in tm.named_parameters()] == [n for n, _ in fm.named_parameters()]
    copy_state(tm, fm)
    return tm, fm


def run_packed_both(tm, fm, lstm, x, lengths, enforce_sorted, batch_first, states, rng, dtype="float32"):
    """Pack x (numpy, padded) in both libraries, run the modules, compare outputs, final states and the
    gradients of x, the initial states and every parameter."""
    tx, fx = n2t(x, True), t2f(x, requires_grad=True)
    ts, fs = [n2t(s, True) for s in states], [t2f(s, requires_grad=True) for s in states]
    tp = trnn.pack_padded_sequence(tx, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    fp = frnn.pack_padded_sequence(fx, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    thx = (tuple(ts) if lstm else ts[0]) if ts else None
    fhx = (tuple(fs) if lstm else fs[0]) if fs else None
    tout, thid = tm(tp, thx)
    fout, fhid = fm(fp, fhx)
    assert isinstance(fout, frnn.PackedSequence)
    assert fout.batch_sizes.tolist() == tout.batch_sizes.tolist()
    for a, b in ((fout.sorted_indices, tout.sorted_indices), (fout.unsorted_indices, tout.unsorted_indices)):
        assert (a is None) == (b is None) and (a is None or a.tolist() == b.tolist())
    touts = [tout.data] + (list(thid) if lstm else [thid])
    fouts = [fout.data] + (list(fhid) if lstm else [fhid])
    for i, (a, e) in enumerate(zip(fouts, touts)):
        assert_close(a, e, dtype, f"output {i}")
    # padded back, as a model would use it
    tpad, tlen = trnn.pad_packed_sequence(tout, batch_first=batch_first)
    fpad, flen = frnn.pad_packed_sequence(fout, batch_first=batch_first)
    assert_close(fpad, tpad, dtype, "padded output")
    assert flen.tolist() == tlen.tolist()
    tl, fl = 0, 0
    for a, e in zip(fouts + [fpad], touts + [tpad]):
        g = rnd(rng, *e.shape, dtype=np.dtype(dtype))
        tl = tl + (e * n2t(g)).sum()
        fl = fl + (a * t2f(g)).sum()
    tl.backward()
    fl.backward()
    assert_close(fx.grad, tx.grad, dtype, "grad of input")
    for i, (a, e) in enumerate(zip(fs, ts)):
        assert_close(a.grad, e.grad, dtype, f"grad of state {i}")
    fparams = dict(fm.named_parameters())
    for name, tp_ in tm.named_parameters():
        assert_close(fparams[name].grad, tp_.grad, dtype, f"grad of {name}")


OPTIONS = [dict(), dict(num_layers=2), dict(bidirectional=True), dict(num_layers=2, bidirectional=True),
           dict(batch_first=True, bidirectional=True), dict(bias=False, bidirectional=True)]


@pytest.mark.parametrize("cls", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
@pytest.mark.parametrize("kw", OPTIONS, ids=[str(k) for k in OPTIONS])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_layers_match_torch(cls, kw, enforce_sorted):
    rng = np.random.default_rng(zlib.crc32(f"{cls}{kw}{enforce_sorted}".encode()))
    tm, fm = make(cls, 3, 4, **kw)
    lstm = cls == "LSTM"
    lengths = [5, 5, 3, 1] if enforce_sorted else [3, 5, 1, 5]
    T, B = 6, 4  # padded longer than the longest sequence
    batch_first = kw.get("batch_first", False)
    x = rnd(rng, B, T, 3) if batch_first else rnd(rng, T, B, 3)
    k = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    for with_state in (False, True):
        fm.zero_grad()
        tm.zero_grad()
        states = [rnd(rng, k, B, 4) for _ in range(2 if lstm else 1)] if with_state else []
        run_packed_both(tm, fm, lstm, x, lengths, enforce_sorted, batch_first, states, rng)


@pytest.mark.parametrize("lengths", [[1], [4], [1, 1, 1], [4, 4], [2, 4, 1, 3, 2]])
def test_packed_lstm_gru_corner_lengths(lengths):
    rng = np.random.default_rng(len(lengths))
    for cls in ("LSTM", "GRU"):
        tm, fm = make(cls, 2, 3, bidirectional=True)
        x = rnd(rng, max(lengths), len(lengths), 2)
        k = [rnd(rng, 2, len(lengths), 3) for _ in range(2 if cls == "LSTM" else 1)]
        run_packed_both(tm, fm, cls == "LSTM", x, lengths, False, False, k, rng)


@pytest.mark.parametrize("kw", [dict(), dict(bidirectional=True), dict(num_layers=2, bidirectional=True),
                                dict(num_layers=2, batch_first=True, bias=False)],
                         ids=["plain", "bidir", "2layer-bidir", "2layer-bf-nobias"])
def test_lstm_proj_size_matches_torch(kw):
    rng = np.random.default_rng(7)
    tm, fm = make("LSTM", 3, 5, proj_size=2, **kw)
    dirs = 2 if kw.get("bidirectional") else 1
    sd_t, sd_f = tm.state_dict(), fm.state_dict()
    assert [(k, tuple(v.shape)) for k, v in sd_t.items()] == [(k, tuple(v.shape)) for k, v in sd_f.items()]
    assert any(k.startswith("weight_hr_l0") for k in sd_f)
    assert [[tuple(p.shape) for p in ws] for ws in fm.all_weights] == \
        [[tuple(p.shape) for p in ws] for ws in tm.all_weights]
    L, B = 4, 3
    batch_first = kw.get("batch_first", False)
    x = rnd(rng, B, L, 3) if batch_first else rnd(rng, L, B, 3)
    k = kw.get("num_layers", 1) * dirs
    h0, c0 = rnd(rng, k, B, 2), rnd(rng, k, B, 5)
    # unpacked, with and without states
    for states in ([], [h0, c0]):
        tm.zero_grad()
        fm.zero_grad()
        tx, fx = n2t(x, True), t2f(x, requires_grad=True)
        ts, fs = [n2t(s, True) for s in states], [t2f(s, requires_grad=True) for s in states]
        to, (th, tc) = tm(tx, tuple(ts) if ts else None)
        fo, (fh, fc) = fm(fx, tuple(fs) if fs else None)
        assert tuple(fo.shape) == tuple(to.shape) and fo.shape[-1] == 2 * dirs and tuple(fh.shape) == (k, B, 2)
        loss_t, loss_f = 0, 0
        for a, e in ((fo, to), (fh, th), (fc, tc)):
            assert_close(a, e)
            g = rnd(rng, *e.shape)
            loss_t = loss_t + (e * n2t(g)).sum()
            loss_f = loss_f + (a * t2f(g)).sum()
        loss_t.backward()
        loss_f.backward()
        assert_close(fx.grad, tx.grad)
        for a, e in zip(fs, ts):
            assert_close(a.grad, e.grad)
        fp = dict(fm.named_parameters())
        for name, p in tm.named_parameters():
            assert_close(fp[name].grad, p.grad, msg=name)
    # packed, unsorted
    tm.zero_grad()
    fm.zero_grad()
    run_packed_both(tm, fm, True, x, [2, 4, 1], False, batch_first, [h0, c0], rng)


def test_lstm_proj_size_init_and_errors():
    m = nn.LSTM(3, 16, proj_size=4, num_layers=2, bidirectional=True)
    assert m.weight_hr_l1_reverse.shape == (4, 16) and m.weight_hh_l0.shape == (64, 4)
    assert m.weight_ih_l1.shape == (64, 8)
    assert all(float(p.abs().max()) <= 0.25 for p in m.parameters())
    names = [n for n, _ in m.named_parameters()]
    assert names[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]
    assert "proj_size=4" in repr(m)
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="proj_size should be a positive integer or zero"):
        nn.LSTM(3, 4, proj_size=-1)
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM, not RNN or GRU"):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        nn.RNN(3, 4, proj_size=2)
    m = nn.LSTM(3, 5, proj_size=2)
    x = flambeau.randn(4, 2, 3)
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 2, 2\), got \[1, 2, 5\]"):
        m(x, (flambeau.zeros(1, 2, 5), flambeau.zeros(1, 2, 5)))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(1, 2, 5\), got \[1, 2, 2\]"):
        m(x, (flambeau.zeros(1, 2, 2), flambeau.zeros(1, 2, 2)))


def test_lstm_proj_unbatched_matches_torch():
    tm, fm = make("LSTM", 3, 4, proj_size=2, bidirectional=True)
    rng = np.random.default_rng(3)
    x = rnd(rng, 5, 3)
    to, (th, tc) = tm(n2t(x))
    fo, (fh, fc) = fm(t2f(x))
    for a, e in ((fo, to), (fh, th), (fc, tc)):
        assert_close(a, e)


def test_packed_gradcheck_float64():
    m = nn.LSTM(2, 3, bidirectional=True, num_layers=2, proj_size=2).double()
    x = flambeau.randn(4, 3, 2, dtype=flambeau.float64, requires_grad=True)

    def f(a):
        out, (h, c) = m(frnn.pack_padded_sequence(a, [2, 4, 1], enforce_sorted=False))
        return out.data, h, c
    assert flambeau.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5, rtol=1e-3)


# ---------------------------------------------------------------- pack / pad


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted, lengths", [(True, [5, 4, 4, 2, 1]), (False, [2, 5, 1, 4, 4]),
                                                     (False, [3, 3, 3, 3, 3])])
@pytest.mark.parametrize("trailing", [(), (3,), (2, 3)])
def test_pack_pad_round_trip_and_gradients(batch_first, enforce_sorted, lengths, trailing):
    rng = np.random.default_rng(0)
    T, B = 6, len(lengths)
    x = rnd(rng, *((B, T) if batch_first else (T, B)), *trailing, dtype=np.float64)
    tx, fx = n2t(x, True), t2f(x, requires_grad=True)
    tp = trnn.pack_padded_sequence(tx, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    fp = frnn.pack_padded_sequence(fx, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    np.testing.assert_array_equal(fp.data.detach().numpy(), tp.data.detach().numpy())
    assert fp.batch_sizes.tolist() == tp.batch_sizes.tolist() and fp.batch_sizes.dtype == flambeau.int64
    assert fp.batch_sizes.device.type == "cpu"
    if enforce_sorted:
        assert fp.sorted_indices is None and fp.unsorted_indices is None
    else:
        assert fp.sorted_indices.tolist() == tp.sorted_indices.tolist()
        assert fp.unsorted_indices.tolist() == tp.unsorted_indices.tolist()
    for total_length in (None, 8):
        tpad, tl = trnn.pad_packed_sequence(tp, batch_first=batch_first, padding_value=-1.5,
                                            total_length=total_length)
        fpad, fl = frnn.pad_packed_sequence(fp, batch_first=batch_first, padding_value=-1.5,
                                            total_length=total_length)
        np.testing.assert_array_equal(fpad.detach().numpy(), tpad.detach().numpy())
        assert fl.tolist() == tl.tolist() and fl.dtype == flambeau.int64
    g = rnd(rng, *tpad.shape, dtype=np.float64)
    gd = rnd(rng, *tp.data.shape, dtype=np.float64)
    ((tpad * n2t(g)).sum() + (tp.data * n2t(gd)).sum()).backward()
    ((fpad * t2f(g)).sum() + (fp.data * t2f(gd)).sum()).backward()
    np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    # list helpers
    seqs = [rnd(rng, n, *trailing) for n in lengths]
    tps = trnn.pack_sequence([n2t(s) for s in seqs], enforce_sorted=enforce_sorted)
    fps = frnn.pack_sequence([t2f(s) for s in seqs], enforce_sorted=enforce_sorted)
    np.testing.assert_array_equal(fps.data.numpy(), tps.data.numpy())
    assert fps.batch_sizes.tolist() == tps.batch_sizes.tolist()
    back = frnn.unpack_sequence(fps)
    assert len(back) == len(seqs)
    for a, s in zip(back, seqs):
        np.testing.assert_array_equal(a.numpy(), s)
    padded = frnn.pad_sequence([t2f(s) for s in seqs], batch_first=batch_first)
    shape_before = tuple(padded.shape)
    for a, s in zip(frnn.unpad_sequence(padded, flambeau.tensor(lengths), batch_first=batch_first), seqs):
        np.testing.assert_array_equal(a.numpy(), s)
    assert tuple(padded.shape) == shape_before


def test_pack_sequence_gradients_and_unpack():
    rng = np.random.default_rng(1)
    seqs = [rnd(rng, n, 2, dtype=np.float64) for n in (2, 4, 1)]
    ts = [n2t(s, True) for s in seqs]
    fs = [t2f(s, requires_grad=True) for s in seqs]
    tp, fp = trnn.pack_sequence(ts, enforce_sorted=False), frnn.pack_sequence(fs, enforce_sorted=False)
    g = rnd(rng, *tp.data.shape, dtype=np.float64)
    (tp.data * n2t(g)).sum().backward()
    (fp.data * t2f(g)).sum().backward()
    for a, b in zip(fs, ts):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    # unpack_sequence is differentiable too
    fs2 = [t2f(s, requires_grad=True) for s in seqs]
    outs = frnn.unpack_sequence(frnn.pack_sequence(fs2, enforce_sorted=False))
    sum((o * (i + 1)).sum() for i, o in enumerate(outs)).backward()
    for i, a in enumerate(fs2):
        np.testing.assert_array_equal(a.grad.numpy(), np.full_like(seqs[i], i + 1))


def test_pad_sequence_padding_side_like_torch():
    rng = np.random.default_rng(2)
    seqs = [rnd(rng, n, 2) for n in (3, 1, 4)]
    for side in ("left", "right"):
        for bf in (False, True):
            a = frnn.pad_sequence([t2f(s) for s in seqs], batch_first=bf, padding_value=7.0, padding_side=side)
            b = trnn.pad_sequence([n2t(s) for s in seqs], batch_first=bf, padding_value=7.0, padding_side=side)
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(RuntimeError, match="Expected padding_side to be one of left or right, but got middle."):
        frnn.pad_sequence([flambeau.ones(2)], padding_side="middle")
    with pytest.raises(RuntimeError, match="Expected iterable for input sequences"):
        frnn.pad_sequence(3)


def test_packed_sequence_object():
    x = flambeau.randn(3, 2, 4)
    p = frnn.pack_padded_sequence(x, flambeau.tensor([1, 3]), enforce_sorted=False)
    data, batch_sizes, si, ui = p  # a 4-tuple, as torch's
    assert p[0] is data and len(p) == 4 and p._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
    assert repr(p).startswith("PackedSequence(data=tensor(")
    assert not p.is_cuda
    d = p.double()
    assert isinstance(d, frnn.PackedSequence) and d.data.dtype == flambeau.float64
    assert d.batch_sizes is p.batch_sizes and d.sorted_indices.tolist() == [1, 0]
    assert p.float() is p and p.to("cpu") is p and p.cpu() is p and p.to(flambeau.float32) is p
    assert p.to(dtype=flambeau.float64).data.dtype == flambeau.float64
    q = frnn.PackedSequence(data, batch_sizes, si)  # unsorted_indices derived
    assert q.unsorted_indices.tolist() == [1, 0]
    r = frnn.PackedSequence((data, batch_sizes))
    assert r.sorted_indices is None and r.unsorted_indices is None and r.data is data
    assert frnn.invert_permutation(flambeau.tensor([2, 0, 3, 1])).tolist() == [1, 3, 0, 2]
    assert frnn.invert_permutation(None) is None
    assert flambeau.nn.utils.rnn.PackedSequence is frnn.PackedSequence


def test_pack_errors_like_torch():
    x = flambeau.randn(4, 3, 2)
    with pytest.raises(RuntimeError, match="`lengths` array must be sorted in decreasing order when `enforce_sorted` "
                                           "is True. You can pass `enforce_sorted=False`"):
        frnn.pack_padded_sequence(x, [2, 3, 1])
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        frnn.pack_sequence([flambeau.ones(2), flambeau.ones(3)])
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0, but found an element in "
                                           "'lengths' that is <= 0"):
        frnn.pack_padded_sequence(x, [3, 2, 0])
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        frnn.pack_padded_sequence(x, [0, 2, 3], enforce_sorted=False)
    with pytest.raises(RuntimeError, match=r"Expected `len\(lengths\)` to be equal to batch_size, but got 2 "
                                           r"\(batch_size=3\)"):
        frnn.pack_padded_sequence(x, [3, 2])
    # torch reads past the input here; flambeau refuses
    with pytest.raises(RuntimeError, match=r"a sequence length \(5\) exceeds the input's sequence dimension \(4\)"):
        frnn.pack_padded_sequence(x, [5, 3, 1])
    with pytest.raises(RuntimeError, match=r"exceeds the input's sequence dimension \(3\)"):
        frnn.pack_padded_sequence(flambeau.randn(2, 3, 5), [1, 4], batch_first=True, enforce_sorted=False)
    with pytest.raises(RuntimeError, match="'lengths' argument should be a 1D CPU int64 tensor, but got 2D"):
        frnn.pack_padded_sequence(x, flambeau.tensor([[3, 2, 1]]))
    with pytest.raises(RuntimeError, match="Cannot pack empty tensors."):
        frnn.pack_padded_sequence(flambeau.randn(0, 3, 2), [1, 1, 1])
    p = frnn.pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(ValueError, match="Expected total_length to be at least the length of the longest sequence in "
                                         "input, but got total_length=2 and max sequence length being 3"):
        frnn.pad_packed_sequence(p, total_length=2)
    # float lengths are truncated to int64, as torch
    assert frnn.pack_padded_sequence(x, flambeau.tensor([3.0, 2.0, 1.0])).batch_sizes.tolist() == [3, 2, 1]


def test_recurrent_layer_errors_on_packed_input():
    x = flambeau.randn(4, 3, 2)
    p = frnn.pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 5, got 2"):
        nn.LSTM(5, 4)(p)
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 3, 4\), got \[1, 2, 4\]"):
        nn.GRU(2, 4)(p, flambeau.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="RNN input dtype .* does not match weight dtype"):
        nn.GRU(2, 4).double()(p)
    with pytest.raises(RuntimeError, match="For batched 3-D input, hx should also be 3-D but got 2-D tensor"):
        nn.GRU(2, 4)(x, flambeau.zeros(3, 4))
    with pytest.raises(RuntimeError, match=r"hx and cx should also be 3-D but got \(2-D, 3-D\) tensors"):
        nn.LSTM(2, 4)(x, (flambeau.zeros(3, 4), flambeau.zeros(1, 3, 4)))


def test_packed_model_trains_like_a_script():
    # an NLP-style script: embed, pack, LSTM, unpack, classify from h_n
    flambeau.manual_seed(0)
    emb, lstm, head = nn.Embedding(10, 4, padding_idx=0), nn.LSTM(4, 8, batch_first=True, bidirectional=True), \
        nn.Linear(16, 2)
    params = list(emb.parameters()) + list(lstm.parameters()) + list(head.parameters())
    opt = flambeau.optim.Adam(params, lr=0.05)
    rng = np.random.default_rng(0)
    lens = rng.integers(1, 7, size=16)
    toks = np.zeros((16, 6), np.int64)
    for i, n in enumerate(lens):
        toks[i, :n] = rng.integers(1, 10, size=n)
    y = flambeau.tensor((toks == 3).any(1).astype(np.int64))
    first = None
    for _ in range(40):
        opt.zero_grad()
        packed = frnn.pack_padded_sequence(emb(flambeau.tensor(toks)), flambeau.tensor(lens), batch_first=True,
                                           enforce_sorted=False)
        out, (h, c) = lstm(packed)
        padded, got_lens = frnn.pad_packed_sequence(out, batch_first=True)
        assert got_lens.tolist() == lens.tolist() and padded.shape[1] == lens.max()
        loss = nn.functional.cross_entropy(head(flambeau.cat([h[0], h[1]], 1)), y)
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss)
    assert float(loss) < 0.5 * first
