// torch.multinomial on the CPU: each row of `probs` (contiguous [rows, n] float32/float64, weights that
// need not sum to one) gives n_sample category indices in `out` (contiguous int64 [rows, n_sample]).
//
// Checks (multinomial_check) follow PyTorch's two code paths, since scripts and tests match on the text:
// its "fast" path (without replacement, or one draw) checks the whole tensor first (any inf, nan or
// negative entry), then each row's sum; its with-replacement kernel walks row by row and reports the first
// bad entry of the first bad row (nan fails its `>= 0` test, so it is reported as "< 0" there).
//
// Sampling, each row's weights read in double (and scaled by 2^-64 if their double sum overflows, which
// only float64 rows near DBL_MAX can do):
//  - with replacement, or one draw: inverse CDF (RowCdf below). A draw x = u * total, u uniform in [0, 1)
//    with 53 bits, takes the first j whose running sum c_j exceeds x, so a weight-0 category (which never
//    raises the running sum) is never taken. PyTorch's CPU kernel searches normalised running sums with a
//    double uniform in the same way; here the sums are built by blocks, one fast pass, and a single draw
//    (nanoGPT's next token) scans one block instead of building all n sums.
//  - without replacement, more than one draw: the exponential race PyTorch uses, key_j = (p_j / total) /
//    q_j with q_j ~ Exp(1), the k largest keys in decreasing order. This is distributed as drawing one
//    category at a time by p and renormalising over what is left; weight-0 categories have key 0 and come
//    last (in index order), as in PyTorch. Keys in double (PyTorch ranks float32 keys for float32 rows).
// Random numbers: draw d (d = row * n_sample + sample in the inverse CDF, row * n + category in the race)
// uses the stream words at offset + 2d and offset + 2d + 1, whatever the thread count; the caller
// reserved 2 * rows * (n_sample or n) positions.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>
#include "core/error.h"
#include "core/philox.h"
#include "cpu/capability.h"
#include "cpu/kernels.h"
#include "cpu/parallel.h"
#include "cpu/simd/dropout_simd.h"

namespace flambeau::cpu {

namespace {

constexpr int64_t kDraws = 256;  // draws per batch of Philox words

// w[i] = the stream word at position pos + i, for i < n <= 2 * kDraws: whole blocks from the SIMD leaf
// when the CPU has one (rand's chunks, cpu/random.cpp), the rest from philox_block.
struct Words {
  dropout_simd::PhiloxBlocksFn leaf;
  uint64_t seed;
  alignas(64) uint32_t blocks[4 * (2 * kDraws / 4 + 2)];

  explicit Words(uint64_t s) : seed(s) {
    const Capability cap = capability();
    leaf = cap == Capability::AVX512 ? dropout_simd::philox_blocks_avx512()
           : cap == Capability::AVX2 ? dropout_simd::philox_blocks_avx2()
                                     : nullptr;
  }
  const uint32_t* get(uint64_t pos, int64_t n) {
    const uint64_t b0 = pos / 4, b1 = (pos + (uint64_t)n + 3) / 4;
    const int64_t nb = (int64_t)(b1 - b0);
    int64_t done = leaf ? leaf(blocks, seed, b0, nb) : 0;
    for (; done < nb; ++done) {
      const Philox4 blk = philox_block(seed, b0 + (uint64_t)done);
      for (int w = 0; w < 4; ++w) blocks[4 * done + w] = blk.v[w];
    }
    return blocks + (pos - 4 * b0);
  }
};

// 53 random bits from two words: k in [0, 2^53).
inline uint64_t bits53(uint32_t a, uint32_t b) { return ((uint64_t)(a >> 5) << 26) | (uint64_t)(b >> 6); }
constexpr double kTwoM53 = 1.0 / 9007199254740992.0;

// The row's weights in double; `scale` 1, or 2^-64 when their sum overflows.
template <class T>
double row_scale(const T* p, int64_t n) {
  double s = 0;
  for (int64_t j = 0; j < n; ++j) s += (double)p[j];
  return std::isfinite(s) ? 1.0 : 0x1p-64;
}

// Inverse CDF over blocks of kBlock categories. The running sum at category j of block b is
// c_j = B_{b-1} + v_{b0} + ... + v_j, added one by one from B_{b-1}, where B_b is the running sum of the
// block sums (each added in 8 lanes: one pass at several adds per cycle instead of one dependent chain).
// Within a block c_j never decreases (v >= 0), and a zero weight never raises it. A draw x finds the first
// block with B_b > x (binary search), then the first j of that block with c_j > x: by a scan when the row
// gives few draws, by a binary search of the block's materialised c_j when it gives many (the same c_j,
// so the same index either way). Rounding can leave x >= every c_j of its block, or x >= the total: the
// last positive weight of the block (which has one, since B_b > B_{b-1}) or of the row is taken.
constexpr int64_t kBlock = 64;

template <class T>
struct RowCdf {
  std::vector<double> prefix;  // B_b
  std::vector<double> cum;     // c_j, when materialised
  double scale = 1.0;

  void build(const T* p, int64_t n, bool materialise) {
    const int64_t nb = (n + kBlock - 1) / kBlock;
    prefix.resize((size_t)nb);
    scale = 1.0;
    for (int pass = 0; pass < 2; ++pass) {
      double run = 0;
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t j0 = b * kBlock, j1 = std::min(n, j0 + kBlock);
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t j = j0;
        for (; j + 8 <= j1; j += 8)
          for (int k = 0; k < 8; ++k) acc[k] += (double)p[j + k] * scale;
        for (int k = 0; j < j1; ++j, ++k) acc[k] += (double)p[j] * scale;
        run += ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        prefix[(size_t)b] = run;
      }
      if (std::isfinite(run) || scale != 1.0) break;
      scale = 0x1p-64;  // only float64 weights near DBL_MAX get here
    }
    if (!materialise) return;
    cum.resize((size_t)n);
    for (int64_t b = 0; b < nb; ++b) {
      double c = b ? prefix[(size_t)b - 1] : 0.0;
      for (int64_t j = b * kBlock, j1 = std::min(n, j + kBlock); j < j1; ++j) cum[(size_t)j] = c += (double)p[j] * scale;
    }
  }

  int64_t last_positive(const T* p, int64_t j0, int64_t j1) const {
    for (int64_t j = j1 - 1; j > j0; --j)
      if (p[j] > 0) return j;
    return j0;
  }

  int64_t draw(const T* p, int64_t n, double u) const {
    const int64_t nb = (int64_t)prefix.size();
    const double x = u * prefix.back();
    const int64_t b = std::upper_bound(prefix.begin(), prefix.end(), x) - prefix.begin();
    if (b == nb) return last_positive(p, 0, n);
    const int64_t j0 = b * kBlock, j1 = std::min(n, j0 + kBlock);
    if (!cum.empty()) {
      const int64_t j = std::upper_bound(cum.begin() + j0, cum.begin() + j1, x) - cum.begin();
      return j < j1 ? j : last_positive(p, j0, j1);
    }
    double c = b ? prefix[(size_t)b - 1] : 0.0;
    for (int64_t j = j0; j < j1; ++j)
      if ((c += (double)p[j] * scale) > x) return j;
    return last_positive(p, j0, j1);
  }
};

template <class T>
void inverse_cdf(int64_t* out, const T* probs, int64_t rows, int64_t n, int64_t n_sample, uint64_t seed,
                 uint64_t offset) {
  const bool materialise = n_sample >= 8 && n > kBlock;  // a scan per draw costs up to kBlock adds
  const int64_t grain = std::max<int64_t>(1, kGrain / (n + 8 * n_sample));
  parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    RowCdf<T> cdf;
    Words words(seed);
    for (int64_t r = r0; r < r1; ++r) {
      const T* p = probs + r * n;
      cdf.build(p, n, materialise);
      int64_t* o = out + r * n_sample;
      for (int64_t d0 = 0; d0 < n_sample; d0 += kDraws) {
        const int64_t nd = std::min(kDraws, n_sample - d0);
        const uint32_t* w = words.get(offset + 2 * (uint64_t)(r * n_sample + d0), 2 * nd);
        for (int64_t i = 0; i < nd; ++i) o[d0 + i] = cdf.draw(p, n, (double)bits53(w[2 * i], w[2 * i + 1]) * kTwoM53);
      }
    }
  });
}

template <class T>
void exponential_race(int64_t* out, const T* probs, int64_t rows, int64_t n, int64_t k, uint64_t seed,
                      uint64_t offset) {
  const int64_t grain = std::max<int64_t>(1, kGrain / (32 * n));  // a log and a comparison sort per category
  parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    std::vector<double> key((size_t)n);
    std::vector<int64_t> idx((size_t)n);
    Words words(seed);
    for (int64_t r = r0; r < r1; ++r) {
      const T* p = probs + r * n;
      const double scale = row_scale(p, n);
      double s = 0;
      for (int64_t j = 0; j < n; ++j) s += (double)p[j] * scale;
      const double inv = 1.0 / s;
      for (int64_t j0 = 0; j0 < n; j0 += kDraws) {
        const int64_t nd = std::min(kDraws, n - j0);
        const uint32_t* w = words.get(offset + 2 * (uint64_t)(r * n + j0), 2 * nd);
        for (int64_t i = 0; i < nd; ++i) {
          // u in (0, 1) strictly, so q = -log(u) is finite and positive: a zero weight keys 0, never nan.
          const double u = ((double)bits53(w[2 * i], w[2 * i + 1]) + 0.5) * kTwoM53;
          key[(size_t)(j0 + i)] = (double)p[j0 + i] * scale * inv / -std::log(u);
        }
      }
      std::iota(idx.begin(), idx.end(), (int64_t)0);
      std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t a, int64_t b) {
        const double ka = key[(size_t)a], kb = key[(size_t)b];
        return ka > kb || (ka == kb && a < b);
      });
      std::copy(idx.begin(), idx.begin() + k, out + r * k);
    }
  });
}

template <class T>
void check_rows(const T* probs, int64_t rows, int64_t n, bool whole_tensor_first) {
  if (whole_tensor_first) {
    bool bad = false;
    for (int64_t i = 0; i < rows * n; ++i) bad |= !(probs[i] >= 0 && std::isfinite(probs[i]));
    FLB_CHECK(!bad, RuntimeError, "probability tensor contains either `inf`, `nan` or element < 0");
    for (int64_t r = 0; r < rows; ++r) {
      bool any = false;
      for (int64_t j = 0; j < n; ++j) any |= probs[r * n + j] > 0;
      FLB_CHECK(any, RuntimeError, "invalid multinomial distribution (sum of probabilities <= 0)");
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    bool any = false;
    for (int64_t j = 0; j < n; ++j) {
      const T v = probs[r * n + j];
      FLB_CHECK(v >= 0, RuntimeError, "invalid multinomial distribution (encountering probability entry < 0)");
      FLB_CHECK(std::isfinite(v), RuntimeError,
                "invalid multinomial distribution (encountering probability entry = infinity or NaN)");
      any |= v > 0;
    }
    FLB_CHECK(any, RuntimeError, "invalid multinomial distribution (sum of probabilities <= 0)");
  }
}

}  // namespace

void multinomial_check(const Tensor& probs, bool whole_tensor_first) {
  const int64_t n = probs.sizes.back(), rows = probs.sizes.size() == 2 ? probs.sizes[0] : 1;
  FLB_DISPATCH_FLOATING(probs.dtype, "multinomial", [&] { check_rows(probs.data<scalar_t>(), rows, n, whole_tensor_first); });
}

void multinomial(const Tensor& out, const Tensor& probs, int64_t n_sample, bool replacement, uint64_t seed,
                 uint64_t offset) {
  const int64_t n = probs.sizes.back(), rows = probs.sizes.size() == 2 ? probs.sizes[0] : 1;
  FLB_DISPATCH_FLOATING(probs.dtype, "multinomial", [&] {
    if (replacement || n_sample == 1)
      inverse_cdf(out.data<int64_t>(), probs.data<scalar_t>(), rows, n, n_sample, seed, offset);
    else
      exponential_race(out.data<int64_t>(), probs.data<scalar_t>(), rows, n, n_sample, seed, offset);
  });
}

}  // namespace flambeau::cpu
