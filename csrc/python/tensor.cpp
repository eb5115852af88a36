// TensorImpl: the C++ tensor as Python sees it (metadata only; ops live in ops.cpp).
#include "core/view.h"
#include "python/bind.h"

namespace flambeau::python {

static py::tuple to_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i) t[i] = py::int_(s[i]);
  return t;
}

// Interned dtype names: reading .dtype is on every op's path, so don't build a new str each time.
static py::object dtype_str(DType t) {
  // Leaked on purpose: destroying Python objects after the interpreter is gone would crash at exit.
  static py::object* names = new py::object[4]{py::str("bool"), py::str("int64"), py::str("float32"), py::str("float64")};
  return names[(int)t];
}

void bind_tensor(py::module_& m) {
  py::class_<Tensor>(m, "TensorImpl")
      .def_property_readonly("shape", [](const Tensor& t) { return to_tuple(t.sizes); })
      .def_property_readonly("stride", [](const Tensor& t) { return to_tuple(t.strides); })
      .def_property_readonly("dtype", [](const Tensor& t) { return dtype_str(t.dtype); })
      .def_property_readonly("version", [](const Tensor& t) { return t.storage->version.load(); })
      .def("bump_version", [](const Tensor& t) { t.bump_version(); })
      .def_property_readonly("device", [](const Tensor& t) { return t.device().str(); })
      .def_property_readonly("is_cuda", [](const Tensor& t) { return t.device().is_cuda(); })
      .def_property_readonly("storage_offset", [](const Tensor& t) { return t.offset; })
      .def_property_readonly("numel", &Tensor::numel)
      .def_property_readonly("ndim", &Tensor::dim)
      .def_property_readonly("itemsize", [](const Tensor& t) { return t.element_size(); })
      .def_property_readonly("data_ptr", [](const Tensor& t) { return (uintptr_t)t.data_ptr(); })
      .def_property_readonly("storage_nbytes", [](const Tensor& t) { return t.storage->nbytes; })
      // The storage's base address: identifies the storage while it is alive (autograd's aliasing check).
      .def_property_readonly("storage_ptr", [](const Tensor& t) { return (uintptr_t)t.storage->data; })
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("same_storage", [](const Tensor& a, const Tensor& b) { return a.storage == b.storage; })
      .def("__repr__", [](const Tensor& t) {
        return str_cat("TensorImpl(shape=", shape_str(t.sizes), ", dtype=", dtype_name(t.dtype), ", device=",
                       t.device().str(), ")");
      });
}

}  // namespace flambeau::python
