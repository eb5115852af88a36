// Sorting and selection along one dim: sort, topk, kthvalue, median.
//
// How. The input is made contiguous and seen as [outer, n, inner] (n = the size of `dim`). Rows are
// processed in blocks of B adjacent rows (B consecutive `inner` positions, B <= 16), so that when
// dim is not the last one each cache line read from the input serves B rows; the block is gathered
// (transposed) into contiguous buffers: the values, and one sort key per element. Blocks run in
// parallel (cpu/parallel.h), each thread with its own buffers.
//
// The key is what makes every op here simple and deterministic: each value is mapped to an unsigned
// integer whose order is the value order of PyTorch's comparators — NaN is the largest value, -0.0
// equals +0.0 (both map to one key), int64 by flipping the sign bit — and bit-inverted for a
// descending order; the element's index is the low part of the key. Keys are then all distinct and
// compare as one integer (float32/bool: 32-bit key << 32 | index in one uint64; float64/int64: a
// (key, index) pair), so
//   - std::sort of the keys is a *stable* sort (equal values keep increasing index, also in
//     descending order, and NaNs keep their order), as torch.sort(stable=True) on the CPU;
//   - topk/kthvalue/median by nth_element / partial_sort return well-defined indices: among equal
//     values the lower index comes first. PyTorch's own CPU topk/kthvalue compare values only, so
//     its choice among ties is whatever its selection algorithm leaves (not the lower index in
//     general); values always match it, indices match wherever the selection is tie-free.
// Output values are read back from the gathered row by index, so they are bit-identical to the input
// (signed zeros and NaN payloads kept).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>
#include "core/cpu_allocator.h"
#include "core/view.h"
#include "cpu/parallel.h"
#include "cpu/sort_kernels.h"

namespace flambeau::cpu {

namespace {

// ---- order-preserving unsigned keys
// Branch-free (selects, not jumps): a branch on the sign bit mispredicted on half of a random row,
// and cost topk's one-pass scan most of its time.
inline uint64_t ordered(float v) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  uint32_t k = b ^ ((uint32_t)((int32_t)b >> 31) | 0x80000000u);  // negative: all bits flipped; else the sign bit
  k = v == 0.0f ? 0x80000000u : k;                                 // -0 as +0
  return std::isnan(v) ? 0xFFFFFFFFu : k;
}
inline uint64_t ordered(double v) {
  uint64_t b;
  std::memcpy(&b, &v, 8);
  uint64_t k = b ^ ((uint64_t)((int64_t)b >> 63) | (1ull << 63));
  k = v == 0.0 ? (1ull << 63) : k;
  return std::isnan(v) ? ~0ull : k;
}
inline uint64_t ordered(int64_t v) { return (uint64_t)v ^ (1ull << 63); }
inline uint64_t ordered(bool v) { return v ? 1u : 0u; }

template <class T> constexpr bool is_narrow = sizeof(T) <= 4;  // float, bool: 32-bit keys

// One key per element: Packed (narrow key and index < 2^32 in one uint64) or Wide (a pair).
struct Packed {
  using K = uint64_t;
  static K make(uint64_t u, int64_t i) { return (u << 32) | (uint64_t)i; }
  static int64_t index(K k) { return (int64_t)(k & 0xFFFFFFFFu); }
  static uint64_t value(K k) { return k >> 32; }
};
struct Wide {
  struct K {
    uint64_t u, i;
    bool operator<(const K& o) const { return u < o.u || (u == o.u && i < o.i); }
  };
  static K make(uint64_t u, int64_t i) { return K{u, (uint64_t)i}; }
  static int64_t index(K k) { return (int64_t)k.i; }
  static uint64_t value(K k) { return k.u; }
};

struct Layout {
  int64_t outer, n, inner;
};
Layout layout(const Shape& s, int64_t dim) {
  Layout L{1, s[dim], 1};
  for (int64_t d = 0; d < dim; ++d) L.outer *= s[d];
  for (int64_t d = dim + 1; d < (int64_t)s.size(); ++d) L.inner *= s[d];
  return L;
}

// The driver. For each row: `pick(keys, vals, n)` reorders the row's keys and returns a pointer to
// the `m` keys to write out (as values, indices) at positions 0..m-1 along the output's dim.
template <class T, class KP, class Pick>
void run_rows(const Tensor& values, const Tensor& indices, const Tensor& x_in, int64_t dim, bool invert, int64_t m,
              Pick pick) {
  using K = typename KP::K;
  Tensor x = contiguous(x_in);
  const Layout L = layout(x.sizes, dim);
  const int64_t n = L.n, inner = L.inner;
  if (L.outer * inner == 0 || m == 0) return;
  const T* xp = x.data<T>();
  T* vp = values.data<T>();
  int64_t* ip = indices.data<int64_t>();
  const uint64_t mask = is_narrow<T> ? 0xFFFFFFFFull : ~0ull;
  const uint64_t flip = invert ? mask : 0;
  // Rows per block: up to 16 adjacent inner positions, fewer for long rows (bounded buffers).
  const int64_t B = std::max<int64_t>(1, std::min<int64_t>({16, inner, (1 << 16) / std::max<int64_t>(n, 1)}));
  const int64_t jblocks = (inner + B - 1) / B, nblocks = L.outer * jblocks;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n * B));
  parallel_for(nblocks, grain, [&](int64_t b0, int64_t b1) {
    cpu_alloc::Scratch<K> keys((size_t)(B * n));
    cpu_alloc::Scratch<T> vals((size_t)(B * n));  // not std::vector: vector<bool> has no data()
    std::vector<const K*> res((size_t)B);
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t o = blk / jblocks, j0 = (blk % jblocks) * B, nb = std::min(B, inner - j0);
      // Local restrict pointers: through the lambda's captures (-fno-strict-aliasing) every store
      // made the loops reload them, and these two loops were 60% of the sort of 64K int64.
      const T* __restrict src = xp + o * n * inner + j0;
      K* __restrict kb = keys.get();
      T* __restrict vb = vals.get();
      const int64_t nn = n, in = inner, nbb = nb;
      const uint64_t fl = flip;
      for (int64_t i = 0; i < nn; ++i) {
        const T* s = src + i * in;
        for (int64_t b = 0; b < nbb; ++b) {
          T v = s[b];
          vb[b * nn + i] = v;
          kb[b * nn + i] = KP::make(ordered(v) ^ fl, i);
        }
      }
      for (int64_t b = 0; b < nb; ++b) res[b] = pick(kb + b * n, vb + b * n, n);
      T* __restrict vo = vp + o * m * inner + j0;
      int64_t* __restrict io = ip + o * m * inner + j0;
      const int64_t mm = m;
      const K* const* rs = res.data();
      for (int64_t i = 0; i < mm; ++i) {  // b innermost: adjacent outputs when dim is not the last
        for (int64_t b = 0; b < nbb; ++b) {
          const K key = rs[b][i];
          const int64_t idx = KP::index(key);
          if constexpr (std::is_same_v<T, int64_t>)  // the key is the value (a bijection): no random read
            vo[i * in + b] = (int64_t)((KP::value(key) ^ fl) ^ (1ull << 63));
          else
            vo[i * in + b] = vb[b * nn + idx];
          io[i * in + b] = idx;
        }
      }
    }
  });
}

// Picks KP (Packed when the key is narrow and indices fit in 32 bits) and the element type.
template <class F>
void dispatch(const Tensor& x, int64_t dim, F&& f) {
  const bool narrow_ok = x.sizes[dim] <= (int64_t)0xFFFFFFFF;
  switch (x.dtype) {
    case DType::Float32:
      if (narrow_ok) f((float)0, Packed{});
      else f((float)0, Wide{});
      break;
    case DType::Bool:
      if (narrow_ok) f(false, Packed{});
      else f(false, Wide{});
      break;
    case DType::Float64: f(0.0, Wide{}); break;
    case DType::Int64: f((int64_t)0, Wide{}); break;
    default:  // the narrow integers are sorted as int64 by the ops layer
      throw TypeError(str_cat("sort: not implemented for dtype ", dtype_name(x.dtype)));
  }
}

}  // namespace

namespace {
// Long rows: an LSD radix sort on the value part of the keys. Each pass is a stable scatter and the
// keys start in index order, so equal values stay in index order: the same permutation as std::sort
// of (value, index), which compares the index too. std::sort of 16-byte pairs was 0.2x PyTorch on
// int64 rows (sort of 64K: 7.3 ms, PyTorch 1.6).
// Only the bits where the values differ are sorted on (an OR/AND pass finds them), in 11-bit digits
// from the lowest (2048 buckets: int64 labels in [0, 1024) take one pass, random float32 three,
// random int64 six). The one-byte digits over the whole key before, constant bytes included, made
// the sort of 64K int64 labels 0.69x PyTorch.
constexpr int64_t kRadixMin = 2048;

template <class KP>
void radix_sort(typename KP::K* k, int64_t n) {
  using K = typename KP::K;
  // A long row is cut into P parts (a thread each when the caller is not already running in
  // parallel, as for the one row of a 1-D sort): per pass, each part counts its digits, then
  // scatters to offsets that put part q's keys after those of parts < q in every bucket, so the
  // scatter stays stable and the result does not depend on P.
  const int64_t P = std::max<int64_t>(1, std::min<int64_t>(max_threads(), n / 16384));
  auto part = [n, P](int64_t q) { return q * n / P; };
  std::vector<uint64_t> ors((size_t)P, 0), ands((size_t)P, ~0ull);
  parallel_for(P, 1, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      uint64_t o = 0, a = ~0ull;
      const int64_t b = part(q), e = part(q + 1);  // locals: the loops re-read captures otherwise
      for (int64_t i = b; i < e; ++i) {
        const uint64_t v = KP::value(k[i]);
        o |= v;
        a &= v;
      }
      ors[q] = o;
      ands[q] = a;
    }
  });
  uint64_t all_or = 0, all_and = ~0ull;
  for (int64_t q = 0; q < P; ++q) all_or |= ors[q], all_and &= ands[q];
  const uint64_t varying = all_or ^ all_and;
  if (varying == 0) return;  // one value: index order is the order
  const int lo = __builtin_ctzll(varying), span = 64 - __builtin_clzll(varying) - lo;
  const int width = span < 11 ? span : 11, passes = (span + width - 1) / width;
  const int64_t buckets = int64_t(1) << width;
  const uint64_t digit_mask = (uint64_t)buckets - 1;
  std::vector<int64_t> count((size_t)(P * buckets));
  cpu_alloc::Scratch<K> tmp((size_t)n);
  K* src = k;
  K* dst = tmp.get();
  for (int p = 0; p < passes; ++p) {
    const int shift = lo + p * width;
    parallel_for(P, 1, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        int64_t* __restrict c = count.data() + q * buckets;
        const K* __restrict s = src;
        const int64_t b = part(q), e = part(q + 1), sh = shift;
        const uint64_t dm = digit_mask;
        std::fill(c, c + buckets, 0);
        for (int64_t i = b; i < e; ++i) ++c[(KP::value(s[i]) >> sh) & dm];
      }
    });
    int64_t pos = 0;
    for (int64_t d = 0; d < buckets; ++d)
      for (int64_t q = 0; q < P; ++q) {
        const int64_t cnt = count[(size_t)(q * buckets + d)];
        count[(size_t)(q * buckets + d)] = pos;
        pos += cnt;
      }
    parallel_for(P, 1, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        int64_t* __restrict c = count.data() + q * buckets;
        const K* __restrict s = src;
        K* __restrict o = dst;
        const int64_t b = part(q), e = part(q + 1), sh = shift;
        const uint64_t dm = digit_mask;
        for (int64_t i = b; i < e; ++i) o[c[(KP::value(s[i]) >> sh) & dm]++] = s[i];
      }
    });
    std::swap(src, dst);
  }
  if (src != k) std::copy(src, src + n, k);
}
}  // namespace

void sort(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim, bool descending) {
  dispatch(x, dim, [&](auto t, auto kp) {
    using T = decltype(t);
    using KP = decltype(kp);
    run_rows<T, KP>(values, indices, x, dim, descending, x.sizes[dim], [](typename KP::K* k, const T*, int64_t n) {
      if (n >= kRadixMin) radix_sort<KP>(k, n);
      else std::sort(k, k + n);
      return (const typename KP::K*)k;
    });
  });
}

namespace {
// k is small beside a row of n: a heap of the k best pays (one pass over the row) where a selection
// of the whole row would not.
inline bool small_k(int64_t k, int64_t n) { return k * 64 <= n; }

// topk of contiguous rows (inner == 1) for small k: one pass over each row with a max-heap of the k
// best keys so far, a new key entering only when it beats the heap's worst. The rows are read in
// place: no gathered copy of the values and no key per element in memory (the general driver wrote
// 12-16 bytes per element and read them back: topk(5) of [1024, 1024] at 0.6x PyTorch; now 1.0-1.2x,
// topk(1) 2x, topk(5) of [64, 50257] 3.4x). The same keys, so the same k elements in the same order
// as the partial sort of run_rows.
template <class T, class KP>
void topk_rows_small_k(const Tensor& values, const Tensor& indices, const Tensor& x_in, int64_t k, bool largest) {
  using K = typename KP::K;
  Tensor x = contiguous(x_in);
  const int64_t n = x.sizes.back(), rows = x.numel() / n;
  const T* xp = x.data<T>();
  T* vp = values.data<T>();
  int64_t* ip = indices.data<int64_t>();
  const uint64_t flip = largest ? (is_narrow<T> ? 0xFFFFFFFFull : ~0ull) : 0;
  parallel_for(rows, std::max<int64_t>(1, kGrain / n), [&, flip, k, n](int64_t r0, int64_t r1) {
    std::unique_ptr<K[]> heap(new K[(size_t)k]);
    for (int64_t r = r0; r < r1; ++r) {
      const T* row = xp + r * n;
      for (int64_t i = 0; i < k; ++i) heap[i] = KP::make(ordered(row[i]) ^ flip, i);
      std::make_heap(heap.get(), heap.get() + k);
      K worst = heap[0];
      auto offer = [&](int64_t i) {
        const K key = KP::make(ordered(row[i]) ^ flip, i);
        if (key < worst) {
          std::pop_heap(heap.get(), heap.get() + k);
          heap[k - 1] = key;
          std::push_heap(heap.get(), heap.get() + k);
          worst = heap[0];
        }
      };
      int64_t i = k;
      if constexpr (is_narrow<T>) {
        // 16 elements at a time, first a branch-free test of their 32-bit value keys against the
        // worst's (a later element with an equal value has a larger index, so it never enters):
        // the test vectorises, and almost every block of a long row fails it.
        for (; i + 16 <= n; i += 16) {
          const uint32_t limit = (uint32_t)(KP::value(worst));
          uint32_t any = 0;
#pragma omp simd reduction(| : any)
          for (int64_t j = 0; j < 16; ++j) any |= (uint32_t)(((uint32_t)ordered(row[i + j]) ^ (uint32_t)flip) < limit);
          if (any)
            for (int64_t j = 0; j < 16; ++j) offer(i + j);
        }
      }
      for (; i < n; ++i) offer(i);
      std::sort_heap(heap.get(), heap.get() + k);
      for (int64_t j = 0; j < k; ++j) {
        const int64_t idx = KP::index(heap[j]);
        vp[r * k + j] = row[idx];
        ip[r * k + j] = idx;
      }
    }
  });
}
}  // namespace

void topk(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t k, int64_t dim, bool largest) {
  dispatch(x, dim, [&](auto t, auto kp) {
    using T = decltype(t);
    using KP = decltype(kp);
    if (dim == x.dim() - 1 && k > 0 && small_k(k, x.sizes[dim]) && x.numel() > 0 && values.is_contiguous() &&
        indices.is_contiguous())
      return topk_rows_small_k<T, KP>(values, indices, x, k, largest);
    run_rows<T, KP>(values, indices, x, dim, largest, k, [k](typename KP::K* key, const T*, int64_t n) {
      // Small k: a heap-based partial sort touches the row once; otherwise select then sort the k.
      if (small_k(k, n)) {
        std::partial_sort(key, key + k, key + n);
      } else {
        std::nth_element(key, key + (k - 1), key + n);
        std::sort(key, key + (k - 1));
      }
      return (const typename KP::K*)key;
    });
  });
}

void kthvalue(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t k, int64_t dim) {
  dispatch(x, dim, [&](auto t, auto kp) {
    using T = decltype(t);
    using KP = decltype(kp);
    run_rows<T, KP>(values, indices, x, dim, false, 1, [k](typename KP::K* key, const T*, int64_t n) {
      std::nth_element(key, key + (k - 1), key + n);
      return (const typename KP::K*)(key + (k - 1));
    });
  });
}

void median(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim, bool ignore_nan) {
  dispatch(x, dim, [&](auto t, auto kp) {
    using T = decltype(t);
    using KP = decltype(kp);
    run_rows<T, KP>(values, indices, x, dim, false, 1, [ignore_nan](typename KP::K* key, const T* v, int64_t n) {
      int64_t nan_count = 0;
      if constexpr (std::is_floating_point_v<T>) {
        for (int64_t i = 0; i < n; ++i) {
          if (std::isnan(v[i])) {
            // median(): the first NaN of the row is the answer (the key at i has index i).
            if (!ignore_nan) return (const typename KP::K*)(key + i);
            ++nan_count;
          }
        }
      }
      const int64_t valid = n - nan_count;
      const int64_t k = valid > 0 ? (valid - 1) / 2 : 0;  // all-NaN row: the first NaN
      std::nth_element(key, key + k, key + n);
      return (const typename KP::K*)(key + k);
    });
  });
}

}  // namespace flambeau::cpu
