// complex64/complex128: the dtype-reinterpreting views (view_as_real, view_as_complex) and the FFT
// kernel. Everything else about complex tensors is composed in Python over view_as_real
// (python/flambeau/_complex/).
#include "core/view.h"
#include "cpu/fft.h"
#include "python/bind.h"

namespace flambeau::python {

namespace {

// The real (re, im) pairs of complex `t` as a real tensor of shape t.shape + [2], sharing its storage.
Tensor view_as_real(const Tensor& t) {
  FLB_CHECK(is_complex(t.dtype), RuntimeError, "view_as_real is only supported for complex tensors");
  Tensor out = t;
  out.dtype = t.dtype == DType::Complex64 ? DType::Float32 : DType::Float64;
  out.offset = t.offset * 2;
  for (auto& s : out.strides) s *= 2;
  out.sizes.push_back(2);
  out.strides.push_back(1);
  return out;
}

// The inverse view: a float32/float64 tensor whose last dim is (re, im) pairs, with PyTorch's checks.
Tensor view_as_complex(const Tensor& t) {
  FLB_CHECK(t.dtype == DType::Float32 || t.dtype == DType::Float64, RuntimeError,
            "view_as_complex is only supported for float and double tensors, but got a tensor of scalar type: ",
            dtype_name(t.dtype));
  FLB_CHECK(t.dim() >= 1, RuntimeError, "Input tensor must have one or more dimensions");
  FLB_CHECK(t.sizes.back() == 2, RuntimeError, "Tensor must have a last dimension of size 2");
  FLB_CHECK(t.strides.back() == 1, RuntimeError, "Tensor must have a last dimension with stride 1");
  for (int64_t d = 0; d + 1 < t.dim(); ++d)
    FLB_CHECK(t.strides[d] % 2 == 0, RuntimeError, "Tensor must have a stride divisible by 2 for all but last dimension");
  FLB_CHECK(t.offset % 2 == 0, RuntimeError, "Tensor must have a storage_offset divisible by 2");
  Tensor out = t;
  out.dtype = t.dtype == DType::Float32 ? DType::Complex64 : DType::Complex128;
  out.offset = t.offset / 2;
  out.sizes.pop_back();
  out.strides.pop_back();
  for (auto& s : out.strides) s /= 2;
  return out;
}

}  // namespace

void bind_complex(py::module_& m) {
  m.def("view_as_real", &view_as_real);
  m.def("view_as_complex", &view_as_complex);
  m.def("fft_c2c", [](const Tensor& x, bool inverse, double scale) {
    return nogil_if_big(x.numel(), [&] { return cpu::fft_c2c_lastdim(x, inverse, scale); });
  }, py::arg("x"), py::arg("inverse"), py::arg("scale"));
}

}  // namespace flambeau::python
