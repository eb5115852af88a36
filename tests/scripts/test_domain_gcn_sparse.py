"""Script parity: a 2-layer GCN (Kipf & Welling) written the way the original code and most tutorials write
it, with a sparse normalised adjacency D^-1/2 (A + I) D^-1/2 built by sparse_coo_tensor and torch.sparse.mm
for the propagation; trained with Adam on a random graph, run with PyTorch and with flambeau from the same
weights on the same data, losses and accuracies compared step by step. A second script propagates with a
row-normalised adjacency in CSR form (`@`), degrees from torch.sparse.sum, and a learned edge weighting
(sparse values that require grad, through torch.sparse.softmax and torch.sparse.mm)."""
import numpy as np
import torch

from script_parity import assert_records_close, numpy_state, run_both_checked
from script_parity import load_numpy_state as load_state
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


def _graph(rng, n=23, m=60, f=7, c=4):
    src = rng.integers(0, n, m)
    dst = rng.integers(0, n, m)
    keep = src != dst
    edges = np.stack([np.concatenate([src[keep], dst[keep]]), np.concatenate([dst[keep], src[keep]])])  # undirected
    X = rng.standard_normal((n, f)).astype(np.float32)
    Y = rng.integers(0, c, n).astype(np.int64)
    train_mask = rng.random(n) < 0.6
    return X, Y, edges.astype(np.int64), train_mask


def _gcn(nn, f=7, hidden=16, c=4):
    class GraphConvolution(nn.Module):
        def __init__(self, fin, fout):
            super().__init__()
            lin = nn.Linear(fin, fout)  # (the initial values come from the state loaded below)
            self.weight = nn.Parameter(lin.weight.detach().T.clone())
            self.bias = nn.Parameter(lin.bias.detach().clone())

        def forward(self, x, adj, sparse_api):
            support = x @ self.weight
            out = sparse_api(adj, support)
            return out + self.bias

    class GCN(nn.Module):
        def __init__(self):
            super().__init__()
            self.gc1 = GraphConvolution(f, hidden)
            self.gc2 = GraphConvolution(hidden, c)

        def forward(self, x, adj, sparse_api, F):
            x = F.relu(self.gc1(x, adj, sparse_api))
            x = F.dropout(x, 0.0, training=self.training)
            return F.log_softmax(self.gc2(x, adj, sparse_api), dim=1)

    return GCN()


def gcn_script(lib, state, X, Y, edges, train_mask):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    n = X.shape[0]
    x, y, mask = torch.from_numpy(X), torch.from_numpy(Y), torch.from_numpy(train_mask)
    ei = torch.from_numpy(edges)
    # A + I as a sparse tensor (duplicate edges stay duplicates until coalesce sums them)
    A = torch.sparse_coo_tensor(ei, torch.ones(ei.shape[1]), (n, n))
    A_hat = (A + torch.eye(n).to_sparse()).coalesce()
    deg = torch.sparse.sum(A_hat, dim=1).to_dense()
    d_inv_sqrt = deg.pow(-0.5)
    i = A_hat.indices()
    vals = d_inv_sqrt[i[0]] * A_hat.values() * d_inv_sqrt[i[1]]
    adj = torch.sparse_coo_tensor(i, vals, (n, n))

    model = _gcn(nn)
    load_state(lib, model, state)
    opt = optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    rec = {"loss": [], "acc": []}
    for epoch in range(8):
        model.train()
        opt.zero_grad()
        out = model(x, adj, torch.sparse.mm, F)
        loss = F.nll_loss(out[mask], y[mask])
        loss.backward()
        opt.step()
        rec["loss"].append(loss.item())
        model.eval()
        with torch.no_grad():
            pred = model(x, adj, torch.sparse.mm, F).argmax(1)
        rec["acc"].append((pred[~mask] == y[~mask]).float().mean().item())
    rec["adj_dense"] = adj.to_dense()
    rec["deg"] = deg
    rec["grads"] = [p.grad for p in model.parameters()]
    return rec


def test_gcn_sparse_adjacency():
    rng = np.random.default_rng(16)
    X, Y, edges, tm = _graph(rng)
    rt, rf = run_both_checked(gcn_script, numpy_state(_gcn(torch.nn)), X, Y, edges, tm)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)


def gcn_csr_attention_script(lib, state, X, Y, edges, train_mask):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    n = X.shape[0]
    x, y, mask = torch.from_numpy(X), torch.from_numpy(Y), torch.from_numpy(train_mask)
    ei = torch.from_numpy(edges)
    loops = torch.arange(n)
    ei = torch.cat([ei, torch.stack([loops, loops])], 1)
    A = torch.sparse_coo_tensor(ei, torch.ones(ei.shape[1]), (n, n)).coalesce()
    deg = torch.sparse.sum(A, 1).to_dense()
    r = deg.pow(-1.0)
    i = A.indices()
    adj_csr = torch.sparse_coo_tensor(i, r[i[0]] * A.values(), (n, n)).to_sparse_csr()  # row-normalised

    model = _gcn(nn)
    load_state(lib, model, state)
    edge_logit = nn.Parameter(torch.zeros(i.shape[1]))  # a learned weighting of each edge
    opt = optim.Adam(list(model.parameters()) + [edge_logit], lr=0.02)
    rec = {"loss": [], "crow": adj_csr.crow_indices(), "col": adj_csr.col_indices()}

    for epoch in range(6):
        opt.zero_grad()
        att = torch.sparse.softmax(torch.sparse_coo_tensor(i, edge_logit, (n, n)), dim=1)
        h = F.relu(model.gc1(x, adj_csr, lambda a, s: a @ s))
        h = model.gc2(h, att, torch.sparse.mm)  # (torch.mm gives a dense gradient, which sparse softmax refuses)
        loss = F.cross_entropy(h[mask], y[mask])
        loss.backward()
        opt.step()
        rec["loss"].append(loss.item())
    rec["edge_logit_grad"] = edge_logit.grad
    rec["grads"] = [p.grad for p in model.parameters()]
    return rec


def test_gcn_csr_and_learned_edge_weights():
    rng = np.random.default_rng(61)
    X, Y, edges, tm = _graph(rng)
    rt, rf = run_both_checked(gcn_csr_attention_script, numpy_state(_gcn(torch.nn)), X, Y, edges, tm)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)
