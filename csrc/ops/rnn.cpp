// The fused LSTM / GRU step (cpu/rnn.cpp): shape, dtype and device checks, contiguous operands, outputs.
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace flambeau::ops {

namespace {
// xp and hp [N, G * H] and the state [N, H], one floating dtype, one device.
void check_step(const char* name, const Tensor& xp, const Tensor& hp, const Tensor& state, int64_t G) {
  FLB_CHECK(state.dim() == 2 && xp.dim() == 2 && hp.dim() == 2, RuntimeError, name,
            ": expected 2-D gates and state, got ", shape_str(xp.sizes), ", ", shape_str(hp.sizes), " and ",
            shape_str(state.sizes));
  const Shape gs{state.sizes[0], G * state.sizes[1]};
  FLB_CHECK(xp.sizes == gs && hp.sizes == gs, RuntimeError, name, ": gates ", shape_str(xp.sizes), " and ",
            shape_str(hp.sizes), " must have shape ", shape_str(gs), " for the state ", shape_str(state.sizes));
  FLB_CHECK(is_floating(xp.dtype), TypeError, name, ": expected floating-point tensors, got ", dtype_name(xp.dtype));
  check_same_dtype(xp, hp, name);
  check_same_dtype(xp, state, name);
  check_same_device(xp, hp, name);
  check_same_device(xp, state, name);
}

void check_like(const char* name, const Tensor& t, const Tensor& ref, const char* what) {
  FLB_CHECK(t.sizes == ref.sizes, RuntimeError, name, ": ", what, " ", shape_str(t.sizes), " must have shape ",
            shape_str(ref.sizes));
  check_same_dtype(t, ref, name);
  check_same_device(t, ref, name);
}
}  // namespace

std::vector<Tensor> lstm_cell(const Tensor& xp, const Tensor& hp, const Tensor& c_prev) {
  check_step("lstm_cell", xp, hp, c_prev, 4);
  Tensor h = empty(c_prev.sizes, c_prev.dtype, c_prev.device()), c = empty_like(h);
  Tensor acts = empty(xp.sizes, xp.dtype, xp.device());
  if (h.numel() > 0)
    FLB_CPU_ONLY(xp.device(), "lstm_cell", lstm_cell, h, c, acts, contiguous(xp), contiguous(hp), contiguous(c_prev));
  return {h, c, acts};
}

std::vector<Tensor> lstm_cell_backward(const std::optional<Tensor>& dh, const std::optional<Tensor>& dc,
                                       const Tensor& acts, const Tensor& c_prev, const Tensor& c) {
  check_step("lstm_cell_backward", acts, acts, c_prev, 4);
  check_like("lstm_cell_backward", c, c_prev, "c");
  std::optional<Tensor> dh_c, dc_c;
  if (dh) check_like("lstm_cell_backward", *dh, c_prev, "dh"), dh_c = contiguous(*dh);
  if (dc) check_like("lstm_cell_backward", *dc, c_prev, "dc"), dc_c = contiguous(*dc);
  Tensor dgates = empty(acts.sizes, acts.dtype, acts.device()), dcp = empty(c_prev.sizes, c_prev.dtype, c_prev.device());
  if (dcp.numel() > 0)
    FLB_CPU_ONLY(acts.device(), "lstm_cell_backward", lstm_cell_backward, dgates, dcp, dh_c ? &*dh_c : nullptr,
                 dc_c ? &*dc_c : nullptr, contiguous(acts), contiguous(c_prev), contiguous(c));
  return {dgates, dcp};
}

std::vector<Tensor> gru_cell(const Tensor& xp, const Tensor& hp, const Tensor& h_prev) {
  check_step("gru_cell", xp, hp, h_prev, 3);
  Tensor h = empty(h_prev.sizes, h_prev.dtype, h_prev.device());
  Tensor acts = empty(xp.sizes, xp.dtype, xp.device());
  if (h.numel() > 0)
    FLB_CPU_ONLY(xp.device(), "gru_cell", gru_cell, h, acts, contiguous(xp), contiguous(hp), contiguous(h_prev));
  return {h, acts};
}

std::vector<Tensor> gru_cell_backward(const Tensor& dh, const Tensor& acts, const Tensor& hp, const Tensor& h_prev) {
  check_step("gru_cell_backward", acts, hp, h_prev, 3);
  check_like("gru_cell_backward", dh, h_prev, "dh");
  Tensor dxp = empty(acts.sizes, acts.dtype, acts.device()), dhp = empty_like(dxp);
  Tensor dhv = empty(h_prev.sizes, h_prev.dtype, h_prev.device());
  if (dhv.numel() > 0)
    FLB_CPU_ONLY(acts.device(), "gru_cell_backward", gru_cell_backward, dxp, dhp, dhv, contiguous(dh), contiguous(acts),
                 contiguous(hp), contiguous(h_prev));
  return {dxp, dhp, dhv};
}

}  // namespace flambeau::ops
