// Bindings for convolution and pooling (csrc/ops/nn_ops.h; names in csrc/python/API.md, section
// "Convolution and pooling"). Integer-list arguments accept an int or a sequence of ints. The GIL is
// released around every kernel call.
#include <optional>
#include "ops/nn_ops.h"
#include "python/bind.h"
#include "python/bind_int_list.h"

namespace flambeau::python {

namespace {

using OptT = std::optional<Tensor>;

}  // namespace

void bind_conv_pool(py::module_& m) {
  // ---- convolution
  m.def(
      "conv2d",
      [](const Tensor& x, const Tensor& w, const OptT& b, py::object stride, py::object padding, py::object dilation,
         int64_t groups) {
        auto s = int_list(stride, "conv2d", "stride"), p = int_list(padding, "conv2d", "padding"),
             d = int_list(dilation, "conv2d", "dilation");
        py::gil_scoped_release nogil;
        return ops::conv2d(x, w, b, s, p, d, groups);
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
      py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1);
  m.def(
      "conv2d_backward",
      [](const Tensor& gy, const Tensor& x, const Tensor& w, py::object stride, py::object padding,
         py::object dilation, int64_t groups, py::object output_mask) {
        const char* op = "conv2d_backward";
        auto s = int_list(stride, op, "stride"), p = int_list(padding, op, "padding"),
             d = int_list(dilation, op, "dilation");
        auto mask = mask3(output_mask);
        py::gil_scoped_release nogil;
        return ops::conv2d_backward(gy, x, w, s, p, d, groups, mask);
      },
      py::arg("grad_output"), py::arg("input"), py::arg("weight"), py::arg("stride") = 1, py::arg("padding") = 0,
      py::arg("dilation") = 1, py::arg("groups") = 1,
      py::arg("output_mask") = std::vector<bool>{true, true, true});
  m.def("unfold2d", &ops::unfold2d, py::arg("input"), py::arg("kernel_size"), py::arg("dilation"), py::arg("padding"),
        py::arg("stride"));
  m.def("fold2d", &ops::fold2d, py::arg("input"), py::arg("output_size"), py::arg("kernel_size"), py::arg("dilation"),
        py::arg("padding"), py::arg("stride"));
  m.def(
      "conv_transpose2d",
      [](const Tensor& x, const Tensor& w, const OptT& b, py::object stride, py::object padding,
         py::object output_padding, int64_t groups, py::object dilation) {
        const char* op = "conv_transpose2d";
        auto s = int_list(stride, op, "stride"), p = int_list(padding, op, "padding"),
             op_ = int_list(output_padding, op, "output_padding"), d = int_list(dilation, op, "dilation");
        py::gil_scoped_release nogil;
        return ops::conv_transpose2d(x, w, b, s, p, op_, groups, d);
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
      py::arg("padding") = 0, py::arg("output_padding") = 0, py::arg("groups") = 1, py::arg("dilation") = 1);
  m.def(
      "conv_transpose2d_backward",
      [](const Tensor& gy, const Tensor& x, const Tensor& w, py::object stride, py::object padding,
         py::object output_padding, int64_t groups, py::object dilation, py::object output_mask) {
        const char* op = "conv_transpose2d_backward";
        auto s = int_list(stride, op, "stride"), p = int_list(padding, op, "padding"),
             op_ = int_list(output_padding, op, "output_padding"), d = int_list(dilation, op, "dilation");
        auto mask = mask3(output_mask);
        py::gil_scoped_release nogil;
        return ops::conv_transpose2d_backward(gy, x, w, s, p, op_, groups, d, mask);
      },
      py::arg("grad_output"), py::arg("input"), py::arg("weight"), py::arg("stride") = 1, py::arg("padding") = 0,
      py::arg("output_padding") = 0, py::arg("groups") = 1, py::arg("dilation") = 1,
      py::arg("output_mask") = std::vector<bool>{true, true, true});

  // ---- pooling
  m.def(
      "max_pool2d",
      [](const Tensor& x, py::object kernel_size, py::object stride, py::object padding, py::object dilation,
         bool ceil_mode, bool return_indices) {
        const char* op = "max_pool2d";
        auto k = int_list(kernel_size, op, "kernel_size");
        auto s = opt_stride(stride, op);
        auto p = int_list(padding, op, "padding"), d = int_list(dilation, op, "dilation");
        py::gil_scoped_release nogil;
        return ops::max_pool2d(x, k, s, p, d, ceil_mode, return_indices);
      },
      py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("dilation") = 1, py::arg("ceil_mode") = false, py::arg("return_indices") = false);
  auto max_backward = [](const Tensor& gy, const Tensor& indices, const Shape& input_shape) {
    py::gil_scoped_release nogil;
    return ops::max_pool2d_backward(gy, indices, input_shape);
  };
  m.def("max_pool2d_backward", max_backward, py::arg("grad_output"), py::arg("indices"), py::arg("input_shape"));
  m.def("adaptive_max_pool2d_backward", max_backward, py::arg("grad_output"), py::arg("indices"),
        py::arg("input_shape"));
  m.def(
      "avg_pool2d",
      [](const Tensor& x, py::object kernel_size, py::object stride, py::object padding, bool ceil_mode,
         bool count_include_pad, std::optional<int64_t> divisor_override) {
        const char* op = "avg_pool2d";
        auto k = int_list(kernel_size, op, "kernel_size");
        auto s = opt_stride(stride, op);
        auto p = int_list(padding, op, "padding");
        py::gil_scoped_release nogil;
        return ops::avg_pool2d(x, k, s, p, ceil_mode, count_include_pad, divisor_override);
      },
      py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("ceil_mode") = false, py::arg("count_include_pad") = true, py::arg("divisor_override") = py::none());
  m.def(
      "avg_pool2d_backward",
      [](const Tensor& gy, const Shape& input_shape, py::object kernel_size, py::object stride, py::object padding,
         bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
        const char* op = "avg_pool2d_backward";
        auto k = int_list(kernel_size, op, "kernel_size");
        auto s = opt_stride(stride, op);
        auto p = int_list(padding, op, "padding");
        py::gil_scoped_release nogil;
        return ops::avg_pool2d_backward(gy, input_shape, k, s, p, ceil_mode, count_include_pad, divisor_override);
      },
      py::arg("grad_output"), py::arg("input_shape"), py::arg("kernel_size"), py::arg("stride") = py::none(),
      py::arg("padding") = 0, py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
      py::arg("divisor_override") = py::none());
  m.def(
      "adaptive_avg_pool2d",
      [](const Tensor& x, py::object output_size) {
        auto o = int_list(output_size, "adaptive_avg_pool2d", "output_size");
        py::gil_scoped_release nogil;
        return ops::adaptive_avg_pool2d(x, o);
      },
      py::arg("input"), py::arg("output_size"));
  m.def(
      "adaptive_avg_pool2d_backward",
      [](const Tensor& gy, const Shape& input_shape) {
        py::gil_scoped_release nogil;
        return ops::adaptive_avg_pool2d_backward(gy, input_shape);
      },
      py::arg("grad_output"), py::arg("input_shape"));
  m.def(
      "adaptive_max_pool2d",
      [](const Tensor& x, py::object output_size, bool return_indices) {
        auto o = int_list(output_size, "adaptive_max_pool2d", "output_size");
        py::gil_scoped_release nogil;
        return ops::adaptive_max_pool2d(x, o, return_indices);
      },
      py::arg("input"), py::arg("output_size"), py::arg("return_indices") = false);
}

}  // namespace flambeau::python
