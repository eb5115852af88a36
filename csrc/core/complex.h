// complex64 / complex128 element types: two floats (doubles), real part first, the layout of C's
// float _Complex, std::complex, numpy's complex64 and PyTorch's c10::complex, so the bytes round-trip
// through numpy, DLPack and checkpoints unchanged.
//
// Like float16/bfloat16 these are storage types in the kernels: FLB_DISPATCH_ALL_TYPES moves and
// converts them (copy, fill, index, gather, where, pad, cat, flip, ...), the compute dispatch macros
// raise "<op>: not implemented for dtype complex64". Complex arithmetic is composed in Python over
// view_as_real (python/flambeau/_complex/), and the FFT has its own kernel (cpu/fft.cpp).
// The struct is deliberately small (no arithmetic beyond + and +=, for index_put's accumulate on
// both devices): a kernel that tries to compute with it fails to compile instead of silently
// using the real part.
#pragma once

#if defined(__CUDACC__)
#define FLB_COMPLEX_HD __host__ __device__ __forceinline__
#else
#define FLB_COMPLEX_HD inline
#endif

namespace flambeau {

template <class R>
struct alignas(2 * sizeof(R)) Complex {
  using value_type = R;
  R re, im;
  Complex() = default;
  // From a real number (scalar_t(0), Scalar::to of an integer): imaginary part zero.
  FLB_COMPLEX_HD constexpr Complex(R r, R i = R(0)) : re(r), im(i) {}
  FLB_COMPLEX_HD Complex& operator+=(const Complex& o) {
    re += o.re;
    im += o.im;
    return *this;
  }
  FLB_COMPLEX_HD bool operator==(const Complex& o) const { return re == o.re && im == o.im; }
  FLB_COMPLEX_HD bool operator!=(const Complex& o) const { return !(*this == o); }
  // Truth value as PyTorch's: nonzero if either part is (NaN counts as nonzero).
  FLB_COMPLEX_HD explicit operator bool() const { return re != R(0) || im != R(0); }
};

template <class R>
FLB_COMPLEX_HD Complex<R> operator+(Complex<R> a, const Complex<R>& b) {
  return a += b;
}

using ComplexFloat = Complex<float>;
using ComplexDouble = Complex<double>;
static_assert(sizeof(ComplexFloat) == 8 && sizeof(ComplexDouble) == 16, "complex layout");

template <class T>
struct is_complex_type {
  static constexpr bool value = false;
};
template <class R>
struct is_complex_type<Complex<R>> {
  static constexpr bool value = true;
};
template <class T>
constexpr bool is_complex_type_v = is_complex_type<T>::value;

}  // namespace flambeau
