"""Modern classification recipes (timm-style), with PyTorch and with flambeau from the same weights:
a tiny ViT (patch embedding by a strided conv, class token and position embedding as Parameters,
trunc_normal_ init, pre-norm TransformerEncoder, position embeddings resized by bicubic
interpolation), a MobileNetV3/EfficientNet block stack (depthwise conv, squeeze-excitation,
Hardswish, channels_last), AdamW with no weight decay on norms and biases, warm-up + cosine by
LambdaLR, gradient accumulation, label smoothing, an EMA of the weights with AveragedModel
(use_buffers=True), and SimCLR's NT-Xent loss."""
import math

import numpy as np

from vision_parity import run_both


def vit_body(lib, rec, steps=3):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim

    class PatchEmbed(nn.Module):
        def __init__(self, img_size=16, patch_size=4, in_chans=3, embed_dim=32):
            super().__init__()
            self.num_patches = (img_size // patch_size) ** 2
            self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

        def forward(self, x):
            return self.proj(x).flatten(2).transpose(1, 2)  # B, N, C

    class ViT(nn.Module):
        def __init__(self, num_classes=5, embed_dim=32, depth=2, num_heads=4):
            super().__init__()
            self.patch_embed = PatchEmbed(embed_dim=embed_dim)
            n = self.patch_embed.num_patches
            self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
            self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, embed_dim))
            layer = nn.TransformerEncoderLayer(embed_dim, num_heads, dim_feedforward=64, dropout=0.0,
                                               activation="gelu", batch_first=True, norm_first=True)
            self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
            self.head = nn.Linear(embed_dim, num_classes)
            nn.init.trunc_normal_(self.pos_embed, std=.02)
            nn.init.trunc_normal_(self.cls_token, std=.02)
            self.apply(self._init_weights)

        def _init_weights(self, m):
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.LayerNorm):
                nn.init.constant_(m.bias, 0)
                nn.init.constant_(m.weight, 1.0)

        def forward(self, x):
            x = self.patch_embed(x)
            cls_tokens = self.cls_token.expand(x.shape[0], -1, -1)
            x = torch.cat((cls_tokens, x), dim=1)
            x = x + self.pos_embed
            x = self.blocks(x)
            x = self.norm(x)
            return self.head(x[:, 0])

    model = ViT()
    rec.sync("vit", model)
    rec.log("trunc_normal_in_range", bool((model.pos_embed.abs() <= 0.04 + 1e-6).all()))

    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or name.endswith(".bias") or name in ("pos_embed", "cls_token"):
            no_decay.append(param)
        else:
            decay.append(param)
    rec.log("groups", [len(decay), len(no_decay)])
    optimizer = optim.AdamW([{"params": no_decay, "weight_decay": 0.0},
                             {"params": decay, "weight_decay": 0.05}], lr=1e-3, betas=(0.9, 0.999))
    warmup, total = 2, 6

    def lr_lambda(step):
        if step < warmup:
            return float(step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    scheduler = optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    ema = lib.swa_utils.AveragedModel(model, multi_avg_fn=lib.swa_utils.get_ema_multi_avg_fn(0.99),
                                      use_buffers=True)
    rs = np.random.RandomState(0)
    accum = 2
    optimizer.zero_grad()
    for it in range(steps * accum):
        x = torch.from_numpy(rs.rand(4, 3, 16, 16).astype(np.float32))
        y = torch.from_numpy(rs.randint(0, 5, 4))
        loss = criterion(model(x), y) / accum
        loss.backward()
        rec.log("loss", loss)
        if (it + 1) % accum == 0:
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            ema.update_parameters(model)
            rec.log("lr", scheduler.get_last_lr())
    rec.log("pos_embed", model.pos_embed)
    rec.log("ema.head", ema.module.head.weight)
    model.eval()
    with torch.no_grad():
        rec.log("eval", model(x))
        # fine-tune at a higher resolution: resize the grid of position embeddings (bicubic)
        pos = model.pos_embed[:, 1:]
        gs = int(math.sqrt(pos.shape[1]))
        pos = pos.reshape(1, gs, gs, -1).permute(0, 3, 1, 2)
        pos = F.interpolate(pos, size=(6, 6), mode="bicubic", align_corners=False)
        pos = pos.permute(0, 2, 3, 1).reshape(1, 36, -1)
        new_pos = torch.cat([model.pos_embed[:, :1], pos], dim=1)
        rec.log("new_pos", new_pos)


def mobilenet_body(lib, rec, steps=3):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim

    def make_divisible(v, divisor=8, min_value=None):
        min_value = min_value or divisor
        new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
        if new_v < 0.9 * v:
            new_v += divisor
        return new_v

    class SqueezeExcitation(nn.Module):
        def __init__(self, input_channels, squeeze_channels):
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
            self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
            self.activation = nn.ReLU()
            self.scale_activation = nn.Hardsigmoid()

        def forward(self, input):
            scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(input)))))
            return scale * input

    class InvertedResidual(nn.Module):
        def __init__(self, cin, exp, cout, stride, use_se):
            super().__init__()
            self.use_res_connect = stride == 1 and cin == cout
            layers = [nn.Conv2d(cin, exp, 1, bias=False), nn.BatchNorm2d(exp), nn.Hardswish(inplace=True),
                      nn.Conv2d(exp, exp, 3, stride, 1, groups=exp, bias=False), nn.BatchNorm2d(exp),
                      nn.Hardswish(inplace=True)]
            if use_se:
                layers.append(SqueezeExcitation(exp, make_divisible(exp // 4, 8)))
            layers += [nn.Conv2d(exp, cout, 1, bias=False), nn.BatchNorm2d(cout)]
            self.block = nn.Sequential(*layers)

        def forward(self, x):
            result = self.block(x)
            if self.use_res_connect:
                result += x
            return result

    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.Hardswish(),
        InvertedResidual(8, 16, 8, 1, True), InvertedResidual(8, 24, 12, 2, False),
        InvertedResidual(12, 36, 12, 1, True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(12, 16), nn.Hardswish(inplace=True),
        nn.Dropout(p=0.0, inplace=True), nn.Linear(16, 4))
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    rec.sync("mbv3", model)
    model = model.to(memory_format=torch.channels_last)
    optimizer = optim.RMSprop(model.parameters(), lr=0.01, alpha=0.9, eps=0.0316, momentum=0.9,
                              weight_decay=1e-5)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.973)
    rs = np.random.RandomState(1)
    for it in range(steps):
        x = torch.from_numpy(rs.rand(4, 3, 16, 16).astype(np.float32)).to(memory_format=torch.channels_last)
        y = torch.from_numpy(rs.randint(0, 4, 4))
        out = model(x)
        loss = F.cross_entropy(out, y, label_smoothing=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        rec.log("loss", loss)
        rec.log("out", out)
    model.eval()
    with torch.no_grad():
        probs = model(x).softmax(dim=1)
        top_p, top_class = probs.topk(2, dim=1)
        rec.log("top", [top_p, top_class])


def simclr_body(lib, rec, steps=3, temperature=0.5):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    encoder = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    projector = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8))
    rec.sync("enc", encoder)
    rec.sync("proj", projector)
    params = list(encoder.parameters()) + list(projector.parameters())
    optimizer = optim.SGD(params, lr=0.1, momentum=0.9)

    def info_nce_loss(features, batch_size, n_views=2):
        labels = torch.cat([torch.arange(batch_size) for i in range(n_views)], dim=0)
        labels = (labels.unsqueeze(0) == labels.unsqueeze(1)).float()
        features = F.normalize(features, dim=1)
        similarity_matrix = torch.matmul(features, features.T)
        mask = torch.eye(labels.shape[0], dtype=torch.bool)
        labels = labels[~mask].view(labels.shape[0], -1)
        similarity_matrix = similarity_matrix[~mask].view(similarity_matrix.shape[0], -1)
        positives = similarity_matrix[labels.bool()].view(labels.shape[0], -1)
        negatives = similarity_matrix[~labels.bool()].view(similarity_matrix.shape[0], -1)
        logits = torch.cat([positives, negatives], dim=1)
        labels = torch.zeros(logits.shape[0], dtype=torch.long)
        return logits / temperature, labels

    rs = np.random.RandomState(2)
    for it in range(steps):
        base = rs.rand(4, 3, 8, 8).astype(np.float32)
        view1 = torch.from_numpy(base + 0.1 * rs.randn(*base.shape).astype(np.float32))
        view2 = torch.from_numpy(base[..., ::-1].copy())
        images = torch.cat([view1, view2], dim=0)
        features = projector(encoder(images))
        logits, labels = info_nce_loss(features, 4)
        loss = F.cross_entropy(logits, labels)
        # the symmetric formulation (NT-Xent with masked_fill of the diagonal)
        z = F.normalize(features, dim=1)
        sim = z @ z.t() / temperature
        sim = sim.masked_fill(torch.eye(8, dtype=torch.bool), float("-inf"))
        targets = torch.cat([torch.arange(4, 8), torch.arange(0, 4)])
        loss2 = F.cross_entropy(sim, targets)
        optimizer.zero_grad()
        (loss + loss2).backward()
        optimizer.step()
        top1 = (logits.argmax(1) == labels).float().mean()
        rec.log("loss", [loss, loss2])
        rec.log("top1", top1)
        rec.log("logits", logits)


def test_vit_matches_pytorch():
    run_both(vit_body, tol={"eval": (5e-5, 5e-4), "pos_embed": (1e-5, 1e-3), "new_pos": (1e-5, 1e-3),
                            "ema.head": (1e-5, 1e-3)})


def test_mobilenet_v3_blocks_match_pytorch():
    run_both(mobilenet_body, tol={"out": (5e-5, 5e-4), "top": (5e-5, 5e-4)})


def test_simclr_nt_xent_matches_pytorch():
    run_both(simclr_body)


if __name__ == "__main__":
    test_vit_matches_pytorch()
    test_mobilenet_v3_blocks_match_pytorch()
    test_simclr_nt_xent_matches_pytorch()
    print("ok")
