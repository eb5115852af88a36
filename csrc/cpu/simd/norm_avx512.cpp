// The normalization kernels' elementwise loops (csrc/cpu/simd/norm_body.h) compiled for AVX-512,
// called by csrc/cpu/normalization.cpp when the CPU has it. Same bits as the portable build.
#pragma GCC optimize("fp-contract=off")
#include <cstdint>
#include "cpu/simd/norm_simd.h"

namespace flambeau::cpu::norm {
namespace {
#include "cpu/simd/norm_body.h"
}  // namespace

const Fns<float>* fns_f32_avx512() { return NormTables::f32(); }
const Fns<double>* fns_f64_avx512() { return NormTables::f64(); }

}  // namespace flambeau::cpu::norm
