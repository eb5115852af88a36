// Host test of the small-Cg input-gradient kernel's index code (csrc/cuda/conv_special.h), built
// with the system C++ compiler by tests/kernels/test_conv_cuda_host.py (no GPU needed).
//
// 1. tap_run against brute force over every t, kernel size, stride, dilation and output count.
// 2. For random geometries with 1..4 input channels per group (strides 1..4, dilations, top/left
//    padding with any bottom/right remainder, groups, rectangular kernels, odd sizes) it runs the
//    kernel's per-thread body over its persistent-grid walk (small_cg_tile, a few blocks each taking
//    several tiles) and every pixel slot in polyphase order, with
//    the weights read both from "global" memory and from the staged shared layout (staged with
//    small_cg_stage_slot into a NaN-poisoned buffer, pad lanes zeroed as the kernel does), and
//    compares against a naive scatter-form input gradient. Integer-valued doubles: sums are exact,
//    so the results must agree bit for bit; dx is poisoned with NaN and every element must be
//    written exactly once.
//
// Usage: conv_special_test [cases] [seed]; prints failures and a summary, exit 1 on failure.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

#include "cuda/conv_special.h"

using namespace flambeau::cuda::conv;
using Vec = std::vector<double>;

static int failures = 0;

static void check_tap_run() {
  for (int K = 1; K <= 7; ++K)
    for (int s = 1; s <= 4; ++s)
      for (int dil = 1; dil <= 4; ++dil)
        for (int OUT = 0; OUT <= 6; ++OUT)
          for (int t = -3; t <= 30; ++t) {
            const TapRun r = tap_run(t, K, s, dil, OUT);
            std::vector<std::pair<int, int>> want, got;
            for (int k = 0; k < K; ++k) {
              const int u = t - k * dil;
              if (u >= 0 && u % s == 0 && u / s < OUT) want.push_back({k, u / s});
            }
            for (int a = 0; a < r.count; ++a) got.push_back({r.first + a * r.step, r.o_first - a * r.o_step});
            if (want != got) {
              if (++failures < 20)
                std::printf("tap_run mismatch t=%d K=%d s=%d dil=%d OUT=%d: %zu taps, got %zu\n", t, K, s, dil, OUT,
                            want.size(), got.size());
            }
          }
}

template <int CG>
static bool run_case(const Dims& d, std::mt19937& rng) {
  const Problem p = base_problem(d);
  std::uniform_int_distribution<int> val(-3, 3);
  Vec dy(d.N * d.O * d.OH * d.OW), w(d.O * CG * d.KH * d.KW);
  for (auto& v : dy) v = val(rng);
  for (auto& v : w) v = val(rng);
  // naive scatter form: dx[n, g*Cg+c, ih, iw] += dy[n, o, oh, ow] * w[o, c, kh, kw]
  Vec ref(d.N * d.C * d.H * d.W, 0.0);
  const int64_t Og = d.O / d.G;
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t o = 0; o < d.O; ++o)
      for (int64_t oh = 0; oh < d.OH; ++oh)
        for (int64_t ow = 0; ow < d.OW; ++ow)
          for (int64_t c = 0; c < CG; ++c)
            for (int64_t kh = 0; kh < d.KH; ++kh)
              for (int64_t kw = 0; kw < d.KW; ++kw) {
                const int64_t ih = oh * d.sh - d.ph + kh * d.dh, iw = ow * d.sw - d.pw + kw * d.dw;
                if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) continue;
                const int64_t ci = (o / Og) * CG + c;
                ref[((n * d.C + ci) * d.H + ih) * d.W + iw] +=
                    dy[((n * d.O + o) * d.OH + oh) * d.OW + ow] * w[((o * CG + c) * d.KH + kh) * d.KW + kw];
              }
  const int Tw = (p.W + p.sw - 1) / p.sw, slots = p.H * p.sw * Tw;
  constexpr int CP = small_cg_cp(CG);
  bool ok = true;
  for (int variant = 0; variant < 2; ++variant) {  // 0: global weights, 1: staged shared layout
    Vec dx(ref.size(), std::numeric_limits<double>::quiet_NaN());
    std::vector<int> writes(ref.size(), 0);
    const int64_t w_group = (int64_t)p.Og * CG * p.Kk;
    for (int g = 0; g < p.G; ++g) {
      Vec ws(p.Og * p.Kk * CP, std::numeric_limits<double>::quiet_NaN());
      for (int e = 0; e < p.Og * p.Kk; ++e)
        for (int c = CG; c < CP; ++c) ws[e * CP + c] = 0.0;
      for (int s = 0; s < (int)w_group; ++s) ws[small_cg_stage_slot<CG>(s, p.Kk)] = w[g * w_group + s];
      const double* wg = w.data() + g * w_group;
      auto gget = [&](int j, int r, double (&wv)[CG]) {
        for (int c = 0; c < CG; ++c) wv[c] = wg[((int64_t)j * CG + c) * p.Kk + r];
      };
      auto sget = [&](int j, int r, double (&wv)[CG]) {
        for (int c = 0; c < CG; ++c) wv[c] = ws[(j * p.Kk + r) * CP + c];
      };
      // the kernel's persistent grid: `grid` blocks of kBlock threads walk the tiles of this group
      // (small block and grid so that blocks take several tiles and tiles straddle rows)
      constexpr int kBlock = 8;
      const int tiles_per_img = (slots + kBlock - 1) / kBlock;
      const int64_t total = (int64_t)p.G * p.N * tiles_per_img;
      const int64_t grid = 1 + (int64_t)(total % 5);
      for (int64_t b = 0; b < grid; ++b)
        for (int64_t t = b; t < total; t += grid)
          for (int tid = 0; tid < kBlock; ++tid) {
            const SmallCgTile tile = small_cg_tile(t, p.N, tiles_per_img);
            if (tile.g != g) continue;  // other groups: handled with their staged weights
            const int n = tile.n, q = tile.xt * kBlock + tid;
            if (q >= slots) continue;
            const double* dy_g = dy.data() + ((int64_t)n * p.O + (int64_t)g * p.Og) * p.OHW;
            const PolyPix px = poly_pixel(q, p.W, p.sw, Tw);
            if (!px.ok) continue;
            double acc[CG];
            if (variant == 0) small_cg_dgrad_pixel<double, CG>(p, dy_g, px.ih, px.iw, gget, acc);
            else small_cg_dgrad_pixel<double, CG>(p, dy_g, px.ih, px.iw, sget, acc);
            for (int c = 0; c < CG; ++c) {
              const int64_t i = ((int64_t)n * p.C + (int64_t)g * CG + c) * p.HW + px.ih * p.W + px.iw;
              dx[i] = acc[c];
              ++writes[i];
            }
          }
    }
    for (size_t i = 0; i < ref.size(); ++i) {
      if (writes[i] != 1 || !(dx[i] == ref[i])) {
        if (++failures < 20)
          std::printf("FAIL variant %d N=%lld C=%lld H=%lld W=%lld O=%lld K=%lldx%lld s=%lld,%lld p=%lld,%lld "
                      "d=%lld,%lld G=%lld OH=%lld OW=%lld: elem %zu got %g want %g writes %d\n",
                      variant, (long long)d.N, (long long)d.C, (long long)d.H, (long long)d.W, (long long)d.O,
                      (long long)d.KH, (long long)d.KW, (long long)d.sh, (long long)d.sw, (long long)d.ph,
                      (long long)d.pw, (long long)d.dh, (long long)d.dw, (long long)d.G, (long long)d.OH,
                      (long long)d.OW, i, dx[i], ref[i], writes[i]);
        ok = false;
        break;
      }
    }
  }
  return ok;
}

int main(int argc, char** argv) {
  const int cases = argc > 1 ? std::atoi(argv[1]) : 200;
  const unsigned seed = argc > 2 ? (unsigned)std::atoi(argv[2]) : 12345u;
  check_tap_run();
  std::mt19937 rng(seed);
  auto U = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int ran = 0, picked = 0;
  for (int it = 0; ran < cases && it < cases * 20; ++it) {
    Dims d{};
    d.G = U(1, 3);
    const int Cg = U(1, 4);
    d.C = d.G * Cg;
    d.O = d.G * U(1, 5);
    d.N = U(1, 2);
    d.H = U(1, 13);
    d.W = U(1, 13);
    d.KH = U(1, 7);
    d.KW = U(1, 5);
    d.sh = U(1, 4);
    d.sw = U(1, 4);
    d.dh = U(1, 3);
    d.dw = U(1, 3);
    d.ph = U(0, 4);
    d.pw = U(0, 4);
    // bottom/right padding: anything from -(s-1) (an output row dropped, as conv_transpose2d's
    // output_padding makes) to 3
    const int64_t pb = U(-(int)d.sh + 1, 3), pr = U(-(int)d.sw + 1, 3);
    const int64_t eh = d.H + d.ph + pb - d.dh * (d.KH - 1) - 1, ew = d.W + d.pw + pr - d.dw * (d.KW - 1) - 1;
    if (eh < 0 || ew < 0) continue;
    d.OH = eh / d.sh + 1;
    d.OW = ew / d.sw + 1;
    if (unsupported(d) != nullptr || !use_small_cg_dgrad(d)) continue;
    ++ran;
    bool ok = false;
    switch (Cg) {
      case 1: ok = run_case<1>(d, rng); break;
      case 2: ok = run_case<2>(d, rng); break;
      case 3: ok = run_case<3>(d, rng); break;
      default: ok = run_case<4>(d, rng); break;
    }
    picked += ok;
  }
  // the stem-like shape itself (small batch): 7x7 / 2, pad 3, 3 channels
  {
    Dims d{1, 3, 22, 23, 8, 7, 7, 11, 12, 2, 2, 3, 3, 1, 1, 1};
    ++ran;
    picked += run_case<3>(d, rng);
  }
  if (failures > 0 || picked != ran) {
    std::printf("FAILED: %d failures, %d of %d geometries right\n", failures, picked, ran);
    return 1;
  }
  std::printf("OK: tap_run exhaustive, %d geometries bit-exact (seed %u)\n", ran, seed);
  return 0;
}
