"""Convolutions of integer tensors, as PyTorch's CPU computes them: exact integer arithmetic that wraps
around like the dtype (int64 for everything, int32/int16/int8/uint8 for plain convolutions), and PyTorch's
refusals (bool always; the narrow integers in dilated and transposed convolutions, whose slow kernels
PyTorch only builds for int64). An empty input passes for every dtype, as in PyTorch (no kernel runs).

Nothing here is a new kernel: the float64 convolution kernels (conv.py's _fwd_impl, which also do every
argument and shape check) are exact for integer operands as long as every partial sum stays below 2^53.
When the operands' magnitudes bound the sums below that, one float64 convolution is the answer. Otherwise
the operands are split into unsigned limbs of `b` bits (x = sum_i x_i 2^(b i) modulo 2^64, two's
complement), each limb-pair convolution is exact in float64, and the result modulo 2^64 is
sum_{i+j < 64/b} conv(x_i, w_j) 2^(b (i+j)), accumulated in int64 with wraparound. Casting to the narrow
dtype then wraps as PyTorch's narrow accumulators do (the ring homomorphism Z/2^64 -> Z/2^k).
These inputs are rare, so simplicity beats speed here.
"""
from .._tensor import _wrap

_TORCH_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
                "bool": "Bool"}
INTEGER = frozenset(_TORCH_NAMES)
_BITS = {"int64": 64, "int32": 32, "int16": 16, "int8": 8, "uint8": 8, "bool": 8}
_EXACT = 2 ** 53  # float64 represents every integer below this exactly


def _refusal(p, dtype):
    """The name of PyTorch's CPU kernel that refuses dtype for this convolution, or None."""
    dilated = any(d != 1 for d in p.dilation)
    if p.transposed:
        name = "slow_conv_transpose%dd_out_cpu" % p.spatial
    elif dilated:
        name = "slow_conv_dilated<>"
    else:
        name = "slow_conv2d_cpu" if p.spatial == 2 else "compute_columns3d"
    if dtype == "bool" or (dtype != "int64" and (p.transposed or dilated)):
        return name
    return None


def _magnitude(t):
    """max |t| as a Python int (0 for an empty tensor); no int64 overflow at -2^63."""
    if t.numel() == 0:
        return 0
    return max(abs(int(t.max().item())), abs(int(t.min().item())))


def integer_conv(x, w, b, p, fwd_impl):
    """conv(x, w) + b for integer x, w, b of one dtype (b may be None); p: conv.py's _Params."""
    import flambeau
    dtype = x._impl.dtype
    f64, i64 = flambeau.float64, flambeau.int64
    # the first float64 call also checks the bias's shape (a zero bias of the same shape)
    checked = [b is None]

    def conv64(xf, wf):
        bf = None
        if not checked[0]:
            bf = flambeau.zeros(tuple(b.shape), dtype=f64, device=b.device)._impl
            checked[0] = True
        return _wrap(fwd_impl(xf._impl, wf._impl, bf, p)).to(i64)

    if x.numel() == 0:  # PyTorch runs no kernel: every dtype passes
        out = conv64(x.to(f64), w.to(f64))
    else:
        name = _refusal(p, dtype)
        if name is not None:
            raise NotImplementedError(f"\"{name}\" not implemented for '{_TORCH_NAMES[dtype]}'")
        out = _exact_conv(x.to(i64), w.to(i64), _BITS[dtype], conv64)
    if b is not None:
        out = out + b.to(i64).reshape((1, -1) + (1,) * p.spatial)
    return out.to(x.dtype)


def _exact_conv(x64, w64, result_bits, conv64):
    """conv(x64, w64) modulo 2^result_bits (as int64), from float64 convolutions that are each exact."""
    import flambeau
    f64 = flambeau.float64
    terms = max(w64.numel(), 1)  # each output sums at most one product per weight element
    if _magnitude(x64) * _magnitude(w64) * terms < _EXACT:
        return conv64(x64.to(f64), w64.to(f64))
    bits = 16 if terms < 2 ** 20 else 8  # limb products (< 2^(2 bits)) summed over `terms` stay exact
    nlimbs = -(-result_bits // bits)
    mask = (1 << bits) - 1
    xl = [((x64 >> (bits * i)) & mask).to(f64) for i in range(nlimbs)]
    wl = [((w64 >> (bits * j)) & mask).to(f64) for j in range(nlimbs)]
    out = None
    for i in range(nlimbs):
        for j in range(nlimbs - i):  # limb pairs at or above 2^result_bits vanish modulo it
            term = conv64(xl[i], wl[j])
            if i + j:
                term = term * (1 << (bits * (i + j)))  # wraps modulo 2^64, as int64 arithmetic does
            out = term if out is None else out + term
    return out
