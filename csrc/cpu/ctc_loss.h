// CTC loss on the CPU (Graves et al. 2006): the kernels the op layer (csrc/ops/ctc_loss.cpp) calls
// once it has checked the arguments and laid the tensors out as described here.
#pragma once
#include <cstdint>
#include <vector>
#include "core/tensor.h"

namespace flambeau::cpu {

// What the kernels need to know about one batch, already checked by the op layer:
// log_probs is a contiguous [T, N, C] float32/float64 tensor; targets a contiguous int64 tensor in
// which the labels of batch element b are targets[target_offsets[b] + k], k < target_lengths[b],
// each in [0, C); 0 <= input_lengths[b] <= T; max_target the largest target length.
struct CtcProblem {
  int64_t T = 0, N = 0, C = 0, blank = 0, max_target = 0;
  std::vector<int64_t> input_lengths, target_lengths, target_offsets;
};

// Forward: nll [N] float64 (the negative log-likelihood, +inf where no alignment exists), loss [N]
// in log_probs' dtype (nll, 0 where it is +inf and zero_infinity), log_alpha [N, T, 2 * max_target
// + 1] float64 (the alpha recursion in log space; -inf where not computed), all contiguous.
void ctc_loss_forward(const CtcProblem& p, const Tensor& log_probs, const Tensor& targets, bool zero_infinity,
                      const Tensor& loss, const Tensor& nll, const Tensor& log_alpha);

// Backward: grad [T, N, C] (contiguous, log_probs' dtype) = d loss_b / d log_probs scaled by
// grad_out[b] (contiguous float64 [N]); nll and log_alpha are the forward's outputs.
void ctc_loss_backward(const CtcProblem& p, const Tensor& grad_out, const Tensor& log_probs, const Tensor& targets,
                       const Tensor& nll, const Tensor& log_alpha, bool zero_infinity, const Tensor& grad);

}  // namespace flambeau::cpu
