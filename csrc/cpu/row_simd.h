// The float32 row helpers of the activation SIMD leaves (cpu/simd/act_vec.inc) for the CPU
// capability in force: row max, row sum of exp(x - m), a * exp(x - m) + b, and the N-d
// cross-entropy tiles. All null at the portable capability (the callers then run scalar code).
// Shared by the fused cross-entropy (cpu/loss.cpp) and logsumexp's rows (cpu/reduce.cpp).
#pragma once
#include "cpu/simd/act_simd.h"

namespace flambeau::cpu {

struct RowFns {
  simd::RowMaxF32Fn max = nullptr;
  simd::RowSumExpF32Fn sumexp = nullptr;
  simd::RowSoftmaxAxpbF32Fn axpb = nullptr;
  simd::CeTileFwdF32Fn tile_fwd = nullptr;
  simd::CeTileBwdF32Fn tile_bwd = nullptr;
};
RowFns row_fns();  // defined in cpu/loss.cpp

}  // namespace flambeau::cpu
