// Bindings for the quantized int8 kernels of csrc/ops/quantized_ops.h (used by flambeau.ao.nn.quantized).
// The GIL is released around each kernel. Called from bind_ops (csrc/python/ops.cpp).
#include <optional>
#include "ops/quantized_ops.h"
#include "python/bind.h"
#include "python/bind_int_list.h"

namespace flambeau::python {

void bind_quantized(py::module_& m) {
  using py::arg;
  auto nogil = py::call_guard<py::gil_scoped_release>();
  m.def("quantized_linear", &ops::quantized_linear, arg("input"), arg("input_zero_point"), arg("weight"),
        arg("weight_zero_points"), arg("bias"), arg("act_times_w_scale"), arg("multiplier"),
        arg("output_zero_point"), arg("relu"), nogil);
  m.def("quantized_linear_dynamic", &ops::quantized_linear_dynamic, arg("input"), arg("input_scale"),
        arg("input_zero_point"), arg("weight"), arg("weight_zero_points"), arg("weight_scales"), arg("bias"),
        arg("relu"), nogil);
  m.def("_quantized_gemm_raw", &ops::quantized_gemm_raw, arg("input"), arg("input_zero_point"), arg("weight"),
        arg("weight_zero_points"), arg("saturate"), nogil);
  m.def(
      "quantized_conv2d",
      [](const Tensor& x, int64_t x_zp, const Tensor& w, const Tensor& w_zp, const std::optional<Tensor>& b,
         const Tensor& atws, const Tensor& mult, int64_t out_zp, py::object stride, py::object padding,
         py::object dilation, int64_t groups, bool relu) {
        auto s = int_list(stride, "quantized::conv2d", "stride"), p = int_list(padding, "quantized::conv2d", "padding"),
             d = int_list(dilation, "quantized::conv2d", "dilation");
        py::gil_scoped_release release;
        return ops::quantized_conv2d(x, x_zp, w, w_zp, b, atws, mult, out_zp, s, p, d, groups, relu);
      },
      arg("input"), arg("input_zero_point"), arg("weight"), arg("weight_zero_points"), arg("bias"),
      arg("act_times_w_scale"), arg("multiplier"), arg("output_zero_point"), arg("stride"), arg("padding"),
      arg("dilation"), arg("groups"), arg("relu"));
  m.def(
      "quantize_per_tensor",
      [](const Tensor& x, double inv_scale, int64_t zp, const std::string& storage, int64_t qmin, int64_t qmax,
         bool fused) {
        DType dt = dtype_from_name(storage);
        py::gil_scoped_release release;
        return ops::quantize_per_tensor(x, inv_scale, zp, dt, qmin, qmax, fused);
      },
      arg("input"), arg("inv_scale"), arg("zero_point"), arg("storage"), arg("qmin"), arg("qmax"), arg("fused"));
}

}  // namespace flambeau::python
