"""REINFORCE and actor-critic on CartPole, as in pytorch/examples/reinforcement_learning (reinforce.py,
actor_critic.py): a policy with dropout (p=0 for the parity run) and Categorical action sampling,
discounted returns normalised with finfo.eps, the policy loss from log_prob, and for actor-critic a value
head trained with smooth_l1_loss. Run with PyTorch and with flambeau from the same weights; the actions
are drawn by inverse CDF from the same numpy uniforms so both runs play the same episodes. The real
dist.sample() path runs separately and is checked statistically."""
from collections import namedtuple

import numpy as np

from rl_envs import CartPole
from vision_parity import FLAMBEAU, TORCH, run_both


def numpy_sampler(seed):
    """dist.sample() for the parity runs: the same numpy uniform picks the same category in both
    libraries (inverse CDF of dist.probs)."""
    rs = np.random.RandomState(seed)

    def sample(dist):
        torch = sample.lib
        probs = dist.probs.detach().numpy().astype(np.float64)
        u = rs.rand(*probs.shape[:-1], 1)
        idx = (np.cumsum(probs, -1) < u * probs.sum(-1, keepdims=True)).sum(-1)
        return torch.from_numpy(np.asarray(np.minimum(idx, probs.shape[-1] - 1), dtype=np.int64))
    return sample


def reinforce_body(lib, rec, episodes=3, sampler=None, dropout=0.0):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    from_dist = __import__(lib.name + ".distributions", fromlist=["Categorical"])
    Categorical = from_dist.Categorical
    gamma = 0.99
    if sampler is not None:
        sampler.lib = torch
    env = CartPole(seed=543, max_steps=40)

    class Policy(nn.Module):
        def __init__(self):
            super(Policy, self).__init__()
            self.affine1 = nn.Linear(4, 32)
            self.dropout = nn.Dropout(p=dropout)
            self.affine2 = nn.Linear(32, 2)
            self.saved_log_probs = []
            self.rewards = []

        def forward(self, x):
            x = self.affine1(x)
            x = self.dropout(x)
            x = F.relu(x)
            action_scores = self.affine2(x)
            return F.softmax(action_scores, dim=1)

    policy = Policy()
    rec.sync("policy", policy)
    optimizer = optim.Adam(policy.parameters(), lr=1e-2)
    eps = np.finfo(np.float32).eps.item()
    rec.log("finfo_eps", torch.finfo(torch.float32).eps)

    def select_action(state):
        state = torch.from_numpy(state).float().unsqueeze(0)
        probs = policy(state)
        m = Categorical(probs)
        action = m.sample() if sampler is None else sampler(m)
        policy.saved_log_probs.append(m.log_prob(action))
        return action.item()

    def finish_episode():
        R = 0
        policy_loss = []
        returns = []
        for r in policy.rewards[::-1]:
            R = r + gamma * R
            returns.insert(0, R)
        returns = torch.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps)
        for log_prob, R in zip(policy.saved_log_probs, returns):
            policy_loss.append(-log_prob * R)
        optimizer.zero_grad()
        policy_loss = torch.cat(policy_loss).sum()
        policy_loss.backward()
        optimizer.step()
        del policy.rewards[:]
        del policy.saved_log_probs[:]
        return policy_loss, returns

    running_reward = 10
    for i_episode in range(episodes):
        state, _ = env.reset()
        ep_reward = 0
        actions = []
        for t in range(1, 10000):
            action = select_action(state)
            actions.append(action)
            state, reward, done, truncated, _ = env.step(action)
            policy.rewards.append(reward)
            ep_reward += reward
            if done or truncated:
                break
        running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
        rec.log("actions", torch.tensor(actions))
        rec.log("log_prob0", policy.saved_log_probs[0])
        loss, returns = finish_episode()
        rec.log("policy_loss", loss)
        rec.log("returns", returns)
        rec.log("running_reward", running_reward)
    rec.log("affine2.weight", policy.affine2.weight)


def actor_critic_body(lib, rec, episodes=3, sampler=None):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    Categorical = __import__(lib.name + ".distributions", fromlist=["Categorical"]).Categorical
    SavedAction = namedtuple('SavedAction', ['log_prob', 'value'])
    gamma = 0.99
    if sampler is not None:
        sampler.lib = torch
    env = CartPole(seed=7, max_steps=30)

    class Policy(nn.Module):
        """implements both actor and critic in one model"""
        def __init__(self):
            super(Policy, self).__init__()
            self.affine1 = nn.Linear(4, 32)
            self.action_head = nn.Linear(32, 2)
            self.value_head = nn.Linear(32, 1)
            self.saved_actions = []
            self.rewards = []

        def forward(self, x):
            x = F.relu(self.affine1(x))
            action_prob = F.softmax(self.action_head(x), dim=-1)
            state_values = self.value_head(x)
            return action_prob, state_values

    model = Policy()
    rec.sync("ac", model)
    optimizer = optim.Adam(model.parameters(), lr=3e-2)
    eps = np.finfo(np.float32).eps.item()

    def select_action(state):
        state = torch.from_numpy(state).float()
        probs, state_value = model(state)
        m = Categorical(probs)
        action = m.sample() if sampler is None else sampler(m)
        model.saved_actions.append(SavedAction(m.log_prob(action), state_value))
        rec.log("entropy", m.entropy())
        return action.item()

    def finish_episode():
        R = 0
        saved_actions = model.saved_actions
        policy_losses = []
        value_losses = []
        returns = []
        for r in model.rewards[::-1]:
            R = r + gamma * R
            returns.insert(0, R)
        returns = torch.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps)
        for (log_prob, value), R in zip(saved_actions, returns):
            advantage = R - value.item()
            policy_losses.append(-log_prob * advantage)
            value_losses.append(F.smooth_l1_loss(value, torch.tensor([R])))
        optimizer.zero_grad()
        loss = torch.stack(policy_losses).sum() + torch.stack(value_losses).sum()
        loss.backward()
        rec.log("grad.value_head", model.value_head.weight.grad)
        optimizer.step()
        del model.rewards[:]
        del model.saved_actions[:]
        return loss

    for i_episode in range(episodes):
        state, _ = env.reset()
        ep_reward = 0
        for t in range(1, 10000):
            action = select_action(state)
            state, reward, done, truncated, _ = env.step(action)
            model.rewards.append(reward)
            ep_reward += reward
            if done or truncated:
                break
        rec.log("ep_reward", ep_reward)
        rec.log("loss", finish_episode())
    rec.log("action_head.bias", model.action_head.bias)


def test_reinforce_matches_pytorch():
    _run(reinforce_body)


def _run(body, **kw):
    # a fresh numpy sampler per library run, so both draw the same uniforms
    def wrapped(lib, rec, **k):
        body(lib, rec, sampler=numpy_sampler(3), **k)
    run_both(wrapped, rtol=5e-4, atol=5e-5, **kw)


def test_actor_critic_matches_pytorch():
    _run(actor_critic_body)


def test_real_sampling_path_runs_and_is_calibrated():
    # the scripts as written, with dist.sample() from each library's generator
    for lib in (TORCH, FLAMBEAU):
        lib.torch.manual_seed(0)
        reinforce_body(lib, _Null(), episodes=2, dropout=0.6)
        actor_critic_body(lib, _Null(), episodes=2)
        Categorical = __import__(lib.name + ".distributions", fromlist=["Categorical"]).Categorical
        probs = lib.torch.tensor([[0.2, 0.8], [0.7, 0.3]])
        a = Categorical(probs).sample((4000,))
        assert tuple(a.shape) == (4000, 2) and a.dtype == lib.torch.int64
        freq = a.float().mean(0).numpy()
        np.testing.assert_allclose(freq, [0.8, 0.3], atol=0.03)


class _Null:
    def sync(self, name, model):
        return model

    def log(self, name, value):
        pass


if __name__ == "__main__":
    test_reinforce_matches_pytorch()
    test_actor_critic_matches_pytorch()
    test_real_sampling_path_runs_and_is_calibrated()
    print("ok")
