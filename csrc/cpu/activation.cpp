// Activation kernels: every activation is one pass over memory, forward and backward, with the
// formulas of PyTorch's CPU kernels (aten/src/ATen/native/cpu/Activation.cpp and derivatives.yaml):
// the same branch conventions at the edges (relu6/hardtanh have zero gradient at min and max,
// hardswish has gradient 0 at -3 and g at +3, softplus switches to identity when beta*x > threshold)
// and the same choice of what backward reads (the output for sigmoid/tanh/relu and the in-place
// variants, the input otherwise).
//
// Layout: any strides. cpu::StridedWalk (loops.h) merges dims and hands contiguous rows to the inner
// loop; for float32 rows the exp-family ops go to a SIMD leaf (cpu/simd/activation_avx*.cpp) with a
// vectorised exp/expm1/log1p/tanh/erf accurate to a few ulp, the rest of the rows (and float64,
// and the 'default' capability) use the scalar functors below, which libm makes accurate to ~1 ulp.
#include <cmath>
#include <type_traits>
#include <vector>
#include "cpu/act_loss_kernels.h"
#include "cpu/capability.h"
#include "cpu/loops.h"
#include "cpu/parallel.h"
#include "cpu/simd/act_simd.h"

namespace flambeau::cpu {

static_assert((int)Act::Sigmoid == simd::kSigmoid && (int)Act::Elu == simd::kElu && (int)Act::Gelu == simd::kGelu &&
                  (int)Act::Hardtanh == simd::kHardtanh && (int)Act::LogSigmoid == simd::kLogSigmoid &&
                  (int)Act::Count == simd::kActCount,
              "cpu::Act and simd::ActId must agree");

simd::ActFwdF32Fn simd::act_fwd_f32_for_cpu() {
  switch (capability()) {
    case Capability::AVX512: return simd::act_fwd_f32_avx512();
    case Capability::AVX2: return simd::act_fwd_f32_avx2();
    default: return nullptr;
  }
}
simd::ActFwdF64Fn simd::act_fwd_f64_for_cpu() {
  switch (capability()) {
    case Capability::AVX512: return simd::act_fwd_f64_avx512();
    case Capability::AVX2: return simd::act_fwd_f64_avx2();
    default: return nullptr;
  }
}

namespace {

// ---------------------------------------------------------------- scalar formulas
template <class T>
struct P {
  T a, b, c, d;
  explicit P(const ActParams& p) : a((T)p.p[0]), b((T)p.p[1]), c((T)p.p[2]), d((T)p.p[3]) {}
};

template <class T>
inline T sigmoid_of(T x) { return T(1) / (T(1) + std::exp(-x)); }

// Phi(x) = 0.5 (1 + erf(x / sqrt 2)), through erfc for x < 0 so that the tail keeps its digits.
template <class T>
inline T gelu_cdf(T x) {
  return x < T(0) ? T(0.5) * std::erfc(-x * T(M_SQRT1_2)) : T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2)));
}

// float32 tanh in double, rounded once: flambeau.tanh's bits (cpu/elementwise.cpp), where glibc's
// tanhf is not correctly rounded.
template <class T>
inline auto wide(T x) {
  if constexpr (std::is_same_v<T, float>) return double(x);
  else return x;
}

// Forward f(x).
template <Act OP, class T>
inline T fwd(T x, const P<T>& p) {
  if constexpr (OP == Act::Sigmoid) return sigmoid_of(x);
  else if constexpr (OP == Act::Tanh) return T(std::tanh(wide(x)));
  else if constexpr (OP == Act::Relu) return x < T(0) ? T(0) : x;  // NaN stays NaN
  else if constexpr (OP == Act::LeakyRelu) return x > T(0) ? x : x * p.a;
  else if constexpr (OP == Act::Elu)  // alpha, scale, input_scale
    return x <= T(0) ? std::expm1(x * p.c) * (p.a * p.b) : x * p.b;
  else if constexpr (OP == Act::Gelu)  // x Phi(x), Phi via erfc: no cancellation for x < 0
    return x * gelu_cdf(x);
  else if constexpr (OP == Act::GeluTanh) {
    // 0.5 x (1 + tanh(u)) = x * sigmoid(2u): no cancellation for x < 0.
    const T kBeta = T(M_SQRT2 * M_2_SQRTPI * 0.5), kKappa = T(0.044715);
    T inner = kBeta * (x + kKappa * x * x * x);
    return x / (T(1) + std::exp(T(-2) * inner));
  } else if constexpr (OP == Act::Silu) return x / (T(1) + std::exp(-x));
  else if constexpr (OP == Act::Mish) return x * std::tanh(std::log1p(std::exp(x)));
  else if constexpr (OP == Act::Softplus)  // beta, threshold
    return x * p.a > p.b ? x : std::log1p(std::exp(x * p.a)) / p.a;
  else if constexpr (OP == Act::Softsign) return x / (T(1) + std::abs(x));
  else if constexpr (OP == Act::Hardtanh)  // min, max; NaN propagates
    return x < p.a ? p.a : (x > p.b ? p.b : x);
  else if constexpr (OP == Act::Hardsigmoid) {
    T y = x + T(3);
    y = y < T(0) ? T(0) : (y > T(6) ? T(6) : y);
    return y / T(6);
  } else if constexpr (OP == Act::Hardswish) {
    T y = x + T(3);
    y = y < T(0) ? T(0) : (y > T(6) ? T(6) : y);
    return x * y / T(6);
  } else if constexpr (OP == Act::Hardshrink) return (x >= -p.a && x <= p.a) ? T(0) : x;
  else if constexpr (OP == Act::Softshrink) return x > p.a ? x - p.a : (x < -p.a ? x + p.a : T(0) * x);
  else if constexpr (OP == Act::Tanhshrink) return x - T(std::tanh(wide(x)));
  else if constexpr (OP == Act::Threshold) return x <= p.a ? p.b : x;
  else if constexpr (OP == Act::LogSigmoid) {
    T mn = x < T(0) ? x : T(0);
    return mn - std::log1p(std::exp(-std::abs(x)));
  } else return x;
}

// Backward: g * f'(s), s the saved input or output (see the header).
template <Act OP, class T>
inline T bwd(T g, T s, const P<T>& p) {
  if constexpr (OP == Act::Sigmoid) return g * (T(1) - s) * s;  // s = y
  else if constexpr (OP == Act::Tanh) return g * (T(1) - s * s);  // s = y
  else if constexpr (OP == Act::Relu) return s <= T(0) ? T(0) : g;  // s = y (threshold_backward)
  else if constexpr (OP == Act::LeakyRelu) return s > T(0) ? g : g * p.a;
  else if constexpr (OP == Act::Elu) {
    const T negcoef = p.a * p.b, poscoef = p.b, negiptcoef = p.c;
    if (p.d != T(0)) return s <= T(0) ? g * negiptcoef * (s + negcoef) : g * poscoef;  // s = y
    return s <= T(0) ? g * negiptcoef * negcoef * std::exp(s * negiptcoef) : g * poscoef;
  } else if constexpr (OP == Act::Gelu) {
    const T kAlpha = T(M_2_SQRTPI * M_SQRT1_2 * 0.5);
    T cdf = gelu_cdf(s);
    T pdf = kAlpha * std::exp(s * s * T(-0.5));
    return g * (cdf + s * pdf);
  } else if constexpr (OP == Act::GeluTanh) {
    const T kBeta = T(M_SQRT2 * M_2_SQRTPI * 0.5), kKappa = T(0.044715);
    T x_sq = s * s, x_cube = x_sq * s;
    T inner = kBeta * (s + kKappa * x_cube);
    T th = std::tanh(inner);
    T left = T(0.5) * s, right = T(1) + th;
    T left_derivative = T(0.5) * right;
    T tanh_derivative = T(1) - th * th;
    T inner_derivative = kBeta * (T(1) + T(3) * kKappa * x_sq);
    T right_derivative = left * tanh_derivative * inner_derivative;
    return g * (left_derivative + right_derivative);
  } else if constexpr (OP == Act::Silu) {
    T sg = sigmoid_of(s);
    return g * sg * (T(1) + s * (T(1) - sg));
  } else if constexpr (OP == Act::Mish) {
    T sg = sigmoid_of(s);
    T tsp = std::tanh(std::log1p(std::exp(s)));
    return g * (tsp + s * sg * (T(1) - tsp * tsp));
  } else if constexpr (OP == Act::Softplus) {
    T z = std::exp(s * p.a);
    return s * p.a > p.b ? g : g * z / (z + T(1));
  } else if constexpr (OP == Act::Softsign) {
    T d = T(1) + std::abs(s);
    return g / (d * d);
  } else if constexpr (OP == Act::Hardtanh) return (s <= p.a || s >= p.b) ? T(0) : g;
  else if constexpr (OP == Act::Hardsigmoid) return (s > T(-3) && s < T(3)) ? g * T(1.0f / 6.0f) : T(0);  // PyTorch: a float 1/6, even for double
  else if constexpr (OP == Act::Hardswish) {
    if (s <= T(-3)) return T(0);
    if (s < T(3)) return g * (s / T(3) + T(0.5));
    return g;
  } else if constexpr (OP == Act::Hardshrink || OP == Act::Softshrink)
    return (s >= -p.a && s <= p.a) ? T(0) : g;
  else if constexpr (OP == Act::Tanhshrink) {
    T t = std::tanh(s);
    return g * t * t;
  } else if constexpr (OP == Act::Threshold) return s <= p.a ? T(0) : g;
  else if constexpr (OP == Act::LogSigmoid) {
    bool neg = s < T(0);
    T max_deriv = neg ? T(1) : T(0), sign = neg ? T(1) : T(-1);
    T z = std::exp(-std::abs(s));
    return g * (max_deriv - sign * (z / (T(1) + z)));
  } else return g;
}

// ---------------------------------------------------------------- SIMD tables
simd::ActBwdF32Fn simd_bwd() {
  switch (capability()) {
    case Capability::AVX512: return simd::act_bwd_f32_avx512();
    case Capability::AVX2: return simd::act_bwd_f32_avx2();
    default: return nullptr;
  }
}

simd::ActBwdF64Fn simd_bwd_f64() {
  switch (capability()) {
    case Capability::AVX512: return simd::act_bwd_f64_avx512();
    case Capability::AVX2: return simd::act_bwd_f64_avx2();
    default: return nullptr;
  }
}

// Exp-family ops cost ~10-40 ns per element in scalar code: split them over threads sooner.
int64_t grain_of(Act op) {
  switch (op) {
    case Act::Relu: case Act::LeakyRelu: case Act::Hardtanh: case Act::Hardsigmoid: case Act::Hardswish:
    case Act::Hardshrink: case Act::Softshrink: case Act::Threshold: case Act::Softsign:
      return kGrain;
    default:
      return kGrain / 8;
  }
}

// ---------------------------------------------------------------- loops
// F.tanh and F.tanhshrink on float32 take flambeau.tanh's float64-evaluated tanh (cpu/simd/
// math_f64_vec.inc, unary_f32): the same bits as torch.tanh, PyTorch's wherever its float32 tanh
// rounds correctly (the float32 body of act_vec.inc was 2.1 ulp), and x - tanh(x) (exact in float
// for |x| < 1.9, Sterbenz) never of the wrong sign (it was -2.9e-11 at x = 3.9e-4, where the float32
// tanh rounded above x). False on the portable capability.
bool tanh_f32_leaf(Act op, float* o, const float* x, int64_t n) {
  const Capability cap = capability();
  if (cap == Capability::Default) return false;
  const simd::UnaryF32Fn fn = cap == Capability::AVX512 ? simd::unary_f32_f64_avx512() : simd::unary_f32_f64_avx2();
  if (op == Act::Tanh) return fn(simd::kUTanh, o, x, n);
  constexpr int64_t kB = 256;  // tanhshrink: tanh through a buffer (o may alias x)
  float t[kB];
  for (int64_t i = 0; i < n; i += kB) {
    const int64_t m = n - i < kB ? n - i : kB;
    fn(simd::kUTanh, t, x + i, m);
    for (int64_t k = 0; k < m; ++k) o[i + k] = x[i + k] - t[k];
  }
  return true;
}

template <Act OP, class T>
void fwd_loop(const Tensor& out, const Tensor& x, const ActParams& ap) {
  const P<T> p(ap);
  simd::ActFwdF32Fn vf = nullptr;
  simd::ActFwdF64Fn vd = nullptr;
  if constexpr (std::is_same_v<T, float>) vf = simd::act_fwd_f32_for_cpu();
  else vd = simd::act_fwd_f64_for_cpu();
  StridedWalk<2> w({&out, &x});
  w.run(base_ptrs<2>({&out, &x}), [&](std::array<char*, 2>& ptr, int64_t n, const std::array<int64_t, 2>& st) {
    T* o = reinterpret_cast<T*>(ptr[0]);
    const T* xi = reinterpret_cast<const T*>(ptr[1]);
    if (st[0] == (int64_t)sizeof(T) && st[1] == (int64_t)sizeof(T)) {
      if constexpr (std::is_same_v<T, float>) {
        if constexpr (OP == Act::Tanh || OP == Act::Tanhshrink)
          if (tanh_f32_leaf(OP, o, xi, n)) return;
        if (vf && vf((int)OP, ap.p, o, xi, n)) return;
      } else {
        if (vd && vd((int)OP, ap.p, o, xi, n)) return;
      }
      for (int64_t i = 0; i < n; ++i) o[i] = fwd<OP, T>(xi[i], p);
    } else if (st[1] == 0) {  // broadcast scalar input
      const T v = fwd<OP, T>(*xi, p);
      for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(ptr[0] + i * st[0]) = v;
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(ptr[0] + i * st[0]) = fwd<OP, T>(*reinterpret_cast<const T*>(ptr[1] + i * st[1]), p);
    }
  }, grain_of(OP));
}

template <Act OP, class T>
void bwd_loop(const Tensor& gi, const Tensor& g, const Tensor& s, const ActParams& ap) {
  const P<T> p(ap);
  simd::ActBwdF32Fn vf = nullptr;
  simd::ActBwdF64Fn vd = nullptr;
  if constexpr (std::is_same_v<T, float>) vf = simd_bwd();
  else vd = simd_bwd_f64();
  StridedWalk<3> w({&gi, &g, &s});
  w.run(base_ptrs<3>({&gi, &g, &s}), [&](std::array<char*, 3>& ptr, int64_t n, const std::array<int64_t, 3>& st) {
    T* o = reinterpret_cast<T*>(ptr[0]);
    const T* gp = reinterpret_cast<const T*>(ptr[1]);
    const T* sp = reinterpret_cast<const T*>(ptr[2]);
    constexpr int64_t E = sizeof(T);
    if (st[0] == E && st[1] == E && st[2] == E) {
      if constexpr (std::is_same_v<T, float>) {
        if (vf && vf((int)OP, ap.p, o, gp, sp, n)) return;
      } else {
        if (vd && vd((int)OP, ap.p, o, gp, sp, n)) return;
      }
      for (int64_t i = 0; i < n; ++i) o[i] = bwd<OP, T>(gp[i], sp[i], p);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(ptr[0] + i * st[0]) = bwd<OP, T>(*reinterpret_cast<const T*>(ptr[1] + i * st[1]),
                                                               *reinterpret_cast<const T*>(ptr[2] + i * st[2]), p);
    }
  }, grain_of(OP));
}

template <class T, template <Act, class> class Body, class... Args>
void by_op(Act op, Args&&... args) {
#define FLB_ACT_CASE(name) \
  case Act::name: return Body<Act::name, T>::run(args...);
  switch (op) {
    FLB_ACT_CASE(Sigmoid) FLB_ACT_CASE(Tanh) FLB_ACT_CASE(Relu) FLB_ACT_CASE(LeakyRelu) FLB_ACT_CASE(Elu)
    FLB_ACT_CASE(Gelu) FLB_ACT_CASE(GeluTanh) FLB_ACT_CASE(Silu) FLB_ACT_CASE(Mish) FLB_ACT_CASE(Softplus)
    FLB_ACT_CASE(Softsign) FLB_ACT_CASE(Hardtanh) FLB_ACT_CASE(Hardsigmoid) FLB_ACT_CASE(Hardswish)
    FLB_ACT_CASE(Hardshrink) FLB_ACT_CASE(Softshrink) FLB_ACT_CASE(Tanhshrink) FLB_ACT_CASE(Threshold)
    FLB_ACT_CASE(LogSigmoid)
    default: throw ValueError(str_cat("activation: unknown op ", (int)op));
  }
#undef FLB_ACT_CASE
}

template <Act OP, class T>
struct FwdBody {
  static void run(const Tensor& out, const Tensor& x, const ActParams& p) { fwd_loop<OP, T>(out, x, p); }
};
template <Act OP, class T>
struct BwdBody {
  static void run(const Tensor& gi, const Tensor& g, const Tensor& s, const ActParams& p) {
    bwd_loop<OP, T>(gi, g, s, p);
  }
};

}  // namespace

void activation(Act op, const Tensor& out, const Tensor& x, const ActParams& p) {
  FLB_DISPATCH_FLOATING(x.dtype, "activation", [&] { by_op<scalar_t, FwdBody>(op, out, x, p); });
}

void activation_backward(Act op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& saved,
                         const ActParams& p) {
  FLB_DISPATCH_FLOATING(saved.dtype, "activation_backward",
                        [&] { by_op<scalar_t, BwdBody>(op, grad_in, grad_out, saved, p); });
}

// ---------------------------------------------------------------- PReLU
void prelu(const Tensor& out, const Tensor& x, const Tensor& w) {
  FLB_DISPATCH_FLOATING(x.dtype, "prelu", [&] {
    using T = scalar_t;
    binary_loop<T, T>(out, x, w, [](T v, T a) { return v > T(0) ? v : a * v; });
  });
}

// grad_w is reduced deterministically: the [outer, C, inner] volume is cut into blocks of whole
// outer slices whose size does not depend on the thread count; each block sums into its own C
// partials (double), and the blocks are added in order at the end.
void prelu_backward(const Tensor& grad_in, const Tensor& grad_w, const Tensor& grad_out, const Tensor& x,
                    const Tensor& w, int64_t outer, int64_t C, int64_t inner) {
  FLB_DISPATCH_FLOATING(x.dtype, "prelu_backward", [&] {
    using T = scalar_t;
    const T* xp = x.data<T>();
    const T* gp = grad_out.data<T>();
    const T* wp = w.data<T>();
    T* gi = grad_in.data<T>();
    T* gw = grad_w.data<T>();
    if (C == 1) {  // one weight: a flat sum over fixed-size blocks
      int64_t n = outer * inner;
      const int64_t B = 16384;
      int64_t nb = (n + B - 1) / B;
      std::vector<double> part(std::max<int64_t>(nb, 1), 0.0);
      const T a = wp[0];
      parallel_for(nb, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          double acc = 0;
          int64_t e = std::min(n, (b + 1) * B);
          for (int64_t i = b * B; i < e; ++i) {
            T v = xp[i], g = gp[i];
            bool pos = v > T(0);
            gi[i] = pos ? g : a * g;
            acc += pos ? 0.0 : (double)(v * g);
          }
          part[b] = acc;
        }
      });
      double s = 0;
      for (int64_t b = 0; b < nb; ++b) s += part[b];
      gw[0] = (T)s;
      return;
    }
    int64_t slice = C * inner;
    int64_t per = std::max<int64_t>(1, 16384 / std::max<int64_t>(slice, 1));  // outer slices per block
    int64_t nb = (outer + per - 1) / per;
    std::vector<double> part((size_t)std::max<int64_t>(nb, 1) * C, 0.0);
    parallel_for(nb, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        double* acc = part.data() + b * C;
        int64_t oe = std::min(outer, (b + 1) * per);
        for (int64_t o = b * per; o < oe; ++o) {
          for (int64_t c = 0; c < C; ++c) {
            const T a = wp[c];
            int64_t base = (o * C + c) * inner;
            double s = 0;
            for (int64_t i = 0; i < inner; ++i) {
              T v = xp[base + i], g = gp[base + i];
              bool pos = v > T(0);
              gi[base + i] = pos ? g : a * g;
              s += pos ? 0.0 : (double)(v * g);
            }
            acc[c] += s;
          }
        }
      }
    });
    for (int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (int64_t b = 0; b < nb; ++b) s += part[b * C + c];
      gw[c] = (T)s;
    }
  });
}

// ---------------------------------------------------------------- GLU
void glu(const Tensor& out, const Tensor& a, const Tensor& b) {
  FLB_DISPATCH_FLOATING(a.dtype, "glu", [&] {
    using T = scalar_t;
    binary_loop<T, T>(out, a, b, [](T u, T v) { return u * sigmoid_of(v); });
  });
}

void glu_backward(const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a, const Tensor& b) {
  FLB_DISPATCH_FLOATING(a.dtype, "glu_backward", [&] {
    using T = scalar_t;
    StridedWalk<5> w({&ga, &gb, &g, &a, &b});
    w.run(base_ptrs<5>({&ga, &gb, &g, &a, &b}),
          [&](std::array<char*, 5>& p, int64_t n, const std::array<int64_t, 5>& s) {
            for (int64_t i = 0; i < n; ++i) {
              T gv = *reinterpret_cast<const T*>(p[2] + i * s[2]);
              T av = *reinterpret_cast<const T*>(p[3] + i * s[3]);
              T bv = *reinterpret_cast<const T*>(p[4] + i * s[4]);
              T sg = sigmoid_of(bv);
              *reinterpret_cast<T*>(p[0] + i * s[0]) = sg * gv;
              *reinterpret_cast<T*>(p[1] + i * s[1]) = (T(1) - sg) * sg * av * gv;
            }
          }, kGrain / 8);
  });
}

}  // namespace flambeau::cpu
