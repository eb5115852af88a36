"""More RL training loops: synchronous A2C over several numpy CartPoles (ikostrikov/pytorch-a2c-ppo-acktr
style: Categorical(logits=...), n-step returns with masks, value/entropy coefficients, RMSprop(alpha=0.99,
eps=1e-5), clip_grad_norm_), Karpathy's Pong-style policy gradient with a Bernoulli policy (sigmoid output,
discounted rewards standardised, Bernoulli.log_prob), and a World Models MDN-RNN (an LSTM over latent +
action sequences whose MDN head gives log_softmax mixture weights, means and log-sigmas; the Gaussian
mixture NLL via Normal.log_prob and logsumexp; a done head with BCE-with-logits). Run with PyTorch and
with flambeau from the same weights; the environments and every random draw come from numpy."""
import math

import numpy as np

from rl_envs import CartPole
from vision_parity import run_both


def inverse_cdf(torch, probs, rs):
    """dist.sample() for parity runs: the category whose CDF first exceeds a numpy uniform."""
    p = probs.detach().numpy().astype(np.float64)
    u = rs.rand(*p.shape[:-1], 1)
    idx = np.minimum((np.cumsum(p, -1) < u * p.sum(-1, keepdims=True)).sum(-1), p.shape[-1] - 1)
    return torch.from_numpy(np.asarray(idx, dtype=np.int64))


def a2c_body(lib, rec, num_updates=4, num_steps=5, num_envs=4):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    Categorical = __import__(lib.name + ".distributions", fromlist=["Categorical"]).Categorical
    rs = np.random.RandomState(0)
    envs = [CartPole(seed=10 + i, max_steps=12) for i in range(num_envs)]
    gamma, value_loss_coef, entropy_coef, max_grad_norm = 0.99, 0.5, 0.01, 0.5

    def init_(m, gain=1.0):
        nn.init.orthogonal_(m.weight.data, gain=gain)
        nn.init.constant_(m.bias.data, 0)
        return m

    class Policy(nn.Module):
        def __init__(self, hidden_size=32):
            super().__init__()
            self.actor = nn.Sequential(init_(nn.Linear(4, hidden_size), np.sqrt(2)), nn.Tanh(),
                                       init_(nn.Linear(hidden_size, hidden_size), np.sqrt(2)), nn.Tanh())
            self.critic = nn.Sequential(init_(nn.Linear(4, hidden_size), np.sqrt(2)), nn.Tanh(),
                                        init_(nn.Linear(hidden_size, hidden_size), np.sqrt(2)), nn.Tanh())
            self.critic_linear = init_(nn.Linear(hidden_size, 1))
            self.dist_linear = init_(nn.Linear(hidden_size, 2), gain=0.01)

        def forward(self, inputs):
            return self.critic_linear(self.critic(inputs)), self.actor(inputs)

        def act(self, inputs):
            value, actor_features = self(inputs)
            dist = Categorical(logits=self.dist_linear(actor_features))
            action = inverse_cdf(torch, dist.probs, rs).unsqueeze(-1)
            action_log_probs = dist.log_prob(action.squeeze(-1)).view(action.size(0), -1).sum(-1).unsqueeze(-1)
            return value, action, action_log_probs

        def evaluate_actions(self, inputs, action):
            value, actor_features = self(inputs)
            dist = Categorical(logits=self.dist_linear(actor_features))
            action_log_probs = dist.log_prob(action.squeeze(-1)).view(action.size(0), -1).sum(-1).unsqueeze(-1)
            dist_entropy = dist.entropy().mean()
            return value, action_log_probs, dist_entropy

    actor_critic = Policy()
    rec.sync("a2c", actor_critic)
    optimizer = optim.RMSprop(actor_critic.parameters(), 7e-4, eps=1e-5, alpha=0.99)
    obs = torch.zeros(num_steps + 1, num_envs, 4)
    rewards = torch.zeros(num_steps, num_envs, 1)
    value_preds = torch.zeros(num_steps + 1, num_envs, 1)
    returns = torch.zeros(num_steps + 1, num_envs, 1)
    actions = torch.zeros(num_steps, num_envs, 1).long()
    masks = torch.ones(num_steps + 1, num_envs, 1)
    obs[0].copy_(torch.from_numpy(np.stack([e.reset()[0] for e in envs])))
    episode_rewards = []
    ep_ret = np.zeros(num_envs)
    for j in range(num_updates):
        for step in range(num_steps):
            with torch.no_grad():
                value, action, action_log_prob = actor_critic.act(obs[step])
            results = [e.step(a) for e, a in zip(envs, action.numpy()[:, 0])]
            new_obs = []
            done = []
            for i, (o, r, term, trunc, _) in enumerate(results):
                ep_ret[i] += r
                if term or trunc:
                    episode_rewards.append(ep_ret[i])
                    ep_ret[i] = 0
                    o = envs[i].reset()[0]
                new_obs.append(o)
                done.append(term or trunc)
            reward = torch.from_numpy(np.array([r[1] for r in results], dtype=np.float32)).unsqueeze(1)
            mask = torch.FloatTensor([[0.0] if done_ else [1.0] for done_ in done])
            obs[step + 1].copy_(torch.from_numpy(np.stack(new_obs)))
            actions[step].copy_(action)
            value_preds[step].copy_(value)
            rewards[step].copy_(reward)
            masks[step + 1].copy_(mask)
        with torch.no_grad():
            next_value = actor_critic(obs[-1])[0].detach()
        returns[-1] = next_value
        for step in reversed(range(rewards.size(0))):
            returns[step] = returns[step + 1] * gamma * masks[step + 1] + rewards[step]
        obs_shape = obs.size()[2:]
        values, action_log_probs, dist_entropy = actor_critic.evaluate_actions(obs[:-1].view(-1, *obs_shape),
                                                                              actions.view(-1, 1))
        values = values.view(num_steps, num_envs, 1)
        action_log_probs = action_log_probs.view(num_steps, num_envs, 1)
        advantages = returns[:-1] - values
        value_loss = advantages.pow(2).mean()
        action_loss = -(advantages.detach() * action_log_probs).mean()
        optimizer.zero_grad()
        (value_loss * value_loss_coef + action_loss - dist_entropy * entropy_coef).backward()
        nn.utils.clip_grad_norm_(actor_critic.parameters(), max_grad_norm)
        optimizer.step()
        obs[0].copy_(obs[-1])
        masks[0].copy_(masks[-1])
        rec.log("losses", [value_loss, action_loss, dist_entropy])
        rec.log("actions", actions)
        rec.log("returns", returns)
    rec.log("episode_rewards", [float(x) for x in episode_rewards])
    rec.log("dist_linear", actor_critic.dist_linear.weight)


def pong_pg_body(lib, rec, episodes=3, batch_size=2, gamma=0.99):
    torch, nn, F = lib.torch, lib.nn, lib.F
    Bernoulli = __import__(lib.name + ".distributions", fromlist=["Bernoulli"]).Bernoulli
    rs = np.random.RandomState(1)
    env = CartPole(seed=3, max_steps=20)

    class PolicyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 24)
            self.fc2 = nn.Linear(24, 1)

        def forward(self, x):
            return torch.sigmoid(self.fc2(F.relu(self.fc1(x))))

    policy_net = PolicyNet()
    rec.sync("pg", policy_net)
    optimizer = torch.optim.RMSprop(policy_net.parameters(), lr=0.01)
    state_pool, action_pool, reward_pool = [], [], []
    steps = 0
    for e in range(episodes):
        state, _ = env.reset()
        state = torch.from_numpy(state).float()
        for t in range(100):
            probs = policy_net(state)
            m = Bernoulli(probs)
            action = torch.from_numpy(np.asarray(rs.rand(1) < probs.detach().numpy(), dtype=np.float32))
            action = action.data.numpy().astype(int)[0]
            next_state, reward, done, trunc, _ = env.step(action)
            if done or trunc:
                reward = 0
            state_pool.append(state)
            action_pool.append(float(action))
            reward_pool.append(reward)
            rec.log("log_prob", m.log_prob(torch.tensor([float(action)])))
            state = torch.from_numpy(next_state).float()
            steps += 1
            if done or trunc:
                break
        if e > 0 and e % batch_size == 0 or e == episodes - 1:
            running_add = 0
            for i in reversed(range(steps)):
                if reward_pool[i] == 0:
                    running_add = 0
                else:
                    running_add = running_add * gamma + reward_pool[i]
                    reward_pool[i] = running_add
            reward_mean = np.mean(reward_pool)
            reward_std = np.std(reward_pool)
            for i in range(steps):
                reward_pool[i] = (reward_pool[i] - reward_mean) / reward_std
            optimizer.zero_grad()
            for i in range(steps):
                state = state_pool[i]
                action = torch.FloatTensor([action_pool[i]])
                reward = reward_pool[i]
                probs = policy_net(state)
                m = Bernoulli(probs)
                loss = -m.log_prob(action) * reward
                loss.backward()
            rec.log("grad.fc1", policy_net.fc1.weight.grad)
            optimizer.step()
            state_pool, action_pool, reward_pool = [], [], []
            steps = 0
    m = Bernoulli(logits=torch.tensor([0.3, -1.2]))
    rec.log("entropy", m.entropy())
    rec.log("mean", m.mean)


def mdn_rnn_body(lib, rec, steps=3, batch=4, seq_len=6, latents=4, actions=2, hiddens=16, gaussians=3):
    torch, nn, F = lib.torch, lib.nn, lib.F
    Normal = __import__(lib.name + ".distributions", fromlist=["Normal"]).Normal
    rs = np.random.RandomState(2)

    def gmm_loss(batch_, mus, sigmas, logpi, reduce=True):
        batch_ = batch_.unsqueeze(-2)
        normal_dist = Normal(mus, sigmas)
        g_log_probs = normal_dist.log_prob(batch_)
        g_log_probs = logpi + torch.sum(g_log_probs, dim=-1)
        max_log_probs = torch.max(g_log_probs, dim=-1, keepdim=True)[0]
        g_log_probs = g_log_probs - max_log_probs
        g_probs = torch.exp(g_log_probs)
        probs = torch.sum(g_probs, dim=-1)
        log_prob = max_log_probs.squeeze() + torch.log(probs)
        if reduce:
            return - torch.mean(log_prob)
        return - log_prob

    class _MDRNNBase(nn.Module):
        def __init__(self, latents, actions, hiddens, gaussians):
            super().__init__()
            self.latents, self.actions, self.hiddens, self.gaussians = latents, actions, hiddens, gaussians
            self.gmm_linear = nn.Linear(hiddens, (2 * latents + 1) * gaussians + 2)

    class MDRNN(_MDRNNBase):
        def __init__(self, latents, actions, hiddens, gaussians):
            super().__init__(latents, actions, hiddens, gaussians)
            self.rnn = nn.LSTM(latents + actions, hiddens)

        def forward(self, actions, latents):
            seq_len, bs = actions.size(0), actions.size(1)
            ins = torch.cat([actions, latents], dim=-1)
            outs, _ = self.rnn(ins)
            gmm_outs = self.gmm_linear(outs)
            stride = self.gaussians * self.latents
            mus = gmm_outs[:, :, :stride]
            mus = mus.view(seq_len, bs, self.gaussians, self.latents)
            sigmas = gmm_outs[:, :, stride:2 * stride]
            sigmas = sigmas.view(seq_len, bs, self.gaussians, self.latents)
            sigmas = torch.exp(sigmas)
            pi = gmm_outs[:, :, 2 * stride: 2 * stride + self.gaussians]
            pi = pi.view(seq_len, bs, self.gaussians)
            logpi = F.log_softmax(pi, dim=-1)
            rs_ = gmm_outs[:, :, -2]
            ds = gmm_outs[:, :, -1]
            return mus, sigmas, logpi, rs_, ds

    mdrnn = MDRNN(latents, actions, hiddens, gaussians)
    rec.sync("mdrnn", mdrnn)
    optimizer = torch.optim.RMSprop(mdrnn.parameters(), lr=1e-3, alpha=.9)
    for i in range(steps):
        latent_obs = torch.from_numpy(rs.randn(batch, seq_len, latents).astype(np.float32))
        action = torch.from_numpy(rs.uniform(-1, 1, (batch, seq_len, actions)).astype(np.float32))
        reward = torch.from_numpy(rs.randn(batch, seq_len).astype(np.float32))
        terminal = torch.from_numpy((rs.rand(batch, seq_len) < 0.1).astype(np.float32))
        next_latent_obs = torch.from_numpy(rs.randn(batch, seq_len, latents).astype(np.float32))
        latent_obs, action, reward, terminal, next_latent_obs = [
            arr.transpose(1, 0) for arr in [latent_obs, action, reward, terminal, next_latent_obs]]
        mus, sigmas, logpi, rs_, ds = mdrnn(action, latent_obs)
        gmm = gmm_loss(next_latent_obs, mus, sigmas, logpi)
        bce = F.binary_cross_entropy_with_logits(ds, terminal)
        mse = F.mse_loss(rs_, reward)
        scale = latents + 2
        loss = (gmm + bce + mse) / scale
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rec.log("loss", [loss, gmm, bce, mse])
        rec.log("grad.rnn", mdrnn.rnn.weight_hh_l0.grad)
    with torch.no_grad():
        per_step = gmm_loss(next_latent_obs, mus, sigmas, logpi, reduce=False)
        rec.log("per_step", per_step)
        # sampling the next latent: a component from numpy gumbel noise, then mu + sigma * eps
        k = (logpi[-1] + torch.from_numpy(-np.log(-np.log(rs.rand(batch, gaussians))).astype(np.float32))).argmax(-1)
        mu_k = mus[-1][torch.arange(batch), k]
        sigma_k = sigmas[-1][torch.arange(batch), k]
        rec.log("next_latent", mu_k + sigma_k * torch.from_numpy(rs.randn(batch, latents).astype(np.float32)))


def test_a2c_matches_pytorch():
    run_both(a2c_body, rtol=1e-3, atol=1e-4)


def test_bernoulli_policy_gradient_matches_pytorch():
    run_both(pong_pg_body, rtol=1e-3, atol=1e-5)


def test_world_models_mdn_rnn_matches_pytorch():
    run_both(mdn_rnn_body, rtol=1e-3, atol=1e-4)


if __name__ == "__main__":
    test_a2c_matches_pytorch()
    test_bernoulli_policy_gradient_matches_pytorch()
    test_world_models_mdn_rnn_matches_pytorch()
    print("ok")
