// Softmax and log-softmax along one dim of a contiguous tensor viewed as [outer, n, inner].
// Each (outer, inner) line is done in three passes (max, sum of exp, write) in float64 for float32
// input, which keeps logits in the thousands exact to float32 rounding.
#include <cmath>
#include <limits>
#include "cpu/kernels.h"
#include "cpu/parallel.h"

namespace flambeau::cpu {

namespace {
struct Lines {
  int64_t outer = 1, n = 1, inner = 1;
};
Lines lines_of(const Tensor& t, int64_t dim) {
  Lines l;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (d < dim) l.outer *= t.sizes[d];
    else if (d == dim) l.n = t.sizes[d];
    else l.inner *= t.sizes[d];
  }
  return l;
}
}  // namespace

void softmax(const Tensor& out, const Tensor& in, int64_t dim, bool log) {
  Lines L = lines_of(in, dim);
  FLB_DISPATCH_FLOATING(in.dtype, "softmax", [&] {
    using T = scalar_t;
    const T* x = in.data<T>();
    T* y = out.data<T>();
    parallel_for(L.outer * L.inner, std::max<int64_t>(1, kGrain / std::max<int64_t>(L.n, 1)), [&](int64_t b, int64_t e) {
      for (int64_t line = b; line < e; ++line) {
        int64_t o = line / L.inner, i = line % L.inner;
        const T* xl = x + o * L.n * L.inner + i;
        T* yl = y + o * L.n * L.inner + i;
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t k = 0; k < L.n; ++k) m = std::fmax(m, (double)xl[k * L.inner]);
        if (std::isinf(m) && m < 0) m = 0;  // all -inf: exp gives 0s, as PyTorch (NaN out)
        double s = 0;
        for (int64_t k = 0; k < L.n; ++k) s += std::exp((double)xl[k * L.inner] - m);
        if (log) {
          double ls = std::log(s) + m;
          for (int64_t k = 0; k < L.n; ++k) yl[k * L.inner] = (T)((double)xl[k * L.inner] - ls);
        } else {
          double inv = 1.0 / s;
          for (int64_t k = 0; k < L.n; ++k) yl[k * L.inner] = (T)(std::exp((double)xl[k * L.inner] - m) * inv);
        }
      }
    });
  });
}

void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, int64_t dim, bool log) {
  Lines L = lines_of(out, dim);
  FLB_DISPATCH_FLOATING(out.dtype, "softmax_backward", [&] {
    using T = scalar_t;
    const T* g = grad_out.data<T>();
    const T* y = out.data<T>();
    T* gi = grad_in.data<T>();
    parallel_for(L.outer * L.inner, std::max<int64_t>(1, kGrain / std::max<int64_t>(L.n, 1)), [&](int64_t b, int64_t e) {
      for (int64_t line = b; line < e; ++line) {
        int64_t o = line / L.inner, i = line % L.inner;
        int64_t base = o * L.n * L.inner + i;
        double s = 0;
        if (log) {
          // d/dx log_softmax: g - exp(y) * sum(g)
          for (int64_t k = 0; k < L.n; ++k) s += (double)g[base + k * L.inner];
          for (int64_t k = 0; k < L.n; ++k) {
            int64_t j = base + k * L.inner;
            gi[j] = (T)((double)g[j] - std::exp((double)y[j]) * s);
          }
        } else {
          // d/dx softmax: y * (g - sum(g * y))
          for (int64_t k = 0; k < L.n; ++k) s += (double)g[base + k * L.inner] * (double)y[base + k * L.inner];
          for (int64_t k = 0; k < L.n; ++k) {
            int64_t j = base + k * L.inner;
            gi[j] = (T)((double)y[j] * ((double)g[j] - s));
          }
        }
      }
    });
  });
}

}  // namespace flambeau::cpu
