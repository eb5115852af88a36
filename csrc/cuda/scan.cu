// cumsum (and its reverse, cumsum's gradient) on CUDA, with the CPU kernel's bits (csrc/cpu/scan.cpp).
//
// GATED: written without a GPU; ops/sort.cpp calls it only when cuda::unverified_kernels() is on
// (FLAMBEAU_CUDA_UNVERIFIED=1), and python/flambeau/_functions/reduction.py keeps its other CUDA paths
// otherwise (csrc/cuda/GPU_STATUS.md says how to check it).
//
// Why this shape. The CPU scan (and PyTorch's CPU kernel) is one sequential left-to-right (or
// right-to-left) chain per line, accumulated in double for float32/float64 and in int64 for integers
// and bool. Any parallel scan would regroup the additions and change the bits, so each line is one
// thread walking its elements in order. The input is contiguous [outer, n, inner]; thread t takes
// line (o, j) with j = t % inner fastest, so a warp reads 32 adjacent inner positions at each step
// (coalesced) when inner >= 32. With inner == 1 (a scan along the last dim) a warp's threads walk 32
// different rows (strided reads, served by L2); few, long lines leave the GPU mostly idle: correct
// and bounded, not fast.
#include <cstdint>
#include <type_traits>
#include "core/view.h"
#include "cuda/common.cuh"
#include "cuda/gated_kernels.h"

namespace flambeau::cuda {

namespace {

template <class T>
using ScanAcc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <class T, class O>
__global__ void cumsum_lines_kernel(O* __restrict__ out, const T* __restrict__ x, int64_t outer, int64_t n,
                                    int64_t inner, bool reverse) {
  const int64_t lines = outer * inner;
  for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < lines; t += (int64_t)gridDim.x * blockDim.x) {
    const int64_t o = t / inner, j = t - o * inner;
    const T* xl = x + o * n * inner + j;
    O* ol = out + o * n * inner + j;
    ScanAcc<T> acc = 0;
    for (int64_t ii = 0; ii < n; ++ii) {
      const int64_t i = reverse ? n - 1 - ii : ii;
      acc += (ScanAcc<T>)xl[i * inner];
      ol[i * inner] = (O)acc;
    }
  }
}

}  // namespace

void cumsum(const Tensor& out, const Tensor& x, int64_t dim, bool reverse) {
  const char* op = "cumsum";
  const int dev = out.device().index;
  check_on_device(x, dev, op, "input");
  FLB_CHECK(out.is_contiguous() && out.sizes == x.sizes, ValueError, op,
            ": output must be contiguous with the input's shape (CUDA kernel precondition)");
  const int64_t n = x.sizes[dim];
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.sizes[d];
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.sizes[d];
  if (outer * n * inner == 0) return;
  const Tensor xc = contiguous(x);
  DeviceGuard guard(dev);
  FLB_DISPATCH_ALL(x.dtype, op, [&] {
    using T = scalar_t;
    using O = std::conditional_t<std::is_floating_point_v<T>, T, int64_t>;
    FLB_CHECK(out.dtype == dtype_of<O>::value, TypeError, op, ": output dtype ", dtype_name(out.dtype), " for a ",
              dtype_name(x.dtype), " input");
    cumsum_lines_kernel<T, O><<<grid_for(outer * inner, 256, dev), 256, 0, stream(dev)>>>(
        out.data<O>(), xc.data<T>(), outer, n, inner, reverse);
    FLB_CUDA_CHECK_LAUNCH("cumsum_lines_kernel", dev);
  });
}

}  // namespace flambeau::cuda
