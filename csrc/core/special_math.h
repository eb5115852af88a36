// Special functions that neither libm nor CUDA's math library has (digamma, trigamma) or whose float
// versions we want more accurate than a float evaluation (erfinv), shared by the CPU scalar loop
// (cpu/elementwise.cpp) and the CUDA unary kernel (cuda/elementwise.cu). Every function works in
// float64; the float32 ops round its result once, so they are within half an ulp of the float64
// value wherever that value is itself accurate (PyTorch's float32 digamma and erfinv evaluate in float).
// On CPUs with AVX2/AVX-512, contiguous float32 erfinv runs the vector body of cpu/simd/unary_vec.inc
// instead (float32 lanes, within 1.9 ulp, 20x faster than this scalar path).
//
// Edge values follow PyTorch (and SciPy):
//   digamma(+-0) = -+inf, digamma(negative integer) = NaN, digamma(-inf) = NaN, digamma(inf) = inf;
//   trigamma(non-positive integer) = inf (the poles), trigamma(inf) = 0;
//   erfinv(+-1) = +-inf, erfinv(|x| > 1) = NaN.
#pragma once
#include <math.h>
#include "core/philox.h"  // FLB_HOST_DEVICE

namespace flambeau::special {

constexpr double kPi = 3.14159265358979323846;

// psi(x) = d/dx log Gamma(x). Negative x by the reflection psi(x) = psi(1 - x) - pi / tan(pi x), with
// tan taken of x's fractional part (pi * x itself loses digits once |x| > 1). Positive x is pushed to
// x >= 10 by psi(x) = psi(x + 1) - 1/x, then the asymptotic series
//   psi(x) = log x - 1/(2x) - sum_k B_2k / (2k x^2k),  k = 1..7,
// whose first omitted term is below 2e-17 relative at x = 10.
FLB_HOST_DEVICE double digamma(double x) {
  if (x == 0) return copysign(INFINITY, -x);
  if (x != x) return x;
  double acc = 0;
  if (x < 0) {
    if (x == floor(x)) return NAN;  // the poles (and -inf)
    double whole;
    const double frac = modf(x, &whole);
    acc = -kPi / tan(kPi * frac);
    x = 1.0 - x;
  }
  if (x == INFINITY) return x;
  while (x < 10) {
    acc -= 1.0 / x;
    x += 1.0;
  }
  const double z = 1.0 / (x * x);
  // B_2k / (2k) for k = 7 .. 1, Horner in z = 1/x^2.
  double s = 1.0 / 12.0;           // B_14 / 14
  s = s * z - 691.0 / 32760.0;     // B_12 / 12
  s = s * z + 1.0 / 132.0;         // B_10 / 10
  s = s * z - 1.0 / 240.0;         // B_8 / 8
  s = s * z + 1.0 / 252.0;         // B_6 / 6
  s = s * z - 1.0 / 120.0;         // B_4 / 4
  s = s * z + 1.0 / 12.0;          // B_2 / 2
  return acc + log(x) - 0.5 / x - s * z;
}

// psi'(x). x < 1/2 by the reflection psi'(x) = pi^2 / sin^2(pi x) - psi'(1 - x); then
// psi'(x) = psi'(x + 1) + 1/x^2 up to x >= 10 and the asymptotic series
//   psi'(x) = 1/x + 1/(2x^2) + sum_k B_2k / x^(2k+1),  k = 1..7 (the next term
// is below 1e-15 relative at x = 10).
FLB_HOST_DEVICE double trigamma(double x) {
  if (x != x) return x;
  if (x == -INFINITY) return NAN;
  if (x <= 0 && x == floor(x)) return INFINITY;  // the poles
  double sign = 1, acc = 0;
  if (x < 0.5) {
    double whole;
    const double s = sin(kPi * modf(x, &whole));
    acc = -kPi * kPi / (s * s);
    sign = -1;
    x = 1.0 - x;
  }
  if (x == INFINITY) return sign * acc;
  while (x < 10) {
    acc += 1.0 / (x * x);
    x += 1.0;
  }
  const double z = 1.0 / (x * x);
  double s = 7.0 / 6.0;        // B_14
  s = s * z - 691.0 / 2730.0;  // B_12
  s = s * z + 5.0 / 66.0;      // B_10
  s = s * z - 1.0 / 30.0;      // B_8
  s = s * z + 1.0 / 42.0;      // B_6
  s = s * z - 1.0 / 30.0;      // B_4
  s = s * z + 1.0 / 6.0;       // B_2
  acc += (1.0 + 0.5 / x + s * z) / x;
  return sign * acc;
}

// erfinv(x): M. Giles' single-precision polynomials ("Approximating the erfinv function", GPU Computing
// Gems, 2011; ~4e-7 relative) as the first guess, then Newton steps on erf(y) = x in float64, which
// converge quadratically: one step leaves ~1e-12 relative (enough for a float32 result, rounded once),
// two reach float64 accuracy. Each step costs an erf or erfc and an exp (the float32 op: 2x faster). Above |x| = 1/2 the residual is taken as
// (1 - x) - erfc(y) with 1 - x exact, so it keeps its digits as x approaches 1.
FLB_HOST_DEVICE double erfinv(double x, int newton_steps = 2) {
  if (x != x) return x;
  const double a = fabs(x);
  if (a > 1) return NAN;
  if (a == 1) return copysign(INFINITY, x);
  double w = -log((1.0 - a) * (1.0 + a)), p;
  if (w < 5) {
    w -= 2.5;
    p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = sqrt(w) - 3.0;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  double y = p * a;
  const double k = 1.1283791670955126;  // 2 / sqrt(pi)
  for (int it = 0; it < newton_steps; ++it) {
    // Newton on f(y) = erf(y) - a, f' = k exp(-y^2); (1 - a) - erfc(y) is the same f.
    const double f = a > 0.5 ? (1.0 - a) - erfc(y) : erf(y) - a;
    y -= f / (k * exp(-y * y));
  }
  return copysign(y, x);
}

}  // namespace flambeau::special
