// Householder QR of batches of [m, n] matrices: A = Q R, reduced (Q [m, k], R [k, n], k = min(m, n)),
// complete (Q [m, m], R [m, n]) or R alone.
//
// The reflectors are LAPACK's (dgeqr2 / dlarfg), so that R carries the same signs as torch's:
// for column j, with alpha = a[j, j] and x the part below it,
//   x = 0:  H_j = I (tau = 0) and R[j, j] = alpha, whatever its sign;
//   else:   beta = -sign(alpha) ||(alpha, x)||, tau = (beta - alpha) / beta, v = (1, x / (alpha - beta)),
//           H_j = I - tau v v^T, R[j, j] = beta.
// Q = H_0 H_1 ... H_{k-1} is formed as dorg2r does, applying the reflectors to the identity's first
// columns from the last one back. The matrix is held column-major in a float64 workspace: every
// reflector works on whole columns, contiguous there.
#include <cmath>
#include <vector>

#include "cpu/linalg_dense.h"

namespace flambeau::cpu {

namespace dense {

void householder_qr(double* a, int64_t m, int64_t n, double* tau) {
  const int64_t k = std::min(m, n);
  for (int64_t j = 0; j < k; ++j) {
    double* col = a + j * m;
    const double alpha = col[j];
    // ||x|| scaled by its largest entry, so that neither tiny nor huge entries under/overflow.
    double scale = 0.0;
    for (int64_t i = j + 1; i < m; ++i) scale = std::max(scale, std::fabs(col[i]));
    double xnorm = 0.0;
    if (scale > 0.0) {
      double ss = 0.0;
      for (int64_t i = j + 1; i < m; ++i) {
        const double t = col[i] / scale;
        ss += t * t;
      }
      xnorm = scale * std::sqrt(ss);
    }
    if (xnorm == 0.0) {
      tau[j] = 0.0;
      continue;
    }
    const double beta = -std::copysign(std::hypot(alpha, xnorm), alpha);
    const double t = (beta - alpha) / beta;
    tau[j] = t;
    const double inv = 1.0 / (alpha - beta);
    for (int64_t i = j + 1; i < m; ++i) col[i] *= inv;
    col[j] = beta;
    // H_j applied to the columns to the right: c -= tau v (v^T c).
    for (int64_t c = j + 1; c < n; ++c) {
      double* cc = a + c * m;
      double w = cc[j];
      for (int64_t i = j + 1; i < m; ++i) w += col[i] * cc[i];
      w *= t;
      cc[j] -= w;
      for (int64_t i = j + 1; i < m; ++i) cc[i] -= w * col[i];
    }
  }
}

void householder_q(const double* a, int64_t m, int64_t k, const double* tau, double* q, int64_t ncols) {
  std::fill(q, q + m * ncols, 0.0);
  for (int64_t c = 0; c < ncols; ++c) q[c * m + c] = 1.0;
  for (int64_t j = k - 1; j >= 0; --j) {
    const double t = tau[j];
    if (t == 0.0) continue;
    const double* v = a + j * m;  // v[j] = 1 implied, v[j+1:] stored
    // Columns c < j are still e_c, zero in rows >= j: H_j leaves them alone.
    for (int64_t c = j; c < ncols; ++c) {
      double* qc = q + c * m;
      double w = qc[j];
      for (int64_t i = j + 1; i < m; ++i) w += v[i] * qc[i];
      w *= t;
      qc[j] -= w;
      for (int64_t i = j + 1; i < m; ++i) qc[i] -= w * v[i];
    }
  }
}

}  // namespace dense

void linalg_qr(const Tensor& a, const Tensor& q, const Tensor& r, int mode) {
  using namespace dense;
  const int64_t B = a.sizes[0], m = a.sizes[1], n = a.sizes[2], k = std::min(m, n);
  const bool complete = mode == 1, want_q = mode != 2;
  const int64_t qcols = complete ? m : k, rrows = complete ? m : k;
  float_dispatch(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* ab = a.data<T>();
    T* rb = r.data<T>();
    T* qb = want_q ? q.data<T>() : nullptr;
    const int64_t ws = m * n + k + (want_q ? m * qcols : 0);
    for_each_matrix(B, 2 * m * n * k + (want_q ? 2 * m * qcols * k : 0), ws, [&](int64_t b, double* w) {
      double* acm = w;  // column-major copy of A
      double* tau = w + m * n;
      const T* src = ab + b * m * n;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) acm[j * m + i] = (double)src[i * n + j];
      householder_qr(acm, m, n, tau);
      T* rdst = rb + b * rrows * n;
      for (int64_t i = 0; i < rrows; ++i)
        for (int64_t j = 0; j < n; ++j) rdst[i * n + j] = (T)(j >= i ? acm[j * m + i] : 0.0);
      if (want_q) {
        double* qcm = tau + k;
        householder_q(acm, m, k, tau, qcm, qcols);
        T* qdst = qb + b * m * qcols;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t c = 0; c < qcols; ++c) qdst[i * qcols + c] = (T)qcm[c * m + i];
      }
    });
  });
}

}  // namespace flambeau::cpu
