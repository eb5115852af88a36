"""__repr__ / __str__ like PyTorch's: the same text with `torch.` replaced by `flambeau.` (precision 4,
fixed or scientific notation chosen as PyTorch does, summarisation with `...` over 1000 elements,
size=/dtype=/requires_grad=/grad_fn=/device= suffixes)."""
import re

import numpy as np
import pytest
import torch

import flambeau

# Expressions over a library `m`; each is evaluated with m=torch and m=flambeau.
CASES = [
    "m.tensor([1., 2., 3.])",
    "m.tensor([1.5, -2.25, 3.125])",
    "m.tensor([0.1, 0.2, 0.3333333])",
    "m.tensor(3.)",
    "m.tensor(-0.5, dtype=m.float64)",
    "m.tensor(3)",
    "m.tensor(True)",
    "m.tensor([True, False])",
    "m.tensor([[1, 2], [3, 4]])",
    "m.tensor([-1, 100000])",
    "m.tensor([1., 2.], dtype=m.float64)",
    "m.tensor([1.0, 2.0, 3.0], dtype=m.float64) * 1e-3",
    "m.tensor([1, 2], dtype=m.int64)",
    "m.tensor([[1.]])",
    "m.zeros(0, 3)",
    "m.zeros(0)",
    "m.zeros(0, dtype=m.int64)",
    "m.zeros(2, 0, dtype=m.float64)",
    "m.tensor([1e-5, 1e5])",
    "m.tensor([1e10, 1.])",
    "m.tensor([123456.789, 0.5])",
    "m.tensor([float('nan'), float('inf'), -float('inf'), 1.])",
    "m.arange(24.).reshape(2, 3, 4)",
    "m.arange(24.).reshape(2, 3, 4).permute(2, 0, 1)",
    "m.arange(12).reshape(3, 4)[:, ::2]",
    "m.arange(2000.)",
    "m.arange(2000)",
    "m.arange(3000.).reshape(100, 30)",
    "m.ones(2, 3, dtype=m.bool)",
    "m.tensor([1., 2.], requires_grad=True)",
    "m.tensor([[0.25, -1.0], [3.5, 1e-3]], dtype=m.float64, requires_grad=True)",
]


_SUFFIX = re.compile(r",\s+(size|dtype|device|requires_grad|grad_fn)=")


def _split(text):
    """(body, suffix): the values part verbatim, the `, dtype=...` suffixes with whitespace collapsed.
    (`flambeau.` is 3 characters longer than `torch.`, so PyTorch's rule that moves the suffixes to a new
    line past 80 columns may fire in one and not the other.)"""
    m = _SUFFIX.search(text)
    if not m:
        return text, ""
    return text[:m.start()], re.sub(r"\s+", " ", text[m.start():])


@pytest.mark.parametrize("expr", CASES)
def test_repr_matches_torch(expr):
    expected = repr(eval(expr, {"m": torch})).replace("torch.", "flambeau.")
    got = repr(eval(expr, {"m": flambeau}))
    assert _split(got) == _split(expected), f"\n{got}\n!=\n{expected}"


@pytest.mark.parametrize("expr", CASES[:8])
def test_str_equals_repr(expr):
    x = eval(expr, {"m": flambeau})
    assert str(x) == repr(x)


def test_repr_grad_fn():
    t = torch.tensor([1.0, 2.0], requires_grad=True) * 2
    f = flambeau.tensor([1.0, 2.0], requires_grad=True) * 2
    prefix = repr(t).split(", grad_fn=")[0]
    r = repr(f)
    assert r.startswith(prefix + ", grad_fn=<") and r.endswith(">)"), r


def test_repr_of_random_values_matches_torch(rng):
    for shape in [(5,), (3, 4), (2, 2, 3)]:
        a = rng.standard_normal(shape).astype(np.float32)
        assert repr(flambeau.tensor(a)) == repr(torch.tensor(a))
        b = (rng.standard_normal(shape) * 1e4).astype(np.float64)
        assert _split(repr(flambeau.tensor(b))) == _split(repr(torch.tensor(b)).replace("torch.", "flambeau."))


def test_repr_on_device(device):
    f = flambeau.tensor([1.0, 2.0], device=device)
    if device == "cpu":
        assert repr(f) == "tensor([1., 2.])"
    else:
        assert repr(f) == "tensor([1., 2.], device='cuda:0')"
        assert repr(flambeau.tensor([1, 2], device=device)) == "tensor([1, 2], device='cuda:0')"


def test_dtype_and_device_repr():
    assert repr(flambeau.float32) == "flambeau.float32"
    assert repr(flambeau.int64) == "flambeau.int64"
    assert repr(flambeau.device("cpu")) == repr(torch.device("cpu")) == "device(type='cpu')"
    assert repr(flambeau.device("cuda:0")) == repr(torch.device("cuda:0"))
    assert repr(flambeau.zeros(2, 3).shape) in ("torch.Size([2, 3])".replace("torch.", "flambeau."), "(2, 3)")
