// F.pdist's forward for p = 0, 1, 2, inf, written over a vector type whose traits `VT` (register type
// R, width W, loads, arithmetic, the final lane reduction) csrc/cpu/simd/pdist_avx2.cpp defines before
// including this.
//
// The arithmetic is PyTorch's (ATen's Dist<T>::run_parallel_pdist over vec::map2_reduce_all, AVX2
// build), step by step, so that the distances are its bits (checked in tests/test_pdist_simd.py):
//   - one accumulator register per pair: the first W coordinates map(|a - b|), then each further full
//     W-chunk reduced into it lane by lane (red: + for p = 0, 1, 2, a NaN-propagating max for inf), then
//     the tail chunk (zero-filled loads) merged into its first M % W lanes only;
//   - the lanes reduced by VT::reduce_add / reduce_max (float: the shuffle tree; double: lane 0 + lane 1
//     + ... in order, ATen's generic path); with M < W, lane 0 + lane 1 + ... over the first M lanes;
//   - map: p = 0 min(ceil(|d|), 1), p = 1 |d|, p = 2 |d| * |d| (a product and a sum, never fused: the
//     leaf files turn contraction off), inf |d|; finish: sqrt for p = 2 in T (sqrtf for float32).
// PyTorch's own loop is one dependent chain of adds per pair; here four pairs with the same first row
// run interleaved (their chains overlap, the first row's chunk is loaded once), which changes no sum.
//
// Included only inside an anonymous namespace, after <cmath>, <cstdint>, the intrinsics header and the
// traits (no include guard: every includer needs its own copy).

template <class T, int NormK>
struct PdistLoop {
  using R = typename VT<T>::R;
  static constexpr int W = VT<T>::W;

  static inline R map(R a, R b) {
    if constexpr (NormK == pdist_simd::kTwo) {  // |d| * |d| is d * d to the bit: no abs (a quarter of the ops)
      const R d = VT<T>::sub(a, b);
      return VT<T>::mul(d, d);
    }
    const R d = VT<T>::abs(VT<T>::sub(a, b));
    if constexpr (NormK == pdist_simd::kZero) return VT<T>::min_nan(VT<T>::ceil(d), VT<T>::set1(T(1)));
    if constexpr (NormK == pdist_simd::kTwo) return VT<T>::mul(d, d);
    return d;
  }
  static inline R red(R x, R y) {
    if constexpr (NormK == pdist_simd::kInf) return VT<T>::max_nan(x, y);
    return VT<T>::add(x, y);
  }
  static inline T red1(T x, T y) {  // red on one lane
    if constexpr (NormK == pdist_simd::kInf) return (x != x || y != y) ? x + y : (x > y ? x : y);
    return x + y;
  }
  static inline T reduce(R v) {
    if constexpr (NormK == pdist_simd::kInf) return VT<T>::reduce_max(v);
    return VT<T>::reduce_add(v);
  }
  static inline T finish(T s) {
    if constexpr (NormK == pdist_simd::kTwo) return std::sqrt(s);
    return s;
  }

  // out[q] = the distance between rows a and b[q], q < P.
  template <int P>
  static inline void pairs(T* out, const T* a, const T* const* b, int64_t M) {
    if (M < W) {  // ATen's short path: one partial load, its first M lanes reduced in order
      const int n = (int)M;
      const R av = VT<T>::loadn(a, n);
      for (int q = 0; q < P; ++q) {
        T lanes[W];
        VT<T>::store(lanes, map(av, VT<T>::loadn(b[q], n)));
        T r = lanes[0];
        for (int l = 1; l < n; ++l) r = red1(r, lanes[l]);
        out[q] = finish(r);
      }
      return;
    }
    R acc[P];
    {
      const R av = VT<T>::load(a);
      for (int q = 0; q < P; ++q) acc[q] = map(av, VT<T>::load(b[q]));
    }
    const int64_t end = M - M % W;
    int64_t d = W;
    for (; d < end; d += W) {
      const R av = VT<T>::load(a + d);
      for (int q = 0; q < P; ++q) acc[q] = red(acc[q], map(av, VT<T>::load(b[q] + d)));
    }
    if (M - d > 0) {
      const int n = (int)(M - d);
      const R av = VT<T>::loadn(a + d, n);
      for (int q = 0; q < P; ++q) acc[q] = VT<T>::set_first(acc[q], red(acc[q], map(av, VT<T>::loadn(b[q] + d, n))), n);
    }
    for (int q = 0; q < P; ++q) out[q] = finish(reduce(acc[q]));
  }

  static void run(T* out, const T* x, int64_t N, int64_t M, int64_t i, int64_t j, int64_t count) {
    while (count > 0) {
      const int64_t len = count < N - j ? count : N - j;  // the pairs (i, j .. j + len - 1)
      const T* a = x + i * M;
      int64_t q = 0;
      for (; q + 4 <= len; q += 4) {
        const T* b[4] = {x + (j + q) * M, x + (j + q + 1) * M, x + (j + q + 2) * M, x + (j + q + 3) * M};
        pairs<4>(out + q, a, b, M);
      }
      for (; q < len; ++q) {
        const T* b[1] = {x + (j + q) * M};
        pairs<1>(out + q, a, b, M);
      }
      out += len;
      count -= len;
      ++i;
      j = i + 1;
    }
  }
};

template <class T>
void pdist_rows(T* out, const T* x, int64_t N, int64_t M, int norm, int64_t i, int64_t j, int64_t count) {
  switch (norm) {
    case pdist_simd::kZero: return PdistLoop<T, pdist_simd::kZero>::run(out, x, N, M, i, j, count);
    case pdist_simd::kOne: return PdistLoop<T, pdist_simd::kOne>::run(out, x, N, M, i, j, count);
    case pdist_simd::kTwo: return PdistLoop<T, pdist_simd::kTwo>::run(out, x, N, M, i, j, count);
    default: return PdistLoop<T, pdist_simd::kInf>::run(out, x, N, M, i, j, count);
  }
}
