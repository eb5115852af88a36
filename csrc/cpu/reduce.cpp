// Reductions over any set of dims. Each output element reduces its own slice in a fixed order, so
// results are the same bits run after run (no atomics, no order that depends on timing).
//
// The reduced dims are coalesced into as few (size, stride) pairs as possible; the innermost one is
// walked by a tight loop with several independent accumulators (vectorisable without
// reassociating a single accumulator, which the compiler may not do). Float32 sums accumulate in
// float64 (contiguous rows: float partials of 8 elements per lane first, reduce_body.h): more
// accurate than float32 pairwise summation. Contiguous float
// rows go through csrc/cpu/simd/reduce_body.h, built per instruction set (same bits on each).
// When the reduced dims are all outside a contiguous kept block (e.g. summing a [N, C] batch
// over N), rows are added into a per-output accumulator instead, so memory is read in order.
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>
#include <cstring>
#include <immintrin.h>
#include "cpu/capability.h"
#include "cpu/kernels.h"
#include "cpu/parallel.h"
#include "cpu/row_simd.h"
#include "cpu/simd/act_simd.h"
#include "cpu/simd/reduce_simd.h"

namespace flambeau::cpu {

namespace {

// The float sum loops (csrc/cpu/simd/reduce_body.h): portable here, AVX2 / AVX-512 builds of the
// same source in csrc/cpu/simd/reduce_avx2.cpp, reduce_avx512.cpp.
namespace portable {
#include "cpu/simd/reduce_body.h"
}  // namespace portable

// Null for the integer types (their sums stay in the int64 loops below).
template <class T>
const sums::Fns<T>* sum_loops() {
  const Capability cap = capability();
  if constexpr (std::is_same_v<T, float>) {
    if (cap == Capability::AVX512) return sums::fns_f32_avx512();
    if (cap == Capability::AVX2) return sums::fns_f32_avx2();
    return portable::ReduceTables::f32();
  } else if constexpr (std::is_same_v<T, double>) {
    if (cap == Capability::AVX512) return sums::fns_f64_avx512();
    if (cap == Capability::AVX2) return sums::fns_f64_avx2();
    return portable::ReduceTables::f64();
  } else {
    return nullptr;
  }
}

struct Plan {
  std::vector<int64_t> kept_sizes, kept_strides;  // elements, outer to inner
  std::vector<int64_t> red_sizes, red_strides;    // elements, coalesced, outer to inner
  int64_t red_numel = 1, out_numel = 1;
};

void coalesce(std::vector<int64_t>& sizes, std::vector<int64_t>& strides) {
  std::vector<int64_t> s2, st2;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] == 1) continue;
    if (!s2.empty() && st2.back() == strides[i] * sizes[i]) {
      s2.back() *= sizes[i];
      st2.back() = strides[i];
    } else {
      s2.push_back(sizes[i]);
      st2.push_back(strides[i]);
    }
  }
  sizes = s2;
  strides = st2;
}

Plan make_plan(const Tensor& in, const std::vector<int64_t>& dims) {
  Plan p;
  std::vector<bool> red(in.dim(), false);
  for (auto d : dims) red[d] = true;
  for (int64_t d = 0; d < in.dim(); ++d) {
    if (red[d]) {
      p.red_sizes.push_back(in.sizes[d]);
      p.red_strides.push_back(in.strides[d]);
      p.red_numel *= in.sizes[d];
    } else {
      p.kept_sizes.push_back(in.sizes[d]);
      p.kept_strides.push_back(in.strides[d]);
      p.out_numel *= in.sizes[d];
    }
  }
  coalesce(p.red_sizes, p.red_strides);
  return p;
}

// Offset (elements) of output element `o` in the input.
inline int64_t kept_offset(const Plan& p, int64_t o) {
  if (p.kept_sizes.size() == 1) return o * p.kept_strides[0];  // no divisions (a row sum per output)
  int64_t off = 0;
  for (int64_t d = (int64_t)p.kept_sizes.size() - 1; d >= 0; --d) {
    off += (o % p.kept_sizes[d]) * p.kept_strides[d];
    o /= p.kept_sizes[d];
  }
  return off;
}

// Calls row(ptr, n, stride) for each innermost row of the reduced slice starting at `base`, in order.
template <class T, class Row>
void for_each_row(const Plan& p, const T* base, Row&& row) {
  int64_t nd = (int64_t)p.red_sizes.size();
  if (nd == 0) {
    row(base, (int64_t)1, (int64_t)1);
    return;
  }
  int64_t n = p.red_sizes[nd - 1], st = p.red_strides[nd - 1];
  if (nd == 1) {  // one (coalesced) reduced dim: the common case, no index to keep
    row(base, n, st);
    return;
  }
  int64_t rows = p.red_numel / n;
  std::vector<int64_t> idx(nd, 0);  // (a heap allocation per output: kept off the one-dim path)
  const T* ptr = base;
  for (int64_t r = 0; r < rows; ++r) {
    row(ptr, n, st);
    for (int64_t d = nd - 2; d >= 0; --d) {
      idx[d]++;
      ptr += p.red_strides[d];
      if (idx[d] < p.red_sizes[d]) break;
      ptr -= p.red_sizes[d] * p.red_strides[d];
      idx[d] = 0;
    }
  }
}

template <class T>
inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

// Accumulator type: float64 for floats, int64 for integers and bools.
template <class T>
using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <class T>
acc_t<T> sum_row(const T* x, int64_t n, int64_t st) {
  using A = acc_t<T>;
  if constexpr (std::is_floating_point_v<T>) {
    if (st == 1) return sum_loops<T>()->sum(x, n);
  }
  if (st == 1) {
    A a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      a0 += (A)x[i]; a1 += (A)x[i + 1]; a2 += (A)x[i + 2]; a3 += (A)x[i + 3];
      a4 += (A)x[i + 4]; a5 += (A)x[i + 5]; a6 += (A)x[i + 6]; a7 += (A)x[i + 7];
    }
    for (; i < n; ++i) a0 += (A)x[i];
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
  }
  A a = 0;
  for (int64_t i = 0; i < n; ++i) a += (A)x[i * st];
  return a;
}

// Block of the whole-tensor sum/max/min (fixed: the sum's bits do not depend on the thread count).
constexpr int64_t kReduceBlock = int64_t(1) << 16;

// sum_b f(block b) over the fixed blocks of [0, n), computed in parallel and added in block order.
template <class A, class F>
A block_sum(int64_t n, F&& f) {
  A total = 0;
  for (A part : fixed_block_results<A>(n, kReduceBlock, 1, f)) total += part;
  return total;
}

// max (MAX) or min of x[0..n), n > 0, as an OpenMP simd reduction (GCC does not vectorise a float
// max written as a comparison: it cannot assume no NaN); a NaN anywhere sets `nan` (the caller
// returns NaN), so the lanes' NaN behaviour does not matter.
template <class T, bool MAX>
T fold_max_min(const T* x, int64_t n, char& nan) {
  T r = x[0];
  int seen = 0;
  if constexpr (MAX) {
#pragma omp simd reduction(max : r) reduction(| : seen)
    for (int64_t i = 0; i < n; ++i) {
      r = x[i] > r ? x[i] : r;
      if constexpr (std::is_floating_point_v<T>) seen |= x[i] != x[i];
    }
  } else {
#pragma omp simd reduction(min : r) reduction(| : seen)
    for (int64_t i = 0; i < n; ++i) {
      r = x[i] < r ? x[i] : r;
      if constexpr (std::is_floating_point_v<T>) seen |= x[i] != x[i];
    }
  }
  if (seen) nan = 1;
  return r;
}

// out[o] = finish(fold over the slice of o). Parallel over outputs.
template <class Tin, class Tout, class Fn>
void per_output(const Plan& p, const Tensor& out, const Tensor& in, Fn&& fn) {
  const Tin* x = in.data<Tin>();
  Tout* o = out.data<Tout>();
  int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(p.red_numel, 1));
  parallel_for(p.out_numel, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = fn(x + kept_offset(p, i));
  });
}

// The reduced dims are outer to a contiguous kept block (x.sum(0), x.amax(0), x.prod(0) of a
// [rows, cols] tensor): the block's length (the columns), or 0 when the layout is otherwise or the
// block is too short (under 16) for a column-wise fold to pay.
int64_t outer_block(const Plan& p) {
  if (p.kept_strides.empty() || p.kept_strides.back() != 1 || p.red_sizes.empty() || p.red_numel < 2) return 0;
  const int64_t inner = p.kept_sizes.back();
  for (auto st : p.red_strides)
    if (st < inner || st % inner != 0) return 0;
  return inner >= 16 ? inner : 0;
}

// The reduced dims are the innermost ones of a contiguous input: output o folds the contiguous row
// x[o * red_numel, (o + 1) * red_numel).
bool inner_rows(const Plan& p, const Tensor& in) {
  return in.is_contiguous() && p.red_sizes.size() == 1 && p.red_strides[0] == 1;
}

// Column-wise folds for outer_block layouts: the outputs are split over threads, each thread's range
// into (outer index, column range) pieces, and f(base, out_index, w) folds the w columns starting at
// base (for_each_row over the reduced dims gives the rows) into outputs out_index .. out_index + w.
template <class T, class F>
void column_pieces(const Plan& p, const T* x, int64_t inner, F&& f) {
  Plan q = p;
  q.kept_sizes.pop_back();
  q.kept_strides.pop_back();
  parallel_for(p.out_numel, std::max<int64_t>(1, kGrain / p.red_numel), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e;) {
      const int64_t ob = o / inner, ib = o % inner, w = std::min(inner, ib + (e - o)) - ib;
      f(x + kept_offset(q, ob) + ib, ob * inner + ib, w);
      o += w;
    }
  });
}

template <class T>
void reduce_typed(ReduceOp op, const Tensor& out, const Tensor& in, const Plan& p) {
  using A = acc_t<T>;
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Mean: {
      const double scale = op == ReduceOp::Mean ? 1.0 / (double)p.red_numel : 1.0;
      // Outer reduction over a contiguous kept block: add rows in order.
      if (const int64_t inner = outer_block(p)) {
        const sums::Fns<T>* L = sum_loops<T>();
        column_pieces<T>(p, in.data<T>(), inner, [&](const T* base, int64_t oi, int64_t w) {
          std::vector<A> acc((size_t)w, A(0));
          for_each_row<T>(p, base, [&](const T* r, int64_t n, int64_t st) {
            if constexpr (std::is_floating_point_v<T>) {
              L->add_rows(acc.data(), r, st, n, w);
            } else {
              for (int64_t k = 0; k < n; ++k) {
                const T* row = r + k * st;
                for (int64_t j = 0; j < w; ++j) acc[j] += (A)row[j];
              }
            }
          });
          for (int64_t j = 0; j < w; ++j) {
            if (out.dtype == DType::Int64) out.data<int64_t>()[oi + j] = (int64_t)acc[j];
            else out.data<T>()[oi + j] = (T)((double)acc[j] * scale);
          }
        });
        return;
      }
      if constexpr (std::is_floating_point_v<T>) {
        // The reduced dims are the innermost ones of a contiguous input: output o sums row o.
        if (p.out_numel > 1 && inner_rows(p, in)) {
          const sums::Fns<T>* L = sum_loops<T>();
          const T* x = in.data<T>();
          T* o = out.data<T>();
          const int64_t n = p.red_numel;
          parallel_for(p.out_numel, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)),
                       [L, x, o, n, scale](int64_t b, int64_t e) { L->sum_rows(o + b, x + b * n, e - b, n, scale); });
          return;
        }
      }
      if (p.out_numel == 1 && in.is_contiguous() && p.red_numel > (1 << 17)) {
        // Whole-tensor sum: fixed 65536-element blocks summed in parallel, then the block sums in
        // order (the result does not depend on the thread count). One thread over the whole tensor
        // ran at half of PyTorch's speed.
        const T* x = in.data<T>();
        const A total = block_sum<A>(p.red_numel, [&](int64_t b, int64_t e) { return sum_row(x + b, e - b, 1); });
        if (out.dtype == DType::Int64) *out.data<int64_t>() = (int64_t)total;
        else *out.data<T>() = (T)((double)total * scale);
        return;
      }
      if (out.dtype == DType::Int64) {
        per_output<T, int64_t>(p, out, in, [&](const T* base) {
          A s = 0;
          for_each_row<T>(p, base, [&](const T* r, int64_t n, int64_t st) { s += sum_row(r, n, st); });
          return (int64_t)s;
        });
      } else {
        per_output<T, T>(p, out, in, [&](const T* base) {
          A s = 0;
          for_each_row<T>(p, base, [&](const T* r, int64_t n, int64_t st) { s += sum_row(r, n, st); });
          return (T)((double)s * scale);
        });
      }
      return;
    }
    case ReduceOp::Prod: {
      // Contiguous runs in eight independent products (one chain of float64 multiplies, 4 cycles
      // each, made prod(1) of [1024, 1024] 0.05x PyTorch), combined pairwise.
      const sums::Fns<T>* PL = nullptr;
      if constexpr (std::is_floating_point_v<T>) PL = sum_loops<T>();
      auto fold = [&](const T* base) {
        A s = 1;
        for_each_row<T>(p, base, [&](const T* r, int64_t n, int64_t st) {
          if constexpr (std::is_floating_point_v<T>) {
            if (st == 1) {  // contiguous runs in the vector leaf (reduce_body.h, prod: 32 lanes)
              s = PL->prod(r, n, s);
              return;
            }
          }
          int64_t i = 0;
          if (st == 1 && n >= 16) {
            A q0 = 1, q1 = 1, q2 = 1, q3 = 1, q4 = 1, q5 = 1, q6 = 1, q7 = 1;
            for (; i + 8 <= n; i += 8) {
              q0 *= (A)r[i], q1 *= (A)r[i + 1], q2 *= (A)r[i + 2], q3 *= (A)r[i + 3];
              q4 *= (A)r[i + 4], q5 *= (A)r[i + 5], q6 *= (A)r[i + 6], q7 *= (A)r[i + 7];
            }
            s *= ((q0 * q1) * (q2 * q3)) * ((q4 * q5) * (q6 * q7));
          }
          for (; i < n; ++i) s *= (A)r[i * st];
        });
        return s;
      };
      // Outer reduction over a contiguous kept block (x.prod(0)): a running product per column, row
      // by row, in the same order as the fold (was one strided chain per output: 0.06x PyTorch).
      if (const int64_t inner = outer_block(p)) {
        column_pieces<T>(p, in.data<T>(), inner, [&](const T* base, int64_t oi, int64_t w) {
          std::vector<A> acc((size_t)w, A(1));
          A* __restrict a = acc.data();
          for_each_row<T>(p, base, [a, w](const T* r, int64_t n, int64_t st) {  // by value: no reloads per element
            for (int64_t k = 0; k < n; ++k) {
              const T* __restrict row = r + k * st;
              for (int64_t j = 0; j < w; ++j) a[j] *= (A)row[j];
            }
          });
          for (int64_t j = 0; j < w; ++j) {
            if (out.dtype == DType::Int64) out.data<int64_t>()[oi + j] = (int64_t)a[j];
            else out.data<T>()[oi + j] = (T)a[j];
          }
        });
        return;
      }
      if (out.dtype == DType::Int64) per_output<T, int64_t>(p, out, in, [&](const T* b) { return (int64_t)fold(b); });
      else per_output<T, T>(p, out, in, [&](const T* b) { return (T)fold(b); });
      return;
    }
    case ReduceOp::Max:
    case ReduceOp::Min: {
      const bool is_max = op == ReduceOp::Max;
      // Outer reduction over a contiguous kept block (x.amax(0)): a running max/min per column, row
      // by row (the loop vectorises), and a NaN flag per column. One strided fold per output ran at
      // 0.09x PyTorch on [1024, 1024].
      if constexpr (!std::is_same_v<T, bool>) if (const int64_t inner = outer_block(p)) {
        column_pieces<T>(p, in.data<T>(), inner, [&](const T* base, int64_t oi, int64_t w) {
          std::vector<T> acc(base, base + w);  // the first row of the slice
          std::vector<char> nan((size_t)w, 0);
          T* __restrict a = acc.data();
          char* __restrict f = nan.data();
          for_each_row<T>(p, base, [a, f, w, is_max](const T* r, int64_t n, int64_t st) {  // by value: no reloads
            for (int64_t k = 0; k < n; ++k) {
              const T* __restrict row = r + k * st;
              if (is_max)
                for (int64_t j = 0; j < w; ++j) a[j] = row[j] > a[j] ? row[j] : a[j], f[j] |= row[j] != row[j];
              else
                for (int64_t j = 0; j < w; ++j) a[j] = row[j] < a[j] ? row[j] : a[j], f[j] |= row[j] != row[j];
            }
          });
          T* dst = out.data<T>() + oi;
          for (int64_t j = 0; j < w; ++j) {
            T v = a[j];
            if constexpr (std::is_floating_point_v<T>) if (f[j]) v = std::numeric_limits<T>::quiet_NaN();
            dst[j] = v;
          }
        });
        return;
      }
      if (p.out_numel == 1 && in.is_contiguous() && p.red_numel > 0) {
        // Whole-tensor max/min: fixed blocks in parallel, each a branch-free fold, then the blocks'
        // results (order does not matter for max/min; any NaN gives NaN).
        const T* x = in.data<T>();
        struct Part { T v; char nan; };
        const std::vector<Part> part = fixed_block_results<Part>(p.red_numel, kReduceBlock, 1, [&](int64_t b, int64_t e) {
          Part r{T(0), 0};
          if constexpr (std::is_floating_point_v<T>) r.v = sum_loops<T>()->max_min(x + b, e - b, is_max, &r.nan);
          else r.v = is_max ? fold_max_min<T, true>(x + b, e - b, r.nan) : fold_max_min<T, false>(x + b, e - b, r.nan);
          return r;
        });
        T best = part[0].v;
        bool any_nan = false;
        for (const Part& q : part) {
          any_nan = any_nan || q.nan;
          best = is_max ? (q.v > best ? q.v : best) : (q.v < best ? q.v : best);
        }
        if constexpr (std::is_floating_point_v<T>) if (any_nan) best = std::numeric_limits<T>::quiet_NaN();
        *out.data<T>() = best;
        return;
      }
      per_output<T, T>(p, out, in, [&](const T* base) {
        T best = *base;
        bool found_nan = is_nan(best);
        for_each_row<T>(p, base, [&](const T* r, int64_t n, int64_t st) {
          if (found_nan) return;
          for (int64_t i = 0; i < n; ++i) {
            T v = r[i * st];
            if (is_nan(v)) { best = v; found_nan = true; return; }
            if (is_max ? v > best : v < best) best = v;
          }
        });
        return best;
      });
      return;
    }
    case ReduceOp::All:
    case ReduceOp::Any: {
      const bool is_all = op == ReduceOp::All;
      if constexpr (std::is_same_v<T, bool>) {
        // x.any() / x.all() of a contiguous bool tensor: bytes (0 or 1) OR- / AND-folded 8 at a time
        // in fixed pieces on all threads (the element loop ran on one thread: 0.53x PyTorch for 1M).
        const int64_t n = in.numel();
        if (p.out_numel == 1 && in.is_contiguous() && n >= 4096) {
          const uint8_t* bytes = reinterpret_cast<const uint8_t*>(in.data<bool>());
          const int64_t words = n / 8;
          constexpr int64_t kPiece = 1 << 15;  // words
          const int64_t pieces = (words + kPiece - 1) / kPiece;
          std::vector<uint64_t> part((size_t)pieces);
          parallel_for(pieces, 1, [&](int64_t b, int64_t e) {
            for (int64_t c = b; c < e; ++c) {
              const int64_t w0 = c * kPiece, w1 = std::min(words, w0 + kPiece);
              uint64_t acc = is_all ? ~uint64_t(0) : 0;
              for (int64_t w = w0; w < w1; ++w) {
                uint64_t v;
                std::memcpy(&v, bytes + w * 8, 8);
                acc = is_all ? (acc & v) : (acc | v);
              }
              part[(size_t)c] = acc;
            }
          });
          uint64_t acc = is_all ? ~uint64_t(0) : 0;
          for (uint64_t v : part) acc = is_all ? (acc & v) : (acc | v);
          bool r;
          if (is_all) {  // every byte of the AND still 1
            r = acc == 0x0101010101010101ull;
            for (int64_t i = words * 8; i < n; ++i) r = r && bytes[i] != 0;
          } else {
            r = acc != 0;
            for (int64_t i = words * 8; i < n; ++i) r = r || bytes[i] != 0;
          }
          *out.data<bool>() = r;
          return;
        }
      }
      per_output<T, bool>(p, out, in, [&](const T* base) {
        bool acc = is_all;
        for_each_row<T>(p, base, [&](const T* r, int64_t n, int64_t st) {
          for (int64_t i = 0; i < n; ++i) {
            bool v = r[i * st] != T(0);
            if (is_all) acc = acc && v; else acc = acc || v;
          }
        });
        return acc;
      });
      return;
    }
  }
}

}  // namespace

void reduce(ReduceOp op, const Tensor& out, const Tensor& in, const std::vector<int64_t>& dims) {
  Plan p = make_plan(in, dims);
  FLB_DISPATCH_ALL(in.dtype, "reduce", [&] { reduce_typed<scalar_t>(op, out, in, p); });
}

namespace {
// The sum of squares of each slice in float64, about the slice's mean (centered: var, std) or about 0
// (the 2-norm), divided by denom, square-rooted if take_sqrt.
void sum_squares(const Tensor& out, const Tensor& in, const std::vector<int64_t>& dims, bool centered, double denom,
                 bool take_sqrt, const char* name) {
  Plan p = make_plan(in, dims);
  FLB_DISPATCH_FLOATING(in.dtype, name, [&] {
    using T = scalar_t;
    const sums::Fns<T>* L = sum_loops<T>();
    const double n = (double)p.red_numel;
    auto finish = [&](double ss) {
      double v = ss / denom;
      return (T)(take_sqrt ? std::sqrt(v) : v);
    };
    // Two passes over the slice when centered: the mean, then the sum of squared deviations from it.
    if (p.out_numel == 1 && in.is_contiguous() && p.red_numel > (1 << 17)) {
      // Whole tensor: each pass in fixed blocks in parallel, the block results added in order (the
      // same bits with any thread count), as the whole-tensor sum.
      const T* x = in.data<T>();
      const double mean =
          centered ? block_sum<double>(p.red_numel, [&](int64_t b, int64_t e) { return L->sum(x + b, e - b); }) / n : 0.0;
      *out.data<T>() = finish(block_sum<double>(p.red_numel, [&](int64_t b, int64_t e) { return L->sum_sq(x + b, e - b, mean); }));
      return;
    }
    // Reduced dims outer to a contiguous block of columns (x.var(0)): the same two passes for w
    // columns at once, walking rows in memory order; per column the same additions in the same order
    // as the strided loop below (each reduced run summed alone, then added), so the same bits. One
    // strided column at a time made var(0) of [1024, 1024] float32 0.7x PyTorch (5.5 ms).
    if (const int64_t inner = outer_block(p)) {
      column_pieces<T>(p, in.data<T>(), inner, [&](const T* base, int64_t oi, int64_t w) {
        std::vector<double> mean((size_t)w, 0.0), run((size_t)w), ss((size_t)w, 0.0);
        if (centered) {
          for_each_row<T>(p, base, [&](const T* r, int64_t k, int64_t st) {
            std::fill(run.begin(), run.end(), 0.0);
            for (int64_t i = 0; i < k; ++i) {
              const T* row = r + i * st;
              for (int64_t j = 0; j < w; ++j) run[j] += (double)row[j];
            }
            for (int64_t j = 0; j < w; ++j) mean[j] += run[j];
          });
          for (int64_t j = 0; j < w; ++j) mean[j] /= n;
        }
        for_each_row<T>(p, base, [&](const T* r, int64_t k, int64_t st) {
          for (int64_t i = 0; i < k; ++i) {
            const T* row = r + i * st;
            for (int64_t j = 0; j < w; ++j) {
              const double d = (double)row[j] - mean[j];
              ss[j] += d * d;
            }
          }
        });
        T* o = out.data<T>() + oi;
        for (int64_t j = 0; j < w; ++j) o[j] = finish(ss[j]);
      });
      return;
    }
    per_output<T, T>(p, out, in, [&](const T* base) {
      double s = 0;
      if (centered) for_each_row<T>(p, base, [&](const T* r, int64_t k, int64_t st) { s += sum_row(r, k, st); });
      const double mean = s / n;
      double ss = 0;
      for_each_row<T>(p, base, [&](const T* r, int64_t k, int64_t st) {
        if (st == 1) {
          ss += L->sum_sq(r, k, mean);
          return;
        }
        for (int64_t i = 0; i < k; ++i) {
          double d = (double)r[i * st] - mean;
          ss += d * d;
        }
      });
      return finish(ss);
    });
  });
}
}  // namespace

void var(const Tensor& out, const Tensor& in, const std::vector<int64_t>& dims, double correction, bool take_sqrt) {
  int64_t n = 1;  // the slice's element count, as make_plan's red_numel
  for (auto d : dims) n *= in.sizes[d];
  sum_squares(out, in, dims, true, std::max(0.0, (double)n - correction), take_sqrt, "var");
}

void norm2(const Tensor& out, const Tensor& in, const std::vector<int64_t>& dims) {
  sum_squares(out, in, dims, false, 1.0, true, "norm");
}

namespace {
// logsumexp of contiguous slices (the last dims of a contiguous tensor) by the SIMD rows: float32
// through the cross-entropy row helpers (max with NaN detection, float64 sum of vector exp), float64
// through its leaf's row_logsumexp. False where they do not apply; the scalar loop of logsumexp
// below took one libm exp per element (0.05-0.16x PyTorch on [1024, 1024]).
template <class T>
bool logsumexp_rows(const Plan& p, const Tensor& out, const Tensor& in) {
  const Capability cap = capability();
  if (cap == Capability::Default || p.red_numel == 0 || !inner_rows(p, in)) return false;
  const int64_t n = p.red_numel;
  const T* x = in.data<T>();
  T* o = out.data<T>();
  if constexpr (std::is_same_v<T, float>) {
    const RowFns rf = row_fns();
    const auto rmax = rf.max;
    const auto rsum = rf.sumexp;
    parallel_for(p.out_numel, std::max<int64_t>(1, kGrain / n), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const float* row = x + r * n;
        const float m = rmax(row, n);
        const float shift = std::isinf(m) ? 0.0f : m;  // NaN stays: the result is NaN
        o[r] = std::isnan(m) ? m : (float)(std::log(rsum(row, shift, n)) + (double)shift);
      }
    });
    return true;
  } else if constexpr (std::is_same_v<T, double>) {
    if (n < 32) return false;  // the 16-lane fold costs more than such a row (measured [4096, 10]: 0.46 vs 0.21 ms)
    const auto rows = cap == Capability::AVX512 ? simd::row_logsumexp_f64_avx512() : simd::row_logsumexp_f64_avx2();
    parallel_for(p.out_numel, std::max<int64_t>(1, kGrain / n), [&](int64_t b, int64_t e) { rows(o + b, x + b * n, e - b, n); });
    return true;
  } else {
    return false;
  }
}
}  // namespace

void logsumexp(const Tensor& out, const Tensor& in, const std::vector<int64_t>& dims) {
  Plan p = make_plan(in, dims);
  FLB_DISPATCH_FLOATING(in.dtype, "logsumexp", [&] {
    using T = scalar_t;
    if (logsumexp_rows<T>(p, out, in)) return;
    per_output<T, T>(p, out, in, [&](const T* base) {
      double m = -std::numeric_limits<double>::infinity();
      bool nan = false;
      for_each_row<T>(p, base, [&](const T* r, int64_t k, int64_t st) {
        for (int64_t i = 0; i < k; ++i) {
          double v = (double)r[i * st];
          if (std::isnan(v)) nan = true;
          m = v > m ? v : m;
        }
      });
      if (nan) return std::numeric_limits<T>::quiet_NaN();
      if (p.red_numel == 0) return (T)-std::numeric_limits<double>::infinity();
      double shift = std::isinf(m) ? 0.0 : m;
      double s = 0;
      for_each_row<T>(p, base, [&](const T* r, int64_t k, int64_t st) {
        for (int64_t i = 0; i < k; ++i) s += std::exp((double)r[i * st] - shift);
      });
      return (T)(std::log(s) + shift);
    });
  });
}

// x.max(0), x.argmin(1) of [B, N, C]: the reduced dim is not the innermost of a contiguous input.
// Walking each output's strided column touched one element per cache line (x.max(0) of [1024, 1024]:
// 0.55x PyTorch); here a block of kArgCols columns keeps its running best and index in two small
// arrays while the rows stream past, and the update is branch-free so that it vectorises. Same
// results as the row loop: strict comparison keeps the first index on ties, and the first NaN wins
// (a NaN replaces a number; nothing replaces a NaN).
constexpr int64_t kArgCols = 256;

// I: the running index's type, as wide as T where the row count allows, so that the blend of values
// and indices is one vector width (float32 with int32 indices: 2x faster than with int64).
template <class T, bool IsMax, class I>
void arg_reduce_columns(T* ov, int64_t* oi, const T* x, int64_t outer, int64_t n, int64_t inner) {
  const int64_t chunks = (inner + kArgCols - 1) / kArgCols;
  parallel_for(outer * chunks, std::max<int64_t>(1, kGrain / std::max<int64_t>(n * kArgCols, 1)), [=](int64_t b, int64_t e) {
    T best[kArgCols];
    I idx[kArgCols];
    for (int64_t job = b; job < e; ++job) {
      const int64_t o = job / chunks, c0 = (job % chunks) * kArgCols, w = std::min(kArgCols, inner - c0);
      const T* __restrict base = x + o * n * inner + c0;
      for (int64_t j = 0; j < w; ++j) { best[j] = base[j]; idx[j] = 0; }
      for (int64_t i = 1; i < n; ++i) {
        const T* __restrict r = base + i * inner;
        for (int64_t j = 0; j < w; ++j) {
          const T v = r[j], cur = best[j];
          const bool take = (IsMax ? v > cur : v < cur) || (v != v && cur == cur);
          best[j] = take ? v : cur;
          idx[j] = take ? (I)i : idx[j];
        }
      }
      const int64_t out0 = o * inner + c0;
      if (ov)
        for (int64_t j = 0; j < w; ++j) ov[out0 + j] = best[j];
      for (int64_t j = 0; j < w; ++j) oi[out0 + j] = (int64_t)idx[j];
    }
  });
}

void arg_reduce(bool is_max, const Tensor* values, const Tensor& indices, const Tensor& in, int64_t dim) {
  if (in.dim() >= 2 && dim < in.dim() - 1 && in.is_contiguous() && in.numel() > 0) {
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < dim; ++d) outer *= in.sizes[d];
    for (int64_t d = dim + 1; d < in.dim(); ++d) inner *= in.sizes[d];
    FLB_DISPATCH_NUMERIC(in.dtype, "max", [&] {
      using T = scalar_t;
      T* ov = values ? values->data<T>() : nullptr;
      const int64_t n = in.sizes[dim];
      int64_t* oi = indices.data<int64_t>();
      const T* x = in.data<T>();
      if (sizeof(T) <= 4 && n <= INT32_MAX) {
        if (is_max) arg_reduce_columns<T, true, int32_t>(ov, oi, x, outer, n, inner);
        else arg_reduce_columns<T, false, int32_t>(ov, oi, x, outer, n, inner);
      } else {
        if (is_max) arg_reduce_columns<T, true, int64_t>(ov, oi, x, outer, n, inner);
        else arg_reduce_columns<T, false, int64_t>(ov, oi, x, outer, n, inner);
      }
    });
    return;
  }
  // One reduced dim (not coalesced: the index counts positions along `dim`).
  Plan p;
  for (int64_t d = 0; d < in.dim(); ++d) {
    if (d == dim) continue;
    p.kept_sizes.push_back(in.sizes[d]);
    p.kept_strides.push_back(in.strides[d]);
    p.out_numel *= in.sizes[d];
  }
  const int64_t n = in.dim() ? in.sizes[dim] : 1, st = in.dim() ? in.strides[dim] : 1;
  FLB_DISPATCH_NUMERIC(in.dtype, "max", [&] {
    using T = scalar_t;
    const T* x = in.data<T>();
    int64_t* oi = indices.data<int64_t>();
    T* ov = values ? values->data<T>() : nullptr;
    if constexpr (std::is_floating_point_v<T>) {
      // Contiguous float rows (x.max(1), logits.argmax(-1)): the block fold of reduce_body.h, same
      // index and value as the loop below.
      if (st == 1 && n > 1) {
        const auto am = sum_loops<T>()->arg_max_min;
        parallel_for(p.out_numel, std::max<int64_t>(1, kGrain / n), [&](int64_t b, int64_t e) {
          for (int64_t o = b; o < e; ++o) {
            const T* r = x + kept_offset(p, o);
            const int64_t bi = am(r, n, is_max);
            oi[o] = bi;
            if (ov) ov[o] = r[bi];
          }
        });
        return;
      }
    }
    parallel_for(p.out_numel, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* r = x + kept_offset(p, o);
        T best = r[0];
        int64_t bi = 0;
        if (!is_nan(best)) {
          for (int64_t i = 1; i < n; ++i) {
            T v = r[i * st];
            if (is_nan(v)) { best = v; bi = i; break; }
            if (is_max ? v > best : v < best) { best = v; bi = i; }
          }
        }
        oi[o] = bi;
        if (ov) ov[o] = best;
      }
    });
  });
}

}  // namespace flambeau::cpu
