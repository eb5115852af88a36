// Pairwise p-norm distances between the rows of two batches of matrices (torch.cdist's direct path),
// and the gradient with respect to the first operand. 2-D operands are one batch.
//
//   out[b, i, j] = ( sum_m |x1[b, i, m] - x2[b, j, m]|^p )^(1/p)      x1 [B, P, M], x2 [B, R, M]
//
// with p = 0 the count of differing coordinates, p = inf the largest |difference|. The differences
// are taken in the tensors' own type, as PyTorch takes them (so that with p = inf the largest one is
// exactly the stored distance, which the gradient compares against); their powers are summed in
// float64 in four interleaved running sums (coordinate m into sum m % 4, added as (s0 + s1) + (s2 + s3)):
// the same bits for every thread count, and for float32 a sum far more accurate than the result.
//
// Gradient (PyTorch's _cdist_backward, term by term), with d = x1[i, m] - x2[j, m], D = out[i, j]:
//
//   gx1[i, m] = sum_j g[i, j] * t(d, D),   t = 0                                    p = 0, or D = 0
//                                           sign(d)                                   p = 1
//                                           d / D                                     p = 2
//                                           sign(d) [|d| = D]                         p = inf
//                                           sign(d) |d|^(p-1) / D^(p-1)  (0 at d = 0)  otherwise
//
// The gradient with respect to x2 is the same function with the operands swapped and g, D transposed
// (t is odd in d), which the Python layer does. Each thread owns whole rows i of gx1 and sums j in
// order, in float64: deterministic without atomics.
//
// The small-batch Euclidean case with many rows (P or R > 25) goes through a matrix product instead
// (python/flambeau/_functions/distance.py), as PyTorch does by default. F.pdist (the pairs i < j of
// one matrix's rows, condensed) has its own forward and backward over the same per-pair code, except
// its forward for p = 0, 1, 2, inf on AVX2 / AVX-512 CPUs: PyTorch's vector loop in the input's type
// (cpu/simd/pdist_body.h): its bits, and on [128, 256] (one thread) 5x faster than the float64 sums
// for float32 p = 1, 2 (604 -> 122 us at p = 2), 1.8x for float64, 25x for p = inf. Its backward for
// p = 1, 2, inf likewise follows PyTorch's vector loop (cpu/simd/pdist_backward_body.h).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "cpu/capability.h"
#include "cpu/kernels.h"
#include "cpu/parallel.h"
#include "cpu/simd/pdist_simd.h"
#include "core/dtype.h"

namespace flambeau::cpu {

namespace {

enum class Norm { Zero, One, Two, Inf, General };

Norm norm_of(double p) {
  if (p == 0) return Norm::Zero;
  if (p == 1) return Norm::One;
  if (p == 2) return Norm::Two;
  if (std::isinf(p)) return Norm::Inf;
  return Norm::General;
}

// x^n for n >= 1 by squaring: integral p (3, 4, ...) without std::pow, whose exp/log took 15 ns an
// element (p = 3 on [1000, 64] x [1000, 64], 2 threads: 485 -> 49 ms; PyTorch 221 ms); within a few float64 ulps of std::pow.
inline double powi(double x, int n) {
  double r = 1.0;
  for (;;) {
    if (n & 1) r *= x;
    n >>= 1;
    if (!n) return r;
    x *= x;
  }
}

// sum over m of f(a[m] - b[m]) in four interleaved float64 sums (see the header).
template <class T, class F>
inline double sum4(const T* a, const T* b, int64_t M, F f) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) {
    s0 += f(T(a[m] - b[m]));
    s1 += f(T(a[m + 1] - b[m + 1]));
    s2 += f(T(a[m + 2] - b[m + 2]));
    s3 += f(T(a[m + 3] - b[m + 3]));
  }
  if (m < M) s0 += f(T(a[m] - b[m]));
  if (m + 1 < M) s1 += f(T(a[m + 1] - b[m + 1]));
  if (m + 2 < M) s2 += f(T(a[m + 2] - b[m + 2]));
  return (s0 + s1) + (s2 + s3);
}

template <class T>
double distance(const T* a, const T* b, int64_t M, Norm kind, double p) {
  switch (kind) {
    case Norm::Zero:
      return sum4(a, b, M, [](T d) { return d != T(0) ? 1.0 : 0.0; });
    case Norm::One:
      return sum4(a, b, M, [](T d) { return std::fabs((double)d); });
    case Norm::Two:
      return std::sqrt(sum4(a, b, M, [](T d) { return (double)d * (double)d; }));
    case Norm::Inf: {
      T r = T(0);
      for (int64_t m = 0; m < M; ++m) {
        const T d = std::fabs(T(a[m] - b[m]));
        if (!(d <= r)) r = d;  // NaN wins
      }
      return (double)r;
    }
    case Norm::General:
      break;
  }
  if (p == std::floor(p) && p <= 64) {
    const int n = (int)p;
    return std::pow(sum4(a, b, M, [n](T d) { return powi(std::fabs((double)d), n); }), 1.0 / p);
  }
  return std::pow(sum4(a, b, M, [p](T d) { return std::pow(std::fabs((double)d), p); }), 1.0 / p);
}

// acc[m] += term(a[m] - b[m]) for m < M, the difference taken in T: one plain loop per pair of rows,
// which GCC vectorises (the restrict pointers matter under -fno-strict-aliasing).
template <class T, class F>
inline void add_terms(double* __restrict acc, const T* __restrict a, const T* __restrict b, int64_t M, F term) {
  for (int64_t m = 0; m < M; ++m) acc[m] += term(T(a[m] - b[m]));
}

// -1, 0 or 1 (0 for NaN, as PyTorch's vectorised sign in _cdist_backward), without a branch: on random
// data a branch mispredicted every other element (p = 1 backward of [500, 64] x [300, 64]: 63 ms).
inline double sign(double d) { return (double)((d > 0) - (d < 0)); }

}  // namespace

namespace {
struct Dims {
  int64_t B, P, M, R;
};
// [B, P, M] and [B, R, M], or [P, M] and [R, M] as one batch.
Dims dims_of(const Tensor& x1, const Tensor& x2) {
  const int64_t k = x1.dim();
  return {k == 3 ? x1.sizes[0] : 1, x1.sizes[k - 2], x1.sizes[k - 1], x2.sizes[k - 2]};
}
}  // namespace

void cdist(const Tensor& out, const Tensor& x1, const Tensor& x2, double p) {
  const auto [B, P, M, R] = dims_of(x1, x2);
  const Norm kind = norm_of(p);
  FLB_DISPATCH_FLOATING(x1.dtype, "cdist", [&] {
    using T = scalar_t;
    const T* a = x1.data<T>();
    const T* b = x2.data<T>();
    T* o = out.data<T>();
    parallel_for(B * P, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, R * std::max<int64_t>(M, 1))),
                 [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t bi = r / P;
        const T* ar = a + r * M;
        const T* bb = b + bi * R * M;
        T* orow = o + r * R;
        for (int64_t j = 0; j < R; ++j) orow[j] = (T)distance(ar, bb + j * M, M, kind, p);
      }
    });
  });
}

namespace {
// acc[m] += g * t(a[m] - b[m], D) for one pair of rows at distance D (the gradient terms of the header).
template <class T>
void add_pair_gradient(double* acc, const T* a, const T* b, int64_t M, Norm kind, double p, double g, T D) {
  const double Dd = (double)D;
  if (kind == Norm::Zero || Dd == 0) return;  // a subgradient of 0 (PyTorch's), also where the distance is 0
  switch (kind) {
    case Norm::One:
      add_terms(acc, a, b, M, [g](T d) { return g * sign((double)d); });
      return;
    case Norm::Two: {
      const double c = g / Dd;
      add_terms(acc, a, b, M, [c](T d) { return c * (double)d; });
      return;
    }
    case Norm::Inf:
      add_terms(acc, a, b, M, [g, D](T d) { return std::fabs(d) == D ? g * sign((double)d) : 0.0; });
      return;
    default: {
      const double c = g / std::pow(Dd, p - 1);
      if (p == std::floor(p) && p <= 64) {  // |d|^(p-1), p - 1 >= 2
        const int n = (int)p - 1;
        add_terms(acc, a, b, M, [c, n](T d) { return c * sign((double)d) * powi(std::fabs((double)d), n); });
      } else {
        add_terms(acc, a, b, M, [c, p](T d) {
          return d != T(0) ? c * sign((double)d) * std::pow(std::fabs((double)d), p - 1) : 0.0;
        });
      }
    }
  }
}

// Row i of the condensed pdist layout: pairs (i, j), j > i, start at i (2N - i - 1) / 2.
inline int64_t pair_base(int64_t i, int64_t N) { return i * (2 * N - i - 1) / 2; }
}  // namespace

void cdist_backward(const Tensor& gx1, const Tensor& grad, const Tensor& x1, const Tensor& x2, const Tensor& dist,
                    double p) {
  const auto [B, P, M, R] = dims_of(x1, x2);
  const Norm kind = norm_of(p);
  FLB_DISPATCH_FLOATING(x1.dtype, "cdist_backward", [&] {
    using T = scalar_t;
    const T* a = x1.data<T>();
    const T* b = x2.data<T>();
    const T* g = grad.data<T>();
    const T* D = dist.data<T>();
    T* gx = gx1.data<T>();
    parallel_for(B * P, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, R * std::max<int64_t>(M, 1))),
                 [&](int64_t r0, int64_t r1) {
      std::vector<double> acc((size_t)M);
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t bi = r / P;
        const T* ar = a + r * M;
        const T* bb = b + bi * R * M;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < R; ++j)
          add_pair_gradient(acc.data(), ar, bb + j * M, M, kind, p, (double)g[r * R + j], D[r * R + j]);
        T* gxr = gx + r * M;
        for (int64_t m = 0; m < M; ++m) gxr[m] = (T)acc[m];
      }
    });
  });
}

namespace {
// The AVX2 loops of F.pdist (cpu/simd/pdist_body.h) for p = 0, 1, 2, inf: PyTorch's own arithmetic
// (its AVX2 kernel, which it also runs on AVX-512 CPUs), so its bits. Null on the baseline capability,
// for other p and for M = 0, which take the float64 sums below.
template <class T>
auto pdist_leaf(Norm kind, int64_t M) {
  using Fn = std::conditional_t<std::is_same_v<T, float>, pdist_simd::F32Fn, pdist_simd::F64Fn>;
  if (kind == Norm::General || M == 0 || capability() < Capability::AVX2) return Fn(nullptr);
  if constexpr (std::is_same_v<T, float>) {
    return pdist_simd::f32_avx2();
  } else {
    return pdist_simd::f64_avx2();
  }
}

// The backward's AVX2 loops for p = 1, 2, inf (cpu/simd/pdist_backward_body.h), as pdist_leaf.
template <class T>
auto pdist_backward_leaf(Norm kind, int64_t N, int64_t M) {
  using Fn = std::conditional_t<std::is_same_v<T, float>, pdist_simd::BwdF32Fn, pdist_simd::BwdF64Fn>;
  if (kind == Norm::General || kind == Norm::Zero || M == 0 || N < 2 || capability() < Capability::AVX2)
    return Fn(nullptr);
  if constexpr (std::is_same_v<T, float>) {
    return pdist_simd::bwd_f32_avx2();
  } else {
    return pdist_simd::bwd_f64_avx2();
  }
}

int leaf_norm(Norm kind) {
  switch (kind) {
    case Norm::Zero: return pdist_simd::kZero;
    case Norm::One: return pdist_simd::kOne;
    case Norm::Two: return pdist_simd::kTwo;
    default: return pdist_simd::kInf;
  }
}
}  // namespace

void pdist(const Tensor& out, const Tensor& x, double p) {
  const int64_t N = x.sizes[0], M = x.sizes[1];
  const Norm kind = norm_of(p);
  FLB_DISPATCH_FLOATING(x.dtype, "pdist", [&] {
    using T = scalar_t;
    const T* a = x.data<T>();
    T* o = out.data<T>();
    const auto leaf = pdist_leaf<T>(kind, M);
    const int norm = leaf_norm(kind);
    // The threads split the pairs, not the rows (row i holds N - 1 - i of them: split by rows, the
    // first thread got three quarters of the work). Each chunk finds its first pair's row, then walks.
    const int64_t K = N * (N - 1) / 2;
    parallel_for(K, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, M)), [&](int64_t k0, int64_t k1) {
      int64_t i = 0;
      while (pair_base(i + 1, N) <= k0) ++i;
      int64_t j = i + 1 + (k0 - pair_base(i, N));
      if (leaf) return leaf(o + k0, a, N, M, norm, i, j, k1 - k0);
      for (int64_t k = k0; k < k1; ++k) {
        o[k] = (T)distance(a + i * M, a + j * M, M, kind, p);
        if (++j == N) ++i, j = i + 1;
      }
    });
  });
}

void pdist_backward(const Tensor& gx, const Tensor& grad, const Tensor& x, const Tensor& dist, double p) {
  const int64_t N = x.sizes[0], M = x.sizes[1];
  const Norm kind = norm_of(p);
  FLB_DISPATCH_FLOATING(x.dtype, "pdist_backward", [&] {
    using T = scalar_t;
    const T* a = x.data<T>();
    const T* g = grad.data<T>();
    const T* D = dist.data<T>();
    T* gxp = gx.data<T>();
    if (const auto leaf = pdist_backward_leaf<T>(kind, N, M)) {
      // The AVX2 loops: PyTorch's column-vector order in T (pdist_backward_body.h), its bits. The
      // threads split the columns (W-aligned blocks), each column's sums are sequential: the same bits
      // for any thread count.
      std::fill(gxp, gxp + N * M, T(0));
      constexpr int64_t W = 32 / sizeof(T);
      const int64_t blocks = (M + W - 1) / W;
      const int norm = leaf_norm(kind);
      parallel_for(blocks, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, N * (N - 1) / 2 * W)),
                   [&](int64_t b0, int64_t b1) { leaf(gxp, a, g, D, N, M, norm, b0 * W, std::min(M, b1 * W)); });
      return;
    }
    // Row i gathers every pair it belongs to, (i, j) and (j, i), in order of j: each thread owns
    // whole rows of gx (no atomics, the same bits for any thread count).
    parallel_for(N, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, N * std::max<int64_t>(M, 1))),
                 [&](int64_t i0, int64_t i1) {
      std::vector<double> acc((size_t)M);
      for (int64_t i = i0; i < i1; ++i) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < N; ++j) {
          if (j == i) continue;
          const int64_t k = j > i ? pair_base(i, N) + (j - i - 1) : pair_base(j, N) + (i - j - 1);
          add_pair_gradient(acc.data(), a + i * M, a + j * M, M, kind, p, (double)g[k], D[k]);
        }
        T* row = gxp + i * M;
        for (int64_t m = 0; m < M; ++m) row[m] = (T)acc[m];
      }
    });
  });
}

}  // namespace flambeau::cpu
