// The contract between the range factories (arange, linspace in csrc/cpu/random.cpp, baseline x86-64)
// and their AVX2 + FMA leaf (csrc/cpu/simd/range_avx2.cpp): each fills out[b, e) of an n-element
// range with the bits PyTorch's CPU kernels give (csrc/cpu/simd/range_body.h says how). Plain function
// pointers only, so no code built with AVX flags can be inlined into baseline callers.
#pragma once
#include <cstdint>

namespace flambeau::cpu::range_simd {

// arange: element i of start + step * i; `chunk` is the length of PyTorch's at::parallel_for chunks
// (range_body.h: torch_chunk), whose starts restart its vector blocks.
using ArangeF32 = void (*)(float* out, int64_t b, int64_t e, int64_t n, int64_t chunk, double start, double step);
using ArangeF64 = void (*)(double* out, int64_t b, int64_t e, int64_t n, int64_t chunk, double start, double step);
// linspace: start, end and step already in the output's dtype (PyTorch rounds them to it first).
using LinspaceF32 = void (*)(float* out, int64_t b, int64_t e, int64_t n, float start, float end, float step);
using LinspaceF64 = void (*)(double* out, int64_t b, int64_t e, int64_t n, double start, double end, double step);

struct Kernels {
  ArangeF32 arange_f32;
  ArangeF64 arange_f64;
  LinspaceF32 linspace_f32;
  LinspaceF64 linspace_f64;
};

Kernels kernels_avx2();  // every product-sum one fused multiply-add, as PyTorch's AVX2 / AVX-512 builds

}  // namespace flambeau::cpu::range_simd
