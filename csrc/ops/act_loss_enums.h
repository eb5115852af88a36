// Op codes shared by the activation/loss dispatch layer (ops/activation.cpp, ops/loss.cpp) and the
// backends (cpu/act_loss_kernels.h; a CUDA backend would take the same).
#pragma once
#include <cstdint>

namespace flambeau {

// Pointwise activations. Parameters per op (ActParams::p):
//   LeakyRelu  p0 negative_slope
//   Elu        p0 alpha, p1 scale, p2 input_scale, p3 is_result (backward: saved is the output)
//              (selu = Elu(1.6732.., 1.0507.., 1); celu = Elu(alpha, 1, 1/alpha))
//   Softplus   p0 beta, p1 threshold
//   Hardtanh   p0 min_val, p1 max_val (relu6 = Hardtanh(0, 6))
//   Hardshrink, Softshrink  p0 lambda
//   Threshold  p0 threshold, p1 value
// The numbering is shared with the SIMD leaf files (cpu/simd/act_simd.h): append only.
enum class Act : int {
  Sigmoid = 0, Tanh, Relu, LeakyRelu, Elu, Gelu, GeluTanh, Silu, Mish, Softplus, Softsign, Hardtanh,
  Hardsigmoid, Hardswish, Hardshrink, Softshrink, Tanhshrink, Threshold, LogSigmoid, Count
};
struct ActParams {
  double p[4] = {0, 0, 0, 0};
};

enum class Reduction : int { None = 0, Mean = 1, Sum = 2 };

// Pointwise losses (one kernel each, forward and backward, any reduction).
enum class PointLoss : int { MSE = 0, L1, SmoothL1, Huber, BCE, BCEWithLogits, KLDiv, KLDivLogTarget };

}  // namespace flambeau
