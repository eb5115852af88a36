// Scans along one dim: cumsum (and its reverse, cumsum's gradient), cumprod and its gradient,
// cummax/cummin with indices.
//
// How. The input is made contiguous and seen as [outer, n, inner] (n = the size of `dim`). A block is
// one `outer` position and up to 256 adjacent `inner` positions; it walks i = 0..n-1 keeping one
// running accumulator per inner position, so the innermost loop runs over contiguous memory (it
// vectorises, and scanning dim 0 of a matrix reads it row by row instead of column by column). When
// dim is the last dim (inner = 1) a block is one row. Blocks run in parallel (cpu/parallel.h).
//
// Why this rounding. Each output element is a sequential left-to-right (or right-to-left) scan, in
// the same order as PyTorch's CPU kernel, and with PyTorch's accumulator type
// (at::acc_type<T, /*is_cuda=*/false>): double for float32 and float64, int64 for int64 and bool.
// So cumsum/cumprod of float32 are bit-identical to torch's, and the reverse scan used as cumsum's
// gradient equals torch's grad.flip(d).cumsum(d).flip(d).
//
// cumprod's gradient: for y = cumprod(x), dL/dx_k = P_{k-1} * S_k with P the exclusive prefix
// product and S_k = g_k + x_{k+1} S_{k+1} (a reverse linear recurrence) — O(n), no division, so it is
// exact where x has zeros (the textbook sum(g*y)/x is not).
//
// cummax/cummin follow PyTorch's rule: the running value is replaced when the new element is NaN, or
// when neither is NaN and new >= running (<= for cummin) — so the index is that of the last
// occurrence of the running extreme, and after a NaN the value stays NaN with the index of the
// latest NaN.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include "core/view.h"
#include "cpu/parallel.h"
#include "cpu/sort_kernels.h"

namespace flambeau::cpu {

namespace {

constexpr int64_t kBlock = 256;

struct Layout {
  int64_t outer, n, inner;
};
Layout layout(const Shape& s, int64_t dim) {
  Layout L{1, s[dim], 1};
  for (int64_t d = 0; d < dim; ++d) L.outer *= s[d];
  for (int64_t d = dim + 1; d < (int64_t)s.size(); ++d) L.inner *= s[d];
  return L;
}

// body(o, j0, nb): one block, inner positions j0 .. j0+nb-1 of outer position o.
template <class Body>
void for_blocks(const Layout& L, Body body) {
  if (L.outer * L.inner * L.n == 0) return;
  const int64_t JB = std::min(kBlock, L.inner);
  const int64_t jblocks = (L.inner + JB - 1) / JB, nblocks = L.outer * jblocks;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, L.n * JB));
  parallel_for(nblocks, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t o = b / jblocks, j0 = (b % jblocks) * JB;
      body(o, j0, std::min(JB, L.inner - j0));
    }
  });
}

template <class T, class A, class O, bool Prod>
void scan_impl(const Tensor& out, const Tensor& x_in, int64_t dim, bool reverse) {
  Tensor x = contiguous(x_in);
  const Layout L = layout(x.sizes, dim);
  const T* xp = x.data<T>();
  O* op = out.data<O>();
  const int64_t n = L.n, inner = L.inner;
  if (inner == 1) {
    // Rows (scan over the last dim): the running sums in registers. Through acc[] below, every
    // store to the output reloaded it (the module is built with -fno-strict-aliasing), a
    // store-to-load chain of ~6 ns per element (cumsum along rows was 0.24x PyTorch). Four rows at
    // a time: each row is still one sequential chain of float64 additions (the bits of PyTorch's
    // scan), but four independent chains hide the addition's latency (one row at a time: 0.58x).
    if (L.outer * n == 0) return;
    const int64_t groups = (L.outer + 3) / 4;
    parallel_for(groups, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, 4 * n)), [=](int64_t g0, int64_t g1) {
      for (int64_t g = g0; g < g1; ++g) {
        const int64_t o0 = g * 4, rows = std::min<int64_t>(4, L.outer - o0);
        if (rows == 4) {
          const T *s0 = xp + o0 * n, *s1 = s0 + n, *s2 = s1 + n, *s3 = s2 + n;
          O *d0 = op + o0 * n, *d1 = d0 + n, *d2 = d1 + n, *d3 = d2 + n;
          A a0 = Prod ? A(1) : A(0), a1 = a0, a2 = a0, a3 = a0;
          for (int64_t ii = 0; ii < n; ++ii) {
            const int64_t i = reverse ? n - 1 - ii : ii;
            if constexpr (Prod) {
              a0 *= (A)s0[i], a1 *= (A)s1[i], a2 *= (A)s2[i], a3 *= (A)s3[i];
            } else {
              a0 += (A)s0[i], a1 += (A)s1[i], a2 += (A)s2[i], a3 += (A)s3[i];
            }
            d0[i] = (O)a0, d1[i] = (O)a1, d2[i] = (O)a2, d3[i] = (O)a3;
          }
          continue;
        }
        for (int64_t o = o0; o < o0 + rows; ++o) {
          const T* src = xp + o * n;
          O* dst = op + o * n;
          A acc = Prod ? A(1) : A(0);
          for (int64_t ii = 0; ii < n; ++ii) {
            const int64_t i = reverse ? n - 1 - ii : ii;
            if constexpr (Prod) acc *= (A)src[i];
            else acc += (A)src[i];
            dst[i] = (O)acc;
          }
        }
      }
    });
    return;
  }
  for_blocks(L, [&](int64_t o, int64_t j0, int64_t nb) {
    A acc[kBlock];
    for (int64_t j = 0; j < nb; ++j) acc[j] = Prod ? A(1) : A(0);
    const T* src = xp + o * n * inner + j0;
    O* dst = op + o * n * inner + j0;
    for (int64_t ii = 0; ii < n; ++ii) {
      const int64_t i = reverse ? n - 1 - ii : ii;
      const T* s = src + i * inner;
      O* d = dst + i * inner;
      for (int64_t j = 0; j < nb; ++j) {
        if constexpr (Prod) acc[j] *= (A)s[j];
        else acc[j] += (A)s[j];
        d[j] = (O)acc[j];
      }
    }
  });
}

template <bool Prod>
void scan(const Tensor& out, const Tensor& x, int64_t dim, bool reverse) {
  switch (x.dtype) {
    case DType::Float32: scan_impl<float, double, float, Prod>(out, x, dim, reverse); break;
    case DType::Float64: scan_impl<double, double, double, Prod>(out, x, dim, reverse); break;
    case DType::Int64: scan_impl<int64_t, int64_t, int64_t, Prod>(out, x, dim, reverse); break;
    case DType::Bool: scan_impl<bool, int64_t, int64_t, Prod>(out, x, dim, reverse); break;
    default:  // the narrow integers are scanned as int64 by the ops layer
      throw TypeError(str_cat(Prod ? "cumprod" : "cumsum", ": not implemented for dtype ", dtype_name(x.dtype)));
  }
}

template <class T>
void cumprod_backward_impl(const Tensor& gx, const Tensor& g_in, const Tensor& x_in, int64_t dim) {
  Tensor x = contiguous(x_in), g = contiguous(g_in);
  const Layout L = layout(x.sizes, dim);
  const T* xp = x.data<T>();
  const T* gp = g.data<T>();
  T* op = gx.data<T>();
  const int64_t n = L.n, inner = L.inner;
  for_blocks(L, [&](int64_t o, int64_t j0, int64_t nb) {
    double acc[kBlock];
    const int64_t base = o * n * inner + j0;
    // Reverse pass: S_i = g_i + x_{i+1} * S_{i+1}, stored in the output.
    for (int64_t j = 0; j < nb; ++j) acc[j] = 0.0;
    for (int64_t i = n - 1; i >= 0; --i) {
      const T* gi = gp + base + i * inner;
      T* d = op + base + i * inner;
      if (i + 1 < n) {
        const T* xn = xp + base + (i + 1) * inner;
        for (int64_t j = 0; j < nb; ++j) acc[j] = (double)gi[j] + (double)xn[j] * acc[j];
      } else {
        for (int64_t j = 0; j < nb; ++j) acc[j] = (double)gi[j];
      }
      for (int64_t j = 0; j < nb; ++j) d[j] = (T)acc[j];
    }
    // Forward pass: multiply by the exclusive prefix product P_{i-1}.
    for (int64_t j = 0; j < nb; ++j) acc[j] = 1.0;
    for (int64_t i = 0; i < n; ++i) {
      const T* s = xp + base + i * inner;
      T* d = op + base + i * inner;
      for (int64_t j = 0; j < nb; ++j) {
        d[j] = (T)(acc[j] * (double)d[j]);
        acc[j] *= (double)s[j];
      }
    }
  });
}

template <class T, bool IsMax>
void cumext_impl(const Tensor& values, const Tensor& indices, const Tensor& x_in, int64_t dim) {
  Tensor x = contiguous(x_in);
  const Layout L = layout(x.sizes, dim);
  const T* xp = x.data<T>();
  T* vp = values.data<T>();
  int64_t* ip = indices.data<int64_t>();
  const int64_t n = L.n, inner = L.inner;
  for_blocks(L, [&](int64_t o, int64_t j0, int64_t nb) {
    T best[kBlock];
    int64_t bi[kBlock];
    const int64_t base = o * n * inner + j0;
    for (int64_t j = 0; j < nb; ++j) best[j] = xp[base + j], bi[j] = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T* s = xp + base + i * inner;
      T* vd = vp + base + i * inner;
      int64_t* id = ip + base + i * inner;
      for (int64_t j = 0; j < nb; ++j) {
        const T v = s[j];
        bool take;
        if constexpr (std::is_floating_point_v<T>) {
          take = std::isnan(v) || (!std::isnan(best[j]) && (IsMax ? v >= best[j] : v <= best[j]));
        } else {
          take = IsMax ? v >= best[j] : v <= best[j];
        }
        if (take) best[j] = v, bi[j] = i;
        vd[j] = best[j];
        id[j] = bi[j];
      }
    }
  });
}

}  // namespace

void cumsum(const Tensor& out, const Tensor& x, int64_t dim, bool reverse) { scan<false>(out, x, dim, reverse); }

void cumprod(const Tensor& out, const Tensor& x, int64_t dim) { scan<true>(out, x, dim, false); }

void cumprod_backward(const Tensor& grad_x, const Tensor& g, const Tensor& x, int64_t dim) {
  if (x.dtype == DType::Float32) cumprod_backward_impl<float>(grad_x, g, x, dim);
  else cumprod_backward_impl<double>(grad_x, g, x, dim);
}

void cummax_cummin(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim, bool is_max) {
  switch (x.dtype) {
    case DType::Float32: is_max ? cumext_impl<float, true>(values, indices, x, dim) : cumext_impl<float, false>(values, indices, x, dim); break;
    case DType::Float64: is_max ? cumext_impl<double, true>(values, indices, x, dim) : cumext_impl<double, false>(values, indices, x, dim); break;
    case DType::Int64: is_max ? cumext_impl<int64_t, true>(values, indices, x, dim) : cumext_impl<int64_t, false>(values, indices, x, dim); break;
    case DType::Bool: is_max ? cumext_impl<bool, true>(values, indices, x, dim) : cumext_impl<bool, false>(values, indices, x, dim); break;
    default:
      throw TypeError(str_cat(is_max ? "cummax" : "cummin", ": not implemented for dtype ", dtype_name(x.dtype)));
  }
}

}  // namespace flambeau::cpu
