"""flambeau.backends.cpu: the SIMD level the CPU kernels run at ('avx512', 'avx2' or 'default')."""
from ... import _C


def get_cpu_capability():
    return _C.cpu_capability()


def capability():
    return _C.cpu_capability()


def set_capability(name):
    """Caps the kernels at `name` (never above what the CPU supports); returns the level in effect."""
    _C.set_cpu_capability(name)
    return _C.cpu_capability()


# ---- the CPU caching allocator (csrc/core/cpu_allocator.h)
# Freed tensor memory is kept on per-size-class free lists (bounded by FLAMBEAU_CPU_CACHE_MB,
# default 256 MiB; 0 turns caching off) and handed to the next tensor of that size class.

def memory_stats():
    """{'hits', 'misses', 'evictions', 'cached_bytes', 'cached_blocks', 'limit_bytes'} of the CPU
    caching allocator (hits/misses/evictions count since start or reset_memory_stats())."""
    return dict(_C.cpu_allocator_stats())


def empty_cache():
    """Returns every cached (free) CPU block to the system."""
    _C.cpu_empty_cache()


def set_cache_limit(nbytes):
    """Bounds the bytes the CPU cache may hold (evicting down to it); 0 turns caching off."""
    _C.cpu_set_cache_limit(int(nbytes))


def reset_memory_stats():
    _C.cpu_reset_allocator_counters()
