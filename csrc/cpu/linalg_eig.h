// The general eigendecomposition (cpu/linalg_eig.cpp): a [B, n, n] contiguous float32/float64/complex64/
// complex128; w [B, n] and, when given, v [B, n, n] (eigenvectors as columns) complex128; info [B] int64
// (0, or 1 where the input was not finite or the QR iteration did not converge: NaN results there).
#pragma once
#include "core/tensor.h"

namespace flambeau::cpu {

void linalg_eig(const Tensor& a, const Tensor& w, const Tensor* v, const Tensor& info);

}  // namespace flambeau::cpu
