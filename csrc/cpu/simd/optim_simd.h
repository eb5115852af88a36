// The contract between the fused optimizer driver (csrc/cpu/optimizer.cpp, baseline x86-64) and
// the per-ISA update loops (the portable loops in optimizer.cpp, csrc/cpu/simd/optim_avx2.cpp,
// optim_avx512.cpp): per-step constants and one function table per instruction set.
//
// Plain data and function declarations only: no inline functions and no templates with code, so
// nothing compiled with AVX flags can be merged into baseline callers (see gemm_kernels.h).
#pragma once
#include <cstdint>

namespace flambeau::cpu::optim {

// Constants of one parameter's update, already rounded to the parameter dtype T where torch
// rounds them (the Python float hyperparameter becomes a scalar_t inside each torch kernel).
template <class T>
struct SgdK {
  T wd, mom, damp1, neg_lr;  // damp1 = 1 - dampening
  bool use_wd, use_mom, fresh, nesterov, maximize;  // fresh: first step, buf = grad
};

template <class T>
struct AdamK {
  T neg_step_size, bc2_sqrt, w1, w1m1, beta2, omb2, eps, wd, decay;  // w1 = 1 - beta1, w1m1 = w1 - 1
  bool small, use_wd, decoupled, amsgrad, maximize;                   // small: |w1| < 0.5 (torch's lerp)
};

template <class T>
struct RmspropK {
  T alpha, oma, eps, wd, mom, neg_lr, wl, wlm1;  // oma = wl = 1 - alpha, wlm1 = wl - 1
  bool small, use_wd, centered, use_mom, maximize;
};

template <class T>
struct AdagradK {
  T neg_clr, wd, eps;
  bool use_wd, maximize;
};

// Update loops over n contiguous elements of one parameter (pointers already offset).
template <class T>
struct Fns {
  void (*sgd)(T* p, const T* g, T* buf, int64_t n, const SgdK<T>& k);
  void (*adam)(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamK<T>& k);
  void (*rmsprop)(T* p, const T* g, T* sq, T* gavg, T* buf, int64_t n, const RmspropK<T>& k);
  void (*adagrad)(T* p, const T* g, T* sum, int64_t n, const AdagradK<T>& k);
};

const Fns<float>* fns_f32_avx2();
const Fns<double>* fns_f64_avx2();
const Fns<float>* fns_f32_avx512();
const Fns<double>* fns_f64_avx512();

}  // namespace flambeau::cpu::optim
