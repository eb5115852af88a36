"""Script parity: graph neural networks and tabular models written with plain tensor ops (the way the PyG-free
tutorials write them), run with PyTorch and with flambeau from the same weights on the same data.

- GCN (Kipf & Welling) with symmetric normalisation from an edge list: degrees by index_add_, messages by
  index_add_ / scatter_add, self-loops, dropout p=0, node classification on a train mask;
- GAT: per-edge attention logits, a segment softmax over each node's incoming edges (scatter_reduce amax,
  exp, scatter_add), multi-head concat, ELU;
- a tabular model: one Embedding per categorical column (sizes by the rule of thumb), continuous columns
  through BatchNorm1d, an MLP, BCEWithLogitsLoss with pos_weight for the imbalanced target, AdamW, then
  the metrics a notebook prints (accuracy at 0.5, precision/recall, a rank-based AUC).
"""
import numpy as np
import torch

from script_parity import assert_records_close, numpy_state, run_both_checked
from script_parity import load_numpy_state as load_state
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


def _graph(rng, n=14, m=30, f=5, c=3):
    src = rng.integers(0, n, m)
    dst = rng.integers(0, n, m)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    edge_index = np.stack([np.concatenate([src, dst]), np.concatenate([dst, src])]).astype(np.int64)  # undirected
    X = rng.standard_normal((n, f)).astype(np.float32)
    Y = rng.integers(0, c, n).astype(np.int64)
    train_mask = rng.random(n) < 0.6
    return X, Y, edge_index, train_mask


def _gcn_layers(nn):
    return nn.ModuleList([nn.Linear(5, 16, bias=False), nn.Linear(16, 3, bias=False)])


def gcn_script(lib, state, X, Y, edge_index, train_mask):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    ei = torch.from_numpy(edge_index)
    mask = torch.from_numpy(train_mask)
    n = x.shape[0]
    loops = torch.arange(n)
    src = torch.cat([ei[0], loops])
    dst = torch.cat([ei[1], loops])
    deg = torch.zeros(n).index_add_(0, dst, torch.ones(src.shape[0]))
    norm = deg.pow(-0.5)
    norm[torch.isinf(norm)] = 0
    w = norm[src] * norm[dst]

    layers = _gcn_layers(nn)
    load_state(lib, layers, state)
    biases = nn.ParameterList([nn.Parameter(torch.zeros(16)), nn.Parameter(torch.zeros(3))])

    def propagate(h):
        msg = h[src] * w.unsqueeze(-1)
        out = torch.zeros(n, h.shape[1]).index_add_(0, dst, msg)
        # the same aggregation through scatter_add, as other tutorials write it
        out2 = torch.zeros_like(h).scatter_add_(0, dst.unsqueeze(-1).expand(-1, h.shape[1]), msg)
        return out, out2

    def forward(h):
        agg, agg2 = propagate(layers[0](h))
        h = F.dropout(F.relu(agg + biases[0]), p=0.0, training=True)
        out, _ = propagate(layers[1](h))
        return out + biases[1], agg2 - agg

    opt = optim.Adam(list(layers.parameters()) + list(biases.parameters()), lr=0.01, weight_decay=5e-4)
    rec = {"loss": [], "acc": [], "scatter_vs_index_add": []}
    for epoch in range(6):
        opt.zero_grad()
        logits, diff = forward(x)
        loss = F.cross_entropy(logits[mask], y[mask])
        loss.backward()
        opt.step()
        rec["loss"].append(loss.item())
        rec["acc"].append((logits[~mask].argmax(1) == y[~mask]).float().mean().item())
        rec["scatter_vs_index_add"].append(diff.abs().max().item())
    rec["deg"] = deg
    rec["grads"] = [p.grad for p in layers.parameters()]
    return rec


def test_gcn_node_classification():
    rng = np.random.default_rng(50)
    X, Y, ei, tm = _graph(rng)
    rt, rf = run_both_checked(gcn_script, numpy_state(_gcn_layers(torch.nn)), X, Y, ei, tm)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)
    assert max(rf["scatter_vs_index_add"]) < 1e-6


class _GATParams:
    @staticmethod
    def build(nn, heads=2, f_in=5, f_hid=4, c=3):
        return nn.ModuleDict({
            "W1": nn.Linear(f_in, heads * f_hid, bias=False), "W2": nn.Linear(heads * f_hid, c, bias=False),
            "a1": nn.Linear(2 * f_hid, 1, bias=False), "a2": nn.Linear(2 * c, 1, bias=False),
        })


def gat_script(lib, state, X, Y, edge_index, train_mask, heads=2, f_hid=4, c=3):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    ei = torch.from_numpy(edge_index)
    mask = torch.from_numpy(train_mask)
    n = x.shape[0]
    src = torch.cat([ei[0], torch.arange(n)])
    dst = torch.cat([ei[1], torch.arange(n)])
    p = _GATParams.build(nn)
    load_state(lib, p, state)

    def segment_softmax(e):  # softmax of edge scores over each destination node's incoming edges
        e_max = torch.full((n, e.shape[1]), float("-inf")).scatter_reduce(
            0, dst.unsqueeze(-1).expand_as(e), e, reduce="amax", include_self=True)
        ex = (e - e_max[dst]).exp()
        denom = torch.zeros(n, e.shape[1]).scatter_add(0, dst.unsqueeze(-1).expand_as(ex), ex)
        return ex / denom[dst]

    def gat_layer(h, W, a, nheads, fout):
        z = W(h).view(n, nheads, fout)
        pair = torch.cat([z[src], z[dst]], dim=-1)  # (E, heads, 2*fout)
        e = F.leaky_relu(a(pair).squeeze(-1), 0.2)  # (E, heads)
        alpha = segment_softmax(e)
        out = torch.zeros(n, nheads, fout).index_add_(0, dst, alpha.unsqueeze(-1) * z[src])
        return out, alpha

    opt = optim.Adam(p.parameters(), lr=5e-3, weight_decay=5e-4)
    rec = {"loss": [], "alpha_sums": []}
    for epoch in range(5):
        h, alpha = gat_layer(x, p["W1"], p["a1"], heads, f_hid)
        h = F.elu(h.reshape(n, heads * f_hid))
        out, _ = gat_layer(h, p["W2"], p["a2"], 1, c)
        logits = out.mean(1)
        loss = F.cross_entropy(logits[mask], y[mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec["loss"].append(loss.item())
        sums = torch.zeros(n, heads).index_add_(0, dst, alpha.detach())
        rec["alpha_sums"].append(sums)
    rec["grads"] = {k: v.grad for k, v in p.named_parameters()}
    rec["logits"] = logits.detach()
    return rec


def test_gat_attention_segment_softmax():
    rng = np.random.default_rng(51)
    X, Y, ei, tm = _graph(rng)
    rt, rf = run_both_checked(gat_script, numpy_state(_GATParams.build(torch.nn)), X, Y, ei, tm)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)
    np.testing.assert_allclose(rf["alpha_sums"][-1].numpy(), 1.0, atol=1e-5)


# ---------------------------------------------------------------- tabular
CARDINALITIES = [7, 3, 12]


def _tabular_model(torch, nn):
    class TabularModel(nn.Module):
        def __init__(self, cards, n_cont, hidden=(16, 8)):
            super().__init__()
            self.embeds = nn.ModuleList([nn.Embedding(c, min(50, (c + 1) // 2)) for c in cards])
            self.emb_drop = nn.Dropout(0.0)
            self.bn_cont = nn.BatchNorm1d(n_cont)
            n_emb = sum(e.embedding_dim for e in self.embeds)
            layers, n_in = [], n_emb + n_cont
            for h in hidden:
                layers += [nn.Linear(n_in, h), nn.ReLU(inplace=True), nn.BatchNorm1d(h)]
                n_in = h
            layers.append(nn.Linear(n_in, 1))
            self.layers = nn.Sequential(*layers)

        def forward(self, x_cat, x_cont):
            x = torch.cat([e(x_cat[:, i]) for i, e in enumerate(self.embeds)], 1)
            x = self.emb_drop(x)
            return self.layers(torch.cat([x, self.bn_cont(x_cont)], 1)).squeeze(-1)
    return TabularModel(CARDINALITIES, 4)


def tabular_script(lib, state, Xc, Xn, Y):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    model = _tabular_model(torch, nn)
    load_state(lib, model, state)
    xc, xn, y = torch.from_numpy(Xc), torch.from_numpy(Xn), torch.from_numpy(Y)
    pos_weight = (y == 0).sum() / (y == 1).sum()
    crit = nn.BCEWithLogitsLoss(pos_weight=pos_weight.float().reshape(1))
    opt = optim.AdamW(model.parameters(), lr=5e-3, weight_decay=1e-2)
    loader = lib.data.DataLoader(lib.data.TensorDataset(xc, xn, y), batch_size=16)
    rec = {"loss": [], "pos_weight": pos_weight}
    for epoch in range(3):
        model.train()
        for bc, bn, by in loader:
            loss = crit(model(bc, bn), by.float())
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec["loss"].append(loss.item())
    model.eval()
    with torch.no_grad():
        logits = model(xc, xn)
        prob = torch.sigmoid(logits)
        pred = (prob > 0.5).long()
        tp = ((pred == 1) & (y == 1)).sum().item()
        rec["acc"] = (pred == y).float().mean().item()
        rec["precision"] = tp / max(1, (pred == 1).sum().item())
        rec["recall"] = tp / max(1, (y == 1).sum().item())
        # rank-based AUC (Mann-Whitney U)
        ranks = torch.empty_like(prob)
        ranks[prob.argsort()] = torch.arange(1, len(prob) + 1, dtype=prob.dtype)
        n_pos, n_neg = (y == 1).sum(), (y == 0).sum()
        rec["auc"] = ((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)).item()
        rec["functional_loss"] = F.binary_cross_entropy_with_logits(logits, y.float(),
                                                                    pos_weight=pos_weight.float())
    rec["emb_grad"] = model.embeds[2].weight.grad
    rec["bn"] = {k: v for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}
    return rec


def test_tabular_embeddings_mlp_pos_weight():
    rng = np.random.default_rng(52)
    n = 48
    Xc = np.stack([rng.integers(0, c, n) for c in CARDINALITIES], 1).astype(np.int64)
    Xn = (rng.standard_normal((n, 4)) * [1, 10, 0.1, 3] + [0, 5, 1, -2]).astype(np.float32)
    Y = (rng.random(n) < 0.25).astype(np.int64)
    rt, rf = run_both_checked(tabular_script, numpy_state(_tabular_model(torch, torch.nn)), Xc, Xn, Y)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)
