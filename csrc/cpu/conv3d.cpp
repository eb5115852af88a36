// 3-D (volumetric) convolution on the CPU: forward, input gradient, weight gradient, bias gradient.
//
// What is computed (NCDHW, contiguous; per group g of G, with Cg = C/G input and Og = O/G output
// channels, KK = KD*KH*KW taps, Kdim = Cg*KK and P = OD*OH*OW output positions):
//
//   y[n, g]  (Og x P)        = W[g] (Og x Kdim) @ col(x[n, g]) (Kdim x P)            + bias
//   dx[n, g] (Cg x D*H*W)    = col2vol( W[g]^T (Kdim x Og) @ dy[n, g] (Og x P) )
//   dW[g]    (Og x Kdim)     = sum_n dy[n, g] (Og x P) @ col(x[n, g])^T (P x Kdim)
//   db[o]                    = sum_{n, p} dy[n, o, p]
//
// where col(x)[(c, kd, kh, kw), (od, oh, ow)] = x[c, od*sd - pd + kd*dd, oh*sh - ph + kh*dh,
// ow*sw - pw + kw*dw] (zero outside the volume) is the vol2col matrix and col2vol its adjoint (a
// scatter-add).
//
// Why it is built this way. The arithmetic is three GEMMs, and flambeau's GEMM (csrc/cpu/gemm.h: its
// AVX-512 / AVX2 micro-kernels, or the portable ones) runs them near the machine's peak; the work here
// is only to feed it. col(x) of a whole volume is KK times the input (27x for a 3x3x3 kernel: 28 MB
// for one 16-channel 16x32x32 sample), so it is never materialised: each work item builds the columns
// of one tile of output positions (about kColBudget bytes, at least kMinTileCols positions) in a
// per-thread scratch that stays in L2, and hands it to gemm() at once. Memory is bounded by
// threads x kColBudget whatever the sizes. A 1x1x1, stride-1, unpadded convolution reads x in place.
//
// Threads (OpenMP, deterministic: no atomics, each output element written by one thread, every sum
// in an order fixed by the shapes):
//   * forward: (image, group, position tile) items, one thread each, gemm() on the calling thread;
//     with fewer items than threads (small outputs), the items run in turn, threaded inside;
//   * input gradient: (image, group) items when there are enough of them (tiles of one item
//     scatter-add into the same dx, so they stay on one thread); otherwise the items run one after
//     another with gemm() threading itself and col2vol split over input channels;
//   * weight gradient: a reduction over images and positions, so each thread owns a disjoint slice
//     of dW (group, block of input channels, and if that is not enough a block of output channels)
//     and walks every image and position tile in order, accumulating with beta = 1; the position
//     tiles depend on the shapes only, so the bits do not depend on the thread count;
//   * bias gradient: per output channel, a double-precision sum.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "cpu/gemm.h"
#include "cpu/parallel.h"
#include "cpu/scratch.h"
#include "cpu/vol_kernels.h"

#ifdef FLAMBEAU_OPENMP
#include <omp.h>
#endif

namespace flambeau::cpu {

namespace {

// Bytes of vol2col scratch per thread we aim for (the tile the GEMM then packs from L2).
constexpr int64_t kColBudget = int64_t(1) << 20;
// Fewest output positions per tile (below this the GEMM's N gets too thin).
constexpr int64_t kMinTileCols = 64;
// Below this many multiply-adds, a convolution runs on the calling thread.
constexpr double kMinParallelWork = double(1 << 20);

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

thread_local Scratch tls_col3;

struct Dims {
  int64_t G, Cg, Og, KK, Kdim, P, DHW;
  bool pointwise;  // 1x1x1, stride 1, no padding, same size: col(x) is x itself
};

Dims dims_of(const Conv3dGeometry& g) {
  Dims d;
  d.G = g.groups;
  d.Cg = g.C / g.groups;
  d.Og = g.O / g.groups;
  d.KK = g.KD * g.KH * g.KW;
  d.Kdim = d.Cg * d.KK;
  d.P = g.OD * g.OH * g.OW;
  d.DHW = g.D * g.H * g.W;
  d.pointwise = g.KD == 1 && g.KH == 1 && g.KW == 1 && g.sd == 1 && g.sh == 1 && g.sw == 1 && g.pd == 0 &&
                g.ph == 0 && g.pw == 0 && g.OD == g.D && g.OH == g.H && g.OW == g.W;
  return d;
}

// For each kernel column kw, the output columns [lo, hi) whose input column ow*sw - pw + kw*dw lies
// inside [0, W); the rest of the row reads padding.
struct ColRange {
  int64_t lo, hi;
};

std::vector<ColRange> column_ranges(const Conv3dGeometry& g) {
  std::vector<ColRange> r(g.KW);
  for (int64_t kw = 0; kw < g.KW; ++kw) {
    const int64_t off = kw * g.dw - g.pw;  // iw = ow*sw + off
    int64_t lo = off >= 0 ? 0 : ceil_div(-off, g.sw);
    int64_t hi = (g.W - 1 - off) < 0 ? 0 : (g.W - 1 - off) / g.sw + 1;
    lo = std::min(lo, g.OW);
    hi = std::min(std::max(hi, lo), g.OW);
    r[kw] = {lo, hi};
  }
  return r;
}

// col[r*ldcol + (p - p0)] = col(x)[r, p] for the rows r of channels [0, nc) of `x` (which points at
// the first of them) and output positions p in [p0, p1). Walks each row's positions as runs along
// ow: a run whose input plane row is outside the volume is zeros, otherwise padding, a copy (unit
// stride: memcpy) and padding.
template <class T>
void vol2col_tile(const T* x, int64_t nc, const Conv3dGeometry& g, const ColRange* cr, int64_t p0, int64_t p1, T* col,
                  int64_t ldcol) {
  const int64_t D = g.D, H = g.H, W = g.W, OH = g.OH, OW = g.OW;
  const int64_t HW = H * W, DHW = D * HW, OHW = OH * OW;
  for (int64_t c = 0; c < nc; ++c) {
    const T* xc = x + c * DHW;
    for (int64_t kd = 0; kd < g.KD; ++kd)
      for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          T* dst = col + (((c * g.KD + kd) * g.KH + kh) * g.KW + kw) * ldcol;
          const int64_t lo = cr[kw].lo, hi = cr[kw].hi;
          const int64_t off_w = kw * g.dw - g.pw;
          int64_t p = p0;
          int64_t od = p0 / OHW, oh = (p0 % OHW) / OW, ow = p0 % OW;
          while (p < p1) {
            const int64_t ow_end = std::min(OW, ow + (p1 - p));
            const int64_t id = od * g.sd - g.pd + kd * g.dd, ih = oh * g.sh - g.ph + kh * g.dh;
            const int64_t a = std::max(ow, lo), b = std::min(ow_end, hi);
            if (id < 0 || id >= D || ih < 0 || ih >= H || a >= b) {
              std::memset(dst, 0, sizeof(T) * (ow_end - ow));
              dst += ow_end - ow;
            } else {
              const T* src = xc + id * HW + ih * W + off_w;  // src[j*sw] is input column j*sw + off_w
              for (int64_t j = ow; j < a; ++j) *dst++ = T(0);
              if (g.sw == 1) {
                std::memcpy(dst, src + a, sizeof(T) * (b - a));
                dst += b - a;
              } else {
                for (int64_t j = a; j < b; ++j) *dst++ = src[j * g.sw];
              }
              for (int64_t j = b; j < ow_end; ++j) *dst++ = T(0);
            }
            p += ow_end - ow;
            ow = 0;
            if (++oh == OH) {
              oh = 0;
              ++od;
            }
          }
        }
  }
}

// The adjoint: dx[c] += col[r, p - p0] for the rows of channels [0, nc) of `dx` (pointing at the
// first of them; col at their first row) and positions [p0, p1). Channels write disjoint volumes, so
// callers may split them over threads.
template <class T>
void col2vol_tile(T* dx, int64_t nc, const Conv3dGeometry& g, const ColRange* cr, int64_t p0, int64_t p1, const T* col,
                  int64_t ldcol) {
  const int64_t D = g.D, H = g.H, W = g.W, OH = g.OH, OW = g.OW;
  const int64_t HW = H * W, DHW = D * HW, OHW = OH * OW;
  for (int64_t c = 0; c < nc; ++c) {
    T* xc = dx + c * DHW;
    for (int64_t kd = 0; kd < g.KD; ++kd)
      for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const T* src = col + (((c * g.KD + kd) * g.KH + kh) * g.KW + kw) * ldcol;
          const int64_t lo = cr[kw].lo, hi = cr[kw].hi;
          const int64_t off_w = kw * g.dw - g.pw;
          int64_t p = p0;
          int64_t od = p0 / OHW, oh = (p0 % OHW) / OW, ow = p0 % OW;
          while (p < p1) {
            const int64_t ow_end = std::min(OW, ow + (p1 - p));
            const int64_t id = od * g.sd - g.pd + kd * g.dd, ih = oh * g.sh - g.ph + kh * g.dh;
            if (id >= 0 && id < D && ih >= 0 && ih < H) {
              T* dst = xc + id * HW + ih * W + off_w;
              const int64_t a = std::max(ow, lo), b = std::min(ow_end, hi);
              const T* s = src - ow;  // s[j] is this run's value for output column j
              if (g.sw == 1) {
                for (int64_t j = a; j < b; ++j) dst[j] += s[j];
              } else {
                for (int64_t j = a; j < b; ++j) dst[j * g.sw] += s[j];
              }
            }
            src += ow_end - ow;
            p += ow_end - ow;
            ow = 0;
            if (++oh == OH) {
              oh = 0;
              ++od;
            }
          }
        }
  }
}

// Position tile for a scratch of `rows` rows: about kColBudget bytes, at least kMinTileCols
// positions, the tiles of P balanced.
template <class T>
int64_t pixel_tile(int64_t P, int64_t rows) {
  const int64_t cap = std::max<int64_t>(kMinTileCols, kColBudget / (int64_t)sizeof(T) / std::max<int64_t>(rows, 1));
  if (cap >= P) return std::max<int64_t>(P, 1);
  return ceil_div(P, ceil_div(P, cap));
}

template <class T>
void forward_impl(T* y, const T* x, const T* w, const T* bias, const Conv3dGeometry& g) {
  const Dims d = dims_of(g);
  const int nt = threads_available();
  const double work = double(g.N) * g.O * d.P * d.Kdim;
  const bool par = nt > 1 && work >= kMinParallelWork;
  // Position tiles: the scratch budget, and small enough that every thread gets an item.
  int64_t tile = pixel_tile<T>(d.P, d.pointwise ? 1 : d.Kdim);
  if (par && g.N * d.G * ceil_div(d.P, tile) < nt) {
    const int64_t want = ceil_div(nt, g.N * d.G);
    tile = std::min(tile, std::max<int64_t>(kMinTileCols, ceil_div(d.P, want)));
  }
  const int64_t ntiles = ceil_div(d.P, tile);
  const int64_t items = g.N * d.G * ntiles;
  const std::vector<ColRange> cr = column_ranges(g);
  // One (image, group, tile). `inner`: threads may be used inside (vol2col splits the channels,
  // gemm threads itself).
  auto one = [&](int64_t item, bool inner) {
    const int64_t t = item % ntiles, ng = item / ntiles;
    const int64_t n = ng / d.G, gi = ng % d.G;
    const int64_t p0 = t * tile, p1 = std::min(d.P, p0 + tile), np = p1 - p0;
    const T* xg = x + (n * g.C + gi * d.Cg) * d.DHW;
    T* yg = y + (n * g.O + gi * d.Og) * d.P + p0;
    const T* wg = w + gi * d.Og * d.Kdim;
    const T* bg = bias ? bias + gi * d.Og : nullptr;
    if (d.pointwise) {
      gemm<T>(d.Og, np, d.Cg, 1, wg, d.Kdim, 1, xg + p0, d.DHW, 1, 0, yg, d.P, nullptr, bg);
      return;
    }
    T* col = tls_col3.get<T>(d.Kdim * tile);
    if (inner) {
      parallel_for(d.Cg, std::max<int64_t>(1, kGrain / std::max<int64_t>(d.KK * np, 1)), [&](int64_t c0, int64_t c1) {
        vol2col_tile(xg + c0 * d.DHW, c1 - c0, g, cr.data(), p0, p1, col + c0 * d.KK * np, np);
      });
    } else {
      vol2col_tile(xg, d.Cg, g, cr.data(), p0, p1, col, np);
    }
    gemm<T>(d.Og, np, d.Kdim, 1, wg, d.Kdim, 1, col, np, 1, 0, yg, d.P, nullptr, bg);
  };
  if (par && items >= nt) {
    parallel_for(items, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) one(i, false);
    });
  } else {  // too few items for the threads (small outputs, many channels): thread inside each
    for (int64_t i = 0; i < items; ++i) one(i, par);
  }
}

template <class T>
void backward_input_impl(T* dx, const T* dy, const T* w, const Conv3dGeometry& g) {
  const Dims d = dims_of(g);
  const int nt = threads_available();
  const double work = double(g.N) * g.O * d.P * d.Kdim;
  const bool par = nt > 1 && work >= kMinParallelWork;
  const int64_t tile = pixel_tile<T>(d.P, d.Kdim);
  const std::vector<ColRange> cr = column_ranges(g);
  // One (image, group): dx[n, g] = col2vol(W[g]^T @ dy[n, g]) tile by tile. `inner` = threads may
  // be used inside (gemm threads itself, col2vol splits the channels).
  auto one = [&](int64_t item, bool inner) {
    const int64_t n = item / d.G, gi = item % d.G;
    T* dxg = dx + (n * g.C + gi * d.Cg) * d.DHW;
    const T* dyg = dy + (n * g.O + gi * d.Og) * d.P;
    const T* wg = w + gi * d.Og * d.Kdim;
    if (d.pointwise) {  // dx[n, g] (Cg x P) = W[g]^T (Cg x Og) @ dy[n, g] (Og x P)
      gemm<T>(d.Cg, d.P, d.Og, 1, wg, 1, d.Kdim, dyg, d.P, 1, 0, dxg, d.DHW);
      return;
    }
    std::memset(dxg, 0, sizeof(T) * d.Cg * d.DHW);
    T* col = tls_col3.get<T>(d.Kdim * tile);
    for (int64_t p0 = 0; p0 < d.P; p0 += tile) {
      const int64_t p1 = std::min(d.P, p0 + tile), np = p1 - p0;
      gemm<T>(d.Kdim, np, d.Og, 1, wg, 1, d.Kdim, dyg + p0, d.P, 1, 0, col, np);
      if (inner) {
        parallel_for(d.Cg, std::max<int64_t>(1, kGrain / std::max<int64_t>(d.KK * np, 1)), [&](int64_t c0, int64_t c1) {
          col2vol_tile(dxg + c0 * d.DHW, c1 - c0, g, cr.data(), p0, p1, col + c0 * d.KK * np, np);
        });
      } else {
        col2vol_tile(dxg, d.Cg, g, cr.data(), p0, p1, col, np);
      }
    }
  };
  const int64_t items = g.N * d.G;
  if (par && items >= nt) {
    parallel_for(items, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) one(i, false);
    });
  } else {
    for (int64_t i = 0; i < items; ++i) one(i, par);
  }
}

template <class T>
void backward_weight_impl(T* dw, const T* dy, const T* x, const Conv3dGeometry& g) {
  const Dims d = dims_of(g);
  const int nt = threads_available();
  const double work = double(g.N) * g.O * d.P * d.Kdim;
  const bool par = nt > 1 && work >= kMinParallelWork;
  // Position tiles fixed by the shapes (not by the channel blocks below), so that every element's
  // sum runs in the same order whatever the number of threads.
  const int64_t tile = pixel_tile<T>(d.P, d.Kdim);
  // Disjoint slices of dW: (group, input-channel block, output-channel block).
  int64_t cblocks = 1, oblocks = 1;
  if (par) {
    cblocks = std::min<int64_t>(d.Cg, ceil_div(nt, d.G));
    if (d.G * cblocks < nt) oblocks = std::min<int64_t>(d.Og, ceil_div(nt, d.G * cblocks));
  }
  const int64_t csz = ceil_div(d.Cg, cblocks), osz = ceil_div(d.Og, oblocks);
  cblocks = ceil_div(d.Cg, csz);
  oblocks = ceil_div(d.Og, osz);
  const int64_t items = d.G * cblocks * oblocks;
  const std::vector<ColRange> cr = column_ranges(g);
  auto one = [&](int64_t item) {
    const int64_t ob = item % oblocks, cb = (item / oblocks) % cblocks, gi = item / (oblocks * cblocks);
    const int64_t c0 = cb * csz, c1 = std::min(d.Cg, c0 + csz), o0 = ob * osz, o1 = std::min(d.Og, o0 + osz);
    const int64_t rows = (c1 - c0) * d.KK;
    T* dwb = dw + (gi * d.Og + o0) * d.Kdim + c0 * d.KK;
    if (g.N == 0 || d.P == 0) {
      for (int64_t o = o0; o < o1; ++o) std::memset(dwb + (o - o0) * d.Kdim, 0, sizeof(T) * rows);
      return;
    }
    T* col = d.pointwise ? nullptr : tls_col3.get<T>(rows * tile);
    bool first = true;
    for (int64_t n = 0; n < g.N; ++n) {
      const T* xb = x + (n * g.C + gi * d.Cg + c0) * d.DHW;
      const T* dyb = dy + (n * g.O + gi * d.Og + o0) * d.P;
      for (int64_t p0 = 0; p0 < d.P; p0 += tile) {
        const int64_t p1 = std::min(d.P, p0 + tile), np = p1 - p0;
        const T* bsrc;
        int64_t ldb;
        if (d.pointwise) {
          bsrc = xb + p0;
          ldb = d.DHW;
        } else {
          vol2col_tile(xb, c1 - c0, g, cr.data(), p0, p1, col, np);
          bsrc = col;
          ldb = np;
        }
        // dW[o0:o1, rows] (+)= dy[o0:o1, p0:p1] @ col^T
        gemm<T>(o1 - o0, rows, np, 1, dyb + p0, d.P, 1, bsrc, 1, ldb, first ? 0 : 1, dwb, d.Kdim);
        first = false;
      }
    }
  };
  if (par && items > 1) {
    parallel_for(items, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) one(i);
    });
  } else {
    for (int64_t i = 0; i < items; ++i) one(i);
  }
}

template <class T>
void backward_bias_impl(T* db, const T* dy, int64_t N, int64_t O, int64_t P) {
  parallel_for(O, std::max<int64_t>(1, kGrain / std::max<int64_t>(N * P, 1)), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      double s = 0;
      for (int64_t n = 0; n < N; ++n) {
        const T* r = dy + (n * O + o) * P;
        double part[4] = {0, 0, 0, 0};
        int64_t p = 0;
        for (; p + 4 <= P; p += 4)
          for (int j = 0; j < 4; ++j) part[j] += r[p + j];
        for (; p < P; ++p) part[0] += r[p];
        s += (part[0] + part[1]) + (part[2] + part[3]);
      }
      db[o] = (T)s;
    }
  });
}

}  // namespace

void conv3d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias, const Conv3dGeometry& g) {
  FLB_DISPATCH_FLOATING(x.dtype, "conv3d", [&] {
    forward_impl<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(),
                           bias ? bias->data<scalar_t>() : nullptr, g);
  });
}

void conv3d_backward_input(const Tensor& grad_x, const Tensor& grad_y, const Tensor& w, const Conv3dGeometry& g) {
  FLB_DISPATCH_FLOATING(w.dtype, "conv3d_backward", [&] {
    backward_input_impl<scalar_t>(grad_x.data<scalar_t>(), grad_y.data<scalar_t>(), w.data<scalar_t>(), g);
  });
}

void conv3d_backward_weight(const Tensor& grad_w, const Tensor& grad_y, const Tensor& x, const Conv3dGeometry& g) {
  FLB_DISPATCH_FLOATING(grad_w.dtype, "conv3d_backward", [&] {
    backward_weight_impl<scalar_t>(grad_w.data<scalar_t>(), grad_y.data<scalar_t>(), x.data<scalar_t>(), g);
  });
}

void conv3d_backward_bias(const Tensor& grad_b, const Tensor& grad_y) {
  const int64_t N = grad_y.sizes[0], O = grad_y.sizes[1];
  int64_t P = 1;
  for (int64_t i = 2; i < grad_y.dim(); ++i) P *= grad_y.sizes[i];
  FLB_DISPATCH_FLOATING(grad_y.dtype, "conv3d_backward", [&] {
    backward_bias_impl<scalar_t>(grad_b.data<scalar_t>(), grad_y.data<scalar_t>(), N, O, P);
  });
}

void conv3d_add_bias(const Tensor& y, const Tensor& bias) {
  const int64_t N = y.sizes[0], C = y.sizes[1];
  int64_t P = 1;
  for (int64_t i = 2; i < y.dim(); ++i) P *= y.sizes[i];
  FLB_DISPATCH_FLOATING(y.dtype, "conv_transpose3d", [&] {
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

}  // namespace flambeau::cpu
