// Which SIMD leaf kernels (csrc/cpu/simd/*_avx2.cpp, *_avx512.cpp) run: chosen once from what the
// CPU supports, capped by FLAMBEAU_CPU_CAPABILITY=default|avx2|avx512 or set_cpu_capability().
#pragma once
#include <string>

namespace flambeau::cpu {

enum class Capability : int { Default = 0, AVX2 = 1, AVX512 = 2 };

Capability capability();                // the one in force
Capability detected_capability();       // the best this CPU supports
void set_capability(const std::string& name);  // capped at detected_capability()
const char* capability_name(Capability c);
// AVX-512 VNNI (with F/BW/DQ/VL) in hardware, whatever the cap above: the test fbgemm makes to choose its
// int8 kernels (csrc/cpu/quantized.cpp follows it so that results match PyTorch's on the same CPU).
bool hardware_has_avx512_vnni();

}  // namespace flambeau::cpu
