// Standalone correctness test and benchmark for csrc/cpu/gemm.cpp (no Python module needed).
// Build and run: benchmarks/gemm/run.sh (compiles this with the GEMM sources, flags as in CMake).
//
//   bench_gemm test            check against a naive reference (double accumulation): odd sizes,
//                              transposed and strided operands, alpha/beta, biases, beta = 0 over NaN,
//                              alpha = 0 over NaN, K = 0, batched; float and double; every capability
//                              this CPU has (forced with set_capability)
//   bench_gemm bench [reps]    GFLOP/s (best of reps) for the benchmark shapes, one line per shape:
//                              "name M N K layout gflops"
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu/capability.h"
#include "cpu/gemm.h"

using namespace flambeau::cpu;

namespace {

std::mt19937_64 rng(12345);

template <class T>
std::vector<T> random_vec(size_t n) {
  std::uniform_real_distribution<double> d(-1.0, 1.0);
  std::vector<T> v(n);
  for (auto& x : v) x = (T)d(rng);
  return v;
}

// C = alpha*A@B + beta*C + bias_n + bias_m, in double, plus the magnitude bound for the error.
template <class T>
void reference(int64_t M, int64_t N, int64_t K, double alpha, const T* A, int64_t ar, int64_t ac, const T* B,
               int64_t br, int64_t bc, double beta, const T* C0, int64_t ldc, const T* bn, const T* bm,
               std::vector<double>& out, std::vector<double>& mag) {
  out.assign(M * N, 0.0);
  mag.assign(M * N, 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0, m = 0;
      if (alpha != 0)
        for (int64_t k = 0; k < K; ++k) {
          double p = (double)A[i * ar + k * ac] * (double)B[k * br + j * bc];
          s += p;
          m += std::fabs(p);
        }
      double r = alpha * s;
      double rm = std::fabs(alpha) * m;
      if (beta != 0) {
        r += beta * (double)C0[i * ldc + j];
        rm += std::fabs(beta * (double)C0[i * ldc + j]);
      }
      if (bn) r += bn[j], rm += std::fabs((double)bn[j]);
      if (bm) r += bm[i], rm += std::fabs((double)bm[i]);
      out[i * N + j] = r;
      mag[i * N + j] = rm;
    }
}

int failures = 0;
int checks = 0;

// layout: 'n' = row-major, 't' = transposed (column-major), 's' = strided (both strides > 1)
template <class T>
void check_one(int64_t M, int64_t N, int64_t K, char la, char lb, double alpha, double beta, bool use_bn,
               bool use_bm, bool nan_c, const char* cap) {
  // A: M x K
  int64_t ar, ac, asz;
  if (la == 'n') ar = K, ac = 1, asz = M * K;
  else if (la == 't') ar = 1, ac = M, asz = M * K;
  else ar = 3 * K + 1, ac = 3, asz = (M ? M - 1 : 0) * ar + (K ? K - 1 : 0) * ac + 1;
  int64_t br, bc, bsz;
  if (lb == 'n') br = N, bc = 1, bsz = K * N;
  else if (lb == 't') br = 1, bc = K, bsz = K * N;
  else br = 2, bc = 2 * K + 5, bsz = (K ? K - 1 : 0) * br + (N ? N - 1 : 0) * bc + 1;
  const int64_t ldc = N + 3;
  auto A = random_vec<T>(asz + 1), B = random_vec<T>(bsz + 1);
  auto C = random_vec<T>(M * ldc + 1), bn = random_vec<T>(N + 1), bm = random_vec<T>(M + 1);
  if (nan_c)
    for (auto& x : C) x = std::numeric_limits<T>::quiet_NaN();
  if (alpha == 0)  // alpha == 0 must not read A or B
    for (auto& x : A) x = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> C0 = C;
  std::vector<double> ref, mag;
  reference<T>(M, N, K, alpha, A.data(), ar, ac, B.data(), br, bc, beta, C0.data(), ldc,
               use_bn ? bn.data() : nullptr, use_bm ? bm.data() : nullptr, ref, mag);
  gemm<T>(M, N, K, (T)alpha, A.data(), ar, ac, B.data(), br, bc, (T)beta, C.data(), ldc,
          use_bn ? bn.data() : nullptr, use_bm ? bm.data() : nullptr);
  const double eps = std::numeric_limits<T>::epsilon();
  double worst = 0;
  bool bad = false;
  for (int64_t i = 0; i < M && !bad; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const T got = C[i * ldc + j];
      if (j >= N) {  // padding between rows must be untouched
        if (std::memcmp(&got, &C0[i * ldc + j], sizeof(T)) != 0) bad = true;
        continue;
      }
      const double r = ref[i * N + j];
      const double tol = (2.0 * (K + 4)) * eps * (mag[i * N + j] + 1e-30);
      const double err = std::fabs((double)got - r);
      if (!(err <= tol)) bad = true;  // also catches NaN
      if (tol > 0) worst = std::max(worst, err / tol);
    }
  }
  ++checks;
  if (bad) {
    ++failures;
    std::printf("FAIL [%s] %s M=%lld N=%lld K=%lld A=%c B=%c alpha=%g beta=%g bias_n=%d bias_m=%d nanC=%d\n", cap,
                sizeof(T) == 4 ? "float" : "double", (long long)M, (long long)N, (long long)K, la, lb, alpha, beta,
                use_bn, use_bm, nan_c);
  }
}

template <class T>
void check_batched(const char* cap) {
  const int64_t batch = 5, M = 37, N = 29, K = 19;
  auto A = random_vec<T>(batch * M * K), B = random_vec<T>(K * N), C = random_vec<T>(batch * M * N);
  auto bn = random_vec<T>(N);
  // B broadcast (stride 0) and transposed; A batched row-major.
  gemm_batched<T>(batch, M, N, K, 1.5, A.data(), M * K, K, 1, B.data(), 0, 1, K, 0.0, C.data(), M * N, N,
                  bn.data(), nullptr);
  std::vector<double> ref, mag;
  bool bad = false;
  for (int64_t b = 0; b < batch; ++b) {
    reference<T>(M, N, K, 1.5, A.data() + b * M * K, K, 1, B.data(), 1, K, 0.0, nullptr, N, bn.data(), nullptr,
                 ref, mag);
    for (int64_t i = 0; i < M * N; ++i)
      if (!(std::fabs(C[b * M * N + i] - ref[i]) <= 2.0 * (K + 4) * std::numeric_limits<T>::epsilon() * mag[i]))
        bad = true;
  }
  // Many small products (takes the parallel-over-batch path).
  const int64_t batch2 = 64, m2 = 9, n2 = 13, k2 = 7;
  auto A2 = random_vec<T>(batch2 * m2 * k2), B2 = random_vec<T>(batch2 * k2 * n2), C2 = random_vec<T>(batch2 * m2 * n2);
  std::vector<T> C20 = C2;
  gemm_batched<T>(batch2, m2, n2, k2, 1.0, A2.data(), m2 * k2, 1, m2, B2.data(), k2 * n2, n2, 1, 0.5, C2.data(),
                  m2 * n2, n2, nullptr, nullptr);
  for (int64_t b = 0; b < batch2; ++b) {
    reference<T>(m2, n2, k2, 1.0, A2.data() + b * m2 * k2, 1, m2, B2.data() + b * k2 * n2, n2, 1, 0.5,
                 C20.data() + b * m2 * n2, n2, nullptr, nullptr, ref, mag);
    for (int64_t i = 0; i < m2 * n2; ++i)
      if (!(std::fabs(C2[b * m2 * n2 + i] - ref[i]) <= 2.0 * (k2 + 4) * std::numeric_limits<T>::epsilon() * mag[i]))
        bad = true;
  }
  ++checks;
  if (bad) {
    ++failures;
    std::printf("FAIL [%s] %s batched\n", cap, sizeof(T) == 4 ? "float" : "double");
  }
}

// The same bits for any thread count (and whichever way the threads split the product).
template <class T>
void check_thread_invariance(const char* cap) {
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
  struct Case { int64_t M, N, K; };
  std::vector<Case> cases = {{1000, 300, 700}, {3000, 20, 500}, {50, 2000, 900}};
  // Two row blocks and, with a team, two k phases per row block (a 16 MiB shared A buffer).
  // Rows split with a B over 16 MiB: two phases. Big, so only on the best capability.
  if (sizeof(T) == 4 && std::string(cap) != "default") cases.push_back({3100, 1600, 3000});
  if (sizeof(T) == 4 && std::string(cap) == capability_name(detected_capability()))
    cases.push_back({4400, 2200, 1900});
  for (Case c : cases) {
    auto A = random_vec<T>(c.M * c.K), B = random_vec<T>(c.K * c.N), bn = random_vec<T>(c.N);
    std::vector<T> ref(c.M * c.N), got(c.M * c.N);
    omp_set_num_threads(1);
    gemm<T>(c.M, c.N, c.K, 1.0, A.data(), c.K, 1, B.data(), 1, c.K, 0.0, ref.data(), c.N, bn.data());
    for (int nt : {2, 3, 4}) {
      omp_set_num_threads(nt);
      gemm<T>(c.M, c.N, c.K, 1.0, A.data(), c.K, 1, B.data(), 1, c.K, 0.0, got.data(), c.N, bn.data());
      ++checks;
      if (std::memcmp(ref.data(), got.data(), sizeof(T) * ref.size()) != 0) {
        ++failures;
        std::printf("FAIL [%s] %s M=%lld N=%lld K=%lld: %d threads differ from 1 thread\n", cap,
                    sizeof(T) == 4 ? "float" : "double", (long long)c.M, (long long)c.N, (long long)c.K, nt);
      }
    }
  }
  omp_set_num_threads(saved);
#else
  (void)cap;
#endif
}

template <class T>
void run_checks(const char* cap) {
  const int64_t sizes[] = {1, 2, 7, 13, 14, 15, 16, 17, 31, 33, 48, 127};
  // All small-size combinations with the common layouts.
  for (int64_t M : sizes)
    for (int64_t N : sizes)
      for (int64_t K : {1, 7, 33}) {
        check_one<T>(M, N, K, 'n', 'n', 1.0, 0.0, false, false, false, cap);
        check_one<T>(M, N, K, 't', 't', 1.0, 0.0, true, false, false, cap);
      }
  const char layouts[] = {'n', 't', 's'};
  for (char la : layouts)
    for (char lb : layouts) {
      check_one<T>(127, 33, 129, la, lb, 1.0, 0.0, false, false, true, cap);
      check_one<T>(33, 127, 1000, la, lb, 0.75, 0.5, true, true, false, cap);
      check_one<T>(200, 300, 17, la, lb, -2.0, 1.0, false, true, false, cap);
    }
  // Big enough for several k/m/n blocks and for both threading modes.
  check_one<T>(1000, 1000, 1000, 'n', 'n', 1.0, 0.0, true, false, true, cap);
  check_one<T>(1000, 7, 1000, 'n', 't', 1.0, 1.0, true, true, false, cap);
  check_one<T>(7, 1000, 1000, 't', 'n', 1.0, -1.0, false, true, false, cap);
  check_one<T>(3100, 40, 800, 'n', 't', 1.0, 0.0, true, false, false, cap);
  check_one<T>(129, 1111, 391, 's', 'n', 0.5, 0.25, true, true, false, cap);
  // Degenerate: alpha = 0 (A full of NaN must not be read), K = 0, empty.
  check_one<T>(17, 19, 23, 'n', 'n', 0.0, 0.5, true, true, false, cap);
  check_one<T>(17, 19, 23, 'n', 'n', 0.0, 0.0, false, false, true, cap);
  check_one<T>(17, 19, 0, 'n', 'n', 1.0, 2.0, true, false, false, cap);
  check_one<T>(17, 19, 0, 'n', 'n', 1.0, 0.0, false, false, true, cap);
  check_one<T>(0, 19, 5, 'n', 'n', 1.0, 0.0, false, false, false, cap);
  check_one<T>(19, 0, 5, 'n', 'n', 1.0, 0.0, false, false, false, cap);
  check_batched<T>(cap);
  check_thread_invariance<T>(cap);
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Shape {
  const char* name;
  int64_t M, N, K;
  char lb;  // 'n': B is K x N row-major; 't': B = W^T with W N x K row-major (F.linear)
};

void bench(int reps) {
  const Shape shapes[] = {
      {"square", 1024, 1024, 1024, 'n'}, {"square", 2048, 2048, 2048, 'n'}, {"mlp", 4096, 512, 784, 'n'},
      {"mlp", 4096, 512, 784, 't'},      {"mlp", 128, 512, 784, 'n'},       {"mlp", 128, 512, 784, 't'},
      {"small", 128, 128, 128, 'n'},     {"small", 256, 256, 256, 'n'},     {"small", 512, 512, 512, 'n'},
  };
  for (const Shape& s : shapes) {
    auto A = random_vec<float>(s.M * s.K), B = random_vec<float>(s.K * s.N);
    std::vector<float> C(s.M * s.N);
    const int64_t br = s.lb == 'n' ? s.N : 1, bc = s.lb == 'n' ? 1 : s.K;
    const double flop = 2.0 * s.M * s.N * s.K;
    // Enough calls per timing to last ~0.05 s at 150 GFLOP/s: many short timings, so that the best one
    // is likely to have run while the (shared) machine was quiet.
    const int inner = std::max(1, (int)(0.05 * 150e9 / flop));
    gemm<float>(s.M, s.N, s.K, 1.0f, A.data(), s.K, 1, B.data(), br, bc, 0.0f, C.data(), s.N);  // warm-up
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
      double t0 = now();
      for (int i = 0; i < inner; ++i)
        gemm<float>(s.M, s.N, s.K, 1.0f, A.data(), s.K, 1, B.data(), br, bc, 0.0f, C.data(), s.N);
      best = std::min(best, (now() - t0) / inner);
    }
    std::printf("%s %lld %lld %lld %c %.1f\n", s.name, (long long)s.M, (long long)s.N, (long long)s.K, s.lb,
                flop / best / 1e9);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "test";
  if (mode == "bench") {
    std::printf("# kernel: %s\n", gemm_kernel_name(false));
    bench(argc > 2 ? std::atoi(argv[2]) : 5);
    return 0;
  }
  const Capability best = detected_capability();
  for (int c = 0; c <= (int)best; ++c) {
    const char* name = capability_name((Capability)c);
    set_capability(name);
    const int before = failures;
    run_checks<float>(name);
    run_checks<double>(name);
    std::printf("%-8s float: %s, double: %s  (%d checks so far, %d failures)\n", name, gemm_kernel_name(false),
                gemm_kernel_name(true), checks, failures - before);
  }
  std::printf("%s: %d checks, %d failures\n", failures ? "FAILED" : "OK", checks, failures);
  return failures ? 1 : 0;
}
