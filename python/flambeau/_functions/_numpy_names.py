"""numpy's argument names, which PyTorch accepts for its own: its argument parser maps axis= to dim= and
keepdims= to keepdim= on every native function, so scripts write torch.cumprod(alphas, axis=0) (the
annotated-diffusion schedule) or logp.sum(axis=-1) (Spinning Up's SAC). The functions that take them
declare `axis=None` (and `keepdims=None` where there is a keepdim) keyword-only and call this only when
one was given, so the usual call pays one `is not None` test and no extra call layer."""

# the default of a dim argument that has none (cumsum(input, dim)): told apart from an explicit None
REQUIRED = object()


def numpy_dim(fname, dim, axis, dim_default=None):
    """dim from dim= or its alias axis=; giving both is PyTorch's TypeError, as is giving neither where
    dim is required."""
    if axis is None:
        if dim is REQUIRED:
            raise TypeError(f'{fname}() missing 1 required positional arguments: "dim"')
        return dim
    if dim is not dim_default:
        raise TypeError(f"{fname}() got an unexpected keyword argument 'axis'")
    return axis


def numpy_keepdim(fname, keepdim, keepdims):
    """keepdim from keepdim= or its alias keepdims=."""
    if keepdims is None:
        return keepdim
    if keepdim is not False:
        raise TypeError(f"{fname}() got an unexpected keyword argument 'keepdims'")
    return keepdims


def size_keyword(args, value, fname, name):
    """The shape of a varargs-shape function given by keyword, as PyTorch allows:
    x.reshape(shape=(b, h, w, c)) (DiT's and MAE's unpatchify), torch.zeros(size=(2, 3)), x.permute(dims=...).
    Returned in the positional form ((2, 3),), which the function's own parsing accepts."""
    if args:
        raise TypeError(f"{fname}() got multiple values for argument '{name}'")
    return (value,)


def dim_args(fname, dim, axis, **required):
    """For an op whose dim is a required positional argument (gather(input, dim, index)) declared as
    `dim=REQUIRED, index=REQUIRED, ..., *, axis=None` so that axis= can stand for it (torch.gather(x, axis=1,
    index=i)): the dim, after PyTorch's TypeError for a dim given twice or any required argument missing.
    Called only when axis was given or something is missing, so the usual call pays two `is` tests."""
    dim = numpy_dim(fname, dim, axis, REQUIRED)
    for name, value in required.items():
        if value is REQUIRED:
            raise TypeError(f"{fname}() missing required argument '{name}'")
    return dim
