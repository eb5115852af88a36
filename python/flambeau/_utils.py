"""Small argument helpers shared by the op modules: dim wrapping and size parsing with
PyTorch's error messages."""
import numbers


def wrap_dim(dim, ndim, op=None):
    """Wraps a negative dim; raises PyTorch's IndexError when out of range."""
    n = ndim if ndim > 0 else 1  # a 0-d tensor accepts dim 0 and -1
    if dim.__class__ is int and -n <= dim < n:  # the common case, without the slow ABC check
        return dim + n if dim < 0 else dim
    if not isinstance(dim, numbers.Integral) or isinstance(dim, bool):
        raise TypeError(f"{op + ': ' if op else ''}dim must be an int, got {type(dim).__name__}")
    if dim < -n or dim >= n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim + n if dim < 0 else dim


def wrap_dims(dims, ndim, op=None):
    """dims as a sorted-unique-checked list of non-negative ints (None/() pass through as [])."""
    if dims is None:
        return []
    if isinstance(dims, numbers.Integral):
        return [wrap_dim(dims, ndim, op)]
    out = [wrap_dim(d, ndim, op) for d in dims]
    if len(set(out)) != len(out):
        raise RuntimeError(f"{op or 'op'}: dim {out} appears multiple times in the list of dims")
    return out


def parse_size(args, op="size"):
    """Accepts f(2, 3), f((2, 3)), f([2, 3]), f(Size) and f() -> a tuple of ints."""
    if len(args) == 1:
        a = args[0]
        if type(a) is not int:
            if a is None:
                return ()
            if hasattr(a, "_impl") and hasattr(a, "tolist"):  # a 1-d int tensor
                a = a.tolist()
            args = a
    # Fast path: plain Python ints (the common case; ABC isinstance checks are slow).
    for s in args:
        if type(s) is not int:
            break
    else:
        return tuple(args)
    try:
        out = tuple(int(_index(s)) for s in args)
    except TypeError:
        bad = next((s for s in args if not isinstance(s, numbers.Integral) or isinstance(s, bool)), None)
        raise TypeError(f"{op}(): argument 'size' must be a tuple of ints, but found element of type "
                        f"{type(bad).__name__}") from None
    return out


def _index(s):
    if isinstance(s, bool):
        raise TypeError("bool is not a valid size")
    if isinstance(s, numbers.Integral):
        return s
    idx = getattr(s, "__index__", None)
    if idx is None:
        raise TypeError(f"size must be a tuple of ints, but found element of type {type(s).__name__}")
    return idx()


def infer_size(shape, numel, op="view"):
    """Resolves one -1 in `shape` against `numel`; raises PyTorch's RuntimeError on mismatch."""
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError("only one dimension can be inferred")
    for s in shape:
        if s < -1:
            raise RuntimeError(f"invalid shape dimension {s}")
    if neg:
        known = 1
        for i, s in enumerate(shape):
            if i != neg[0]:
                known *= s
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    else:
        n = 1
        for s in shape:
            n *= s
        if n != numel:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return tuple(shape)


def contiguous_strides(shape):
    """The row-major (contiguous) strides of `shape`, in elements, as a tuple (a 0 in shape counts as 1, as
    PyTorch's)."""
    strides, acc = [], 1
    for s in reversed(shape):
        strides.append(acc)
        acc *= max(s, 1)
    return tuple(reversed(strides))
