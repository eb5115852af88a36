// glibc symbol versions of the portable Linux x86-64 build (FLAMBEAU_PORTABLE_LINUX): _C.so must load
// with glibc 2.17 (the manylinux2014 floor), whatever glibc built it.
//
// Each function below is the target of a `-Wl,--wrap=NAME` (CMakeLists.txt): every reference to NAME in
// the module, in our objects and in the static libstdc++.a and cudart_static alike, goes to __wrap_NAME
// instead, which jumps to the oldest version of NAME that x86-64 glibc has (GLIBC_2.2.5, pinned with
// .symver) or, where glibc 2.17 has no such function, does the job itself. The list of wrapped names
// in CMakeLists.txt is the list of __wrap_ definitions here.
//
// The math functions: glibc 2.27 (float) and 2.29/2.35 (double) added new symbol versions only to drop
// the SVID error-handling wrappers; the GLIBC_2.2.5 versions call the same implementation and return the
// same values but for the sign of log's NaN (below; tests/test_wheel_portability.py compares the two on
// special and random arguments). The module uses the newer versions where the running glibc has them
// and the GLIBC_2.2.5 ones (that glibc's implementations) elsewhere.
#if defined(__linux__) && defined(__x86_64__)

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FLAMBEAU_OLD_SYMBOL(local, name) __asm__(".symver " #local "," #name "@GLIBC_2.2.5")

// __wrap_NAME: a hidden function whose body is one indirect-branch-safe tail jump, JUMP (endbr64, a no-op
// without CET, keeps it a valid indirect-branch target). No signature needed: the arguments pass untouched.
#define FLAMBEAU_WRAP_JUMP(name, jump)                   \
  __asm__(".pushsection .text\n"                         \
          ".globl __wrap_" #name "\n"                    \
          ".hidden __wrap_" #name "\n"                   \
          ".type __wrap_" #name ",@function\n"           \
          ".p2align 4\n"                                 \
          "__wrap_" #name ":\n"                          \
          "  endbr64\n"                                  \
          "  " jump "\n"                                 \
          ".size __wrap_" #name ",.-__wrap_" #name "\n"  \
          ".popsection\n")

// __wrap_NAME as a tail jump to TARGET@VERSION (TARGET is NAME but for the C23 names below).
#define FLAMBEAU_FORWARD_AS(name, target, version)                   \
  __asm__(".symver flambeau_old_" #name "," #target "@" version);    \
  FLAMBEAU_WRAP_JUMP(name, "jmp flambeau_old_" #name "@PLT")
#define FLAMBEAU_FORWARD(name, version) FLAMBEAU_FORWARD_AS(name, name, version)

extern "C" {

// ---- libm ------------------------------------------------------------------------------------------
// __wrap_NAME jumps through flambeau_impl_NAME: the GLIBC_2.2.5 version (what glibc 2.17 has), replaced
// when the module loads by the newer version where this glibc has it (pick_libm_versions below). The
// GLIBC_2.2.5 versions of a newer glibc keep the SVID wrapper around the same implementation, and were
// measured up to 1.5x slower on scalar expf (the CPU_CAPABILITY=default loops); the newer versions are
// the very functions a module linked against this glibc would call.
#define FLAMBEAU_DISPATCH(name) FLAMBEAU_WRAP_JUMP(name, "jmp *flambeau_impl_" #name "(%rip)")

double flambeau_old_exp(double);
double flambeau_old_pow(double, double);
double flambeau_old_hypot(double, double);
double flambeau_old_log(double);
double flambeau_old_log2(double);
float flambeau_old_expf(float);
float flambeau_old_powf(float, float);
float flambeau_old_logf(float);
float flambeau_old_log2f(float);
FLAMBEAU_OLD_SYMBOL(flambeau_old_exp, exp);
FLAMBEAU_OLD_SYMBOL(flambeau_old_pow, pow);
FLAMBEAU_OLD_SYMBOL(flambeau_old_hypot, hypot);
FLAMBEAU_OLD_SYMBOL(flambeau_old_log, log);
FLAMBEAU_OLD_SYMBOL(flambeau_old_log2, log2);
FLAMBEAU_OLD_SYMBOL(flambeau_old_expf, expf);
FLAMBEAU_OLD_SYMBOL(flambeau_old_powf, powf);
FLAMBEAU_OLD_SYMBOL(flambeau_old_logf, logf);
FLAMBEAU_OLD_SYMBOL(flambeau_old_log2f, log2f);

// The old log/log2/logf/log2f (their SVID wrapper) return +NaN for x < 0 where the newer versions return
// the x86 default NaN, -NaN ((x - x) / (x - x), raising FE_INVALID): answered here, so the module
// returns the same bits with either.
static double old_log(double x) { return x < 0 ? (x - x) / (x - x) : flambeau_old_log(x); }
static double old_log2(double x) { return x < 0 ? (x - x) / (x - x) : flambeau_old_log2(x); }
static float old_logf(float x) { return x < 0 ? (x - x) / (x - x) : flambeau_old_logf(x); }
static float old_log2f(float x) { return x < 0 ? (x - x) / (x - x) : flambeau_old_log2f(x); }

using MathD1 = double (*)(double);
using MathD2 = double (*)(double, double);
using MathF1 = float (*)(float);
using MathF2 = float (*)(float, float);
#define FLAMBEAU_IMPL(name, type, initial) __attribute__((visibility("hidden"))) type flambeau_impl_##name = initial
FLAMBEAU_IMPL(exp, MathD1, flambeau_old_exp);
FLAMBEAU_IMPL(pow, MathD2, flambeau_old_pow);
FLAMBEAU_IMPL(hypot, MathD2, flambeau_old_hypot);
FLAMBEAU_IMPL(log, MathD1, old_log);
FLAMBEAU_IMPL(log2, MathD1, old_log2);
FLAMBEAU_IMPL(expf, MathF1, flambeau_old_expf);
FLAMBEAU_IMPL(powf, MathF2, flambeau_old_powf);
FLAMBEAU_IMPL(logf, MathF1, old_logf);
FLAMBEAU_IMPL(log2f, MathF1, old_log2f);
FLAMBEAU_DISPATCH(exp);
FLAMBEAU_DISPATCH(pow);
FLAMBEAU_DISPATCH(hypot);
FLAMBEAU_DISPATCH(log);
FLAMBEAU_DISPATCH(log2);
FLAMBEAU_DISPATCH(expf);
FLAMBEAU_DISPATCH(powf);
FLAMBEAU_DISPATCH(logf);
FLAMBEAU_DISPATCH(log2f);

// ---- libpthread / libdl / librt: glibc 2.34 moved them into libc.so.6 under new versions ----------
// The old versions live in libpthread.so.0, libdl.so.2 and librt.so.1 on older glibc (all three are
// DT_NEEDED of the module, so they are loaded there); glibc >= 2.34 keeps them in libc.so.6 as
// compatibility symbols. Ours (omp_runtime.cpp, libstdc++.a) need the first few; the CUDA runtime
// (cudart_static) the rest.
FLAMBEAU_FORWARD(pthread_once, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_create, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_detach, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_join, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_key_create, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_key_delete, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_getspecific, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_setspecific, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_kill, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_mutex_trylock, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_mutexattr_init, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_mutexattr_destroy, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_mutexattr_settype, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_mutexattr_setpshared, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_condattr_setpshared, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_rwlock_init, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_rwlock_destroy, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_rwlock_rdlock, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_rwlock_wrlock, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_rwlock_tryrdlock, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_rwlock_trywrlock, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_rwlock_timedrdlock, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_rwlock_timedwrlock, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_rwlock_unlock, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_rwlockattr_init, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_rwlockattr_destroy, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_rwlockattr_setpshared, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_spin_init, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_spin_destroy, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_spin_lock, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_spin_trylock, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(pthread_spin_unlock, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(sem_init, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(sem_destroy, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(sem_post, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(sem_wait, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(sem_trywait, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(sem_timedwait, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(shm_open, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(shm_unlink, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(dlopen, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(dlclose, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(dlsym, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(dlvsym, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(dlerror, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(dladdr, "GLIBC_2.2.5");
FLAMBEAU_FORWARD(dlmopen, "GLIBC_2.3.4");

// ---- glibc >= 2.38 headers: C23 strtol & co. ---------------------------------------------------------
// With _GNU_SOURCE (g++ defines it) glibc 2.38's headers redirect strtol, sscanf, ... (std::stoi's
// strtol among them) to __isoc23_* versions, which differ only in reading "0b" binary prefixes. Not
// referenced when building on this machine's glibc 2.36; there for builders on newer ones.
FLAMBEAU_FORWARD_AS(__isoc23_strtol, strtol, "GLIBC_2.2.5");
FLAMBEAU_FORWARD_AS(__isoc23_strtoul, strtoul, "GLIBC_2.2.5");
FLAMBEAU_FORWARD_AS(__isoc23_strtoll, strtoll, "GLIBC_2.2.5");
FLAMBEAU_FORWARD_AS(__isoc23_strtoull, strtoull, "GLIBC_2.2.5");
FLAMBEAU_FORWARD_AS(__isoc23_sscanf, sscanf, "GLIBC_2.2.5");

// What the C++ below calls (the trampolines above).
int __wrap_pthread_once(pthread_once_t*, void (*)(void));
int __wrap_pthread_key_create(pthread_key_t*, void (*)(void*));
void* __wrap_pthread_getspecific(pthread_key_t);
int __wrap_pthread_setspecific(pthread_key_t, const void*);
void* __wrap_dlsym(void*, const char*);

// ---- libstdc++.a's inline atomicity (GLIBC_2.32 data) ---------------------------------------------
// libstdc++ skips the atomic instructions of reference counts while this reads nonzero (no second
// thread yet). Zero is always correct: the atomic path is taken. The module starts OpenMP threads on
// its first parallel op anyway, after which glibc's own flag is zero too.
char __wrap___libc_single_threaded = 0;

// ---- randomness for std::random_device (arc4random: 2.36, getentropy: 2.25) -----------------------
static int fill_random(void* buf, size_t len) {
  auto* p = static_cast<unsigned char*>(buf);
  while (len > 0) {
    long got = syscall(SYS_getrandom, p, len, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;  // ENOSYS before Linux 3.17: /dev/urandom below
    p += got;
    len -= (size_t)got;
  }
  if (len == 0) return 0;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  while (len > 0) {
    ssize_t got = read(fd, p, len);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    p += got;
    len -= (size_t)got;
  }
  close(fd);
  return len == 0 ? 0 : -1;
}

int __wrap_getentropy(void* buf, size_t len) {
  if (len > 256) {
    errno = EIO;
    return -1;
  }
  return fill_random(buf, len) == 0 ? 0 : (errno = EIO, -1);
}

uint32_t __wrap_arc4random(void) {
  uint32_t v = 0;
  if (fill_random(&v, sizeof v) != 0) __builtin_trap();  // arc4random cannot fail
  return v;
}

// ---- thread_local destructors (__cxa_thread_atexit_impl: 2.18) ------------------------------------
// glibc's own where it has one (looked up at run time); on 2.17 a pthread key runs the destructors
// when the thread exits, as libstdc++ itself does on a C library without the function.
namespace {
struct AtExitNode {
  void (*dtor)(void*);
  void* obj;
  AtExitNode* next;
};
pthread_key_t atexit_key;
void run_thread_dtors(void* head) {
  for (auto* n = static_cast<AtExitNode*>(head); n != nullptr;) {
    AtExitNode* next = n->next;
    n->dtor(n->obj);
    delete n;
    n = next;
  }
}
void make_atexit_key() { __wrap_pthread_key_create(&atexit_key, run_thread_dtors); }
}  // namespace

int __wrap___cxa_thread_atexit_impl(void (*dtor)(void*), void* obj, void* dso_symbol) {
  using Impl = int (*)(void (*)(void*), void*, void*);
  static Impl impl = reinterpret_cast<Impl>(__wrap_dlsym(RTLD_DEFAULT, "__cxa_thread_atexit_impl"));
  if (impl != nullptr) return impl(dtor, obj, dso_symbol);
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  __wrap_pthread_once(&once, make_atexit_key);
  auto* head = static_cast<AtExitNode*>(__wrap_pthread_getspecific(atexit_key));
  auto* node = new AtExitNode{dtor, obj, head};  // newest first: destroyed in reverse order of construction
  return __wrap_pthread_setspecific(atexit_key, node);
}

// The newer libm versions where this glibc has them (the versions a build on glibc >= 2.35 links to).
// Runs when the module is loaded, before any of its code can call them.
__attribute__((constructor)) static void pick_libm_versions() {
  void* libm = dlopen("libm.so.6", RTLD_NOW | RTLD_NOLOAD);  // loaded already: a DT_NEEDED of the module
  if (libm == nullptr) return;
  auto pick = [libm](auto& slot, const char* name, const char* version) {
    if (void* f = dlvsym(libm, name, version)) slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(f);
  };
  pick(flambeau_impl_exp, "exp", "GLIBC_2.29");
  pick(flambeau_impl_pow, "pow", "GLIBC_2.29");
  pick(flambeau_impl_log, "log", "GLIBC_2.29");
  pick(flambeau_impl_log2, "log2", "GLIBC_2.29");
  pick(flambeau_impl_hypot, "hypot", "GLIBC_2.35");
  pick(flambeau_impl_expf, "expf", "GLIBC_2.27");
  pick(flambeau_impl_powf, "powf", "GLIBC_2.27");
  pick(flambeau_impl_logf, "logf", "GLIBC_2.27");
  pick(flambeau_impl_log2f, "log2f", "GLIBC_2.27");
  dlclose(libm);  // drops the reference RTLD_NOLOAD took; libm stays (the module needs it)
}

}  // extern "C"

#endif  // __linux__ && __x86_64__
