// Complex DFT along the last dim, any length, in double precision.
//
// Lengths whose prime factors are all <= kMaxRadix run a recursive mixed-radix Cooley-Tukey
// (decimation in time): radix 4 and 2 butterflies written out, other primes as a direct O(p^2)
// butterfly. Twiddles come from one table w[j] = exp(-+2 pi i j / n) computed with cos/sin of exact
// integer multiples, so the error grows as the depth of the recursion (~log n roundings of double).
// A length with a larger prime factor uses Bluestein's chirp-z: the DFT as a circular convolution
// of power-of-two length m >= 2n - 1 (done by the mixed-radix code), with the chirp's phase k^2
// reduced mod 2n in integers so that it stays exact for large k.
// complex64 rows are widened to double, transformed and rounded once: more accurate than a float
// FFT (PyTorch's pocketfft computes complex64 in float), so results agree to float rounding.
// Rows are independent and run in parallel, each thread with its own scratch.
#include "cpu/fft.h"

#include <cmath>
#include <memory>
#include <vector>

#include "core/view.h"
#include "cpu/parallel.h"

namespace flambeau::cpu {
namespace {

struct cd {
  double re, im;
};
inline cd operator+(cd a, cd b) { return {a.re + b.re, a.im + b.im}; }
inline cd operator-(cd a, cd b) { return {a.re - b.re, a.im - b.im}; }
inline cd operator*(cd a, cd b) { return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re}; }
inline cd conj(cd a) { return {a.re, -a.im}; }

constexpr int64_t kMaxRadix = 64;  // primes up to this run as direct butterflies; larger ones Bluestein

struct Plan {
  int64_t n = 0;
  int sign = -1;                 // -1: forward, +1: inverse (unnormalised)
  std::vector<int64_t> factors;  // radices, product n (empty for n == 1 and for Bluestein)
  std::vector<cd> w;             // w[j] = exp(sign * 2 pi i j / n)
  bool bluestein = false;
  int64_t m = 0;                 // Bluestein's convolution length (a power of two)
  std::unique_ptr<Plan> conv;    // forward plan of length m
  std::vector<cd> chirp;         // exp(sign * pi i (k^2 mod 2n) / n), k < n
  std::vector<cd> bhat;          // DFT_m of the conjugate chirp, divided by m
};

std::vector<cd> unit_roots(int64_t n, int sign) {
  std::vector<cd> w((size_t)n);
  const double step = 2.0 * M_PI / (double)n;
  for (int64_t j = 0; j < n; ++j) {
    const double a = step * (double)j;
    w[(size_t)j] = {std::cos(a), sign * std::sin(a)};
  }
  return w;
}

void execute(const Plan& p, const cd* in, cd* out, std::vector<cd>& scratch);

std::unique_ptr<Plan> make_plan(int64_t n, int sign) {
  auto p = std::make_unique<Plan>();
  p->n = n;
  p->sign = sign;
  int64_t r = n;
  while (r % 4 == 0) p->factors.push_back(4), r /= 4;
  while (r % 2 == 0) p->factors.push_back(2), r /= 2;
  for (int64_t f = 3; f <= kMaxRadix && r > 1; f += 2)
    while (r % f == 0) p->factors.push_back(f), r /= f;
  if (r == 1) {
    if (n > 1) p->w = unit_roots(n, sign);
    return p;
  }
  // A prime factor above kMaxRadix: Bluestein over the whole length.
  p->factors.clear();
  p->bluestein = true;
  int64_t m = 1;
  while (m < 2 * n - 1) m *= 2;
  p->m = m;
  p->conv = make_plan(m, -1);
  p->chirp.resize((size_t)n);
  const int64_t two_n = 2 * n;
  for (int64_t k = 0; k < n; ++k) {
    // k^2 mod 2n without overflow for any n below 2^31 (k < n, so k % two_n == k).
    const int64_t q = (int64_t)(((unsigned __int128)k * (unsigned __int128)k) % (unsigned __int128)two_n);
    const double a = M_PI * (double)q / (double)n;
    p->chirp[(size_t)k] = {std::cos(a), sign * std::sin(a)};
  }
  std::vector<cd> b((size_t)m, cd{0, 0});
  b[0] = conj(p->chirp[0]);
  for (int64_t j = 1; j < n; ++j) b[(size_t)j] = b[(size_t)(m - j)] = conj(p->chirp[(size_t)j]);
  p->bhat.resize((size_t)m);
  std::vector<cd> scratch;
  execute(*p->conv, b.data(), p->bhat.data(), scratch);
  const double inv_m = 1.0 / (double)m;
  for (auto& v : p->bhat) v = {v.re * inv_m, v.im * inv_m};
  return p;
}

// The DFT of length `len` of in[0], in[is], in[2 is], ... into out[0 .. len): the sub-transforms of
// the `p` decimated sequences (p = factors[fi]) into consecutive blocks of out, then the radix-p
// butterflies across the blocks, in place.
void recurse(const Plan& P, const cd* in, int64_t is, cd* out, int64_t len, size_t fi) {
  const int64_t p = P.factors[fi], m = len / p;
  if (m == 1) {
    for (int64_t r = 0; r < p; ++r) out[r] = in[r * is];
  } else {
    for (int64_t r = 0; r < p; ++r) recurse(P, in + r * is, is * p, out + r * m, m, fi + 1);
  }
  const cd* w = P.w.data();
  const int64_t ts = P.n / len;  // W_len^j = w[j * ts]
  if (p == 2) {
    for (int64_t k = 0; k < m; ++k) {
      const cd t0 = out[k], t1 = out[m + k] * w[k * ts];
      out[k] = t0 + t1;
      out[m + k] = t0 - t1;
    }
  } else if (p == 4) {
    const double s = (double)P.sign;  // W_4 = s * i
    for (int64_t k = 0; k < m; ++k) {
      const cd t0 = out[k], t1 = out[m + k] * w[k * ts], t2 = out[2 * m + k] * w[2 * k * ts],
               t3 = out[3 * m + k] * w[3 * k * ts];
      const cd a = t0 + t2, b = t0 - t2, c = t1 + t3, e = t1 - t3;
      const cd d = {-s * e.im, s * e.re};
      out[k] = a + c;
      out[m + k] = b + d;
      out[2 * m + k] = a - c;
      out[3 * m + k] = b - d;
    }
  } else {
    cd t[kMaxRadix];
    const int64_t wp = P.n / p;  // W_p^j = w[j * wp]
    for (int64_t k = 0; k < m; ++k) {
      t[0] = out[k];
      for (int64_t r = 1; r < p; ++r) t[r] = out[r * m + k] * w[r * k * ts];
      for (int64_t q = 0; q < p; ++q) {
        cd acc = t[0];
        for (int64_t r = 1; r < p; ++r) acc = acc + t[r] * w[((r * q) % p) * wp];
        out[q * m + k] = acc;
      }
    }
  }
}

// out = DFT(in) (in != out). scratch: Bluestein's work space, grown on first use.
void execute(const Plan& p, const cd* in, cd* out, std::vector<cd>& scratch) {
  if (p.n == 1) {
    out[0] = in[0];
    return;
  }
  if (!p.bluestein) {
    recurse(p, in, 1, out, p.n, 0);
    return;
  }
  const int64_t n = p.n, m = p.m;
  if ((int64_t)scratch.size() < 2 * m) scratch.resize((size_t)(2 * m));
  cd* a = scratch.data();
  cd* A = a + m;
  for (int64_t k = 0; k < n; ++k) a[k] = in[k] * p.chirp[(size_t)k];
  for (int64_t k = n; k < m; ++k) a[k] = {0, 0};
  std::vector<cd> unused;
  execute(*p.conv, a, A, unused);
  // The inverse DFT of A * bhat as conj(DFT(conj(.))): one forward plan serves both directions.
  for (int64_t k = 0; k < m; ++k) A[k] = conj(A[k] * p.bhat[(size_t)k]);
  execute(*p.conv, A, a, unused);
  for (int64_t k = 0; k < n; ++k) out[k] = conj(a[k]) * p.chirp[(size_t)k];
}

template <class C>
void run_rows(const Plan& plan, const C* x, C* y, int64_t rows, double scale) {
  using R = typename C::value_type;
  const int64_t n = plan.n;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n * 8));
  parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    std::vector<cd> in((size_t)n), out((size_t)n), scratch;
    for (int64_t row = b; row < e; ++row) {
      const C* xr = x + row * n;
      C* yr = y + row * n;
      for (int64_t j = 0; j < n; ++j) in[(size_t)j] = {(double)xr[j].re, (double)xr[j].im};
      execute(plan, in.data(), out.data(), scratch);
      for (int64_t j = 0; j < n; ++j) yr[j] = C((R)(out[(size_t)j].re * scale), (R)(out[(size_t)j].im * scale));
    }
  });
}

}  // namespace

Tensor fft_c2c_lastdim(const Tensor& x, bool inverse, double scale) {
  FLB_CHECK(is_complex(x.dtype), TypeError, "fft: expected a complex64 or complex128 tensor, got ", dtype_name(x.dtype));
  FLB_CHECK(x.device().is_cpu(), RuntimeError, "fft: the kernel runs on the CPU, got a ", x.device().str(), " tensor");
  FLB_CHECK(x.dim() >= 1, RuntimeError, "fft: expected a tensor with at least one dimension");
  const int64_t n = x.sizes.back();
  FLB_CHECK(n >= 1, RuntimeError, "fft: Invalid number of data points (", n, ") specified");
  const Tensor xc = contiguous(x);
  Tensor out = empty(xc.sizes, xc.dtype, xc.device());
  const int64_t rows = xc.numel() / n;
  if (rows == 0) return out;
  const auto plan = make_plan(n, inverse ? 1 : -1);
  if (x.dtype == DType::Complex64)
    run_rows(*plan, xc.data<ComplexFloat>(), out.data<ComplexFloat>(), rows, scale);
  else
    run_rows(*plan, xc.data<ComplexDouble>(), out.data<ComplexDouble>(), rows, scale);
  return out;
}

}  // namespace flambeau::cpu
