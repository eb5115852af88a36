// The inner loops of the sum-type reductions (csrc/cpu/reduce.cpp), written once and compiled once
// per instruction set: inside reduce.cpp (portable: SSE2), and by csrc/cpu/simd/reduce_avx2.cpp and
// reduce_avx512.cpp. GCC's generic vectors (vector_size) of one native register (dv below: 8
// doubles in a zmm with AVX-512, 4 in a ymm with AVX2, 2 in an xmm with SSE2) state the width, so
// the compiler does not have to discover it (a 64-byte generic vector in the AVX2 build went through
// the stack).
//
// Same bits on every instruction set: the sums are float64 (float32 input: float partials of 8
// elements per lane first, see fold_sum) in a fixed order that does not depend on the vector width. Lane j of 32 accumulators takes the elements i = j (mod 32) in order, then the
// lanes are added pairwise (lane j + 16, then + 8, + 4, + 2, + 1); rows below 32 elements have four
// running sums (fold_sum). 32 independent chains keep the float64 add latency from bounding the loop (the
// previous loop, 8 scalar chains in the baseline build, summed 1M floats at 0.6x PyTorch's float
// sum). The leaf files turn off a*b+c contraction.
//
// Included only inside an anonymous namespace, after <cstdint>, <cstring>, <immintrin.h> and
// cpu/simd/reduce_simd.h (no include guard: every includer needs its own copy).

// dv: one native register of doubles for the build (kW lanes); kAcc of them make the 32 lanes.
#if defined(__AVX512F__)
typedef double dv __attribute__((vector_size(64)));
#elif defined(__AVX__)
typedef double dv __attribute__((vector_size(32)));
#else
typedef double dv __attribute__((vector_size(16)));
#endif
constexpr int kW = (int)(sizeof(dv) / sizeof(double));
constexpr int kAcc = 32 / kW;

// kW consecutive elements as doubles (one conversion instruction for float).
template <class T>
inline dv load_dv(const T* p) {
  if constexpr (sizeof(T) == 4) {
#if defined(__AVX512F__)
    return (dv)_mm512_cvtps_pd(_mm256_loadu_ps(p));
#elif defined(__AVX__)
    return (dv)_mm256_cvtps_pd(_mm_loadu_ps(p));
#else
    return (dv)_mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
#endif
  } else {
    dv v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
}

// The pairwise fold of the 32 lanes (lane j += lane j + w for w = 16, 8, ..., 1), its first steps as
// whole-register additions (lane j + w is register k + w / kW when w >= kW): the same additions.
inline double fold_lanes(dv* acc) {
#pragma GCC unroll 4
  for (int w = 16; w >= kW; w /= 2)
#pragma GCC unroll 4
    for (int k = 0; k < w / kW; ++k) acc[k] += acc[k + w / kW];
  double a[kW];
  std::memcpy(a, &acc[0], sizeof a);
#pragma GCC unroll 4
  for (int w = kW / 2; w >= 1; w /= 2)
#pragma GCC unroll 4
    for (int j = 0; j < w; ++j) a[j] += a[j + w];
  return a[0];
}

// SQ: the sum of (x - c)^2 (d = x - c in float64, then d * d added), else of x.
// Below 32 elements, four running sums (element i into sum i % 4), then (s0 + s1) + (s2 + s3): the 31
// lane additions would cost more than such a row, and one running sum is a chain of n additions.
template <class T, bool SQ>
inline double fold_sum(const T* x, int64_t n, double c) {
  auto t = [c](T v) {  // one scalar term
    double d = (double)v - (SQ ? c : 0.0);
    return SQ ? d * d : d;
  };
  if (n < 32) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) s0 += t(x[i]), s1 += t(x[i + 1]), s2 += t(x[i + 2]), s3 += t(x[i + 3]);
    if (i < n) s0 += t(x[i]);
    if (i + 1 < n) s1 += t(x[i + 1]);
    if (i + 2 < n) s2 += t(x[i + 2]);
    return (s0 + s1) + (s2 + s3);
  }
  dv acc[kAcc] = {};
  const dv vc = dv{} + c;
  int64_t i = 0;
  if constexpr (!SQ && sizeof(T) == 4) {
    // float sums: each block of kFloatBlock elements is summed in 32 float lanes first (lane j takes
    // the block's elements j (mod 32), 8 of them, in order), and each lane's partial then joins float64
    // lane j. One conversion and one float64 addition per 8 elements of a lane instead of per element:
    // the loop was bound by the conversions (0.72-0.78x PyTorch's float cascade on 1M-4M floats in
    // cache, Zen 3). Each partial has at most 7 float roundings (relative 4e-7 of the lane's |x|), still
    // below PyTorch's float32 summation error; the lanes' arithmetic is the same on every instruction
    // set, so are the bits.
    typedef float fv __attribute__((vector_size(sizeof(dv))));
    constexpr int kWf = 2 * kW, kAccF = 32 / kWf, kFloatBlock = 256;
    for (; i + kFloatBlock <= n; i += kFloatBlock) {
      fv f[kAccF] = {};
#pragma GCC unroll 8
      for (int r = 0; r < kFloatBlock; r += 32)
#pragma GCC unroll 8
        for (int k = 0; k < kAccF; ++k) {
          fv v;
          std::memcpy(&v, x + i + r + k * kWf, sizeof v);
          f[k] += v;
        }
      float fa[32];
      std::memcpy(fa, f, sizeof fa);
#pragma GCC unroll 16
      for (int k = 0; k < kAcc; ++k) acc[k] += load_dv(fa + k * kW);
    }
  }
  for (; i + 32 <= n; i += 32) {
#pragma GCC unroll 16
    for (int k = 0; k < kAcc; ++k) {
      dv v = load_dv(x + i + k * kW);
      if constexpr (SQ) {
        dv d = v - vc;
        acc[k] += d * d;
      } else {
        acc[k] += v;
      }
    }
  }
  if (i < n) {  // the last n - i < 32 elements: lane j takes element i + j
    double a[32];
    std::memcpy(a, acc, sizeof a);
    for (int j = 0; i + j < n; ++j) a[j] += t(x[i + j]);
    std::memcpy(acc, a, sizeof a);
  }
  return fold_lanes(acc);
}

template <class T>
double sum(const T* x, int64_t n) { return fold_sum<T, false>(x, n, 0.0); }
// out[r] = sum of row r of x ([nrows, n], contiguous) times scale, rounded to T: the rows of a
// last-dims sum or mean in one call (a call per row cost more than a 64-element row).
template <class T>
void sum_rows(T* out, const T* x, int64_t nrows, int64_t n, double scale) {
  for (int64_t r = 0; r < nrows; ++r) out[r] = (T)(fold_sum<T, false>(x + r * n, n, 0.0) * scale);
}
template <class T>
double sum_sq(const T* x, int64_t n, double c) { return fold_sum<T, true>(x, n, c); }

// acc[j] += x[r * ld + j] for r = 0 .. nrows-1 in order (the outer reductions: a [N, C] batch summed
// over N adds its rows into per-column float64 sums). Four rows per pass over acc, still added one
// after another per column: the same bits as row by row, with a quarter of the accumulator loads
// and stores (row by row ran at 0.9x PyTorch on one thread).
template <class T>
void add_rows(double* __restrict acc, const T* __restrict x, int64_t ld, int64_t nrows, int64_t n) {
  int64_t r = 0;
  for (; r + 4 <= nrows; r += 4) {
    const T* __restrict x0 = x + r * ld;
    const T* __restrict x1 = x0 + ld;
    const T* __restrict x2 = x1 + ld;
    const T* __restrict x3 = x2 + ld;
    for (int64_t j = 0; j < n; ++j) acc[j] = (((acc[j] + (double)x0[j]) + (double)x1[j]) + (double)x2[j]) + (double)x3[j];
  }
  for (; r < nrows; ++r) {
    const T* __restrict xr = x + r * ld;
    for (int64_t j = 0; j < n; ++j) acc[j] += (double)xr[j];
  }
}

// The max (MAX) or min of x[0..n), n > 0, as the branch-free fold `v > r ? v : r`, in four
// accumulators of one native register each (independent chains: the baseline SSE2 loop of one chain
// ran at 0.6-0.8x PyTorch's whole-tensor max); a NaN anywhere sets *nan (the caller returns NaN),
// so what the lanes do with NaN does not matter.
typedef float fv __attribute__((vector_size(sizeof(dv))));
typedef int32_t fmask __attribute__((vector_size(sizeof(dv))));
typedef int64_t dmask __attribute__((vector_size(sizeof(dv))));
template <class T> struct VecOf;
template <> struct VecOf<float> { typedef fv V; typedef fmask M; };
template <> struct VecOf<double> { typedef dv V; typedef dmask M; };

template <class T, bool MAX>
T max_min_fold(const T* x, int64_t n, char* nan) {
  using V = typename VecOf<T>::V;
  using M = typename VecOf<T>::M;
  constexpr int L = (int)(sizeof(V) / sizeof(T));
  auto pick = [](auto v, auto r) { return MAX ? (v > r ? v : r) : (v < r ? v : r); };
  T r = x[0];
  bool seen = false;
  int64_t i = 0;
  if (n >= 4 * L) {
    V a0, a1, a2, a3;
    std::memcpy(&a0, x, sizeof(V));
    std::memcpy(&a1, x + L, sizeof(V));
    std::memcpy(&a2, x + 2 * L, sizeof(V));
    std::memcpy(&a3, x + 3 * L, sizeof(V));
    M bad = {};
    for (; i + 4 * L <= n; i += 4 * L) {
      V v0, v1, v2, v3;
      std::memcpy(&v0, x + i, sizeof(V));
      std::memcpy(&v1, x + i + L, sizeof(V));
      std::memcpy(&v2, x + i + 2 * L, sizeof(V));
      std::memcpy(&v3, x + i + 3 * L, sizeof(V));
      a0 = pick(v0, a0), a1 = pick(v1, a1), a2 = pick(v2, a2), a3 = pick(v3, a3);
      bad |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);
    }
    V a = pick(pick(a0, a1), pick(a2, a3));
    T lanes[L];
    std::memcpy(lanes, &a, sizeof a);
    for (int j = 0; j < L; ++j) r = pick(lanes[j], r);
    for (int j = 0; j < L; ++j) seen = seen || bad[j] != 0;
  }
  for (; i < n; ++i) {
    r = pick(x[i], r);
    seen = seen || x[i] != x[i];
  }
  if (seen) *nan = 1;
  return r;
}
template <class T>
T max_min(const T* x, int64_t n, bool is_max, char* nan) {
  return is_max ? max_min_fold<T, true>(x, n, nan) : max_min_fold<T, false>(x, n, nan);
}

// The first i in [0, n) with x[i] == v, or (NaN) with x[i] != x[i]; n when there is none. One
// compare and mask test per native register, leaving at the first hit (arg_max_min's second pass,
// over a block still in L1).
template <class T, bool NaN>
int64_t find_first(const T* x, int64_t n, T v) {
  int64_t i = 0;
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) {
    const __m512 vv = _mm512_set1_ps(v);
    for (; i + 16 <= n; i += 16) {
      const __m512 a = _mm512_loadu_ps(x + i);
      const unsigned k = NaN ? _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q) : _mm512_cmp_ps_mask(a, vv, _CMP_EQ_OQ);
      if (k) return i + __builtin_ctz(k);
    }
  } else {
    const __m512d vv = _mm512_set1_pd(v);
    for (; i + 8 <= n; i += 8) {
      const __m512d a = _mm512_loadu_pd(x + i);
      const unsigned k = NaN ? _mm512_cmp_pd_mask(a, a, _CMP_UNORD_Q) : _mm512_cmp_pd_mask(a, vv, _CMP_EQ_OQ);
      if (k) return i + __builtin_ctz(k);
    }
  }
#elif defined(__AVX__)
  if constexpr (sizeof(T) == 4) {
    const __m256 vv = _mm256_set1_ps(v);
    for (; i + 8 <= n; i += 8) {
      const __m256 a = _mm256_loadu_ps(x + i);
      const int k = _mm256_movemask_ps(NaN ? _mm256_cmp_ps(a, a, _CMP_UNORD_Q) : _mm256_cmp_ps(a, vv, _CMP_EQ_OQ));
      if (k) return i + __builtin_ctz(k);
    }
  } else {
    const __m256d vv = _mm256_set1_pd(v);
    for (; i + 4 <= n; i += 4) {
      const __m256d a = _mm256_loadu_pd(x + i);
      const int k = _mm256_movemask_pd(NaN ? _mm256_cmp_pd(a, a, _CMP_UNORD_Q) : _mm256_cmp_pd(a, vv, _CMP_EQ_OQ));
      if (k) return i + __builtin_ctz(k);
    }
  }
#else
  if constexpr (sizeof(T) == 4) {
    const __m128 vv = _mm_set1_ps(v);
    for (; i + 4 <= n; i += 4) {
      const __m128 a = _mm_loadu_ps(x + i);
      const int k = _mm_movemask_ps(NaN ? _mm_cmpunord_ps(a, a) : _mm_cmpeq_ps(a, vv));
      if (k) return i + __builtin_ctz(k);
    }
  } else {
    const __m128d vv = _mm_set1_pd(v);
    for (; i + 2 <= n; i += 2) {
      const __m128d a = _mm_loadu_pd(x + i);
      const int k = _mm_movemask_pd(NaN ? _mm_cmpunord_pd(a, a) : _mm_cmpeq_pd(a, vv));
      if (k) return i + __builtin_ctz(k);
    }
  }
#endif
  for (; i < n; ++i)
    if (NaN ? x[i] != x[i] : x[i] == v) return i;
  return n;
}

// The index of the max (MAX) or min of x[0..n), n > 0, as PyTorch's max(dim) / argmax pick it: the
// first NaN if there is one, else the first element equal to the extreme (strict comparison; +0 and
// -0 are equal, so the first of them wins and its value is the one returned: the caller reads
// x[index]). The scalar loop (a compare and a branch per element) left x.max(1) of [1024, 1024] at
// 0.48x PyTorch. Here each block of kArgBlock elements is folded by max_min_fold (branch-free, four
// registers); only a block whose extreme beats the running one (or holds a NaN) is scanned again,
// from L1, for the first position of that value. Rows shorter than four registers stay scalar.
template <class T, bool MAX>
int64_t arg_max_min_fold(const T* x, int64_t n) {
  constexpr int64_t L = (int64_t)(sizeof(dv) / sizeof(T)), kArgBlock = 2048;
  T best = x[0];
  int64_t bi = 0;
  if (best != best) return 0;
  if (n < 4 * L) {
    for (int64_t i = 1; i < n; ++i) {
      const T v = x[i];
      if (v != v) return i;
      if (MAX ? v > best : v < best) best = v, bi = i;
    }
    return bi;
  }
  for (int64_t b = 0; b < n; b += kArgBlock) {
    const int64_t m = n - b < kArgBlock ? n - b : kArgBlock;
    char nan = 0;
    const T v = max_min_fold<T, MAX>(x + b, m, &nan);
    if (nan) return b + find_first<T, true>(x + b, m, v);
    if (MAX ? v > best : v < best) best = v, bi = b + find_first<T, false>(x + b, m, v);
  }
  return bi;
}
template <class T>
int64_t arg_max_min(const T* x, int64_t n, bool is_max) {
  return is_max ? arg_max_min_fold<T, true>(x, n) : arg_max_min_fold<T, false>(x, n);
}

// s times the product of x[0..n) in float64, in a fixed order that does not depend on the vector
// width (multiplications only, so every build gives the same bits):
//  - n >= 64: the 32 lanes of fold_sum (lane j takes the elements i = j mod 32, the last partial
//    block included), joined pairwise (lane j *= lane j + w for w = 16, 8, ..., 1), into s;
//  - 16 <= n < 64: eight running products over the first n - n % 8 elements, joined as
//    ((q0 q1)(q2 q3))((q4 q5)(q6 q7)) into s, then the rest one by one;
//  - shorter rows one element at a time.
// One chain per eight elements (the baseline build's scalar products) left prod(1) of [1024, 1024]
// float32 latency-bound at 0.5x PyTorch.
template <class T>
double prod(const T* x, int64_t n, double s) {
  int64_t i = 0;
  if (n >= 64) {
    dv acc[kAcc];
#pragma GCC unroll 16
    for (int k = 0; k < kAcc; ++k) acc[k] = dv{} + 1.0;  // unrolled, as the loop below: acc stays in registers
    for (; i + 32 <= n; i += 32)
#pragma GCC unroll 16
      for (int k = 0; k < kAcc; ++k) acc[k] *= load_dv(x + i + k * kW);
    double a[32];
    std::memcpy(a, acc, sizeof a);
    for (int j = 0; i + j < n; ++j) a[j] *= (double)x[i + j];
    for (int w = 16; w >= 1; w /= 2)
      for (int j = 0; j < w; ++j) a[j] *= a[j + w];
    return s * a[0];
  }
  if (n >= 16) {
    double q[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; ++k) q[k] *= (double)x[i + k];
    s *= ((q[0] * q[1]) * (q[2] * q[3])) * ((q[4] * q[5]) * (q[6] * q[7]));
  }
  for (; i < n; ++i) s *= (double)x[i];
  return s;
}

struct ReduceTables {
  template <class T>
  static const flambeau::cpu::sums::Fns<T>* make() {
    static const flambeau::cpu::sums::Fns<T> t{&sum<T>, &sum_rows<T>, &sum_sq<T>, &add_rows<T>, &max_min<T>, &prod<T>, &arg_max_min<T>};
    return &t;
  }
  static const flambeau::cpu::sums::Fns<float>* f32() { return make<float>(); }
  static const flambeau::cpu::sums::Fns<double>* f64() { return make<double>(); }
};
