// Fused optimizer steps: checks every list entry (shapes, dtypes, devices) before touching any
// memory, increments the step counters, then one kernel call per dtype present (float32 and
// float64 parameters may share a param group). Non-contiguous parameters or states are updated
// through contiguous copies written back afterwards; the common case (all contiguous) copies
// nothing.
#include <cmath>
#include "cpu/norm_optim_kernels.h"
#include "ops/dispatch.h"
#include "ops/norm_optim_ops.h"
#include "ops/ops.h"

namespace flambeau::ops {

namespace {

using TList = std::vector<Tensor>;

void check_len(size_t got, size_t want, const char* op, const char* name) {
  FLB_CHECK(got == want, ValueError, op, ": got ", want, " params but ", got, " ", name);
}

void check_params(const TList& params, const char* op) {
  for (size_t k = 0; k < params.size(); ++k) {
    const Tensor& p = params[k];
    FLB_CHECK(is_floating(p.dtype), TypeError, op, ": params[", k, "] has dtype ", dtype_name(p.dtype),
              "; expected float32 or float64");
    FLB_CHECK(p.device() == params[0].device(), RuntimeError, op, ": params[", k, "] is on ", p.device().str(),
              " but params[0] is on ", params[0].device().str());
  }
}

// t must match params[k] in device, dtype and shape.
void check_like(const TList& ts, const TList& params, const char* op, const char* name) {
  check_len(ts.size(), params.size(), op, name);
  for (size_t k = 0; k < ts.size(); ++k) {
    const Tensor& t = ts[k];
    const Tensor& p = params[k];
    FLB_CHECK(t.device() == p.device(), RuntimeError, op, ": ", name, "[", k, "] is on ", t.device().str(),
              " but params[", k, "] is on ", p.device().str());
    FLB_CHECK(t.dtype == p.dtype, TypeError, op, ": ", name, "[", k, "] has dtype ", dtype_name(t.dtype),
              " but params[", k, "] has dtype ", dtype_name(p.dtype));
    FLB_CHECK(t.sizes == p.sizes, ValueError, op, ": ", name, "[", k, "] has shape ", shape_str(t.sizes),
              " but params[", k, "] has shape ", shape_str(p.sizes));
  }
}

void check_steps(const TList& steps, const TList& params, const char* op) {
  check_len(steps.size(), params.size(), op, "state_steps");
  for (size_t k = 0; k < steps.size(); ++k) {
    const Tensor& s = steps[k];
    FLB_CHECK(s.numel() == 1, ValueError, op, ": state_steps[", k, "] should have 1 element, got shape ",
              shape_str(s.sizes));
    FLB_CHECK(s.device().is_cpu() || s.device() == params[k].device(), RuntimeError, op, ": state_steps[", k,
              "] must be a CPU tensor or on params[", k, "]'s device (", params[k].device().str(), "), got ",
              s.device().str());
    FLB_CHECK(s.dtype != DType::Bool, TypeError, op, ": state_steps[", k, "] has dtype bool");
  }
}

// step_t += 1 in the step tensor's own dtype (a CPU tensor); returns the new value.
double bump(const Tensor& s) {
  switch (s.dtype) {
    case DType::Float32: { float* p = s.data<float>(); *p = *p + 1.0f; return (double)*p; }
    case DType::Float64: { double* p = s.data<double>(); *p = *p + 1.0; return *p; }
    case DType::Int64: { int64_t* p = s.data<int64_t>(); *p = *p + 1; return (double)*p; }
    default: throw TypeError("optimizer step counter has dtype bool");
  }
}

// bump() of every counter; returns the new values. CPU counters are incremented in place. Counters
// on a device (torch's fused=True keeps state['step'] on the parameter's device) stay there: per
// (device, dtype), they are gathered into one device buffer, copied to the host once, incremented
// there with the same arithmetic, and the buffer copied back once and scattered to the counters
// (device-to-device copies, no further synchronisation).
std::vector<double> bump_all(const TList& steps) {
  std::vector<double> vals(steps.size());
  std::vector<char> done(steps.size(), 0);
  for (size_t k = 0; k < steps.size(); ++k) {
    if (steps[k].device().is_cpu()) {
      vals[k] = bump(steps[k]);
      done[k] = 1;
    }
  }
  for (size_t k0 = 0; k0 < steps.size(); ++k0) {
    if (done[k0]) continue;
    const Device dev = steps[k0].device();
    const DType dt = steps[k0].dtype;
    std::vector<size_t> idx;
    for (size_t k = k0; k < steps.size(); ++k)
      if (!done[k] && steps[k].device() == dev && steps[k].dtype == dt) idx.push_back(k);
    const int64_t n = (int64_t)idx.size();
    Tensor buf = empty({n}, dt, dev);
    for (int64_t j = 0; j < n; ++j) copy_(slice(buf, 0, j, j + 1, 1), reshape(steps[idx[j]], {1}));
    Tensor host = to(buf, dt, cpu_device(), true);  // the one device-to-host copy
    for (int64_t j = 0; j < n; ++j) {
      vals[idx[j]] = bump(select(host, 0, j));
      done[idx[j]] = 1;
    }
    copy_(buf, host);  // the one host-to-device copy
    for (int64_t j = 0; j < n; ++j) copy_(steps[idx[j]], reshape(slice(buf, 0, j, j + 1, 1), steps[idx[j]].sizes));
  }
  return vals;
}

void check_hyper(bool ok, const char* op, const char* what, double v) {
  FLB_CHECK(ok, ValueError, op, ": invalid ", what, " value: ", v);
}

// Contiguous working copies; views written to are copied back by write_back().
struct Work {
  std::vector<std::pair<Tensor, Tensor>> back;
  TList prep(const TList& v, bool written) {
    TList out;
    out.reserve(v.size());
    for (const Tensor& t : v) {
      if (t.is_contiguous()) {
        out.push_back(t);
      } else {
        Tensor c = contiguous(t);
        if (written) back.emplace_back(t, c);
        out.push_back(c);
      }
    }
    return out;
  }
  void write_back() {
    for (auto& [orig, c] : back) copy_(orig, c);
  }
};

TList pick(const TList& v, const std::vector<size_t>& idx) {
  if (v.empty()) return v;
  TList out;
  out.reserve(idx.size());
  for (size_t i : idx) out.push_back(v[i]);
  return out;
}

template <class T>
std::vector<T> pickv(const std::vector<T>& v, const std::vector<size_t>& idx) {
  if (v.empty()) return v;
  std::vector<T> out;
  out.reserve(idx.size());
  for (size_t i : idx) out.push_back(v[i]);
  return out;
}

// Calls f(indices) once per dtype present among params (the common case: one call, all indices).
template <class F>
void by_dtype(const TList& params, F&& f) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    std::vector<size_t> idx;
    for (size_t k = 0; k < params.size(); ++k)
      if (params[k].dtype == dt) idx.push_back(k);
    if (!idx.empty()) f(idx);
  }
}

}  // namespace

std::vector<Tensor> fused_sgd_(const TList& params, const TList& grads, const std::vector<OptTensor>& momentum_buffers,
                               double lr, double momentum, double dampening, double weight_decay, bool nesterov,
                               bool maximize) {
  const char* op = "fused_sgd_";
  check_params(params, op);
  check_like(grads, params, op, "grads");
  const bool use_mom = momentum != 0;
  check_hyper(std::isfinite(lr), op, "learning rate", lr);
  FLB_CHECK(!nesterov || (momentum > 0 && dampening == 0), ValueError, op,
            ": Nesterov momentum requires a momentum and zero dampening");
  TList bufs;
  std::vector<char> first;
  if (use_mom) {
    check_len(momentum_buffers.size(), params.size(), op, "momentum_buffers");
    for (size_t k = 0; k < params.size(); ++k) {
      if (momentum_buffers[k]) {
        check_like({*momentum_buffers[k]}, {params[k]}, op, "momentum_buffers");
        bufs.push_back(*momentum_buffers[k]);
        first.push_back(0);
      } else {
        bufs.push_back(empty(params[k].sizes, params[k].dtype, params[k].device()));
        first.push_back(1);
      }
    }
  }
  if (!params.empty()) {
    Work w;
    TList p = w.prep(params, true), g = w.prep(grads, false), b = w.prep(bufs, true);
    cpu::SgdOptions o{lr, momentum, dampening, weight_decay, nesterov, maximize};
    by_dtype(p, [&](const std::vector<size_t>& idx) {
      FLB_BACKEND(params[0].device(), fused_sgd, pick(p, idx), pick(g, idx), pick(b, idx), pickv(first, idx), o);
    });
    w.write_back();
  }
  return bufs;
}

void fused_adam_(const TList& params, const TList& grads, const TList& exp_avgs, const TList& exp_avg_sqs,
                 const TList& max_exp_avg_sqs, const TList& state_steps, double lr, double beta1, double beta2,
                 double eps, double weight_decay, bool amsgrad, bool maximize, bool decoupled) {
  const char* op = decoupled ? "fused_adamw_" : "fused_adam_";
  check_params(params, op);
  check_like(grads, params, op, "grads");
  check_like(exp_avgs, params, op, "exp_avgs");
  check_like(exp_avg_sqs, params, op, "exp_avg_sqs");
  if (amsgrad) check_like(max_exp_avg_sqs, params, op, "max_exp_avg_sqs");
  check_steps(state_steps, params, op);
  check_hyper(std::isfinite(lr), op, "learning rate", lr);
  check_hyper(beta1 >= 0 && beta1 < 1, op, "beta parameter at index 0", beta1);
  check_hyper(beta2 >= 0 && beta2 < 1, op, "beta parameter at index 1", beta2);
  if (params.empty()) return;
  std::vector<double> steps = bump_all(state_steps);
  Work w;
  TList p = w.prep(params, true), g = w.prep(grads, false), m = w.prep(exp_avgs, true), v = w.prep(exp_avg_sqs, true);
  TList mx = amsgrad ? w.prep(max_exp_avg_sqs, true) : TList{};
  cpu::AdamOptions o{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled};
  by_dtype(p, [&](const std::vector<size_t>& idx) {
    FLB_BACKEND(params[0].device(), fused_adam, pick(p, idx), pick(g, idx), pick(m, idx), pick(v, idx),
                 pick(mx, idx), pickv(steps, idx), o);
  });
  w.write_back();
}

void fused_rmsprop_(const TList& params, const TList& grads, const TList& square_avgs, const TList& grad_avgs,
                    const TList& momentum_buffers, const TList& state_steps, double lr, double alpha, double eps,
                    double weight_decay, double momentum, bool centered, bool maximize) {
  const char* op = "fused_rmsprop_";
  check_params(params, op);
  check_like(grads, params, op, "grads");
  check_like(square_avgs, params, op, "square_avgs");
  if (centered) check_like(grad_avgs, params, op, "grad_avgs");
  if (momentum > 0) check_like(momentum_buffers, params, op, "momentum_buffers");
  check_steps(state_steps, params, op);
  check_hyper(std::isfinite(lr), op, "learning rate", lr);
  if (params.empty()) return;
  bump_all(state_steps);
  Work w;
  TList p = w.prep(params, true), g = w.prep(grads, false), sq = w.prep(square_avgs, true);
  TList ga = centered ? w.prep(grad_avgs, true) : TList{};
  TList b = momentum > 0 ? w.prep(momentum_buffers, true) : TList{};
  cpu::RmspropOptions o{lr, alpha, eps, weight_decay, momentum, centered, maximize};
  by_dtype(p, [&](const std::vector<size_t>& idx) {
    FLB_BACKEND(params[0].device(), fused_rmsprop, pick(p, idx), pick(g, idx), pick(sq, idx), pick(ga, idx),
                 pick(b, idx), o);
  });
  w.write_back();
}

void fused_adagrad_(const TList& params, const TList& grads, const TList& state_sums, const TList& state_steps,
                    double lr, double lr_decay, double weight_decay, double eps, bool maximize) {
  const char* op = "fused_adagrad_";
  check_params(params, op);
  check_like(grads, params, op, "grads");
  check_like(state_sums, params, op, "state_sums");
  check_steps(state_steps, params, op);
  check_hyper(std::isfinite(lr), op, "learning rate", lr);
  if (params.empty()) return;
  std::vector<double> steps = bump_all(state_steps);
  Work w;
  TList p = w.prep(params, true), g = w.prep(grads, false), ss = w.prep(state_sums, true);
  cpu::AdagradOptions o{lr, lr_decay, weight_decay, eps, maximize};
  by_dtype(p, [&](const std::vector<size_t>& idx) {
    FLB_BACKEND(params[0].device(), fused_adagrad, pick(p, idx), pick(g, idx), pick(ss, idx),
                 pickv(steps, idx), o);
  });
  w.write_back();
}

}  // namespace flambeau::ops
