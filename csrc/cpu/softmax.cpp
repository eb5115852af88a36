// Softmax and log-softmax along one dim of a contiguous tensor viewed as [outer, n, inner].
// Last dim (inner == 1): each line is done in three passes (max, sum of exp, write), the sum in
// float64, which keeps logits in the thousands exact to float32 rounding. Float32 with an AVX2/AVX-512
// capability runs the SIMD row leaves (row_softmax/row_softmax_bwd in cpu/simd/act_vec.inc: vector
// float exp, computed once per element, sums in float64 lanes).
// Other dims (inner > 1): the lines are strided by inner, so they are processed in tiles of up to
// 512 consecutive inner positions of one outer index (C = n planes `inner` apart), read once into a
// contiguous [C][J] buffer, as the N-d cross-entropy does (cpu/loss.cpp): planes 2^k bytes apart
// share cache sets, and a line at a time re-read every plane's cache line C times. Float32 with an
// AVX2/AVX-512 capability runs the SIMD leaves (sm_tile_fwd/sm_tile_bwd in cpu/simd/act_vec.inc: one
// lane per position, float exp, per-position sums in float64); float64, and float32 at the default
// capability, run the same float64 operations as the per-line loop, element for element. The SIMD
// backward is the exception to the buffering: it streams each tile's planes twice (sums, then
// results) with its per-position sums in memory, which was faster than buffering g and y.
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>
#include "cpu/capability.h"
#include "cpu/kernels.h"
#include "cpu/parallel.h"
#include "cpu/simd/act_simd.h"

namespace flambeau::cpu {

namespace {
struct Lines {
  int64_t outer = 1, n = 1, inner = 1;
};
Lines lines_of(const Tensor& t, int64_t dim) {
  Lines l;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (d < dim) l.outer *= t.sizes[d];
    else if (d == dim) l.n = t.sizes[d];
    else l.inner *= t.sizes[d];
  }
  return l;
}

// The SIMD leaves for the capability in force (all null at the portable one): float32 tiles and rows,
// float64 rows.
struct TileFns {
  simd::SmTileFwdF32Fn fwd = nullptr;
  simd::SmTileBwdF32Fn bwd = nullptr;
  simd::RowSoftmaxF32Fn rows_fwd = nullptr;
  simd::RowSoftmaxBwdF32Fn rows_bwd = nullptr;
  simd::RowSoftmaxF64Fn rows_fwd64 = nullptr;
  simd::RowSoftmaxBwdF64Fn rows_bwd64 = nullptr;
};
TileFns tile_fns() {
  switch (capability()) {
    case Capability::AVX512:
      return {simd::sm_tile_fwd_f32_avx512(), simd::sm_tile_bwd_f32_avx512(), simd::row_softmax_f32_avx512(),
              simd::row_softmax_bwd_f32_avx512(), simd::row_softmax_f64_avx512(), simd::row_softmax_bwd_f64_avx512()};
    case Capability::AVX2:
      return {simd::sm_tile_fwd_f32_avx2(), simd::sm_tile_bwd_f32_avx2(), simd::row_softmax_f32_avx2(),
              simd::row_softmax_bwd_f32_avx2(), simd::row_softmax_f64_avx2(), simd::row_softmax_bwd_f64_avx2()};
    default: return {};
  }
}

// Rows per parallel chunk for lines of n elements.
int64_t rows_grain(int64_t n) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)); }

// The SIMD leaves, where there are some for the type: false when the scalar tile must run.
inline bool simd_fwd(const TileFns& tf, float* y, const float* x, int64_t stride, int64_t C, int64_t nj, int64_t J,
                     float* buf, bool log) {
  if (!tf.fwd) return false;
  tf.fwd(y, x, stride, C, nj, J, buf, log);
  return true;
}
inline bool simd_fwd(const TileFns&, double*, const double*, int64_t, int64_t, int64_t, int64_t, double*, bool) {
  return false;
}
inline bool simd_bwd(const TileFns& tf, float* gi, const float* g, const float* y, int64_t stride, int64_t C,
                     int64_t nj, int64_t J, float* buf, bool log) {
  if (!tf.bwd) return false;
  tf.bwd(gi, g, y, stride, C, nj, J, buf, log);
  return true;
}
inline bool simd_bwd(const TileFns&, double*, const double*, const double*, int64_t, int64_t, int64_t, int64_t,
                     double*, bool) {
  return false;
}

// Positions per tile: 512 (a multiple of every SIMD width; 2 KiB runs of each plane), fewer for
// many classes so that a buffer stays within 32768 elements per tensor. 256 was measurably slower
// on [8,21,128,128] (shorter runs per plane), 768 no faster.
constexpr int64_t kMaxJ = 512;
inline int64_t tile_width(int64_t C) {
  return std::min<int64_t>(kMaxJ, std::max<int64_t>(16, (32768 / std::max<int64_t>(C, 1)) & ~int64_t(15)));
}
// The SIMD backward buffers nothing (sm_tile_bwd: two streaming passes over the tile's planes, the
// second from L2/L3); its tiles are wider: about 24576 / C positions (~96 KiB of each input per
// tile), within [384, 1024]. Measured on [8,21,128,128] (2 threads): 512 / 768 / 1024 / 1536 / 2048
// wide: torch/ours 1.11-1.18x / 1.15x / 1.13-1.23x / 1.13x / 1.03x (softmax); [16,64,56,56],
// 256 / 384 / 512 / 1024: 1.12x / 1.07x / 1.02x / 0.88x; [4,150,64,64]: 1.09x / 1.16x / 1.18x / 1.25x.
inline int64_t bwd_tile_width(int64_t C) {
  return std::min<int64_t>(1024, std::max<int64_t>(384, (24576 / std::max<int64_t>(C, 1)) & ~int64_t(15)));
}

// Scalar tile (float64 arithmetic, the per-line loop's operations in the same order for each
// position): buf holds C * J elements.
template <class T>
void tile_fwd_scalar(T* y, const T* x, int64_t stride, int64_t C, int64_t nj, int64_t J, T* buf, bool log) {
  double m[kMaxJ], s[kMaxJ];
  for (int64_t j = 0; j < nj; ++j) m[j] = -std::numeric_limits<double>::infinity(), s[j] = 0;
  for (int64_t c = 0; c < C; ++c) {
    const T* xc = x + c * stride;
    T* bc = buf + c * J;
    for (int64_t j = 0; j < nj; ++j) bc[j] = xc[j], m[j] = std::fmax(m[j], (double)xc[j]);
  }
  for (int64_t j = 0; j < nj; ++j)
    if (std::isinf(m[j]) && m[j] < 0) m[j] = 0;  // all -inf: exp gives 0s, as PyTorch (NaN out)
  for (int64_t c = 0; c < C; ++c) {
    T* bc = buf + c * J;
    for (int64_t j = 0; j < nj; ++j) {
      double e = std::exp((double)bc[j] - m[j]);
      if constexpr (std::is_same_v<T, double>)
        if (!log) bc[j] = e;  // exact: reused by the write pass
      s[j] += e;
    }
  }
  for (int64_t j = 0; j < nj; ++j) s[j] = log ? std::log(s[j]) + m[j] : 1.0 / s[j];
  for (int64_t c = 0; c < C; ++c) {
    const T* bc = buf + c * J;
    T* yc = y + c * stride;
    if (log)
      for (int64_t j = 0; j < nj; ++j) yc[j] = (T)((double)bc[j] - s[j]);
    else if constexpr (std::is_same_v<T, double>)
      for (int64_t j = 0; j < nj; ++j) yc[j] = bc[j] * s[j];
    else
      for (int64_t j = 0; j < nj; ++j) yc[j] = (T)(std::exp((double)bc[j] - m[j]) * s[j]);
  }
}

// buf holds 2 * C * J elements.
template <class T>
void tile_bwd_scalar(T* gi, const T* g, const T* y, int64_t stride, int64_t C, int64_t nj, int64_t J, T* buf,
                     bool log) {
  double s[kMaxJ];
  T* gb = buf;
  T* yb = buf + C * J;
  for (int64_t j = 0; j < nj; ++j) s[j] = 0;
  for (int64_t c = 0; c < C; ++c) {
    const T* gc = g + c * stride;
    const T* yc = y + c * stride;
    T* gbc = gb + c * J;
    T* ybc = yb + c * J;
    for (int64_t j = 0; j < nj; ++j) gbc[j] = gc[j], ybc[j] = yc[j];
    if (log)
      for (int64_t j = 0; j < nj; ++j) s[j] += (double)gbc[j];
    else
      for (int64_t j = 0; j < nj; ++j) s[j] += (double)gbc[j] * (double)ybc[j];
  }
  for (int64_t c = 0; c < C; ++c) {
    const T* gbc = gb + c * J;
    const T* ybc = yb + c * J;
    T* oc = gi + c * stride;
    if (log)  // d/dx log_softmax: g - exp(y) * sum(g)
      for (int64_t j = 0; j < nj; ++j) oc[j] = (T)((double)gbc[j] - std::exp((double)ybc[j]) * s[j]);
    else  // d/dx softmax: y * (g - sum(g * y))
      for (int64_t j = 0; j < nj; ++j) oc[j] = (T)((double)ybc[j] * ((double)gbc[j] - s[j]));
  }
}

// Runs tile(base offset, nj, J, buf) over every (outer, tile of inner positions), in parallel.
template <class T, class F>
void for_tiles(const Lines& L, int64_t bufs, F tile, int64_t Jw = 0) {
  // Never wider than inner rounded up to 16 (a multiple of every SIMD width): J is the buffer's row
  // stride, and for a small inner, rows 2 KiB apart for a few used positions would put every plane's
  // row in the same couple of L1 sets (on [4000,50,3] the gain was within this machine's noise).
  const int64_t C = L.n, J = std::min<int64_t>(Jw ? Jw : tile_width(C), (L.inner + 15) & ~int64_t(15));
  const int64_t per = (L.inner + J - 1) / J, units = L.outer * per;
  parallel_for(units, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, C * J)), [&](int64_t b, int64_t e) {
    std::vector<T> buf((size_t)std::max<int64_t>(1, bufs * C * J));
    for (int64_t u = b; u < e; ++u) {
      int64_t o = u / per, j0 = (u % per) * J;
      tile(o * C * L.inner + j0, std::min(L.inner, j0 + J) - j0, J, buf.data());
    }
  });
}
}  // namespace

void softmax(const Tensor& out, const Tensor& in, int64_t dim, bool log) {
  Lines L = lines_of(in, dim);
  FLB_DISPATCH_FLOATING(in.dtype, "softmax", [&] {
    using T = scalar_t;
    const TileFns tf = tile_fns();
    const T* x = in.data<T>();
    T* y = out.data<T>();
    if constexpr (std::is_same_v<T, float>) {
      if (L.inner == 1 && L.n > 0 && tf.rows_fwd) {
        return parallel_for(L.outer, rows_grain(L.n), [&](int64_t b, int64_t e) {
          tf.rows_fwd(reinterpret_cast<float*>(y) + b * L.n, reinterpret_cast<const float*>(x) + b * L.n, e - b, L.n, log);
        });
      }
    } else if (L.inner == 1 && L.n > 0 && tf.rows_fwd64) {
      return parallel_for(L.outer, rows_grain(L.n), [&](int64_t b, int64_t e) {
        tf.rows_fwd64(reinterpret_cast<double*>(y) + b * L.n, reinterpret_cast<const double*>(x) + b * L.n, e - b, L.n, log);
      });
    }
    if (L.inner > 1) {
      for_tiles<T>(L, 1, [&](int64_t base, int64_t nj, int64_t J, T* buf) {
        if (simd_fwd(tf, y + base, x + base, L.inner, L.n, nj, J, buf, log)) return;
        tile_fwd_scalar<T>(y + base, x + base, L.inner, L.n, nj, J, buf, log);
      });
      return;
    }
    parallel_for(L.outer * L.inner, rows_grain(L.n), [&](int64_t b, int64_t e) {
      for (int64_t line = b; line < e; ++line) {
        int64_t o = line / L.inner, i = line % L.inner;
        const T* xl = x + o * L.n * L.inner + i;
        T* yl = y + o * L.n * L.inner + i;
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t k = 0; k < L.n; ++k) m = std::fmax(m, (double)xl[k * L.inner]);
        if (std::isinf(m) && m < 0) m = 0;  // all -inf: exp gives 0s, as PyTorch (NaN out)
        double s = 0;
        for (int64_t k = 0; k < L.n; ++k) s += std::exp((double)xl[k * L.inner] - m);
        if (log) {
          double ls = std::log(s) + m;
          for (int64_t k = 0; k < L.n; ++k) yl[k * L.inner] = (T)((double)xl[k * L.inner] - ls);
        } else {
          double inv = 1.0 / s;
          for (int64_t k = 0; k < L.n; ++k) yl[k * L.inner] = (T)(std::exp((double)xl[k * L.inner] - m) * inv);
        }
      }
    });
  });
}

void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, int64_t dim, bool log) {
  Lines L = lines_of(out, dim);
  FLB_DISPATCH_FLOATING(out.dtype, "softmax_backward", [&] {
    using T = scalar_t;
    const TileFns tf = tile_fns();
    const T* g = grad_out.data<T>();
    const T* y = out.data<T>();
    T* gi = grad_in.data<T>();
    if constexpr (std::is_same_v<T, float>) {
      if (L.inner == 1 && L.n > 0 && tf.rows_bwd) {
        return parallel_for(L.outer, rows_grain(L.n), [&](int64_t b, int64_t e) {
          tf.rows_bwd(reinterpret_cast<float*>(gi) + b * L.n, reinterpret_cast<const float*>(g) + b * L.n,
                      reinterpret_cast<const float*>(y) + b * L.n, e - b, L.n, log);
        });
      }
    } else if (L.inner == 1 && L.n > 0 && tf.rows_bwd64) {
      return parallel_for(L.outer, rows_grain(L.n), [&](int64_t b, int64_t e) {
        tf.rows_bwd64(reinterpret_cast<double*>(gi) + b * L.n, reinterpret_cast<const double*>(g) + b * L.n,
                      reinterpret_cast<const double*>(y) + b * L.n, e - b, L.n, log);
      });
    }
    if (L.inner > 1) {
      const bool simd = std::is_same_v<T, float> && tf.bwd;  // no buffer, its own tile width
      for_tiles<T>(L, simd ? 0 : 2, [&](int64_t base, int64_t nj, int64_t J, T* buf) {
        if (simd_bwd(tf, gi + base, g + base, y + base, L.inner, L.n, nj, J, buf, log)) return;
        tile_bwd_scalar<T>(gi + base, g + base, y + base, L.inner, L.n, nj, J, buf, log);
      }, simd ? bwd_tile_width(L.n) : 0);
      return;
    }
    parallel_for(L.outer * L.inner, rows_grain(L.n), [&](int64_t b, int64_t e) {
      for (int64_t line = b; line < e; ++line) {
        int64_t o = line / L.inner, i = line % L.inner;
        int64_t base = o * L.n * L.inner + i;
        double s = 0;
        if (log) {
          // d/dx log_softmax: g - exp(y) * sum(g)
          for (int64_t k = 0; k < L.n; ++k) s += (double)g[base + k * L.inner];
          for (int64_t k = 0; k < L.n; ++k) {
            int64_t j = base + k * L.inner;
            gi[j] = (T)((double)g[j] - std::exp((double)y[j]) * s);
          }
        } else {
          // d/dx softmax: y * (g - sum(g * y))
          for (int64_t k = 0; k < L.n; ++k) s += (double)g[base + k * L.inner] * (double)y[base + k * L.inner];
          for (int64_t k = 0; k < L.n; ++k) {
            int64_t j = base + k * L.inner;
            gi[j] = (T)((double)y[j] * ((double)g[j] - s));
          }
        }
      }
    });
  });
}
}  // namespace flambeau::cpu
