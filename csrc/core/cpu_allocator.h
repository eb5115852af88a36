// CPU memory for tensor storage: 64-byte aligned blocks from a small caching allocator.
//
// Why: every op allocates its output, and on small tensors the allocation was a visible part of the
// per-call overhead (glibc's aligned_alloc path: _int_memalign, malloc_consolidate on free), while a
// fresh multi-megabyte block comes from mmap and page-faults on every first write (the kernel then
// spends as long zeroing pages as the op spends computing). Freed blocks are kept on per-size-class
// free lists and handed back to the next request of the same class.
//
// Size classes: 64-byte multiples up to 256 bytes, then four classes per power of two (a block is at
// most 25% larger than asked; for large blocks the unused tail is never touched, so it costs address
// space, not memory). The cache is bounded by bytes (FLAMBEAU_CPU_CACHE_MB, default 256; 0 turns the
// cache off, e.g. for valgrind/ASan runs), evicting the least recently freed blocks first; a block
// bigger than a quarter of the bound is never cached. One mutex guards it (allocations come from any
// thread that runs an op), and fork() is safe (the lock is held across it). Blocks still cached at
// exit are returned to the system; a block freed after that goes straight back to free().
#pragma once
#include <cstddef>
#include <cstdint>

namespace flambeau::cpu_alloc {

// A block of at least `nbytes` bytes (64-byte aligned, contents uninitialised). *cls receives the
// size class to hand back to release(). Throws on out-of-memory.
void* allocate(size_t nbytes, size_t* cls);
void release(void* p, size_t cls);

// A kernel's working buffer of n elements of a trivial type T from the same cache, released when it
// goes out of scope. For buffers of hundreds of kilobytes and more: from new[] or std::vector they
// came from mmap on every call and page-faulted on first touch (sort of 64K int64 spent a third of
// its time in the kernel's page-fault path). Contents uninitialised.
template <class T>
class Scratch {
 public:
  explicit Scratch(size_t n) : p_(static_cast<T*>(allocate(n > 0 ? n * sizeof(T) : 1, &cls_))) {}
  ~Scratch() { release(p_, cls_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return p_; }
  T& operator[](size_t i) const { return p_[i]; }

 private:
  size_t cls_ = 0;
  T* p_;
};

struct Stats {
  uint64_t hits = 0;          // requests served from the cache
  uint64_t misses = 0;        // requests that went to the system allocator
  uint64_t evictions = 0;     // cached blocks returned to the system to stay under the bound
  uint64_t cached_bytes = 0;  // bytes held on the free lists now
  uint64_t cached_blocks = 0;
  uint64_t limit_bytes = 0;   // the bound (0: cache off)
  uint64_t allocated_bytes = 0;  // handed out to tensors and scratch buffers, not yet released
};
Stats stats();
void empty_cache();              // returns every cached block to the system
void set_limit(uint64_t bytes);  // new bound (evicts down to it); 0 turns the cache off
void reset_counters();           // hits, misses, evictions back to 0

}  // namespace flambeau::cpu_alloc
