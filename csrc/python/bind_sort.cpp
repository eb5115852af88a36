// Bindings for the order statistics and scans (csrc/ops/sort.cpp); listed in csrc/python/API.md under
// "Sorting, selection and scans". All release the GIL: sorting a large tensor takes milliseconds.
#include "ops/sort_ops.h"
#include "python/bind.h"

namespace flambeau::python {

void bind_sort(py::module_& m) {
  using py::arg;
  auto nogil = py::call_guard<py::gil_scoped_release>();
  m.def("sort", &ops::sort, arg("x"), arg("dim") = -1, arg("descending") = false, arg("stable") = false, nogil);
  m.def("topk", &ops::topk, arg("x"), arg("k"), arg("dim") = -1, arg("largest") = true, arg("sorted") = true, nogil);
  m.def("kthvalue", &ops::kthvalue, arg("x"), arg("k"), arg("dim") = -1, arg("keepdim") = false, nogil);
  m.def("median", &ops::median, arg("x"), arg("dim"), arg("keepdim") = false, arg("ignore_nan") = false, nogil);
  m.def("cumsum", &ops::cumsum, arg("x"), arg("dim"), arg("reverse") = false, nogil);
  m.def("cumprod", &ops::cumprod, arg("x"), arg("dim"), nogil);
  m.def("cumprod_backward", &ops::cumprod_backward, arg("grad"), arg("x"), arg("dim"), nogil);
  m.def("cummax", [](const Tensor& x, int64_t dim) { return ops::cummax_cummin(x, dim, true); }, arg("x"),
        arg("dim"), nogil);
  m.def("cummin", [](const Tensor& x, int64_t dim) { return ops::cummax_cummin(x, dim, false); }, arg("x"),
        arg("dim"), nogil);
}

}  // namespace flambeau::python
