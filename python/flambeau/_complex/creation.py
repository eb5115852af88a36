"""Complex tensors from values: full with a complex fill value, and the complex random draws."""
import math

from .. import _C
from .core import COMPLEX, REAL_OF


def full_complex_impl(shape, value, dt, device):
    """A tensor of complex dtype `dt` filled with the Python number `value` (an impl)."""
    if dt not in COMPLEX:  # PyTorch's conversion: bool takes value != 0, other types a zero imaginary part only
        from .._promote import complex_as_real, check_fits
        value = complex_as_real(value, dt)
        check_fits(value, dt, wide=True)
        return _C.full(list(shape), value, dt, device)
    value = complex(value)
    r = _C.empty(list(shape) + [2], REAL_OF[dt], device)
    _C.fill_(_C.select(r, -1, 0), value.real)
    _C.fill_(_C.select(r, -1, 1), value.imag)
    return _C.view_as_complex(r)


def random_complex(draw, shape, dt, scale):
    """A complex tensor whose real and imaginary parts come from `draw(shape + [2], real dtype)` times
    `scale` (PyTorch's randn for complex draws each part with variance 1/2: scale = sqrt(1/2))."""
    r = draw(list(shape) + [2], REAL_OF[dt])
    if scale != 1:
        r = _C.mul(r, _C.scalar_tensor(scale, REAL_OF[dt], r.device))
    return _C.view_as_complex(r)


RANDN_SCALE = math.sqrt(0.5)


def linspace_complex(start, end, steps, dt, device):
    """linspace with a complex endpoint or dtype: PyTorch's kernel is linear in each part, so it is the
    real linspace of the real parts and of the imaginary parts (in the part dtype, as PyTorch's)."""
    if dt is None or dt not in COMPLEX:
        from .._dtype import _default_dtype
        dt = "complex128" if _default_dtype[0]._name == "float64" else "complex64"
    s, e = complex(start), complex(end)
    rdt = REAL_OF[dt]
    re = _C.linspace(s.real, e.real, int(steps), rdt, device)
    im = _C.linspace(s.imag, e.imag, int(steps), rdt, device)
    r = _C.empty([int(steps), 2], rdt, device)
    _C.copy_(_C.select(r, -1, 0), re)
    _C.copy_(_C.select(r, -1, 1), im)
    return _C.view_as_complex(r)
