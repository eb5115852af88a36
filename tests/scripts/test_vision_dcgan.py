"""DCGAN (the PyTorch tutorial's, shrunk to 32x32) and a WGAN-GP critic step, run with PyTorch and with
flambeau from the same weights on the same numpy batches; losses, D(x), D(G(z)), gradient penalties
and a few parameters are compared step by step."""
import numpy as np

from vision_parity import run_both

NZ, NGF, NDF, NC = 16, 8, 8, 3


def dcgan_body(lib, rec, steps=3, batch=8):
    torch, nn, optim = lib.torch, lib.nn, lib.optim

    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find('Conv') != -1:
            nn.init.normal_(m.weight.data, 0.0, 0.02)
        elif classname.find('BatchNorm') != -1:
            nn.init.normal_(m.weight.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0)

    class Generator(nn.Module):
        def __init__(self):
            super(Generator, self).__init__()
            self.main = nn.Sequential(
                # z: nz x 1 x 1 -> (ngf*4) x 4 x 4
                nn.ConvTranspose2d(NZ, NGF * 4, 4, 1, 0, bias=False),
                nn.BatchNorm2d(NGF * 4),
                nn.ReLU(True),
                # -> (ngf*2) x 8 x 8
                nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(NGF * 2),
                nn.ReLU(True),
                # -> ngf x 16 x 16
                nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False),
                nn.BatchNorm2d(NGF),
                nn.ReLU(True),
                # -> nc x 32 x 32
                nn.ConvTranspose2d(NGF, NC, 4, 2, 1, bias=False),
                nn.Tanh()
            )

        def forward(self, input):
            return self.main(input)

    class Discriminator(nn.Module):
        def __init__(self, sigmoid=True):
            super(Discriminator, self).__init__()
            layers = [
                nn.Conv2d(NC, NDF, 4, 2, 1, bias=False),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(NDF * 2),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(NDF * 2, NDF * 4, 4, 2, 1, bias=False),
                nn.BatchNorm2d(NDF * 4),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(NDF * 4, 1, 4, 1, 0, bias=False),
            ]
            if sigmoid:
                layers.append(nn.Sigmoid())
            self.main = nn.Sequential(*layers)

        def forward(self, input):
            return self.main(input)

    netG = Generator()
    netG.apply(weights_init)
    rec.sync("G", netG)
    netD = Discriminator()
    netD.apply(weights_init)
    rec.sync("D", netD)
    rec.log("G.num_params", sum(p.numel() for p in netG.parameters()))

    criterion = nn.BCELoss()
    fixed_noise_np = np.random.RandomState(1).randn(4, NZ, 1, 1).astype(np.float32)
    fixed_noise = torch.from_numpy(fixed_noise_np)
    real_label = 1.
    fake_label = 0.
    optimizerD = optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))

    rs = np.random.RandomState(0)
    for i in range(steps):
        real_cpu = torch.from_numpy(rs.uniform(-1, 1, (batch, NC, 32, 32)).astype(np.float32))
        noise = torch.from_numpy(rs.randn(batch, NZ, 1, 1).astype(np.float32))
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        b_size = real_cpu.size(0)
        label = torch.full((b_size,), real_label, dtype=torch.float)
        output = netD(real_cpu).view(-1)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach()).view(-1)
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()
        # (2) Update G network: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake).view(-1)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()
        rec.log("errD", errD)
        rec.log("errG", errG.item())
        rec.log("D_x", D_x)
        rec.log("D_G_z", [D_G_z1, D_G_z2])
        rec.log("label.dtype", str(label.dtype).split(".")[-1])
    rec.log("G.last_weight", netG.main[-2].weight)
    rec.log("D.bn_running_var", netD.main[3].running_var)
    rec.log("D.num_batches_tracked", netD.main[3].num_batches_tracked)
    with torch.no_grad():
        fake = netG(fixed_noise).detach().cpu()
    rec.log("fixed_fake", fake)
    assert fake.min() >= -1 and fake.max() <= 1
    rec.log("grid_shape", list(fake.permute(0, 2, 3, 1).reshape(-1, 32 * 32 * NC).shape))


def wgan_gp_body(lib, rec, steps=3, batch=6, lambda_gp=10.0):
    torch, nn, optim = lib.torch, lib.nn, lib.optim

    critic = nn.Sequential(
        nn.Conv2d(NC, NDF, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(NDF, NDF * 2, 4, 2, 1), nn.InstanceNorm2d(NDF * 2, affine=True), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(NDF * 2 * 8 * 8, 1))
    rec.sync("critic", critic)
    gen = nn.Sequential(nn.Linear(NZ, NC * 32 * 32), nn.Tanh(), nn.Unflatten(1, (NC, 32, 32)))
    rec.sync("gen", gen)
    opt_c = optim.Adam(critic.parameters(), lr=1e-4, betas=(0.0, 0.9))
    opt_g = optim.Adam(gen.parameters(), lr=1e-4, betas=(0.0, 0.9))

    def compute_gradient_penalty(D, real_samples, fake_samples, alpha):
        interpolates = (alpha * real_samples + ((1 - alpha) * fake_samples)).requires_grad_(True)
        d_interpolates = D(interpolates)
        fake = torch.ones_like(d_interpolates, requires_grad=False)
        gradients = torch.autograd.grad(
            outputs=d_interpolates, inputs=interpolates, grad_outputs=fake,
            create_graph=True, retain_graph=True, only_inputs=True)[0]
        gradients = gradients.view(gradients.size(0), -1)
        return ((gradients.norm(2, dim=1) - 1) ** 2).mean()

    rs = np.random.RandomState(3)
    for step in range(steps):
        real = torch.from_numpy(rs.uniform(-1, 1, (batch, NC, 32, 32)).astype(np.float32))
        z = torch.tensor(rs.randn(batch, NZ), dtype=torch.float32)
        alpha = torch.from_numpy(rs.rand(batch, 1, 1, 1).astype(np.float32))
        opt_c.zero_grad()
        fake_imgs = gen(z)
        real_validity = critic(real)
        fake_validity = critic(fake_imgs.detach())
        gp = compute_gradient_penalty(critic, real.data, fake_imgs.data, alpha)
        d_loss = -torch.mean(real_validity) + torch.mean(fake_validity) + lambda_gp * gp
        d_loss.backward()
        opt_c.step()
        rec.log("gp", gp)
        rec.log("d_loss", d_loss)
        rec.log("critic.grad0", critic[0].weight.grad)
        # clip the critic's weights too (the original WGAN), in-place under no_grad
        with torch.no_grad():
            for p in critic.parameters():
                p.clamp_(-0.5, 0.5)
        opt_g.zero_grad(set_to_none=True)
        g_loss = -torch.mean(critic(gen(z)))
        g_loss.backward()
        opt_g.step()
        rec.log("g_loss", g_loss)
        rec.log("gen.grad_is_none", [p.grad is None for p in critic.parameters()][:1])
    rec.log("critic.final", critic[-1].weight)


def test_dcgan_matches_pytorch():
    run_both(dcgan_body)


def test_wgan_gp_matches_pytorch():
    run_both(wgan_gp_body, tol={"critic.grad0": (1e-4, 1e-3)})


if __name__ == "__main__":
    test_dcgan_matches_pytorch()
    test_wgan_gp_matches_pytorch()
    print("ok")
