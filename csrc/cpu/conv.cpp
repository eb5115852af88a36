// 2-D convolution on the CPU: forward, input gradient, weight gradient, bias gradient.
//
// What is computed (NCHW, contiguous; per group g of G, with Cg = C/G input and Og = O/G output
// channels, Kdim = Cg*KH*KW and P = OH*OW output pixels):
//
//   y[n, g]  (Og x P)    = W[g] (Og x Kdim) @ col(x[n, g]) (Kdim x P)            + bias
//   dx[n, g] (Cg x H*W)  = col2im( W[g]^T (Kdim x Og) @ dy[n, g] (Og x P) )
//   dW[g]    (Og x Kdim) = sum_n dy[n, g] (Og x P) @ col(x[n, g])^T (P x Kdim)
//   db[o]                = sum_{n, p} dy[n, o, p]
//
// where col(x)[(c, kh, kw), (oh, ow)] = x[c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] (zero outside
// the image) is the im2col matrix and col2im is its adjoint (a scatter-add).
//
// Why it is built this way. The arithmetic is a GEMM, and the GEMM's register micro-kernels
// (csrc/cpu/gemm_kernels.h, AVX-512 / AVX2) run near the machine's peak; the work here is to feed them
// without materialising col(x), and never a whole batch of it. Four paths, chosen per shape:
//
//   * Implicit GEMM (AVX2/AVX-512, every kernel size and stride): per image, the input channels are
//     copied once into a zero-padded "source" (split into column phases for strides > 1; with AVX-512,
//     masked vector rows, stride-2 phases deinterleaved in registers) in which every row of col(x) is
//     a few contiguous runs; the packer writes the micro-kernel's B panels straight from it
//     (csrc/cpu/simd/conv_*.cpp), so each element is copied once, in cache, instead of im2col + the
//     GEMM's own packing. Weights are packed once per call (by all threads). Small images (8x8,
//     16x16) are batched several to a work item, so that each packed weight panel feeds more
//     micro-kernel calls. The input gradient of a
//     stride-1 convolution is itself a convolution (dy with the flipped, transposed kernel and padding
//     d*(K-1) - p) and takes the same path; the weight gradient uses the micro-kernels with dy as A
//     and col(x)^T panels as B (gathered per panel into a small temporary, then transposed by the
//     kernel set's packer).
//   * Pointwise (1x1, stride 1, unpadded): col(x) is x itself; gemm() reads it in place.
//   * Direct (one input channel per group and few filters: depthwise layers, 1-channel first layers
//     with a handful of filters): an output plane is sum_taps w * (shifted input plane), computed over
//     the zero-padded plane's rows laid end to end ("wide" rows, so the whole plane is one vector
//     run; polyphase planes for strides > 1), or, when output rows are whole vectors (16x16 planes)
//     or long, row by row straight into the output (no scratch, no compaction pass), in SIMD bodies
//     shared by every ISA (csrc/cpu/simd/conv_direct.inc). im2col would copy each input row KH*KW times to feed a GEMM
//     with M = Og and K = KH*KW, too thin to pay.
//   * im2col + gemm() into a bounded per-tile scratch (~kColBudget bytes per thread), and col2im for
//     the input gradient: the portable path (FLAMBEAU_CPU_CAPABILITY=default), strided input
//     gradients, and input gradients with few input channels (where the implicit GEMM's M = Cg would be
//     too small).
//
// Threads. Forward and input gradient: (block of images, group[, pixel range]) work items, one thread
// each (with fewer images than threads need, the pixels of an image are split and its source is
// built once for all of them; on the im2col path the GEMM threads itself). The
// weight gradient is a reduction over images; to stay deterministic without atomics, and bitwise
// independent of the thread count, each thread owns a disjoint slice of dW (group, range of input
// channels, and if that is not enough a range of output channels) and walks all images in an order
// fixed by the shapes, accumulating with beta = 1. The bias gradient is a per-channel sum.
//
// Every result is deterministic: no atomics, and every sum runs in an order fixed by the shapes (and
// the CPU capability, which picks the micro-kernels).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "cpu/capability.h"
#include "cpu/gemm.h"
#include "cpu/gemm_kernels.h"
#include "cpu/nn_kernels.h"
#include "cpu/parallel.h"
#include "cpu/scratch.h"
#include "cpu/simd/conv_simd.h"

#ifdef FLAMBEAU_OPENMP
#include <omp.h>
#endif

namespace flambeau::cpu {

namespace {

// Bytes of im2col scratch per thread we aim for (the tile the GEMM then packs from L2).
constexpr int64_t kColBudget = int64_t(1) << 20;
// Fewest output pixels per im2col tile (below this the GEMM's N gets too thin).
constexpr int64_t kMinTileCols = 64;
// Below this many multiply-adds, a convolution runs on the calling thread.
constexpr double kMinParallelWork = double(1 << 20);
// Fewest GEMM rows (output channels per group) for which the implicit GEMM's packing pays.
constexpr int64_t kImplicitMinRows = 16;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

thread_local Scratch tls_col;
thread_local Scratch tls_aux;
thread_local Scratch tls_pack;
thread_local Scratch tls_tmp;
thread_local Scratch tls_shared;  // sources shared by the threads (implicit_conv, split images)
thread_local Scratch tls_wt;      // flipped, transposed weights (input gradient)

template <class T>
T* tls_bpack(int64_t count) {
  return tls_pack.get<T>(count);
}

// Derived sizes shared by the drivers.
struct Dims {
  int64_t G, Cg, Og, KK, Kdim, P, HW;
  bool pointwise;  // 1x1, stride 1, no padding: col(x) is x itself
};

Dims dims_of(const ConvGeometry& g) {
  Dims d;
  d.G = g.groups;
  d.Cg = g.C / g.groups;
  d.Og = g.O / g.groups;
  d.KK = g.KH * g.KW;
  d.Kdim = d.Cg * d.KK;
  d.P = g.OH * g.OW;
  d.HW = g.H * g.W;
  d.pointwise = g.KH == 1 && g.KW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0 &&
                g.OH == g.H && g.OW == g.W;
  return d;
}

// For each kernel column kw, the output columns [lo, hi) whose input column ow*sw - pw + kw*dw lies
// inside [0, W); the rest of the row reads padding.
struct ColRange {
  int64_t lo, hi;
};

std::vector<ColRange> column_ranges(const ConvGeometry& g) {
  std::vector<ColRange> r(g.KW);
  for (int64_t kw = 0; kw < g.KW; ++kw) {
    const int64_t off = kw * g.dil_w - g.pad_w;  // iw = ow*sw + off
    int64_t lo = off >= 0 ? 0 : ceil_div(-off, g.stride_w);
    int64_t hi = (g.W - 1 - off) < 0 ? 0 : (g.W - 1 - off) / g.stride_w + 1;
    lo = std::min(lo, g.OW);
    hi = std::min(std::max(hi, lo), g.OW);
    r[kw] = {lo, hi};
  }
  return r;
}

// col[r*ldcol + (p - p0)] = col(x)[r, p] for rows r of channels [0, nc) of `x` (which points at the
// first of them) and output pixels p in [p0, p1).
template <class T>
void im2col_tile(const T* x, int64_t nc, const ConvGeometry& g, const ColRange* cr, int64_t p0, int64_t p1,
                 T* col, int64_t ldcol) {
  const int64_t H = g.H, W = g.W, OW = g.OW, sh = g.stride_h, sw = g.stride_w;
  const int64_t HW = H * W;
  for (int64_t c = 0; c < nc; ++c) {
    const T* xc = x + c * HW;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        T* dst = col + ((c * g.KH + kh) * g.KW + kw) * ldcol;
        const int64_t lo = cr[kw].lo, hi = cr[kw].hi;
        const int64_t off_w = kw * g.dil_w - g.pad_w;
        int64_t p = p0;
        int64_t oh = p0 / OW, ow = p0 % OW;
        while (p < p1) {
          const int64_t ow_end = std::min(OW, ow + (p1 - p));
          const int64_t ih = oh * sh - g.pad_h + kh * g.dil_h;
          if (ih < 0 || ih >= H) {
            for (int64_t j = ow; j < ow_end; ++j) *dst++ = T(0);
          } else {
            const T* src = xc + ih * W + off_w;  // src[ow*sw] is input column ow*sw + off_w
            const int64_t a = std::max(ow, lo), b = std::min(ow_end, hi);
            if (a >= b) {
              for (int64_t j = ow; j < ow_end; ++j) *dst++ = T(0);
            } else {
              for (int64_t j = ow; j < a; ++j) *dst++ = T(0);
              if (sw == 1) {
                std::memcpy(dst, src + a, sizeof(T) * (b - a));
                dst += b - a;
              } else {
                for (int64_t j = a; j < b; ++j) *dst++ = src[j * sw];
              }
              for (int64_t j = b; j < ow_end; ++j) *dst++ = T(0);
            }
          }
          p += ow_end - ow;
          ++oh;
          ow = 0;
        }
      }
    }
  }
}

// The adjoint: dx[c] += col[r, p - p0] for the same rows and pixels, channels [c0, c1) only (so that
// threads may split the channels of one image).
template <class T>
using AddRows = void (*)(T*, int64_t, const T*, int64_t, int64_t, int64_t);

template <class T>
AddRows<T> simd_add_rows() {
  if (capability() != Capability::AVX512) return nullptr;
  if constexpr (sizeof(T) == 4) return conv_simd::add_rows_f32_avx512();
  else return conv_simd::add_rows_f64_avx512();
}

template <class T>
void col2im_tile(T* dx, int64_t c0, int64_t c1, const ConvGeometry& g, const ColRange* cr, int64_t p0, int64_t p1,
                 const T* col, int64_t ldcol) {
  const int64_t H = g.H, W = g.W, OW = g.OW, sh = g.stride_h, sw = g.stride_w;
  const int64_t HW = H * W;
  const AddRows<T> add_rows = sw == 1 ? simd_add_rows<T>() : nullptr;
  if (add_rows && p0 % OW == 0 && (p1 % OW == 0 || p1 == g.OH * OW)) {
    // Whole output rows, unit column stride: each (c, kh, kw) adds a block of rows (OW-wide in col,
    // W*sh apart in dx) in one call; masked vector adds instead of a scalar loop of 8-16 elements per
    // row (the same additions, in the same order).
    const int64_t oh0 = p0 / OW, oh1 = ceil_div(p1, OW);
    for (int64_t c = c0; c < c1; ++c) {
      T* xc = dx + c * HW;
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        // Output rows oh in [oh0, oh1) with input row oh*sh - ph + kh*dh inside [0, H).
        const int64_t off_h = kh * g.dil_h - g.pad_h;
        int64_t lo_h = off_h >= 0 ? 0 : ceil_div(-off_h, sh);
        int64_t hi_h = (H - 1 - off_h) < 0 ? 0 : (H - 1 - off_h) / sh + 1;
        lo_h = std::max(lo_h, oh0);
        hi_h = std::min(hi_h, oh1);
        if (hi_h <= lo_h) continue;
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const int64_t lo = cr[kw].lo, hi = cr[kw].hi;
          if (hi <= lo) continue;
          const T* src = col + ((c * g.KH + kh) * g.KW + kw) * ldcol + (lo_h * OW - p0) + lo;
          T* dst = xc + (lo_h * sh + off_h) * W + kw * g.dil_w - g.pad_w + lo;
          add_rows(dst, sh * W, src, OW, hi_h - lo_h, hi - lo);
        }
      }
    }
    return;
  }
  for (int64_t c = c0; c < c1; ++c) {
    T* xc = dx + c * HW;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const T* src = col + ((c * g.KH + kh) * g.KW + kw) * ldcol;
        const int64_t lo = cr[kw].lo, hi = cr[kw].hi;
        const int64_t off_w = kw * g.dil_w - g.pad_w;
        int64_t p = p0;
        int64_t oh = p0 / OW, ow = p0 % OW;
        while (p < p1) {
          const int64_t ow_end = std::min(OW, ow + (p1 - p));
          const int64_t ih = oh * sh - g.pad_h + kh * g.dil_h;
          if (ih >= 0 && ih < H) {
            T* dst = xc + ih * W + off_w;
            const int64_t a = std::max(ow, lo), b = std::min(ow_end, hi);
            const T* s = src - ow;  // s[j] is this row's value for output column j
            if (sw == 1) {
              for (int64_t j = a; j < b; ++j) dst[j] += s[j];
            } else {
              for (int64_t j = a; j < b; ++j) dst[j * sw] += s[j];
            }
          }
          src += ow_end - ow;
          p += ow_end - ow;
          ++oh;
          ow = 0;
        }
      }
    }
  }
}

// Pixel tile for im2col / col2im scratch of `rows` rows: about kColBudget bytes, at least
// kMinTileCols pixels, balanced over P.
template <class T>
int64_t budget_cols(int64_t rows) {
  return std::max<int64_t>(kMinTileCols, kColBudget / (int64_t)sizeof(T) / std::max<int64_t>(rows, 1));
}

template <class T>
int64_t pixel_tile(int64_t P, int64_t rows) {
  const int64_t cap = budget_cols<T>(rows);
  if (cap >= P) return P;
  const int64_t ntiles = ceil_div(P, cap);
  return ceil_div(P, ntiles);
}

// ---------------------------------------------------------------------------------------------------
// Implicit GEMM: the GEMM's own register micro-kernels (csrc/cpu/gemm_kernels.h), fed by a packer
// that reads the image instead of an im2col matrix.
//
// For one image and group, the input channels are first laid out as a "source": zero-padded planes
// holding exactly the rows and columns the windows touch, with the columns split into `sw` phases
// when the stride is > 1 (src[c][phase][r][j] = x[c, r - ph, j*sw + phase - pw]). Then row k =
// (c, kh, kw) of col(x) is, for output pixel p = (oh, ow), src[off[k] + oh*sh*Wq + ow]: consecutive
// output columns read consecutive source elements. A packed B micro-panel (kc rows of NR pixels) is
// therefore a handful of contiguous copies per row (one when the NR pixels lie in one output row),
// written straight into the layout the micro-kernel reads: one copy of the data instead of im2col's
// two (im2col, then the GEMM's own packing). Unpadded stride-1 inputs need no source copy at all.
// The weights are packed once per call into MR-row panels, shared by all threads.

template <class T>
using KernelSet = gemm_detail::KernelSet<T>;

// The micro-kernel set for the CPU capability in force; null for 'default' (the portable path then
// takes the im2col + gemm() route).
template <class T>
const KernelSet<T>* simd_kernels() {
  const Capability cap = capability();
  if constexpr (sizeof(T) == 4) {
    if (cap == Capability::AVX512) return gemm_avx512::sgemm_kernels();
    if (cap == Capability::AVX2) return gemm_avx2::sgemm_kernels();
  } else {
    if (cap == Capability::AVX512) return gemm_avx512::dgemm_kernels();
    if (cap == Capability::AVX2) return gemm_avx2::dgemm_kernels();
  }
  return nullptr;
}

// One implicit-GEMM problem: out[n, g] (Og x OH*OW) = Wg (Og x Cg*KH*KW) @ col(in[n, g]) (+ bias).
// Padding may be negative (a crop): the backward pass uses that.
struct Implicit {
  int64_t N, G, Cg, Og, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw;
  int64_t in_cstride() const { return H * W; }   // input channel stride
  int64_t Hp() const { return (OH - 1) * sh + dh * (KH - 1) + 1; }
  int64_t Wp() const { return (OW - 1) * sw + dw * (KW - 1) + 1; }
  int64_t Wq() const { return ceil_div(Wp(), sw); }
  int64_t Kdim() const { return Cg * KH * KW; }
  int64_t P() const { return OH * OW; }
  // The input can be read in place: unit stride and the windows cover exactly the image.
  bool in_place() const { return sw == 1 && ph == 0 && pw == 0 && Hp() <= H && Wp() == W; }
};

// Copies and fills of short rows (an 8x8 or 16x16 plane's rows are 8-18 elements, where a call into
// memcpy / memset costs more than the copy), through 16-byte vectors, inline; rows over 64 bytes go
// to libc.
template <class T>
inline void copy_small(T* __restrict dst, const T* __restrict src, int64_t n) {
  if (n <= 0) return;
  if (n * (int64_t)sizeof(T) > 64) {  // longer rows: libc's wide moves win
    std::memcpy(dst, src, sizeof(T) * n);
    return;
  }
  typedef T V __attribute__((vector_size(16), aligned(sizeof(T)), may_alias));
  constexpr int64_t L = 16 / sizeof(T);
  int64_t j = 0;
  // (The empty asm hides the loop from GCC's idiom recognition, which would turn it back into a call
  // to memmove, the thing this function exists to avoid.)
  for (; j + L <= n; j += L) {
    *reinterpret_cast<V*>(dst + j) = *reinterpret_cast<const V*>(src + j);
    __asm__("" : "+r"(j));
  }
  for (; j < n; ++j) {
    dst[j] = src[j];
    __asm__("" : "+r"(j));
  }
}

template <class T>
inline void zero_small(T* dst, int64_t n) {
  if (n <= 0) return;
  if (n * (int64_t)sizeof(T) > 64) {
    std::memset(dst, 0, sizeof(T) * n);
    return;
  }
  typedef T V __attribute__((vector_size(16), aligned(sizeof(T)), may_alias));
  constexpr int64_t L = 16 / sizeof(T);
  int64_t j = 0;
  for (; j + L <= n; j += L) {
    *reinterpret_cast<V*>(dst + j) = V{};
    __asm__("" : "+r"(j));
  }
  for (; j < n; ++j) {
    dst[j] = T(0);
    __asm__("" : "+r"(j));
  }
}

// src[((c*sw + phase)*Hp + r)*Wq + j] = x[c, r - ph, j*sw + phase - pw] (zero outside x), for channels
// [c0, c1) (src and x point at channel 0).
template <class T>
using PadRows = void (*)(T*, int64_t, const T*, int64_t, int64_t, int64_t, int64_t);

template <class T>
PadRows<T> simd_pad_rows() {
  if (capability() != Capability::AVX512) return nullptr;
  if constexpr (sizeof(T) == 4) return conv_simd::pad_rows_f32_avx512();
  else return conv_simd::pad_rows_f64_avx512();
}

template <class T>
using PadRows2 = void (*)(T*, T*, int64_t, const T*, int64_t, int64_t, int64_t, int64_t);

template <class T>
PadRows2<T> simd_pad_rows2() {
  if (capability() != Capability::AVX512) return nullptr;
  if constexpr (sizeof(T) == 4) return conv_simd::pad_rows2_f32_avx512();
  else return conv_simd::pad_rows2_f64_avx512();
}

template <class T>
void build_source(const T* x, const Implicit& q, T* src, int64_t c0, int64_t c1) {
  const int64_t Hp = q.Hp(), Wq = q.Wq(), sw = q.sw;
  if (sw == 2) {
    if (const PadRows2<T> pad2 = simd_pad_rows2<T>()) {
      // Both column phases of each row at once (masked loads of the padded row, deinterleaved in
      // registers); rows outside the image are zero.
      const int64_t r0 = std::min(std::max<int64_t>(0, q.ph), Hp);
      const int64_t r1 = std::min(std::max(q.H + q.ph, r0), Hp);
      const int64_t lo = std::max<int64_t>(0, q.pw), hi = std::max(q.W + q.pw, lo);
      for (int64_t c = c0; c < c1; ++c) {
        T* d0 = src + c * 2 * Hp * Wq;
        T* d1 = d0 + Hp * Wq;
        const T* xc = x + c * q.in_cstride();
        for (T* d : {d0, d1}) {
          if (r0 > 0) zero_small(d, r0 * Wq);
          if (Hp > r1) zero_small(d + r1 * Wq, (Hp - r1) * Wq);
        }
        if (r1 > r0) pad2(d0 + r0 * Wq, d1 + r0 * Wq, Wq, xc + (r0 - q.ph) * q.W - q.pw, q.W, r1 - r0, lo, hi);
      }
      return;
    }
  }
  if (sw == 1) {
    if (const PadRows<T> pad = simd_pad_rows<T>()) {
      // Rows r with input row r - ph inside [0, H) are copied (masked loads and stores, one vector per
      // 16 floats including the padding); the others are zero.
      const int64_t jlo = std::min(std::max<int64_t>(0, q.pw), Wq);
      const int64_t jhi = std::min(std::max(q.W + q.pw, jlo), Wq);
      const int64_t r0 = std::min(std::max<int64_t>(0, q.ph), Hp);
      const int64_t r1 = std::min(std::max(q.H + q.ph, r0), Hp);
      for (int64_t c = c0; c < c1; ++c) {
        T* dst = src + c * Hp * Wq;
        const T* xc = x + c * q.in_cstride();
        if (r0 > 0) zero_small(dst, r0 * Wq);
        if (r1 > r0) pad(dst + r0 * Wq, Wq, xc + (r0 - q.ph) * q.W - q.pw, q.W, r1 - r0, jlo, jhi);
        if (Hp > r1) zero_small(dst + r1 * Wq, (Hp - r1) * Wq);
      }
      return;
    }
  }
  for (int64_t c = c0; c < c1; ++c) {
    const T* xc = x + c * q.in_cstride();
    for (int64_t ph = 0; ph < sw; ++ph) {
      // Columns j with input column j*sw + ph - pw inside [0, W).
      const int64_t first = ph - q.pw;  // input column of j = 0
      int64_t jlo = first >= 0 ? 0 : ceil_div(-first, sw);
      int64_t jhi = (q.W - 1 - first) < 0 ? 0 : (q.W - 1 - first) / sw + 1;
      jlo = std::min(jlo, Wq);
      jhi = std::min(std::max(jhi, jlo), Wq);
      const bool small = Wq <= 64;
      for (int64_t r = 0; r < Hp; ++r) {
        T* dst = src + ((c * sw + ph) * Hp + r) * Wq;
        const int64_t ih = r - q.ph;
        if (ih < 0 || ih >= q.H || jhi <= jlo) {
          if (small) zero_small(dst, Wq);
          else std::memset(dst, 0, sizeof(T) * Wq);
          continue;
        }
        const T* row = xc + ih * q.W + first;
        if (sw == 1) {
          if (small) {
            zero_small(dst, jlo);
            copy_small(dst + jlo, row + jlo, jhi - jlo);
            zero_small(dst + jhi, Wq - jhi);
            continue;
          }
          if (jlo > 0) std::memset(dst, 0, sizeof(T) * jlo);
          std::memcpy(dst + jlo, row + jlo, sizeof(T) * (jhi - jlo));
        } else {
          zero_small(dst, jlo);
          for (int64_t j = jlo; j < jhi; ++j) dst[j] = row[j * sw];
        }
        if (jhi < Wq) zero_small(dst + jhi, Wq - jhi);
      }
    }
  }
}

template <class T>
void build_source(const T* x, const Implicit& q, T* src) {
  build_source(x, q, src, 0, q.Cg);
}

using conv_simd::PixelRun;

// Where col(x)'s rows live in the source of one image and group: off[k] for row k = (c, kh, kw).
struct SourceLayout {
  bool in_place;
  int64_t Wq, size;
  std::vector<int64_t> off;
};

SourceLayout source_layout(const Implicit& q) {
  SourceLayout sl;
  sl.in_place = q.in_place();
  const int64_t Hp = q.Hp();
  sl.Wq = sl.in_place ? q.W : q.Wq();
  const int64_t cstride = sl.in_place ? q.in_cstride() : q.sw * Hp * sl.Wq, pstride = Hp * sl.Wq;
  sl.size = q.Cg * cstride;
  sl.off.resize(q.Kdim());
  for (int64_t c = 0; c < q.Cg; ++c)
    for (int64_t kh = 0; kh < q.KH; ++kh)
      for (int64_t kw = 0; kw < q.KW; ++kw) {
        const int64_t col = kw * q.dw;
        sl.off[(c * q.KH + kh) * q.KW + kw] = c * cstride + (col % q.sw) * pstride + kh * q.dh * sl.Wq + col / q.sw;
      }
  return sl;
}

// Runs of output pixels [p0, p1) (destination columns relative to p0).
std::vector<PixelRun> pixel_runs(const Implicit& q, int64_t Wq, int64_t p0, int64_t p1) {
  std::vector<PixelRun> runs;
  int64_t p = p0;
  while (p < p1) {
    const int64_t oh = p / q.OW, ow = p % q.OW;
    const int64_t len = std::min(p1 - p, q.OW - ow);
    runs.push_back({(int32_t)(p - p0), (int32_t)len, oh * q.sh * Wq + ow});
    p += len;
  }
  return runs;
}

// Runs of every NR-pixel micro-panel (panel i's runs are runs[first[i] .. first[i+1])).
struct PanelRuns {
  std::vector<PixelRun> runs;
  std::vector<int64_t> first;
};

PanelRuns panel_runs(const Implicit& q, int64_t Wq, int64_t NR) {
  PanelRuns pr;
  const int64_t P = q.P(), npanels = ceil_div(P, NR);
  pr.first.reserve(npanels + 1);
  for (int64_t pan = 0; pan < npanels; ++pan) {
    pr.first.push_back((int64_t)pr.runs.size());
    int64_t p = pan * NR;
    const int64_t end = std::min(P, p + NR);
    while (p < end) {
      const int64_t oh = p / q.OW, ow = p % q.OW;
      const int64_t len = std::min(end - p, q.OW - ow);
      pr.runs.push_back({(int32_t)(p - pan * NR), (int32_t)len, oh * q.sh * Wq + ow});
      p += len;
    }
  }
  pr.first.push_back((int64_t)pr.runs.size());
  return pr;
}

// The packer that matches simd_kernels<T>() (same capability rule).
template <class T>
using PackRuns = void (*)(const T*, const int64_t*, int64_t, const PixelRun*, int64_t, int64_t, int64_t, T*);

template <class T>
PackRuns<T> simd_packer() {
  const Capability cap = capability();
  if constexpr (sizeof(T) == 4) {
    return cap == Capability::AVX512 ? conv_simd::pack_runs_f32_avx512() : conv_simd::pack_runs_f32_avx2();
  } else {
    return cap == Capability::AVX512 ? conv_simd::pack_runs_f64_avx512() : conv_simd::pack_runs_f64_avx2();
  }
}

inline int64_t balanced_block(int64_t total, int64_t max_block, int64_t unit) {
  const int64_t nblocks = ceil_div(total, max_block);
  return ceil_div(ceil_div(total, nblocks), unit) * unit;
}

// out = conv(in, w) (+ bias) for the problem q, with the micro-kernels of ks. `w` is [G*Og, Kdim].
// out[n, g*Og + o, p] has image stride out_nstride; in[n, g*Cg + c] has image stride in_nstride.
//
// Work items, one thread each: (block of images, group, pixel range). The packed B block of an item
// holds micro-panels of every image of its block (panels never straddle two images, so each one's
// C tile is a plain row-major tile of that image's output): with small images (8x8, 16x16: P = 64 or
// 256 pixels, i.e. 2 or 8 micro-panels), one image alone would give each packed A micro-panel (MR x
// kc, loaded from L2/L3) only a couple of micro-kernel calls to feed. With fewer images than threads
// need, an image's pixels are split instead (and its source is built once, shared by its items).
template <class T>
void implicit_conv(const KernelSet<T>& ks, T* out, int64_t out_nstride, const T* in, int64_t in_nstride,
                   const T* w, const T* bias, const Implicit& q) {
  const int MR = ks.mr, NR = ks.nr, VL = ks.vl;
  const int64_t Kdim = q.Kdim(), P = q.P(), Og = q.Og;
  const SourceLayout sl = source_layout(q);
  const bool in_place = sl.in_place;
  const std::vector<int64_t>& off = sl.off;
  const PanelRuns pr = panel_runs(q, sl.Wq, NR);
  const PackRuns<T> packer = simd_packer<T>();

  // Weights: k blocks of kc, MR-row panels, once for all threads. Block kb starts at k0*Mpad.
  const int64_t kc = balanced_block(Kdim, ks.kc, 1);
  // Row panels of near-equal height (64 rows: 12+13+13+13+13; 256: 13s and 14s, not 18 x 14 + 4: a
  // short panel runs its micro-kernel at a worse ratio of FMAs to loads and stores).
  const int64_t npa = ceil_div(Og, MR), Mpad = npa * MR;
  auto row0 = [&](int64_t ip) { return Og * ip / npa; };
  // (Packed by all threads: 2.4 MB of weights for a 256->256 3x3 layer, which one thread would pack
  // while the others wait.)
  T* apack = tls_aux.get<T>(q.G * Kdim * Mpad);  // the calling thread's scratch, read by all
  const int64_t nkb = ceil_div(Kdim, kc);
  parallel_for(q.G * nkb * npa, std::max<int64_t>(1, kGrain / std::max<int64_t>(kc * MR, 1)),
               [&](int64_t e0, int64_t e1) {
                 for (int64_t e = e0; e < e1; ++e) {
                   const int64_t ip = e % npa, kb = e / npa % nkb, gi = e / (npa * nkb);
                   const int64_t k0 = kb * kc, kcb = std::min(kc, Kdim - k0);
                   ks.pack_a(w + (gi * Og + row0(ip)) * Kdim + k0, Kdim, 1, row0(ip + 1) - row0(ip), kcb,
                             apack + gi * Kdim * Mpad + k0 * Mpad + ip * kcb * MR);
                 }
               });

  const int64_t NG = q.N * q.G;
  const int64_t npanels = ceil_div(P, NR);  // micro-panels per image
  const int64_t nc_max = std::max<int64_t>(NR, ks.nc / NR * NR);
  int nt = threads_available();
  if (double(q.N) * q.G * Og * P * Kdim < kMinParallelWork) nt = 1;
  int64_t splits = 1, nb = 1;
  if (nt > 1 && NG < 4 * nt) {
    splits = std::min<int64_t>(npanels, ceil_div(4 * nt, NG));
  } else {
    // Images per item: as many as fit the B block, but no more than keeps the threads evenly loaded
    // (the fewest images on the busiest thread, then the largest block).
    const int64_t nb_max = std::max<int64_t>(1, nc_max / (npanels * NR));
    int64_t best = -1;
    for (int64_t b = 1; b <= std::min(nb_max, q.N); ++b) {
      const int64_t items_b = ceil_div(q.N, b) * q.G;
      const int64_t load = ceil_div(items_b, nt) * b;
      if (best < 0 || load <= best) {
        best = load;
        nb = b;
      }
    }
  }
  const int64_t nblocks = ceil_div(q.N, nb);
  const int64_t items = nblocks * q.G * splits;

  // Split images: build each image's source once, shared by its items.
  const T* shared_src = nullptr;
  if (splits > 1 && !in_place) {
    T* s = tls_shared.get<T>(NG * sl.size);
    const int64_t nch = NG * q.Cg;
    parallel_for(nch, std::max<int64_t>(1, kGrain / std::max<int64_t>(sl.size / std::max<int64_t>(q.Cg, 1), 1)),
                 [&](int64_t i0, int64_t i1) {
                   for (int64_t i = i0; i < i1;) {
                     const int64_t ng = i / q.Cg, c0 = i % q.Cg, c1 = std::min(q.Cg, c0 + (i1 - i));
                     const int64_t n = ng / q.G, gi = ng % q.G;
                     build_source(in + n * in_nstride + gi * q.Cg * q.in_cstride(), q, s + ng * sl.size, c0, c1);
                     i += c1 - c0;
                   }
                 });
    shared_src = s;
  }

  auto run_item = [&](int64_t item) {
    const int64_t sp = item % splits, bg_ = item / splits;
    const int64_t gi = bg_ % q.G, n0 = bg_ / q.G * nb;
    const int64_t nimg = std::min(nb, q.N - n0);
    const int64_t pan0 = npanels * sp / splits, pan1 = npanels * (sp + 1) / splits, ppi = pan1 - pan0;
    if (ppi <= 0 || nimg <= 0) return;
    // The sources of the block's images.
    const T* srcs[64];
    std::vector<const T*> srcv;
    const T** src_of = srcs;
    if (nimg > 64) {
      srcv.resize(nimg);
      src_of = srcv.data();
    }
    if (in_place) {
      for (int64_t i = 0; i < nimg; ++i) src_of[i] = in + (n0 + i) * in_nstride + gi * q.Cg * q.in_cstride();
    } else if (shared_src) {
      for (int64_t i = 0; i < nimg; ++i) src_of[i] = shared_src + ((n0 + i) * q.G + gi) * sl.size;
    } else {
      T* s = tls_col.get<T>(nimg * sl.size);
      for (int64_t i = 0; i < nimg; ++i) {
        build_source(in + (n0 + i) * in_nstride + gi * q.Cg * q.in_cstride(), q, s + i * sl.size);
        src_of[i] = s + i * sl.size;
      }
    }
    const T* ag = apack + gi * Kdim * Mpad;
    const T* bg = bias ? bias + gi * Og : nullptr;
    // B blocks of up to nc_max columns: `per` micro-panels (of image t / ppi, panel pan0 + t % ppi).
    const int64_t tp = nimg * ppi;
    const int64_t per = ceil_div(tp, ceil_div(tp, nc_max / NR));
    T* bpack = tls_bpack<T>(kc * per * NR);
    for (int64_t t0 = 0; t0 < tp; t0 += per) {
      const int64_t cnt = std::min(per, tp - t0);
      for (int64_t k0 = 0; k0 < Kdim; k0 += kc) {
        const int64_t kcb = std::min(kc, Kdim - k0);
        for (int64_t j = 0; j < cnt; ++j) {
          const int64_t t = t0 + j, i = t / ppi, pan = pan0 + t % ppi;
          packer(src_of[i], off.data() + k0, kcb, pr.runs.data() + pr.first[pan], pr.first[pan + 1] - pr.first[pan],
                 std::min<int64_t>(NR, P - pan * NR), NR, bpack + j * kcb * NR);
        }
        const T beta = k0 == 0 ? T(0) : T(1);
        for (int64_t ip = 0; ip < npa; ++ip) {
          const int64_t r0 = row0(ip), m = row0(ip + 1) - r0;
          const T* a = ag + k0 * Mpad + ip * kcb * MR;
          const T* bm = (k0 == 0 && bg) ? bg + r0 : nullptr;
          for (int64_t j = 0; j < cnt; ++j) {
            const int64_t t = t0 + j, i = t / ppi, pan = pan0 + t % ppi;
            const int64_t nn = std::min<int64_t>(NR, P - pan * NR);
            T* crow = out + (n0 + i) * out_nstride + (gi * Og + r0) * P + pan * NR;
            ks.kernel[m - 1][(nn - 1) / VL](kcb, a, bpack + j * kcb * NR, crow, P, nn, T(1), beta, nullptr, bm);
          }
        }
      }
    }
  };

#ifdef FLAMBEAU_OPENMP
  if (nt > 1 && items >= nt) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t it = 0; it < items; ++it) run_item(it);
    return;
  }
#endif
  for (int64_t it = 0; it < items; ++it) run_item(it);
}

// ---------------------------------------------------------------------------------------------------
// Forward.

Implicit implicit_of(const ConvGeometry& g) {
  return Implicit{g.N, g.groups, g.C / g.groups, g.O / g.groups, g.H, g.W, g.OH, g.OW, g.KH, g.KW,
                  g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w};
}

template <class T>
void forward_impl(T* y, const T* x, const T* w, const T* bias, const ConvGeometry& g) {
  const Dims d = dims_of(g);
  if (!d.pointwise && d.Kdim > 0) {
    if (const KernelSet<T>* ks = simd_kernels<T>()) {
      implicit_conv(*ks, y, g.O * d.P, x, g.C * d.HW, w, bias, implicit_of(g));
      return;
    }
  }
  const std::vector<ColRange> cr = column_ranges(g);
  const int64_t NG = g.N * d.G;
  const double work = double(g.N) * g.O * d.P * d.Kdim;
  int nt = threads_available();
  if (work < kMinParallelWork) nt = 1;

  // Tiles of output pixels; with few images, cut finer so that every thread gets work.
  int64_t pt = d.pointwise ? d.P : pixel_tile<T>(d.P, d.Kdim);
  if (nt > 1 && NG * ceil_div(d.P, pt) < 4 * nt) {
    const int64_t want = ceil_div(4 * nt, NG);
    pt = std::min(pt, std::max<int64_t>(kMinTileCols, ceil_div(d.P, want)));
  }
  const int64_t ntiles = ceil_div(d.P, pt);
  const int64_t items = NG * ntiles;

  auto run_item = [&](int64_t item) {
    const int64_t ng = item / ntiles, tile = item % ntiles;
    const int64_t n = ng / d.G, gi = ng % d.G;
    const int64_t p0 = tile * pt, p1 = std::min(d.P, p0 + pt), np = p1 - p0;
    const T* xg = x + (n * g.C + gi * d.Cg) * d.HW;
    T* yg = y + (n * g.O + gi * d.Og) * d.P;
    const T* wg = w + gi * d.Og * d.Kdim;
    const T* bg = bias ? bias + gi * d.Og : nullptr;
    if (d.pointwise) {
      gemm<T>(d.Og, np, d.Cg, 1, wg, d.Kdim, 1, xg + p0, d.HW, 1, 0, yg + p0, d.P, nullptr, bg);
    } else {
      T* col = tls_col.get<T>(d.Kdim * np);
      im2col_tile(xg, d.Cg, g, cr.data(), p0, p1, col, np);
      gemm<T>(d.Og, np, d.Kdim, 1, wg, d.Kdim, 1, col, np, 1, 0, yg + p0, d.P, nullptr, bg);
    }
  };

#ifdef FLAMBEAU_OPENMP
  if (nt > 1 && items >= nt) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t it = 0; it < items; ++it) run_item(it);
    return;
  }
#endif
  for (int64_t it = 0; it < items; ++it) run_item(it);  // the GEMM inside uses the threads
}

// ---------------------------------------------------------------------------------------------------
// Input gradient.

template <class T>
void backward_input_impl(T* dx, const T* dy, const T* w, const ConvGeometry& g) {
  const Dims d = dims_of(g);
  // (The implicit GEMM's M is then Cg: with few input channels, each packed element would feed too few
  // rows, and W^T @ dy + col2im, whose M is Cg*KH*KW, is cheaper.)
  if (!d.pointwise && g.stride_h == 1 && g.stride_w == 1 && d.Og > 0 && d.Cg >= kImplicitMinRows) {
    if (const KernelSet<T>* ks = simd_kernels<T>()) {
      // Stride 1: dx is the convolution of dy with the flipped, transposed kernel and padding
      // d*(K-1) - p, so it runs on the forward's implicit GEMM (no col2im).
      // (In reused scratch, filled by all threads: a fresh 2.4 MB vector per call would be page-faulted
      // in every time, by one thread.)
      T* wt = tls_wt.get<T>(g.groups * d.Cg * d.Og * d.KK);
      parallel_for(g.groups * d.Cg, std::max<int64_t>(1, kGrain / std::max<int64_t>(d.Og * d.KK, 1)),
                   [&](int64_t r0, int64_t r1) {
                     for (int64_t r = r0; r < r1; ++r) {
                       const int64_t gi = r / d.Cg, c = r % d.Cg;
                       T* dst = wt + r * d.Og * d.KK;
                       for (int64_t o = 0; o < d.Og; ++o) {
                         const T* src = w + ((gi * d.Og + o) * d.Cg + c) * d.KK;
                         for (int64_t k = 0; k < d.KK; ++k) dst[o * d.KK + k] = src[d.KK - 1 - k];
                       }
                     }
                   });
      const Implicit q{g.N, g.groups, d.Og, d.Cg, g.OH, g.OW, g.H, g.W, g.KH, g.KW, 1, 1,
                       g.dil_h * (g.KH - 1) - g.pad_h, g.dil_w * (g.KW - 1) - g.pad_w, g.dil_h, g.dil_w};
      implicit_conv(*ks, dx, g.C * d.HW, dy, g.O * d.P, (const T*)wt, (const T*)nullptr, q);
      return;
    }
  }
  const std::vector<ColRange> cr = column_ranges(g);
  const int64_t NG = g.N * d.G;
  const double work = double(g.N) * g.O * d.P * d.Kdim;
  int nt = threads_available();
  if (work < kMinParallelWork) nt = 1;
  const bool per_item_threads = nt > 1 && NG >= nt;
  const int64_t pt = d.pointwise ? d.P : pixel_tile<T>(d.P, d.Kdim);

  // One image of one group: dcol = W^T @ dy, tile by tile, scattered into dx. `inner` threads (when
  // the items are not run in parallel) split col2im's channels; the GEMM threads itself.
  auto run_item = [&](int64_t ng, bool inner) {
    const int64_t n = ng / d.G, gi = ng % d.G;
    T* dxg = dx + (n * g.C + gi * d.Cg) * d.HW;
    const T* dyg = dy + (n * g.O + gi * d.Og) * d.P;
    const T* wg = w + gi * d.Og * d.Kdim;
    if (d.pointwise) {
      gemm<T>(d.Cg, d.P, d.Og, 1, wg, 1, d.Kdim, dyg, d.P, 1, 0, dxg, d.HW);
      return;
    }
    std::memset(dxg, 0, sizeof(T) * d.Cg * d.HW);
    for (int64_t p0 = 0; p0 < d.P; p0 += pt) {
      const int64_t p1 = std::min(d.P, p0 + pt), np = p1 - p0;
      T* col = tls_col.get<T>(d.Kdim * np);
      gemm<T>(d.Kdim, np, d.Og, 1, wg, 1, d.Kdim, dyg + p0, d.P, 1, 0, col, np);
      if (inner && d.Cg > 1) {
        parallel_for(d.Cg, 1, [&](int64_t c0, int64_t c1) { col2im_tile(dxg, c0, c1, g, cr.data(), p0, p1, col, np); });
      } else {
        col2im_tile(dxg, 0, d.Cg, g, cr.data(), p0, p1, col, np);
      }
    }
  };

#ifdef FLAMBEAU_OPENMP
  if (per_item_threads) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t it = 0; it < NG; ++it) run_item(it, false);
    return;
  }
#endif
  for (int64_t it = 0; it < NG; ++it) run_item(it, nt > 1);
}

// ---------------------------------------------------------------------------------------------------
// Weight gradient.

// The weight gradient on the GEMM's micro-kernels: dW[o, r] (+)= sum_p dy[o, p] * col(x)[r, p], i.e.
// M = output channels (A = dy, packed by the kernel set's transposing A packer), N = rows r = (c, kh,
// kw) of col(x), K = pixels. B panels (pixels x NR rows) are col(x)^T: each is gathered from the
// source (see implicit_conv) into a small row-major temporary (NR rows of the pixel block, SIMD run
// copies, in L1/L2) and transposed by the kernel set's B packer, then fed to the micro-kernels, which
// accumulate into dW (beta = 1 after the first block). `chunks` fixes the reduction order: images
// n0..n0+nimg side by side, pixels [p0, p1) of each.
template <class T>
void implicit_weight_grad_item(const KernelSet<T>& ks, PackRuns<T> packer, T* dw, const T* dy, const T* x,
                               const ConvGeometry& g, int64_t gi, int64_t c0, int64_t c1, int64_t o0, int64_t o1,
                               int64_t nb, int64_t lt) {
  const Dims d = dims_of(g);
  const int MR = ks.mr, NR = ks.nr, VL = ks.vl;
  const Implicit q{g.N, g.groups, c1 - c0, d.Og, g.H, g.W, g.OH, g.OW, g.KH, g.KW,
                   g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w};
  const SourceLayout sl = source_layout(q);
  const int64_t rows = (c1 - c0) * d.KK, mo = o1 - o0;
  const int64_t npa = ceil_div(mo, MR), rows_pp = ceil_div(mo, npa), Mpad = npa * MR;
  const int64_t nc = balanced_block(rows, std::max<int64_t>(NR, ks.nc / NR * NR), NR);
  T* dwg = dw + (gi * d.Og + o0) * d.Kdim + c0 * d.KK;
  const int64_t img_stride = sl.in_place ? g.C * d.HW : sl.size;  // between the sources of two images
  bool first = true;
  std::vector<PixelRun> chunk_runs, block_runs;
  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
    const int64_t nimg = std::min(nb, g.N - n0);
    for (int64_t p0 = 0; p0 < d.P; p0 += lt) {
      const int64_t p1 = std::min(d.P, p0 + lt), np = p1 - p0, L = nimg * np;
      // Sources of the chunk's images, and the runs of its L pixel columns.
      const T* xg = x + (n0 * g.C + gi * d.Cg + c0) * d.HW;
      const T* src = xg;
      if (!sl.in_place) {
        T* sb = tls_col.get<T>(nimg * sl.size);
        for (int64_t i = 0; i < nimg; ++i) build_source(xg + i * g.C * d.HW, q, sb + i * sl.size);
        src = sb;
      }
      chunk_runs.clear();
      for (int64_t i = 0; i < nimg; ++i)
        for (PixelRun r : pixel_runs(q, sl.Wq, p0, p1)) {
          r.dst += (int32_t)(i * np);
          r.base += i * img_stride;
          chunk_runs.push_back(r);
        }
      const int64_t kc = balanced_block(L, ks.kc, 1);
      for (int64_t k0 = 0; k0 < L; k0 += kc) {
        const int64_t kcb = std::min(kc, L - k0);
        // A: dy rows o0..o1 for pixel columns [k0, k0 + kcb) of the chunk.
        T* apack = tls_aux.get<T>(Mpad * kcb + (nimg > 1 ? mo * kcb : 0));
        const T* a_src;
        int64_t a_ld;
        if (nimg == 1) {
          a_src = dy + (n0 * g.O + gi * d.Og + o0) * d.P + p0 + k0;
          a_ld = d.P;
        } else {  // columns of several images: gather them into one row-major block first
          T* t = apack + Mpad * kcb;
          for (int64_t o = 0; o < mo; ++o)
            for (int64_t k = k0; k < k0 + kcb;) {
              const int64_t i = k / np, pp = k % np, len = std::min(np - pp, k0 + kcb - k);
              std::memcpy(t + o * kcb + (k - k0), dy + ((n0 + i) * g.O + gi * d.Og + o0 + o) * d.P + p0 + pp,
                          sizeof(T) * len);
              k += len;
            }
          a_src = t;
          a_ld = kcb;
        }
        for (int64_t ip = 0; ip < npa; ++ip) {
          const int64_t m = std::min(rows_pp, mo - ip * rows_pp);
          ks.pack_a(a_src + ip * rows_pp * a_ld, a_ld, 1, m, kcb, apack + ip * kcb * MR);
        }
        // The runs of this block's pixel columns, relative to k0.
        block_runs.clear();
        for (const PixelRun& r : chunk_runs) {
          const int64_t a = std::max<int64_t>(r.dst, k0), b = std::min<int64_t>(r.dst + r.len, k0 + kcb);
          if (a < b) block_runs.push_back({(int32_t)(a - k0), (int32_t)(b - a), r.base + (a - r.dst)});
        }
        const int64_t ldt = ceil_div(kcb, 16) * 16;  // temporary rows, 64-byte aligned
        T* tmp = tls_tmp.get<T>(NR * ldt);
        const T beta = first ? T(0) : T(1);
        for (int64_t jc = 0; jc < rows; jc += nc) {
          const int64_t ncur = std::min(nc, rows - jc), npan = ceil_div(ncur, NR);
          T* bpack = tls_bpack<T>(kcb * nc);
          for (int64_t jp = 0; jp < npan; ++jp) {
            const int64_t r0 = jc + jp * NR, m = std::min<int64_t>(NR, rows - r0);
            packer(src, sl.off.data() + r0, m, block_runs.data(), (int64_t)block_runs.size(), ldt, ldt, tmp);
            ks.pack_b(tmp, ldt, 1, m, kcb, bpack + jp * kcb * NR);
          }
          for (int64_t ip = 0; ip < npa; ++ip) {
            const int64_t m = std::min(rows_pp, mo - ip * rows_pp);
            const T* a = apack + ip * kcb * MR;
            T* crow = dwg + ip * rows_pp * d.Kdim + jc;
            for (int64_t jp = 0; jp < npan; ++jp) {
              const int64_t nn = std::min<int64_t>(NR, ncur - jp * NR);
              ks.kernel[m - 1][(nn - 1) / VL](kcb, a, bpack + jp * kcb * NR, crow + jp * NR, d.Kdim, nn, T(1), beta,
                                              nullptr, nullptr);
            }
          }
        }
        first = false;
      }
    }
  }
  if (first)  // no images: dW = 0
    for (int64_t o = 0; o < mo; ++o) std::memset(dwg + o * d.Kdim, 0, sizeof(T) * rows);
}

template <class T>
void backward_weight_impl(T* dw, const T* dy, const T* x, const ConvGeometry& g) {
  const Dims d = dims_of(g);
  const std::vector<ColRange> cr = column_ranges(g);
  const double work = double(g.N) * g.O * d.P * d.Kdim;
  int nt = threads_available();
  if (work < kMinParallelWork) nt = 1;

  // The reduction over images, in chunks of L pixels: nb whole images side by side when images are
  // small, else tiles of one image. Depends on the shapes only (the sum order fixes the bits).
  const int64_t L_target = std::min<int64_t>(4096, budget_cols<T>(d.Kdim));
  int64_t nb = 1, lt = d.P;  // images per chunk, pixels per chunk
  if (d.P < L_target) {
    nb = std::max<int64_t>(1, std::min<int64_t>(g.N, L_target / std::max<int64_t>(d.P, 1)));
  } else {
    lt = ceil_div(d.P, ceil_div(d.P, L_target));
  }

  // dW is split into items (group, channel slice, output-channel slice) owned by one thread each.
  int64_t c_parts = 1, o_parts = 1;
  if (nt > 1 && d.G < 4 * nt) {
    c_parts = std::min<int64_t>(d.Cg, ceil_div(2 * nt, d.G));
    if (d.G * c_parts < nt) o_parts = std::min<int64_t>(d.Og, ceil_div(nt, d.G * c_parts));
  }
  const int64_t items = d.G * c_parts * o_parts;
  const PackRuns<T> packer = simd_kernels<T>() ? simd_packer<T>() : nullptr;

  const KernelSet<T>* ks = d.pointwise ? nullptr : simd_kernels<T>();
  if (ks) {
    // The implicit path needs no im2col scratch, so its chunks are whole images (the source is built
    // once per image); small images are still grouped so that each reduction block is long enough.
    lt = d.P;
    nb = std::max<int64_t>(1, std::min<int64_t>(g.N, ceil_div(256, std::max<int64_t>(d.P, 1))));
  }

  auto run_item = [&](int64_t item) {
    const int64_t gi = item / (c_parts * o_parts);
    const int64_t cp = (item / o_parts) % c_parts, op = item % o_parts;
    const int64_t c0 = d.Cg * cp / c_parts, c1 = d.Cg * (cp + 1) / c_parts;
    const int64_t o0 = d.Og * op / o_parts, o1 = d.Og * (op + 1) / o_parts;
    if (c1 <= c0 || o1 <= o0) return;
    if (ks) {
      implicit_weight_grad_item(*ks, packer, dw, dy, x, g, gi, c0, c1, o0, o1, nb, lt);
      return;
    }
    const int64_t rows = (c1 - c0) * d.KK, mo = o1 - o0;
    T* dwg = dw + (gi * d.Og + o0) * d.Kdim + c0 * d.KK;
    bool first = true;
    for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
      const int64_t nimg = std::min(nb, g.N - n0);
      for (int64_t p0 = 0; p0 < d.P; p0 += lt) {
        const int64_t p1 = std::min(d.P, p0 + lt), np = p1 - p0;
        const int64_t L = nimg * np;
        const T* A;
        int64_t lda;
        const T* B;
        int64_t ldb_col;
        if (nimg == 1) {
          A = dy + (n0 * g.O + gi * d.Og + o0) * d.P + p0;
          lda = d.P;
        } else {  // dy rows of nimg images side by side
          T* a = tls_aux.get<T>(mo * L);
          for (int64_t o = 0; o < mo; ++o)
            for (int64_t i = 0; i < nimg; ++i)
              std::memcpy(a + o * L + i * np, dy + ((n0 + i) * g.O + gi * d.Og + o0 + o) * d.P + p0, sizeof(T) * np);
          A = a;
          lda = L;
        }
        const T* xg = x + (n0 * g.C + gi * d.Cg + c0) * d.HW;
        if (d.pointwise && nimg == 1) {
          B = xg + p0;
          ldb_col = d.HW;
        } else {
          T* col = tls_col.get<T>(rows * L);
          if (packer) {  // source + SIMD run copies (see implicit_conv)
            const Implicit q{g.N, g.groups, c1 - c0, d.Og, g.H, g.W, g.OH, g.OW, g.KH, g.KW,
                             g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w};
            const SourceLayout sl = source_layout(q);
            const std::vector<PixelRun> runs = pixel_runs(q, sl.Wq, p0, p1);
            for (int64_t i = 0; i < nimg; ++i) {
              const T* src = xg + i * g.C * d.HW;
              if (!sl.in_place) {
                T* sb = tls_pack.get<T>(sl.size);
                build_source(src, q, sb);
                src = sb;
              }
              packer(src, sl.off.data(), rows, runs.data(), (int64_t)runs.size(), L, L, col + i * np);
            }
          } else {
            for (int64_t i = 0; i < nimg; ++i)
              im2col_tile(xg + i * g.C * d.HW, c1 - c0, g, cr.data(), p0, p1, col + i * np, L);
          }
          B = col;
          ldb_col = L;
        }
        // dW[o, r] (+)= sum_k A[o, k] * B[k, r], B[k, r] = col[r*L + k].
        gemm<T>(mo, rows, L, 1, A, lda, 1, B, 1, ldb_col, first ? 0 : 1, dwg, d.Kdim);
        first = false;
      }
    }
    if (first) {  // no images: dW = 0
      for (int64_t o = 0; o < mo; ++o) std::memset(dwg + o * d.Kdim, 0, sizeof(T) * rows);
    }
  };

#ifdef FLAMBEAU_OPENMP
  if (nt > 1 && items >= nt) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t it = 0; it < items; ++it) run_item(it);
    return;
  }
#endif
  for (int64_t it = 0; it < items; ++it) run_item(it);
}

// Sum of n values in a fixed order: 8 interleaved partial sums (so the compiler can vectorise the
// loop without reassociating anything), then the partials in order, then the tail.
template <class T, class Acc>
inline Acc sum_fixed(const T* a, int64_t n) {
  Acc s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) s[j] += (Acc)a[i + j];
  Acc r = 0;
  for (int j = 0; j < 8; ++j) r += s[j];
  for (; i < n; ++i) r += (Acc)a[i];
  return r;
}

template <class T>
void backward_bias_impl(T* db, const T* dy, int64_t N, int64_t O, int64_t P) {
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(N * P, 1));
  parallel_for(O, grain, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      double s = 0;
      for (int64_t n = 0; n < N; ++n) s += (double)sum_fixed<T, T>(dy + (n * O + o) * P, P);
      db[o] = (T)s;
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// Direct kernels for one input channel per group (depthwise convolutions, and 1-channel first layers
// with few filters): output channel o reads only input channel o / Og, so im2col would copy each
// input row KH*KW times to feed a GEMM with M = Og and K = KH*KW, too thin to pay. Instead each output
// row accumulates w[kh, kw] * (shifted input row) directly: contiguous, vectorisable rows for stride 1.

// One plane of a single-channel correlation, the building block of the direct kernels:
//   y[oh, ow] = start + sum_{kh, kw} w[kh*KW + kw] * x[oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]
// with x zero outside its H x W plane (ph, pw may be negative: a crop). The input is first copied into
// a zero-padded plane xp holding exactly the rows and columns the windows touch, so no tap needs a
// bounds check. For stride 1 the output is computed on that padded width ("wide" rows: position
// q = oh*Wp + ow reads xp[q + kh*dh*Wp + kw*dw]), which turns the whole plane into one long run
// processed in blocks of B outputs held in registers across all taps; the Wp - OW extra columns per row
// are discarded. Larger strides go row by row. Every output's sum runs taps in order, then is added
// to the start value, on every path.
struct PlaneConv {
  int64_t OH, OW, H, W, KH, KW, sh, sw, ph, pw, dh, dw;
  int64_t Hp() const { return (OH - 1) * sh + dh * (KH - 1) + 1; }
  int64_t Wp() const { return (OW - 1) * sw + dw * (KW - 1) + 1; }
};

// (copy_small / zero_small, above, serve the short rows of these planes too.)

// xp[r*Wp + c] = x[r - ph, c - pw] (zero outside x), plus `slack` zeros after the last row.
template <class T>
T* padded_plane(const T* x, const PlaneConv& c, Scratch& buf, int64_t slack) {
  const int64_t Hp = c.Hp(), Wp = c.Wp();
  T* xp = buf.get<T>(Hp * Wp + slack);
  const int64_t c0 = std::max<int64_t>(0, c.pw), c1 = std::min(Wp, c.W + c.pw);  // columns from x
  for (int64_t r = 0; r < Hp; ++r) {
    T* dst = xp + r * Wp;
    const int64_t ih = r - c.ph;
    if (ih < 0 || ih >= c.H || c1 <= c0) {
      zero_small(dst, Wp);
      continue;
    }
    zero_small(dst, c0);
    copy_small(dst + c0, x + ih * c.W + (c0 - c.pw), c1 - c0);
    zero_small(dst + c1, Wp - c1);
  }
  zero_small(xp + Hp * Wp, slack);
  return xp;
}

// Polyphase split of the zero-padded plane (Hp x Wp, padded_plane's) for strides (sh, sw), built
// straight from x: phase plane (a, b) holds padded rows a, a + sh, ... and columns b, b + sw, ...:
//   pp[((a*sw + b)*Hq + r)*Wq + j] = xp[r*sh + a, j*sw + b]   (zero outside x or past the plane)
// A stride-(sh, sw) correlation is a stride-1 correlation on the phase planes: tap (kh, kw) of output
// (oh, ow) reads plane ((kh*dh) % sh, (kw*dw) % sw) at row oh + (kh*dh) / sh, column ow + (kw*dw) / sw.
// `slack` zeros follow the last plane.
template <class T>
T* polyphase(const T* x, const PlaneConv& c, Scratch& buf, int64_t slack, int64_t& Hq, int64_t& Wq) {
  const int64_t Hp = c.Hp(), Wp = c.Wp(), sh = c.sh, sw = c.sw;
  Hq = ceil_div(Hp, sh);
  Wq = ceil_div(Wp, sw);
  T* pp = buf.get<T>(sh * sw * Hq * Wq + slack);
  for (int64_t b = 0; b < sw; ++b) {
    // Columns j of phase b read x column j*sw + b - pw: valid for j in [jlo, jhi).
    const int64_t first = b - c.pw;
    int64_t jlo = first >= 0 ? 0 : ceil_div(-first, sw);
    int64_t jhi = (c.W - 1 - first) < 0 ? 0 : (c.W - 1 - first) / sw + 1;
    jhi = std::min(jhi, b < Wp ? ceil_div(Wp - b, sw) : int64_t(0));
    jlo = std::min(jlo, Wq);
    jhi = std::min(std::max(jhi, jlo), Wq);
    for (int64_t a = 0; a < sh; ++a)
      for (int64_t r = 0; r < Hq; ++r) {
        T* dst = pp + ((a * sw + b) * Hq + r) * Wq;
        const int64_t row = r * sh + a, ih = row - c.ph;
        if (row >= Hp || ih < 0 || ih >= c.H || jhi <= jlo) {
          zero_small(dst, Wq);
          continue;
        }
        const T* src = x + ih * c.W + first;
        zero_small(dst, jlo);
        for (int64_t j = jlo; j < jhi; ++j) dst[j] = src[j * sw];
        zero_small(dst + jhi, Wq - jhi);
      }
  }
  zero_small(pp + sh * sw * Hq * Wq, slack);
  return pp;
}

// A direct single-channel correlation as one "wide" run: output (oh, ow) is
// sum_t w[t] * base[oh*pitch + ow + off[t]], where base is the zero-padded plane (stride 1) or its
// polyphase split (larger strides). The layout depends only on the geometry: computed once per call.
struct WideLayout {
  int64_t pitch, Hq, Wq;
  bool poly;
  std::vector<int64_t> off;
};

WideLayout wide_layout(const PlaneConv& c) {
  WideLayout L;
  L.poly = !(c.sh == 1 && c.sw == 1);
  L.Hq = ceil_div(c.Hp(), c.sh);
  L.Wq = ceil_div(c.Wp(), c.sw);
  L.pitch = L.Wq;
  L.off.resize(c.KH * c.KW);
  for (int64_t kh = 0; kh < c.KH; ++kh)
    for (int64_t kw = 0; kw < c.KW; ++kw) {
      const int64_t r = kh * c.dh, q = kw * c.dw;
      L.off[kh * c.KW + kw] = (((r % c.sh) * c.sw + q % c.sw) * L.Hq + r / c.sh) * L.Wq + q / c.sw;
    }
  return L;
}

// Builds the wide run's source for plane x (`slack` zeros after it).
template <class T>
const T* wide_source(const T* x, const PlaneConv& c, const WideLayout& L, int64_t slack) {
  if (!L.poly) return padded_plane(x, c, tls_col, slack);
  int64_t Hq, Wq;
  return polyphase(x, c, tls_pack, slack, Hq, Wq);
}

// The direct bodies (csrc/cpu/simd/conv_direct.inc) for the baseline ISA: 16-byte (SSE2) vectors.
namespace base_f32 {
using Elem = float;
typedef float Vec __attribute__((vector_size(16), aligned(4), may_alias));
constexpr int kLanes = 4;
#include "cpu/simd/conv_direct.inc"
}  // namespace base_f32
namespace base_f64 {
using Elem = double;
typedef double Vec __attribute__((vector_size(16), aligned(8), may_alias));
constexpr int kLanes = 2;
#include "cpu/simd/conv_direct.inc"
}  // namespace base_f64

// Largest block taps_run reads past the end of a run (8 vectors of 64 bytes), in elements.
template <class T>
constexpr int64_t kTapsSlack = 8 * 64 / sizeof(T);

template <class T>
struct DirectFns {
  void (*taps)(T*, const T*, const T*, const int64_t*, int64_t, int64_t);
  void (*dots)(const T*, const T*, const int64_t*, int64_t, int64_t, double*);
  void (*rows)(T*, int64_t, const T*, int64_t, const T*, const int64_t*, int64_t, int64_t, int64_t, int, T);
  void (*dots_rows)(const T*, int64_t, const T*, int64_t, const int64_t*, int64_t, int64_t, int64_t, double*);
  int64_t lanes;  // elements per vector of these bodies
};

template <class T>
DirectFns<T> direct_fns() {
  const Capability cap = capability();
  if constexpr (sizeof(T) == 4) {
    if (cap == Capability::AVX512)
      return {conv_simd::taps_run_f32_avx512(), conv_simd::tap_dots_f32_avx512(), conv_simd::taps_rows_f32_avx512(),
              conv_simd::tap_dots_rows_f32_avx512(), 16};
    if (cap == Capability::AVX2)
      return {conv_simd::taps_run_f32_avx2(), conv_simd::tap_dots_f32_avx2(), conv_simd::taps_rows_f32_avx2(),
              conv_simd::tap_dots_rows_f32_avx2(), 8};
    return {&base_f32::taps_run_body, &base_f32::tap_dots_body, &base_f32::taps_rows_body,
            &base_f32::tap_dots_rows_body, base_f32::kLanes};
  } else {
    if (cap == Capability::AVX512)
      return {conv_simd::taps_run_f64_avx512(), conv_simd::tap_dots_f64_avx512(), conv_simd::taps_rows_f64_avx512(),
              conv_simd::tap_dots_rows_f64_avx512(), 8};
    if (cap == Capability::AVX2)
      return {conv_simd::taps_run_f64_avx2(), conv_simd::tap_dots_f64_avx2(), conv_simd::taps_rows_f64_avx2(),
              conv_simd::tap_dots_rows_f64_avx2(), 4};
    return {&base_f64::taps_run_body, &base_f64::tap_dots_body, &base_f64::taps_rows_body,
            &base_f64::tap_dots_rows_body, base_f64::kLanes};
  }
}

// Output rows that are whole vectors (16x16 planes with 16 floats a vector), or long enough that a
// partial last vector costs little, are computed row by row straight into y ("rows" bodies); short
// ragged rows (7x7, 8x8 planes with 16-lane vectors) as one wide run into a scratch, then compacted.
template <class T>
bool rows_mode(const DirectFns<T>& fn, int64_t OW) {
  return OW % fn.lanes == 0 || OW >= 4 * fn.lanes;
}

// y = start + correlation (start: y itself when accumulate, else `bias`). Either row by row, or the
// whole plane as one wide run (position q = oh*pitch + ow; the pitch - OW extra columns of each row
// are computed and dropped).
template <class T>
void direct_plane(const DirectFns<T>& fn, T* y, const T* x, const T* w, const PlaneConv& c, const WideLayout& L,
                  bool accumulate, T bias) {
  constexpr int64_t S = kTapsSlack<T>;
  const T* base = wide_source(x, c, L, S);
  if (rows_mode(fn, c.OW)) {
    fn.rows(y, c.OW, base, L.pitch, w, L.off.data(), (int64_t)L.off.size(), c.OH, c.OW, accumulate ? 1 : 0, bias);
    return;
  }
  const int64_t total = (c.OH - 1) * L.pitch + c.OW;
  T* yw = tls_aux.get<T>(total + S);
  fn.taps(yw, base, w, L.off.data(), (int64_t)L.off.size(), total);
  for (int64_t oh = 0; oh < c.OH; ++oh) {
    T* dst = y + oh * c.OW;
    const T* v = yw + oh * L.pitch;
    if (accumulate)
      for (int64_t j = 0; j < c.OW; ++j) dst[j] += v[j];
    else
      for (int64_t j = 0; j < c.OW; ++j) dst[j] = bias + v[j];
  }
}

template <class T>
void direct_forward(T* y, const T* x, const T* w, const T* bias, const ConvGeometry& g) {
  const Dims d = dims_of(g);
  const PlaneConv pc{g.OH, g.OW, g.H, g.W, g.KH, g.KW, g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w};
  const DirectFns<T> fn = direct_fns<T>();
  const WideLayout L = wide_layout(pc);
  parallel_for(g.N * g.O, std::max<int64_t>(1, kGrain / std::max<int64_t>(d.P * d.KK, 1)), [&](int64_t i0, int64_t i1) {
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t n = item / g.O, o = item % g.O;
      direct_plane(fn, y + item * d.P, x + (n * g.C + o / d.Og) * d.HW, w + o * d.KK, pc, L, false,
                   bias ? bias[o] : T(0));
    }
  });
}

// The input gradient of a single-channel correlation. Stride 1: a correlation of dy with the flipped
// kernel and padding d*(K-1) - p (direct_plane again). Larger strides: scatter each dy row into the
// dx rows it came from (same order for every element: output channels, rows, taps).
template <class T>
void direct_backward_input(T* dx, const T* dy, const T* w, const ConvGeometry& g) {
  const Dims d = dims_of(g);
  const std::vector<ColRange> cr = column_ranges(g);
  const int64_t sw = g.stride_w;
  const bool unit = g.stride_h == 1 && g.stride_w == 1;
  const PlaneConv flip{g.H, g.W, g.OH, g.OW, g.KH, g.KW, 1, 1, g.dil_h * (g.KH - 1) - g.pad_h,
                       g.dil_w * (g.KW - 1) - g.pad_w, g.dil_h, g.dil_w};
  const DirectFns<T> fn = direct_fns<T>();
  const WideLayout L = wide_layout(flip);
  parallel_for(g.N * g.C, std::max<int64_t>(1, kGrain / std::max<int64_t>(d.Og * d.P * d.KK, 1)), [&](int64_t i0, int64_t i1) {
    std::vector<T> wf(unit ? d.KK : 0);
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t n = item / g.C, c = item % g.C;
      T* dxc = dx + item * d.HW;
      if (unit) {
        for (int64_t o = c * d.Og; o < (c + 1) * d.Og; ++o) {
          const T* wo = w + o * d.KK;
          for (int64_t k = 0; k < d.KK; ++k) wf[k] = wo[d.KK - 1 - k];
          direct_plane(fn, dxc, dy + (n * g.O + o) * d.P, wf.data(), flip, L, o != c * d.Og, T(0));
        }
        continue;
      }
      std::memset(dxc, 0, sizeof(T) * d.HW);
      for (int64_t o = c * d.Og; o < (c + 1) * d.Og; ++o) {
        const T* dyo = dy + (n * g.O + o) * d.P;
        const T* wo = w + o * d.KK;
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const T* gr = dyo + oh * g.OW;
          for (int64_t kh = 0; kh < g.KH; ++kh) {
            const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dil_h;
            if (ih < 0 || ih >= g.H) continue;
            T* xr = dxc + ih * g.W;
            for (int64_t kw = 0; kw < g.KW; ++kw) {
              const T wv = wo[kh * g.KW + kw];
              T* dst = xr + kw * g.dil_w - g.pad_w;
              const int64_t lo = cr[kw].lo, hi = cr[kw].hi;
              for (int64_t ow = lo; ow < hi; ++ow) dst[ow * sw] += wv * gr[ow];
            }
          }
        }
      }
    }
  });
}

// dW[o, kh, kw] = sum_n sum_{oh, ow} dy[n, o, oh, ow] * x[n, c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]:
// on the wide source (wide_source: padded plane, polyphase for strides > 1) with dy laid out on the same
// pitch (zeros in the extra columns), each tap is one long dot product over the plane.
template <class T>
void direct_backward_weight(T* dw, const T* dy, const T* x, const ConvGeometry& g) {
  const Dims d = dims_of(g);
  const PlaneConv pc{g.OH, g.OW, g.H, g.W, g.KH, g.KW, g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w};
  const DirectFns<T> fn = direct_fns<T>();
  const WideLayout L = wide_layout(pc);
  const int64_t pitch = L.pitch;
  parallel_for(g.O, std::max<int64_t>(1, kGrain / std::max<int64_t>(g.N * d.P * d.KK, 1)), [&](int64_t o0, int64_t o1) {
    std::vector<double> acc(d.KK);
    for (int64_t o = o0; o < o1; ++o) {
      std::fill(acc.begin(), acc.end(), 0.0);
      const int64_t c = o / d.Og;
      for (int64_t n = 0; n < g.N; ++n) {
        const T* dyo = dy + (n * g.O + o) * d.P;
        if (g.OW % fn.lanes == 0) {  // dy's rows are whole vectors: dots row by row, dy read in place
          const T* base = wide_source(x + (n * g.C + c) * d.HW, pc, L, 0);
          fn.dots_rows(dyo, g.OW, base, pitch, L.off.data(), d.KK, g.OH, g.OW, acc.data());
          continue;
        }
        const T* base = wide_source(x + (n * g.C + c) * d.HW, pc, L, 0);
        const int64_t total = (g.OH - 1) * pitch + g.OW;
        T* dyw = tls_aux.get<T>(total);
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          copy_small(dyw + oh * pitch, dyo + oh * g.OW, g.OW);
          if (oh + 1 < g.OH) zero_small(dyw + oh * pitch + g.OW, pitch - g.OW);
        }
        fn.dots(dyw, base, L.off.data(), d.KK, total, acc.data());
      }
      for (int64_t k = 0; k < d.KK; ++k) dw[o * d.KK + k] = (T)acc[k];
    }
  });
}

// The direct kernels win when each group has one input channel and few output channels (depthwise;
// 1-channel first layers with a handful of filters); more filters make the GEMM's reuse worth it.
bool use_direct(const ConvGeometry& g) { return g.C / g.groups == 1 && g.O / g.groups <= 8; }

}  // namespace

void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias, const ConvGeometry& g) {
  FLB_DISPATCH_FLOATING(x.dtype, "conv2d", [&] {
    const scalar_t* b = bias ? bias->data<scalar_t>() : nullptr;
    if (use_direct(g)) direct_forward<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(), b, g);
    else forward_impl<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(), b, g);
  });
}

void conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_y, const Tensor& w, const ConvGeometry& g) {
  FLB_DISPATCH_FLOATING(w.dtype, "conv2d_backward", [&] {
    if (use_direct(g)) direct_backward_input<scalar_t>(grad_x.data<scalar_t>(), grad_y.data<scalar_t>(), w.data<scalar_t>(), g);
    else backward_input_impl<scalar_t>(grad_x.data<scalar_t>(), grad_y.data<scalar_t>(), w.data<scalar_t>(), g);
  });
}

void conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_y, const Tensor& x, const ConvGeometry& g) {
  FLB_DISPATCH_FLOATING(x.dtype, "conv2d_backward", [&] {
    if (use_direct(g)) direct_backward_weight<scalar_t>(grad_w.data<scalar_t>(), grad_y.data<scalar_t>(), x.data<scalar_t>(), g);
    else backward_weight_impl<scalar_t>(grad_w.data<scalar_t>(), grad_y.data<scalar_t>(), x.data<scalar_t>(), g);
  });
}

void conv2d_backward_bias(const Tensor& grad_b, const Tensor& grad_y) {
  const int64_t N = grad_y.sizes[0], O = grad_y.sizes[1], P = grad_y.sizes[2] * grad_y.sizes[3];
  FLB_DISPATCH_FLOATING(grad_y.dtype, "conv2d_backward", [&] {
    backward_bias_impl<scalar_t>(grad_b.data<scalar_t>(), grad_y.data<scalar_t>(), N, O, P);
  });
}

void conv2d_add_bias(const Tensor& y, const Tensor& bias) {
  const int64_t N = y.sizes[0], C = y.sizes[1], P = y.sizes[2] * y.sizes[3];
  FLB_DISPATCH_FLOATING(y.dtype, "conv_transpose2d", [&] {
    scalar_t* out = y.data<scalar_t>();
    const scalar_t* b = bias.data<scalar_t>();
    parallel_for(N * C, std::max<int64_t>(1, kGrain / std::max<int64_t>(P, 1)), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const scalar_t v = b[i % C];
        scalar_t* r = out + i * P;
        for (int64_t p = 0; p < P; ++p) r[p] += v;
      }
    });
  });
}

// F.unfold and F.fold (the im2col matrix of every image, [N, C*KH*KW, OH*OW], and its adjoint): the
// convolution's own im2col_tile / col2im_tile, one (image, channel) per work item. Before, F.unfold
// was KH*KW strided slice copies in Python and there was no F.fold.
void unfold2d(const Tensor& col, const Tensor& x, const ConvGeometry& g) {
  FLB_DISPATCH_FLOATING(x.dtype, "unfold", [&] {
    using T = scalar_t;
    const std::vector<ColRange> cr = column_ranges(g);
    const int64_t KK = g.KH * g.KW, P = g.OH * g.OW, HW = g.H * g.W;
    const T* xp = x.data<T>();
    T* cp = col.data<T>();
    parallel_for(g.N * g.C, std::max<int64_t>(1, kGrain / std::max<int64_t>(KK * P, 1)), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) im2col_tile(xp + i * HW, 1, g, cr.data(), 0, P, cp + i * KK * P, P);
    });
  });
}

void fold2d(const Tensor& x, const Tensor& col, const ConvGeometry& g) {
  FLB_DISPATCH_FLOATING(x.dtype, "fold", [&] {
    using T = scalar_t;
    const std::vector<ColRange> cr = column_ranges(g);
    const int64_t KK = g.KH * g.KW, P = g.OH * g.OW, HW = g.H * g.W;
    T* xp = x.data<T>();
    const T* cp = col.data<T>();
    parallel_for(g.N * g.C, std::max<int64_t>(1, kGrain / std::max<int64_t>(KK * P, 1)), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {  // plane i = (n, c): only its own output plane, so items run in parallel
        const int64_t n = i / g.C, c = i % g.C;
        std::fill(xp + i * HW, xp + (i + 1) * HW, T(0));
        col2im_tile(xp + n * g.C * HW, c, c + 1, g, cr.data(), 0, P, cp + n * g.C * KK * P, P);
      }
    });
  });
}

}  // namespace flambeau::cpu
