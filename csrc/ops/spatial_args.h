// Argument helpers shared by the 2-D and 3-D convolution and pooling ops (ops/conv.cpp, conv3d.cpp,
// pooling.cpp, pooling3d.cpp): per-axis integer arguments, PyTorch's pooling output size, and the
// [N, C, spatial...] shape checks, each written once with the number of spatial dims as a parameter.
// Messages name the op and the shapes, as PyTorch's do.
#pragma once
#include <cstdint>
#include <initializer_list>
#include "core/error.h"
#include "core/tensor.h"
#include <vector>

namespace flambeau::ops::spatial {

struct Pair {
  int64_t h, w;
};
struct Triple {
  int64_t d, h, w;
};

// One value for every axis, or one per axis.
inline Pair pair_arg(const std::vector<int64_t>& v, const char* op, const char* name) {
  FLB_CHECK(v.size() == 1 || v.size() == 2, RuntimeError, op, ": ", name, " must be one int or a pair of ints, got ",
            shape_str(v));
  return {v[0], v.size() == 2 ? v[1] : v[0]};
}
inline Triple triple_arg(const std::vector<int64_t>& v, const char* op, const char* name) {
  FLB_CHECK(v.size() == 1 || v.size() == 3, RuntimeError, op, ": ", name,
            " must be one int or a tuple of three ints, got ", shape_str(v));
  return v.size() == 3 ? Triple{v[0], v[1], v[2]} : Triple{v[0], v[0], v[0]};
}

// Floor division (rounds toward minus infinity), as PyTorch's div_rtn.
inline int64_t div_floor(int64_t a, int64_t b) {
  int64_t q = a / b, r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) --q;
  return q;
}

// PyTorch's pooling_output_shape for one axis.
inline int64_t pooling_output_size(int64_t in, int64_t k, int64_t pad, int64_t s, int64_t d, bool ceil_mode) {
  int64_t out = div_floor(in + 2 * pad - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  // ceil_mode: the last window must start inside the input or the left padding.
  if (ceil_mode && (out - 1) * s >= in + pad) --out;
  return out;
}

// A [C, spatial...] or [N, C, spatial...] shape with non-zero C and spatial sizes (N may be 0), for
// nsp = 2 or 3 spatial dims.
inline void check_pool_shape(const char* op, const Shape& s, int nsp) {
  bool ok = s.size() == (size_t)nsp + 1 || s.size() == (size_t)nsp + 2;
  if (ok)
    for (size_t d = s.size() - nsp - 1; d < s.size(); ++d) ok = ok && s[d] > 0;
  FLB_CHECK(ok, RuntimeError, op, ": expected a ",
            nsp == 2 ? "3-D [C, H, W] or 4-D [N, C, H, W] input with non-zero C, H, W"
                     : "4-D [C, D, H, W] or 5-D [N, C, D, H, W] input with non-zero C, D, H, W",
            ", got shape ", shape_str(s));
}

// The number of planes (2-D) or volumes (3-D) the kernels see: the product of the leading dims.
inline int64_t planes_of(const Shape& s, int nsp) {
  int64_t p = 1;
  for (size_t d = 0; d + nsp < s.size(); ++d) p *= s[d];
  return p;
}

// s with its last out.size() dims replaced by out.
inline Shape with_spatial(const Shape& s, std::initializer_list<int64_t> out) {
  Shape o(s.begin(), s.end() - out.size());
  o.insert(o.end(), out.begin(), out.end());
  return o;
}

// grad_output must be the input's shape with its nsp spatial dims replaced.
inline void check_grad_shape(const char* op, const Tensor& grad, const Shape& in, int nsp) {
  bool ok = grad.dim() == (int64_t)in.size();
  for (size_t d = 0; ok && d + nsp < in.size(); ++d) ok = grad.sizes[d] == in[d];
  FLB_CHECK(ok, RuntimeError, op, ": grad_output shape ", shape_str(grad.sizes), " does not match input shape ",
            shape_str(in));
}

}  // namespace flambeau::ops::spatial
