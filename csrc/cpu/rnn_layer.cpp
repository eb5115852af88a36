// One LSTM layer and direction over a whole sequence in one call: the time loop of
// python/flambeau/nn/modules/_lstm_layer.py moved here, so that a 50-step sequence costs one trip
// through Python instead of three _C calls and their tensor wrappers per step.
//
// Per step t (in time order, or backwards for the reverse direction), the same two kernels in the same
// order as the Python loop, so the bits are the same:
//
//   hp   = h_{t-1} W_hh^T + b_hh          cpu::linear (the packed GEMM, bias in its epilogue)
//   h_t, c_t, acts_t = cell(xp[t], hp, c_{t-1})   cpu::lstm_cell (cpu/rnn.cpp)
//
// h_t is written straight into out[t], which is also the next step's GEMM operand. With `cs` / `acts`
// given (a forward that autograd records), every step's cell state and activated gates land there for
// the backward; without them (no_grad / eval) the cell state alternates between c_n and one scratch
// buffer (the last step writes c_n) and one [N, 4H] gate buffer is reused step after step.
#include "core/view.h"
#include "cpu/kernels.h"

namespace flambeau::cpu {

void lstm_layer(const Tensor& out, const Tensor& c_n, const Tensor* cs, const Tensor* acts, const Tensor& xp,
                const Tensor& h0, const Tensor& c0, const Tensor& w_hh, const Tensor* b_hh, bool reverse) {
  const int64_t L = xp.sizes[0], N = h0.sizes[0], H = h0.sizes[1];
  const Device dev = xp.device();
  Tensor hp = empty({N, 4 * H}, xp.dtype, dev);
  Tensor gates = acts ? Tensor() : empty({N, 4 * H}, xp.dtype, dev);
  Tensor spare = cs ? Tensor() : empty({N, H}, xp.dtype, dev);
  Tensor h = h0, c = c0;
  for (int64_t s = 0; s < L; ++s) {
    const int64_t t = reverse ? L - 1 - s : s;
    linear(hp, h, w_hh, b_hh);
    Tensor ht = select(out, 0, t);
    Tensor ct = cs ? select(*cs, 0, t) : ((L - 1 - s) % 2 == 0 ? c_n : spare);
    lstm_cell(ht, ct, acts ? select(*acts, 0, t) : gates, select(xp, 0, t), hp, c);
    h = ht;
    c = ct;
  }
  if (cs) copy(c_n, c);
}

}  // namespace flambeau::cpu
