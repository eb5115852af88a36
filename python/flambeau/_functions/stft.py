"""torch.stft / torch.istft, composed of unfold, the window, flambeau.fft and overlap-add (the
gradient of unfold), following ATen's SpectralOps.cpp step by step (argument checks, window padding,
centering, normalisation, the window-envelope division of istft)."""
from .. import _C  # noqa: F401
from .._tensor import Tensor


def _window(window, win_length, n_fft, like, op):
    from .._creation import ones
    if window is None:
        w = ones(win_length, dtype=like.dtype.to_real() if like.is_complex() else like.dtype, device=like.device)
    else:
        if window.dim() != 1 or window.shape[0] != win_length:
            raise RuntimeError(f"{op}: expected a 1D window tensor of size equal to win_length={win_length}, but got "
                               f"window with size {list(window.shape)}")
        w = window
    if win_length < n_fft:  # centred in n_fft, as ATen pads it
        from ..nn.functional import pad
        left = (n_fft - win_length) // 2
        w = pad(w, (left, n_fft - win_length - left))
    return w


def stft(input, n_fft, hop_length=None, win_length=None, window=None, center=True, pad_mode="reflect",
         normalized=False, onesided=None, return_complex=None, align_to_window=None):
    from .. import fft as _fft
    from .._complex.core import view_as_real
    if not isinstance(input, Tensor):
        raise TypeError(f"stft(): argument 'input' must be Tensor, not {type(input).__name__}")
    if center and align_to_window is not None:
        raise RuntimeError("stft align_to_window should only be set when center = false")
    if align_to_window:
        raise NotImplementedError("stft: align_to_window=True is not supported by flambeau")
    complex_in = input.is_complex() or (window is not None and window.is_complex())
    if return_complex is None:
        if not complex_in:
            raise RuntimeError("stft requires the return_complex parameter be given for real inputs, and will further "
                               "require that return_complex=True in a future PyTorch release.")
        return_complex = True
    if input.dim() not in (1, 2):
        raise RuntimeError(f"stft: expected a 1D or 2D tensor, but got {input.dim()}D tensor")
    if center:
        from ..nn.functional import pad
        p = n_fft // 2
        signal_dim = input.dim()
        x = input.reshape([1] * (3 - signal_dim) + list(input.shape))
        if x.is_complex():  # the real kernels pad the real and imaginary parts
            from .._complex.core import make, parts
            re, im = parts(x)
            x = make(pad(re, [p, p], pad_mode), pad(im, [p, p], pad_mode))
        else:
            x = pad(x, [p, p], pad_mode)
        input = x.reshape(x.shape[-signal_dim:])
    x = input if input.dim() == 2 else input.unsqueeze(0)
    hop_length = n_fft // 4 if hop_length is None else hop_length
    win_length = n_fft if win_length is None else win_length
    length = x.shape[1]
    if n_fft <= 0 or n_fft > length:
        raise RuntimeError(f"stft: expected 0 < n_fft <= {length}, but got n_fft={n_fft}")
    if hop_length <= 0:
        raise RuntimeError(f"stft: expected hop_length > 0, but got hop_length={hop_length}")
    if win_length <= 0 or win_length > n_fft:
        raise RuntimeError(f"stft: expected 0 < win_length <= n_fft, but got win_length={win_length}")
    w = _window(window, win_length, n_fft, x, "stft")
    frames = x.unfold(-1, n_fft, hop_length) * w  # (B, n_frames, n_fft)
    onesided = (not complex_in) if onesided is None else onesided
    if onesided and complex_in:
        raise RuntimeError("Cannot have onesided output if window or input is complex")
    norm = "ortho" if normalized else "backward"
    spec = _fft.rfft(frames, dim=-1, norm=norm) if onesided else _fft.fft(frames, dim=-1, norm=norm)
    spec = spec.transpose(1, 2)
    if input.dim() == 1:
        spec = spec.squeeze(0)
    return spec if return_complex else view_as_real(spec)


def istft(input, n_fft, hop_length=None, win_length=None, window=None, center=True, normalized=False,
          onesided=None, length=None, return_complex=False):
    from .. import fft as _fft
    from .._complex.ops import real, imag
    from .._complex.core import make
    from .misc import _unfold_backward
    if not isinstance(input, Tensor):
        raise TypeError(f"istft(): argument 'input' must be Tensor, not {type(input).__name__}")
    if not input.is_complex():
        raise RuntimeError("istft requires a complex-valued input tensor matching the output from stft with "
                           "return_complex=True.")
    hop_length = n_fft // 4 if hop_length is None else hop_length
    win_length = n_fft if win_length is None else win_length
    if input.dim() not in (2, 3):
        raise RuntimeError(f"istft: expected a tensor with 2 or 3 dimensions of complex, but got {input.dim()}")
    x = input if input.dim() == 3 else input.unsqueeze(0)
    fft_size, n_frames = x.shape[1], x.shape[2]
    onesided = (fft_size != n_fft) if onesided is None else onesided
    if onesided:
        if n_fft // 2 + 1 != fft_size:
            raise RuntimeError(f"istft: expected the frequency dimension (3rd to the last) of the input tensor to match "
                               f"n_fft / 2 + 1 when onesided=True, but got {fft_size}")
    elif n_fft != fft_size:
        raise RuntimeError(f"istft: expected the frequency dimension (3rd to the last) of the input tensor to match "
                           f"n_fft when onesided=False, but got {fft_size}")
    if not (0 < hop_length <= win_length):
        raise RuntimeError("istft: expected 0 < hop_length <= win_length")
    if not (0 < win_length <= n_fft):
        raise RuntimeError("istft: expected 0 < win_length <= n_fft")
    w = _window(window, win_length, n_fft, real(x) if x.is_complex() else x, "istft")
    norm = "ortho" if normalized else "backward"
    spec = x.transpose(1, 2)  # (B, n_frames, fft_size)
    if return_complex:
        if onesided:
            raise RuntimeError("Cannot have onesided output if window or input is complex")
        frames = _fft.ifft(spec, dim=-1, norm=norm)
    else:
        if window is not None and window.is_complex():
            raise RuntimeError("Complex windows are incompatible with return_complex=False")
        if not onesided:
            spec = spec.narrow(-1, 0, n_fft // 2 + 1)
        frames = _fft.irfft(spec, n=n_fft, dim=-1, norm=norm)
    frames = frames * w
    total = n_fft + hop_length * (n_frames - 1)

    def overlap_add(f):
        return _unfold_backward(f, (f.shape[0], total), 1, n_fft, hop_length)

    y = make(overlap_add(real(frames)), overlap_add(imag(frames))) if frames.is_complex() else overlap_add(frames)
    env = overlap_add((w * w).expand(1, n_frames, n_fft).contiguous())
    start = n_fft // 2 if center else 0
    if length is not None:
        end = start + length
    elif center:
        end = total - n_fft // 2
    else:
        end = total
    stop = min(end, total)
    y = y.narrow(1, start, max(stop - start, 0))
    env = env.narrow(1, start, max(stop - start, 0))
    if env.numel() and bool(env.abs().min() < 1e-11):
        raise RuntimeError("istft(...): window overlap add min: 1")
    y = y / env
    if input.dim() == 2:
        y = y.squeeze(0)
    if end > total:
        from ..nn.functional import pad
        import warnings
        warnings.warn("The length of signal is shorter than the length parameter. Result is being padded with zeros "
                      "in the tail. Please check your center and hop_length settings.")
        if y.is_complex():
            y = make(pad(real(y), (0, end - total)), pad(imag(y), (0, end - total)))
        else:
            y = pad(y, (0, end - total))
    return y
