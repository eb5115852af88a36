"""Variational autoencoders as in pytorch/examples (fully connected) and a small convolutional one,
run with PyTorch and with flambeau from the same weights on the same data. The reparameterisation's
noise comes from each library's generator, so the parity runs feed eps from numpy through a
`randn_like` hook; the real torch.randn_like path is checked statistically."""
import numpy as np

from vision_parity import FLAMBEAU, TORCH, run_both


def vae_body(lib, rec, steps=4, batch=16, conv=False, eps_from_numpy=True):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    rs_eps = np.random.RandomState(7)

    def randn_like(t):
        if eps_from_numpy:
            return torch.from_numpy(rs_eps.randn(*t.shape).astype(np.float32))
        return torch.randn_like(t)

    class VAE(nn.Module):
        def __init__(self):
            super(VAE, self).__init__()
            self.fc1 = nn.Linear(784, 64)
            self.fc21 = nn.Linear(64, 8)
            self.fc22 = nn.Linear(64, 8)
            self.fc3 = nn.Linear(8, 64)
            self.fc4 = nn.Linear(64, 784)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar):
            std = torch.exp(0.5 * logvar)
            eps = randn_like(std)
            return mu + eps * std

        def decode(self, z):
            h3 = F.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3))

        def forward(self, x):
            mu, logvar = self.encode(x.view(-1, 784))
            z = self.reparameterize(mu, logvar)
            return self.decode(z), mu, logvar

    class ConvVAE(nn.Module):
        def __init__(self, latent=6):
            super().__init__()
            self.latent = latent
            # bias=False before each BatchNorm: such a bias gets only a rounding-noise gradient
            # (BatchNorm subtracts the mean), which Adam scales up to lr-sized steps of random
            # sign, so the two libraries' biases (and running means) would drift apart by ~lr
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.LeakyReLU(),
                nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.LeakyReLU(),
                nn.Flatten(start_dim=1))
            self.fc_mu = nn.Linear(16 * 7 * 7, latent)
            self.fc_var = nn.Linear(16 * 7 * 7, latent)
            self.decoder_input = nn.Linear(latent, 16 * 7 * 7)
            self.decoder = nn.Sequential(
                nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1, bias=False),
                nn.BatchNorm2d(8), nn.LeakyReLU(),
                nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, output_padding=1, bias=False),
                nn.BatchNorm2d(8), nn.LeakyReLU(),
                nn.Conv2d(8, 1, kernel_size=3, padding=1), nn.Sigmoid())

        def encode(self, x):
            result = self.encoder(x)
            return [self.fc_mu(result), self.fc_var(result)]

        def decode(self, z):
            result = self.decoder_input(z)
            result = result.view(-1, 16, 7, 7)
            return self.decoder(result)

        def reparameterize(self, mu, logvar):
            std = torch.exp(0.5 * logvar)
            eps = randn_like(std)
            return eps * std + mu

        def forward(self, input):
            mu, log_var = self.encode(input)
            z = self.reparameterize(mu, log_var)
            return [self.decode(z), input, mu, log_var]

    def loss_function(recon_x, x, mu, logvar):
        BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction='sum')
        # 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2), Kingma and Welling, Appendix B
        KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return BCE + KLD, BCE, KLD

    model = ConvVAE() if conv else VAE()
    rec.sync("vae", model)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    rs = np.random.RandomState(11)
    data_all = (rs.rand(batch * steps, 1, 28, 28) > 0.7).astype(np.float32)
    model.train()
    train_loss = 0
    for batch_idx in range(steps):
        data = torch.from_numpy(data_all[batch_idx * batch:(batch_idx + 1) * batch])
        optimizer.zero_grad()
        if conv:
            recon_batch, _, mu, logvar = model(data)
            recon_batch = recon_batch.view(-1, 784)
        else:
            recon_batch, mu, logvar = model(data)
        loss, bce, kld = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
        rec.log("loss", loss)
        rec.log("bce_kld", [bce.item(), kld.item()])
        rec.log("mu", mu)
    rec.log("train_loss", train_loss / (batch * steps))
    for k, v in model.state_dict().items():
        rec.log("state." + k, v)
    # KL of a diagonal Gaussian against N(0, I) equals torch.distributions' closed form
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    rec.log("kl_dist", torch.distributions.kl_divergence(q, p).sum())
    model.eval()
    with torch.no_grad():
        sample = torch.from_numpy(np.random.RandomState(5).randn(8, mu.shape[1]).astype(np.float32))
        sample = model.decode(sample).cpu()
        rec.log("sample", sample.view(8, 1, 28, 28))
        rec.log("sample.requires_grad", sample.requires_grad)
        test_batch = torch.from_numpy(data_all[:batch])
        if conv:
            recon, _, mu, logvar = model(test_batch)
            recon = recon.view(-1, 784)
        else:
            recon, mu, logvar = model(test_batch)
        test_loss = loss_function(recon, test_batch, mu, logvar)[0].item()
        rec.log("test_loss", test_loss)
        n = min(test_batch.size(0), 8)
        comparison = torch.cat([test_batch[:n], recon.view(batch, 1, 28, 28)[:n]])
        rec.log("comparison", comparison)


def test_fc_vae_matches_pytorch():
    run_both(vae_body, rtol=5e-4)


def test_conv_vae_matches_pytorch():
    run_both(vae_body, conv=True, rtol=5e-4, atol=5e-5, tol={"loss": (1e-3, 5e-4)})


def test_reparameterize_noise_is_standard_normal():
    # the real randn_like path: z = mu + eps * std with eps ~ N(0, 1), same shape/dtype as std
    for lib in (TORCH, FLAMBEAU):
        torch = lib.torch
        lib.torch.manual_seed(0)
        mu = torch.full((4000, 8), 2.0)
        logvar = torch.full((4000, 8), float(np.log(0.25)))
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        assert eps.shape == std.shape and eps.dtype == std.dtype
        z = (mu + eps * std).numpy()
        assert abs(z.mean() - 2.0) < 0.02 and abs(z.std() - 0.5) < 0.02


if __name__ == "__main__":
    test_fc_vae_matches_pytorch()
    test_conv_vae_matches_pytorch()
    test_reparameterize_noise_is_standard_normal()
    print("ok")
