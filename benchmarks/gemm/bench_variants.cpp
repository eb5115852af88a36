// Variants of the float GEMM that lost (or tied), run through the real driver with
// gemm_detail::set_kernel_override, alternating round by round with the shipped kernel set so that all
// of them see the same machine. Numbers and conclusions: RESULTS-gemm.md.
//
//   bench_variants [rounds]     (run.sh variants [R]; CPUTIME=1 with OMP_NUM_THREADS=1 for thread CPU time)
//
// Variants:
//   shipped          the AVX-512 set as selected (14x32, kc 384, nc 480, in-register transposing packers)
//   scalar-pack      the same kernels with plain C++ packers (the portable set's, compiled for the
//                    baseline ISA as they would be in gemm.cpp): what the SIMD packers buy
//   kc256 / kc512    depth of the packed blocks
//   nc240            narrower B blocks (half the L2 footprint)
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "cpu/capability.h"
#include "cpu/gemm.h"
#include "cpu/gemm_kernels.h"

using namespace flambeau::cpu;
using gemm_detail::KernelSet;

namespace {

bool use_cpu_time = false;

double now() {
  if (use_cpu_time) {
    timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The portable packer of gemm.cpp: dst[k*P + i] = src[i*si + k*sk], zero rows m..P-1.
template <int P>
void scalar_pack(const float* src, int64_t si, int64_t sk, int64_t m, int64_t kc, float* __restrict dst) {
  if (si == 1) {
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t i = 0; i < m; ++i) dst[k * P + i] = src[k * sk + i];
      for (int64_t i = m; i < P; ++i) dst[k * P + i] = 0.0f;
    }
    return;
  }
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t i = m; i < P; ++i) dst[k * P + i] = 0.0f;
  if (sk == 1) {
    constexpr int64_t kChunk = 64;
    for (int64_t k0 = 0; k0 < kc; k0 += kChunk) {
      const int64_t k1 = std::min(kc, k0 + kChunk);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t k = k0; k < k1; ++k) dst[k * P + i] = src[i * si + k];
    }
    return;
  }
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t i = 0; i < m; ++i) dst[k * P + i] = src[i * si + k * sk];
}

}  // namespace

int main(int argc, char** argv) {
  if (detected_capability() != Capability::AVX512) {
    std::printf("bench_variants compares AVX-512 variants; this CPU has no AVX-512\n");
    return 0;
  }
  use_cpu_time = std::getenv("CPUTIME") != nullptr;
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 8;
  const KernelSet<float> shipped = *gemm_avx512::sgemm_kernels();
  if (shipped.mr != 14 || shipped.nr != 32) {
    std::printf("expected the 14x32 set\n");
    return 1;
  }
  struct Variant {
    std::string name;
    KernelSet<float> ks;
  };
  std::vector<Variant> variants = {{"shipped", shipped}};
  {
    KernelSet<float> v = shipped;
    v.pack_a = &scalar_pack<14>;
    v.pack_b = &scalar_pack<32>;
    variants.push_back({"scalar-pack", v});
  }
  for (int kc : {256, 512}) {
    KernelSet<float> v = shipped;
    v.kc = kc;
    variants.push_back({"kc" + std::to_string(kc), v});
  }
  {
    KernelSet<float> v = shipped;
    v.nc = 240;
    variants.push_back({"nc240", v});
  }

  std::printf("# %s time, best of %d rounds, GFLOP/s\n%-18s", use_cpu_time ? "thread CPU" : "wall", rounds, "M N K B");
  for (const Variant& v : variants) std::printf(" %12s", v.name.c_str());
  std::printf("\n");

  struct Shape {
    int64_t M, N, K;
    char lb;
  };
  const Shape shapes[] = {{1024, 1024, 1024, 'n'}, {2048, 2048, 2048, 'n'}, {4096, 512, 784, 'n'},
                          {4096, 512, 784, 't'},   {128, 512, 784, 'n'},    {128, 512, 784, 't'}};
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (const Shape& s : shapes) {
    std::vector<float> A(s.M * s.K), B(s.K * s.N), C(s.M * s.N);
    for (auto& x : A) x = dist(gen);
    for (auto& x : B) x = dist(gen);
    const int64_t br = s.lb == 'n' ? s.N : 1, bc = s.lb == 'n' ? 1 : s.K;
    const double flop = 2.0 * s.M * s.N * s.K;
    const int inner = std::max(1, (int)(0.05 * 100e9 / flop));
    std::vector<double> best(variants.size(), 1e30);
    for (int r = 0; r < rounds; ++r) {
      for (size_t v = 0; v < variants.size(); ++v) {
        gemm_detail::set_kernel_override(&variants[v].ks);
        gemm<float>(s.M, s.N, s.K, 1.0f, A.data(), s.K, 1, B.data(), br, bc, 0.0f, C.data(), s.N);
        const double t0 = now();
        for (int i = 0; i < inner; ++i)
          gemm<float>(s.M, s.N, s.K, 1.0f, A.data(), s.K, 1, B.data(), br, bc, 0.0f, C.data(), s.N);
        best[v] = std::min(best[v], (now() - t0) / inner);
      }
    }
    gemm_detail::set_kernel_override((const KernelSet<float>*)nullptr);
    char label[64];
    std::snprintf(label, sizeof label, "%lld %lld %lld %c", (long long)s.M, (long long)s.N, (long long)s.K, s.lb);
    std::printf("%-18s", label);
    for (double b : best) std::printf(" %12.1f", flop / b / 1e9);
    std::printf("\n");
    std::fflush(stdout);
  }
  return 0;
}
