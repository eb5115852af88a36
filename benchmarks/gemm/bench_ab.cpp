// A/B comparison of two builds of the GEMM (e.g. main's sources and a working tree's) and numpy's
// OpenBLAS in one process, interleaved call batch by call batch, median and best of the rounds.
// Also measures the register-only FMA limit of the team (every thread running 12 independent
// vfmadd231ps zmm chains at once) in every round, so each column can be read as a fraction of it.
//
// Built by `run.sh ab [R] [OLD_SRC_ROOT]`: the new build is this tree's csrc (namespace flambeau),
// the old one OLD_SRC_ROOT/csrc compiled with -Dflambeau=flambeau_old (default: this tree again).
//
//   OPENBLAS_LIB=... [NT=threads] bench_ab [rounds] [filter]
#include <dlfcn.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/gemm.h"
#include "bench_util.h"

namespace flambeau_old::cpu {  // the old build: gemm.h's declarations, renamed
template <class T>
struct gemm_identity {
  using type = T;
};
template <class T>
void gemm(int64_t M, int64_t N, int64_t K, typename gemm_identity<T>::type alpha, const T* A, int64_t lda_row,
          int64_t lda_col, const T* B, int64_t ldb_row, int64_t ldb_col, typename gemm_identity<T>::type beta, T* C,
          int64_t ldc, const T* bias_n, const T* bias_m);
extern template void gemm<float>(int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t, const float*,
                                 int64_t, int64_t, float, float*, int64_t, const float*, const float*);
}  // namespace flambeau_old::cpu

namespace {

constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// GFLOP/s of nt threads each running fma_chains(iters) at once.
double fma_peak(int nt, long iters) {
  const double t0 = now();
#pragma omp parallel num_threads(nt)
  bench::fma_chains_any(iters);
  return nt * iters * bench::fma_chain_flops() / (now() - t0) / 1e9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  bench::OpenBlas ob;
  if (!bench::load_openblas(&ob)) return 1;
  const auto sgemm = ob.sgemm;
  const auto set_threads = ob.set_threads;
  const int nt = std::getenv("NT") ? std::atoi(std::getenv("NT")) : 2;
  set_threads(nt);
  omp_set_num_threads(nt);
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 9;
  const char* filter = argc > 2 ? argv[2] : nullptr;
  std::printf("# %s, threads %d, wall time, median (best) GFLOP/s of %d rounds; peak = %d-thread register FMA loop\n",
              flambeau::cpu::gemm_kernel_name(false), nt, rounds, nt);
  std::printf("%-17s %14s %14s %14s %7s %7s %6s %6s\n", "M N K B", "old", "new", "openblas", "new/old", "new/obl",
              "peak", "new/pk");

  struct Shape {
    int64_t M, N, K;
    char lb;
  };
  const Shape shapes[] = {{512, 512, 512, 'n'},  {1024, 1024, 1024, 'n'}, {2048, 2048, 2048, 'n'},
                          {4096, 4096, 4096, 'n'}, {4096, 512, 784, 'n'},  {4096, 512, 784, 't'},
                          {128, 512, 784, 'n'},  {128, 512, 784, 't'}};
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (const Shape& s : shapes) {
    char label[64];
    std::snprintf(label, sizeof label, "%lld %lld %lld %c", (long long)s.M, (long long)s.N, (long long)s.K, s.lb);
    if (filter && !std::strstr(label, filter)) continue;
    float* A = (float*)std::aligned_alloc(64, s.M * s.K * 4);
    float* B = (float*)std::aligned_alloc(64, s.K * s.N * 4);
    float* C = (float*)std::aligned_alloc(64, s.M * s.N * 4);
    for (int64_t i = 0; i < s.M * s.K; ++i) A[i] = dist(gen);
    for (int64_t i = 0; i < s.K * s.N; ++i) B[i] = dist(gen);
    const int64_t br = s.lb == 'n' ? s.N : 1, bc = s.lb == 'n' ? 1 : s.K;
    const double flop = 2.0 * s.M * s.N * s.K;
    const int inner = std::max(1, (int)(0.1 * 150e9 / flop));
    auto f_old = [&] {
      flambeau_old::cpu::gemm<float>(s.M, s.N, s.K, 1.0f, A, s.K, 1, B, br, bc, 0.0f, C, s.N, nullptr, nullptr);
    };
    auto f_new = [&] { flambeau::cpu::gemm<float>(s.M, s.N, s.K, 1.0f, A, s.K, 1, B, br, bc, 0.0f, C, s.N); };
    auto f_obl = [&] {
      sgemm(kRowMajor, kNoTrans, s.lb == 'n' ? kNoTrans : kTrans, s.M, s.N, s.K, 1.0f, A, s.K, B,
            s.lb == 'n' ? s.N : s.K, 0.0f, C, s.N);
    };
    f_old();
    f_new();
    f_obl();
    std::vector<double> t[3], pk;
    for (int r = 0; r < rounds; ++r) {
      for (int j = 0; j < 3; ++j) {
        const int which = (r + j) % 3;
        const double t0 = now();
        for (int i = 0; i < inner; ++i) which == 0 ? f_old() : which == 1 ? f_new() : f_obl();
        t[which].push_back((now() - t0) / inner);
      }
      pk.push_back(fma_peak(nt, 2000000));
    }
    double g[3], b[3];
    for (int j = 0; j < 3; ++j) {
      g[j] = flop / median(t[j]) / 1e9;
      b[j] = flop / *std::min_element(t[j].begin(), t[j].end()) / 1e9;
    }
    const double p = median(pk);
    std::printf("%-17s %6.1f (%5.1f) %6.1f (%5.1f) %6.1f (%5.1f) %7.2f %7.2f %6.1f %6.2f\n", label, g[0], b[0], g[1],
                b[1], g[2], b[2], g[1] / g[0], g[1] / g[2], p, g[1] / p);
    std::fflush(stdout);
    std::free(A);
    std::free(B);
    std::free(C);
  }
  return 0;
}
