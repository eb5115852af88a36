// Bindings for normalization, dropout and the fused optimizer steps (csrc/ops/norm_optim_ops.h;
// names and signatures in csrc/python/API.md). All of them release the GIL: they touch every
// element of their inputs.
#include "ops/norm_optim_ops.h"
#include "python/bind.h"

namespace flambeau::python {

void bind_norm_optim(py::module_& m) {
  using OptT = std::optional<Tensor>;
  auto nogil = py::call_guard<py::gil_scoped_release>();

  // ---- normalization
  m.def("batch_norm", &ops::batch_norm, py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("running_mean"),
        py::arg("running_var"), py::arg("training"), py::arg("momentum"), py::arg("eps"), nogil);
  m.def("batch_norm_backward", &ops::batch_norm_backward, py::arg("grad_out"), py::arg("input"), py::arg("weight"),
        py::arg("save_mean"), py::arg("save_invstd"), py::arg("training"), py::arg("output_mask"), nogil);
  m.def("layer_norm", &ops::layer_norm, py::arg("input"), py::arg("normalized_shape"), py::arg("weight"),
        py::arg("bias"), py::arg("eps"), nogil);
  m.def("layer_norm_backward", &ops::layer_norm_backward, py::arg("grad_out"), py::arg("input"),
        py::arg("normalized_shape"), py::arg("mean"), py::arg("rstd"), py::arg("weight"), py::arg("output_mask"),
        nogil);
  m.def("group_norm", &ops::group_norm, py::arg("input"), py::arg("num_groups"), py::arg("weight"), py::arg("bias"),
        py::arg("eps"), nogil);
  m.def("group_norm_backward", &ops::group_norm_backward, py::arg("grad_out"), py::arg("input"),
        py::arg("num_groups"), py::arg("mean"), py::arg("rstd"), py::arg("weight"), py::arg("output_mask"), nogil);

  // ---- dropout
  m.def("dropout", &ops::dropout, py::arg("input"), py::arg("p"), py::arg("out") = OptT{}, nogil);
  m.def("dropout_backward", &ops::dropout_backward, py::arg("grad"), py::arg("p"), py::arg("seed"), py::arg("offset"),
        nogil);
  m.def("feature_dropout", &ops::feature_dropout, py::arg("input"), py::arg("p"), py::arg("out") = OptT{}, nogil);
  m.def("feature_dropout_backward", &ops::feature_dropout_backward, py::arg("grad"), py::arg("p"), py::arg("seed"),
        py::arg("offset"), nogil);

  // ---- fused optimizer steps
  m.def("fused_sgd_", &ops::fused_sgd_, py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"),
        py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"),
        py::arg("maximize"), nogil);
  m.def("fused_adam_", &ops::fused_adam_, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
        py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("state_steps"), py::arg("lr"), py::arg("beta1"),
        py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("amsgrad"), py::arg("maximize"),
        py::arg("decoupled"), nogil);
  m.def("fused_rmsprop_", &ops::fused_rmsprop_, py::arg("params"), py::arg("grads"), py::arg("square_avgs"),
        py::arg("grad_avgs"), py::arg("momentum_buffers"), py::arg("state_steps"), py::arg("lr"), py::arg("alpha"),
        py::arg("eps"), py::arg("weight_decay"), py::arg("momentum"), py::arg("centered"), py::arg("maximize"), nogil);
  m.def("fused_adagrad_", &ops::fused_adagrad_, py::arg("params"), py::arg("grads"), py::arg("state_sums"),
        py::arg("state_steps"), py::arg("lr"), py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"),
        py::arg("maximize"), nogil);
}

}  // namespace flambeau::python
