"""A VQ-VAE (the vector quantiser of zalandoresearch/pytorch-vq-vae and rosinality's, with the codebook
as nn.Embedding, distances by the expanded square or torch.cdist, argmin, one-hot encodings through
scatter_, the commitment loss and the straight-through estimator, perplexity; an EMA-codebook variant
updated in place under no_grad) and a mixture density network (Bishop 1994, as in the hardmaru / pytorch
MDN notebooks: pi / sigma / mu heads, log-sum-exp negative log-likelihood; and the same model written with
torch.distributions.MixtureSameFamily(Categorical, Independent(Normal))). Run with PyTorch and with
flambeau from the same weights on the same numpy data."""
import math

import numpy as np

from vision_parity import run_both


def vqvae_body(lib, rec, steps=3, batch=4, ema=False, use_cdist=False):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    rs = np.random.RandomState(0)

    class VectorQuantizer(nn.Module):
        def __init__(self, num_embeddings, embedding_dim, commitment_cost):
            super(VectorQuantizer, self).__init__()
            self._embedding_dim = embedding_dim
            self._num_embeddings = num_embeddings
            self._embedding = nn.Embedding(self._num_embeddings, self._embedding_dim)
            self._embedding.weight.data.uniform_(-1 / self._num_embeddings, 1 / self._num_embeddings)
            self._commitment_cost = commitment_cost

        def forward(self, inputs):
            inputs = inputs.permute(0, 2, 3, 1).contiguous()
            input_shape = inputs.shape
            flat_input = inputs.view(-1, self._embedding_dim)
            if use_cdist:
                distances = torch.cdist(flat_input, self._embedding.weight) ** 2
            else:
                distances = (torch.sum(flat_input ** 2, dim=1, keepdim=True)
                             + torch.sum(self._embedding.weight ** 2, dim=1)
                             - 2 * torch.matmul(flat_input, self._embedding.weight.t()))
            encoding_indices = torch.argmin(distances, dim=1).unsqueeze(1)
            encodings = torch.zeros(encoding_indices.shape[0], self._num_embeddings, device=inputs.device)
            encodings.scatter_(1, encoding_indices, 1)
            quantized = torch.matmul(encodings, self._embedding.weight).view(input_shape)
            e_latent_loss = F.mse_loss(quantized.detach(), inputs)
            q_latent_loss = F.mse_loss(quantized, inputs.detach())
            loss = q_latent_loss + self._commitment_cost * e_latent_loss
            quantized = inputs + (quantized - inputs).detach()
            avg_probs = torch.mean(encodings, dim=0)
            perplexity = torch.exp(-torch.sum(avg_probs * torch.log(avg_probs + 1e-10)))
            return loss, quantized.permute(0, 3, 1, 2).contiguous(), perplexity, encodings

    class VectorQuantizerEMA(nn.Module):
        def __init__(self, num_embeddings, embedding_dim, commitment_cost, decay, epsilon=1e-5):
            super(VectorQuantizerEMA, self).__init__()
            self._embedding_dim = embedding_dim
            self._num_embeddings = num_embeddings
            self._embedding = nn.Embedding(self._num_embeddings, self._embedding_dim)
            self._embedding.weight.data.normal_()
            self._commitment_cost = commitment_cost
            self.register_buffer('_ema_cluster_size', torch.zeros(num_embeddings))
            self._ema_w = nn.Parameter(torch.Tensor(num_embeddings, self._embedding_dim))
            self._ema_w.data.normal_()
            self._decay = decay
            self._epsilon = epsilon

        def forward(self, inputs):
            inputs = inputs.permute(0, 2, 3, 1).contiguous()
            input_shape = inputs.shape
            flat_input = inputs.view(-1, self._embedding_dim)
            distances = (torch.sum(flat_input ** 2, dim=1, keepdim=True)
                         + torch.sum(self._embedding.weight ** 2, dim=1)
                         - 2 * torch.matmul(flat_input, self._embedding.weight.t()))
            encoding_indices = torch.argmin(distances, dim=1).unsqueeze(1)
            encodings = torch.zeros(encoding_indices.shape[0], self._num_embeddings, device=inputs.device)
            encodings.scatter_(1, encoding_indices, 1)
            quantized = torch.matmul(encodings, self._embedding.weight).view(input_shape)
            if self.training:
                self._ema_cluster_size = self._ema_cluster_size * self._decay + \
                    (1 - self._decay) * torch.sum(encodings, 0)
                n = torch.sum(self._ema_cluster_size.data)
                self._ema_cluster_size = (
                    (self._ema_cluster_size + self._epsilon)
                    / (n + self._num_embeddings * self._epsilon) * n)
                dw = torch.matmul(encodings.t(), flat_input)
                self._ema_w = nn.Parameter(self._ema_w * self._decay + (1 - self._decay) * dw)
                self._embedding.weight = nn.Parameter(self._ema_w / self._ema_cluster_size.unsqueeze(1))
            e_latent_loss = F.mse_loss(quantized.detach(), inputs)
            loss = self._commitment_cost * e_latent_loss
            quantized = inputs + (quantized - inputs).detach()
            avg_probs = torch.mean(encodings, dim=0)
            perplexity = torch.exp(-torch.sum(avg_probs * torch.log(avg_probs + 1e-10)))
            return loss, quantized.permute(0, 3, 1, 2).contiguous(), perplexity, encodings

    class Residual(nn.Module):
        def __init__(self, in_channels, num_hiddens, num_residual_hiddens):
            super(Residual, self).__init__()
            self._block = nn.Sequential(
                nn.ReLU(True), nn.Conv2d(in_channels, num_residual_hiddens, 3, 1, 1, bias=False),
                nn.ReLU(True), nn.Conv2d(num_residual_hiddens, num_hiddens, 1, 1, bias=False))

        def forward(self, x):
            return x + self._block(x)

    class Model(nn.Module):
        def __init__(self, num_hiddens=16, num_embeddings=12, embedding_dim=4, commitment_cost=0.25, decay=0.0):
            super(Model, self).__init__()
            self._encoder = nn.Sequential(
                nn.Conv2d(3, num_hiddens // 2, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(num_hiddens // 2, num_hiddens, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(num_hiddens, num_hiddens, 3, 1, 1), Residual(num_hiddens, num_hiddens, 8), nn.ReLU())
            self._pre_vq_conv = nn.Conv2d(num_hiddens, embedding_dim, kernel_size=1, stride=1)
            if decay > 0.0:
                self._vq_vae = VectorQuantizerEMA(num_embeddings, embedding_dim, commitment_cost, decay)
            else:
                self._vq_vae = VectorQuantizer(num_embeddings, embedding_dim, commitment_cost)
            self._decoder = nn.Sequential(
                nn.Conv2d(embedding_dim, num_hiddens, 3, 1, 1), Residual(num_hiddens, num_hiddens, 8), nn.ReLU(),
                nn.ConvTranspose2d(num_hiddens, num_hiddens // 2, 4, 2, 1), nn.ReLU(),
                nn.ConvTranspose2d(num_hiddens // 2, 3, 4, 2, 1))

        def forward(self, x):
            z = self._encoder(x)
            z = self._pre_vq_conv(z)
            loss, quantized, perplexity, _ = self._vq_vae(z)
            x_recon = self._decoder(quantized)
            return loss, x_recon, perplexity

    model = Model(decay=0.99 if ema else 0.0)
    rec.sync("vqvae", model)
    optimizer = optim.Adam(model.parameters(), lr=1e-3, amsgrad=False)
    data = rs.rand(steps * batch, 3, 16, 16).astype(np.float32) - 0.5
    data_variance = float(np.var(data))
    model.train()
    for i in range(steps):
        x = torch.from_numpy(data[i * batch:(i + 1) * batch])
        optimizer.zero_grad()
        vq_loss, data_recon, perplexity = model(x)
        recon_error = F.mse_loss(data_recon, x) / data_variance
        loss = recon_error + vq_loss
        loss.backward()
        optimizer.step()
        rec.log("recon_error", recon_error)
        rec.log("vq_loss", vq_loss)
        rec.log("perplexity", perplexity)
        rec.log("grad.encoder0", model._encoder[0].weight.grad)
    model.eval()
    with torch.no_grad():
        z = model._pre_vq_conv(model._encoder(torch.from_numpy(data[:2])))
        _, quantized, _, encodings = model._vq_vae(z)
        rec.log("codes", encodings.argmax(1))
        rec.log("quantized", quantized)
        codes = encodings.argmax(1).view(2, 4, 4)
        rec.log("from_codes", model._vq_vae._embedding(codes).permute(0, 3, 1, 2))
    rec.log("codebook", model._vq_vae._embedding.weight)


def mdn_body(lib, rec, steps=5, batch=64, n_gaussians=5, use_distributions=False):
    torch, nn, optim = lib.torch, lib.nn, lib.optim
    D = __import__(lib.name + ".distributions", fromlist=["Normal"])
    rs = np.random.RandomState(1)
    # the inverted sinusoid of Bishop's MDN example: one x, several y
    y_data = rs.uniform(-10.5, 10.5, steps * batch).astype(np.float32)
    x_data = (7.0 * np.sin(0.75 * y_data) + 0.5 * y_data + rs.randn(steps * batch) * 1.0).astype(np.float32)
    oneDivSqrtTwoPI = 1.0 / math.sqrt(2.0 * math.pi)

    class MDN(nn.Module):
        def __init__(self, n_hidden, n_gaussians):
            super(MDN, self).__init__()
            self.z_h = nn.Sequential(nn.Linear(1, n_hidden), nn.Tanh())
            self.z_pi = nn.Linear(n_hidden, n_gaussians)
            self.z_sigma = nn.Linear(n_hidden, n_gaussians)
            self.z_mu = nn.Linear(n_hidden, n_gaussians)

        def forward(self, x):
            z_h = self.z_h(x)
            pi = nn.functional.softmax(self.z_pi(z_h), -1)
            sigma = torch.exp(self.z_sigma(z_h))
            mu = self.z_mu(z_h)
            return pi, sigma, mu

    def gaussian_distribution(y, mu, sigma):
        result = (y.expand_as(mu) - mu) * torch.reciprocal(sigma)
        result = - 0.5 * (result * result)
        return (torch.exp(result) * torch.reciprocal(sigma)) * oneDivSqrtTwoPI

    def mdn_loss_fn(pi, sigma, mu, y):
        if use_distributions:
            mix = D.Categorical(probs=pi)
            comp = D.Independent(D.Normal(mu.unsqueeze(-1), sigma.unsqueeze(-1)), 1)
            gmm = D.MixtureSameFamily(mix, comp)
            return -gmm.log_prob(y).mean()
        result = gaussian_distribution(y, mu, sigma) * pi
        result = torch.sum(result, dim=1)
        result = -torch.log(result)
        return torch.mean(result)

    def mdn_loss_logsumexp(pi, sigma, mu, y):
        log_comp = D.Normal(loc=mu, scale=sigma).log_prob(y.expand_as(mu))
        return -torch.logsumexp(torch.log(pi) + log_comp, dim=1).mean()

    network = MDN(n_hidden=20, n_gaussians=n_gaussians)
    rec.sync("mdn", network)
    optimizer = torch.optim.Adam(network.parameters())
    for epoch in range(steps):
        x = torch.from_numpy(x_data[epoch * batch:(epoch + 1) * batch]).view(-1, 1)
        y = torch.from_numpy(y_data[epoch * batch:(epoch + 1) * batch]).view(-1, 1)
        pi_variable, sigma_variable, mu_variable = network(x)
        loss = mdn_loss_fn(pi_variable, sigma_variable, mu_variable, y)
        rec.log("loss_lse", mdn_loss_logsumexp(pi_variable, sigma_variable, mu_variable, y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rec.log("loss", loss)
        rec.log("grad.z_sigma", network.z_sigma.weight.grad)
    # sampling: pick a component by gumbel-max from numpy noise, then mean + sigma * numpy noise
    x_test = torch.linspace(-15, 15, 7).view(-1, 1)
    pi, sigma, mu = network(x_test)
    gumbel = torch.from_numpy(-np.log(-np.log(rs.rand(7, n_gaussians))).astype(np.float32))
    k = (torch.log(pi) + gumbel).argmax(1)
    indices = (torch.arange(7), k)
    rn = torch.from_numpy(rs.randn(7).astype(np.float32))
    sampled = rn * sigma[indices] + mu[indices]
    rec.log("k", k)
    rec.log("sampled", sampled)
    if use_distributions:
        gmm = D.MixtureSameFamily(D.Categorical(probs=pi), D.Independent(D.Normal(mu.unsqueeze(-1),
                                                                                  sigma.unsqueeze(-1)), 1))
        rec.log("gmm.mean", gmm.mean)
        rec.log("gmm.variance", gmm.variance)
        rec.log("gmm.batch_shape", list(gmm.batch_shape))
        rec.log("gmm.event_shape", list(gmm.event_shape))
        torch.manual_seed(0)
        rec.log("gmm.sample.shape", list(gmm.sample((3,)).shape))


def test_vqvae_matches_pytorch():
    run_both(vqvae_body, rtol=1e-3, atol=1e-4)


def test_vqvae_cdist_matches_pytorch():
    run_both(vqvae_body, use_cdist=True, steps=2, rtol=1e-3, atol=1e-4)


def test_vqvae_ema_codebook_matches_pytorch():
    run_both(vqvae_body, ema=True, rtol=1e-3, atol=1e-4)


def test_mdn_matches_pytorch():
    run_both(mdn_body, rtol=1e-3, atol=1e-5)


def test_mdn_mixture_same_family_matches_pytorch():
    run_both(mdn_body, use_distributions=True, rtol=1e-3, atol=1e-5)


if __name__ == "__main__":
    test_vqvae_matches_pytorch()
    test_vqvae_cdist_matches_pytorch()
    test_vqvae_ema_codebook_matches_pytorch()
    test_mdn_matches_pytorch()
    test_mdn_mixture_same_family_matches_pytorch()
    print("ok")
