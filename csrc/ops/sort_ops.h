// Order statistics and scans along one dim (csrc/ops/sort.cpp): argument checks, output shapes and
// dtypes, dispatch to csrc/cpu/sort.cpp and csrc/cpu/scan.cpp. CPU only: a CUDA tensor raises
// NotImplementedError (the Python layer routes CUDA tensors to its host path instead).
#pragma once
#include <cstdint>
#include <utility>
#include "core/tensor.h"

namespace flambeau::ops {

using TensorPair = std::pair<Tensor, Tensor>;

TensorPair sort(const Tensor& x, int64_t dim, bool descending, bool stable);
TensorPair topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted);
TensorPair kthvalue(const Tensor& x, int64_t k, int64_t dim, bool keepdim);
TensorPair median(const Tensor& x, int64_t dim, bool keepdim, bool ignore_nan);

Tensor cumsum(const Tensor& x, int64_t dim, bool reverse);
Tensor cumprod(const Tensor& x, int64_t dim);
Tensor cumprod_backward(const Tensor& grad, const Tensor& x, int64_t dim);
TensorPair cummax_cummin(const Tensor& x, int64_t dim, bool is_max);

}  // namespace flambeau::ops
