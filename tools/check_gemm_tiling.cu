// CPU check of the tuned GEMM's index math (csrc/cuda/gemm_tile.cuh), runnable without a GPU:
//   nvcc -std=c++17 -O1 -Icsrc -o /tmp/check_gemm_tiling tools/check_gemm_tiling.cu && /tmp/check_gemm_tiling
// (tests/kernels/test_gemm_cuda_host.py does exactly this wherever nvcc is on PATH.)
// For every block configuration and operand layout it runs the per-thread steps of
// sgemm_tiled_kernel (load -> store -> compute -> epilogue, threads one after another between the
// kernel's barriers) over a whole problem, block by block, and compares with a naive product:
//   * each loader mapping covers every (row, k) of a tile exactly once;
//   * SIMT and TF32 accumulators cover every C element of a block exactly once;
//   * edges (odd M/N/K), K = 0, bias, strided/transposed operands, batch.
// The TF32 mma is emulated from the PTX ISA's fragment tables, written out here independently
// of the kernel's helpers (a0 = A[g][t], a1 = A[g+8][t], a2 = A[g][t+4], a3 = A[g+8][t+4];
// b0 = B[t][g], b1 = B[t+4][g]; c_v = C[g + 8*(v/2)][2t + v%2]).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
#include "cuda/gemm_tile.cuh"

using namespace flambeau::cuda::gemm;

static int failures = 0;
#define EXPECT(cond, ...)                 \
  do {                                    \
    if (!(cond)) {                        \
      if (++failures < 20) {              \
        std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
        std::printf(__VA_ARGS__);         \
        std::printf("\n");                \
      }                                   \
    }                                     \
  } while (0)

// Emulated mma.sync.m16n8k8 (tf32 inputs, f32 accumulate) over a warp's 32 lanes.
static void mma_emulated(float d[32][4], const uint32_t a[32][4], const uint32_t b[32][2]) {
  float A[16][8], B[8][8];
  auto f = [](uint32_t u) { float x; std::memcpy(&x, &u, 4); return x; };
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    A[g][t] = f(a[lane][0]);
    A[g + 8][t] = f(a[lane][1]);
    A[g][t + 4] = f(a[lane][2]);
    A[g + 8][t + 4] = f(a[lane][3]);
    B[t][g] = f(b[lane][0]);
    B[t + 4][g] = f(b[lane][1]);
  }
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    for (int v = 0; v < 4; ++v) {
      const int r = g + 8 * (v / 2), c = 2 * t + v % 2;
      double s = d[lane][v];
      for (int k = 0; k < 8; ++k) s += (double)A[r][k] * B[k][c];
      d[lane][v] = (float)s;
    }
  }
}

template <class Cfg, bool A_KC, bool B_KC>
static void coverage() {
  // Loader: every (r, k) of each operand tile exactly once, vectors inside the tile.
  std::vector<int> seen(Cfg::BM * Cfg::BK, 0);
  for (int f = 0; f < Cfg::BM * Cfg::BK / 4; ++f) {
    RK c = load_coord<Cfg::BM, Cfg::BK, A_KC>(f);
    for (int d = 0; d < 4; ++d) {
      int r = c.r + (A_KC ? 0 : d), k = c.k + (A_KC ? d : 0);
      EXPECT(r >= 0 && r < Cfg::BM && k >= 0 && k < Cfg::BK, "A coord out of tile");
      if (r >= 0 && r < Cfg::BM && k >= 0 && k < Cfg::BK) seen[r * Cfg::BK + k]++;
    }
  }
  for (int v : seen) EXPECT(v == 1, "A loader coverage %d", v);
  // SIMT and TF32 ownership of the block's C tile.
  std::vector<int> own(Cfg::BM * Cfg::BN, 0);
  for (int tid = 0; tid < Cfg::THREADS; ++tid) {
    const int warp = tid / 32, lane = tid % 32;
    if (Cfg::TF32) {
      for (int mt = 0; mt < Cfg::MT; ++mt)
        for (int nt = 0; nt < Cfg::NT; ++nt)
          for (int v = 0; v < 4; ++v)
            own[(warp_row0<Cfg>(warp) + mt * 16 + frag_c_row(lane, v)) * Cfg::BN + warp_col0<Cfg>(warp) + nt * 8 +
                frag_c_col(lane, v)]++;
    } else {
      for (int i = 0; i < Cfg::MI; ++i)
        for (int c = 0; c < 4; ++c)
          for (int j = 0; j < Cfg::NJ; ++j)
            for (int d = 0; d < 4; ++d)
              own[(warp_row0<Cfg>(warp) + simt_row(lane, i, c)) * Cfg::BN + warp_col0<Cfg>(warp) + simt_col(lane, j, d)]++;
    }
  }
  for (int v : own) EXPECT(v == 1, "C ownership %d", v);
}

// Runs the whole problem through the kernel's per-thread steps. A is stored as given by
// (sam, sak, sab), B by (sbk, sbn, sbb), C by (scm, scn, scb), all inside big buffers.
template <class Cfg, bool A_KC, bool B_KC>
static double run(const GemmArgs& g, const float* A, const float* B, const float* bias, float* C, bool c_vec4) {
  using Thr = Thread<Cfg, A_KC, B_KC>;
  std::vector<Thr> th(Cfg::THREADS);
  std::vector<float> As(2 * Cfg::BK * Cfg::LDA + 4), Bs(2 * Cfg::BK * Cfg::LDB + 4);
  // 16-byte aligned views of the two buffers each.
  auto align = [](float* p) { return (float*)(((uintptr_t)p + 15) & ~(uintptr_t)15); };
  float* as = align(As.data());
  float* bs = align(Bs.data());
  float* as_buf[2] = {as, as + Cfg::BK * Cfg::LDA};  // LDA*BK*4 bytes is a multiple of 16
  float* bs_buf[2] = {bs, bs + Cfg::BK * Cfg::LDB};
  const int64_t tiles_m = cdiv(g.M, Cfg::BM), tiles_n = cdiv(g.N, Cfg::BN), nk = cdiv(g.K, Cfg::BK);
  for (int64_t bt = 0; bt < g.batch; ++bt)
    for (int64_t tm = 0; tm < tiles_m; ++tm)
      for (int64_t tn = 0; tn < tiles_n; ++tn) {
        const float* Ab = A + bt * g.sab;
        const float* Bb = B + bt * g.sbb;
        float* Cb = C + bt * g.scb;
        const int64_t row0 = tm * Cfg::BM, col0 = tn * Cfg::BN;
        for (auto& t : th) t.zero();
        // Poison the shared buffers: a read of something no thread wrote shows up.
        for (auto& x : As) x = NAN;
        for (auto& x : Bs) x = NAN;
        if (nk > 0)
          for (int tid = 0; tid < Cfg::THREADS; ++tid) {
            th[tid].load(Ab, Bb, g, row0, col0, 0, tid);
            th[tid].store(as_buf[0], bs_buf[0], tid);
          }
        for (int64_t kt = 0; kt < nk; ++kt) {
          const int cur = (int)(kt & 1);
          const bool more = kt + 1 < nk;
          for (int tid = 0; tid < Cfg::THREADS; ++tid)
            if (more) th[tid].load(Ab, Bb, g, row0, col0, (kt + 1) * Cfg::BK, tid);
          if (Cfg::TF32) {
            for (int warp = 0; warp < Cfg::THREADS / 32; ++warp) {
              const int wm = warp_row0<Cfg>(warp), wn = warp_col0<Cfg>(warp);
              for (int kb = 0; kb < Cfg::BK; kb += 8)
                for (int mt = 0; mt < Cfg::MT; ++mt)
                  for (int nt = 0; nt < Cfg::NT; ++nt) {
                    uint32_t a[32][4], b[32][2];
                    float d[32][4];
                    for (int lane = 0; lane < 32; ++lane) {
                      Thr::frag_a(as_buf[cur], kb, wm + mt * 16, lane, a[lane]);
                      Thr::frag_b(bs_buf[cur], kb, wn + nt * 8, lane, b[lane]);
                      for (int v = 0; v < 4; ++v) d[lane][v] = th[warp * 32 + lane].acc[Thr::acc_tf32(mt, nt, v)];
                    }
                    mma_emulated(d, a, b);
                    for (int lane = 0; lane < 32; ++lane)
                      for (int v = 0; v < 4; ++v) th[warp * 32 + lane].acc[Thr::acc_tf32(mt, nt, v)] = d[lane][v];
                  }
            }
          } else {
            for (int tid = 0; tid < Cfg::THREADS; ++tid) th[tid].compute_simt(as_buf[cur], bs_buf[cur], tid);
          }
          for (int tid = 0; tid < Cfg::THREADS; ++tid)
            if (more) th[tid].store(as_buf[cur ^ 1], bs_buf[cur ^ 1], tid);
        }
        for (int tid = 0; tid < Cfg::THREADS; ++tid) th[tid].epilogue(Cb, bias, g, row0, col0, tid, c_vec4);
      }
  return 0;
}

struct Case {
  int64_t M, N, K, batch;
  bool bias;
  int a_pad, b_pad;  // extra elements per leading row (multiple of 4 keeps alignment)
};

template <class Cfg, bool A_KC, bool B_KC>
static void check_case(const Case& cs, std::mt19937& rng) {
  std::uniform_real_distribution<float> U(-1.f, 1.f);
  GemmArgs g{};
  g.M = cs.M; g.N = cs.N; g.K = cs.K; g.batch = cs.batch;
  // A: KC -> [batch][M][K + pad]; RC -> [batch][K][M + pad].
  int64_t lda = (A_KC ? cs.K : cs.M) + cs.a_pad;
  lda = (lda + 3) / 4 * 4;
  int64_t ldb = (B_KC ? cs.K : cs.N) + cs.b_pad;
  ldb = (ldb + 3) / 4 * 4;
  const int64_t a_rows = A_KC ? cs.M : cs.K, b_rows = B_KC ? cs.N : cs.K;
  g.sab = ((a_rows * lda) + 3) / 4 * 4 + 4;
  g.sbb = ((b_rows * ldb) + 3) / 4 * 4 + 4;
  if (A_KC) { g.sam = lda; g.sak = 1; } else { g.sam = 1; g.sak = lda; }
  if (B_KC) { g.sbn = ldb; g.sbk = 1; } else { g.sbn = 1; g.sbk = ldb; }
  const int64_t ldc = (cs.N + 3) / 4 * 4 + 4;
  g.scm = ldc; g.scn = 1; g.scb = cs.M * ldc;
  std::vector<float> A(g.sab * cs.batch + 8), B(g.sbb * cs.batch + 8), C(g.scb * cs.batch + 8, NAN),
      bias(cs.N + 4);
  for (auto& x : A) x = U(rng);
  for (auto& x : B) x = U(rng);
  for (auto& x : bias) x = U(rng);
  if (Cfg::TF32) {  // exact TF32 inputs: then the emulated mma is exact up to float32 accumulation
    for (auto& x : A) x = to_tf32(x);
    for (auto& x : B) x = to_tf32(x);
  }
  // Check the layout classifier agrees with the kernel variant.
  const int la = operand_layout(A.data(), g.M, g.K, g.sam, g.sak, g.sab, g.batch);
  const int lb = operand_layout(B.data(), g.N, g.K, g.sbn, g.sbk, g.sbb, g.batch);
  if (!(g.M == 1 || g.K == 1)) EXPECT(la == (A_KC ? 1 : 2), "operand_layout(A) = %d", la);
  if (!(g.N == 1 || g.K == 1)) EXPECT(lb == (B_KC ? 1 : 2), "operand_layout(B) = %d", lb);
  const bool c_vec4 = ((uintptr_t)C.data() % 16 == 0) && ((uintptr_t)bias.data() % 16 == 0);
  run<Cfg, A_KC, B_KC>(g, A.data(), B.data(), cs.bias ? bias.data() : nullptr, C.data(), c_vec4);
  double max_err = 0;
  for (int64_t b = 0; b < cs.batch; ++b)
    for (int64_t m = 0; m < cs.M; ++m)
      for (int64_t n = 0; n < cs.N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < cs.K; ++k)
          s += (double)A[b * g.sab + m * g.sam + k * g.sak] * B[b * g.sbb + k * g.sbk + n * g.sbn];
        if (cs.bias) s += bias[n];
        const float got = C[b * g.scb + m * g.scm + n];
        const double err = std::fabs(got - s);
        if (!(err <= 1e-4 * (1 + std::sqrt((double)cs.K)))) {
          EXPECT(false, "%s cfg %dx%dx%d tf32=%d A_KC=%d B_KC=%d M=%lld N=%lld K=%lld b=%lld: C[%lld][%lld] = %g, want %g",
                 "mismatch", Cfg::BM, Cfg::BN, Cfg::BK, (int)Cfg::TF32, (int)A_KC, (int)B_KC, (long long)cs.M,
                 (long long)cs.N, (long long)cs.K, (long long)b, (long long)m, (long long)n, got, s);
          return;
        }
        max_err = std::max(max_err, err);
      }
  // Nothing outside C's rows (the padding columns) was written.
  for (int64_t b = 0; b < cs.batch; ++b)
    for (int64_t m = 0; m < cs.M; ++m)
      for (int64_t n = cs.N; n < ldc; ++n) EXPECT(std::isnan(C[b * g.scb + m * g.scm + n]), "wrote padding");
}

template <class Cfg>
static void all_layouts(std::mt19937& rng) {
  coverage<Cfg, true, true>();
  coverage<Cfg, false, false>();
  const Case cases[] = {
      {1, 1, 1, 1, false, 0, 0},          {5, 7, 3, 1, true, 0, 0},
      {Cfg::BM, Cfg::BN, Cfg::BK, 1, true, 0, 0},
      {Cfg::BM + 3, Cfg::BN + 5, 3 * Cfg::BK + 5, 2, true, 4, 8},
      {2 * Cfg::BM + 1, 17, 2 * Cfg::BK, 1, false, 0, 0},
      {37, 2 * Cfg::BN + 9, 1, 1, true, 0, 0},
      {33, 65, 0, 1, true, 0, 0},          // K = 0: bias only
      {1, 130, 29, 3, true, 0, 4},         // one row
      {70, 1, 29, 1, true, 0, 0},          // one column
  };
  for (const Case& c : cases) {
    check_case<Cfg, true, true>(c, rng);
    check_case<Cfg, true, false>(c, rng);
    check_case<Cfg, false, true>(c, rng);
    check_case<Cfg, false, false>(c, rng);
  }
}

int main() {
  std::mt19937 rng(1234);
  all_layouts<Config<128, 128, 8, 64, 32, false>>(rng);
  all_layouts<Config<64, 64, 8, 32, 32, false>>(rng);
  all_layouts<Config<128, 128, 16, 64, 32, true>>(rng);
  all_layouts<Config<64, 64, 16, 32, 32, true>>(rng);
  // TF32 rounding: ties away from zero on the 13 dropped bits.
  EXPECT(to_tf32(1.0f) == 1.0f, "tf32(1)");
  float x;
  uint32_t u = 0x3f800fffu;  // just below the halfway point: rounds down
  std::memcpy(&x, &u, 4);
  EXPECT(to_tf32(x) == 1.0f, "tf32 round down");
  u = 0x3f801000u;  // halfway: away from zero
  std::memcpy(&x, &u, 4);
  uint32_t r;
  float y = to_tf32(x);
  std::memcpy(&r, &y, 4);
  EXPECT(r == 0x3f802000u, "tf32 round half away");
  std::printf(failures ? "check_gemm_tiling: %d FAILURES\n" : "check_gemm_tiling: all passed\n", failures);
  return failures ? 1 : 0;
}
