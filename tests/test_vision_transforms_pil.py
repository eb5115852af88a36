"""The transforms on PIL images: PIL in, PIL out, through the same Pillow calls torchvision's PIL path
makes (checked here against those Pillow calls and hand-computed values; torchvision itself is never
imported). Pillow is optional: the whole file is skipped without it, and `import flambeau` must not load it."""
import os
import subprocess
import sys

import numpy as np
import pytest

import flambeau
import flambeau.transforms as T
import flambeau.transforms.functional as TF

PIL = pytest.importorskip("PIL")
from PIL import Image, ImageEnhance, ImageOps  # noqa: E402


def _img(h, w, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    if mode == "L":
        return Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8))
    c = {"RGB": 3, "RGBA": 4}[mode]
    return Image.fromarray(rng.integers(0, 256, (h, w, c), dtype=np.uint8))


def same(a, b):
    assert isinstance(a, Image.Image) and isinstance(b, Image.Image)
    assert a.mode == b.mode and a.size == b.size
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_import_flambeau_does_not_load_pil():
    code = ("import sys, numpy as np, flambeau, flambeau.vision, flambeau.transforms as T\n"
            "T.Compose([T.ToTensor(), T.Resize(4), T.RandomHorizontalFlip(), T.ColorJitter(0.2)])"
            "(np.zeros((9, 9, 3), np.uint8))\n"
            "assert 'PIL' not in sys.modules, sorted(m for m in sys.modules if m.startswith('PIL'))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_to_tensor_and_pil_to_tensor(mode):
    im = _img(7, 11, mode)
    arr = np.asarray(im)
    chw = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    t = T.ToTensor()(im)
    assert t.dtype == flambeau.float32 and tuple(t.shape) == chw.shape
    assert np.array_equal(t.numpy(), chw.astype(np.float32) / np.float32(255))
    u = T.PILToTensor()(im)
    assert u.dtype == flambeau.uint8 and np.array_equal(u.numpy(), chw)


def test_to_tensor_wide_modes():
    base = _img(5, 6, "L")
    i32 = base.convert("I")
    assert T.ToTensor()(i32).dtype == flambeau.int32
    assert np.array_equal(T.ToTensor()(i32).numpy()[0], np.asarray(base).astype(np.int32))
    f = base.convert("F")
    assert T.ToTensor()(f).dtype == flambeau.float32
    assert np.array_equal(T.ToTensor()(f).numpy()[0], np.asarray(base).astype(np.float32))
    one = base.point(lambda v: 255 if v > 128 else 0).convert("1")
    expect = (np.asarray(base) > 128).astype(np.float32)
    assert np.array_equal(T.ToTensor()(one).numpy()[0], expect)  # mode '1' reads as 0/255, then / 255


def test_to_pil_image():
    rng = np.random.default_rng(3)
    f = rng.random((3, 4, 5)).astype(np.float32)
    im = T.ToPILImage()(flambeau.from_numpy(f))
    assert im.mode == "RGB" and im.size == (5, 4)
    assert np.array_equal(np.asarray(im), (f.transpose(1, 2, 0) * 255).astype(np.uint8))  # truncated
    for c, mode in [(1, "L"), (2, "LA"), (3, "RGB"), (4, "RGBA")]:
        u = rng.integers(0, 256, (c, 4, 5), dtype=np.uint8)
        im = TF.to_pil_image(flambeau.from_numpy(u))
        assert im.mode == mode
        back = np.asarray(im)
        assert np.array_equal(back.transpose(2, 0, 1) if back.ndim == 3 else back[None], u)
        assert np.array_equal(TF.pil_to_tensor(im).numpy(), u)
    hsv = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    im = TF.to_pil_image(hsv, mode="HSV")  # the bytes read as HSV, not converted
    assert im.mode == "HSV" and np.array_equal(np.asarray(im), hsv)
    assert TF.to_pil_image(np.ones((4, 5), np.float32) * 0.5, mode="F").getpixel((0, 0)) == 0.5
    with pytest.raises(ValueError, match="> 4 channels"):
        TF.to_pil_image(np.zeros((4, 5, 6), np.uint8))
    with pytest.raises(ValueError, match="Only modes"):
        TF.to_pil_image(np.zeros((4, 5, 3), np.uint8), mode="RGBA")
    with pytest.raises(TypeError, match="Tensor or ndarray"):
        TF.to_pil_image([1, 2, 3])


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_geometry_is_pillow(mode):
    im = _img(23, 31, mode)
    out = T.Resize((17, 40))(im)
    same(out, im.resize((40, 17), Image.BILINEAR))
    same(T.Resize(10, interpolation=T.InterpolationMode.LANCZOS)(im), im.resize((13, 10), Image.LANCZOS))
    same(T.Resize(10, interpolation=T.InterpolationMode.BICUBIC)(im), im.resize((13, 10), Image.BICUBIC))
    assert T.Resize(23)(im) is im  # already that size
    same(T.CenterCrop(11)(im), im.crop((10, 6, 21, 17)))
    same(T.CenterCrop((25, 31))(im), ImageOps.expand(im, border=(0, 1, 0, 1), fill=0))  # padded, as torchvision
    same(TF.crop(im, 3, 4, 10, 12), im.crop((4, 3, 16, 13)))
    same(T.RandomHorizontalFlip(p=1.0)(im), im.transpose(Image.FLIP_LEFT_RIGHT))
    same(T.RandomVerticalFlip(p=1.0)(im), im.transpose(Image.FLIP_TOP_BOTTOM))
    fill = (7, 7, 7) if mode == "RGB" else 7
    same(T.Pad((2, 3, 1, 4), fill=7)(im), ImageOps.expand(im, border=(2, 3, 1, 4), fill=fill))
    arr = np.asarray(im)
    widths = [(3, 4), (2, 1)] + [(0, 0)] * (arr.ndim - 2)
    for pm in ["edge", "reflect", "symmetric"]:
        same(T.Pad((2, 3, 1, 4), padding_mode=pm)(im), Image.fromarray(np.pad(arr, widths, mode=pm)))
    five = T.FiveCrop(7)(im)
    same(five[1], im.crop((24, 0, 31, 7)))
    assert all(isinstance(c, Image.Image) for c in T.TenCrop(7)(im))


def test_random_crops_follow_get_params():
    im = _img(20, 26)
    flambeau.manual_seed(5)
    i, j, h, w = T.RandomCrop.get_params(ImageOps.expand(im, border=4), (16, 16))
    flambeau.manual_seed(5)
    same(T.RandomCrop(16, padding=4)(im), ImageOps.expand(im, border=4).crop((j, i, j + w, i + h)))
    rrc = T.RandomResizedCrop(9)
    flambeau.manual_seed(6)
    i, j, h, w = T.RandomResizedCrop.get_params(im, rrc.scale, rrc.ratio)
    flambeau.manual_seed(6)
    same(rrc(im), im.crop((j, i, j + w, i + h)).resize((9, 9), Image.BILINEAR))


def test_rotation_and_affine_are_pillow():
    im = _img(15, 18)
    same(TF.rotate(im, 30.0, expand=True, fill=5), im.rotate(30.0, Image.NEAREST, True, None, fillcolor=(5, 5, 5)))
    same(TF.rotate(im, -90, T.InterpolationMode.BILINEAR, center=[3, 4]),
         im.rotate(-90, Image.BILINEAR, False, [3, 4], fillcolor=(0, 0, 0)))
    flambeau.manual_seed(2)
    angle = T.RandomRotation.get_params([-20.0, 20.0])
    flambeau.manual_seed(2)
    same(T.RandomRotation(20)(im), im.rotate(angle, Image.NEAREST, False, None, fillcolor=(0, 0, 0)))
    # pure translation: Pillow's AFFINE matrix maps output (x, y) to input (x - tx, y - ty)
    out = TF.affine(im, 0.0, [3, -2], 1.0, [0.0, 0.0])
    same(out, im.transform(im.size, Image.AFFINE, (1, 0, -3, 0, 1, 2), Image.NEAREST, fillcolor=(0, 0, 0)))
    shifted = np.zeros_like(np.asarray(im))
    shifted[:13, 3:] = np.asarray(im)[2:, :15]
    assert np.array_equal(np.asarray(out), shifted)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_colour_is_pillow(mode):
    im = _img(12, 13, mode)
    same(TF.adjust_brightness(im, 1.3), ImageEnhance.Brightness(im).enhance(1.3))
    same(TF.adjust_contrast(im, 0.4), ImageEnhance.Contrast(im).enhance(0.4))
    same(TF.adjust_saturation(im, 1.7), ImageEnhance.Color(im).enhance(1.7))
    same(TF.adjust_sharpness(im, 2.0), ImageEnhance.Sharpness(im).enhance(2.0))
    same(TF.invert(im), ImageOps.invert(im))
    same(TF.posterize(im, 3), ImageOps.posterize(im, 3))
    same(TF.solarize(im, 100), ImageOps.solarize(im, 100))
    same(TF.autocontrast(im), ImageOps.autocontrast(im))
    same(TF.equalize(im), ImageOps.equalize(im))
    g = T.Grayscale()(im)
    same(g, im.convert("L"))
    g3 = T.Grayscale(3)(im)
    assert g3.mode == "RGB" and np.array_equal(np.asarray(g3), np.repeat(np.asarray(g)[:, :, None], 3, 2))
    if mode == "RGB":
        # hue: the H band of the HSV image shifted by int(0.1 * 255) = 25, wrapping around
        h, s, v = im.convert("HSV").split()
        h2 = Image.fromarray((np.asarray(h).astype(np.int64) + 25).astype(np.uint8))
        same(TF.adjust_hue(im, 0.1), Image.merge("HSV", (h2, s, v)).convert("RGB"))
        gamma = [int((255 + 1 - 1e-3) * pow(e / 255.0, 0.5)) for e in range(256)] * 3
        same(TF.adjust_gamma(im, 0.5), im.point(gamma))
    else:
        assert TF.adjust_hue(im, 0.3) is im


def test_color_jitter_on_pil_is_the_enhancers_in_drawn_order():
    im = _img(10, 12)
    jitter = T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4)
    flambeau.manual_seed(11)
    order, b, c, s, _ = T.ColorJitter.get_params(jitter.brightness, jitter.contrast, jitter.saturation, None)
    expect = im
    for k in order.tolist():
        if k == 0:
            expect = ImageEnhance.Brightness(expect).enhance(b)
        elif k == 1:
            expect = ImageEnhance.Contrast(expect).enhance(c)
        elif k == 2:
            expect = ImageEnhance.Color(expect).enhance(s)
    flambeau.manual_seed(11)
    same(jitter(im), expect)


def test_gaussian_blur_on_pil_matches_the_array_path():
    im = _img(14, 9)
    out = TF.gaussian_blur(im, [5, 3], [1.2, 0.7])
    assert isinstance(out, Image.Image) and out.mode == "RGB"
    assert np.array_equal(np.asarray(out), TF.gaussian_blur(np.asarray(im), [5, 3], [1.2, 0.7]))


def test_tensor_only_transforms_refuse_pil():
    im = _img(6, 6)
    with pytest.raises(TypeError, match="tensor"):
        T.Normalize([0.5] * 3, [0.5] * 3)(im)
    with pytest.raises(NotImplementedError, match="needs a PIL image"):
        T.Resize(3, interpolation=T.InterpolationMode.LANCZOS)(flambeau.zeros(3, 6, 6))
    with pytest.raises(ValueError, match="fill"):
        TF.rotate(im, 10.0, fill=[1, 2])


def test_dataset_with_a_pil_loader(tmp_path):
    """An ImageFolder whose loader gives PIL images, through a typical training pipeline and a DataLoader."""
    from flambeau.vision import datasets
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        os.makedirs(tmp_path / cls)
        for k in range(3):
            Image.fromarray(rng.integers(0, 256, (20 + k, 24, 3), dtype=np.uint8)).save(tmp_path / cls / f"{k}.png")

    def loader(path):
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")

    tf = T.Compose([T.RandomResizedCrop(16), T.RandomHorizontalFlip(), T.ColorJitter(0.2, 0.2, 0.2),
                    T.ToTensor(), T.Normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])])
    ds = datasets.ImageFolder(str(tmp_path), transform=tf, loader=loader)
    x, y = ds[4]
    assert tuple(x.shape) == (3, 16, 16) and y == 1
    batches = list(flambeau.utils.data.DataLoader(ds, batch_size=4))
    assert tuple(batches[0][0].shape) == (4, 3, 16, 16) and batches[1][1].tolist() == [1, 1]
    # without a transform the item is the PIL image itself
    raw, _ = datasets.ImageFolder(str(tmp_path), loader=loader)[0]
    assert isinstance(raw, Image.Image) and raw.size == (24, 20)


def test_v2_to_image_takes_pil():
    from flambeau.transforms import v2
    im = _img(5, 7)
    t = v2.Compose([v2.ToImage(), v2.ToDtype(flambeau.float32, scale=True)])(im)
    assert tuple(t.shape) == (3, 5, 7)
    assert np.allclose(t.numpy(), np.asarray(im).transpose(2, 0, 1) / 255.0, atol=1e-7)
    assert isinstance(v2.RandAugment()(im), Image.Image)


FINETUNE_SCRIPT = '''
import sys
import torch
import torchvision
from torchvision import datasets, io, models, transforms
from PIL import Image

def pil_loader(path):
    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")

train_tf = transforms.Compose([transforms.RandomResizedCrop(40), transforms.RandomHorizontalFlip(),
                               transforms.TrivialAugmentWide(), transforms.ToTensor(),
                               transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
data = datasets.ImageFolder(sys.argv[1], train_tf, loader=pil_loader)
loader = torch.utils.data.DataLoader(data, batch_size=4, shuffle=True)
model = models.squeezenet1_1(weights=None)
model.classifier[1] = torch.nn.Conv2d(512, len(data.classes), kernel_size=1)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
for images, labels in loader:
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    opt.step()
img = io.read_image(data.samples[0][0], io.ImageReadMode.RGB)
print(type(img).__module__.split(".")[0], tuple(img.shape), img.dtype, len(data), torch.isfinite(loss).item())
'''


def test_run_executes_a_fine_tuning_script_with_pil_images(tmp_path):
    rng = np.random.default_rng(2)
    for cls in ("ants", "bees"):
        os.makedirs(tmp_path / "train" / cls)
        for k in range(4):
            img = Image.fromarray(rng.integers(0, 256, (48, 52, 3), dtype=np.uint8))
            img.save(tmp_path / "train" / cls / f"{k}.png")
    (tmp_path / "finetune.py").write_text(FINETUNE_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-m", "flambeau.run", "finetune.py", str(tmp_path / "train")],
                       cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["flambeau", "(3,", "48,", "52)", "flambeau.uint8", "8", "True"]


def test_pil_image_backend_makes_the_datasets_give_pil_images(tmp_path):
    import pickle

    import flambeau.vision as vision
    from flambeau.datasets import write_idx
    from flambeau.vision import datasets
    rng = np.random.default_rng(4)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    digits = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    write_idx(str(raw / "train-images-idx3-ubyte"), digits)
    write_idx(str(raw / "train-labels-idx1-ubyte"), np.array([1, 2, 3], np.uint8))
    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    pixels = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(cifar / name, "wb") as f:
            pickle.dump({"data": pixels, "labels": [0, 1]}, f, protocol=2)
    with open(cifar / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, f, protocol=2)
    (tmp_path / "folder" / "a").mkdir(parents=True)
    Image.fromarray(digits[0]).save(tmp_path / "folder" / "a" / "x.png")
    assert vision.get_image_backend() == "numpy"
    assert isinstance(datasets.MNIST(str(tmp_path))[0][0], np.ndarray)
    vision.set_image_backend("PIL")
    try:
        img, label = datasets.MNIST(str(tmp_path))[1]
        assert isinstance(img, Image.Image) and img.mode == "L" and np.array_equal(np.asarray(img), digits[1])
        img, _ = datasets.CIFAR10(str(tmp_path))[1]
        assert img.mode == "RGB" and np.array_equal(np.asarray(img), pixels[1].reshape(3, 32, 32).transpose(1, 2, 0))
        img, _ = datasets.ImageFolder(str(tmp_path / "folder"))[0]
        assert img.mode == "RGB" and np.array_equal(np.asarray(img)[:, :, 2], digits[0])
        img, _ = datasets.FakeData(2, (3, 8, 6))[0]
        assert isinstance(img, Image.Image) and img.size == (6, 8)
        x, _ = datasets.MNIST(str(tmp_path), transform=T.Compose([T.RandomRotation(10), T.ToTensor()]))[0]
        assert tuple(x.shape) == (1, 28, 28)
    finally:
        vision.set_image_backend("numpy")
    with pytest.raises(ValueError, match="numpy' or 'PIL"):
        vision.set_image_backend("accimage")
