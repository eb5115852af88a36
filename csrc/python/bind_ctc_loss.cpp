// Bindings for the CTC loss of csrc/ops/ctc_loss.cpp (listed in csrc/python/API.md under "Losses").
// Both release the GIL: the recursions run for T * (2S + 1) steps per batch element. Called from
// bind_ops (csrc/python/ops.cpp).
#include "ops/ctc_loss_ops.h"
#include "python/bind.h"

namespace flambeau::python {

void bind_ctc_loss(py::module_& m) {
  using py::arg;
  auto nogil = py::call_guard<py::gil_scoped_release>();
  m.def("ctc_loss", &ops::ctc_loss, arg("log_probs"), arg("targets"), arg("input_lengths"), arg("target_lengths"),
        arg("blank"), arg("zero_infinity"), nogil);
  m.def("ctc_loss_backward", &ops::ctc_loss_backward, arg("grad_out"), arg("log_probs"), arg("targets"),
        arg("input_lengths"), arg("target_lengths"), arg("nll"), arg("log_alpha"), arg("blank"), arg("zero_infinity"),
        nogil);
}

}  // namespace flambeau::python
