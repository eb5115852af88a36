// The float micro-kernel of this CPU (AVX-512, else AVX2) alone, against the core's FMA peak measured
// in the same process.
//
//   bench_kernel [kc] [panels]     (run.sh kernel; single thread, thread CPU time)
//
// Calls the 14x32 kernel on one packed A micro-panel (14 x kc) and `panels` packed B micro-panels
// (kc x 32 each), like the driver's jr loop over an L2-resident B block, and alternates each timing
// with a register-only FMA loop (12 independent chains of vfmadd231ps zmm) that measures what the FMA
// units deliver at that moment. The ratio is the kernel's efficiency; on a shared machine the best
// round is the one to read.
#include <immintrin.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cpu/capability.h"
#include "cpu/gemm_kernels.h"
#include "bench_util.h"

using namespace flambeau::cpu;

namespace {

double cpu_now() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

// GFLOP/s of 12 independent FMA chains (enough to cover 4 cycles of latency on 2 ports), one thread.
double fma_peak() {
  const long iters = 5000000;
  const double t0 = cpu_now();
  bench::fma_chains_any(iters);
  return iters * bench::fma_chain_flops() / (cpu_now() - t0) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const Capability cap = detected_capability();
  if (cap == Capability::Default) {
    std::printf("no AVX2 on this CPU\n");
    return 0;
  }
  const gemm_detail::KernelSet<float>* ks =
      cap == Capability::AVX512 ? gemm_avx512::sgemm_kernels() : gemm_avx2::sgemm_kernels();
  const int kc = argc > 1 ? std::atoi(argv[1]) : ks->kc;
  const int panels = argc > 2 ? std::atoi(argv[2]) : ks->nc / ks->nr;
  const int MR = ks->mr, NR = ks->nr;
  float* a = (float*)std::aligned_alloc(64, sizeof(float) * MR * kc + 64);
  float* b = (float*)std::aligned_alloc(64, sizeof(float) * NR * kc * panels + 64);
  for (int i = 0; i < MR * kc; ++i) a[i] = 1e-3f;
  for (long i = 0; i < (long)NR * kc * panels; ++i) b[i] = 1e-3f;
  std::vector<float> c((size_t)MR * NR * panels);
  const long iters = (long)(2e8 / (2.0 * MR * NR * kc * panels)) + 1;
  double best_kernel = 0, best_peak = 0, best_ratio = 0;
  for (int rep = 0; rep < 20; ++rep) {
    const double t0 = cpu_now();
    for (long it = 0; it < iters; ++it)
      for (int p = 0; p < panels; ++p)
        ks->kernel[MR - 1][1](kc, a, b + (size_t)p * NR * kc, c.data() + p * NR, (int64_t)NR * panels, NR, 1.0f,
                              1.0f, nullptr, nullptr);
    const double g = iters * panels * 2.0 * MR * NR * kc / (cpu_now() - t0) / 1e9;
    const double pk = fma_peak();
    best_kernel = std::max(best_kernel, g);
    best_peak = std::max(best_peak, pk);
    best_ratio = std::max(best_ratio, g / pk);
  }
  std::printf("%s kernel, kc=%d, %d B panels: kernel %.1f GFLOP/s, FMA peak %.1f GFLOP/s, best round %.2f of peak\n",
              ks->name, kc, panels, best_kernel, best_peak, best_ratio);
  return 0;
}
