// How many rows of the 14x32 float micro-kernel should take A as an embedded-broadcast FMA operand
// (vfmadd231ps m32{1to16}) instead of a vbroadcastss into a register (csrc/cpu/simd/gemm_avx512.cpp,
// kEmbRows). A stand-alone copy of the kernel's k loop, templated on that count and on the B prefetch;
// every variant is timed in turn, each timing (~0.3 GFLOP, thread CPU time) followed by a short
// register-only FMA loop, and the ratio of the two is recorded: the variants see the same machine state,
// which on this shared KVM guest changes from second to second (a busy sibling hyperthread on the host
// takes half of the front end). Read the median under load and the max on a quiet core.
//
//   bench_kernel_emb [kc] [panels] [rounds]     (run.sh emb; built with the leaf files' ISA flags)
//
// Measured 2026-11-23 (numbers and conditions in RESULTS-gemm.md), kc=384, 15 B panels, median ratio:
//   contended core: emb0 0.55-0.64, emb4 0.59-0.69, emb6 0.61-0.72, emb8 0.62-0.70, emb14 0.54-0.61
//   quiet core:     emb0 0.88-0.91, emb6 0.94, emb8 0.89, emb10 0.81, emb14 0.75
// GCC 12's _mm512_reduce_add_ps trips its own "maybe uninitialized" false positive (as in gemm_avx512.cpp).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

double cpu_now() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

// GFLOP/s of 12 independent register-only FMA chains, ~10 ms.
double fma_peak() {
  __m512 c[12];
  for (int i = 0; i < 12; ++i) c[i] = _mm512_set1_ps((float)i);
  __m512 a = _mm512_set1_ps(1.0f), b = _mm512_set1_ps(1e-9f);
  const long iters = 200000;
  const double t0 = cpu_now();
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) c[i] = _mm512_fmadd_ps(a, b, c[i]);
    asm volatile("" : "+v"(a), "+v"(b));
  }
  const double s = cpu_now() - t0;
  __m512 x = c[0];
  for (int i = 1; i < 12; ++i) x = _mm512_add_ps(x, c[i]);
  volatile float sink = _mm512_reduce_add_ps(x);
  (void)sink;
  return iters * 12.0 * 32 / s / 1e9;
}

// The k loop of kernel<F32, MR, 2>: rows i < EMB use embedded-broadcast FMAs, the others one
// vbroadcastss and two register FMAs. PF: prefetch B 8 k steps ahead, as the shipped kernel does.
template <int MR, int EMB, bool PF>
__attribute__((noinline)) void kern(long kc, const float* __restrict a, const float* __restrict b, float* c,
                                    long ldc) {
  __m512 acc[MR][2];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (long k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
    if (PF) {
      _mm_prefetch((const char*)(b + 256), _MM_HINT_T0);
      _mm_prefetch((const char*)(b + 272), _MM_HINT_T0);
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      if (i < EMB) {
        asm("vfmadd231ps %[m]%{1to16%}, %[b], %[c]" : [c] "+v"(acc[i][0]) : [b] "v"(b0), [m] "m"(a[i]));
        asm("vfmadd231ps %[m]%{1to16%}, %[b], %[c]" : [c] "+v"(acc[i][1]) : [b] "v"(b1), [m] "m"(a[i]));
      } else {
        const __m512 ai = _mm512_set1_ps(a[i]);
        acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
      }
    }
    a += MR;
    b += 32;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    _mm512_storeu_ps(c + i * ldc, _mm512_add_ps(_mm512_loadu_ps(c + i * ldc), acc[i][0]));
    _mm512_storeu_ps(c + i * ldc + 16, _mm512_add_ps(_mm512_loadu_ps(c + i * ldc + 16), acc[i][1]));
  }
}

struct Variant {
  const char* name;
  void (*f)(long, const float*, const float*, float*, long);
};

}  // namespace

int main(int argc, char** argv) {
  if (!__builtin_cpu_supports("avx512f")) {
    std::printf("no AVX-512 on this CPU\n");
    return 0;
  }
  const int kc = argc > 1 ? std::atoi(argv[1]) : 384, panels = argc > 2 ? std::atoi(argv[2]) : 15;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 15;
  const std::vector<Variant> vs = {
      {"emb0 (broadcasts)", &kern<14, 0, true>}, {"emb2", &kern<14, 2, true>},   {"emb4", &kern<14, 4, true>},
      {"emb6 (shipped)", &kern<14, 6, true>},    {"emb6 no prefetch", &kern<14, 6, false>},
      {"emb8", &kern<14, 8, true>},              {"emb10", &kern<14, 10, true>}, {"emb14", &kern<14, 14, true>}};
  float* a = (float*)std::aligned_alloc(64, sizeof(float) * 14 * kc + 64);
  float* b = (float*)std::aligned_alloc(64, sizeof(float) * 32L * kc * panels + 64);
  for (int i = 0; i < 14 * kc; ++i) a[i] = 1e-3f;
  for (long i = 0; i < 32L * kc * panels; ++i) b[i] = 1e-3f;
  std::vector<float> c((size_t)14 * 32 * panels);
  std::vector<std::vector<double>> ratio(vs.size());
  const long iters = (long)(3e8 / (2.0 * 14 * 32 * kc * panels)) + 1;
  for (int r = 0; r < rounds; ++r)
    for (size_t v = 0; v < vs.size(); ++v) {
      const double t0 = cpu_now();
      for (long it = 0; it < iters; ++it)
        for (int p = 0; p < panels; ++p) vs[v].f(kc, a, b + (size_t)p * 32 * kc, c.data() + p * 32, 32L * panels);
      const double g = iters * panels * 2.0 * 14 * 32 * kc / (cpu_now() - t0) / 1e9;
      ratio[v].push_back(g / fma_peak());
    }
  std::printf("# 14x32 k loop, kc=%d, %d B panels, %d rounds: ratio to the FMA peak measured right after\n", kc,
              panels, rounds);
  for (size_t v = 0; v < vs.size(); ++v) {
    std::vector<double> x = ratio[v];
    std::sort(x.begin(), x.end());
    std::printf("%-20s median %.3f  p75 %.3f  max %.3f\n", vs[v].name, x[x.size() / 2], x[x.size() * 3 / 4],
                x.back());
  }
  std::free(a);
  std::free(b);
  return 0;
}
