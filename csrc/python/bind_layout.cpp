// Bindings for the memory-layout helpers (core/layout.h): what clone(), empty_like(), to() and
// friends need to give results PyTorch's strides (transposed and channels_last layouts kept).
#include "core/copy.h"
#include "core/layout.h"
#include "python/bind.h"

namespace flambeau::python {

void bind_layout(py::module_& m) {
  using py::arg;
  m.def("empty_strided", [](const Shape& sizes, const Shape& strides, const std::string& d, const std::string& device) {
    return empty_strided(sizes, strides, dtype_from_name(d), device_from_string(device));
  }, arg("sizes"), arg("strides"), arg("dtype"), arg("device"));
  m.def("preserve_strides", &preserve_strides, arg("t"));
  m.def("is_non_overlapping_and_dense", [](const Tensor& t) { return is_non_overlapping_and_dense(t.sizes, t.strides); },
        arg("t"));
  // PyTorch's memory-overlap checks (core/copy.h) for the ops whose writes Python makes (out=, in-place
  // under autograd, index ops): partial=True for elementwise ops and copy_, False for index ops and cat.
  m.def("assert_no_overlap", [](const Tensor& out, const Tensor& in, const std::string& op, bool partial) {
    if (partial) assert_no_partial_overlap(out, in, op.c_str());
    else assert_no_overlap(out, in, op.c_str());
  }, arg("out"), arg("input"), arg("op"), arg("partial") = true);
  // A copy of t (cast and/or moved) that keeps t's layout: Tensor.to / clone with preserve_format.
  m.def("copy_preserve", [](const Tensor& t, const std::string& d, const std::string& device) {
    Tensor out = empty_preserve(t, dtype_from_name(d), device_from_string(device));
    nogil_if_big(t.numel(), [&] { copy_(out, t); });
    return out;
  }, arg("t"), arg("dtype"), arg("device"));
}

}  // namespace flambeau::python
