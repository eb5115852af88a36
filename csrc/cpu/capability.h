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
// AMX-INT8 usable by this process: CPUID says AMX-TILE and AMX-INT8, the OS saves the tile state (XCR0
// bits 17-18), and Linux granted the tile data permission (arch_prctl ARCH_REQ_XCOMP_PERM, asked once,
// here). False elsewhere (other OSes, older CPUs, a refused request): nothing may then run an AMX
// instruction. Sums are exact int32 as vpdpbusd's, so the int8 kernels use it only in place of the VNNI GEMM.
bool hardware_has_amx_int8();
// Whether the int8 kernels use AMX where hardware_has_amx_int8() (default on; FLAMBEAU_INT8_AMX=0 or
// set_int8_amx(false) turns it off, e.g. to test the VNNI route on an AMX CPU). Asking for it where the
// hardware lacks it leaves it off.
bool int8_amx_enabled();
void set_int8_amx(bool on);

}  // namespace flambeau::cpu
