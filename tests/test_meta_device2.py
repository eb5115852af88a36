"""The meta device, round 2, against PyTorch's: the default device (set_default_device('meta'),
`with device('meta'):`), shape rules for what vision/transformer/recurrent models call, whole models moved to
meta and run there, and autograd on meta tensors (grad_fn, requires_grad, .backward() giving meta grads)."""
import numpy as np
import pytest
import torch

import flambeau as fl
from flambeau import nn


def _same_meta(a, b):
    """flambeau meta tensor a describes what torch meta tensor b does."""
    assert a.is_meta and b.is_meta, (a, b)
    assert tuple(a.shape) == tuple(b.shape), (tuple(a.shape), tuple(b.shape))
    assert str(a.dtype).split(".")[1] == str(b.dtype).split(".")[1], (a.dtype, b.dtype)
    assert a.requires_grad == b.requires_grad, (a.requires_grad, b.requires_grad)


@pytest.fixture
def restore_default_device():
    yield
    fl.set_default_device(None)
    torch.set_default_device(None)


# ---------------------------------------------------------------- the default device
def _factories(m):
    return [m.empty(2, 3), m.zeros(4, dtype=m.int64), m.ones((1, 2), requires_grad=True), m.full((2,), 1.5),
            m.full((3,), 7), m.rand(2, 2), m.randn(5), m.randint(0, 9, (3, 2)), m.randperm(6), m.eye(3, 5),
            m.arange(7), m.arange(0, 1, 0.25), m.linspace(0, 1, 9), m.logspace(0, 2, 4), m.tensor([[1.0, 2.0]]),
            m.tensor(3), m.tensor([True, False], requires_grad=False), m.as_tensor([1, 2, 3]),
            m.scalar_tensor(2.0), m.empty_strided((2, 3), (1, 2)), m.tril_indices(4, 4), m.triu_indices(3, 5, 1),
            m.hann_window(8), m.fft.fftfreq(6), m.empty_permuted((2, 3, 4), (0, 2, 1))]


def test_set_default_device_meta(restore_default_device):
    fl.set_default_device("meta")
    torch.set_default_device("meta")
    assert str(fl.get_default_device()) == str(torch.get_default_device()) == "meta"
    ours, theirs = _factories(fl), _factories(torch)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        try:
            _same_meta(a, b)
        except AssertionError as e:
            raise AssertionError(f"factory #{k}: {e}")
    assert fl.empty_strided((2, 3), (1, 2)).stride() == (1, 2)
    # the *_like functions follow their input, from_numpy and Tensor() stay on cpu, as PyTorch's
    cpu = fl.zeros(2, 3, device="cpu")
    assert fl.zeros_like(cpu).device.type == "cpu" and fl.randn_like(cpu).device.type == "cpu"
    assert fl.from_numpy(np.zeros(3)).device.type == "cpu" and fl.Tensor(2, 3).device.type == "cpu"
    # as_tensor of a cpu tensor moves it, as the DeviceContext does in PyTorch
    assert fl.as_tensor(cpu).is_meta == torch.as_tensor(torch.zeros(2, 3, device="cpu")).is_meta is True
    # an explicit device wins
    assert fl.ones(2, device="cpu").device.type == "cpu"
    assert float(fl.ones(2, device="cpu").sum()) == 2.0
    fl.set_default_device("cpu")
    assert fl.empty(2).device.type == "cpu" and str(fl.get_default_device()) == "cpu"
    fl.set_default_device(fl.device("meta"))
    assert fl.empty(2).is_meta
    fl.set_default_device(None)
    assert fl.tensor([1.0]).device.type == "cpu"


def test_device_context_manager_nests_and_restores():
    with fl.device("meta") as d:
        assert d == fl.device("meta") and str(fl.get_default_device()) == "meta"
        assert fl.empty(3).is_meta and fl.tensor([1, 2]).is_meta
        with fl.device("cpu"):
            x = fl.arange(4)
            assert x.device.type == "cpu" and x.tolist() == [0, 1, 2, 3]
        assert fl.zeros(1).is_meta
    assert fl.empty(3).device.type == "cpu"
    with pytest.raises(KeyError):
        with fl.device("meta"):
            raise KeyError("x")
    assert fl.empty(3).device.type == "cpu" and str(fl.get_default_device()) == "cpu"
    with pytest.raises(RuntimeError):
        with fl.device("nonsense"):
            pass
    assert fl.empty(3).device.type == "cpu"


def _built(m):
    return [m.nn.Linear(5, 3), m.nn.Conv2d(3, 8, 3, bias=False), m.nn.BatchNorm2d(4), m.nn.LayerNorm(6),
            m.nn.Embedding(10, 4, padding_idx=1), m.nn.LSTM(4, 6, num_layers=2, batch_first=True),
            m.nn.MultiheadAttention(8, 2), m.nn.GroupNorm(2, 4), m.nn.TransformerEncoderLayer(8, 2, 16)]


def test_modules_built_in_meta_context():
    with fl.device("meta"):
        ours = _built(fl)
    with torch.device("meta"):
        theirs = _built(torch)
    for a, b in zip(ours, theirs):
        sa, sb = a.state_dict(), b.state_dict()
        assert list(sa) == list(sb)
        for k in sa:
            _same_meta(sa[k], sb[k])
        for (ka, pa), (kb, pb) in zip(a.named_parameters(), b.named_parameters()):
            assert ka == kb and isinstance(pa, nn.Parameter) and pa.requires_grad
    # and they can be materialised afterwards
    lin = ours[0].to_empty(device="cpu")
    assert lin.weight.device.type == "cpu" and lin(fl.ones(2, 5)).shape == (2, 3)


# ---------------------------------------------------------------- shape rules
def _ops(m, x4, w, i1, A, x3, v, idx, tgt):
    """x4 (2, 3, 9, 10), w (4, 3, 3, 3), i1 int32 (5,), A (2, 4, 4), x3 (2, 3, 4), v (5, 4), idx int64 [0 2 1 2],
    tgt int64 (2, 4) in [0, 3): all meta."""
    F, L = m.nn.functional, m.linalg
    x5 = x4.unsqueeze(2).expand(2, 3, 4, 9, 10)
    q = x3.transpose(0, 1)[:, :, :4].repeat(1, 1, 2)
    return {
        "conv2d": lambda: F.conv2d(x4, w, None, 2, 1),
        "conv2d_same": lambda: F.conv2d(x4, w, padding="same", dilation=2),
        "conv2d_valid": lambda: F.conv2d(x4, w, w[:, 0, 0, 0], padding="valid"),
        "conv2d_unbatched": lambda: F.conv2d(x4[0], w),
        "conv2d_groups": lambda: F.conv2d(x4, w[:, :1].repeat(3, 1, 1, 1), groups=3, stride=(1, 2)),
        "conv1d": lambda: F.conv1d(x3, w[:, :, 0], padding=1, stride=2),
        "conv3d": lambda: F.conv3d(x5, w.unsqueeze(2), padding=(1, 0, 2)),
        "conv_transpose2d": lambda: F.conv_transpose2d(x4, w.transpose(0, 1), stride=2, padding=1, output_padding=1),
        "conv_transpose1d": lambda: F.conv_transpose1d(x3, w[:, :, 0].transpose(0, 1), stride=3, dilation=2),
        "conv_transpose3d": lambda: F.conv_transpose3d(x5, w.transpose(0, 1).unsqueeze(2), stride=(1, 2, 2)),
        "max_pool2d": lambda: F.max_pool2d(x4, 3, 2, 1),
        "max_pool2d_ceil": lambda: F.max_pool2d(x4, 2, ceil_mode=True),
        "max_pool2d_values": lambda: F.max_pool2d(x4, (2, 3), return_indices=True)[0],
        "max_pool2d_indices": lambda: F.max_pool2d(x4, (2, 3), return_indices=True)[1],
        "max_pool1d": lambda: F.max_pool1d(x3, 2, 1, dilation=2),
        "max_pool3d": lambda: F.max_pool3d(x5, 2),
        "avg_pool2d": lambda: F.avg_pool2d(x4, 3, 2, 1, ceil_mode=True),
        "avg_pool1d": lambda: F.avg_pool1d(x3, 2),
        "avg_pool3d": lambda: F.avg_pool3d(x5, (1, 2, 3)),
        "adaptive_avg_pool2d": lambda: F.adaptive_avg_pool2d(x4, (1, None)),
        "adaptive_avg_pool1d": lambda: F.adaptive_avg_pool1d(x3, 4),
        "adaptive_max_pool2d": lambda: F.adaptive_max_pool2d(x4, 3),
        "adaptive_max_pool2d_indices": lambda: F.adaptive_max_pool2d(x4, 3, return_indices=True)[1],
        "lp_pool2d": lambda: F.lp_pool2d(x4, 2, 3),
        "interpolate_scale": lambda: F.interpolate(x4, scale_factor=2.5, mode="bilinear"),
        "interpolate_size": lambda: F.interpolate(x4, size=(5, 7)),
        "interpolate_1d": lambda: F.interpolate(x3, scale_factor=3),
        "pad": lambda: F.pad(x4, (1, 2, 0, 3)),
        "pad_negative": lambda: F.pad(x4, (-1, 2)),
        "pad_reflect": lambda: F.pad(x4, (1, 1, 2, 2), mode="reflect"),
        "index_tensor": lambda: x3[idx[:2]],
        "index_tensor_dim1": lambda: x3[:, idx],
        "index_separated": lambda: x4[idx, :, idx],
        "index_int_then_tensor": lambda: x4[0, :, idx],
        "index_adjacent": lambda: x4[:, idx, idx[:1]],
        "index_2d_tensor": lambda: x3[:, tgt],
        "index_broadcast": lambda: x3[idx[:2, None], :, idx[None, :]],
        "index_true": lambda: x3[True],
        "index_none_ellipsis": lambda: x3[None, ..., idx[:2]],
        "index_select": lambda: x3.index_select(2, idx),
        "gather": lambda: m.gather(x3, 1, tgt[:, :2, None].expand(2, 2, 4)),
        "scatter": lambda: x3.scatter(1, tgt[:, :2, None].expand(2, 2, 4), 1.0),
        "scatter_add": lambda: x3.scatter_add(1, tgt[:, :2, None].expand(2, 2, 4), x3),
        "index_add": lambda: x3.index_add(2, idx[:2], x3[:, :, :2]),
        "index_fill": lambda: x3.index_fill(1, idx[:2], 0.5),
        "take_along_dim": lambda: m.take_along_dim(x3, tgt[:, None, :1], 2),
        "embedding_bag": lambda: F.embedding_bag(tgt.flatten(), v, idx[:3]),
        "embedding_bag_2d": lambda: F.embedding_bag(tgt, v, mode="sum"),
        "one_hot": lambda: F.one_hot(tgt, 5),
        "sort_values": lambda: x3.sort(1)[0], "sort_indices": lambda: m.sort(x3, descending=True).indices,
        "argsort": lambda: x3.argsort(0), "topk_values": lambda: x3.topk(3)[0],
        "topk_indices": lambda: m.topk(x3, 2, dim=1).indices, "kthvalue": lambda: x3.kthvalue(2, 1).values,
        "median_dim": lambda: x3.median(-1).indices, "median": lambda: x3.median(),
        "mode": lambda: x3.mode(1, keepdim=True)[0],
        "cumsum_int32": lambda: i1.cumsum(0), "cumsum": lambda: x3.cumsum(-1),
        "cumprod_dtype": lambda: x3.cumprod(1, dtype=m.float64), "cummax": lambda: x3.cummax(2).indices,
        "logcumsumexp": lambda: x3.logcumsumexp(0),
        "inv": lambda: L.inv(A), "det": lambda: L.det(A), "slogdet": lambda: L.slogdet(A).logabsdet,
        "solve": lambda: L.solve(A, A[..., :2]), "solve_vector": lambda: L.solve(A, A[0, 0]),
        "qr_Q": lambda: L.qr(A[:, :, :3]).Q, "qr_complete_R": lambda: L.qr(A[:, :, :3], mode="complete").R,
        "svd_U": lambda: L.svd(A[:, :3]).U, "svd_S": lambda: L.svd(A[:, :3], full_matrices=False).S,
        "svd_Vh": lambda: L.svd(A[:, :3], full_matrices=False).Vh, "torch_svd_V": lambda: m.svd(A[:, :3])[2],
        "svdvals": lambda: L.svdvals(A[:, :3]),
        "eigh_values": lambda: L.eigh(A).eigenvalues, "eigh_vectors": lambda: L.eigh(A)[1],
        "eigvalsh": lambda: L.eigvalsh(A), "eig": lambda: L.eig(A)[0], "eigvals": lambda: L.eigvals(A),
        "cholesky": lambda: L.cholesky(A), "torch_cholesky": lambda: m.cholesky(A), "pinv": lambda: L.pinv(A[:, :2]),
        "matrix_rank": lambda: L.matrix_rank(A), "matrix_exp": lambda: L.matrix_exp(A),
        "matrix_power": lambda: L.matrix_power(A, 3), "vector_norm": lambda: L.vector_norm(x3, dim=1),
        "matrix_norm": lambda: L.matrix_norm(A), "linalg_norm": lambda: L.norm(A, dim=(1, 2)),
        "cross": lambda: L.cross(x3[:, :, :3], x3[:, :, 1:]), "inverse": lambda: m.inverse(A),
        "logdet": lambda: m.logdet(A), "lu_factor_pivots": lambda: L.lu_factor(A).pivots,
        "solve_triangular": lambda: L.solve_triangular(A, A[..., :1], upper=True),
        "multi_dot": lambda: L.multi_dot([v, v.T, v]), "vecdot": lambda: L.vecdot(x3, x3),
        "mv": lambda: m.mv(v, v[0]), "dot": lambda: m.dot(v[0], v[1]), "outer": lambda: m.outer(v[0], v[1, :3]),
        "baddbmm": lambda: m.baddbmm(x3[:, :, :3], x3, x3.transpose(1, 2)[:, :, :3]),
        "einsum": lambda: m.einsum("bij,bkj->bik", x3, x3), "einsum_ellipsis": lambda: m.einsum("...ij,jk", x3, v.T),
        "einsum_implicit": lambda: m.einsum("ij,jk", v, v.T), "tensordot": lambda: m.tensordot(x3, v.T, 1),
        "repeat": lambda: x3.repeat(2, 1, 1, 3), "tile": lambda: x3.tile((2,)),
        "repeat_interleave": lambda: x3.repeat_interleave(2, 1), "unfold_view": lambda: x3.unfold(2, 2, 1),
        "F_unfold": lambda: F.unfold(x4, 3, padding=1, stride=2), "F_fold": lambda: F.fold(F.unfold(x4, 2), (9, 10), 2),
        "pixel_shuffle": lambda: F.pixel_shuffle(x4.repeat(1, 3, 1, 1)[:, :4], 2),
        "pixel_unshuffle": lambda: F.pixel_unshuffle(x4[:, :, :8, :8], 2),
        "diagonal": lambda: x3.diagonal(1, 1, 2), "diag_embed": lambda: m.diag_embed(x3),
        "diag": lambda: m.diag(v[0], 1),
        "broadcast_to": lambda: m.broadcast_to(v[0], (3, 4)),
        "broadcast_tensors": lambda: m.broadcast_tensors(x3, v[0])[1],
        "meshgrid": lambda: m.meshgrid(v[0], v[1, :3], indexing="xy")[0], "cdist": lambda: m.cdist(x3, x3),
        "pairwise_distance": lambda: F.pairwise_distance(v, v),
        "cosine_similarity": lambda: F.cosine_similarity(x3, x3, 2),
        "diff": lambda: m.diff(x3, 2, 1), "tensor_split": lambda: x3.tensor_split(3, 2)[2],
        "split_sizes": lambda: x3.split([1, 3], 2)[1],
        "cross_entropy": lambda: F.cross_entropy(x3, tgt[:, :4]),
        "cross_entropy_none": lambda: F.cross_entropy(x3, tgt, reduction="none"),
        "cross_entropy_probs": lambda: F.cross_entropy(x3, x3.softmax(1), reduction="none"),
        "nll_loss": lambda: F.nll_loss(v, tgt[0, :4].repeat(2)[:5], reduction="sum"),
        "mse_loss": lambda: F.mse_loss(x3, x3),
        "bce_logits_none": lambda: F.binary_cross_entropy_with_logits(x3, x3, reduction="none"),
        "l1_loss": lambda: F.l1_loss(x3, x3),
        "multi_head_attention": lambda: F.multi_head_attention_forward(
            q, q, q, 8, 2, x3.new_empty(24, 8), x3.new_empty(24), None, None, False, 0.0, x3.new_empty(8, 8),
            x3.new_empty(8), training=False)[0],
        "batch_norm": lambda: F.batch_norm(x4, None, None, training=True), "group_norm": lambda: F.group_norm(x4, 3),
        "layer_norm": lambda: F.layer_norm(x4, (9, 10)),
    }


def _inputs(m):
    return (m.randn(2, 3, 9, 10), m.randn(4, 3, 3, 3), m.arange(5, dtype=m.int32), m.randn(2, 4, 4), m.randn(2, 3, 4),
            m.randn(5, 4), m.tensor([0, 2, 1, 2]), m.tensor([[0, 1, 2, 0], [2, 2, 1, 0]]))


def test_shape_rules_match_pytorch():
    ours = _ops(fl, *(t.to("meta") for t in _inputs(fl)))
    theirs = _ops(torch, *(t.to("meta") for t in _inputs(torch)))
    assert ours.keys() == theirs.keys()
    for name in ours:
        a, b = ours[name](), theirs[name]()
        try:
            _same_meta(a, b)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}")


def test_indexing_with_cpu_indices():
    x, tx = fl.empty(3, 4, 5, device="meta"), torch.empty(3, 4, 5, device="meta")
    mask = np.array([True, False, True])
    _same_meta(x[fl.tensor(mask)], tx[torch.tensor(mask)])  # a cpu mask: its count is known
    _same_meta(x[:, fl.tensor([[0, 1], [3, 3]])], tx[:, torch.tensor([[0, 1], [3, 3]])])
    _same_meta(x[[0, 2], 1], tx[[0, 2], 1])
    _same_meta(x[fl.tensor(1)], tx[torch.tensor(1)])
    m2 = np.ones((3, 4), bool)
    m2[0, 1] = False
    _same_meta(x[fl.tensor(m2)], tx[torch.tensor(m2)])


def test_data_dependent_ops_raise_as_pytorch():
    x, tx = fl.empty(3, 4, device="meta"), torch.empty(3, 4, device="meta")
    mask, tmask = x > 0, tx > 0
    for ours, theirs in [(lambda: x[mask], lambda: tx[tmask]), (lambda: x.nonzero(), lambda: tx.nonzero()),
                         (lambda: x.masked_select(mask), lambda: tx.masked_select(tmask)),
                         (lambda: fl.unique(x), lambda: torch.unique(tx))]:
        with pytest.raises(NotImplementedError):
            theirs()
        with pytest.raises(NotImplementedError, match="depends on the tensor's values"):
            ours()


def test_shape_rule_errors():
    F = fl.nn.functional
    x = fl.empty(2, 3, 8, 8, device="meta")
    with pytest.raises(RuntimeError, match="expected input\\[2, 3, 8, 8\\] to have 2 channels"):
        F.conv2d(x, fl.empty(4, 2, 3, 3, device="meta"))
    with pytest.raises(RuntimeError, match="too small"):
        F.conv2d(x, fl.empty(4, 3, 9, 9, device="meta"))
    with pytest.raises(RuntimeError, match="too small"):
        F.max_pool1d(fl.empty(2, 3, 4, device="meta"), 3, 2, dilation=2)
    with pytest.raises(RuntimeError, match="square matrices"):
        fl.linalg.inv(fl.empty(2, 3, device="meta"))
    with pytest.raises(IndexError, match="out of range"):
        fl.empty(2, 3, device="meta").sort(5)
    with pytest.raises(IndexError, match="too many indices"):
        fl.empty(2, 3, device="meta")[0, 1, 2]
    with pytest.raises(IndexError, match="long, int, byte or bool"):
        fl.empty(2, 3, device="meta")[fl.empty(2, device="meta")]
    with pytest.raises(IndexError, match="could not be broadcast"):
        fl.empty(4, 5, device="meta")[fl.tensor([0, 1]), fl.tensor([0, 1, 2])]
    with pytest.raises(NotImplementedError, match="quantile: not supported on meta tensors"):
        fl.quantile(fl.empty(5, 2, device="meta"), 0.5)


# ---------------------------------------------------------------- models
_VISION = ["resnet18", "vgg11", "densenet121", "mobilenet_v2", "squeezenet1_0", "shufflenet_v2_x0_5",
           "efficientnet_b0", "alexnet", "vit_b_16"]


@pytest.mark.parametrize("name", _VISION)
def test_vision_model_on_meta_matches_cpu_shapes(name):
    """The model on meta gives the output shape the same model computes on cpu (itself compared with
    PyTorch's by the vision-model tests); built with the meta context so nothing is allocated."""
    from flambeau.vision import models
    with fl.device("meta"):
        meta_model = getattr(models, name)(num_classes=7).eval()
    size = 224 if name in ("vit_b_16", "alexnet") else 64
    y = meta_model(fl.empty(2, 3, size, size, device="meta"))
    assert y.is_meta and tuple(y.shape) == (2, 7) and y.dtype == fl.float32
    if name in ("resnet18", "mobilenet_v2"):  # and the same model on cpu gives the same shape
        fl.manual_seed(0)
        cpu = getattr(models, name)(num_classes=7).eval()
        with fl.no_grad():
            assert cpu(fl.randn(2, 3, size, size)).shape == y.shape
        # moving a cpu model to meta works too
        assert cpu.to("meta")(fl.empty(1, 3, size, size, device="meta")).shape == (1, 7)


def test_transformer_and_recurrent_models_match_pytorch():
    torch.manual_seed(0)
    pairs = []
    for m in (fl, torch):
        with m.device("meta"):
            tr = m.nn.Transformer(16, 2, 2, 2, 32, batch_first=True)
            enc = m.nn.TransformerEncoder(m.nn.TransformerEncoderLayer(16, 4, 32, norm_first=True), 2)
            lstm = m.nn.LSTM(4, 6, num_layers=2, batch_first=True, bidirectional=True)
            gru = m.nn.GRU(4, 5, num_layers=1)
            rnn = m.nn.RNN(4, 3)
            mha = m.nn.MultiheadAttention(16, 4, batch_first=True)
            emb = m.nn.EmbeddingBag(10, 3, mode="max")
            src, tgt = m.empty(3, 5, 16), m.empty(3, 4, 16)
            seq = m.empty(3, 7, 4)
            outs = [tr(src, tgt), enc(src.transpose(0, 1)), *lstm(seq)[1], lstm(seq)[0], gru(seq)[0], gru(seq)[1],
                    rnn(seq)[0], *mha(src, src, src), mha(src, tgt, tgt, need_weights=False)[0],
                    emb(m.zeros(3, 4, dtype=m.int64))]
        pairs.append(outs)
    for k, (a, b) in enumerate(zip(*pairs)):
        try:
            _same_meta(a, b)
        except AssertionError as e:
            raise AssertionError(f"output #{k}: {e}")


# ---------------------------------------------------------------- autograd on meta
def _graph(m):
    """A few graphs on meta; returns tensors whose (shape, dtype, requires_grad, is_leaf, grad_fn name) are
    compared."""
    out = []
    w = m.empty(3, 4, device="meta", requires_grad=True)
    b = m.empty(3, device="meta", requires_grad=True)
    x = m.empty(5, 4, device="meta")
    y = m.nn.functional.linear(x, w, b)
    loss = y.relu().sum()
    out += [y, loss]
    loss.backward()
    out += [w.grad, b.grad]
    assert x.grad is None
    (x @ w.T + b).pow(2).mean().backward()  # accumulates into the same .grad
    out += [w.grad, b.grad]
    out.append(m.autograd.grad((w * 2).sum(), w)[0])
    h = w * 2
    h[0] = b.new_empty(4).requires_grad_()
    out.append(h)
    h.sum().backward()
    with m.no_grad():
        w.add_(1)
    out.append(w)
    z = m.empty(2, 3, device="meta", requires_grad=True)
    v, i = z.max(1)
    out += [v, i, z.detach(), *z.split(1, 1)]
    z.split(1, 1)[0].sum().backward()
    out.append(z.grad)
    q = m.empty(2, 3, device="meta", requires_grad=True)
    r = q.clone()
    r.mul_(m.empty(3, device="meta", requires_grad=True))
    out += [r, q.view(6), q[0], q[[0, 1]], q @ q.T, q.sum(1), q.mean(), q + 1, q.exp()]
    return out


def test_autograd_graph_on_meta_matches_pytorch():
    ours, theirs = _graph(fl), _graph(torch)
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        try:
            _same_meta(a, b)
            assert a.is_leaf == b.is_leaf
            if b.grad_fn is not None and b.grad_fn.name() in ("AddBackward0", "MulBackward0", "SumBackward0",
                                                              "SumBackward1", "ViewBackward0", "SelectBackward0",
                                                              "IndexBackward0", "MmBackward0", "CopySlices",
                                                              "MaxBackward0", "CloneBackward0", "ExpBackward0",
                                                              "MeanBackward0", "SplitBackward0"):
                assert a.grad_fn.name() == b.grad_fn.name()
            assert (a.grad_fn is None) == (b.grad_fn is None)
        except AssertionError as e:
            raise AssertionError(f"tensor #{k}: {e} ({a.grad_fn}, {b.grad_fn})")


def test_autograd_errors_on_meta_match_pytorch():
    for m in (fl, torch):
        w = m.empty(3, device="meta", requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            w.add_(1)
        # a gradient for a tensor with data cannot come from a meta tensor
        cpu = m.tensor(2.0, requires_grad=True)
        with pytest.raises(NotImplementedError, match="Cannot copy out of meta tensor; no data!"):
            (cpu * w).sum().backward()
        with pytest.raises(RuntimeError, match="does not require grad"):
            m.empty(3, device="meta").sum().backward()


def test_double_backward_on_meta():
    t = fl.empty(2, 3, device="meta", requires_grad=True)
    g, = fl.autograd.grad(t.exp().sum(), t, create_graph=True)
    assert g.requires_grad and g.grad_fn is not None and g.shape == (2, 3)
    h, = fl.autograd.grad(g.sum(), t)
    assert h.is_meta and h.shape == (2, 3)
    w = fl.empty(4, 3, device="meta", requires_grad=True)  # a gradient penalty
    x = fl.empty(5, 3, device="meta", requires_grad=True)
    gx, = fl.autograd.grad((x @ w.T).tanh().sum(), x, create_graph=True)
    (gx.norm() ** 2).backward()
    assert w.grad.shape == (4, 3) and x.grad.shape == (5, 3) and w.grad.is_meta


@pytest.mark.parametrize("build", [
    lambda m: (m.vision.models.resnet18(num_classes=10) if m is fl else None, (4, 3, 64, 64)),
    lambda m: (m.nn.Sequential(m.nn.Conv2d(3, 8, 3), m.nn.BatchNorm2d(8), m.nn.ReLU(), m.nn.MaxPool2d(2),
                               m.nn.Flatten(), m.nn.Linear(8 * 7 * 7, 10)), (4, 3, 16, 16)),
])
def test_model_backward_on_meta_gives_every_parameter_a_meta_grad(build):
    with fl.device("meta"):
        model, shape = build(fl)
        x, y = fl.empty(*shape), fl.zeros(shape[0], dtype=fl.int64)
    loss = fl.nn.functional.cross_entropy(model(x), y)
    assert loss.requires_grad and loss.grad_fn is not None
    loss.backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and p.grad.is_meta and p.grad.shape == p.shape and p.grad.dtype == p.dtype, n


def test_recurrent_and_attention_backward_on_meta():
    with fl.device("meta"):
        tr = fl.nn.Transformer(16, 2, 1, 1, 32, batch_first=True)
        lstm = fl.nn.LSTM(4, 6, batch_first=True, bidirectional=True)
    tr(fl.empty(2, 5, 16, device="meta"), fl.empty(2, 3, 16, device="meta")).sum().backward()
    o, (h, c) = lstm(fl.empty(3, 7, 4, device="meta"))
    (o.sum() + h.sum() + c.mean()).backward()
    for model in (tr, lstm):
        for n, p in model.named_parameters():
            assert p.grad is not None and p.grad.shape == p.shape and p.grad.is_meta, n


def _opt_states(m):
    lin = m.nn.Linear(3, 2, device="meta")
    lin(m.empty(4, 3, device="meta")).sum().backward()
    out = []
    for opt in (m.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9), m.optim.Adam(lin.parameters()),
                m.optim.AdamW(lin.parameters(), fused=False), m.optim.RMSprop(lin.parameters()),
                m.optim.Adagrad(lin.parameters())):
        opt.step()
        opt.step()
        assert lin.weight.is_meta and lin.weight.grad_fn is None and lin.weight.is_leaf
        out.append(sorted((k, tuple(v.shape), str(v.device)) for k, v in opt.state[lin.weight].items()
                          if isinstance(v, m.Tensor)))
    lin.zero_grad()
    out.append(lin.weight.grad)
    return out


def test_optimizer_steps_on_meta_match_pytorch():
    assert _opt_states(fl) == _opt_states(torch)


def test_setitem_on_meta():
    for m in (fl, torch):
        x = m.empty(3, 4, device="meta")
        x[x > 0] = 1.0  # a mask on meta: accepted, as PyTorch's index_put
        x[m.tensor([0, 1])] = m.empty(2, 4, device="meta")
        x[:, 1] = m.empty(3, device="meta")
        with pytest.raises(RuntimeError):
            x[0] = m.empty(5, device="meta")
        with pytest.raises(NotImplementedError, match="Cannot copy out of meta tensor; no data!"):
            m.zeros(3)[0] = m.empty((), device="meta")
        assert x.is_meta


def test_to_meta_of_a_tensor_requiring_grad():
    for m in (fl, torch):
        x = m.randn(3, requires_grad=True)
        y = x.to("meta")
        assert y.is_meta and y.requires_grad and y.grad_fn.name() == "ToCopyBackward0"
        with pytest.raises(NotImplementedError, match="Cannot copy out of meta tensor; no data!"):
            y.sum().backward()
        with m.no_grad():
            assert not x.to("meta").requires_grad
        lin = m.nn.Linear(2, 3).to("meta")
        assert lin.weight.is_leaf and lin.weight.requires_grad and lin.weight.grad_fn is None


# ---------------------------------------------------------------- more ops
def _more_ops(m):
    """Elementwise, reduction, stacking, loss, sampling and module ops on meta inputs (PyTorch runs each)."""
    x = m.empty(2, 3, 4, device="meta")
    y = m.empty(3, 4, device="meta")
    i = m.empty(2, 3, dtype=m.int64, device="meta")
    b = m.empty(2, 3, 4, dtype=m.bool, device="meta")
    F = m.nn.functional
    return {
      "clamp_min": lambda: x.clamp_min(0), "clamp_max": lambda: m.clamp_max(x, 1),
      "addcmul": lambda: m.addcmul(x, x, y),
      "where_scalar": lambda: m.where(b, x, 0.0), 
      "softmax_dtype": lambda: F.softmax(x, -1, dtype=m.float64), "normalize": lambda: F.normalize(x, dim=1),
      "logsigmoid": lambda: F.logsigmoid(x), "erfinv": lambda: x.erfinv(), "rsqrt": lambda: x.rsqrt(),
      "new_tensor": lambda: x.new_tensor([1, 2]), "roll": lambda: x.roll(1, 2), 
      "sdpa_causal": lambda: F.scaled_dot_product_attention(x, x, x, is_causal=True),
      "hardswish": lambda: F.hardswish(x),
      "mish": lambda: F.mish(x), "tanh_": lambda: x.clone().tanh_(), "log_softmax": lambda: x.log_softmax(1),
      "argmax_keep": lambda: x.argmax(1, keepdim=True), "std_unb": lambda: x.std(1, unbiased=False),
      "var_corr": lambda: x.var(dim=1, correction=0),
      "sum_dtype": lambda: i.sum(dtype=m.float32), "prod": lambda: i.prod(1),
      "mean_keep": lambda: x.mean((1, 2), keepdim=True),
      "aminmax": lambda: m.aminmax(x, dim=1)[0], "logsumexp": lambda: x.logsumexp(2),
      "cumsum_dtype": lambda: i.cumsum(0, dtype=m.float32),
      "flip": lambda: x.flip(0, 1), "rot90": lambda: m.rot90(x, 1, (1, 2)), "tril_k": lambda: y.tril(-1),
      "triu": lambda: y.triu(1),
      "sign": lambda: x.sign(), "abs_i": lambda: i.abs(), "neg_i": lambda: -i, "bitwise_not": lambda: ~b,
      "floor_div": lambda: i // 2,
      "div_floor": lambda: x.div(2, rounding_mode="floor"), "div_trunc_i": lambda: i.div(2, rounding_mode="trunc"),
      "pow_t": lambda: x.pow(y), "rpow": lambda: 2 ** x, "fmod": lambda: x.fmod(2), "remainder_i": lambda: i % 3,
      "isfinite": lambda: x.isfinite(), "nan_to_num": lambda: x.nan_to_num(), "lerp": lambda: m.lerp(x, y, 0.5),
      "lerp_t": lambda: m.lerp(x, y, x),
      "atan2": lambda: m.atan2(x, y), "hypot": lambda: m.hypot(x, y), "maximum": lambda: m.maximum(x, y),
      "fmax": lambda: m.fmax(x, y),
      "logaddexp": lambda: m.logaddexp(x, y), "xlogy": lambda: m.xlogy(x, y), "sigmoid_": lambda: x.clone().sigmoid_(),
      "squeeze_dims": lambda: x.unsqueeze(0).squeeze((0, 1)), "stack_neg": lambda: m.stack([y, y], -1),
      "hstack": lambda: m.hstack([y, y]),
      "vstack": lambda: m.vstack([y, y]), "dstack": lambda: m.dstack([y, y]),
      "column_stack": lambda: m.column_stack([y, y]),
      "atleast_3d": lambda: m.atleast_3d(y), "ravel": lambda: x.ravel(), "view_as_shape": lambda: x.view(-1, 4),
      "expand_neg": lambda: y.expand(2, -1, -1), "narrow_copy": lambda: x.narrow_copy(1, 0, 2),
      "index_put": lambda: x.index_put((i[0],), m.empty(3, 3, 4, device="meta")),
      "masked_scatter": lambda: x.masked_scatter(b, x),
      "type_float": lambda: i.type(m.float32), "to_dtype_copy": lambda: x.to(m.float64, copy=True),
      "half": lambda: x.half(),
      "chunk_uneven": lambda: x.chunk(3, 2)[1], "unbind1": lambda: x.unbind(1)[0],
      "movedim": lambda: x.movedim((0, 1), (2, 0)),
      "swapdims": lambda: x.swapdims(0, 2), "einsum_trace": lambda: m.einsum("ii", y[:, :3]),
      "trace": lambda: y.trace(),
      "kron": lambda: m.kron(y, y), "block_diag": lambda: m.block_diag(y, y),
      "cartesian_prod": lambda: m.cartesian_prod(y[0], y[1]),
      "count_nonzero": lambda: x.count_nonzero(1), 
      "all_dim": lambda: b.all(1), "any_keep": lambda: b.any(2, keepdim=True),
      "bucketize": lambda: m.bucketize(x, y[0]),
      "searchsorted": lambda: m.searchsorted(y, y), "histc": lambda: m.histc(x),
      "std_mean": lambda: m.std_mean(x, 1)[1],
      "var_mean": lambda: m.var_mean(x, 1)[0], "nanmean": lambda: x.nanmean(1), 
      "logit": lambda: m.logit(x), "frac": lambda: x.frac(), "heaviside": lambda: m.heaviside(x, y),
      "copysign": lambda: m.copysign(x, y),
      "float_power": lambda: m.float_power(x, 2), "sinc": lambda: m.sinc(x), "deg2rad": lambda: m.deg2rad(x),
      "addbmm": lambda: m.addbmm(y[:, :3], x, x.transpose(1, 2)),
      "chain_matmul": lambda: m.chain_matmul(y, y.T), "F_threshold": lambda: F.threshold(x, 0.1, 0.0),
      "F_hardshrink": lambda: F.hardshrink(x),
      "F_softshrink": lambda: F.softshrink(x), "glu": lambda: F.glu(x, -1),
      "F_elu_": lambda: F.elu(x.clone(), inplace=True),
      "relu_": lambda: F.relu(x.clone(), inplace=True), "dropout_train": lambda: F.dropout(x, 0.5, True),
      "F_embedding_maxnorm": lambda: F.embedding(i, y.T.contiguous(), max_norm=1.0),
      "nll_2d": lambda: F.nll_loss(x.unsqueeze(-1), m.empty(2, 4, 1, dtype=m.int64, device="meta")),
      "triplet": lambda: F.triplet_margin_loss(y, y, y),
      "margin_ranking": lambda: F.margin_ranking_loss(y[0], y[1], y[2]),
 
      "ctc": lambda: F.ctc_loss(m.empty(5, 2, 4, device="meta"), m.empty(2, 3, dtype=m.int64, device="meta"), (5, 5),
                                (3, 3)),
      "grid_sample": lambda: F.grid_sample(x.unsqueeze(0), m.empty(1, 5, 6, 2, device="meta"), align_corners=False),
      "affine_grid": lambda: F.affine_grid(m.empty(2, 2, 3, device="meta"), (2, 3, 5, 6), align_corners=False),
      "upsample_nearest": lambda: F.upsample_nearest(x.unsqueeze(0), scale_factor=2),
      "channel_shuffle": lambda: F.channel_shuffle(x.unsqueeze(0).repeat(1, 2, 1, 1)[:, :4], 2),
      "local_response_norm": lambda: F.local_response_norm(x, 2), "rms_norm": lambda: F.rms_norm(x, (4,)),
      "instance_norm": lambda: F.instance_norm(x),
      "gumbel": lambda: F.gumbel_softmax(x, hard=True),
      "max_unpool": lambda: F.max_unpool2d(*F.max_pool2d(x.unsqueeze(0), 2, return_indices=True), 2),
      "fractional": lambda: F.fractional_max_pool2d(x.unsqueeze(0), 2, output_size=1),
      "interp_bicubic_ac": lambda: F.interpolate(x.unsqueeze(0), size=(5, 9), mode="bicubic", align_corners=True),
      "interp_area": lambda: F.interpolate(x.unsqueeze(0), scale_factor=0.5, mode="area"),
      "pad_circular": lambda: F.pad(x, (1, 1), mode="circular"),
      "pad_replicate": lambda: F.pad(x.unsqueeze(0), (1, 1, 2, 2), mode="replicate"),
      "lstm_cell": lambda: m.nn.LSTMCell(4, 5, device="meta")(y),
      "gru_cell": lambda: m.nn.GRUCell(4, 5, device="meta")(y),
      "conv_bn_eval": lambda: m.nn.BatchNorm1d(3, device="meta").eval()(x),
      "prelu": lambda: m.nn.PReLU(device="meta")(x),
      "upsample_mod": lambda: m.nn.Upsample(scale_factor=2)(x.unsqueeze(0)), "flatten_mod": lambda: m.nn.Flatten(0)(x),
      "unflatten_mod": lambda: m.nn.Unflatten(2, (2, 2))(x),
      "pixelshuffle_mod": lambda: m.nn.PixelShuffle(2)(x.unsqueeze(0).repeat(1, 4, 1, 1)[:, :4]),
      "identity": lambda: m.nn.Identity()(x), "bilinear_mod": lambda: m.nn.Bilinear(4, 4, 2, device="meta")(y, y),
    }

def test_more_ops_match_pytorch():
    ours, theirs = _more_ops(fl), _more_ops(torch)
    for name in ours:
        a, b = ours[name](), theirs[name]()
        a, b = (a[0], b[0]) if isinstance(b, tuple) else (a, b)
        try:
            _same_meta(a, b)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}")
