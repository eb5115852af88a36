// Index arithmetic, tile loaders and launch planning of the CUDA convolution (csrc/cuda/conv.cu),
// kept free of CUDA headers so that a plain C++ compiler can build it too: the host test
// (tests/cuda_host/conv_igemm_test.cpp, run by tests/kernels/test_conv_cuda_host.py) runs these very
// functions -- the same loaders, the same micro-tile update, the same stores, the same launch plans
// -- with one loop standing in for the threads of a block, and checks the results against a naive
// convolution for many shapes. conv.cu adds only what cannot run on the host: the kernels' loops
// over tiles, __syncthreads, shared-memory declarations, block reductions and the launches.
//
// The GEMM views (NCHW tensors, group g of G; Cg = C/G, Og = O/G, Kk = KH*KW, Kdim = Cg*Kk):
//
//   forward  y[n, g*Og+j, oh, ow]   C[m][j]  = sum_k A[m][k] B[k][j]
//            m = (n, oh, ow) in N*OH*OW,  j in Og,  k = (c, kh, kw) in Kdim
//            A[m][k] = x[n, g*Cg+c, oh*sh-ph+kh*dh, ow*sw-pw+kw*dw]  (0 outside the image)
//            B[k][j] = w[g*Og+j, c, kh, kw]
//   dgrad    dx[n, g*Cg+c, ih, iw]  C[m][c]  = sum_k A[m][k] B[k][c]
//            m = (n, ih, iw) in N*H*W,  c in Cg,  k = (j, kh, kw) in Og*Kk
//            A[m][k] = dy[n, g*Og+j, oh, ow] where oh*sh = ih+ph-kh*dh and ow*sw = iw+pw-kw*dw have
//                      exact, in-range solutions, else 0
//            B[k][c] = w[g*Og+j, c, kh, kw]
//   wgrad    dw[g*Og+j, c, kh, kw]  C[j][k'] = sum_p A[j][p] B[p][k']
//            j in Og,  k' = (c, kh, kw) in Kdim,  p = (n, oh, ow) in N*OH*OW (the reduction)
//            A[j][p] = dy[n, g*Og+j, oh, ow],  B[p][k'] = forward's A[p][k']
//            Split-K: split s sums p in [s*L, min((s+1)*L, N*OH*OW)) into its own partial buffer;
//            a second kernel adds the partials in split order (no float atomics; the splits depend on
//            the shapes only, so the same inputs give the same bits on every GPU).
//
// No im2col buffer: every tile element is gathered from the tensor by its (m, k) indices, with zero
// fill for padding, for taps that fall between strided outputs (dgrad) and past the tile edges.
// Indices inside a launch are int (the planner splits the batch into image chunks so that GEMM
// extents stay below kIntLimit and checks the geometry); offsets into tensors are int64.
//
// Depthwise-like convolutions (one input channel per group, few filters per group) take "direct"
// kernels instead: the GEMM's N would be 1-8 and K = KH*KW, so almost all of a tile would be padding.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>
#include "cuda/host_device.h"

namespace flambeau::cuda::conv {

enum class Mode { Fwd, Dgrad, Wgrad };

// GEMM extents, image-chunk sizes and geometry sums inside a launch stay below this (so m0 + BM and
// the like never overflow int).
constexpr int64_t kIntLimit = int64_t(1) << 30;

// Shared-memory row padding (elements): conflict-free stores for both loader mappings (see conv.cu).
constexpr int kPad = 4;
constexpr int kThreads = 256;
constexpr int kBK = 8;

// Tile configurations (BM x BN tile, BK deep, TM x TN per thread, 256 threads). Chosen per problem
// from its shapes only (choose_cfg), never from the device.
//   0: 128x128, 8x8 per thread (float only: 64 accumulators)
//   1: 64x64,   4x4
//   2: 128x32,  4x4  (narrow N: few output channels per group)
//   3: 32x128,  4x4  (narrow M: wgrad with few filters per group)
constexpr int kNumCfg = 4;
constexpr int kCfgBM[kNumCfg] = {128, 64, 128, 32};
constexpr int kCfgBN[kNumCfg] = {128, 64, 32, 128};
constexpr int kCfgTM[kNumCfg] = {8, 4, 4, 4};
constexpr int kCfgTN[kNumCfg] = {8, 4, 4, 4};

template <int CFG>
struct Cfg {
  static constexpr int BM = kCfgBM[CFG], BN = kCfgBN[CFG], BK = kBK, TM = kCfgTM[CFG], TN = kCfgTN[CFG];
  static constexpr int THREADS = kThreads;
  static constexpr int RT = BM / TM, CT = BN / TN;  // thread rows / columns of the micro-tile grid
  static constexpr int NA = BM * BK / THREADS;      // A elements each thread stages per k-step
  static constexpr int NB = BN * BK / THREADS;      // B elements each thread stages per k-step
  static_assert(RT * CT == THREADS, "the micro-tiles must cover the tile with THREADS threads");
  static_assert(THREADS % BM == 0 && THREADS % BK == 0, "loader mappings need THREADS % BM == THREADS % BK == 0");
  static_assert((BM * BK) % THREADS == 0 && (BN * BK) % THREADS == 0, "tile loads must divide evenly");
};

// One launch. Extents are int (the planner guarantees they fit); offsets are computed in int64.
struct Problem {
  int N;                    // images in this launch
  int C, H, W, O, OH, OW;   // channels and planes
  int KH, KW, sh, sw, ph, pw, dh, dw;
  int G, Cg, Og, Kk, Kdim;  // Kk = KH*KW, Kdim = Cg*Kk
  int HW, OHW;
  int M, Ncols, K;          // the GEMM (K = the whole reduction of this launch)
  int split_len, splits;    // reduction range of split s: [s*split_len, min(K, (s+1)*split_len))
  int64_t c_split_stride;   // wgrad: elements between consecutive splits' partial buffers
};

// ---------------------------------------------------------------------------------------------
// Index arithmetic
// ---------------------------------------------------------------------------------------------

// An output pixel m = (n, oh, ow) of a chunk as seen by the input: the offset of channel g*Cg of
// image n, and the top-left corner of its receptive field (may be negative: padding).
struct PixIn {
  int64_t base;
  int ih0, iw0;
};
FLB_HD PixIn out_pixel(const Problem& p, int g, int m) {
  const int n = m / p.OHW, q = m - n * p.OHW, oh = q / p.OW, ow = q - oh * p.OW;
  return {((int64_t)n * p.C + (int64_t)g * p.Cg) * p.HW, oh * p.sh - p.ph, ow * p.sw - p.pw};
}

// A reduction index k = (ch, kh, kw) (ch = input channel in the group for fwd/wgrad, filter j for
// dgrad) with the tap offsets already scaled by the dilation.
struct Tap {
  int ch, kh_off, kw_off;
};
FLB_HD Tap tap_of(const Problem& p, int k) {
  const int ch = k / p.Kk, r = k - ch * p.Kk, kh = r / p.KW, kw = r - kh * p.KW;
  return {ch, kh * p.dh, kw * p.dw};
}

// Offset of x[n, g*Cg + t.ch, ih0 + kh_off, iw0 + kw_off], or -1 in the padding.
FLB_HD int64_t x_offset(const Problem& p, const PixIn& r, const Tap& t) {
  const int ih = r.ih0 + t.kh_off, iw = r.iw0 + t.kw_off;
  if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) return -1;
  return r.base + (int64_t)t.ch * p.HW + (int64_t)(ih * p.W + iw);
}

// An input pixel m = (n, ih, iw) of a chunk as seen by dy: the offset of channel g*Og of image n
// in dy, and (ih + ph, iw + pw).
struct PixOut {
  int64_t base;
  int th, tw;
};
FLB_HD PixOut in_pixel(const Problem& p, int g, int m) {
  const int n = m / p.HW, q = m - n * p.HW, ih = q / p.W, iw = q - ih * p.W;
  return {((int64_t)n * p.O + (int64_t)g * p.Og) * p.OHW, ih + p.ph, iw + p.pw};
}

// Offset of dy[n, g*Og + t.ch, oh, ow] with oh*sh + kh_off = th, ow*sw + kw_off = tw, or -1 when
// no such in-range output exists.
FLB_HD int64_t dy_offset(const Problem& p, const PixOut& r, const Tap& t) {
  const int th = r.th - t.kh_off, tw = r.tw - t.kw_off;
  if (th < 0 || tw < 0) return -1;
  // Stride 1 (uniform across the block): no division.
  int oh = th, ow = tw;
  if (p.sh != 1 || p.sw != 1) oh = th / p.sh, ow = tw / p.sw;
  if (oh * p.sh != th || ow * p.sw != tw || oh >= p.OH || ow >= p.OW) return -1;
  return r.base + (int64_t)t.ch * p.OHW + (int64_t)(oh * p.OW + ow);
}

// Offset of w[g*Og + j, c, kh, kw] for a forward/wgrad reduction index k = (c, kh, kw).
FLB_HD int64_t w_offset_fwd(const Problem& p, int g, int j, int k) {
  return ((int64_t)g * p.Og + j) * p.Kdim + k;
}
// Offset of w[g*Og + j, c, kh, kw] for a dgrad reduction index k = (j, kh, kw).
FLB_HD int64_t w_offset_dgrad(const Problem& p, int g, int k, int c) {
  const int j = k / p.Kk, r = k - j * p.Kk;
  return (((int64_t)g * p.Og + j) * p.Cg + c) * p.Kk + r;
}

template <class T>
FLB_HD T fma_hd(T a, T b, T c) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(T) == 4) return fmaf(a, b, c);
  else return fma(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

// ---------------------------------------------------------------------------------------------
// Incremental index state: a reduction index or a pixel advanced by BK per k-step (no divisions)
// ---------------------------------------------------------------------------------------------

// k = (ch, kh, kw) unscaled (k = ch*Kk + kh*KW + kw), and BK split the same way: KStep{dch, dkh,
// dkw} with dkh < KH, dkw < KW. Adding a step carries at most once per digit.
struct KIdx {
  int ch, kh, kw;
};
FLB_HD KIdx kidx_of(const Problem& p, int k) {
  const int ch = k / p.Kk, r = k - ch * p.Kk, kh = r / p.KW;
  return {ch, kh, r - kh * p.KW};
}
FLB_HD void kidx_advance(const Problem& p, const KIdx& step, KIdx& t) {
  t.kw += step.kw;
  t.kh += step.kh;
  t.ch += step.ch;
  if (t.kw >= p.KW) t.kw -= p.KW, ++t.kh;
  if (t.kh >= p.KH) t.kh -= p.KH, ++t.ch;
}
FLB_HD void kidx_next(const Problem& p, KIdx& t) {  // k + 1
  if (++t.kw == p.KW) {
    t.kw = 0;
    if (++t.kh == p.KH) t.kh = 0, ++t.ch;
  }
}
FLB_HD Tap tap_scaled(const Problem& p, const KIdx& t) { return {t.ch, t.kh * p.dh, t.kw * p.dw}; }

// A wgrad reduction pixel k = (n, oh, ow) of the chunk (k = n*OHW + oh*OW + ow), advanced the same
// way by PixIdx{dn, doh, dow} = BK.
struct PixIdx {
  int n, oh, ow;
};
FLB_HD PixIdx pixidx_of(const Problem& p, int k) {
  const int n = k / p.OHW, q = k - n * p.OHW, oh = q / p.OW;
  return {n, oh, q - oh * p.OW};
}
FLB_HD void pixidx_advance(const Problem& p, const PixIdx& step, PixIdx& t) {
  t.ow += step.ow;
  t.oh += step.oh;
  t.n += step.n;
  if (t.ow >= p.OW) t.ow -= p.OW, ++t.oh;
  if (t.oh >= p.OH) t.oh -= p.OH, ++t.n;
}

// ---------------------------------------------------------------------------------------------
// The implicit-GEMM block tile: staged loads, micro-tile update, stores
// ---------------------------------------------------------------------------------------------
//
// Shared tiles (two of each, double-buffered by the kernel): As[BK][BM + kPad] holds
// A[m0 + mm][k0 + kk] at As[kk][mm], Bs[BK][BN + kPad] holds B[k0 + kk][n0 + nn] at Bs[kk][nn].
// Loader mappings (thread tid, element l of its share):
//   "m-fastest" (A of fwd and dgrad): mm = tid % BM, kk = (tid / BM) * NA + l: a thread keeps one
//       pixel per tile (decomposed once, in init), consecutive threads read consecutive pixels; its
//       NA consecutive reduction indices: the first decomposed once per tile and advanced by BK per
//       k-step, the others one past it (one carry chain each);
//   "k-fastest" (B of fwd/dgrad: weights contiguous along k; A and B of wgrad: pixels along k):
//       kk = tid % BK, nn = tid / BK + l * (THREADS / BK): a thread keeps one reduction index,
//       decomposed once per tile and advanced per k-step (wgrad: its pixel, shared by A and B).
// Per k-step (the kernel's main loop, one barrier each): fetch() reads the next k-step from global
// memory into registers (ra, rb) while tile_fma() works on the current shared buffer, then stage()
// writes the registers into the other buffer.
// Micro-tile: thread (tm, tn) owns rows micro_idx(tm, i, RT) and columns micro_idx(tn, j, CT): runs
// of 4 consecutive rows (columns) 4*RT (4*CT) apart, so its fragment reads are 16-byte vectors.
// MFAST (fwd, dgrad): tm = tid % RT, so the 16 (or 32) lanes with one tn read one contiguous run of
// As and the two (one) tn of a warp are broadcasts of Bs: no bank conflicts (see conv.cu);
// otherwise (wgrad) tn = tid % CT, the roles exchanged.
// Every output's sum runs over k in increasing order, one FMA per term: deterministic, and the
// same bits for any tile configuration.

template <class T, Mode MODE, int CFG>
struct TileLoader {
  using Cf = Cfg<CFG>;
  static constexpr int BM = Cf::BM, BN = Cf::BN, BK = Cf::BK, NA = Cf::NA, NB = Cf::NB, THREADS = Cf::THREADS;
  static constexpr bool MF = MODE != Mode::Wgrad;

  // Staged k-step (global -> registers by fetch, registers -> shared by stage).
  T ra[NA], rb[NB];
  // fwd: the thread's output pixel; dgrad: its input pixel (m-fastest A); row_ok: m < M.
  PixIn pin;
  PixOut pout;
  bool row_ok;
  // fwd/dgrad: the reduction index of the thread's first A element (k = k0 + (tid / BM) * NA) and,
  // dgrad, of its B elements (k = k0 + tid % BK); advanced by step per k-step.
  KIdx ka;
  KIdx kb;
  KIdx step;
  // wgrad: the taps of the thread's B columns (constant over the tile) and their validity; its
  // pixel k = k0 + tid % BK and the pixel step.
  Tap col_tap[NB];
  bool col_ok[NB];
  PixIdx px, pstep;

  // Per-tile state for the first k-step k0 = kbeg.
  FLB_HD void init(const Problem& p, int g, int m0, int n0, int kbeg, int tid) {
    if constexpr (MF) {
      const int m = m0 + tid % BM;
      row_ok = m < p.M;
      if constexpr (MODE == Mode::Fwd) pin = out_pixel(p, g, row_ok ? m : 0);
      else pout = in_pixel(p, g, row_ok ? m : 0);
      step = kidx_of(p, BK);
      ka = kidx_of(p, kbeg + (tid / BM) * NA);
      kb = kidx_of(p, kbeg + tid % BK);
    } else {
      for (int l = 0; l < NB; ++l) {
        const int n = n0 + tid / BK + l * (THREADS / BK);
        col_ok[l] = n < p.Ncols;
        col_tap[l] = tap_of(p, col_ok[l] ? n : 0);
      }
      // (An empty reduction, OH*OW == 0, loads nothing: no division by zero then.)
      pstep = p.OHW > 0 ? pixidx_of(p, BK) : PixIdx{0, 0, 0};
      px = p.OHW > 0 ? pixidx_of(p, kbeg + tid % BK) : PixIdx{0, 0, 0};
    }
  }

  // The state of the next k-step (k0 + BK).
  FLB_HD void advance(const Problem& p) {
    if constexpr (MF) {
      kidx_advance(p, step, ka);
      if constexpr (MODE == Mode::Dgrad) kidx_advance(p, step, kb);
    } else {
      pixidx_advance(p, pstep, px);
    }
  }

  // Global -> registers: A[m0:m0+BM, k0:k0+BK] and B[k0:k0+BK, n0:n0+BN] (k < kend only; zero
  // elsewhere). fwd: A = x, B = w. dgrad: A = dy, B = w. wgrad: A = dy, B = x.
  FLB_HD void fetch(const Problem& p, const T* A, const T* B, int g, int m0, int n0, int k0, int kend, int tid) {
    if constexpr (MF) {
      KIdx kl = ka;
      for (int l = 0; l < NA; ++l) {
        const int k = k0 + (tid / BM) * NA + l;
        if (l > 0) kidx_next(p, kl);
        T v = T(0);
        if (row_ok && k < kend) {
          const Tap t = tap_scaled(p, kl);
          const int64_t off = MODE == Mode::Fwd ? x_offset(p, pin, t) : dy_offset(p, pout, t);
          if (off >= 0) v = A[off];
        }
        ra[l] = v;
      }
      const int k = k0 + tid % BK;
      // fwd: w[g*Og + n][k]; dgrad: w[g*Og + j][c = n][kh][kw] with k = (j, kh, kw).
      const int64_t kbase = MODE == Mode::Fwd ? (int64_t)g * p.Og * p.Kdim + k
                                              : ((int64_t)g * p.Og + kb.ch) * p.Kdim + kb.kh * p.KW + kb.kw;
      const int64_t nstride = MODE == Mode::Fwd ? (int64_t)p.Kdim : (int64_t)p.Kk;
      for (int l = 0; l < NB; ++l) {
        const int n = n0 + tid / BK + l * (THREADS / BK);
        rb[l] = (k < kend && n < p.Ncols) ? B[kbase + (int64_t)n * nstride] : T(0);
      }
    } else {
      const int k = k0 + tid % BK;
      const bool k_ok = k < kend;
      // The pixel k = (n, oh, ow): its receptive field in x and its offset in dy (channel g*Og).
      const int q = px.oh * p.OW + px.ow;
      const PixIn pi{((int64_t)px.n * p.C + (int64_t)g * p.Cg) * p.HW, px.oh * p.sh - p.ph, px.ow * p.sw - p.pw};
      const int64_t dy_base = ((int64_t)px.n * p.O + (int64_t)g * p.Og) * p.OHW + q;
      for (int l = 0; l < NA; ++l) {
        const int m = m0 + tid / BK + l * (THREADS / BK);
        ra[l] = (k_ok && m < p.M) ? A[dy_base + (int64_t)m * p.OHW] : T(0);
      }
      for (int l = 0; l < NB; ++l) {
        T v = T(0);
        if (k_ok && col_ok[l]) {
          const int64_t off = x_offset(p, pi, col_tap[l]);
          if (off >= 0) v = B[off];
        }
        rb[l] = v;
      }
    }
  }

  // Registers -> one shared buffer.
  FLB_HD void stage(int tid, T (*As)[BM + kPad], T (*Bs)[BN + kPad]) const {
    if constexpr (MF) {
      for (int l = 0; l < NA; ++l) As[(tid / BM) * NA + l][tid % BM] = ra[l];
    } else {
      for (int l = 0; l < NA; ++l) As[tid % BK][tid / BK + l * (THREADS / BK)] = ra[l];
    }
    for (int l = 0; l < NB; ++l) Bs[tid % BK][tid / BK + l * (THREADS / BK)] = rb[l];
  }
};

// Row (column) of element i of a thread's micro-tile: runs of 4, R threads along the dimension.
FLB_HD int micro_idx(int t, int i, int R) { return (i / 4) * (4 * R) + t * 4 + (i % 4); }

// Four consecutive elements of a shared row (16-byte aligned for float: the start is a multiple of
// 4 elements of a row whose pitch is too).
template <class T>
FLB_HD void lds4(const T* s, T* out) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(T) == 4) {
    const float4 v = *reinterpret_cast<const float4*>(s);
    out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
    return;
  } else {
    const double2 u = *reinterpret_cast<const double2*>(s), v = *reinterpret_cast<const double2*>(s + 2);
    out[0] = u.x, out[1] = u.y, out[2] = v.x, out[3] = v.y;
    return;
  }
#else
  for (int c = 0; c < 4; ++c) out[c] = s[c];
#endif
}

template <class T, int CFG, bool MFAST>
FLB_HD void tile_fma(const T (*As)[Cfg<CFG>::BM + kPad], const T (*Bs)[Cfg<CFG>::BN + kPad],
                     T (&acc)[Cfg<CFG>::TM][Cfg<CFG>::TN], int tid) {
  using Cf = Cfg<CFG>;
  constexpr int RT = Cf::RT, CT = Cf::CT;
  static_assert(Cf::TM % 4 == 0 && Cf::TN % 4 == 0, "micro-tiles are runs of 4");
  const int tm = MFAST ? tid % RT : tid / CT, tn = MFAST ? tid / RT : tid % CT;
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int kk = 0; kk < Cf::BK; ++kk) {
    T a[Cf::TM], b[Cf::TN];
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int i = 0; i < Cf::TM; i += 4) lds4(&As[kk][micro_idx(tm, i, RT)], a + i);
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int j = 0; j < Cf::TN; j += 4) lds4(&Bs[kk][micro_idx(tn, j, CT)], b + j);
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int i = 0; i < Cf::TM; ++i)
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
      for (int j = 0; j < Cf::TN; ++j) acc[i][j] = fma_hd(a[i], b[j], acc[i][j]);
  }
}

// Writes the thread's micro-tile. fwd: y (+ bias[g*Og + j]); dgrad: dx; wgrad: the split's partial
// buffer (or dw itself when there is one split), laid out like dw.
template <class T, Mode MODE, int CFG>
FLB_HD void tile_store(const Problem& p, T* Cp, const T* bias, const T (&acc)[Cfg<CFG>::TM][Cfg<CFG>::TN], int g,
                       int s, int m0, int n0, int tid) {
  using Cf = Cfg<CFG>;
  constexpr int RT = Cf::RT, CT = Cf::CT;
  constexpr bool MFAST = MODE != Mode::Wgrad;
  const int tm = MFAST ? tid % RT : tid / CT, tn = MFAST ? tid / RT : tid % CT;
  for (int i = 0; i < Cf::TM; ++i) {
    const int m = m0 + micro_idx(tm, i, RT);
    if (m >= p.M) continue;
    int64_t row;
    if constexpr (MODE == Mode::Fwd) {
      const int n = m / p.OHW, q = m - n * p.OHW;
      row = ((int64_t)n * p.O + (int64_t)g * p.Og) * p.OHW + q;  // + j*OHW
    } else if constexpr (MODE == Mode::Dgrad) {
      const int n = m / p.HW, q = m - n * p.HW;
      row = ((int64_t)n * p.C + (int64_t)g * p.Cg) * p.HW + q;  // + c*HW
    } else {
      row = (int64_t)s * p.c_split_stride + ((int64_t)g * p.Og + m) * p.Kdim;  // + k'
    }
    for (int j = 0; j < Cf::TN; ++j) {
      const int n = n0 + micro_idx(tn, j, CT);
      if (n >= p.Ncols) continue;
      if constexpr (MODE == Mode::Fwd) {
        Cp[row + (int64_t)n * p.OHW] = bias ? acc[i][j] + bias[g * p.Og + n] : acc[i][j];
      } else if constexpr (MODE == Mode::Dgrad) {
        Cp[row + (int64_t)n * p.HW] = acc[i][j];
      } else {
        Cp[row + n] = acc[i][j];
      }
    }
  }
}

// The reduction range of (group, split) z of a launch: groups vary fastest.
FLB_HD void split_range(const Problem& p, int z, int& g, int& s, int& kbeg, int& kend) {
  g = z % p.G;
  s = z / p.G;
  kbeg = s * p.split_len;
  kend = p.K - kbeg < p.split_len ? p.K : kbeg + p.split_len;
}

// ---------------------------------------------------------------------------------------------
// Direct kernels (one input channel per group): per-element bodies
// ---------------------------------------------------------------------------------------------

// y[n, o, oh, ow] for e = o*OHW + oh*OW + ow; x_img, y of image n. Taps in (kh, kw) order.
template <class T>
FLB_HD T direct_fwd_elem(const Problem& p, const T* x_img, const T* w, const T* bias, int e) {
  const int o = e / p.OHW, q = e - o * p.OHW, oh = q / p.OW, ow = q - oh * p.OW;
  const T* xp = x_img + (int64_t)(o / p.Og) * p.HW;
  const T* wp = w + (int64_t)o * p.Kk;
  T acc = T(0);
  for (int kh = 0; kh < p.KH; ++kh) {
    const int ih = oh * p.sh - p.ph + kh * p.dh;
    if (ih < 0 || ih >= p.H) continue;
    for (int kw = 0; kw < p.KW; ++kw) {
      const int iw = ow * p.sw - p.pw + kw * p.dw;
      if (iw < 0 || iw >= p.W) continue;
      acc = fma_hd(xp[ih * p.W + iw], wp[kh * p.KW + kw], acc);
    }
  }
  return bias ? acc + bias[o] : acc;
}

// dx[n, c, ih, iw] for e = c*HW + ih*W + iw; dy_img of image n. Terms in (j, kh, kw) order.
template <class T>
FLB_HD T direct_dgrad_elem(const Problem& p, const T* dy_img, const T* w, int e) {
  const int c = e / p.HW, q = e - c * p.HW, ih = q / p.W, iw = q - ih * p.W;
  T acc = T(0);
  for (int j = 0; j < p.Og; ++j) {
    const int o = c * p.Og + j;  // group c (Cg == 1)
    const T* dyp = dy_img + (int64_t)o * p.OHW;
    const T* wp = w + (int64_t)o * p.Kk;
    for (int kh = 0; kh < p.KH; ++kh) {
      const int th = ih + p.ph - kh * p.dh;
      if (th < 0) break;  // th decreases with kh
      const int oh = th / p.sh;
      if (oh * p.sh != th || oh >= p.OH) continue;
      for (int kw = 0; kw < p.KW; ++kw) {
        const int tw = iw + p.pw - kw * p.dw;
        if (tw < 0) break;
        const int ow = tw / p.sw;
        if (ow * p.sw != tw || ow >= p.OW) continue;
        acc = fma_hd(dyp[oh * p.OW + ow], wp[kh * p.KW + kw], acc);
      }
    }
  }
  return acc;
}

// One thread's share of dw[o, 0, kh, kw] (r = kh*KW + kw): images in order, pixels q = t, t + nt, ...
template <class T, class Acc>
FLB_HD Acc direct_wgrad_partial(const Problem& p, const T* dy, const T* x, int o, int r, int t, int nt) {
  const int kh = r / p.KW, kw = r - kh * p.KW, g = o / p.Og;
  Acc acc = Acc(0);
  for (int n = 0; n < p.N; ++n) {
    const T* dyp = dy + ((int64_t)n * p.O + o) * p.OHW;
    const T* xp = x + ((int64_t)n * p.C + g) * p.HW;
    for (int q = t; q < p.OHW; q += nt) {
      const int oh = q / p.OW, ow = q - oh * p.OW;
      const int ih = oh * p.sh - p.ph + kh * p.dh, iw = ow * p.sw - p.pw + kw * p.dw;
      if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
      acc = fma_hd((Acc)dyp[q], (Acc)xp[ih * p.W + iw], acc);
    }
  }
  return acc;
}

// ---------------------------------------------------------------------------------------------
// Launch planning (host only)
// ---------------------------------------------------------------------------------------------

// The op layer's geometry (cpu::ConvGeometry's fields), copied so this header needs no core headers.
struct Dims {
  int64_t N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G;
};

// Few filters per group on one input channel: the direct kernels (see the file comment).
inline bool use_direct(const Dims& d) { return d.C == d.G && d.O / d.G <= 8; }

// Why a geometry cannot run (nullptr if it can): every int computed inside a kernel stays below
// kIntLimit.
inline const char* unsupported(const Dims& d, int64_t limit = kIntLimit) {
  const int64_t Cg = d.C / d.G, Og = d.O / d.G, Kk = d.KH * d.KW;
  if (d.H * d.W >= limit || d.OH * d.OW >= limit) return "an image plane has too many pixels";
  if (Cg * Kk >= limit || Og * Kk >= limit || d.O * Kk >= limit) return "the weight has too many elements";
  if (d.C >= limit || d.O >= limit || d.N >= limit) return "too many channels or images";
  if (d.OH * d.sh + d.KH * d.dh + d.ph + d.H >= limit || d.OW * d.sw + d.KW * d.dw + d.pw + d.W >= limit)
    return "stride, dilation or padding too large";
  if (use_direct(d) && (d.C * d.H * d.W >= limit || d.O * d.OH * d.OW >= limit))
    return "an image has too many elements";
  return nullptr;
}

// Tile configuration from the GEMM's extents (shapes only).
inline int choose_cfg(int64_t M, int64_t Ncols, int64_t G, bool is_float) {
  if (Ncols <= 32 && M > 32) return 2;
  if (M <= 32 && Ncols > 32) return 3;
  if (is_float) {
    const int64_t big_tiles = ((M + 127) / 128) * ((Ncols + 127) / 128) * G;
    if (big_tiles >= 256) return 0;
  }
  return 1;
}

// Planner knobs. The defaults are what conv.cu uses; the host test shrinks them to exercise image
// chunking, split-K and every tile configuration on small shapes.
struct PlanOptions {
  int64_t limit = kIntLimit;              // GEMM extents per launch stay below this
  int64_t ws_budget = int64_t(16) << 20;  // wgrad partial buffers, elements in all
  int64_t target_blocks = 1024;           // wgrad: aim for about this many blocks
  int64_t min_split_len = 512;            // wgrad: fewest pixels per split (rounded up to BK)
  int64_t max_splits = 256;
  int force_cfg = -1;                     // >= 0: use this tile configuration
  bool allow_direct = true;
};

// wgrad split-K plan for one chunk of K pixels: about target_blocks blocks in all, splits of at
// least min_split_len pixels (a multiple of BK), at most max_splits of them.
inline void plan_splits(int64_t K, int64_t tiles, int64_t max_splits, const PlanOptions& o, int& split_len,
                        int& splits) {
  int64_t s = (o.target_blocks + tiles - 1) / tiles;
  s = std::min(s, (K + o.min_split_len - 1) / o.min_split_len);
  s = std::min(s, std::min(max_splits, o.max_splits));
  if (s < 1) s = 1;
  int64_t len = (K + s - 1) / s;
  len = (len + kBK - 1) / kBK * kBK;
  split_len = (int)len;
  splits = (int)((K + len - 1) / len);
}

// One kernel launch: the problem and element offsets of its A, B and C operands (image chunks) and,
// for wgrad, the index of its first partial buffer.
struct Launch {
  Problem p;
  int64_t a_off, b_off, c_off;
  int64_t first_split;
};

struct Plan {
  bool direct = false;
  int cfg = 1;
  std::vector<Launch> launches;
  int64_t total_splits = 1;  // wgrad: partial buffers (1: the kernel writes dw directly)
};

inline Problem base_problem(const Dims& d) {
  Problem p{};
  p.N = (int)d.N;
  p.C = (int)d.C;
  p.H = (int)d.H;
  p.W = (int)d.W;
  p.O = (int)d.O;
  p.OH = (int)d.OH;
  p.OW = (int)d.OW;
  p.KH = (int)d.KH;
  p.KW = (int)d.KW;
  p.sh = (int)d.sh;
  p.sw = (int)d.sw;
  p.ph = (int)d.ph;
  p.pw = (int)d.pw;
  p.dh = (int)d.dh;
  p.dw = (int)d.dw;
  p.G = (int)d.G;
  p.Cg = (int)(d.C / d.G);
  p.Og = (int)(d.O / d.G);
  p.Kk = (int)(d.KH * d.KW);
  p.Kdim = p.Cg * p.Kk;
  p.HW = (int)(d.H * d.W);
  p.OHW = (int)(d.OH * d.OW);
  p.splits = 1;
  return p;
}

// The launches of one mode. Requires unsupported(d) == nullptr, N >= 1 and every extent positive.
inline Plan plan_conv(Mode mode, const Dims& d, bool is_float, const PlanOptions& o = PlanOptions()) {
  Plan plan;
  const Problem base = base_problem(d);
  const int64_t limit = o.limit;
  if (o.allow_direct && use_direct(d)) {
    plan.direct = true;
    Launch L{base, 0, 0, 0, 0};
    plan.launches.push_back(L);
    return plan;
  }
  const int64_t per_img = mode == Mode::Dgrad ? d.H * d.W : d.OH * d.OW;
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(d.N, (limit - 1) / per_img));
  const int64_t nchunks = (d.N + chunk - 1) / chunk;
  const int64_t Og = d.O / d.G, Cg = d.C / d.G, Kdim = Cg * d.KH * d.KW;
  int64_t M0, N0;
  if (mode == Mode::Fwd) M0 = chunk * per_img, N0 = Og;
  else if (mode == Mode::Dgrad) M0 = chunk * per_img, N0 = Cg;
  else M0 = Og, N0 = Kdim;
  plan.cfg = o.force_cfg >= 0 ? o.force_cfg : choose_cfg(M0, N0, d.G, is_float);
  const int64_t BM = kCfgBM[plan.cfg], BN = kCfgBN[plan.cfg];
  const int64_t dw_elems = d.O * Kdim;
  int64_t next_split = 0;
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t n0 = c * chunk, nb = std::min(chunk, d.N - n0);
    Launch L{base, 0, 0, 0, 0};
    L.p.N = (int)nb;
    const int64_t x_img = d.C * d.H * d.W, y_img = d.O * d.OH * d.OW;
    if (mode == Mode::Fwd) {
      L.p.M = (int)(nb * per_img), L.p.Ncols = (int)Og, L.p.K = (int)Kdim;
      L.a_off = n0 * x_img, L.b_off = 0, L.c_off = n0 * y_img;
      L.p.split_len = L.p.K;
    } else if (mode == Mode::Dgrad) {
      L.p.M = (int)(nb * per_img), L.p.Ncols = (int)Cg, L.p.K = (int)(Og * d.KH * d.KW);
      L.a_off = n0 * y_img, L.b_off = 0, L.c_off = n0 * x_img;
      L.p.split_len = L.p.K;
    } else {
      L.p.M = (int)Og, L.p.Ncols = (int)Kdim, L.p.K = (int)(nb * per_img);
      L.a_off = n0 * y_img, L.b_off = n0 * x_img;
      const int64_t tiles = ((Og + BM - 1) / BM) * ((Kdim + BN - 1) / BN) * d.G;
      const int64_t max_splits = std::max<int64_t>(1, o.ws_budget / std::max<int64_t>(1, dw_elems) / nchunks);
      plan_splits(L.p.K, tiles, max_splits, o, L.p.split_len, L.p.splits);
      L.first_split = next_split;
      L.c_off = next_split * dw_elems;
      next_split += L.p.splits;
    }
    L.p.c_split_stride = dw_elems;
    plan.launches.push_back(L);
  }
  if (mode == Mode::Wgrad) plan.total_splits = next_split;
  return plan;
}

}  // namespace flambeau::cuda::conv
