"""Script parity: reinforcement learning and representation-learning objectives, run with PyTorch and with
flambeau from the same weights on the same (numpy) transitions and batches.

- DQN (the PyTorch tutorial's update): Q(s, a) by gather, a target network's max over next states,
  SmoothL1, gradient value clipping, and the soft (Polyak) target update, both as the tutorial's
  state_dict loop and as torch._foreach_lerp_;
- REINFORCE and PPO: Categorical(logits=...) and Normal(mu, std) log_prob / entropy of given actions,
  discounted returns and GAE computed backwards, advantage normalisation, the clipped surrogate;
- SimCLR's NT-Xent loss (normalize, a similarity matrix with its diagonal masked, cross_entropy on the
  positives), a triplet-margin and a cosine-embedding loss, and knowledge distillation
  (KLDiv between temperature-softened distributions, batchmean, times T^2, plus the hard-label loss).
"""
import numpy as np
import torch

from script_parity import assert_records_close, numpy_state, run_both_checked
from script_parity import load_numpy_state as load_state
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


def _qnet(nn):
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))


def dqn_script(lib, state, batches, tau=0.1, gamma=0.99):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    policy, target, target2 = _qnet(nn), _qnet(nn), _qnet(nn)
    load_state(lib, policy, state)
    target.load_state_dict(policy.state_dict())
    target2.load_state_dict(policy.state_dict())
    opt = optim.AdamW(policy.parameters(), lr=1e-3, amsgrad=True)
    crit = nn.SmoothL1Loss()
    rec = {"loss": [], "q": []}
    for b in batches:
        s, a, r, s2, done = (torch.from_numpy(b[k]) for k in ("s", "a", "r", "s2", "done"))
        non_final = ~done
        q = policy(s).gather(1, a.unsqueeze(1))
        next_v = torch.zeros(s.shape[0])
        with torch.no_grad():
            next_v[non_final] = target(s2[non_final]).max(1).values
        expected = r + gamma * next_v
        loss = crit(q, expected.unsqueeze(1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_value_(policy.parameters(), 100)
        opt.step()
        # soft update, the tutorial's way ...
        tsd, psd = target.state_dict(), policy.state_dict()
        for key in psd:
            tsd[key] = psd[key] * tau + tsd[key] * (1 - tau)
        target.load_state_dict(tsd)
        # ... and the foreach way
        with torch.no_grad():
            torch._foreach_lerp_(list(target2.parameters()), list(policy.parameters()), tau)
        rec["loss"].append(loss.item())
        rec["q"].append(q.detach())
        rec["greedy"] = policy(s).argmax(1)
    rec["target"] = dict(target.state_dict())
    rec["target2"] = dict(target2.state_dict())
    return rec


def test_dqn_update_with_soft_target():
    rng = np.random.default_rng(80)
    batches = [{"s": rng.standard_normal((8, 4)).astype(np.float32), "a": rng.integers(0, 2, 8).astype(np.int64),
                "r": rng.random(8).astype(np.float32), "s2": rng.standard_normal((8, 4)).astype(np.float32),
                "done": rng.random(8) < 0.25} for _ in range(4)]
    rt, rf = run_both_checked(dqn_script, numpy_state(_qnet(torch.nn)), batches)
    assert_records_close(rf, rt, atol=2e-5, rtol=2e-4)
    for k in rf["target"]:  # the two soft updates agree
        np.testing.assert_allclose(rf["target"][k].numpy(), rf["target2"][k].numpy(), atol=1e-6)


def _policy_nets(nn):
    return nn.ModuleDict({"pi": nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 4)),
                          "mu": nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2)),
                          "v": nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))})


def policy_gradient_script(lib, state, episode, gamma=0.99, lam=0.95, clip=0.2):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    from importlib import import_module
    D = import_module(torch.__name__ + ".distributions")
    nets = _policy_nets(nn)
    log_std = nn.Parameter(torch.full((2,), -0.5))
    load_state(lib, nets, state)
    s = torch.from_numpy(episode["s"])
    a_disc = torch.from_numpy(episode["a_disc"])
    a_cont = torch.from_numpy(episode["a_cont"])
    rewards = episode["r"].tolist()
    rec = {}
    # REINFORCE: discounted returns, computed backwards, normalised
    returns, R = [], 0.0
    for r in reversed(rewards):
        R = r + gamma * R
        returns.insert(0, R)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + 1e-8)
    opt = optim.Adam(nets["pi"].parameters(), lr=1e-2)
    rec["reinforce"] = []
    for it in range(3):
        dist = D.Categorical(logits=nets["pi"](s))
        loss = -(dist.log_prob(a_disc) * returns).sum() - 0.01 * dist.entropy().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec["reinforce"].append(loss.item())
    rec["probs"] = dist.probs.detach()
    # PPO with a Gaussian policy and GAE
    with torch.no_grad():
        values = nets["v"](s).squeeze(-1)
        old_logp = D.Normal(nets["mu"](s), log_std.exp()).log_prob(a_cont).sum(-1)
    r = torch.from_numpy(episode["r"])
    adv = torch.zeros_like(r)
    gae = 0.0
    for t in reversed(range(len(r))):
        next_v = values[t + 1] if t + 1 < len(r) else 0.0
        delta = r[t] + gamma * next_v - values[t]
        gae = delta + gamma * lam * gae
        adv[t] = gae
    ret = adv + values
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    params = list(nets["mu"].parameters()) + list(nets["v"].parameters()) + [log_std]
    opt2 = optim.Adam(params, lr=3e-3, eps=1e-5)
    rec["ppo"], rec["kl"], rec["clipfrac"] = [], [], []
    for epoch in range(4):
        for idx in (torch.arange(0, 5), torch.arange(5, 10)):
            dist = D.Normal(nets["mu"](s[idx]), log_std.exp())
            logp = dist.log_prob(a_cont[idx]).sum(-1)
            ratio = (logp - old_logp[idx]).exp()
            surr = torch.min(ratio * adv[idx], torch.clamp(ratio, 1 - clip, 1 + clip) * adv[idx])
            v_loss = F.mse_loss(nets["v"](s[idx]).squeeze(-1), ret[idx])
            loss = -surr.mean() + 0.5 * v_loss - 0.001 * dist.entropy().sum(-1).mean()
            opt2.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, 0.5)
            opt2.step()
            rec["ppo"].append(loss.item())
            with torch.no_grad():
                rec["kl"].append(((ratio - 1) - (logp - old_logp[idx])).mean().item())
                rec["clipfrac"].append(((ratio - 1).abs() > clip).float().mean().item())
    rec["log_std"] = log_std.detach()
    rec["adv"] = adv
    return rec


def test_reinforce_and_ppo_with_distributions():
    rng = np.random.default_rng(81)
    episode = {"s": rng.standard_normal((10, 3)).astype(np.float32), "a_disc": rng.integers(0, 4, 10),
               "a_cont": rng.standard_normal((10, 2)).astype(np.float32), "r": rng.random(10).astype(np.float32)}
    rt, rf = run_both_checked(policy_gradient_script, numpy_state(_policy_nets(torch.nn)), episode)
    assert_records_close(rf, rt, atol=3e-5, rtol=3e-4)


def _encoder(nn):
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 8))


def contrastive_script(lib, state, X1, X2, anchors, labels, teacher_state):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    enc = _encoder(nn)
    load_state(lib, enc, state)
    opt = optim.SGD(enc.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    x1, x2 = torch.from_numpy(X1), torch.from_numpy(X2)
    temperature = 0.5
    rec = {"ntxent": [], "triplet": [], "cos": [], "kd": []}
    for step in range(3):
        z = F.normalize(torch.cat([enc(x1), enc(x2)]), dim=1)
        n = x1.shape[0]
        sim = z @ z.T / temperature
        sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
        targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
        loss = F.cross_entropy(sim, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec["ntxent"].append(loss.item())
    a = torch.from_numpy(anchors)
    emb = enc(a)
    trip = nn.TripletMarginLoss(margin=1.0, p=2)(emb[0::3], emb[1::3], emb[2::3])
    cos = nn.CosineEmbeddingLoss(margin=0.2)(emb[0::2][:3], emb[1::2][:3], torch.tensor([1, -1, 1]))
    rec["triplet"], rec["cos"] = trip, cos
    (trip + cos).backward()
    rec["enc_grad"] = enc[0].weight.grad
    # knowledge distillation: a frozen teacher, a student sharing the encoder shape
    teacher = _encoder(nn)
    load_state(lib, teacher, teacher_state)
    teacher.eval()
    student = enc
    student.train()
    T, alpha = 3.0, 0.7
    y = torch.from_numpy(labels)
    opt = optim.Adam(student.parameters(), lr=1e-3)
    for step in range(3):
        with torch.no_grad():
            t_logits = teacher(x1)
        s_logits = student(x1)
        kd = F.kl_div(F.log_softmax(s_logits / T, dim=1), F.softmax(t_logits / T, dim=1), reduction="batchmean")
        loss = alpha * kd * T * T + (1 - alpha) * F.cross_entropy(s_logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec["kd"].append(loss.item())
    rec["kd_module"] = nn.KLDivLoss(reduction="batchmean", log_target=True)(
        F.log_softmax(s_logits.detach(), 1), F.log_softmax(t_logits, 1))
    return rec


def test_contrastive_metric_and_distillation_losses():
    rng = np.random.default_rng(82)
    X1 = rng.standard_normal((6, 6)).astype(np.float32)
    X2 = (X1 + 0.1 * rng.standard_normal((6, 6))).astype(np.float32)
    anchors = rng.standard_normal((9, 6)).astype(np.float32)
    labels = rng.integers(0, 8, 6).astype(np.int64)
    rt, rf = run_both_checked(contrastive_script, numpy_state(_encoder(torch.nn)), X1, X2, anchors, labels,
                              numpy_state(_encoder(torch.nn)))
    assert_records_close(rf, rt, atol=3e-5, rtol=3e-4)
