"""Two more generative training loops: a tiny Diffusion Transformer (facebookresearch/DiT: patch embedding
by a strided Conv2d, fixed 2-D sin-cos position embeddings from numpy, the TimestepEmbedder's
exp(-log(max_period) * arange / half) frequencies, LabelEmbedder with classifier-free-guidance label
dropout, adaLN-Zero modulation, attention through F.scaled_dot_product_attention, unpatchify by einsum,
and the guided forward with chunk/split) trained on the epsilon loss, and a Gumbel-softmax VAE
(YongfeiYan/Gumbel_Softmax_VAE: sample_gumbel / gumbel_softmax with a straight-through hard sample,
the categorical KL against a uniform prior) alongside F.gumbel_softmax and OneHotCategorical /
RelaxedOneHotCategorical statistics. Run with PyTorch and with flambeau from the same weights; all noise
comes from numpy."""
import math

import numpy as np
import pytest

from vision_parity import FLAMBEAU, TORCH, run_both


def get_2d_sincos_pos_embed(embed_dim, grid_size):
    grid_h = np.arange(grid_size, dtype=np.float32)
    grid_w = np.arange(grid_size, dtype=np.float32)
    grid = np.meshgrid(grid_w, grid_h)
    grid = np.stack(grid, axis=0).reshape([2, 1, grid_size, grid_size])

    def from_grid(embed_dim, pos):
        omega = np.arange(embed_dim // 2, dtype=np.float64)
        omega /= embed_dim / 2.
        omega = 1. / 10000 ** omega
        out = np.einsum('m,d->md', pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)
    return np.concatenate([from_grid(embed_dim // 2, grid[0]), from_grid(embed_dim // 2, grid[1])], axis=1)


def dit_body(lib, rec, steps=3, batch=4, T=100):
    torch, nn, F = lib.torch, lib.nn, lib.F
    rs = np.random.RandomState(0)

    def modulate(x, shift, scale):
        return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)

    class TimestepEmbedder(nn.Module):
        def __init__(self, hidden_size, frequency_embedding_size=16):
            super().__init__()
            self.mlp = nn.Sequential(nn.Linear(frequency_embedding_size, hidden_size, bias=True), nn.SiLU(),
                                     nn.Linear(hidden_size, hidden_size, bias=True))
            self.frequency_embedding_size = frequency_embedding_size

        @staticmethod
        def timestep_embedding(t, dim, max_period=10000):
            half = dim // 2
            freqs = torch.exp(-math.log(max_period) * torch.arange(start=0, end=half, dtype=torch.float32) / half
                              ).to(device=t.device)
            args = t[:, None].float() * freqs[None]
            embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
            if dim % 2:
                embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
            return embedding

        def forward(self, t):
            return self.mlp(self.timestep_embedding(t, self.frequency_embedding_size))

    class LabelEmbedder(nn.Module):
        def __init__(self, num_classes, hidden_size, dropout_prob):
            super().__init__()
            use_cfg_embedding = dropout_prob > 0
            self.embedding_table = nn.Embedding(num_classes + use_cfg_embedding, hidden_size)
            self.num_classes = num_classes
            self.dropout_prob = dropout_prob

        def token_drop(self, labels, force_drop_ids=None):
            if force_drop_ids is None:
                drop_ids = torch.from_numpy(rs.rand(labels.shape[0]) < self.dropout_prob)
            else:
                drop_ids = force_drop_ids == 1
            return torch.where(drop_ids, self.num_classes, labels)

        def forward(self, labels, train, force_drop_ids=None):
            use_dropout = self.dropout_prob > 0
            if (train and use_dropout) or (force_drop_ids is not None):
                labels = self.token_drop(labels, force_drop_ids)
            return self.embedding_table(labels)

    class Attention(nn.Module):
        def __init__(self, dim, num_heads):
            super().__init__()
            self.num_heads = num_heads
            self.head_dim = dim // num_heads
            self.qkv = nn.Linear(dim, dim * 3, bias=True)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            B, N, C = x.shape
            qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            x = F.scaled_dot_product_attention(q, k, v)
            x = x.transpose(1, 2).reshape(B, N, C)
            return self.proj(x)

    class DiTBlock(nn.Module):
        def __init__(self, hidden_size, num_heads, mlp_ratio=4.0):
            super().__init__()
            self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
            self.attn = Attention(hidden_size, num_heads=num_heads)
            self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
            mlp_hidden_dim = int(hidden_size * mlp_ratio)
            self.mlp = nn.Sequential(nn.Linear(hidden_size, mlp_hidden_dim), nn.GELU(approximate="tanh"),
                                     nn.Linear(mlp_hidden_dim, hidden_size))
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size, bias=True))

        def forward(self, x, c):
            shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
            x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
            x = x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
            return x

    class FinalLayer(nn.Module):
        def __init__(self, hidden_size, patch_size, out_channels):
            super().__init__()
            self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
            self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels, bias=True)
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size, bias=True))

        def forward(self, x, c):
            shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
            x = modulate(self.norm_final(x), shift, scale)
            return self.linear(x)

    class DiT(nn.Module):
        def __init__(self, input_size=8, patch_size=2, in_channels=2, hidden_size=16, depth=2, num_heads=2,
                     class_dropout_prob=0.1, num_classes=5, learn_sigma=True):
            super().__init__()
            self.learn_sigma = learn_sigma
            self.in_channels = in_channels
            self.out_channels = in_channels * 2 if learn_sigma else in_channels
            self.patch_size = patch_size
            self.num_heads = num_heads
            self.x_embedder = nn.Conv2d(in_channels, hidden_size, kernel_size=patch_size, stride=patch_size)
            self.t_embedder = TimestepEmbedder(hidden_size)
            self.y_embedder = LabelEmbedder(num_classes, hidden_size, class_dropout_prob)
            num_patches = (input_size // patch_size) ** 2
            self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, hidden_size), requires_grad=False)
            self.blocks = nn.ModuleList([DiTBlock(hidden_size, num_heads) for _ in range(depth)])
            self.final_layer = FinalLayer(hidden_size, patch_size, self.out_channels)
            self.initialize_weights()

        def initialize_weights(self):
            def _basic_init(module):
                if isinstance(module, nn.Linear):
                    torch.nn.init.xavier_uniform_(module.weight)
                    if module.bias is not None:
                        nn.init.constant_(module.bias, 0)
            self.apply(_basic_init)
            pos_embed = get_2d_sincos_pos_embed(self.pos_embed.shape[-1], int(self.pos_embed.shape[1] ** 0.5))
            self.pos_embed.data.copy_(torch.from_numpy(pos_embed).float().unsqueeze(0))
            w = self.x_embedder.weight.data
            nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
            nn.init.constant_(self.x_embedder.bias, 0)
            nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
            nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
            nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
            for block in self.blocks:
                nn.init.constant_(block.adaLN_modulation[-1].weight, 0)
                nn.init.constant_(block.adaLN_modulation[-1].bias, 0)
            nn.init.constant_(self.final_layer.adaLN_modulation[-1].weight, 0)
            nn.init.constant_(self.final_layer.adaLN_modulation[-1].bias, 0)
            nn.init.constant_(self.final_layer.linear.weight, 0)
            nn.init.constant_(self.final_layer.linear.bias, 0)

        def unpatchify(self, x):
            c = self.out_channels
            p = self.patch_size
            h = w = int(x.shape[1] ** 0.5)
            assert h * w == x.shape[1]
            x = x.reshape(shape=(x.shape[0], h, w, p, p, c))
            x = torch.einsum('nhwpqc->nchpwq', x)
            return x.reshape(shape=(x.shape[0], c, h * p, h * p))

        def forward(self, x, t, y):
            x = self.x_embedder(x).flatten(2).transpose(1, 2) + self.pos_embed
            t = self.t_embedder(t)
            y = self.y_embedder(y, self.training)
            c = t + y
            for block in self.blocks:
                x = block(x, c)
            x = self.final_layer(x, c)
            return self.unpatchify(x)

        def forward_with_cfg(self, x, t, y, cfg_scale):
            half = x[: len(x) // 2]
            combined = torch.cat([half, half], dim=0)
            model_out = self.forward(combined, t, y)
            eps, rest = model_out[:, :3], model_out[:, 3:]
            eps, rest = model_out[:, :self.in_channels], model_out[:, self.in_channels:]
            cond_eps, uncond_eps = torch.split(eps, len(eps) // 2, dim=0)
            half_eps = uncond_eps + cfg_scale * (cond_eps - uncond_eps)
            eps = torch.cat([half_eps, half_eps], dim=0)
            return torch.cat([eps, rest], dim=1)

    model = DiT()
    rec.sync("dit", model)
    rec.log("pos_embed.requires_grad", model.pos_embed.requires_grad)
    ema = DiT()
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0)
    betas = np.linspace(1e-4, 0.02, T, dtype=np.float64)
    alphas_cumprod = np.cumprod(1.0 - betas)
    sqrt_ac = torch.from_numpy(np.sqrt(alphas_cumprod)).float()
    sqrt_1mac = torch.from_numpy(np.sqrt(1.0 - alphas_cumprod)).float()
    model.train()
    for step in range(steps):
        x = torch.from_numpy(rs.randn(batch, 2, 8, 8).astype(np.float32))
        y = torch.from_numpy(rs.randint(0, 5, batch))
        t = torch.from_numpy(rs.randint(0, T, batch))
        noise = torch.from_numpy(rs.randn(*x.shape).astype(np.float32))
        x_t = sqrt_ac[t].view(-1, 1, 1, 1) * x + sqrt_1mac[t].view(-1, 1, 1, 1) * noise
        out = model(x_t, t, y)
        eps_pred, var_pred = torch.split(out, 2, dim=1)
        loss = F.mse_loss(eps_pred, noise) + 0.01 * var_pred.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            ema_params = dict(ema.named_parameters())
            for name, param in model.named_parameters():
                ema_params[name].mul_(0.9999).add_(param.data, alpha=1 - 0.9999)
        rec.log("loss", loss)
        rec.log("grad.adaLN", model.blocks[0].adaLN_modulation[1].weight.grad)
    model.eval()
    with torch.no_grad():
        z = torch.from_numpy(rs.randn(2, 2, 8, 8).astype(np.float32))
        z = torch.cat([z, z], 0)
        y = torch.tensor([1, 3, 5, 5])
        out = model.forward_with_cfg(z, torch.tensor([50, 50, 50, 50]), y, cfg_scale=4.0)
        rec.log("cfg_out", out)
        rec.log("ema_out", ema(z, torch.tensor([10, 20, 30, 40]), torch.tensor([0, 1, 2, 3])))


def gumbel_vae_body(lib, rec, steps=4, batch=16, latent_dim=6, categorical_dim=4, hard=False):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    rs = np.random.RandomState(1)
    temp, ANNEAL_RATE, temp_min = 1.0, 0.03, 0.5

    def sample_gumbel(shape, eps=1e-20):
        U = torch.from_numpy(rs.rand(*shape).astype(np.float32))  # torch.rand(shape)
        return -torch.log(-torch.log(U + eps) + eps)

    def gumbel_softmax_sample(logits, temperature):
        y = logits + sample_gumbel(logits.size())
        return F.softmax(y / temperature, dim=-1)

    def gumbel_softmax(logits, temperature, hard=False):
        y = gumbel_softmax_sample(logits, temperature)
        if not hard:
            return y.view(-1, latent_dim * categorical_dim)
        shape = y.size()
        _, ind = y.max(dim=-1)
        y_hard = torch.zeros_like(y).view(-1, shape[-1])
        y_hard.scatter_(1, ind.view(-1, 1), 1)
        y_hard = y_hard.view(*shape)
        y_hard = (y_hard - y).detach() + y
        return y_hard.view(-1, latent_dim * categorical_dim)

    class VAE_gumbel(nn.Module):
        def __init__(self, temp):
            super(VAE_gumbel, self).__init__()
            self.fc1 = nn.Linear(64, 32)
            self.fc2 = nn.Linear(32, 16)
            self.fc3 = nn.Linear(16, latent_dim * categorical_dim)
            self.fc4 = nn.Linear(latent_dim * categorical_dim, 16)
            self.fc5 = nn.Linear(16, 32)
            self.fc6 = nn.Linear(32, 64)
            self.relu = nn.ReLU()
            self.sigmoid = nn.Sigmoid()

        def encode(self, x):
            h1 = self.relu(self.fc1(x))
            h2 = self.relu(self.fc2(h1))
            return self.relu(self.fc3(h2))

        def decode(self, z):
            h4 = self.relu(self.fc4(z))
            h5 = self.relu(self.fc5(h4))
            return self.sigmoid(self.fc6(h5))

        def forward(self, x, temp, hard):
            q = self.encode(x.view(-1, 64))
            q_y = q.view(q.size(0), latent_dim, categorical_dim)
            z = gumbel_softmax(q_y, temp, hard)
            return self.decode(z), F.softmax(q_y, dim=-1).reshape(*q.size())

    def loss_function(recon_x, x, qy):
        BCE = F.binary_cross_entropy(recon_x, x.view(-1, 64), size_average=False) / x.shape[0]
        log_ratio = torch.log(qy * categorical_dim + 1e-20)
        KLD = torch.sum(qy * log_ratio, dim=-1).mean()
        return BCE + KLD

    model = VAE_gumbel(temp)
    rec.sync("vae", model)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    data_all = (rs.rand(steps * batch, 1, 8, 8) > 0.5).astype(np.float32)
    model.train()
    for batch_idx in range(steps):
        data = torch.from_numpy(data_all[batch_idx * batch:(batch_idx + 1) * batch])
        optimizer.zero_grad()
        recon_batch, qy = model(data, temp, hard)
        loss = loss_function(recon_batch, data, qy)
        loss.backward()
        optimizer.step()
        temp = np.maximum(temp * np.exp(-ANNEAL_RATE * batch_idx), temp_min)
        rec.log("loss", loss)
        rec.log("qy", qy)
        rec.log("temp", float(temp))
    model.eval()
    with torch.no_grad():
        M = 8
        ind = torch.from_numpy(rs.randint(0, categorical_dim, (M, latent_dim)))
        z = F.one_hot(ind, num_classes=categorical_dim).float()
        rec.log("generated", model.decode(z.view(M, -1)))
        np_y = np.zeros((M, categorical_dim), dtype=np.float32)
        np_y[range(M), np.random.RandomState(0).choice(categorical_dim, M)] = 1
        rec.log("onehot", torch.from_numpy(np_y).argmax(1))


def test_dit_matches_pytorch():
    run_both(dit_body, rtol=1e-3, atol=1e-4)


def test_gumbel_softmax_vae_matches_pytorch():
    run_both(gumbel_vae_body, rtol=1e-3, atol=1e-4)


def test_gumbel_softmax_vae_hard_matches_pytorch():
    run_both(gumbel_vae_body, hard=True, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("lib", [TORCH, FLAMBEAU], ids=["torch", "flambeau"])
def test_builtin_gumbel_softmax_and_categorical_draws(lib):
    torch, F = lib.torch, lib.F
    D = __import__(lib.name + ".distributions", fromlist=["Normal"])
    torch.manual_seed(0)
    logits = torch.log(torch.tensor([[0.1, 0.2, 0.7]])).expand(6000, 3).contiguous().requires_grad_()
    soft = F.gumbel_softmax(logits, tau=0.5)
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True)
    np.testing.assert_allclose(soft.sum(-1).detach().numpy(), 1.0, atol=1e-5)
    assert set(np.unique(hard.detach().numpy())) <= {0.0, 1.0}
    np.testing.assert_allclose(hard.detach().numpy().mean(0), [0.1, 0.2, 0.7], atol=0.03)
    hard.select(1, 2).sum().backward()
    assert logits.grad is not None and logits.grad.shape == logits.shape
    oh = D.OneHotCategorical(probs=torch.tensor([0.1, 0.2, 0.7]))
    s = oh.sample((6000,))
    assert tuple(s.shape) == (6000, 3)
    np.testing.assert_allclose(s.numpy().mean(0), [0.1, 0.2, 0.7], atol=0.03)
    np.testing.assert_allclose(oh.log_prob(torch.eye(3)).numpy(), np.log([0.1, 0.2, 0.7]), rtol=1e-5)
    relaxed = D.RelaxedOneHotCategorical(torch.tensor(0.5), logits=torch.log(torch.tensor([0.1, 0.2, 0.7])))
    r = relaxed.rsample((6000,))
    np.testing.assert_allclose(r.sum(-1).numpy(), 1.0, atol=1e-5)
    np.testing.assert_allclose((r.argmax(-1) == 2).float().mean().item(), 0.7, atol=0.03)


if __name__ == "__main__":
    test_dit_matches_pytorch()
    test_gumbel_softmax_vae_matches_pytorch()
    test_gumbel_softmax_vae_hard_matches_pytorch()
    print("ok")
