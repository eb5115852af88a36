// The normalization kernels' elementwise loops (csrc/cpu/simd/norm_body.h) compiled for AVX2 + FMA (FMA contraction turned off: see norm_body.h),
// called by csrc/cpu/normalization.cpp when the CPU has it. Same bits as the portable build.
#pragma GCC optimize("fp-contract=off")
#include <cstdint>
#include "cpu/simd/norm_simd.h"

namespace flambeau::cpu::norm {
namespace {
#include "cpu/simd/norm_body.h"
}  // namespace

const Fns<float>* fns_f32_avx2() { return NormTables::f32(); }
const Fns<double>* fns_f64_avx2() { return NormTables::f64(); }

}  // namespace flambeau::cpu::norm
