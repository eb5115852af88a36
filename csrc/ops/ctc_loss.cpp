// CTC loss: the checks of torch's ctc_loss (same conditions, same order, same messages prefixed with
// "ctc_loss: " and followed by the shapes involved), the layout the kernels expect (contiguous
// [T, N, C] log_probs, contiguous int64 targets with one offset per batch element), and dispatch.
//
// One check torch does not make: every target label inside its target length must lie in [0, C).
// torch's CPU kernel reads log_probs out of bounds for such a label; here it is an IndexError.
#include <algorithm>

#include "cpu/ctc_loss.h"
#include "ops/ctc_loss_ops.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace flambeau::ops {

namespace {

struct Prepared {
  Tensor log_probs;  // [T, N, C], contiguous
  Tensor targets;    // int64, contiguous
  cpu::CtcProblem p;
};

Prepared prepare(const Tensor& log_probs_in, const Tensor& targets_in, const std::vector<int64_t>& il,
                 const std::vector<int64_t>& tl, int64_t blank) {
  const char* op = "ctc_loss";
  // (CUDA targets with CPU log_probs are copied over below, as torch moves targets to log_probs' device.)
  if (log_probs_in.device().is_cuda()) throw NotImplementedError("ctc_loss: no CUDA kernel yet (CPU only)");
  FLB_CHECK(log_probs_in.numel() > 0, RuntimeError, op, ": log_probs tensor must not be empty (log_probs of shape ",
            shape_str(log_probs_in.sizes), ")");
  FLB_CHECK(is_floating(log_probs_in.dtype), NotImplementedError, op, ": not implemented for dtype ",
            dtype_name(log_probs_in.dtype), " (log_probs must be float32 or float64)");
  // Unbatched (T, C) input is (T, 1, C); other ranks are unsqueezed the same way and rejected, as torch does.
  const Tensor lp = log_probs_in.dim() == 3 ? log_probs_in : unsqueeze(log_probs_in, 1);
  FLB_CHECK(lp.dim() == 3, RuntimeError, op, ": Expected 3-dimensional tensor, but got ", lp.dim(),
            "-dimensional tensor for argument #1 'log_probs' (log_probs of shape ", shape_str(log_probs_in.sizes),
            "; expected (T, N, C) or unbatched (T, C))");
  FLB_CHECK(targets_in.dim() >= 1 && targets_in.dim() <= 2, RuntimeError, op, ": Expected 1 to 2 dimensions, but got ",
            targets_in.dim(), "-dimensional tensor for argument #2 'targets' (targets of shape ",
            shape_str(targets_in.sizes), ")");
  const int64_t T = lp.sizes[0], N = lp.sizes[1], C = lp.sizes[2];
  FLB_CHECK(0 <= blank && blank < C, RuntimeError, op, ": blank must be in label range [0, ", C, "), got blank=",
            blank, " for log_probs of shape ", shape_str(log_probs_in.sizes));
  FLB_CHECK((int64_t)il.size() == N, RuntimeError, op, ": input_lengths must be of size batch_size (got ",
            il.size(), " input lengths for batch size ", N, ", log_probs of shape ", shape_str(log_probs_in.sizes),
            ")");
  FLB_CHECK((int64_t)tl.size() == N, RuntimeError, op, ": target_lengths must be of size batch_size (got ",
            tl.size(), " target lengths for batch size ", N, ", log_probs of shape ", shape_str(log_probs_in.sizes),
            ")");

  Prepared r;
  cpu::CtcProblem& p = r.p;
  p.T = T, p.N = N, p.C = C, p.blank = blank;
  p.input_lengths = il;
  p.target_lengths = tl;
  p.target_offsets.assign(N, 0);
  auto check_tl = [&](int64_t b) {
    FLB_CHECK(tl[b] >= 0, RuntimeError, op, ": Expected target_lengths to have value at least 0, but got value ",
              tl[b], " (batch element ", b, ")");
    p.max_target = std::max(p.max_target, tl[b]);
  };
  if (targets_in.dim() == 1) {  // concatenated
    int64_t pos = 0;
    for (int64_t b = 0; b < N; ++b) {
      check_tl(b);
      p.target_offsets[b] = pos;
      pos += tl[b];
    }
    FLB_CHECK(targets_in.sizes[0] == pos, RuntimeError, op, ": Expected tensor to have size ", pos,
              " at dimension 0, but got size ", targets_in.sizes[0],
              " for argument #2 'targets' (concatenated targets must hold sum(target_lengths) labels)");
  } else {  // padded [N, S]
    const int64_t S = targets_in.sizes[1];
    for (int64_t b = 0; b < N; ++b) {
      check_tl(b);
      p.target_offsets[b] = b * S;
    }
    FLB_CHECK(targets_in.sizes[0] == N, RuntimeError, op, ": Expected tensor to have size ", N,
              " at dimension 0, but got size ", targets_in.sizes[0], " for argument #2 'targets' (targets of shape ",
              shape_str(targets_in.sizes), ", batch size ", N, ")");
    FLB_CHECK(S >= p.max_target, RuntimeError, op, ": Expected tensor to have size at least ", p.max_target,
              " at dimension 1, but got size ", S, " for argument #2 'targets' (targets of shape ",
              shape_str(targets_in.sizes), ", largest target length ", p.max_target, ")");
  }
  for (int64_t b = 0; b < N; ++b) {
    FLB_CHECK(il[b] >= 0, RuntimeError, op, ": Expected input_lengths to have value at least 0, but got value ", il[b],
              " (batch element ", b, ")");
    FLB_CHECK(il[b] <= T, RuntimeError, op, ": Expected input_lengths to have value at most ", T,
              ", but got value ", il[b], " (batch element ", b, ", log_probs of shape ",
              shape_str(log_probs_in.sizes), ")");
  }

  r.targets = contiguous(to(targets_in, DType::Int64, lp.device(), false));
  if (r.targets.numel() > 0) {
    const int64_t* tg = r.targets.data<int64_t>();
    for (int64_t b = 0; b < N; ++b)
      for (int64_t k = 0; k < tl[b]; ++k) {
        const int64_t v = tg[p.target_offsets[b] + k];
        FLB_CHECK(0 <= v && v < C, IndexError, op, ": target label ", v, " (batch element ", b, ", position ", k,
                  ") is out of range for log_probs with ", C, " classes");
      }
  }
  r.log_probs = contiguous(lp);
  return r;
}

}  // namespace

std::vector<Tensor> ctc_loss(const Tensor& log_probs, const Tensor& targets, const std::vector<int64_t>& input_lengths,
                             const std::vector<int64_t>& target_lengths, int64_t blank, bool zero_infinity) {
  Prepared r = prepare(log_probs, targets, input_lengths, target_lengths, blank);
  const cpu::CtcProblem& p = r.p;
  const Device dev = r.log_probs.device();
  Tensor loss = empty({p.N}, r.log_probs.dtype, dev);
  Tensor nll = empty({p.N}, DType::Float64, dev);
  Tensor log_alpha = empty({p.N, p.T, 2 * p.max_target + 1}, DType::Float64, dev);
  FLB_CPU_ONLY(dev, "ctc_loss", ctc_loss_forward, p, r.log_probs, r.targets, zero_infinity, loss, nll, log_alpha);
  return {loss, nll, log_alpha};
}

Tensor ctc_loss_backward(const Tensor& grad_out, const Tensor& log_probs, const Tensor& targets,
                         const std::vector<int64_t>& input_lengths, const std::vector<int64_t>& target_lengths,
                         const Tensor& nll, const Tensor& log_alpha, int64_t blank, bool zero_infinity) {
  Prepared r = prepare(log_probs, targets, input_lengths, target_lengths, blank);
  const cpu::CtcProblem& p = r.p;
  const char* op = "ctc_loss_backward";
  FLB_CHECK(grad_out.numel() == p.N && is_floating(grad_out.dtype), RuntimeError, op,
            ": expected a floating-point grad_out with ", p.N, " elements, got ", dtype_name(grad_out.dtype), " ",
            shape_str(grad_out.sizes));
  FLB_CHECK(nll.dtype == DType::Float64 && nll.numel() == p.N && nll.is_contiguous(), RuntimeError, op,
            ": nll must be the forward's contiguous float64 [", p.N, "] output, got ", shape_str(nll.sizes));
  const Shape alpha_shape{p.N, p.T, 2 * p.max_target + 1};
  FLB_CHECK(log_alpha.dtype == DType::Float64 && log_alpha.sizes == alpha_shape && log_alpha.is_contiguous(),
            RuntimeError, op, ": log_alpha must be the forward's contiguous float64 ", shape_str(alpha_shape),
            " output, got ", shape_str(log_alpha.sizes));
  const Device dev = r.log_probs.device();
  Tensor g = contiguous(to(reshape(grad_out, {p.N}), DType::Float64, dev, false));
  Tensor grad = empty(r.log_probs.sizes, r.log_probs.dtype, dev);
  FLB_CPU_ONLY(dev, "ctc_loss_backward", ctc_loss_backward, p, g, r.log_probs, r.targets, nll, log_alpha,
               zero_infinity, grad);
  return view(grad, log_probs.sizes);
}

}  // namespace flambeau::ops
