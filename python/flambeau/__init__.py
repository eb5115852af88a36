"""Flambeau: a deep-learning library with handwritten C++/CUDA kernels and PyTorch's API.

`import flambeau as torch` is meant to run typical PyTorch scripts. Tensors live in C++
(`flambeau._C`); this package adds dtype promotion, autograd and PyTorch's surface on top.
"""
import builtins as _builtins

from ._omp_env import short_spin_while_loading as _short_spin_while_loading
with _short_spin_while_loading():
    from . import _C
from ._dtype import (dtype, device, Size, float32, float64, int64, bool, float, double, long,
                     int32, int16, int8, uint8, int, short,
                     set_default_dtype, get_default_dtype, float16, half, bfloat16)
from ._tensor import Tensor
from . import _tensor_methods  # noqa: F401  (attaches op methods to Tensor)
from .autograd.grad_mode import (no_grad, enable_grad, set_grad_enabled, is_grad_enabled, inference_mode,
                                 is_inference_mode_enabled)
from . import autograd
from ._creation import (tensor, as_tensor, asarray, from_numpy, from_dlpack, empty, zeros, ones, full, empty_like,
                        zeros_like, ones_like, full_like, scalar_tensor, arange, range, linspace, logspace, eye, diag,
                        diag_embed, tril_indices, triu_indices, meshgrid, cartesian_prod, set_default_device,
                        get_default_device)
from ._random import (manual_seed, seed, initial_seed, get_rng_state, set_rng_state, Generator, default_generator,
                      rand, randn, randint, randperm, rand_like, randn_like, randint_like, normal, bernoulli,
                      poisson, multinomial)
from ._promote import result_type, promote_types, can_cast
from ._printing import set_printoptions, get_printoptions
from ._functions.elementwise import (
    add, sub, subtract, rsub, mul, multiply, div, divide, true_divide, pow, float_power, maximum, minimum, fmax, fmin,
    remainder, fmod, floor_divide, atan2, arctan2, neg, negative, abs, absolute, exp, log, log2, log10, log1p, expm1,
    sqrt, rsqrt, sin, cos, tan, tanh, sigmoid, relu, reciprocal, erf, square, sign, sgn, floor, ceil, trunc, fix,
    round, neg_, abs_, exp_, log_, sqrt_, sigmoid_, tanh_, relu_)
from ._functions.compare import (
    eq, ne, lt, le, gt, ge, not_equal, less, less_equal, greater, greater_equal, logical_and, logical_or, logical_xor,
    logical_not, bitwise_and, bitwise_or, bitwise_xor, bitwise_not, isnan, isinf, isfinite, isposinf, isneginf,
    isreal, signbit, isclose, allclose, equal)
from ._functions.special import (
    asin, asin_, acos, acos_, atan, atan_, sinh, sinh_, cosh, cosh_, asinh, asinh_, acosh, acosh_, atanh, atanh_,
    arcsin, arcsin_, arccos, arccos_, arctan, arctan_, arcsinh, arcsinh_, arccosh, arccosh_, arctanh, arctanh_, erfc,
    erfc_, erfinv, lgamma, digamma, polygamma, mvlgamma)
from ._functions.pointwise import (
    positive, exp2, frac, xlogy, logaddexp, hypot, lerp, addcmul, addcdiv,
    nan_to_num, clamp, clip, clamp_min, clamp_max, clamp_, clip_, where)
from ._functions.reduction import (sum, nansum, mean, nanmean, prod, amax, amin, max, min, aminmax, argmax, argmin,
                                   all, any, count_nonzero, var, std, var_mean, std_mean, logsumexp, norm, dist,
                                   cumsum, return_types)
from ._functions.shape import (reshape, flatten, unflatten, permute, transpose, swapaxes, swapdims, t, adjoint,
                               movedim, moveaxis, broadcast_to, broadcast_shapes, broadcast_tensors, unsqueeze,
                               squeeze, select, narrow, diagonal, as_strided, clone)
from ._functions.join import (cat, concat, concatenate, stack, hstack, vstack, row_stack, dstack, column_stack,
                              atleast_1d, atleast_2d, atleast_3d, split, split_with_sizes, chunk, tensor_split, unbind,
                              tile, repeat_interleave, flip, fliplr, flipud, roll, rot90)
from ._functions.indexing import (index_select, gather, scatter, scatter_add, masked_fill, masked_select, take,
                                  take_along_dim, nonzero, argwhere, tril, triu, index_add, index_fill, index_copy,
                                  index_put)
from ._functions.linalg import (matmul, mm, bmm, mv, dot, inner, vdot, outer, ger, addmm, addmv, baddbmm, addbmm,
                                tensordot, einsum, softmax, log_softmax)
from ._functions.distance import cdist, pdist
from ._functions.linalg_dense import (det, logdet, inv as inverse, cholesky_legacy as cholesky, cholesky_solve,
                                      cholesky_inverse, qr_legacy as qr, svd_legacy as svd, pinverse, matrix_power,
                                      matrix_exp, triangular_solve, lu_unpack, orgqr, geqrf)
from ._functions.sorting import (sort, argsort, msort, topk, kthvalue, median, nanmedian, unique, unique_consecutive,
                                 searchsorted, bucketize, bincount, histc, cumprod, cummax, cummin)
from ._functions.misc import (ravel, diff, cross, kron, block_diag, cov, corrcoef, is_nonzero, is_same_size, is_signed,
                              is_inference, quantile, nanquantile, mode, isin, unravel_index, combinations, vander,
                              hsplit, vsplit, dsplit, rad2deg, deg2rad, rad2deg_, deg2rad_, logit, logit_, sinc, sinc_,
                              heaviside, copysign, logaddexp2, xlogy_, as_strided_, hann_window, hamming_window,
                              blackman_window, bartlett_window, kaiser_window)
from ._functions.pointwise import clamp_min_, clamp_max_
from ._typeinfo import finfo, iinfo
from ._functions.scatter_reduce import scatter_reduce, index_reduce
from ._legacy_types import (FloatTensor, DoubleTensor, LongTensor, BoolTensor, IntTensor, ShortTensor, CharTensor,
                            ByteTensor, HalfTensor, BFloat16Tensor, set_default_tensor_type)
from . import cuda, cpu, backends, linalg, amp, special, version, random  # noqa: F401
from .amp import autocast, is_autocast_enabled, is_autocast_available, get_autocast_dtype  # noqa: F401
from .autograd.anomaly_mode import (is_anomaly_enabled, is_anomaly_check_nan_enabled,  # noqa: F401
                                    set_anomaly_enabled)

from ._sparse import strided, sparse_coo, sparse_coo_tensor, _Layout as layout  # noqa: E402,F401
from ._memory_format import (memory_format, contiguous_format, preserve_format, channels_last,  # noqa: F401
                             channels_last_3d)
e = 2.718281828459045
pi = 3.141592653589793
inf = _builtins.float("inf")
nan = _builtins.float("nan")
__version__ = "0.1.0"


def is_tensor(obj):
    return isinstance(obj, Tensor)


def is_storage(obj):
    return isinstance(obj, (TypedStorage, UntypedStorage))  # noqa: F821 (imported from _storage below)


def is_floating_point(input):
    return input.is_floating_point()


def is_complex(input):
    return input.is_complex()


def numel(input):
    return input.numel()


def get_num_threads():
    return _C.get_num_threads()


def set_num_threads(n):
    _C.set_num_threads(n)


def set_flush_denormal(mode):
    """Denormal floats read and computed as zero (x86 DAZ/FTZ) on every CPU thread flambeau computes on
    (PyTorch sets only the calling thread). Returns whether the CPU supports it."""
    return _C.set_flush_denormal(_builtins.bool(mode))


def get_num_interop_threads():
    return 1


def set_num_interop_threads(n):
    pass


# flambeau's kernels are deterministic by design (no floating-point atomics in reductions), so the
# flags only record what the script asked for, for the getters PyTorch scripts read back.
_deterministic = {"mode": False, "warn_only": False}


def use_deterministic_algorithms(mode, *, warn_only=False):
    _deterministic["mode"], _deterministic["warn_only"] = _builtins.bool(mode), _builtins.bool(warn_only)


def are_deterministic_algorithms_enabled():
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled():
    return _deterministic["warn_only"]


def set_deterministic_debug_mode(debug_mode):
    """0/'default', 1/'warn', 2/'error', as PyTorch (same as use_deterministic_algorithms)."""
    names = {"default": 0, "warn": 1, "error": 2}
    if isinstance(debug_mode, str):
        if debug_mode not in names:
            raise RuntimeError(f"invalid value of debug_mode, expected one of `default`, `warn`, `error`, but "
                               f"got {debug_mode}")
        debug_mode = names[debug_mode]
    if debug_mode not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode, expected 0, 1, or 2, but got {debug_mode}")
    use_deterministic_algorithms(debug_mode != 0, warn_only=debug_mode == 1)


def get_deterministic_debug_mode():
    if not _deterministic["mode"]:
        return 0
    return 1 if _deterministic["warn_only"] else 2


_matmul_precision = ["highest"]


def set_float32_matmul_precision(precision):
    """Recorded for get_float32_matmul_precision. flambeau's float32 products are always computed in
    float32 ('highest'): it has no TF32 or bfloat16 GEMM to trade accuracy for."""
    if precision not in ("highest", "high", "medium"):
        import warnings
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "set_float32_matmul_precision call has no effect.", UserWarning, stacklevel=2)
        return
    _matmul_precision[0] = precision


def get_float32_matmul_precision():
    return _matmul_precision[0]


def detach(input):
    return input.detach()


def square_(input):
    return input.square_()


def zero_(input):
    return input.zero_()


def trace(input):
    return input.trace()


def chain_matmul(*matrices):
    r = matrices[0]
    for m in matrices[1:]:
        r = mm(r, m)
    return r


def slogdet(input, *, out=None):
    from ._functions.linalg_dense import slogdet as _slogdet, return_types as _rt
    return _rt.slogdet(*_slogdet(input, out=out))


def lu_solve(b, LU_data, LU_pivots, *, out=None):
    return linalg.lu_solve(LU_data, LU_pivots, b, out=out)


def lu(A, pivot=True, get_infos=False, out=None):
    """torch.lu: (LU, pivots) or (LU, pivots, infos); the pivots are int64 (torch: int32)."""
    LU, piv, info = linalg.lu_factor_ex(A, pivot=pivot)
    return (LU, piv, info) if get_infos else (LU, piv)


from . import nn, optim, utils, distributions, func  # noqa: E402,F401  (after the core, which they build on)
from ._compile import compile  # noqa: E402,F401  (needs nn.Module)
from . import compiler, _dynamo  # noqa: E402,F401  (torch.compiler / torch._dynamo: eager semantics)
from ._control_flow import cond, while_loop  # noqa: E402,F401  (torch.cond / torch.while_loop, eagerly)
from . import signal, library  # noqa: E402,F401  (torch.signal.windows; torch.library custom ops)
from ._ops import ops  # noqa: E402,F401  (torch.ops.<namespace>.<custom op>)
from .func import vmap  # noqa: E402,F401  (torch.vmap)
from .serialization import save, load, save_safetensors, load_safetensors  # noqa: E402,F401
from ._functions.nn_toplevel import *  # noqa: E402,F401,F403  (torch.conv2d, torch.dropout, ...: after nn)
from ._functions.foreach import *  # noqa: E402,F401,F403  (torch._foreach_add_, _foreach_lerp_, _foreach_norm, ...)
from . import testing, jit, distributed, multiprocessing  # noqa: E402,F401  (jit: honest stub; distributed: CPU backend)
from . import accelerator  # noqa: E402,F401  (torch.accelerator: flambeau.cuda behind the device-agnostic API)
from . import hub  # noqa: E402,F401  (weights download + cache; no hubconf code execution)
from . import profiler  # noqa: E402,F401  (CPU time per op: torch.profiler's API)
from ._functions import extra as _extra  # noqa: E402
globals().update({_n: getattr(_extra, _n) for _n in _extra.TOP_LEVEL})  # torch.sin_, torch.histogram, ...
from ._functions import complex_on_real as _cor, buffer_and_static as _bas  # noqa: E402
globals().update({_n: getattr(_m, _n) for _m in (_cor, _bas) for _n in _m.TOP_LEVEL})  # conj, angle, frombuffer...
from ._functions.numeric_gradient import gradient  # noqa: E402,F401
has_openmp = _C.has_openmp
newaxis = None
from ._storage import *  # noqa: E402,F401,F403  (UntypedStorage, TypedStorage, FloatStorage...; Tensor.storage, set_)
from ._api_aliases import *  # noqa: E402,F401,F403  (set_warn_always, autocast flags, Event/Stream, ...)
from ._aten_entry_points import *  # noqa: E402,F401,F403  (convolution, grid_sampler, sym_int, from_file, ...)
from . import _shared_memory  # noqa: E402,F401  (share_memory_; registers multiprocessing's tensor pickling)
from ._functions.native_ops import *  # noqa: E402,F401,F403  (native_layer_norm, conv_tbc, segment_reduce, ...)
from ._functions.lowrank import svd_lowrank, pca_lowrank  # noqa: E402,F401
from ._functions.histogramdd import histogramdd  # noqa: E402,F401
from ._functions.rnn_functional import rnn_tanh, rnn_relu, lstm, gru  # noqa: E402,F401
from . import sparse  # noqa: E402,F401  (torch.sparse)
from ._sparse_mm import spmm, hspmm, smm  # noqa: E402,F401  (sparse @ dense; also attaches S @ D, S.mm)
from ._sparse_csr import sparse_csr, sparse_csr_tensor  # noqa: E402,F401  (the CSR layout)
from . import _complex  # noqa: E402  (complex64/complex128: routes ops with a complex operand to _complex)
_complex.install(globals())
from . import fft  # noqa: E402,F401  (torch.fft)
_sparse._finish_setup()  # last: blocks every dense method attached to Tensor on sparse tensors
from ._discrete_sampling import binomial  # noqa: E402,F401  (torch.binomial; poisson is in _random)
from ._dtype import quint8, qint8, qint32  # noqa: E402,F401  (quantized dtypes)
from ._dtype import (float8_e4m3fn, float8_e5m2, float8_e4m3fnuz, float8_e5m2fnuz, uint16, uint32,  # noqa: E402,F401
                     uint64)  # named only: no kernels compute in them (_dtype.py)
from ._quantized import (qscheme, per_tensor_affine, per_channel_affine, per_tensor_symmetric,  # noqa: E402,F401
                         per_channel_symmetric, per_channel_affine_float_qparams, quantize_per_tensor,
                         quantize_per_channel, dequantize)
from . import _quantized  # noqa: E402
_quantized._finish_setup(globals())  # blocks every dense method on quantized tensors; torch.relu(q) etc.
from ._fake_quantize import (fake_quantize_per_tensor_affine, fake_quantize_per_channel_affine,  # noqa: E402,F401
                             fused_moving_avg_obs_fake_quant)
from . import ao  # noqa: E402,F401  (torch.ao.quantization, torch.ao.nn.quantized: eager-mode quantization)
from . import quantization  # noqa: E402,F401  (torch.quantization, the alias of torch.ao.quantization)
from ._assertions import _assert  # noqa: E402,F401  (torch._assert)
from . import fx  # noqa: E402,F401  (torch.fx: symbolic tracing, after nn)
from ._lobpcg import lobpcg  # noqa: E402,F401  (torch.lobpcg)
from . import overrides  # noqa: E402,F401  (torch.overrides; the protocol itself: _torch_function.py)
from . import _torch_function as _tfn  # noqa: E402
# torch._C's names for the protocol's switches, which __torch_function__ implementations use
_C.DisableTorchFunctionSubclass = _tfn.DisableTorchFunctionSubclass
_C.DisableTorchFunction = _tfn.DisableTorchFunction
_C._disabled_torch_function_impl = _tensor._disabled_torch_function_impl
_C._is_torch_function_enabled = _tfn.is_torch_function_enabled
DisableTorchFunctionSubclass = _tfn.DisableTorchFunctionSubclass  # (torch's top-level names for them)
DisableTorchFunction = _tfn.DisableTorchFunction
from . import functional  # noqa: E402,F401  (torch.functional: einsum, stft, ... under that module's name)
from . import onnx  # noqa: E402,F401  (torch.onnx.export, written without the onnx package)
from ._torch_alias import install_torch_alias, uninstall_torch_alias  # noqa: E402,F401  (python -m flambeau.run)


def __getattr__(name):
    # torch.masked is imported on first use: its MaskedTensor is a Tensor subclass with __torch_function__,
    # and defining one switches on the override checks every op then pays (_torch_function.py).
    if name == "masked":
        import importlib
        return importlib.import_module(".masked", __name__)
    raise AttributeError(f"module 'flambeau' has no attribute '{name}'")
