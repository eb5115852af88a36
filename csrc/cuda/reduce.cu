// Reductions over any set of dims: sum, mean, prod, max, min, all, any (reduce), var/std (var),
// logsumexp, and max/min with indices along one dim (arg_reduce).
//
// The problem, whatever the dims: M outputs, each folding K inputs. Output m's inputs start at
// kept_offset(m) and element k of its slice is at kept_offset(m) + red_offset(k); both offsets come
// from OffsetCalc over the kept and the (coalesced) reduced dims, so transposed and sliced inputs
// need no copy. One kernel, reduce_kernel, serves every case; a block of 256 threads is a bx x by
// grid: bx outputs side by side, each folded by by threads. How the warp's lanes are laid out
// follows memory:
//   * "row" layout (lanes_k): the innermost reduced dim is the one with the smallest stride (e.g.
//     sum over the last dim of a contiguous tensor): the lanes of a warp step along k, so a warp
//     reads consecutive elements of one slice; by = min(256, pow2 >= K), and a small K packs
//     several outputs into one warp. Lanes combine with warp shuffles, warps through shared memory.
//   * "column" layout (!lanes_k): a kept dim is innermost (e.g. summing a [N, C] batch over N):
//     the lanes step along m, so a warp reads consecutive outputs' elements from one row; the
//     by threads of an output sit in different warps and combine through a shared-memory tree.
// Each thread keeps 4 independent accumulators (4 loads in flight) and folds them at the end.
//
// Too few outputs to fill the GPU (e.g. a full reduction to one value) and a long K: the K axis
// is split over gridDim.y blocks that write partial accumulators [splits, M] to a temporary
// buffer; a second launch of the same kernel folds the partials. Two passes, no atomics.
//
// Determinism: every fold happens in an order fixed by (M, K, layout, device's SM count), never
// by timing: same inputs on the same GPU model give the same bits, run after run.
//
// Accumulators, as in the CPU build: float32 and float64 sums (sum, mean, var, logsumexp) in
// float64; int64 and bool sums/products in wrapping int64; max/min in the input type with NaN
// propagation; argmax/argmin keep (value, index) pairs, NaN wins, the first index wins ties (the
// combine is order-independent, so the answer equals the sequential one). var is two passes (mean,
// then the sum of squared deviations), logsumexp is two passes (max, then the sum of exp(x - max)),
// both exactly the CPU's formulas.
#include <cmath>
#include <limits>
#include <type_traits>
#include "cuda/kernels.h"
#include "cuda/common.cuh"
#include "cuda/math.cuh"

namespace flambeau::cuda {

namespace {

constexpr int kReduceThreads = 256;
constexpr int kMaxSplits = 1024;

struct ReduceConfig {
  int64_t M = 0, K = 0;
  int bx = 1, by = 1;
  bool lanes_k = true;
  int64_t chunk = 0;   // K elements per split
  int splits = 1;
};

// ---------------------------------------------------------------------------------------------
// Device helpers
// ---------------------------------------------------------------------------------------------

// Shuffle any small trivially-copyable accumulator, 32 bits at a time.
template <class A>
__device__ __forceinline__ A shfl_down_any(const A& v, int delta, int width) {
  constexpr int W = (int)((sizeof(A) + 3) / 4);
  uint32_t w[W];
  memcpy(w, &v, sizeof(A));
#pragma unroll
  for (int i = 0; i < W; ++i) w[i] = __shfl_down_sync(0xffffffffu, w[i], delta, width);
  A out;
  memcpy(&out, w, sizeof(A));
  return out;
}

template <class R, class Loader, class Writer>
__global__ void __launch_bounds__(kReduceThreads)
reduce_kernel(R r, Loader ld, Writer wr, typename R::acc_t* partial, ReduceConfig cfg) {
  using A = typename R::acc_t;
  __shared__ alignas(16) unsigned char smem_raw[kReduceThreads * sizeof(A)];
  A* smem = reinterpret_cast<A*>(smem_raw);

  const int tid = threadIdx.x;
  const int bx = cfg.bx, by = cfg.by;
  const int tx = cfg.lanes_k ? tid / by : tid % bx;
  const int ty = cfg.lanes_k ? tid % by : tid / bx;
  const int64_t k_begin = (int64_t)blockIdx.y * cfg.chunk;
  const int64_t k_end = min(cfg.K, k_begin + cfg.chunk);
  const int64_t blocks_m = (cfg.M + bx - 1) / bx;

  for (int64_t mb = blockIdx.x; mb < blocks_m; mb += gridDim.x) {
    const int64_t m = mb * bx + tx;
    A acc = r.identity();
    if (m < cfg.M) {
      const auto ctx = ld.row(m);
      int64_t k = k_begin + ty;
      if (ld.fast()) {
        // One reduced dim (the usual case): offsets are k * stride, 4 loads in flight.
        A a1 = r.identity(), a2 = r.identity(), a3 = r.identity();
        for (; k + 3 * (int64_t)by < k_end; k += 4 * (int64_t)by) {
          A v0 = ld.template load<true>(ctx, k), v1 = ld.template load<true>(ctx, k + by),
            v2 = ld.template load<true>(ctx, k + 2 * by), v3 = ld.template load<true>(ctx, k + 3 * by);
          acc = r.combine(acc, v0);
          a1 = r.combine(a1, v1);
          a2 = r.combine(a2, v2);
          a3 = r.combine(a3, v3);
        }
        for (; k < k_end; k += by) acc = r.combine(acc, ld.template load<true>(ctx, k));
        acc = r.combine(r.combine(acc, a1), r.combine(a2, a3));
      } else {
        // Several reduced dims: unravel k (kept out of the unrolled loop to keep code small).
        for (; k < k_end; k += by) acc = r.combine(acc, ld.template load<false>(ctx, k));
      }
    }

    if (cfg.lanes_k) {
      // Lanes tx*by .. tx*by+by-1 hold one output's partials: shuffle within width min(by, 32).
      const int width = by < 32 ? by : 32;
      for (int off = width / 2; off > 0; off >>= 1) acc = r.combine(acc, shfl_down_any(acc, off, width));
      if (by > 32) {
        const int warps_per_row = by / 32;
        if ((ty & 31) == 0) smem[tx * warps_per_row + ty / 32] = acc;
        __syncthreads();
        if (ty == 0) {
          acc = smem[tx * warps_per_row];
          for (int w = 1; w < warps_per_row; ++w) acc = r.combine(acc, smem[tx * warps_per_row + w]);
        }
      }
    } else {
      smem[ty * bx + tx] = acc;
      __syncthreads();
      for (int s = by / 2; s > 0; s >>= 1) {
        if (ty < s) smem[ty * bx + tx] = r.combine(smem[ty * bx + tx], smem[(ty + s) * bx + tx]);
        __syncthreads();
      }
      if (ty == 0) acc = smem[tx];
    }

    if (ty == 0 && m < cfg.M) {
      if (partial) partial[(int64_t)blockIdx.y * cfg.M + m] = acc;
      else wr(m, acc);
    }
    __syncthreads();  // smem is reused by the next output block
  }
}

// ---------------------------------------------------------------------------------------------
// Reducers: acc_t, identity, combine (associative; with the fixed order, deterministic)
// ---------------------------------------------------------------------------------------------

template <class A>
struct SumR {
  using acc_t = A;
  __device__ __forceinline__ A identity() const { return A(0); }
  __device__ __forceinline__ A combine(A a, A b) const { return dm::gadd(a, b); }
};

template <class A>
struct ProdR {
  using acc_t = A;
  __device__ __forceinline__ A identity() const { return A(1); }
  __device__ __forceinline__ A combine(A a, A b) const { return dm::gmul(a, b); }
};

template <class T>
__device__ __forceinline__ T lowest_of() {
  if constexpr (std::is_same_v<T, bool>) return false;
  else if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::lowest();
}
template <class T>
__device__ __forceinline__ T highest_of() {
  if constexpr (std::is_same_v<T, bool>) return true;
  else if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::max();
}

// NaN-propagating max/min (the first NaN met wins; all NaNs are equivalent as a result).
template <class T, bool IS_MAX>
struct MaxMinR {
  using acc_t = T;
  __device__ __forceinline__ T identity() const { return IS_MAX ? lowest_of<T>() : highest_of<T>(); }
  __device__ __forceinline__ T combine(T a, T b) const {
    if (dm::isnan(a)) return a;
    if (dm::isnan(b)) return b;
    if constexpr (IS_MAX) return b > a ? b : a;
    else return b < a ? b : a;
  }
};

template <bool IS_ALL>
struct AllAnyR {
  using acc_t = bool;
  __device__ __forceinline__ bool identity() const { return IS_ALL; }
  __device__ __forceinline__ bool combine(bool a, bool b) const { return IS_ALL ? (a && b) : (a || b); }
};

template <class T>
struct ArgAcc {
  T v;
  int64_t i;  // -1: empty
};

template <class T, bool IS_MAX>
struct ArgR {
  using acc_t = ArgAcc<T>;
  __device__ __forceinline__ acc_t identity() const { return acc_t{T(0), -1}; }
  __device__ __forceinline__ acc_t combine(acc_t a, acc_t b) const {
    if (a.i < 0) return b;
    if (b.i < 0) return a;
    const bool an = dm::isnan(a.v), bn = dm::isnan(b.v);
    if (an || bn) {
      if (an && bn) return a.i < b.i ? a : b;
      return an ? a : b;
    }
    if (IS_MAX ? a.v > b.v : a.v < b.v) return a;
    if (IS_MAX ? b.v > a.v : b.v < a.v) return b;
    return a.i < b.i ? a : b;
  }
};

// max for logsumexp's first pass: double, NaN-propagating.
struct MaxDoubleR {
  using acc_t = double;
  __device__ __forceinline__ double identity() const { return -INFINITY; }
  __device__ __forceinline__ double combine(double a, double b) const {
    if (a != a) return a;
    if (b != b) return b;
    return b > a ? b : a;
  }
};

// ---------------------------------------------------------------------------------------------
// Loaders: row(m) -> context, load(context, k) -> accumulator
// ---------------------------------------------------------------------------------------------

template <class T, class A>
struct CastTr {
  __device__ __forceinline__ A operator()(T v, int64_t) const { return (A)v; }
};
template <class T>
struct NonzeroTr {
  __device__ __forceinline__ bool operator()(T v, int64_t) const { return v != T(0); }
};
template <class T>
struct ArgTr {
  __device__ __forceinline__ ArgAcc<T> operator()(T v, int64_t k) const { return ArgAcc<T>{v, k}; }
};

// Offset of reduced element k: k * stride when FAST (at most one reduced dim), else unravelled.
template <bool FAST>
__device__ __forceinline__ int64_t red_offset(const OffsetCalc<1>& red, int64_t k) {
  if constexpr (FAST) return k * red.strides[0][0];
  else return red.get1(k);
}

template <class T, class Tr>
struct ElemLoader {
  const T* x;
  OffsetCalc<1> kept, red;
  Tr tr;
  __device__ __forceinline__ bool fast() const { return red.ndim <= 1; }
  __device__ __forceinline__ int64_t row(int64_t m) const { return kept.get1(m); }
  template <bool FAST>
  __device__ __forceinline__ auto load(int64_t base, int64_t k) const {
    return tr(x[base + red_offset<FAST>(red, k)], k);
  }
};

struct RowCtx {
  int64_t base;
  double c;
};

// (x - mean[m])^2 in double: var's second pass.
template <class T>
struct CenteredLoader {
  const T* x;
  OffsetCalc<1> kept, red;
  const double* mean;
  __device__ __forceinline__ bool fast() const { return red.ndim <= 1; }
  __device__ __forceinline__ RowCtx row(int64_t m) const { return RowCtx{kept.get1(m), mean[m]}; }
  template <bool FAST>
  __device__ __forceinline__ double load(const RowCtx& c, int64_t k) const {
    double d = (double)x[c.base + red_offset<FAST>(red, k)] - c.c;
    return d * d;
  }
};

// exp(x - shift[m]) in double: logsumexp's second pass.
template <class T>
struct ShiftedExpLoader {
  const T* x;
  OffsetCalc<1> kept, red;
  const double* maxv;
  __device__ __forceinline__ bool fast() const { return red.ndim <= 1; }
  __device__ __forceinline__ RowCtx row(int64_t m) const {
    double mx = maxv[m];
    return RowCtx{kept.get1(m), (mx == INFINITY || mx == -INFINITY) ? 0.0 : mx};
  }
  template <bool FAST>
  __device__ __forceinline__ double load(const RowCtx& c, int64_t k) const {
    return ::exp((double)x[c.base + red_offset<FAST>(red, k)] - c.c);
  }
};

// The second pass of a split reduction: partials laid out [splits, M].
template <class A>
struct PartialLoader {
  const A* p;
  int64_t M;
  __device__ __forceinline__ bool fast() const { return true; }
  __device__ __forceinline__ int64_t row(int64_t m) const { return m; }
  template <bool FAST>
  __device__ __forceinline__ A load(int64_t m, int64_t k) const { return p[k * M + m]; }
};

// ---------------------------------------------------------------------------------------------
// Writers: (m, accumulator) -> output
// ---------------------------------------------------------------------------------------------

// out[m] = (Tout)acc; floating outputs go through double and are multiplied by `scale` (1 for
// sum and prod, 1/K for mean, exact either way for sum: x * 1.0 == x).
template <class Tout>
struct StoreWriter {
  Tout* out;
  OffsetCalc<1> oc;
  double scale;
  template <class A>
  __device__ __forceinline__ void operator()(int64_t m, A acc) const {
    if constexpr (std::is_floating_point_v<Tout>) out[oc.get1(m)] = (Tout)((double)acc * scale);
    else out[oc.get1(m)] = (Tout)acc;
  }
};

// buf[m] = acc / n (mean for var) or acc (max for logsumexp).
struct BufferWriter {
  double* buf;
  double divisor;  // 0: store as is
  __device__ __forceinline__ void operator()(int64_t m, double acc) const {
    buf[m] = divisor != 0.0 ? acc / divisor : acc;
  }
};

template <class T>
struct VarWriter {
  T* out;
  OffsetCalc<1> oc;
  double denom;
  bool take_sqrt;
  __device__ __forceinline__ void operator()(int64_t m, double ss) const {
    double v = ss / denom;
    out[oc.get1(m)] = (T)(take_sqrt ? ::sqrt(v) : v);
  }
};

template <class T>
struct LseWriter {
  T* out;
  OffsetCalc<1> oc;
  const double* maxv;
  __device__ __forceinline__ void operator()(int64_t m, double s) const {
    double mx = maxv[m];
    double shift = (mx == INFINITY || mx == -INFINITY) ? 0.0 : mx;
    out[oc.get1(m)] = (T)(::log(s) + shift);
  }
};

template <class T>
struct ArgWriter {
  T* values;  // may be null
  int64_t* indices;
  OffsetCalc<1> voc, ioc;
  __device__ __forceinline__ void operator()(int64_t m, ArgAcc<T> a) const {
    if (values) values[voc.get1(m)] = a.v;
    indices[ioc.get1(m)] = a.i < 0 ? 0 : a.i;
  }
};

// ---------------------------------------------------------------------------------------------
// Host side: plan, configuration, launches
// ---------------------------------------------------------------------------------------------

int64_t next_pow2(int64_t v) {
  int64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

struct Plan {
  Shape kept_sizes, kept_strides, red_sizes, red_strides;
  int64_t M = 1, K = 1;
  bool lanes_k = true;
};

Plan make_plan(const Tensor& in, const std::vector<int64_t>& dims) {
  Plan p;
  std::vector<bool> red(in.dim(), false);
  for (auto d : dims) {
    FLB_CHECK(d >= 0 && d < std::max<int64_t>(in.dim(), 1), IndexError, "reduce: dim ", d, " out of range for a ",
              in.dim(), "-d tensor");
    if (d < in.dim()) red[d] = true;
  }
  for (int64_t d = 0; d < in.dim(); ++d) {
    if (red[d]) {
      p.red_sizes.push_back(in.sizes[d]);
      p.red_strides.push_back(in.strides[d]);
      p.K *= in.sizes[d];
    } else {
      p.kept_sizes.push_back(in.sizes[d]);
      p.kept_strides.push_back(in.strides[d]);
      p.M *= in.sizes[d];
    }
  }
  // Lay the lanes along whichever side has the smaller innermost stride (ignoring size-1 dims).
  auto inner_stride = [](const Shape& sizes, const Shape& strides) {
    for (int64_t d = (int64_t)sizes.size() - 1; d >= 0; --d)
      if (sizes[d] != 1) return strides[d] < 0 ? -strides[d] : strides[d];
    return std::numeric_limits<int64_t>::max();
  };
  const int64_t rs = inner_stride(p.red_sizes, p.red_strides), ks = inner_stride(p.kept_sizes, p.kept_strides);
  p.lanes_k = p.M == 1 || rs <= ks;
  return p;
}

ReduceConfig make_config(int64_t M, int64_t K, bool lanes_k, int dev, bool allow_split) {
  ReduceConfig c;
  c.M = M;
  c.K = K;
  c.lanes_k = lanes_k;
  if (lanes_k) {
    c.by = (int)std::min<int64_t>(kReduceThreads, next_pow2(std::max<int64_t>(K, 1)));
    c.bx = kReduceThreads / c.by;
  } else {
    c.bx = (int)std::min<int64_t>(32, next_pow2(std::max<int64_t>(M, 1)));
    c.by = kReduceThreads / c.bx;
    if (K < c.by) {  // short columns: more outputs per block instead of idle threads
      c.by = (int)next_pow2(std::max<int64_t>(K, 1));
      c.bx = kReduceThreads / c.by;
    }
  }
  const int64_t blocks_m = ceil_div(M, c.bx);
  const int64_t target = 8 * (int64_t)multiprocessor_count(dev);  // blocks: ~full occupancy
  c.splits = 1;
  if (allow_split && blocks_m < target && K >= (int64_t)c.by * 64) {
    int64_t s = std::min<int64_t>({ceil_div(target, blocks_m), ceil_div(K, (int64_t)c.by * 32), kMaxSplits});
    c.splits = (int)std::max<int64_t>(s, 1);
  }
  c.chunk = ceil_div(std::max<int64_t>(K, 1), c.splits);
  c.splits = (int)ceil_div(std::max<int64_t>(K, 1), c.chunk);  // no empty splits
  return c;
}

unsigned grid_x_for(const ReduceConfig& c) {
  int64_t blocks_m = ceil_div(c.M, c.bx);
  return (unsigned)std::min<int64_t>(std::max<int64_t>(blocks_m, 1), (int64_t)std::numeric_limits<int32_t>::max());
}

// Runs one reduction (one or two launches). `lanes_k` from the plan.
template <class R, class Loader, class Writer>
void run_reduce(R r, Loader ld, Writer wr, int64_t M, int64_t K, bool lanes_k, int dev, const char* name) {
  using A = typename R::acc_t;
  if (M == 0) return;
  cudaStream_t s = stream(dev);
  ReduceConfig c = make_config(M, K, lanes_k, dev, true);
  if (c.splits == 1) {
    dim3 grid(grid_x_for(c), 1);
    reduce_kernel<<<grid, kReduceThreads, 0, s>>>(r, ld, wr, (A*)nullptr, c);
    FLB_CUDA_CHECK_LAUNCH(name, dev);
    return;
  }
  TempBuffer partial((size_t)c.splits * (size_t)M * sizeof(A), dev);
  dim3 grid1(grid_x_for(c), c.splits);
  reduce_kernel<<<grid1, kReduceThreads, 0, s>>>(r, ld, wr, partial.get<A>(), c);
  FLB_CUDA_CHECK_LAUNCH(name, dev);
  ReduceConfig c2 = make_config(M, c.splits, M == 1, dev, false);
  PartialLoader<A> pl{partial.get<A>(), M};
  dim3 grid2(grid_x_for(c2), 1);
  reduce_kernel<<<grid2, kReduceThreads, 0, s>>>(r, pl, wr, (A*)nullptr, c2);
  FLB_CUDA_CHECK_LAUNCH(name, dev);
}

OffsetCalc<1> calc1(const Shape& sizes, const Shape& strides, const char* name) {
  return make_offset_calc<1>(sizes, {&strides}, name);
}

template <class T, class Tr>
ElemLoader<T, Tr> elem_loader(const Tensor& in, const Plan& p, Tr tr, const char* name) {
  return ElemLoader<T, Tr>{in.data<T>(), calc1(p.kept_sizes, p.kept_strides, name),
                           calc1(p.red_sizes, p.red_strides, name), tr};
}

template <class T>
void reduce_typed(ReduceOp op, const Tensor& out, const Tensor& in, const Plan& p, int dev) {
  const char* name = "reduce";
  auto ooc = make_offset_calc<1>({&out}, name);
  using SumA = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Mean:
    case ReduceOp::Prod: {
      auto ld = elem_loader<T>(in, p, CastTr<T, SumA>{}, name);
      auto go = [&](auto r) {
        if constexpr (std::is_floating_point_v<T>) {
          // Float sums/products are written in the input dtype (mean: scaled by 1/K).
          FLB_CHECK(out.dtype == in.dtype, TypeError, "reduce: output dtype ", dtype_name(out.dtype),
                    " does not match input dtype ", dtype_name(in.dtype));
          const double scale = op == ReduceOp::Mean ? 1.0 / (double)p.K : 1.0;
          run_reduce(r, ld, StoreWriter<T>{out.data<T>(), ooc, scale}, p.M, p.K, p.lanes_k, dev, name);
        } else {
          // Integer and bool sums/products are int64 (mean is unscaled, as in the CPU build).
          FLB_CHECK(out.dtype == DType::Int64, TypeError, "reduce: the sum/prod of a ", dtype_name(in.dtype),
                    " tensor is int64, got a ", dtype_name(out.dtype), " output");
          run_reduce(r, ld, StoreWriter<int64_t>{out.data<int64_t>(), ooc, 1.0}, p.M, p.K, p.lanes_k, dev, name);
        }
      };
      if (op == ReduceOp::Prod) go(ProdR<SumA>{});
      else go(SumR<SumA>{});
      return;
    }
    case ReduceOp::Max:
    case ReduceOp::Min: {
      FLB_CHECK(p.K > 0, RuntimeError, op == ReduceOp::Max ? "max" : "min",
                ": cannot reduce over a dimension of size 0");
      FLB_CHECK(out.dtype == in.dtype, TypeError, "reduce: output dtype ", dtype_name(out.dtype),
                " does not match input dtype ", dtype_name(in.dtype));
      auto ld = elem_loader<T>(in, p, CastTr<T, T>{}, name);
      StoreWriter<T> wr{out.data<T>(), ooc, 1.0};
      if (op == ReduceOp::Max) run_reduce(MaxMinR<T, true>{}, ld, wr, p.M, p.K, p.lanes_k, dev, name);
      else run_reduce(MaxMinR<T, false>{}, ld, wr, p.M, p.K, p.lanes_k, dev, name);
      return;
    }
    case ReduceOp::All:
    case ReduceOp::Any: {
      FLB_CHECK(out.dtype == DType::Bool, TypeError, "reduce: all/any write a bool output, got ",
                dtype_name(out.dtype));
      auto ld = elem_loader<T>(in, p, NonzeroTr<T>{}, name);
      StoreWriter<bool> wr{out.data<bool>(), ooc, 1.0};
      if (op == ReduceOp::All) run_reduce(AllAnyR<true>{}, ld, wr, p.M, p.K, p.lanes_k, dev, name);
      else run_reduce(AllAnyR<false>{}, ld, wr, p.M, p.K, p.lanes_k, dev, name);
      return;
    }
  }
  throw ValueError(str_cat("reduce: unknown op code ", (int)op));
}

void check_reduce_args(const Tensor& out, const Tensor& in, const char* op) {
  FLB_CHECK(in.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor, got ", in.device().str());
  check_on_device(out, in.device().index, op, "output");
}

}  // namespace

void reduce(ReduceOp op, const Tensor& out, const Tensor& in, const std::vector<int64_t>& reduce_dims) {
  check_reduce_args(out, in, "reduce");
  Plan p = make_plan(in, reduce_dims);
  FLB_CHECK(out.numel() == p.M, ValueError, "reduce: output has ", out.numel(), " elements, expected ", p.M);
  const int dev = in.device().index;
  DeviceGuard g(dev);
  FLB_DISPATCH_ALL(in.dtype, "reduce", [&] { reduce_typed<scalar_t>(op, out, in, p, dev); });
}

void var(const Tensor& out, const Tensor& in, const std::vector<int64_t>& reduce_dims, double correction,
         bool take_sqrt) {
  check_reduce_args(out, in, "var");
  Plan p = make_plan(in, reduce_dims);
  FLB_CHECK(out.numel() == p.M, ValueError, "var: output has ", out.numel(), " elements, expected ", p.M);
  if (p.M == 0) return;
  const int dev = in.device().index;
  DeviceGuard g(dev);
  FLB_DISPATCH_FLOATING(in.dtype, "var", [&] {
    using T = scalar_t;
    const char* name = "var";
    TempBuffer mean((size_t)p.M * sizeof(double), dev);
    const double n = (double)p.K;
    auto ld = elem_loader<T>(in, p, CastTr<T, double>{}, name);
    run_reduce(SumR<double>{}, ld, BufferWriter{mean.get<double>(), n}, p.M, p.K, p.lanes_k, dev, name);
    CenteredLoader<T> cl{in.data<T>(), calc1(p.kept_sizes, p.kept_strides, name),
                         calc1(p.red_sizes, p.red_strides, name), mean.get<double>()};
    VarWriter<T> wr{out.data<T>(), make_offset_calc<1>({&out}, name), std::max(0.0, n - correction), take_sqrt};
    run_reduce(SumR<double>{}, cl, wr, p.M, p.K, p.lanes_k, dev, name);
  });
}

void logsumexp(const Tensor& out, const Tensor& in, const std::vector<int64_t>& reduce_dims) {
  check_reduce_args(out, in, "logsumexp");
  Plan p = make_plan(in, reduce_dims);
  FLB_CHECK(out.numel() == p.M, ValueError, "logsumexp: output has ", out.numel(), " elements, expected ", p.M);
  if (p.M == 0) return;
  const int dev = in.device().index;
  DeviceGuard g(dev);
  FLB_DISPATCH_FLOATING(in.dtype, "logsumexp", [&] {
    using T = scalar_t;
    const char* name = "logsumexp";
    TempBuffer maxv((size_t)p.M * sizeof(double), dev);
    auto ld = elem_loader<T>(in, p, CastTr<T, double>{}, name);
    run_reduce(MaxDoubleR{}, ld, BufferWriter{maxv.get<double>(), 0.0}, p.M, p.K, p.lanes_k, dev, name);
    ShiftedExpLoader<T> el{in.data<T>(), calc1(p.kept_sizes, p.kept_strides, name),
                           calc1(p.red_sizes, p.red_strides, name), maxv.get<double>()};
    LseWriter<T> wr{out.data<T>(), make_offset_calc<1>({&out}, name), maxv.get<double>()};
    run_reduce(SumR<double>{}, el, wr, p.M, p.K, p.lanes_k, dev, name);
  });
}

void arg_reduce(bool is_max, const Tensor* values, const Tensor& indices, const Tensor& in, int64_t dim) {
  const char* name = is_max ? "max" : "min";
  check_reduce_args(indices, in, name);
  if (values) check_on_device(*values, in.device().index, name, "values");
  FLB_CHECK(indices.dtype == DType::Int64, TypeError, name, ": indices must be int64");
  Plan p;
  if (in.dim() == 0) {
    p.red_sizes = {1};
    p.red_strides = {1};
  } else {
    FLB_CHECK(dim >= 0 && dim < in.dim(), IndexError, name, ": dim ", dim, " out of range for a ", in.dim(),
              "-d tensor");
    for (int64_t d = 0; d < in.dim(); ++d) {
      if (d == dim) {
        p.red_sizes.push_back(in.sizes[d]);
        p.red_strides.push_back(in.strides[d]);
        p.K = in.sizes[d];
      } else {
        p.kept_sizes.push_back(in.sizes[d]);
        p.kept_strides.push_back(in.strides[d]);
        p.M *= in.sizes[d];
      }
    }
  }
  FLB_CHECK(indices.numel() == p.M, ValueError, name, ": indices have ", indices.numel(), " elements, expected ", p.M);
  if (p.M == 0) return;
  FLB_CHECK(p.K > 0, IndexError, name, ": cannot reduce over a dimension of size 0 (shape ", shape_str(in.sizes), ")");
  {
    int64_t rs = p.red_strides[0] < 0 ? -p.red_strides[0] : p.red_strides[0];
    int64_t ks = std::numeric_limits<int64_t>::max();
    for (int64_t d = (int64_t)p.kept_sizes.size() - 1; d >= 0; --d)
      if (p.kept_sizes[d] != 1) {
        ks = p.kept_strides[d] < 0 ? -p.kept_strides[d] : p.kept_strides[d];
        break;
      }
    p.lanes_k = p.M == 1 || p.K == 1 ? p.M == 1 : rs <= ks;
  }
  const int dev = in.device().index;
  DeviceGuard g(dev);
  FLB_DISPATCH_NUMERIC(in.dtype, name, [&] {
    using T = scalar_t;
    if (values)
      FLB_CHECK(values->dtype == in.dtype, TypeError, name, ": values dtype ", dtype_name(values->dtype),
                " does not match input dtype ", dtype_name(in.dtype));
    auto ld = elem_loader<T>(in, p, ArgTr<T>{}, name);
    ArgWriter<T> wr{values ? values->data<T>() : nullptr, indices.data<int64_t>(),
                    values ? make_offset_calc<1>({values}, name) : OffsetCalc<1>{},
                    make_offset_calc<1>({&indices}, name)};
    if (is_max) run_reduce(ArgR<T, true>{}, ld, wr, p.M, p.K, p.lanes_k, dev, name);
    else run_reduce(ArgR<T, false>{}, ld, wr, p.M, p.K, p.lanes_k, dev, name);
  });
}

}  // namespace flambeau::cuda
