// Matrix products: mm (C[M,N] = A[M,K] B[K,N]), bmm (the same per batch, batch on grid z) and
// linear (C = X W^T + bias, the bias added in the epilogue), float32, float64 and int64, for any
// element strides of A, B and C (transposed views need no copy).
//
// Two kernels.
//
// 1. gemm_kernel, the reference: a classic shared-memory tiled GEMM with register blocking (the
//    "SGEMM v5" of the well-known tutorials). A block of 256 threads computes a BM x BN tile of C;
//    each step stages a BM x BK slice of A and a BK x BN slice of B in shared memory with scalar
//    loads (any strides), then every thread accumulates a TM x TN micro-tile from registers.
//    Threads own rows ty + i*(BM/TM) and columns tx + j*(BN/TN) (strided, not blocked): consecutive
//    threads read consecutive shared words and write consecutive columns of C. Staging loads pick
//    their thread mapping from the operand's layout (along k when the k stride is 1, along m/n
//    otherwise), so global loads are coalesced for both layouts. Tiles: 128x128x8 with 8x8 per
//    thread for float32 when there are enough tiles to fill the GPU, else 64x64x8 with 4x4 (also
//    float64 and int64). It runs every product the tuned kernel can't take (float64, int64,
//    operands that are neither k- nor row-contiguous, misaligned pointers or strides) and stays
//    as the thing to compare against (FLAMBEAU_CUDA_GEMM=reference forces it).
//
// 2. sgemm_tiled_kernel, float32 only (geometry and per-thread steps in gemm_tile.cuh, where the
//    layouts are drawn): shared-memory tiling with both operands stored k-major, each operand
//    read from global memory with 16-byte loads along its unit-stride dim (4 layout variants:
//    A k- or m-contiguous x B k- or n-contiguous, so x @ W^T, G^T @ X and plain row-major
//    products all take it), double-buffered through registers: while the block computes k-step
//    t from shared buffer t%2, each thread holds k-step t+1 in registers and writes it to the
//    other buffer afterwards, one __syncthreads per k-step. (Register staging rather than
//    cp.async: the KC layouts transpose on their way into shared memory, which cp.async can't do,
//    and one code path serves sm_75 to sm_90.) Warps own WM x WN warp tiles:
//      * SIMT (default): 8x4 lanes, each with an (MI*4) x (NJ*4) register block fed by float4
//        shared loads; 128x128x8 blocks of 8 warps (64x32 warp tiles, 8x8 per thread) when they
//        fill the GPU, else 64x64x8 blocks of 4 warps (32x32, 4x8 per thread);
//      * TF32 (flambeau.backends.cuda.matmul.allow_tf32, off by default as in PyTorch; sm_80+):
//        mma.sync.m16n8k8 with float32 accumulation; operands rounded to TF32 (cvt.rna) once, on
//        their way into shared memory; the same block shapes with BK = 16.
//    Epilogue: + bias[n] when given, float4 stores when C's rows are contiguous and aligned.
//
// Determinism: every output is one thread's sum over k in increasing order (no split-K, no
// atomics): the same inputs give the same bits, run to run. The TF32 kernel sums in the mma
// unit's internal order, also fixed. K = 0 writes zeros (plus the bias).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include "cuda/kernels.h"
#include "cuda/common.cuh"
#include "cuda/math.cuh"
#include "cuda/gemm_tile.cuh"

namespace flambeau::cuda {

namespace {

using gemm::GemmArgs;

std::atomic<bool> g_allow_tf32{false};

// ---------------------------------------------------------------------------------------------
// 1. Reference kernel (any dtype, any strides)
// ---------------------------------------------------------------------------------------------

template <class T>
__device__ __forceinline__ T fma_t(T a, T b, T c) {
  if constexpr (std::is_same_v<T, int64_t>) return dm::wadd(dm::wmul(a, b), c);
  else return a * b + c;  // contracted to an FMA
}

template <class T, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
gemm_kernel(const T* __restrict__ A, const T* __restrict__ B, const T* __restrict__ bias, T* __restrict__ C,
            GemmArgs g) {
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
            if (c < g.N) Cb[r * g.scm + c * g.scn] = bias ? acc[i][j] + bias[c] : acc[i][j];
          }
        }
      }
    }
  }
}

template <class T, int BM, int BN, int BK, int TM, int TN>
void launch_gemm(const T* A, const T* B, const T* bias, T* C, const GemmArgs& g, int dev) {
  constexpr int THREADS = (BM / TM) * (BN / TN);
  const int64_t tiles_m = ceil_div(g.M, BM), tiles_n = ceil_div(g.N, BN);
  dim3 grid((unsigned)std::min<int64_t>(tiles_n, 1 << 30), (unsigned)std::min<int64_t>(tiles_m, 65535),
            (unsigned)std::min<int64_t>(g.batch, 65535));
  gemm_kernel<T, BM, BN, BK, TM, TN><<<grid, THREADS, 0, stream(dev)>>>(A, B, bias, C, g);
  FLB_CUDA_CHECK_LAUNCH("gemm_kernel", dev);
}

template <class T>
void reference_gemm(const T* A, const T* B, const T* bias, T* C, const GemmArgs& g, int dev) {
  if constexpr (std::is_same_v<T, float>) {
    const int64_t big_tiles = ceil_div(g.M, 128) * ceil_div(g.N, 128) * g.batch;
    if (big_tiles >= 2 * (int64_t)multiprocessor_count(dev)) {
      launch_gemm<T, 128, 128, 8, 8, 8>(A, B, bias, C, g, dev);
      return;
    }
  }
  launch_gemm<T, 64, 64, 8, 4, 4>(A, B, bias, C, g, dev);
}

// ---------------------------------------------------------------------------------------------
// 2. Tuned float32 kernel (SIMT or TF32 mma), 16-byte loads, register-staged double buffering
// ---------------------------------------------------------------------------------------------

// One BK k-step of a warp's MT x NT mma tiles from shared memory.
template <class Cfg, class Thr>
__device__ __forceinline__ void compute_tf32(Thr& th, const float* As, const float* Bs, int tid) {
  const int warp = tid / 32, lane = tid % 32;
  const int wm = gemm::warp_row0<Cfg>(warp), wn = gemm::warp_col0<Cfg>(warp);
#pragma unroll
  for (int kb = 0; kb < Cfg::BK; kb += 8) {
    uint32_t a[Cfg::MT][4], b[Cfg::NT][2];
#pragma unroll
    for (int mt = 0; mt < Cfg::MT; ++mt) Thr::frag_a(As, kb, wm + mt * 16, lane, a[mt]);
#pragma unroll
    for (int nt = 0; nt < Cfg::NT; ++nt) Thr::frag_b(Bs, kb, wn + nt * 8, lane, b[nt]);
#pragma unroll
    for (int mt = 0; mt < Cfg::MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < Cfg::NT; ++nt) {
        float* d = th.acc + Thr::acc_tf32(mt, nt, 0);
        float dv[4] = {d[0], d[1], d[2], d[3]};
        gemm::mma_tf32(dv, a[mt], b[nt]);
        d[0] = dv[0]; d[1] = dv[1]; d[2] = dv[2]; d[3] = dv[3];
      }
  }
}

#ifndef FLB_GEMM_MIN_BLOCKS
#define FLB_GEMM_MIN_BLOCKS(Cfg) Cfg::MIN_BLOCKS
#endif

// Block (tn, tm, batch) tiles of C, grid-stride in each grid dim. Main loop per tile:
//   prologue: load k-step 0 -> registers -> shared buffer 0; barrier
//   step t:   load k-step t+1 -> registers (global loads in flight during the math)
//             compute k-step t from buffer t%2
//             store registers -> buffer (t+1)%2; barrier
// Buffer (t+1)%2 was last read in step t-1, which every thread finished before the barrier
// ending step t-1; buffer t%2 was written before that same barrier. One barrier per k-step.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
constexpr bool kHasTf32Mma = false;  // this pass compiles the TF32 kernels to a trap
#else
constexpr bool kHasTf32Mma = true;
#endif

template <class Cfg, bool A_KC, bool B_KC>
__device__ __forceinline__ void sgemm_tiled_body(const float* __restrict__ A, const float* __restrict__ B,
                                                 const float* __restrict__ bias, float* __restrict__ C,
                                                 const GemmArgs& g, bool c_vec4) {
  __shared__ __align__(16) float As[2][Cfg::BK * Cfg::LDA];
  __shared__ __align__(16) float Bs[2][Cfg::BK * Cfg::LDB];
  using Thr = gemm::Thread<Cfg, A_KC, B_KC>;
  Thr th;
  const int tid = threadIdx.x;
  const int64_t tiles_m = gemm::cdiv(g.M, Cfg::BM), tiles_n = gemm::cdiv(g.N, Cfg::BN);
  const int64_t nk = gemm::cdiv(g.K, Cfg::BK);

  for (int64_t bt = blockIdx.z; bt < g.batch; bt += gridDim.z) {
    const float* Ab = A + bt * g.sab;
    const float* Bb = B + bt * g.sbb;
    float* Cb = C + bt * g.scb;
    for (int64_t tm = blockIdx.y; tm < tiles_m; tm += gridDim.y) {
      for (int64_t tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) {
        const int64_t row0 = tm * Cfg::BM, col0 = tn * Cfg::BN;
        th.zero();
        if (nk > 0) {
          th.load(Ab, Bb, g, row0, col0, 0, tid);
          th.store(As[0], Bs[0], tid);
        }
        __syncthreads();
        for (int64_t kt = 0; kt < nk; ++kt) {
          const int cur = (int)(kt & 1);
          const bool more = kt + 1 < nk;
          if (more) th.load(Ab, Bb, g, row0, col0, (kt + 1) * Cfg::BK, tid);
          if constexpr (Cfg::TF32) compute_tf32<Cfg>(th, As[cur], Bs[cur], tid);
          else th.compute_simt(As[cur], Bs[cur], tid);
          if (more) th.store(As[cur ^ 1], Bs[cur ^ 1], tid);
          __syncthreads();
        }
        th.epilogue(Cb, bias, g, row0, col0, tid, c_vec4);
      }
    }
  }
}

template <class Cfg, bool A_KC, bool B_KC>
__global__ void __launch_bounds__(Cfg::THREADS, FLB_GEMM_MIN_BLOCKS(Cfg))
sgemm_tiled_kernel(const float* __restrict__ A, const float* __restrict__ B, const float* __restrict__ bias,
                   float* __restrict__ C, GemmArgs g, bool c_vec4) {
  if constexpr (Cfg::TF32 && !kHasTf32Mma) __trap();  // never launched below sm_80 (see sgemm)
  else sgemm_tiled_body<Cfg, A_KC, B_KC>(A, B, bias, C, g, c_vec4);
}

// The two block shapes of each mode (see the header).
using BigSimt = gemm::Config<128, 128, 8, 64, 32, false>;
using SmallSimt = gemm::Config<64, 64, 8, 32, 32, false>;
using BigTf32 = gemm::Config<128, 128, 16, 64, 32, true>;
using SmallTf32 = gemm::Config<64, 64, 16, 32, 32, true>;

template <class Cfg>
void launch_tiled(const float* A, const float* B, const float* bias, float* C, const GemmArgs& g, int la, int lb,
                  bool c_vec4, int dev) {
  const int64_t tiles_m = ceil_div(g.M, Cfg::BM), tiles_n = ceil_div(g.N, Cfg::BN);
  dim3 grid((unsigned)std::min<int64_t>(tiles_n, 1 << 30), (unsigned)std::min<int64_t>(tiles_m, 65535),
            (unsigned)std::min<int64_t>(g.batch, 65535));
  cudaStream_t s = stream(dev);
  if (la == 1 && lb == 1) sgemm_tiled_kernel<Cfg, true, true><<<grid, Cfg::THREADS, 0, s>>>(A, B, bias, C, g, c_vec4);
  else if (la == 1) sgemm_tiled_kernel<Cfg, true, false><<<grid, Cfg::THREADS, 0, s>>>(A, B, bias, C, g, c_vec4);
  else if (lb == 1) sgemm_tiled_kernel<Cfg, false, true><<<grid, Cfg::THREADS, 0, s>>>(A, B, bias, C, g, c_vec4);
  else sgemm_tiled_kernel<Cfg, false, false><<<grid, Cfg::THREADS, 0, s>>>(A, B, bias, C, g, c_vec4);
  FLB_CUDA_CHECK_LAUNCH("sgemm_tiled_kernel", dev);
}

int compute_capability_major(int dev) {
  int major = 0;
  FLB_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  return major;
}

// FLAMBEAU_CUDA_GEMM (read at each call, so a benchmark can switch it in-process):
// "reference" forces the reference kernel; "big" / "small" force the tuned kernel's block shape
// where the operands allow it; unset or anything else: automatic.
enum class GemmPath { Auto, Reference, Big, Small };
GemmPath gemm_path_from_env() {
  const char* e = std::getenv("FLAMBEAU_CUDA_GEMM");
  if (!e) return GemmPath::Auto;
  if (!std::strcmp(e, "reference")) return GemmPath::Reference;
  if (!std::strcmp(e, "big")) return GemmPath::Big;
  if (!std::strcmp(e, "small")) return GemmPath::Small;
  return GemmPath::Auto;
}

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// float32: the tuned kernel when both operands allow 16-byte loads, else the reference.
void sgemm(const float* A, const float* B, const float* bias, float* C, const GemmArgs& g, int dev) {
  const GemmPath path = gemm_path_from_env();
  const int la = gemm::operand_layout(A, g.M, g.K, g.sam, g.sak, g.sab, g.batch);
  const int lb = gemm::operand_layout(B, g.N, g.K, g.sbn, g.sbk, g.sbb, g.batch);
  if (path == GemmPath::Reference || la == 0 || lb == 0) {
    reference_gemm<float>(A, B, bias, C, g, dev);
    return;
  }
  // 16-byte epilogue stores of 4 consecutive columns at C + r*scm + c (c a multiple of 4), and
  // 16-byte bias loads at bias + c.
  const bool c_vec4 = aligned16(C) && g.scn == 1 && (g.M == 1 || g.scm % 4 == 0) &&
                      (g.batch == 1 || g.scb % 4 == 0) && (bias == nullptr || aligned16(bias));
  const bool tf32 = g_allow_tf32.load(std::memory_order_relaxed) && compute_capability_major(dev) >= 8;
  const int64_t big_tiles = ceil_div(g.M, 128) * ceil_div(g.N, 128) * g.batch;
  const bool big = path == GemmPath::Big ||
                   (path != GemmPath::Small && big_tiles >= (int64_t)multiprocessor_count(dev));
  if (tf32) {
    if (big) launch_tiled<BigTf32>(A, B, bias, C, g, la, lb, c_vec4, dev);
    else launch_tiled<SmallTf32>(A, B, bias, C, g, la, lb, c_vec4, dev);
  } else {
    if (big) launch_tiled<BigSimt>(A, B, bias, C, g, la, lb, c_vec4, dev);
    else launch_tiled<SmallSimt>(A, B, bias, C, g, la, lb, c_vec4, dev);
  }
}

template <class T>
void gemm_dispatch(const T* A, const T* B, const T* bias, T* C, const GemmArgs& g, int dev) {
  if constexpr (std::is_same_v<T, float>) sgemm(A, B, bias, C, g, dev);
  else reference_gemm<T>(A, B, bias, C, g, dev);
}

void check_mm_operand(const Tensor& t, int64_t ndim, int dev, const char* op, const char* name) {
  check_on_device(t, dev, op, name);
  FLB_CHECK(t.dim() == ndim, ValueError, op, ": ", name, " must be ", ndim, "-d, got shape ", shape_str(t.sizes));
}

void run_mm(const Tensor& c, const Tensor& a, const Tensor& b, const Tensor* bias, GemmArgs g, const char* op) {
  FLB_CHECK(a.dtype == b.dtype && c.dtype == a.dtype, TypeError, op, ": dtypes differ (", dtype_name(a.dtype), ", ",
            dtype_name(b.dtype), ", out ", dtype_name(c.dtype), ")");
  if (g.M == 0 || g.N == 0 || g.batch == 0) return;
  const int dev = c.device().index;
  DeviceGuard guard(dev);
  FLB_DISPATCH_NUMERIC(a.dtype, op, [&] {
    gemm_dispatch<scalar_t>(a.data<scalar_t>(), b.data<scalar_t>(), bias ? bias->data<scalar_t>() : nullptr,
                            c.data<scalar_t>(), g, dev);
  });
}

}  // namespace

void set_matmul_allow_tf32(bool allow) { g_allow_tf32.store(allow, std::memory_order_relaxed); }
bool matmul_allow_tf32() { return g_allow_tf32.load(std::memory_order_relaxed); }

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
  run_mm(c, a, b, nullptr, g, "mm");
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
  run_mm(c, a, b, nullptr, g, "bmm");
}

void linear(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor* bias) {
  FLB_CHECK(out.device().is_cuda(), RuntimeError, "linear: expected CUDA tensors");
  const int dev = out.device().index;
  check_mm_operand(x, 2, dev, "linear", "input");
  check_mm_operand(w, 2, dev, "linear", "weight");
  check_mm_operand(out, 2, dev, "linear", "out");
  FLB_CHECK(x.sizes[1] == w.sizes[1] && out.sizes[0] == x.sizes[0] && out.sizes[1] == w.sizes[0], ValueError,
            "linear: input ", shape_str(x.sizes), " and weight ", shape_str(w.sizes), " cannot produce out ",
            shape_str(out.sizes));
  FLB_CHECK(is_floating(x.dtype), TypeError, "linear: expected floating-point tensors, got ", dtype_name(x.dtype));
  if (bias) {
    check_on_device(*bias, dev, "linear", "bias");
    FLB_CHECK(bias->dtype == x.dtype, TypeError, "linear: bias dtype ", dtype_name(bias->dtype), " differs from ",
              dtype_name(x.dtype));
    FLB_CHECK(bias->dim() == 1 && bias->sizes[0] == w.sizes[0] && (bias->sizes[0] <= 1 || bias->strides[0] == 1),
              ValueError, "linear: bias must be a contiguous 1-d tensor of ", w.sizes[0], " elements, got shape ",
              shape_str(bias->sizes));
  }
  // B[k][n] = W[n][k]: the k stride of B is W's column stride.
  GemmArgs g{x.sizes[0], w.sizes[0], x.sizes[1], 1,
             x.strides[0], x.strides[1], 0,
             w.strides[1], w.strides[0], 0,
             out.strides[0], out.strides[1], 0};
  run_mm(out, x, w, bias, g, "linear");
}

}  // namespace flambeau::cuda
