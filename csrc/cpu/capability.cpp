#include "cpu/capability.h"
#include <atomic>
#include <cstdlib>
#include "core/error.h"

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
