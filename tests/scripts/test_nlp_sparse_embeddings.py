"""Script parity: the sparse-gradient recipes of large-vocabulary tutorials.

1. Skip-gram word2vec in the style of the popular implementations that train with sparse gradients
   (nn.Embedding(sparse=True) for the input and output tables, optim.SparseAdam, a clamp of the
   scores, F.logsigmoid, the output table looked up twice per step, for the context and for the
   negative samples, so two sparse gradients meet in one backward).
2. A matrix-factorisation recommender: user and item nn.Embedding(sparse=True) plus dense biases
   MLP, SparseAdam on the embeddings and Adam on the rest (the common mixed recipe), then the same
   model with SGD(momentum) and with Adagrad on everything.
3. An EmbeddingBag(sparse=True, mode='sum') text classifier with per-sample weights and SGD.

Each runs with PyTorch and with flambeau from the same initial weights and data; losses, weights and
the sparse gradients (coalesced) are compared step by step."""
import numpy as np
import pytest

from script_parity import FLAMBEAU, TORCH, assert_records_close, load_numpy_state, numpy_state, to_np
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


def coalesced(g):
    c = g.coalesce()
    return {"indices": to_np(c.indices()), "values": to_np(c.values()), "nnz": c._nnz()}


def run_word2vec(lib, centers, contexts, negatives, init=None, vocab=50, dim=12, steps=6, batch=32):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim

    class SkipGram(nn.Module):
        def __init__(self):
            super().__init__()
            self.u_embeddings = nn.Embedding(vocab, dim, sparse=True)
            self.v_embeddings = nn.Embedding(vocab, dim, sparse=True)
            initrange = 1.0 / dim
            nn.init.uniform_(self.u_embeddings.weight.data, -initrange, initrange)
            nn.init.constant_(self.v_embeddings.weight.data, 0)

        def forward(self, pos_u, pos_v, neg_v):
            emb_u = self.u_embeddings(pos_u)
            emb_v = self.v_embeddings(pos_v)
            emb_neg_v = self.v_embeddings(neg_v)
            score = torch.sum(torch.mul(emb_u, emb_v), dim=1)
            score = torch.clamp(score, max=10, min=-10)
            score = -F.logsigmoid(score)
            neg_score = torch.bmm(emb_neg_v, emb_u.unsqueeze(2)).squeeze()
            neg_score = torch.clamp(neg_score, max=10, min=-10)
            neg_score = -torch.sum(F.logsigmoid(-neg_score), dim=1)
            return torch.mean(score + neg_score)

    model = SkipGram()
    if init is not None:
        load_numpy_state(lib, model, init)
    start = numpy_state(model)
    opt = optim.SparseAdam(list(model.parameters()), lr=0.05)
    rec = {"loss": [], "u_grad": [], "v_grad": []}
    for s in range(steps):
        sl = slice(s * batch, (s + 1) * batch)
        pos_u = torch.from_numpy(centers[sl])
        pos_v = torch.from_numpy(contexts[sl])
        neg_v = torch.from_numpy(negatives[sl])
        opt.zero_grad()
        loss = model(pos_u, pos_v, neg_v)
        loss.backward()
        rec["loss"].append(loss.item())
        rec["u_grad"].append(coalesced(model.u_embeddings.weight.grad))
        rec["v_grad"].append(coalesced(model.v_embeddings.weight.grad))
        opt.step()
    rec["final"] = numpy_state(model)
    return rec, start


def test_word2vec_sparse_adam():
    rng = np.random.default_rng(11)
    n = 6 * 32
    centers = rng.integers(0, 50, n)
    contexts = rng.integers(0, 50, n)
    negatives = rng.integers(0, 50, (n, 5))
    want, start = run_word2vec(TORCH, centers, contexts, negatives)
    got, _ = run_word2vec(FLAMBEAU, centers, contexts, negatives, init=start)
    assert_records_close(got, want, atol=1e-5, rtol=1e-4)


def run_recommender(lib, users, items, ratings, opt_kind, init=None, n_users=30, n_items=40, dim=8, steps=6,
                    batch=48):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim

    class MF(nn.Module):
        def __init__(self):
            super().__init__()
            self.user = nn.Embedding(n_users, dim, sparse=True)
            self.item = nn.Embedding(n_items, dim, sparse=True)
            self.head = nn.Sequential(nn.Linear(2 * dim, 16), nn.ReLU(), nn.Linear(16, 1))

        def forward(self, u, i):
            eu, ei = self.user(u), self.item(i)
            dot = (eu * ei).sum(-1, keepdim=True)
            return (dot + self.head(torch.cat([eu, ei], -1))).squeeze(-1)

    model = MF()
    if init is not None:
        load_numpy_state(lib, model, init)
    start = numpy_state(model)
    sparse_params = list(model.user.parameters()) + list(model.item.parameters())
    if opt_kind == "sparseadam+adam":
        opts = [optim.SparseAdam(sparse_params, lr=0.02), optim.Adam(model.head.parameters(), lr=0.01)]
    elif opt_kind == "sgd":
        opts = [optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)]
    else:
        opts = [optim.Adagrad(model.parameters(), lr=0.1)]
    rec = {"loss": [], "user_grad": []}
    for s in range(steps):
        sl = slice(s * batch, (s + 1) * batch)
        u, i = torch.from_numpy(users[sl]), torch.from_numpy(items[sl])
        r = torch.from_numpy(ratings[sl])
        for o in opts:
            o.zero_grad()
        loss = F.mse_loss(model(u, i), r)
        loss.backward()
        rec["loss"].append(loss.item())
        rec["user_grad"].append(coalesced(model.user.weight.grad))
        for o in opts:
            o.step()
    rec["final"] = numpy_state(model)
    return rec, start


@pytest.mark.parametrize("opt_kind", ["sparseadam+adam", "sgd", "adagrad"])
def test_recommender_sparse_embeddings(opt_kind):
    rng = np.random.default_rng(5)
    n = 6 * 48
    users, items = rng.integers(0, 30, n), rng.integers(0, 40, n)
    ratings = rng.uniform(1, 5, n).astype(np.float32)
    want, start = run_recommender(TORCH, users, items, ratings, opt_kind)
    got, _ = run_recommender(FLAMBEAU, users, items, ratings, opt_kind, init=start)
    assert_records_close(got, want, atol=2e-5, rtol=2e-4)


def run_bag_classifier(lib, tokens, offsets, weights, labels, init=None, vocab=60, dim=10, classes=4, steps=5):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim

    class BagClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.EmbeddingBag(vocab, dim, mode="sum", sparse=True)
            self.fc = nn.Linear(dim, classes)

        def forward(self, text, offs, psw):
            return self.fc(self.embedding(text, offs, per_sample_weights=psw))

    model = BagClassifier()
    if init is not None:
        load_numpy_state(lib, model, init)
    start = numpy_state(model)
    opt = optim.SGD(model.parameters(), lr=0.5)
    rec = {"loss": [], "grad": []}
    for s in range(steps):
        text = torch.from_numpy(tokens[s])
        offs = torch.from_numpy(offsets[s])
        psw = torch.from_numpy(weights[s])
        opt.zero_grad()
        loss = F.cross_entropy(model(text, offs, psw), torch.from_numpy(labels[s]))
        loss.backward()
        g = model.embedding.weight.grad
        rec["loss"].append(loss.item())
        rec["grad"].append({"indices": to_np(g._indices()), "values": to_np(g._values())})  # exact, as built
        opt.step()
    rec["final"] = numpy_state(model)
    return rec, start


def test_embedding_bag_sparse_classifier():
    rng = np.random.default_rng(3)
    tokens, offsets, weights, labels = [], [], [], []
    for _ in range(5):
        lengths = rng.integers(1, 6, 8)
        tokens.append(rng.integers(0, 60, int(lengths.sum())))
        offsets.append(np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64))
        weights.append(rng.uniform(0.5, 1.5, int(lengths.sum())).astype(np.float32))
        labels.append(rng.integers(0, 4, 8))
    want, start = run_bag_classifier(TORCH, tokens, offsets, weights, labels)
    got, _ = run_bag_classifier(FLAMBEAU, tokens, offsets, weights, labels, init=start)
    assert_records_close(got, want, atol=2e-5, rtol=2e-4)
