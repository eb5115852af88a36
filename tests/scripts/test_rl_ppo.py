"""PPO with a Gaussian policy on a continuous point-mass task, in the two styles most copied: CleanRL's
ppo_continuous_action (orthogonal layer_init, a state-independent log-std Parameter, Normal(...).log_prob
summed over the action dims, GAE, minibatch shuffling, clipped policy and value losses, approx-KL and
clip fractions, learning-rate annealing through param_groups) and PPO-PyTorch's ActorCritic with a
MultivariateNormal of diagonal covariance and a RolloutBuffer. Run with PyTorch and with flambeau from the
same weights; action noise and minibatch order come from numpy so both runs see the same rollouts."""
import numpy as np

from rl_envs import PointMass
from vision_parity import FLAMBEAU, TORCH, run_both


def cleanrl_ppo_body(lib, rec, num_updates=2, num_steps=32, num_minibatches=4, update_epochs=2):
    torch, nn, optim = lib.torch, lib.nn, lib.optim
    Normal = __import__(lib.name + ".distributions", fromlist=["Normal"]).Normal
    rs = np.random.RandomState(1)
    envs = [PointMass(seed=s, horizon=8) for s in range(2)]
    num_envs = len(envs)
    gamma, gae_lambda, clip_coef, ent_coef, vf_coef, max_grad_norm = 0.99, 0.95, 0.2, 0.01, 0.5, 0.5
    learning_rate = 3e-4
    batch_size = num_envs * num_steps
    minibatch_size = batch_size // num_minibatches

    def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
        torch.nn.init.orthogonal_(layer.weight, std)
        torch.nn.init.constant_(layer.bias, bias_const)
        return layer

    class Agent(nn.Module):
        def __init__(self, obs_dim, act_dim):
            super().__init__()
            self.critic = nn.Sequential(
                layer_init(nn.Linear(obs_dim, 16)), nn.Tanh(),
                layer_init(nn.Linear(16, 16)), nn.Tanh(),
                layer_init(nn.Linear(16, 1), std=1.0))
            self.actor_mean = nn.Sequential(
                layer_init(nn.Linear(obs_dim, 16)), nn.Tanh(),
                layer_init(nn.Linear(16, 16)), nn.Tanh(),
                layer_init(nn.Linear(16, act_dim), std=0.01))
            self.actor_logstd = nn.Parameter(torch.zeros(1, act_dim))

        def get_value(self, x):
            return self.critic(x)

        def get_action_and_value(self, x, action=None):
            action_mean = self.actor_mean(x)
            action_logstd = self.actor_logstd.expand_as(action_mean)
            action_std = torch.exp(action_logstd)
            probs = Normal(action_mean, action_std)
            if action is None:
                # probs.sample(), drawn from numpy noise so both libraries take the same actions
                eps = torch.from_numpy(rs.randn(*action_mean.shape).astype(np.float32))
                action = (probs.mean + probs.stddev * eps).detach()
            return action, probs.log_prob(action).sum(1), probs.entropy().sum(1), self.critic(x)

    agent = Agent(PointMass.obs_dim, PointMass.act_dim)
    rec.sync("agent", agent)
    optimizer = optim.Adam(agent.parameters(), lr=learning_rate, eps=1e-5)
    obs = torch.zeros((num_steps, num_envs, PointMass.obs_dim))
    actions = torch.zeros((num_steps, num_envs, PointMass.act_dim))
    logprobs = torch.zeros((num_steps, num_envs))
    rewards = torch.zeros((num_steps, num_envs))
    dones = torch.zeros((num_steps, num_envs))
    values = torch.zeros((num_steps, num_envs))
    next_obs = torch.Tensor(np.stack([e.reset() for e in envs]))
    next_done = torch.zeros(num_envs)

    for update in range(1, num_updates + 1):
        frac = 1.0 - (update - 1.0) / num_updates
        lrnow = frac * learning_rate
        optimizer.param_groups[0]["lr"] = lrnow
        for step in range(0, num_steps):
            obs[step] = next_obs
            dones[step] = next_done
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
                values[step] = value.flatten()
            actions[step] = action
            logprobs[step] = logprob
            results = [e.step(a) for e, a in zip(envs, action.cpu().numpy()[:, 0])]
            next_obs_np = np.stack([r[0] if not r[2] else e.reset() for e, r in zip(envs, results)])
            rewards[step] = torch.tensor(np.array([r[1] for r in results])).to(torch.float32).view(-1)
            next_obs, next_done = torch.Tensor(next_obs_np), torch.Tensor(np.array([float(r[2]) for r in results]))
        rec.log("rewards", rewards)
        rec.log("logprobs", logprobs)
        with torch.no_grad():
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards)
            lastgaelam = 0
            for t in reversed(range(num_steps)):
                if t == num_steps - 1:
                    nextnonterminal = 1.0 - next_done
                    nextvalues = next_value
                else:
                    nextnonterminal = 1.0 - dones[t + 1]
                    nextvalues = values[t + 1]
                delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + gamma * gae_lambda * nextnonterminal * lastgaelam
            returns = advantages + values
        rec.log("advantages", advantages)
        b_obs = obs.reshape((-1, PointMass.obs_dim))
        b_logprobs = logprobs.reshape(-1)
        b_actions = actions.reshape((-1, PointMass.act_dim))
        b_advantages = advantages.reshape(-1)
        b_returns = returns.reshape(-1)
        b_values = values.reshape(-1)
        b_inds = np.arange(batch_size)
        clipfracs = []
        for epoch in range(update_epochs):
            rs.shuffle(b_inds)
            for start in range(0, batch_size, minibatch_size):
                end = start + minibatch_size
                mb_inds = b_inds[start:end]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb_inds], b_actions[mb_inds])
                logratio = newlogprob - b_logprobs[mb_inds]
                ratio = logratio.exp()
                with torch.no_grad():
                    old_approx_kl = (-logratio).mean()
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs += [((ratio - 1.0).abs() > clip_coef).float().mean().item()]
                mb_advantages = b_advantages[mb_inds]
                mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
                pg_loss1 = -mb_advantages * ratio
                pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
                pg_loss = torch.max(pg_loss1, pg_loss2).mean()
                newvalue = newvalue.view(-1)
                v_loss_unclipped = (newvalue - b_returns[mb_inds]) ** 2
                v_clipped = b_values[mb_inds] + torch.clamp(newvalue - b_values[mb_inds], -clip_coef, clip_coef)
                v_loss_clipped = (v_clipped - b_returns[mb_inds]) ** 2
                v_loss_max = torch.max(v_loss_unclipped, v_loss_clipped)
                v_loss = 0.5 * v_loss_max.mean()
                entropy_loss = entropy.mean()
                loss = pg_loss - ent_coef * entropy_loss + v_loss * vf_coef
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), max_grad_norm)
                optimizer.step()
                rec.log("loss", [pg_loss, v_loss, entropy_loss, old_approx_kl, approx_kl])
        y_pred, y_true = b_values.cpu().numpy(), b_returns.cpu().numpy()
        var_y = np.var(y_true)
        explained_var = np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y
        rec.log("explained_var", float(explained_var))
        rec.log("clipfracs", float(np.mean(clipfracs)))
        rec.log("lr", optimizer.param_groups[0]["lr"])
    rec.log("actor_logstd", agent.actor_logstd)


def ppo_pytorch_body(lib, rec, updates=2, horizon=24, K_epochs=3):
    """nikhilbarhate99/PPO-PyTorch's continuous ActorCritic: MultivariateNormal(action_mean, diag cov)."""
    torch, nn = lib.torch, lib.nn
    MultivariateNormal = __import__(lib.name + ".distributions", fromlist=["MultivariateNormal"]).MultivariateNormal
    rs = np.random.RandomState(5)
    device = torch.device('cpu')
    state_dim, action_dim = PointMass.obs_dim, 2
    action_std_init, gamma, eps_clip = 0.6, 0.99, 0.2

    class RolloutBuffer:
        def __init__(self):
            self.actions, self.states, self.logprobs, self.rewards, self.state_values, self.is_terminals = \
                [], [], [], [], [], []

        def clear(self):
            del self.actions[:]
            del self.states[:]
            del self.logprobs[:]
            del self.rewards[:]
            del self.state_values[:]
            del self.is_terminals[:]

    class ActorCritic(nn.Module):
        def __init__(self):
            super(ActorCritic, self).__init__()
            self.action_var = torch.full((action_dim,), action_std_init * action_std_init).to(device)
            self.actor = nn.Sequential(nn.Linear(state_dim, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(),
                                       nn.Linear(16, action_dim), nn.Tanh())
            self.critic = nn.Sequential(nn.Linear(state_dim, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(),
                                        nn.Linear(16, 1))

        def set_action_std(self, new_action_std):
            self.action_var = torch.full((action_dim,), new_action_std * new_action_std).to(device)

        def act(self, state):
            action_mean = self.actor(state)
            cov_mat = torch.diag(self.action_var).unsqueeze(dim=0)
            dist = MultivariateNormal(action_mean, cov_mat)
            # dist.sample(): loc + scale_tril @ eps, with eps from numpy
            eps = torch.from_numpy(rs.randn(*action_mean.shape).astype(np.float32))
            action = dist.loc + (dist.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)
            action_logprob = dist.log_prob(action)
            state_val = self.critic(state)
            return action.detach(), action_logprob.detach(), state_val.detach()

        def evaluate(self, state, action):
            action_mean = self.actor(state)
            action_var = self.action_var.expand_as(action_mean)
            cov_mat = torch.diag_embed(action_var).to(device)
            dist = MultivariateNormal(action_mean, cov_mat)
            if action_dim == 1:
                action = action.reshape(-1, action_dim)
            action_logprobs = dist.log_prob(action)
            dist_entropy = dist.entropy()
            state_values = self.critic(state)
            return action_logprobs, state_values, dist_entropy

    buffer = RolloutBuffer()
    policy = ActorCritic().to(device)
    rec.sync("policy", policy)
    optimizer = torch.optim.Adam([{'params': policy.actor.parameters(), 'lr': 3e-4},
                                  {'params': policy.critic.parameters(), 'lr': 1e-3}])
    policy_old = ActorCritic().to(device)
    policy_old.load_state_dict(policy.state_dict())
    MseLoss = nn.MSELoss()
    env = PointMass(seed=3, horizon=12)
    state = env.reset()
    for update in range(updates):
        for t in range(horizon):
            with torch.no_grad():
                s = torch.FloatTensor(state).to(device)
                action, action_logprob, state_val = policy_old.act(s)
            buffer.states.append(s)
            buffer.actions.append(action)
            buffer.logprobs.append(action_logprob)
            buffer.state_values.append(state_val)
            state, reward, done = env.step(action.detach().cpu().numpy().flatten()[0])
            buffer.rewards.append(reward)
            buffer.is_terminals.append(done)
            if done:
                state = env.reset()
        rewards = []
        discounted_reward = 0
        for reward, is_terminal in zip(reversed(buffer.rewards), reversed(buffer.is_terminals)):
            if is_terminal:
                discounted_reward = 0
            discounted_reward = reward + (gamma * discounted_reward)
            rewards.insert(0, discounted_reward)
        rewards = torch.tensor(rewards, dtype=torch.float32).to(device)
        rewards = (rewards - rewards.mean()) / (rewards.std() + 1e-7)
        old_states = torch.squeeze(torch.stack(buffer.states, dim=0)).detach().to(device)
        old_actions = torch.squeeze(torch.stack(buffer.actions, dim=0)).detach().to(device)
        old_logprobs = torch.squeeze(torch.stack(buffer.logprobs, dim=0)).detach().to(device)
        old_state_values = torch.squeeze(torch.stack(buffer.state_values, dim=0)).detach().to(device)
        advantages = rewards.detach() - old_state_values.detach()
        rec.log("old_logprobs", old_logprobs)
        rec.log("advantages", advantages)
        for _ in range(K_epochs):
            logprobs, state_values, dist_entropy = policy.evaluate(old_states, old_actions)
            state_values = torch.squeeze(state_values)
            ratios = torch.exp(logprobs - old_logprobs.detach())
            surr1 = ratios * advantages
            surr2 = torch.clamp(ratios, 1 - eps_clip, 1 + eps_clip) * advantages
            loss = -torch.min(surr1, surr2) + 0.5 * MseLoss(state_values, rewards) - 0.01 * dist_entropy
            optimizer.zero_grad()
            loss.mean().backward()
            optimizer.step()
            rec.log("loss", loss)
            rec.log("entropy", dist_entropy)
        policy_old.load_state_dict(policy.state_dict())
        buffer.clear()
        policy.set_action_std(max(0.1, round(0.6 - 0.05 * (update + 1), 4)))
        policy_old.set_action_std(max(0.1, round(0.6 - 0.05 * (update + 1), 4)))
    rec.log("actor.out", policy.actor[4].weight)


def test_cleanrl_ppo_continuous_matches_pytorch():
    run_both(cleanrl_ppo_body, rtol=1e-3, atol=1e-4)


def test_ppo_pytorch_multivariate_normal_matches_pytorch():
    run_both(ppo_pytorch_body, rtol=1e-3, atol=1e-4)


if __name__ == "__main__":
    test_cleanrl_ppo_continuous_matches_pytorch()
    test_ppo_pytorch_multivariate_normal_matches_pytorch()
    print("ok")
