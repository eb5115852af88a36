"""Off-policy actor-critic algorithms in OpenAI Spinning Up's PyTorch style on the point-mass task: SAC
(squashed Gaussian actor: Normal rsample, tanh, the log-prob correction written with softplus and numpy's
log(2) summed with axis=, clamped log-std, twin Q functions, deep-copied target networks frozen with
requires_grad=False and updated by Polyak averaging with mul_/add_ under no_grad, a learned temperature
through log_alpha) and TD3 (deterministic actor, clipped target-policy smoothing noise, delayed policy
updates), and denisyarats/pytorch_sac's SAC (a SquashedNormal subclassing TransformedDistribution
with its own TanhTransform subclassing Transform). Run with PyTorch and with flambeau from the same weights; the reparameterisation noise and the
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


def pytorch_sac_body(lib, rec, steps=40, update_after=16, batch_size=16, user_transform=True):
    """denisyarats/pytorch_sac (and DrQ): a SquashedNormal subclassing TransformedDistribution with a
    TanhTransform subclassing Transform, a DoubleQCritic, utils.soft_update_params, log_alpha with
    target entropy, and log_prob(action).sum(-1, keepdim=True)."""
    torch, nn, F = lib.torch, lib.nn, lib.F
    pyd = __import__(lib.name + ".distributions", fromlist=["Normal"])
    import math
    rs = np.random.RandomState(7)
    obs_dim, action_dim = PointMass.obs_dim, PointMass.act_dim

    class TanhTransform(pyd.transforms.Transform):
        domain = pyd.constraints.real
        codomain = pyd.constraints.interval(-1.0, 1.0)
        bijective = True
        sign = +1

        def __init__(self, cache_size=1):
            super().__init__(cache_size=cache_size)

        @staticmethod
        def atanh(x):
            return 0.5 * (x.log1p() - (-x).log1p())

        def __eq__(self, other):
            return isinstance(other, TanhTransform)

        def _call(self, x):
            return x.tanh()

        def _inverse(self, y):
            return self.atanh(y)

        def log_abs_det_jacobian(self, x, y):
            return 2. * (math.log(2.) - x - F.softplus(-2. * x))

    class SquashedNormal(pyd.transformed_distribution.TransformedDistribution):
        def __init__(self, loc, scale):
            self.loc = loc
            self.scale = scale
            self.base_dist = pyd.Normal(loc, scale)
            transforms = [TanhTransform() if user_transform else pyd.transforms.TanhTransform(cache_size=1)]
            super().__init__(self.base_dist, transforms)

        @property
        def mean(self):
            mu = self.loc
            for tr in self.transforms:
                mu = tr(mu)
            return mu

    def rsample(dist):
        # dist.rsample(): the base Normal's reparameterised draw (numpy noise) pushed through the transforms
        x = dist.base_dist.loc + torch.as_tensor(rs.randn(*dist.base_dist.loc.shape), dtype=torch.float32) * \
            dist.base_dist.scale
        for tr in dist.transforms:
            x = tr(x)
        return x

    def weight_init(m):
        if isinstance(m, nn.Linear):
            nn.init.orthogonal_(m.weight.data)
            if hasattr(m.bias, 'data'):
                m.bias.data.fill_(0.0)

    def mlp_(input_dim, hidden_dim, output_dim, hidden_depth):
        mods = [nn.Linear(input_dim, hidden_dim), nn.ReLU(inplace=True)]
        for i in range(hidden_depth - 1):
            mods += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU(inplace=True)]
        mods.append(nn.Linear(hidden_dim, output_dim))
        return nn.Sequential(*mods)

    def soft_update_params(net, target_net, tau):
        for param, target_param in zip(net.parameters(), target_net.parameters()):
            target_param.data.copy_(tau * param.data + (1 - tau) * target_param.data)

    class DoubleQCritic(nn.Module):
        def __init__(self, hidden_dim=32, hidden_depth=2):
            super().__init__()
            self.Q1 = mlp_(obs_dim + action_dim, hidden_dim, 1, hidden_depth)
            self.Q2 = mlp_(obs_dim + action_dim, hidden_dim, 1, hidden_depth)
            self.outputs = dict()
            self.apply(weight_init)

        def forward(self, obs, action):
            assert obs.size(0) == action.size(0)
            obs_action = torch.cat([obs, action], dim=-1)
            q1 = self.Q1(obs_action)
            q2 = self.Q2(obs_action)
            self.outputs['q1'] = q1
            self.outputs['q2'] = q2
            return q1, q2

    class DiagGaussianActor(nn.Module):
        def __init__(self, hidden_dim=32, hidden_depth=2, log_std_bounds=(-5, 2)):
            super().__init__()
            self.log_std_bounds = log_std_bounds
            self.trunk = mlp_(obs_dim, hidden_dim, 2 * action_dim, hidden_depth)
            self.outputs = dict()
            self.apply(weight_init)

        def forward(self, obs):
            mu, log_std = self.trunk(obs).chunk(2, dim=-1)
            log_std = torch.tanh(log_std)
            log_std_min, log_std_max = self.log_std_bounds
            log_std = log_std_min + 0.5 * (log_std_max - log_std_min) * (log_std + 1)
            std = log_std.exp()
            self.outputs['mu'] = mu
            self.outputs['std'] = std
            return SquashedNormal(mu, std)

    critic = DoubleQCritic()
    actor = DiagGaussianActor()
    rec.sync("critic", critic)
    rec.sync("actor", actor)
    critic_target = DoubleQCritic()
    critic_target.load_state_dict(critic.state_dict())
    log_alpha = torch.tensor(np.log(0.1))
    log_alpha.requires_grad = True
    target_entropy = -action_dim
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=1e-3, betas=[0.9, 0.999])
    critic_optimizer = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=[0.9, 0.999])
    log_alpha_optimizer = torch.optim.Adam([log_alpha], lr=1e-3, betas=[0.9, 0.999])
    actor.train(True)
    critic.train(True)
    buf = Buffer(lib, obs_dim, action_dim, 1000, rs)
    discount, tau = 0.99, 0.01

    def act(obs, sample=False):
        obs = torch.FloatTensor(obs).unsqueeze(0)
        dist = actor(obs)
        action = rsample(dist) if sample else dist.mean
        action = action.clamp(-1.0, 1.0)
        assert action.ndim == 2 and action.shape[0] == 1
        return action.detach().numpy()[0]

    def update(step):
        batch = buf.sample_batch(batch_size)
        obs, action, reward = batch["obs"], batch["act"], batch["rew"].unsqueeze(-1)
        next_obs, not_done = batch["obs2"], 1.0 - batch["done"].unsqueeze(-1)
        alpha = log_alpha.exp()
        dist = actor(next_obs)
        next_action = rsample(dist)
        log_prob = dist.log_prob(next_action).sum(-1, keepdim=True)
        target_Q1, target_Q2 = critic_target(next_obs, next_action)
        target_V = torch.min(target_Q1, target_Q2) - alpha.detach() * log_prob
        target_Q = reward + (not_done * discount * target_V)
        target_Q = target_Q.detach()
        current_Q1, current_Q2 = critic(obs, action)
        critic_loss = F.mse_loss(current_Q1, target_Q) + F.mse_loss(current_Q2, target_Q)
        critic_optimizer.zero_grad()
        critic_loss.backward()
        critic_optimizer.step()
        rec.log("critic_loss", critic_loss)
        if step % 2 == 0:
            dist = actor(obs)
            action = rsample(dist)
            log_prob = dist.log_prob(action).sum(-1, keepdim=True)
            actor_Q1, actor_Q2 = critic(obs, action)
            actor_Q = torch.min(actor_Q1, actor_Q2)
            actor_loss = (alpha.detach() * log_prob - actor_Q).mean()
            actor_optimizer.zero_grad()
            actor_loss.backward()
            actor_optimizer.step()
            log_alpha_optimizer.zero_grad()
            alpha_loss = (alpha * (-log_prob - target_entropy).detach()).mean()
            alpha_loss.backward()
            log_alpha_optimizer.step()
            rec.log("actor_loss", actor_loss)
            rec.log("alpha", alpha)
            rec.log("entropy", -log_prob.mean())
        soft_update_params(critic, critic_target, tau)

    env = PointMass(seed=9, horizon=10)
    obs = env.reset()
    for step in range(steps):
        action = rs.uniform(-1, 1, size=action_dim).astype(np.float32) if step < 8 else act(obs, sample=True)
        next_obs, reward, done = env.step(action[0])
        buf.store(obs, action, reward, next_obs, float(done))
        obs = env.reset() if done else next_obs
        if step >= update_after:
            update(step)
    rec.log("mean_action", torch.as_tensor(act(obs, sample=False)))
    rec.log("actor.std", actor.outputs["std"])
    for k, v in critic_target.state_dict().items():
        rec.log("target." + k, v)


def test_sac_matches_pytorch():
    run_both(sac_body, rtol=1e-3, atol=1e-4)


def test_sac_fixed_alpha_matches_pytorch():
    run_both(sac_body, auto_alpha=False, steps=30, rtol=1e-3, atol=1e-4)


def test_td3_matches_pytorch():
    run_both(td3_body, rtol=1e-3, atol=1e-4)


def test_pytorch_sac_squashed_normal_matches_pytorch():
    run_both(pytorch_sac_body, rtol=1e-3, atol=1e-4)


def test_pytorch_sac_builtin_tanh_transform_matches_pytorch():
    run_both(pytorch_sac_body, user_transform=False, steps=30, rtol=1e-3, atol=1e-4)


if __name__ == "__main__":
    test_sac_matches_pytorch()
    test_sac_fixed_alpha_matches_pytorch()
    test_td3_matches_pytorch()
    test_pytorch_sac_squashed_normal_matches_pytorch()
    test_pytorch_sac_builtin_tanh_transform_matches_pytorch()
    print("ok")
