"""Off-policy actor-critic algorithms in OpenAI Spinning Up's PyTorch style on the point-mass task: SAC
(squashed Gaussian actor: Normal rsample, tanh, the log-prob correction written with softplus and numpy's
log(2) summed with axis=, clamped log-std, twin Q functions, deep-copied target networks frozen with
requires_grad=False and updated by Polyak averaging with mul_/add_ under no_grad, a learned temperature
through log_alpha) and TD3 (deterministic actor, clipped target-policy smoothing noise, delayed policy
updates). Run with PyTorch and with flambeau from the same weights; the reparameterisation noise and the
exploration noise come from numpy so both runs see the same draws."""
import itertools
from copy import deepcopy

import numpy as np

from rl_envs import PointMass
from vision_parity import run_both


def mlp(nn, sizes, activation, output_activation=None):
    output_activation = output_activation or nn.Identity
    layers = []
    for j in range(len(sizes) - 1):
        act = activation if j < len(sizes) - 2 else output_activation
        layers += [nn.Linear(sizes[j], sizes[j + 1]), act()]
    return nn.Sequential(*layers)


class Buffer:
    """Spinning Up's ReplayBuffer, sampling with a seeded numpy generator."""
    def __init__(self, lib, obs_dim, act_dim, size, rs):
        self.torch, self.rs = lib.torch, rs
        self.obs_buf = np.zeros((size, obs_dim), dtype=np.float32)
        self.obs2_buf = np.zeros((size, obs_dim), dtype=np.float32)
        self.act_buf = np.zeros((size, act_dim), dtype=np.float32)
        self.rew_buf = np.zeros(size, dtype=np.float32)
        self.done_buf = np.zeros(size, dtype=np.float32)
        self.ptr, self.size, self.max_size = 0, 0, size

    def store(self, obs, act, rew, next_obs, done):
        self.obs_buf[self.ptr] = obs
        self.obs2_buf[self.ptr] = next_obs
        self.act_buf[self.ptr] = act
        self.rew_buf[self.ptr] = rew
        self.done_buf[self.ptr] = done
        self.ptr = (self.ptr + 1) % self.max_size
        self.size = min(self.size + 1, self.max_size)

    def sample_batch(self, batch_size=32):
        idxs = self.rs.randint(0, self.size, size=batch_size)
        batch = dict(obs=self.obs_buf[idxs], obs2=self.obs2_buf[idxs], act=self.act_buf[idxs],
                     rew=self.rew_buf[idxs], done=self.done_buf[idxs])
        return {k: self.torch.as_tensor(v, dtype=self.torch.float32) for k, v in batch.items()}


def sac_body(lib, rec, steps=40, update_after=16, batch_size=16, auto_alpha=True):
    torch, nn, F = lib.torch, lib.nn, lib.F
    Normal = __import__(lib.name + ".distributions", fromlist=["Normal"]).Normal
    rs = np.random.RandomState(0)
    LOG_STD_MAX, LOG_STD_MIN = 2, -20
    obs_dim, act_dim, act_limit = PointMass.obs_dim, PointMass.act_dim, 1.0
    gamma, polyak, lr = 0.99, 0.995, 1e-3

    class SquashedGaussianMLPActor(nn.Module):
        def __init__(self, obs_dim, act_dim, hidden_sizes, activation, act_limit):
            super().__init__()
            self.net = mlp(nn, [obs_dim] + list(hidden_sizes), activation, activation)
            self.mu_layer = nn.Linear(hidden_sizes[-1], act_dim)
            self.log_std_layer = nn.Linear(hidden_sizes[-1], act_dim)
            self.act_limit = act_limit

        def forward(self, obs, deterministic=False, with_logprob=True):
            net_out = self.net(obs)
            mu = self.mu_layer(net_out)
            log_std = self.log_std_layer(net_out)
            log_std = torch.clamp(log_std, LOG_STD_MIN, LOG_STD_MAX)
            std = torch.exp(log_std)
            pi_distribution = Normal(mu, std)
            if deterministic:
                pi_action = mu
            else:
                # pi_distribution.rsample(), with the standard normal draw from numpy
                eps = torch.as_tensor(rs.randn(*mu.shape), dtype=torch.float32)
                pi_action = pi_distribution.loc + eps * pi_distribution.scale
            if with_logprob:
                logp_pi = pi_distribution.log_prob(pi_action).sum(axis=-1)
                logp_pi -= (2 * (np.log(2) - pi_action - F.softplus(-2 * pi_action))).sum(axis=1)
            else:
                logp_pi = None
            pi_action = torch.tanh(pi_action)
            pi_action = self.act_limit * pi_action
            return pi_action, logp_pi

    class MLPQFunction(nn.Module):
        def __init__(self, obs_dim, act_dim, hidden_sizes, activation):
            super().__init__()
            self.q = mlp(nn, [obs_dim + act_dim] + list(hidden_sizes) + [1], activation)

        def forward(self, obs, act):
            q = self.q(torch.cat([obs, act], dim=-1))
            return torch.squeeze(q, -1)

    class MLPActorCritic(nn.Module):
        def __init__(self, hidden_sizes=(32, 32), activation=nn.ReLU):
            super().__init__()
            self.pi = SquashedGaussianMLPActor(obs_dim, act_dim, hidden_sizes, activation, act_limit)
            self.q1 = MLPQFunction(obs_dim, act_dim, hidden_sizes, activation)
            self.q2 = MLPQFunction(obs_dim, act_dim, hidden_sizes, activation)

        def act(self, obs, deterministic=False):
            with torch.no_grad():
                a, _ = self.pi(obs, deterministic, False)
                return a.numpy()

    ac = MLPActorCritic()
    rec.sync("ac", ac)
    ac_targ = deepcopy(ac)
    for p in ac_targ.parameters():
        p.requires_grad = False
    q_params = itertools.chain(ac.q1.parameters(), ac.q2.parameters())
    replay_buffer = Buffer(lib, obs_dim, act_dim, 1000, rs)
    log_alpha = torch.zeros(1, requires_grad=True)
    target_entropy = -float(act_dim)
    alpha_optimizer = torch.optim.Adam([log_alpha], lr=lr)

    def get_alpha():
        return log_alpha.exp().detach() if auto_alpha else 0.2

    def compute_loss_q(data):
        o, a, r, o2, d = data['obs'], data['act'], data['rew'], data['obs2'], data['done']
        q1 = ac.q1(o, a)
        q2 = ac.q2(o, a)
        with torch.no_grad():
            a2, logp_a2 = ac.pi(o2)
            q1_pi_targ = ac_targ.q1(o2, a2)
            q2_pi_targ = ac_targ.q2(o2, a2)
            q_pi_targ = torch.min(q1_pi_targ, q2_pi_targ)
            backup = r + gamma * (1 - d) * (q_pi_targ - get_alpha() * logp_a2)
        loss_q1 = ((q1 - backup) ** 2).mean()
        loss_q2 = ((q2 - backup) ** 2).mean()
        loss_q = loss_q1 + loss_q2
        q_info = dict(Q1Vals=q1.detach().numpy(), Q2Vals=q2.detach().numpy())
        return loss_q, q_info

    def compute_loss_pi(data):
        o = data['obs']
        pi, logp_pi = ac.pi(o)
        q1_pi = ac.q1(o, pi)
        q2_pi = ac.q2(o, pi)
        q_pi = torch.min(q1_pi, q2_pi)
        loss_pi = (get_alpha() * logp_pi - q_pi).mean()
        return loss_pi, logp_pi

    pi_optimizer = torch.optim.Adam(ac.pi.parameters(), lr=lr)
    q_optimizer = torch.optim.Adam(q_params, lr=lr)

    def update(data):
        q_optimizer.zero_grad()
        loss_q, q_info = compute_loss_q(data)
        loss_q.backward()
        q_optimizer.step()
        for p in itertools.chain(ac.q1.parameters(), ac.q2.parameters()):
            p.requires_grad = False
        pi_optimizer.zero_grad()
        loss_pi, logp_pi = compute_loss_pi(data)
        loss_pi.backward()
        pi_optimizer.step()
        for p in itertools.chain(ac.q1.parameters(), ac.q2.parameters()):
            p.requires_grad = True
        if auto_alpha:
            alpha_loss = -(log_alpha * (logp_pi.detach() + target_entropy)).mean()
            alpha_optimizer.zero_grad()
            alpha_loss.backward()
            alpha_optimizer.step()
            rec.log("alpha", log_alpha.exp())
        with torch.no_grad():
            for p, p_targ in zip(ac.parameters(), ac_targ.parameters()):
                p_targ.data.mul_(polyak)
                p_targ.data.add_((1 - polyak) * p.data)
        rec.log("loss_q", loss_q)
        rec.log("loss_pi", loss_pi)
        rec.log("Q1Vals", q_info["Q1Vals"])

    env = PointMass(seed=1, horizon=10)
    o, ep_ret = env.reset(), 0
    for t in range(steps):
        a = ac.act(torch.as_tensor(o, dtype=torch.float32)) if t >= 8 else rs.uniform(-1, 1, size=act_dim)
        o2, r, d = env.step(a[0])
        ep_ret += r
        replay_buffer.store(o, a, r, o2, float(d))
        o = o2
        if d:
            rec.log("ep_ret", ep_ret)
            o, ep_ret = env.reset(), 0
        if t >= update_after and t % 4 == 0:
            for j in range(2):
                update(data=replay_buffer.sample_batch(batch_size))
    rec.log("det_action", torch.as_tensor(ac.act(torch.as_tensor(o, dtype=torch.float32), deterministic=True)))
    for k, v in ac_targ.state_dict().items():
        rec.log("targ." + k, v)


def td3_body(lib, rec, steps=40, update_after=16, batch_size=16, policy_delay=2):
    torch, nn = lib.torch, lib.nn
    rs = np.random.RandomState(2)
    obs_dim, act_dim, act_limit = PointMass.obs_dim, PointMass.act_dim, 1.0
    gamma, polyak, target_noise, noise_clip, act_noise = 0.99, 0.995, 0.2, 0.5, 0.1

    class MLPActor(nn.Module):
        def __init__(self, hidden_sizes, activation):
            super().__init__()
            pi_sizes = [obs_dim] + list(hidden_sizes) + [act_dim]
            self.pi = mlp(nn, pi_sizes, activation, nn.Tanh)

        def forward(self, obs):
            return act_limit * self.pi(obs)

    class MLPQFunction(nn.Module):
        def __init__(self, hidden_sizes, activation):
            super().__init__()
            self.q = mlp(nn, [obs_dim + act_dim] + list(hidden_sizes) + [1], activation)

        def forward(self, obs, act):
            return torch.squeeze(self.q(torch.cat([obs, act], dim=-1)), -1)

    class MLPActorCritic(nn.Module):
        def __init__(self, hidden_sizes=(32, 32), activation=nn.ReLU):
            super().__init__()
            self.pi = MLPActor(hidden_sizes, activation)
            self.q1 = MLPQFunction(hidden_sizes, activation)
            self.q2 = MLPQFunction(hidden_sizes, activation)

        def act(self, obs):
            with torch.no_grad():
                return self.pi(obs).numpy()

    ac = MLPActorCritic()
    rec.sync("ac", ac)
    ac_targ = deepcopy(ac)
    for p in ac_targ.parameters():
        p.requires_grad = False
    q_params = itertools.chain(ac.q1.parameters(), ac.q2.parameters())
    pi_optimizer = torch.optim.Adam(ac.pi.parameters(), lr=1e-3)
    q_optimizer = torch.optim.Adam(q_params, lr=1e-3)
    replay_buffer = Buffer(lib, obs_dim, act_dim, 1000, rs)

    def compute_loss_q(data):
        o, a, r, o2, d = data['obs'], data['act'], data['rew'], data['obs2'], data['done']
        q1 = ac.q1(o, a)
        q2 = ac.q2(o, a)
        with torch.no_grad():
            pi_targ = ac_targ.pi(o2)
            epsilon = torch.as_tensor(rs.randn(*pi_targ.shape), dtype=torch.float32) * target_noise
            epsilon = torch.clamp(epsilon, -noise_clip, noise_clip)
            a2 = pi_targ + epsilon
            a2 = torch.clamp(a2, -act_limit, act_limit)
            q_pi_targ = torch.min(ac_targ.q1(o2, a2), ac_targ.q2(o2, a2))
            backup = r + gamma * (1 - d) * q_pi_targ
        return ((q1 - backup) ** 2).mean() + ((q2 - backup) ** 2).mean()

    def update(data, timer):
        q_optimizer.zero_grad()
        loss_q = compute_loss_q(data)
        loss_q.backward()
        q_optimizer.step()
        rec.log("loss_q", loss_q)
        if timer % policy_delay == 0:
            for p in q_params_list:
                p.requires_grad = False
            pi_optimizer.zero_grad()
            loss_pi = -ac.q1(data['obs'], ac.pi(data['obs'])).mean()
            loss_pi.backward()
            pi_optimizer.step()
            for p in q_params_list:
                p.requires_grad = True
            rec.log("loss_pi", loss_pi)
            with torch.no_grad():
                for p, p_targ in zip(ac.parameters(), ac_targ.parameters()):
                    p_targ.data.mul_(polyak)
                    p_targ.data.add_((1 - polyak) * p.data)

    q_params_list = list(itertools.chain(ac.q1.parameters(), ac.q2.parameters()))
    env = PointMass(seed=5, horizon=10)
    o = env.reset()
    for t in range(steps):
        if t >= 8:
            a = ac.act(torch.as_tensor(o, dtype=torch.float32))
            a = np.clip(a + act_noise * rs.randn(act_dim), -act_limit, act_limit)
        else:
            a = rs.uniform(-1, 1, size=act_dim)
        o2, r, d = env.step(a[0])
        replay_buffer.store(o, a, r, o2, float(d))
        o = env.reset() if d else o2
        if t >= update_after and t % 4 == 0:
            for j in range(4):
                update(replay_buffer.sample_batch(batch_size), timer=j)
    for k, v in ac_targ.state_dict().items():
        rec.log("targ." + k, v)
    rec.log("targ.requires_grad", [p.requires_grad for p in ac_targ.parameters()])


def test_sac_matches_pytorch():
    run_both(sac_body, rtol=1e-3, atol=1e-4)


def test_sac_fixed_alpha_matches_pytorch():
    run_both(sac_body, auto_alpha=False, steps=30, rtol=1e-3, atol=1e-4)


def test_td3_matches_pytorch():
    run_both(td3_body, rtol=1e-3, atol=1e-4)


if __name__ == "__main__":
    test_sac_matches_pytorch()
    test_sac_fixed_alpha_matches_pytorch()
    test_td3_matches_pytorch()
    print("ok")
