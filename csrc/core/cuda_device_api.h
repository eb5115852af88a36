// torch.cuda's device queries, events and stream queries, seen from code that must compile without
// CUDA (csrc/cuda/device_api.cu implements them; csrc/cuda/no_cuda.cpp says "not built").
//
// flambeau issues all work on a device to one stream (csrc/cuda/common.cuh), so the Python Stream
// objects all stand for it: a program written for several streams runs with its work in issue order,
// one of the orders the streams allowed. Events are real CUDA events recorded on that stream, so
// elapsed_time measures the GPU time between two records as in PyTorch.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace flambeau::cuda {

struct DeviceProperties {
  std::string name;
  int major = 0, minor = 0;
  size_t total_memory = 0;
  int multi_processor_count = 0;
  int max_threads_per_multi_processor = 0;
  int warp_size = 0;
  size_t l2_cache_size = 0;
  bool is_integrated = false;
  std::string uuid;  // 32 hex digits, grouped as PyTorch prints it
};
DeviceProperties device_properties(int device);
std::pair<size_t, size_t> mem_get_info(int device);  // (free, total) bytes, as cudaMemGetInfo
size_t memory_reserved(int device);                    // allocated + cached by flambeau's allocator

// Events: opaque handles (a cudaEvent_t) owned by the Python Event object.
uintptr_t event_create(int device, bool enable_timing, bool blocking, bool interprocess);
void event_destroy(uintptr_t event, int device);
void event_record(uintptr_t event, int device);  // on flambeau's stream of `device`
void event_synchronize(uintptr_t event);
bool event_query(uintptr_t event);
float event_elapsed_time(uintptr_t start, uintptr_t end);  // milliseconds
bool stream_query(int device);  // all work issued to the device's stream has completed

}  // namespace flambeau::cuda
