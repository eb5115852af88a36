"""A small U-Net (milesial/Pytorch-UNet's layout: bilinear or transposed-conv up-sampling, F.pad to
match odd sizes) and the original paper's valid-convolution variant (center-crop before torch.cat),
trained for a few steps on synthetic masks with CrossEntropyLoss(ignore_index) + Dice loss, with
PyTorch and with flambeau from the same weights."""
import numpy as np

from vision_parity import run_both


def unet_body(lib, rec, bilinear=True, steps=3, size=(20, 23), n_classes=3):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim

    class DoubleConv(nn.Module):
        """(convolution => [BN] => ReLU) * 2"""

        def __init__(self, in_channels, out_channels, mid_channels=None):
            super().__init__()
            if not mid_channels:
                mid_channels = out_channels
            self.double_conv = nn.Sequential(
                nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(mid_channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True)
            )

        def forward(self, x):
            return self.double_conv(x)

    class Down(nn.Module):
        def __init__(self, in_channels, out_channels):
            super().__init__()
            self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

        def forward(self, x):
            return self.maxpool_conv(x)

    class Up(nn.Module):
        def __init__(self, in_channels, out_channels, bilinear=True):
            super().__init__()
            if bilinear:
                self.up = nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True)
                self.conv = DoubleConv(in_channels, out_channels, in_channels // 2)
            else:
                self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
                self.conv = DoubleConv(in_channels, out_channels)

        def forward(self, x1, x2):
            x1 = self.up(x1)
            # input is CHW
            diffY = x2.size()[2] - x1.size()[2]
            diffX = x2.size()[3] - x1.size()[3]
            x1 = F.pad(x1, [diffX // 2, diffX - diffX // 2,
                            diffY // 2, diffY - diffY // 2])
            x = torch.cat([x2, x1], dim=1)
            return self.conv(x)

    class UNet(nn.Module):
        def __init__(self, n_channels, n_classes, bilinear=False):
            super(UNet, self).__init__()
            self.n_channels = n_channels
            self.n_classes = n_classes
            self.bilinear = bilinear
            self.inc = DoubleConv(n_channels, 8)
            self.down1 = Down(8, 16)
            factor = 2 if bilinear else 1
            self.down2 = Down(16, 32 // factor)
            self.up1 = Up(32, 16 // factor, bilinear)
            self.up2 = Up(16, 8, bilinear)
            self.outc = nn.Conv2d(8, n_classes, kernel_size=1)

        def forward(self, x):
            x1 = self.inc(x)
            x2 = self.down1(x1)
            x3 = self.down2(x2)
            x = self.up1(x3, x2)
            x = self.up2(x, x1)
            return self.outc(x)

    def dice_coeff(input, target, reduce_batch_first=False, epsilon=1e-6):
        assert input.size() == target.size()
        assert input.dim() == 3 or not reduce_batch_first
        sum_dim = (-1, -2) if input.dim() == 2 or not reduce_batch_first else (-1, -2, -3)
        inter = 2 * (input * target).sum(dim=sum_dim)
        sets_sum = input.sum(dim=sum_dim) + target.sum(dim=sum_dim)
        sets_sum = torch.where(sets_sum == 0, inter, sets_sum)
        dice = (inter + epsilon) / (sets_sum + epsilon)
        return dice.mean()

    def multiclass_dice_coeff(input, target, reduce_batch_first=False, epsilon=1e-6):
        return dice_coeff(input.flatten(0, 1), target.flatten(0, 1), reduce_batch_first, epsilon)

    def dice_loss(input, target, multiclass=False):
        fn = multiclass_dice_coeff if multiclass else dice_coeff
        return 1 - fn(input, target, reduce_batch_first=True)

    model = UNet(n_channels=3, n_classes=n_classes, bilinear=bilinear)
    rec.sync("unet", model)
    optimizer = optim.RMSprop(model.parameters(), lr=1e-5, weight_decay=1e-8, momentum=0.999,
                              foreach=True)
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, 'max', patience=1)
    criterion = nn.CrossEntropyLoss(ignore_index=255) if n_classes > 1 else nn.BCEWithLogitsLoss()
    rs = np.random.RandomState(2)
    H, W = size
    for step in range(steps):
        images = torch.from_numpy(rs.rand(2, 3, H, W).astype(np.float32))
        masks_np = rs.randint(0, n_classes, (2, H, W)).astype(np.int64)
        masks_np[:, :2, :] = 255  # an unlabelled border
        true_masks = torch.from_numpy(masks_np)
        assert images.shape[1] == model.n_channels
        images = images.to(dtype=torch.float32, memory_format=torch.channels_last)
        true_masks = true_masks.to(dtype=torch.long)
        masks_pred = model(images)
        valid = (true_masks != 255)
        loss = criterion(masks_pred, true_masks)
        # one-hot of the labelled pixels only: (N, H, W, C) -> (N, C, H, W)
        onehot = F.one_hot(true_masks * valid, n_classes).permute(0, 3, 1, 2).float()
        probs = F.softmax(masks_pred, dim=1).float() * valid.unsqueeze(1)
        dl = dice_loss(probs, onehot * valid.unsqueeze(1), multiclass=True)
        loss = loss + dl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        rec.log("logits", masks_pred)
        rec.log("loss", loss)
        rec.log("dice", dl)
        rec.log("grad.outc", model.outc.weight.grad)
        scheduler.step(1.0 - dl.item())
    rec.log("lr", optimizer.param_groups[0]['lr'])
    model.eval()
    with torch.no_grad():
        images = torch.from_numpy(rs.rand(1, 3, H, W).astype(np.float32))
        out = model(images)
        mask_pred = out.argmax(dim=1)
        rec.log("eval_logits", out)
        rec.log("eval_mask", mask_pred)
        # resize the logits back to a full-resolution mask as predict.py does
        up = F.interpolate(out, (H * 2, W * 2), mode='bilinear')
        rec.log("upsampled", up)
        rec.log("nearest", F.interpolate(out, size=(H + 3, W - 5)))
        rec.log("pix_acc", (mask_pred == torch.from_numpy(masks_np[:1])).float().mean())


def valid_unet_body(lib, rec, steps=2):
    """The 2015 paper's U-Net: unpadded convs, so the skip is center-cropped to the up path's size."""
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim

    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3), nn.ReLU(), nn.Conv2d(o, o, 3), nn.ReLU())

    def center_crop(enc, target):
        _, _, h, w = target.shape
        dh = (enc.size(2) - h) // 2
        dw = (enc.size(3) - w) // 2
        return enc[:, :, dh:dh + h, dw:dw + w]

    class PaperUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1 = block(1, 4)
            self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
            self.enc2 = block(4, 8)
            self.upconv = nn.ConvTranspose2d(8, 4, kernel_size=2, stride=2)
            self.dec1 = block(8, 4)
            self.head = nn.Conv2d(4, 2, kernel_size=1)

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(self.pool(e1))
            d = self.upconv(e2)
            d = torch.cat((center_crop(e1, d), d), dim=1)
            return self.head(self.dec1(d))

    model = PaperUNet()
    rec.sync("paper_unet", model)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.99)
    weight = torch.tensor([0.3, 0.7])
    rs = np.random.RandomState(4)
    for step in range(steps):
        x = torch.from_numpy(rs.randn(2, 1, 36, 36).astype(np.float32))
        out = model(x)
        # the mask is cropped to the (smaller) output, as the paper's overlap-tile strategy does
        y = torch.from_numpy(rs.randint(0, 2, (2, 36, 36)))
        y = center_crop(y.unsqueeze(1), out).squeeze(1)
        loss = F.cross_entropy(out, y, weight=weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.log("out", out)
        rec.log("loss", loss)
        rec.log("grad.enc1", model.enc1[0].weight.grad)


def test_unet_bilinear_matches_pytorch():
    run_both(unet_body, tol={"grad": (1e-5, 1e-3)})


def test_unet_transposed_conv_matches_pytorch():
    run_both(unet_body, bilinear=False, size=(16, 17), tol={"grad": (1e-5, 1e-3)})


def test_paper_unet_center_crop_matches_pytorch():
    run_both(valid_unet_body, tol={"grad": (1e-5, 1e-3)})


if __name__ == "__main__":
    test_unet_bilinear_matches_pytorch()
    test_unet_transposed_conv_matches_pytorch()
    test_paper_unet_center_crop_matches_pytorch()
    print("ok")
