"""A denoising diffusion model (DDPM, Ho et al. 2020) as in the popular minimal PyTorch implementations
(the annotated-diffusion / lucidrains style): a linear and a cosine beta schedule, a sinusoidal time
embedding, a small U-Net with GroupNorm/SiLU residual blocks and attention at the bottleneck, the
noise-prediction MSE loss with `extract` (gather of schedule constants by timestep), EMA of the weights
and a few ancestral sampling steps. Run with PyTorch and with flambeau from the same weights; the
timesteps and the noise come from numpy so both runs see the same draws."""
import math

import numpy as np

from vision_parity import FLAMBEAU, TORCH, run_both


def ddpm_body(lib, rec, steps=3, batch=4, T=50, schedule="linear"):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    rs = np.random.RandomState(0)

    def linear_beta_schedule(timesteps):
        beta_start = 0.0001
        beta_end = 0.02
        return torch.linspace(beta_start, beta_end, timesteps)

    def cosine_beta_schedule(timesteps, s=0.008):
        steps_ = timesteps + 1
        x = torch.linspace(0, timesteps, steps_, dtype=torch.float64)
        alphas_cumprod = torch.cos(((x / timesteps) + s) / (1 + s) * math.pi * 0.5) ** 2
        alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
        betas = 1 - (alphas_cumprod[1:] / alphas_cumprod[:-1])
        return torch.clip(betas, 0.0001, 0.9999).float()

    betas = linear_beta_schedule(T) if schedule == "linear" else cosine_beta_schedule(T)
    alphas = 1. - betas
    alphas_cumprod = torch.cumprod(alphas, axis=0)
    alphas_cumprod_prev = F.pad(alphas_cumprod[:-1], (1, 0), value=1.0)
    sqrt_recip_alphas = torch.sqrt(1.0 / alphas)
    sqrt_alphas_cumprod = torch.sqrt(alphas_cumprod)
    sqrt_one_minus_alphas_cumprod = torch.sqrt(1. - alphas_cumprod)
    posterior_variance = betas * (1. - alphas_cumprod_prev) / (1. - alphas_cumprod)
    rec.log("betas", betas)
    rec.log("alphas_cumprod_prev", alphas_cumprod_prev)
    rec.log("posterior_variance", posterior_variance)

    def extract(a, t, x_shape):
        batch_size = t.shape[0]
        out = a.gather(-1, t.cpu())
        return out.reshape(batch_size, *((1,) * (len(x_shape) - 1))).to(t.device)

    def q_sample(x_start, t, noise):
        sqrt_alphas_cumprod_t = extract(sqrt_alphas_cumprod, t, x_start.shape)
        sqrt_one_minus_alphas_cumprod_t = extract(sqrt_one_minus_alphas_cumprod, t, x_start.shape)
        return sqrt_alphas_cumprod_t * x_start + sqrt_one_minus_alphas_cumprod_t * noise

    class SinusoidalPositionEmbeddings(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.dim = dim

        def forward(self, time):
            device = time.device
            half_dim = self.dim // 2
            embeddings = math.log(10000) / (half_dim - 1)
            embeddings = torch.exp(torch.arange(half_dim, device=device) * -embeddings)
            embeddings = time[:, None] * embeddings[None, :]
            embeddings = torch.cat((embeddings.sin(), embeddings.cos()), dim=-1)
            return embeddings

    class ResnetBlock(nn.Module):
        def __init__(self, dim, dim_out, time_emb_dim, groups=4):
            super().__init__()
            self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_emb_dim, dim_out * 2))
            self.proj1 = nn.Conv2d(dim, dim_out, 3, padding=1)
            self.norm1 = nn.GroupNorm(groups, dim_out)
            self.proj2 = nn.Conv2d(dim_out, dim_out, 3, padding=1)
            self.norm2 = nn.GroupNorm(groups, dim_out)
            self.act = nn.SiLU()
            self.res_conv = nn.Conv2d(dim, dim_out, 1) if dim != dim_out else nn.Identity()

        def forward(self, x, time_emb):
            time_emb = self.mlp(time_emb)
            time_emb = time_emb[:, :, None, None]  # b c -> b c 1 1
            scale, shift = time_emb.chunk(2, dim=1)
            h = self.act(self.norm1(self.proj1(x)))
            h = self.norm2(self.proj2(h))
            h = h * (scale + 1) + shift
            h = self.act(h)
            return h + self.res_conv(x)

    class Attention(nn.Module):
        def __init__(self, dim, heads=2, dim_head=8):
            super().__init__()
            self.scale = dim_head ** -0.5
            self.heads = heads
            hidden_dim = dim_head * heads
            self.to_qkv = nn.Conv2d(dim, hidden_dim * 3, 1, bias=False)
            self.to_out = nn.Conv2d(hidden_dim, dim, 1)

        def forward(self, x):
            b, c, h, w = x.shape
            qkv = self.to_qkv(x).chunk(3, dim=1)
            q, k, v = map(lambda t: t.reshape(b, self.heads, -1, h * w), qkv)
            q = q * self.scale
            sim = torch.einsum("b h d i, b h d j -> b h i j", q, k)
            sim = sim - sim.amax(dim=-1, keepdim=True).detach()
            attn = sim.softmax(dim=-1)
            out = torch.einsum("b h i j, b h d j -> b h i d", attn, v)
            out = out.permute(0, 1, 3, 2).reshape(b, -1, h, w)
            return self.to_out(out)

    class PreNorm(nn.Module):
        def __init__(self, dim, fn):
            super().__init__()
            self.fn = fn
            self.norm = nn.GroupNorm(1, dim)

        def forward(self, x):
            return self.fn(self.norm(x))

    class Residual(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x, *args, **kwargs):
            return self.fn(x, *args, **kwargs) + x

    class Unet(nn.Module):
        def __init__(self, dim=8, channels=1, dim_mults=(1, 2)):
            super().__init__()
            self.channels = channels
            self.init_conv = nn.Conv2d(channels, dim, 1, padding=0)
            dims = [dim, *map(lambda m: dim * m, dim_mults)]
            in_out = list(zip(dims[:-1], dims[1:]))
            time_dim = dim * 4
            self.time_mlp = nn.Sequential(
                SinusoidalPositionEmbeddings(dim), nn.Linear(dim, time_dim), nn.GELU(),
                nn.Linear(time_dim, time_dim))
            self.downs = nn.ModuleList([])
            self.ups = nn.ModuleList([])
            num_resolutions = len(in_out)
            for ind, (dim_in, dim_out) in enumerate(in_out):
                is_last = ind >= (num_resolutions - 1)
                self.downs.append(nn.ModuleList([
                    ResnetBlock(dim_in, dim_in, time_emb_dim=time_dim),
                    nn.Conv2d(dim_in, dim_out, 4, 2, 1) if not is_last else nn.Conv2d(dim_in, dim_out, 3, padding=1),
                ]))
            mid_dim = dims[-1]
            self.mid_block1 = ResnetBlock(mid_dim, mid_dim, time_emb_dim=time_dim)
            self.mid_attn = Residual(PreNorm(mid_dim, Attention(mid_dim)))
            self.mid_block2 = ResnetBlock(mid_dim, mid_dim, time_emb_dim=time_dim)
            for ind, (dim_in, dim_out) in enumerate(reversed(in_out)):
                is_last = ind == (len(in_out) - 1)
                self.ups.append(nn.ModuleList([
                    ResnetBlock(dim_out + dim_in, dim_out, time_emb_dim=time_dim),
                    nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(dim_out, dim_in, 3, padding=1))
                    if not is_last else nn.Conv2d(dim_out, dim_in, 3, padding=1),
                ]))
            self.final_res_block = ResnetBlock(dim * 2, dim, time_emb_dim=time_dim)
            self.final_conv = nn.Conv2d(dim, channels, 1)

        def forward(self, x, time):
            x = self.init_conv(x)
            r = x.clone()
            t = self.time_mlp(time)
            h = []
            for block1, downsample in self.downs:
                x = block1(x, t)
                h.append(x)
                x = downsample(x)
            x = self.mid_block1(x, t)
            x = self.mid_attn(x)
            x = self.mid_block2(x, t)
            for block1, upsample in self.ups:
                x = torch.cat((x, h.pop()), dim=1)
                x = block1(x, t)
                x = upsample(x)
            x = torch.cat((x, r), dim=1)
            x = self.final_res_block(x, t)
            return self.final_conv(x)

    def p_losses(denoise_model, x_start, t, noise, loss_type="huber"):
        x_noisy = q_sample(x_start=x_start, t=t, noise=noise)
        predicted_noise = denoise_model(x_noisy, t)
        if loss_type == 'l1':
            loss = F.l1_loss(noise, predicted_noise)
        elif loss_type == 'l2':
            loss = F.mse_loss(noise, predicted_noise)
        elif loss_type == "huber":
            loss = F.smooth_l1_loss(noise, predicted_noise)
        else:
            raise NotImplementedError()
        return loss

    model = Unet()
    rec.sync("unet", model)
    ema = Unet()
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    images = torch.from_numpy(rs.rand(batch * steps, 1, 8, 8).astype(np.float32)) * 2 - 1
    for step in range(steps):
        optimizer.zero_grad()
        x = images[step * batch:(step + 1) * batch]
        t = torch.from_numpy(rs.randint(0, T, size=(batch,))).long()
        noise = torch.from_numpy(rs.randn(*x.shape).astype(np.float32))
        loss = p_losses(model, x, t, noise, loss_type=("huber", "l2", "l1")[step % 3])
        loss.backward()
        rec.log("loss", loss)
        rec.log("grad.init_conv", model.init_conv.weight.grad)
        rec.log("grad.time_mlp", model.time_mlp[1].weight.grad)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        with torch.no_grad():  # EMA of the weights, as diffusion trainers keep it
            for p_ema, p in zip(ema.parameters(), model.parameters()):
                p_ema.lerp_(p, 1 - 0.9)
    rec.log("ema.final_conv", ema.final_conv.weight)

    @torch.no_grad()
    def p_sample(model, x, t, t_index, noise):
        betas_t = extract(betas, t, x.shape)
        sqrt_one_minus_alphas_cumprod_t = extract(sqrt_one_minus_alphas_cumprod, t, x.shape)
        sqrt_recip_alphas_t = extract(sqrt_recip_alphas, t, x.shape)
        model_mean = sqrt_recip_alphas_t * (x - betas_t * model(x, t) / sqrt_one_minus_alphas_cumprod_t)
        if t_index == 0:
            return model_mean
        posterior_variance_t = extract(posterior_variance, t, x.shape)
        return model_mean + torch.sqrt(posterior_variance_t) * noise

    model.eval()
    img = torch.from_numpy(rs.randn(2, 1, 8, 8).astype(np.float32))
    imgs = []
    for i in reversed(range(T - 3, T)):
        noise = torch.from_numpy(rs.randn(2, 1, 8, 8).astype(np.float32))
        img = p_sample(model, img, torch.full((2,), i, dtype=torch.long), i, noise)
        imgs.append(img.cpu().numpy())
    img = p_sample(ema, img, torch.full((2,), 0, dtype=torch.long), 0, None)
    rec.log("samples", [torch.from_numpy(a) for a in imgs])
    rec.log("final", img.clamp(-1, 1))
    rec.log("final.requires_grad", img.requires_grad)


def test_ddpm_linear_schedule_matches_pytorch():
    run_both(ddpm_body, rtol=1e-3, atol=1e-4)


def test_ddpm_cosine_schedule_matches_pytorch():
    run_both(ddpm_body, schedule="cosine", steps=2, rtol=1e-3, atol=1e-4)


if __name__ == "__main__":
    test_ddpm_linear_schedule_matches_pytorch()
    test_ddpm_cosine_schedule_matches_pytorch()
    print("ok")
