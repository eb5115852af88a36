// torch.linalg.eig / eigvals: checks with PyTorch's messages, output allocation (complex128 eigenvalues
// [..., n], eigenvectors [..., n, n], info [...]; the Python layer casts to complex64 for single
// precision inputs) and dispatch to cpu/linalg_eig.cpp. CPU only: CUDA tensors go through the host
// in Python (host_route.py), as the other factorisations.
#include "core/view.h"
#include "cpu/linalg_eig.h"
#include "ops/dispatch.h"
#include "ops/linalg_dense_ops.h"
#include "ops/ops.h"

namespace flambeau::ops {

std::vector<Tensor> linalg_eig(const Tensor& A, bool compute_v) {
  const char* op = compute_v ? "linalg.eig" : "linalg.eigvals";
  FLB_CHECK(A.dim() >= 2, RuntimeError, op, ": The input tensor A must have at least 2 dimensions.");
  FLB_CHECK(is_floating(A.dtype) || is_complex(A.dtype), RuntimeError, op,
            ": Expected a floating point or complex tensor as input. Got ", dtype_name(A.dtype));
  const int64_t n = A.sizes[A.dim() - 1];
  FLB_CHECK(A.sizes[A.dim() - 2] == n, RuntimeError, op, ": A must be batches of square matrices, but they are ",
            A.sizes[A.dim() - 2], " by ", n, " matrices");
  Shape bs(A.sizes.begin(), A.sizes.end() - 2);
  int64_t b = 1;
  for (int64_t s : bs) b *= s;
  Shape ws = bs;
  ws.push_back(n);
  Tensor w = empty(ws, DType::Complex128, A.device());
  Tensor v = compute_v ? empty(A.sizes, DType::Complex128, A.device()) : empty({0}, DType::Complex128, A.device());
  Tensor info = full(bs, Scalar::from_int(0), DType::Int64, A.device());
  if (b > 0 && n > 0) {
    Tensor v3 = compute_v ? view(v, {b, n, n}) : v;
    FLB_CPU_ONLY(A.device(), op, linalg_eig, view(contiguous(A), {b, n, n}), view(w, {b, n}),
                 compute_v ? &v3 : nullptr, view(info, {b}));
  }
  return {w, v, info};
}

}  // namespace flambeau::ops
