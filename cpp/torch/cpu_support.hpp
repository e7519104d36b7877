// What every CPU kernel of the op library shares: threads, and the memory hint for outputs.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstdint>

#include "e3core/parallel.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace e3core::torch_ops {

/// Threads of the core's kernels come from at::parallel_for, so torch.set_num_threads applies.
inline void torch_parallel_for(int64_t n, int64_t grain, const RangeFn& fn) {
  at::parallel_for(0, n, grain, [&](int64_t begin, int64_t end) { fn(begin, end); });
}

/// Asks Linux for transparent huge pages under a large new CPU tensor. torch's CPU allocator
/// hands out fresh memory, and faulting it in by 4 KiB pages costs more than the kernels that fill
/// it (spherical harmonics at l = 8 of 10^6 vectors: 173 ms with small pages, 44 ms without).
/// Only a hint: where huge pages are off the call does nothing.
inline void advise_huge_pages(const at::Tensor& t) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t(1) << 21;
  const auto begin = reinterpret_cast<uintptr_t>(t.data_ptr());
  const uintptr_t end = begin + uintptr_t(t.nbytes());
  const uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t last = end & ~(kHuge - 1);
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#else
  (void)t;
#endif
}

}  // namespace e3core::torch_ops
