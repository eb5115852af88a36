"""Self-supervised and teacher-student training loops: SimCLR's NT-Xent loss (sthalles/SimCLR's
info_nce_loss: F.normalize, a cosine-similarity matrix, an eye mask, masked selection into positives and
negatives, labels of zeros, cross-entropy at a temperature) and the common "masked_fill with -inf on the
diagonal" variant, a MoCo-style momentum encoder with a queue, and Hinton knowledge distillation
(KLDivLoss(reduction='batchmean') on log_softmax / softmax at temperature T, scaled by T^2, plus the hard
cross-entropy). Run with PyTorch and with flambeau from the same weights on the same numpy batches."""
import numpy as np

from vision_parity import run_both


def simclr_body(lib, rec, steps=3, batch=8, n_views=2, temperature=0.07, variant="sthalles"):
    torch, nn, F = lib.torch, lib.nn, lib.F
    rs = np.random.RandomState(0)
    device = torch.device("cpu")

    class ResNetSimCLR(nn.Module):
        def __init__(self, out_dim=16):
            super().__init__()
            self.backbone = nn.Sequential(
                nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
            dim_mlp = 16
            self.fc = nn.Sequential(nn.Linear(dim_mlp, dim_mlp), nn.ReLU(), nn.Linear(dim_mlp, out_dim))

        def forward(self, x):
            return self.fc(self.backbone(x))

    def info_nce_loss(features):
        labels = torch.cat([torch.arange(batch) for i in range(n_views)], dim=0)
        labels = (labels.unsqueeze(0) == labels.unsqueeze(1)).float()
        labels = labels.to(device)
        features = F.normalize(features, dim=1)
        similarity_matrix = torch.matmul(features, features.T)
        mask = torch.eye(labels.shape[0], dtype=torch.bool).to(device)
        labels = labels[~mask].view(labels.shape[0], -1)
        similarity_matrix = similarity_matrix[~mask].view(similarity_matrix.shape[0], -1)
        positives = similarity_matrix[labels.bool()].view(labels.shape[0], -1)
        negatives = similarity_matrix[~labels.bool()].view(similarity_matrix.shape[0], -1)
        logits = torch.cat([positives, negatives], dim=1)
        labels = torch.zeros(logits.shape[0], dtype=torch.long).to(device)
        logits = logits / temperature
        return logits, labels

    def nt_xent(z_i, z_j):
        z = torch.cat([z_i, z_j], dim=0)
        z = F.normalize(z, p=2, dim=-1)
        sim = F.cosine_similarity(z.unsqueeze(1), z.unsqueeze(0), dim=2) / temperature
        sim = sim.masked_fill(torch.eye(2 * batch, dtype=torch.bool), float("-inf"))
        targets = torch.arange(2 * batch)
        targets = (targets + batch) % (2 * batch)
        return F.cross_entropy(sim, targets)

    def augment(x):
        # random crop-and-flip done in numpy so both libraries see the same views
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            dy, dx = rs.randint(0, 3, size=2)
            img = np.pad(x[i], ((0, 0), (1, 1), (1, 1)), mode="reflect")[:, dy:dy + x.shape[2], dx:dx + x.shape[3]]
            out[i] = img[:, :, ::-1] if rs.rand() < 0.5 else img
        return out + 0.05 * rs.randn(*x.shape).astype(np.float32)

    model = ResNetSimCLR()
    rec.sync("simclr", model)
    optimizer = torch.optim.Adam(model.parameters(), 3e-4, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=0, last_epoch=-1)
    criterion = torch.nn.CrossEntropyLoss().to(device)
    data = rs.rand(steps * batch, 3, 8, 8).astype(np.float32)
    for step in range(steps):
        x = data[step * batch:(step + 1) * batch]
        images = torch.cat([torch.from_numpy(augment(x)), torch.from_numpy(augment(x))], dim=0)
        features = model(images)
        if variant == "sthalles":
            logits, labels = info_nce_loss(features)
            loss = criterion(logits, labels)
            top1 = (logits.argmax(1) == labels).float().mean() * 100
            rec.log("logits", logits)
            rec.log("top1", top1)
        else:
            z_i, z_j = features.chunk(2)
            loss = nt_xent(z_i, z_j)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        rec.log("loss", loss)
        rec.log("lr", scheduler.get_last_lr()[0])
    rec.log("fc.weight", model.fc[2].weight)


def moco_body(lib, rec, steps=3, batch=8, K=32, m=0.99, T=0.2):
    torch, nn, F = lib.torch, lib.nn, lib.F
    rs = np.random.RandomState(1)

    class MoCo(nn.Module):
        def __init__(self, dim=8):
            super(MoCo, self).__init__()
            self.K, self.m, self.T = K, m, T
            self.encoder_q = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, dim))
            self.encoder_k = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, dim))
            for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
                param_k.data.copy_(param_q.data)
                param_k.requires_grad = False
            self.register_buffer("queue", torch.from_numpy(rs.randn(dim, K).astype(np.float32)))
            self.queue = nn.functional.normalize(self.queue, dim=0)
            self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

        @torch.no_grad()
        def _momentum_update_key_encoder(self):
            for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
                param_k.data = param_k.data * self.m + param_q.data * (1.0 - self.m)

        @torch.no_grad()
        def _dequeue_and_enqueue(self, keys):
            batch_size = keys.shape[0]
            ptr = int(self.queue_ptr)
            assert self.K % batch_size == 0
            self.queue[:, ptr:ptr + batch_size] = keys.T
            ptr = (ptr + batch_size) % self.K
            self.queue_ptr[0] = ptr

        def forward(self, im_q, im_k):
            q = self.encoder_q(im_q)
            q = nn.functional.normalize(q, dim=1)
            with torch.no_grad():
                self._momentum_update_key_encoder()
                k = self.encoder_k(im_k)
                k = nn.functional.normalize(k, dim=1)
            l_pos = torch.einsum("nc,nc->n", [q, k]).unsqueeze(-1)
            l_neg = torch.einsum("nc,ck->nk", [q, self.queue.clone().detach()])
            logits = torch.cat([l_pos, l_neg], dim=1)
            logits /= self.T
            labels = torch.zeros(logits.shape[0], dtype=torch.long)
            self._dequeue_and_enqueue(k)
            return logits, labels

    model = MoCo()
    rec.sync("moco", model)
    optimizer = torch.optim.SGD(model.parameters(), 0.03, momentum=0.9, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss()
    for step in range(steps):
        x = rs.randn(batch, 12).astype(np.float32)
        im_q = torch.from_numpy(x + 0.1 * rs.randn(batch, 12).astype(np.float32))
        im_k = torch.from_numpy(x + 0.1 * rs.randn(batch, 12).astype(np.float32))
        output, target = model(im_q=im_q, im_k=im_k)
        loss = criterion(output, target)
        acc1 = (output.topk(1, 1, True, True)[1].t() == target.view(1, -1)).float().sum() * 100 / batch
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rec.log("loss", loss)
        rec.log("acc1", acc1)
    rec.log("queue", model.queue)
    rec.log("queue_ptr", model.queue_ptr)
    rec.log("encoder_k", model.encoder_k[2].weight)


def distill_body(lib, rec, steps=4, batch=16, T=4.0, alpha=0.7):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    rs = np.random.RandomState(2)
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 10))
    student = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    rec.sync("teacher", teacher)
    rec.sync("student", student)

    def loss_fn_kd(outputs, labels, teacher_outputs):
        KD_loss = nn.KLDivLoss(reduction='batchmean')(F.log_softmax(outputs / T, dim=1),
                                                      F.softmax(teacher_outputs / T, dim=1)) * (alpha * T * T) + \
            F.cross_entropy(outputs, labels) * (1. - alpha)
        return KD_loss

    def tutorial_kd(student_logits, labels, teacher_logits):
        # PyTorch's knowledge-distillation tutorial: soft targets written out by hand
        soft_targets = nn.functional.softmax(teacher_logits / T, dim=-1)
        soft_prob = nn.functional.log_softmax(student_logits / T, dim=-1)
        soft_targets_loss = torch.sum(soft_targets * (soft_targets.log() - soft_prob)) / soft_prob.size()[0] * (T ** 2)
        label_loss = nn.CrossEntropyLoss()(student_logits, labels)
        return 0.25 * soft_targets_loss + 0.75 * label_loss

    optimizer = optim.SGD(student.parameters(), lr=0.05, momentum=0.9)
    teacher.eval()
    student.train()
    data = rs.rand(steps * batch, 1, 8, 8).astype(np.float32)
    labels_all = rs.randint(0, 10, steps * batch)
    for i in range(steps):
        inputs = torch.from_numpy(data[i * batch:(i + 1) * batch])
        labels = torch.from_numpy(labels_all[i * batch:(i + 1) * batch])
        with torch.no_grad():
            teacher_logits = teacher(inputs)
        student_logits = student(inputs)
        loss = (loss_fn_kd if i % 2 == 0 else tutorial_kd)(student_logits, labels, teacher_logits)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rec.log("loss", loss)
        kl_log_target = F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),
                                 reduction="sum", log_target=True)
        rec.log("kl_log_target", kl_log_target)
        rec.log("kl_none", F.kl_div(F.log_softmax(student_logits, -1), F.softmax(teacher_logits, -1),
                                    reduction="none"))
    rec.log("student", student[3].weight)


def test_simclr_info_nce_matches_pytorch():
    run_both(simclr_body, rtol=1e-3, atol=1e-4)


def test_simclr_nt_xent_masked_fill_matches_pytorch():
    run_both(simclr_body, variant="nt_xent", rtol=1e-3, atol=1e-4)


def test_moco_queue_matches_pytorch():
    run_both(moco_body, rtol=1e-3, atol=1e-4)


def test_knowledge_distillation_matches_pytorch():
    run_both(distill_body, rtol=1e-3, atol=1e-5)


if __name__ == "__main__":
    test_simclr_info_nce_matches_pytorch()
    test_simclr_nt_xent_masked_fill_matches_pytorch()
    test_moco_queue_matches_pytorch()
    test_knowledge_distillation_matches_pytorch()
    print("ok")
