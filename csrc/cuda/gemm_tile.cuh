// Tile geometry and per-thread steps of the tuned float32 GEMM (matmul.cu), written as
// __host__ __device__ functions so that tools/check_gemm_tiling.cu can run every index computation
// of a block on the CPU (loader coverage, fragment layouts, edge guards, epilogue) against a naive
// product: the kernel is then wrong only if its barriers or its mma instruction are.
//
// Notation. C[M,N] = A[M,K] B[K,N] (+ bias[N]); one block computes a BM x BN tile of C in k-steps
// of BK. Shared memory holds both operands k-major: As[k][m] (pitch LDA = BM + PAD floats) and
// Bs[k][n] (pitch LDB = BN + PAD), so a warp's compute reads are consecutive words whatever the
// global layout. Each operand is read from global memory along whichever of its two dims has
// unit stride ("KC": k contiguous, e.g. row-major A or B = W^T of a Linear layer; "RC": the m or n
// dim contiguous, e.g. row-major B or A = G^T of a weight gradient), 16 bytes (float4) per load.
//
// Warps tile the block as WARPS_M x WARPS_N warp tiles of WM x WN.
//   * SIMT: a warp's lanes form an 8 (m) x 4 (n) grid; lane (lm, ln) owns rows lm*4 + i*32 + 0..3
//     (i < MI = WM/32) and columns ln*4 + j*16 + 0..3 (j < NJ = WN/16) of the warp tile: an
//     (MI*4) x (NJ*4) register block fed by MI + NJ float4 shared-memory loads per k.
//   * TF32: the warp tile is MT x NT mma.sync.m16n8k8 tiles (MT = WM/16, NT = WN/8); fragments
//     follow the PTX ISA layouts (g = lane/4, t = lane%4):
//       A (16x8, row): a0 (g, t)  a1 (g+8, t)  a2 (g, t+4)  a3 (g+8, t+4)
//       B (8x8, col):  b0 (k=t, n=g)  b1 (k=t+4, n=g)
//       C (16x8):      c0 (g, 2t)  c1 (g, 2t+1)  c2 (g+8, 2t)  c3 (g+8, 2t+1)
//     PAD = 8 makes the pitch 8 (mod 32) words, so the fragment reads As[t][g] hit 32 distinct banks.
#pragma once
#include <cstdint>
#include <cstring>
#include <cuda_runtime.h>
#include "cuda/host_device.h"

namespace flambeau::cuda::gemm {

// Problem description shared by the reference and the tuned kernels (strides in elements).
struct GemmArgs {
  int64_t M, N, K, batch;
  int64_t sam, sak, sab;  // A strides: row, k, batch
  int64_t sbk, sbn, sbb;  // B strides: k, col, batch
  int64_t scm, scn, scb;  // C strides: row, col, batch
};

template <int BM_, int BN_, int BK_, int WM_, int WN_, bool TF32_>
struct Config {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, WM = WM_, WN = WN_;
  static constexpr bool TF32 = TF32_;
  static constexpr int WARPS_M = BM / WM, WARPS_N = BN / WN;
  static constexpr int THREADS = 32 * WARPS_M * WARPS_N;
  static constexpr int MI = WM / 32, NJ = WN / 16;  // SIMT 4x4 groups per thread
  static constexpr int MT = WM / 16, NT = WN / 8;   // TF32 mma tiles per warp
  static constexpr int ACC = WM * WN / 32;          // accumulators per thread (both modes)
  // Minimum resident blocks per SM for __launch_bounds__. 1: no register cap. (Capping at 128
  // registers, two 256-thread blocks per SM, spilled 56-136 bytes per thread in the 128x128
  // kernels with nvcc 13.0; uncapped they use 148-216 registers and spill nothing.)
  static constexpr int MIN_BLOCKS = 1;
  static constexpr int PAD = TF32 ? 8 : 4;
  static constexpr int LDA = BM + PAD, LDB = BN + PAD;
  static constexpr int A_LOADS = BM * BK / 4 / THREADS;  // float4 global loads per thread per k-step
  static constexpr int B_LOADS = BN * BK / 4 / THREADS;
  static_assert(BM % WM == 0 && BN % WN == 0, "warp tiles must divide the block tile");
  static_assert(WM % 32 == 0 && WN % 16 == 0, "SIMT lane grid is 8x4 lanes of 4x4 elements");
  static_assert(BK % 8 == 0, "BK must be a multiple of the mma k (8)");
  static_assert((BM * BK / 4) % THREADS == 0 && (BN * BK / 4) % THREADS == 0, "loads must divide evenly");
  static_assert(PAD % 4 == 0, "rows of shared tiles must stay 16-byte aligned");
};

// ---------------------------------------------------------------------------------------------
// Index helpers
// ---------------------------------------------------------------------------------------------

FLB_HD int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct RK {
  int r, k;  // r: m (operand A) or n (operand B) within the tile; k within the k-step
};

// f-th float4 of an R x BK operand tile. KC: 4 consecutive k of one row (a warp covers 32/(BK/4)
// rows, whole 32-byte sectors). RC: 4 consecutive rows of one k (a warp reads 512 contiguous bytes).
template <int R, int BK, bool KC>
FLB_HD RK load_coord(int f) {
  if (KC) return RK{f / (BK / 4), (f % (BK / 4)) * 4};
  return RK{(f % (R / 4)) * 4, f / (R / 4)};
}

template <class Cfg>
FLB_HD int warp_row0(int warp) { return (warp / Cfg::WARPS_N) * Cfg::WM; }
template <class Cfg>
FLB_HD int warp_col0(int warp) { return (warp % Cfg::WARPS_N) * Cfg::WN; }

// SIMT: row of element (i, c) and column of element (j, c) of a lane's register block.
FLB_HD int simt_row(int lane, int i, int c) { return (lane / 4) * 4 + i * 32 + c; }
FLB_HD int simt_col(int lane, int j, int c) { return (lane % 4) * 4 + j * 16 + c; }

// TF32 accumulator v (0..3) of an m16n8 tile: row and column within the tile.
FLB_HD int frag_c_row(int lane, int v) { return lane / 4 + (v >> 1) * 8; }
FLB_HD int frag_c_col(int lane, int v) { return (lane % 4) * 2 + (v & 1); }

// Round a float32 to TF32 (10-bit mantissa), to nearest with ties away from zero, as
// cvt.rna.tf32.f32 does; the result is a float32 whose low 13 mantissa bits are zero.
FLB_HD float to_tf32(float x) {
#if defined(__CUDA_ARCH__)
#if __CUDA_ARCH__ >= 800
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return __uint_as_float(r);
#else
  return x;  // never reached: the TF32 kernels are launched on sm_80+ only
#endif
#else
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;  // finite: round, truncate
  std::memcpy(&x, &u, 4);
  return x;
#endif
}

#if defined(__CUDACC__)
// D += A B on one m16n8k8 tile; A, B already TF32 bit patterns. sm_80+ only (see launcher).
__device__ __forceinline__ void mma_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  __trap();  // unreachable: the launcher picks TF32 only on compute capability >= 8.0
#endif
}
#endif

FLB_HD float4 load4(const float* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(reinterpret_cast<const float4*>(p));
#else
  return *reinterpret_cast<const float4*>(p);
#endif
}

// ---------------------------------------------------------------------------------------------
// Per-thread state and steps of one block (see matmul.cu for the main loop that sequences them)
// ---------------------------------------------------------------------------------------------

template <class Cfg, bool A_KC, bool B_KC>
struct Thread {
  float4 ra[Cfg::A_LOADS];  // staged A k-step (prefetched while the previous one is computed)
  float4 rb[Cfg::B_LOADS];
  float acc[Cfg::ACC];

  FLB_HD void zero() {
#pragma unroll
    for (int i = 0; i < Cfg::ACC; ++i) acc[i] = 0.f;
  }

  // One operand's float4 at tile coordinate (r, k): global row gr = r0 + r (< R_lim), k gk = k0 + k
  // (< K). KC: element (gr, gk) at p[gr*ld + gk]; RC: at p[gr + gk*ld]. Whole vector in range:
  // one 16-byte load (the launcher checked alignment); otherwise per-element, zero-filled.
  template <bool KC>
  FLB_HD static float4 fetch(const float* p, int64_t ld, int64_t gr, int64_t R_lim, int64_t gk, int64_t K) {
    if (KC) {
      if (gr < R_lim && gk + 3 < K) return load4(p + gr * ld + gk);
      float v[4];
#pragma unroll
      for (int c = 0; c < 4; ++c) v[c] = (gr < R_lim && gk + c < K) ? p[gr * ld + gk + c] : 0.f;
      return make_float4(v[0], v[1], v[2], v[3]);
    }
    if (gr + 3 < R_lim && gk < K) return load4(p + gr + gk * ld);
    float v[4];
#pragma unroll
    for (int c = 0; c < 4; ++c) v[c] = (gr + c < R_lim && gk < K) ? p[(gr + c) + gk * ld] : 0.f;
    return make_float4(v[0], v[1], v[2], v[3]);
  }

  // Global -> registers: the k-step starting at k0 of A[row0.., :] and B[:, col0..] (batch bases).
  FLB_HD void load(const float* Ab, const float* Bb, const GemmArgs& g, int64_t row0, int64_t col0, int64_t k0,
                   int tid) {
#pragma unroll
    for (int l = 0; l < Cfg::A_LOADS; ++l) {
      const RK c = load_coord<Cfg::BM, Cfg::BK, A_KC>(tid + l * Cfg::THREADS);
      ra[l] = fetch<A_KC>(Ab, A_KC ? g.sam : g.sak, row0 + c.r, g.M, k0 + c.k, g.K);
    }
#pragma unroll
    for (int l = 0; l < Cfg::B_LOADS; ++l) {
      const RK c = load_coord<Cfg::BN, Cfg::BK, B_KC>(tid + l * Cfg::THREADS);
      rb[l] = fetch<B_KC>(Bb, B_KC ? g.sbn : g.sbk, col0 + c.r, g.N, k0 + c.k, g.K);
    }
  }

  // One staged float4 into a k-major shared tile S[k][r] (pitch LD): KC vectors run along k
  // (four scalar stores down a column), RC vectors along r (one 16-byte store).
  template <int R, int LD, bool KC>
  FLB_HD static void put(float* S, const float4& v, int f) {
    const RK c = load_coord<R, Cfg::BK, KC>(f);
    const float4 w = Cfg::TF32 ? make_float4(to_tf32(v.x), to_tf32(v.y), to_tf32(v.z), to_tf32(v.w)) : v;
    if (KC) {
      S[(c.k + 0) * LD + c.r] = w.x;
      S[(c.k + 1) * LD + c.r] = w.y;
      S[(c.k + 2) * LD + c.r] = w.z;
      S[(c.k + 3) * LD + c.r] = w.w;
    } else {
      *reinterpret_cast<float4*>(S + c.k * LD + c.r) = w;
    }
  }

  // Registers -> shared memory (one buffer of As[BK][LDA], Bs[BK][LDB]).
  FLB_HD void store(float* As, float* Bs, int tid) const {
#pragma unroll
    for (int l = 0; l < Cfg::A_LOADS; ++l) put<Cfg::BM, Cfg::LDA, A_KC>(As, ra[l], tid + l * Cfg::THREADS);
#pragma unroll
    for (int l = 0; l < Cfg::B_LOADS; ++l) put<Cfg::BN, Cfg::LDB, B_KC>(Bs, rb[l], tid + l * Cfg::THREADS);
  }

  // SIMT: acc[(i*4+c) * (NJ*4) + j*4+d] += A(row(i,c), k) * B(k, col(j,d)) over the k-step.
  FLB_HD void compute_simt(const float* As, const float* Bs, int tid) {
    const int warp = tid / 32, lane = tid % 32;
    const int wm = warp_row0<Cfg>(warp), wn = warp_col0<Cfg>(warp);
#pragma unroll
    for (int kk = 0; kk < Cfg::BK; ++kk) {
      float a[Cfg::MI * 4], b[Cfg::NJ * 4];
#pragma unroll
      for (int i = 0; i < Cfg::MI; ++i) {
        const float4 v = *reinterpret_cast<const float4*>(As + kk * Cfg::LDA + wm + simt_row(lane, i, 0));
        a[i * 4 + 0] = v.x; a[i * 4 + 1] = v.y; a[i * 4 + 2] = v.z; a[i * 4 + 3] = v.w;
      }
#pragma unroll
      for (int j = 0; j < Cfg::NJ; ++j) {
        const float4 v = *reinterpret_cast<const float4*>(Bs + kk * Cfg::LDB + wn + simt_col(lane, j, 0));
        b[j * 4 + 0] = v.x; b[j * 4 + 1] = v.y; b[j * 4 + 2] = v.z; b[j * 4 + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < Cfg::MI * 4; ++i)
#pragma unroll
        for (int j = 0; j < Cfg::NJ * 4; ++j) acc[i * (Cfg::NJ * 4) + j] = fmaf(a[i], b[j], acc[i * (Cfg::NJ * 4) + j]);
    }
  }

  // TF32 fragments of the mma tile at warp-tile offset (m0 | n0) for k-step slice kb..kb+7.
  FLB_HD static void frag_a(const float* As, int kb, int m0, int lane, uint32_t (&a)[4]) {
    const int g = lane / 4, t = lane % 4;
    const float* p = As + (kb + t) * Cfg::LDA + m0 + g;
    a[0] = bits(p[0]);
    a[1] = bits(p[8]);
    a[2] = bits(p[4 * Cfg::LDA]);
    a[3] = bits(p[4 * Cfg::LDA + 8]);
  }
  FLB_HD static void frag_b(const float* Bs, int kb, int n0, int lane, uint32_t (&b)[2]) {
    const int g = lane / 4, t = lane % 4;
    const float* p = Bs + (kb + t) * Cfg::LDB + n0 + g;
    b[0] = bits(p[0]);
    b[1] = bits(p[4 * Cfg::LDB]);
  }
  FLB_HD static uint32_t bits(float x) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(x);
#else
    uint32_t u;
    std::memcpy(&u, &x, 4);
    return u;
#endif
  }

  // Accumulator index of mma tile (mt, nt), register v.
  FLB_HD static int acc_tf32(int mt, int nt, int v) { return (mt * Cfg::NT + nt) * 4 + v; }

  // Epilogue: C[row0 + r, col0 + c] = acc (+ bias[col0 + c]), bounds-checked. SIMT lanes own runs
  // of 4 columns: one 16-byte store when C's rows are contiguous and aligned (c_vec4).
  FLB_HD void epilogue(float* Cb, const float* bias, const GemmArgs& g, int64_t row0, int64_t col0, int tid,
                       bool c_vec4) const {
    const int warp = tid / 32, lane = tid % 32;
    const int64_t wr = row0 + warp_row0<Cfg>(warp), wc = col0 + warp_col0<Cfg>(warp);
    if constexpr (Cfg::TF32) {
#pragma unroll
      for (int mt = 0; mt < Cfg::MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < Cfg::NT; ++nt)
#pragma unroll
          for (int v = 0; v < 4; ++v) {
            const int64_t r = wr + mt * 16 + frag_c_row(lane, v), c = wc + nt * 8 + frag_c_col(lane, v);
            if (r < g.M && c < g.N) {
              float x = acc[acc_tf32(mt, nt, v)];
              if (bias) x += bias[c];
              Cb[r * g.scm + c * g.scn] = x;
            }
          }
    } else {
#pragma unroll
    for (int i = 0; i < Cfg::MI; ++i)
#pragma unroll
      for (int ci = 0; ci < 4; ++ci) {
        const int64_t r = wr + simt_row(lane, i, ci);
        if (r >= g.M) continue;
#pragma unroll
        for (int j = 0; j < Cfg::NJ; ++j) {
          const int64_t c = wc + simt_col(lane, j, 0);
          const float* s = acc + (i * 4 + ci) * (Cfg::NJ * 4) + j * 4;
          float v[4] = {s[0], s[1], s[2], s[3]};
          if (c_vec4 && c + 3 < g.N) {
            if (bias) {
              const float4 bv = load4(bias + c);  // launcher: c_vec4 implies bias is 16-byte aligned
              v[0] += bv.x; v[1] += bv.y; v[2] += bv.z; v[3] += bv.w;
            }
            *reinterpret_cast<float4*>(Cb + r * g.scm + c) = make_float4(v[0], v[1], v[2], v[3]);
          } else {
#pragma unroll
            for (int d = 0; d < 4; ++d)
              if (c + d < g.N) Cb[r * g.scm + (c + d) * g.scn] = bias ? v[d] + bias[c + d] : v[d];
          }
        }
      }
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Host-side layout checks (which kernel may read an operand with 16-byte loads)
// ---------------------------------------------------------------------------------------------

// Operand X (rows R, depth K) with row stride sr, k stride sk, batch stride sb at address p.
// Returns 1 when it can be read along k (KC), 2 along rows (RC), 0 when neither: the vector
// loads need p 16-byte aligned and every vector start a multiple of 4 elements from p.
inline int operand_layout(const void* p, int64_t R, int64_t K, int64_t sr, int64_t sk, int64_t sb, int64_t batch) {
  if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return 0;
  if (batch > 1 && sb % 4 != 0) return 0;
  const bool k_unit = sk == 1 || K == 1, r_unit = sr == 1 || R == 1;
  if (k_unit && (R == 1 || sr % 4 == 0)) return 1;
  if (r_unit && (K == 1 || sk % 4 == 0)) return 2;
  return 0;
}

}  // namespace flambeau::cuda::gemm
