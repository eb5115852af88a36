#include "cpu/capability.h"
#include <atomic>
#include <cstdlib>
#include <cstring>
#include "core/error.h"
#if defined(__linux__) && defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace flambeau::cpu {

static Capability parse(const std::string& s) {
  if (s == "default" || s == "DEFAULT") return Capability::Default;
  if (s == "avx2" || s == "AVX2") return Capability::AVX2;
  if (s == "avx512" || s == "AVX512") return Capability::AVX512;
  throw ValueError("cpu capability must be 'default', 'avx2' or 'avx512', got '" + s + "'");
}

Capability detected_capability() {
  static const Capability best = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
      return Capability::AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Capability::AVX2;
    return Capability::Default;
  }();
  return best;
}

bool hardware_has_avx512_vnni() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512vnni");
  }();
  return has;
}

bool hardware_has_amx_int8() {
  static const bool has = [] {
#if defined(__linux__) && defined(__x86_64__) && !defined(FLAMBEAU_NO_AMX)
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool tile = d & (1u << 24), int8 = d & (1u << 25), osxsave = [] {
      unsigned a1, b1, c1, d1;
      return __get_cpuid(1, &a1, &b1, &c1, &d1) && (c1 & (1u << 27));
    }();
    if (!tile || !int8 || !osxsave || !hardware_has_avx512_vnni()) return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17)) return false;  // XTILECFG and XTILEDATA enabled by the OS
    // Linux (5.16+) hands out the 8 KB tile data state only on request, once per process: without it
    // the first tile instruction faults. ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18.
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
    return false;
#endif
  }();
  return has;
}

static std::atomic<bool>& amx_wanted() {
  static std::atomic<bool> on = [] {
    const char* env = std::getenv("FLAMBEAU_INT8_AMX");
    return !(env && (std::strcmp(env, "0") == 0 || std::strcmp(env, "off") == 0));
  }();
  return on;
}

bool int8_amx_enabled() { return amx_wanted().load(std::memory_order_relaxed) && hardware_has_amx_int8(); }

void set_int8_amx(bool on) { amx_wanted().store(on); }

static std::atomic<int>& current() {
  static std::atomic<int> cap = [] {
    Capability c = detected_capability();
    if (const char* env = std::getenv("FLAMBEAU_CPU_CAPABILITY")) {
      Capability want = parse(env);
      if ((int)want < (int)c) c = want;
    }
    return (int)c;
  }();
  return cap;
}

Capability capability() { return (Capability)current().load(std::memory_order_relaxed); }

void set_capability(const std::string& name) {
  Capability want = parse(name);
  Capability best = detected_capability();
  current().store((int)want < (int)best ? (int)want : (int)best);
}

const char* capability_name(Capability c) {
  switch (c) {
    case Capability::AVX512: return "avx512";
    case Capability::AVX2: return "avx2";
    default: return "default";
  }
}

}  // namespace flambeau::cpu
