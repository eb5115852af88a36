"""GAN training loops not covered by the DCGAN script: WGAN-GP on 2-D toy data (the toy script of
Gulrajani et al.'s wgan-gp repositories: n_critic critic steps per generator step, the gradient penalty
through torch.autograd.grad with create_graph=True and grad_outputs=ones, Adam with betas (0.5, 0.9)),
weight-clipped WGAN with RMSprop, and a conditional GAN (eriklindernoren/PyTorch-GAN's cgan: label
embedding concatenated to the noise / the flattened image, MSE adversarial loss, Variable(FloatTensor)).
Run with PyTorch and with flambeau from the same weights; noise, labels and interpolation factors
come from numpy."""
import numpy as np

from vision_parity import run_both


def toy_data(n, rs):
    centers = np.array([[2, 0], [-2, 0], [0, 2], [0, -2], [1.41, 1.41], [-1.41, -1.41], [1.41, -1.41], [-1.41, 1.41]])
    idx = rs.randint(0, 8, size=n)
    return (centers[idx] + 0.02 * rs.randn(n, 2)).astype(np.float32) / 1.414


def wgan_gp_body(lib, rec, iters=3, critic_iters=3, batch=32, lam=0.1):
    torch, nn, optim = lib.torch, lib.nn, lib.optim
    autograd = torch.autograd
    rs = np.random.RandomState(0)
    DIM = 32

    class Generator(nn.Module):
        def __init__(self):
            super(Generator, self).__init__()
            main = nn.Sequential(nn.Linear(2, DIM), nn.ReLU(True), nn.Linear(DIM, DIM), nn.ReLU(True),
                                 nn.Linear(DIM, DIM), nn.ReLU(True), nn.Linear(DIM, 2))
            self.main = main

        def forward(self, noise, real_data):
            return self.main(noise)

    class Discriminator(nn.Module):
        def __init__(self):
            super(Discriminator, self).__init__()
            main = nn.Sequential(nn.Linear(2, DIM), nn.ReLU(True), nn.Linear(DIM, DIM), nn.ReLU(True),
                                 nn.Linear(DIM, DIM), nn.ReLU(True), nn.Linear(DIM, 1))
            self.main = main

        def forward(self, inputs):
            output = self.main(inputs)
            return output.view(-1)

    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find('Linear') != -1:
            m.weight.data.normal_(0.0, 0.02)
            m.bias.data.fill_(0)

    def calc_gradient_penalty(netD, real_data, fake_data):
        alpha = torch.from_numpy(rs.rand(batch, 1).astype(np.float32))
        alpha = alpha.expand(real_data.size())
        interpolates = alpha * real_data + ((1 - alpha) * fake_data)
        interpolates = autograd.Variable(interpolates, requires_grad=True)
        disc_interpolates = netD(interpolates)
        gradients = autograd.grad(outputs=disc_interpolates, inputs=interpolates,
                                  grad_outputs=torch.ones(disc_interpolates.size()),
                                  create_graph=True, retain_graph=True, only_inputs=True)[0]
        return ((gradients.norm(2, dim=1) - 1) ** 2).mean() * lam

    netG = Generator()
    netD = Discriminator()
    netD.apply(weights_init)
    netG.apply(weights_init)
    rec.sync("G", netG)
    rec.sync("D", netD)
    optimizerD = optim.Adam(netD.parameters(), lr=1e-4, betas=(0.5, 0.9))
    optimizerG = optim.Adam(netG.parameters(), lr=1e-4, betas=(0.5, 0.9))
    one = torch.tensor(1, dtype=torch.float)
    mone = one * -1
    for iteration in range(iters):
        for p in netD.parameters():
            p.requires_grad = True
        for iter_d in range(critic_iters):
            real_data_v = autograd.Variable(torch.Tensor(toy_data(batch, rs)))
            netD.zero_grad()
            D_real = netD(real_data_v)
            D_real = D_real.mean()
            D_real.backward(mone)
            noise = torch.from_numpy(rs.randn(batch, 2).astype(np.float32))
            noisev = autograd.Variable(noise, volatile=True)  # totally freeze netG (old API: warns)
            fake = autograd.Variable(netG(noisev, real_data_v).data)
            inputv = fake
            D_fake = netD(inputv)
            D_fake = D_fake.mean()
            D_fake.backward(one)
            gradient_penalty = calc_gradient_penalty(netD, real_data_v.data, fake.data)
            gradient_penalty.backward()
            D_cost = D_fake - D_real + gradient_penalty
            Wasserstein_D = D_real - D_fake
            optimizerD.step()
            rec.log("D_cost", D_cost)
            rec.log("gp", gradient_penalty)
            rec.log("grad.D0", netD.main[0].weight.grad)
        for p in netD.parameters():
            p.requires_grad = False
        netG.zero_grad()
        real_data_v = autograd.Variable(torch.Tensor(toy_data(batch, rs)))
        noise = torch.from_numpy(rs.randn(batch, 2).astype(np.float32))
        fake = netG(autograd.Variable(noise), real_data_v)
        G = netD(fake)
        G = G.mean()
        G.backward(mone)
        G_cost = -G
        optimizerG.step()
        rec.log("G_cost", G_cost)
        rec.log("Wasserstein_D", Wasserstein_D)
        rec.log("D.grad_is_none", netD.main[0].weight.grad is None)
    rec.log("G.out", netG.main[6].weight)


def wgan_clip_body(lib, rec, iters=3, n_critic=2, batch=16):
    torch, nn, optim = lib.torch, lib.nn, lib.optim
    rs = np.random.RandomState(3)
    G = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
    D = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2, inplace=True), nn.Linear(32, 1))
    rec.sync("G", G)
    rec.sync("D", D)
    optimizer_G = torch.optim.RMSprop(G.parameters(), lr=5e-4)
    optimizer_D = torch.optim.RMSprop(D.parameters(), lr=5e-4)
    for i in range(iters):
        for _ in range(n_critic):
            real = torch.from_numpy(toy_data(batch, rs))
            z = torch.from_numpy(rs.randn(batch, 4).astype(np.float32))
            optimizer_D.zero_grad()
            fake = G(z).detach()
            loss_D = -torch.mean(D(real)) + torch.mean(D(fake))
            loss_D.backward()
            optimizer_D.step()
            for p in D.parameters():
                p.data.clamp_(-0.05, 0.05)
            rec.log("loss_D", loss_D)
        optimizer_G.zero_grad()
        z = torch.from_numpy(rs.randn(batch, 4).astype(np.float32))
        gen = G(z)
        loss_G = -torch.mean(D(gen))
        loss_G.backward()
        optimizer_G.step()
        rec.log("loss_G", loss_G)
    rec.log("D.weight", D[0].weight)


def cgan_body(lib, rec, iters=3, batch=8):
    torch, nn = lib.torch, lib.nn
    from_ = __import__(lib.name + ".autograd", fromlist=["Variable"])
    Variable = from_.Variable
    n_classes, latent_dim, img_shape = 10, 16, (1, 8, 8)
    rs = np.random.RandomState(4)
    FloatTensor = torch.FloatTensor
    LongTensor = torch.LongTensor

    class Generator(nn.Module):
        def __init__(self):
            super(Generator, self).__init__()
            self.label_emb = nn.Embedding(n_classes, n_classes)

            def block(in_feat, out_feat, normalize=True):
                layers = [nn.Linear(in_feat, out_feat)]
                if normalize:
                    layers.append(nn.BatchNorm1d(out_feat, 0.8))
                layers.append(nn.LeakyReLU(0.2, inplace=True))
                return layers

            self.model = nn.Sequential(
                *block(latent_dim + n_classes, 32, normalize=False),
                *block(32, 64),
                nn.Linear(64, int(np.prod(img_shape))),
                nn.Tanh())

        def forward(self, noise, labels):
            gen_input = torch.cat((self.label_emb(labels), noise), -1)
            img = self.model(gen_input)
            img = img.view(img.size(0), *img_shape)
            return img

    class Discriminator(nn.Module):
        def __init__(self):
            super(Discriminator, self).__init__()
            self.label_embedding = nn.Embedding(n_classes, n_classes)
            self.model = nn.Sequential(
                nn.Linear(n_classes + int(np.prod(img_shape)), 64), nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(64, 64), nn.Dropout(0.0), nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(64, 1))

        def forward(self, img, labels):
            d_in = torch.cat((img.view(img.size(0), -1), self.label_embedding(labels)), -1)
            validity = self.model(d_in)
            return validity

    adversarial_loss = torch.nn.MSELoss()
    generator = Generator()
    discriminator = Discriminator()
    rec.sync("G", generator)
    rec.sync("D", discriminator)
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = rs.rand(iters * batch, *img_shape).astype(np.float32) * 2 - 1
    labels_all = rs.randint(0, n_classes, iters * batch)
    for i in range(iters):
        imgs = torch.from_numpy(data[i * batch:(i + 1) * batch])
        labels = torch.from_numpy(labels_all[i * batch:(i + 1) * batch])
        batch_size = imgs.shape[0]
        valid = Variable(FloatTensor(batch_size, 1).fill_(1.0), requires_grad=False)
        fake = Variable(FloatTensor(batch_size, 1).fill_(0.0), requires_grad=False)
        real_imgs = Variable(imgs.type(FloatTensor))
        labels = Variable(labels.type(LongTensor))
        optimizer_G.zero_grad()
        z = Variable(FloatTensor(rs.normal(0, 1, (batch_size, latent_dim))))
        gen_labels = Variable(LongTensor(rs.randint(0, n_classes, batch_size)))
        gen_imgs = generator(z, gen_labels)
        validity = discriminator(gen_imgs, gen_labels)
        g_loss = adversarial_loss(validity, valid)
        g_loss.backward()
        optimizer_G.step()
        optimizer_D.zero_grad()
        validity_real = discriminator(real_imgs, labels)
        d_real_loss = adversarial_loss(validity_real, valid)
        validity_fake = discriminator(gen_imgs.detach(), gen_labels)
        d_fake_loss = adversarial_loss(validity_fake, fake)
        d_loss = (d_real_loss + d_fake_loss) / 2
        d_loss.backward()
        optimizer_D.step()
        rec.log("g_loss", g_loss)
        rec.log("d_loss", d_loss)
        rec.log("gen_imgs", gen_imgs)
    # sample_image: a grid of every class
    generator.eval()
    n_row = 3
    z = Variable(FloatTensor(rs.normal(0, 1, (n_row ** 2, latent_dim))))
    labels = np.array([num for _ in range(n_row) for num in range(n_row)])
    labels = Variable(LongTensor(labels))
    gen_imgs = generator(z, labels)
    rec.log("grid", gen_imgs.data)
    rec.log("bn.running_var", generator.model[3].running_var)


def test_wgan_gp_toy_matches_pytorch():
    run_both(wgan_gp_body, rtol=1e-3, atol=1e-5)


def test_wgan_weight_clipping_matches_pytorch():
    run_both(wgan_clip_body, rtol=1e-3, atol=1e-5)


def test_conditional_gan_matches_pytorch():
    run_both(cgan_body, rtol=1e-3, atol=1e-5)


if __name__ == "__main__":
    test_wgan_gp_toy_matches_pytorch()
    test_wgan_weight_clipping_matches_pytorch()
    test_conditional_gan_matches_pytorch()
    print("ok")
