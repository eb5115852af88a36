"""StyleGAN2's building blocks and regularisers, after rosinality/stylegan2-pytorch (without its CUDA ops,
as its fallbacks run them): equalized-learning-rate linear and conv layers (weights scaled at run time),
the mapping network with PixelNorm, modulated convolution with demodulation run as one grouped conv
(groups=batch) and its transposed upsampling variant, noise injection with a learned strength, the
fused leaky ReLU written as leaky_relu * sqrt(2), the non-saturating logistic loss, lazy R1 on real
images (autograd.grad with create_graph through the discriminator's convolutions) and path-length
regularisation (autograd.grad of (fake * noise).sum() with respect to the latents). Run with PyTorch and
with flambeau from the same weights; all noise comes from numpy."""
import math

import numpy as np

from vision_parity import run_both


def stylegan2_body(lib, rec, steps=3, batch=4, size=8, style_dim=16):
    torch, nn, F = lib.torch, lib.nn, lib.F
    autograd = torch.autograd
    rs = np.random.RandomState(0)

    def randn(*shape):
        return torch.from_numpy(rs.randn(*shape).astype(np.float32))

    def fused_leaky_relu(input, bias, negative_slope=0.2, scale=2 ** 0.5):
        rest_dim = [1] * (input.ndim - bias.ndim - 1)
        return F.leaky_relu(input + bias.view(1, bias.shape[0], *rest_dim), negative_slope=negative_slope) * scale

    class PixelNorm(nn.Module):
        def forward(self, input):
            return input * torch.rsqrt(torch.mean(input ** 2, dim=1, keepdim=True) + 1e-8)

    class EqualLinear(nn.Module):
        def __init__(self, in_dim, out_dim, bias=True, bias_init=0, lr_mul=1, activation=None):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
            self.bias = nn.Parameter(torch.zeros(out_dim).fill_(bias_init)) if bias else None
            self.activation = activation
            self.scale = (1 / math.sqrt(in_dim)) * lr_mul
            self.lr_mul = lr_mul

        def forward(self, input):
            if self.activation:
                out = F.linear(input, self.weight * self.scale)
                return fused_leaky_relu(out, self.bias * self.lr_mul)
            return F.linear(input, self.weight * self.scale, bias=self.bias * self.lr_mul)

    class EqualConv2d(nn.Module):
        def __init__(self, in_channel, out_channel, kernel_size, stride=1, padding=0, bias=True):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
            self.scale = 1 / math.sqrt(in_channel * kernel_size ** 2)
            self.stride, self.padding = stride, padding
            self.bias = nn.Parameter(torch.zeros(out_channel)) if bias else None

        def forward(self, input):
            return F.conv2d(input, self.weight * self.scale, bias=self.bias, stride=self.stride, padding=self.padding)

    class ModulatedConv2d(nn.Module):
        def __init__(self, in_channel, out_channel, kernel_size, style_dim, demodulate=True, upsample=False):
            super().__init__()
            self.eps = 1e-8
            self.kernel_size, self.in_channel, self.out_channel = kernel_size, in_channel, out_channel
            self.upsample = upsample
            fan_in = in_channel * kernel_size ** 2
            self.scale = 1 / math.sqrt(fan_in)
            self.padding = kernel_size // 2
            self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
            self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)
            self.demodulate = demodulate

        def forward(self, input, style):
            batch, in_channel, height, width = input.shape
            style = self.modulation(style).view(batch, 1, in_channel, 1, 1)
            weight = self.scale * self.weight * style
            if self.demodulate:
                demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8)
                weight = weight * demod.view(batch, self.out_channel, 1, 1, 1)
            weight = weight.view(batch * self.out_channel, in_channel, self.kernel_size, self.kernel_size)
            if self.upsample:
                input = input.view(1, batch * in_channel, height, width)
                weight = weight.view(batch, self.out_channel, in_channel, self.kernel_size, self.kernel_size)
                weight = weight.transpose(1, 2).reshape(batch * in_channel, self.out_channel, self.kernel_size,
                                                        self.kernel_size)
                out = F.conv_transpose2d(input, weight, padding=1, output_padding=1, stride=2, groups=batch)
                _, _, height, width = out.shape
                out = out.view(batch, self.out_channel, height, width)
                return F.avg_pool2d(out, 3, 1, 1)  # stands in for the upfirdn2d blur
            input = input.view(1, batch * in_channel, height, width)
            out = F.conv2d(input, weight, padding=self.padding, groups=batch)
            _, _, height, width = out.shape
            return out.view(batch, self.out_channel, height, width)

    class NoiseInjection(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(1))

        def forward(self, image, noise):
            return image + self.weight * noise

    class StyledConv(nn.Module):
        def __init__(self, in_channel, out_channel, kernel_size, style_dim, upsample=False):
            super().__init__()
            self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim, upsample=upsample)
            self.noise = NoiseInjection()
            self.bias = nn.Parameter(torch.zeros(1, out_channel, 1, 1))

        def forward(self, input, style, noise):
            out = self.conv(input, style)
            out = self.noise(out, noise)
            return F.leaky_relu(out + self.bias, 0.2) * math.sqrt(2)

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            layers = [PixelNorm()]
            for i in range(2):
                layers.append(EqualLinear(style_dim, style_dim, lr_mul=0.01, activation="fused_lrelu"))
            self.style = nn.Sequential(*layers)
            self.input = nn.Parameter(torch.randn(1, 8, 4, 4))
            self.conv1 = StyledConv(8, 8, 3, style_dim)
            self.up = StyledConv(8, 8, 3, style_dim, upsample=True)
            self.to_rgb = ModulatedConv2d(8, 3, 1, style_dim, demodulate=False)
            self.rgb_bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

        def forward(self, z, noises, return_latents=False):
            latent = self.style(z)
            out = self.input.repeat(z.shape[0], 1, 1, 1)
            out = self.conv1(out, latent, noises[0])
            out = self.up(out, latent, noises[1])
            image = self.to_rgb(out, latent) + self.rgb_bias
            return (image, latent) if return_latents else image

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.Sequential(EqualConv2d(3, 8, 1), nn.LeakyReLU(0.2), EqualConv2d(8, 16, 3, 2, 1),
                                       nn.LeakyReLU(0.2), EqualConv2d(16, 16, 3, 2, 1), nn.LeakyReLU(0.2))
            self.final_linear = nn.Sequential(EqualLinear(16 * 2 * 2, 16, activation="fused_lrelu"),
                                              EqualLinear(16, 1))

        def forward(self, input):
            out = self.convs(input)
            return self.final_linear(out.view(input.shape[0], -1))

    def d_logistic_loss(real_pred, fake_pred):
        return F.softplus(-real_pred).mean() + F.softplus(fake_pred).mean()

    def d_r1_loss(real_pred, real_img):
        grad_real, = autograd.grad(outputs=real_pred.sum(), inputs=real_img, create_graph=True)
        return grad_real.pow(2).reshape(grad_real.shape[0], -1).sum(1).mean()

    def g_nonsaturating_loss(fake_pred):
        return F.softplus(-fake_pred).mean()

    def g_path_regularize(fake_img, latents, mean_path_length, decay=0.01):
        noise = randn(*fake_img.shape) / math.sqrt(fake_img.shape[2] * fake_img.shape[3])
        grad, = autograd.grad(outputs=(fake_img * noise).sum(), inputs=latents, create_graph=True)
        path_lengths = torch.sqrt(grad.pow(2).sum(1))
        path_mean = mean_path_length + decay * (path_lengths.mean() - mean_path_length)
        path_penalty = (path_lengths - path_mean).pow(2).mean()
        return path_penalty, path_mean.detach(), path_lengths

    def requires_grad(model, flag=True):
        for p in model.parameters():
            p.requires_grad = flag

    generator, discriminator = Generator(), Discriminator()
    rec.sync("G", generator)
    rec.sync("D", discriminator)
    g_optim = torch.optim.Adam(generator.parameters(), lr=2e-3 * 4 / 5, betas=(0 ** (4 / 5), 0.99 ** (4 / 5)))
    d_optim = torch.optim.Adam(discriminator.parameters(), lr=2e-3 * 16 / 17, betas=(0 ** (16 / 17), 0.99 ** (16 / 17)))
    mean_path_length = 0
    for i in range(steps):
        real_img = randn(batch, 3, size, size).tanh()
        noises = [randn(batch, 8, 4, 4), randn(batch, 8, 8, 8)]
        requires_grad(generator, False)
        requires_grad(discriminator, True)
        fake_img = generator(randn(batch, style_dim), noises)
        fake_pred = discriminator(fake_img)
        real_pred = discriminator(real_img)
        d_loss = d_logistic_loss(real_pred, fake_pred)
        discriminator.zero_grad()
        d_loss.backward()
        d_optim.step()
        rec.log("d_loss", d_loss)
        if i % 2 == 0:  # lazy R1
            real_img.requires_grad = True
            real_pred = discriminator(real_img)
            r1_loss = d_r1_loss(real_pred, real_img)
            discriminator.zero_grad()
            (10 / 2 * r1_loss * 16 + 0 * real_pred[0]).backward()
            d_optim.step()
            rec.log("r1", r1_loss)
            rec.log("grad.D.conv1", discriminator.convs[2].weight.grad)
        requires_grad(generator, True)
        requires_grad(discriminator, False)
        fake_img = generator(randn(batch, style_dim), noises)
        g_loss = g_nonsaturating_loss(discriminator(fake_img))
        generator.zero_grad()
        g_loss.backward()
        g_optim.step()
        rec.log("g_loss", g_loss)
        if i % 2 == 1:  # lazy path-length regularisation
            fake_img, latents = generator(randn(batch, style_dim), noises, return_latents=True)
            path_loss, mean_path_length, path_lengths = g_path_regularize(fake_img, latents, mean_path_length)
            generator.zero_grad()
            weighted_path_loss = 2 * 4 * path_loss
            weighted_path_loss += 0 * fake_img[0, 0, 0, 0]
            weighted_path_loss.backward()
            g_optim.step()
            rec.log("path_loss", path_loss)
            rec.log("path_lengths", path_lengths)
            rec.log("grad.G.mod", generator.up.conv.modulation.weight.grad)
    with torch.no_grad():
        generator.eval()
        sample = generator(randn(2, style_dim), [randn(2, 8, 4, 4), randn(2, 8, 8, 8)])
        rec.log("sample", sample)


def test_stylegan2_blocks_and_regularisers_match_pytorch():
    run_both(stylegan2_body, rtol=2e-3, atol=2e-4)


if __name__ == "__main__":
    test_stylegan2_blocks_and_regularisers_match_pytorch()
    print("ok")
