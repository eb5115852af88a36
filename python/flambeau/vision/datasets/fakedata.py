"""torchvision's FakeData: random images made on demand, the same image for the same index every time.

Item i draws its image (randn(*image_size)) and its label (randint(0, num_classes)) from flambeau's global
generator seeded with i + random_offset, and puts the generator's state back afterwards (the caller's random
stream is not disturbed). The image is then converted as torchvision's ToPILImage converts a float tensor:
x * 255 cast to uint8 (wrapping modulo 256, as the cast does), channels last; one channel gives (H, W).
It comes out as that numpy uint8 array (torchvision: the PIL image). flambeau's generator is not PyTorch's,
so the pixel values differ from torchvision's; the rules above are the same.
"""
import numpy as np

import flambeau
from .. import _backend
from .vision import VisionDataset

__all__ = ["FakeData"]


class FakeData(VisionDataset):
    """FakeData(size=1000, image_size=(3, 224, 224), num_classes=10, transform=None, target_transform=None,
    random_offset=0)."""

    def __init__(self, size=1000, image_size=(3, 224, 224), num_classes=10, transform=None,
                 target_transform=None, random_offset=0):
        super().__init__(None, transform=transform, target_transform=target_transform)
        self.size = size
        self.num_classes = num_classes
        self.image_size = image_size
        self.random_offset = random_offset

    def __getitem__(self, index):
        if index >= len(self):
            raise IndexError(f"{self.__class__.__name__} index out of range")
        state = flambeau.get_rng_state()
        try:
            flambeau.manual_seed(index + self.random_offset)
            img = flambeau.randn(*self.image_size)
            target = int(flambeau.randint(0, self.num_classes, size=(1,), dtype=flambeau.long)[0])
        finally:
            flambeau.set_rng_state(state)
        if img.dim() != 3:
            raise ValueError(f"FakeData: image_size must be (C, H, W), got {tuple(self.image_size)}")
        scaled = (img * 255).numpy()
        # float -> uint8 as PyTorch's .byte() does: truncate toward zero, keep the low 8 bits
        arr = (np.trunc(scaled).astype(np.int64) & 0xFF).astype(np.uint8).transpose(1, 2, 0)
        if arr.shape[2] == 1:
            arr = arr[:, :, 0]
        arr = np.ascontiguousarray(arr)
        return self._transformed(_backend.image(arr), target)

    def __len__(self):
        return self.size
