// Matrix products: mm (C[M,N] = A[M,K] B[K,N]) and bmm (the same per batch), float32, float64 and
// int64, for any element strides of A, B and C (transposed views need no copy).
//
// A classic shared-memory tiled GEMM with register blocking (the "SGEMM v5" of the well-known
// tutorials): a block of 256 threads computes a BM x BN tile of C; each step stages a BM x BK slice
// of A and a BK x BN slice of B in shared memory, then every thread accumulates a TM x TN
// micro-tile from registers (TM + TN shared loads feed TM * TN FMAs). Threads own rows
// ty + i*(BM/TM) and columns tx + j*(BN/TN) (strided, not blocked): consecutive threads then read
// consecutive shared-memory words (no bank conflicts) and write consecutive columns of C.
// Staging loads pick their thread mapping from the operand's layout at run time: along k when the
// k stride is 1 (row-major A, or B = W^T of a Linear layer), along m/n otherwise, so global loads
// are coalesced for both layouts. Edges are zero-filled and stores bounds-checked.
// Tiles: 128x128x8 with 8x8 per thread for float32 when there are enough tiles to fill the GPU,
// else 64x64x8 with 4x4 (also float64 and int64, whose registers are twice as wide).
// Accumulation is in the element type, in k order per output: deterministic. K = 0 writes zeros.
// A tuned (tensor-core, double-buffered) kernel replaces this later; this one is the reference.
#include <algorithm>
#include "cuda/kernels.h"
#include "cuda/common.cuh"
#include "cuda/math.cuh"

namespace flambeau::cuda {

namespace {

struct GemmArgs {
  int64_t M, N, K, batch;
  int64_t sam, sak, sab;  // A strides: row, k, batch
  int64_t sbk, sbn, sbb;  // B strides: k, col, batch
  int64_t scm, scn, scb;  // C strides: row, col, batch
};

template <class T>
__device__ __forceinline__ T fma_t(T a, T b, T c) {
  if constexpr (std::is_same_v<T, int64_t>) return dm::wadd(dm::wmul(a, b), c);
  else return a * b + c;  // contracted to an FMA
}

template <class T, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
gemm_kernel(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C, GemmArgs g) {
  constexpr int THREADS = (BM / TM) * (BN / TN);
  constexpr int RT = BM / TM;  // thread rows
  constexpr int CT = BN / TN;  // thread cols
  static_assert((BM * BK) % THREADS == 0 && (BK * BN) % THREADS == 0, "tile loads must divide evenly");
  __shared__ T As[BK][BM + 1];
  __shared__ T Bs[BK][BN + 1];

  const int tid = threadIdx.x;
  const int tx = tid % CT, ty = tid / CT;
  const int64_t tiles_m = (g.M + BM - 1) / BM, tiles_n = (g.N + BN - 1) / BN;
  const bool a_k_contig = g.sak == 1;
  const bool b_k_contig = g.sbk == 1 && g.sbn != 1;

  for (int64_t bt = blockIdx.z; bt < g.batch; bt += gridDim.z) {
    const T* Ab = A + bt * g.sab;
    const T* Bb = B + bt * g.sbb;
    T* Cb = C + bt * g.scb;
    for (int64_t tm = blockIdx.y; tm < tiles_m; tm += gridDim.y) {
      for (int64_t tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) {
        const int64_t row0 = tm * BM, col0 = tn * BN;
        T acc[TM][TN];
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

        for (int64_t k0 = 0; k0 < g.K; k0 += BK) {
          // Stage A[row0:row0+BM, k0:k0+BK] into As[k][m].
#pragma unroll
          for (int l = 0; l < (BM * BK) / THREADS; ++l) {
            const int e = tid + l * THREADS;
            int mm, kk;
            if (a_k_contig) { mm = e / BK; kk = e % BK; }
            else { kk = e / BM; mm = e % BM; }
            const int64_t r = row0 + mm, k = k0 + kk;
            As[kk][mm] = (r < g.M && k < g.K) ? Ab[r * g.sam + k * g.sak] : T(0);
          }
          // Stage B[k0:k0+BK, col0:col0+BN] into Bs[k][n].
#pragma unroll
          for (int l = 0; l < (BK * BN) / THREADS; ++l) {
            const int e = tid + l * THREADS;
            int kk, nn;
            if (b_k_contig) { nn = e / BK; kk = e % BK; }
            else { kk = e / BN; nn = e % BN; }
            const int64_t k = k0 + kk, c = col0 + nn;
            Bs[kk][nn] = (k < g.K && c < g.N) ? Bb[k * g.sbk + c * g.sbn] : T(0);
          }
          __syncthreads();
#pragma unroll
          for (int kk = 0; kk < BK; ++kk) {
            T a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; ++i) a[i] = As[kk][ty + i * RT];
#pragma unroll
            for (int j = 0; j < TN; ++j) b[j] = Bs[kk][tx + j * CT];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
              for (int j = 0; j < TN; ++j) acc[i][j] = fma_t(a[i], b[j], acc[i][j]);
          }
          __syncthreads();
        }

#pragma unroll
        for (int i = 0; i < TM; ++i) {
          const int64_t r = row0 + ty + i * RT;
          if (r >= g.M) continue;
#pragma unroll
          for (int j = 0; j < TN; ++j) {
            const int64_t c = col0 + tx + j * CT;
            if (c < g.N) Cb[r * g.scm + c * g.scn] = acc[i][j];
          }
        }
      }
    }
  }
}

template <class T, int BM, int BN, int BK, int TM, int TN>
void launch_gemm(const T* A, const T* B, T* C, const GemmArgs& g, int dev) {
  constexpr int THREADS = (BM / TM) * (BN / TN);
  const int64_t tiles_m = ceil_div(g.M, BM), tiles_n = ceil_div(g.N, BN);
  dim3 grid((unsigned)std::min<int64_t>(tiles_n, 1 << 30), (unsigned)std::min<int64_t>(tiles_m, 65535),
            (unsigned)std::min<int64_t>(g.batch, 65535));
  gemm_kernel<T, BM, BN, BK, TM, TN><<<grid, THREADS, 0, stream(dev)>>>(A, B, C, g);
  FLB_CUDA_CHECK_LAUNCH("gemm_kernel", dev);
}

template <class T>
void gemm(const T* A, const T* B, T* C, const GemmArgs& g, int dev) {
  if constexpr (std::is_same_v<T, float>) {
    const int64_t big_tiles = ceil_div(g.M, 128) * ceil_div(g.N, 128) * g.batch;
    if (big_tiles >= 2 * (int64_t)multiprocessor_count(dev)) {
      launch_gemm<T, 128, 128, 8, 8, 8>(A, B, C, g, dev);
      return;
    }
  }
  launch_gemm<T, 64, 64, 8, 4, 4>(A, B, C, g, dev);
}

void check_mm_operand(const Tensor& t, int64_t ndim, int dev, const char* op, const char* name) {
  check_on_device(t, dev, op, name);
  FLB_CHECK(t.dim() == ndim, ValueError, op, ": ", name, " must be ", ndim, "-d, got shape ", shape_str(t.sizes));
}

void run_mm(const Tensor& c, const Tensor& a, const Tensor& b, GemmArgs g, const char* op) {
  FLB_CHECK(a.dtype == b.dtype && c.dtype == a.dtype, TypeError, op, ": dtypes differ (", dtype_name(a.dtype), ", ",
            dtype_name(b.dtype), ", out ", dtype_name(c.dtype), ")");
  if (g.M == 0 || g.N == 0 || g.batch == 0) return;
  const int dev = c.device().index;
  DeviceGuard guard(dev);
  FLB_DISPATCH_NUMERIC(a.dtype, op, [&] { gemm<scalar_t>(a.data<scalar_t>(), b.data<scalar_t>(), c.data<scalar_t>(), g, dev); });
}

}  // namespace

void mm(const Tensor& c, const Tensor& a, const Tensor& b) {
  FLB_CHECK(c.device().is_cuda(), RuntimeError, "mm: expected CUDA tensors");
  const int dev = c.device().index;
  check_mm_operand(a, 2, dev, "mm", "self");
  check_mm_operand(b, 2, dev, "mm", "mat2");
  check_mm_operand(c, 2, dev, "mm", "out");
  FLB_CHECK(a.sizes[1] == b.sizes[0] && c.sizes[0] == a.sizes[0] && c.sizes[1] == b.sizes[1], ValueError,
            "mm: shapes ", shape_str(a.sizes), " and ", shape_str(b.sizes), " cannot be multiplied into ",
            shape_str(c.sizes));
  GemmArgs g{a.sizes[0], b.sizes[1], a.sizes[1], 1,
             a.strides[0], a.strides[1], 0,
             b.strides[0], b.strides[1], 0,
             c.strides[0], c.strides[1], 0};
  run_mm(c, a, b, g, "mm");
}

void bmm(const Tensor& c, const Tensor& a, const Tensor& b) {
  FLB_CHECK(c.device().is_cuda(), RuntimeError, "bmm: expected CUDA tensors");
  const int dev = c.device().index;
  check_mm_operand(a, 3, dev, "bmm", "self");
  check_mm_operand(b, 3, dev, "bmm", "mat2");
  check_mm_operand(c, 3, dev, "bmm", "out");
  FLB_CHECK(a.sizes[0] == b.sizes[0] && c.sizes[0] == a.sizes[0] && a.sizes[2] == b.sizes[1] &&
                c.sizes[1] == a.sizes[1] && c.sizes[2] == b.sizes[2],
            ValueError, "bmm: shapes ", shape_str(a.sizes), " and ", shape_str(b.sizes), " cannot be multiplied into ",
            shape_str(c.sizes));
  GemmArgs g{a.sizes[1], b.sizes[2], a.sizes[2], a.sizes[0],
             a.strides[1], a.strides[2], a.strides[0],
             b.strides[1], b.strides[2], b.strides[0],
             c.strides[1], c.strides[2], c.strides[0]};
  run_mm(c, a, b, g, "bmm");
}

}  // namespace flambeau::cuda
