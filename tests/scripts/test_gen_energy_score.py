"""Likelihood-free and autoregressive generative models: an energy-based model trained by contrastive
divergence with Langevin-dynamics sampling (the UvA deep-learning course's tutorial 8: a Swish CNN, input
images with requires_grad, in-place noise / clamp / gradient steps on .data, set_grad_enabled), denoising
and sliced score matching (Song & Ermon's NCSN losses: geometric noise levels, per-sample sigmas gathered
by label, autograd.grad with create_graph for the Hutchinson trace), a PixelCNN with masked convolutions
(mask buffer applied to weight.data in forward, per-pixel 4-way cross-entropy, pixel-by-pixel sampling)
and a spectral-norm hinge-loss GAN (nn.utils.spectral_norm and nn.utils.parametrizations.spectral_norm).
Run with PyTorch and with flambeau from the same weights; every random draw comes from numpy."""
import numpy as np

from vision_parity import run_both


def ebm_body(lib, rec, steps=2, batch=4, langevin_steps=6):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    rs = np.random.RandomState(0)

    def randn(*shape):
        return torch.from_numpy(rs.randn(*shape).astype(np.float32))

    class Swish(nn.Module):
        def forward(self, x):
            return x * torch.sigmoid(x)

    class CNNModel(nn.Module):
        def __init__(self, hidden_features=8, out_dim=1, **kwargs):
            super().__init__()
            c_hid1 = hidden_features // 2
            c_hid2 = hidden_features
            self.cnn_layers = nn.Sequential(
                nn.Conv2d(1, c_hid1, kernel_size=5, stride=2, padding=4), Swish(),
                nn.Conv2d(c_hid1, c_hid2, kernel_size=3, stride=2, padding=1), Swish(),
                nn.Conv2d(c_hid2, c_hid2, kernel_size=3, stride=2, padding=1), Swish(),
                nn.Flatten(), nn.Linear(c_hid2 * 3 * 3, c_hid2), Swish(), nn.Linear(c_hid2, out_dim))

        def forward(self, x):
            return self.cnn_layers(x).squeeze(dim=-1)

    class Sampler:
        def __init__(self, model, img_shape, sample_size, max_len=16):
            self.model = model
            self.img_shape = img_shape
            self.sample_size = sample_size
            self.max_len = max_len
            self.examples = [(torch.from_numpy(rs.rand(1, *img_shape).astype(np.float32)) * 2 - 1)
                             for _ in range(self.sample_size)]

        def sample_new_exmps(self, steps=60, step_size=10):
            n_new = 1  # np.random.binomial(self.sample_size, 0.05) in the tutorial
            rand_imgs = torch.from_numpy(rs.rand(n_new, *self.img_shape).astype(np.float32)) * 2 - 1
            idx = rs.choice(len(self.examples), self.sample_size - n_new)
            old_imgs = torch.cat([self.examples[i] for i in idx], dim=0)
            inp_imgs = torch.cat([rand_imgs, old_imgs], dim=0).detach()
            inp_imgs = Sampler.generate_samples(self.model, inp_imgs, steps=steps, step_size=step_size)
            self.examples = list(inp_imgs.to(torch.device("cpu")).chunk(self.sample_size, dim=0)) + self.examples
            self.examples = self.examples[:self.max_len]
            return inp_imgs

        @staticmethod
        def generate_samples(model, inp_imgs, steps=60, step_size=10, return_img_per_step=False):
            is_training = model.training
            model.eval()
            for p in model.parameters():
                p.requires_grad = False
            inp_imgs.requires_grad = True
            had_gradients_enabled = torch.is_grad_enabled()
            torch.set_grad_enabled(True)
            noise = torch.zeros(inp_imgs.shape, device=inp_imgs.device)
            imgs_per_step = []
            for _ in range(steps):
                noise.copy_(randn(*inp_imgs.shape) * 0.005)  # noise.normal_(0, 0.005)
                inp_imgs.data.add_(noise.data)
                inp_imgs.data.clamp_(min=-1.0, max=1.0)
                out_imgs = -model(inp_imgs)
                out_imgs.sum().backward()
                inp_imgs.grad.data.clamp_(-0.03, 0.03)
                inp_imgs.data.add_(-step_size * inp_imgs.grad.data)
                inp_imgs.grad.detach_()
                inp_imgs.grad.zero_()
                inp_imgs.data.clamp_(min=-1.0, max=1.0)
                if return_img_per_step:
                    imgs_per_step.append(inp_imgs.clone().detach())
            for p in model.parameters():
                p.requires_grad = True
            model.train(is_training)
            torch.set_grad_enabled(had_gradients_enabled)
            if return_img_per_step:
                return torch.stack(imgs_per_step, dim=0)
            return inp_imgs

    cnn = CNNModel()
    rec.sync("cnn", cnn)
    sampler = Sampler(cnn, img_shape=(1, 16, 16), sample_size=batch)
    optimizer = optim.Adam(cnn.parameters(), lr=1e-4, betas=(0.0, 0.999))
    scheduler = optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.97)
    data = rs.rand(steps * batch, 1, 16, 16).astype(np.float32) * 2 - 1
    for i in range(steps):
        real_imgs = torch.from_numpy(data[i * batch:(i + 1) * batch])
        small_noise = randn(*real_imgs.shape) * 0.005
        real_imgs.add_(small_noise).clamp_(min=-1.0, max=1.0)
        fake_imgs = sampler.sample_new_exmps(steps=langevin_steps, step_size=10)
        inp_imgs = torch.cat([real_imgs, fake_imgs], dim=0)
        real_out, fake_out = cnn(inp_imgs).chunk(2, dim=0)
        reg_loss = 0.1 * (real_out ** 2 + fake_out ** 2).mean()
        cdiv_loss = fake_out.mean() - real_out.mean()
        loss = reg_loss + cdiv_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        rec.log("loss", loss)
        rec.log("cdiv", cdiv_loss)
        rec.log("fake_imgs", fake_imgs)
        rec.log("grad_enabled", torch.is_grad_enabled())
    torch.manual_seed(0)
    imgs = Sampler.generate_samples(cnn, torch.from_numpy(rs.rand(2, 1, 16, 16).astype(np.float32)),
                                    steps=3, step_size=10, return_img_per_step=True)
    rec.log("imgs_per_step", imgs)
    rec.log("params_trainable", all(p.requires_grad for p in cnn.parameters()))


def score_matching_body(lib, rec, steps=3, batch=32, loss_kind="dsm"):
    torch, nn, F = lib.torch, lib.nn, lib.F
    autograd = torch.autograd
    rs = np.random.RandomState(1)
    sigmas = torch.tensor(np.exp(np.linspace(np.log(1.0), np.log(0.01), 10))).float()
    rec.log("sigmas", sigmas)
    sigmas_t = torch.exp(torch.linspace(np.log(1.0), np.log(0.01), 10))
    rec.log("sigmas_torch", sigmas_t)

    class ScoreNet(nn.Module):
        def __init__(self, n_sigmas=10):
            super().__init__()
            self.lin1 = nn.Linear(2, 64)
            self.lin2 = nn.Linear(64, 64)
            self.lin3 = nn.Linear(64, 2)
            self.embed = nn.Embedding(n_sigmas, 64)

        def forward(self, x, y):
            h = F.softplus(self.lin1(x)) * self.embed(y)
            h = F.softplus(self.lin2(h))
            return self.lin3(h) / sigmas[y].view(-1, 1)

    def anneal_dsm_score_estimation(scorenet, samples, labels, sigmas, anneal_power=2.):
        used_sigmas = sigmas[labels].view(samples.shape[0], *([1] * len(samples.shape[1:])))
        perturbed_samples = samples + torch.from_numpy(rs.randn(*samples.shape).astype(np.float32)) * used_sigmas
        target = - 1 / (used_sigmas ** 2) * (perturbed_samples - samples)
        scores = scorenet(perturbed_samples, labels)
        target = target.view(target.shape[0], -1)
        scores = scores.view(scores.shape[0], -1)
        loss = 1 / 2. * ((scores - target) ** 2).sum(dim=-1) * used_sigmas.squeeze() ** anneal_power
        return loss.mean(dim=0)

    def anneal_sliced_score_estimation_vr(scorenet, samples, labels, sigmas, n_particles=1):
        used_sigmas = sigmas[labels].view(samples.shape[0], *([1] * len(samples.shape[1:])))
        perturbed_samples = samples + torch.from_numpy(rs.randn(*samples.shape).astype(np.float32)) * used_sigmas
        dup_samples = perturbed_samples.unsqueeze(0).expand(n_particles, *samples.shape).contiguous().view(
            -1, *samples.shape[1:])
        dup_labels = labels.unsqueeze(0).expand(n_particles, *labels.shape).contiguous().view(-1)
        dup_samples.requires_grad_(True)
        vectors = torch.from_numpy(rs.randn(*dup_samples.shape).astype(np.float32))
        grad1 = scorenet(dup_samples, dup_labels)
        gradv = torch.sum(grad1 * vectors)
        grad2 = autograd.grad(gradv, dup_samples, create_graph=True)[0]
        grad1 = grad1.view(dup_samples.shape[0], -1)
        loss1 = torch.sum(grad1 * grad1, dim=-1) / 2.
        loss2 = torch.sum((vectors * grad2).view(dup_samples.shape[0], -1), dim=-1)
        loss1 = loss1.view(n_particles, -1).mean(dim=0)
        loss2 = loss2.view(n_particles, -1).mean(dim=0)
        loss = (loss1 + loss2) * (used_sigmas.squeeze() ** 2)
        return loss.mean(dim=0), grad2

    score = ScoreNet()
    rec.sync("score", score)
    optimizer = torch.optim.Adam(score.parameters(), lr=1e-3, weight_decay=0.000, betas=(0.9, 0.999), amsgrad=False)
    for step in range(steps):
        X = torch.from_numpy((rs.randn(batch, 2) * 0.5 + np.array([1.0, -1.0])).astype(np.float32))
        labels = torch.from_numpy(rs.randint(0, len(sigmas), (X.shape[0],)))
        if loss_kind == "dsm":
            loss = anneal_dsm_score_estimation(score, X, labels, sigmas, 2.0)
        else:
            loss, grad2 = anneal_sliced_score_estimation_vr(score, X, labels, sigmas, n_particles=2)
            rec.log("grad2", grad2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rec.log("loss", loss)
        rec.log("grad.embed", score.embed.weight.grad)
    # annealed Langevin dynamics, a few steps at the two largest noise levels
    x_mod = torch.from_numpy(rs.rand(8, 2).astype(np.float32))
    with torch.no_grad():
        for c, sigma in enumerate(sigmas[:2]):
            labels = torch.ones(x_mod.shape[0], device=x_mod.device) * c
            labels = labels.long()
            step_size = 2e-3 * (sigma / sigmas[-1]) ** 2
            for s in range(3):
                noise = torch.from_numpy(rs.randn(*x_mod.shape).astype(np.float32)) * torch.sqrt(step_size * 2)
                grad = score(x_mod, labels)
                x_mod = x_mod + step_size * grad + noise
            rec.log("x_mod", x_mod)


def pixelcnn_body(lib, rec, steps=2, batch=4, levels=4):
    torch, nn, F = lib.torch, lib.nn, lib.F
    rs = np.random.RandomState(2)

    class MaskedConv2d(nn.Conv2d):
        def __init__(self, mask_type, *args, **kwargs):
            super(MaskedConv2d, self).__init__(*args, **kwargs)
            assert mask_type in {'A', 'B'}
            self.register_buffer('mask', self.weight.data.clone())
            _, _, kH, kW = self.weight.size()
            self.mask.fill_(1)
            self.mask[:, :, kH // 2, kW // 2 + (mask_type == 'B'):] = 0
            self.mask[:, :, kH // 2 + 1:] = 0

        def forward(self, x):
            self.weight.data *= self.mask
            return super(MaskedConv2d, self).forward(x)

    fm = 8
    net = nn.Sequential(
        MaskedConv2d('A', 1, fm, 5, 1, 2, bias=False), nn.BatchNorm2d(fm), nn.ReLU(True),
        MaskedConv2d('B', fm, fm, 3, 1, 1, bias=False), nn.BatchNorm2d(fm), nn.ReLU(True),
        MaskedConv2d('B', fm, fm, 3, 1, 1, bias=False), nn.BatchNorm2d(fm), nn.ReLU(True),
        nn.Conv2d(fm, levels, 1))
    rec.sync("pixelcnn", net)
    optimizer = torch.optim.Adam(net.parameters())
    data = rs.randint(0, levels, size=(steps * batch, 1, 8, 8))
    for i in range(steps):
        target = torch.from_numpy(data[i * batch:(i + 1) * batch])
        input = target.float() / (levels - 1)
        target = target[:, 0]
        loss = F.cross_entropy(net(input), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rec.log("loss", loss)
        rec.log("masked_weight", net[0].weight)
    sample = torch.Tensor(2, 1, 8, 8)
    sample.fill_(0)
    net.train(False)
    with torch.no_grad():
        for i in range(8):
            for j in range(8):
                out = net(sample)
                probs = F.softmax(out[:, :, i, j], dim=1)
                # torch.multinomial(probs, 1), by inverse CDF of a numpy uniform
                u = torch.from_numpy(rs.rand(2, 1).astype(np.float32))
                draw = (probs.cumsum(1) < u).sum(1, keepdim=True).clamp(max=levels - 1)
                sample[:, :, i, j] = draw.float() / (levels - 1)
    rec.log("sample", sample)


def sngan_body(lib, rec, steps=3, batch=8, parametrization=False):
    torch, nn, F = lib.torch, lib.nn, lib.F
    rs = np.random.RandomState(3)
    SN = nn.utils.parametrizations.spectral_norm if parametrization else nn.utils.spectral_norm

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                SN(nn.Conv2d(3, 8, 3, 1, 1)), nn.LeakyReLU(0.1),
                SN(nn.Conv2d(8, 16, 4, 2, 1)), nn.LeakyReLU(0.1),
                SN(nn.Conv2d(16, 16, 4, 2, 1)), nn.LeakyReLU(0.1))
            self.fc = SN(nn.Linear(16 * 2 * 2, 1))

        def forward(self, x):
            return self.fc(self.main(x).view(x.size(0), -1))

    G = nn.Sequential(nn.Linear(8, 16 * 2 * 2), nn.ReLU(), nn.Unflatten(1, (16, 2, 2)),
                      nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.ConvTranspose2d(8, 3, 4, 2, 1), nn.Tanh())
    D = Discriminator()
    rec.sync("G", G)
    rec.sync("D", D)
    rec.log("D.n_state", len(D.state_dict()))  # the keys themselves must match for rec.sync to load
    optim_disc = torch.optim.Adam(filter(lambda p: p.requires_grad, D.parameters()), lr=2e-4, betas=(0.0, 0.9))
    optim_gen = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.0, 0.9))
    data = rs.rand(steps * batch, 3, 8, 8).astype(np.float32) * 2 - 1
    for i in range(steps):
        x = torch.from_numpy(data[i * batch:(i + 1) * batch])
        z = torch.from_numpy(rs.randn(batch, 8).astype(np.float32))
        optim_disc.zero_grad()
        optim_gen.zero_grad()
        disc_loss = nn.ReLU()(1.0 - D(x)).mean() + nn.ReLU()(1.0 + D(G(z))).mean()
        disc_loss.backward()
        optim_disc.step()
        optim_disc.zero_grad()
        optim_gen.zero_grad()
        gen_loss = -D(G(z)).mean()
        gen_loss.backward()
        optim_gen.step()
        rec.log("disc_loss", disc_loss)
        rec.log("gen_loss", gen_loss)
    sd = D.state_dict()
    for k in sorted(sd):
        rec.log("D." + k, sd[k])
    D.eval()
    with torch.no_grad():
        w = D.main[0].weight
        rec.log("sigma", torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2))
        rec.log("eval_out", D(torch.from_numpy(data[:2])))


def test_ebm_langevin_matches_pytorch():
    run_both(ebm_body, rtol=1e-3, atol=1e-4)


def test_denoising_score_matching_matches_pytorch():
    run_both(score_matching_body, rtol=1e-3, atol=1e-4)


def test_sliced_score_matching_matches_pytorch():
    run_both(score_matching_body, loss_kind="ssm", rtol=1e-3, atol=1e-4)


def test_pixelcnn_matches_pytorch():
    run_both(pixelcnn_body, rtol=1e-3, atol=1e-4)


def test_sngan_hook_spectral_norm_matches_pytorch():
    run_both(sngan_body, rtol=1e-3, atol=1e-4)


def test_sngan_parametrized_spectral_norm_matches_pytorch():
    run_both(sngan_body, parametrization=True, rtol=1e-3, atol=1e-4)


if __name__ == "__main__":
    test_ebm_langevin_matches_pytorch()
    test_denoising_score_matching_matches_pytorch()
    test_sliced_score_matching_matches_pytorch()
    test_pixelcnn_matches_pytorch()
    test_sngan_hook_spectral_norm_matches_pytorch()
    test_sngan_parametrized_spectral_norm_matches_pytorch()
    print("ok")
