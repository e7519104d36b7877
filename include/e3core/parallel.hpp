/// @file parallel.hpp
/// @brief How the core spreads a batch over CPU threads.
#pragma once

#include <cstdint>
#include <functional>

namespace e3core {

/// Work on the half-open range [begin, end) of batch indices.
using RangeFn = std::function<void(int64_t begin, int64_t end)>;

/// Runs `fn` over [0, n) in chunks of at least `grain` indices, possibly concurrently.
/// Batch kernels take one so that a host framework can lend its own thread pool
/// (the torch op library passes at::parallel_for).
using Executor = std::function<void(int64_t n, int64_t grain, const RangeFn& fn)>;

/// The core's own executor: up to num_threads() std::threads, chunks of at least `grain`.
void parallel_for(int64_t n, int64_t grain, const RangeFn& fn);

/// Threads used by parallel_for: set_num_threads(), else $E3CORE_NUM_THREADS, else the
/// hardware concurrency.
int num_threads();

/// Sets the threads used by parallel_for; n < 1 restores the default.
void set_num_threads(int n);

}  // namespace e3core
