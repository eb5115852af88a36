// CTC loss entry points (csrc/ops/ctc_loss.cpp): torch's argument checks and messages, output
// allocation, dispatch to the CPU kernels of csrc/cpu/ctc_loss.cpp. CPU only: CUDA tensors raise
// NotImplementedError.
#pragma once
#include <vector>
#include "core/tensor.h"

namespace flambeau::ops {

// log_probs [T, N, C] or unbatched [T, C] (float32/float64); targets padded [N, S] or concatenated
// [sum(target_lengths)] (any integral or floating dtype, read as int64; unbatched: [S] or [1, S]);
// one input and one target length per batch element. Returns {loss [N] in log_probs' dtype (the
// per-element negative log-likelihood, 0 where it is +inf and zero_infinity), nll [N] float64 (not
// zeroed), log_alpha [N, T, 2 * max(target_lengths) + 1] float64}; the last two are for the backward.
// Unbatched input still gives N = 1 outputs (the caller squeezes).
std::vector<Tensor> ctc_loss(const Tensor& log_probs, const Tensor& targets, const std::vector<int64_t>& input_lengths,
                             const std::vector<int64_t>& target_lengths, int64_t blank, bool zero_infinity);
// The gradient with respect to log_probs (its shape, contiguous) for grad_out [N] (numel N, any
// floating dtype) on the per-element losses: torch's ctc_loss_backward (see cpu/ctc_loss.cpp).
Tensor ctc_loss_backward(const Tensor& grad_out, const Tensor& log_probs, const Tensor& targets,
                         const std::vector<int64_t>& input_lengths, const std::vector<int64_t>& target_lengths,
                         const Tensor& nll, const Tensor& log_alpha, int64_t blank, bool zero_infinity);

}  // namespace flambeau::ops
