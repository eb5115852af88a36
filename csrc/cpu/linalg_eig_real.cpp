// The real non-symmetric eigenproblem A V = V diag(w) for torch.linalg.eig / eigvals of float32/float64
// input (all in double). The algorithms are EISPACK's orthes and hqr2 (Wilkinson and Reinsch's Handbook;
// in the form of the public-domain JAMA port), the real arithmetic LAPACK's dgeev also uses:
//
//   1. orthes: Householder reduction to upper Hessenberg form H = Q^T A Q, Q accumulated into V.
//   2. hqr2, the iteration: the Francis double-shift QR step on the active window (a 3-row Householder
//      bulge chased down the subdiagonal; the shifts are the trailing 2 x 2 block's eigenvalues, a real
//      pair or a complex-conjugate pair, so everything stays real), with the exceptional shifts after 10
//      and 30 steps without deflation; 1 x 1 blocks deflate real eigenvalues, 2 x 2 blocks a real pair
//      (rotated to triangular form) or a complex-conjugate pair (left as a 2 x 2 block). Applied to whole
//      rows and columns, and to V, it gives the real Schur form T = Z^T A Z.
//   3. hqr2, the vectors: back substitution on T for each eigenvalue (complex arithmetic in pairs of reals
//      for a conjugate pair, whose vector is stored as two real columns), then V := Z Y.
//
// The complex iteration the complex dtypes take (cpu/linalg_eig.cpp) ran on real input before: here the
// arithmetic is real (a quarter of the flops per step, two shifts per step), real eigenvalues come out
// exactly real and conjugate pairs exactly conjugate (as LAPACK's). Z is kept transposed, so that the
// reflections applied to its columns stream through memory. 4 x 256 x 256 float64, one thread (a loaded
// 2-core guest): 2557 -> 432 ms (PyTorch 217); 4 x 64 x 64: 34.9 -> 2.8 ms (PyTorch 4.0).
#include "cpu/linalg_eig_real.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace flambeau::cpu::eig_real {

namespace {

// (xr + i xi) / (yr + i yi) by Smith's algorithm (no overflow in |y|^2)
inline void cdiv(double xr, double xi, double yr, double yi, double& qr, double& qi) {
  if (std::abs(yr) > std::abs(yi)) {
    const double r = yi / yr, d = yr + r * yi;
    qr = (xr + r * xi) / d;
    qi = (xi - r * xr) / d;
  } else {
    const double r = yr / yi, d = yi + r * yr;
    qr = (r * xr + xi) / d;
    qi = (r * xi - xr) / d;
  }
}

// Householder reduction of a to upper Hessenberg form (entries below the subdiagonal zeroed at the end);
// with v, the orthogonal Q with A = Q H Q^T accumulated there, transposed (v[j * n + i] = Q[i][j]).
void orthes(double* a, double* v, double* ort, int64_t n) {
  auto H = [&](int64_t i, int64_t j) -> double& { return a[i * n + j]; };
  const int64_t high = n - 1;
  for (int64_t m = 1; m <= high - 1; ++m) {
    double scale = 0.0;
    for (int64_t i = m; i <= high; ++i) scale += std::abs(H(i, m - 1));
    if (scale == 0.0) continue;
    double h = 0.0;
    for (int64_t i = high; i >= m; --i) {
      ort[i] = H(i, m - 1) / scale;
      h += ort[i] * ort[i];
    }
    double g = std::sqrt(h);
    if (ort[m] > 0) g = -g;
    h -= ort[m] * g;
    ort[m] -= g;
    // H := (I - u u^T / h) H: rows m..high, columns m.. (column m - 1 is set below)
    std::vector<double> f((size_t)n, 0.0);
    for (int64_t i = high; i >= m; --i) {
      const double oi = ort[i];
      const double* row = &H(i, 0);
      for (int64_t j = m; j < n; ++j) f[j] += oi * row[j];
    }
    for (int64_t j = m; j < n; ++j) f[j] /= h;
    for (int64_t i = m; i <= high; ++i) {
      const double oi = ort[i];
      double* row = &H(i, 0);
      for (int64_t j = m; j < n; ++j) row[j] -= f[j] * oi;
    }
    // H := H (I - u u^T / h): all rows, columns m..high
    for (int64_t i = 0; i <= high; ++i) {
      double* row = &H(i, 0);
      double s = 0.0;
      for (int64_t j = high; j >= m; --j) s += ort[j] * row[j];
      s /= h;
      for (int64_t j = m; j <= high; ++j) row[j] -= s * ort[j];
    }
    ort[m] *= scale;
    H(m, m - 1) = scale * g;
  }
  if (v) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) v[i * n + j] = i == j ? 1.0 : 0.0;
    for (int64_t m = high - 1; m >= 1; --m) {
      if (H(m, m - 1) == 0.0) continue;
      for (int64_t i = m + 1; i <= high; ++i) ort[i] = H(i, m - 1);
      // Q[m.., j] += u (u^T Q[m.., j]) / (ort[m] H[m][m-1]) for j >= m: column j of Q is row j of v
      for (int64_t j = m; j <= high; ++j) {
        double* col = v + j * n;
        double g = 0.0;
        for (int64_t i = m; i <= high; ++i) g += ort[i] * col[i];
        g = (g / ort[m]) / H(m, m - 1);  // two divisions: no underflow
        for (int64_t i = m; i <= high; ++i) col[i] += g * ort[i];
      }
    }
  }
  for (int64_t i = 2; i < n; ++i)
    for (int64_t j = 0; j + 1 < i; ++j) H(i, j) = 0.0;
}

}  // namespace

bool eig(double* a, double* v, double* wr, double* wi, double* ort, int64_t nn, bool want_v) {
  if (nn == 0) return true;
  orthes(a, want_v ? v : nullptr, ort, nn);
  auto H = [&](int64_t i, int64_t j) -> double& { return a[i * nn + j]; };
  // Z (and at the end the eigenvectors) stored transposed: column j of Z is the contiguous row j of v, so
  // that the rotations and reflections applied to its columns run along memory
  auto V = [&](int64_t i, int64_t j) -> double& { return v[j * nn + i]; };
  const double eps = std::numeric_limits<double>::epsilon();
  double exshift = 0.0, p = 0, q = 0, r = 0, s = 0, z = 0, t, w, x, y;

  double norm = 0.0;
  for (int64_t i = 0; i < nn; ++i)
    for (int64_t j = std::max<int64_t>(i - 1, 0); j < nn; ++j) norm += std::abs(H(i, j));
  if (norm == 0.0) {  // A = 0 (no subdiagonal would count as negligible next to 0): w = 0, V = I
    for (int64_t i = 0; i < nn; ++i) wr[i] = wi[i] = 0.0;
    return true;
  }

  int64_t n = nn - 1, iter = 0, total = 0;
  const int64_t max_total = 30 * std::max<int64_t>(10, nn) * nn;
  while (n >= 0) {
    // the lowest l with a negligible subdiagonal H[l][l-1]
    int64_t l = n;
    while (l > 0) {
      s = std::abs(H(l - 1, l - 1)) + std::abs(H(l, l));
      if (s == 0.0) s = norm;
      if (std::abs(H(l, l - 1)) < eps * s) break;
      --l;
    }
    if (l == n) {  // one root
      H(n, n) += exshift;
      wr[n] = H(n, n);
      wi[n] = 0.0;
      --n;
      iter = 0;
    } else if (l == n - 1) {  // two roots
      w = H(n, n - 1) * H(n - 1, n);
      p = (H(n - 1, n - 1) - H(n, n)) / 2.0;
      q = p * p + w;
      z = std::sqrt(std::abs(q));
      H(n, n) += exshift;
      H(n - 1, n - 1) += exshift;
      x = H(n, n);
      if (q >= 0) {  // a real pair: rotate the block to triangular form
        z = p >= 0 ? p + z : p - z;
        wr[n - 1] = x + z;
        wr[n] = wr[n - 1];
        if (z != 0.0) wr[n] = x - w / z;
        wi[n - 1] = 0.0;
        wi[n] = 0.0;
        x = H(n, n - 1);
        s = std::abs(x) + std::abs(z);
        p = x / s;
        q = z / s;
        r = std::sqrt(p * p + q * q);
        p /= r;
        q /= r;
        for (int64_t j = n - 1; j < nn; ++j) {
          z = H(n - 1, j);
          H(n - 1, j) = q * z + p * H(n, j);
          H(n, j) = q * H(n, j) - p * z;
        }
        for (int64_t i = 0; i <= n; ++i) {
          z = H(i, n - 1);
          H(i, n - 1) = q * z + p * H(i, n);
          H(i, n) = q * H(i, n) - p * z;
        }
        if (want_v) {
          for (int64_t i = 0; i < nn; ++i) {
            z = V(i, n - 1);
            V(i, n - 1) = q * z + p * V(i, n);
            V(i, n) = q * V(i, n) - p * z;
          }
        }
      } else {  // a complex-conjugate pair, the positive imaginary part first (LAPACK's order)
        wr[n - 1] = x + p;
        wr[n] = x + p;
        wi[n - 1] = z;
        wi[n] = -z;
      }
      n -= 2;
      iter = 0;
    } else {  // no convergence yet: a double-shift step
      if (++total > max_total) return false;
      x = H(n, n);
      y = 0.0;
      w = 0.0;
      if (l < n) {
        y = H(n - 1, n - 1);
        w = H(n, n - 1) * H(n - 1, n);
      }
      if (iter == 10) {  // Wilkinson's exceptional shift
        exshift += x;
        for (int64_t i = 0; i <= n; ++i) H(i, i) -= x;
        s = std::abs(H(n, n - 1)) + std::abs(H(n - 1, n - 2));
        x = y = 0.75 * s;
        w = -0.4375 * s * s;
      }
      if (iter == 30) {  // MATLAB's exceptional shift
        s = (y - x) / 2.0;
        s = s * s + w;
        if (s > 0) {
          s = std::sqrt(s);
          if (y < x) s = -s;
          s = x - w / ((y - x) / 2.0 + s);
          for (int64_t i = 0; i <= n; ++i) H(i, i) -= s;
          exshift += s;
          x = y = w = 0.964;
        }
      }
      ++iter;
      // two consecutive small subdiagonal elements: where the bulge starts
      int64_t m = n - 2;
      while (m >= l) {
        z = H(m, m);
        r = x - z;
        s = y - z;
        p = (r * s - w) / H(m + 1, m) + H(m, m + 1);
        q = H(m + 1, m + 1) - z - r - s;
        r = H(m + 2, m + 1);
        s = std::abs(p) + std::abs(q) + std::abs(r);
        p /= s;
        q /= s;
        r /= s;
        if (m == l) break;
        if (std::abs(H(m, m - 1)) * (std::abs(q) + std::abs(r)) <
            eps * (std::abs(p) * (std::abs(H(m - 1, m - 1)) + std::abs(z) + std::abs(H(m + 1, m + 1)))))
          break;
        --m;
      }
      for (int64_t i = m + 2; i <= n; ++i) {
        H(i, i - 2) = 0.0;
        if (i > m + 2) H(i, i - 3) = 0.0;
      }
      // the double QR step on rows l..n, columns m..n
      for (int64_t k = m; k <= n - 1; ++k) {
        const bool notlast = k != n - 1;
        if (k != m) {
          p = H(k, k - 1);
          q = H(k + 1, k - 1);
          r = notlast ? H(k + 2, k - 1) : 0.0;
          x = std::abs(p) + std::abs(q) + std::abs(r);
          if (x == 0.0) continue;
          p /= x;
          q /= x;
          r /= x;
        }
        s = std::sqrt(p * p + q * q + r * r);
        if (p < 0) s = -s;
        if (s == 0) continue;
        if (k != m) H(k, k - 1) = -s * x;
        else if (l != m) H(k, k - 1) = -H(k, k - 1);
        p += s;
        x = p / s;
        y = q / s;
        z = r / s;
        q /= p;
        r /= p;
        double* r0 = &H(k, 0);
        double* r1 = &H(k + 1, 0);
        if (notlast) {
          double* r2 = &H(k + 2, 0);
          for (int64_t j = k; j < nn; ++j) {
            const double pj = r0[j] + q * r1[j] + r * r2[j];
            r2[j] -= pj * z;
            r0[j] -= pj * x;
            r1[j] -= pj * y;
          }
        } else {
          for (int64_t j = k; j < nn; ++j) {
            const double pj = r0[j] + q * r1[j];
            r0[j] -= pj * x;
            r1[j] -= pj * y;
          }
        }
        const int64_t last = std::min(n, k + 3);
        for (int64_t i = 0; i <= last; ++i) {
          double* row = &H(i, 0);
          double pi = x * row[k] + y * row[k + 1];
          if (notlast) {
            pi += z * row[k + 2];
            row[k + 2] -= pi * r;
          }
          row[k] -= pi;
          row[k + 1] -= pi * q;
        }
        if (want_v) {
          double* c0 = v + k * nn;
          double* c1 = c0 + nn;
          if (notlast) {
            double* c2 = c1 + nn;
            for (int64_t i = 0; i < nn; ++i) {
              const double pi = x * c0[i] + y * c1[i] + z * c2[i];
              c2[i] -= pi * r;
              c0[i] -= pi;
              c1[i] -= pi * q;
            }
          } else {
            for (int64_t i = 0; i < nn; ++i) {
              const double pi = x * c0[i] + y * c1[i];
              c0[i] -= pi;
              c1[i] -= pi * q;
            }
          }
        }
      }
    }
  }
  if (!want_v) return true;

  // back substitution for the vectors of the quasi-triangular T, into T's upper triangle
  for (n = nn - 1; n >= 0; --n) {
    p = wr[n];
    q = wi[n];
    if (q == 0) {  // a real vector
      int64_t l = n;
      H(n, n) = 1.0;
      for (int64_t i = n - 1; i >= 0; --i) {
        w = H(i, i) - p;
        r = 0.0;
        for (int64_t j = l; j <= n; ++j) r += H(i, j) * H(j, n);
        if (wi[i] < 0.0) {
          z = w;
          s = r;
        } else {
          l = i;
          if (wi[i] == 0.0) {
            H(i, n) = w != 0.0 ? -r / w : -r / (eps * norm);
          } else {  // a 2 x 2 block: two real equations
            x = H(i, i + 1);
            y = H(i + 1, i);
            q = (wr[i] - p) * (wr[i] - p) + wi[i] * wi[i];
            t = (x * s - z * r) / q;
            H(i, n) = t;
            H(i + 1, n) = std::abs(x) > std::abs(z) ? (-r - w * t) / x : (-s - y * t) / z;
          }
          t = std::abs(H(i, n));  // overflow control
          if ((eps * t) * t > 1)
            for (int64_t j = i; j <= n; ++j) H(j, n) /= t;
        }
      }
    } else if (q < 0) {  // a complex vector, in columns n - 1 (real part) and n (imaginary part)
      int64_t l = n - 1;
      if (std::abs(H(n, n - 1)) > std::abs(H(n - 1, n))) {
        H(n - 1, n - 1) = q / H(n, n - 1);
        H(n - 1, n) = -(H(n, n) - p) / H(n, n - 1);
      } else {
        cdiv(0.0, -H(n - 1, n), H(n - 1, n - 1) - p, q, H(n - 1, n - 1), H(n - 1, n));
      }
      H(n, n - 1) = 0.0;
      H(n, n) = 1.0;
      for (int64_t i = n - 2; i >= 0; --i) {
        double ra = 0.0, sa = 0.0, vr, vi;
        for (int64_t j = l; j <= n; ++j) {
          ra += H(i, j) * H(j, n - 1);
          sa += H(i, j) * H(j, n);
        }
        w = H(i, i) - p;
        if (wi[i] < 0.0) {
          z = w;
          r = ra;
          s = sa;
        } else {
          l = i;
          if (wi[i] == 0) {
            cdiv(-ra, -sa, w, q, H(i, n - 1), H(i, n));
          } else {  // a 2 x 2 block: two complex equations
            x = H(i, i + 1);
            y = H(i + 1, i);
            vr = (wr[i] - p) * (wr[i] - p) + wi[i] * wi[i] - q * q;
            vi = (wr[i] - p) * 2.0 * q;
            if (vr == 0.0 && vi == 0.0)
              vr = eps * norm * (std::abs(w) + std::abs(q) + std::abs(x) + std::abs(y) + std::abs(z));
            cdiv(x * r - z * ra + q * sa, x * s - z * sa - q * ra, vr, vi, H(i, n - 1), H(i, n));
            if (std::abs(x) > (std::abs(z) + std::abs(q))) {
              H(i + 1, n - 1) = (-ra - w * H(i, n - 1) + q * H(i, n)) / x;
              H(i + 1, n) = (-sa - w * H(i, n) - q * H(i, n - 1)) / x;
            } else {
              cdiv(-r - y * H(i, n - 1), -s - y * H(i, n), z, q, H(i + 1, n - 1), H(i + 1, n));
            }
          }
          t = std::max(std::abs(H(i, n - 1)), std::abs(H(i, n)));  // overflow control
          if ((eps * t) * t > 1)
            for (int64_t j = i; j <= n; ++j) {
              H(j, n - 1) /= t;
              H(j, n) /= t;
            }
        }
      }
    }
  }
  // V := Z Y, Y the upper triangle of H now: column j of V = sum over k <= j of Y[k][j] (column k of Z),
  // k in order; j from the last, so that the columns of Z it reads are still Z's
  std::vector<double> col((size_t)nn);
  for (int64_t j = nn - 1; j >= 0; --j) {
    std::fill(col.begin(), col.end(), 0.0);
    for (int64_t k = 0; k <= j; ++k) {
      const double c = H(k, j);
      const double* zk = v + k * nn;
      for (int64_t i = 0; i < nn; ++i) col[i] += c * zk[i];
    }
    std::copy(col.begin(), col.end(), v + j * nn);
  }
  return true;
}

}  // namespace flambeau::cpu::eig_real
