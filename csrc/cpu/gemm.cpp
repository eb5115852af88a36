// CPU GEMM driver: C = alpha * A @ B + beta * C + bias_n[j] + bias_m[i] (API: csrc/cpu/gemm.h).
//
// Built in the manner of BLIS (Van Zee & van de Geijn; Goto & van de Geijn, "Anatomy of
// high-performance matrix multiplication"): the operands are copied into packed panels whose layout is
// exactly the order in which a register micro-kernel reads them, blocked so that each level of reuse
// comes out of a cache level:
//
//   for pc in K by kc                         k block; C gets beta and the biases in the first one
//     for ic in M by mc                       A block (mc x kc), packed once, shared by the threads: L3
//       pack A block -> MR-row micro-panels   (the threads pack disjoint panels, then a barrier)
//       for jc in N by nc                     B block (kc x nc), packed by the thread that takes it,
//         pack B block -> NR-column panels    into its own buffer: its core's L2
//         for ir in mc by MR                  A micro-panel (MR x kc) reused across the jr loop
//           for jr in nc by NR                B micro-panels stream from L2
//             micro-kernel: MR x NR tile of C, kc rank-1 updates in registers
//
// The micro-kernel's tile puts vectors along N, because C is row-major: the kernel loads NR/VL vectors
// of a B row and broadcasts MR values of an A column. This is BLIS's skx ordering seen through the
// transpose (C^T = B^T A^T): the broadcast operand's panel is reused from L1 while the vector operand
// streams from L2, which has bandwidth to spare for one zmm row per 14 FMA cycles.
//
// Threads (OpenMP). Two ways to share a product, both handing out work from an atomic counter rather
// than in fixed shares, because on a shared machine a thread that loses its core for a while would
// otherwise hold up the rest:
//   - columns (the default): the loops above, the jc blocks dealt out dynamically; the A block is
//     packed once for the team (gemm_team).
//   - rows, for tall products (M >= 2N, e.g. a large batch through a narrow layer): B is packed once
//     for the team, and blocks of rows are dealt out, each packing its own A (gemm_team_rows).
// The shared operand is packed for several k blocks at once (up to 16 MiB), so a product has one or
// two phases, each with one barrier after packing (and one before repacking): few points where the
// team waits for its slowest thread. When that operand is small (kPrivateBytes) every thread packs a
// whole copy of it instead, and there is no barrier at all; otherwise nothing is packed twice. Where
// a packed A micro-panel would feed only a few kernel calls (N of at most 4 panels per thread), a row-
// major A is not packed at all: kernels that read it in place (use_row_a). Items are whole panels, a
// few per thread (team_block). Tiny products run on the calling thread, as do calls from inside a
// parallel region. Every element of C is summed in the same order whatever the thread count or the split: k
// blocks in order, the kernel's FMA chain within one.
//
// Packing reads A and B through arbitrary element strides, so transposed operands (F.linear's weight,
// the gradients' A^T and B^T) cost nothing extra; unit-stride layouts take the contiguous fast paths.
// Edge panels are zero-padded to MR/NR, and the micro-kernels are instantiated for every row count
// 1..MR, so ragged edges neither read out of bounds nor waste FMAs on padded rows.
//
// Kernel sets: AVX-512 (14x32 float, 14x16 double) and AVX2 (6x16 float, 6x8 double) live in
// csrc/cpu/simd/gemm_*.cpp; the portable set below (plain C++, vectorised by the compiler for the
// baseline ISA) is the fallback and the reference for FLAMBEAU_CPU_CAPABILITY=default.
#include "cpu/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <thread>

#include "cpu/capability.h"
#include "cpu/gemm_kernels.h"
#include "cpu/parallel.h"
#include "cpu/scratch.h"

#ifdef FLAMBEAU_OPENMP
#include <omp.h>
#endif

namespace flambeau::cpu {

using gemm_detail::KernelSet;

namespace {

// ---------------------------------------------------------------------------------------------------
// Portable packing (contract in gemm_kernels.h): dst[k*P + i] = src[i*si + k*sk], zero rows m..P-1.
// The SIMD kernel sets bring their own packers (in-register transposes); this one serves the portable
// set. For sk == 1 (a transpose) rows are read in chunks of kChunk along k, so that the P source
// lines in flight and the chunk of dst both stay in L1.

template <class T, int P>
void portable_pack(const T* src, int64_t si, int64_t sk, int64_t m, int64_t kc, T* __restrict dst) {
  if (si == 1) {
    for (int64_t k = 0; k < kc; ++k) {
      const T* s = src + k * sk;
      T* d = dst + k * P;
      for (int64_t i = 0; i < m; ++i) d[i] = s[i];
      for (int64_t i = m; i < P; ++i) d[i] = T(0);
    }
    return;
  }
  if (m < P) {
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t i = m; i < P; ++i) dst[k * P + i] = T(0);
  }
  if (sk == 1) {
    constexpr int64_t kChunk = 64;
    for (int64_t k0 = 0; k0 < kc; k0 += kChunk) {
      const int64_t k1 = std::min(kc, k0 + kChunk);
      for (int64_t i = 0; i < m; ++i) {
        const T* s = src + i * si;
        for (int64_t k = k0; k < k1; ++k) dst[k * P + i] = s[k];
      }
    }
    return;
  }
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t i = 0; i < m; ++i) dst[k * P + i] = src[i * si + k * sk];
}

// ---------------------------------------------------------------------------------------------------
// Portable micro-kernels (baseline ISA). acc is a small array the compiler keeps in SSE registers:
// 4 x 8 floats = 8 xmm accumulators, 4 x 4 doubles = 8 xmm accumulators.

template <class T, int MR, int NR, int M>
void portable_kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c, int64_t ldc,
                     int64_t n, T alpha, T beta, const T* bias_n, const T* bias_m) {
  T acc[M][NR];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = T(0);
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < M; ++i) {
      const T ai = a[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
    }
    a += MR;
    b += NR;
  }
  for (int i = 0; i < M; ++i) {
    T* ci = c + i * ldc;
    const T bm = bias_m ? bias_m[i] : T(0);
    for (int64_t j = 0; j < n; ++j) {
      T r = alpha * acc[i][j] + (bias_n ? bias_n[j] : T(0)) + bm;
      if (beta != T(0)) r += beta * ci[j];
      ci[j] = r;
    }
  }
}

template <class T, int MR, int NR, int M>
void fill_portable(KernelSet<T>& ks) {
  if constexpr (M >= 1) {
    ks.kernel[M - 1][0] = &portable_kernel<T, MR, NR, M>;
    fill_portable<T, MR, NR, M - 1>(ks);
  }
}

#include "cpu/simd/gemv_body.inc"  // the portable copy of the GEMV loops

template <class T, int MR, int NR>
KernelSet<T> make_portable(const char* name, int kc, int mc, int nc) {
  KernelSet<T> ks{};
  ks.name = name;
  ks.mr = MR;
  ks.nr = NR;
  ks.vl = NR;  // one variant: it always computes NR columns and stores n
  ks.kc = kc;
  ks.mc = mc;
  ks.nc = nc;
  fill_portable<T, MR, NR, MR>(ks);
  ks.pack_a = &portable_pack<T, MR>;
  ks.pack_b = &portable_pack<T, NR>;
  ks.gemv_dot = &gemv_dot<T>;
  ks.gemv_axpy = &gemv_axpy<T>;
  return ks;
}

template <class T>
const KernelSet<T>* portable_kernels();

template <>
const KernelSet<float>* portable_kernels<float>() {
  static const KernelSet<float> ks = make_portable<float, 4, 8>("portable 4x8", 256, 1024, 512);
  return &ks;
}

template <>
const KernelSet<double>* portable_kernels<double>() {
  static const KernelSet<double> ks = make_portable<double, 4, 4>("portable 4x4", 256, 1024, 256);
  return &ks;
}

std::atomic<const KernelSet<float>*> override_f32{nullptr};
std::atomic<const KernelSet<double>*> override_f64{nullptr};

template <class T>
const KernelSet<T>* select_kernels() {
  if constexpr (sizeof(T) == 4) {
    if (const KernelSet<float>* ks = override_f32.load(std::memory_order_relaxed)) return ks;
  } else {
    if (const KernelSet<double>* ks = override_f64.load(std::memory_order_relaxed)) return ks;
  }
  const Capability cap = capability();
  if constexpr (sizeof(T) == 4) {
    if (cap == Capability::AVX512) return gemm_avx512::sgemm_kernels();
    if (cap == Capability::AVX2) return gemm_avx2::sgemm_kernels();
  } else {
    if (cap == Capability::AVX512) return gemm_avx512::dgemm_kernels();
    if (cap == Capability::AVX2) return gemm_avx2::dgemm_kernels();
  }
  return portable_kernels<T>();
}

// ---------------------------------------------------------------------------------------------------
// Workspace for the packed panels: one per calling thread, kept between calls (a GEMM in a training
// loop would otherwise pay for fresh pages on every call) and grown as needed. The calling thread
// carves it up for the whole team before the parallel region opens, so nothing inside the region
// allocates or throws.
thread_local Scratch tls_workspace;

// ---------------------------------------------------------------------------------------------------
// The blocked product.

template <class T>
struct Problem {
  int64_t M, N, K;
  T alpha;
  const T* A;
  int64_t ar, ac;
  const T* B;
  int64_t br, bc;
  T beta;
  T* C;
  int64_t ldc;
  const T* bias_n;
  const T* bias_m;
};

inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Equal blocks of at most `max_block` (rounded up to a multiple of `unit`) covering `total`.
inline int64_t balanced_block(int64_t total, int64_t max_block, int64_t unit) {
  const int64_t nblocks = ceil_div(total, max_block);
  return round_up(ceil_div(total, nblocks), unit);
}

// Block sizes for one product (or one row block of it), and the packed-buffer sizes they need.
struct Blocking {
  int64_t kc, mc, nc;
  int64_t kg;  // k extent of one phase's A block: kc (one k block), or more for a team (gemm_team)
  size_t a_elems() const { return (size_t)round_up(round_up(mc, 16) * kg, 16); }  // 64B-aligned slices
  size_t b_elems() const { return (size_t)round_up(kc * nc, 16); }
};

template <class T>
Blocking blocking_for(const KernelSet<T>& ks, int64_t M, int64_t N, int64_t K) {
  Blocking b;
  b.kc = balanced_block(K, ks.kc + ks.kc / 8, 1);  // K = 784 in 2 blocks of 392, not 3 of 262
  b.mc = balanced_block(M, ks.mc, ks.mr);
  b.nc = balanced_block(N, ks.nc, ks.nr);
  b.kg = b.kc;
  return b;
}

// A team packs as many k blocks of its shared operand (A when it splits columns, B when it splits rows)
// per phase as fit in kTeamABytes: fewer phases, fewer barriers.
constexpr size_t kTeamABytes = size_t(16) << 20;

// An orphaned barrier: binds to the team of the parallel region gemm_run opened.
inline void team_barrier() {
#ifdef FLAMBEAU_OPENMP
#pragma omp barrier
#endif
}

// What a team shares besides the packed operand: counters that only grow, phase after phase, so that
// they never need resetting (phase f's units are [limit_f - count_f, limit_f)).
struct TeamState {
  std::atomic<int64_t> items{0};   // work items (column or row blocks) taken
  std::atomic<int64_t> claimed{0};  // shared-operand micro-panels claimed for packing
  std::atomic<int64_t> packed{0};   // ... and finished
};

// The next unit below `limit`, or -1 when all are taken.
inline int64_t take(std::atomic<int64_t>& counter, int64_t limit) {
  int64_t c = counter.load(std::memory_order_relaxed);
  do {
    if (c >= limit) return -1;
  } while (!counter.compare_exchange_weak(c, c + 1, std::memory_order_relaxed));
  return c;
}

// Pack a phase's `count` shared micro-panels (pack(i) for i in [0, count)) as a team, then wait until
// all are packed. Panels are claimed, not assigned: a thread that arrives late (its core was busy) finds
// them packed by the others rather than holding them up at a barrier. With team == nullptr the calling
// thread packs them all.
template <class PackOne>
void team_pack(TeamState* team, int64_t& limit, int64_t count, const PackOne& pack) {
  if (!team) {
    for (int64_t i = 0; i < count; ++i) pack(i);
    return;
  }
  limit += count;
  for (int64_t c; (c = take(team->claimed, limit)) >= 0;) {
    pack(c - (limit - count));
    team->packed.fetch_add(1, std::memory_order_release);
  }
  while (team->packed.load(std::memory_order_acquire) < limit) std::this_thread::yield();
}

// The product, as run by one thread of a team of nt (tid is this one; nt == 1: the whole product on the
// calling thread, with no barriers, so that it also runs inside someone else's parallel region).
//
// Phases: an A block of mc rows by kg columns of K (bl.kg: a few k blocks, as many as fit the team's
// A buffer). The team packs the phase's A micro-panels (`apack`, disjoint panels per thread), meets
// at a barrier, then takes column blocks of `nc` columns from a shared counter until none are left;
// for each, k block by k block: pack that B block into the thread's own `bpack`, run the micro-kernels
// over it. A dynamic share rather than a fixed one, because a thread that loses its core for a while
// (another process, a data loader) would otherwise hold up the whole team at the next barrier; and few
// phases, because every barrier is a point where the team waits for its slowest thread. Which thread
// computes a tile does not change its bits.
//
// share_a false: `apack` is this thread's own, and it packs all of each phase's A block into it;
// row_a (only then): A is not packed at all, the kernels read it where it lies (use_row_a).
template <class T>
void gemm_team(const KernelSet<T>& ks, const Problem<T>& p, const Blocking& bl, T* apack, T* bpack,
               TeamState* team, bool share_a = true, bool row_a = false) {
  const int MR = ks.mr, NR = ks.nr, VL = ks.vl;
  const int64_t nc = bl.nc;
  const int64_t n_items = ceil_div(p.N, nc);
  int64_t item_limit = 0, pack_limit = 0;  // the counters' values once this phase's units are all taken
  bool first_phase = true;
  const bool own_a = !team || !share_a;  // this thread packs all of A, into its own apack (or reads it
                                         // where it lies: row_a)
  for (int64_t ic = 0; ic < p.M; ic += bl.mc) {
    const int64_t mc = std::min(bl.mc, p.M - ic);
    const int64_t a_panels = ceil_div(mc, MR);
    const int64_t mcr = a_panels * MR;  // the k block at pc of this phase starts at apack + (pc - pg)*mcr
    for (int64_t pg = 0; pg < p.K; pg += bl.kg) {
      const int64_t pend = std::min(p.K, pg + bl.kg);
      if (team && !first_phase) team_barrier();  // everyone is done with the previous A block
      first_phase = false;
      const int64_t k_blocks = ceil_div(pend - pg, bl.kc);
      auto pack_panel = [&](int64_t pc, int64_t i0) {
        const int64_t kc = std::min(bl.kc, p.K - pc);
        ks.pack_a(p.A + (ic + i0) * p.ar + pc * p.ac, p.ar, p.ac, std::min<int64_t>(MR, mc - i0), kc,
                  apack + (pc - pg) * mcr + i0 * kc);
      };
      // A shared by the team is packed up front; a thread's own A is packed panel by panel during its
      // first column block, each panel just before its first kernel calls, while it is still in L1.
      bool a_ready = !own_a || row_a;
      if (!own_a)
        team_pack(team, pack_limit, k_blocks * a_panels,
                  [&](int64_t u) { pack_panel(pg + (u / a_panels) * bl.kc, (u % a_panels) * MR); });
      item_limit += n_items;
      for (int64_t item = 0;; ++item) {
        if (team) {  // take the next column block, never one past this phase's
          const int64_t c = take(team->items, item_limit);
          if (c < 0) break;
          item = c - (item_limit - n_items);
        } else if (item >= n_items) {
          break;
        }
        const int64_t jc = item * nc;
        const int64_t ncur = std::min(nc, p.N - jc);
        for (int64_t pc = pg; pc < pend; pc += bl.kc) {
          const int64_t kc = std::min(bl.kc, p.K - pc);
          // beta and the biases are applied once, with the first k block; later blocks accumulate.
          const T beta = pc == 0 ? p.beta : T(1);
          const T* bias_n = pc == 0 && p.bias_n ? p.bias_n + jc : nullptr;
          const T* bias_m = pc == 0 && p.bias_m ? p.bias_m + ic : nullptr;
          for (int64_t j0 = 0; j0 < ncur; j0 += NR)
            ks.pack_b(p.B + pc * p.br + (jc + j0) * p.bc, p.bc, p.br, std::min<int64_t>(NR, ncur - j0), kc,
                      bpack + j0 * kc);
          const T* ablock = apack + (pc - pg) * mcr;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t m = std::min<int64_t>(MR, mc - ir);
            if (!a_ready) pack_panel(pc, ir);
            const T* a = ablock + ir * kc;
            T* crow = p.C + (ic + ir) * p.ldc + jc;
            const T* bm = bias_m ? bias_m + ir : nullptr;
            if (row_a) {
              const T* arow = p.A + (ic + ir) * p.ar + pc;
              for (int64_t jr = 0; jr < ncur; jr += NR) {
                const int64_t n = std::min<int64_t>(NR, ncur - jr);
                ks.kernel_row_a[m - 1][(n - 1) / VL](kc, arow, p.ar, bpack + jr * kc, crow + jr, p.ldc, n, p.alpha,
                                                     beta, bias_n ? bias_n + jr : nullptr, bm);
              }
              continue;
            }
            for (int64_t jr = 0; jr < ncur; jr += NR) {
              const int64_t n = std::min<int64_t>(NR, ncur - jr);
              ks.kernel[m - 1][(n - 1) / VL](kc, a, bpack + jr * kc, crow + jr, p.ldc, n, p.alpha, beta,
                                             bias_n ? bias_n + jr : nullptr, bm);
            }
          }
        }
        a_ready = true;
      }
    }
  }
}

// The row split, as run by one thread of a team of nt: the mirror image of gemm_team. Phases of kg
// columns of K over all of N: the team packs the phase's B micro-panels once (`bshared`, disjoint
// panels per thread) and meets at a barrier; then each thread takes blocks of `rows` rows of A and C
// from the shared counter and, k block by k block, packs that A block into its own `apack` and runs the
// micro-kernels against the shared B, nc columns at a time (a kc x nc slice of B stays in L2 while the
// block's A micro-panels go by). Nothing is packed twice, so the row blocks can be small, which is what
// evens out a thread that runs slow.
//
// share_b false: `bshared` is this thread's own, and it packs all of each phase's B into it.
// row_a: A is not packed, the kernels read it where it lies (use_row_a).
template <class T>
void gemm_team_rows(const KernelSet<T>& ks, const Problem<T>& p, const Blocking& bl, T* bshared, T* apack,
                    int64_t rows, TeamState* team, bool share_b = true, bool row_a = false) {
  const int MR = ks.mr, NR = ks.nr, VL = ks.vl;
  const int64_t b_panels = ceil_div(p.N, NR);
  const int64_t nr_total = b_panels * NR;  // the k block at pc of this phase starts at bshared + (pc - pg)*nr_total
  const int64_t n_items = ceil_div(p.M, rows);
  int64_t item_limit = 0, pack_limit = 0;
  for (int64_t pg = 0; pg < p.K; pg += bl.kg) {
    const int64_t pend = std::min(p.K, pg + bl.kg);
    if (pg > 0) team_barrier();  // everyone is done with the previous B
    const int64_t k_blocks = ceil_div(pend - pg, bl.kc);
    team_pack(share_b ? team : nullptr, pack_limit, k_blocks * b_panels, [&](int64_t u) {
      const int64_t pc = pg + (u / b_panels) * bl.kc, j0 = (u % b_panels) * NR;
      const int64_t kc = std::min(bl.kc, p.K - pc);
      ks.pack_b(p.B + pc * p.br + j0 * p.bc, p.bc, p.br, std::min<int64_t>(NR, p.N - j0), kc,
                bshared + (pc - pg) * nr_total + j0 * kc);
    });
    item_limit += n_items;
    for (int64_t c; (c = take(team->items, item_limit)) >= 0;) {
      const int64_t m0 = (c - (item_limit - n_items)) * rows;
      const int64_t mcur = std::min(rows, p.M - m0);
      for (int64_t pc = pg; pc < pend; pc += bl.kc) {
        const int64_t kc = std::min(bl.kc, p.K - pc);
        const T beta = pc == 0 ? p.beta : T(1);
        const T* bias_n = pc == 0 ? p.bias_n : nullptr;
        const T* bias_m = pc == 0 && p.bias_m ? p.bias_m + m0 : nullptr;
        if (!row_a)
          for (int64_t i0 = 0; i0 < mcur; i0 += MR)
            ks.pack_a(p.A + (m0 + i0) * p.ar + pc * p.ac, p.ar, p.ac, std::min<int64_t>(MR, mcur - i0), kc,
                      apack + i0 * kc);
        const T* bblock = bshared + (pc - pg) * nr_total;
        for (int64_t jc = 0; jc < p.N; jc += bl.nc) {
          const int64_t ncur = std::min(bl.nc, p.N - jc);
          for (int64_t ir = 0; ir < mcur; ir += MR) {
            const int64_t m = std::min<int64_t>(MR, mcur - ir);
            const T* a = apack + ir * kc;
            T* crow = p.C + (m0 + ir) * p.ldc + jc;
            const T* bm = bias_m ? bias_m + ir : nullptr;
            if (row_a) {
              const T* arow = p.A + (m0 + ir) * p.ar + pc;
              for (int64_t jr = 0; jr < ncur; jr += NR) {
                const int64_t n = std::min<int64_t>(NR, ncur - jr);
                ks.kernel_row_a[m - 1][(n - 1) / VL](kc, arow, p.ar, bblock + (jc + jr) * kc, crow + jr, p.ldc, n,
                                                     p.alpha, beta, bias_n ? bias_n + jc + jr : nullptr, bm);
              }
              continue;
            }
            for (int64_t jr = 0; jr < ncur; jr += NR) {
              const int64_t n = std::min<int64_t>(NR, ncur - jr);
              ks.kernel[m - 1][(n - 1) / VL](kc, a, bblock + (jc + jr) * kc, crow + jr, p.ldc, n, p.alpha, beta,
                                             bias_n ? bias_n + jc + jr : nullptr, bm);
            }
          }
        }
      }
    }
  }
}

// alpha == 0 or K == 0: C = beta*C + biases, without reading A and B.
template <class T>
void scale_only(const Problem<T>& p) {
  for (int64_t i = 0; i < p.M; ++i) {
    T* c = p.C + i * p.ldc;
    const T bm = p.bias_m ? p.bias_m[i] : T(0);
    for (int64_t j = 0; j < p.N; ++j) {
      T r = (p.bias_n ? p.bias_n[j] : T(0)) + bm;
      if (p.beta != T(0)) r += p.beta * c[j];
      c[j] = r;
    }
  }
}

// Work items for a team of nt threads: `panels` panels (NR columns or MR rows) cut into blocks of
// whole panels. At least per_thread blocks per thread, so that a thread that runs slow for a while
// (another process on its core) is evened out by the others; no block wider than max_panels; and if
// possible a block count that is a multiple of nt and divides the panels evenly, so that on a quiet
// machine every thread does the same work. Returns panels per block. Column blocks are also the B
// blocks, and narrower ones cost a little (each re-reads the A block and feeds each A micro-panel to
// fewer kernel calls), so only two per thread; row blocks cost nothing extra.
constexpr int64_t kColumnItemsPerThread = 2;
constexpr int64_t kRowItemsPerThread = 4;

inline int64_t team_block(int64_t panels, int64_t max_panels, int nt, int64_t per_thread) {
  const int64_t lo = round_up(std::max(ceil_div(panels, std::max<int64_t>(1, max_panels)), per_thread * nt), nt);
  int64_t items = lo;
  for (int64_t n = lo; n <= 2 * lo && n <= panels; n += nt) {
    if (panels % n == 0) {
      items = n;
      break;
    }
  }
  return ceil_div(panels, std::min(items, panels));
}

// A shared operand whose packed phase is at most this size is packed whole by every thread of the team
// into its own buffer rather than once, in shares, for all: measured on the 2-core Sapphire Rapids guest
// (F.linear 128x256 by 256x256, 2 threads), packing 128 KiB of A in two shares took twice as long as one
// thread packing all of it, and the kernels then ran 25% slower reading the half of A that sits in the
// other core's L2, with the lines of the packed buffer bouncing between the cores from call to call.
// Up to 1 MiB the copy still fits a core's L2 beside its B block; the team no longer waits at a
// barrier for the packing, so a thread that starts late (its core busy) holds up no one.
constexpr size_t kPrivateBytes = size_t(1) << 20;

// Whether the threads of a team of nt, each of which would pack all of A itself (one thread, a private
// copy, or the row split's row blocks), should instead have the kernels read A where it lies
// (KernelSet::kernel_row_a). That kernel's k step takes more instructions (its addressing), so it
// pays only where a packed A micro-panel would feed few kernel calls: at most kRowAPanels column
// panels per thread. Thread CPU time, one thread, packed A -> in place: 64x64x64 3.92 -> 3.10 us,
// 64x64x128 7.0-7.4 -> 6.3-6.5, 128x128x64 12.7 -> 12.3; with 8 panels (128x256x256, 256^3) no
// difference, with 16 (128x512x784) 584 -> 601-605, the kernel's extra cost winning. Also A row-major
// (rows contiguous along K), and for a team's column split small (its rows stay in cache between the
// column blocks that reread them). A row stride that is a multiple of 4 KiB (the 14 rows a kernel
// reads in one set of the 12-way L1) was expected to hurt and does not: in place against packed, best
// of 31-101 rounds, 64x64x256 (lda 1024) 13.1 vs 14.7 us, 64x64x1024 60.4 vs 66.2, 100x64x2048 183 vs
// 203, 128x96x512 (lda 4096) 80.5 vs 82.6, and 2 threads 256^3 (lda 1024) 112.9 vs 119.0.
constexpr int64_t kRowAPanels = 4;

template <class T>
bool use_row_a(const KernelSet<T>& ks, const Problem<T>& p, int nt, bool split_rows = false) {
  if (!ks.kernel_row_a[0][0] || p.ac != 1) return false;
  const int64_t panels = ceil_div(p.N, ks.nr);
  // One thread with so few panels has one column block, and the row split reads each row block once:
  // either way each A panel feeds at most kRowAPanels kernel calls, one after the other, whatever A's size.
  if (split_rows || nt == 1) return panels <= kRowAPanels;
  return (size_t)p.M * (size_t)p.K * sizeof(T) <= kPrivateBytes && ceil_div(panels, nt) <= kRowAPanels;
}

// Below this many multiply-adds per thread a thread costs more to wake than it saves.
constexpr int64_t kMinWorkPerThread = int64_t(1) << 19;

// ---------------------------------------------------------------------------------------------------
// Products with one row or one column of C: x @ W, W @ x, a dot product, F.linear or a conv of one
// sample. The blocked path packs the whole matrix into panels for a single row of output (W @ x of
// [1024, 1024]: 0.24x PyTorch; a dot of 1M elements: 0.01x); here every element of the matrix is read
// once, by gemv_dot when the matrix's rows run along K contiguously, else by gemv_axpy when its
// other dim is contiguous. The threads split the output (each element's sum is the same for any
// count); a single output of a long K is split into fixed kDotChunk pieces summed in order. False
// for other layouts (the blocked path takes them).
constexpr int64_t kDotChunk = 1 << 16;
// A GEMV streams its matrix once (no reuse to amortise a thread's start-up as in the blocked path):
// a second thread pays from about this many elements per thread.
constexpr int64_t kGemvWorkPerThread = int64_t(1) << 16;

template <class T>
bool gemv(const KernelSet<T>& ks, const Problem<T>& p, int threads) {
  if (!ks.gemv_dot || !ks.gemv_axpy) return false;
  // Output r < R at C + r*sc; matrix element (r, k) at mat + r*sr + k*sk; the vector at vec + k*sv.
  const bool col = p.N == 1;
  const int64_t R = col ? p.M : p.N, K = p.K;
  const T* mat = col ? p.A : p.B;
  const int64_t sr = col ? p.ar : p.bc, sk = col ? p.ac : p.br;
  const T* vec = col ? p.B : p.A;
  const int64_t sv = col ? p.br : p.ac;
  const int64_t sc = col ? p.ldc : 1;
  const bool dot = sk == 1 || R == 1;
  if (!dot && sr != 1) return false;
  T* ws = tls_workspace.get<T>((size_t)(R + (dot && sv != 1 ? K : 0) + (R == 1 ? ceil_div(K, kDotChunk) : 0)));
  T* y = ws;
  const T* v = vec;
  if (dot && sv != 1) {  // gemv_dot reads a contiguous vector
    T* vc = ws + R;
    for (int64_t k = 0; k < K; ++k) vc[k] = vec[k * sv];
    v = vc;
  }
  // `per_thread` pieces per thread, dealt out as the threads come for them: a thread whose core is busy
  // for a while (another process) leaves its pieces to the other rather than holding up the call.
  auto run = [&](int64_t b, int64_t e, auto&& f, int per_thread = 4) {
#ifdef FLAMBEAU_OPENMP
    const int64_t n = e - b;
    const int nt = (int)std::min<int64_t>(threads, n);
    if (nt > 1) {
      const int pieces = (int)std::min<int64_t>(n, per_thread * nt);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
      for (int t = 0; t < pieces; ++t) f(b + n * t / pieces, b + n * (t + 1) / pieces);
      return;
    }
#endif
    f(b, e);
  };
  const double work = double(R) * double(K);
  threads = (int)std::min<double>(threads, std::max(1.0, work / double(kGemvWorkPerThread)));
  if (R == 1) {  // one long dot product (sr unused): fixed pieces, then their sum in order
    const int64_t pieces = ceil_div(K, kDotChunk);
    T* part = ws + R + (sv != 1 ? K : 0);
    const T* m0 = mat;
    const int64_t step = sk;
    if (step == 1) {
      run(0, pieces, [&](int64_t b, int64_t e) {
        for (int64_t c = b; c < e; ++c)
          ks.gemv_dot(1, std::min(kDotChunk, K - c * kDotChunk), m0 + c * kDotChunk, 0, v + c * kDotChunk, part + c);
      });
    } else {  // a strided matrix "row": as gemv_axpy's single column, the vector as the scalars
      run(0, pieces, [&](int64_t b, int64_t e) {
        for (int64_t c = b; c < e; ++c)
          ks.gemv_axpy(1, std::min(kDotChunk, K - c * kDotChunk), v + c * kDotChunk, 1, m0 + c * kDotChunk * step, step,
                       part + c);
      });
    }
    T s = part[0];
    for (int64_t c = 1; c < pieces; ++c) s += part[c];
    y[0] = s;
  } else if (dot) {
    run(0, R, [&](int64_t b, int64_t e) { ks.gemv_dot(e - b, K, mat + b * sr, sr, v, y + b); });
  } else {
    // One piece per thread: a piece is a band of columns read row by row, and narrower bands (shorter
    // contiguous runs per row) cost more bandwidth than uneven threads (vector @ [1024, 1024], 2 threads:
    // 8 bands 200 us, 2 bands 119 us, PyTorch 116).
    run(0, R, [&](int64_t b, int64_t e) { ks.gemv_axpy(e - b, K, vec, sv, mat + b, sk, y + b); }, 1);
  }
  // The epilogue of the micro-kernels: alpha * sum + biases (+ beta * C).
  for (int64_t r = 0; r < R; ++r) {
    T out = p.alpha * y[r] + (p.bias_n ? p.bias_n[col ? 0 : r] : T(0)) + (p.bias_m ? p.bias_m[col ? r : 0] : T(0));
    T* c = p.C + r * sc;
    if (p.beta != T(0)) out += p.beta * *c;
    *c = out;
  }
  return true;
}

template <class T>
void gemm_run(const Problem<T>& p, int threads) {
  if (p.M <= 0 || p.N <= 0) return;
  if (p.K <= 0 || p.alpha == T(0)) {
    scale_only(p);
    return;
  }
  const KernelSet<T>& ks = *select_kernels<T>();
  if ((p.M == 1 || p.N == 1) && gemv(ks, p, threads)) return;
  const double work = double(p.M) * double(p.N) * double(p.K);
  int nt = (int)std::min<double>(threads, std::max(1.0, work / double(kMinWorkPerThread)));
  const int64_t n_panels = ceil_div(p.N, ks.nr), m_panels = ceil_div(p.M, ks.mr);
  // Tall products (M >= 2N, e.g. a big batch through a narrow layer) split rows: each thread packs
  // only its own rows of A, and the copies of B it packs are small next to them. Otherwise split
  // columns around one shared A block. Either way each thread should get a couple of panels.
  bool split_rows = (p.M >= 2 * p.N && m_panels >= 2 * nt) || n_panels < 2 * nt;
  if (split_rows && m_panels < 2 * nt && n_panels > m_panels) split_rows = false;
  nt = (int)std::min<int64_t>(nt, split_rows ? m_panels : n_panels);
  if (nt <= 1) {
    const Blocking bl = blocking_for(ks, p.M, p.N, p.K);
    T* ws = tls_workspace.get<T>(bl.a_elems() + bl.b_elems());
    gemm_team(ks, p, bl, ws, ws + bl.a_elems(), nullptr, true, use_row_a(ks, p, 1));
    return;
  }
#ifdef FLAMBEAU_OPENMP
  TeamState team;
  if (!split_rows) {
    // One shared A block (or a copy per thread, if small); each thread packs the column blocks it
    // takes into its own B buffer.
    Blocking bl = blocking_for(ks, p.M, p.N, p.K);
    bl.nc = team_block(n_panels, ks.nc / ks.nr, nt, kColumnItemsPerThread) * ks.nr;
    const int64_t k_blocks = ceil_div(p.K, bl.kc);
    const int64_t fit = (int64_t)(kTeamABytes / sizeof(T)) / (round_up(bl.mc, 16) * bl.kc);
    bl.kg = bl.kc * std::max<int64_t>(1, std::min(k_blocks, fit));
    const bool share_a = bl.a_elems() * sizeof(T) > kPrivateBytes;
    const bool row_a = !share_a && use_row_a(ks, p, nt);
    const size_t a_size = bl.a_elems(), a_all = share_a ? a_size : nt * a_size;
    T* ws = tls_workspace.get<T>(a_all + nt * bl.b_elems());
#pragma omp parallel num_threads(nt)
    {
      const int tid = omp_get_thread_num();
      gemm_team(ks, p, bl, ws + (share_a ? 0 : tid * a_size), ws + a_all + tid * bl.b_elems(), &team, share_a,
                row_a);
    }
  } else {
    // One shared B (all N columns of kg rows of K per phase; a copy per thread, if small); row blocks
    // dealt out dynamically, each packed into the thread's own A buffer.
    Blocking bl = blocking_for(ks, p.M, p.N, p.K);
    const int64_t rows = team_block(m_panels, ks.mc / ks.mr, nt, kRowItemsPerThread) * ks.mr;
    bl.mc = rows;
    const int64_t b_panel_elems = round_up(p.N, ks.nr) * bl.kc;
    const int64_t fit = (int64_t)(kTeamABytes / sizeof(T)) / b_panel_elems;
    bl.kg = bl.kc * std::max<int64_t>(1, std::min(ceil_div(p.K, bl.kc), fit));
    const size_t b_size = (size_t)round_up(round_up(p.N, ks.nr) * bl.kg, 16);
    const bool share_b = b_size * sizeof(T) > kPrivateBytes;
    const size_t b_all = share_b ? b_size : nt * b_size;
    const bool row_a = use_row_a(ks, p, nt, true);
    const size_t a_private = (size_t)round_up(rows * bl.kc, 16);
    T* ws = tls_workspace.get<T>(b_all + nt * a_private);
#pragma omp parallel num_threads(nt)
    {
      const int tid = omp_get_thread_num();
      gemm_team_rows(ks, p, bl, ws + (share_b ? 0 : tid * b_size), ws + b_all + tid * a_private, rows, &team,
                     share_b, row_a);
    }
  }
#endif
}

}  // namespace

template <class T>
void gemm(int64_t M, int64_t N, int64_t K, typename gemm_identity<T>::type alpha, const T* A, int64_t lda_row,
          int64_t lda_col, const T* B, int64_t ldb_row, int64_t ldb_col, typename gemm_identity<T>::type beta,
          T* C, int64_t ldc, const T* bias_n, const T* bias_m) {
  const Problem<T> p{M, N, K, alpha, A, lda_row, lda_col, B, ldb_row, ldb_col, beta, C, ldc, bias_n, bias_m};
  gemm_run(p, threads_available());
}

template <class T>
void gemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, typename gemm_identity<T>::type alpha,
                  const T* A, int64_t stride_a, int64_t lda_row, int64_t lda_col, const T* B, int64_t stride_b,
                  int64_t ldb_row, int64_t ldb_col, typename gemm_identity<T>::type beta, T* C,
                  int64_t stride_c, int64_t ldc, const T* bias_n, const T* bias_m) {
  if (batch <= 0) return;
  const Problem<T> p{M, N, K, alpha, A, lda_row, lda_col, B, ldb_row, ldb_col, beta, C, ldc, bias_n, bias_m};
  const int threads = threads_available();
  const double work = double(M) * double(N) * double(K);
  // Parallel inside each product when one product keeps all threads busy (or there are fewer products
  // than threads); otherwise one product per thread at a time.
  const bool inner = threads <= 1 || batch < threads || work >= double(kMinWorkPerThread) * threads * 8;
  if (inner) {
    for (int64_t b = 0; b < batch; ++b) {
      Problem<T> q = p;
      q.A = A + b * stride_a;
      q.B = B + b * stride_b;
      q.C = C + b * stride_c;
      gemm_run(q, threads);
    }
    return;
  }
#ifdef FLAMBEAU_OPENMP
  // An exception must not leave the parallel region: the first one is kept and rethrown after it.
  // Products are dealt out in chunks (about 8 per thread), not in fixed shares, for the same reason as
  // the team's work items: a thread whose core is taken for a while by another process would
  // otherwise hold up the call. Which thread computes a product does not change its bits.
  std::exception_ptr error;
  const int64_t chunk = std::max<int64_t>(1, batch / (8 * (int64_t)threads));
#pragma omp parallel for schedule(dynamic, chunk) num_threads(threads)
  for (int64_t b = 0; b < batch; ++b) {
    Problem<T> q = p;
    q.A = A + b * stride_a;
    q.B = B + b * stride_b;
    q.C = C + b * stride_c;
    try {
      gemm_run(q, 1);
    } catch (...) {
#pragma omp critical(flambeau_gemm_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
#endif
}

namespace gemm_detail {
void set_kernel_override(const KernelSet<float>* ks) { override_f32.store(ks); }
void set_kernel_override(const KernelSet<double>* ks) { override_f64.store(ks); }
}  // namespace gemm_detail

const char* gemm_kernel_name(bool is_double) {
  return is_double ? select_kernels<double>()->name : select_kernels<float>()->name;
}

template void gemm<float>(int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t, const float*, int64_t,
                          int64_t, float, float*, int64_t, const float*, const float*);
template void gemm<double>(int64_t, int64_t, int64_t, double, const double*, int64_t, int64_t, const double*,
                           int64_t, int64_t, double, double*, int64_t, const double*, const double*);
template void gemm_batched<float>(int64_t, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t,
                                  int64_t, const float*, int64_t, int64_t, int64_t, float, float*, int64_t,
                                  int64_t, const float*, const float*);
template void gemm_batched<double>(int64_t, int64_t, int64_t, int64_t, double, const double*, int64_t, int64_t,
                                   int64_t, const double*, int64_t, int64_t, int64_t, double, double*, int64_t,
                                   int64_t, const double*, const double*);

}  // namespace flambeau::cpu
