// The per-element bodies of the 3-D pooling CUDA kernels (csrc/cuda/pooling3d.cu): one call computes
// one output element (forwards) or one input-gradient element (the average backwards, as gathers).
// Plain C++ with FLB_HD, so that tests/cuda_host/pool3d_test.cpp runs exactly these bodies on the host
// against the CPU kernels' loops (csrc/cpu/pooling3d.cpp): no GPU needed to check the index math.
//
// Every body reproduces the CPU kernel's order of operations, so results are bit-identical to the
// CPU's: the window walks (depth, row, column) ascending; the max keeps the first maximum and a NaN
// wins (`v > m || v != v`); the average is a sum in T divided once (avg) or by the three extents in
// turn (adaptive); global adaptive averaging (one output per volume) uses the CPU's 16-lane sum.
// The CPU backwards scatter each output's share into the input gradient in output order; the gathers
// here add, for one input element, the shares of exactly the outputs whose windows contain it, in
// that same (od, oh, ow) order, starting from 0: the same sum, with no atomics and no races.
#pragma once
#include <cmath>
#include <cstdint>

#include "cuda/host_device.h"

namespace flambeau::cuda::pool3d {

// The CPU's Pool3dGeometry (csrc/cpu/vol_kernels.h), field for field.
struct Geom {
  int64_t planes, D, H, W, OD, OH, OW;
  int64_t kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw;
};

FLB_HD int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
FLB_HD int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

template <class T>
FLB_HD bool gt_or_nan(T v, T m) {
  return v > m || v != v;
}

// Output element e -> (plane, od, oh, ow) / input element e -> (plane, id, ih, iw).
struct Pos {
  int64_t p, d, h, w;
};
FLB_HD Pos split(int64_t e, int64_t D, int64_t H, int64_t W) {
  const int64_t hw = H * W, vol = D * hw;
  Pos q;
  q.p = e / vol;
  int64_t r = e - q.p * vol;
  q.d = r / hw;
  r -= q.d * hw;
  q.h = r / W;
  q.w = r - q.h * W;
  return q;
}

// ---- max pooling: dilated taps start + i*dil (i < k) inside [0, n) (the CPU's max_taps)
struct Taps {
  int64_t first, end;
};
FLB_HD Taps max_taps(int64_t o, int64_t n, int64_t k, int64_t s, int64_t p, int64_t dil) {
  int64_t a = o * s - p;
  const int64_t e = imin(a + (k - 1) * dil + 1, n);
  while (a < 0) a += dil;
  return {a, e};
}

template <class T>
FLB_HD void max_pool_at(int64_t e, T* y, int64_t* ind, const T* x, const Geom& g) {
  const Pos o = split(e, g.OD, g.OH, g.OW);
  const int64_t HW = g.H * g.W;
  const T* xp = x + o.p * g.D * HW;
  const Taps a = max_taps(o.d, g.D, g.kd, g.sd, g.pd, g.dd), b = max_taps(o.h, g.H, g.kh, g.sh, g.ph, g.dh),
             c = max_taps(o.w, g.W, g.kw, g.sw, g.pw, g.dw);
  int64_t best = a.first * HW + b.first * g.W + c.first;
  T m = -(T)INFINITY;
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
  y[e] = m;
  if (ind) ind[e] = best;
}

// ---- average pooling: [lo, hi) clipped to the input, and the extent clipped only to input + padding
struct AvgAxis {
  int64_t lo, hi, padded;
};
FLB_HD AvgAxis avg_axis(int64_t o, int64_t n, int64_t k, int64_t s, int64_t p) {
  int64_t lo = o * s - p;
  int64_t hi = imin(lo + k, n + p);
  const int64_t padded = hi - lo;
  return {imax(lo, 0), imin(hi, n), padded};
}

// The divisor of a window (0: no input element in it; output 0, no gradient), as the CPU's.
FLB_HD int64_t avg_divisor(const AvgAxis& a, const AvgAxis& b, const AvgAxis& c, bool cip, int64_t dov) {
  if (a.lo >= a.hi || b.lo >= b.hi || c.lo >= c.hi) return 0;
  if (dov) return dov;
  if (cip) return a.padded * b.padded * c.padded;
  return (a.hi - a.lo) * (b.hi - b.lo) * (c.hi - c.lo);
}

template <class T>
FLB_HD void avg_pool_at(int64_t e, T* y, const T* x, const Geom& g, bool cip, int64_t dov) {
  const Pos o = split(e, g.OD, g.OH, g.OW);
  const AvgAxis a = avg_axis(o.d, g.D, g.kd, g.sd, g.pd), b = avg_axis(o.h, g.H, g.kh, g.sh, g.ph),
                c = avg_axis(o.w, g.W, g.kw, g.sw, g.pw);
  const int64_t div = avg_divisor(a, b, c, cip, dov);
  if (div == 0) {
    y[e] = T(0);
    return;
  }
  const int64_t HW = g.H * g.W;
  const T* xp = x + o.p * g.D * HW;
  T s = 0;
  for (int64_t id = a.lo; id < a.hi; ++id)
    for (int64_t ih = b.lo; ih < b.hi; ++ih) {
      const T* row = xp + id * HW + ih * g.W;
      for (int64_t iw = c.lo; iw < c.hi; ++iw) s += row[iw];
    }
  y[e] = s / T(div);
}

// The outputs o (on one axis) whose window [o*s - p, o*s - p + k) contains input index i, as [lo, hi]
// (empty when lo > hi). Clipping the window to [0, n) or to n + p never drops an i in [0, n).
struct Range {
  int64_t lo, hi;
};
FLB_HD Range covering_outputs(int64_t i, int64_t out, int64_t k, int64_t s, int64_t p) {
  const int64_t t = i + p - k + 1;  // o*s >= t
  const int64_t lo = t <= 0 ? 0 : (t + s - 1) / s;
  const int64_t hi = imin(out - 1, (i + p) / s);  // o*s <= i + p (i + p >= 0)
  return {lo, hi};
}

template <class T>
FLB_HD void avg_pool_backward_at(int64_t e, T* gx, const T* gy, const Geom& g, bool cip, int64_t dov) {
  const Pos q = split(e, g.D, g.H, g.W);
  const T* gyp = gy + q.p * g.OD * g.OH * g.OW;
  const Range rd = covering_outputs(q.d, g.OD, g.kd, g.sd, g.pd), rh = covering_outputs(q.h, g.OH, g.kh, g.sh, g.ph),
              rw = covering_outputs(q.w, g.OW, g.kw, g.sw, g.pw);
  T acc = T(0);
  for (int64_t od = rd.lo; od <= rd.hi; ++od) {
    const AvgAxis a = avg_axis(od, g.D, g.kd, g.sd, g.pd);
    for (int64_t oh = rh.lo; oh <= rh.hi; ++oh) {
      const AvgAxis b = avg_axis(oh, g.H, g.kh, g.sh, g.ph);
      for (int64_t ow = rw.lo; ow <= rw.hi; ++ow) {
        const AvgAxis c = avg_axis(ow, g.W, g.kw, g.sw, g.pw);
        const int64_t div = avg_divisor(a, b, c, cip, dov);
        if (div == 0) continue;
        acc += gyp[(od * g.OH + oh) * g.OW + ow] / T(div);
      }
    }
  }
  gx[e] = acc;
}

// ---- adaptive pooling: output o covers [floor(o*I/O), ceil((o+1)*I/O))
FLB_HD int64_t start_index(int64_t o, int64_t out, int64_t in) { return (o / out) * in + ((o % out) * in) / out; }
FLB_HD int64_t end_index(int64_t o, int64_t out, int64_t in) { return 1 + ((o + 1) * in - 1) / out; }

// The adaptive outputs whose span contains input index i, as [lo, hi] (spans are ordered and cover
// [0, in), so they form one run).
FLB_HD Range adaptive_covering(int64_t i, int64_t out, int64_t in) {
  int64_t lo = imin((i * out) / in, out - 1);
  while (lo > 0 && end_index(lo - 1, out, in) > i) --lo;
  while (lo < out - 1 && end_index(lo, out, in) <= i) ++lo;
  int64_t hi = lo;
  while (hi + 1 < out && start_index(hi + 1, out, in) <= i) ++hi;
  return {lo, hi};
}

template <class T>
FLB_HD void adaptive_avg_at(int64_t e, T* y, const T* x, const Geom& g) {
  const Pos o = split(e, g.OD, g.OH, g.OW);
  const int64_t HW = g.H * g.W;
  const T* xp = x + o.p * g.D * HW;
  const int64_t d0 = start_index(o.d, g.OD, g.D), d1 = end_index(o.d, g.OD, g.D);
  const int64_t h0 = start_index(o.h, g.OH, g.H), h1 = end_index(o.h, g.OH, g.H);
  const int64_t w0 = start_index(o.w, g.OW, g.W), w1 = end_index(o.w, g.OW, g.W);
  T s = 0;
  for (int64_t id = d0; id < d1; ++id)
    for (int64_t ih = h0; ih < h1; ++ih) {
      const T* row = xp + id * HW + ih * g.W;
      for (int64_t iw = w0; iw < w1; ++iw) s += row[iw];
    }
  y[e] = s / T(d1 - d0) / T(h1 - h0) / T(w1 - w0);
}

// Global average of plane p (one output per volume): the CPU's sum_lanes (16 interleaved partial sums
// folded pairwise, then the tail) divided once by the volume.
template <class T>
FLB_HD void global_avg_at(int64_t p, T* y, const T* x, int64_t vol) {
  const T* a = x + p * vol;
  T s[16];
  for (int j = 0; j < 16; ++j) s[j] = T(0);
  int64_t i = 0;
  for (; i + 16 <= vol; i += 16)
    for (int j = 0; j < 16; ++j) s[j] += a[i + j];
  for (int w = 8; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) s[j] += s[j + w];
  T r = s[0];
  for (; i < vol; ++i) r += a[i];
  y[p] = r / T(vol);
}

template <class T>
FLB_HD void adaptive_avg_backward_at(int64_t e, T* gx, const T* gy, const Geom& g) {
  const Pos q = split(e, g.D, g.H, g.W);
  const int64_t out_vol = g.OD * g.OH * g.OW;
  const T* gyp = gy + q.p * out_vol;
  if (out_vol == 1) {  // global pooling: the mean's gradient, as the CPU's
    gx[e] = gyp[0] / T(g.D * g.H * g.W);
    return;
  }
  const Range rd = adaptive_covering(q.d, g.OD, g.D), rh = adaptive_covering(q.h, g.OH, g.H),
              rw = adaptive_covering(q.w, g.OW, g.W);
  T acc = T(0);
  for (int64_t od = rd.lo; od <= rd.hi; ++od) {
    const int64_t nd = end_index(od, g.OD, g.D) - start_index(od, g.OD, g.D);
    for (int64_t oh = rh.lo; oh <= rh.hi; ++oh) {
      const int64_t nh = end_index(oh, g.OH, g.H) - start_index(oh, g.OH, g.H);
      for (int64_t ow = rw.lo; ow <= rw.hi; ++ow) {
        const int64_t nw = end_index(ow, g.OW, g.W) - start_index(ow, g.OW, g.W);
        acc += gyp[(od * g.OH + oh) * g.OW + ow] / T(nd) / T(nh) / T(nw);
      }
    }
  }
  gx[e] = acc;
}

template <class T>
FLB_HD void adaptive_max_at(int64_t e, T* y, int64_t* ind, const T* x, const Geom& g) {
  const Pos o = split(e, g.OD, g.OH, g.OW);
  const int64_t HW = g.H * g.W;
  const T* xp = x + o.p * g.D * HW;
  const int64_t d0 = start_index(o.d, g.OD, g.D), d1 = end_index(o.d, g.OD, g.D);
  const int64_t h0 = start_index(o.h, g.OH, g.H), h1 = end_index(o.h, g.OH, g.H);
  const int64_t w0 = start_index(o.w, g.OW, g.W), w1 = end_index(o.w, g.OW, g.W);
  int64_t best = d0 * HW + h0 * g.W + w0;
  T m = -(T)INFINITY;
  for (int64_t id = d0; id < d1; ++id)
    for (int64_t ih = h0; ih < h1; ++ih) {
      const T* row = xp + id * HW + ih * g.W;
      for (int64_t iw = w0; iw < w1; ++iw) {
        const T v = row[iw];
        if (gt_or_nan(v, m)) {
          m = v;
          best = id * HW + ih * g.W + iw;
        }
      }
    }
  y[e] = m;
  if (ind) ind[e] = best;
}

}  // namespace flambeau::cuda::pool3d
