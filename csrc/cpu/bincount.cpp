// bincount without weights: counts of each value of a 1-D non-negative integer tensor, int64, of
// length max(max(x) + 1, minlength). One pass finds the maximum and any negative value, a second
// counts. Serial: the survey's case (512 values) is all call overhead, which numpy's bincount,
// min() and the conversions around them made 2x PyTorch's; large inputs are one cheap pass anyway.
#include <algorithm>
#include <cstring>
#include "cpu/kernels.h"

namespace flambeau::cpu {

namespace {
// The integer dtypes bincount takes (PyTorch's AT_DISPATCH_INTEGRAL_TYPES)
#define FLB_DISPATCH_INTEGER(dtype, opname, ...)      \
  do {                                                \
    switch (dtype) {                                  \
      FLB_DISPATCH_CASE(UInt8, uint8_t, __VA_ARGS__)  \
      FLB_DISPATCH_CASE(Int8, int8_t, __VA_ARGS__)    \
      FLB_DISPATCH_CASE(Int16, int16_t, __VA_ARGS__)  \
      FLB_DISPATCH_CASE(Int32, int32_t, __VA_ARGS__)  \
      FLB_DISPATCH_CASE(Int64, int64_t, __VA_ARGS__)  \
      FLB_DISPATCH_NOT_IMPLEMENTED(dtype, opname);    \
    }                                                 \
  } while (0)
}  // namespace

int64_t bincount_length(const Tensor& x) {
  int64_t top = -1;
  bool negative = false;
  FLB_DISPATCH_INTEGER(x.dtype, "bincount", [&] {
    const scalar_t* p = x.data<scalar_t>();
    const int64_t n = x.numel();
    int64_t hi = -1, lo = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t v = (int64_t)p[i];
      hi = std::max(hi, v);
      lo = std::min(lo, v);
    }
    top = hi;
    negative = lo < 0;
  });
  return negative ? -1 : top + 1;
}

void bincount(const Tensor& out, const Tensor& x) {
  int64_t* o = out.data<int64_t>();
  std::memset(o, 0, (size_t)out.numel() * sizeof(int64_t));
  FLB_DISPATCH_INTEGER(x.dtype, "bincount", [&] {
    const scalar_t* p = x.data<scalar_t>();
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) ++o[(int64_t)p[i]];
  });
}

}  // namespace flambeau::cpu
