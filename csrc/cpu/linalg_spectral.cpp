// Spectral decompositions of batches of dense matrices: the symmetric eigendecomposition (eigh) and
// the singular value decomposition (svd), both in a float64 workspace (see cpu/linalg_dense.h).
//
// eigh: Householder reduction to tridiagonal form with the transformations accumulated (tred2),
// then the implicit QL algorithm with Wilkinson-style shifts on the tridiagonal matrix, rotating the
// accumulated vectors along (tql2); the eigenvalues sorted ascending, their vectors with them. These
// are the EISPACK routines as JAMA transcribes them (public domain): backward stable, so eigenvalues
// are within a few ulps of ||A|| of the exact ones and the vectors orthonormal to working precision,
// which is what LAPACK's syevd (torch's backend) guarantees too. Only the lower triangle is read;
// uplo = 'U' transposes first. A non-finite input gives NaN eigenvalues and vectors (the iteration
// would not terminate on it).
//
// svd: one-sided (Hestenes) Jacobi. For a tall matrix (m >= n; a wide one is done as its transpose),
// columns p < q of W = A are rotated pairwise until every pair is orthogonal to working precision,
// |w_p . w_q| <= sqrt(m) eps ||w_p|| ||w_q||, the rotations accumulated in V. Then the singular values
// are the column norms and U's columns the normalised columns (A V = W = U S). From 24 columns on, W
// starts as A V0 with V0 the eigenvectors of A^T A (see precondition): two or three sweeps instead of
// eight to ten (256 x 256, one thread: 168 -> 54 ms; LAPACK's gesdd through torch: 16 ms). Accuracy is
// LAPACK's: singular values within a few eps ||A||, U and V orthogonal to ~1e-15. Columns of U without
// a singular vector (zero singular values, and the m - n extra columns of full_matrices) are completed
// to an orthonormal basis from a complete Householder QR of the known columns. Signs of singular
// vectors and eigenvectors are arbitrary, as in LAPACK.
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "cpu/linalg_dense.h"

namespace flambeau::cpu {

namespace {

using namespace dense;

// V is column-major in both routines (at(i, j) = V[j * n + i]): every O(n^3) loop of tred2 and
// tql2 then runs down a column, i.e. over contiguous memory (row-major, as JAMA stores it, made
// eigh of a 256 x 256 matrix 9x slower: 181 ms against 20 ms, one thread; LAPACK's syevd through
// torch: 9 ms), and the eigenvectors come out as contiguous columns.

// tred2: V [n, n] holds the symmetric matrix (lower triangle read) on entry, the orthogonal Q of
// A = Q T Q^T on exit; d, e the diagonal and subdiagonal (e[0] = 0) of T.
void tred2(double* V, double* d, double* e, int64_t n) {
  auto at = [&](int64_t i, int64_t j) -> double& { return V[j * n + i]; };
  for (int64_t j = 0; j < n; ++j) d[j] = at(n - 1, j);
  for (int64_t i = n - 1; i > 0; --i) {
    double scale = 0.0, h = 0.0;
    for (int64_t k = 0; k < i; ++k) scale += std::fabs(d[k]);
    if (scale == 0.0) {
      e[i] = d[i - 1];
      for (int64_t j = 0; j < i; ++j) {
        d[j] = at(i - 1, j);
        at(i, j) = 0.0;
        at(j, i) = 0.0;
      }
    } else {
      for (int64_t k = 0; k < i; ++k) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      double f = d[i - 1];
      double g = std::sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (int64_t j = 0; j < i; ++j) e[j] = 0.0;
      for (int64_t j = 0; j < i; ++j) {
        f = d[j];
        at(j, i) = f;
        g = e[j] + at(j, j) * f;
        for (int64_t k = j + 1; k <= i - 1; ++k) {
          g += at(k, j) * d[k];
          e[k] += at(k, j) * f;
        }
        e[j] = g;
      }
      f = 0.0;
      for (int64_t j = 0; j < i; ++j) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const double hh = f / (h + h);
      for (int64_t j = 0; j < i; ++j) e[j] -= hh * d[j];
      for (int64_t j = 0; j < i; ++j) {
        f = d[j];
        g = e[j];
        for (int64_t k = j; k <= i - 1; ++k) at(k, j) -= (f * e[k] + g * d[k]);
        d[j] = at(i - 1, j);
        at(i, j) = 0.0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (int64_t i = 0; i < n - 1; ++i) {
    at(n - 1, i) = at(i, i);
    at(i, i) = 1.0;
    const double h = d[i + 1];
    if (h != 0.0) {
      for (int64_t k = 0; k <= i; ++k) d[k] = at(k, i + 1) / h;
      for (int64_t j = 0; j <= i; ++j) {
        double g = 0.0;
        for (int64_t k = 0; k <= i; ++k) g += at(k, i + 1) * at(k, j);
        for (int64_t k = 0; k <= i; ++k) at(k, j) -= g * d[k];
      }
    }
    for (int64_t k = 0; k <= i; ++k) at(k, i + 1) = 0.0;
  }
  for (int64_t j = 0; j < n; ++j) {
    d[j] = at(n - 1, j);
    at(n - 1, j) = 0.0;
  }
  at(n - 1, n - 1) = 1.0;
  e[0] = 0.0;
}

// tql2: eigenvalues d (ascending on exit) and vectors (columns of V) of the tridiagonal (d, e),
// V holding tred2's Q on entry. Returns false if an eigenvalue failed to converge.
bool tql2(double* V, double* d, double* e, int64_t n) {
  for (int64_t i = 1; i < n; ++i) e[i - 1] = e[i];
  e[n - 1] = 0.0;
  double f = 0.0, tst1 = 0.0;
  const double eps = std::numeric_limits<double>::epsilon();
  bool ok = true;
  for (int64_t l = 0; l < n; ++l) {
    tst1 = std::max(tst1, std::fabs(d[l]) + std::fabs(e[l]));
    int64_t m = l;
    while (m < n - 1 && std::fabs(e[m]) > eps * tst1) ++m;
    if (m > l) {
      int iter = 0;
      do {
        if (++iter > 60) {
          ok = false;
          break;
        }
        double g = d[l];
        double p = (d[l + 1] - g) / (2.0 * e[l]);
        double r = std::hypot(p, 1.0);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const double dl1 = d[l + 1];
        double h = g - d[l];
        for (int64_t i = l + 2; i < n; ++i) d[i] -= h;
        f += h;
        // Implicit QL transformation.
        p = d[m];
        double c = 1.0, c2 = c, c3 = c;
        const double el1 = e[l + 1];
        double s = 0.0, s2 = 0.0;
        for (int64_t i = m - 1; i >= l; --i) {
          double* vi = V + i * n;  // columns i and i + 1, contiguous
          double* vi1 = vi + n;
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = std::hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (int64_t k = 0; k < n; ++k) {
            const double x = vi[k], y = vi1[k];
            vi1[k] = s * x + c * y;
            vi[k] = c * x - s * y;
          }
        }
        p = -s * s2 * c3 * el1 * e[l] / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (std::fabs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0.0;
  }
  // Selection sort, ascending, moving the vectors along (ties keep their order).
  for (int64_t i = 0; i < n - 1; ++i) {
    int64_t k = i;
    double p = d[i];
    for (int64_t j = i + 1; j < n; ++j)
      if (d[j] < p) {
        k = j;
        p = d[j];
      }
    if (k != i) {
      d[k] = d[i];
      d[i] = p;
      std::swap_ranges(V + i * n, V + (i + 1) * n, V + k * n);
    }
  }
  return ok;
}

// One-sided Jacobi on the column-major [m, n] matrix W (m >= n): on exit its columns are mutually
// orthogonal, the rotations accumulated into V [n, n] column-major (when given).
void jacobi_orthogonalize(double* W, int64_t m, int64_t n, double* V) {
  const double tol = std::numeric_limits<double>::epsilon() * std::sqrt((double)std::max<int64_t>(m, 4));
  // Squared column norms, recomputed at each sweep and updated exactly in between (a rotation that
  // zeroes gamma moves t * gamma from one column to the other): one dot product per pair, not three.
  std::vector<double> norm2((size_t)n);
  for (int sweep = 0; sweep < 80; ++sweep) {
    bool rotated = false;
    for (int64_t j = 0; j < n; ++j) {
      const double* wj = W + j * m;
      double ss = 0.0;
      for (int64_t i = 0; i < m; ++i) ss += wj[i] * wj[i];
      norm2[j] = ss;
    }
    for (int64_t p = 0; p + 1 < n; ++p) {
      for (int64_t q = p + 1; q < n; ++q) {
        double* wp = W + p * m;
        double* wq = W + q * m;
        const double alpha = norm2[p], beta = norm2[q];
        double gamma = 0.0;
        for (int64_t i = 0; i < m; ++i) gamma += wp[i] * wq[i];
        if (gamma == 0.0 || !(std::fabs(gamma) > tol * std::sqrt(alpha) * std::sqrt(beta))) continue;
        rotated = true;
        const double zeta = (beta - alpha) / (2.0 * gamma);
        const double t = std::copysign(1.0, zeta) / (std::fabs(zeta) + std::hypot(1.0, zeta));
        const double c = 1.0 / std::sqrt(1.0 + t * t);
        const double s = c * t;
        norm2[p] = alpha - t * gamma;
        norm2[q] = beta + t * gamma;
        for (int64_t i = 0; i < m; ++i) {
          const double x = wp[i], y = wq[i];
          wp[i] = c * x - s * y;
          wq[i] = s * x + c * y;
        }
        if (V) {
          double* vp = V + p * n;
          double* vq = V + q * n;
          for (int64_t i = 0; i < n; ++i) {
            const double x = vp[i], y = vq[i];
            vp[i] = c * x - s * y;
            vq[i] = s * x + c * y;
          }
        }
      }
    }
    if (!rotated) break;
  }
}

// Starts one-sided Jacobi close to its end: W := W V0 with V0 the eigenvectors of the Gram matrix
// W^T W, whose columns are then orthogonal up to about eps * cond(W)^2; the Jacobi sweeps that follow
// (two or three instead of eight to ten) restore full accuracy, since the singular values and
// vectors come from those sweeps' orthogonality test, not from the Gram matrix. V (when given) is
// set to V0, the identity for matrices of fewer than 24 columns, which skip this: their sweeps are cheap.
void precondition(double* W, int64_t m, int64_t n, double* V) {
  if (V) {
    std::fill(V, V + n * n, 0.0);
    for (int64_t i = 0; i < n; ++i) V[i * n + i] = 1.0;
  }
  if (n < 24) return;
  std::vector<double> G((size_t)(n * n)), d((size_t)n), e((size_t)n), WV((size_t)(m * n));
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = j; i < n; ++i) {
      const double* wi = W + i * m;
      const double* wj = W + j * m;
      double s = 0.0;
      for (int64_t k = 0; k < m; ++k) s += wi[k] * wj[k];
      G[j * n + i] = G[i * n + j] = s;
    }
  tred2(G.data(), d.data(), e.data(), n);
  if (!tql2(G.data(), d.data(), e.data(), n)) return;
  // W V0, one column of V0 (contiguous: column-major) at a time.
  std::fill(WV.begin(), WV.end(), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    double* out = WV.data() + j * m;
    for (int64_t k = 0; k < n; ++k) {
      const double g = G[j * n + k];
      const double* wk = W + k * m;
      for (int64_t i = 0; i < m; ++i) out[i] += g * wk[i];
    }
  }
  std::copy(WV.begin(), WV.end(), W);
  if (V) std::copy(G.begin(), G.end(), V);
}

// Fills columns r .. ncols-1 of the column-major [m, ncols] matrix X, whose first r columns are
// orthonormal, with an orthonormal basis of part of their orthogonal complement.
void complete_basis(double* X, int64_t m, int64_t r, int64_t ncols) {
  if (r >= ncols) return;
  std::vector<double> a(X, X + m * r), tau((size_t)std::max<int64_t>(r, 1)), q((size_t)(m * m));
  householder_qr(a.data(), m, r, tau.data());
  householder_q(a.data(), m, r, tau.data(), q.data(), m);
  std::copy(q.data() + r * m, q.data() + ncols * m, X + r * m);
}

// SVD of one row-major [m, n] matrix a: s [k] descending; u row-major [m, ucols], vh row-major
// [vrows, n] when given (ucols = m, vrows = n if full, else both k).
void svd_one(const double* a, int64_t m, int64_t n, double* s, double* u, double* vh, bool full) {
  const bool tall = m >= n;
  const int64_t rows = tall ? m : n, cols = tall ? n : m;  // the tall problem: A (tall) or A^T
  const bool want = u != nullptr;
  std::vector<double> W((size_t)(rows * cols)), V(want ? (size_t)(cols * cols) : 0);
  if (tall) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) W[j * m + i] = a[i * n + j];
  } else {
    std::copy(a, a + m * n, W.data());  // row-major A is column-major A^T
  }
  precondition(W.data(), rows, cols, want ? V.data() : nullptr);
  jacobi_orthogonalize(W.data(), rows, cols, want ? V.data() : nullptr);
  std::vector<double> sigma((size_t)cols);
  for (int64_t j = 0; j < cols; ++j) {
    double ss = 0.0;
    for (int64_t i = 0; i < rows; ++i) ss += W[j * rows + i] * W[j * rows + i];
    sigma[j] = std::sqrt(ss);
  }
  std::vector<int64_t> order((size_t)cols);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return sigma[x] > sigma[y]; });
  for (int64_t i = 0; i < cols; ++i) s[i] = sigma[order[i]];
  if (!want) return;
  // X: the tall problem's left vectors [rows, xcols]; Y: its right vectors [cols, cols] (column-major).
  const int64_t xcols = full ? rows : cols;
  std::vector<double> X((size_t)(rows * xcols)), Y((size_t)(cols * cols));
  int64_t r = 0;
  for (int64_t i = 0; i < cols; ++i) {
    const int64_t j = order[i];
    std::copy(V.data() + j * cols, V.data() + (j + 1) * cols, Y.data() + i * cols);
    if (s[i] > 1e-290 && std::isfinite(s[i]) && r == i) {
      for (int64_t t = 0; t < rows; ++t) X[i * rows + t] = W[j * rows + t] / s[i];
      ++r;
    }
  }
  complete_basis(X.data(), rows, r, xcols);
  if (tall) {  // U = X, Vh = Y^T
    for (int64_t i = 0; i < m; ++i)
      for (int64_t c = 0; c < xcols; ++c) u[i * xcols + c] = X[c * m + i];
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) vh[i * n + j] = Y[i * n + j];
  } else {  // A = Y S X^T: U = Y, Vh = X^T
    for (int64_t i = 0; i < m; ++i)
      for (int64_t c = 0; c < m; ++c) u[i * m + c] = Y[c * m + i];
    for (int64_t i = 0; i < xcols; ++i)
      for (int64_t j = 0; j < n; ++j) vh[i * n + j] = X[i * n + j];
  }
}

}  // namespace

void linalg_eigh(const Tensor& a, const Tensor& w, const Tensor* v, bool upper) {
  const int64_t B = a.sizes[0], n = a.sizes[1], nn = n * n;
  if (n == 0) return;  // tred2 / tql2 index element n - 1
  float_dispatch(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* ab = a.data<T>();
    T* wb = w.data<T>();
    T* vb = v ? v->data<T>() : nullptr;
    for_each_matrix(B, 10 * nn * n, nn + 2 * n, [&](int64_t b, double* ws) {
      double* V = ws;
      double* d = ws + nn;
      double* e = d + n;
      const T* src = ab + b * nn;
      bool finite = true;
      // The lower triangle of A (of A^T for uplo = 'U'), symmetrised: tred2 reads only the lower one.
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j <= i; ++j) {
          const double x = (double)(upper ? src[j * n + i] : src[i * n + j]);
          finite = finite && std::isfinite(x);
          V[i * n + j] = V[j * n + i] = x;
        }
      bool ok = finite;
      if (finite) {
        tred2(V, d, e, n);
        ok = tql2(V, d, e, n);
      }
      if (!ok) {
        std::fill(d, d + n, std::numeric_limits<double>::quiet_NaN());
        std::fill(V, V + nn, std::numeric_limits<double>::quiet_NaN());
      }
      store(d, wb + b * n, n);
      if (vb) {  // column-major V to the row-major output
        T* dst = vb + b * nn;
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < n; ++j) dst[i * n + j] = (T)V[j * n + i];
      }
    });
  });
}

void linalg_svd(const Tensor& a, const Tensor* u, const Tensor& s, const Tensor* vh, bool full_matrices) {
  const int64_t B = a.sizes[0], m = a.sizes[1], n = a.sizes[2], k = std::min(m, n);
  const int64_t ucols = full_matrices ? m : k, vrows = full_matrices ? n : k;
  const bool want = u != nullptr;
  float_dispatch(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* ab = a.data<T>();
    T* sb = s.data<T>();
    T* ub = want ? u->data<T>() : nullptr;
    T* vb = want ? vh->data<T>() : nullptr;
    const int64_t ws = m * n + k + (want ? m * ucols + vrows * n : 0);
    for_each_matrix(B, 8 * m * n * k, ws, [&](int64_t b, double* w) {
      double* A = w;
      double* S = A + m * n;
      double* U = S + k;
      double* Vh = U + m * ucols;
      load(ab + b * m * n, A, m * n);
      bool finite = true;
      for (int64_t i = 0; i < m * n; ++i) finite = finite && std::isfinite(A[i]);
      if (finite) {
        svd_one(A, m, n, S, want ? U : nullptr, want ? Vh : nullptr, full_matrices);
      } else {
        const double nan = std::numeric_limits<double>::quiet_NaN();
        std::fill(S, S + k, nan);
        if (want) std::fill(U, U + m * ucols + vrows * n, nan);
      }
      store(S, sb + b * k, k);
      if (want) {
        store(U, ub + b * m * ucols, m * ucols);
        store(Vh, vb + b * vrows * n, vrows * n);
      }
    });
  });
}

}  // namespace flambeau::cpu
