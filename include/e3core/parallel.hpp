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

/// The core's own executor: runs `fn` over half-open ranges that cover [0, n) exactly once, on
/// the calling thread and up to num_threads() - 1 threads of a pool.
///
/// The pool's threads start with the first call that needs them, and more when a call needs more
/// (after set_num_threads() raised the count); they are reused by every later call (a call pays no
/// thread start) and joined at process exit. A forked child does not use its parent's pool (whose
/// threads it does not have) but starts its own; a child forked from inside `fn` must exec or
/// _exit.
///
/// [0, n) is cut into chunks of at least `grain` indices (the last one takes the remainder), about
/// 4 per thread, which the threads take one at a time, so that a descheduled thread or a slow
/// range holds up little of the work. With one thread, or n < 2 * grain, the call is fn(0, n) on
/// the calling thread.
///
/// The first exception thrown by `fn` is re-thrown here once every thread has left the call; the
/// chunks not started by then are skipped.
///
/// The pool runs one call at a time. A call made while it is in use runs serially, as fn(0, n) on
/// its own thread: a nested call (from inside `fn`), and a call from another thread while one is
/// running. So calls never wait for each other and cannot deadlock: a second caller works with its
/// own thread instead of waiting for the pool.
void parallel_for(int64_t n, int64_t grain, const RangeFn& fn);

/// Threads used by parallel_for: set_num_threads(), else $E3CORE_NUM_THREADS, else the
/// hardware concurrency.
int num_threads();

/// Sets the threads used by parallel_for (the caller included) from its next call on; n < 1
/// restores the default. Fewer threads leave the extra pool threads idle; more start them.
void set_num_threads(int n);

}  // namespace e3core
