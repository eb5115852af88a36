// The real non-symmetric eigenproblem (cpu/linalg_eig_real.cpp), the path torch.linalg.eig takes for
// float32/float64 input: real Householder reduction to Hessenberg form, then the real Francis double-shift
// QR iteration, as LAPACK's dgeev does for a real matrix (there: dgehrd, dhseqr, dtrevc).
#pragma once
#include <cstdint>

namespace flambeau::cpu::eig_real {

// a: the row-major n x n matrix (overwritten: its real Schur form, then workspace). Eigenvalues into
// wr[k] + i wi[k], complex conjugate pairs adjacent with the positive imaginary part first. With want_v,
// v (n x n) receives the eigenvectors in LAPACK's real packing, one vector per row (v[k * n + i] is
// component i of vector k: the transpose of LAPACK's columns): row k for a real eigenvalue, rows k and
// k + 1 the real and imaginary parts of the vector for wr[k] + i wi[k] (wi[k] > 0; its conjugate belongs
// to wr[k + 1] + i wi[k + 1]); not normalised. ort: n doubles of workspace. Whether v is
// wanted changes no eigenvalue. False where the iteration did not converge (30 n steps per eigenvalue).
bool eig(double* a, double* v, double* wr, double* wi, double* ort, int64_t n, bool want_v);

}  // namespace flambeau::cpu::eig_real
