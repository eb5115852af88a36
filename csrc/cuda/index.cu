// Indexing: advanced-index gather (index_gather), assignment/accumulation (index_put), nonzero,
// gather and scatter_add.
//
// The dispatch layer has bounds-checked and wrapped every index (ops/index.cpp prepare_index) and
// hands us contiguous int64 index tensors. The kernels still test each index against its dim and
// skip (gather: write 0) anything out of range, so a bad index can never touch memory outside a
// tensor; with the dispatch layer's checks this never triggers, so it costs no synchronisation.
//
// index_gather: out[b, r] = src[idx_0[b], ..., idx_{k-1}[b], r] with the indexed dims first
// (src_perm) and r running over the remaining dims; one thread per output element, consecutive
// threads on consecutive r, so rows are copied with coalesced reads and writes.
//
// index_put / scatter_add with duplicates, deterministically. Several index entries may hit the
// same destination; the CPU adds them one after the other in index order, and we produce the same
// result, bit for bit, with no atomics:
//   1. each entry b gets its destination key (a linear index over the indexed dims); we pack
//      (key, b) into one uint64, key * B + b, which is unique, so sorting gives one deterministic
//      order: grouped by destination, entries of a group in increasing b;
//   2. a bitonic sort of the packed values (shared-memory stages for runs up to 2048, global
//      memory stages above: O(B log^2 B) work, plenty for the sizes indexing sees);
//   3. one thread per (group, r) starts from the destination value (accumulate) and adds the
//      group's values in b order, then writes once; without accumulate the last entry wins, as on
//      the CPU.
// When key * B could overflow 62 bits (astronomically large index spaces) a fallback runs one
// thread per r over all b in order: same result, slower. scatter_add uses the same machinery when
// there are few independent lines (e.g. 1-D scatter_add into bins); with many lines it runs one
// thread per line, walking the scattered dim in order (again the CPU's order). scatter_reduce is the
// same two paths with another combine (product, max/min with NaN winning,
// assign: the last entry wins), so it too follows the CPU's order per destination.
//
// nonzero: three kernels and one read-back: per-tile counts, an exclusive scan of the counts (one
// block), then each tile recomputes its flags, scans them within the block and writes the
// coordinates of its nonzeros in row-major order (PyTorch's order). The total count must come
// back to the host to size the output: nonzero synchronises, as in PyTorch.
#include <algorithm>
#include <limits>
#include "cuda/kernels.h"
#include "cuda/common.cuh"
#include "cuda/math.cuh"
#include "cuda/pool3d_scatter_kernels.h"

namespace flambeau::cuda {

namespace {

constexpr int kBlock = 256;

// ---------------------------------------------------------------------------------------------
// Small device helpers
// ---------------------------------------------------------------------------------------------

struct IndexSet {
  int k = 0;
  const int64_t* ptr[kMaxDims];
  int64_t size[kMaxDims];
  int64_t stride[kMaxDims];  // destination/source stride of each indexed dim
};

// Offset contributed by the indexed dims for entry b, or -1 if any index is out of range.
__device__ __forceinline__ int64_t indexed_offset(const IndexSet& is, int64_t b) {
  int64_t off = 0;
  for (int j = 0; j < is.k; ++j) {
    int64_t v = is.ptr[j][b];
    if (v < 0) v += is.size[j];
    if (v < 0 || v >= is.size[j]) return -1;
    off += v * is.stride[j];
  }
  return off;
}

// Linear key of entry b over the indexed dims (row-major), or -1 if out of range.
__device__ __forceinline__ int64_t indexed_key(const IndexSet& is, int64_t b) {
  int64_t key = 0;
  for (int j = 0; j < is.k; ++j) {
    int64_t v = is.ptr[j][b];
    if (v < 0) v += is.size[j];
    if (v < 0 || v >= is.size[j]) return -1;
    key = key * is.size[j] + v;
  }
  return key;
}

// Offset of the destination element with linear key `key` over the indexed dims.
__device__ __forceinline__ int64_t key_offset(const IndexSet& is, int64_t key) {
  int64_t off = 0;
  for (int j = is.k - 1; j >= 0; --j) {
    int64_t q = key / is.size[j];
    off += (key - q * is.size[j]) * is.stride[j];
    key = q;
  }
  return off;
}

template <class T>
__device__ __forceinline__ T add_value(T a, T b) {
  if constexpr (std::is_same_v<T, bool>) return a || b;  // as the CPU: accumulate into bool is or
  else return dm::gadd(a, b);
}

// ---------------------------------------------------------------------------------------------
// Bitonic sort of uint64 (padded to a power of two with UINT64_MAX)
// ---------------------------------------------------------------------------------------------

constexpr int kSortTile = 2048;  // elements per shared-memory stage (1024 threads)

// Sorts each tile of kSortTile elements with the global network's directions (stages k <= tile).
__global__ void __launch_bounds__(kSortTile / 2) bitonic_tile_sort(uint64_t* data, int64_t n) {
  __shared__ uint64_t s[kSortTile];
  const int64_t base = (int64_t)blockIdx.x * kSortTile;
  const int tile = n < kSortTile ? (int)n : kSortTile;
  for (int i = threadIdx.x; i < tile; i += blockDim.x) s[i] = data[base + i];
  __syncthreads();
  for (int k = 2; k <= tile; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int t = threadIdx.x; t < tile / 2; t += blockDim.x) {
        const int i = 2 * j * (t / j) + (t % j), l = i + j;
        const bool asc = (((base + i) & k) == 0);
        const uint64_t a = s[i], b = s[l];
        if ((a > b) == asc) {
          s[i] = b;
          s[l] = a;
        }
      }
      __syncthreads();
    }
  }
  for (int i = threadIdx.x; i < tile; i += blockDim.x) data[base + i] = s[i];
}

// Stages j < kSortTile of merge step k, within tiles.
__global__ void __launch_bounds__(kSortTile / 2) bitonic_tile_merge(uint64_t* data, int64_t k) {
  __shared__ uint64_t s[kSortTile];
  const int64_t base = (int64_t)blockIdx.x * kSortTile;
  for (int i = threadIdx.x; i < kSortTile; i += blockDim.x) s[i] = data[base + i];
  __syncthreads();
  const bool asc = ((base & k) == 0);  // k > tile: the direction is constant over the tile
  for (int j = kSortTile >> 1; j > 0; j >>= 1) {
    for (int t = threadIdx.x; t < kSortTile / 2; t += blockDim.x) {
      const int i = 2 * j * (t / j) + (t % j), l = i + j;
      const uint64_t a = s[i], b = s[l];
      if ((a > b) == asc) {
        s[i] = b;
        s[l] = a;
      }
    }
    __syncthreads();
  }
  for (int i = threadIdx.x; i < kSortTile; i += blockDim.x) data[base + i] = s[i];
}

// One global compare-exchange stage (j >= kSortTile).
__global__ void bitonic_global_step(uint64_t* data, int64_t n, int64_t k, int64_t j) {
  for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < n / 2; t += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = 2 * j * (t / j) + (t % j), l = i + j;
    const bool asc = ((i & k) == 0);
    const uint64_t a = data[i], b = data[l];
    if ((a > b) == asc) {
      data[i] = b;
      data[l] = a;
    }
  }
}

// Sorts data[0:n) ascending; n must be a power of two.
void bitonic_sort(uint64_t* data, int64_t n, int dev) {
  if (n <= 1) return;
  cudaStream_t s = stream(dev);
  const int64_t tiles = n >= kSortTile ? n / kSortTile : 1;
  const int threads = (int)std::min<int64_t>(kSortTile / 2, std::max<int64_t>(n / 2, 32));
  bitonic_tile_sort<<<(unsigned)tiles, threads, 0, s>>>(data, n);
  FLB_CUDA_CHECK_LAUNCH("bitonic_tile_sort", dev);
  for (int64_t k = 2 * (int64_t)kSortTile; k <= n; k <<= 1) {
    for (int64_t j = k >> 1; j >= kSortTile; j >>= 1) {
      bitonic_global_step<<<grid_for(n / 2, kBlock, dev), kBlock, 0, s>>>(data, n, k, j);
      FLB_CUDA_CHECK_LAUNCH("bitonic_global_step", dev);
    }
    bitonic_tile_merge<<<(unsigned)(n / kSortTile), kSortTile / 2, 0, s>>>(data, k);
    FLB_CUDA_CHECK_LAUNCH("bitonic_tile_merge", dev);
  }
}

int64_t next_pow2(int64_t v) {
  int64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

// packed[b] = key(b) * B + b for b < B (key = V for an out-of-range entry), UINT64_MAX beyond.
__global__ void pack_keys_kernel(uint64_t* packed, int64_t P, int64_t B, int64_t V, IndexSet is) {
  for (int64_t b = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; b < P; b += (int64_t)gridDim.x * blockDim.x) {
    if (b >= B) {
      packed[b] = std::numeric_limits<uint64_t>::max();
      continue;
    }
    int64_t key = indexed_key(is, b);
    if (key < 0) key = V;
    packed[b] = (uint64_t)key * (uint64_t)B + (uint64_t)b;
  }
}

// ---------------------------------------------------------------------------------------------
// index_gather
// ---------------------------------------------------------------------------------------------

template <class T>
__global__ void index_gather_kernel(T* out, const T* src, int64_t B, int64_t R, IndexSet is, OffsetCalc<1> out_oc,
                                    OffsetCalc<1> rest_oc) {
  const int64_t n = B * R;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t b = e / R, r = e - b * R;
    const int64_t off = indexed_offset(is, b);
    out[out_oc.get1(e)] = off < 0 ? T(0) : src[off + rest_oc.get1(r)];
  }
}

// ---------------------------------------------------------------------------------------------
// index_put
// ---------------------------------------------------------------------------------------------

// Segments of the sorted packed keys: block (x: r range, y: sorted position p). A thread acts only
// where p starts a segment (its key differs from p-1's) and walks the segment in b order.
template <class T>
__global__ void index_put_sorted_kernel(T* dst, const T* values, const uint64_t* packed, int64_t B, int64_t R,
                                        int64_t V, IndexSet is, OffsetCalc<1> dst_rest, OffsetCalc<1> val_oc,
                                        bool accumulate) {
  for (int64_t p = blockIdx.y; p < B; p += gridDim.y) {
    const uint64_t key = packed[p] / (uint64_t)B;
    if (key >= (uint64_t)V) continue;  // out-of-range entries sort last and are skipped
    if (p > 0 && packed[p - 1] / (uint64_t)B == key) continue;
    const int64_t dbase = key_offset(is, (int64_t)key);
    for (int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; r < R; r += (int64_t)gridDim.x * blockDim.x) {
      const int64_t doff = dbase + dst_rest.get1(r);
      T acc = accumulate ? dst[doff] : T(0);
      for (int64_t q = p; q < B; ++q) {
        const uint64_t pq = packed[q];
        if (pq / (uint64_t)B != key) break;
        const int64_t b = (int64_t)(pq % (uint64_t)B);
        const T v = values[val_oc.get1(b * R + r)];
        acc = accumulate ? add_value(acc, v) : v;
      }
      dst[doff] = acc;
    }
  }
}

// Fallback: one thread per r walks every entry in order.
template <class T>
__global__ void index_put_serial_kernel(T* dst, const T* values, int64_t B, int64_t R, IndexSet is,
                                        OffsetCalc<1> dst_rest, OffsetCalc<1> val_oc, bool accumulate) {
  for (int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; r < R; r += (int64_t)gridDim.x * blockDim.x) {
    const int64_t roff = dst_rest.get1(r);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t off = indexed_offset(is, b);
      if (off < 0) continue;
      const T v = values[val_oc.get1(b * R + r)];
      T* d = dst + off + roff;
      *d = accumulate ? add_value(*d, v) : v;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// nonzero
// ---------------------------------------------------------------------------------------------

constexpr int kNzItems = 8;                    // consecutive elements per thread
constexpr int kNzTile = kBlock * kNzItems;     // elements per block

template <class T>
__device__ __forceinline__ int nz_flags(const T* x, const OffsetCalc<1>& oc, int64_t n, int64_t first, bool* f) {
  int c = 0;
#pragma unroll
  for (int i = 0; i < kNzItems; ++i) {
    const int64_t e = first + i;
    f[i] = e < n && x[oc.get1(e)] != T(0);
    c += f[i];
  }
  return c;
}

template <class T>
__global__ void __launch_bounds__(kBlock) nonzero_count_kernel(const T* x, OffsetCalc<1> oc, int64_t n, int64_t* counts) {
  __shared__ int warp_tot[kBlock / 32];
  bool f[kNzItems];
  int c = nz_flags(x, oc, n, (int64_t)blockIdx.x * kNzTile + (int64_t)threadIdx.x * kNzItems, f);
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) c += __shfl_xor_sync(0xffffffffu, c, off);
  if ((threadIdx.x & 31) == 0) warp_tot[threadIdx.x / 32] = c;
  __syncthreads();
  if (threadIdx.x == 0) {
    int64_t t = 0;
    for (int w = 0; w < kBlock / 32; ++w) t += warp_tot[w];
    counts[blockIdx.x] = t;
  }
}

// Exclusive scan of counts[0:m) into offsets[0:m), total into offsets[m]. One block of 1024.
__global__ void __launch_bounds__(1024) exclusive_scan_kernel(const int64_t* counts, int64_t* offsets, int64_t m) {
  __shared__ int64_t warp_sums[32];
  __shared__ int64_t carry;
  if (threadIdx.x == 0) carry = 0;
  __syncthreads();
  const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
  for (int64_t base = 0; base < m; base += 1024) {
    const int64_t i = base + threadIdx.x;
    const int64_t v = i < m ? counts[i] : 0;
    int64_t incl = v;
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
      int64_t o = __shfl_up_sync(0xffffffffu, incl, off);
      if (lane >= off) incl += o;
    }
    if (lane == 31) warp_sums[warp] = incl;
    __syncthreads();
    if (warp == 0) {
      int64_t ws = warp_sums[lane];
#pragma unroll
      for (int off = 1; off < 32; off <<= 1) {
        int64_t o = __shfl_up_sync(0xffffffffu, ws, off);
        if (lane >= off) ws += o;
      }
      warp_sums[lane] = ws;  // inclusive over warps
    }
    __syncthreads();
    const int64_t before = carry + (warp > 0 ? warp_sums[warp - 1] : 0) + incl - v;
    if (i < m) offsets[i] = before;
    __syncthreads();
    if (threadIdx.x == 1023) carry = before + v;
    __syncthreads();
  }
  if (threadIdx.x == 0) offsets[m] = carry;
}

struct Dims {
  int n = 0;
  int64_t s[64];
};

template <class T>
__global__ void __launch_bounds__(kBlock) nonzero_write_kernel(const T* x, OffsetCalc<1> oc, int64_t n,
                                                               const int64_t* offsets, int64_t* out, Dims dims) {
  __shared__ int warp_sums[kBlock / 32];
  bool f[kNzItems];
  const int64_t first = (int64_t)blockIdx.x * kNzTile + (int64_t)threadIdx.x * kNzItems;
  const int c = nz_flags(x, oc, n, first, f);
  const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
  int incl = c;
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    int o = __shfl_up_sync(0xffffffffu, incl, off);
    if (lane >= off) incl += o;
  }
  if (lane == 31) warp_sums[warp] = incl;
  __syncthreads();
  int before = incl - c;
  for (int w = 0; w < warp; ++w) before += warp_sums[w];
  int64_t pos = offsets[blockIdx.x] + before;
  const int nd = dims.n;
#pragma unroll
  for (int i = 0; i < kNzItems; ++i) {
    if (!f[i]) continue;
    int64_t e = first + i;
    int64_t* row = out + pos * nd;
    for (int d = nd - 1; d >= 0; --d) {
      const int64_t q = e / dims.s[d];
      row[d] = e - q * dims.s[d];
      e = q;
    }
    ++pos;
  }
}

// ---------------------------------------------------------------------------------------------
// gather / scatter_add
// ---------------------------------------------------------------------------------------------

// oc over index's shape: offsets into (out, index, in with the gathered dim's stride zeroed).
template <class T>
__global__ void gather_kernel(T* out, const T* in, const int64_t* index, int64_t n, OffsetCalc<3> oc,
                              int64_t in_dim_stride, int64_t in_dim_size) {
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[3];
    oc.get(e, off);
    const int64_t v = index[off[1]];
    out[off[0]] = (v >= 0 && v < in_dim_size) ? in[off[2] + v * in_dim_stride] : T(0);
  }
}

struct ScatterGeom {
  int64_t J;           // index.size(dim)
  int64_t S;           // self.size(dim)
  int64_t idx_stride;  // strides along dim
  int64_t src_stride;
  int64_t self_stride;
};

// How a scattered value v combines into its destination d (scatter_add: Add; scatter_reduce: all),
// as the CPU's scatter_combine lambdas (csrc/cpu/index.cpp).
struct CombineAdd {
  template <class T>
  __device__ static T apply(T d, T v) { return dm::gadd(d, v); }
};
struct CombineMul {
  template <class T>
  __device__ static T apply(T d, T v) { return dm::gmul(d, v); }
};
struct CombineMax {  // a NaN from either side wins
  template <class T>
  __device__ static T apply(T d, T v) { return (v != v || v > d) ? v : d; }
};
struct CombineMin {
  template <class T>
  __device__ static T apply(T d, T v) { return (v != v || v < d) ? v : d; }
};
struct CombineAssign {
  template <class T>
  __device__ static T apply(T, T v) { return v; }
};

// One thread per line (all coordinates but `dim`): oc over the line shape gives offsets into
// (index, src, self); the line is walked in j order.
template <class T, class Combine = CombineAdd>
__global__ void scatter_add_lines_kernel(T* self, const T* src, const int64_t* index, int64_t lines, OffsetCalc<3> oc,
                                         ScatterGeom g) {
  for (int64_t L = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; L < lines; L += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[3];
    oc.get(L, off);
    for (int64_t j = 0; j < g.J; ++j) {
      const int64_t v = index[off[0] + j * g.idx_stride];
      if (v < 0 || v >= g.S) continue;
      T* d = self + off[2] + v * g.self_stride;
      *d = Combine::apply(*d, src[off[1] + j * g.src_stride]);
    }
  }
}

// packed[e] = ((L * S + v) * J + j) for element e = L * J + j, sentinel key lines*S if v is bad.
__global__ void scatter_pack_kernel(uint64_t* packed, int64_t P, int64_t lines, const int64_t* index, OffsetCalc<3> oc,
                                    ScatterGeom g) {
  const int64_t E = lines * g.J;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < P; e += (int64_t)gridDim.x * blockDim.x) {
    if (e >= E) {
      packed[e] = std::numeric_limits<uint64_t>::max();
      continue;
    }
    const int64_t L = e / g.J, j = e - L * g.J;
    int64_t off[3];
    oc.get(L, off);
    const int64_t v = index[off[0] + j * g.idx_stride];
    const int64_t key = (v < 0 || v >= g.S) ? lines * g.S : L * g.S + v;
    packed[e] = ((uint64_t)key * (uint64_t)g.J + (uint64_t)j);
  }
}

template <class T, class Combine = CombineAdd>
__global__ void scatter_add_sorted_kernel(T* self, const T* src, const uint64_t* packed, int64_t E, int64_t lines,
                                          OffsetCalc<3> oc, ScatterGeom g) {
  const uint64_t JS = (uint64_t)g.J;
  for (int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; p < E; p += (int64_t)gridDim.x * blockDim.x) {
    const uint64_t key = packed[p] / JS;
    if (key >= (uint64_t)(lines * g.S)) continue;
    if (p > 0 && packed[p - 1] / JS == key) continue;
    const int64_t L = (int64_t)(key / (uint64_t)g.S), v = (int64_t)(key % (uint64_t)g.S);
    int64_t off[3];
    oc.get(L, off);
    T* d = self + off[2] + v * g.self_stride;
    T acc = *d;
    for (int64_t q = p; q < E; ++q) {
      const uint64_t pq = packed[q];
      if (pq / JS != key) break;
      const int64_t j = (int64_t)(pq % JS);
      acc = Combine::apply(acc, src[off[1] + j * g.src_stride]);
    }
    *d = acc;
  }
}

// ---------------------------------------------------------------------------------------------
// Host helpers
// ---------------------------------------------------------------------------------------------

IndexSet make_index_set(const Tensor& t, const std::vector<Tensor>& idx, int dev, const char* op) {
  FLB_CHECK(!idx.empty(), ValueError, op, ": no index tensors");
  FLB_CHECK((int64_t)idx.size() <= t.dim(), IndexError, op, ": ", idx.size(), " indices for a ", t.dim(),
            "-d tensor");
  FLB_CHECK((int)idx.size() <= kMaxDims, NotImplementedError, op, ": more than ", kMaxDims,
            " indexed dims on CUDA");
  IndexSet is;
  is.k = (int)idx.size();
  const int64_t B = idx[0].numel();
  for (int j = 0; j < is.k; ++j) {
    const Tensor& ix = idx[j];
    check_on_device(ix, dev, op, "index");
    FLB_CHECK(ix.dtype == DType::Int64, TypeError, op, ": index tensors must be int64, got ", dtype_name(ix.dtype));
    FLB_CHECK(ix.is_contiguous() && ix.numel() == B, ValueError, op,
              ": index tensors must be contiguous and of one broadcast shape");
    is.ptr[j] = ix.data<int64_t>();
    is.size[j] = t.sizes[j];
    is.stride[j] = t.strides[j];
  }
  for (int j = is.k; j < kMaxDims; ++j) {
    is.ptr[j] = nullptr;
    is.size[j] = 1;
    is.stride[j] = 0;
  }
  return is;
}

OffsetCalc<1> tail_calc(const Tensor& t, int64_t from, const char* op) {
  Shape sizes(t.sizes.begin() + from, t.sizes.end()), strides(t.strides.begin() + from, t.strides.end());
  return make_offset_calc<1>(sizes, {&strides}, op);
}

int64_t tail_numel(const Tensor& t, int64_t from) {
  int64_t n = 1;
  for (int64_t d = from; d < t.dim(); ++d) n *= t.sizes[d];
  return n;
}

// a * b < 2^62 without overflow (a, b >= 0).
bool product_fits(int64_t a, int64_t b) {
  const int64_t lim = int64_t(1) << 62;
  return a == 0 || b == 0 || b <= lim / a;
}

}  // namespace

void index_gather(const Tensor& out_perm, const Tensor& src_perm, const std::vector<Tensor>& idx) {
  const char* op = "index";
  FLB_CHECK(src_perm.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor");
  const int dev = src_perm.device().index;
  check_on_device(out_perm, dev, op, "output");
  FLB_CHECK(out_perm.dtype == src_perm.dtype, TypeError, op, ": output dtype differs from source dtype");
  IndexSet is = make_index_set(src_perm, idx, dev, op);
  const int64_t B = idx[0].numel(), R = tail_numel(src_perm, is.k);
  FLB_CHECK(out_perm.numel() == B * R, ValueError, op, ": output has ", out_perm.numel(), " elements, expected ",
            B * R);
  if (B * R == 0) return;
  DeviceGuard g(dev);
  auto out_oc = make_offset_calc<1>({&out_perm}, op);
  auto rest_oc = tail_calc(src_perm, is.k, op);
  FLB_DISPATCH_ALL_TYPES(src_perm.dtype, op, [&] {
    using T = scalar_t;
    index_gather_kernel<T><<<grid_for(B * R, kBlock, dev), kBlock, 0, stream(dev)>>>(
        out_perm.data<T>(), src_perm.data<T>(), B, R, is, out_oc, rest_oc);
    FLB_CUDA_CHECK_LAUNCH("index_gather_kernel", dev);
  });
}

void index_put(const Tensor& dst_perm, const Tensor& values_perm, const std::vector<Tensor>& idx, bool accumulate) {
  const char* op = "index_put_";
  FLB_CHECK(dst_perm.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor");
  const int dev = dst_perm.device().index;
  check_on_device(values_perm, dev, op, "values");
  FLB_CHECK(values_perm.dtype == dst_perm.dtype, TypeError, op, ": values dtype differs from destination dtype");
  IndexSet is = make_index_set(dst_perm, idx, dev, op);
  const int64_t B = idx[0].numel(), R = tail_numel(dst_perm, is.k);
  FLB_CHECK(values_perm.numel() == B * R, ValueError, op, ": values have ", values_perm.numel(),
            " elements, expected ", B * R);
  if (B * R == 0) return;
  int64_t V = 1;
  bool v_fits = true;
  for (int j = 0; j < is.k; ++j) {
    v_fits = v_fits && product_fits(V, is.size[j]);
    if (v_fits) V *= is.size[j];
  }
  DeviceGuard g(dev);
  cudaStream_t s = stream(dev);
  auto dst_rest = tail_calc(dst_perm, is.k, op);
  auto val_oc = make_offset_calc<1>({&values_perm}, op);
  const bool sortable = v_fits && product_fits(V + 1, B);
  FLB_DISPATCH_ALL_TYPES(dst_perm.dtype, op, [&] {
    using T = scalar_t;
    if (!sortable) {
      index_put_serial_kernel<T><<<grid_for(R, kBlock, dev), kBlock, 0, s>>>(
          dst_perm.data<T>(), values_perm.data<T>(), B, R, is, dst_rest, val_oc, accumulate);
      FLB_CUDA_CHECK_LAUNCH("index_put_serial_kernel", dev);
      return;
    }
    const int64_t P = next_pow2(B);
    TempBuffer packed((size_t)P * sizeof(uint64_t), dev);
    pack_keys_kernel<<<grid_for(P, kBlock, dev), kBlock, 0, s>>>(packed.get<uint64_t>(), P, B, V, is);
    FLB_CUDA_CHECK_LAUNCH("pack_keys_kernel", dev);
    if (B > 1) bitonic_sort(packed.get<uint64_t>(), P, dev);
    const int threads = (int)std::min<int64_t>(kBlock, std::max<int64_t>(32, next_pow2(R)));
    dim3 grid((unsigned)std::min<int64_t>(ceil_div(R, threads), 65535), (unsigned)std::min<int64_t>(B, 65535));
    index_put_sorted_kernel<T><<<grid, threads, 0, s>>>(dst_perm.data<T>(), values_perm.data<T>(),
                                                        packed.get<uint64_t>(), B, R, V, is, dst_rest, val_oc,
                                                        accumulate);
    FLB_CUDA_CHECK_LAUNCH("index_put_sorted_kernel", dev);
  });
}

Tensor nonzero(const Tensor& t) {
  const char* op = "nonzero";
  FLB_CHECK(t.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor");
  const int dev = t.device().index;
  const int64_t n = t.numel();
  const int64_t nd = t.dim();
  FLB_CHECK(nd <= 64, NotImplementedError, op, ": tensors with more than 64 dims are not supported");
  if (n == 0) return empty({0, nd}, DType::Int64, t.device());
  DeviceGuard g(dev);
  cudaStream_t s = stream(dev);
  auto oc = make_offset_calc<1>({&t}, op);
  const int64_t tiles = ceil_div(n, kNzTile);
  FLB_CHECK(tiles <= (int64_t)std::numeric_limits<int32_t>::max(), NotImplementedError, op, ": tensor too large");
  TempBuffer counts((size_t)tiles * sizeof(int64_t), dev);
  TempBuffer offsets((size_t)(tiles + 1) * sizeof(int64_t), dev);
  Dims dims;
  dims.n = (int)nd;
  for (int64_t d = 0; d < nd; ++d) dims.s[d] = t.sizes[d];
  int64_t total = 0;
  FLB_DISPATCH_ALL_TYPES(t.dtype, op, [&] {
    using T = scalar_t;
    nonzero_count_kernel<T><<<(unsigned)tiles, kBlock, 0, s>>>(t.data<T>(), oc, n, counts.get<int64_t>());
    FLB_CUDA_CHECK_LAUNCH("nonzero_count_kernel", dev);
  });
  exclusive_scan_kernel<<<1, 1024, 0, s>>>(counts.get<int64_t>(), offsets.get<int64_t>(), tiles);
  FLB_CUDA_CHECK_LAUNCH("exclusive_scan_kernel", dev);
  memcpy_d2h(&total, offsets.get<int64_t>() + tiles, sizeof(int64_t), dev);
  Tensor out = empty({total, nd}, DType::Int64, t.device());
  if (total == 0) return out;
  FLB_DISPATCH_ALL_TYPES(t.dtype, op, [&] {
    using T = scalar_t;
    nonzero_write_kernel<T><<<(unsigned)tiles, kBlock, 0, s>>>(t.data<T>(), oc, n, offsets.get<int64_t>(),
                                                               out.data<int64_t>(), dims);
    FLB_CUDA_CHECK_LAUNCH("nonzero_write_kernel", dev);
  });
  return out;
}

void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  const char* op = "gather";
  FLB_CHECK(in.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor");
  const int dev = in.device().index;
  check_on_device(out, dev, op, "output");
  check_on_device(index, dev, op, "index");
  FLB_CHECK(index.dtype == DType::Int64, TypeError, op, ": index must be int64");
  FLB_CHECK(out.dtype == in.dtype, TypeError, op, ": output dtype differs from input dtype");
  FLB_CHECK(in.dim() > 0 && dim >= 0 && dim < in.dim(), IndexError, op, ": dim ", dim, " out of range");
  FLB_CHECK(index.dim() == in.dim() && out.sizes == index.sizes, ValueError, op, ": index ", shape_str(index.sizes),
            " / output ", shape_str(out.sizes), " / input ", shape_str(in.sizes), " do not match");
  for (int64_t d = 0; d < in.dim(); ++d)
    FLB_CHECK(d == dim || index.sizes[d] <= in.sizes[d], ValueError, op, ": index ", shape_str(index.sizes),
              " does not fit input ", shape_str(in.sizes));
  const int64_t n = index.numel();
  if (n == 0) return;
  DeviceGuard g(dev);
  Shape in_st = in.strides;
  in_st[dim] = 0;
  auto oc = make_offset_calc<3>(index.sizes, {&out.strides, &index.strides, &in_st}, op);
  FLB_DISPATCH_ALL_TYPES(in.dtype, op, [&] {
    using T = scalar_t;
    gather_kernel<T><<<grid_for(n, kBlock, dev), kBlock, 0, stream(dev)>>>(out.data<T>(), in.data<T>(),
                                                                         index.data<int64_t>(), n, oc,
                                                                         in.strides[dim], in.sizes[dim]);
    FLB_CUDA_CHECK_LAUNCH("gather_kernel", dev);
  });
}

namespace {

// scatter_add's launcher with the combine as a parameter (scatter_add: Add; scatter_reduce: all).
template <class Combine>
void scatter_combine(const char* op, const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  FLB_CHECK(self.device().is_cuda(), RuntimeError, op, ": expected a CUDA tensor");
  const int dev = self.device().index;
  check_on_device(index, dev, op, "index");
  check_on_device(src, dev, op, "src");
  FLB_CHECK(index.dtype == DType::Int64, TypeError, op, ": index must be int64");
  FLB_CHECK(src.dtype == self.dtype, TypeError, op, ": src dtype differs from self dtype");
  FLB_CHECK(self.dim() > 0 && dim >= 0 && dim < self.dim(), IndexError, op, ": dim ", dim, " out of range");
  FLB_CHECK(index.dim() == self.dim() && src.dim() == self.dim(), ValueError, op, ": index ",
            shape_str(index.sizes), ", src ", shape_str(src.sizes), " and self ", shape_str(self.sizes),
            " must have the same number of dims");
  for (int64_t d = 0; d < self.dim(); ++d)
    FLB_CHECK(index.sizes[d] <= src.sizes[d] && (d == dim || index.sizes[d] <= self.sizes[d]), ValueError, op,
              ": index ", shape_str(index.sizes), " does not fit src ", shape_str(src.sizes), " / self ",
              shape_str(self.sizes));
  const int64_t E = index.numel();
  if (E == 0) return;
  DeviceGuard g(dev);
  cudaStream_t s = stream(dev);
  ScatterGeom geo{index.sizes[dim], self.sizes[dim], index.strides[dim], src.strides[dim], self.strides[dim]};
  Shape line_sizes = index.sizes;
  line_sizes[dim] = 1;
  const int64_t lines = E / geo.J;
  auto oc = make_offset_calc<3>(line_sizes, {&index.strides, &src.strides, &self.strides}, op);
  const bool sortable = lines < 4096 && geo.J >= 64 && product_fits(lines, geo.S + 1) &&
                        product_fits(lines * (geo.S + 1), geo.J);
  FLB_DISPATCH_NUMERIC(self.dtype, op, [&] {
    using T = scalar_t;
    if (!sortable) {
      scatter_add_lines_kernel<T, Combine><<<grid_for(lines, kBlock, dev), kBlock, 0, s>>>(
          self.data<T>(), src.data<T>(), index.data<int64_t>(), lines, oc, geo);
      FLB_CUDA_CHECK_LAUNCH("scatter_add_lines_kernel", dev);
      return;
    }
    const int64_t P = next_pow2(E);
    TempBuffer packed((size_t)P * sizeof(uint64_t), dev);
    scatter_pack_kernel<<<grid_for(P, kBlock, dev), kBlock, 0, s>>>(packed.get<uint64_t>(), P, lines,
                                                                    index.data<int64_t>(), oc, geo);
    FLB_CUDA_CHECK_LAUNCH("scatter_pack_kernel", dev);
    bitonic_sort(packed.get<uint64_t>(), P, dev);
    scatter_add_sorted_kernel<T, Combine><<<grid_for(E, kBlock, dev), kBlock, 0, s>>>(
        self.data<T>(), src.data<T>(), packed.get<uint64_t>(), E, lines, oc, geo);
    FLB_CUDA_CHECK_LAUNCH("scatter_add_sorted_kernel", dev);
  });
}

}  // namespace

void scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  scatter_combine<CombineAdd>("scatter_add_", self, dim, index, src);
}

void scatter_reduce(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, ScatterReduce op) {
  const char* name = "scatter_reduce_";
  switch (op) {
    case ScatterReduce::Sum: return scatter_combine<CombineAdd>(name, self, dim, index, src);
    case ScatterReduce::Prod: return scatter_combine<CombineMul>(name, self, dim, index, src);
    case ScatterReduce::Amax: return scatter_combine<CombineMax>(name, self, dim, index, src);
    case ScatterReduce::Amin: return scatter_combine<CombineMin>(name, self, dim, index, src);
    case ScatterReduce::Assign: return scatter_combine<CombineAssign>(name, self, dim, index, src);
  }
  throw ValueError(str_cat(name, ": unknown reduction"));
}

}  // namespace flambeau::cuda
