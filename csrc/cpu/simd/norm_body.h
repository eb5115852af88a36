// The elementwise loops of the normalization kernels, written once as plain loops that the compiler
// vectorises, and compiled once per instruction set: inside csrc/cpu/normalization.cpp (portable:
// SSE2), and by csrc/cpu/simd/norm_avx2.cpp and norm_avx512.cpp. Each is a function of plain
// pointer and value arguments, never a lambda capturing by reference: the callers run inside
// OpenMP regions, where captured references must be reloaded after every store, which keeps a
// loop scalar.
//
// Same bits on every instruction set: each output element is computed by the same sequence of IEEE
// operations whatever the vector width (the sums here accumulate each channel independently, in
// row order), and the leaf files turn off GCC's a*b+c contraction (#pragma GCC optimize
// "fp-contract=off"), which would otherwise fuse multiply-adds where FMA is available. The
// order-dependent plane sums (double accumulators) stay in norm_optim_vec.h, baseline only.
//
// Included only inside an anonymous namespace, after <cstdint> and cpu/simd/norm_simd.h (no include
// guard: every includer needs its own copy); no std:: templates, so nothing here can be merged
// across instruction sets by the linker.

// y = (x - m) * a + b over n elements (m: the high part of the mean, its low part folded into b,
// see bn_forward)
template <class T>
void affine_plane(T* y, const T* x, int64_t n, T m, T a, T b) {
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * a + b;
}
// the same with per-element (per-channel) m, a, b
template <class T>
void affine_row(T* y, const T* x, int64_t n, const T* m, const T* a, const T* b) {
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m[i]) * a[i] + b[i];
}
// dx = dy * a
template <class T>
void scale_plane(T* dx, const T* dy, int64_t n, T a) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * a;
}
template <class T>
void scale_row(T* dx, const T* dy, int64_t n, const T* a) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * a[i];
}
// batch norm training dx = ((dy - md) - (x - m) * k) * a
template <class T>
void bn_dx_plane(T* dx, const T* dy, const T* x, int64_t n, T md, T k, T m, T a) {
  for (int64_t i = 0; i < n; ++i) dx[i] = ((dy[i] - md) - (x[i] - m) * k) * a;
}
template <class T>
void bn_dx_row(T* dx, const T* dy, const T* x, int64_t n, const T* md, const T* k, const T* m, const T* a) {
  for (int64_t i = 0; i < n; ++i) dx[i] = ((dy[i] - md[i]) - (x[i] - m[i]) * k[i]) * a[i];
}
// layer / group norm dx = g * a + (x - m) * bc + cd
template <class T>
void norm_dx(T* dx, const T* g, const T* x, int64_t n, T a, T m, T bc, T cd) {
  for (int64_t i = 0; i < n; ++i) dx[i] = g[i] * a + (x[i] - m) * bc + cd;
}
// out = a * b
template <class T>
void mul_rows(T* out, const T* a, const T* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}
// pw += dy * ((x - m) * rs), pb += dy, in double
template <class T>
void param_grad_row(const T* dy, const T* x, double m, double rs, double* pw, double* pb, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    double g = (double)dy[i];
    pw[i] += g * (((double)x[i] - m) * rs);
    pb[i] += g;
  }
}
// layer norm forward row: y = ((x - m) - ml) * a [* w] [+ b]
template <class T>
void ln_row(T* y, const T* x, const T* w, const T* b, int64_t n, T m, T ml, T a) {
  if (w && b) {
    for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - m) - ml) * a * w[i] + b[i];
  } else if (w) {
    for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - m) - ml) * a * w[i];
  } else if (b) {
    for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - m) - ml) * a + b[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - m) - ml) * a;
  }
}

// Column sums of a row-major block (2-D batch norm: channels contiguous in a row). For channels
// c < n: pa[c] += sum_r (x[r*ld + c] - K[c]), pb[c] += sum_r (x[r*ld + c] - K[c])^2, over nrows
// rows summed in T first (float: the caller keeps nrows <= 8, a few ulps at most), then added to
// the double partials, so the double work is 1/nrows of the elements.
template <class T>
void shifted_rows(const T* x, int64_t ld, int64_t nrows, const T* K, double* pa, double* pb, int64_t n) {
  constexpr int64_t CB = 512;
  T s[CB], q[CB];
  for (int64_t c0 = 0; c0 < n; c0 += CB) {
    const int64_t cn = n - c0 < CB ? n - c0 : CB;
    for (int64_t j = 0; j < cn; ++j) s[j] = q[j] = T(0);
    for (int64_t r = 0; r < nrows; ++r) {
      const T* xr = x + r * ld + c0;
      const T* k = K + c0;
      for (int64_t j = 0; j < cn; ++j) {
        T d = xr[j] - k[j];
        s[j] += d;
        q[j] += d * d;
      }
    }
    for (int64_t j = 0; j < cn; ++j) {
      pa[c0 + j] += (double)s[j];
      pb[c0 + j] += (double)q[j];
    }
  }
}
// pa[c] += sum_r dy[r*ld + c], pb[c] += sum_r dy[r*ld + c] * (x[r*ld + c] - m[c]) (as shifted_rows)
template <class T>
void grad_rows(const T* dy, const T* x, int64_t ld, int64_t nrows, const T* m, double* pa, double* pb, int64_t n) {
  constexpr int64_t CB = 512;
  T s[CB], q[CB];
  for (int64_t c0 = 0; c0 < n; c0 += CB) {
    const int64_t cn = n - c0 < CB ? n - c0 : CB;
    for (int64_t j = 0; j < cn; ++j) s[j] = q[j] = T(0);
    for (int64_t r = 0; r < nrows; ++r) {
      const T* gr = dy + r * ld + c0;
      const T* xr = x + r * ld + c0;
      const T* mm = m + c0;
      for (int64_t j = 0; j < cn; ++j) {
        T g = gr[j];
        s[j] += g;
        q[j] += g * (xr[j] - mm[j]);
      }
    }
    for (int64_t j = 0; j < cn; ++j) {
      pa[c0 + j] += (double)s[j];
      pb[c0 + j] += (double)q[j];
    }
  }
}

struct NormTables {
  template <class T>
  static const flambeau::cpu::norm::Fns<T>* make() {
    static const flambeau::cpu::norm::Fns<T> t{&affine_plane<T>, &affine_row<T>, &scale_plane<T>, &scale_row<T>,
                                               &bn_dx_plane<T>,  &bn_dx_row<T>,  &norm_dx<T>,     &mul_rows<T>,
                                               &param_grad_row<T>, &ln_row<T>,   &shifted_rows<T>, &grad_rows<T>};
    return &t;
  }
  static const flambeau::cpu::norm::Fns<float>* f32() { return make<float>(); }
  static const flambeau::cpu::norm::Fns<double>* f64() { return make<double>(); }
};
