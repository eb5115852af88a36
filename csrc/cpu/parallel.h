// parallel_for over [0, n) in contiguous chunks, one per OpenMP thread, only when the work is big
// enough to pay for waking the threads (grain = elements of work below which we stay serial).
#pragma once
#include <algorithm>
#include <cstdint>
#ifdef FLAMBEAU_OPENMP
#include <omp.h>
#endif

namespace flambeau::cpu {

constexpr int64_t kGrain = 32768;

inline int max_threads() {
#ifdef FLAMBEAU_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
#ifdef FLAMBEAU_OPENMP
  if (n > grain && max_threads() > 1 && !omp_in_parallel()) {
    int64_t nt = std::min<int64_t>(max_threads(), (n + grain - 1) / grain);
#pragma omp parallel num_threads((int)nt)
    {
      int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
      int64_t chunk = (n + T - 1) / T;
      int64_t b = t * chunk, e = std::min(n, b + chunk);
      if (b < e) f(b, e);
    }
    return;
  }
#endif
  f(0, n);
}

}  // namespace flambeau::cpu
