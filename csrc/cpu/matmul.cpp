// Matrix products for the CPU. Float types go through the packed GEMM (cpu/gemm.h) when it is
// present; this file keeps the simple, obviously-correct loop for int64 and as the reference.
#include "cpu/kernels.h"
#include "cpu/parallel.h"
#include "core/view.h"
#include "cpu/gemm.h"

namespace flambeau::cpu {

namespace {

// C[M,N] = A[M,K] B[K,N], any element strides for A and B, C contiguous. i-k-j order: the inner
// loop streams a row of B into a row of C.
template <class T>
void mm_simple(int64_t M, int64_t N, int64_t K, const T* A, int64_t sam, int64_t sak, const T* B, int64_t sbk,
               int64_t sbn, T* C) {
  parallel_for(M, std::max<int64_t>(1, kGrain / std::max<int64_t>(N * K, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T* c = C + i * N;
      for (int64_t j = 0; j < N; ++j) c[j] = T(0);
      for (int64_t k = 0; k < K; ++k) {
        const T a = A[i * sam + k * sak];
        const T* brow = B + k * sbk;
        if (sbn == 1)
          for (int64_t j = 0; j < N; ++j) c[j] += a * brow[j];
        else
          for (int64_t j = 0; j < N; ++j) c[j] += a * brow[j * sbn];
      }
    }
  });
}

}  // namespace

void mm(const Tensor& c, const Tensor& a, const Tensor& b) {
  int64_t M = a.sizes[0], K = a.sizes[1], N = b.sizes[1];
  if (is_floating(a.dtype)) {
    FLB_DISPATCH_FLOATING(a.dtype, "mm", [&] {
      gemm<scalar_t>(M, N, K, 1, a.data<scalar_t>(), a.strides[0], a.strides[1], b.data<scalar_t>(), b.strides[0],
                     b.strides[1], 0, c.data<scalar_t>(), N);
    });
    return;
  }
  FLB_DISPATCH_NUMERIC(a.dtype, "mm", [&] {
    mm_simple<scalar_t>(M, N, K, a.data<scalar_t>(), a.strides[0], a.strides[1], b.data<scalar_t>(), b.strides[0],
                        b.strides[1], c.data<scalar_t>());
  });
}

void linear(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor* bias) {
  int64_t M = x.sizes[0], K = x.sizes[1], N = w.sizes[0];
  FLB_DISPATCH_FLOATING(x.dtype, "linear", [&] {
    // B(k, j) = w[j, k]: the transposed weight is read through its strides, never copied.
    gemm<scalar_t>(M, N, K, 1, x.data<scalar_t>(), x.strides[0], x.strides[1], w.data<scalar_t>(), w.strides[1],
                   w.strides[0], 0, out.data<scalar_t>(), N, bias ? bias->data<scalar_t>() : nullptr);
  });
}

void bmm(const Tensor& c, const Tensor& a, const Tensor& b) {
  int64_t batch = a.sizes[0];
  if (is_floating(a.dtype)) {
    int64_t M = a.sizes[1], K = a.sizes[2], N = b.sizes[2];
    FLB_DISPATCH_FLOATING(a.dtype, "bmm", [&] {
      gemm_batched<scalar_t>(batch, M, N, K, 1, a.data<scalar_t>(), a.strides[0], a.strides[1], a.strides[2],
                             b.data<scalar_t>(), b.strides[0], b.strides[1], b.strides[2], 0, c.data<scalar_t>(),
                             M * N, N);
    });
    return;
  }
  for (int64_t i = 0; i < batch; ++i) mm(select(c, 0, i), select(a, 0, i), select(b, 0, i));
}

}  // namespace flambeau::cpu
