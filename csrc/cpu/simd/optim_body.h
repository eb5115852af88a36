// The per-element update of each fused optimizer, written once over a vector wrapper V (full
// vectors) and a scalar wrapper S (the tail), and compiled once per instruction set by
// csrc/cpu/optimizer.cpp (portable: V = S = scalar), simd/optim_avx2.cpp and simd/optim_avx512.cpp.
//
// Each line is one op of torch.optim's single-tensor path, in torch's order and with torch's
// rounding: where torch's CPU kernels fuse a multiply into an add (add(alpha=), lerp, addcmul:
// vec::fmadd or a contracted a*b + c) we use a fused multiply-add too, so SGD reproduces torch's
// trajectory bit for bit and the others differ only through torch's sqrt (from its vector math
// library, not correctly rounded) by an ulp here and there. Every other op is a plain IEEE op, so
// all instruction sets (and the scalar tail) give identical bits.
//
// Wrapper interface (static unless noted): load(p), set1(x), store(p) (member), + - * /, unary -,
// sqrt(a), max_nan(a, b) (torch.maximum: NaN propagates), fma(a, b, c) = a*b + c rounded once,
// rounded(a) = a, but opaque to the compiler: GCC contracts a * b + c into an FMA on its own when
// FMA instructions are enabled (-ffp-contract=fast is GCC's default), even across intrinsics, and
// a product torch rounds (a separate mul_ kernel) must stay rounded; rounded() marks those.
//
// Included only inside an anonymous namespace, after <cstdint> and cpu/simd/optim_simd.h: every
// including file gets its own copy, compiled with its own ISA flags, so no function here is shared
// across instruction sets. (No include guard on purpose: each includer needs its own copy.)

template <class V, class S, class F>
inline void optim_loop(int64_t n, F&& f) {
  int64_t i = 0;
  if constexpr (V::L > 1)
    for (; i + V::L <= n; i += V::L) f(V{}, i);
  for (; i < n; ++i) f(S{}, i);
}

// Scalar wrapper (tails, and the whole loop in the portable build).
template <class T>
struct ScalarW {
  static constexpr int L = 1;
  T v;
  static ScalarW load(const T* p) { return {*p}; }
  static ScalarW set1(T x) { return {x}; }
  void store(T* p) const { *p = v; }
  friend ScalarW operator+(ScalarW a, ScalarW b) { return {a.v + b.v}; }
  friend ScalarW operator-(ScalarW a, ScalarW b) { return {a.v - b.v}; }
  friend ScalarW operator*(ScalarW a, ScalarW b) { return {a.v * b.v}; }
  friend ScalarW operator/(ScalarW a, ScalarW b) { return {a.v / b.v}; }
  ScalarW operator-() const { return {-v}; }
  static ScalarW sqrt(ScalarW a) {
    if constexpr (sizeof(T) == 4) return {__builtin_sqrtf(a.v)};
    else return {__builtin_sqrt(a.v)};
  }
  static ScalarW max_nan(ScalarW a, ScalarW b) {
    if (a.v != a.v) return a;
    if (b.v != b.v) return b;
    return {a.v > b.v ? a.v : b.v};
  }
  // Without hardware FMA (the portable build) this is libm's correctly rounded fma.
  static ScalarW fma(ScalarW a, ScalarW b, ScalarW c) {
    if constexpr (sizeof(T) == 4) return {__builtin_fmaf(a.v, b.v, c.v)};
    else return {__builtin_fma(a.v, b.v, c.v)};
  }
  static ScalarW rounded(ScalarW a) {
#if defined(__x86_64__) || defined(__i386__)
    asm("" : "+x"(a.v));
#else
    asm("" : "+m"(a.v));
#endif
    return a;
  }
};

// torch's lerp(start, end, w): start + w * (end - start) for |w| < 0.5, else end + (w - 1) * (end - start),
// both as one fmadd (aten/src/ATen/native/cpu/LerpKernel.cpp).
#define FLB_OPTIM_LERP(W, start, end, small, w, wm1) \
  ((small) ? W::fma(W::set1(w), (end) - (start), (start)) : W::fma(W::set1(wm1), (end) - (start), (end)))

template <class V, class S, class T>
void sgd_span(T* p, const T* g, T* buf, int64_t n, const flambeau::cpu::optim::SgdK<T>& k) {
  optim_loop<V, S>(n, [&](auto tag, int64_t i) {
    using W = decltype(tag);
    W gi = W::load(g + i);
    if (k.maximize) gi = -gi;
    W pi = W::load(p + i);
    if (k.use_wd) gi = W::fma(pi, W::set1(k.wd), gi);                     // grad.add(param, alpha=wd)
    if (k.use_mom) {
      W bi = k.fresh ? gi                                                  // buf = grad.clone()
                     : W::fma(gi, W::set1(k.damp1), W::rounded(W::load(buf + i) * W::set1(k.mom)));
      bi.store(buf + i);
      gi = k.nesterov ? W::fma(bi, W::set1(k.mom), gi) : bi;              // grad.add(buf, alpha=mom)
    }
    W::fma(gi, W::set1(k.neg_lr), pi).store(p + i);                        // param.add_(grad, alpha=-lr)
  });
}

template <class V, class S, class T>
void adam_span(T* p, const T* g, T* m, T* v, T* vm, int64_t n, const flambeau::cpu::optim::AdamK<T>& k) {
  optim_loop<V, S>(n, [&](auto tag, int64_t i) {
    using W = decltype(tag);
    W gi = W::load(g + i);
    if (k.maximize) gi = -gi;
    W pi = W::load(p + i);
    if (k.use_wd) {
      if (k.decoupled) pi = W::rounded(pi * W::set1(k.decay));             // param.mul_(1 - lr * wd)
      else gi = W::fma(pi, W::set1(k.wd), gi);                             // grad.add(param, alpha=wd)
    }
    W mi = W::load(m + i);
    mi = FLB_OPTIM_LERP(W, mi, gi, k.small, k.w1, k.w1m1);                 // exp_avg.lerp_(grad, 1 - beta1)
    mi.store(m + i);
    W vi = W::fma(W::set1(k.omb2) * gi, gi, W::rounded(W::load(v + i) * W::set1(k.beta2)));  // mul_.addcmul_
    vi.store(v + i);
    if (k.amsgrad) {
      vi = W::max_nan(W::load(vm + i), vi);                                // torch.maximum(max, v)
      vi.store(vm + i);
    }
    W den = W::sqrt(vi) / W::set1(k.bc2_sqrt) + W::set1(k.eps);
    (pi + (W::set1(k.neg_step_size) * mi) / den).store(p + i);            // addcdiv_(m, den, -step_size)
  });
}

template <class V, class S, class T>
void rmsprop_span(T* p, const T* g, T* sq, T* ga, T* buf, int64_t n, const flambeau::cpu::optim::RmspropK<T>& k) {
  optim_loop<V, S>(n, [&](auto tag, int64_t i) {
    using W = decltype(tag);
    W gi = W::load(g + i);
    if (k.maximize) gi = -gi;
    W pi = W::load(p + i);
    if (k.use_wd) gi = W::fma(pi, W::set1(k.wd), gi);
    W si = W::fma(W::set1(k.oma) * gi, gi, W::rounded(W::load(sq + i) * W::set1(k.alpha)));  // mul_.addcmul_
    si.store(sq + i);
    W avg;
    if (k.centered) {
      W ai = W::load(ga + i);
      ai = FLB_OPTIM_LERP(W, ai, gi, k.small, k.wl, k.wlm1);               // grad_avg.lerp_(grad, 1 - alpha)
      ai.store(ga + i);
      avg = W::sqrt(W::fma(-ai, ai, si));                                  // addcmul(ga, ga, value=-1).sqrt_()
    } else {
      avg = W::sqrt(si);
    }
    avg = avg + W::set1(k.eps);
    if (k.use_mom) {
      W bi = W::rounded(W::load(buf + i) * W::set1(k.mom)) + gi / avg;     // buf.mul_(mom).addcdiv_(grad, avg)
      bi.store(buf + i);
      W::fma(bi, W::set1(k.neg_lr), pi).store(p + i);                      // param.add_(buf, alpha=-lr)
    } else {
      (pi + (W::set1(k.neg_lr) * gi) / avg).store(p + i);                  // param.addcdiv_(grad, avg, -lr)
    }
  });
}

template <class V, class S, class T>
void adagrad_span(T* p, const T* g, T* sum, int64_t n, const flambeau::cpu::optim::AdagradK<T>& k) {
  optim_loop<V, S>(n, [&](auto tag, int64_t i) {
    using W = decltype(tag);
    W gi = W::load(g + i);
    if (k.maximize) gi = -gi;
    W pi = W::load(p + i);
    if (k.use_wd) gi = W::fma(pi, W::set1(k.wd), gi);
    W si = W::fma(gi, gi, W::load(sum + i));                               // state_sum.addcmul_(g, g, value=1)
    si.store(sum + i);
    W sd = W::sqrt(si) + W::set1(k.eps);
    (pi + (W::set1(k.neg_clr) * gi) / sd).store(p + i);                   // param.addcdiv_(g, std, -clr)
  });
}

// The function table of one instruction set: V<float>, V<double> the vector wrappers.
template <template <class> class VW>
struct OptimTables {
  static const flambeau::cpu::optim::Fns<float>* f32() {
    static const flambeau::cpu::optim::Fns<float> t{
        &sgd_span<VW<float>, ScalarW<float>, float>, &adam_span<VW<float>, ScalarW<float>, float>,
        &rmsprop_span<VW<float>, ScalarW<float>, float>, &adagrad_span<VW<float>, ScalarW<float>, float>};
    return &t;
  }
  static const flambeau::cpu::optim::Fns<double>* f64() {
    static const flambeau::cpu::optim::Fns<double> t{
        &sgd_span<VW<double>, ScalarW<double>, double>, &adam_span<VW<double>, ScalarW<double>, double>,
        &rmsprop_span<VW<double>, ScalarW<double>, double>, &adagrad_span<VW<double>, ScalarW<double>, double>};
    return &t;
  }
};
