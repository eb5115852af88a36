"""Average pooling of integer tensors, as PyTorch's CPU computes it: int64 only (its kernels refuse every
other integer dtype and bool, even when empty), each window summed in int64 with wraparound and divided
by the window's divisor (PyTorch's rules: divisor_override, else the padded window clipped to the
ceil_mode overhang with count_include_pad, else the in-bounds count), the quotient truncated toward zero.

Nothing here is a new kernel: the float64 pooling kernel (which also does every argument and shape check)
with divisor_override=1 sums windows exactly while the sums stay below 2^53. When the magnitudes do not
bound them there, the input is split into unsigned 16-bit limbs (x = sum_i x_i 2^(16 i) modulo 2^64),
each limb's window sums are exact, and the int64 sum is recombined with wraparound. The divisors come from
pooling a tensor of ones the same way. These inputs are rare, so simplicity beats speed here.
"""
from .._tensor import _wrap

_TORCH_NAMES = {"int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool",
                "float16": "Half", "bfloat16": "BFloat16"}
INTEGER = frozenset(("int64", "int32", "int16", "int8", "uint8", "bool"))
_EXACT = 2 ** 53


def integer_avg_pool(x, args, kernel, refusal_name, spatial):
    """avg_pool of an integer x; args = (kernel_size, stride, padding, ceil_mode, count_include_pad,
    divisor_override) as the _C kernel takes them, kernel(impl, *args) that kernel."""
    import flambeau
    dtype = x._impl.dtype
    f64, i64 = flambeau.float64, flambeau.int64
    ksize, stride, padding, ceil_mode, count_include_pad, divisor_override = args
    if dtype != "int64":
        refuse(x, args, kernel, refusal_name)

    def window_sums(t):  # exact for t's magnitudes times the window size below 2^53
        return _wrap(kernel(t.to(f64)._impl, ksize, stride, padding, ceil_mode, count_include_pad, 1)).to(i64)

    window = 1
    for k in (ksize * spatial if len(ksize) == 1 else ksize):
        window *= k
    big = x.numel() and max(abs(int(x.max().item())), abs(int(x.min().item())))
    if big * window < _EXACT:
        total = window_sums(x)
    else:
        total = None
        for i in range(4):
            term = window_sums((x >> (16 * i)) & 0xFFFF)
            if i:
                term = term * (1 << (16 * i))  # wraps modulo 2^64, as int64 arithmetic does
            total = term if total is None else total + term
    if divisor_override is not None:
        return _trunc_div(total, divisor_override)
    # divisors depend on the position only: pool ones shaped like one plane (batch and channels 1)
    ones = flambeau.ones((1,) * (x.dim() - spatial) + tuple(x.shape[-spatial:]), dtype=f64, device=x.device)
    count = _wrap(kernel(ones._impl, ksize, stride, padding, ceil_mode, False, 1))   # in-bounds elements
    if count_include_pad:
        ratio = _wrap(kernel(ones._impl, ksize, stride, padding, ceil_mode, True, None))  # count / pool size
        divisor = flambeau.where(count > 0, count / flambeau.where(ratio > 0, ratio, 1.0), 1.0).round()
    else:
        divisor = flambeau.where(count > 0, count, 1.0)
    return _trunc_div(total, divisor.to(i64))


def _trunc_div(a, b):
    """a / b rounded toward zero, exactly in int64 (C's integer division, as PyTorch's kernel divides):
    a - fmod(a, b) is a multiple of b (and cannot overflow), so the floor division of it is exact."""
    import flambeau
    return (a - flambeau.fmod(a, b)) // b


def refuse(x, args, kernel, refusal_name):
    """PyTorch's refusal of x's dtype by its pooling kernel `refusal_name`, after the shape checks (the
    float64 kernel run on zeros of x's shape): the integers but int64, bool, and for avg_pool3d's CPU
    kernel float16/bfloat16 too."""
    import flambeau
    kernel(flambeau.zeros(tuple(x.shape), dtype=flambeau.float64, device=x.device)._impl, *args)
    raise NotImplementedError(f"\"{refusal_name}\" not implemented for '{_TORCH_NAMES[x._impl.dtype]}'")



def integer_max_pool(x, ksize, stride, padding, dilation, ceil_mode, return_indices, kernel, spatial):
    """Max pooling of an integer x, exact for every value (int64 included): PyTorch pools the integer
    dtypes but bool. The float64 kernel, run on zeros of one plane, does the argument and shape checks and
    gives the output size; each window's elements are then gathered by index (padding and the ceil_mode
    overhang masked by the dtype's minimum) and the first maximum in window order taken, as PyTorch's
    kernel scans. kernel(impl, k, s, p, d, ceil_mode, with_indices) is the float kernel."""
    import numpy as np
    import flambeau
    shape = tuple(x.shape)
    lead, sizes = shape[:-spatial], shape[-spatial:]
    # one plane (or none, where a batch or channel dim is empty: the kernel judges those too)
    plane = flambeau.zeros(tuple(min(n, 1) for n in lead) + sizes, dtype=flambeau.float64, device=x.device)
    out_sizes = tuple(_wrap(kernel(plane._impl, ksize, stride, padding, dilation, ceil_mode, False)[0]).shape)
    out_sizes = out_sizes[-spatial:]
    if x._impl.dtype == "bool":  # (after the shape checks, as PyTorch)
        raise NotImplementedError(f"\"max_pool{spatial}d\" not implemented for 'Bool'")

    def per_dim(v):
        return list(v) * spatial if len(v) == 1 else list(v)
    ks, ss, ps, ds = per_dim(ksize), per_dim(stride if stride else ksize), per_dim(padding), per_dim(dilation)
    # per dim: the input position of window element j of output o, and whether it is inside the input
    pos = [np.arange(o)[:, None] * s - p + np.arange(k)[None, :] * d
           for o, s, p, k, d in zip(out_sizes, ss, ps, ks, ds)]
    inside = [(q >= 0) & (q < n) for q, n in zip(pos, sizes)]
    plane_strides = [int(np.prod(sizes[i + 1:])) for i in range(spatial)]
    # flat[output, element]: window elements row-major over the kernel dims, outputs row-major too
    f, v = np.zeros((), np.int64), np.ones((), bool)
    for d in range(spatial):
        shp = [1] * (2 * spatial)
        shp[d], shp[spatial + d] = out_sizes[d], ks[d]
        f = f + (np.where(inside[d], pos[d], 0) * plane_strides[d]).reshape(shp)
        v = v & inside[d].reshape(shp)
    full = tuple(out_sizes) + tuple(ks)
    flat = np.broadcast_to(f, full).reshape(int(np.prod(out_sizes)), int(np.prod(ks)))
    valid = np.broadcast_to(v, full).reshape(flat.shape)
    n_out, n_k = flat.shape
    lead_t = tuple(lead)
    if x.numel() == 0 or n_out == 0:
        empty = flambeau.zeros(lead_t + out_sizes, dtype=x.dtype, device=x.device)
        idx = flambeau.zeros(lead_t + out_sizes, dtype=flambeau.int64, device=x.device)
        return (empty, idx) if return_indices else empty
    idx_t = flambeau.tensor(np.ascontiguousarray(flat), device=x.device)
    xp = x.reshape(lead_t + (int(np.prod(sizes)),))
    vals = xp.index_select(-1, idx_t.reshape(-1)).reshape(lead_t + (n_out, n_k))
    lowest = flambeau.iinfo(x.dtype).min
    inside_t = flambeau.tensor(np.ascontiguousarray(valid), device=x.device)
    vals = flambeau.where(inside_t, vals, flambeau.full((), lowest, dtype=x.dtype))
    values, arg = vals.max(-1)
    values = values.reshape(lead_t + out_sizes)
    if not return_indices:
        return values
    indices = idx_t.expand(lead_t + (n_out, n_k)).gather(-1, arg.unsqueeze(-1)).squeeze(-1)
    return values, indices.reshape(lead_t + out_sizes)
