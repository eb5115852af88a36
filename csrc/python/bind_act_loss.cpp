// Bindings for the activation and loss ops (csrc/ops/activation.cpp, csrc/ops/loss.cpp); the names
// are listed in csrc/python/API.md under "Activations and losses". All of them release the GIL on
// large tensors (the pointwise ones run for milliseconds there); the pointwise activations and the
// class-index losses keep it below nogil_if_big's threshold, where releasing costs more than it frees.
#include <optional>
#include "ops/act_loss_ops.h"
#include "python/bind.h"

namespace flambeau::python {

using OptT = std::optional<Tensor>;

namespace {
ActParams P(double a = 0, double b = 0, double c = 0, double d = 0) {
  ActParams p;
  p.p[0] = a, p.p[1] = b, p.p[2] = c, p.p[3] = d;
  return p;
}
Act gelu_kind(const std::string& approximate) {
  if (approximate == "none") return Act::Gelu;
  if (approximate == "tanh") return Act::GeluTanh;
  throw RuntimeError("gelu: approximate argument must be either none or tanh, got '" + approximate + "'");
}
}  // namespace

void bind_act_loss(py::module_& m) {
  using py::arg;
  auto nogil = py::call_guard<py::gil_scoped_release>();
  const auto none = py::none();

  // ---- parameterless activations: f(x, out=None), f_backward(grad, saved)
  struct A { const char* name; const char* bname; Act op; };
  static const A plain[] = {
      {"act_sigmoid", "act_sigmoid_backward", Act::Sigmoid}, {"act_tanh", "act_tanh_backward", Act::Tanh},
      {"act_relu", "act_relu_backward", Act::Relu}, {"silu", "silu_backward", Act::Silu},
      {"mish", "mish_backward", Act::Mish}, {"softsign", "softsign_backward", Act::Softsign},
      {"hardsigmoid", "hardsigmoid_backward", Act::Hardsigmoid}, {"hardswish", "hardswish_backward", Act::Hardswish},
      {"tanhshrink", "tanhshrink_backward", Act::Tanhshrink}, {"log_sigmoid", "log_sigmoid_backward", Act::LogSigmoid}};
  for (const auto& a : plain) {
    Act op = a.op;
    const char* name = a.name;
    m.def(a.name, [op, name](const Tensor& x, const OptT& out) {
      return nogil_if_big(x.numel(), [&] { return ops::activation(op, name, x, P(), out); });
    }, arg("x"), arg("out") = none);
    m.def(a.bname, [op, name](const Tensor& g, const Tensor& s) {
      return nogil_if_big(s.numel(), [&] { return ops::activation_backward(op, name, g, s, P()); });
    }, arg("grad"), arg("saved"));
  }

  m.def("leaky_relu", [](const Tensor& x, double slope, const OptT& out) {
    return nogil_if_big(x.numel(), [&] { return ops::activation(Act::LeakyRelu, "leaky_relu", x, P(slope), out); });
  }, arg("x"), arg("negative_slope") = 0.01, arg("out") = none);
  m.def("leaky_relu_backward", [](const Tensor& g, const Tensor& s, double slope) {
    return nogil_if_big(s.numel(), [&] { return ops::activation_backward(Act::LeakyRelu, "leaky_relu", g, s, P(slope)); });
  }, arg("grad"), arg("saved"), arg("negative_slope") = 0.01);

  m.def("elu", [](const Tensor& x, double alpha, double scale, double input_scale, const OptT& out) {
    return nogil_if_big(x.numel(), [&] { return ops::activation(Act::Elu, "elu", x, P(alpha, scale, input_scale), out); });
  }, arg("x"), arg("alpha") = 1.0, arg("scale") = 1.0, arg("input_scale") = 1.0, arg("out") = none);
  m.def("elu_backward", [](const Tensor& g, const Tensor& s, double alpha, double scale, double input_scale,
                           bool is_result) {
    return nogil_if_big(s.numel(), [&] { return ops::activation_backward(Act::Elu, "elu", g, s, P(alpha, scale, input_scale, is_result ? 1 : 0)); });
  }, arg("grad"), arg("saved"), arg("alpha") = 1.0, arg("scale") = 1.0, arg("input_scale") = 1.0,
     arg("is_result") = false);

  m.def("gelu", [](const Tensor& x, const std::string& approximate, const OptT& out) {
    return nogil_if_big(x.numel(), [&] { return ops::activation(gelu_kind(approximate), "gelu", x, P(), out); });
  }, arg("x"), arg("approximate") = "none", arg("out") = none);
  m.def("gelu_backward", [](const Tensor& g, const Tensor& x, const std::string& approximate) {
    return nogil_if_big(x.numel(), [&] { return ops::activation_backward(gelu_kind(approximate), "gelu", g, x, P()); });
  }, arg("grad"), arg("x"), arg("approximate") = "none");

  m.def("softplus", [](const Tensor& x, double beta, double threshold, const OptT& out) {
    return nogil_if_big(x.numel(), [&] { return ops::activation(Act::Softplus, "softplus", x, P(beta, threshold), out); });
  }, arg("x"), arg("beta") = 1.0, arg("threshold") = 20.0, arg("out") = none);
  m.def("softplus_backward", [](const Tensor& g, const Tensor& x, double beta, double threshold) {
    return nogil_if_big(x.numel(), [&] { return ops::activation_backward(Act::Softplus, "softplus", g, x, P(beta, threshold)); });
  }, arg("grad"), arg("x"), arg("beta") = 1.0, arg("threshold") = 20.0);

  m.def("hardtanh", [](const Tensor& x, double lo, double hi, const OptT& out) {
    return nogil_if_big(x.numel(), [&] { return ops::activation(Act::Hardtanh, "hardtanh", x, P(lo, hi), out); });
  }, arg("x"), arg("min_val") = -1.0, arg("max_val") = 1.0, arg("out") = none);
  m.def("hardtanh_backward", [](const Tensor& g, const Tensor& s, double lo, double hi) {
    return nogil_if_big(s.numel(), [&] { return ops::activation_backward(Act::Hardtanh, "hardtanh", g, s, P(lo, hi)); });
  }, arg("grad"), arg("saved"), arg("min_val") = -1.0, arg("max_val") = 1.0);

  m.def("hardshrink", [](const Tensor& x, double l, const OptT& out) {
    return nogil_if_big(x.numel(), [&] { return ops::activation(Act::Hardshrink, "hardshrink", x, P(l), out); });
  }, arg("x"), arg("lambd") = 0.5, arg("out") = none);
  m.def("hardshrink_backward", [](const Tensor& g, const Tensor& x, double l) {
    return nogil_if_big(x.numel(), [&] { return ops::activation_backward(Act::Hardshrink, "hardshrink", g, x, P(l)); });
  }, arg("grad"), arg("x"), arg("lambd") = 0.5);
  m.def("softshrink", [](const Tensor& x, double l, const OptT& out) {
    return nogil_if_big(x.numel(), [&] { return ops::activation(Act::Softshrink, "softshrink", x, P(l), out); });
  }, arg("x"), arg("lambd") = 0.5, arg("out") = none);
  m.def("softshrink_backward", [](const Tensor& g, const Tensor& x, double l) {
    return nogil_if_big(x.numel(), [&] { return ops::activation_backward(Act::Softshrink, "softshrink", g, x, P(l)); });
  }, arg("grad"), arg("x"), arg("lambd") = 0.5);

  m.def("threshold", [](const Tensor& x, double th, double value, const OptT& out) {
    return nogil_if_big(x.numel(), [&] { return ops::activation(Act::Threshold, "threshold", x, P(th, value), out); });
  }, arg("x"), arg("threshold"), arg("value"), arg("out") = none);
  // (its backward is the core's threshold_backward(grad, x, threshold))

  m.def("prelu", &ops::prelu, arg("x"), arg("weight"), nogil);
  m.def("prelu_backward", &ops::prelu_backward, arg("grad"), arg("x"), arg("weight"), nogil);
  m.def("glu", &ops::glu, arg("x"), arg("dim") = -1, nogil);
  m.def("glu_backward", &ops::glu_backward, arg("grad"), arg("x"), arg("dim") = -1, nogil);

  // ---- losses
  m.def("cross_entropy", [](const Tensor& x, const Tensor& t, const OptT& w, const std::string& red, int64_t ii,
                            double ls) {
    return nogil_if_big(x.numel(), [&] { return ops::cross_entropy(x, t, w, red, ii, ls); });
  }, arg("input"), arg("target"), arg("weight") = none, arg("reduction") = "mean", arg("ignore_index") = -100,
     arg("label_smoothing") = 0.0);
  m.def("cross_entropy_backward", [](const Tensor& g, const Tensor& x, const Tensor& t, const Tensor& lse,
                                     const OptT& w, const std::string& red, int64_t ii, double ls, double tw, bool gx,
                                     bool gt) {
    return nogil_if_big(x.numel(), [&] { return ops::cross_entropy_backward(g, x, t, lse, w, red, ii, ls, tw, gx, gt); });
  }, arg("grad"), arg("input"), arg("target"), arg("lse"), arg("weight") = none, arg("reduction") = "mean",
     arg("ignore_index") = -100, arg("label_smoothing") = 0.0, arg("total_weight") = 1.0, arg("input_grad") = true,
     arg("target_grad") = false);
  m.def("nll_loss", [](const Tensor& x, const Tensor& t, const OptT& w, const std::string& red, int64_t ii) {
    return nogil_if_big(x.numel(), [&] { return ops::nll_loss(x, t, w, red, ii); });
  }, arg("input"), arg("target"), arg("weight") = none, arg("reduction") = "mean", arg("ignore_index") = -100);
  m.def("nll_loss_backward", [](const Tensor& g, const Tensor& x, const Tensor& t, const OptT& w,
                                const std::string& red, int64_t ii, double tw) {
    return nogil_if_big(x.numel(), [&] { return ops::nll_loss_backward(g, x, t, w, red, ii, tw); });
  }, arg("grad"), arg("input"), arg("target"), arg("weight") = none, arg("reduction") = "mean",
     arg("ignore_index") = -100, arg("total_weight") = 1.0);

  struct L { const char* name; const char* bname; PointLoss kind; };
  static const L point[] = {
      {"mse_loss", "mse_loss_backward", PointLoss::MSE},
      {"l1_loss", "l1_loss_backward", PointLoss::L1},
      {"smooth_l1_loss", "smooth_l1_loss_backward", PointLoss::SmoothL1},
      {"huber_loss", "huber_loss_backward", PointLoss::Huber},
      {"binary_cross_entropy", "binary_cross_entropy_backward", PointLoss::BCE},
      {"binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_backward", PointLoss::BCEWithLogits}};
  // f(input, target, weight=None, reduction='mean', param=0, pos_weight=None); param is beta for
  // smooth_l1_loss, delta for huber_loss.
  for (const auto& l : point) {
    PointLoss k = l.kind;
    m.def(l.name, [k](const Tensor& x, const Tensor& t, const OptT& w, const std::string& red, double param,
                      const OptT& pw) { return ops::point_loss(k, x, t, w, pw, param, red); },
          arg("input"), arg("target"), arg("weight") = none, arg("reduction") = "mean", arg("param") = 0.0,
          arg("pos_weight") = none, nogil);
    m.def(l.bname, [k](const Tensor& g, const Tensor& x, const Tensor& t, const OptT& w, const std::string& red,
                       double param, const OptT& pw, bool gx, bool gt) {
            return ops::point_loss_backward(k, g, x, t, w, pw, param, red, gx, gt);
          },
          arg("grad"), arg("input"), arg("target"), arg("weight") = none, arg("reduction") = "mean",
          arg("param") = 0.0, arg("pos_weight") = none, arg("input_grad") = true, arg("target_grad") = false, nogil);
  }
  m.def("kl_div", [](const Tensor& x, const Tensor& t, const std::string& red, bool log_target) {
    return ops::point_loss(log_target ? PointLoss::KLDivLogTarget : PointLoss::KLDiv, x, t, std::nullopt,
                           std::nullopt, 0.0, red);
  }, arg("input"), arg("target"), arg("reduction") = "mean", arg("log_target") = false, nogil);
  m.def("kl_div_backward", [](const Tensor& g, const Tensor& x, const Tensor& t, const std::string& red,
                              bool log_target, bool gx, bool gt) {
    return ops::point_loss_backward(log_target ? PointLoss::KLDivLogTarget : PointLoss::KLDiv, g, x, t, std::nullopt,
                                    std::nullopt, 0.0, red, gx, gt);
  }, arg("grad"), arg("input"), arg("target"), arg("reduction") = "mean", arg("log_target") = false,
     arg("input_grad") = true, arg("target_grad") = false, nogil);

  m.def("multi_margin_loss", &ops::multi_margin_loss, arg("input"), arg("target"), arg("p") = 1, arg("margin") = 1.0,
        arg("weight") = none, arg("reduction") = "mean", nogil);
  m.def("multi_margin_loss_backward", &ops::multi_margin_loss_backward, arg("grad"), arg("input"), arg("target"),
        arg("p") = 1, arg("margin") = 1.0, arg("weight") = none, arg("reduction") = "mean", nogil);
  m.def("cosine_embedding_loss", &ops::cosine_embedding_loss, arg("input1"), arg("input2"), arg("target"),
        arg("margin") = 0.0, arg("reduction") = "mean", nogil);
  m.def("cosine_embedding_loss_backward", &ops::cosine_embedding_loss_backward, arg("grad"), arg("input1"),
        arg("input2"), arg("target"), arg("margin") = 0.0, arg("reduction") = "mean", arg("input1_grad") = true,
        arg("input2_grad") = true, nogil);
}

}  // namespace flambeau::python
