"""Fine-tuning a small ResNet (torchvision's BasicBlock with a downsample branch): freeze the
backbone, replace the head, optimizer param groups with their own lr, SGD with nesterov momentum and
weight decay, every common lr scheduler, a checkpoint saved with torch.save and resumed with
load_state_dict (strict and strict=False) -- with PyTorch and with flambeau from the same weights."""
import os
import tempfile

import numpy as np

from vision_parity import run_both


def make_resnet(lib, num_classes=10, width=8):
    nn = lib.nn

    def conv3x3(in_planes, out_planes, stride=1):
        return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = conv3x3(inplanes, planes, stride)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = conv3x3(planes, planes)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample
            self.stride = stride

        def forward(self, x):
            identity = x
            out = self.conv1(x)
            out = self.bn1(out)
            out = self.relu(out)
            out = self.conv2(out)
            out = self.bn2(out)
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity
            out = self.relu(out)
            return out

    class ResNet(nn.Module):
        def __init__(self, block, layers, num_classes=1000):
            super().__init__()
            self.inplanes = width
            self.conv1 = nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = self._make_layer(block, width, layers[0])
            self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(width * 2 * block.expansion, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

        def _make_layer(self, block, planes, blocks, stride=1):
            downsample = None
            if stride != 1 or self.inplanes != planes * block.expansion:
                downsample = nn.Sequential(
                    nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride,
                              bias=False),
                    nn.BatchNorm2d(planes * block.expansion),
                )
            layers = [block(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes * block.expansion
            for _ in range(1, blocks):
                layers.append(block(self.inplanes, planes))
            return nn.Sequential(*layers)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer2(self.layer1(x))
            x = self.avgpool(x)
            x = lib.torch.flatten(x, 1)
            return self.fc(x)

    return ResNet(BasicBlock, [1, 1], num_classes=num_classes)


def batches(n, seed, bs=8, classes=10, hw=16):
    rs = np.random.RandomState(seed)
    return [(rs.rand(bs, 3, hw, hw).astype(np.float32), rs.randint(0, classes, bs)) for _ in range(n)]


def finetune_body(lib, rec, ckpt_dir):
    torch, nn, optim = lib.torch, lib.nn, lib.optim
    model = make_resnet(lib, num_classes=10)
    rec.sync("pretrained", model)
    # feature extraction: freeze everything, then a new head for 4 classes
    for param in model.parameters():
        param.requires_grad = False
    num_ftrs = model.fc.in_features
    model.fc = nn.Linear(num_ftrs, 4)
    rec.sync("head", model.fc)
    model.layer2.requires_grad_(True)  # ... and unfreeze the last stage
    rec.log("trainable", [n for n, p in model.named_parameters() if p.requires_grad].__len__())
    params_to_update = [p for p in model.parameters() if p.requires_grad]
    rec.log("n_update", len(params_to_update))
    optimizer = optim.SGD([
        {"params": model.layer2.parameters(), "lr": 1e-3},
        {"params": model.fc.parameters()},
    ], lr=1e-2, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.1)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    data = batches(4, seed=1, classes=4)
    for epoch in range(4):
        model.train()
        x, y = data[epoch]
        inputs, labels = torch.from_numpy(x), torch.from_numpy(y)
        optimizer.zero_grad()
        with torch.set_grad_enabled(True):
            outputs = model(inputs)
            _, preds = torch.max(outputs, 1)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
        scheduler.step()
        rec.log("loss", loss)
        rec.log("preds", preds)
        rec.log("corrects", torch.sum(preds == labels.data).double() / inputs.size(0))
        rec.log("lrs", [g["lr"] for g in optimizer.param_groups])
        rec.log("last_lr", scheduler.get_last_lr())
        rec.log("frozen_grad_none", model.conv1.weight.grad is None)
    # frozen layers kept their weights; BatchNorm running stats still moved (train mode)
    rec.log("conv1", model.conv1.weight)
    rec.log("bn1.running_mean", model.bn1.running_mean)

    path = os.path.join(ckpt_dir, f"ckpt_{lib.name}.pt")
    torch.save({
        'epoch': 4,
        'model_state_dict': model.state_dict(),
        'optimizer_state_dict': optimizer.state_dict(),
        'scheduler': scheduler.state_dict(),
        'loss': loss,
    }, path)

    # resume into fresh objects and continue: must match continuing in place
    model2 = make_resnet(lib, num_classes=10)
    model2.fc = nn.Linear(num_ftrs, 4)
    for p in model2.parameters():
        p.requires_grad_(False)
    model2.layer2.requires_grad_(True)
    model2.fc.requires_grad_(True)
    optimizer2 = optim.SGD([
        {"params": model2.layer2.parameters(), "lr": 1e-3},
        {"params": model2.fc.parameters()},
    ], lr=1e-2, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scheduler2 = optim.lr_scheduler.StepLR(optimizer2, step_size=2, gamma=0.1)
    checkpoint = torch.load(path, weights_only=True)
    model2.load_state_dict(checkpoint['model_state_dict'])
    optimizer2.load_state_dict(checkpoint['optimizer_state_dict'])
    scheduler2.load_state_dict(checkpoint['scheduler'])
    start_epoch = checkpoint['epoch']
    rec.log("ckpt.loss", checkpoint['loss'])
    rec.log("ckpt.momentum", optimizer2.state_dict()['state'][0]['momentum_buffer'])
    for epoch in range(start_epoch, start_epoch + 2):
        x, y = batches(1, seed=10 + epoch, classes=4)[0]
        for m, opt, sch, tag in ((model, optimizer, scheduler, "cont"),
                                 (model2, optimizer2, scheduler2, "resumed")):
            m.train()
            opt.zero_grad()
            loss = criterion(m(torch.from_numpy(x)), torch.from_numpy(y))
            loss.backward()
            opt.step()
            sch.step()
            rec.log(tag + ".loss", loss)
    for (n1, p1), (n2, p2) in zip(model.state_dict().items(), model2.state_dict().items()):
        assert n1 == n2
        assert torch.equal(p1, p2), n1

    # strict=False: a backbone checkpoint without the head
    backbone = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    model3 = make_resnet(lib, num_classes=4)
    rec.sync("model3", model3)
    result = model3.load_state_dict(backbone, strict=False)
    rec.log("missing", sorted(result.missing_keys).__len__())
    rec.log("unexpected", len(result.unexpected_keys))
    assert sorted(result.missing_keys) == ["fc.bias", "fc.weight"]
    try:
        model3.load_state_dict(backbone)
        raise AssertionError("strict load of a partial state_dict must fail")
    except RuntimeError as e:
        assert "Missing key(s)" in str(e)
    model3.eval()
    x = torch.from_numpy(batches(1, seed=99, classes=4)[0][0])
    with torch.inference_mode():
        out = model3(x)
    rec.log("eval_out", out)
    rec.log("eval_out.requires_grad", out.requires_grad)
    with torch.no_grad():
        probs = torch.softmax(model3(x), dim=1)
    rec.log("probs", probs)


def scheduler_body(lib, rec):
    """The lr each scheduler gives over a few epochs, with a tiny model really stepping."""
    torch, nn, optim = lib.torch, lib.nn, lib.optim
    lrs = optim.lr_scheduler

    def fresh(name, opt_kind="sgd"):
        m = nn.Linear(4, 2)
        rec.sync(name, m)
        if opt_kind == "adam":
            return m, optim.AdamW(m.parameters(), lr=1e-2, weight_decay=1e-2)
        return m, optim.SGD(m.parameters(), lr=0.1, momentum=0.9)

    x = np.random.RandomState(0).randn(5, 4).astype(np.float32)

    def train_step(m, opt):
        opt.zero_grad()
        loss = m(torch.from_numpy(x)).pow(2).mean()
        loss.backward()
        opt.step()
        return loss.item()

    makers = {
        "StepLR": lambda o: lrs.StepLR(o, step_size=3, gamma=0.5),
        "MultiStepLR": lambda o: lrs.MultiStepLR(o, milestones=[2, 5], gamma=0.1),
        "CosineAnnealingLR": lambda o: lrs.CosineAnnealingLR(o, T_max=6, eta_min=1e-4),
        "OneCycleLR": lambda o: lrs.OneCycleLR(o, max_lr=0.5, total_steps=9),
        "OneCycleLR_epochs": lambda o: lrs.OneCycleLR(o, max_lr=0.5, epochs=3, steps_per_epoch=3,
                                                     anneal_strategy="linear", three_phase=True),
        "Warmup+Cosine": lambda o: lrs.SequentialLR(o, schedulers=[
            lrs.LinearLR(o, start_factor=0.1, total_iters=3),
            lrs.CosineAnnealingLR(o, T_max=5)], milestones=[3]),
        "CosineAnnealingWarmRestarts": lambda o: lrs.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                                 eta_min=1e-3),
        "ExponentialLR": lambda o: lrs.ExponentialLR(o, gamma=0.8),
        "LambdaLR": lambda o: lrs.LambdaLR(o, lr_lambda=lambda epoch: 0.95 ** epoch),
        "CyclicLR": lambda o: lrs.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2),
        "PolynomialLR": lambda o: lrs.PolynomialLR(o, total_iters=6, power=2.0),
    }
    for name, make in makers.items():
        m, opt = fresh(name)
        sched = make(opt)
        for step in range(9):
            loss = train_step(m, opt)
            sched.step()
            rec.log(name + ".lr", opt.param_groups[0]["lr"])
            rec.log(name + ".momentum", opt.param_groups[0]["momentum"])
        rec.log(name + ".loss", loss)
        sd = sched.state_dict()
        rec.log(name + ".state_keys", len(sd))
    # ReduceLROnPlateau is stepped with the validation metric
    m, opt = fresh("plateau", "adam")
    plateau = lrs.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1, threshold=1e-3,
                                    min_lr=1e-4)
    for epoch, val_loss in enumerate([1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.6, 0.7, 0.8]):
        train_step(m, opt)
        plateau.step(val_loss)
        rec.log("plateau.lr", opt.param_groups[0]["lr"])
        rec.log("plateau.last_lr", plateau.get_last_lr())
        rec.log("plateau.num_bad", plateau.num_bad_epochs)
    # CosineAnnealingWarmRestarts stepped with a fractional epoch inside the batch loop
    m, opt = fresh("warm_frac")
    sched = lrs.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=1)
    iters = 4
    for epoch in range(3):
        for i in range(iters):
            train_step(m, opt)
            sched.step(epoch + i / iters)
            rec.log("warm_frac.lr", opt.param_groups[0]["lr"])


def swa_body(lib, rec, epochs=6, swa_start=2):
    """The SWA recipe of torch.optim.swa_utils' documentation."""
    torch, nn, optim = lib.torch, lib.nn, lib.optim
    AveragedModel, SWALR, update_bn = lib.swa_utils.AveragedModel, lib.swa_utils.SWALR, lib.swa_utils.update_bn
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    rec.sync("model", model)
    rs = np.random.RandomState(4)
    xs = torch.from_numpy(rs.rand(12, 3, 6, 6).astype(np.float32))
    ys = torch.from_numpy(rs.randint(0, 3, 12))
    loader = lib.data.DataLoader(lib.data.TensorDataset(xs, ys), batch_size=4)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    swa_model = AveragedModel(model)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=100)
    swa_scheduler = SWALR(optimizer, swa_lr=0.05, anneal_epochs=2, anneal_strategy="cos")
    for epoch in range(epochs):
        for input, target in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(input), target)
            loss.backward()
            optimizer.step()
        if epoch > swa_start:
            swa_model.update_parameters(model)
            swa_scheduler.step()
        else:
            scheduler.step()
        rec.log("loss", loss)
        rec.log("lr", optimizer.param_groups[0]["lr"])
    rec.log("n_averaged", swa_model.n_averaged)
    update_bn(loader, swa_model)
    rec.log("swa_bn", [swa_model.module[1].running_mean, swa_model.module[1].running_var])
    swa_model.eval()
    with torch.no_grad():
        rec.log("preds", swa_model(xs[:4]))
    rec.log("keys", len(swa_model.state_dict()))


def test_swa_matches_pytorch():
    run_both(swa_body, tol={"swa_bn": (1e-5, 1e-4), "preds": (5e-5, 5e-4)})


def test_finetune_checkpoint_resume_matches_pytorch():
    with tempfile.TemporaryDirectory() as d:
        run_both(finetune_body, ckpt_dir=d, tol={"loss": (1e-5, 1e-4)})


def test_lr_schedulers_match_pytorch():
    run_both(scheduler_body, atol=1e-7, rtol=1e-6, tol={"": (1e-6, 1e-5)})


if __name__ == "__main__":
    test_finetune_checkpoint_resume_matches_pytorch()
    test_lr_schedulers_match_pytorch()
    print("ok")
