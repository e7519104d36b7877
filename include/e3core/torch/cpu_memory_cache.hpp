/// @file cpu_memory_cache.hpp
/// @brief A cache of torch's large CPU allocations, so that repeated model calls reuse memory.
///
/// glibc's malloc gives allocations above 32 MiB (and smaller ones that it has not yet learned to
/// keep) fresh pages from the kernel on every call and returns them on free: each page is then
/// faulted in and zeroed again. A NequIP step on 1,536 atoms allocates about 1 GB of such tensors,
/// and the faults took a third of its time on the CPU. libe3core_torch therefore installs, when it
/// loads, a caching allocator as torch's CPU allocator: allocations of at least 256 KiB keep their
/// memory when freed and serve later requests of 80-100 % of their size; smaller ones go to the
/// allocator it replaced. Like torch's CUDA caching allocator, it keeps what was freed (at most
/// twice the peak in use, or the limit set here) until empty_cache is called.
///
/// The environment variable E3CORE_CPU_MEMORY_CACHE=0 leaves torch's allocator alone at load.
/// These functions have C linkage so that Python reaches them with ctypes
/// (e3core.memory); C++ callers link e3core::torch.
#pragma once

#include <cstdint>

extern "C" {

/// The cache's state and counters.
struct e3core_cpu_memory_cache_stats {
  /// 1 if the cache is torch's CPU allocator now.
  int32_t enabled;
  /// Bytes of cached-size blocks held by tensors.
  uint64_t in_use_bytes;
  /// Bytes of blocks kept for reuse.
  uint64_t cached_bytes;
  /// The largest in_use_bytes seen since the cache was created or emptied.
  uint64_t peak_in_use_bytes;
  /// The most cached_bytes kept; 0 means twice peak_in_use_bytes.
  uint64_t limit_bytes;
  /// Requests served from the cache.
  uint64_t hits;
  /// Requests that needed a new block.
  uint64_t misses;
  /// Blocks given back to the system to stay within the limit.
  uint64_t evictions;
};

/// Makes the cache torch's CPU allocator (enabled != 0) or gives torch back the allocator it
/// replaced, and sets the limit on kept bytes (0: twice the peak in use). Returns 1 when the cache
/// is torch's CPU allocator afterwards: an allocator that another library installed with a higher
/// priority stays. Disabling also empties the cache.
int e3core_cpu_memory_cache_set(int enabled, uint64_t limit_bytes);

/// Fills *stats with the cache's state.
void e3core_cpu_memory_cache_get_stats(e3core_cpu_memory_cache_stats* stats);

/// Gives every kept block back to the system and resets the peak.
void e3core_cpu_memory_cache_empty();

}  // extern "C"
