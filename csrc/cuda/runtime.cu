// The CUDA runtime side of flambeau: device discovery, one stream per device, the caching
// allocator, host<->device copies, and the error helpers declared in common.cuh. Implements
// core/cuda_hooks.h.
//
// Device discovery. The CUDA runtime is linked statically and loads the driver (libcuda.so) on
// first use; without a driver or GPU, cudaGetDeviceCount fails. device_count() then returns 0 and
// clears the error, so importing flambeau and asking is always safe.
//
// The caching allocator. cudaMalloc/cudaFree are slow (cudaFree synchronises the device), so freed
// blocks go onto a per-device free list and are handed out again:
//   * requests up to 1 MiB are rounded up to a multiple of 512 B and reused only by requests of the
//     same rounded size (a small block never pins a big one);
//   * larger requests are rounded up to a multiple of 2 MiB and reuse the smallest cached block
//     that fits, provided it wastes at most 1/8 of the request (or one 2 MiB unit).
// Blocks are never split or merged; training loops ask for the same sizes every step, so the cache
// settles after the first step. Reuse is stream-ordered: every kernel and copy on a device goes to
// the device's one flambeau stream, so a block released while queued work still uses it is only
// touched again by work queued after that work.
// On cudaMalloc failure the device's cached blocks are returned to the driver and the call
// retried once; if it fails again we raise an out-of-memory RuntimeError with the numbers.
// memory_allocated counts the (rounded) bytes of blocks in use; max_memory_allocated its peak.
//
// The allocator and stream tables are leaked on purpose: tensors owned by Python may be freed
// during interpreter shutdown, after static destructors would have run.
#include <cuda_runtime.h>
#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>
#include "cuda/common.cuh"

namespace flambeau::cuda {

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  (void)cudaGetLastError();  // clear the non-sticky error so later calls start clean
  const char* base = std::strrchr(file, '/');
  throw RuntimeError(str_cat("CUDA error: ", cudaGetErrorString(err), " (", cudaGetErrorName(err), ") from ", what,
                             " at ", base ? base + 1 : file, ":", line));
}

bool sync_after_launch() {
  static const bool on = [] {
    const char* v = std::getenv("FLAMBEAU_CUDA_SYNC");
    return v && v[0] && !(v[0] == '0' && v[1] == '\0');
  }();
  return on;
}

bool unverified_kernels() {
  static const bool on = [] {
    const char* v = std::getenv("FLAMBEAU_CUDA_UNVERIFIED");
    return v && v[0] && !(v[0] == '0' && v[1] == '\0');
  }();
  return on;
}

void check_launch(const char* kernel, int device, const char* file, int line) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw_cuda_error(err, str_cat("launch of ", kernel).c_str(), file, line);
  if (sync_after_launch()) {
    err = cudaStreamSynchronize(stream(device));
    if (err != cudaSuccess)
      throw_cuda_error(err, str_cat(kernel, " (synchronised because FLAMBEAU_CUDA_SYNC=1)").c_str(), file, line);
  }
}

// ---------------------------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------------------------

bool is_built() { return true; }

int device_count() {
  static const int count = [] {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      return 0;
    }
    return n < 0 ? 0 : n;
  }();
  return count;
}

void check_device(int device) {
  int n = device_count();
  FLB_CHECK(n > 0, RuntimeError, "CUDA is not available: no CUDA driver or GPU was found");
  FLB_CHECK(device >= 0 && device < n, RuntimeError, "CUDA device ", device, " is not available (",
            n, " device", n == 1 ? "" : "s", " found)");
}

namespace {

struct DeviceTables {
  std::mutex mu;
  std::vector<cudaStream_t> streams;
  std::vector<int> sm_count;
};

DeviceTables& tables() {
  static DeviceTables* t = new DeviceTables();  // leaked: see the header comment
  return *t;
}

}  // namespace

DeviceGuard::DeviceGuard(int device) {
  check_device(device);
  FLB_CUDA_CHECK(cudaGetDevice(&prev_));
  cur_ = device;
  if (prev_ != device) FLB_CUDA_CHECK(cudaSetDevice(device));
}

DeviceGuard::~DeviceGuard() {
  if (prev_ >= 0 && prev_ != cur_) (void)cudaSetDevice(prev_);
}

cudaStream_t stream(int device) {
  check_device(device);
  DeviceTables& t = tables();
  std::lock_guard<std::mutex> lock(t.mu);
  if (t.streams.empty()) t.streams.assign(device_count(), nullptr);
  if (!t.streams[device]) {
    int prev = 0;
    FLB_CUDA_CHECK(cudaGetDevice(&prev));
    FLB_CUDA_CHECK(cudaSetDevice(device));
    cudaStream_t s = nullptr;
    cudaError_t err = cudaStreamCreateWithFlags(&s, cudaStreamDefault);
    (void)cudaSetDevice(prev);
    if (err != cudaSuccess) throw_cuda_error(err, "cudaStreamCreateWithFlags", __FILE__, __LINE__);
    t.streams[device] = s;
  }
  return t.streams[device];
}

int multiprocessor_count(int device) {
  check_device(device);
  DeviceTables& t = tables();
  std::lock_guard<std::mutex> lock(t.mu);
  if (t.sm_count.empty()) t.sm_count.assign(device_count(), 0);
  if (!t.sm_count[device]) {
    int n = 0;
    FLB_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    t.sm_count[device] = n > 0 ? n : 1;
  }
  return t.sm_count[device];
}

void synchronize(int device) {
  if (device < 0) {
    FLB_CHECK(device_count() > 0, RuntimeError, "CUDA is not available: no CUDA driver or GPU was found");
    FLB_CUDA_CHECK(cudaGetDevice(&device));
  }
  DeviceGuard g(device);
  FLB_CUDA_CHECK(cudaStreamSynchronize(stream(device)));
  FLB_CUDA_CHECK(cudaDeviceSynchronize());
}

// ---------------------------------------------------------------------------------------------
// Caching allocator
// ---------------------------------------------------------------------------------------------

namespace {

constexpr size_t kSmallLimit = size_t(1) << 20;  // 1 MiB
constexpr size_t kSmallRound = 512;
constexpr size_t kLargeRound = size_t(2) << 20;  // 2 MiB

size_t round_size(size_t n) {
  if (n <= kSmallLimit) return (n + kSmallRound - 1) / kSmallRound * kSmallRound;
  return (n + kLargeRound - 1) / kLargeRound * kLargeRound;
}

std::string mib(size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f MiB", (double)n / (1024.0 * 1024.0));
  return buf;
}

struct DeviceCache {
  std::multimap<size_t, void*> free_blocks;  // size -> ptr
  std::unordered_map<void*, size_t> live;    // ptr -> size, blocks handed out
  size_t allocated = 0;                      // bytes in live blocks
  size_t peak = 0;
  size_t cached = 0;                         // bytes in free_blocks
};

class CachingAllocator {
 public:
  void* allocate(size_t nbytes, int device) {
    check_device(device);
    if (nbytes == 0) return nullptr;
    const size_t size = round_size(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    DeviceCache& dc = cache(device);
    size_t got = size;
    void* p = take_cached(dc, size, &got);
    if (!p) p = malloc_with_retry(dc, size, nbytes, device);
    dc.live.emplace(p, got);
    dc.allocated += got;
    if (dc.allocated > dc.peak) dc.peak = dc.allocated;
    return p;
  }

  // Never throws: called from Storage destructors.
  void release(void* p, int device) noexcept {
    if (!p) return;
    try {
      std::lock_guard<std::mutex> lock(mu_);
      if (device < 0 || device >= (int)caches_.size()) return;
      DeviceCache& dc = caches_[device];
      auto it = dc.live.find(p);
      if (it == dc.live.end()) return;  // not ours: ignore rather than corrupt the cache
      size_t size = it->second;
      dc.live.erase(it);
      dc.allocated -= size;
      dc.free_blocks.emplace(size, p);
      dc.cached += size;
    } catch (...) {
    }
  }

  size_t allocated(int device) {
    std::lock_guard<std::mutex> lock(mu_);
    return device >= 0 && device < (int)caches_.size() ? caches_[device].allocated : 0;
  }
  size_t peak(int device) {
    std::lock_guard<std::mutex> lock(mu_);
    return device >= 0 && device < (int)caches_.size() ? caches_[device].peak : 0;
  }
  // Held from the driver: handed out plus cached (PyTorch's memory_reserved).
  size_t reserved(int device) {
    std::lock_guard<std::mutex> lock(mu_);
    return device >= 0 && device < (int)caches_.size() ? caches_[device].allocated + caches_[device].cached : 0;
  }
  void reset_peak(int device) {
    std::lock_guard<std::mutex> lock(mu_);
    if (device >= 0 && device < (int)caches_.size()) caches_[device].peak = caches_[device].allocated;
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    for (int d = 0; d < (int)caches_.size(); ++d) free_cached(caches_[d], d);
  }

 private:
  DeviceCache& cache(int device) {
    if (caches_.empty()) caches_.resize(device_count());
    return caches_[device];
  }

  // The best cached block for `size` (its real size in *got), or nullptr.
  void* take_cached(DeviceCache& dc, size_t size, size_t* got) {
    auto it = dc.free_blocks.lower_bound(size);
    if (it == dc.free_blocks.end()) return nullptr;
    if (size <= kSmallLimit) {
      if (it->first != size) return nullptr;
    } else {
      size_t slack = std::max(size / 8, kLargeRound);
      if (it->first > size + slack) return nullptr;
    }
    void* p = it->second;
    *got = it->first;
    dc.cached -= it->first;
    dc.free_blocks.erase(it);
    return p;
  }

  // Returns this device's cached blocks to the driver. cudaFree synchronises the device, which is
  // what makes this safe with respect to queued work.
  void free_cached(DeviceCache& dc, int device) {
    if (dc.free_blocks.empty()) return;
    int prev = 0;
    if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
    (void)cudaSetDevice(device);
    for (auto& kv : dc.free_blocks) (void)cudaFree(kv.second);
    (void)cudaGetLastError();
    dc.free_blocks.clear();
    dc.cached = 0;
    if (prev >= 0) (void)cudaSetDevice(prev);
  }

  void* malloc_with_retry(DeviceCache& dc, size_t size, size_t requested, int device) {
    int prev = 0;
    FLB_CUDA_CHECK(cudaGetDevice(&prev));
    if (prev != device) FLB_CUDA_CHECK(cudaSetDevice(device));
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      free_cached(dc, device);  // restores device `device` as current afterwards
      (void)cudaSetDevice(device);
      err = cudaMalloc(&p, size);
    }
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      (void)cudaMemGetInfo(&free_b, &total_b);
      (void)cudaGetLastError();
      if (prev != device) (void)cudaSetDevice(prev);
      if (err == cudaErrorMemoryAllocation)
        throw OutOfMemoryError(str_cat("CUDA out of memory: tried to allocate ", mib(requested), " (", requested,
                                       " bytes) on cuda:", device, "; ", mib(dc.allocated),
                                       " already allocated by flambeau, ", mib(free_b), " free of ", mib(total_b),
                                       " total"));
      throw_cuda_error(err, "cudaMalloc", __FILE__, __LINE__);
    }
    if (prev != device) (void)cudaSetDevice(prev);
    return p;
  }

  std::mutex mu_;
  std::vector<DeviceCache> caches_;
};

CachingAllocator& allocator() {
  static CachingAllocator* a = new CachingAllocator();  // leaked: see the header comment
  return *a;
}

}  // namespace

void* allocate(size_t nbytes, int device) { return allocator().allocate(nbytes, device); }
void release(void* ptr, int device) { allocator().release(ptr, device); }
size_t memory_allocated(int device) { return device_count() ? allocator().allocated(device) : 0; }
size_t max_memory_allocated(int device) { return device_count() ? allocator().peak(device) : 0; }
size_t memory_reserved(int device) { return device_count() ? allocator().reserved(device) : 0; }
void reset_peak_memory_stats(int device) {
  if (device_count()) allocator().reset_peak(device);
}
void empty_cache() {
  if (device_count()) allocator().empty_cache();
}

// ---------------------------------------------------------------------------------------------
// Copies
// ---------------------------------------------------------------------------------------------

namespace {

// The device that owns a device pointer, or -1 for host memory / unknown.
int device_of(const void* p) {
  cudaPointerAttributes attr;
  cudaError_t err = cudaPointerGetAttributes(&attr, p);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return -1;
  }
  return attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged ? attr.device : -1;
}

bool is_pinned_host(const void* p) {
  cudaPointerAttributes attr;
  cudaError_t err = cudaPointerGetAttributes(&attr, p);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return attr.type == cudaMemoryTypeHost;
}

}  // namespace

void memcpy_h2d(void* dst, const void* src, size_t nbytes, int device) {
  if (nbytes == 0) return;
  DeviceGuard g(device);
  cudaStream_t s = stream(device);
  FLB_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, s));
  // From pageable memory the call returns once the source has been staged, so the caller may
  // reuse it. Pinned memory is read by DMA later: wait, so the caller may free or change it.
  if (is_pinned_host(src)) FLB_CUDA_CHECK(cudaStreamSynchronize(s));
}

void memcpy_d2h(void* dst, const void* src, size_t nbytes, int device) {
  if (nbytes == 0) return;
  DeviceGuard g(device);
  cudaStream_t s = stream(device);
  FLB_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, s));
  FLB_CUDA_CHECK(cudaStreamSynchronize(s));  // the host reads dst next
}

void memcpy_d2d(void* dst, const void* src, size_t nbytes, int device) {
  if (nbytes == 0) return;
  // Ordered on `device`'s stream. When src lives on another device, first let that device's
  // queued work (which may still be writing src) finish; cudaMemcpyDefault then does a peer copy.
  int src_dev = device_of(src);
  if (src_dev >= 0 && src_dev != device) {
    DeviceGuard gs(src_dev);
    FLB_CUDA_CHECK(cudaStreamSynchronize(stream(src_dev)));
  }
  DeviceGuard g(device);
  FLB_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, stream(device)));
  // A copy into another device's memory must finish before that device's stream uses it.
  int dst_dev = device_of(dst);
  if (dst_dev >= 0 && dst_dev != device) FLB_CUDA_CHECK(cudaStreamSynchronize(stream(device)));
}

// ---------------------------------------------------------------------------------------------
// Error slot
// ---------------------------------------------------------------------------------------------

DeviceErrorFlag::DeviceErrorFlag(int device) : buf_(sizeof(ErrorSlot), device), device_(device) {
  DeviceGuard g(device);
  FLB_CUDA_CHECK(cudaMemsetAsync(buf_.get<ErrorSlot>(), 0, sizeof(ErrorSlot), stream(device)));
}

bool DeviceErrorFlag::raised(ErrorSlot* host_copy) {
  ErrorSlot tmp;
  ErrorSlot* out = host_copy ? host_copy : &tmp;
  memcpy_d2h(out, buf_.get<ErrorSlot>(), sizeof(ErrorSlot), device_);
  return out->flag != 0;
}

}  // namespace flambeau::cuda
