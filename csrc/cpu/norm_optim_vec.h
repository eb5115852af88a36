// SSE2 sums in double for the normalization kernels (csrc/cpu/normalization.cpp; baseline x86-64).
//
// Why hand-written: the statistics and the backward sums are accumulated in double, and GCC will
// not vectorise a floating-point reduction without -ffast-math (reassociation). SSE2 is part of the
// x86-64 baseline, so these run on every CPU the wheel supports; with several independent
// accumulators they keep up with memory, which is the limit of these kernels.
//
// Everything is in an anonymous namespace: each including file gets its own internal copy, so no
// inline function here can ever be merged with a copy compiled under other ISA flags.
#pragma once
#include <cstdint>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace flambeau::cpu {
namespace {

// ---- sums in double for the normalization statistics -------------------------------------------

// s += sum(x[i] - K), q += sum((x[i] - K)^2). With K a sample of the data (close to the mean),
// the one-pass variance q/n - (s/n)^2 has no catastrophic cancellation, and double accumulation
// keeps the rounding error far below float precision for any realistic n.
inline void shifted_sums(const float* x, int64_t n, double K, double& s, double& q) {
  int64_t i = 0;
#if defined(__SSE2__)
  __m128d k = _mm_set1_pd(K);
  __m128d s0 = _mm_setzero_pd(), s1 = s0, s2 = s0, s3 = s0, q0 = s0, q1 = s0, q2 = s0, q3 = s0;
  for (; i + 8 <= n; i += 8) {
    __m128 a = _mm_loadu_ps(x + i), b = _mm_loadu_ps(x + i + 4);
    __m128d d0 = _mm_sub_pd(_mm_cvtps_pd(a), k);
    __m128d d1 = _mm_sub_pd(_mm_cvtps_pd(_mm_movehl_ps(a, a)), k);
    __m128d d2 = _mm_sub_pd(_mm_cvtps_pd(b), k);
    __m128d d3 = _mm_sub_pd(_mm_cvtps_pd(_mm_movehl_ps(b, b)), k);
    s0 = _mm_add_pd(s0, d0); q0 = _mm_add_pd(q0, _mm_mul_pd(d0, d0));
    s1 = _mm_add_pd(s1, d1); q1 = _mm_add_pd(q1, _mm_mul_pd(d1, d1));
    s2 = _mm_add_pd(s2, d2); q2 = _mm_add_pd(q2, _mm_mul_pd(d2, d2));
    s3 = _mm_add_pd(s3, d3); q3 = _mm_add_pd(q3, _mm_mul_pd(d3, d3));
  }
  __m128d ss = _mm_add_pd(_mm_add_pd(s0, s1), _mm_add_pd(s2, s3));
  __m128d qq = _mm_add_pd(_mm_add_pd(q0, q1), _mm_add_pd(q2, q3));
  double sb[2], qb[2];
  _mm_storeu_pd(sb, ss);
  _mm_storeu_pd(qb, qq);
  s += sb[0] + sb[1];
  q += qb[0] + qb[1];
#endif
  for (; i < n; ++i) {
    double d = (double)x[i] - K;
    s += d;
    q += d * d;
  }
}

inline void shifted_sums(const double* x, int64_t n, double K, double& s, double& q) {
  int64_t i = 0;
#if defined(__SSE2__)
  __m128d k = _mm_set1_pd(K);
  __m128d s0 = _mm_setzero_pd(), s1 = s0, q0 = s0, q1 = s0;
  for (; i + 4 <= n; i += 4) {
    __m128d d0 = _mm_sub_pd(_mm_loadu_pd(x + i), k);
    __m128d d1 = _mm_sub_pd(_mm_loadu_pd(x + i + 2), k);
    s0 = _mm_add_pd(s0, d0); q0 = _mm_add_pd(q0, _mm_mul_pd(d0, d0));
    s1 = _mm_add_pd(s1, d1); q1 = _mm_add_pd(q1, _mm_mul_pd(d1, d1));
  }
  double sb[2], qb[2];
  _mm_storeu_pd(sb, _mm_add_pd(s0, s1));
  _mm_storeu_pd(qb, _mm_add_pd(q0, q1));
  s += sb[0] + sb[1];
  q += qb[0] + qb[1];
#endif
  for (; i < n; ++i) {
    double d = x[i] - K;
    s += d;
    q += d * d;
  }
}

// a += sum(dy[i]), b += sum(dy[i] * (x[i] - m)), in double: the two sums every normalization
// backward needs (centred on the saved mean, so no cancellation).
inline void grad_sums(const float* dy, const float* x, int64_t n, double m, double& a, double& b) {
  int64_t i = 0;
#if defined(__SSE2__)
  __m128d mm = _mm_set1_pd(m);
  __m128d a0 = _mm_setzero_pd(), a1 = a0, b0 = a0, b1 = a0;
  for (; i + 4 <= n; i += 4) {
    __m128 g = _mm_loadu_ps(dy + i), v = _mm_loadu_ps(x + i);
    __m128d g0 = _mm_cvtps_pd(g), g1 = _mm_cvtps_pd(_mm_movehl_ps(g, g));
    __m128d x0 = _mm_sub_pd(_mm_cvtps_pd(v), mm), x1 = _mm_sub_pd(_mm_cvtps_pd(_mm_movehl_ps(v, v)), mm);
    a0 = _mm_add_pd(a0, g0); b0 = _mm_add_pd(b0, _mm_mul_pd(g0, x0));
    a1 = _mm_add_pd(a1, g1); b1 = _mm_add_pd(b1, _mm_mul_pd(g1, x1));
  }
  double ab[2], bb[2];
  _mm_storeu_pd(ab, _mm_add_pd(a0, a1));
  _mm_storeu_pd(bb, _mm_add_pd(b0, b1));
  a += ab[0] + ab[1];
  b += bb[0] + bb[1];
#endif
  for (; i < n; ++i) {
    double g = dy[i];
    a += g;
    b += g * ((double)x[i] - m);
  }
}

inline void grad_sums(const double* dy, const double* x, int64_t n, double m, double& a, double& b) {
  int64_t i = 0;
#if defined(__SSE2__)
  __m128d mm = _mm_set1_pd(m);
  __m128d a0 = _mm_setzero_pd(), a1 = a0, b0 = a0, b1 = a0;
  for (; i + 4 <= n; i += 4) {
    __m128d g0 = _mm_loadu_pd(dy + i), g1 = _mm_loadu_pd(dy + i + 2);
    __m128d x0 = _mm_sub_pd(_mm_loadu_pd(x + i), mm), x1 = _mm_sub_pd(_mm_loadu_pd(x + i + 2), mm);
    a0 = _mm_add_pd(a0, g0); b0 = _mm_add_pd(b0, _mm_mul_pd(g0, x0));
    a1 = _mm_add_pd(a1, g1); b1 = _mm_add_pd(b1, _mm_mul_pd(g1, x1));
  }
  double ab[2], bb[2];
  _mm_storeu_pd(ab, _mm_add_pd(a0, a1));
  _mm_storeu_pd(bb, _mm_add_pd(b0, b1));
  a += ab[0] + ab[1];
  b += bb[0] + bb[1];
#endif
  for (; i < n; ++i) {
    a += dy[i];
    b += dy[i] * (x[i] - m);
  }
}

}  // namespace
}  // namespace flambeau::cpu
