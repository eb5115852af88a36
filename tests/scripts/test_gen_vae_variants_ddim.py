"""VAE variants and a guided diffusion sampler: an IWAE (K importance samples from
Independent(Normal).rsample-style reparameterisation, log-mean-exp bound with logsumexp - log K), a
beta-VAE whose KL term is torch.distributions.kl_divergence between Independent(Normal) posterior and
prior, a conditional VAE (F.one_hot labels concatenated to inputs and latents), and a conditional DDPM
trained with classifier-free-guidance label dropout then sampled with DDIM (eta = 0 and eta > 0, the
guided epsilon mixed as (1 + w) eps_c - w eps_u). Run with PyTorch and with flambeau from the same
weights; all noise comes from numpy."""
import math

import numpy as np

from vision_parity import run_both


def vae_variants_body(lib, rec, steps=3, batch=16, K=5, kind="iwae"):
    torch, nn, F = lib.torch, lib.nn, lib.F
    D = __import__(lib.name + ".distributions", fromlist=["Normal"])
    rs = np.random.RandomState(0)
    x_dim, z_dim, n_classes = 20, 3, 4

    class VAE(nn.Module):
        def __init__(self, cond=False):
            super().__init__()
            c = n_classes if cond else 0
            self.enc = nn.Sequential(nn.Linear(x_dim + c, 32), nn.Tanh())
            self.mu = nn.Linear(32, z_dim)
            self.logvar = nn.Linear(32, z_dim)
            self.dec = nn.Sequential(nn.Linear(z_dim + c, 32), nn.Tanh(), nn.Linear(32, x_dim))

        def encode(self, x, c=None):
            h = self.enc(x if c is None else torch.cat([x, c], dim=1))
            return self.mu(h), self.logvar(h)

        def decode(self, z, c=None):
            return self.dec(z if c is None else torch.cat([z, c.expand(*z.shape[:-1], c.shape[-1])], dim=-1))

    model = VAE(cond=kind == "cvae")
    rec.sync("vae", model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = (rs.rand(steps * batch, x_dim) < 0.3).astype(np.float32)
    labels = rs.randint(0, n_classes, steps * batch)
    for i in range(steps):
        x = torch.from_numpy(data[i * batch:(i + 1) * batch])
        c = F.one_hot(torch.from_numpy(labels[i * batch:(i + 1) * batch]), n_classes).float() if kind == "cvae" else None
        mu, logvar = model.encode(x, c)
        std = torch.exp(0.5 * logvar)
        if kind == "iwae":
            eps = torch.from_numpy(rs.randn(K, batch, z_dim).astype(np.float32))
            z = mu + eps * std                                               # [K, B, z]
            q = D.Independent(D.Normal(mu, std), 1)
            p = D.Independent(D.Normal(torch.zeros_like(mu), torch.ones_like(std)), 1)
            logits = model.decode(z)
            log_px_z = -F.binary_cross_entropy_with_logits(logits, x.expand(K, -1, -1), reduction="none").sum(-1)
            log_w = log_px_z + p.log_prob(z) - q.log_prob(z)                 # [K, B]
            bound = torch.logsumexp(log_w, dim=0) - math.log(K)
            loss = -bound.mean()
            w_tilde = F.softmax(log_w, dim=0).detach()
            rec.log("ess", 1.0 / (w_tilde ** 2).sum(0))
        else:
            z = mu + torch.from_numpy(rs.randn(batch, z_dim).astype(np.float32)) * std
            logits = model.decode(z, c)
            recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / batch
            posterior = D.Independent(D.Normal(mu, std), 1)
            prior = D.Independent(D.Normal(torch.zeros(z_dim), torch.ones(z_dim)), 1)
            kl = D.kl_divergence(posterior, prior).mean()
            beta = 4.0 if kind == "beta" else 1.0
            loss = recon + beta * kl
            rec.log("kl", kl)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.log("loss", loss)
        rec.log("grad.mu", model.mu.weight.grad)
    with torch.no_grad():
        z = torch.from_numpy(rs.randn(4, z_dim).astype(np.float32))
        c = F.one_hot(torch.arange(4), n_classes).float() if kind == "cvae" else None
        rec.log("samples", torch.sigmoid(model.decode(z, c)))


def cfg_ddim_body(lib, rec, steps=3, batch=8, T=40, eta=0.0, w=2.0):
    torch, nn, F = lib.torch, lib.nn, lib.F
    rs = np.random.RandomState(1)
    n_classes, dim = 3, 2

    class ContextUnet(nn.Module):
        """A conditional noise predictor: MLP over (x, time embedding, class embedding)."""
        def __init__(self, hidden=32):
            super().__init__()
            self.time_embed = nn.Sequential(nn.Linear(1, hidden), nn.GELU(), nn.Linear(hidden, hidden))
            self.context_embed = nn.Sequential(nn.Linear(n_classes, hidden), nn.GELU(), nn.Linear(hidden, hidden))
            self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, hidden))
            self.out = nn.Sequential(nn.GELU(), nn.Linear(hidden, dim))

        def forward(self, x, c, t, context_mask):
            c = F.one_hot(c, num_classes=n_classes).type(torch.float)
            context_mask = context_mask[:, None].repeat(1, n_classes)
            context_mask = (-1 * (1 - context_mask))  # flip 0 <-> 1
            c = c * context_mask
            h = self.net(x) * self.context_embed(c) + self.time_embed(t.view(-1, 1))
            return self.out(h)

    beta1, beta2 = 1e-4, 0.02
    beta_t = (beta2 - beta1) * torch.arange(0, T + 1, dtype=torch.float32) / T + beta1
    sqrt_beta_t = torch.sqrt(beta_t)
    alpha_t = 1 - beta_t
    log_alpha_t = torch.log(alpha_t)
    alphabar_t = torch.cumsum(log_alpha_t, dim=0).exp()
    sqrtab = torch.sqrt(alphabar_t)
    sqrtmab = torch.sqrt(1 - alphabar_t)
    rec.log("alphabar_t", alphabar_t)
    rec.log("sqrt_beta_t", sqrt_beta_t)

    nn_model = ContextUnet()
    rec.sync("model", nn_model)
    optim = torch.optim.Adam(nn_model.parameters(), lr=1e-3)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]], dtype=np.float32)
    for ep in range(steps):
        lrate = 1e-3 * (1 - ep / steps)
        for g in optim.param_groups:
            g['lr'] = lrate
        c = torch.from_numpy(rs.randint(0, n_classes, batch))
        x = torch.from_numpy(centers[c.numpy()] + 0.1 * rs.randn(batch, dim).astype(np.float32))
        _ts = torch.from_numpy(rs.randint(1, T + 1, (batch,)))
        noise = torch.from_numpy(rs.randn(*x.shape).astype(np.float32))
        x_t = sqrtab[_ts, None] * x + sqrtmab[_ts, None] * noise
        context_mask = torch.from_numpy((rs.rand(batch) < 0.1).astype(np.float32))  # torch.bernoulli(0.1)
        loss = F.mse_loss(noise, nn_model(x_t, c, _ts / T, context_mask))
        optim.zero_grad()
        loss.backward()
        optim.step()
        rec.log("loss", loss)

    @torch.no_grad()
    def ddim_sample(n_sample, guide_w, ddim_steps=8):
        x_i = torch.from_numpy(rs.randn(n_sample, dim).astype(np.float32))
        c_i = torch.arange(0, n_classes).repeat(n_sample // n_classes + 1)[:n_sample]
        context_mask = torch.zeros_like(c_i).float()
        c_i = c_i.repeat(2)
        context_mask = context_mask.repeat(2)
        context_mask[n_sample:] = 1.
        times = torch.linspace(T, 1, ddim_steps).long()
        trajectory = []
        for idx in range(ddim_steps):
            i = int(times[idx])
            prev = int(times[idx + 1]) if idx + 1 < ddim_steps else 0
            t_is = torch.tensor([i / T]).repeat(n_sample, 1).repeat(2, 1)
            x_in = x_i.repeat(2, 1)
            eps = nn_model(x_in, c_i, t_is, context_mask)
            eps1, eps2 = eps[:n_sample], eps[n_sample:]
            eps = (1 + guide_w) * eps1 - guide_w * eps2
            ab, ab_prev = alphabar_t[i], alphabar_t[prev]
            x0 = (x_i - (1 - ab).sqrt() * eps) / ab.sqrt()
            sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).sqrt()
            dir_xt = (1 - ab_prev - sigma ** 2).clamp(min=0).sqrt() * eps
            z = torch.from_numpy(rs.randn(n_sample, dim).astype(np.float32)) if eta > 0 else torch.zeros_like(x_i)
            x_i = ab_prev.sqrt() * x0 + dir_xt + sigma * z
            trajectory.append(x_i.detach().cpu().numpy())
        return x_i, np.array(trajectory)

    nn_model.eval()
    x_gen, x_gen_store = ddim_sample(6, guide_w=w)
    rec.log("x_gen", x_gen)
    rec.log("trajectory", torch.from_numpy(x_gen_store))


def test_iwae_matches_pytorch():
    run_both(vae_variants_body, rtol=1e-3, atol=1e-4)


def test_beta_vae_kl_divergence_matches_pytorch():
    run_both(vae_variants_body, kind="beta", rtol=1e-3, atol=1e-4)


def test_conditional_vae_matches_pytorch():
    run_both(vae_variants_body, kind="cvae", rtol=1e-3, atol=1e-4)


def test_cfg_ddim_deterministic_matches_pytorch():
    run_both(cfg_ddim_body, rtol=1e-3, atol=1e-4)


def test_cfg_ddim_stochastic_matches_pytorch():
    run_both(cfg_ddim_body, eta=1.0, rtol=1e-3, atol=1e-4)


if __name__ == "__main__":
    test_iwae_matches_pytorch()
    test_beta_vae_kl_divergence_matches_pytorch()
    test_conditional_vae_matches_pytorch()
    test_cfg_ddim_deterministic_matches_pytorch()
    test_cfg_ddim_stochastic_matches_pytorch()
    print("ok")
