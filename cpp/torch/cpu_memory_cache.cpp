// The caching CPU allocator of include/e3core/torch/cpu_memory_cache.hpp.
//
// Blocks of at least kMinCachedBytes come from the allocator the cache replaced (torch's default,
// which keeps its alignment and profiler reports) and go back to a free list when their tensor
// dies. A request takes the smallest free block that fits it with at most a quarter to spare,
// else a new block rounded up to an eighth of its power of two, so that the few-percent changes
// of an MD step's neighbour count still reuse the last step's blocks. When the free list passes
// its limit, the blocks freed longest ago go back to the system first.
#include "e3core/torch/cpu_memory_cache.hpp"

#include <c10/core/CPUAllocator.h>
#include <pthread.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>
#include <utility>

namespace {

constexpr size_t kMinCachedBytes = size_t{256} << 10;

// n rounded up to a multiple of an eighth of its largest power of two (at most 12.5 % more).
size_t block_size(size_t n) {
  size_t power = 1;
  while (power <= n / 2) {
    power *= 2;
  }
  const size_t step = power / 8;
  return (n + step - 1) / step * step;
}

class CpuMemoryCache final : public c10::Allocator {
 public:
  explicit CpuMemoryCache(c10::Allocator* replaced) : replaced_(replaced) {}

  c10::DataPtr allocate(size_t n) override {
    if (n < kMinCachedBytes) {
      return replaced_->allocate(n);
    }
    void* data = take(n);
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }

  // Also frees the small allocations handed out by the replaced allocator: raw_allocate's
  // callers free everything with this one function.
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  void copy_data(void* dest, const void* src, size_t count) const override {
    default_copy_data(dest, src, count);
  }

  int set(bool enabled, uint64_t limit_bytes) {
    // Blocks go back through the replaced allocator's raw deleter: without one, stay out.
    enabled = enabled && replaced_->raw_deleter() != nullptr;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      limit_bytes_ = limit_bytes;
      enabled_ = enabled;
    }
    // Priority 0 is the default allocator's: an allocator installed above it stays.
    c10::SetCPUAllocator(enabled ? static_cast<c10::Allocator*>(this) : replaced_, 0);
    if (!enabled) {
      empty();
    }
    const std::lock_guard<std::mutex> lock(mutex_);
    enabled_ = enabled && c10::GetCPUAllocator() == this;
    return enabled_ ? 1 : 0;
  }

  e3core_cpu_memory_cache_stats stats() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return {enabled_ ? 1 : 0, in_use_bytes_, cached_bytes_, peak_in_use_bytes_,
            limit_bytes_,     hits_,         misses_,       evictions_};
  }

  void empty() {
    const std::lock_guard<std::mutex> lock(mutex_);
    evict_until(0);
    peak_in_use_bytes_ = in_use_bytes_;
  }

  // Held across fork() so that a child never inherits the lock taken by another thread.
  void lock() { mutex_.lock(); }
  void unlock() { mutex_.unlock(); }

 private:
  struct FreeBlock {
    size_t size;
    uint64_t age;
    bool operator<(const FreeBlock& other) const {
      return size != other.size ? size < other.size : age < other.age;
    }
  };

  void* take(size_t n) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      const auto fit = free_by_size_.lower_bound({n, 0});
      if (fit != free_by_size_.end() && fit->first.size - n <= n / 4) {
        void* data = fit->second;
        const size_t size = fit->first.size;
        free_by_age_.erase(fit->first.age);
        free_by_size_.erase(fit);
        cached_bytes_ -= size;
        mark_in_use(data, size);
        ++hits_;
        return data;
      }
    }
    const size_t size = block_size(n);
    void* data = nullptr;
    try {
      data = replaced_->raw_allocate(size);
    } catch (const c10::Error&) {
      // Out of memory with blocks kept: give them back and try once more.
      empty();
      data = replaced_->raw_allocate(size);
    }
    const std::lock_guard<std::mutex> lock(mutex_);
    mark_in_use(data, size);
    ++misses_;
    return data;
  }

  void mark_in_use(void* data, size_t size) {
    in_use_.emplace(data, size);
    in_use_bytes_ += size;
    if (in_use_bytes_ > peak_in_use_bytes_) {
      peak_in_use_bytes_ = in_use_bytes_;
    }
  }

  static void release(void* data);

  void give_back(void* data) {
    std::unique_lock<std::mutex> lock(mutex_);
    const auto block = in_use_.find(data);
    if (block == in_use_.end()) {
      lock.unlock();
      replaced_->raw_deleter()(data);
      return;
    }
    const size_t size = block->second;
    in_use_.erase(block);
    in_use_bytes_ -= size;
    if (!enabled_) {
      lock.unlock();
      replaced_->raw_deleter()(data);
      return;
    }
    const uint64_t age = next_age_++;
    free_by_size_.emplace(FreeBlock{size, age}, data);
    free_by_age_.emplace(age, size);
    cached_bytes_ += size;
    evict_until(limit_bytes_ != 0 ? limit_bytes_ : 2 * peak_in_use_bytes_);
  }

  // Caller holds mutex_. Frees the oldest kept blocks until at most `limit` bytes are kept.
  void evict_until(uint64_t limit) {
    while (cached_bytes_ > limit) {
      const auto oldest = free_by_age_.begin();
      const auto block = free_by_size_.find({oldest->second, oldest->first});
      replaced_->raw_deleter()(block->second);
      cached_bytes_ -= block->first.size;
      free_by_size_.erase(block);
      free_by_age_.erase(oldest);
      ++evictions_;
    }
  }

  c10::Allocator* replaced_;
  std::mutex mutex_;
  bool enabled_ = false;
  std::unordered_map<void*, size_t> in_use_;
  std::map<FreeBlock, void*> free_by_size_;
  std::map<uint64_t, size_t> free_by_age_;
  uint64_t next_age_ = 0;
  uint64_t in_use_bytes_ = 0;
  uint64_t cached_bytes_ = 0;
  uint64_t peak_in_use_bytes_ = 0;
  uint64_t limit_bytes_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  uint64_t evictions_ = 0;
};

// Never destroyed: tensors that outlive static destruction still free through it.
CpuMemoryCache& cache() {
  static CpuMemoryCache* instance = [] {
    auto* created = new CpuMemoryCache(c10::GetCPUAllocator());
    pthread_atfork([] { cache().lock(); }, [] { cache().unlock(); }, [] { cache().unlock(); });
    return created;
  }();
  return *instance;
}

void CpuMemoryCache::release(void* data) {
  if (data != nullptr) {
    cache().give_back(data);
  }
}

bool enabled_by_environment() {
  const char* value = std::getenv("E3CORE_CPU_MEMORY_CACHE");
  return value == nullptr || std::strcmp(value, "0") != 0;
}

[[maybe_unused]] const bool kInstalled = enabled_by_environment() && cache().set(true, 0) == 1;

}  // namespace

extern "C" int e3core_cpu_memory_cache_set(int enabled, uint64_t limit_bytes) {
  return cache().set(enabled != 0, limit_bytes);
}

extern "C" void e3core_cpu_memory_cache_get_stats(e3core_cpu_memory_cache_stats* stats) {
  *stats = cache().stats();
}

extern "C" void e3core_cpu_memory_cache_empty() { cache().empty(); }
