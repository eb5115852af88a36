// LU with partial pivoting, the solves built on it, triangular solves, Cholesky and the matrix
// exponential, on batches of small-to-medium dense matrices (see cpu/linalg_dense.h for the layout).
//
// LU (LAPACK's getf2, unblocked, row-major float64 workspace):
//   for each column j: the pivot is the first row i >= j of largest |a[i, j]|; piv[j] = i + 1
//   (1-based, as LAPACK and torch report them); rows i and j swap; the column below the pivot is
//   scaled by 1 / pivot (L's multipliers) and the trailing block gets the rank-1 update. A zero pivot
//   skips the scaling and records info = j + 1 (the first one only), as getrf does: the factors are
//   still returned and the caller decides whether that is an error.
// The row-major layout makes the rank-1 update and the substitutions row operations (axpy over
// contiguous rows), which the compiler vectorises.
//
// LU solve: P^T b (the interchanges in order), then L (unit lower) and U; the adjoint solve
// A^T x = b runs U^T, L^T and the interchanges in reverse order.
//
// Cholesky (potf2): L[j, j] = sqrt(a[j, j] - sum_k L[j, k]^2); a pivot that is not > 0 (or NaN)
// stops with info = j + 1. The upper variant reads the upper triangle (as LAPACK's uplo = 'U' and
// torch.linalg.cholesky(upper=True) do): it factors the transpose and transposes back.
//
// matrix_exp (Higham, "The scaling and squaring method for the matrix exponential revisited",
// SIAM J. Matrix Anal. Appl. 26(4), 2005): the smallest Pade degree m in {3, 5, 7, 9, 13} whose
// theta_m bounds ||A||_1 (else degree 13 with A scaled by 2^-s so that ||A / 2^s||_1 <= theta_13),
// r_m(A) = (V - U)^-1 (V + U) with U the odd and V the even part of the Pade numerator, then s
// squarings. All in float64: for float32 inputs the result is the correctly rounded exponential up
// to the method's own float64 error (about 1e-15 relative).
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/linalg_dense.h"

namespace flambeau::cpu {

namespace dense {

int64_t lu_factor(double* a, int64_t m, int64_t n, int64_t* piv) {
  const int64_t k = std::min(m, n);
  int64_t info = 0;
  for (int64_t j = 0; j < k; ++j) {
    int64_t p = j;
    double best = std::fabs(a[j * n + j]);
    for (int64_t i = j + 1; i < m; ++i) {
      double v = std::fabs(a[i * n + j]);
      if (v > best) {
        best = v;
        p = i;
      }
    }
    piv[j] = p + 1;
    if (a[p * n + j] != 0.0) {
      if (p != j)
        for (int64_t c = 0; c < n; ++c) std::swap(a[p * n + c], a[j * n + c]);
      const double inv = 1.0 / a[j * n + j];
      for (int64_t i = j + 1; i < m; ++i) a[i * n + j] *= inv;
    } else if (info == 0) {
      info = j + 1;
    }
    const double* rj = a + j * n;
    for (int64_t i = j + 1; i < m; ++i) {
      double* ri = a + i * n;
      const double l = ri[j];
      if (l == 0.0) continue;
      for (int64_t c = j + 1; c < n; ++c) ri[c] -= l * rj[c];
    }
  }
  return info;
}

void lu_solve(const double* lu, const int64_t* piv, double* b, int64_t n, int64_t k, bool adjoint) {
  auto swap_rows = [&](int64_t i, int64_t p) {
    if (p != i)
      for (int64_t c = 0; c < k; ++c) std::swap(b[i * k + c], b[p * k + c]);
  };
  auto axpy = [&](double* dst, double alpha, const double* src) {
    for (int64_t c = 0; c < k; ++c) dst[c] -= alpha * src[c];
  };
  if (!adjoint) {
    for (int64_t i = 0; i < n; ++i) swap_rows(i, piv[i] - 1);
    for (int64_t i = 1; i < n; ++i)  // L y = P^T b, L unit lower
      for (int64_t j = 0; j < i; ++j) axpy(b + i * k, lu[i * n + j], b + j * k);
    for (int64_t i = n - 1; i >= 0; --i) {  // U x = y
      for (int64_t j = i + 1; j < n; ++j) axpy(b + i * k, lu[i * n + j], b + j * k);
      const double inv = 1.0 / lu[i * n + i];
      for (int64_t c = 0; c < k; ++c) b[i * k + c] *= inv;
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {  // U^T y = b, U^T lower
      for (int64_t j = 0; j < i; ++j) axpy(b + i * k, lu[j * n + i], b + j * k);
      const double inv = 1.0 / lu[i * n + i];
      for (int64_t c = 0; c < k; ++c) b[i * k + c] *= inv;
    }
    for (int64_t i = n - 2; i >= 0; --i)  // L^T z = y, L^T unit upper
      for (int64_t j = i + 1; j < n; ++j) axpy(b + i * k, lu[j * n + i], b + j * k);
    for (int64_t i = n - 1; i >= 0; --i) swap_rows(i, piv[i] - 1);  // x = P z
  }
}

}  // namespace dense

namespace {

using namespace dense;

// b [n, k] := A^-1 b for triangular A [n, n] (row-major), reading one triangle of A.
void triangular_solve(const double* a, double* b, int64_t n, int64_t k, bool upper, bool unit) {
  auto row_step = [&](int64_t i, int64_t j0, int64_t j1) {
    double* bi = b + i * k;
    for (int64_t j = j0; j < j1; ++j) {
      const double aij = a[i * n + j];
      if (aij == 0.0) continue;
      const double* bj = b + j * k;
      for (int64_t c = 0; c < k; ++c) bi[c] -= aij * bj[c];
    }
    if (!unit) {
      const double d = a[i * n + i];
      for (int64_t c = 0; c < k; ++c) bi[c] /= d;
    }
  };
  if (upper)
    for (int64_t i = n - 1; i >= 0; --i) row_step(i, i + 1, n);
  else
    for (int64_t i = 0; i < n; ++i) row_step(i, 0, i);
}

// Cholesky of the lower triangle of a [n, n] in place (upper triangle zeroed); returns info.
int64_t cholesky_lower(double* a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    double* rj = a + j * n;
    double d = rj[j];
    for (int64_t c = 0; c < j; ++c) d -= rj[c] * rj[c];
    if (!(d > 0.0)) return j + 1;
    d = std::sqrt(d);
    rj[j] = d;
    for (int64_t i = j + 1; i < n; ++i) {
      double* ri = a + i * n;
      double s = ri[j];
      for (int64_t c = 0; c < j; ++c) s -= ri[c] * rj[c];
      ri[j] = s / d;
    }
    for (int64_t c = j + 1; c < n; ++c) rj[c] = 0.0;
  }
  return 0;
}

void transpose_square(double* a, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) std::swap(a[i * n + j], a[j * n + i]);
}

// c = a b for [n, n] row-major matrices (c distinct from a and b).
void matmul_square(const double* a, const double* b, double* c, int64_t n) {
  std::fill(c, c + n * n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < n; ++k) {
      const double aik = a[i * n + k];
      if (aik == 0.0) continue;
      const double* bk = b + k * n;
      double* ci = c + i * n;
      for (int64_t j = 0; j < n; ++j) ci[j] += aik * bk[j];
    }
}

// Pade coefficients b_0 .. b_m of degree m (Higham 2005, table 2.3 and eq. 2.11 onwards).
constexpr double kPade3[] = {120., 60., 12., 1.};
constexpr double kPade5[] = {30240., 15120., 3360., 420., 30., 1.};
constexpr double kPade7[] = {17297280., 8648640., 1995840., 277200., 25200., 1512., 56., 1.};
constexpr double kPade9[] = {17643225600., 8821612800., 2075673600., 302702400., 30270240.,
                             2162160., 110880., 3960., 90., 1.};
constexpr double kPade13[] = {64764752532480000., 32382376266240000., 7771770303897600.,
                              1187353796428800., 129060195264000., 10559470521600.,
                              670442572800., 33522128640., 1323241920., 40840800.,
                              960960., 16380., 182., 1.};
constexpr double kTheta[] = {1.495585217958292e-2, 2.539398330063230e-1, 9.504178996162932e-1,
                             2.097847961257068e0, 5.371920351148152e0};

// out = exp(a) for a [n, n]; ws holds 9 n^2 doubles.
void expm(const double* a, double* out, int64_t n, double* ws, std::vector<int64_t>& piv) {
  const int64_t nn = n * n;
  double *A = ws, *A2 = ws + nn, *A4 = ws + 2 * nn, *A6 = ws + 3 * nn, *A8 = ws + 4 * nn;
  double *T = ws + 5 * nn, *Up = ws + 6 * nn, *U = ws + 7 * nn, *V = ws + 8 * nn;
  std::copy(a, a + nn, A);
  double norm1 = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += std::fabs(A[i * n + j]);
    norm1 = std::max(norm1, s);
  }
  if (!std::isfinite(norm1)) {
    std::fill(out, out + nn, std::numeric_limits<double>::quiet_NaN());
    return;
  }
  int deg = 13;
  const double* b = kPade13;
  int64_t s = 0;
  if (norm1 <= kTheta[0]) deg = 3, b = kPade3;
  else if (norm1 <= kTheta[1]) deg = 5, b = kPade5;
  else if (norm1 <= kTheta[2]) deg = 7, b = kPade7;
  else if (norm1 <= kTheta[3]) deg = 9, b = kPade9;
  else {
    s = (int64_t)std::max(0.0, std::ceil(std::log2(norm1 / kTheta[4])));
    const double scale = std::ldexp(1.0, (int)-s);
    for (int64_t i = 0; i < nn; ++i) A[i] *= scale;
  }
  // sum of c_i M_i (+ c_id I) into dst.
  auto comb = [&](double* dst, double c_id, std::initializer_list<std::pair<double, const double*>> terms) {
    std::fill(dst, dst + nn, 0.0);
    for (auto& t : terms)
      for (int64_t i = 0; i < nn; ++i) dst[i] += t.first * t.second[i];
    for (int64_t i = 0; i < n; ++i) dst[i * n + i] += c_id;
  };
  matmul_square(A, A, A2, n);
  if (deg >= 5) matmul_square(A2, A2, A4, n);
  if (deg >= 7) matmul_square(A4, A2, A6, n);
  switch (deg) {
    case 3:
      comb(Up, b[1], {{b[3], A2}});
      comb(V, b[0], {{b[2], A2}});
      break;
    case 5:
      comb(Up, b[1], {{b[5], A4}, {b[3], A2}});
      comb(V, b[0], {{b[4], A4}, {b[2], A2}});
      break;
    case 7:
      comb(Up, b[1], {{b[7], A6}, {b[5], A4}, {b[3], A2}});
      comb(V, b[0], {{b[6], A6}, {b[4], A4}, {b[2], A2}});
      break;
    case 9:
      matmul_square(A4, A4, A8, n);
      comb(Up, b[1], {{b[9], A8}, {b[7], A6}, {b[5], A4}, {b[3], A2}});
      comb(V, b[0], {{b[8], A8}, {b[6], A6}, {b[4], A4}, {b[2], A2}});
      break;
    default:
      comb(T, 0.0, {{b[13], A6}, {b[11], A4}, {b[9], A2}});
      matmul_square(A6, T, Up, n);
      for (int64_t i = 0; i < nn; ++i) Up[i] += b[7] * A6[i] + b[5] * A4[i] + b[3] * A2[i];
      for (int64_t i = 0; i < n; ++i) Up[i * n + i] += b[1];
      comb(T, 0.0, {{b[12], A6}, {b[10], A4}, {b[8], A2}});
      matmul_square(A6, T, V, n);
      for (int64_t i = 0; i < nn; ++i) V[i] += b[6] * A6[i] + b[4] * A4[i] + b[2] * A2[i];
      for (int64_t i = 0; i < n; ++i) V[i * n + i] += b[0];
  }
  matmul_square(A, Up, U, n);
  // (V - U) X = V + U: P = V + U into out, Q = V - U into T.
  for (int64_t i = 0; i < nn; ++i) {
    out[i] = V[i] + U[i];
    T[i] = V[i] - U[i];
  }
  lu_factor(T, n, n, piv.data());
  lu_solve(T, piv.data(), out, n, n, false);
  for (int64_t k = 0; k < s; ++k) {
    matmul_square(out, out, A2, n);
    std::copy(A2, A2 + nn, out);
  }
}

}  // namespace

void linalg_lu_factor(const Tensor& lu, const Tensor& piv, const Tensor& info) {
  const int64_t m = lu.sizes[1], n = lu.sizes[2], k = std::min(m, n), B = lu.sizes[0];
  int64_t* pv = piv.data<int64_t>();
  int64_t* inf = info.data<int64_t>();
  float_dispatch(lu.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* base = lu.data<T>();
    for_each_matrix(B, m * n * k, m * n, [&](int64_t b, double* w) {
      load(base + b * m * n, w, m * n);
      inf[b] = lu_factor(w, m, n, pv + b * k);
      store(w, base + b * m * n, m * n);
    });
  });
}

void linalg_lu_solve(const Tensor& x, const Tensor& lu, const Tensor& piv, bool adjoint) {
  const int64_t B = x.sizes[0], n = x.sizes[1], k = x.sizes[2];
  const int64_t* pv = piv.data<int64_t>();
  float_dispatch(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* xb = x.data<T>();
    const T* lb = lu.data<T>();
    for_each_matrix(B, n * n * (k + 1), n * n + n * k, [&](int64_t b, double* w) {
      double* a = w;
      double* rhs = w + n * n;
      load(lb + b * n * n, a, n * n);
      load(xb + b * n * k, rhs, n * k);
      lu_solve(a, pv + b * n, rhs, n, k, adjoint);
      store(rhs, xb + b * n * k, n * k);
    });
  });
}

void linalg_triangular_solve(const Tensor& x, const Tensor& a, bool upper, bool unitriangular) {
  const int64_t B = x.sizes[0], n = x.sizes[1], k = x.sizes[2];
  float_dispatch(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* xb = x.data<T>();
    const T* ab = a.data<T>();
    for_each_matrix(B, n * n * k, n * n + n * k, [&](int64_t b, double* w) {
      load(ab + b * n * n, w, n * n);
      load(xb + b * n * k, w + n * n, n * k);
      triangular_solve(w, w + n * n, n, k, upper, unitriangular);
      store(w + n * n, xb + b * n * k, n * k);
    });
  });
}

void linalg_cholesky(const Tensor& l, const Tensor& info, bool upper) {
  const int64_t B = l.sizes[0], n = l.sizes[1];
  int64_t* inf = info.data<int64_t>();
  float_dispatch(l.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* base = l.data<T>();
    for_each_matrix(B, n * n * n, n * n, [&](int64_t b, double* w) {
      load(base + b * n * n, w, n * n);
      if (upper) transpose_square(w, n);
      inf[b] = cholesky_lower(w, n);
      if (upper) transpose_square(w, n);
      store(w, base + b * n * n, n * n);
    });
  });
}

void linalg_matrix_exp(const Tensor& out, const Tensor& a) {
  const int64_t B = a.sizes[0], n = a.sizes[1], nn = n * n;
  float_dispatch(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* ab = a.data<T>();
    T* ob = out.data<T>();
    for_each_matrix(B, 8 * nn * n, 11 * nn, [&](int64_t b, double* w) {
      std::vector<int64_t> piv((size_t)n);
      load(ab + b * nn, w, nn);
      expm(w, w + nn, n, w + 2 * nn, piv);
      store(w + nn, ob + b * nn, nn);
    });
  });
}

}  // namespace flambeau::cpu
