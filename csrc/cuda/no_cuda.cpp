// Built instead of csrc/cuda/*.cu when nvcc is absent or FLAMBEAU_CUDA=OFF: the CUDA entry points
// exist and say clearly that this build has no CUDA.
#include "core/cuda_device_api.h"
#include "core/cuda_hooks.h"

namespace flambeau::cuda {

[[noreturn]] static void not_built() {
  throw RuntimeError("flambeau was built without CUDA support (rebuild with nvcc present, FLAMBEAU_CUDA=ON)");
}

bool is_built() { return false; }
int device_count() { return 0; }
void synchronize(int) { not_built(); }
void* allocate(size_t, int) { not_built(); }
void release(void*, int) {}
size_t memory_allocated(int) { return 0; }
size_t max_memory_allocated(int) { return 0; }
void reset_peak_memory_stats(int) {}
void empty_cache() {}
void memcpy_h2d(void*, const void*, size_t, int) { not_built(); }
void memcpy_d2h(void*, const void*, size_t, int) { not_built(); }
void memcpy_d2d(void*, const void*, size_t, int) { not_built(); }
// The flag is only recorded: there is no GPU GEMM to honour it.
static bool g_allow_tf32 = false;
void set_matmul_allow_tf32(bool allow) { g_allow_tf32 = allow; }
bool matmul_allow_tf32() { return g_allow_tf32; }
// core/cuda_device_api.h
DeviceProperties device_properties(int) { not_built(); }
std::pair<size_t, size_t> mem_get_info(int) { not_built(); }
size_t memory_reserved(int) { return 0; }
uintptr_t event_create(int, bool, bool, bool) { not_built(); }
void event_destroy(uintptr_t, int) {}
void event_record(uintptr_t, int) { not_built(); }
void event_synchronize(uintptr_t) { not_built(); }
bool event_query(uintptr_t) { not_built(); }
float event_elapsed_time(uintptr_t, uintptr_t) { not_built(); }
bool stream_query(int) { not_built(); }
bool unverified_kernels() { return false; }

}  // namespace flambeau::cuda
