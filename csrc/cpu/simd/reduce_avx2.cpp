// The sum-type reductions' inner loops (csrc/cpu/simd/reduce_body.h) compiled for AVX2, called by
// csrc/cpu/reduce.cpp when the CPU has it. Same bits as the portable build.
#pragma GCC optimize("fp-contract=off")
#include <cstdint>
#include <cstring>
#include <immintrin.h>
#include "cpu/simd/reduce_simd.h"

namespace flambeau::cpu::sums {
namespace {
#include "cpu/simd/reduce_body.h"
}  // namespace

const Fns<float>* fns_f32_avx2() { return ReduceTables::f32(); }
const Fns<double>* fns_f64_avx2() { return ReduceTables::f64(); }

}  // namespace flambeau::cpu::sums
