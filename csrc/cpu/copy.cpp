// Strided copy with dtype conversion, and fill. Conversions follow C++ static_cast, except into
// bool (x != 0), which is what PyTorch does.
#include "core/dtype.h"
#include "cpu/kernels.h"
#include "cpu/loops.h"
#include <cstring>

namespace flambeau::cpu {

template <class To, class From>
static inline To convert(From v) {
  if constexpr (std::is_same_v<To, bool>) return v != From(0);
  else return static_cast<To>(v);
}

void copy(const Tensor& dst, const Tensor& src) {
  if (dst.dtype == src.dtype && dst.is_contiguous() && src.is_contiguous()) {
    size_t nbytes = (size_t)dst.numel() * dst.element_size();
    if (nbytes) std::memcpy(dst.data_ptr(), src.data_ptr(), nbytes);
    return;
  }
  FLB_DISPATCH_ALL(dst.dtype, "copy", [&] {
    using To = scalar_t;
    FLB_DISPATCH_ALL(src.dtype, "copy", [&] {
      using From = scalar_t;
      unary_loop<To, From>(dst, src, [](From v) { return convert<To, From>(v); });
    });
  });
}

void fill(const Tensor& dst, const Scalar& value) {
  FLB_DISPATCH_ALL(dst.dtype, "fill_", [&] {
    const scalar_t v = value.to<scalar_t>();
    StridedWalk<1> w({&dst});
    w.run(base_ptrs<1>({&dst}), [&](std::array<char*, 1>& p, int64_t n, const std::array<int64_t, 1>& s) {
      if (s[0] == (int64_t)sizeof(scalar_t)) {
        scalar_t* o = reinterpret_cast<scalar_t*>(p[0]);
        for (int64_t i = 0; i < n; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<scalar_t*>(p[0] + i * s[0]) = v;
      }
    });
  });
}

}  // namespace flambeau::cpu
