"""Script parity: MAML (Finn et al. 2017) for few-shot text classification, the way the learn2learn-free PyTorch
implementations write it: an Embedding (mean over the words) + MLP classifier, an inner loop of SGD steps on the support set taken
with torch.autograd.grad(create_graph=True) on fast weights applied through torch.func.functional_call, the
query loss of the adapted weights backpropagated to the meta-parameters (second-order MAML), Adam meta-updates;
and first-order MAML (create_graph=False, fast weights detached).

Runs with PyTorch and with flambeau from the same initial weights and tasks; meta-losses, adapted query
accuracies and meta-gradients are compared step by step."""
import numpy as np
import pytest

from script_parity import FLAMBEAU, TORCH, assert_records_close, load_numpy_state, numpy_state, to_np
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)

VOCAB, N_WAY, K_SHOT, Q_QUERY, DOC_LEN = 40, 3, 2, 3, 6


def make_tasks(rng, n_tasks=6):
    """Each task picks N_WAY 'topics'; a document of topic c draws most of its words from c's block."""
    tasks = []
    for _ in range(n_tasks):
        topics = rng.choice(8, N_WAY, replace=False)

        def docs(n):
            x = np.zeros((N_WAY * n, DOC_LEN), np.int64)
            y = np.repeat(np.arange(N_WAY), n)
            for i, c in enumerate(y):
                own = rng.random(DOC_LEN) < 0.7
                x[i] = np.where(own, topics[c] * 5 + rng.integers(0, 5, DOC_LEN), rng.integers(0, VOCAB, DOC_LEN))
            return x, y
        tasks.append((docs(K_SHOT), docs(Q_QUERY)))
    return tasks


def run(lib, tasks, second_order, init_state=None, inner_steps=2, inner_lr=0.5):
    torch, nn, F = lib.torch, lib.nn, lib.F
    functional_call = torch.func.functional_call

    class BagClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            # nn.EmbeddingBag would be the natural choice, but PyTorch has no double backward for it
            self.emb = nn.Embedding(VOCAB, 16)
            self.hidden = nn.Linear(16, 16)
            self.out = nn.Linear(16, N_WAY)

        def forward(self, x):
            return self.out(torch.tanh(self.hidden(self.emb(x).mean(1))))

    model = BagClassifier()
    if init_state is not None:
        load_numpy_state(lib, model, init_state)
    start_state = numpy_state(model)
    meta_opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    rec = {"meta_loss": [], "query_acc": [], "meta_grad": [], "inner_grad_norm": []}
    for (xs, ys), (xq, yq) in tasks:
        xs, ys, xq, yq = (torch.from_numpy(a) for a in (xs, ys, xq, yq))
        meta_opt.zero_grad()
        fast = dict(model.named_parameters())
        for _ in range(inner_steps):
            support_loss = F.cross_entropy(functional_call(model, fast, (xs,)), ys)
            grads = torch.autograd.grad(support_loss, list(fast.values()), create_graph=second_order)
            rec["inner_grad_norm"].append(sum(g.pow(2).sum() for g in grads).sqrt().item())
            if second_order:
                fast = {n: p - inner_lr * g for (n, p), g in zip(fast.items(), grads)}
            else:
                fast = {n: (p - inner_lr * g).detach().requires_grad_() for (n, p), g in zip(fast.items(), grads)}
        logits = functional_call(model, fast, (xq,))
        query_loss = F.cross_entropy(logits, yq)
        if second_order:
            query_loss.backward()
        else:  # first-order MAML: the query gradient at the fast weights is the meta-gradient
            fo = torch.autograd.grad(query_loss, list(fast.values()))
            for p, g in zip(model.parameters(), fo):
                p.grad = g
        rec["meta_grad"].append({n: to_np(p.grad) for n, p in model.named_parameters()})
        meta_opt.step()
        rec["meta_loss"].append(query_loss.item())
        rec["query_acc"].append((logits.argmax(-1) == yq).float().mean().item())
    return rec, start_state


@pytest.mark.parametrize("second_order", [True, False])
def test_maml_matches_torch(second_order):
    tasks = make_tasks(np.random.default_rng(101))
    want, state = run(TORCH, tasks, second_order)
    got, _ = run(FLAMBEAU, tasks, second_order, init_state=state)
    assert_records_close(got, want, atol=5e-5, rtol=5e-4)
