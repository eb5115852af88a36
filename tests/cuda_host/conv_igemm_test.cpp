// Host test of the CUDA convolution's index arithmetic (csrc/cuda/conv_igemm.h), built with the
// system C++ compiler by tests/kernels/test_conv_cuda_host.py (no GPU, no CUDA toolkit needed).
//
// For random geometries (strides, dilations, top/left padding with any bottom/right remainder,
// negative included as in conv_transpose2d,
// groups incl. depthwise, rectangular kernels, odd sizes, batch 1..3) it runs the launch plans of
// conv.cu's three products -- forward, dgrad, wgrad -- through the very loaders, micro-tile update
// and stores the kernels use, with a loop standing in for the 256 threads of a block and the
// barriers between the phases, for every tile configuration, with image chunking and split-K forced
// on small shapes, and the direct (depthwise) bodies; and compares against a naive convolution
// written from the definition (scatter form for the gradients, so it shares no index formula with
// the gathers). Values are small integers in double, so every sum is exact and results must agree
// bit for bit. Shared tiles are poisoned with NaN before each stage, outputs and partial buffers
// before each run: an element a loader or a store misses shows up as NaN.
//
// Usage: conv_igemm_test [cases] [seed]; prints one line per failure and a summary, exit 1 on failure.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cuda/conv_igemm.h"

using namespace flambeau::cuda::conv;
using Vec = std::vector<double>;

static const double kNaN = std::numeric_limits<double>::quiet_NaN();

// ------------------------------------------------------------------ naive references
static int64_t xi(const Dims& d, int64_t n, int64_t c, int64_t h, int64_t w) { return ((n * d.C + c) * d.H + h) * d.W + w; }
static int64_t yi(const Dims& d, int64_t n, int64_t o, int64_t h, int64_t w) { return ((n * d.O + o) * d.OH + h) * d.OW + w; }
static int64_t wi(const Dims& d, int64_t o, int64_t c, int64_t h, int64_t w) {
  return ((o * (d.C / d.G) + c) * d.KH + h) * d.KW + w;
}

// Calls f(n, o, c_local, oh, ow, kh, kw, ih, iw) for every (output, tap) pair that reads the image.
template <class F>
static void for_each_term(const Dims& d, F f) {
  const int64_t Cg = d.C / d.G, Og = d.O / d.G;
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t o = 0; o < d.O; ++o)
      for (int64_t oh = 0; oh < d.OH; ++oh)
        for (int64_t ow = 0; ow < d.OW; ++ow)
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < d.KH; ++kh)
              for (int64_t kw = 0; kw < d.KW; ++kw) {
                const int64_t ih = oh * d.sh - d.ph + kh * d.dh, iw = ow * d.sw - d.pw + kw * d.dw;
                if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) continue;
                f(n, o, (o / Og) * Cg + c, c, oh, ow, kh, kw, ih, iw);
              }
}

static Vec ref_fwd(const Dims& d, const Vec& x, const Vec& w, const Vec* b) {
  Vec y(d.N * d.O * d.OH * d.OW, 0.0);
  for_each_term(d, [&](int64_t n, int64_t o, int64_t cin, int64_t c, int64_t oh, int64_t ow, int64_t kh, int64_t kw,
                       int64_t ih, int64_t iw) { y[yi(d, n, o, oh, ow)] += x[xi(d, n, cin, ih, iw)] * w[wi(d, o, c, kh, kw)]; });
  if (b)
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t o = 0; o < d.O; ++o)
        for (int64_t q = 0; q < d.OH * d.OW; ++q) y[(n * d.O + o) * d.OH * d.OW + q] += (*b)[o];
  return y;
}
static Vec ref_dgrad(const Dims& d, const Vec& dy, const Vec& w) {
  Vec dx(d.N * d.C * d.H * d.W, 0.0);
  for_each_term(d, [&](int64_t n, int64_t o, int64_t cin, int64_t c, int64_t oh, int64_t ow, int64_t kh, int64_t kw,
                       int64_t ih, int64_t iw) { dx[xi(d, n, cin, ih, iw)] += dy[yi(d, n, o, oh, ow)] * w[wi(d, o, c, kh, kw)]; });
  return dx;
}
static Vec ref_wgrad(const Dims& d, const Vec& dy, const Vec& x) {
  Vec dw(d.O * (d.C / d.G) * d.KH * d.KW, 0.0);
  for_each_term(d, [&](int64_t n, int64_t o, int64_t cin, int64_t c, int64_t oh, int64_t ow, int64_t kh, int64_t kw,
                       int64_t ih, int64_t iw) { dw[wi(d, o, c, kh, kw)] += dy[yi(d, n, o, oh, ow)] * x[xi(d, n, cin, ih, iw)]; });
  return dw;
}

// ------------------------------------------------------------------ kernel emulation
// conv_igemm_kernel of conv.cu with the block's threads run one after another between barriers.
template <Mode MODE, int CFG>
static void emu_launch(const Launch& L, const double* A, const double* B, double* Cp, const double* bias) {
  using Cf = Cfg<CFG>;
  constexpr int T = Cf::THREADS;
  const Problem& p = L.p;
  A += L.a_off;
  B += L.b_off;
  Cp += L.c_off;
  static double As[2][Cf::BK][Cf::BM + kPad], Bs[2][Cf::BK][Cf::BN + kPad];
  static TileLoader<double, MODE, CFG> ld[T];
  static double acc[T][Cf::TM][Cf::TN];
  // Shared buffer b poisoned (NaN), then after a stage phase: every element must have been written.
  auto poison = [&](int b) {
    for (auto& r : As[b])
      for (auto& e : r) e = kNaN;
    for (auto& r : Bs[b])
      for (auto& e : r) e = kNaN;
  };
  auto check_staged = [&](int b) {
    for (auto& r : As[b])
      for (int i = 0; i < Cf::BM; ++i)
        if (std::isnan(r[i])) { std::printf("FAIL A tile element not staged\n"); std::exit(1); }
    for (auto& r : Bs[b])
      for (int i = 0; i < Cf::BN; ++i)
        if (std::isnan(r[i])) { std::printf("FAIL B tile element not staged\n"); std::exit(1); }
  };
  const int tiles_m = (p.M + Cf::BM - 1) / Cf::BM, tiles_n = (p.Ncols + Cf::BN - 1) / Cf::BN;
  for (int z = 0; z < p.G * p.splits; ++z) {
    int g, s, kbeg, kend;
    split_range(p, z, g, s, kbeg, kend);
    if (kbeg >= kend) {
      std::printf("FAIL empty split %d of %d (K %d, len %d)\n", s, p.splits, p.K, p.split_len);
      std::exit(1);
    }
    for (int tn = 0; tn < tiles_n; ++tn)
      for (int tm = 0; tm < tiles_m; ++tm) {
        // The kernel's steps in order, each phase run by every thread before the next (barriers).
        const int m0 = tm * Cf::BM, n0 = tn * Cf::BN;
        poison(0);
        poison(1);
        for (int t = 0; t < T; ++t) {
          ld[t].init(p, g, m0, n0, kbeg, t);
          for (int i = 0; i < Cf::TM; ++i)
            for (int j = 0; j < Cf::TN; ++j) acc[t][i][j] = 0.0;
          ld[t].fetch(p, A, B, g, m0, n0, kbeg, kend, t);
          ld[t].stage(t, As[0], Bs[0]);
        }
        check_staged(0);  // __syncthreads
        int buf = 0;
        for (int k0 = kbeg; k0 < kend; k0 += Cf::BK) {
          const bool more = k0 + Cf::BK < kend;
          // Loads of the next k-step land in registers only: the current buffer must be untouched.
          if (more) poison(buf ^ 1);
          for (int t = 0; t < T; ++t)
            if (more) {
              ld[t].advance(p);
              ld[t].fetch(p, A, B, g, m0, n0, k0 + Cf::BK, kend, t);
            }
          for (int t = 0; t < T; ++t) tile_fma<double, CFG, MODE != Mode::Wgrad>(As[buf], Bs[buf], acc[t], t);
          for (int t = 0; t < T; ++t)
            if (more) ld[t].stage(t, As[buf ^ 1], Bs[buf ^ 1]);
          if (more) check_staged(buf ^ 1);  // __syncthreads
          buf ^= 1;
        }
        for (int t = 0; t < T; ++t) tile_store<double, MODE, CFG>(p, Cp, bias, acc[t], g, s, m0, n0, t);
      }
  }
}

template <Mode MODE>
static void emu_plan(const Plan& plan, const double* A, const double* B, double* Cp, const double* bias) {
  for (const Launch& L : plan.launches) {
    switch (plan.cfg) {
      case 0: emu_launch<MODE, 0>(L, A, B, Cp, bias); break;
      case 1: emu_launch<MODE, 1>(L, A, B, Cp, bias); break;
      case 2: emu_launch<MODE, 2>(L, A, B, Cp, bias); break;
      default: emu_launch<MODE, 3>(L, A, B, Cp, bias); break;
    }
  }
}

// The host side of conv.cu's entry points, with the emulated kernels.
static Vec run_fwd(const Dims& d, const Vec& x, const Vec& w, const Vec* b, const PlanOptions& o) {
  Vec y(d.N * d.O * d.OH * d.OW, kNaN);
  const Plan plan = plan_conv(Mode::Fwd, d, false, o);
  const double* bp = b ? b->data() : nullptr;
  if (plan.direct) {
    const Problem& p = plan.launches[0].p;
    for (int n = 0; n < p.N; ++n)
      for (int e = 0; e < p.O * p.OHW; ++e)
        y[(int64_t)n * p.O * p.OHW + e] = direct_fwd_elem(p, x.data() + (int64_t)n * p.C * p.HW, w.data(), bp, e);
    return y;
  }
  emu_plan<Mode::Fwd>(plan, x.data(), w.data(), y.data(), bp);
  return y;
}
static Vec run_dgrad(const Dims& d, const Vec& dy, const Vec& w, const PlanOptions& o) {
  Vec dx(d.N * d.C * d.H * d.W, kNaN);
  const Plan plan = plan_conv(Mode::Dgrad, d, false, o);
  if (plan.direct) {
    const Problem& p = plan.launches[0].p;
    for (int n = 0; n < p.N; ++n)
      for (int e = 0; e < p.C * p.HW; ++e)
        dx[(int64_t)n * p.C * p.HW + e] = direct_dgrad_elem(p, dy.data() + (int64_t)n * p.O * p.OHW, w.data(), e);
    return dx;
  }
  emu_plan<Mode::Dgrad>(plan, dy.data(), w.data(), dx.data(), nullptr);
  return dx;
}
static Vec run_wgrad(const Dims& d, const Vec& dy, const Vec& x, const PlanOptions& o, int64_t* splits_out) {
  const int64_t count = d.O * (d.C / d.G) * d.KH * d.KW;
  Vec dw(count, kNaN);
  const Plan plan = plan_conv(Mode::Wgrad, d, false, o);
  *splits_out = plan.total_splits;
  if (plan.direct) {
    const Problem& p = plan.launches[0].p;
    for (int oo = 0; oo < p.O; ++oo)
      for (int r = 0; r < p.Kk; ++r) {
        const int nt = 1 + (oo + r) % 300;  // any thread count: exact sums
        double s = 0;
        for (int t = 0; t < nt; ++t) s += direct_wgrad_partial<double, double>(p, dy.data(), x.data(), oo, r, t, nt);
        dw[(int64_t)oo * p.Kk + r] = s;
      }
    return dw;
  }
  if (plan.total_splits == 1) {
    emu_plan<Mode::Wgrad>(plan, dy.data(), x.data(), dw.data(), nullptr);
    return dw;
  }
  Vec ws(plan.total_splits * count, kNaN);
  emu_plan<Mode::Wgrad>(plan, dy.data(), x.data(), ws.data(), nullptr);
  for (int64_t i = 0; i < count; ++i) {  // fold_splits_kernel
    double s = 0;
    for (int64_t k = 0; k < plan.total_splits; ++k) s += ws[k * count + i];
    dw[i] = s;
  }
  return dw;
}

// ------------------------------------------------------------------ incremental index state
// The loaders decompose a reduction index (or a wgrad pixel) once per tile and then add BK per
// k-step with carries: walking any start along many steps must match a fresh decomposition.
static int check_incremental(std::mt19937_64& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int bad = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    Problem p{};
    p.KH = pick(1, 7), p.KW = pick(1, 7), p.Kk = p.KH * p.KW;
    p.OH = pick(1, 12), p.OW = pick(1, 12), p.OHW = p.OH * p.OW;
    const int k0 = pick(0, 200);
    KIdx t = kidx_of(p, k0);
    PixIdx x = pixidx_of(p, k0);
    const KIdx ks = kidx_of(p, kBK);
    const PixIdx xs = pixidx_of(p, kBK);
    for (int step = 1; step < 60; ++step) {
      kidx_advance(p, ks, t);
      pixidx_advance(p, xs, x);
      const int k = k0 + step * kBK;
      const KIdx w = kidx_of(p, k);
      const PixIdx wx = pixidx_of(p, k);
      if (t.ch != w.ch || t.kh != w.kh || t.kw != w.kw || x.n != wx.n || x.oh != wx.oh || x.ow != wx.ow) {
        if (bad < 5) std::printf("FAIL incremental index: K %dx%d out %dx%d k %d\n", p.KH, p.KW, p.OH, p.OW, k);
        ++bad;
        break;
      }
      KIdx n1 = t;  // the loaders' step to k + 1
      kidx_next(p, n1);
      const KIdx w1 = kidx_of(p, k + 1);
      if (n1.ch != w1.ch || n1.kh != w1.kh || n1.kw != w1.kw) {
        if (bad < 5) std::printf("FAIL kidx_next: K %dx%d k %d\n", p.KH, p.KW, k);
        ++bad;
        break;
      }
    }
  }
  return bad;
}

// ------------------------------------------------------------------ driver
static int failures = 0;

static std::string dims_str(const Dims& d) {
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "x[%lld,%lld,%lld,%lld] w[%lld,%lld,%lld,%lld] out %lldx%lld stride %lldx%lld pad %lldx%lld dil %lldx%lld "
                "groups %lld",
                (long long)d.N, (long long)d.C, (long long)d.H, (long long)d.W, (long long)d.O, (long long)(d.C / d.G),
                (long long)d.KH, (long long)d.KW, (long long)d.OH, (long long)d.OW, (long long)d.sh, (long long)d.sw,
                (long long)d.ph, (long long)d.pw, (long long)d.dh, (long long)d.dw, (long long)d.G);
  return buf;
}

static void compare(const char* what, const Dims& d, const char* variant, const Vec& got, const Vec& want) {
  for (size_t i = 0; i < want.size(); ++i)
    if (!(got[i] == want[i])) {  // NaN (never written) fails too
      if (failures < 30)
        std::printf("FAIL %s [%s] %s: element %zu got %g want %g\n", what, variant, dims_str(d).c_str(), i, got[i],
                    want[i]);
      ++failures;
      return;
    }
}

static Vec rand_ints(std::mt19937_64& rng, int64_t n) {
  std::uniform_int_distribution<int> u(-3, 3);
  Vec v(n);
  for (auto& e : v) e = u(rng);
  return v;
}

int main(int argc, char** argv) {
  const int cases = argc > 1 ? std::atoi(argv[1]) : 300;
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 12345;
  std::mt19937_64 rng(seed);
  auto pick = [&](int lo, int hi) { return (int64_t)std::uniform_int_distribution<int>(lo, hi)(rng); };
  int64_t checked = 0, split_runs = 0, chunk_runs = 0, direct_runs = 0;
  failures += check_incremental(rng);
  for (int c = 0; c < cases; ++c) {
    Dims d{};
    const int kind = c % 6;  // 0-1 general, 2 depthwise, 3 many filters (several N tiles), 4 pointwise, 5 large stride/dilation
    d.G = kind == 2 ? pick(1, 6) : pick(1, 3);
    const int64_t Cg = kind == 2 ? 1 : pick(1, 5);
    const int64_t Og = kind == 2 ? pick(1, 3) : kind == 3 ? pick(33, 140) : pick(1, 9);
    d.C = Cg * d.G;
    d.O = Og * d.G;
    d.N = pick(1, 3);
    d.KH = kind == 4 ? 1 : pick(1, 4);
    d.KW = kind == 4 ? 1 : pick(1, 4);
    d.sh = pick(1, kind == 5 ? 4 : 2);
    d.sw = pick(1, kind == 5 ? 4 : 2);
    d.dh = pick(1, kind == 5 ? 3 : 2);
    d.dw = pick(1, kind == 5 ? 3 : 2);
    d.H = pick(1, 13);
    d.W = pick(1, 13);
    d.ph = pick(0, 3);
    d.pw = pick(0, 3);
    // Bottom/right padding: only OH/OW see it. Negative values occur in conv_transpose2d's adjoint
    // geometry (padding > output_padding): the last windows then end inside the image.
    const int64_t pb = pick(-2, 3), pr = pick(-2, 3);
    const int64_t ekh = d.dh * (d.KH - 1) + 1, ekw = d.dw * (d.KW - 1) + 1;
    const int64_t hp = d.H + d.ph + pb, wp = d.W + d.pw + pr;
    if (hp < ekh || wp < ekw) {
      --c;
      continue;
    }
    d.OH = (hp - ekh) / d.sh + 1;
    d.OW = (wp - ekw) / d.sw + 1;
    if (unsupported(d)) {
      std::printf("FAIL small geometry reported unsupported: %s\n", dims_str(d).c_str());
      ++failures;
      continue;
    }
    const Vec x = rand_ints(rng, d.N * d.C * d.H * d.W);
    const Vec w = rand_ints(rng, d.O * Cg * d.KH * d.KW);
    const Vec b = rand_ints(rng, d.O);
    const Vec dy = rand_ints(rng, d.N * d.O * d.OH * d.OW);
    const bool with_bias = c % 2 == 0;
    const Vec yref = ref_fwd(d, x, w, with_bias ? &b : nullptr);
    const Vec dxref = ref_dgrad(d, dy, w);
    const Vec dwref = ref_wgrad(d, dy, x);

    // Variants: the production plan; each tile configuration with small chunk limits and forced
    // split-K (and the GEMM path for depthwise shapes).
    for (int v = -1; v < kNumCfg; ++v) {
      PlanOptions o;
      char name[64];
      if (v < 0) {
        std::snprintf(name, sizeof name, "default plan");
      } else {
        o.force_cfg = v;
        o.allow_direct = false;
        o.limit = pick(1, 3) == 1 ? 1 : pick(2, 400);  // 1: one image per launch
        o.min_split_len = pick(1, 40);
        o.target_blocks = pick(1, 64);
        o.ws_budget = pick(0, 1) ? (int64_t(1) << 40) : pick(1, 4) * d.O * Cg * d.KH * d.KW;
        std::snprintf(name, sizeof name, "cfg %d limit %lld", v, (long long)o.limit);
      }
      compare("forward", d, name, run_fwd(d, x, w, with_bias ? &b : nullptr, o), yref);
      compare("dgrad", d, name, run_dgrad(d, dy, w, o), dxref);
      int64_t splits = 1;
      compare("wgrad", d, name, run_wgrad(d, dy, x, o, &splits), dwref);
      checked += 3;
      split_runs += splits > 1;
      if (v >= 0) chunk_runs += plan_conv(Mode::Fwd, d, false, o).launches.size() > 1;
      else direct_runs += plan_conv(Mode::Fwd, d, false, o).direct;
    }
  }
  // Planner sanity on large production shapes: extents fit, splits cover K exactly, shapes-only.
  {
    const Dims big[] = {
        {256, 64, 56, 56, 64, 3, 3, 56, 56, 1, 1, 1, 1, 1, 1, 1},
        {32, 512, 7, 7, 512, 3, 3, 7, 7, 1, 1, 1, 1, 1, 1, 1},
        {4096, 3, 224, 224, 64, 7, 7, 112, 112, 2, 2, 3, 3, 1, 1, 1},  // 51M output pixels: chunked
        {64, 960, 7, 7, 960, 3, 3, 7, 7, 1, 1, 1, 1, 1, 1, 960},       // depthwise: direct
    };
    for (const Dims& d : big) {
      if (unsupported(d)) {
        std::printf("FAIL production shape unsupported: %s\n", dims_str(d).c_str());
        ++failures;
        continue;
      }
      for (Mode m : {Mode::Fwd, Mode::Dgrad, Mode::Wgrad}) {
        const Plan plan = plan_conv(m, d, true);
        int64_t covered = 0;
        for (const Launch& L : plan.launches) {
          if (plan.direct) break;
          if (L.p.M <= 0 || L.p.M >= kIntLimit || L.p.K <= 0 || L.p.K >= kIntLimit ||
              (int64_t)L.p.split_len * (L.p.splits - 1) >= L.p.K || (int64_t)L.p.split_len * L.p.splits < L.p.K) {
            std::printf("FAIL bad launch for %s\n", dims_str(d).c_str());
            ++failures;
          }
          covered += L.p.N;
        }
        if (!plan.direct && covered != d.N) {
          std::printf("FAIL chunks cover %lld of %lld images for %s\n", (long long)covered, (long long)d.N,
                      dims_str(d).c_str());
          ++failures;
        }
      }
    }
  }
  std::printf("%s: %d cases, %lld comparisons (%lld with split-K, %lld chunked, %lld direct), %d failures\n",
              failures ? "FAILED" : "OK", cases, (long long)checked, (long long)split_runs, (long long)chunk_runs,
              (long long)direct_runs, failures);
  return failures ? 1 : 0;
}
