// Bindings for the dense linear algebra of csrc/ops/linalg_dense.cpp (LU, solves, Cholesky, QR, eigh,
// SVD, matrix_exp); listed in csrc/python/API.md under "Dense linear algebra". All release the GIL:
// a factorisation of a batch can take milliseconds. Called from bind_ops (csrc/python/ops.cpp).
#include "ops/linalg_dense_ops.h"
#include "python/bind.h"

namespace flambeau::python {

void bind_linalg_dense(py::module_& m) {
  using py::arg;
  auto nogil = py::call_guard<py::gil_scoped_release>();
  m.def("linalg_lu_factor", &ops::linalg_lu_factor, arg("A"), nogil);
  m.def("linalg_lu_solve", &ops::linalg_lu_solve, arg("LU"), arg("pivots"), arg("B"), arg("adjoint") = false, nogil);
  m.def("linalg_solve_triangular", &ops::linalg_solve_triangular, arg("A"), arg("B"), arg("upper"),
        arg("unitriangular") = false, nogil);
  m.def("linalg_cholesky", &ops::linalg_cholesky, arg("A"), arg("upper") = false, nogil);
  m.def("linalg_qr", &ops::linalg_qr, arg("A"), arg("mode") = "reduced", nogil);
  m.def("linalg_eigh", &ops::linalg_eigh, arg("A"), arg("uplo") = "L", arg("compute_v") = true, nogil);
  m.def("linalg_eig", &ops::linalg_eig, arg("A"), arg("compute_v") = true, nogil);
  m.def("linalg_svd", &ops::linalg_svd, arg("A"), arg("full_matrices") = true, arg("compute_uv") = true, nogil);
  m.def("linalg_matrix_exp", &ops::linalg_matrix_exp, arg("A"), nogil);
}

}  // namespace flambeau::python
