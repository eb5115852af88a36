"""Normalizing flows on 2-D toy data (two moons made with numpy): RealNVP with alternating-mask affine
couplings (tanh-bounded scale, log-det as the sum of the scales) trained by maximum likelihood under a
standard-normal prior from torch.distributions, as in the common RealNVP tutorials and notebooks; a
second script stacks coupling layers with ActNorm-style data-dependent init and a learned
MultivariateNormal / Independent(Normal) prior, checks the inverse, and samples from fixed noise.
Run with PyTorch and with flambeau from the same weights on the same data."""
import math

import numpy as np

from vision_parity import run_both


def two_moons(n, rs):
    t = rs.rand(n) * math.pi
    upper = np.stack([np.cos(t), np.sin(t)], 1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    pick = rs.rand(n) < 0.5
    x = np.where(pick[:, None], upper, lower) + 0.05 * rs.randn(n, 2)
    return x.astype(np.float32)


def realnvp_body(lib, rec, steps=6, batch=64):
    torch, nn, optim = lib.torch, lib.nn, lib.optim
    distributions = __import__(lib.name + ".distributions", fromlist=["Normal"])
    rs = np.random.RandomState(0)

    class RealNVP(nn.Module):
        def __init__(self, nets, nett, mask, prior):
            super(RealNVP, self).__init__()
            self.prior = prior
            self.mask = nn.Parameter(mask, requires_grad=False)
            self.t = torch.nn.ModuleList([nett() for _ in range(len(mask))])
            self.s = torch.nn.ModuleList([nets() for _ in range(len(mask))])

        def g(self, z):
            x = z
            for i in range(len(self.t)):
                x_ = x * self.mask[i]
                s = self.s[i](x_) * (1 - self.mask[i])
                t = self.t[i](x_) * (1 - self.mask[i])
                x = x_ + (1 - self.mask[i]) * (x * torch.exp(s) + t)
            return x

        def f(self, x):
            log_det_J, z = x.new_zeros(x.shape[0]), x
            for i in reversed(range(len(self.t))):
                z_ = self.mask[i] * z
                s = self.s[i](z_) * (1 - self.mask[i])
                t = self.t[i](z_) * (1 - self.mask[i])
                z = (1 - self.mask[i]) * (z - t) * torch.exp(-s) + z_
                log_det_J -= s.sum(dim=1)
            return z, log_det_J

        def log_prob(self, x):
            z, logp = self.f(x)
            return self.prior.log_prob(z) + logp

        def sample(self, z):
            return self.g(z)

    nets = lambda: nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(), nn.Linear(32, 32), nn.LeakyReLU(),
                                 nn.Linear(32, 2), nn.Tanh())
    nett = lambda: nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(), nn.Linear(32, 32), nn.LeakyReLU(),
                                 nn.Linear(32, 2))
    masks = torch.from_numpy(np.array([[0, 1], [1, 0]] * 3).astype(np.float32))
    prior = distributions.MultivariateNormal(torch.zeros(2), torch.eye(2))
    flow = RealNVP(nets, nett, masks, prior)
    rec.sync("flow", flow)
    optimizer = torch.optim.Adam([p for p in flow.parameters() if p.requires_grad == True], lr=1e-3)
    for t in range(steps):
        noisy_moons = two_moons(batch, rs)
        loss = -flow.log_prob(torch.from_numpy(noisy_moons)).mean()
        optimizer.zero_grad()
        loss.backward(retain_graph=True)
        optimizer.step()
        rec.log("loss", loss)
    x = torch.from_numpy(two_moons(16, rs))
    z, logdet = flow.f(x)
    rec.log("z", z)
    rec.log("logdet", logdet)
    rec.log("roundtrip_err", (flow.g(z) - x).abs().max() < 1e-4)
    z_fixed = torch.from_numpy(rs.randn(8, 2).astype(np.float32))
    with torch.no_grad():
        rec.log("samples", flow.sample(z_fixed))
    rec.log("mask.requires_grad", flow.mask.requires_grad)
    rec.log("n_params", sum(p.numel() for p in flow.parameters() if p.requires_grad))


def coupling_flow_body(lib, rec, steps=5, batch=32, prior_kind="independent"):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    D = __import__(lib.name + ".distributions", fromlist=["Normal"])
    rs = np.random.RandomState(1)

    class ActNorm(nn.Module):
        """Glow's activation normalisation: per-feature affine, initialised from the first batch."""
        def __init__(self, dim):
            super().__init__()
            self.loc = nn.Parameter(torch.zeros(1, dim))
            self.log_scale = nn.Parameter(torch.zeros(1, dim))
            self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

        def forward(self, x):
            if self.initialized.item() == 0:
                with torch.no_grad():
                    self.loc.data.copy_(-x.mean(0, keepdim=True))
                    self.log_scale.data.copy_(-torch.log(x.std(0, keepdim=True) + 1e-6))
                    self.initialized.fill_(1)
            z = (x + self.loc) * torch.exp(self.log_scale)
            return z, self.log_scale.sum().expand(x.shape[0])

    class AffineCoupling(nn.Module):
        def __init__(self, dim, hidden, parity):
            super().__init__()
            self.parity = parity
            self.net = nn.Sequential(nn.Linear(dim // 2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, dim))
            self.scale = nn.Parameter(torch.zeros(dim // 2))

        def forward(self, x):
            x0, x1 = x.chunk(2, dim=1)
            if self.parity:
                x0, x1 = x1, x0
            s, t = self.net(x0).chunk(2, dim=1)
            s = self.scale * torch.tanh(s)
            z1 = torch.exp(s) * x1 + t
            z = torch.cat([z1, x0], dim=1) if self.parity else torch.cat([x0, z1], dim=1)
            return z, torch.sum(s, dim=1)

        def backward(self, z):
            z0, z1 = z.chunk(2, dim=1)
            if self.parity:
                z0, z1 = z1, z0
            s, t = self.net(z0).chunk(2, dim=1)
            s = self.scale * torch.tanh(s)
            x1 = (z1 - t) * torch.exp(-s)
            return torch.cat([x1, z0], dim=1) if self.parity else torch.cat([z0, x1], dim=1)

    class NormalizingFlowModel(nn.Module):
        def __init__(self, dim=4, n_layers=4):
            super().__init__()
            self.actnorm = ActNorm(dim)
            self.flows = nn.ModuleList([AffineCoupling(dim, 16, i % 2) for i in range(n_layers)])
            self.prior_loc = nn.Parameter(torch.zeros(dim))
            self.prior_log_scale = nn.Parameter(torch.zeros(dim))

        def prior(self):
            if prior_kind == "independent":
                return D.Independent(D.Normal(self.prior_loc, self.prior_log_scale.exp()), 1)
            if prior_kind == "mvn_tril":
                return D.MultivariateNormal(self.prior_loc, scale_tril=torch.diag(self.prior_log_scale.exp()))
            return D.Normal(self.prior_loc, self.prior_log_scale.exp())

        def forward(self, x):
            m, _ = x.shape
            log_det = torch.zeros(m)
            x, ld = self.actnorm(x)
            log_det += ld
            for flow in self.flows:
                x, ld = flow.forward(x)
                log_det += ld
            prior_logprob = self.prior().log_prob(x)
            if prior_logprob.dim() == 2:
                prior_logprob = prior_logprob.sum(-1)
            return x, prior_logprob, log_det

        def inverse(self, z):
            for flow in self.flows[::-1]:
                z = flow.backward(z)
            return z / torch.exp(self.actnorm.log_scale) - self.actnorm.loc

    data = np.concatenate([two_moons(batch * steps, rs), rs.randn(batch * steps, 2).astype(np.float32) * 0.3], 1)
    model = NormalizingFlowModel()
    rec.sync("flow", model)
    optimizer = optim.Adam(model.parameters(), lr=5e-3, weight_decay=1e-5)
    for i in range(steps):
        x = torch.from_numpy(data[i * batch:(i + 1) * batch])
        optimizer.zero_grad()
        zs, prior_logprob, log_det = model(x)
        logprob = prior_logprob + log_det
        loss = -torch.mean(logprob)
        loss.backward()
        optimizer.step()
        rec.log("loss", loss)
        rec.log("log_det", log_det)
        rec.log("grad.prior_loc", model.prior_loc.grad)
    rec.log("actnorm.initialized", model.actnorm.initialized)
    prior = model.prior()
    rec.log("prior.batch_shape", list(prior.batch_shape))
    rec.log("prior.event_shape", list(prior.event_shape))
    rec.log("prior.entropy", prior.entropy())
    rec.log("prior.mean", prior.mean)
    with torch.no_grad():
        z = torch.from_numpy(rs.randn(6, 4).astype(np.float32)) * model.prior_log_scale.exp() + model.prior_loc
        x = model.inverse(z)
        rec.log("samples", x)
        z2, _, _ = model(x)
        rec.log("inverse_ok", torch.allclose(z2, z, atol=1e-4))
        torch.manual_seed(0)
        s = prior.sample((5,))
        rec.log("sample.shape", list(s.shape))
        rs_ = prior.rsample((3,))
        rec.log("rsample.requires_grad", rs_.requires_grad)


def test_realnvp_mvn_prior_matches_pytorch():
    run_both(realnvp_body, rtol=1e-3, atol=1e-4)


def test_coupling_flow_independent_prior_matches_pytorch():
    run_both(coupling_flow_body, rtol=1e-3, atol=1e-4)


def test_coupling_flow_mvn_scale_tril_prior_matches_pytorch():
    run_both(coupling_flow_body, prior_kind="mvn_tril", steps=3, rtol=1e-3, atol=1e-4)


def test_coupling_flow_normal_prior_matches_pytorch():
    run_both(coupling_flow_body, prior_kind="normal", steps=3, rtol=1e-3, atol=1e-4)


if __name__ == "__main__":
    test_coupling_flow_normal_prior_matches_pytorch()
    test_coupling_flow_independent_prior_matches_pytorch()
    test_coupling_flow_mvn_scale_tril_prior_matches_pytorch()
    test_realnvp_mvn_prior_matches_pytorch()
    print("ok")
