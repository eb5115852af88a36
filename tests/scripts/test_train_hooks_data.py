"""Script parity: module hooks and buffers, and the data-pipeline utilities, run with PyTorch and with flambeau
from the same weights on the same data.

- a feature-extraction / gradient-inspection script: forward pre-hooks (input rewriting, with_kwargs),
  forward hooks collecting activations and replacing an output, full backward hooks and backward pre-hooks
  rescaling gradients, a tensor hook, register_buffer (persistent and not) updated during training and
  surviving state_dict / load_state_dict, hook handles removed mid-run, Module.apply for a custom init;
- a data pipeline: a variable-length map-style Dataset, ConcatDataset, Subset, random_split (lengths and
  fractions, seeded generator), SubsetRandomSampler / WeightedRandomSampler / BatchSampler, a DataLoader
  with a padding collate_fn, and training on the padded batches. Sampling order depends on each library's
  random generator, so the random parts are checked by their properties (coverage, disjointness, counts,
  class balance) and the parity part trains on a fixed order.
"""
import numpy as np
import torch

from script_parity import assert_records_close, numpy_state, run_both_checked
from script_parity import load_numpy_state as load_state
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


def _build_hooked(torch, nn):
    class Normalised(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 8)
            self.act = nn.Tanh()
            self.fc2 = nn.Linear(8, 2)
            self.register_buffer("running_in_mean", torch.zeros(4))
            self.register_buffer("step_count", None)
            self.register_buffer("scratch", torch.ones(4), persistent=False)

        def forward(self, x, scale=1.0):
            if self.training:
                with torch.no_grad():
                    self.running_in_mean.mul_(0.9).add_(x.mean(0), alpha=0.1)
            return self.fc2(self.act(self.fc1(x - self.running_in_mean))) * scale
    return Normalised()


def hooks_script(lib, state, X, Y):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    model = _build_hooked(torch, nn)
    rec = {"keys": sorted(model.state_dict()), "buffers": sorted(n for n, _ in model.named_buffers()),
           "acts": [], "gout": [], "gin": [], "loss": [], "kw_seen": [], "pre_grad": []}

    def init_weights(m):
        if isinstance(m, nn.Linear):
            with torch.no_grad():
                m.bias.fill_(0.01)
    model.apply(init_weights)
    load_state(lib, model, {**state})
    rec["bias_after_apply"] = model.fc1.bias  # overwritten by the loaded state

    handles = [
        model.fc1.register_forward_pre_hook(lambda m, inp: (inp[0] * 2.0,)),
        model.act.register_forward_hook(lambda m, inp, out: rec["acts"].append(out.detach().clone())),
        model.fc2.register_forward_hook(lambda m, inp, out: out + 0.5),  # replaces the output
        model.register_forward_pre_hook(lambda m, args, kwargs: rec["kw_seen"].append(kwargs.get("scale")),
                                        with_kwargs=True),
        model.fc2.register_full_backward_hook(
            lambda m, gin, gout: rec["gout"].append(gout[0].clone()) or rec["gin"].append(gin[0].clone())),
        model.fc1.register_full_backward_hook(lambda m, gin, gout: (gin[0] * 0.5,)),
        model.fc2.register_full_backward_pre_hook(lambda m, gout: (gout[0] * 3.0,)),
    ]
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    opt = optim.SGD(model.parameters(), lr=0.1)
    for step in range(4):
        if step == 2:  # drop the output-replacing and the gradient-scaling hooks
            for h in handles[2:]:
                h.remove()
        xin = x.clone().requires_grad_(True)
        out = model(xin, scale=0.5)
        h = out.register_hook(lambda g: g.clamp(-0.05, 0.05))
        loss = F.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        h.remove()
        opt.step()
        rec["loss"].append(loss.item())
        rec["pre_grad"].append(xin.grad)
    rec["grads"] = {n: p.grad for n, p in model.named_parameters()}
    sd = model.state_dict()
    rec["sd"] = dict(sd)
    fresh = _build_hooked(torch, nn)
    missing, unexpected = fresh.load_state_dict(sd, strict=True)
    rec["load_result"] = (sorted(missing), sorted(unexpected))
    rec["fresh_mean"] = fresh.running_in_mean
    model.eval()
    with torch.no_grad():
        rec["eval_out"] = model(x)
    return rec


def test_hooks_and_buffers():
    rng = np.random.default_rng(40)
    X = rng.standard_normal((6, 4)).astype(np.float32)
    Y = rng.integers(0, 2, 6).astype(np.int64)
    rt, rf = run_both_checked(hooks_script, numpy_state(_build_hooked(torch, torch.nn)), X, Y)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)


# ---------------------------------------------------------------- data pipeline
def data_script(lib, state, seqs, labels):
    torch, nn, F, optim, data = lib.torch, lib.nn, lib.F, lib.optim, lib.data

    class SeqDataset(data.Dataset):
        def __init__(self, seqs, labels):
            self.seqs, self.labels = seqs, labels

        def __len__(self):
            return len(self.seqs)

        def __getitem__(self, i):
            return torch.from_numpy(self.seqs[i]), int(self.labels[i])

    def pad_collate(batch):
        xs, ys = zip(*batch)
        lengths = torch.tensor([len(s) for s in xs])
        padded = nn.utils.rnn.pad_sequence(list(xs), batch_first=True, padding_value=0.0)
        return padded, lengths, torch.tensor(ys)

    half = len(seqs) // 2
    ds = data.ConcatDataset([SeqDataset(seqs[:half], labels[:half]), SeqDataset(seqs[half:], labels[half:])])
    rec = {"len": len(ds), "cum": list(ds.cumulative_sizes), "item7": ds[7][0], "label7": ds[7][1]}
    g = torch.Generator().manual_seed(0)
    tr, va = data.random_split(ds, [0.75, 0.25], generator=g)
    rec["split_lens"] = (len(tr), len(va))
    rec["split_disjoint_cover"] = sorted(list(tr.indices) + list(va.indices)) == list(range(len(ds)))
    a, b, c = data.random_split(range(10), [3, 3, 4], generator=torch.Generator().manual_seed(1))
    rec["split_ints"] = sorted(list(a) + list(b) + list(c)) == list(range(10))

    # random samplers: properties only
    sub_idx = list(range(0, len(ds), 2))
    srs = list(data.SubsetRandomSampler(sub_idx, generator=torch.Generator().manual_seed(3)))
    rec["srs_perm"] = sorted(srs) == sub_idx
    class_counts = np.bincount(labels)
    weights = torch.from_numpy((1.0 / class_counts[labels]).astype(np.float64))
    wrs = data.WeightedRandomSampler(weights, num_samples=2000, replacement=True,
                                     generator=torch.Generator().manual_seed(4))
    drawn = np.array(list(wrs))
    rec["wrs_len"] = (len(wrs), len(drawn))
    frac = np.bincount(labels[drawn], minlength=len(class_counts)) / len(drawn)
    rec["wrs_balanced"] = bool(np.all(np.abs(frac - 1.0 / len(class_counts)) < 0.06))
    no_repl = list(data.WeightedRandomSampler(weights, num_samples=len(ds), replacement=False))
    rec["wrs_no_replacement"] = sorted(no_repl) == list(range(len(ds)))
    bs = list(data.BatchSampler(data.SequentialSampler(tr), batch_size=4, drop_last=True))
    rec["batch_sampler"] = bs
    loader = data.DataLoader(tr, batch_size=4, shuffle=True, collate_fn=pad_collate,
                             generator=torch.Generator().manual_seed(5))
    seen = []
    for xb, lb, yb in loader:
        seen.append(len(yb))
        assert xb.shape[1] == int(lb.max())
    rec["shuffled_batches"] = seen

    # parity part: fixed order, padded batches through an embedding-free masked-mean model
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    load_state(lib, model, state)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    fixed = data.DataLoader(data.Subset(ds, list(range(len(ds)))[::-1]), batch_size=5, collate_fn=pad_collate)
    rec["loss"], rec["shapes"] = [], []
    for epoch in range(2):
        for xb, lb, yb in fixed:
            mask = (torch.arange(xb.shape[1])[None, :] < lb[:, None]).unsqueeze(-1).float()
            pooled = (xb * mask).sum(1) / lb[:, None].float()
            loss = F.cross_entropy(model(pooled), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec["loss"].append(loss.item())
            rec["shapes"].append(tuple(xb.shape))
    return rec


def test_data_pipeline_samplers_collate():
    rng = np.random.default_rng(41)
    n = 24
    seqs = [rng.standard_normal((int(rng.integers(2, 7)), 3)).astype(np.float32) for _ in range(n)]
    labels = np.array([0] * 18 + [1] * 6, dtype=np.int64)
    rng.shuffle(labels)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    rt, rf = run_both_checked(data_script, numpy_state(model), seqs, labels)
    for key in ("split_disjoint_cover", "split_ints", "srs_perm", "wrs_balanced", "wrs_no_replacement"):
        assert rt[key] is True and rf[key] is True, key
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)
