// In-process comparison with numpy's own OpenBLAS: the same operands, flambeau's gemm and
// cblas_sgemm called alternately (rounds of ~0.1 s each), best round of each. Built and run by
// `run.sh openblas`, which finds the library numpy loads (libscipy_openblas64_*.so, ILP64 cblas with
// the scipy_ prefix) and passes it in OPENBLAS_LIB.
//
// Why besides the numpy timing: on a shared machine the two libraries see the same load when they
// alternate this finely, and with CPUTIME=1 (single thread: NT=1) the time is the thread's CPU time,
// which leaves out the time this process spent descheduled. What remains is interference in the caches
// and the FMA units, not scheduling.
//
//   OPENBLAS_LIB=... [NT=threads] [CPUTIME=1] bench_vs_openblas [rounds]
#include <dlfcn.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "cpu/gemm.h"
#include "bench_util.h"

using namespace flambeau::cpu;

namespace {

// OpenBLAS's cblas_sgemm with 64-bit integers (bench_util.h): (order, transA, transB, M, N, K, alpha, A, lda,
// B, ldb, beta, C, ldc)
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

bool use_cpu_time = false;

double now() {
  if (use_cpu_time) {
    timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  bench::OpenBlas ob;
  if (!bench::load_openblas(&ob)) return 1;
  const auto sgemm = ob.sgemm;
  const auto set_threads = ob.set_threads;
  const auto corename = ob.corename;
  const int nt = std::getenv("NT") ? std::atoi(std::getenv("NT")) : 0;
  if (nt > 0) set_threads(nt);
  use_cpu_time = std::getenv("CPUTIME") != nullptr;
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 8;
  std::printf("# flambeau %s vs OpenBLAS %s, threads %s, %s time, best of %d rounds\n", gemm_kernel_name(false),
              corename ? corename() : "?", nt > 0 ? std::getenv("NT") : "default",
              use_cpu_time ? "thread CPU" : "wall", rounds);

  struct Shape {
    int64_t M, N, K;
    char lb;
  };
  const Shape shapes[] = {{1024, 1024, 1024, 'n'}, {2048, 2048, 2048, 'n'}, {4096, 512, 784, 'n'},
                          {4096, 512, 784, 't'},   {128, 512, 784, 'n'},    {128, 512, 784, 't'},
                          {128, 128, 128, 'n'},    {256, 256, 256, 'n'},    {512, 512, 512, 'n'}};
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (const Shape& s : shapes) {
    std::vector<float> A(s.M * s.K), B(s.K * s.N), C(s.M * s.N);
    for (auto& x : A) x = dist(gen);
    for (auto& x : B) x = dist(gen);
    const int64_t br = s.lb == 'n' ? s.N : 1, bc = s.lb == 'n' ? 1 : s.K;
    const double flop = 2.0 * s.M * s.N * s.K;
    const int inner = std::max(1, (int)(0.1 * 150e9 / flop));
    auto ours = [&] {
      gemm<float>(s.M, s.N, s.K, 1.0f, A.data(), s.K, 1, B.data(), br, bc, 0.0f, C.data(), s.N);
    };
    auto theirs = [&] {
      sgemm(kRowMajor, kNoTrans, s.lb == 'n' ? kNoTrans : kTrans, s.M, s.N, s.K, 1.0f, A.data(), s.K, B.data(),
            s.lb == 'n' ? s.N : s.K, 0.0f, C.data(), s.N);
    };
    ours();
    theirs();
    double best_ours = 1e30, best_theirs = 1e30;
    for (int r = 0; r < rounds; ++r) {
      double t0 = now();
      for (int i = 0; i < inner; ++i) ours();
      best_ours = std::min(best_ours, (now() - t0) / inner);
      t0 = now();
      for (int i = 0; i < inner; ++i) theirs();
      best_theirs = std::min(best_theirs, (now() - t0) / inner);
    }
    std::printf("%5lld %5lld %5lld %c  flambeau %6.1f  openblas %6.1f  ratio %.2f\n", (long long)s.M, (long long)s.N,
                (long long)s.K, s.lb, flop / best_ours / 1e9, flop / best_theirs / 1e9, best_theirs / best_ours);
    std::fflush(stdout);
  }
  return 0;
}
