// The discrete Fourier transform of complex data along the last dim (cpu/fft.cpp).
#pragma once
#include "core/tensor.h"

namespace flambeau::cpu {

// out[..., k] = scale * sum_j x[..., j] * exp(-+2 pi i j k / n) over the last dim of size n (the sign
// + when `inverse`); x complex64 or complex128 on the CPU, any strides; out a new contiguous tensor
// of x's dtype. Computed in double for both dtypes.
Tensor fft_c2c_lastdim(const Tensor& x, bool inverse, double scale);

}  // namespace flambeau::cpu
