// torch.cuda's device properties, memory info, events and stream queries (core/cuda_device_api.h).
// Thin wrappers over the CUDA runtime: every call checked, the device made current for the calls
// that act on one, events recorded on flambeau's stream of their device.
#include <cstdio>

#include "core/cuda_device_api.h"
#include "cuda/common.cuh"

namespace flambeau::cuda {

DeviceProperties device_properties(int device) {
  check_device(device);
  cudaDeviceProp p{};
  FLB_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  DeviceProperties r;
  r.name = p.name;
  r.major = p.major;
  r.minor = p.minor;
  r.total_memory = p.totalGlobalMem;
  r.multi_processor_count = p.multiProcessorCount;
  r.max_threads_per_multi_processor = p.maxThreadsPerMultiProcessor;
  r.warp_size = p.warpSize;
  r.l2_cache_size = (size_t)p.l2CacheSize;
  r.is_integrated = p.integrated != 0;
  char buf[64];
  const unsigned char* u = reinterpret_cast<const unsigned char*>(p.uuid.bytes);
  std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
                u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
  r.uuid = buf;
  return r;
}

std::pair<size_t, size_t> mem_get_info(int device) {
  DeviceGuard g(device);
  size_t free_b = 0, total_b = 0;
  FLB_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return {free_b, total_b};
}

uintptr_t event_create(int device, bool enable_timing, bool blocking, bool interprocess) {
  DeviceGuard g(device);
  unsigned flags = (enable_timing ? cudaEventDefault : cudaEventDisableTiming) |
                   (blocking ? cudaEventBlockingSync : 0u) | (interprocess ? cudaEventInterprocess : 0u);
  cudaEvent_t e = nullptr;
  FLB_CUDA_CHECK(cudaEventCreateWithFlags(&e, flags));
  return reinterpret_cast<uintptr_t>(e);
}

void event_destroy(uintptr_t event, int device) {
  if (!event) return;
  DeviceGuard g(device);
  (void)cudaEventDestroy(reinterpret_cast<cudaEvent_t>(event));  // from a destructor: never throws
  (void)cudaGetLastError();
}

void event_record(uintptr_t event, int device) {
  DeviceGuard g(device);
  FLB_CUDA_CHECK(cudaEventRecord(reinterpret_cast<cudaEvent_t>(event), stream(device)));
}

void event_synchronize(uintptr_t event) { FLB_CUDA_CHECK(cudaEventSynchronize(reinterpret_cast<cudaEvent_t>(event))); }

bool event_query(uintptr_t event) {
  cudaError_t err = cudaEventQuery(reinterpret_cast<cudaEvent_t>(event));
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  FLB_CUDA_CHECK(err);
  return true;
}

float event_elapsed_time(uintptr_t start, uintptr_t end) {
  float ms = 0.f;
  FLB_CUDA_CHECK(cudaEventElapsedTime(&ms, reinterpret_cast<cudaEvent_t>(start), reinterpret_cast<cudaEvent_t>(end)));
  return ms;
}

bool stream_query(int device) {
  DeviceGuard g(device);
  cudaError_t err = cudaStreamQuery(stream(device));
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  FLB_CUDA_CHECK(err);
  return true;
}

}  // namespace flambeau::cuda
