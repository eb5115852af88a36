// Dense linear algebra (LU, triangular and LU solves, Cholesky, QR, eigh, SVD, matrix_exp): checks
// with PyTorch's messages, output allocation, and dispatch to csrc/cpu/linalg_*.cpp.
//
// The kernels see contiguous [B, rows, cols] tensors, B the product of the batch dims; the outputs
// are allocated here with the input's batch dims and viewed the same way. A batch of zero matrices
// returns before any kernel runs; matrices with a zero dimension still go to the kernel, which
// writes what such a matrix still has (info = 0, an identity Q or U). Errors that depend on the
// values (a singular or non-positive-definite matrix) are not raised here: the info outputs report
// them and the Python layer raises torch.linalg.LinAlgError's message for its op.
#include "core/view.h"
#include "cpu/linalg_dense.h"
#include "ops/dispatch.h"
#include "ops/linalg_dense_ops.h"
#include "ops/ops.h"

namespace flambeau::ops {

namespace {

int64_t rows(const Tensor& t) { return t.sizes[t.dim() - 2]; }
int64_t cols(const Tensor& t) { return t.sizes[t.dim() - 1]; }

Shape batch_shape(const Tensor& t, int64_t trailing = 2) {
  return Shape(t.sizes.begin(), t.sizes.end() - trailing);
}

Shape with(Shape s, std::initializer_list<int64_t> tail) {
  s.insert(s.end(), tail.begin(), tail.end());
  return s;
}

// [B, r, c] view of the contiguous t [..., r, c] (of [B, r] for trailing = 1).
Tensor as_batch(const Tensor& t, int trailing = 2) {
  int64_t b = 1;
  for (int64_t d = 0; d < t.dim() - trailing; ++d) b *= t.sizes[d];
  Shape s{b};
  for (int64_t d = t.dim() - trailing; d < t.dim(); ++d) s.push_back(t.sizes[d]);
  return view(t, s);
}

int64_t batch_count(const Tensor& t, int trailing = 2) {
  int64_t b = 1;
  for (int64_t d = 0; d < t.dim() - trailing; ++d) b *= t.sizes[d];
  return b;
}

void check_matrix(const Tensor& A, const char* op, bool square, const char* name = "A") {
  FLB_CHECK(A.dim() >= 2, RuntimeError, op, ": The input tensor ", name, " must have at least 2 dimensions.");
  FLB_CHECK(is_floating(A.dtype), RuntimeError, op, ": Expected a floating point tensor as input. Got ",
            dtype_name(A.dtype));
  if (square)
    FLB_CHECK(rows(A) == cols(A), RuntimeError, op, ": ", name, " must be batches of square matrices, but they are ",
              rows(A), " by ", cols(A), " matrices");
}

void check_pair(const Tensor& A, const Tensor& B, const char* op) {
  check_same_device(A, B, op);
  FLB_CHECK(A.dtype == B.dtype, RuntimeError, op, ": Expected A and B to have the same dtype, but found A of type ",
            dtype_name(A.dtype), " and B of type ", dtype_name(B.dtype), " instead");
  FLB_CHECK(B.dim() >= 2, RuntimeError, op, ": The input tensor B must have at least 2 dimensions.");
  FLB_CHECK(rows(B) == rows(A) && batch_shape(A) == batch_shape(B), RuntimeError, op,
            ": Incompatible shapes of A and B for the equation AX = B (", shape_str(A.sizes), " and ",
            shape_str(B.sizes), ")");
}

}  // namespace

std::vector<Tensor> linalg_lu_factor(const Tensor& A) {
  check_matrix(A, "linalg.lu_factor", false);
  const int64_t k = std::min(rows(A), cols(A));
  Tensor lu = clone(A);
  Tensor piv = empty(with(batch_shape(A), {k}), DType::Int64, A.device());
  Tensor info = empty(batch_shape(A), DType::Int64, A.device());
  if (batch_count(A) > 0)
    FLB_CPU_ONLY(A.device(), "linalg.lu_factor", linalg_lu_factor, as_batch(lu), as_batch(piv, 1), as_batch(info, 0));
  return {lu, piv, info};
}

Tensor linalg_lu_solve(const Tensor& LU, const Tensor& pivots, const Tensor& B, bool adjoint) {
  const char* op = "linalg.lu_solve";
  check_matrix(LU, op, true, "LU");
  check_pair(LU, B, op);
  FLB_CHECK(pivots.dtype == DType::Int64, RuntimeError, op, ": pivots must be an int64 tensor, got ",
            dtype_name(pivots.dtype));
  FLB_CHECK(pivots.sizes == with(batch_shape(LU), {rows(LU)}), RuntimeError, op, ": pivots of shape ",
            shape_str(pivots.sizes), " do not match LU of shape ", shape_str(LU.sizes));
  check_same_device(LU, pivots, op);
  Tensor x = clone(B);
  if (x.numel() > 0)
    FLB_CPU_ONLY(LU.device(), op, linalg_lu_solve, as_batch(x), as_batch(contiguous(LU)),
                 as_batch(contiguous(pivots), 1), adjoint);
  return x;
}

Tensor linalg_solve_triangular(const Tensor& A, const Tensor& B, bool upper, bool unitriangular) {
  const char* op = "linalg.solve_triangular";
  check_matrix(A, op, true);
  check_pair(A, B, op);
  Tensor x = clone(B);
  if (x.numel() > 0)
    FLB_CPU_ONLY(A.device(), op, linalg_triangular_solve, as_batch(x), as_batch(contiguous(A)), upper, unitriangular);
  return x;
}

std::vector<Tensor> linalg_cholesky(const Tensor& A, bool upper) {
  check_matrix(A, "linalg.cholesky", true);
  Tensor l = clone(A);
  Tensor info = empty(batch_shape(A), DType::Int64, A.device());
  if (batch_count(A) > 0)
    FLB_CPU_ONLY(A.device(), "linalg.cholesky", linalg_cholesky, as_batch(l), as_batch(info, 0), upper);
  return {l, info};
}

std::vector<Tensor> linalg_qr(const Tensor& A, const std::string& mode) {
  FLB_CHECK(mode == "reduced" || mode == "complete" || mode == "r", RuntimeError, "qr received unrecognized mode '",
            mode, "' but expected one of 'reduced' (default), 'r', or 'complete'");
  check_matrix(A, "linalg.qr", false);
  const int64_t m = rows(A), n = cols(A), k = std::min(m, n);
  const int imode = mode == "reduced" ? 0 : mode == "complete" ? 1 : 2;
  const Shape bs = batch_shape(A);
  Tensor q = imode == 2 ? empty({0}, A.dtype, A.device())
                        : empty(with(bs, {m, imode == 1 ? m : k}), A.dtype, A.device());
  Tensor r = empty(with(bs, {imode == 1 ? m : k, n}), A.dtype, A.device());
  if (batch_count(A) > 0)
    FLB_CPU_ONLY(A.device(), "linalg.qr", linalg_qr, as_batch(contiguous(A)), imode == 2 ? q : as_batch(q),
                 as_batch(r), imode);
  return {q, r};
}

std::vector<Tensor> linalg_eigh(const Tensor& A, const std::string& uplo, bool compute_v) {
  const char* op = compute_v ? "linalg.eigh" : "linalg.eigvalsh";
  FLB_CHECK(uplo == "L" || uplo == "U" || uplo == "l" || uplo == "u", RuntimeError, op,
            ": Expected UPLO argument to be 'L' or 'U', but got ", uplo);
  check_matrix(A, op, true);
  const int64_t n = rows(A);
  Tensor w = empty(with(batch_shape(A), {n}), A.dtype, A.device());
  Tensor v = compute_v ? empty(A.sizes, A.dtype, A.device()) : empty({0}, A.dtype, A.device());
  if (batch_count(A) > 0) {
    Tensor v3 = compute_v ? as_batch(v) : v;
    FLB_CPU_ONLY(A.device(), op, linalg_eigh, as_batch(contiguous(A)), as_batch(w, 1), compute_v ? &v3 : nullptr,
                 uplo == "U" || uplo == "u");
  }
  return {w, v};
}

std::vector<Tensor> linalg_svd(const Tensor& A, bool full_matrices, bool compute_uv) {
  const char* op = compute_uv ? "linalg.svd" : "linalg.svdvals";
  check_matrix(A, op, false);
  const int64_t m = rows(A), n = cols(A), k = std::min(m, n);
  const Shape bs = batch_shape(A);
  Tensor s = empty(with(bs, {k}), A.dtype, A.device());
  const Shape ushape = compute_uv ? with(bs, {m, full_matrices ? m : k}) : Shape{0};
  const Shape vshape = compute_uv ? with(bs, {full_matrices ? n : k, n}) : Shape{0};
  Tensor u = empty(ushape, A.dtype, A.device()), vh = empty(vshape, A.dtype, A.device());
  if (batch_count(A) > 0) {
    Tensor u3 = compute_uv ? as_batch(u) : u, vh3 = compute_uv ? as_batch(vh) : vh;
    FLB_CPU_ONLY(A.device(), op, linalg_svd, as_batch(contiguous(A)), compute_uv ? &u3 : nullptr, as_batch(s, 1),
                 compute_uv ? &vh3 : nullptr, full_matrices);
  }
  return {u, s, vh};
}

Tensor linalg_matrix_exp(const Tensor& A) {
  check_matrix(A, "linalg.matrix_exp", true);
  Tensor out = empty(A.sizes, A.dtype, A.device());
  if (out.numel() > 0)
    FLB_CPU_ONLY(A.device(), "linalg.matrix_exp", linalg_matrix_exp, as_batch(out), as_batch(contiguous(A)));
  return out;
}

}  // namespace flambeau::ops
