// arange and linspace as PyTorch's CPU kernels compute them (aten/src/ATen/native/cpu/
// RangeFactoriesKernel.cpp, PyTorch 2.13), bit for bit, written once and compiled twice: unfused in
// csrc/cpu/random.cpp (baseline x86-64, for FLAMBEAU_CPU_CAPABILITY=default, where PyTorch's DEFAULT
// build has no FMA either) and fused in csrc/cpu/simd/range_avx2.cpp (PyTorch's AVX2 and AVX-512
// builds contract start + step * i into one fused multiply-add). Found by fitting PyTorch's output
// over random ranges under each ATEN_CPU_CAPABILITY and thread count (tests/test_range_bits.py):
//
//   linspace: step = (end - start) / (steps - 1) in the output dtype; element i is start + step * i
//     for i < steps / 2 and end - step * (steps - 1 - i) after, each one multiply-add in the dtype.
//   arange:   in double (acc_type), by 32-byte vector blocks (8 floats, 4 doubles, whatever the
//     capability): inside each at::parallel_for chunk [pb, pe), pairs of blocks while two whole blocks
//     are left; a block at idx has base = start + step * idx (rounded to the dtype: the float
//     Vectorized::arange takes a float base) and element idx + k = base + k * step (in double, then
//     rounded); the rest of the chunk element by element, start + step * i. Chunks: grain 32768 over
//     the thread count (torch_chunk below), so that n > 32768 depends on the threads as PyTorch's does.
//
// Included only inside an anonymous namespace, after <cmath>, <cstdint> and <algorithm> (no include
// guard: each includer needs its own copy); kFused picks std::fma or a rounded product then a sum,
// and only the AVX2 leaf instantiates kFused = true (its std::fma is then one instruction).

template <bool kFused, class T>
inline T mul_add(T a, T b, T c) {
  if constexpr (kFused) return std::fma(a, b, c);
  else return a * b + c;  // (never contracted here: the baseline build has no FMA instruction)
}

// k as a double for the lanes of a block (an int64 -> double conversion per element has no AVX2
// vector form and made arange 1M float64 2x slower than PyTorch)
alignas(64) constexpr double kLane[8] = {0, 1, 2, 3, 4, 5, 6, 7};

template <bool kFused, class T>
void arange_fill(T* out, int64_t b, int64_t e, int64_t n, int64_t chunk, double start, double step) {
  constexpr int64_t V = 32 / (int64_t)sizeof(T);
  int64_t i = b;
  while (i < e) {
    const int64_t pb = i / chunk * chunk, pe = std::min(n, pb + chunk);
    const int64_t vec_end = pb + (pe - pb) / (2 * V) * (2 * V), stop = std::min(e, pe);
    while (i < stop && i < vec_end) {
      const int64_t idx = pb + (i - pb) / V * V, blk_end = std::min(stop, idx + V);
      const T base = (T)mul_add<kFused>(step, (double)idx, start);
      if (i == idx && blk_end == idx + V) {  // a whole block: constant k, one vector multiply-add
        // (lane 0: 0 * step + base is base, step being finite: a block needs 2V elements to exist)
        for (int64_t k = 0; k < V; ++k) out[i + k] = (T)mul_add<kFused>(kLane[k], step, (double)base);
        i += V;
        continue;
      }
      if (i == idx) out[i++] = base;  // (k = 0 is base itself)
      for (; i < blk_end; ++i) out[i] = (T)mul_add<kFused>((double)(i - idx), step, (double)base);
    }
    for (; i < stop; ++i) out[i] = (T)mul_add<kFused>(step, (double)i, start);
  }
}

template <bool kFused, class T>
void linspace_fill(T* out, int64_t b, int64_t e, int64_t n, T start, T end, T step) {
  const int64_t half = n / 2;
  int64_t i = b;
  for (; i < std::min(e, half); ++i) out[i] = mul_add<kFused>(step, (T)i, start);
  for (; i < e; ++i) out[i] = mul_add<kFused>(-step, (T)(n - 1 - i), end);
}
