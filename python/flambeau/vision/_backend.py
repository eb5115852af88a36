"""The image type flambeau.vision's datasets give: 'numpy' (uint8 arrays (H, W) / (H, W, C), the default,
which needs no Pillow) or 'PIL' (PIL images, as torchvision's datasets give; set_image_backend('PIL'))."""
import numpy as np

_state = {"backend": "numpy"}


def get_backend():
    return _state["backend"]


def set_backend(backend):
    if backend not in ("numpy", "PIL"):
        raise ValueError(f"set_image_backend: backend must be 'numpy' or 'PIL' (got {backend!r}); pass loader= to "
                         "ImageFolder for another image type")
    if backend == "PIL":
        try:
            import PIL.Image  # noqa: F401
        except ImportError:
            raise RuntimeError("set_image_backend('PIL') needs Pillow (pip install pillow)") from None
    _state["backend"] = backend


def image(arr):
    """A dataset's uint8 image array as the backend's image type (PIL: mode L for (H, W), RGB for (H, W, 3))."""
    if _state["backend"] != "PIL" or not isinstance(arr, np.ndarray):
        return arr
    from PIL import Image
    return Image.fromarray(np.ascontiguousarray(arr))
