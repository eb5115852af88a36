"""Tiny numpy environments for the reinforcement-learning parity scripts (no gym download): CartPole with
gym's classic-control physics and a 1-D point mass for continuous actions. Seeded, so both libraries'
runs see the same episodes as long as their actions agree."""
import math

import numpy as np


class CartPole:
    """gym's CartPole-v1: 4 floats of state, actions 0/1, reward 1 per step until the pole falls."""
    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    theta_threshold_radians = 12 * 2 * math.pi / 360
    x_threshold = 2.4
    n_actions, n_observations = 2, 4

    def __init__(self, seed, max_steps=200):
        self.rs = np.random.RandomState(seed)
        self.max_steps = max_steps

    def reset(self):
        self.state = self.rs.uniform(low=-0.05, high=0.05, size=(4,))
        self.t = 0
        return np.array(self.state, dtype=np.float32), {}

    def step(self, action):
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if int(action) == 1 else -self.force_mag
        costheta, sintheta = math.cos(theta), math.sin(theta)
        total_mass = self.masspole + self.masscart
        polemass_length = self.masspole * self.length
        temp = (force + polemass_length * theta_dot ** 2 * sintheta) / total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * costheta ** 2 / total_mass))
        xacc = temp - polemass_length * thetaacc * costheta / total_mass
        x, x_dot = x + self.tau * x_dot, x_dot + self.tau * xacc
        theta, theta_dot = theta + self.tau * theta_dot, theta_dot + self.tau * thetaacc
        self.state = (x, x_dot, theta, theta_dot)
        self.t += 1
        terminated = bool(x < -self.x_threshold or x > self.x_threshold
                          or theta < -self.theta_threshold_radians or theta > self.theta_threshold_radians)
        truncated = self.t >= self.max_steps
        return np.array(self.state, dtype=np.float32), 1.0, terminated, truncated, {}


class PointMass:
    """Continuous control: a point on a line pushed by an action in [-1, 1] towards the origin;
    reward is minus the squared distance and the effort."""
    obs_dim, act_dim = 3, 1

    def __init__(self, seed, horizon=16):
        self.rs = np.random.RandomState(seed)
        self.horizon = horizon

    def reset(self):
        self.pos, self.vel, self.t = self.rs.uniform(-1, 1), 0.0, 0
        return self._obs()

    def _obs(self):
        return np.array([self.pos, self.vel, self.t / self.horizon], dtype=np.float32)

    def step(self, action):
        a = float(np.clip(action, -1.0, 1.0))
        self.vel = 0.9 * self.vel + 0.1 * a
        self.pos = self.pos + self.vel
        self.t += 1
        reward = -(self.pos ** 2) - 0.01 * a ** 2
        return self._obs(), reward, self.t >= self.horizon
