// Strided copy with dtype conversion, and fill. Conversions follow C++ static_cast, except into
// bool (x != 0) and floating -> narrow integers, which are PyTorch's (core/convert.h).
#include "core/convert.h"
#include "core/dtype.h"
#include "core/view.h"
#include "cpu/kernels.h"
#include "cpu/loops.h"
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <emmintrin.h>
#include "cpu/capability.h"
#include "cpu/parallel.h"
#include "cpu/simd/simd.h"

namespace flambeau::cpu {

template <class To, class From>
static inline To convert(From v) {
  return convert_element<To, From>(v);
}

// Contiguous same-dtype copies are one memcpy per thread. One core cannot saturate the memory
// system (a single-threaded 128 MiB copy moved ~10 GB/s on the 2-core Cascade Lake guest where two
// threads move ~20), so from kParallelCopyBytes on the range is cut into one piece per thread, at
// cache-line boundaries so that no line is written by two cores. Below it, waking the pool costs
// more than it saves.
constexpr size_t kParallelCopyBytes = size_t(1) << 20;

static void parallel_memcpy(char* d, const char* s, size_t nbytes) {
  if (nbytes < kParallelCopyBytes) {
    std::memcpy(d, s, nbytes);
    return;
  }
  // Line k of the destination covers bytes [k * 64 - off, (k + 1) * 64 - off) of the range.
  const size_t off = (size_t)(reinterpret_cast<uintptr_t>(d) & 63);
  const int64_t lines = (int64_t)((nbytes + off + 63) / 64);
  parallel_for(lines, (int64_t)(kParallelCopyBytes / 128), [&](int64_t b, int64_t e) {
    size_t lo = b == 0 ? 0 : (size_t)b * 64 - off, hi = std::min(nbytes, (size_t)e * 64 - off);
    if (lo < hi) std::memcpy(d + lo, s + lo, hi - lo);
  });
}

// Same-dtype copies whose innermost (merged) dim is contiguous in one operand and strided in the
// other, while the next dim out is contiguous in that other one: a transpose (x.t().contiguous(),
// permute(...).contiguous()). The plain walk would touch one element per cache line on one side;
// here both sides are walked in kTile x kTile tiles, so every line fetched is used whole
// (16: 2048^2 float transpose 55 -> 27 ms on the 2-core Cascade Lake guest; 32 gave 42, 8 gave 25,
// PyTorch 15-18: power-of-two strides still cost us L1 set conflicts).
// Returns false when the layout is not of that shape.
constexpr int64_t kTile = 16;

// Byte offsets in dst and src of batch index `batch` of a walk whose last two dims are a tile's rows
// and columns (the batch runs over the dims before them, row-major).
static void batch_offsets(const StridedWalk<2>& w, int64_t batch, int64_t& doff, int64_t& soff) {
  doff = soff = 0;
  for (int64_t d = (int64_t)w.sizes.size() - 3; d >= 0; --d) {
    const int64_t i = batch % w.sizes[d];
    batch /= w.sizes[d];
    doff += i * w.strides[0][d];
    soff += i * w.strides[1][d];
  }
}

template <class T>
static bool copy_transposed(const Tensor& dst, const Tensor& src) {
  constexpr int64_t E = sizeof(T);
  StridedWalk<2> w({&dst, &src});
  const int64_t nd = (int64_t)w.sizes.size();
  if (nd < 2) return false;
  const int64_t R = w.sizes[nd - 2], C = w.sizes[nd - 1];  // dst rows: C contiguous elements
  const int64_t dr = w.strides[0][nd - 2], dc = w.strides[0][nd - 1];
  const int64_t sr = w.strides[1][nd - 2], sc = w.strides[1][nd - 1];
  // Either dst is contiguous along C and src along R, or the other way round.
  const bool dst_c = dc == E && sr == E && sc != E;
  const bool src_c = sc == E && dr == E && dc != E;
  if (!(dst_c || src_c) || R < kTile / 2 || C < kTile / 2) return false;
  const int64_t batch = w.numel / (R * C);
  const int64_t rt = (R + kTile - 1) / kTile, ct = (C + kTile - 1) / kTile;
  char* const d0 = static_cast<char*>(dst.data_ptr());
  const char* const s0 = static_cast<const char*>(src.data_ptr());
  // 4-byte elements with AVX2 (the AVX-512 capability included): register transposes. The strides
  // must be whole elements (they are, for tensors of this element size).
  simd::Transpose32Fn tr32 = nullptr;
  if constexpr (E == 4) {
    const Capability cap = capability();
    const bool whole = dr % E == 0 && dc % E == 0 && sr % E == 0 && sc % E == 0;
    if (whole && (cap == Capability::AVX2 || cap == Capability::AVX512)) tr32 = simd::transpose32_avx2();
  }
  parallel_for(batch * rt, std::max<int64_t>(1, kGrain / (kTile * C)), [&](int64_t b, int64_t e) {
    for (int64_t job = b; job < e; ++job) {
      int64_t doff, soff;
      batch_offsets(w, job / rt, doff, soff);
      const int64_t r0 = (job % rt) * kTile, r1 = std::min(R, r0 + kTile);
      for (int64_t ti = 0; ti < ct; ++ti) {
        const int64_t c0 = ti * kTile, c1 = std::min(C, c0 + kTile);
        if (tr32) {  // the tile in 8x8 register blocks (element strides: all are multiples of 4 bytes)
          uint32_t* d = reinterpret_cast<uint32_t*>(d0 + doff);
          const uint32_t* s = reinterpret_cast<const uint32_t*>(s0 + soff);
          if (dst_c)  // dst (r, c) at r dr + c; src (r, c) at r + c sc
            tr32(d + r0 * (dr / E) + c0, dr / E, s + c0 * (sc / E) + r0, sc / E, r1 - r0, c1 - c0);
          else        // dst (r, c) at r + c dc; src (r, c) at r sr + c
            tr32(d + c0 * (dc / E) + r0, dc / E, s + r0 * (sr / E) + c0, sr / E, c1 - c0, r1 - r0);
          continue;
        }
        if (dst_c) {  // read src down its contiguous R, write dst rows
          for (int64_t c = c0; c < c1; ++c)
            for (int64_t r = r0; r < r1; ++r)
              *reinterpret_cast<T*>(d0 + doff + r * dr + c * E) = *reinterpret_cast<const T*>(s0 + soff + r * E + c * sc);
        } else {
          for (int64_t c = c0; c < c1; ++c)
            for (int64_t r = r0; r < r1; ++r)
              *reinterpret_cast<T*>(d0 + doff + r * E + c * dc) = *reinterpret_cast<const T*>(s0 + soff + r * sr + c * E);
        }
      }
    }
  });
  return true;
}

// Same-dtype copies into rows of a few elements (C <= 16, contiguous in dst) from C planes (contiguous
// along the next dim out, R): NCHW -> NHWC for images of few channels (x.permute(0, 2, 3, 1) of
// RGB images). The walk's rows would be C elements long, a per-row loop setup for every 3 elements
// (0.3x PyTorch); here each plane's run of R elements is read straight and written C apart.
template <class T>
static bool copy_interleave(const Tensor& dst, const Tensor& src) {
  constexpr int64_t E = sizeof(T);
  StridedWalk<2> w({&dst, &src});
  const int64_t nd = (int64_t)w.sizes.size();
  if (nd < 2) return false;
  const int64_t R = w.sizes[nd - 2], C = w.sizes[nd - 1];
  const int64_t dr = w.strides[0][nd - 2], dc = w.strides[0][nd - 1];
  const int64_t sr = w.strides[1][nd - 2], sc = w.strides[1][nd - 1];
  if (!(dc == E && dr == C * E && sr == E && sc % E == 0) || C < 2 || C > 16 || R < 16) return false;
  const int64_t batch = w.numel / (R * C);
  char* const d0 = static_cast<char*>(dst.data_ptr());
  const char* const s0 = static_cast<const char*>(src.data_ptr());
  parallel_for(batch, std::max<int64_t>(1, kGrain / (R * C)), [&](int64_t b, int64_t e) {
    for (int64_t job = b; job < e; ++job) {
      int64_t doff, soff;
      batch_offsets(w, job, doff, soff);
      T* __restrict o = reinterpret_cast<T*>(d0 + doff);
      const T* __restrict x = reinterpret_cast<const T*>(s0 + soff);
      const int64_t cc = C, rr = R, ps = sc / E;
      for (int64_t c = 0; c < cc; ++c)
        for (int64_t r = 0; r < rr; ++r) o[r * cc + c] = x[c * ps + r];
    }
  });
  return true;
}

// Same-dtype copies whose rows (the merged innermost dim) are contiguous on both sides, at least 64
// bytes long: a memmove per row of 1 KiB and more (libc's, with the CPU's widest moves), shorter ones
// inline. cat along an inner dim and x[:, a:b] = y write such rows; the element loop
// (SSE2, one 16-byte move per step) made cat([x, y], 1) of [1024, 1024] floats 0.74x PyTorch.
static bool copy_rows(const Tensor& dst_in, const Tensor& src_in) {
  const int64_t E = dst_in.element_size();
  // The outer dims in the source's order (largest stride first; the last dim, the rows, stays
  // innermost): the rows are then read in sequence and written a few streams apart. (Measured on
  // x.view(B, T, H, D).transpose(1, 2).reshape(...), 0.65x PyTorch, this order gained ~5%; the
  // rest was the walk's per-row cost, see StridedWalk::walk.)
  const int64_t nd = dst_in.dim();
  std::vector<int64_t> order((size_t)std::max<int64_t>(nd, 0));
  for (int64_t d = 0; d < nd; ++d) order[(size_t)d] = d;
  if (nd > 2)
    std::stable_sort(order.begin(), order.end() - 1, [&](int64_t a, int64_t b) {
      return std::abs(src_in.strides[a]) > std::abs(src_in.strides[b]);
    });
  const Tensor dst = nd > 2 ? permute(dst_in, order) : dst_in;
  const Tensor src = nd > 2 ? permute(src_in, order) : src_in;
  StridedWalk<2> w({&dst, &src});
  if (w.sizes.empty() || w.strides[0].back() != E || w.strides[1].back() != E || w.sizes.back() * E < 64) return false;
  w.run(base_ptrs<2>({&dst, &src}), [E](std::array<char*, 2>& p, int64_t n, const std::array<int64_t, 2>&) {
    const size_t bytes = (size_t)(n * E);
    if (bytes >= 1024) {
      std::memmove(p[0], p[1], bytes);
      return;
    }
    // Short rows (attention heads' 32-64 floats) inline, 16 bytes at a time: a libc call per
    // 128-byte row cost as much as the copy. (ops::copy_ stages a source that overlaps dst.)
    char* __restrict d = p[0];
    const char* __restrict s = p[1];
    size_t i = 0;
    for (; i + 16 <= bytes; i += 16)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
    for (; i < bytes; ++i) d[i] = s[i];
  });
  return true;
}

// Contiguous float32 <-> float64 in the AVX2 leaf (simd.h); false for other pairs or without AVX2.
template <class To, class From>
static bool convert_simd(To*, const From*, int64_t) {
  return false;
}
template <class To, class From, class Fn>
static bool convert_simd_run(Fn fn, To* o, const From* x, int64_t n) {
  parallel_for(n, kGrain, [=](int64_t b, int64_t e) { fn(o + b, x + b, e - b); });
  return true;
}
static bool convert_simd(double* o, const float* x, int64_t n) {
  return capability() != Capability::Default && convert_simd_run(simd::f32_to_f64_avx2(), o, x, n);
}
static bool convert_simd(float* o, const double* x, int64_t n) {
  return capability() != Capability::Default && convert_simd_run(simd::f64_to_f32_avx2(), o, x, n);
}

void copy(const Tensor& dst, const Tensor& src) {
  if (dst.dtype == src.dtype && dst.is_contiguous() && src.is_contiguous()) {
    size_t nbytes = (size_t)dst.numel() * dst.element_size();
    if (nbytes) parallel_memcpy(static_cast<char*>(dst.data_ptr()), static_cast<const char*>(src.data_ptr()), nbytes);
    return;
  }
  if (dst.dtype == src.dtype && dst.numel() >= 4096) {
    bool done = false;
    switch (dst.element_size()) {
      case 1: done = copy_interleave<uint8_t>(dst, src); break;
      case 2: done = copy_interleave<uint16_t>(dst, src); break;
      case 4: done = copy_transposed<uint32_t>(dst, src) || copy_interleave<uint32_t>(dst, src); break;
      case 8: done = copy_transposed<uint64_t>(dst, src) || copy_interleave<uint64_t>(dst, src); break;
      default: break;
    }
    if (done) return;
  }
  if (dst.dtype == src.dtype && copy_rows(dst, src)) return;
  const bool both_contiguous = dst.is_contiguous() && src.is_contiguous() && dst.numel() == src.numel();
  FLB_DISPATCH_ALL_TYPES(dst.dtype, "copy", [&] {
    using To = scalar_t;
    FLB_DISPATCH_ALL_TYPES(src.dtype, "copy", [&] {
      using From = scalar_t;
      if (both_contiguous) {  // a conversion (x.double(), x.long()): restrict locals, so it vectorises
        To* const o0 = dst.data<To>();
        const From* const x0 = src.data<From>();
        if (convert_simd(o0, x0, dst.numel())) return;
        parallel_for(dst.numel(), kGrain, [=](int64_t b, int64_t e) {
          To* __restrict o = o0;
          const From* __restrict x = x0;
          for (int64_t i = b; i < e; ++i) o[i] = convert<To, From>(x[i]);
        });
        return;
      }
      unary_loop<To, From>(dst, src, [](From v) { return convert<To, From>(v); });
    });
  });
}

void fill(const Tensor& dst, const Scalar& value) {
  FLB_DISPATCH_ALL_TYPES(dst.dtype, "fill_", [&] {
    const scalar_t v = value.to<scalar_t>();
    if (dst.is_contiguous()) {
      // One std::fill_n per thread from a megabyte on, as parallel_memcpy (the strided walk below
      // ran on one thread: 1M floats took 3x PyTorch's time).
      scalar_t* o = dst.data<scalar_t>();
      const int64_t grain = std::max<int64_t>(1, (int64_t)kParallelCopyBytes / (int64_t)sizeof(scalar_t));
      // All-zero bytes (zeros(), +0.0, false): memset, libc's widest stores (fill_n's SSE2 loop made
      // zeros(4096, 1024) 0.8x PyTorch).
      scalar_t zero{};
      if (std::memcmp(&v, &zero, sizeof v) == 0) {
        parallel_for(dst.numel(), grain, [o](int64_t b, int64_t e) { std::memset(o + b, 0, sizeof(scalar_t) * (size_t)(e - b)); });
        return;
      }
      parallel_for(dst.numel(), grain, [o, v](int64_t b, int64_t e) { std::fill_n(o + b, e - b, v); });
      return;
    }
    StridedWalk<1> w({&dst});
    w.run(base_ptrs<1>({&dst}), [&](std::array<char*, 1>& p, int64_t n, const std::array<int64_t, 1>& s) {
      if (s[0] == (int64_t)sizeof(scalar_t)) {
        scalar_t* o = reinterpret_cast<scalar_t*>(p[0]);
        for (int64_t i = 0; i < n; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<scalar_t*>(p[0] + i * s[0]) = v;
      }
    });
  });
}

// Elements between consecutive blocks t[o] (o over the dims before d, flattened) when every block is
// contiguous and the blocks are evenly spaced; -1 otherwise. A contiguous tensor's pitch is its
// block size; a chunk of a contiguous tensor along dim d (x.chunk(4, 1)) has the parent's row.
int64_t block_pitch(const Tensor& t, int64_t d) {
  int64_t expect = 1;  // contiguous block: dims >= d
  for (int64_t j = t.dim() - 1; j >= d; --j) {
    if (t.sizes[j] != 1 && t.strides[j] != expect) return -1;
    expect *= t.sizes[j];
  }
  int64_t pitch = 0, span = 1;  // dims < d: one positive stride, in row-major order
  bool found = false;
  for (int64_t j = d - 1; j >= 0; --j) {
    if (t.sizes[j] == 1) continue;
    if (!found) pitch = t.strides[j], found = true;
    else if (t.strides[j] != pitch * span) return -1;
    span *= t.sizes[j];
  }
  if (!found) return expect;
  return pitch > 0 ? pitch : -1;
}

void cat_rows(const Tensor& out, const std::vector<Tensor>& parts, int64_t d) {
  int64_t outer = 1;
  for (int64_t j = 0; j < d; ++j) outer *= out.sizes[j];
  const int64_t E = out.element_size();
  std::vector<int64_t> bytes(parts.size());  // each input's block per outer index
  std::vector<int64_t> pitch(parts.size());  // bytes between a part's blocks (its block when contiguous)
  std::vector<const char*> src(parts.size());
  int64_t row = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    bytes[i] = outer > 0 ? parts[i].numel() / outer * E : 0;
    pitch[i] = block_pitch(parts[i], d) * E;
    src[i] = static_cast<const char*>(parts[i].data_ptr());
    row += bytes[i];
  }
  char* const dst = static_cast<char*>(out.data_ptr());
  const size_t np = parts.size();
  if (outer == 1) {  // cat along the first dim (stack of a batch): each part one block
    if ((int64_t)np * 4 * (int64_t)kParallelCopyBytes < row * 2) {  // a few large parts: each copy split
      char* p = dst;
      for (size_t i = 0; i < np; ++i) {
        parallel_memcpy(p, src[i], (size_t)bytes[i]);
        p += bytes[i];
      }
      return;
    }
    std::vector<int64_t> at(np + 1, 0);
    for (size_t i = 0; i < np; ++i) at[i + 1] = at[i] + bytes[i];
    parallel_for((int64_t)np, std::max<int64_t>(1, (int64_t)np * kGrain * 4 / std::max<int64_t>(row, 1)), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        if (bytes[i]) std::memcpy(dst + at[i], src[i], (size_t)bytes[i]);
    });
    return;
  }
  parallel_for(outer, std::max<int64_t>(1, kGrain * 4 / std::max<int64_t>(row, 1)), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      char* p = dst + o * row;
      for (size_t i = 0; i < np; ++i) {
        if (bytes[i]) std::memcpy(p, src[i] + o * pitch[i], (size_t)bytes[i]);
        p += bytes[i];
      }
    }
  });
}

// out = x inside a `value` border: out's last-dim rows in one parallel pass, each either all value
// (outside x in an outer dim) or value, x's row, value. x contiguous; before[d] >= 0 per dim.
void pad_constant(const Tensor& out, const Tensor& x, const std::vector<int64_t>& before, const Scalar& value) {
  const int64_t nd = out.dim();
  if (out.numel() == 0) return;
  FLB_CHECK(nd <= 16, RuntimeError, "pad: at most 16 dims");
  const int64_t OW = out.sizes[nd - 1], W = x.sizes[nd - 1], L = before[nd - 1];
  const int64_t rows = out.numel() / OW;
  // The outer dims' sizes and offsets in local arrays: read through the vectors, every store of the
  // row loops reloaded them (-fno-strict-aliasing), a third of the time of a CIFAR batch's pad.
  int64_t osz[16], isz[16], bef[16];
  for (int64_t d = 0; d < nd; ++d) osz[d] = out.sizes[d], isz[d] = x.sizes[d], bef[d] = before[(size_t)d];
  FLB_DISPATCH_ALL_TYPES(out.dtype, "pad", [&] {
    using T = scalar_t;
    const T v = value.to<T>();
    T* const o0 = out.data<T>();
    const T* const x0 = x.data<T>();
    parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(OW, 1)), [&](int64_t r0, int64_t r1) {
      int64_t c[16] = {0}, os[16], is[16], bs[16];  // out coordinates of the current row
      const int64_t no = nd - 1;
      for (int64_t d = 0; d < no; ++d) os[d] = osz[d], is[d] = isz[d], bs[d] = bef[d];
      for (int64_t d = no - 1, rem = r0; d >= 0; --d) {
        c[d] = rem % os[d];
        rem /= os[d];
      }
      const T val = v;
      const int64_t ow = OW, w = W, l = L;
      for (int64_t r = r0; r < r1; ++r) {
        T* __restrict o = o0 + r * ow;
        int64_t xi = 0;  // x's row, or -1 outside it
        for (int64_t d = 0; d < no && xi >= 0; ++d) {
          const int64_t i = c[d] - bs[d];
          xi = (i < 0 || i >= is[d]) ? -1 : xi * is[d] + i;
        }
        // Plain loops (they vectorise): a memcpy and two fills per row cost more than a CIFAR
        // image row itself (40 floats).
        if (xi < 0 || w == 0) {
          for (int64_t i = 0; i < ow; ++i) o[i] = val;
        } else {
          const T* __restrict xr = x0 + xi * w;
          for (int64_t i = 0; i < l; ++i) o[i] = val;
          for (int64_t i = 0; i < w; ++i) o[l + i] = xr[i];
          for (int64_t i = l + w; i < ow; ++i) o[i] = val;
        }
        for (int64_t d = no - 1; d >= 0; --d) {  // next row
          if (++c[d] < os[d]) break;
          c[d] = 0;
        }
      }
    });
  });
}

// Reflect / replicate / circular padding of x's last k dims (x contiguous, viewed as [planes,
// I_1..I_k]; out as [planes, O_1..O_k]): out[p, i_1..i_k] = x[p, maps[0][i_1], .., maps[k-1][i_k]].
// Each output row (the last dim) comes from the input row its outer indices map to: the run where
// the last map is the identity (the unpadded middle) is a plain copy, the edges a gather. Rows are
// visited with a running multi-index (no division per row). Before: one index_select per padded dim
// (reflect pad of CIFAR batches 0.41x PyTorch).
namespace {
struct PadPlan {
  int64_t k, OW, W, rows_per_plane, in_plane, mid;  // mid: where the last map's identity run starts (-1: none)
  std::vector<int64_t> osz, istride;                // the outer padded dims (k - 1 of them): out sizes, x strides
};
PadPlan pad_plan(const Shape& out, const Shape& in, const std::vector<std::vector<int64_t>>& maps) {
  PadPlan q;
  q.k = (int64_t)maps.size();
  const int64_t nd = (int64_t)out.size();
  q.OW = out[nd - 1];
  q.W = in[nd - 1];
  q.rows_per_plane = 1;
  q.in_plane = 1;
  for (int64_t j = 0; j < q.k; ++j) q.in_plane *= in[nd - q.k + j];
  for (int64_t j = 0; j + 1 < q.k; ++j) q.rows_per_plane *= out[nd - q.k + j];
  q.osz.resize((size_t)std::max<int64_t>(q.k - 1, 0));
  q.istride.resize(q.osz.size());
  int64_t st = q.W;
  for (int64_t j = q.k - 2; j >= 0; --j) {
    q.osz[(size_t)j] = out[nd - q.k + j];
    q.istride[(size_t)j] = st;
    st *= in[nd - q.k + j];
  }
  const std::vector<int64_t>& m = maps[(size_t)q.k - 1];
  q.mid = -1;
  for (int64_t i = 0; i + q.W <= q.OW && q.mid < 0; ++i) {
    bool run = true;
    for (int64_t t = 0; t < q.W && run; ++t) run = m[(size_t)(i + t)] == t;
    if (run) q.mid = i;
  }
  return q;
}

// Calls f(row r, x offset of its input row) for rows [r0, r1) of out's row order. The plane is
// carried along with the multi-index: a division per row (r / rows_per_plane) was a sixth of reflect
// pad's time on CIFAR batches (rows of 40 floats).
template <class F>
void pad_rows(const PadPlan& q, const std::vector<std::vector<int64_t>>& maps, int64_t r0, int64_t r1, F&& f) {
  const int64_t nk = q.k - 1;
  int64_t c[16] = {0};  // the outer padded dims' output indices (k <= 3 from F.pad; 16 for safety)
  int64_t rem = r0 % q.rows_per_plane;
  int64_t plane_off = r0 / q.rows_per_plane * q.in_plane;
  for (int64_t j = nk - 1; j >= 0; --j) {
    c[j] = rem % q.osz[(size_t)j];
    rem /= q.osz[(size_t)j];
  }
  for (int64_t r = r0; r < r1; ++r) {
    int64_t xrow = plane_off;
    for (int64_t j = 0; j < nk; ++j) xrow += maps[(size_t)j][(size_t)c[j]] * q.istride[(size_t)j];
    f(r, xrow);
    int64_t j = nk - 1;
    for (; j >= 0; --j) {
      if (++c[j] < q.osz[(size_t)j]) break;
      c[j] = 0;
    }
    if (j < 0) plane_off += q.in_plane;  // every index wrapped: the next plane
  }
}
}  // namespace

void pad_gather(const Tensor& out, const Tensor& x, const std::vector<std::vector<int64_t>>& maps) {
  if (out.numel() == 0) return;
  FLB_CHECK(maps.size() <= 16, RuntimeError, "pad: at most 16 padded dims");
  const PadPlan q = pad_plan(out.sizes, x.sizes, maps);
  const int64_t rows = out.numel() / q.OW;
  FLB_DISPATCH_ALL_TYPES(out.dtype, "pad", [&] {
    using T = scalar_t;
    T* const o0 = out.data<T>();
    const T* const x0 = x.data<T>();
    const int64_t* const m = maps[(size_t)q.k - 1].data();
    const int64_t OW = q.OW, W = q.W, mid = q.mid;
    parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(OW, 1)), [&](int64_t r0, int64_t r1) {
      pad_rows(q, maps, r0, r1, [&](int64_t r, int64_t xrow) {
        // Locals (read once per row): through the captures, each store would reload them.
        const int64_t ow = OW, w = W, md = mid;
        const int64_t* __restrict mp = m;
        const T* __restrict xr = x0 + xrow;
        T* __restrict o = o0 + r * ow;
        if (md < 0) {
          for (int64_t i = 0; i < ow; ++i) o[i] = xr[mp[i]];
          return;
        }
        for (int64_t i = 0; i < md; ++i) o[i] = xr[mp[i]];
        for (int64_t t = 0; t < w; ++t) o[md + t] = xr[t];
        for (int64_t i = md + w; i < ow; ++i) o[i] = xr[mp[i]];
      });
    });
  });
}

// The adjoint: gx[p, maps..] += g[p, i..] (gx zeroed here). Planes in parallel, each plane's rows in
// order on one thread (reflected rows and columns fold onto the same input elements).
void pad_gather_backward(const Tensor& gx, const Tensor& g, const std::vector<std::vector<int64_t>>& maps) {
  FLB_CHECK(maps.size() <= 16, RuntimeError, "pad: at most 16 padded dims");
  FLB_DISPATCH_FLOATING(g.dtype, "pad_backward", [&] {
    using T = scalar_t;
    T* const gx0 = gx.data<T>();
    std::fill(gx0, gx0 + gx.numel(), T(0));
    if (g.numel() == 0) return;
    const PadPlan q = pad_plan(g.sizes, gx.sizes, maps);
    const T* const g0 = g.data<T>();
    const int64_t* const m = maps[(size_t)q.k - 1].data();
    const int64_t OW = q.OW, rpp = q.rows_per_plane;
    const int64_t planes = g.numel() / (rpp * OW);
    parallel_for(planes, std::max<int64_t>(1, kGrain / std::max<int64_t>(rpp * OW, 1)), [&](int64_t p0, int64_t p1) {
      pad_rows(q, maps, p0 * rpp, p1 * rpp, [&](int64_t r, int64_t xrow) {
        const int64_t ow = OW;
        const int64_t* __restrict mp = m;
        T* xr = gx0 + xrow;
        const T* __restrict gr = g0 + r * ow;
        for (int64_t i = 0; i < ow; ++i) xr[mp[i]] += gr[i];
      });
    });
  });
}

}  // namespace flambeau::cpu
