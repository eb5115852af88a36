"""DQN on CartPole as in PyTorch's "Reinforcement Learning (DQN) Tutorial": a replay memory of namedtuple
Transitions, epsilon-greedy action selection with an exponentially decaying epsilon, a policy and a target
network, the Huber (SmoothL1) loss on Q(s, a) gathered from the policy net against r + gamma max Q_target(s'),
in-place gradient clipping by value, AdamW with amsgrad and a soft update of the target network through its
state_dict. A second body does the Double-DQN variant with a hard target copy, torch.no_grad soft updates
with lerp_/mul_/add_ and F.huber_loss. Randomness (replay sampling, exploration) comes from seeded Python
and numpy generators, so both libraries' runs take the same decisions."""
import math
import random
from collections import deque, namedtuple

import numpy as np

from rl_envs import CartPole
from vision_parity import run_both

Transition = namedtuple('Transition', ('state', 'action', 'next_state', 'reward'))


class ReplayMemory(object):
    def __init__(self, capacity, rng):
        self.memory = deque([], maxlen=capacity)
        self.rng = rng

    def push(self, *args):
        """Save a transition"""
        self.memory.append(Transition(*args))

    def sample(self, batch_size):
        return self.rng.sample(self.memory, batch_size)

    def __len__(self):
        return len(self.memory)


def dqn_tutorial_body(lib, rec, num_steps=40):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    device = torch.device("cpu")
    BATCH_SIZE, GAMMA, EPS_START, EPS_END, EPS_DECAY, TAU, LR = 8, 0.99, 0.9, 0.05, 100, 0.005, 1e-3
    env = CartPole(seed=1, max_steps=25)
    rng = random.Random(0)

    class DQN(nn.Module):
        def __init__(self, n_observations, n_actions):
            super(DQN, self).__init__()
            self.layer1 = nn.Linear(n_observations, 32)
            self.layer2 = nn.Linear(32, 32)
            self.layer3 = nn.Linear(32, n_actions)

        def forward(self, x):
            x = F.relu(self.layer1(x))
            x = F.relu(self.layer2(x))
            return self.layer3(x)

    policy_net = DQN(4, 2).to(device)
    rec.sync("policy", policy_net)
    target_net = DQN(4, 2).to(device)
    target_net.load_state_dict(policy_net.state_dict())
    optimizer = optim.AdamW(policy_net.parameters(), lr=LR, amsgrad=True)
    memory = ReplayMemory(1000, rng)
    steps_done = 0

    def select_action(state):
        nonlocal steps_done
        sample = rng.random()
        eps_threshold = EPS_END + (EPS_START - EPS_END) * math.exp(-1. * steps_done / EPS_DECAY)
        steps_done += 1
        if sample > eps_threshold:
            with torch.no_grad():
                return policy_net(state).max(1).indices.view(1, 1)
        return torch.tensor([[rng.randrange(2)]], device=device, dtype=torch.long)

    def optimize_model():
        if len(memory) < BATCH_SIZE:
            return None
        transitions = memory.sample(BATCH_SIZE)
        batch = Transition(*zip(*transitions))
        non_final_mask = torch.tensor(tuple(map(lambda s: s is not None, batch.next_state)), device=device,
                                      dtype=torch.bool)
        non_final_next_states = torch.cat([s for s in batch.next_state if s is not None])
        state_batch = torch.cat(batch.state)
        action_batch = torch.cat(batch.action)
        reward_batch = torch.cat(batch.reward)
        state_action_values = policy_net(state_batch).gather(1, action_batch)
        next_state_values = torch.zeros(BATCH_SIZE, device=device)
        with torch.no_grad():
            next_state_values[non_final_mask] = target_net(non_final_next_states).max(1).values
        expected_state_action_values = (next_state_values * GAMMA) + reward_batch
        criterion = nn.SmoothL1Loss()
        loss = criterion(state_action_values, expected_state_action_values.unsqueeze(1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(policy_net.parameters(), 100)
        optimizer.step()
        return loss

    state, info = env.reset()
    state = torch.tensor(state, dtype=torch.float32, device=device).unsqueeze(0)
    episode_durations = []
    t = 0
    for step in range(num_steps):
        action = select_action(state)
        rec.log("action", action)
        observation, reward, terminated, truncated, _ = env.step(action.item())
        reward = torch.tensor([reward], device=device)
        done = terminated or truncated
        next_state = None if terminated else torch.tensor(observation, dtype=torch.float32,
                                                          device=device).unsqueeze(0)
        memory.push(state, action, next_state, reward)
        state = next_state
        loss = optimize_model()
        if loss is not None:
            rec.log("loss", loss)
        # soft update of the target network's weights: θ′ ← τ θ + (1 −τ )θ′
        target_net_state_dict = target_net.state_dict()
        policy_net_state_dict = policy_net.state_dict()
        for key in policy_net_state_dict:
            target_net_state_dict[key] = policy_net_state_dict[key] * TAU + target_net_state_dict[key] * (1 - TAU)
        target_net.load_state_dict(target_net_state_dict)
        t += 1
        if done:
            episode_durations.append(t + 1)
            t = 0
            state, info = env.reset()
            state = torch.tensor(state, dtype=torch.float32, device=device).unsqueeze(0)
    rec.log("durations", torch.tensor(episode_durations))
    durations_t = torch.tensor(episode_durations, dtype=torch.float)
    if len(durations_t) >= 2:
        means = durations_t.unfold(0, 2, 1).mean(1).view(-1)
        means = torch.cat((torch.zeros(1), means))
        rec.log("means", means)
    for k, v in target_net.state_dict().items():
        rec.log("target." + k, v)


def double_dqn_body(lib, rec, num_steps=30, batch_size=8):
    """A common repository-style Double DQN: numpy replay buffer, hard target sync every few steps and
    Polyak averaging written with in-place tensor ops under no_grad."""
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    env = CartPole(seed=4, max_steps=20)
    rs = np.random.RandomState(2)

    class ReplayBuffer:
        def __init__(self, size, obs_dim):
            self.obs = np.zeros((size, obs_dim), dtype=np.float32)
            self.next_obs = np.zeros((size, obs_dim), dtype=np.float32)
            self.acts = np.zeros(size, dtype=np.int64)
            self.rews = np.zeros(size, dtype=np.float32)
            self.done = np.zeros(size, dtype=np.float32)
            self.ptr, self.size, self.max_size = 0, 0, size

        def store(self, o, a, r, o2, d):
            self.obs[self.ptr], self.acts[self.ptr], self.rews[self.ptr] = o, a, r
            self.next_obs[self.ptr], self.done[self.ptr] = o2, d
            self.ptr = (self.ptr + 1) % self.max_size
            self.size = min(self.size + 1, self.max_size)

        def sample_batch(self, batch_size):
            idxs = rs.randint(0, self.size, size=batch_size)
            batch = dict(obs=self.obs[idxs], obs2=self.next_obs[idxs], acts=self.acts[idxs],
                         rews=self.rews[idxs], done=self.done[idxs])
            return {k: torch.as_tensor(v) for k, v in batch.items()}

    q_net = nn.Sequential(nn.Linear(4, 24), nn.Tanh(), nn.Linear(24, 24), nn.Tanh(), nn.Linear(24, 2))
    rec.sync("q", q_net)
    target = nn.Sequential(nn.Linear(4, 24), nn.Tanh(), nn.Linear(24, 24), nn.Tanh(), nn.Linear(24, 2))
    target.load_state_dict(q_net.state_dict())
    for p in target.parameters():
        p.requires_grad = False
    opt = optim.Adam(q_net.parameters(), lr=5e-3)
    buf = ReplayBuffer(100, 4)
    o, _ = env.reset()
    epsilon = 1.0
    for step in range(num_steps):
        if rs.rand() < epsilon:
            a = rs.randint(2)
        else:
            with torch.no_grad():
                a = int(torch.argmax(q_net(torch.as_tensor(o, dtype=torch.float32))))
        epsilon = max(0.1, epsilon * 0.9)
        o2, r, term, trunc, _ = env.step(a)
        buf.store(o, a, r, o2, float(term))
        o = o2
        if term or trunc:
            o, _ = env.reset()
        if buf.size >= batch_size:
            data = buf.sample_batch(batch_size)
            q = q_net(data["obs"]).gather(1, data["acts"].unsqueeze(-1)).squeeze(-1)
            with torch.no_grad():
                next_a = q_net(data["obs2"]).argmax(dim=1, keepdim=True)
                q_next = target(data["obs2"]).gather(1, next_a).squeeze(1)
                backup = data["rews"] + 0.99 * (1 - data["done"]) * q_next
            loss = F.huber_loss(q, backup, delta=1.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(q_net.parameters(), max_norm=10.0)
            opt.step()
            rec.log("q", q)
            rec.log("loss", loss)
            with torch.no_grad():
                for p, p_targ in zip(q_net.parameters(), target.parameters()):
                    if step % 3 == 0:
                        p_targ.mul_(0.95)
                        p_targ.add_(0.05 * p.data)
                    else:
                        p_targ.data.lerp_(p.data, 0.05)
            if step % 10 == 0:
                target.load_state_dict(q_net.state_dict())
    for k, v in target.state_dict().items():
        rec.log("target." + k, v)
    rec.log("target.requires_grad", [p.requires_grad for p in target.parameters()])


def test_dqn_tutorial_matches_pytorch():
    run_both(dqn_tutorial_body, rtol=5e-4, atol=5e-5)


def test_double_dqn_matches_pytorch():
    run_both(double_dqn_body, rtol=5e-4, atol=5e-5)


if __name__ == "__main__":
    test_dqn_tutorial_matches_pytorch()
    test_double_dqn_matches_pytorch()
    print("ok")
