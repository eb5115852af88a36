"""Flows with learned linear maps and autoregressive masks: Glow's building blocks as in rosinality's
glow-pytorch (ActNorm with data-dependent init and an `initialized` uint8 buffer, InvConv2d with
slogdet, the LU-decomposed InvConv2dLU with triu/tril masks, a sign buffer and log|diag(U)|, the
squeeze by view/permute, an affine coupling with sigmoid scale and zero-initialised output conv, the
Gaussian log-likelihood in bits per dimension) and MAF with MADE masks (masked F.linear with mask
buffers, the Gaussian MADE of Papamakarios et al., reversed orderings, BatchNorm-free). Run with
PyTorch and with flambeau from the same weights on the same numpy data."""
import math

import numpy as np

from vision_parity import run_both

logabs = lambda x: (x.abs()).log()


def glow_body(lib, rec, steps=3, batch=4, lu=True):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    rs = np.random.RandomState(0)

    class ActNorm(nn.Module):
        def __init__(self, in_channel, logdet=True):
            super().__init__()
            self.loc = nn.Parameter(torch.zeros(1, in_channel, 1, 1))
            self.scale = nn.Parameter(torch.ones(1, in_channel, 1, 1))
            self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))
            self.logdet = logdet

        def initialize(self, input):
            with torch.no_grad():
                flatten = input.permute(1, 0, 2, 3).contiguous().view(input.shape[1], -1)
                mean = flatten.mean(1).unsqueeze(1).unsqueeze(2).unsqueeze(3).permute(1, 0, 2, 3)
                std = flatten.std(1).unsqueeze(1).unsqueeze(2).unsqueeze(3).permute(1, 0, 2, 3)
                self.loc.data.copy_(-mean)
                self.scale.data.copy_(1 / (std + 1e-6))

        def forward(self, input):
            _, _, height, width = input.shape
            if self.initialized.item() == 0:
                self.initialize(input)
                self.initialized.fill_(1)
            log_abs = logabs(self.scale)
            logdet = height * width * torch.sum(log_abs)
            if self.logdet:
                return self.scale * (input + self.loc), logdet
            return self.scale * (input + self.loc)

        def reverse(self, output):
            return output / self.scale - self.loc

    class InvConv2d(nn.Module):
        def __init__(self, in_channel):
            super().__init__()
            weight = torch.from_numpy(rs.randn(in_channel, in_channel).astype(np.float32))
            q, _ = torch.linalg.qr(weight)
            weight = q.unsqueeze(2).unsqueeze(3)
            self.weight = nn.Parameter(weight)

        def forward(self, input):
            _, _, height, width = input.shape
            out = F.conv2d(input, self.weight)
            logdet = height * width * torch.slogdet(self.weight.squeeze().double())[1].float()
            return out, logdet

        def reverse(self, output):
            return F.conv2d(output, self.weight.squeeze().inverse().unsqueeze(2).unsqueeze(3))

    class InvConv2dLU(nn.Module):
        def __init__(self, in_channel):
            super().__init__()
            weight = rs.randn(in_channel, in_channel)
            q, _ = np.linalg.qr(weight)
            # scipy.linalg.lu(q) in the original; torch.linalg.lu gives the same P, L, U
            w_p, w_l, w_u = torch.linalg.lu(torch.from_numpy(q.astype(np.float32)))
            w_s = torch.diagonal(w_u)
            w_u = torch.triu(w_u, 1)
            u_mask = torch.triu(torch.ones_like(w_u), 1)
            l_mask = u_mask.T
            self.register_buffer("w_p", w_p)
            self.register_buffer("u_mask", u_mask)
            self.register_buffer("l_mask", l_mask)
            self.register_buffer("s_sign", torch.sign(w_s))
            self.register_buffer("l_eye", torch.eye(l_mask.shape[0]))
            self.w_l = nn.Parameter(w_l)
            self.w_s = nn.Parameter(logabs(w_s))
            self.w_u = nn.Parameter(w_u)

        def forward(self, input):
            _, _, height, width = input.shape
            weight = self.calc_weight()
            out = F.conv2d(input, weight)
            logdet = height * width * torch.sum(self.w_s)
            return out, logdet

        def calc_weight(self):
            weight = (self.w_p @ (self.w_l * self.l_mask + self.l_eye)
                      @ ((self.w_u * self.u_mask) + torch.diag(self.s_sign * torch.exp(self.w_s))))
            return weight.unsqueeze(2).unsqueeze(3)

        def reverse(self, output):
            weight = self.calc_weight()
            return F.conv2d(output, weight.squeeze().inverse().unsqueeze(2).unsqueeze(3))

    class ZeroConv2d(nn.Module):
        def __init__(self, in_channel, out_channel):
            super().__init__()
            self.conv = nn.Conv2d(in_channel, out_channel, 3, padding=0)
            self.conv.weight.data.zero_()
            self.conv.bias.data.zero_()
            self.scale = nn.Parameter(torch.zeros(1, out_channel, 1, 1))

        def forward(self, input):
            out = F.pad(input, [1, 1, 1, 1], value=1)
            out = self.conv(out)
            return out * torch.exp(self.scale * 3)

    class AffineCoupling(nn.Module):
        def __init__(self, in_channel, filter_size=16):
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(in_channel // 2, filter_size, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(filter_size, filter_size, 1), nn.ReLU(inplace=True),
                ZeroConv2d(filter_size, in_channel))
            self.net[0].weight.data.normal_(0, 0.05)
            self.net[0].bias.data.zero_()
            self.net[2].weight.data.normal_(0, 0.05)
            self.net[2].bias.data.zero_()

        def forward(self, input):
            in_a, in_b = input.chunk(2, 1)
            log_s, t = self.net(in_a).chunk(2, 1)
            s = F.sigmoid(log_s + 2)
            out_b = (in_b + t) * s
            logdet = torch.sum(torch.log(s).view(input.shape[0], -1), 1)
            return torch.cat([in_a, out_b], 1), logdet

        def reverse(self, output):
            out_a, out_b = output.chunk(2, 1)
            log_s, t = self.net(out_a).chunk(2, 1)
            s = F.sigmoid(log_s + 2)
            in_b = out_b / s - t
            return torch.cat([out_a, in_b], 1)

    class Flow(nn.Module):
        def __init__(self, in_channel):
            super().__init__()
            self.actnorm = ActNorm(in_channel)
            self.invconv = InvConv2dLU(in_channel) if lu else InvConv2d(in_channel)
            self.coupling = AffineCoupling(in_channel)

        def forward(self, input):
            out, logdet = self.actnorm(input)
            out, det1 = self.invconv(out)
            out, det2 = self.coupling(out)
            logdet = logdet + det1
            if det2 is not None:
                logdet = logdet + det2
            return out, logdet

        def reverse(self, output):
            input = self.coupling.reverse(output)
            input = self.invconv.reverse(input)
            return self.actnorm.reverse(input)

    def gaussian_log_p(x, mean, log_sd):
        return -0.5 * math.log(2 * math.pi) - log_sd - 0.5 * (x - mean) ** 2 / torch.exp(2 * log_sd)

    class Block(nn.Module):
        def __init__(self, in_channel, n_flow):
            super().__init__()
            squeeze_dim = in_channel * 4
            self.flows = nn.ModuleList([Flow(squeeze_dim) for i in range(n_flow)])
            self.prior = ZeroConv2d(squeeze_dim, in_channel * 8)

        def forward(self, input):
            b_size, n_channel, height, width = input.shape
            squeezed = input.view(b_size, n_channel, height // 2, 2, width // 2, 2)
            squeezed = squeezed.permute(0, 1, 3, 5, 2, 4)
            out = squeezed.contiguous().view(b_size, n_channel * 4, height // 2, width // 2)
            logdet = 0
            for flow in self.flows:
                out, det = flow(out)
                logdet = logdet + det
            zero = torch.zeros_like(out)
            mean, log_sd = self.prior(zero).chunk(2, 1)
            log_p = gaussian_log_p(out, mean, log_sd)
            log_p = log_p.view(b_size, -1).sum(1)
            return out, logdet, log_p

        def reverse(self, z):
            input = z
            for flow in self.flows[::-1]:
                input = flow.reverse(input)
            b_size, n_channel, height, width = input.shape
            unsqueezed = input.view(b_size, n_channel // 4, 2, 2, height, width)
            unsqueezed = unsqueezed.permute(0, 1, 4, 2, 5, 3)
            return unsqueezed.contiguous().view(b_size, n_channel // 4, height * 2, width * 2)

    n_bins = 2.0 ** 5
    n_pixel = 8 * 8 * 3
    model = Block(3, n_flow=2)
    rec.sync("glow", model)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    data = rs.rand(steps * batch, 3, 8, 8).astype(np.float32)
    for i in range(steps):
        image = torch.from_numpy(data[i * batch:(i + 1) * batch])
        image = image * 255
        image = torch.floor(image / 2 ** (8 - 5))
        image = image / n_bins - 0.5
        noise = torch.from_numpy(rs.rand(*image.shape).astype(np.float32))
        out, logdet, log_p = model(image + noise / n_bins)
        logdet = logdet.mean()
        loss = -math.log(n_bins) * n_pixel
        loss = loss + logdet + log_p
        loss = (-loss / (math.log(2) * n_pixel)).mean()
        log_p = (log_p / (math.log(2) * n_pixel)).mean()
        model.zero_grad()
        loss.backward()
        warmup_lr = 1e-3 * min(1, (i + 1) * batch / 50000)
        optimizer.param_groups[0]["lr"] = warmup_lr
        optimizer.step()
        rec.log("loss", loss)
        rec.log("log_p", log_p)
        rec.log("logdet", logdet)
    rec.log("initialized", [f.actnorm.initialized for f in model.flows])
    with torch.no_grad():
        z = torch.from_numpy(rs.randn(2, 12, 4, 4).astype(np.float32)) * 0.7
        x = model.reverse(z)
        rec.log("reverse", x)
        out, _, _ = model(x)
        rec.log("roundtrip", (out - z).abs().max() < 1e-3)


def maf_body(lib, rec, steps=4, batch=64, n_blocks=3, D=4):
    torch, nn, F = lib.torch, lib.nn, lib.F
    rs = np.random.RandomState(1)

    def create_masks(input_size, hidden_size, n_hidden, input_order='sequential', input_degrees=None):
        degrees = []
        if input_order == 'sequential':
            degrees += [torch.arange(input_size)] if input_degrees is None else [input_degrees]
            for _ in range(n_hidden + 1):
                degrees += [torch.arange(hidden_size) % (input_size - 1)]
            degrees += [torch.arange(input_size) % input_size - 1] if input_degrees is None else \
                [input_degrees % input_size - 1]
        masks = []
        for (d0, d1) in zip(degrees[:-1], degrees[1:]):
            masks += [(d1.unsqueeze(-1) >= d0.unsqueeze(0)).float()]
        return masks, degrees[0]

    class MaskedLinear(nn.Linear):
        def __init__(self, input_size, n_outputs, mask, cond_label_size=None):
            super().__init__(input_size, n_outputs)
            self.register_buffer('mask', mask)

        def forward(self, x, y=None):
            return F.linear(x, self.weight * self.mask, self.bias)

    class MADE(nn.Module):
        def __init__(self, input_size, hidden_size, n_hidden, input_order='sequential', input_degrees=None):
            super().__init__()
            self.register_buffer('base_dist_mean', torch.zeros(input_size))
            self.register_buffer('base_dist_var', torch.ones(input_size))
            masks, self.input_degrees = create_masks(input_size, hidden_size, n_hidden, input_order, input_degrees)
            self.net_input = MaskedLinear(input_size, hidden_size, masks[0])
            self.net = []
            for m in masks[1:-1]:
                self.net += [nn.ReLU(), MaskedLinear(hidden_size, hidden_size, m)]
            self.net += [nn.ReLU(), MaskedLinear(hidden_size, 2 * input_size, masks[-1].repeat(2, 1))]
            self.net = nn.Sequential(*self.net)

        def forward(self, x):
            m, loga = self.net(self.net_input(x)).chunk(chunks=2, dim=1)
            u = (x - m) * torch.exp(-loga)
            log_abs_det_jacobian = - loga
            return u, log_abs_det_jacobian

        def inverse(self, u, sum_log_abs_det_jacobians=None):
            x = torch.zeros_like(u)
            for i in self.input_degrees:
                m, loga = self.net(self.net_input(x)).chunk(chunks=2, dim=1)
                x[:, i] = u[:, i] * torch.exp(loga[:, i]) + m[:, i]
            return x, loga

    class FlowSequential(nn.Sequential):
        def forward(self, x):
            sum_log_abs_det_jacobians = 0
            for module in self:
                x, log_abs_det_jacobian = module(x)
                sum_log_abs_det_jacobians = sum_log_abs_det_jacobians + log_abs_det_jacobian
            return x, sum_log_abs_det_jacobians

        def inverse(self, u):
            for module in reversed(self):
                u, _ = module.inverse(u)
            return u

    class MAF(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer('base_dist_mean', torch.zeros(D))
            self.register_buffer('base_dist_var', torch.ones(D))
            modules = []
            self.input_degrees = None
            for i in range(n_blocks):
                modules += [MADE(D, 16, 1, 'sequential', self.input_degrees)]
                self.input_degrees = modules[-1].input_degrees.flip(0)
            self.net = FlowSequential(*modules)

        @property
        def base_dist(self):
            return Normal(self.base_dist_mean, self.base_dist_var)

        def forward(self, x):
            return self.net(x)

        def log_prob(self, x):
            u, sum_log_abs_det_jacobians = self.forward(x)
            return torch.sum(self.base_dist.log_prob(u) + sum_log_abs_det_jacobians, dim=1)

    Normal = __import__(lib.name + ".distributions", fromlist=["Normal"]).Normal
    model = MAF()
    rec.sync("maf", model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-6)
    cov = np.array([[1.0, 0.8, 0.0, 0.2], [0.8, 1.0, 0.3, 0.0], [0.0, 0.3, 1.0, 0.5], [0.2, 0.0, 0.5, 1.0]])
    data = rs.multivariate_normal(np.zeros(D), cov, size=steps * batch).astype(np.float32)
    for i in range(steps):
        x = torch.from_numpy(data[i * batch:(i + 1) * batch])
        loss = - model.log_prob(x).mean(0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rec.log("loss", loss)
        rec.log("grad.first", model.net[0].net_input.weight.grad)
    rec.log("degrees", [m.input_degrees for m in model.net])
    model.eval()
    with torch.no_grad():
        u = torch.from_numpy(rs.randn(5, D).astype(np.float32))
        x = model.net.inverse(u)
        rec.log("samples", x)
        u2, _ = model(x)
        rec.log("roundtrip", (u2 - u).abs().max() < 1e-3)


def test_glow_lu_matches_pytorch():
    run_both(glow_body, rtol=1e-3, atol=1e-4)


def test_glow_slogdet_matches_pytorch():
    run_both(glow_body, lu=False, steps=2, rtol=1e-3, atol=1e-4)


def test_maf_made_matches_pytorch():
    run_both(maf_body, rtol=1e-3, atol=1e-4)


if __name__ == "__main__":
    test_glow_lu_matches_pytorch()
    test_glow_slogdet_matches_pytorch()
    test_maf_made_matches_pytorch()
    print("ok")
