// F.pdist's forward and backward loops (csrc/cpu/simd/pdist_body.h, pdist_backward_body.h) on 256-bit registers: 8 float32 or 4 float64
// lanes, ATen's AVX2 Vectorized<T> width, with its lane reductions (float: the shuffle tree of
// VecReduceAllSIMD; double: lane by lane). Called by csrc/cpu/distance.cpp on the AVX2 capability.
#pragma GCC optimize("fp-contract=off")
#include <immintrin.h>
#include <cmath>
#include <cstdint>
#include "cpu/simd/pdist_simd.h"

namespace flambeau::cpu::pdist_simd {
namespace {

template <class T>
struct VT;

template <>
struct VT<float> {
  using R = __m256;
  static constexpr int W = 8;
  static inline __m256i first(int n) {  // all ones in lanes < n
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static inline R load(const float* p) { return _mm256_loadu_ps(p); }
  static inline R loadn(const float* p, int n) { return _mm256_maskload_ps(p, first(n)); }
  static inline void store(float* p, R v) { _mm256_storeu_ps(p, v); }
  static inline R set1(float v) { return _mm256_set1_ps(v); }
  static inline R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static inline R add(R a, R b) { return _mm256_add_ps(a, b); }
  static inline R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static inline R abs(R a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), a); }
  static inline R ceil(R a) { return _mm256_ceil_ps(a); }
  // ATen's vec::minimum / maximum: NaN where either operand is NaN
  static inline R min_nan(R a, R b) { return _mm256_or_ps(_mm256_min_ps(a, b), _mm256_cmp_ps(a, b, _CMP_UNORD_Q)); }
  static inline R max_nan(R a, R b) { return _mm256_or_ps(_mm256_max_ps(a, b), _mm256_cmp_ps(a, b, _CMP_UNORD_Q)); }
  static inline R set_first(R acc, R v, int n) { return _mm256_blendv_ps(acc, v, _mm256_castsi256_ps(first(n))); }
  static inline void storen(float* p, R v, int n) { _mm256_maskstore_ps(p, first(n), v); }
  static inline R div(R a, R b) { return _mm256_div_ps(a, b); }
  static inline R band(R a, R b) { return _mm256_and_ps(a, b); }
  static inline R gt(R a, R b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static inline R eq(R a, R b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  template <class Op>
  static inline float tree(R v, Op op) {  // lanes l and l ^ 4, then l ^ 2, l ^ 1
    v = op(v, _mm256_permute2f128_ps(v, v, 0x1));
    v = op(v, _mm256_shuffle_ps(v, v, 0x4E));
    v = op(v, _mm256_shuffle_ps(v, v, 0xB1));
    return _mm256_cvtss_f32(v);
  }
  static inline float reduce_add(R v) { return tree(v, add); }
  static inline float reduce_max(R v) { return tree(v, max_nan); }
};

template <>
struct VT<double> {
  using R = __m256d;
  static constexpr int W = 4;
  static inline __m256i first(int n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static inline R load(const double* p) { return _mm256_loadu_pd(p); }
  static inline R loadn(const double* p, int n) { return _mm256_maskload_pd(p, first(n)); }
  static inline void store(double* p, R v) { _mm256_storeu_pd(p, v); }
  static inline R set1(double v) { return _mm256_set1_pd(v); }
  static inline R sub(R a, R b) { return _mm256_sub_pd(a, b); }
  static inline R add(R a, R b) { return _mm256_add_pd(a, b); }
  static inline R mul(R a, R b) { return _mm256_mul_pd(a, b); }
  static inline R abs(R a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
  static inline R ceil(R a) { return _mm256_ceil_pd(a); }
  static inline R min_nan(R a, R b) { return _mm256_or_pd(_mm256_min_pd(a, b), _mm256_cmp_pd(a, b, _CMP_UNORD_Q)); }
  static inline R max_nan(R a, R b) { return _mm256_or_pd(_mm256_max_pd(a, b), _mm256_cmp_pd(a, b, _CMP_UNORD_Q)); }
  static inline R set_first(R acc, R v, int n) { return _mm256_blendv_pd(acc, v, _mm256_castsi256_pd(first(n))); }
  static inline void storen(double* p, R v, int n) { _mm256_maskstore_pd(p, first(n), v); }
  static inline R div(R a, R b) { return _mm256_div_pd(a, b); }
  static inline R band(R a, R b) { return _mm256_and_pd(a, b); }
  static inline R gt(R a, R b) { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
  static inline R eq(R a, R b) { return _mm256_cmp_pd(a, b, _CMP_EQ_OQ); }
  // ATen has no shuffle tree for double: lane 0, + lane 1, + lane 2, + lane 3 in order
  static inline double reduce_add(R v) {
    alignas(32) double l[4];
    _mm256_store_pd(l, v);
    return ((l[0] + l[1]) + l[2]) + l[3];
  }
  static inline double reduce_max(R v) {
    alignas(32) double l[4];
    _mm256_store_pd(l, v);
    double r = l[0];
    for (int i = 1; i < 4; ++i) r = (r != r || l[i] != l[i]) ? r + l[i] : (r > l[i] ? r : l[i]);
    return r;
  }
};

#include "cpu/simd/pdist_body.h"
#include "cpu/simd/pdist_backward_body.h"

}  // namespace

F32Fn f32_avx2() { return &pdist_rows<float>; }
F64Fn f64_avx2() { return &pdist_rows<double>; }
BwdF32Fn bwd_f32_avx2() { return &pdist_backward_cols<float>; }
BwdF64Fn bwd_f64_avx2() { return &pdist_backward_cols<double>; }

}  // namespace flambeau::cpu::pdist_simd
