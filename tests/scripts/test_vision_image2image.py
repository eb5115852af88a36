"""Image-to-image GANs as CycleGAN / pix2pix write them: a ResNet generator (ReflectionPad2d,
InstanceNorm2d, ConvTranspose2d), a PatchGAN discriminator with spectral normalisation, LSGAN
(MSELoss) + L1 + cycle-consistency losses, an image history pool, linear-decay LambdaLR, and
set_requires_grad toggling -- with PyTorch and with flambeau from the same weights (spectral norm's
u and v vectors included)."""
import numpy as np

from vision_parity import run_both


def cyclegan_body(lib, rec, steps=3):
    torch, nn, optim = lib.torch, lib.nn, lib.optim

    class ResnetBlock(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.conv_block = nn.Sequential(
                nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=True),
                nn.InstanceNorm2d(dim), nn.ReLU(True),
                nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=True),
                nn.InstanceNorm2d(dim))

        def forward(self, x):
            return x + self.conv_block(x)

    def resnet_generator(input_nc=3, output_nc=3, ngf=8, n_blocks=2):
        model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=True),
                 nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for i in range(2):  # downsampling
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=True),
                      nn.InstanceNorm2d(ngf * mult * 2), nn.ReLU(True)]
        mult = 4
        for i in range(n_blocks):
            model += [ResnetBlock(ngf * mult)]
        for i in range(2):  # upsampling
            mult = 2 ** (2 - i)
            model += [nn.ConvTranspose2d(ngf * mult, int(ngf * mult / 2), kernel_size=3, stride=2, padding=1,
                                         output_padding=1, bias=True),
                      nn.InstanceNorm2d(int(ngf * mult / 2)), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
        return nn.Sequential(*model)

    def patch_discriminator(input_nc=3, ndf=8):
        sn = nn.utils.spectral_norm
        return nn.Sequential(
            sn(nn.Conv2d(input_nc, ndf, kernel_size=4, stride=2, padding=1)), nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(ndf, ndf * 2, kernel_size=4, stride=2, padding=1)), nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(ndf * 2, 1, kernel_size=4, stride=1, padding=1)))

    def init_weights(net, init_gain=0.02):
        def init_func(m):
            classname = m.__class__.__name__
            if hasattr(m, 'weight') and (classname.find('Conv') != -1 or classname.find('Linear') != -1):
                nn.init.normal_(m.weight.data, 0.0, init_gain)
                if hasattr(m, 'bias') and m.bias is not None:
                    nn.init.constant_(m.bias.data, 0.0)
        net.apply(init_func)

    class ImagePool:
        """A buffer of previously generated images; the coin flips come from numpy here."""

        def __init__(self, pool_size, rs):
            self.pool_size, self.images, self.rs = pool_size, [], rs

        def query(self, images):
            return_images = []
            for image in images:
                image = torch.unsqueeze(image.data, 0)
                if len(self.images) < self.pool_size:
                    self.images.append(image)
                    return_images.append(image)
                elif self.rs.uniform(0, 1) > 0.5:
                    random_id = self.rs.randint(0, self.pool_size)
                    tmp = self.images[random_id].clone()
                    self.images[random_id] = image
                    return_images.append(tmp)
                else:
                    return_images.append(image)
            return torch.cat(return_images, 0)

    def set_requires_grad(nets, requires_grad=False):
        for net in nets:
            for param in net.parameters():
                param.requires_grad = requires_grad

    netG_A, netG_B = resnet_generator(), resnet_generator()
    netD_A, netD_B = patch_discriminator(), patch_discriminator()
    for net in (netG_A, netG_B):
        init_weights(net)
    rec.sync("G_A", netG_A)
    rec.sync("G_B", netG_B)
    rec.sync("D_A", netD_A)
    rec.sync("D_B", netD_B)
    rec.log("sn_keys", sorted(netD_A.state_dict().keys()).__len__())
    criterionGAN = nn.MSELoss()
    criterionCycle = nn.L1Loss()
    import itertools
    optimizer_G = optim.Adam(itertools.chain(netG_A.parameters(), netG_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D = optim.Adam(itertools.chain(netD_A.parameters(), netD_B.parameters()), lr=2e-4, betas=(0.5, 0.999))

    def lambda_rule(epoch):
        return 1.0 - max(0, epoch + 1 - 2) / float(3 + 1)

    schedulers = [optim.lr_scheduler.LambdaLR(o, lr_lambda=lambda_rule) for o in (optimizer_G, optimizer_D)]
    rs = np.random.RandomState(0)
    fake_A_pool, fake_B_pool = ImagePool(2, np.random.RandomState(1)), ImagePool(2, np.random.RandomState(2))

    def gan_loss(pred, target_is_real):
        target = torch.tensor(1.0 if target_is_real else 0.0).expand_as(pred)
        return criterionGAN(pred, target)

    for it in range(steps):
        real_A = torch.from_numpy(rs.uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32))
        real_B = torch.from_numpy(rs.uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32))
        fake_B = netG_A(real_A)
        rec_A = netG_B(fake_B)
        fake_A = netG_B(real_B)
        rec_B = netG_A(fake_A)
        # G_A and G_B
        set_requires_grad([netD_A, netD_B], False)
        optimizer_G.zero_grad()
        idt_A = netG_A(real_B)
        loss_idt_A = criterionCycle(idt_A, real_B) * 10.0 * 0.5
        idt_B = netG_B(real_A)
        loss_idt_B = criterionCycle(idt_B, real_A) * 10.0 * 0.5
        loss_G_A = gan_loss(netD_A(fake_B), True)
        loss_G_B = gan_loss(netD_B(fake_A), True)
        loss_cycle_A = criterionCycle(rec_A, real_A) * 10.0
        loss_cycle_B = criterionCycle(rec_B, real_B) * 10.0
        loss_G = loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
        loss_G.backward()
        optimizer_G.step()
        # D_A and D_B
        set_requires_grad([netD_A, netD_B], True)
        optimizer_D.zero_grad()
        fb = fake_B_pool.query(fake_B)
        loss_D_A = (gan_loss(netD_A(real_B), True) + gan_loss(netD_A(fb.detach()), False)) * 0.5
        loss_D_A.backward()
        fa = fake_A_pool.query(fake_A)
        loss_D_B = (gan_loss(netD_B(real_A), True) + gan_loss(netD_B(fa.detach()), False)) * 0.5
        loss_D_B.backward()
        optimizer_D.step()
        for s in schedulers:
            s.step()
        rec.log("loss_G", [loss_G_A, loss_G_B, loss_cycle_A, loss_cycle_B, loss_idt_A, loss_idt_B])
        rec.log("loss_D", [loss_D_A, loss_D_B])
        rec.log("lr", optimizer_G.param_groups[0]['lr'])
        rec.log("D_A.u", netD_A[0].weight_u)
    rec.log("fake_B", fake_B)
    with torch.no_grad():
        netG_A.eval()
        rec.log("eval_fake", netG_A(real_A))


def test_cyclegan_matches_pytorch():
    # Two GAN updates amplify last-bit differences chaotically (for some seeds both libraries' runs part by 0.2
    # against each other's float32 noise): with this test's seed the generator's outputs differ by up to 4e-4
    # since session 22's correctly rounded float32 tanh (which gives PyTorch's bits on 99% of elements, where
    # the old one gave them on 63%; the first step's losses agree to 4e-6)
    run_both(cyclegan_body, atol=5e-5, rtol=5e-4, tol={"fake_B": (5e-4, 5e-3), "eval_fake": (1e-3, 5e-3)})


if __name__ == "__main__":
    test_cyclegan_matches_pytorch()
    print("ok")
