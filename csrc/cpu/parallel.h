// parallel_for over [0, n) in contiguous chunks, one per OpenMP thread, only when the work is big
// enough to pay for waking the threads (grain = elements of work below which we stay serial).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>
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

// Threads a driver may split its own work across: 1 inside a parallel region (nested regions would
// oversubscribe the cores), else the OpenMP team size.
inline int threads_available() {
#ifdef FLAMBEAU_OPENMP
  if (omp_in_parallel()) return 1;
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

// f(begin, end) -> R for each fixed block [b * block, min(n, (b + 1) * block)) of [0, n), the blocks
// in parallel; the results in block order. Blocks that do not depend on the thread count make a fold
// over the results (a sum added in this order) give the same bits with any number of threads.
template <class R, class F>
std::vector<R> fixed_block_results(int64_t n, int64_t block, int64_t work_per_item, F&& f) {
  std::vector<R> part(n > 0 ? (size_t)((n + block - 1) / block) : 0);
  const int64_t nb = (int64_t)part.size();
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, block * work_per_item));
  parallel_for(nb, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) part[b] = f(b * block, std::min(n, (b + 1) * block));
  });
  return part;
}

}  // namespace flambeau::cpu
