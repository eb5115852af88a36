// CPU kernels for the order statistics and scans along one dim (csrc/cpu/sort.cpp, csrc/cpu/scan.cpp).
// The op layer (csrc/ops/sort.cpp) has wrapped `dim`, checked k, handled 0-d and empty tensors and
// allocated contiguous outputs; the input may have any strides (the kernels make it contiguous).
#pragma once
#include <cstdint>
#include "core/tensor.h"

namespace flambeau::cpu {

// values/indices have x's shape: each row along `dim` sorted (stable; NaN is the largest value).
void sort(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim, bool descending);
// values/indices have x's shape with size k at `dim`: the k largest (smallest) in sorted order,
// equal values by increasing index.
void topk(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t k, int64_t dim, bool largest);
// values/indices have x's shape with size 1 at `dim`: the k-th smallest (1-based), stable order.
void kthvalue(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t k, int64_t dim);
// values/indices have x's shape with size 1 at `dim`: the lower median; without ignore_nan a row with
// a NaN gives NaN at its first NaN, with ignore_nan the median of the non-NaN values.
void median(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim, bool ignore_nan);

// Scans: out has x's shape. cumsum/cumprod accumulate float32 in double, int64/bool in int64 (out is
// float32/float64/int64 accordingly); reverse scans from the end (the gradient of cumsum).
void cumsum(const Tensor& out, const Tensor& x, int64_t dim, bool reverse);
void cumprod(const Tensor& out, const Tensor& x, int64_t dim);
// grad_x of y = cumprod(x) for upstream g (all floating, same dtype), exact with zeros in x.
void cumprod_backward(const Tensor& grad_x, const Tensor& g, const Tensor& x, int64_t dim);
// Running max (is_max) or min with the index of its last occurrence; NaN propagates.
void cummax_cummin(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim, bool is_max);

}  // namespace flambeau::cpu
