"""PyTorch's "mixed type" normalization on the CPU: a float16/bfloat16 input with float32 weight, bias
and running statistics (what a bfloat16 activation meets in a float32 BatchNorm2d/LayerNorm/GroupNorm,
e.g. after an autocast convolution). PyTorch's kernels compute such a call in float32 and round the
result once to the input's dtype; the parameters' gradients stay float32.

flambeau does the same by composition: the input is widened to float32 (exact, differentiable), the
float32 kernel runs, and the result is rounded once (a differentiable cast, so the input's gradient is
rounded to its dtype, as PyTorch's). Without that, the float32 kernels refused the mixed dtypes, or the
composed norms (instance_norm, rms_norm) promoted their result to float32.
"""
import functools
import inspect

_HALF = ("float16", "bfloat16")


def mixed_half_input(*param_names):
    """Decorator for a norm whose first argument is the input and whose `param_names` arguments are
    its weight/bias/statistics."""
    def deco(fn):
        params = list(inspect.signature(fn).parameters)
        where = [(params.index(n) - 1, n) for n in param_names]  # positions after `input`

        @functools.wraps(fn)
        def run(input, *args, **kwargs):
            impl = getattr(input, "_impl", None)
            if impl is not None and impl.dtype in _HALF:
                for i, name in where:
                    p = args[i] if i < len(args) else kwargs.get(name)
                    pi = getattr(p, "_impl", None)
                    if pi is not None and pi.dtype == "float32":
                        return fn(input.float(), *args, **kwargs).to(input.dtype)
            return fn(input, *args, **kwargs)
        return run
    return deco
