// Quantized (int8) kernels for torch.ao.nn.quantized: Linear, Conv2d and the dynamic Linear.
//
// The arithmetic is fbgemm's (what PyTorch's x86/fbgemm engine runs), so that results agree with
// PyTorch's quantized modules:
//   * activations are uint8 (quint8, zero point a_zp), weights int8 (qint8, one zero point and scale
//     per output channel, or one for all); products accumulate exactly in int32 and the zero points
//     are taken out with row/column sums: raw = sum_k (a - a_zp)(w - w_zp).
//   * static output (requantize, fbgemm's ReQuantizeOutput with a float bias):
//       y = clamp(cvt((float(raw) + bias[j] / act_times_w_scale[j]) * multiplier[j]) + out_zp,
//                 relu ? out_zp : 0, 255)
//     with act_times_w_scale = float(a_scale) * w_scale[j] and multiplier = that / float(out_scale),
//     computed by the caller in float32 as PyTorch does; cvt is vcvtps2dq (round half to even, INT32_MIN
//     beyond int32 and for NaN, so such values give the lower bound, as in fbgemm; quantized_scalar.h).
//   * dynamic output (ReQuantizeForFloat, its AVX2 form): y = fma(float(raw), a_scale * w_scale[j], bias[j]), where the
//     activation is quantized here with fbgemm's packing rule round(fma(x, 1/scale, zp)) and the
//     qparams of quant_utils::ChooseQuantizationParams (computed by the caller).
// fbgemm's AVX2 and AVX-512 kernels add pairs of adjacent u8*s8 products in int16 with saturation
// (vpmaddubsw); on a CPU with AVX-512 VNNI it runs vpdpbusd instead, which sums exactly. Both are
// reproduced, chosen by the same hardware test (cpu::hardware_has_avx512_vnni), so full-range
// activations give PyTorch's sums on either kind of CPU. PyTorch's qconfigs use reduce_range
// (activations in [0, 127]) so that saturation never happens in practice.
//
// The GEMM: the weights (N x K, K contiguous) are packed into panels of the leaf's vector width, 4 k per
// int32 lane (layout in simd/quantized_simd.h), and the SIMD leaves run register-blocked micro-kernels
// over them: quantized_amx_avx512.cpp (AMX tdpbusd, exact; where cpu::int8_amx_enabled() and the AVX-512
// capability is in force), quantized_vnni_avx512.cpp (vpdpbusd, exact; where the CPU has VNNI, AMX
// aside), quantized_avx512.cpp (AVX-512BW saturating, and the AVX-512 epilogues),
// quantized_avx2.cpp (saturating and exact); the portable form below is the reference they are tested
// against. The zero points come out in the GEMM's store (row and column sums); the requantization or
// dequantization is one more vectorised pass over the int32 results. Threads split the rows, or the
// column panels when there are too few rows.
// Conv2d: the input is transposed to NHWC once per image, so that im2col copies runs of Cg channels
// (the reduction order is (kh, kw, c), channels innermost, as fbgemm's: its int16 pair sums then pair
// the same products); 1x1 stride-1 unpadded convolutions use the NHWC image itself. On the AMX leaf,
// stride-1 convolutions with Cg a multiple of 32 skip im2col: the tiles read the taps from a padded NHWC
// image and the requantized outputs go straight to NCHW (see quantized_conv2d). Images go to threads
// when there are enough of them, else each image's rows are split.
#include <emmintrin.h>
#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>
#include "core/tensor.h"
#include "cpu/capability.h"
#include "cpu/parallel.h"
#include "cpu/scratch.h"
#include "cpu/simd/quantized_scalar.h"
#include "cpu/simd/quantized_simd.h"

namespace flambeau::cpu {

namespace {

using quantized_simd::QGemmLeaf;

// The portable leaf (capability "default", CPUs without AVX2, and the reference of the tests): panels of
// one column, i.e. each weight row zero-padded to a multiple of 4, and plain dot products over the
// contiguous rows, which the compiler vectorises. Saturating: fbgemm's vpmaddubsw sums each pair of
// adjacent products (2p, 2p + 1) in int16 with saturation before the int32 accumulation. Exact: vpdpbusd.
constexpr int kPortableNR = 1;

template <bool SAT>
void gemm_portable(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const int8_t* packed, int64_t n0,
                   int64_t n1, int64_t K, const int32_t* col_term, const int32_t* w_zp, const int32_t* row_sum,
                   int32_t* raw, int64_t ldr) {
  const int64_t K4 = (K + 3) / 4;
  for (int64_t m = m0; m < m1; ++m) {
    const uint8_t* ar = a + m * lda;
    for (int64_t n = n0; n < n1; ++n) {
      const int8_t* wr = packed + n * K4 * 4;
      uint32_t acc = 0;
      if (SAT) {
        int64_t k = 0;
        for (; k + 1 < K; k += 2) {
          const int32_t pair = (int32_t)ar[k] * wr[k] + (int32_t)ar[k + 1] * wr[k + 1];
          acc += (uint32_t)std::max(-32768, std::min(32767, pair));
        }
        if (k < K) acc += (uint32_t)((int32_t)ar[k] * wr[k]);
      } else {
        for (int64_t k = 0; k < K; ++k) acc += (uint32_t)((int32_t)ar[k] * wr[k]);
      }
      raw[m * ldr + n] = (int32_t)(acc - ((uint32_t)col_term[n] + (uint32_t)row_sum[m] * (uint32_t)w_zp[n]));
    }
  }
}

void requantize_portable(const int32_t* raw, int64_t m0, int64_t m1, int64_t N, const float* bias_q,
                         const float* multiplier, int32_t out_zp, int32_t lo, uint8_t* y, int64_t ldy) {
  for (int64_t m = m0; m < m1; ++m)
    for (int64_t n = 0; n < N; ++n)
      y[m * ldy + n] = quantized_simd::requantize1(raw[m * N + n], bias_q[n], multiplier[n], out_zp, lo);
}

void dequantize_portable(const int32_t* raw, int64_t m0, int64_t m1, int64_t N, const float* scale, const float* bias,
                         bool relu, float* y) {
  for (int64_t m = m0; m < m1; ++m)
    for (int64_t n = 0; n < N; ++n)
      y[m * N + n] = quantized_simd::dequantize1(raw[m * N + n], scale[n], bias ? bias + n : nullptr, relu);
}

void quantize_u8_portable(const float* x, int64_t i0, int64_t i1, float inv, float zp, uint8_t* q) {
  for (int64_t i = i0; i < i1; ++i) q[i] = quantized_simd::quantize_u8_1(x[i], inv, zp);
}

// Quantization of float32 values (see ops/quantized_ops.h). Rounding is half to even, as nearbyint: for the
// 8-bit types the value is first clamped to integer bounds (which commutes with rounding), rounded by
// adding and subtracting 1.5 * 2^23 and converted through int32 (quantized_scalar.h's quantize8_1, which
// the AVX2 / AVX-512 leaves vectorise: this loop in the baseline build, SSE2 with the float64 product,
// ran 4M floats at 0.33x PyTorch); int32 uses nearbyint in double.
template <bool FUSED, class D>
void quantize8(const float* xs, D* dst, int64_t i0, int64_t i1, float inv, float zp, float lo, float hi) {
  const double inv_d = inv, zp_d = zp;
  for (int64_t i = i0; i < i1; ++i) {
    // before rounding: fbgemm's fma (exact in double, rounded once), or PyTorch's scalar float32 path
    float v = FUSED ? (float)((double)xs[i] * inv_d + zp_d) : xs[i] * inv + zp;
    v = v < hi ? v : hi;  // NaN becomes hi (qmax), as fbgemm's vminps(v, INT32_MAX-ish) then clamp
    v = v > lo ? v : lo;
    v = (v + 12582912.0f) - 12582912.0f;
    dst[i] = (D)(int32_t)v;
  }
}

void quantize8_portable(const float* x, int64_t i0, int64_t i1, float inv, float zp, float lo, float hi, bool fused,
                        void* q) {
  // int8 and uint8 share the low byte of the int32 (the values are clamped into the storage's range).
  uint8_t* dst = static_cast<uint8_t*>(q);
  if (fused) quantize8<true>(x, dst, i0, i1, inv, zp, lo, hi);
  else quantize8<false>(x, dst, i0, i1, inv, zp, lo, hi);
}

// The leaf for the capability in force and the arithmetic asked for (saturate = no VNNI in hardware, as
// fbgemm chooses; the test hook quantized_gemm_raw asks for either).
QGemmLeaf pick_leaf(bool saturate) {
  switch (capability()) {
    case Capability::AVX512:
      if (saturate) return quantized_simd::leaf_avx512_saturating();
      if (int8_amx_enabled()) return quantized_simd::leaf_avx512_amx();  // exact too, as vpdpbusd
      if (hardware_has_avx512_vnni()) return quantized_simd::leaf_avx512_vnni();
      return quantized_simd::leaf_avx2(false);
    case Capability::AVX2:
      return quantized_simd::leaf_avx2(saturate);
    default:
      return {kPortableNR, saturate ? &gemm_portable<true> : &gemm_portable<false>, &requantize_portable,
              &dequantize_portable, &quantize_u8_portable, &quantize8_portable};
  }
}

QGemmLeaf default_leaf() { return pick_leaf(!hardware_has_avx512_vnni()); }

int32_t row_sum_u8(const uint8_t* a, int64_t K);

// Whether the weight zero points are all 0 (symmetric qint8 weights, PyTorch's default qconfigs): then
// the activations' row sums, which only ever multiply them, need not be computed.
bool all_zero(const int32_t* v, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (v[i]) return false;
  return true;
}

// Weights packed for a leaf (layout in quantized_simd.h) and their column sums.
struct PackedWeights {
  int64_t N = 0, K = 0;
  std::vector<int8_t> data;
  std::vector<int32_t> col_sum;
};

// w: N rows of K int8, row stride ldw.
// sum_k w[k] for K int8: psadbw sums (w xor 0x80) = w + 128 as bytes, 16 at a time (SSE2).
int32_t col_sum_s8(const int8_t* w, int64_t K) {
  const __m128i flip = _mm_set1_epi8((char)0x80), zero = _mm_setzero_si128();
  __m128i acc = _mm_setzero_si128();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16)
    acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + k)), flip),
                                          zero));
  int64_t s = _mm_cvtsi128_si64(acc) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc)) - 128 * k;
  for (; k < K; ++k) s += w[k];
  return (int32_t)s;
}

// Packing moves each row's int32 words (4 k) to stride nr * 4: four rows x 16 bytes (4 groups) at a time
// are a 4 x 4 int32 transpose in SSE2 registers; other rows and the last K mod 16 bytes go word by word.
// (Packing runs on every call, as the weights arrive as a plain tensor; word by word it cost a quarter
// of the 512 x 512 Linear's GEMM.)
PackedWeights pack_weights(const int8_t* w, int64_t ldw, int64_t N, int64_t K, int nr) {
  PackedWeights p;
  p.N = N;
  p.K = K;
  const int64_t K4 = (K + 3) / 4, panels = (N + nr - 1) / nr;
  p.data.assign((size_t)(panels * K4 * nr * 4 + quantized_simd::kPackSlack), 0);
  p.col_sum.assign((size_t)N, 0);
  const int64_t K16 = K / 16 * 16;
  for (int64_t n = 0; n < N; ++n) p.col_sum[n] = col_sum_s8(w + n * ldw, K);
  const bool by4 = nr % 4 == 0;  // four rows land side by side in one panel
  for (int64_t n0 = 0; n0 < N; n0 += 4) {
    int8_t* dst0 = p.data.data() + (n0 / nr) * K4 * nr * 4 + (n0 % nr) * 4;
    if (by4 && n0 + 4 <= N) {
      for (int64_t k = 0; k < K16; k += 16) {
        __m128i r[4];
        for (int i = 0; i < 4; ++i) r[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + (n0 + i) * ldw + k));
        const __m128i t0 = _mm_unpacklo_epi32(r[0], r[1]), t1 = _mm_unpackhi_epi32(r[0], r[1]);
        const __m128i t2 = _mm_unpacklo_epi32(r[2], r[3]), t3 = _mm_unpackhi_epi32(r[2], r[3]);
        const __m128i g[4] = {_mm_unpacklo_epi64(t0, t2), _mm_unpackhi_epi64(t0, t2), _mm_unpacklo_epi64(t1, t3),
                              _mm_unpackhi_epi64(t1, t3)};  // g[j]: group k/4 + j of the four rows
        for (int j = 0; j < 4; ++j)
          _mm_storeu_si128(reinterpret_cast<__m128i*>(dst0 + (k / 4 + j) * nr * 4), g[j]);
      }
    }
    for (int64_t n = n0; n < std::min(N, n0 + 4); ++n) {
      const int8_t* wr = w + n * ldw;
      int8_t* dst = p.data.data() + (n / nr) * K4 * nr * 4 + (n % nr) * 4;
      for (int64_t k = by4 && n0 + 4 <= N ? K16 : 0; k < K; k += 4)
        std::memcpy(dst + (k / 4) * nr * 4, wr + k, (size_t)std::min<int64_t>(4, K - k));
    }
  }
  return p;
}

// The packed weights of the weight tensors used lately, so that a module packs its weight once, as
// PyTorch's prepacked modules do (packing a 512 x 512 weight cost 20 us: most of a batch-1 dynamic Linear).
// An entry holds while its tensor's storage lives and its version (bumped by every in-place write) is the
// one packed; dead storages' entries go at the next insertion.
struct PackCacheEntry {
  std::weak_ptr<Storage> storage;
  const void* data;
  int64_t version;
  Shape sizes;
  int nr;
  int64_t groups;
  std::shared_ptr<const std::vector<PackedWeights>> packed;
};

template <class Make>
std::shared_ptr<const std::vector<PackedWeights>> cached_pack(const Tensor& w, int nr, int64_t groups, Make&& make) {
  static std::mutex mu;
  static std::vector<PackCacheEntry> cache;
  const int64_t version = w.storage->writes.load(std::memory_order_relaxed);  // writes through w.data too
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const PackCacheEntry& e : cache)
      if (e.data == w.data_ptr() && e.version == version && e.nr == nr && e.groups == groups && e.sizes == w.sizes &&
          e.storage.lock() == w.storage)
        return e.packed;
  }
  auto packed = std::make_shared<const std::vector<PackedWeights>>(make());
  std::lock_guard<std::mutex> lock(mu);
  cache.erase(std::remove_if(cache.begin(), cache.end(),
                             [&](const PackCacheEntry& e) {
                               return e.storage.expired() || (e.storage.lock() == w.storage && e.data == w.data_ptr());
                             }),
              cache.end());
  if (cache.size() >= 1024) cache.erase(cache.begin());  // a bound on what it can hold, oldest first
  cache.push_back({w.storage, w.data_ptr(), version, w.sizes, nr, groups, packed});
  return packed;
}

// raw[m * N + n] = sum_k (a[m,k] - a_zp) * (w[n,k] - w_zp[n]) as int32 (wrapping as fbgemm's int32 does),
// for M rows of a (stride lda); col_term (N) is scratch, row_sum (M) too unless row_sums_given (the
// caller filled it with each row's byte sum). pre(m0, m1) runs on a block of rows before their sums and
// GEMM (the dynamic Linear quantizes them there), post(m0, m1) after (the epilogue), so that a call is one
// parallel region, each thread's rows still in its cache: on 2 busy cores every extra region waits for
// the other thread to be scheduled. Splits across threads unless called inside a parallel region.
template <class Pre, class Post>
void qgemm(const QGemmLeaf& leaf, const uint8_t* a, int64_t lda, int64_t M, const PackedWeights& pw, int32_t a_zp,
           const int32_t* w_zp, int32_t* raw, int32_t* col_term, int32_t* row_sum, bool row_sums_given, Pre&& pre,
           Post&& post) {
  const int64_t N = pw.N, K = pw.K;
  if (M == 0) return;
  for (int64_t n = 0; n < N; n++)
    col_term[n] = (int32_t)((uint32_t)a_zp * ((uint32_t)pw.col_sum[n] - (uint32_t)w_zp[n] * (uint32_t)K));
  const int8_t* packed = pw.data.data();
  const int64_t nr = leaf.nr, panels = (N + nr - 1) / nr;
  const bool zp_free = all_zero(w_zp, N);  // symmetric weights: the row sums are multiplied by 0
  auto rows = [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1, bool first, bool last) {
    if (first) {
      pre(m0, m1);
      if (!row_sums_given)
        for (int64_t m = m0; m < m1; m++) row_sum[m] = zp_free ? 0 : row_sum_u8(a + m * lda, K);
    }
    if (n0 < n1) leaf.gemm(a, lda, m0, m1, packed, n0, n1, K, col_term, w_zp, row_sum, raw, N);
    if (last) post(m0, m1);
  };
  const int threads = threads_available();
  if (threads > 1 && M < 16 * threads && panels >= 2 * threads) {  // few rows: split the columns
    rows(0, M, 0, 0, true, false);
    parallel_for(panels, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, M * nr * K)), [&](int64_t p0, int64_t p1) {
      rows(0, M, p0 * nr, std::min(N, p1 * nr), false, false);
    });
    rows(0, M, 0, 0, false, true);
  } else {
    parallel_for(M, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, std::max<int64_t>(1, N) * std::max<int64_t>(1, K))),
                 [&](int64_t m0, int64_t m1) { rows(m0, m1, 0, N, true, true); });
  }
}

void qgemm_raw(const QGemmLeaf& leaf, const uint8_t* a, int64_t lda, int64_t M, const PackedWeights& pw,
               int32_t a_zp, const int32_t* w_zp, int32_t* raw, int32_t* col_term, int32_t* row_sum) {
  qgemm(leaf, a, lda, M, pw, a_zp, w_zp, raw, col_term, row_sum, false, [](int64_t, int64_t) {},
        [](int64_t, int64_t) {});
}

const float* opt_data(const Tensor* t) { return t ? t->data<float>() : nullptr; }

// bias[n] / act_times_w_scale[n] (0 without a bias: adding 0 to float(raw) changes nothing).
std::vector<float> bias_over_scale(const float* bias, const float* act_times_w_scale, int64_t N) {
  std::vector<float> q((size_t)N, 0.0f);
  if (bias)
    for (int64_t n = 0; n < N; n++) q[n] = bias[n] / act_times_w_scale[n];
  return q;
}

// dst[c * ldd + r] = src[r * lds + c] for r < R, c < Cn: bytes, 16 x 16 blocks in SSE2 registers (part of
// baseline x86-64: four rounds of unpacks interleave rows 2, 4, 8 and 16 at a time), the edges in scalar
// code. Conv2d's NCHW -> NHWC input and its [positions, channels] -> NCHW output; the scalar strided
// loops these replace took a quarter of the convolution's time.
void transpose16_u8(const uint8_t* src, int64_t lds, uint8_t* dst, int64_t ldd) {
  __m128i a[16], b[16];
  for (int i = 0; i < 16; ++i) a[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i * lds));
  for (int i = 0; i < 8; ++i) {  // b[2i]: rows 2i, 2i+1 interleaved, columns 0-7; b[2i+1]: columns 8-15
    b[2 * i] = _mm_unpacklo_epi8(a[2 * i], a[2 * i + 1]);
    b[2 * i + 1] = _mm_unpackhi_epi8(a[2 * i], a[2 * i + 1]);
  }
  for (int j = 0; j < 4; ++j) {  // a[4j + q]: rows 4j..4j+3 as 32-bit units, columns 4q..4q+3
    a[4 * j + 0] = _mm_unpacklo_epi16(b[4 * j], b[4 * j + 2]);
    a[4 * j + 1] = _mm_unpackhi_epi16(b[4 * j], b[4 * j + 2]);
    a[4 * j + 2] = _mm_unpacklo_epi16(b[4 * j + 1], b[4 * j + 3]);
    a[4 * j + 3] = _mm_unpackhi_epi16(b[4 * j + 1], b[4 * j + 3]);
  }
  for (int h = 0; h < 2; ++h)  // b[8h + 2q (+1)]: rows 8h..8h+7 as 64-bit units, columns 4q, 4q+1 (4q+2, 4q+3)
    for (int q = 0; q < 4; ++q) {
      b[8 * h + 2 * q] = _mm_unpacklo_epi32(a[8 * h + q], a[8 * h + 4 + q]);
      b[8 * h + 2 * q + 1] = _mm_unpackhi_epi32(a[8 * h + q], a[8 * h + 4 + q]);
    }
  for (int x = 0; x < 8; ++x) {  // column pair of b[x]: columns 2x, 2x+1 (x = 2q or 2q+1 covers 4q..4q+3)
    const int c = (x / 2) * 4 + (x % 2) * 2;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + c * ldd), _mm_unpacklo_epi64(b[x], b[8 + x]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (c + 1) * ldd), _mm_unpackhi_epi64(b[x], b[8 + x]));
  }
}

// Splits the rows across threads (in blocks of 16) unless called inside a parallel region.
void transpose_u8(const uint8_t* src, int64_t lds, uint8_t* dst, int64_t ldd, int64_t R, int64_t Cn) {
  const int64_t blocks = (R + 15) / 16;
  parallel_for(blocks, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, 16 * Cn)), [&](int64_t b0, int64_t b1) {
    for (int64_t r0 = b0 * 16; r0 < std::min(R, b1 * 16); r0 += 16) {
      if (r0 + 16 > R) {
        for (int64_t r = r0; r < R; ++r)
          for (int64_t c = 0; c < Cn; ++c) dst[c * ldd + r] = src[r * lds + c];
        continue;
      }
      int64_t c0 = 0;
      for (; c0 + 16 <= Cn; c0 += 16) transpose16_u8(src + r0 * lds + c0, lds, dst + c0 * ldd + r0, ldd);
      for (; c0 < Cn; ++c0)
        for (int64_t r = r0; r < r0 + 16; ++r) dst[c0 * ldd + r] = src[r * lds + c0];
    }
  });
}

// sum_k a[k] for K bytes: psadbw (SSE2) adds 16 bytes into two 64-bit lanes per step.
int32_t row_sum_u8(const uint8_t* a, int64_t K) {
  __m128i acc = _mm_setzero_si128();
  const __m128i zero = _mm_setzero_si128();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16)
    acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + k)), zero));
  int64_t s = _mm_cvtsi128_si64(acc) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc));
  for (; k < K; ++k) s += a[k];
  return (int32_t)(uint32_t)s;
}

// n bytes from src to dst, in 16-byte pieces where it can (im2col's runs of Cg channels: a memcpy call
// per run cost more than the copy).
inline void copy_run(uint8_t* dst, const uint8_t* src, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
  for (; i < n; ++i) dst[i] = src[i];
}

int64_t thread_slot() {
#ifdef FLAMBEAU_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace

// The int32 sums alone, for the tests: raw = sum_k (x - x_zp)(w - w_zp[n]) in the saturating or the exact
// arithmetic, by the leaf of the capability in force (so both arithmetics of every leaf are tested on any
// CPU; the exact AVX-512 one needs VNNI in hardware, else the AVX2 one runs). x: [M, K] uint8, w: [N, K]
// int8 contiguous, w_zp: [N] int32. Returns [M, N] int32.
Tensor quantized_gemm_raw(const Tensor& x, int64_t x_zp, const Tensor& w, const Tensor& w_zp, bool saturate) {
  const int64_t M = x.sizes[0], K = x.sizes[1], N = w.sizes[0];
  const QGemmLeaf leaf = pick_leaf(saturate);
  Tensor y = empty({M, N}, DType::Int32, x.device());
  const PackedWeights pw = pack_weights(w.data<int8_t>(), K, N, K, leaf.nr);
  std::vector<int32_t> col_term((size_t)N), row_sum((size_t)M);
  qgemm_raw(leaf, x.data<uint8_t>(), K, M, pw, (int32_t)x_zp, w_zp.data<int32_t>(), y.data<int32_t>(),
            col_term.data(), row_sum.data());
  return y;
}

// x: [M, K] uint8 contiguous; w: [N, K] int8 contiguous; w_zp: [N] int32; bias, act_times_w_scale,
// multiplier: [N] float32 (bias optional). Returns [M, N] uint8.
Tensor quantized_linear(const Tensor& x, int64_t x_zp, const Tensor& w, const Tensor& w_zp, const Tensor* bias,
                        const Tensor& act_times_w_scale, const Tensor& multiplier, int64_t out_zp, bool relu) {
  const int64_t M = x.sizes[0], K = x.sizes[1], N = w.sizes[0];
  const QGemmLeaf leaf = default_leaf();
  Tensor y = empty({M, N}, DType::UInt8, x.device());
  const auto packs = cached_pack(w, leaf.nr, 1, [&] {
    return std::vector<PackedWeights>{pack_weights(w.data<int8_t>(), K, N, K, leaf.nr)};
  });
  const PackedWeights& pw = (*packs)[0];
  const std::vector<float> bias_q = bias_over_scale(opt_data(bias), act_times_w_scale.data<float>(), N);
  std::vector<int32_t> col_term((size_t)N), row_sum((size_t)M);
  thread_local Scratch raw_buf;
  int32_t* raw = raw_buf.get<int32_t>(M * N);
  const float* mult = multiplier.data<float>();
  uint8_t* yd = y.data<uint8_t>();
  const int32_t lo = relu ? (int32_t)out_zp : 0;
  qgemm(leaf, x.data<uint8_t>(), K, M, pw, (int32_t)x_zp, w_zp.data<int32_t>(), raw, col_term.data(), row_sum.data(),
        false, [](int64_t, int64_t) {}, [&](int64_t m0, int64_t m1) {
          leaf.requantize(raw, m0, m1, N, bias_q.data(), mult, (int32_t)out_zp, lo, yd, N);
        });
  return y;
}

// x: [M, K] float32 contiguous, quantized here with (a_scale, a_zp) as fbgemm's PackAWithQuantRowOffset;
// w as above, w_scale [N] float32. Returns [M, N] float32.
Tensor quantized_linear_dynamic(const Tensor& x, double a_scale_d, int64_t a_zp, const Tensor& w, const Tensor& w_zp,
                                const Tensor& w_scale, const Tensor* bias, bool relu) {
  const int64_t M = x.sizes[0], K = x.sizes[1], N = w.sizes[0];
  const QGemmLeaf leaf = default_leaf();
  const float a_scale = (float)a_scale_d;
  const float inv = 1.0f / a_scale;
  const float zp_f = (float)a_zp;
  thread_local Scratch xq_buf, raw_buf;
  uint8_t* xq = xq_buf.get<uint8_t>(M * K);
  int32_t* raw = raw_buf.get<int32_t>(M * N);
  const float* xs = x.data<float>();
  const auto packs = cached_pack(w, leaf.nr, 1, [&] {
    return std::vector<PackedWeights>{pack_weights(w.data<int8_t>(), K, N, K, leaf.nr)};
  });
  const PackedWeights& pw = (*packs)[0];
  std::vector<int32_t> col_term((size_t)N), row_sum((size_t)M);
  Tensor y = empty({M, N}, DType::Float32, x.device());
  float* yd = y.data<float>();
  const float* ws = w_scale.data<float>();
  std::vector<float> scale((size_t)N);
  for (int64_t n = 0; n < N; n++) scale[n] = a_scale * ws[n];
  const float* b = opt_data(bias);
  qgemm(
      leaf, xq, K, M, pw, (int32_t)a_zp, w_zp.data<int32_t>(), raw, col_term.data(), row_sum.data(), false,
      [&](int64_t m0, int64_t m1) { leaf.quantize_u8(xs, m0 * K, m1 * K, inv, zp_f, xq); },
      [&](int64_t m0, int64_t m1) { leaf.dequantize(raw, m0, m1, N, scale.data(), b, relu, yd); });
  return y;
}

// x: [B, C, H, W] uint8 contiguous; w: [O, C/groups, kh, kw] int8 contiguous; per-output-channel
// vectors as for quantized_linear. Returns [B, O, OH, OW] uint8.
Tensor quantized_conv2d(const Tensor& x, int64_t x_zp, const Tensor& w, const Tensor& w_zp, const Tensor* bias,
                        const Tensor& act_times_w_scale, const Tensor& multiplier, int64_t out_zp,
                        const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                        const std::vector<int64_t>& dilation, int64_t groups, bool relu) {
  const int64_t B = x.sizes[0], C = x.sizes[1], H = x.sizes[2], W = x.sizes[3];
  const int64_t O = w.sizes[0], Cg = w.sizes[1], KH = w.sizes[2], KW = w.sizes[3];
  const int64_t sh = stride[0], sw = stride[1], ph = padding[0], pw = padding[1], dh = dilation[0], dw = dilation[1];
  const int64_t OH = (H + 2 * ph - dh * (KH - 1) - 1) / sh + 1;
  const int64_t OW = (W + 2 * pw - dw * (KW - 1) - 1) / sw + 1;
  const int64_t Og = O / groups, K = Cg * KH * KW, P = OH * OW;
  Tensor y = empty({B, O, OH, OW}, DType::UInt8, x.device());
  if (B == 0 || O == 0 || P == 0) return y;
  const QGemmLeaf leaf = default_leaf();
  uint8_t* yd = y.data<uint8_t>();
  const uint8_t* xd = x.data<uint8_t>();
  const int8_t* wd = w.data<int8_t>();
  const int32_t* wzp = w_zp.data<int32_t>();
  const float* mult = multiplier.data<float>();
  const std::vector<float> bias_q = bias_over_scale(opt_data(bias), act_times_w_scale.data<float>(), O);
  const int32_t lo = relu ? (int32_t)out_zp : 0;
  // The weights reordered to (kh, kw, c) per output channel, then packed per group.
  const auto packs = cached_pack(w, leaf.nr, groups, [&] {
    std::vector<int8_t> wk((size_t)(O * K));
    for (int64_t o = 0; o < O; o++)
      for (int64_t c = 0; c < Cg; c++)
        for (int64_t i = 0; i < KH; i++)
          for (int64_t j = 0; j < KW; j++) wk[o * K + (i * KW + j) * Cg + c] = wd[((o * Cg + c) * KH + i) * KW + j];
    std::vector<PackedWeights> per_group;
    for (int64_t g = 0; g < groups; g++) per_group.push_back(pack_weights(wk.data() + g * Og * K, K, Og, K, leaf.nr));
    return per_group;
  });
  const std::vector<PackedWeights>& packed = *packs;
  const bool direct = KH == 1 && KW == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && groups == 1;
  // Implicit im2col (the AMX leaf, stride 1, each tap's Cg channels whole k blocks): the image is written
  // once as NHWC with its padding (zero points) around it, Hp x Wp pixels, and output position (oh, ow) is
  // GEMM row q = oh * Wp + ow, whose tap (i, j) is the pixel q + i * dh * Wp + j * dw: one row stride (C
  // bytes) for every tap, so tiles load the taps straight from the image. Rows with ow >= OW (the padded
  // columns, (Wp - OW) / Wp of the rows) are computed and dropped. im2col's copy (P x K bytes, 9x the
  // image for 3x3) and its pass over memory go.
  const int64_t Hp = H + 2 * ph, Wp = W + 2 * pw;
  // Blocks of 64 channels, else of 32 (tdpbusd on 32 k runs at half the rate: 0.85 vs 1.7 TMAC/s, still
  // twice the VNNI tile); on 16 it ran at 0.3, below explicit im2col with full blocks.
  const int kc = Cg % 64 == 0 ? 64 : Cg % 32 == 0 ? 32 : 0;
  const bool implicit = leaf.conv_rows && !direct && sh == 1 && sw == 1 && kc > 0;
  const int64_t Q = implicit ? (OH - 1) * Wp + OW : P;  // GEMM rows per image
  const int64_t pad_n = implicit ? (Hp * Wp + 32) * C : 0;  // + 32 pixels: tiles read up to 31 rows past Q
  std::vector<int64_t> koff;  // implicit: byte offset of block b = (tap, chunk of kc channels) from its row
  if (implicit)
    for (int64_t i = 0; i < KH; i++)
      for (int64_t j = 0; j < KW; j++)
        for (int64_t c = 0; c < Cg; c += kc) koff.push_back((i * dh * Wp + j * dw) * C + c);
  // One image per thread when there are enough images (the loops inside then run serially), else the
  // loops inside split their own work. Every buffer comes from the caller's scratch, before any parallel
  // region (fresh vectors cost a zero fill and page faults on every call: 1.2 MB of im2col columns).
  const int64_t threads = threads_available();
  const int64_t slots = B >= threads ? threads : 1;
  const int64_t cols_n = direct || implicit ? 0 : P * K;
  const int64_t nhwc_n = implicit ? pad_n : H * W * C, pix_n = implicit ? Hp * Wp : H * W;
  const int64_t flat_n = implicit && W % 16 ? H * W * C : 0;  // implicit: the unpadded NHWC image
  thread_local Scratch nhwc_buf, flat_buf, cols_buf, raw_buf, ct_buf, rs_buf, yt_buf, pix_buf;
  uint8_t* nhwc_all = nhwc_buf.get<uint8_t>(slots * nhwc_n);
  uint8_t* flat_all = flat_buf.get<uint8_t>(slots * flat_n);
  uint8_t* cols_all = cols_buf.get<uint8_t>(slots * cols_n);
  int32_t* raw_all = raw_buf.get<int32_t>(slots * (implicit ? 0 : P * Og));
  int32_t* col_term_all = ct_buf.get<int32_t>(slots * Og);
  int32_t* row_sum_all = rs_buf.get<int32_t>(slots * Q);
  uint8_t* yt_all = yt_buf.get<uint8_t>(slots * (implicit ? 0 : P * Og));
  int32_t* pixsum_all = pix_buf.get<int32_t>(slots * pix_n);
  const int32_t pad_sum = (int32_t)(x_zp * Cg);  // a padding pixel's channel sum
  auto image = [&](int64_t slot, int64_t bi) {
    uint8_t* nhwc = nhwc_all + slot * nhwc_n;
    uint8_t* cols = cols_all + slot * cols_n;
    int32_t* raw = raw_all + slot * (implicit ? 0 : P * Og);
    uint8_t* yt = yt_all + slot * (implicit ? 0 : P * Og);
    int32_t* pixsum = pixsum_all + slot * pix_n;
    int32_t* row_sum = row_sum_all + slot * Q;
    int32_t* col_term = col_term_all + slot * Og;
    const uint8_t* xb = xd + bi * C * H * W;
    if (implicit) {
      // The padded NHWC image: rows of zero points above and below (and the slack after), zero points at
      // both ends of each image row, the image row transposed [C, W] -> [W, C] between.
      const int64_t row_n = Wp * C;
      std::memset(nhwc, (int)x_zp, (size_t)(ph * row_n));
      std::memset(nhwc + (ph + H) * row_n, (int)x_zp, (size_t)(pad_n - (ph + H) * row_n));
      // Row by row where W is a multiple of 16 (whole 16 x 16 blocks); else the image is transposed whole
      // (the SSE2 blocks run across rows) and its rows copied in: row by row, the W mod 16 columns of every
      // row went through the scalar edge loop (23% of a 4x128x28x28 call in perf).
      const bool by_rows = W % 16 == 0;
      uint8_t* flat = flat_all + slot * flat_n;
      if (!by_rows) transpose_u8(xb, H * W, flat, C, C, H * W);
      parallel_for(H, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, W * C)), [&](int64_t h0, int64_t h1) {
        for (int64_t h = h0; h < h1; h++) {
          uint8_t* r = nhwc + (ph + h) * row_n;
          std::memset(r, (int)x_zp, (size_t)(pw * C));
          std::memset(r + (pw + W) * C, (int)x_zp, (size_t)(pw * C));
          if (by_rows) transpose_u8(xb + h * W, H * W, r + pw * C, C, C, W);
          else std::memcpy(r + pw * C, flat + h * W * C, (size_t)(W * C));
        }
      });
    } else {
      transpose_u8(xb, H * W, nhwc, C, C, H * W);  // [C, H*W] -> [H*W, C]
    }
    for (int64_t g = 0; g < groups; g++) {
      const PackedWeights& pwg = packed[g];
      const int32_t* wzp_g = wzp + g * Og;
      if (implicit) {
        // Each row's byte sum is the sum of its taps' pixel sums (a padding pixel's is Cg zero points);
        // none are needed when the weight zero points are all 0.
        const bool zp_free = all_zero(wzp_g, Og);
        for (int64_t pix = 0; pix < (zp_free ? 0 : Hp * Wp); pix++) {
          const int64_t h = pix / Wp - ph, w = pix % Wp - pw;
          pixsum[pix] = h >= 0 && h < H && w >= 0 && w < W ? row_sum_u8(nhwc + pix * C + g * Cg, Cg) : pad_sum;
        }
        for (int64_t n = 0; n < Og; n++)
          col_term[n] = (int32_t)((uint32_t)x_zp * ((uint32_t)pwg.col_sum[n] - (uint32_t)wzp_g[n] * (uint32_t)K));
        // Rows [q0, q1): their sums, then the GEMM, requantized and stored as NCHW.
        auto rows = [&](int64_t q0, int64_t q1) {
          for (int64_t q = q0; q < q1 && zp_free; q++) row_sum[q] = 0;
          for (int64_t q = q0; q < q1 && !zp_free; q++) {
            uint32_t rs = 0;  // wrapping, as row_sum_u8
            for (int64_t i = 0; i < KH; i++)
              for (int64_t j = 0; j < KW; j++) rs += (uint32_t)pixsum[q + i * dh * Wp + j * dw];
            row_sum[q] = (int32_t)rs;
          }
          leaf.conv_rows(nhwc + g * Cg, C, koff.data(), (int64_t)koff.size(), kc, q0, q1, pwg.data.data(), Og,
                         col_term, wzp_g, row_sum, bias_q.data() + g * Og, mult + g * Og, (int32_t)out_zp, lo, Wp, OW,
                         yd + (bi * O + g * Og) * P, P);
        };
        const int64_t blocks = (Q + 31) / 32;
        parallel_for(blocks, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, 32 * K * Og / 64)),
                     [&](int64_t b0, int64_t b1) { rows(b0 * 32, std::min(Q, b1 * 32)); });
      } else {
        const uint8_t* a = nhwc;
        int64_t lda = C;
        if (!direct) {
          // Each im2col row's byte sum is the sum of its taps' channel sums (padding: Cg zero points), so
          // the GEMM's row sums cost KH * KW additions per row instead of a pass over the K bytes.
          for (int64_t pix = 0; pix < H * W; pix++) pixsum[pix] = row_sum_u8(nhwc + pix * C + g * Cg, Cg);
          parallel_for(OH, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, OW * K)), [&](int64_t oh0, int64_t oh1) {
            for (int64_t oh = oh0; oh < oh1; oh++)
              for (int64_t ow = 0; ow < OW; ow++) {
                uint8_t* row = cols + (oh * OW + ow) * K;
                uint32_t rs = 0;  // wrapping, as row_sum_u8
                for (int64_t i = 0; i < KH; i++) {
                  const int64_t ih = oh * sh - ph + i * dh;
                  for (int64_t j = 0; j < KW; j++) {
                    const int64_t iw = ow * sw - pw + j * dw;
                    uint8_t* dst = row + (i * KW + j) * Cg;
                    if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
                      copy_run(dst, nhwc + (ih * W + iw) * C + g * Cg, Cg);
                      rs += (uint32_t)pixsum[ih * W + iw];
                    } else {
                      std::memset(dst, (int)x_zp, (size_t)Cg);  // padding is the zero point (real 0)
                      rs += (uint32_t)pad_sum;
                    }
                  }
                }
                row_sum[oh * OW + ow] = (int32_t)rs;
              }
          });
          a = cols;
          lda = K;
        }
        qgemm(leaf, a, lda, P, pwg, (int32_t)x_zp, wzp_g, raw, col_term, row_sum, !direct,
              [](int64_t, int64_t) {}, [&](int64_t p0, int64_t p1) {
                leaf.requantize(raw, p0, p1, Og, bias_q.data() + g * Og, mult + g * Og, (int32_t)out_zp, lo, yt, Og);
              });
        transpose_u8(yt, Og, yd + (bi * O + g * Og) * P, P, P, Og);  // [P, Og] -> the output's [Og, P]
      }
    }
  };
  if (slots > 1) {
    parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
      const int64_t slot = thread_slot();
      for (int64_t bi = b0; bi < b1; bi++) image(slot, bi);
    });
  } else {
    for (int64_t bi = 0; bi < B; bi++) image(0, bi);
  }
  return y;
}

void quantize_per_tensor(const Tensor& x, float inv, int64_t zp, int64_t qmin, int64_t qmax, bool fused,
                         const Tensor& out) {
  const int64_t n = x.numel();
  const float* xs = x.data<float>();
  const float zp_f = (float)zp, lo = (float)qmin, hi = (float)qmax;
  if (out.dtype == DType::UInt8 || out.dtype == DType::Int8) {
    const auto q8 = default_leaf().quantize8;
    void* dst = out.dtype == DType::UInt8 ? (void*)out.data<uint8_t>() : (void*)out.data<int8_t>();
    parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) { q8(xs, i0, i1, inv, zp_f, lo, hi, fused, dst); });
    return;
  }
  int32_t* dst = out.data<int32_t>();
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float v = fused ? (float)((double)xs[i] * (double)inv + (double)zp) : xs[i] * inv + zp_f;
      dst[i] = (int32_t)std::max((double)qmin, std::min((double)qmax, std::nearbyint((double)v)));
    }
  });
}

}  // namespace flambeau::cpu
