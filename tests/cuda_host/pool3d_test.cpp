// Host test of the 3-D pooling CUDA kernels' per-element bodies (csrc/cuda/pool3d_index.h), built
// with the system C++ compiler by tests/kernels/test_pool3d_cuda_host.py (no GPU needed).
//
// 1. covering_outputs / adaptive_covering against brute force (every output whose window contains
//    the input index, and no other) over small sizes, kernels, strides and paddings.
// 2. For random geometries (strides, paddings up to half the kernel, dilations, ceil_mode output sizes,
//    odd sizes, adaptive up- and down-sampling, global pooling, count_include_pad, divisor_override)
//    every body, called for every element as the kernels' grid-stride loops do, against the CPU
//    kernels' loops (csrc/cpu/pooling3d.cpp, the scatter-form backwards) on random floats with ties
//    and NaNs: bit for bit, every output written once (outputs poisoned with a sentinel first).
//
// Usage: pool3d_test [cases] [seed]; prints failures and a summary, exit 1 on failure.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "cuda/pool3d_index.h"

using namespace flambeau::cuda::pool3d;
using T = float;

static int failures = 0;

static void fail(const char* what, long long a, long long b) {
  if (++failures < 30) std::printf("FAIL %s (%lld, %lld)\n", what, a, b);
}

static void check_ranges() {
  for (int64_t n = 1; n <= 9; ++n)
    for (int64_t k = 1; k <= 5; ++k)
      for (int64_t s = 1; s <= 4; ++s)
        for (int64_t p = 0; p <= k / 2; ++p)
          for (int ceil = 0; ceil < 2; ++ceil) {
            // PyTorch's output size (pooling_output_shape)
            int64_t num = n + 2 * p - k + (ceil ? s - 1 : 0);
            if (num < 0) continue;
            int64_t out = num / s + 1;
            if (ceil && (out - 1) * s >= n + p) --out;
            for (int64_t i = 0; i < n; ++i) {
              const Range r = covering_outputs(i, out, k, s, p);
              for (int64_t o = 0; o < out; ++o) {
                const AvgAxis a = avg_axis(o, n, k, s, p);
                const bool in = a.lo <= i && i < a.hi;
                const bool got = r.lo <= o && o <= r.hi;
                if (in != got) fail("covering_outputs", i * 1000 + o, n * 100 + k * 10 + s);
              }
            }
          }
  for (int64_t in = 1; in <= 12; ++in)
    for (int64_t out = 1; out <= 12; ++out)
      for (int64_t i = 0; i < in; ++i) {
        const Range r = adaptive_covering(i, out, in);
        for (int64_t o = 0; o < out; ++o) {
          const bool cov = start_index(o, out, in) <= i && i < end_index(o, out, in);
          if (cov != (r.lo <= o && o <= r.hi)) fail("adaptive_covering", i * 100 + o, in * 100 + out);
        }
      }
}

// ---- the CPU kernels' loops (csrc/cpu/pooling3d.cpp), one plane at a time
static void cpu_avg_backward(std::vector<T>& gx, const std::vector<T>& gy, const Geom& g, bool cip, int64_t dov) {
  const int64_t HW = g.H * g.W, iv = g.D * HW, ov = g.OD * g.OH * g.OW;
  std::fill(gx.begin(), gx.end(), T(0));
  for (int64_t p = 0; p < g.planes; ++p) {
    int64_t i = 0;
    for (int64_t od = 0; od < g.OD; ++od)
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow, ++i) {
          const AvgAxis a = avg_axis(od, g.D, g.kd, g.sd, g.pd), b = avg_axis(oh, g.H, g.kh, g.sh, g.ph),
                        c = avg_axis(ow, g.W, g.kw, g.sw, g.pw);
          const int64_t div = avg_divisor(a, b, c, cip, dov);
          if (div == 0) continue;
          const T v = gy[p * ov + i] / T(div);
          for (int64_t id = a.lo; id < a.hi; ++id)
            for (int64_t ih = b.lo; ih < b.hi; ++ih)
              for (int64_t iw = c.lo; iw < c.hi; ++iw) gx[p * iv + id * HW + ih * g.W + iw] += v;
        }
  }
}

static void cpu_adaptive_avg_backward(std::vector<T>& gx, const std::vector<T>& gy, const Geom& g) {
  const int64_t HW = g.H * g.W, iv = g.D * HW, ov = g.OD * g.OH * g.OW;
  for (int64_t p = 0; p < g.planes; ++p) {
    if (ov == 1) {
      for (int64_t k = 0; k < iv; ++k) gx[p * iv + k] = gy[p] / T(iv);
      continue;
    }
    for (int64_t k = 0; k < iv; ++k) gx[p * iv + k] = T(0);
    int64_t i = 0;
    for (int64_t od = 0; od < g.OD; ++od)
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow, ++i) {
          const int64_t d0 = start_index(od, g.OD, g.D), d1 = end_index(od, g.OD, g.D);
          const int64_t h0 = start_index(oh, g.OH, g.H), h1 = end_index(oh, g.OH, g.H);
          const int64_t w0 = start_index(ow, g.OW, g.W), w1 = end_index(ow, g.OW, g.W);
          const T v = gy[p * ov + i] / T(d1 - d0) / T(h1 - h0) / T(w1 - w0);
          for (int64_t id = d0; id < d1; ++id)
            for (int64_t ih = h0; ih < h1; ++ih)
              for (int64_t iw = w0; iw < w1; ++iw) gx[p * iv + id * HW + ih * g.W + iw] += v;
        }
  }
}

// Forward references: the CPU walks each window with its own loops (written out again here rather
// than through the bodies' helpers, so a shared helper bug cannot hide).
static void cpu_max(std::vector<T>& y, std::vector<int64_t>& ind, const std::vector<T>& x, const Geom& g,
                    bool adaptive) {
  const int64_t HW = g.H * g.W, iv = g.D * HW, ov = g.OD * g.OH * g.OW;
  for (int64_t p = 0; p < g.planes; ++p) {
    int64_t i = 0;
    for (int64_t od = 0; od < g.OD; ++od)
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow, ++i) {
          int64_t lo[3], hi[3], st[3];
          const int64_t o[3] = {od, oh, ow}, n[3] = {g.D, g.H, g.W}, O[3] = {g.OD, g.OH, g.OW};
          const int64_t k[3] = {g.kd, g.kh, g.kw}, s[3] = {g.sd, g.sh, g.sw}, pd[3] = {g.pd, g.ph, g.pw},
                        dl[3] = {g.dd, g.dh, g.dw};
          for (int a = 0; a < 3; ++a) {
            if (adaptive) {
              lo[a] = (o[a] * n[a]) / O[a];
              hi[a] = ((o[a] + 1) * n[a] + O[a] - 1) / O[a];
              st[a] = 1;
            } else {
              int64_t b = o[a] * s[a] - pd[a];
              hi[a] = std::min(b + (k[a] - 1) * dl[a] + 1, n[a]);
              while (b < 0) b += dl[a];
              lo[a] = b;
              st[a] = dl[a];
            }
          }
          int64_t best = lo[0] * HW + lo[1] * g.W + lo[2];
          T m = -std::numeric_limits<T>::infinity();
          for (int64_t id = lo[0]; id < hi[0]; id += st[0])
            for (int64_t ih = lo[1]; ih < hi[1]; ih += st[1])
              for (int64_t iw = lo[2]; iw < hi[2]; iw += st[2]) {
                const T v = x[p * iv + id * HW + ih * g.W + iw];
                if (v > m || std::isnan(v)) {
                  m = v;
                  best = id * HW + ih * g.W + iw;
                }
              }
          y[p * ov + i] = m;
          ind[p * ov + i] = best;
        }
  }
}

static void cpu_avg(std::vector<T>& y, const std::vector<T>& x, const Geom& g, bool cip, int64_t dov, bool adaptive) {
  const int64_t HW = g.H * g.W, iv = g.D * HW, ov = g.OD * g.OH * g.OW;
  for (int64_t p = 0; p < g.planes; ++p) {
    if (adaptive && ov == 1) {  // sum_lanes
      const T* a = x.data() + p * iv;
      T s[16] = {};
      int64_t i = 0;
      for (; i + 16 <= iv; i += 16)
        for (int j = 0; j < 16; ++j) s[j] += a[i + j];
      for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; ++j) s[j] += s[j + w];
      T r = s[0];
      for (; i < iv; ++i) r += a[i];
      y[p] = r / T(iv);
      continue;
    }
    int64_t i = 0;
    for (int64_t od = 0; od < g.OD; ++od)
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow, ++i) {
          int64_t lo[3], hi[3], pad[3];
          const int64_t o[3] = {od, oh, ow}, n[3] = {g.D, g.H, g.W}, O[3] = {g.OD, g.OH, g.OW};
          const int64_t k[3] = {g.kd, g.kh, g.kw}, s[3] = {g.sd, g.sh, g.sw}, pd[3] = {g.pd, g.ph, g.pw};
          bool empty = false;
          for (int a = 0; a < 3; ++a) {
            if (adaptive) {
              lo[a] = (o[a] * n[a]) / O[a];
              hi[a] = ((o[a] + 1) * n[a] + O[a] - 1) / O[a];
            } else {
              lo[a] = o[a] * s[a] - pd[a];
              hi[a] = std::min(lo[a] + k[a], n[a] + pd[a]);
              pad[a] = hi[a] - lo[a];
              lo[a] = std::max<int64_t>(lo[a], 0);
              hi[a] = std::min(hi[a], n[a]);
            }
            empty = empty || lo[a] >= hi[a];
          }
          T sum = 0;
          for (int64_t id = lo[0]; id < hi[0]; ++id)
            for (int64_t ih = lo[1]; ih < hi[1]; ++ih)
              for (int64_t iw = lo[2]; iw < hi[2]; ++iw) sum += x[p * iv + id * HW + ih * g.W + iw];
          if (adaptive) {
            y[p * ov + i] = sum / T(hi[0] - lo[0]) / T(hi[1] - lo[1]) / T(hi[2] - lo[2]);
          } else if (empty) {
            y[p * ov + i] = T(0);
          } else {
            const int64_t div = dov ? dov
                                    : cip ? pad[0] * pad[1] * pad[2]
                                          : (hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]);
            y[p * ov + i] = sum / T(div);
          }
        }
  }
}

static bool same(T a, T b) { return std::memcmp(&a, &b, sizeof(T)) == 0 || (std::isnan(a) && std::isnan(b)); }

static void compare(const char* what, const std::vector<T>& got, const std::vector<T>& want, int c) {
  for (size_t i = 0; i < want.size(); ++i)
    if (!same(got[i], want[i])) {
      fail(what, c, (long long)i);
      return;
    }
}

static int64_t out_size(int64_t n, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil) {
  const int64_t eff = d * (k - 1) + 1;
  int64_t num = n + 2 * p - eff + (ceil ? s - 1 : 0);
  int64_t out = (num < 0 ? -1 : num / s) + 1;
  if (ceil && (out - 1) * s >= n + p) --out;
  return out;
}

int main(int argc, char** argv) {
  const int cases = argc > 1 ? std::atoi(argv[1]) : 300;
  std::mt19937_64 rng(argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 12345);
  auto U = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  check_ranges();
  const T sentinel = T(-12345.678);
  int ran = 0;
  for (int c = 0; c < cases; ++c) {
    Geom g{};
    g.planes = U(1, 3);
    g.D = U(1, 7), g.H = U(1, 8), g.W = U(1, 9);
    g.kd = U(1, 4), g.kh = U(1, 4), g.kw = U(1, 4);
    g.sd = U(1, 3), g.sh = U(1, 3), g.sw = U(1, 3);
    g.pd = U(0, g.kd / 2), g.ph = U(0, g.kh / 2), g.pw = U(0, g.kw / 2);
    const bool max_mode = U(0, 1);
    g.dd = max_mode ? U(1, 2) : 1, g.dh = max_mode ? U(1, 2) : 1, g.dw = max_mode ? U(1, 2) : 1;
    const bool ceil = U(0, 1), cip = U(0, 1);
    const int64_t dov = U(0, 3) == 0 ? U(1, 7) : 0;
    g.OD = out_size(g.D, g.kd, g.sd, g.pd, g.dd, ceil);
    g.OH = out_size(g.H, g.kh, g.sh, g.ph, g.dh, ceil);
    g.OW = out_size(g.W, g.kw, g.sw, g.pw, g.dw, ceil);
    if (g.OD < 1 || g.OH < 1 || g.OW < 1) continue;
    ++ran;
    const int64_t iv = g.D * g.H * g.W, ov = g.OD * g.OH * g.OW, ni = g.planes * iv, no = g.planes * ov;
    std::vector<T> x(ni), gy(no);
    for (auto& v : x) {  // small integers (ties) and some NaNs, scaled so sums round
      const int64_t r = U(0, 40);
      v = r == 0 ? std::numeric_limits<T>::quiet_NaN() : T(U(-6, 6)) * T(0.37) + T(r % 3) * T(1e-3);
    }
    for (auto& v : gy) v = std::uniform_real_distribution<T>(-2, 2)(rng);
    std::vector<T> y(no, sentinel), yw(no), gx(ni, sentinel), gxw(ni);
    std::vector<int64_t> ind(no, -7), indw(no);

    if (max_mode) {
      for (int64_t e = 0; e < no; ++e) max_pool_at(e, y.data(), ind.data(), x.data(), g);
      cpu_max(yw, indw, x, g, false);
      compare("max_pool_at values", y, yw, c);
      if (ind != indw) fail("max_pool_at indices", c, 0);
    } else {
      for (int64_t e = 0; e < no; ++e) avg_pool_at(e, y.data(), x.data(), g, cip, dov);
      cpu_avg(yw, x, g, cip, dov, false);
      compare("avg_pool_at", y, yw, c);
      for (int64_t e = 0; e < ni; ++e) avg_pool_backward_at(e, gx.data(), gy.data(), g, cip, dov);
      cpu_avg_backward(gxw, gy, g, cip, dov);
      compare("avg_pool_backward_at", gx, gxw, c);
    }

    // adaptive pooling: output sizes below, equal to and above the input's; sometimes global
    Geom a = g;
    const bool global = U(0, 5) == 0;
    a.OD = global ? 1 : U(1, 9), a.OH = global ? 1 : U(1, 9), a.OW = global ? 1 : U(1, 9);
    const int64_t aov = a.OD * a.OH * a.OW, nao = a.planes * aov;
    std::vector<T> ay(nao, sentinel), ayw(nao), agy(nao), agx(ni, sentinel), agxw(ni);
    std::vector<int64_t> aind(nao, -7), aindw(nao);
    for (auto& v : agy) v = std::uniform_real_distribution<T>(-2, 2)(rng);
    for (int64_t e = 0; e < nao; ++e) adaptive_max_at(e, ay.data(), aind.data(), x.data(), a);
    cpu_max(ayw, aindw, x, a, true);
    compare("adaptive_max_at values", ay, ayw, c);
    if (aind != aindw) fail("adaptive_max_at indices", c, 0);
    std::fill(ay.begin(), ay.end(), sentinel);
    if (aov == 1)
      for (int64_t p = 0; p < a.planes; ++p) global_avg_at(p, ay.data(), x.data(), iv);
    else
      for (int64_t e = 0; e < nao; ++e) adaptive_avg_at(e, ay.data(), x.data(), a);
    cpu_avg(ayw, x, a, false, 0, true);
    compare("adaptive_avg_at", ay, ayw, c);
    for (int64_t e = 0; e < ni; ++e) adaptive_avg_backward_at(e, agx.data(), agy.data(), a);
    cpu_adaptive_avg_backward(agxw, agy, a);
    compare("adaptive_avg_backward_at", agx, agxw, c);
  }
  if (failures) {
    std::printf("FAILED: %d failures\n", failures);
    return 1;
  }
  std::printf("OK: %d geometries\n", ran);
  return 0;
}
