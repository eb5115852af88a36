"""torchvision's DatasetFolder and ImageFolder: root/<class>/**/<file>, classes sorted by folder name.

`.classes`, `.class_to_idx`, `.samples` ((path, class_index) pairs, sorted), `.targets`, `.imgs` as
torchvision. The default loader gives a numpy uint8 (H, W, 3) RGB array (torchvision: a PIL RGB image):
with PIL installed it reads every format PIL does; without PIL it reads .npy files (np.load, no pickles)
and binary or ASCII PPM/PGM (P6/P5/P3/P2) itself, and says so for anything else.
"""
import os

import numpy as np

from .. import _backend
from .vision import VisionDataset

__all__ = ["DatasetFolder", "ImageFolder", "IMG_EXTENSIONS", "default_loader", "find_classes",
           "has_file_allowed_extension", "is_image_file", "make_dataset"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def has_file_allowed_extension(filename, extensions):
    return filename.lower().endswith(extensions if isinstance(extensions, str) else tuple(extensions))


def is_image_file(filename):
    return has_file_allowed_extension(filename, IMG_EXTENSIONS)


def find_classes(directory):
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
    return classes, {name: i for i, name in enumerate(classes)}


def make_dataset(directory, class_to_idx=None, extensions=None, is_valid_file=None, allow_empty=False):
    """(path, class_index) for every valid file under directory/<class>/, classes and files sorted."""
    directory = os.path.expanduser(os.fspath(directory))
    if class_to_idx is None:
        _, class_to_idx = find_classes(directory)
    elif not class_to_idx:
        raise ValueError("'class_to_index' must have at least one entry to collect any samples.")
    if (extensions is None) == (is_valid_file is None):
        raise ValueError("Both extensions and is_valid_file cannot be None or not None at the same time")
    if extensions is not None:
        def is_valid_file(x):
            return has_file_allowed_extension(x, extensions)
    instances, found = [], set()
    for target_class in sorted(class_to_idx):
        target_dir = os.path.join(directory, target_class)
        if not os.path.isdir(target_dir):
            continue
        for root, _, fnames in sorted(os.walk(target_dir, followlinks=True)):
            for fname in sorted(fnames):
                path = os.path.join(root, fname)
                if is_valid_file(path):
                    instances.append((path, class_to_idx[target_class]))
                    found.add(target_class)
    empty = set(class_to_idx) - found
    if empty and not allow_empty:
        msg = f"Found no valid file for the classes {', '.join(sorted(empty))}. "
        if extensions is not None:
            msg += ("Supported extensions are: "
                    f"{extensions if isinstance(extensions, str) else ', '.join(extensions)}")
        raise FileNotFoundError(msg)
    return instances


def _read_pnm(path):
    """A PGM/PPM image (P2, P3, P5, P6; maxval up to 65535) as a numpy array (H, W) or (H, W, 3)."""
    with open(path, "rb") as f:
        raw = f.read()
    magic = raw[:2]
    if magic not in (b"P2", b"P3", b"P5", b"P6"):
        raise ValueError(f"{path}: not a PGM/PPM file (magic {magic!r})")
    # header: magic, width, height, maxval, separated by whitespace and '#' comments
    fields, pos = [], 2
    while len(fields) < 3:
        while pos < len(raw) and raw[pos:pos + 1].isspace():
            pos += 1
        if raw[pos:pos + 1] == b"#":
            pos = raw.index(b"\n", pos) + 1
            continue
        start = pos
        while pos < len(raw) and not raw[pos:pos + 1].isspace():
            pos += 1
        fields.append(int(raw[start:pos]))
    width, height, maxval = fields
    channels = 3 if magic in (b"P3", b"P6") else 1
    count = width * height * channels
    if magic in (b"P5", b"P6"):
        dtype = np.dtype(np.uint8) if maxval < 256 else np.dtype(">u2")
        data = np.frombuffer(raw, dtype=dtype, count=count, offset=pos + 1)
    else:
        data = np.array(raw[pos:].split()[:count], dtype=np.int64)
        if data.size != count:
            raise ValueError(f"{path}: truncated PGM/PPM data")
    data = data.astype(np.uint8 if maxval < 256 else np.uint16)
    return data.reshape((height, width, 3) if channels == 3 else (height, width))


def _to_rgb(arr):
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] == 1:
        return np.repeat(arr, 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return np.ascontiguousarray(arr[:, :, :3])
    return arr


def numpy_loader(path):
    """.npy / PGM / PPM files read without PIL (grayscale made RGB, as PIL's convert('RGB'))."""
    path = os.fspath(path)
    if path.lower().endswith(".npy"):
        return _to_rgb(np.load(path, allow_pickle=False))
    if path.lower().endswith((".ppm", ".pgm", ".pnm")):
        return _to_rgb(_read_pnm(path))
    raise RuntimeError(f"default_loader: cannot read {path} without PIL (install pillow); without it "
                       ".npy, .ppm and .pgm files are read")


def pil_loader(path):
    from PIL import Image
    with open(path, "rb") as f:
        return np.asarray(Image.open(f).convert("RGB")).copy()


def default_loader(path):
    """A numpy uint8 (H, W, 3) RGB image: PIL reads it when installed, else numpy_loader. With
    set_image_backend('PIL'), the PIL RGB image (torchvision's default_loader)."""
    if os.fspath(path).lower().endswith(".npy"):
        return _backend.image(numpy_loader(path))
    if _backend.get_backend() == "PIL":
        from PIL import Image
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")
    try:
        import PIL  # noqa: F401
    except ImportError:
        return numpy_loader(path)
    return pil_loader(path)


class DatasetFolder(VisionDataset):
    """DatasetFolder(root, loader, extensions=None, transform=None, target_transform=None,
    is_valid_file=None, allow_empty=False)."""

    def __init__(self, root, loader, extensions=None, transform=None, target_transform=None,
                 is_valid_file=None, allow_empty=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        classes, class_to_idx = self.find_classes(self.root)
        samples = self.make_dataset(self.root, class_to_idx=class_to_idx, extensions=extensions,
                                    is_valid_file=is_valid_file, allow_empty=allow_empty)
        self.loader = loader
        self.extensions = extensions
        self.classes = classes
        self.class_to_idx = class_to_idx
        self.samples = samples
        self.targets = [s[1] for s in samples]

    @staticmethod
    def make_dataset(directory, class_to_idx, extensions=None, is_valid_file=None, allow_empty=False):
        if class_to_idx is None:
            raise ValueError("The class_to_idx parameter cannot be None.")
        return make_dataset(directory, class_to_idx, extensions=extensions, is_valid_file=is_valid_file,
                            allow_empty=allow_empty)

    def find_classes(self, directory):
        return find_classes(directory)

    def __getitem__(self, index):
        path, target = self.samples[index]
        sample = self.loader(path)
        return self._transformed(sample, target)

    def __len__(self):
        return len(self.samples)


class ImageFolder(DatasetFolder):
    """ImageFolder(root, transform=None, target_transform=None, loader=default_loader, is_valid_file=None,
    allow_empty=False): image files (IMG_EXTENSIONS) under root/<class>/."""

    def __init__(self, root, transform=None, target_transform=None, loader=default_loader, is_valid_file=None,
                 allow_empty=False):
        super().__init__(root, loader, IMG_EXTENSIONS if is_valid_file is None else None, transform=transform,
                         target_transform=target_transform, is_valid_file=is_valid_file,
                         allow_empty=allow_empty)
        self.imgs = self.samples
