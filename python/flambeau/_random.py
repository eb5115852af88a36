"""Random numbers: seeding, the global generator's state, Generator objects, rand/randn/randint/
randperm/normal/bernoulli/multinomial and the in-place uniform_/normal_/bernoulli_/random_.

`_C` has one counter-based Philox stream (seed, offset) shared by CPU and CUDA, so the same seed
gives the same numbers on both. A user Generator is just a saved (seed, offset) pair swapped into
that stream around each call: cheap, and it keeps the default stream untouched.
"""
import operator
import os

from ._functions import _numpy_names as _np
from . import _C
from ._creation import _dt, _dev, _finish, _is_meta_request, _wants_meta
from ._dtype import _BY_NAME
from ._tensor import Tensor, _wrap
from ._utils import parse_size

_MASK64 = (1 << 64) - 1


def _u64(seed):
    seed = int(seed)
    if seed < -(1 << 63) or seed > _MASK64:
        raise RuntimeError(f"Overflow when unpacking long long: seed {seed} does not fit in 64 bits")
    return seed & _MASK64


def manual_seed(seed):
    """Seeds the generator shared by all devices; returns the default generator like PyTorch."""
    _C.manual_seed(_u64(seed))
    return default_generator


def seed():
    s = int.from_bytes(os.urandom(8), "little") & ((1 << 63) - 1)
    _C.manual_seed(s)
    return s


def initial_seed():
    return _C.initial_seed()


def _state_tensor(seed_, offset):
    # int64 storage of two uint64 values (two's complement), so the state is a plain tensor.
    to_i64 = lambda v: v - (1 << 64) if v >= (1 << 63) else v  # noqa: E731
    from ._creation import tensor
    return tensor([to_i64(seed_), to_i64(offset)], dtype=_BY_NAME["int64"])


def _state_from_tensor(state):
    if not isinstance(state, Tensor) or state._impl.numel != 2:
        raise TypeError("RNG state must be the 2-element int64 tensor returned by get_rng_state()")
    a, b = state.tolist()
    return a & _MASK64, b & _MASK64


def get_rng_state():
    return _state_tensor(*_C.get_rng_state())


def set_rng_state(new_state):
    _C.set_rng_state(*_state_from_tensor(new_state))


class Generator:
    """An independent random stream: Generator().manual_seed(0) passed as generator=... ."""

    def __init__(self, device="cpu"):
        from ._dtype import device as _device
        self.device = _device(device)
        self._seed = 67280421310721  # PyTorch's default seed
        self._offset = 0

    def manual_seed(self, seed):
        self._seed = _u64(seed)
        self._offset = 0
        return self

    def seed(self):
        s = int.from_bytes(os.urandom(8), "little") & ((1 << 63) - 1)
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_state(self):
        return _state_tensor(self._seed, self._offset)

    def set_state(self, new_state):
        self._seed, self._offset = _state_from_tensor(new_state)
        return self


class _DefaultGenerator(Generator):
    """The process-wide stream, read and written through `_C`."""

    def __init__(self):
        from ._dtype import device as _device
        self.device = _device("cpu")

    def manual_seed(self, seed):
        _C.manual_seed(_u64(seed))
        return self

    def seed(self):
        return seed()

    def initial_seed(self):
        return _C.initial_seed()

    def get_state(self):
        return get_rng_state()

    def set_state(self, new_state):
        set_rng_state(new_state)
        return self


default_generator = _DefaultGenerator()


def _run(generator, fn, *args):
    """Calls fn(*args) drawing from `generator` (the default stream when None)."""
    if generator is None or isinstance(generator, _DefaultGenerator):
        return fn(*args)
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a flambeau.Generator, got {type(generator).__name__}")
    saved = _C.get_rng_state()
    _C.set_rng_state(generator._seed, generator._offset)
    try:
        return fn(*args)
    finally:
        generator._seed, generator._offset = _C.get_rng_state()
        _C.set_rng_state(*saved)


_FLOATS = ("float32", "float64", "float16", "bfloat16")


def _float_dt(dtype, op):
    dt = _dt(dtype)
    if dt not in _FLOATS:
        raise RuntimeError(f"\"{op}\" not implemented for '{_TORCH[dt]}'")
    return dt


_TORCH = {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16", "int64": "Long", "bool": "Bool",
          "int32": "Int", "int16": "Short",
          "int8": "Char", "uint8": "Byte"}


def rand(*sizes, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
         pin_memory=False, size=None):
    size = sizes if size is None else _np.size_keyword(sizes, size, "rand", "size")
    if _wants_meta(device):
        from . import _meta
        return _meta.factory("rand", parse_size(size, "rand"), dtype, None, requires_grad)
    if _dt(dtype) in ("complex64", "complex128"):  # each part uniform on [0, 1), as PyTorch
        from ._complex.creation import random_complex
        impl = random_complex(lambda s, d: _run(generator, _C.rand, s, d, _dev(device)), parse_size(size, "rand"),
                              _dt(dtype), 1)
        return _out(out, impl) or _finish(impl, requires_grad)
    impl = _run(generator, _C.rand, list(parse_size(size, "rand")), _float_dt(dtype, "check_uniform_bounds"),
                _dev(device))
    return _out(out, impl) or _finish(impl, requires_grad)


def randn(*sizes, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
          pin_memory=False, size=None):
    size = sizes if size is None else _np.size_keyword(sizes, size, "randn", "size")
    if _wants_meta(device):
        from . import _meta
        return _meta.factory("randn", parse_size(size, "randn"), dtype, None, requires_grad)
    if _dt(dtype) in ("complex64", "complex128"):  # each part with variance 1/2, as PyTorch
        from ._complex.creation import random_complex, RANDN_SCALE
        impl = random_complex(lambda s, d: _run(generator, _C.randn, s, d, _dev(device)), parse_size(size, "randn"),
                              _dt(dtype), RANDN_SCALE)
        return _out(out, impl) or _finish(impl, requires_grad)
    impl = _run(generator, _C.randn, list(parse_size(size, "randn")), _float_dt(dtype, "normal_kernel_cpu"),
                _dev(device))
    return _out(out, impl) or _finish(impl, requires_grad)


def _out(out, impl):
    if out is None:
        return None
    from ._functions._dispatch import _write_out
    return _write_out(out, _wrap(impl))


def randint(*args, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
            size=None, low=None, high=None):
    """randint(high, size) or randint(low, high, size)."""
    args = list(args)
    if size is not None:
        args.append(size)
    if high is not None:
        args.insert(0 if low is None else 1, high)
    if low is not None:
        args.insert(0, low)
    if len(args) == 2:
        lo, hi, shape = 0, args[0], args[1]
    elif len(args) == 3:
        lo, hi, shape = args
    else:
        raise TypeError("randint() expects (high, size) or (low, high, size)")
    lo, hi = int(lo), int(hi)
    if lo >= hi:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={lo} >= to={hi}")
    if _wants_meta(device):  # (the generator is not advanced, as PyTorch's meta randint)
        from . import _meta
        return _meta.factory("randint", parse_size((shape,), "randint"), dtype, "int64", requires_grad)
    impl = _run(generator, _C.randint, lo, hi, list(parse_size((shape,), "randint")), _dev(device))
    dt = _dt(dtype, "int64")
    if dt != "int64":
        impl = _C.to(impl, dt, impl.device, False)
    return _out(out, impl) or _finish(impl, requires_grad)


def randperm(n, *, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
             pin_memory=False):
    if n < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    if _wants_meta(device):
        from . import _meta
        return _meta.factory("randperm", (int(n),), dtype, "int64", requires_grad)
    impl = _run(generator, _C.randperm, int(n), _dev(device))
    dt = _dt(dtype, "int64")
    if dt != "int64":
        impl = _C.to(impl, dt, impl.device, False)
    return _out(out, impl) or _finish(impl, requires_grad)


def _laid_out_like(t, input, memory_format, requires_grad, op):
    """t (fresh, row-major) re-laid out like `input` under memory_format (preserve_format, the
    default, keeps a dense input's strides, as PyTorch's *_like do). The values are used in memory
    order, the order PyTorch fills a new tensor in."""
    from . import _memory_format as _mf
    impl = input._impl
    strides = _mf.strides_for(impl, _mf.parse(memory_format, op))
    if strides is not None:
        flat = _C.reshape(t._impl, [-1])
        t = _finish(_C.as_strided(flat, list(impl.shape), strides, 0), False)
    if requires_grad:
        t.requires_grad_(True)
    return t


def rand_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None,
              generator=None):
    impl = input._impl
    r = rand(impl.shape, dtype=dtype or _BY_NAME[impl.dtype], device=device or impl.device, generator=generator)
    return _laid_out_like(r, input, memory_format, requires_grad, "rand_like")


def randn_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None,
               generator=None):
    impl = input._impl
    r = randn(impl.shape, dtype=dtype or _BY_NAME[impl.dtype], device=device or impl.device, generator=generator)
    return _laid_out_like(r, input, memory_format, requires_grad, "randn_like")


def randint_like(input, low=0, high=None, *, dtype=None, layout=None, device=None, requires_grad=False,
                 memory_format=None, generator=None):
    if high is None:
        low, high = 0, low
    impl = input._impl
    r = randint(low, high, impl.shape, dtype=dtype or _BY_NAME[impl.dtype], device=device or impl.device,
                generator=generator)
    return _laid_out_like(r, input, memory_format, requires_grad, "randint_like")


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, layout=None, device=None,
           requires_grad=False):
    """normal(mean, std, size) for numbers, or elementwise for tensor mean and/or std."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        if isinstance(mean, Tensor) and isinstance(std, Tensor):
            from ._functions.shape import broadcast_shapes
            shape = broadcast_shapes(mean._impl.shape, std._impl.shape)
        else:
            shape = ref._impl.shape
        z = randn(shape, dtype=_BY_NAME[ref._impl.dtype] if ref._impl.dtype in _FLOATS else None,
                  device=ref.device, generator=generator)
        r = (z * std + mean).detach()
    else:
        if size is None:
            raise TypeError("normal(): with scalar mean and std, `size` is required")
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        r = randn(*parse_size((size,), "normal"), dtype=dtype, device=device, generator=generator)
        if std != 1.0:
            r = r * std
        if mean != 0.0:
            r = r + mean
    if out is not None:
        from ._functions._dispatch import _write_out
        return _write_out(out, r)
    return r.requires_grad_() if requires_grad else r


def bernoulli(input, p=None, *, generator=None, out=None):
    impl = input._impl
    if p is None:
        r = _wrap(_run(generator, _C.bernoulli, impl))
    else:
        r = _wrap(_run(generator, _C.bernoulli_scalar, list(impl.shape), float(p), impl.dtype, impl.device))
    if out is not None:
        from ._functions._dispatch import _write_out
        return _write_out(out, r)
    return r


def poisson(input, generator=None):
    from ._discrete_sampling import poisson as _poisson  # PyTorch's PTRS / multiplication samplers
    return _poisson(input, generator)


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    """Samples indices with probability proportional to `input` (1-D, or 2-D with one distribution per row).

    One _C call (csrc/cpu/multinomial.cpp): with replacement or for one draw, inverse-CDF sampling (a binary
    search of the row's running sums per draw); without replacement, the exponential race PyTorch's CPU
    kernel uses (the k largest p / q with q ~ Exp(1), distributed as drawing one at a time and removing what
    was drawn; zero-probability categories come last). Bad distributions raise PyTorch's errors, in its order."""
    if not isinstance(input, Tensor):
        raise TypeError(f"multinomial(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if type(num_samples) is not int:
        if isinstance(num_samples, (bool, float)):
            raise TypeError(f"multinomial(): argument 'num_samples' (position 2) must be int, not "
                            f"{type(num_samples).__name__}")
        num_samples = operator.index(num_samples)
    r = _wrap(_run(generator, _C.multinomial, input._impl, num_samples, bool(replacement),
                   None if out is None else out._impl.dtype))
    if out is not None:
        from ._functions._dispatch import _write_out
        return _write_out(out, r)
    return r


# ---------------------------------------------------------------- in-place (Tensor methods)
def _inplace_guard(t, op):
    from ._functions._dispatch import check_no_internal_overlap
    check_no_internal_overlap(t._impl, op)
    from .autograd.grad_mode import _state
    from .autograd.function import _is_fw_leaf
    if t._rg and t.grad_fn is None and _state.enabled and not _state.fw_gate and not _is_fw_leaf(t):
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    if t._fw is not None or t._base is not None and t._base._fw is not None:
        from .autograd import forward_ad  # new random values do not depend on the old ones: tangent 0
        forward_ad.update_tangent(t, None)


def uniform_(t, a=0.0, b=1.0, *, generator=None):
    _inplace_guard(t, "uniform_")
    impl = t._impl
    if impl.dtype in ("complex64", "complex128"):  # each part on [a, b), as PyTorch
        impl = _C.view_as_real(impl)
    _run(generator, _C.uniform_, impl, float(a), float(b))
    return t


def normal_(t, mean=0.0, std=1.0, *, generator=None):
    _inplace_guard(t, "normal_")
    impl = t._impl
    if impl.dtype in ("complex64", "complex128"):  # each part with std / sqrt(2), as PyTorch
        impl, std = _C.view_as_real(impl), float(std) / 2 ** 0.5
    _run(generator, _C.normal_, impl, float(mean), float(std))
    return t


def bernoulli_(t, p=0.5, *, generator=None):
    _inplace_guard(t, "bernoulli_")
    impl = t._impl
    if isinstance(p, Tensor):
        r = _run(generator, _C.bernoulli, _C.to(p._impl, impl.dtype if impl.dtype in _FLOATS
                                                  else "float32", impl.device, False))
        r = _C.expand(r, list(impl.shape)) if r.shape != impl.shape else r
    else:
        r = _run(generator, _C.bernoulli_scalar, list(impl.shape), float(p),
                 impl.dtype if impl.dtype in _FLOATS else "float32", impl.device)
    _C.copy_(impl, r)
    return t


def random_(t, from_=0, to=None, *, generator=None):
    """Integers uniform in [from, to) (or [0, from) with one argument), written into t."""
    _inplace_guard(t, "random_")
    if to is None:
        if from_ == 0:
            hi = {"float32": 1 << 24, "float64": 1 << 53, "int64": (1 << 63) - 1, "bool": 2, "int32": 1 << 31,
                  "int16": 1 << 15, "int8": 1 << 7, "uint8": 1 << 8}[t._impl.dtype]
            from_, to = 0, hi
        else:
            from_, to = 0, from_
    impl = t._impl
    r = _run(generator, _C.randint, int(from_), int(to), list(impl.shape), impl.device)
    _C.copy_(impl, r)
    return t


def exponential_(t, lambd=1.0, *, generator=None):
    _inplace_guard(t, "exponential_")
    from ._functions import elementwise as ew
    u = rand(t._impl.shape, dtype=t.dtype, device=t.device, generator=generator)
    r = ew.div(ew.neg(ew.log1p(ew.neg(u))), lambd)
    _C.copy_(t._impl, r._impl)
    return t


def geometric_(t, p, *, generator=None):
    _inplace_guard(t, "geometric_")
    from ._functions import elementwise as ew
    import math
    u = rand(t._impl.shape, dtype=_BY_NAME["float64"], device=t.device, generator=generator)
    r = ew.ceil(ew.div(ew.log1p(ew.neg(u)), math.log1p(-p)))
    _C.copy_(t._impl, r._impl)
    return t


def cauchy_(t, median=0.0, sigma=1.0, *, generator=None):
    _inplace_guard(t, "cauchy_")
    import math
    from ._functions import elementwise as ew
    u = rand(t._impl.shape, dtype=t.dtype, device=t.device, generator=generator)
    r = ew.add(ew.mul(ew.tan(ew.mul(ew.sub(u, 0.5), math.pi)), sigma), median)
    _C.copy_(t._impl, r._impl)
    return t


def log_normal_(t, mean=1.0, std=2.0, *, generator=None):
    _inplace_guard(t, "log_normal_")
    from ._functions import elementwise as ew
    z = randn(t._impl.shape, dtype=t.dtype, device=t.device, generator=generator)
    _C.copy_(t._impl, ew.exp(ew.add(ew.mul(z, std), mean))._impl)
    return t
