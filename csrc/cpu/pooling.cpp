// 2-D pooling on the CPU: max, average, adaptive average, adaptive max; forward and backward.
//
// What is computed: the input is viewed as `planes` = N*C independent H x W planes (contiguous NCHW);
// output cell (oh, ow) of a plane pools a window of that plane:
//
//   max_pool2d     rows oh*sh - ph + i*dh (i < kh), columns ow*sw - pw + j*dw (j < kw), clipped to
//                  the plane; value = max, index = h*W + w of the max within the plane.
//   avg_pool2d     rows [oh*sh - ph, +kh) and columns likewise, clipped to [0, H + ph) for the
//                  divisor (count_include_pad) and to the plane for the sum.
//   adaptive_*     rows [floor(oh*H/OH), ceil((oh+1)*H/OH)), columns likewise.
//
// Semantics follow PyTorch's CPU kernels exactly, down to the order of operations where it shows in
// the bits: the max takes the first maximum, and a NaN wins (the last NaN in the window, as in
// PyTorch's `val > max || isnan(val)`); the average is a sum in the element type divided once (avg)
// or by the two window extents in turn (adaptive); backward walks the outputs in order and adds into
// the input gradient, so gradients of overlapping windows sum in a fixed order.
//
// Why it is built this way: pooling reads each input element about once (kh*kw/(sh*sw) times) and
// does one compare or add per read, so it is bound by memory, not arithmetic; the work is split over
// planes (each plane owned by one thread: deterministic, no atomics, and the backward scatter-adds of
// a plane never race). Max pooling runs the windows that lie wholly inside a row L at a time in
// vectors (max_pool_lanes).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/nn_kernels.h"
#include "cpu/parallel.h"

namespace flambeau::cpu {

namespace {

inline int64_t grain_for(int64_t per_plane) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(per_plane, 1)); }

template <class T>
inline bool gt_or_nan(T v, T m) {
  return v > m || std::isnan(v);
}

// ---- max pooling

// Interior windows (the whole window inside the row) of stride-1 or stride-2 pools, undilated along
// the row, run L outputs of a row at once in vectors (GCC vector extensions: SSE2 in this baseline
// file, 4 floats or 2 doubles): per tap, v > m or v NaN (PyTorch's rule, the taps in the scalar loop's
// order, so the same value and index), then a select on that mask. The scalar loop's data-dependent
// branch mispredicted about once per window: a 2x2 stride-2 pool of [32, 64, 32, 32] float32 took
// 10 ms on one core, 20 ns per output. (A branch-free scalar form did not help: GCC turns the float
// select back into a branch.)
template <class T>
struct PoolLanes;
template <>
struct PoolLanes<float> {
  static constexpr int L = 4;
  typedef float V __attribute__((vector_size(16)));
  typedef int32_t M __attribute__((vector_size(16)));
  using Tap = int32_t;
};
template <>
struct PoolLanes<double> {
  static constexpr int L = 2;
  typedef double V __attribute__((vector_size(16)));
  typedef int64_t M __attribute__((vector_size(16)));
  using Tap = int64_t;
};

// p[0], p[S], ..., p[(L-1) S] for S = 1 or 2, reading nothing past p[(L-1) S].
template <class T, int S>
inline typename PoolLanes<T>::V load_lanes(const T* p) {
  using P = PoolLanes<T>;
  typename P::V a, b;
  std::memcpy(&a, p, sizeof a);
  if constexpr (S == 1) {
    return a;
  } else {
    std::memcpy(&b, p + P::L - 1, sizeof b);  // p[L-1 .. 2L-2]
    if constexpr (P::L == 4) return __builtin_shuffle(a, b, typename P::M{0, 2, 5, 7});
    else return __builtin_shuffle(a, b, typename P::M{0, 3});
  }
}

// Outputs ow .. ow + L - 1 of one output row: rows [ih0, ih1) step dh, already clipped; the columns
// of every window inside the row.
template <class T, bool kIdx, int S>
inline void max_pool_lanes(const T* x, T* y, int64_t* ind, const PoolGeometry& g, int64_t ih0, int64_t ih1,
                           int64_t ow) {
  using P = PoolLanes<T>;
  const int64_t W = g.W, kw = g.kw, dh = g.dh, iw0 = ow * S - g.pw;
  typename P::V m = typename P::V{} - std::numeric_limits<T>::infinity();
  // The winner's offset ih*W + j per lane, in lanes as wide as the mask (a 64-bit index vector made
  // GCC go through memory on SSE2; max_pool_plane keeps float planes under 2^31 elements for this).
  typename P::M best = typename P::M{} + (typename P::Tap)(ih0 * W);
  for (int64_t ih = ih0; ih < ih1; ih += dh) {
    const T* row = x + ih * W;
    for (int64_t j = 0; j < kw; ++j) {
      const typename P::V v = load_lanes<T, S>(row + iw0 + j);
      const typename P::M t = (v > m) | (v != v);
      m = t ? v : m;
      if constexpr (kIdx) best = t ? typename P::M{} + (typename P::Tap)(ih * W + j) : best;
    }
  }
  std::memcpy(y, &m, sizeof m);
  if constexpr (kIdx) {  // offsets (>= 0) widened to int64 by interleaving with zeros, plus the column
    typedef int64_t I2 __attribute__((vector_size(16)));
    if constexpr (P::L == 4) {
      const typename P::M z{};
      const I2 lo = (I2)__builtin_shuffle(best, z, typename P::M{0, 4, 1, 5}) + I2{iw0, iw0 + S};
      const I2 hi = (I2)__builtin_shuffle(best, z, typename P::M{2, 6, 3, 7}) + I2{iw0 + 2 * S, iw0 + 3 * S};
      std::memcpy(ind, &lo, sizeof lo);
      std::memcpy(ind + 2, &hi, sizeof hi);
    } else {
      const I2 v = (I2)best + I2{iw0, iw0 + S};
      std::memcpy(ind, &v, sizeof v);
    }
  }
}

template <class T, bool kIdx>
void max_pool_plane(const T* x, T* y, int64_t* ind, const PoolGeometry& g) {
  const int64_t H = g.H, W = g.W, OW = g.OW;
  constexpr int L = PoolLanes<T>::L;
  // Columns whose whole window lies inside the row (ow*sw - pw >= 0 and ow*sw - pw + (kw-1)*dw <= W-1)
  // go to the vector loop, L at a time.
  const bool lanes = g.dw == 1 && (g.sw == 1 || g.sw == 2) && H * W < (int64_t(1) << 31);
  const int64_t ow_lo = std::min(OW, (g.pw + g.sw - 1) / g.sw);
  const int64_t last = W - 1 - (g.kw - 1) * g.dw + g.pw;  // ow*sw <= last
  const int64_t ow_hi = last < 0 ? 0 : std::min(OW, last / g.sw + 1);
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    int64_t ih0 = oh * g.sh - g.ph;
    const int64_t ih1 = std::min(ih0 + (g.kh - 1) * g.dh + 1, H);
    while (ih0 < 0) ih0 += g.dh;
    T* yr = y + oh * OW;
    int64_t* ir = kIdx ? ind + oh * OW : nullptr;
    auto cell = [&](int64_t ow) {
      int64_t iw0 = ow * g.sw - g.pw;
      const int64_t iw1 = std::min(iw0 + (g.kw - 1) * g.dw + 1, W);
      while (iw0 < 0) iw0 += g.dw;
      int64_t best = ih0 * W + iw0;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t ih = ih0; ih < ih1; ih += g.dh) {
        const T* row = x + ih * W;
        for (int64_t iw = iw0; iw < iw1; iw += g.dw) {
          const T v = row[iw];
          if (gt_or_nan(v, m)) {
            m = v;
            best = ih * W + iw;
          }
        }
      }
      yr[ow] = m;
      if (kIdx) ir[ow] = best;
    };
    int64_t ow = 0;
    if (lanes && ow_hi - ow_lo >= L) {
      for (; ow < ow_lo; ++ow) cell(ow);
      auto run = [&](int64_t o) {
        if (g.sw == 1) max_pool_lanes<T, kIdx, 1>(x, yr + o, kIdx ? ir + o : nullptr, g, ih0, ih1, o);
        else max_pool_lanes<T, kIdx, 2>(x, yr + o, kIdx ? ir + o : nullptr, g, ih0, ih1, o);
      };
      for (; ow + L <= ow_hi; ow += L) run(ow);
      if (ow < ow_hi) {  // the last interior outputs: one more vector ending at ow_hi (overlap rewrites the same)
        run(ow_hi - L);
        ow = ow_hi;
      }
    }
    for (; ow < OW; ++ow) cell(ow);
  }
}

template <class T>
void max_pool_impl(T* y, int64_t* ind, const T* x, const PoolGeometry& g) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  parallel_for(g.planes, grain_for(in_plane + out_plane * g.kh * g.kw), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * in_plane;
      T* yp = y + p * out_plane;
      int64_t* ip = ind ? ind + p * out_plane : nullptr;
      if (ind) max_pool_plane<T, true>(xp, yp, ip, g);
      else max_pool_plane<T, false>(xp, yp, ip, g);
    }
  });
}

// Returns false if some index was outside [0, in_plane) (that element is skipped).
template <class T>
bool max_backward_impl(T* gx, const T* gy, const int64_t* ind, int64_t planes, int64_t in_plane, int64_t out_plane) {
  std::atomic<bool> ok{true};
  parallel_for(planes, grain_for(in_plane + out_plane), [&](int64_t p0, int64_t p1) {
    bool good = true;
    for (int64_t p = p0; p < p1; ++p) {
      T* gxp = gx + p * in_plane;
      const T* gyp = gy + p * out_plane;
      const int64_t* ip = ind + p * out_plane;
      std::memset(gxp, 0, sizeof(T) * in_plane);
      for (int64_t i = 0; i < out_plane; ++i) {
        const int64_t k = ip[i];
        if (k < 0 || k >= in_plane) {
          good = false;
          continue;
        }
        gxp[k] += gyp[i];
      }
    }
    if (!good) ok.store(false);
  });
  return ok.load();
}

// ---- average pooling

struct AvgWindow {
  int64_t h0, h1, w0, w1, div;  // clipped window and divisor; div == 0: empty window (output 0)
};

inline AvgWindow avg_window(int64_t oh, int64_t ow, const PoolGeometry& g, bool count_include_pad,
                            int64_t divisor_override) {
  int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  int64_t h1 = std::min(h0 + g.kh, g.H + g.ph), w1 = std::min(w0 + g.kw, g.W + g.pw);
  const int64_t pool_size = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, g.H);
  w1 = std::min(w1, g.W);
  AvgWindow a{h0, h1, w0, w1, 0};
  if (h0 >= h1 || w0 >= w1) return a;
  a.div = divisor_override ? divisor_override : count_include_pad ? pool_size : (h1 - h0) * (w1 - w0);
  return a;
}

template <class T>
void avg_pool_impl(T* y, const T* x, const PoolGeometry& g, bool cip, int64_t dov) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  // The windows depend on (oh, ow) only: computed once for all planes.
  std::vector<AvgWindow> win(out_plane);
  for (int64_t oh = 0; oh < g.OH; ++oh)
    for (int64_t ow = 0; ow < g.OW; ++ow) win[oh * g.OW + ow] = avg_window(oh, ow, g, cip, dov);
  const bool two = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 &&
                   2 * g.OH <= g.H && 2 * g.OW <= g.W;
  parallel_for(g.planes, grain_for(in_plane + out_plane * g.kh * g.kw), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * in_plane;
      T* yp = y + p * out_plane;
      if (two) {  // 2x2 stride 2, no padding: every window is full (same sum order as below)
        const T d = T(dov ? dov : 4);
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const T* r0 = xp + 2 * oh * g.W;
          const T* r1 = r0 + g.W;
          T* yr = yp + oh * g.OW;
          for (int64_t ow = 0; ow < g.OW; ++ow)
            yr[ow] = (((T(0) + r0[2 * ow]) + r0[2 * ow + 1]) + r1[2 * ow] + r1[2 * ow + 1]) / d;
        }
        continue;
      }
      for (int64_t i = 0; i < out_plane; ++i) {
        const AvgWindow& a = win[i];
        if (a.div == 0) {
          yp[i] = T(0);
          continue;
        }
        T s = 0;
        for (int64_t ih = a.h0; ih < a.h1; ++ih)
          for (int64_t iw = a.w0; iw < a.w1; ++iw) s += xp[ih * g.W + iw];
        yp[i] = s / T(a.div);
      }
    }
  });
}

template <class T>
void avg_backward_impl(T* gx, const T* gy, const PoolGeometry& g, bool cip, int64_t dov) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  std::vector<AvgWindow> win(out_plane);
  for (int64_t oh = 0; oh < g.OH; ++oh)
    for (int64_t ow = 0; ow < g.OW; ++ow) win[oh * g.OW + ow] = avg_window(oh, ow, g, cip, dov);
  parallel_for(g.planes, grain_for(in_plane + out_plane * g.kh * g.kw), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* gxp = gx + p * in_plane;
      const T* gyp = gy + p * out_plane;
      std::memset(gxp, 0, sizeof(T) * in_plane);
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const AvgWindow& a = win[oh * g.OW + ow];
          if (a.div == 0) continue;
          const T d = gyp[oh * g.OW + ow] / T(a.div);
          for (int64_t ih = a.h0; ih < a.h1; ++ih)
            for (int64_t iw = a.w0; iw < a.w1; ++iw) gxp[ih * g.W + iw] += d;
        }
    }
  });
}

// ---- adaptive pooling

inline int64_t start_index(int64_t o, int64_t out, int64_t in) { return (o / out) * in + ((o % out) * in) / out; }
inline int64_t end_index(int64_t o, int64_t out, int64_t in) { return 1 + ((o + 1) * in - 1) / out; }

// Sum of n contiguous values with 8 interleaved partial sums (vectorisable, fixed order). Planes of
// 512+ values take 32 partial sums added pairwise (sum32): with 8 the loop waited on the add
// latency of its two SSE registers (global average pooling of [128, 3, 32, 32]: 28 -> 21 us,
// PyTorch 22). Smaller planes keep the 8-sum loop and its bits (32 sums cost 10% on 16x16, 4x with
// a naive fold on 7x7).
template <class T>
inline T sum32(const T* a, int64_t n) {
  T s[32] = {};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int j = 0; j < 32; ++j) s[j] += a[i + j];
  for (int w = 16; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) s[j] += s[j + w];
  T r = s[0];
  for (; i < n; ++i) r += a[i];
  return r;
}

template <class T>
inline T sum_lanes(const T* a, int64_t n) {
  if (n >= 512) return sum32(a, n);
  T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) s[j] += a[i + j];
  T r = 0;
  for (int j = 0; j < 8; ++j) r += s[j];
  for (; i < n; ++i) r += a[i];
  return r;
}

template <class T>
void adaptive_avg_impl(T* y, const T* x, const PoolGeometry& g) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  if (g.OH == 1 && g.OW == 1) {  // global average pooling: one contiguous sum per plane
    parallel_for(g.planes, grain_for(in_plane), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) y[p] = sum_lanes(x + p * in_plane, in_plane) / T(g.H) / T(g.W);
    });
    return;
  }
  parallel_for(g.planes, grain_for(in_plane + out_plane), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * in_plane;
      T* yp = y + p * out_plane;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const int64_t h0 = start_index(oh, g.OH, g.H), h1 = end_index(oh, g.OH, g.H);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t w0 = start_index(ow, g.OW, g.W), w1 = end_index(ow, g.OW, g.W);
          T s = 0;
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) s += xp[ih * g.W + iw];
          yp[oh * g.OW + ow] = s / T(h1 - h0) / T(w1 - w0);
        }
      }
    }
  });
}

template <class T>
void adaptive_avg_backward_impl(T* gx, const T* gy, const PoolGeometry& g) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  if (g.OH == 1 && g.OW == 1) {  // global average pooling: a broadcast (same value as the loop below)
    parallel_for(g.planes, grain_for(in_plane), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const T d = gy[p] / T(g.H) / T(g.W);
        T* gxp = gx + p * in_plane;
        for (int64_t i = 0; i < in_plane; ++i) gxp[i] = d;
      }
    });
    return;
  }
  parallel_for(g.planes, grain_for(in_plane + out_plane), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* gxp = gx + p * in_plane;
      const T* gyp = gy + p * out_plane;
      std::memset(gxp, 0, sizeof(T) * in_plane);
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const int64_t h0 = start_index(oh, g.OH, g.H), h1 = end_index(oh, g.OH, g.H);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t w0 = start_index(ow, g.OW, g.W), w1 = end_index(ow, g.OW, g.W);
          const T d = gyp[oh * g.OW + ow] / T(h1 - h0) / T(w1 - w0);
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) gxp[ih * g.W + iw] += d;
        }
      }
    }
  });
}

template <class T>
void adaptive_max_impl(T* y, int64_t* ind, const T* x, const PoolGeometry& g) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  parallel_for(g.planes, grain_for(in_plane + out_plane), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * in_plane;
      T* yp = y + p * out_plane;
      int64_t* ip = ind ? ind + p * out_plane : nullptr;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const int64_t h0 = start_index(oh, g.OH, g.H), h1 = end_index(oh, g.OH, g.H);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t w0 = start_index(ow, g.OW, g.W), w1 = end_index(ow, g.OW, g.W);
          int64_t best = h0 * g.W + w0;
          T m = -std::numeric_limits<T>::infinity();
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) {
              const T v = xp[ih * g.W + iw];
              if (gt_or_nan(v, m)) {
                m = v;
                best = ih * g.W + iw;
              }
            }
          yp[oh * g.OW + ow] = m;
          if (ip) ip[oh * g.OW + ow] = best;
        }
      }
    }
  });
}

}  // namespace

void max_pool2d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const PoolGeometry& g) {
  FLB_DISPATCH_FLOATING(x.dtype, "max_pool2d", [&] {
    max_pool_impl<scalar_t>(y.data<scalar_t>(), indices ? indices->data<int64_t>() : nullptr, x.data<scalar_t>(), g);
  });
}

void max_pool2d_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& indices, int64_t in_plane_size) {
  const int64_t out_plane = grad_y.dim() >= 2 ? grad_y.sizes[grad_y.dim() - 1] * grad_y.sizes[grad_y.dim() - 2] : 1;
  const int64_t planes = out_plane ? grad_y.numel() / out_plane : 0;
  bool ok = true;
  FLB_DISPATCH_FLOATING(grad_y.dtype, "max_pool2d_backward", [&] {
    ok = max_backward_impl<scalar_t>(grad_x.data<scalar_t>(), grad_y.data<scalar_t>(), indices.data<int64_t>(),
                                     planes, in_plane_size, out_plane);
  });
  FLB_CHECK(ok, IndexError, "max_pool2d_backward: an index is out of range for input planes of ", in_plane_size,
            " elements");
}

void avg_pool2d_forward(const Tensor& y, const Tensor& x, const PoolGeometry& g, bool count_include_pad,
                        int64_t divisor_override) {
  FLB_DISPATCH_FLOATING(x.dtype, "avg_pool2d", [&] {
    avg_pool_impl<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), g, count_include_pad, divisor_override);
  });
}

void avg_pool2d_backward(const Tensor& grad_x, const Tensor& grad_y, const PoolGeometry& g, bool count_include_pad,
                         int64_t divisor_override) {
  FLB_DISPATCH_FLOATING(grad_y.dtype, "avg_pool2d_backward", [&] {
    avg_backward_impl<scalar_t>(grad_x.data<scalar_t>(), grad_y.data<scalar_t>(), g, count_include_pad,
                                divisor_override);
  });
}

void adaptive_avg_pool2d_forward(const Tensor& y, const Tensor& x, const PoolGeometry& g) {
  FLB_DISPATCH_FLOATING(x.dtype, "adaptive_avg_pool2d", [&] {
    adaptive_avg_impl<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), g);
  });
}

void adaptive_avg_pool2d_backward(const Tensor& grad_x, const Tensor& grad_y, const PoolGeometry& g) {
  FLB_DISPATCH_FLOATING(grad_y.dtype, "adaptive_avg_pool2d_backward", [&] {
    adaptive_avg_backward_impl<scalar_t>(grad_x.data<scalar_t>(), grad_y.data<scalar_t>(), g);
  });
}

void adaptive_max_pool2d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const PoolGeometry& g) {
  FLB_DISPATCH_FLOATING(x.dtype, "adaptive_max_pool2d", [&] {
    adaptive_max_impl<scalar_t>(y.data<scalar_t>(), indices ? indices->data<int64_t>() : nullptr,
                                x.data<scalar_t>(), g);
  });
}

}  // namespace flambeau::cpu
