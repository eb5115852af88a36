// Bindings for the volumetric (3-D) convolution and pooling ops (csrc/ops/vol_ops.h; names in
// csrc/python/API.md, section "Volumetric (3-D) convolution and pooling"). Integer-list arguments
// accept an int or a sequence of ints. The GIL is released around every kernel call. Called from
// bind_ops (csrc/python/ops.cpp).
#include <optional>
#include "ops/vol_ops.h"
#include "python/bind.h"
#include "python/bind_int_list.h"

namespace flambeau::python {

namespace {

using OptT = std::optional<Tensor>;

}  // namespace

void bind_vol(py::module_& m) {
  using py::arg;
  // ---- convolution
  m.def(
      "conv3d",
      [](const Tensor& x, const Tensor& w, const OptT& b, py::object stride, py::object padding, py::object dilation,
         int64_t groups) {
        const char* op = "conv3d";
        auto s = int_list(stride, op, "stride"), p = int_list(padding, op, "padding"),
             d = int_list(dilation, op, "dilation");
        py::gil_scoped_release nogil;
        return ops::conv3d(x, w, b, s, p, d, groups);
      },
      arg("input"), arg("weight"), arg("bias") = py::none(), arg("stride") = 1, arg("padding") = 0,
      arg("dilation") = 1, arg("groups") = 1);
  m.def(
      "conv3d_backward",
      [](const Tensor& gy, const Tensor& x, const Tensor& w, py::object stride, py::object padding,
         py::object dilation, int64_t groups, py::object output_mask) {
        const char* op = "conv3d_backward";
        auto s = int_list(stride, op, "stride"), p = int_list(padding, op, "padding"),
             d = int_list(dilation, op, "dilation");
        auto mask = mask3(output_mask);
        py::gil_scoped_release nogil;
        return ops::conv3d_backward(gy, x, w, s, p, d, groups, mask);
      },
      arg("grad_output"), arg("input"), arg("weight"), arg("stride") = 1, arg("padding") = 0, arg("dilation") = 1,
      arg("groups") = 1, arg("output_mask") = std::vector<bool>{true, true, true});
  m.def(
      "conv_transpose3d",
      [](const Tensor& x, const Tensor& w, const OptT& b, py::object stride, py::object padding,
         py::object output_padding, int64_t groups, py::object dilation) {
        const char* op = "conv_transpose3d";
        auto s = int_list(stride, op, "stride"), p = int_list(padding, op, "padding"),
             op_ = int_list(output_padding, op, "output_padding"), d = int_list(dilation, op, "dilation");
        py::gil_scoped_release nogil;
        return ops::conv_transpose3d(x, w, b, s, p, op_, groups, d);
      },
      arg("input"), arg("weight"), arg("bias") = py::none(), arg("stride") = 1, arg("padding") = 0,
      arg("output_padding") = 0, arg("groups") = 1, arg("dilation") = 1);
  m.def(
      "conv_transpose3d_backward",
      [](const Tensor& gy, const Tensor& x, const Tensor& w, py::object stride, py::object padding,
         py::object output_padding, int64_t groups, py::object dilation, py::object output_mask) {
        const char* op = "conv_transpose3d_backward";
        auto s = int_list(stride, op, "stride"), p = int_list(padding, op, "padding"),
             op_ = int_list(output_padding, op, "output_padding"), d = int_list(dilation, op, "dilation");
        auto mask = mask3(output_mask);
        py::gil_scoped_release nogil;
        return ops::conv_transpose3d_backward(gy, x, w, s, p, op_, groups, d, mask);
      },
      arg("grad_output"), arg("input"), arg("weight"), arg("stride") = 1, arg("padding") = 0,
      arg("output_padding") = 0, arg("groups") = 1, arg("dilation") = 1,
      arg("output_mask") = std::vector<bool>{true, true, true});

  // ---- pooling
  m.def(
      "max_pool3d",
      [](const Tensor& x, py::object kernel_size, py::object stride, py::object padding, py::object dilation,
         bool ceil_mode, bool return_indices) {
        const char* op = "max_pool3d";
        auto k = int_list(kernel_size, op, "kernel_size"), s = opt_stride(stride, op);
        auto p = int_list(padding, op, "padding"), d = int_list(dilation, op, "dilation");
        py::gil_scoped_release nogil;
        return ops::max_pool3d(x, k, s, p, d, ceil_mode, return_indices);
      },
      arg("input"), arg("kernel_size"), arg("stride") = py::none(), arg("padding") = 0, arg("dilation") = 1,
      arg("ceil_mode") = false, arg("return_indices") = false);
  m.def(
      "max_pool3d_backward",
      [](const Tensor& gy, const Tensor& indices, const Shape& input_shape) {
        py::gil_scoped_release nogil;
        return ops::max_pool3d_backward(gy, indices, input_shape);
      },
      arg("grad_output"), arg("indices"), arg("input_shape"));
  m.def(
      "avg_pool3d",
      [](const Tensor& x, py::object kernel_size, py::object stride, py::object padding, bool ceil_mode,
         bool count_include_pad, std::optional<int64_t> divisor_override) {
        const char* op = "avg_pool3d";
        auto k = int_list(kernel_size, op, "kernel_size"), s = opt_stride(stride, op);
        auto p = int_list(padding, op, "padding");
        py::gil_scoped_release nogil;
        return ops::avg_pool3d(x, k, s, p, ceil_mode, count_include_pad, divisor_override);
      },
      arg("input"), arg("kernel_size"), arg("stride") = py::none(), arg("padding") = 0, arg("ceil_mode") = false,
      arg("count_include_pad") = true, arg("divisor_override") = py::none());
  m.def(
      "avg_pool3d_backward",
      [](const Tensor& gy, const Shape& input_shape, py::object kernel_size, py::object stride, py::object padding,
         bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
        const char* op = "avg_pool3d_backward";
        auto k = int_list(kernel_size, op, "kernel_size"), s = opt_stride(stride, op);
        auto p = int_list(padding, op, "padding");
        py::gil_scoped_release nogil;
        return ops::avg_pool3d_backward(gy, input_shape, k, s, p, ceil_mode, count_include_pad, divisor_override);
      },
      arg("grad_output"), arg("input_shape"), arg("kernel_size"), arg("stride") = py::none(), arg("padding") = 0,
      arg("ceil_mode") = false, arg("count_include_pad") = true, arg("divisor_override") = py::none());
  m.def(
      "adaptive_avg_pool3d",
      [](const Tensor& x, py::object output_size) {
        auto o = int_list(output_size, "adaptive_avg_pool3d", "output_size");
        py::gil_scoped_release nogil;
        return ops::adaptive_avg_pool3d(x, o);
      },
      arg("input"), arg("output_size"));
  m.def(
      "adaptive_avg_pool3d_backward",
      [](const Tensor& gy, const Shape& input_shape) {
        py::gil_scoped_release nogil;
        return ops::adaptive_avg_pool3d_backward(gy, input_shape);
      },
      arg("grad_output"), arg("input_shape"));
  m.def(
      "adaptive_max_pool3d",
      [](const Tensor& x, py::object output_size, bool return_indices) {
        auto o = int_list(output_size, "adaptive_max_pool3d", "output_size");
        py::gil_scoped_release nogil;
        return ops::adaptive_max_pool3d(x, o, return_indices);
      },
      arg("input"), arg("output_size"), arg("return_indices") = false);
  m.def(
      "max_unpool3d",
      [](const Tensor& x, const Tensor& indices, py::object output_size) {
        auto o = int_list(output_size, "max_unpool3d", "output_size");
        py::gil_scoped_release nogil;
        return ops::max_unpool3d(x, indices, o);
      },
      arg("input"), arg("indices"), arg("output_size"));
  m.def(
      "max_unpool3d_backward",
      [](const Tensor& gy, const Tensor& indices) {
        py::gil_scoped_release nogil;
        return ops::max_unpool3d_backward(gy, indices);
      },
      arg("grad_output"), arg("indices"));
}

}  // namespace flambeau::python
