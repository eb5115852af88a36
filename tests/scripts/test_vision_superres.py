"""Super-resolution as in pytorch/examples/super_resolution (ESPCN: sub-pixel convolution with
PixelShuffle, orthogonal init) and SRCNN (bicubic upsampling first), low-resolution inputs made by
antialiased bicubic downsampling; PSNR; with PyTorch and with flambeau from the same weights."""
import math

import numpy as np

from vision_parity import run_both


def superres_body(lib, rec, steps=3, upscale_factor=2):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim
    init = nn.init

    class Net(nn.Module):
        def __init__(self, upscale_factor):
            super(Net, self).__init__()
            self.relu = nn.ReLU()
            self.conv1 = nn.Conv2d(1, 16, (5, 5), (1, 1), (2, 2))
            self.conv2 = nn.Conv2d(16, 16, (3, 3), (1, 1), (1, 1))
            self.conv3 = nn.Conv2d(16, 8, (3, 3), (1, 1), (1, 1))
            self.conv4 = nn.Conv2d(8, upscale_factor ** 2, (3, 3), (1, 1), (1, 1))
            self.pixel_shuffle = nn.PixelShuffle(upscale_factor)
            self._initialize_weights()

        def forward(self, x):
            x = self.relu(self.conv1(x))
            x = self.relu(self.conv2(x))
            x = self.relu(self.conv3(x))
            x = self.pixel_shuffle(self.conv4(x))
            return x

        def _initialize_weights(self):
            init.orthogonal_(self.conv1.weight, init.calculate_gain('relu'))
            init.orthogonal_(self.conv2.weight, init.calculate_gain('relu'))
            init.orthogonal_(self.conv3.weight, init.calculate_gain('relu'))
            init.orthogonal_(self.conv4.weight)

    class SRCNN(nn.Module):
        def __init__(self, num_channels=1):
            super().__init__()
            self.conv1 = nn.Conv2d(num_channels, 16, kernel_size=9, padding=9 // 2)
            self.conv2 = nn.Conv2d(16, 8, kernel_size=5, padding=5 // 2)
            self.conv3 = nn.Conv2d(8, num_channels, kernel_size=5, padding=5 // 2)
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            x = F.interpolate(x, scale_factor=upscale_factor, mode='bicubic', align_corners=False)
            x = self.relu(self.conv1(x))
            x = self.relu(self.conv2(x))
            return self.conv3(x)

    espcn = Net(upscale_factor=upscale_factor)
    rec.sync("espcn", espcn)
    srcnn = SRCNN()
    rec.sync("srcnn", srcnn)
    criterion = nn.MSELoss()
    opt_e = optim.Adam(espcn.parameters(), lr=1e-3)
    opt_s = optim.Adam([{'params': srcnn.conv1.parameters()}, {'params': srcnn.conv2.parameters()},
                        {'params': srcnn.conv3.parameters(), 'lr': 1e-4}], lr=1e-3)
    rs = np.random.RandomState(8)
    # smooth synthetic "images": sums of random sinusoids, in [0, 1]
    yy, xx = np.mgrid[0:24, 0:24] / 24.0
    for it in range(steps):
        imgs = []
        for _ in range(4):
            fx, fy, ph = rs.uniform(0.5, 3, 3)
            imgs.append(0.5 + 0.5 * np.sin(2 * np.pi * (fx * xx + fy * yy) + ph))
        target = torch.from_numpy(np.stack(imgs)[:, None].astype(np.float32))
        # low-resolution input as torchvision's Resize does it (antialiased bicubic), clamped
        lr_img = F.interpolate(target, scale_factor=1 / upscale_factor, mode='bicubic', antialias=True,
                               recompute_scale_factor=True).clamp(0, 1)
        rec.log("lr_img", lr_img)
        for model, opt, tag in ((espcn, opt_e, "espcn"), (srcnn, opt_s, "srcnn")):
            opt.zero_grad()
            out = model(lr_img)
            loss = criterion(out, target)
            loss.backward()
            opt.step()
            rec.log(tag + ".loss", loss)
            rec.log(tag + ".out", out)
    espcn.eval()
    with torch.no_grad():
        out = espcn(lr_img).clamp(0.0, 1.0)
        mse = criterion(out, target)
        psnr = 10 * math.log10(1 / mse.item())
        rec.log("psnr", psnr)
        # a bicubic baseline, and the bilinear and nearest ones
        for mode in ("bicubic", "bilinear", "nearest"):
            kw = {} if mode == "nearest" else {"align_corners": False}
            up = F.interpolate(lr_img, size=target.shape[-2:], mode=mode, **kw)
            rec.log("baseline." + mode, 10 * torch.log10(1 / F.mse_loss(up, target)))
        # the uint8 image a script would write out
        out_img = (out[0, 0] * 255.0).clamp(0, 255).round().to(torch.uint8)
        rec.log("out_img", out_img.float())  # (a rounding tie may flip one level)


def test_superresolution_matches_pytorch():
    run_both(superres_body, tol={"espcn.out": (5e-5, 5e-4), "srcnn.out": (5e-5, 5e-4),
                                 "out_img": (1, 0)})


if __name__ == "__main__":
    test_superresolution_matches_pytorch()
    print("ok")
