// The OpenMP runtime of the portable Linux x86-64 build (FLAMBEAU_PORTABLE_LINUX): the GNU OpenMP entry
// points that GCC's -fopenmp code calls (GOMP_parallel, GOMP_barrier, the dynamic loop schedule, named
// critical sections) and the omp_* queries csrc/ uses, implemented on a pool of pthreads.
//
// Why not libgomp: the system libgomp.so.1 needs the build machine's glibc (2.34 here), which breaks
// "one wheel for any x86-64 Linux" (manylinux2014: glibc 2.17), and GCC's libgomp.a cannot go into a
// shared object (its thread data uses the local-exec TLS model, R_X86_64_TPOFF32). The module's symbols
// are hidden (pybind11 builds with -fvisibility=hidden), so these definitions bind inside _C only:
// PyTorch's or numpy's OpenMP runtime in the same process keeps its own threads, as it did with the
// separate system libgomp before.
//
// Only what GCC emits for the constructs csrc/ uses is here; a construct that needs another GOMP_* entry
// point leaves it undefined in _C.so, which tools/check_wheel_portability.py (and its test) reports.
//
// Sharing: when a libgomp.so.1 is already in the process (PyTorch's, imported for comparison), the entry
// points forward to it instead, as the module did before by linking libgomp.so.1 by soname. Two pools on
// the same cores take turns badly: libgomp's idle threads spin for milliseconds after each of its regions,
// and flambeau ops interleaved with PyTorch ops ran 5-30x slower with a pool of their own (2 cores).
// The check is made before top-level regions (at most every 50 ms until one is found); once found, it is
// used for good. FLAMBEAU_OWN_OPENMP=1 keeps the module's own pool regardless (tests, benchmarks).
//
// Semantics kept from libgomp: nested parallel regions run with a team of one; nthreads-var comes from
// OMP_NUM_THREADS or the CPUs in the affinity mask; idle workers spin briefly and then sleep on a futex.
// Differences: omp_set_num_threads is process-wide (the project sets it from any Python thread as
// torch.set_num_threads does); two application threads entering a parallel region at once take turns
// on the one pool instead of each getting a team; after fork() the child starts a fresh pool (libgomp's
// child would wait for threads that no longer exist).
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <type_traits>

#include <dlfcn.h>

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

constexpr int kMaxThreads = 1024;
constexpr int kSpins = 4000;   // pause iterations before sleeping: ~0.1-0.5 ms, like libgomp's spin-then-futex
constexpr int kWorkShares = 8;  // loop work shares in flight per region (nowait loops let threads run ahead)

inline void cpu_relax() { __builtin_ia32_pause(); }

inline void futex_wait(std::atomic<uint32_t>* addr, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
inline void futex_wake_all(std::atomic<uint32_t>* addr) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

// Waits until *word != seen: spins first (back-to-back regions are the common case), then sleeps.
// `sleepers` tells the waker whether a futex wake is needed at all.
inline uint32_t wait_change(std::atomic<uint32_t>& word, uint32_t seen, std::atomic<int>& sleepers) {
  for (int i = 0; i < kSpins; ++i) {
    uint32_t v = word.load(std::memory_order_acquire);
    if (v != seen) return v;
    cpu_relax();
  }
  for (;;) {
    sleepers.fetch_add(1, std::memory_order_seq_cst);
    uint32_t v = word.load(std::memory_order_seq_cst);
    if (v == seen) futex_wait(&word, seen);
    sleepers.fetch_sub(1, std::memory_order_seq_cst);
    v = word.load(std::memory_order_acquire);
    if (v != seen) return v;
  }
}
inline void bump_and_wake(std::atomic<uint32_t>& word, std::atomic<int>& sleepers) {
  word.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers.load(std::memory_order_seq_cst) > 0) futex_wake_all(&word);
}

struct WorkShare {
  std::atomic<long> id{-1};     // the region's work-share number this slot holds (-1: none)
  std::atomic<long> ready{-1};  // == id once the bounds below are written
  std::atomic<int> users{0};    // team threads not yet past this loop's end
  std::atomic<long> next{0};
  long end = 0, incr = 1, chunk = 1;
};

struct Team {
  int nthreads = 1;
  // GOMP_barrier: the last thread to arrive bumps the generation the others wait on.
  std::atomic<uint32_t> barrier_count{0};
  std::atomic<uint32_t> barrier_gen{0};
  std::atomic<int> barrier_sleepers{0};
  WorkShare ws[kWorkShares];

  bool preset_loop = false;  // ws[0] set up by GOMP_parallel_loop_* before the threads start

  void reset(int n) {
    nthreads = n;
    preset_loop = false;
    barrier_count.store(0, std::memory_order_relaxed);
    for (WorkShare& s : ws) {
      s.id.store(-1, std::memory_order_relaxed);
      s.ready.store(-1, std::memory_order_relaxed);
      s.users.store(0, std::memory_order_relaxed);
    }
  }
};

struct LoopBounds {
  long start, end, incr, chunk;
};

void init_work_share(WorkShare& s, long id, const LoopBounds& b, int users) {
  s.end = b.end;
  s.incr = b.incr;
  s.chunk = b.chunk > 0 ? b.chunk : 1;
  s.next.store(b.start, std::memory_order_relaxed);
  s.users.store(users, std::memory_order_relaxed);
  s.ready.store(id, std::memory_order_release);
}

struct ThreadState {
  Team* team = nullptr;     // the innermost region's team (nullptr outside any region)
  int id = 0;
  int nthreads = 1;
  bool active = false;      // inside a region of more than one thread, at any level
  long ws_next = 0;         // number of the next work share this thread meets in its region
  WorkShare* ws = nullptr;  // the loop it is in

  void enter(Team* t, int thread_id, bool is_active) {
    team = t;
    id = thread_id;
    nthreads = t->nthreads;
    active = is_active;
    ws_next = t->preset_loop ? 1 : 0;
    ws = t->preset_loop ? &t->ws[0] : nullptr;
  }
};
thread_local ThreadState tls;

struct alignas(64) Worker {     // own cache line: each worker spins on its own `go`
  std::atomic<uint32_t> go{0};  // bumped by the master for each region this worker takes part in
  std::atomic<int> sleepers{0};
};

struct Pool {
  pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;  // one region at a time on the pool
  int nworkers = 0;                                  // threads 1..nworkers exist
  Worker workers[kMaxThreads];
  Team team;
  void (*fn)(void*) = nullptr;
  void* data = nullptr;
  alignas(64) std::atomic<uint32_t> remaining{0};  // workers still running the current region
  std::atomic<int> master_sleepers{0};
};
Pool* pool_ptr = nullptr;
std::atomic<int> nthreads_var{0};  // 0: not read from the environment yet

int clamp_threads(long n) { return n < 1 ? 1 : (n < kMaxThreads ? (int)n : kMaxThreads); }

int default_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    long v = std::strtol(env, nullptr, 10);  // "4" or the first level of "4,2"
    if (v > 0) return clamp_threads(v);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return clamp_threads(CPU_COUNT(&set));
  return clamp_threads(sysconf(_SC_NPROCESSORS_ONLN));
}

int max_threads() {
  int n = nthreads_var.load(std::memory_order_relaxed);
  if (n == 0) {
    nthreads_var.compare_exchange_strong(n, default_threads());
    n = nthreads_var.load(std::memory_order_relaxed);
  }
  return n;
}

struct WorkerStart {
  Pool* pool;
  int id;
  uint32_t seen;
};

void* worker_main(void* arg) {
  WorkerStart start = *static_cast<WorkerStart*>(arg);
  std::free(arg);
  Pool& pool = *start.pool;
  Worker& self = pool.workers[start.id];
  uint32_t seen = start.seen;
  for (;;) {
    seen = wait_change(self.go, seen, self.sleepers);
    tls.enter(&pool.team, start.id, true);
    pool.fn(pool.data);
    tls = ThreadState{};
    if (pool.remaining.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        pool.master_sleepers.load(std::memory_order_seq_cst) > 0)
      futex_wake_all(&pool.remaining);
  }
  return nullptr;
}

// The master's wait for the workers' end of the region.
void wait_workers(Pool& pool) {
  for (int i = 0; i < kSpins; ++i) {
    if (pool.remaining.load(std::memory_order_acquire) == 0) return;
    cpu_relax();
  }
  for (;;) {
    pool.master_sleepers.fetch_add(1, std::memory_order_seq_cst);
    uint32_t r = pool.remaining.load(std::memory_order_seq_cst);
    if (r != 0) futex_wait(&pool.remaining, r);
    pool.master_sleepers.fetch_sub(1, std::memory_order_seq_cst);
    if (pool.remaining.load(std::memory_order_acquire) == 0) return;
  }
}

// After fork() only the forking thread exists in the child: it starts a new pool (the parent's is
// leaked on purpose: its lock may be held and its threads are gone), also where the parent forwarded to
// libgomp, whose parallel regions wait forever in a forked child for the parent's threads.
void forget_pool_in_child();

void ensure_atfork() {
  static const bool registered = pthread_atfork(nullptr, nullptr, forget_pool_in_child) == 0;
  (void)registered;
}

Pool& pool() {
  ensure_atfork();
  if (pool_ptr == nullptr) pool_ptr = new Pool();
  return *pool_ptr;
}

bool grow(Pool& pool, int nworkers) {
  while (pool.nworkers < nworkers) {
    int id = pool.nworkers + 1;
    auto* start = static_cast<WorkerStart*>(std::malloc(sizeof(WorkerStart)));
    if (start == nullptr) return false;
    *start = WorkerStart{&pool, id, pool.workers[id].go.load(std::memory_order_relaxed)};
    pthread_t thread;
    if (pthread_create(&thread, nullptr, worker_main, start) != 0) {
      std::free(start);
      return false;
    }
    pthread_detach(thread);
    pool.nworkers = id;
  }
  return true;
}

WorkShare& enter_work_share() {
  ThreadState& t = tls;
  long k = t.ws_next++;
  WorkShare& s = t.team->ws[k % kWorkShares];
  for (;;) {
    long cur = s.id.load(std::memory_order_acquire);
    if (cur == k) {
      while (s.ready.load(std::memory_order_acquire) != k) cpu_relax();
      return s;
    }
    // An older loop still holds the slot until every thread has left it.
    if (cur >= 0 && s.users.load(std::memory_order_acquire) != 0) {
      cpu_relax();
      continue;
    }
    if (s.id.compare_exchange_strong(cur, k, std::memory_order_acq_rel)) return s;  // the caller initialises
  }
}

bool next_chunk(WorkShare& s, long* istart, long* iend) {
  long cur = s.next.load(std::memory_order_relaxed);
  for (;;) {
    if (s.incr > 0 ? cur >= s.end : cur <= s.end) return false;
    long left = s.incr > 0 ? s.end - cur : cur - s.end;
    long step = s.chunk * (s.incr > 0 ? s.incr : -s.incr);
    long take = left < step ? left : step;
    long nxt = s.incr > 0 ? cur + take : cur - take;
    if (s.next.compare_exchange_weak(cur, nxt, std::memory_order_relaxed)) {
      *istart = cur;
      *iend = nxt;
      return true;
    }
  }
}

thread_local Team orphan_team;  // a loop met outside any region: this thread alone runs it

// ---- forwarding to a libgomp.so.1 already in the process ------------------------------------------
struct Libgomp {
  void (*parallel)(void (*)(void*), void*, unsigned, unsigned);
  void (*parallel_loop_nonmonotonic_dynamic)(void (*)(void*), void*, unsigned, long, long, long, long, unsigned);
  void (*barrier)(void);
  bool (*loop_nonmonotonic_dynamic_start)(long, long, long, long, long*, long*);
  bool (*loop_nonmonotonic_dynamic_next)(long*, long*);
  void (*loop_end_nowait)(void);
  void (*loop_end)(void);
  int (*get_max_threads)(void);
  void (*set_num_threads)(int);
  int (*get_thread_num)(void);
  int (*get_num_threads)(void);
  int (*in_parallel)(void);
};
Libgomp libgomp_table;
std::atomic<const Libgomp*> libgomp{nullptr};
std::atomic<long> libgomp_next_check_ns{0};
std::atomic<bool> nthreads_set{false};  // omp_set_num_threads was called: passed on when forwarding starts
std::atomic<bool> forked_child{false};  // libgomp's threads do not survive fork(): its children use ours

const Libgomp* find_libgomp() {
  void* h = dlopen("libgomp.so.1", RTLD_LAZY | RTLD_NOLOAD);
  if (h == nullptr) return nullptr;
  Libgomp t;
  bool ok = true;
  auto get = [&](auto& slot, const char* name) {
    void* f = dlsym(h, name);
    ok = ok && f != nullptr;
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(f);
  };
  get(t.parallel, "GOMP_parallel");
  get(t.parallel_loop_nonmonotonic_dynamic, "GOMP_parallel_loop_nonmonotonic_dynamic");
  get(t.barrier, "GOMP_barrier");
  get(t.loop_nonmonotonic_dynamic_start, "GOMP_loop_nonmonotonic_dynamic_start");
  get(t.loop_nonmonotonic_dynamic_next, "GOMP_loop_nonmonotonic_dynamic_next");
  get(t.loop_end_nowait, "GOMP_loop_end_nowait");
  get(t.loop_end, "GOMP_loop_end");
  get(t.get_max_threads, "omp_get_max_threads");
  get(t.set_num_threads, "omp_set_num_threads");
  get(t.get_thread_num, "omp_get_thread_num");
  get(t.get_num_threads, "omp_get_num_threads");
  get(t.in_parallel, "omp_in_parallel");
  if (!ok) return nullptr;  // an older libgomp without an entry point our code calls: keep our pool
  libgomp_table = t;
  return &libgomp_table;  // the handle's reference is kept: libgomp stays while we forward to it
}

bool own_openmp_forced() {
  static const bool forced = [] {
    const char* v = std::getenv("FLAMBEAU_OWN_OPENMP");
    return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
  }();
  return forced;
}

// The libgomp to forward to, or nullptr; called at top level only (no region of ours on this thread).
const Libgomp* libgomp_for_region() {
  const Libgomp* g = libgomp.load(std::memory_order_acquire);
  if (g != nullptr || own_openmp_forced() || forked_child.load(std::memory_order_relaxed)) return g;
  timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  long ns = now.tv_sec * 1000000000L + now.tv_nsec;
  long next = libgomp_next_check_ns.load(std::memory_order_relaxed);
  if (ns < next || !libgomp_next_check_ns.compare_exchange_strong(next, ns + 50000000L)) return nullptr;
  Pool* p = pool_ptr;
  if (p != nullptr) pthread_mutex_lock(&p->lock);  // no region of ours in flight while switching
  g = libgomp.load(std::memory_order_acquire);
  if (g == nullptr && (g = find_libgomp()) != nullptr) {
    ensure_atfork();
    if (nthreads_set.load()) g->set_num_threads(nthreads_var.load());
    libgomp.store(g, std::memory_order_release);
  }
  if (p != nullptr) pthread_mutex_unlock(&p->lock);
  return g;
}

void forget_pool_in_child() {
  pool_ptr = nullptr;
  tls = ThreadState{};
  libgomp.store(nullptr);
  forked_child.store(true);
}

// Outside any region of ours: the libgomp forwarded to, if any (no check for a new one).
inline const Libgomp* forwarding() {
  return tls.team == nullptr ? libgomp.load(std::memory_order_acquire) : nullptr;
}

}  // namespace

extern "C" {

int omp_get_max_threads(void) {
  if (const Libgomp* g = forwarding()) return g->get_max_threads();
  return max_threads();
}
void omp_set_num_threads(int n) {
  nthreads_var.store(clamp_threads(n));
  nthreads_set.store(true);
  if (const Libgomp* g = forwarding()) g->set_num_threads(n);
}
int omp_get_thread_num(void) {
  if (const Libgomp* g = forwarding()) return g->get_thread_num();
  return tls.id;
}
int omp_get_num_threads(void) {
  if (const Libgomp* g = forwarding()) return g->get_num_threads();
  return tls.nthreads;
}
int omp_in_parallel(void) {
  if (const Libgomp* g = forwarding()) return g->in_parallel();
  return tls.active;
}

// A parallel region of `requested` threads (0: nthreads-var); `loop`: the bounds of the combined
// `parallel for` loop GCC hands over with the region (GOMP_parallel_loop_*), set up before any thread runs.
static void run_parallel(void (*fn)(void*), void* data, unsigned requested, const LoopBounds* loop) {
  int n = requested ? clamp_threads(requested) : max_threads();
  ThreadState saved = tls;
  if (saved.active || n <= 1) {
    // Nested in an active region (nested parallelism is off, libgomp's default) or a team of one:
    // this thread alone, thread number 0, with a team of its own for loops and barriers.
    Team solo;
    solo.reset(1);
    if (loop) {
      init_work_share(solo.ws[0], 0, *loop, 1);
      solo.ws[0].id.store(0, std::memory_order_relaxed);
      solo.preset_loop = true;
    }
    tls.enter(&solo, 0, saved.active);
    fn(data);
    tls = saved;
    return;
  }
  Pool& p = pool();
  pthread_mutex_lock(&p.lock);
  if (!grow(p, n - 1)) n = p.nworkers + 1;  // fewer threads than asked rather than failing
  p.team.reset(n);
  if (loop) {
    init_work_share(p.team.ws[0], 0, *loop, n);
    p.team.ws[0].id.store(0, std::memory_order_relaxed);
    p.team.preset_loop = true;
  }
  p.fn = fn;
  p.data = data;
  p.remaining.store((uint32_t)(n - 1), std::memory_order_relaxed);
  for (int i = 1; i < n; ++i) bump_and_wake(p.workers[i].go, p.workers[i].sleepers);  // seq_cst: publishes the above
  tls.enter(&p.team, 0, true);
  fn(data);
  tls = saved;
  wait_workers(p);
  pthread_mutex_unlock(&p.lock);
}

void GOMP_parallel(void (*fn)(void*), void* data, unsigned num_threads, unsigned flags) {
  if (tls.team == nullptr)
    if (const Libgomp* g = libgomp_for_region()) return g->parallel(fn, data, num_threads, flags);
  run_parallel(fn, data, num_threads, nullptr);
}

void GOMP_parallel_loop_nonmonotonic_dynamic(void (*fn)(void*), void* data, unsigned num_threads, long start,
                                             long end, long incr, long chunk, unsigned flags) {
  if (tls.team == nullptr)
    if (const Libgomp* g = libgomp_for_region())
      return g->parallel_loop_nonmonotonic_dynamic(fn, data, num_threads, start, end, incr, chunk, flags);
  LoopBounds b{start, end, incr, chunk};
  run_parallel(fn, data, num_threads, &b);
}

void GOMP_parallel_loop_dynamic(void (*fn)(void*), void* data, unsigned num_threads, long start, long end,
                                long incr, long chunk, unsigned flags) {
  GOMP_parallel_loop_nonmonotonic_dynamic(fn, data, num_threads, start, end, incr, chunk, flags);
}

void GOMP_barrier(void) {
  if (const Libgomp* g = forwarding()) return g->barrier();
  Team* team = tls.team;
  if (team == nullptr || tls.nthreads <= 1) return;
  uint32_t gen = team->barrier_gen.load(std::memory_order_acquire);
  if (team->barrier_count.fetch_add(1, std::memory_order_acq_rel) + 1 == (uint32_t)tls.nthreads) {
    team->barrier_count.store(0, std::memory_order_relaxed);
    bump_and_wake(team->barrier_gen, team->barrier_sleepers);
    return;
  }
  wait_change(team->barrier_gen, gen, team->barrier_sleepers);
}

bool GOMP_loop_nonmonotonic_dynamic_start(long start, long end, long incr, long chunk, long* istart, long* iend) {
  if (const Libgomp* g = forwarding()) return g->loop_nonmonotonic_dynamic_start(start, end, incr, chunk, istart, iend);
  if (tls.team == nullptr) {
    orphan_team.reset(1);
    tls.team = &orphan_team;
    tls.ws_next = 0;
  }
  WorkShare& s = enter_work_share();
  long id = s.id.load(std::memory_order_relaxed);
  if (s.ready.load(std::memory_order_acquire) != id)  // this thread won the slot: write the bounds
    init_work_share(s, id, LoopBounds{start, end, incr, chunk}, tls.nthreads);
  tls.ws = &s;
  return next_chunk(s, istart, iend);
}

bool GOMP_loop_dynamic_start(long start, long end, long incr, long chunk, long* istart, long* iend) {
  return GOMP_loop_nonmonotonic_dynamic_start(start, end, incr, chunk, istart, iend);
}

bool GOMP_loop_nonmonotonic_dynamic_next(long* istart, long* iend) {
  if (const Libgomp* g = forwarding()) return g->loop_nonmonotonic_dynamic_next(istart, iend);
  return tls.ws != nullptr && next_chunk(*tls.ws, istart, iend);
}

bool GOMP_loop_dynamic_next(long* istart, long* iend) { return GOMP_loop_nonmonotonic_dynamic_next(istart, iend); }

void GOMP_loop_end_nowait(void) {
  if (const Libgomp* g = forwarding()) return g->loop_end_nowait();
  if (tls.ws != nullptr) tls.ws->users.fetch_sub(1, std::memory_order_acq_rel);
  tls.ws = nullptr;
  if (tls.team == &orphan_team) tls = ThreadState{};
}

void GOMP_loop_end(void) {  // a loop without nowait: its implicit barrier
  if (const Libgomp* g = forwarding()) return g->loop_end();
  bool orphan = tls.team == &orphan_team;
  GOMP_loop_end_nowait();
  if (!orphan) GOMP_barrier();
}

// `#pragma omp critical(name)`: GCC passes the address of a pointer-sized zeroed variable per name; its
// first 4 bytes serve as the lock word. Never forwarded: the variable is the module's own, so one lock
// serves threads of either runtime.
void GOMP_critical_name_start(void** pptr) {
  auto* word = reinterpret_cast<std::atomic<int>*>(pptr);
  for (int spins = 0;; ++spins) {
    int expected = 0;
    if (word->compare_exchange_weak(expected, 1, std::memory_order_acquire)) return;
    if (spins < kSpins) cpu_relax();
    else sched_yield();
  }
}

void GOMP_critical_name_end(void** pptr) {
  reinterpret_cast<std::atomic<int>*>(pptr)->store(0, std::memory_order_release);
}

}  // extern "C"
