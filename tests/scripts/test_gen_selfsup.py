"""Self-supervised objectives beyond SimCLR/MoCo, each in its reference implementation's style: CLIP's
symmetric contrastive loss (a learnable logit_scale initialised to log(1/0.07), exp and clamp to 100,
F.normalize, logits_per_image.t()), BYOL (online predictor, EMA target network updated in place under
no_grad, 2 - 2 cos), SimSiam (negative cosine with stop-gradient, F.cosine_similarity), Barlow Twins
(BatchNorm1d(affine=False) cross-correlation, diagonal().add_(-1).pow_(2), the flatten/view off-diagonal
trick) and VICReg (variance / invariance / covariance terms). Run with PyTorch and with flambeau from the
same weights on the same numpy augmentations."""
import numpy as np

from vision_parity import run_both


def _views(rs, n, d):
    x = rs.randn(n, d).astype(np.float32)
    return x + 0.1 * rs.randn(n, d).astype(np.float32), x * (1 + 0.1 * rs.randn(n, d).astype(np.float32))


def clip_body(lib, rec, steps=3, batch=8):
    torch, nn, F = lib.torch, lib.nn, lib.F
    rs = np.random.RandomState(0)

    class CLIP(nn.Module):
        def __init__(self, embed_dim=8):
            super().__init__()
            self.visual = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.GELU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                        nn.Linear(8, embed_dim))
            self.token_embedding = nn.Embedding(20, 16)
            self.positional_embedding = nn.Parameter(torch.empty(6, 16))
            self.mixer = nn.Linear(16, 16)
            self.ln_final = nn.LayerNorm(16)
            self.text_projection = nn.Parameter(torch.empty(16, embed_dim))
            self.logit_scale = nn.Parameter(torch.ones([]) * np.log(1 / 0.07))
            nn.init.normal_(self.token_embedding.weight, std=0.02)
            nn.init.normal_(self.positional_embedding, std=0.01)
            nn.init.normal_(self.text_projection, std=16 ** -0.5)

        def encode_image(self, image):
            return self.visual(image)

        def encode_text(self, text):
            x = self.token_embedding(text) + self.positional_embedding
            x = x + self.mixer(x.mean(dim=1, keepdim=True))  # stands in for CLIP's text transformer
            x = self.ln_final(x)
            # features of the end-of-text token (the highest id in each sequence)
            return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection

        def forward(self, image, text):
            image_features = self.encode_image(image)
            text_features = self.encode_text(text)
            image_features = image_features / image_features.norm(dim=1, keepdim=True)
            text_features = text_features / text_features.norm(dim=1, keepdim=True)
            logit_scale = self.logit_scale.exp()
            logits_per_image = logit_scale * image_features @ text_features.t()
            logits_per_text = logits_per_image.t()
            return logits_per_image, logits_per_text

    model = CLIP()
    rec.sync("clip", model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.2)
    loss_img, loss_txt = nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    for step in range(steps):
        images = torch.from_numpy(rs.rand(batch, 3, 8, 8).astype(np.float32))
        texts = torch.from_numpy(rs.randint(0, 19, (batch, 6)))
        texts[torch.arange(batch), torch.from_numpy(rs.randint(1, 6, batch))] = 19  # end-of-text token
        logits_per_image, logits_per_text = model(images, texts)
        ground_truth = torch.arange(len(images), dtype=torch.long)
        total_loss = (loss_img(logits_per_image, ground_truth) + loss_txt(logits_per_text, ground_truth)) / 2
        optimizer.zero_grad()
        total_loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, 4.6052)
        rec.log("loss", total_loss)
        rec.log("logits_per_image", logits_per_image)
        rec.log("logit_scale", model.logit_scale)
    with torch.no_grad():
        image_features = F.normalize(model.encode_image(images), dim=-1)
        text_features = F.normalize(model.encode_text(texts), dim=-1)
        text_probs = (100.0 * image_features @ text_features.T).softmax(dim=-1)
        top_probs, top_labels = text_probs.cpu().topk(3, dim=-1)
        rec.log("top_probs", top_probs)
        rec.log("top_labels", top_labels)


def byol_simsiam_body(lib, rec, steps=3, batch=16, method="byol"):
    torch, nn, F = lib.torch, lib.nn, lib.F
    rs = np.random.RandomState(1)
    import copy

    def MLP(dim, projection_size, hidden_size=32):
        return nn.Sequential(nn.Linear(dim, hidden_size), nn.BatchNorm1d(hidden_size), nn.ReLU(inplace=True),
                             nn.Linear(hidden_size, projection_size))

    def loss_fn(x, y):
        x = F.normalize(x, dim=-1, p=2)
        y = F.normalize(y, dim=-1, p=2)
        return 2 - 2 * (x * y).sum(dim=-1)

    def simsiam_D(p, z):
        return - F.cosine_similarity(p, z.detach(), dim=-1).mean()

    class EMA():
        def __init__(self, beta):
            super().__init__()
            self.beta = beta

        def update_average(self, old, new):
            if old is None:
                return new
            return old * self.beta + (1 - self.beta) * new

    def update_moving_average(ema_updater, ma_model, current_model):
        for current_params, ma_params in zip(current_model.parameters(), ma_model.parameters()):
            old_weight, up_weight = ma_params.data, current_params.data
            ma_params.data = ema_updater.update_average(old_weight, up_weight)

    backbone = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 16))
    projector = MLP(16, 8)
    predictor = MLP(8, 8)
    online = nn.Sequential(backbone, projector)
    rec.sync("online", online)
    rec.sync("predictor", predictor)
    target_encoder = copy.deepcopy(online)
    for p in target_encoder.parameters():
        p.requires_grad = False
    target_ema_updater = EMA(0.99)
    params = list(online.parameters()) + list(predictor.parameters())
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-4)
    for step in range(steps):
        v1, v2 = _views(rs, batch, 12)
        image_one, image_two = torch.from_numpy(v1), torch.from_numpy(v2)
        online_proj_one, online_proj_two = online(image_one), online(image_two)
        online_pred_one, online_pred_two = predictor(online_proj_one), predictor(online_proj_two)
        if method == "byol":
            with torch.no_grad():
                target_proj_one = target_encoder(image_one).detach_()
                target_proj_two = target_encoder(image_two).detach_()
            loss_one = loss_fn(online_pred_one, target_proj_two.detach())
            loss_two = loss_fn(online_pred_two, target_proj_one.detach())
            loss = (loss_one + loss_two).mean()
        else:
            loss = simsiam_D(online_pred_one, online_proj_two) / 2 + simsiam_D(online_pred_two, online_proj_one) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        if method == "byol":
            update_moving_average(target_ema_updater, target_encoder, online)
        rec.log("loss", loss)
        rec.log("grad.pred", predictor[0].weight.grad)
    for k, v in target_encoder.state_dict().items():
        rec.log("target." + k, v)
    rec.log("target.requires_grad", [p.requires_grad for p in target_encoder.parameters()])


def barlow_vicreg_body(lib, rec, steps=3, batch=16, method="barlow"):
    torch, nn, F = lib.torch, lib.nn, lib.F
    rs = np.random.RandomState(2)

    def off_diagonal(x):
        n, m = x.shape
        assert n == m
        return x.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()

    class BarlowTwins(nn.Module):
        def __init__(self, lambd=0.0051):
            super().__init__()
            self.backbone = nn.Sequential(nn.Linear(12, 32), nn.ReLU())
            sizes = [32, 24, 16]
            layers = []
            for i in range(len(sizes) - 2):
                layers.append(nn.Linear(sizes[i], sizes[i + 1], bias=False))
                layers.append(nn.BatchNorm1d(sizes[i + 1]))
                layers.append(nn.ReLU(inplace=True))
            layers.append(nn.Linear(sizes[-2], sizes[-1], bias=False))
            self.projector = nn.Sequential(*layers)
            self.bn = nn.BatchNorm1d(sizes[-1], affine=False)
            self.lambd = lambd

        def forward(self, y1, y2):
            z1 = self.projector(self.backbone(y1))
            z2 = self.projector(self.backbone(y2))
            if method == "vicreg":
                return self.vicreg(z1, z2)
            c = self.bn(z1).T @ self.bn(z2)
            c.div_(batch)
            on_diag = torch.diagonal(c).add_(-1).pow_(2).sum()
            off_diag = off_diagonal(c).pow_(2).sum()
            return on_diag + self.lambd * off_diag

        def vicreg(self, x, y, sim_coeff=25.0, std_coeff=25.0, cov_coeff=1.0):
            repr_loss = F.mse_loss(x, y)
            x = x - x.mean(dim=0)
            y = y - y.mean(dim=0)
            std_x = torch.sqrt(x.var(dim=0) + 0.0001)
            std_y = torch.sqrt(y.var(dim=0) + 0.0001)
            std_loss = torch.mean(F.relu(1 - std_x)) / 2 + torch.mean(F.relu(1 - std_y)) / 2
            cov_x = (x.T @ x) / (batch - 1)
            cov_y = (y.T @ y) / (batch - 1)
            num_features = x.shape[1]
            cov_loss = off_diagonal(cov_x).pow_(2).sum().div(num_features) + \
                off_diagonal(cov_y).pow_(2).sum().div(num_features)
            return sim_coeff * repr_loss + std_coeff * std_loss + cov_coeff * cov_loss

    model = BarlowTwins()
    rec.sync("model", model)
    param_weights = [p for p in model.parameters() if p.ndim != 1]
    param_biases = [p for p in model.parameters() if p.ndim == 1]
    parameters = [{'params': param_weights}, {'params': param_biases}]
    optimizer = torch.optim.SGD(parameters, lr=0.01, momentum=0.9, weight_decay=1e-6)
    for step in range(steps):
        v1, v2 = _views(rs, batch, 12)
        for i, g in enumerate(optimizer.param_groups):
            g['lr'] = 0.01 * (step + 1) / steps * (1.0 if i == 0 else 0.1)
        optimizer.zero_grad()
        loss = model(torch.from_numpy(v1), torch.from_numpy(v2))
        loss.backward()
        optimizer.step()
        rec.log("loss", loss)
    rec.log("bn.running_var", model.bn.running_var)
    rec.log("projector", model.projector[0].weight)


def test_clip_matches_pytorch():
    run_both(clip_body, rtol=1e-3, atol=1e-4)


def test_byol_matches_pytorch():
    run_both(byol_simsiam_body, rtol=1e-3, atol=1e-4)


def test_simsiam_matches_pytorch():
    run_both(byol_simsiam_body, method="simsiam", rtol=1e-3, atol=1e-4)


def test_barlow_twins_matches_pytorch():
    run_both(barlow_vicreg_body, rtol=1e-3, atol=1e-4)


def test_vicreg_matches_pytorch():
    run_both(barlow_vicreg_body, method="vicreg", rtol=1e-3, atol=1e-4)


if __name__ == "__main__":
    test_clip_matches_pytorch()
    test_byol_matches_pytorch()
    test_simsiam_matches_pytorch()
    test_barlow_twins_matches_pytorch()
    test_vicreg_matches_pytorch()
    print("ok")
