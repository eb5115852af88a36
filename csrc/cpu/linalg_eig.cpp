// The general (non-symmetric) eigendecomposition A V = V diag(w) of batches of square matrices, real or
// complex, computed in complex double (torch.linalg.eig / eigvals; LAPACK's geev in PyTorch).
//
//   1. Householder reduction to upper Hessenberg form, A = Q H Q^H, Q accumulated.
//   2. The shifted QR iteration on H (complex, one Wilkinson shift per step, applied explicitly with
//      Givens rotations on the active window and, for the Schur form, on the rows to its right and the
//      columns above it; exceptional shifts after 10 and 20 steps without deflation), giving the
//      upper-triangular Schur form T = Z^H A Z with Z accumulated from Q.
//   3. Eigenvectors of T by back substitution ((T - t_kk I) y = 0, y_k = 1; a zero divisor replaced by
//      eps |T| as LAPACK's trevc does), mapped back as x = Z y and normalised as geev does: Euclidean
//      norm 1, the component of largest modulus real (and here positive).
//
// A real input (float32/float64) takes LAPACK's real route instead, the Francis double-shift iteration
// in real arithmetic (cpu/linalg_eig_real.cpp): real eigenvalues exactly real, conjugate pairs exactly
// conjugate, in the order of the Schur form's diagonal; its vectors get the normalisation below.
// The eigenvalues come out in the order the iteration deflates them, which (as LAPACK's) is no
// particular order.
// A non-finite input, or an iteration that does not converge (30 n steps per eigenvalue), gives NaN
// results and info = 1 for that matrix (the Python layer raises PyTorch's error).
#include "cpu/linalg_eig.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <vector>

#include "core/complex.h"
#include "cpu/linalg_dense.h"
#include "cpu/linalg_eig_real.h"

namespace flambeau::cpu {

namespace {

using cd = std::complex<double>;

double abs1(cd z) { return std::abs(z.real()) + std::abs(z.imag()); }

// Householder reduction of the row-major n x n a to upper Hessenberg form in place; q (row-major)
// receives the accumulated unitary Q with A = Q H Q^H.
void hessenberg(cd* a, cd* q, int64_t n, cd* v) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) q[i * n + j] = i == j ? 1.0 : 0.0;
  for (int64_t k = 0; k + 2 < n; ++k) {
    double norm = 0;
    for (int64_t i = k + 1; i < n; ++i) norm += std::norm(a[i * n + k]);
    norm = std::sqrt(norm);
    if (norm == 0) continue;
    const cd x0 = a[(k + 1) * n + k];
    const cd phase = std::abs(x0) == 0 ? cd(1.0) : x0 / std::abs(x0);
    const cd alpha = -phase * norm;  // the opposite sign of x0: no cancellation in v0 = x0 - alpha
    for (int64_t i = k + 1; i < n; ++i) v[i] = a[i * n + k];
    v[k + 1] -= alpha;
    double vn = 0;
    for (int64_t i = k + 1; i < n; ++i) vn += std::norm(v[i]);
    if (vn == 0) continue;
    const double beta = 2.0 / vn;  // H = I - beta v v^H
    // A := H A (rows k+1.., all columns from k)
    for (int64_t j = k; j < n; ++j) {
      cd s = 0;
      for (int64_t i = k + 1; i < n; ++i) s += std::conj(v[i]) * a[i * n + j];
      s *= beta;
      for (int64_t i = k + 1; i < n; ++i) a[i * n + j] -= v[i] * s;
    }
    // A := A H (all rows, columns k+1..)
    for (int64_t i = 0; i < n; ++i) {
      cd s = 0;
      for (int64_t j = k + 1; j < n; ++j) s += a[i * n + j] * v[j];
      s *= beta;
      for (int64_t j = k + 1; j < n; ++j) a[i * n + j] -= s * std::conj(v[j]);
    }
    // Q := Q H
    for (int64_t i = 0; i < n; ++i) {
      cd s = 0;
      for (int64_t j = k + 1; j < n; ++j) s += q[i * n + j] * v[j];
      s *= beta;
      for (int64_t j = k + 1; j < n; ++j) q[i * n + j] -= s * std::conj(v[j]);
    }
    for (int64_t i = k + 2; i < n; ++i) a[i * n + k] = 0;
  }
}

// The rotation G = [[c, s], [-conj(s), c]] (c real) with G [x; y] = [r; 0].
void givens(cd x, cd y, double& c, cd& s) {
  const double ax = std::abs(x), ay = std::abs(y);
  if (ay == 0) {
    c = 1;
    s = 0;
    return;
  }
  if (ax == 0) {
    c = 0;
    s = 1;
    return;
  }
  const double r = std::hypot(ax, ay);
  c = ax / r;
  s = (x / ax) * std::conj(y) / r;
}

// The QR iteration on the Hessenberg h (row-major), accumulating z; false if it did not converge.
bool schur(cd* h, cd* z, int64_t n, double* cs, cd* ss) {
  const double eps = std::numeric_limits<double>::epsilon();
  double hnorm = 0;
  for (int64_t i = 0; i < n * n; ++i) hnorm = std::max(hnorm, abs1(h[i]));
  int64_t hi = n - 1, iter = 0, total = 0;
  while (hi > 0) {
    // the lowest l with a negligible subdiagonal h[l][l-1] in the active part
    int64_t l = hi;
    for (; l > 0; --l) {
      double s = abs1(h[(l - 1) * n + l - 1]) + abs1(h[l * n + l]);
      if (s == 0) s = hnorm;
      if (abs1(h[l * n + l - 1]) <= eps * s) {
        h[l * n + l - 1] = 0;
        break;
      }
    }
    if (l == hi) {  // h[hi][hi] has deflated
      --hi;
      iter = 0;
      continue;
    }
    if (++total > 30 * n) return false;
    ++iter;
    // the shift: the eigenvalue of the trailing 2 x 2 closer to h[hi][hi] (Wilkinson's)
    cd mu;
    if (iter % 10 == 0) {  // exceptional shift
      mu = h[hi * n + hi] + std::abs(h[hi * n + hi - 1].real()) + std::abs(h[(hi - 1) * n + std::max<int64_t>(hi - 2, 0)].real());
    } else {
      const cd a = h[(hi - 1) * n + hi - 1], b = h[(hi - 1) * n + hi], c = h[hi * n + hi - 1], d = h[hi * n + hi];
      const cd half = 0.5 * (a - d);
      const cd disc = std::sqrt(half * half + b * c);
      const cd m1 = d - half + disc, m2 = d - half - disc;  // (a + d) / 2 +- disc
      mu = std::abs(m1 - d) < std::abs(m2 - d) ? m1 : m2;
    }
    for (int64_t k = l; k <= hi; ++k) h[k * n + k] -= mu;
    // H - mu I = G^H R on the window: rotations from the left (rows k, k+1; columns k..n-1)
    for (int64_t k = l; k < hi; ++k) {
      double c;
      cd s;
      givens(h[k * n + k], h[(k + 1) * n + k], c, s);
      cs[k] = c;
      ss[k] = s;
      for (int64_t j = k; j < n; ++j) {
        const cd t1 = h[k * n + j], t2 = h[(k + 1) * n + j];
        h[k * n + j] = c * t1 + s * t2;
        h[(k + 1) * n + j] = -std::conj(s) * t1 + c * t2;
      }
      h[(k + 1) * n + k] = 0;
    }
    // R G^H from the right (columns k, k+1; rows 0..k+1), and Z := Z G^H
    for (int64_t k = l; k < hi; ++k) {
      const double c = cs[k];
      const cd s = ss[k];
      for (int64_t i = 0; i <= std::min(k + 1, hi); ++i) {
        const cd t1 = h[i * n + k], t2 = h[i * n + k + 1];
        h[i * n + k] = t1 * c + t2 * std::conj(s);
        h[i * n + k + 1] = -t1 * s + t2 * c;
      }
      for (int64_t i = 0; i < n; ++i) {
        const cd t1 = z[i * n + k], t2 = z[i * n + k + 1];
        z[i * n + k] = t1 * c + t2 * std::conj(s);
        z[i * n + k + 1] = -t1 * s + t2 * c;
      }
    }
    for (int64_t k = l; k <= hi; ++k) h[k * n + k] += mu;
  }
  return true;
}

// Column k of x (row-major) scaled as geev does: norm 1, and the component of largest modulus (the first
// such row) real, here positive.
void normalise(cd* x, int64_t n, int64_t k) {
  double norm = 0, bigabs = -1;
  int64_t big = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double a = std::norm(x[i * n + k]);
    norm += a;
    if (a > bigabs) {
      bigabs = a;
      big = i;
    }
  }
  const cd p = x[big * n + k];
  const cd scale = std::abs(p) == 0 ? cd(1.0) : std::conj(p) / (std::abs(p) * std::sqrt(norm));
  for (int64_t i = 0; i < n; ++i) x[i * n + k] *= scale;
  x[big * n + k].imag(0.0);  // exactly real (the product leaves a rounding-size imaginary part), as geev's
}

// Eigenvectors of A = Z T Z^H (T upper triangular) into x (row-major, column k the k-th vector).
void eigenvectors(const cd* t, const cd* z, int64_t n, cd* x, cd* y) {
  const double eps = std::numeric_limits<double>::epsilon();
  double tnorm = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) tnorm = std::max(tnorm, abs1(t[i * n + j]));
  const double smin = std::max(eps * tnorm, std::numeric_limits<double>::min());
  for (int64_t k = 0; k < n; ++k) {
    const cd lam = t[k * n + k];
    y[k] = 1.0;
    for (int64_t i = k - 1; i >= 0; --i) {
      cd s = 0;
      for (int64_t j = i + 1; j <= k; ++j) s += t[i * n + j] * y[j];
      cd d = t[i * n + i] - lam;
      if (abs1(d) < smin) d = smin;
      y[i] = -s / d;
      if (abs1(y[i]) > 1e100) {  // rescale before anything overflows
        for (int64_t j = i; j <= k; ++j) y[j] *= 1e-100;
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      cd s = 0;
      for (int64_t j = 0; j <= k; ++j) s += z[i * n + j] * y[j];
      x[i * n + k] = s;
    }
    normalise(x, n, k);
  }
}

// The real route's vectors (LAPACK's packing, one per row of vr: linalg_eig_real.h) as complex columns of
// x, normalised.
void real_eigenvectors(const double* vr, const double* wi, int64_t n, cd* x) {
  for (int64_t k = 0; k < n; ++k) {
    // vector k: vr[k] (real), vr[k] + i vr[k + 1] (wi[k] > 0) or vr[k - 1] - i vr[k] (wi[k] < 0)
    const int64_t re = wi[k] < 0 ? k - 1 : k;
    const double sign = wi[k] < 0 ? -1.0 : 1.0;
    for (int64_t i = 0; i < n; ++i)
      x[i * n + k] = cd(vr[re * n + i], wi[k] == 0 ? 0.0 : sign * vr[(re + 1) * n + i]);
    normalise(x, n, k);
  }
}

template <class T>
cd load_one(const T& v) {
  if constexpr (is_complex_type_v<T>) return cd((double)v.re, (double)v.im);
  else return cd((double)v, 0.0);
}

}  // namespace

void linalg_eig(const Tensor& a, const Tensor& w, const Tensor* v, const Tensor& info) {
  const int64_t B = a.sizes[0], n = a.sizes[1], nn = n * n;
  ComplexDouble* wb = w.data<ComplexDouble>();
  ComplexDouble* vb = v ? v->data<ComplexDouble>() : nullptr;
  int64_t* ib = info.data<int64_t>();
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* ab = a.data<T>();
    // workspace (in doubles): H, Q/Z, X (2 n^2 each complex), v/y/ss (2 n each), cs (n)
    dense::for_each_matrix(B, 20 * nn * n, 2 * (3 * nn + 3 * n) + n, [&](int64_t b, double* ws) {
      cd* h = reinterpret_cast<cd*>(ws);
      cd* q = h + nn;
      cd* x = q + nn;
      cd* tmp = x + nn;
      cd* ss = tmp + n;
      cd* y = ss + n;
      double* cs = reinterpret_cast<double*>(y + n);
      bool ok = true;
      const double nan = std::numeric_limits<double>::quiet_NaN();
      if constexpr (!is_complex_type_v<T>) {  // the real route, in the same workspace
        double* ar = reinterpret_cast<double*>(h);  // n^2
        double* vr = reinterpret_cast<double*>(q);  // n^2
        double* wr = reinterpret_cast<double*>(tmp), *wi = wr + n, *ort = reinterpret_cast<double*>(ss);
        for (int64_t i = 0; i < nn; ++i) {
          ar[i] = (double)ab[b * nn + i];
          ok = ok && std::isfinite(ar[i]);
        }
        if (ok) ok = eig_real::eig(ar, vr, wr, wi, ort, n, vb != nullptr);
        ib[b] = ok ? 0 : 1;
        for (int64_t k = 0; k < n; ++k) wb[b * n + k] = ok ? ComplexDouble(wr[k], wi[k]) : ComplexDouble(nan, nan);
        if (vb) {
          if (ok) real_eigenvectors(vr, wi, n, x);
          for (int64_t i = 0; i < nn; ++i) {
            const cd e = ok ? x[i] : cd(nan, nan);
            vb[b * nn + i] = ComplexDouble(e.real(), e.imag());
          }
        }
        return;
      }
      for (int64_t i = 0; i < nn; ++i) {
        h[i] = load_one(ab[b * nn + i]);
        ok = ok && std::isfinite(h[i].real()) && std::isfinite(h[i].imag());
      }
      if (ok) {
        hessenberg(h, q, n, tmp);
        ok = schur(h, q, n, cs, ss);
      }
      ib[b] = ok ? 0 : 1;
      for (int64_t k = 0; k < n; ++k) {
        const cd l = ok ? h[k * n + k] : cd(nan, nan);
        wb[b * n + k] = ComplexDouble(l.real(), l.imag());
      }
      if (vb) {
        if (ok) eigenvectors(h, q, n, x, y);
        for (int64_t i = 0; i < nn; ++i) {
          const cd e = ok ? x[i] : cd(nan, nan);
          vb[b * nn + i] = ComplexDouble(e.real(), e.imag());
        }
      }
    });
  };
  switch (a.dtype) {
    case DType::Float32: run(float{}); break;
    case DType::Float64: run(double{}); break;
    case DType::Complex64: run(ComplexFloat{}); break;
    default: run(ComplexDouble{}); break;
  }
}

}  // namespace flambeau::cpu
