// The fused LSTM / GRU step (cpu/rnn.cpp): shape, dtype and device checks, contiguous operands, outputs.
#include "ops/dispatch.h"
#include "ops/ops.h"
#include "core/view.h"

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

std::vector<Tensor> lstm_layer(const Tensor& xp, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                               const std::optional<Tensor>& b_hh, bool reverse, bool keep) {
  const char* name = "lstm_layer";
  FLB_CHECK(xp.dim() == 3 && h0.dim() == 2 && c0.dim() == 2 && w_hh.dim() == 2, RuntimeError, name,
            ": expected xp [L, N, 4H], h0 and c0 [N, H] and w_hh [4H, H], got ", shape_str(xp.sizes), ", ",
            shape_str(h0.sizes), ", ", shape_str(c0.sizes), " and ", shape_str(w_hh.sizes));
  const int64_t L = xp.sizes[0], N = h0.sizes[0], H = h0.sizes[1];
  FLB_CHECK(c0.sizes == h0.sizes && xp.sizes[1] == N && xp.sizes[2] == 4 * H && w_hh.sizes == Shape({4 * H, H}),
            RuntimeError, name, ": shapes do not match: xp ", shape_str(xp.sizes), ", h0 ", shape_str(h0.sizes), ", c0 ",
            shape_str(c0.sizes), ", w_hh ", shape_str(w_hh.sizes), " (want xp [L, N, 4H], w_hh [4H, H] for h0 [N, H])");
  FLB_CHECK(is_floating(xp.dtype), TypeError, name, ": expected floating-point tensors, got ", dtype_name(xp.dtype));
  for (const Tensor* t : {&h0, &c0, &w_hh}) {
    check_same_dtype(xp, *t, name);
    check_same_device(xp, *t, name);
  }
  std::optional<Tensor> b;
  if (b_hh) {
    FLB_CHECK(b_hh->dim() == 1 && b_hh->sizes[0] == 4 * H, RuntimeError, name, ": b_hh ", shape_str(b_hh->sizes),
              " must have shape [", 4 * H, "]");
    check_same_dtype(xp, *b_hh, name);
    check_same_device(xp, *b_hh, name);
    b = contiguous(*b_hh);
  }
  const Device dev = xp.device();
  Tensor out = empty({L, N, H}, xp.dtype, dev), c_n = empty({N, H}, xp.dtype, dev);
  Tensor cs = keep ? empty({L, N, H}, xp.dtype, dev) : Tensor();
  Tensor acts = keep ? empty({L, N, 4 * H}, xp.dtype, dev) : Tensor();
  if (L == 0 || out.numel() == 0) {  // no step to take (or nothing to compute): the state passes through
    Tensor h_n = clone(h0);
    c_n = clone(c0);
    std::vector<Tensor> r{out, h_n, c_n};
    if (keep) r.push_back(cs), r.push_back(acts);
    return r;
  }
  FLB_CPU_ONLY(dev, name, lstm_layer, out, c_n, keep ? &cs : nullptr, keep ? &acts : nullptr, contiguous(xp),
               contiguous(h0), contiguous(c0), contiguous(w_hh), b ? &*b : nullptr, reverse);
  std::vector<Tensor> r{out, select(out, 0, reverse ? 0 : L - 1), c_n};
  if (keep) r.push_back(cs), r.push_back(acts);
  return r;
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
