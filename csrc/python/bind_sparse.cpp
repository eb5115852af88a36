// Bindings for sparse matrix times dense matrix (csrc/ops/sparse.cpp), listed in csrc/python/API.md
// under "Sparse". Both release the GIL: a product with a large nnz runs for milliseconds.
#include <pybind11/stl.h>
#include "ops/sparse_ops.h"
#include "python/bind.h"

namespace flambeau::python {

void bind_sparse(py::module_& m) {
  using py::arg;
  auto nogil = py::call_guard<py::gil_scoped_release>();
  m.def("sparse_coo_addmm", &ops::sparse_coo_addmm, arg("indices"), arg("values"), arg("dense"), arg("M"), arg("K"),
        arg("input") = std::nullopt, arg("beta") = 0.0, arg("alpha") = 1.0, nogil);
  m.def("sparse_csr_addmm", &ops::sparse_csr_addmm, arg("crow_indices"), arg("col_indices"), arg("values"),
        arg("dense"), arg("K"), arg("input") = std::nullopt, arg("beta") = 0.0, arg("alpha") = 1.0, nogil);
  m.def("torch_sort_permutation", &ops::torch_sort_permutation, arg("keys"), nogil);
}

}  // namespace flambeau::python
