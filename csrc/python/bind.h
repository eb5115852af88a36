// Shared helpers for the pybind11 binding files.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include "core/scalar.h"
#include "core/tensor.h"

namespace flambeau::python {

namespace py = pybind11;

inline Scalar to_scalar(const py::handle& h, const char* op) {
  if (py::isinstance<py::bool_>(h)) return Scalar::from_bool(h.cast<bool>());
  if (py::isinstance<py::int_>(h)) {
    try {
      return Scalar::from_int(h.cast<int64_t>());
    } catch (const py::cast_error&) {
      throw std::overflow_error(std::string(op) + ": integer value out of range for int64");
    }
  }
  if (py::isinstance<py::float_>(h)) return Scalar::from_double(h.cast<double>());
  // numpy scalars and other numbers
  try {
    return Scalar::from_double(py::reinterpret_borrow<py::object>(h).cast<double>());
  } catch (...) {
    throw TypeError(std::string(op) + ": expected a number, got " + std::string(py::str(py::type::of(h))));
  }
}

// Runs f() with the GIL released only when the op has enough elements to run for a while:
// releasing and retaking it costs ~0.1-0.2 us, a visible part of a call on a small tensor, and
// another Python thread could do nothing useful in that time anyway.
constexpr int64_t kReleaseGilNumel = 16384;
template <class F>
auto nogil_if_big(int64_t numel, F&& f) -> decltype(f()) {
  if (numel >= kReleaseGilNumel) {
    py::gil_scoped_release release;
    return f();
  }
  return f();
}

void bind_tensor(py::module_& m);
void bind_ops(py::module_& m);
void bind_interop(py::module_& m);
void bind_norm_optim(py::module_& m);  // bind_norm_optim.cpp: normalization, dropout, fused optimizers
void bind_conv_pool(py::module_& m);  // bind_conv_pool.cpp: convolution and pooling
void bind_act_loss(py::module_& m);  // bind_act_loss.cpp: activations and losses
void bind_sort(py::module_& m);  // bind_sort.cpp: sort, topk, kthvalue, median, cumulative scans
void bind_sparse(py::module_& m);  // bind_sparse.cpp: sparse (COO, CSR) matrix times dense matrix
void bind_layout(py::module_& m);  // bind_layout.cpp: empty_strided, preserve_format copies
void bind_complex(py::module_& m);  // bind_complex.cpp: view_as_real/view_as_complex, the FFT kernel
void bind_image(py::module_& m);  // bind_image.cpp: image-codec byte helpers (PNG unfiltering)
// half_compute.cpp: float16/bfloat16 through the float32 ops; called after every other binding.
void bind_half_compute(py::module_& m);

}  // namespace flambeau::python
