// Pieces shared by the GEMM benchmark programs (bench_kernel, bench_ab, bench_vs_openblas): the
// register-only FMA loop that measures the machine's limit, and loading OpenBLAS's sgemm from the
// library numpy ships (OPENBLAS_LIB), so that both run inside one process with our GEMM.
#pragma once
#include <dlfcn.h>
#include <immintrin.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace bench {

// 12 independent chains of vfmadd231ps zmm, `iters` times: 12 * 32 flops per iteration. A function
// of its own (noinline): a target attribute does not reach an OpenMP region outlined from its caller.
__attribute__((target("avx512f"), noinline)) inline void fma_chains(long iters) {
  __m512 c0 = _mm512_set1_ps(0), c1 = _mm512_set1_ps(1), c2 = _mm512_set1_ps(2), c3 = _mm512_set1_ps(3);
  __m512 c4 = _mm512_set1_ps(4), c5 = _mm512_set1_ps(5), c6 = _mm512_set1_ps(6), c7 = _mm512_set1_ps(7);
  __m512 c8 = _mm512_set1_ps(8), c9 = _mm512_set1_ps(9), c10 = _mm512_set1_ps(10), c11 = _mm512_set1_ps(11);
  __m512 a = _mm512_set1_ps(1.0f), b = _mm512_set1_ps(1e-9f);
  for (long i = 0; i < iters; ++i) {
    c0 = _mm512_fmadd_ps(a, b, c0);
    c1 = _mm512_fmadd_ps(a, b, c1);
    c2 = _mm512_fmadd_ps(a, b, c2);
    c3 = _mm512_fmadd_ps(a, b, c3);
    c4 = _mm512_fmadd_ps(a, b, c4);
    c5 = _mm512_fmadd_ps(a, b, c5);
    c6 = _mm512_fmadd_ps(a, b, c6);
    c7 = _mm512_fmadd_ps(a, b, c7);
    c8 = _mm512_fmadd_ps(a, b, c8);
    c9 = _mm512_fmadd_ps(a, b, c9);
    c10 = _mm512_fmadd_ps(a, b, c10);
    c11 = _mm512_fmadd_ps(a, b, c11);
    asm volatile("" : "+v"(a), "+v"(b));  // the compiler may not hoist or merge the chains
  }
  __m512 x = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                           _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
  x = _mm512_add_ps(x, _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, x);
  volatile float sink = lanes[0];  // keep the chains alive
  (void)sink;
}

// The same with ymm registers, for AVX2-only machines (12 * 16 flops per iteration).
__attribute__((target("avx2,fma"), noinline)) inline void fma_chains_avx2(long iters) {
  __m256 c[12];
  for (int j = 0; j < 12; ++j) c[j] = _mm256_set1_ps((float)j);
  __m256 a = _mm256_set1_ps(1.0f), b = _mm256_set1_ps(1e-9f);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) c[j] = _mm256_fmadd_ps(a, b, c[j]);
    asm volatile("" : "+x"(a), "+x"(b));
  }
  __m256 x = c[0];
  for (int j = 1; j < 12; ++j) x = _mm256_add_ps(x, c[j]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, x);
  volatile float sink = lanes[0];
  (void)sink;
}

// flops per iteration of the chain loop this machine runs (fma_chains_any).
inline double fma_chain_flops() { return __builtin_cpu_supports("avx512f") ? 12.0 * 32 : 12.0 * 16; }
inline void fma_chains_any(long iters) {
  if (__builtin_cpu_supports("avx512f")) fma_chains(iters);
  else fma_chains_avx2(iters);
}

using sgemm_fn = void (*)(int, int, int, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                          int64_t, float, float*, int64_t);

struct OpenBlas {
  sgemm_fn sgemm = nullptr;
  void (*set_threads)(int) = nullptr;
  const char* (*corename)() = nullptr;  // may stay null
};

// Loads OpenBLAS from $OPENBLAS_LIB (numpy's scipy-openblas build, 64-bit integer interface).
// Returns false, having said why, when the library or its sgemm cannot be found.
inline bool load_openblas(OpenBlas* ob) {
  const char* lib = std::getenv("OPENBLAS_LIB");
  void* h = lib ? dlopen(lib, RTLD_NOW | RTLD_LOCAL) : nullptr;
  if (!h) {
    std::printf("cannot load OPENBLAS_LIB=%s: %s\n", lib ? lib : "(unset)", lib ? dlerror() : "");
    return false;
  }
  ob->sgemm = (sgemm_fn)dlsym(h, "scipy_cblas_sgemm64_");
  ob->set_threads = (void (*)(int))dlsym(h, "scipy_openblas_set_num_threads64_");
  ob->corename = (const char* (*)())dlsym(h, "scipy_openblas_get_corename64_");
  if (!ob->sgemm || !ob->set_threads) {
    std::printf("OPENBLAS_LIB has no scipy_cblas_sgemm64_\n");
    return false;
  }
  return true;
}

}  // namespace bench
