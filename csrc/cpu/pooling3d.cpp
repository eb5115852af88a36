// 3-D (volumetric) pooling on the CPU: max, average, adaptive average, adaptive max, max unpooling;
// forward and backward.
//
// What is computed: the input is viewed as `planes` = N*C independent D x H x W volumes (contiguous
// NCDHW); output cell (od, oh, ow) of a volume pools a window of that volume:
//
//   max_pool3d     depths od*sd - pd + i*dd (i < kd), rows and columns likewise, clipped to the
//                  volume; value = max, index = d*H*W + h*W + w of the max within the volume.
//   avg_pool3d     depths [od*sd - pd, +kd), rows and columns likewise, clipped to [0, D + pd) for
//                  the divisor (count_include_pad) and to the volume for the sum.
//   adaptive_*     depths [floor(od*D/OD), ceil((od+1)*D/OD)), rows and columns likewise.
//   max_unpool3d   y[plane, indices[i]] = x[plane, i] in a zero volume; its gradient gathers.
//
// Semantics follow PyTorch's CPU kernels (aten/src/ATen/native/cpu/MaxPoolKernel.cpp,
// AvgPoolKernel.cpp, AdaptiveAvgPoolKernel.cpp, AdaptiveMaxPoolKernel.cpp): the max takes the first
// maximum, and a NaN wins (the last NaN in the window: `val > max || isnan(val)`); the average is a
// sum in the element type divided once (avg) or by the three window extents in turn (adaptive);
// backward walks the outputs in order and adds into the input gradient, so gradients of overlapping
// windows sum in a fixed order.
//
// Why it is built this way: like 2-D pooling (csrc/cpu/pooling.cpp), pooling reads each input element
// about once per window covering it and does one compare or add per read, so it is bound by memory;
// the work is split over volumes, each owned by one thread (deterministic, no atomics, and the
// backward scatter-adds of a volume never race). The windows depend only on the output position, so
// their bounds are computed once per call, per axis.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/parallel.h"
#include "cpu/vol_kernels.h"

namespace flambeau::cpu {

namespace {

inline int64_t grain_for(int64_t per_plane) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(per_plane, 1)); }

template <class T>
inline bool gt_or_nan(T v, T m) {
  return v > m || std::isnan(v);
}

// ---- max pooling

// First in-range tap and end (exclusive) of the dilated window starting at `start` on an axis of
// length n: taps start + i*dil (i < k) inside [0, n).
struct Taps {
  int64_t first, end;
};

std::vector<Taps> max_taps(int64_t out, int64_t n, int64_t k, int64_t s, int64_t p, int64_t dil) {
  std::vector<Taps> t(out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t a = o * s - p;
    const int64_t e = std::min(a + (k - 1) * dil + 1, n);
    while (a < 0) a += dil;
    t[o] = {a, e};
  }
  return t;
}

template <class T>
void max_pool_impl(T* y, int64_t* ind, const T* x, const Pool3dGeometry& g) {
  const int64_t HW = g.H * g.W, in_vol = g.D * HW, out_vol = g.OD * g.OH * g.OW;
  const std::vector<Taps> td = max_taps(g.OD, g.D, g.kd, g.sd, g.pd, g.dd);
  const std::vector<Taps> th = max_taps(g.OH, g.H, g.kh, g.sh, g.ph, g.dh);
  const std::vector<Taps> tw = max_taps(g.OW, g.W, g.kw, g.sw, g.pw, g.dw);
  parallel_for(g.planes, grain_for(in_vol + out_vol * g.kd * g.kh * g.kw), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * in_vol;
      T* yp = y + p * out_vol;
      int64_t* ip = ind ? ind + p * out_vol : nullptr;
      int64_t i = 0;
      for (int64_t od = 0; od < g.OD; ++od)
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t ow = 0; ow < g.OW; ++ow, ++i) {
            const Taps a = td[od], b = th[oh], c = tw[ow];
            int64_t best = a.first * HW + b.first * g.W + c.first;
            T m = -std::numeric_limits<T>::infinity();
            for (int64_t id = a.first; id < a.end; id += g.dd)
              for (int64_t ih = b.first; ih < b.end; ih += g.dh) {
                const T* row = xp + id * HW + ih * g.W;
                for (int64_t iw = c.first; iw < c.end; iw += g.dw) {
                  const T v = row[iw];
                  if (gt_or_nan(v, m)) {
                    m = v;
                    best = id * HW + ih * g.W + iw;
                  }
                }
              }
            yp[i] = m;
            if (ip) ip[i] = best;
          }
    }
  });
}

template <class T>
bool max_backward_impl(T* gx, const T* gy, const int64_t* ind, int64_t planes, int64_t in_vol, int64_t out_vol) {
  std::atomic<bool> ok{true};
  parallel_for(planes, grain_for(in_vol + out_vol), [&](int64_t p0, int64_t p1) {
    bool good = true;
    for (int64_t p = p0; p < p1; ++p) {
      T* gxp = gx + p * in_vol;
      const T* gyp = gy + p * out_vol;
      const int64_t* ip = ind + p * out_vol;
      std::memset(gxp, 0, sizeof(T) * in_vol);
      for (int64_t i = 0; i < out_vol; ++i) {
        const int64_t k = ip[i];
        if (k < 0 || k >= in_vol) {
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

// ---- max unpooling

// Returns the first invalid index met by this thread's planes (or -1).
template <class T>
int64_t unpool_impl(T* y, const T* x, const int64_t* ind, int64_t planes, int64_t in_vol, int64_t out_vol) {
  std::atomic<bool> bad{false};
  std::atomic<int64_t> bad_index{-1};
  parallel_for(planes, grain_for(in_vol + out_vol), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* yp = y + p * out_vol;
      const T* xp = x + p * in_vol;
      const int64_t* ip = ind + p * in_vol;
      std::memset(yp, 0, sizeof(T) * out_vol);
      for (int64_t i = 0; i < in_vol; ++i) {
        const int64_t k = ip[i];
        if (k < 0 || k >= out_vol) {
          if (!bad.exchange(true)) bad_index.store(k);
          continue;
        }
        yp[k] = xp[i];
      }
    }
  });
  return bad.load() ? bad_index.load() : -1;
}

template <class T>
void unpool_backward_impl(T* gx, const T* gy, const int64_t* ind, int64_t planes, int64_t in_vol, int64_t out_vol) {
  parallel_for(planes, grain_for(2 * in_vol), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* gxp = gx + p * in_vol;
      const T* gyp = gy + p * out_vol;
      const int64_t* ip = ind + p * in_vol;
      for (int64_t i = 0; i < in_vol; ++i) {
        const int64_t k = ip[i];
        gxp[i] = (k >= 0 && k < out_vol) ? gyp[k] : T(0);
      }
    }
  });
}

// ---- average pooling

// One axis of an average window: [lo, hi) clipped to the input, and its extent before clipping to
// the input (but after clipping to input + padding), for count_include_pad.
struct AvgAxis {
  int64_t lo, hi, padded;
};

std::vector<AvgAxis> avg_axis(int64_t out, int64_t n, int64_t k, int64_t s, int64_t p) {
  std::vector<AvgAxis> a(out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t lo = o * s - p;
    int64_t hi = std::min(lo + k, n + p);
    const int64_t padded = hi - lo;
    lo = std::max<int64_t>(lo, 0);
    hi = std::min(hi, n);
    a[o] = {lo, hi, padded};
  }
  return a;
}

struct AvgWindows {
  std::vector<AvgAxis> d, h, w;
};

AvgWindows avg_windows(const Pool3dGeometry& g) {
  return {avg_axis(g.OD, g.D, g.kd, g.sd, g.pd), avg_axis(g.OH, g.H, g.kh, g.sh, g.ph),
          avg_axis(g.OW, g.W, g.kw, g.sw, g.pw)};
}

// The divisor of a window (0: the window holds no input element; output 0, no gradient).
inline int64_t avg_divisor(const AvgAxis& a, const AvgAxis& b, const AvgAxis& c, bool cip, int64_t dov) {
  if (a.lo >= a.hi || b.lo >= b.hi || c.lo >= c.hi) return 0;
  if (dov) return dov;
  if (cip) return a.padded * b.padded * c.padded;
  return (a.hi - a.lo) * (b.hi - b.lo) * (c.hi - c.lo);
}

template <class T>
void avg_pool_impl(T* y, const T* x, const Pool3dGeometry& g, bool cip, int64_t dov) {
  const int64_t HW = g.H * g.W, in_vol = g.D * HW, out_vol = g.OD * g.OH * g.OW;
  const AvgWindows win = avg_windows(g);
  parallel_for(g.planes, grain_for(in_vol + out_vol * g.kd * g.kh * g.kw), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * in_vol;
      T* yp = y + p * out_vol;
      int64_t i = 0;
      for (int64_t od = 0; od < g.OD; ++od)
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t ow = 0; ow < g.OW; ++ow, ++i) {
            const AvgAxis &a = win.d[od], &b = win.h[oh], &c = win.w[ow];
            const int64_t div = avg_divisor(a, b, c, cip, dov);
            if (div == 0) {
              yp[i] = T(0);
              continue;
            }
            T s = 0;
            for (int64_t id = a.lo; id < a.hi; ++id)
              for (int64_t ih = b.lo; ih < b.hi; ++ih) {
                const T* row = xp + id * HW + ih * g.W;
                for (int64_t iw = c.lo; iw < c.hi; ++iw) s += row[iw];
              }
            yp[i] = s / T(div);
          }
    }
  });
}

template <class T>
void avg_backward_impl(T* gx, const T* gy, const Pool3dGeometry& g, bool cip, int64_t dov) {
  const int64_t HW = g.H * g.W, in_vol = g.D * HW, out_vol = g.OD * g.OH * g.OW;
  const AvgWindows win = avg_windows(g);
  parallel_for(g.planes, grain_for(in_vol + out_vol * g.kd * g.kh * g.kw), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* gxp = gx + p * in_vol;
      const T* gyp = gy + p * out_vol;
      std::memset(gxp, 0, sizeof(T) * in_vol);
      int64_t i = 0;
      for (int64_t od = 0; od < g.OD; ++od)
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t ow = 0; ow < g.OW; ++ow, ++i) {
            const AvgAxis &a = win.d[od], &b = win.h[oh], &c = win.w[ow];
            const int64_t div = avg_divisor(a, b, c, cip, dov);
            if (div == 0) continue;
            const T v = gyp[i] / T(div);
            for (int64_t id = a.lo; id < a.hi; ++id)
              for (int64_t ih = b.lo; ih < b.hi; ++ih) {
                T* row = gxp + id * HW + ih * g.W;
                for (int64_t iw = c.lo; iw < c.hi; ++iw) row[iw] += v;
              }
          }
    }
  });
}

// ---- adaptive pooling

inline int64_t start_index(int64_t o, int64_t out, int64_t in) { return (o / out) * in + ((o % out) * in) / out; }
inline int64_t end_index(int64_t o, int64_t out, int64_t in) { return 1 + ((o + 1) * in - 1) / out; }

struct Span {
  int64_t lo, hi;
};

std::vector<Span> adaptive_spans(int64_t out, int64_t in) {
  std::vector<Span> s(out);
  for (int64_t o = 0; o < out; ++o) s[o] = {start_index(o, out, in), end_index(o, out, in)};
  return s;
}

struct AdaptiveWindows {
  std::vector<Span> d, h, w;
};

AdaptiveWindows adaptive_windows(const Pool3dGeometry& g) {
  return {adaptive_spans(g.OD, g.D), adaptive_spans(g.OH, g.H), adaptive_spans(g.OW, g.W)};
}

// Sum of n contiguous values with 16 interleaved partial sums added pairwise (vectorisable, a fixed
// order): global average pooling reads a whole volume per output, and one running sum would wait on
// the add latency at every element (11x slower than PyTorch's mean on [4, 32, 16, 32, 32]).
template <class T>
inline T sum_lanes(const T* a, int64_t n) {
  T s[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) s[j] += a[i + j];
  for (int w = 8; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) s[j] += s[j + w];
  T r = s[0];
  for (; i < n; ++i) r += a[i];
  return r;
}

template <class T>
void adaptive_avg_impl(T* y, const T* x, const Pool3dGeometry& g) {
  const int64_t HW = g.H * g.W, in_vol = g.D * HW, out_vol = g.OD * g.OH * g.OW;
  if (out_vol == 1) {  // global average pooling (PyTorch takes a mean: the sum divided once)
    parallel_for(g.planes, grain_for(in_vol), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) y[p] = sum_lanes(x + p * in_vol, in_vol) / T(in_vol);
    });
    return;
  }
  const AdaptiveWindows win = adaptive_windows(g);
  parallel_for(g.planes, grain_for(in_vol + out_vol), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * in_vol;
      T* yp = y + p * out_vol;
      int64_t i = 0;
      for (int64_t od = 0; od < g.OD; ++od)
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t ow = 0; ow < g.OW; ++ow, ++i) {
            const Span &a = win.d[od], &b = win.h[oh], &c = win.w[ow];
            T s = 0;
            for (int64_t id = a.lo; id < a.hi; ++id)
              for (int64_t ih = b.lo; ih < b.hi; ++ih) {
                const T* row = xp + id * HW + ih * g.W;
                for (int64_t iw = c.lo; iw < c.hi; ++iw) s += row[iw];
              }
            yp[i] = s / T(a.hi - a.lo) / T(b.hi - b.lo) / T(c.hi - c.lo);
          }
    }
  });
}

template <class T>
void adaptive_avg_backward_impl(T* gx, const T* gy, const Pool3dGeometry& g) {
  const int64_t HW = g.H * g.W, in_vol = g.D * HW, out_vol = g.OD * g.OH * g.OW;
  if (out_vol == 1) {  // global average pooling: a broadcast of grad / count (the mean's gradient)
    parallel_for(g.planes, grain_for(in_vol), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) std::fill(gx + p * in_vol, gx + (p + 1) * in_vol, gy[p] / T(in_vol));
    });
    return;
  }
  const AdaptiveWindows win = adaptive_windows(g);
  parallel_for(g.planes, grain_for(in_vol + out_vol), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* gxp = gx + p * in_vol;
      const T* gyp = gy + p * out_vol;
      std::memset(gxp, 0, sizeof(T) * in_vol);
      int64_t i = 0;
      for (int64_t od = 0; od < g.OD; ++od)
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t ow = 0; ow < g.OW; ++ow, ++i) {
            const Span &a = win.d[od], &b = win.h[oh], &c = win.w[ow];
            const T v = gyp[i] / T(a.hi - a.lo) / T(b.hi - b.lo) / T(c.hi - c.lo);
            for (int64_t id = a.lo; id < a.hi; ++id)
              for (int64_t ih = b.lo; ih < b.hi; ++ih) {
                T* row = gxp + id * HW + ih * g.W;
                for (int64_t iw = c.lo; iw < c.hi; ++iw) row[iw] += v;
              }
          }
    }
  });
}

template <class T>
void adaptive_max_impl(T* y, int64_t* ind, const T* x, const Pool3dGeometry& g) {
  const int64_t HW = g.H * g.W, in_vol = g.D * HW, out_vol = g.OD * g.OH * g.OW;
  const AdaptiveWindows win = adaptive_windows(g);
  parallel_for(g.planes, grain_for(in_vol + out_vol), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * in_vol;
      T* yp = y + p * out_vol;
      int64_t* ip = ind ? ind + p * out_vol : nullptr;
      int64_t i = 0;
      for (int64_t od = 0; od < g.OD; ++od)
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t ow = 0; ow < g.OW; ++ow, ++i) {
            const Span &a = win.d[od], &b = win.h[oh], &c = win.w[ow];
            int64_t best = a.lo * HW + b.lo * g.W + c.lo;
            T m = -std::numeric_limits<T>::infinity();
            for (int64_t id = a.lo; id < a.hi; ++id)
              for (int64_t ih = b.lo; ih < b.hi; ++ih) {
                const T* row = xp + id * HW + ih * g.W;
                for (int64_t iw = c.lo; iw < c.hi; ++iw) {
                  const T v = row[iw];
                  if (gt_or_nan(v, m)) {
                    m = v;
                    best = id * HW + ih * g.W + iw;
                  }
                }
              }
            yp[i] = m;
            if (ip) ip[i] = best;
          }
    }
  });
}

}  // namespace

void max_pool3d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const Pool3dGeometry& g) {
  FLB_DISPATCH_FLOATING(x.dtype, "max_pool3d", [&] {
    max_pool_impl<scalar_t>(y.data<scalar_t>(), indices ? indices->data<int64_t>() : nullptr, x.data<scalar_t>(), g);
  });
}

bool max_pool3d_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& indices, int64_t planes,
                         int64_t in_volume, int64_t out_volume) {
  bool ok = true;
  FLB_DISPATCH_FLOATING(grad_y.dtype, "max_pool3d_backward", [&] {
    ok = max_backward_impl<scalar_t>(grad_x.data<scalar_t>(), grad_y.data<scalar_t>(), indices.data<int64_t>(),
                                     planes, in_volume, out_volume);
  });
  return ok;
}

int64_t max_unpool3d_forward(const Tensor& y, const Tensor& x, const Tensor& indices, int64_t planes,
                             int64_t in_volume, int64_t out_volume) {
  int64_t bad = -1;
  FLB_DISPATCH_FLOATING(x.dtype, "max_unpool3d", [&] {
    bad = unpool_impl<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), indices.data<int64_t>(), planes, in_volume,
                                out_volume);
  });
  return bad;
}

void max_unpool3d_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& indices, int64_t planes,
                           int64_t in_volume, int64_t out_volume) {
  FLB_DISPATCH_FLOATING(grad_y.dtype, "max_unpool3d_backward", [&] {
    unpool_backward_impl<scalar_t>(grad_x.data<scalar_t>(), grad_y.data<scalar_t>(), indices.data<int64_t>(), planes,
                                   in_volume, out_volume);
  });
}

void avg_pool3d_forward(const Tensor& y, const Tensor& x, const Pool3dGeometry& g, bool count_include_pad,
                        int64_t divisor_override) {
  FLB_DISPATCH_FLOATING(x.dtype, "avg_pool3d", [&] {
    avg_pool_impl<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), g, count_include_pad, divisor_override);
  });
}

void avg_pool3d_backward(const Tensor& grad_x, const Tensor& grad_y, const Pool3dGeometry& g, bool count_include_pad,
                         int64_t divisor_override) {
  FLB_DISPATCH_FLOATING(grad_y.dtype, "avg_pool3d_backward", [&] {
    avg_backward_impl<scalar_t>(grad_x.data<scalar_t>(), grad_y.data<scalar_t>(), g, count_include_pad,
                                divisor_override);
  });
}

void adaptive_avg_pool3d_forward(const Tensor& y, const Tensor& x, const Pool3dGeometry& g) {
  FLB_DISPATCH_FLOATING(x.dtype, "adaptive_avg_pool3d", [&] {
    adaptive_avg_impl<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), g);
  });
}

void adaptive_avg_pool3d_backward(const Tensor& grad_x, const Tensor& grad_y, const Pool3dGeometry& g) {
  FLB_DISPATCH_FLOATING(grad_y.dtype, "adaptive_avg_pool3d_backward", [&] {
    adaptive_avg_backward_impl<scalar_t>(grad_x.data<scalar_t>(), grad_y.data<scalar_t>(), g);
  });
}

void adaptive_max_pool3d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const Pool3dGeometry& g) {
  FLB_DISPATCH_FLOATING(x.dtype, "adaptive_max_pool3d", [&] {
    adaptive_max_impl<scalar_t>(y.data<scalar_t>(), indices ? indices->data<int64_t>() : nullptr,
                                x.data<scalar_t>(), g);
  });
}

}  // namespace flambeau::cpu
