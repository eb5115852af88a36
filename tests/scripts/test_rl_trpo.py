"""TRPO as in ikostrikov/pytorch-trpo / Spinning Up: a Gaussian policy with a state-independent log-std,
the surrogate loss, the mean KL to the old policy (kl_divergence of Normals, and the closed form written
out), Fisher-vector products by differentiating the KL gradient (autograd.grad with create_graph, twice),
conjugate gradient, a backtracking line search writing candidate parameters with
nn.utils.vector_to_parameters / parameters_to_vector, and an L-BFGS value-function fit. Run with PyTorch
and with flambeau from the same weights; actions come from numpy noise."""
import numpy as np

from rl_envs import PointMass
from vision_parity import run_both


def trpo_body(lib, rec, updates=2, horizon=24, max_kl=1e-2, damping=1e-1):
    torch, nn = lib.torch, lib.nn
    D = __import__(lib.name + ".distributions", fromlist=["Normal"])
    from_vec = torch.nn.utils.vector_to_parameters
    to_vec = torch.nn.utils.parameters_to_vector
    rs = np.random.RandomState(0)
    obs_dim, act_dim = PointMass.obs_dim, PointMass.act_dim

    class Policy(nn.Module):
        def __init__(self):
            super().__init__()
            self.affine1 = nn.Linear(obs_dim, 16)
            self.affine2 = nn.Linear(16, 16)
            self.action_mean = nn.Linear(16, act_dim)
            self.action_mean.weight.data.mul_(0.1)
            self.action_mean.bias.data.mul_(0.0)
            self.action_log_std = nn.Parameter(torch.zeros(1, act_dim))

        def forward(self, x):
            x = torch.tanh(self.affine1(x))
            x = torch.tanh(self.affine2(x))
            action_mean = self.action_mean(x)
            action_log_std = self.action_log_std.expand_as(action_mean)
            return action_mean, action_log_std, torch.exp(action_log_std)

    policy = Policy()
    value = nn.Sequential(nn.Linear(obs_dim, 16), nn.Tanh(), nn.Linear(16, 1))
    rec.sync("policy", policy)
    rec.sync("value", value)

    def conjugate_gradients(Avp, b, nsteps, residual_tol=1e-10):
        x = torch.zeros(b.size())
        r = b.clone()
        p = b.clone()
        rdotr = torch.dot(r, r)
        for i in range(nsteps):
            _Avp = Avp(p)
            alpha = rdotr / torch.dot(p, _Avp)
            x += alpha * p
            r -= alpha * _Avp
            new_rdotr = torch.dot(r, r)
            betta = new_rdotr / rdotr
            p = r + betta * p
            rdotr = new_rdotr
            if rdotr < residual_tol:
                break
        return x

    def linesearch(model, f, x, fullstep, expected_improve_rate, max_backtracks=6, accept_ratio=.1):
        fval = f(True).data
        for (_n_backtracks, stepfrac) in enumerate(.5 ** np.arange(max_backtracks)):
            xnew = x + stepfrac * fullstep
            from_vec(xnew, model.parameters())
            newfval = f(True).data
            actual_improve = fval - newfval
            expected_improve = expected_improve_rate * stepfrac
            ratio = actual_improve / expected_improve
            if ratio.item() > accept_ratio and actual_improve.item() > 0:
                return True, xnew
        return False, x

    def normal_log_density(x, mean, log_std, std):
        var = std.pow(2)
        log_density = -(x - mean).pow(2) / (2 * var) - 0.5 * np.log(2 * np.pi) - log_std
        return log_density.sum(1, keepdim=True)

    env = PointMass(seed=4, horizon=12)
    for update in range(updates):
        states, actions, rewards, masks = [], [], [], []
        state = env.reset()
        for t in range(horizon):
            with torch.no_grad():
                mean, _, std = policy(torch.from_numpy(state).unsqueeze(0))
            action = (mean + std * torch.from_numpy(rs.randn(1, act_dim).astype(np.float32)))[0].numpy()
            next_state, reward, done = env.step(action[0])
            states.append(state)
            actions.append(action)
            rewards.append(reward)
            masks.append(0.0 if done else 1.0)
            state = env.reset() if done else next_state
        states = torch.from_numpy(np.array(states, dtype=np.float32))
        actions = torch.from_numpy(np.array(actions, dtype=np.float32))
        rewards = torch.tensor(rewards, dtype=torch.float32)
        masks = torch.tensor(masks)
        values = value(states)
        returns = torch.Tensor(actions.size(0), 1)
        deltas = torch.Tensor(actions.size(0), 1)
        advantages = torch.Tensor(actions.size(0), 1)
        prev_return = prev_value = prev_advantage = 0
        gamma, tau = 0.99, 0.95
        for i in reversed(range(rewards.size(0))):
            returns[i] = rewards[i] + gamma * prev_return * masks[i]
            deltas[i] = rewards[i] + gamma * prev_value * masks[i] - values.data[i]
            advantages[i] = deltas[i] + gamma * tau * prev_advantage * masks[i]
            prev_return, prev_value, prev_advantage = returns[i, 0], values.data[i, 0], advantages[i, 0]
        targets = returns.detach()
        # the value function: L-BFGS on the squared error plus an L2 penalty (the original uses scipy)
        v_opt = torch.optim.LBFGS(value.parameters(), lr=0.5, max_iter=10, history_size=5)

        def closure():
            v_opt.zero_grad()
            value_loss = (value(states) - targets).pow(2).mean()
            for param in value.parameters():
                value_loss = value_loss + param.pow(2).sum() * 1e-3
            value_loss.backward()
            return value_loss
        v_loss = v_opt.step(closure)
        rec.log("value_loss", v_loss)
        advantages = (advantages - advantages.mean()) / advantages.std()
        with torch.no_grad():
            action_means, action_log_stds, action_stds = policy(states)
            fixed_log_prob = normal_log_density(actions, action_means, action_log_stds, action_stds)

        def get_loss(volatile=False):
            with torch.set_grad_enabled(not volatile):
                action_means, action_log_stds, action_stds = policy(states)
                log_prob = normal_log_density(actions, action_means, action_log_stds, action_stds)
                action_loss = -advantages * torch.exp(log_prob - fixed_log_prob)
                return action_loss.mean()

        def get_kl():
            mean1, log_std1, std1 = policy(states)
            mean0, log_std0, std0 = mean1.detach(), log_std1.detach(), std1.detach()
            kl = log_std1 - log_std0 + (std0.pow(2) + (mean0 - mean1).pow(2)) / (2.0 * std1.pow(2)) - 0.5
            return kl.sum(1, keepdim=True)

        loss = get_loss()
        grads = torch.autograd.grad(loss, policy.parameters())
        loss_grad = torch.cat([grad.view(-1) for grad in grads]).data

        def Fvp(v):
            kl = get_kl().mean()
            grads = torch.autograd.grad(kl, policy.parameters(), create_graph=True)
            flat_grad_kl = torch.cat([grad.view(-1) for grad in grads])
            kl_v = (flat_grad_kl * v).sum()
            grads = torch.autograd.grad(kl_v, policy.parameters())
            flat_grad_grad_kl = torch.cat([grad.contiguous().view(-1) for grad in grads]).data
            return flat_grad_grad_kl + v * damping

        stepdir = conjugate_gradients(Fvp, -loss_grad, 10)
        shs = 0.5 * (stepdir * Fvp(stepdir)).sum(0, keepdim=True)
        lm = torch.sqrt(shs / max_kl)
        fullstep = stepdir / lm[0]
        neggdotstepdir = (-loss_grad * stepdir).sum(0, keepdim=True)
        prev_params = to_vec(policy.parameters())
        success, new_params = linesearch(policy, get_loss, prev_params, fullstep, neggdotstepdir / lm[0])
        from_vec(new_params, policy.parameters())
        rec.log("loss", loss)
        rec.log("stepdir", stepdir)
        rec.log("success", success)
        with torch.no_grad():
            m1, _, s1 = policy(states)
            kl_lib = D.kl_divergence(D.Normal(action_means, action_stds), D.Normal(m1, s1)).sum(1).mean()
        rec.log("kl_after", kl_lib)
    rec.log("params", to_vec(policy.parameters()))


def test_trpo_matches_pytorch():
    run_both(trpo_body, rtol=2e-3, atol=1e-4)


if __name__ == "__main__":
    test_trpo_matches_pytorch()
    print("ok")
