#include "e3core/parallel.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace e3core {
namespace {

std::atomic<int> g_num_threads{0};

int default_num_threads() {
  if (const char* env = std::getenv("E3CORE_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

/// One parallel_for call as its threads see it: chunk c is [c * chunk, (c + 1) * chunk), except
/// that the last one ends at n.
struct Job {
  Job(const RangeFn& fn, int64_t n, int64_t chunk, int64_t chunks, int max_workers)
      : fn(fn), n(n), chunk(chunk), chunks(chunks), max_workers(max_workers) {}

  const RangeFn& fn;
  const int64_t n;
  const int64_t chunk;
  const int64_t chunks;
  int max_workers;  // pool threads that may join besides the caller
  int joined = 0;   // pool threads that did (guarded by the pool's mutex)
  std::atomic<int64_t> next{0};
  // The first exception, written only by the thread that set `failed` and read by the caller
  // after every thread has left the job.
  std::atomic<bool> failed{false};
  std::exception_ptr error;

  /// Takes chunks until none is left; after an exception, the rest are skipped.
  void work() {
    for (;;) {
      if (failed.load(std::memory_order_relaxed)) return;
      const int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) return;
      const int64_t begin = c * chunk;
      try {
        fn(begin, c + 1 == chunks ? n : begin + chunk);
      } catch (...) {
        if (!failed.exchange(true)) error = std::current_exception();
      }
    }
  }
};

/// Worker threads started on demand and kept for the life of the process (or of a forked child's
/// copy of it). One job at a time: a caller posts it, works on it with the pool, and waits until
/// the pool threads that joined have left it.
class Pool {
 public:
  Pool* set_aside_before = nullptr;  // the pool set aside before this one (see g_forked_from)

  /// Runs `job` with up to job.max_workers pool threads; false (nothing run) while another job,
  /// of this thread or of another, holds the pool.
  bool run(Job& job) {
    if (busy_.exchange(true, std::memory_order_acquire)) return false;
    std::unique_lock<std::mutex> lock(mutex_);
    grow(job.max_workers);
    job.max_workers = std::min<int>(job.max_workers, static_cast<int>(threads_.size()));
    job_ = &job;
    ++generation_;
    lock.unlock();
    for (int i = 0; i < job.max_workers; ++i) wake_.notify_one();
    job.work();
    lock.lock();
    // Threads that have not joined yet never will; those that did finish their current chunk.
    job_ = nullptr;
    done_.wait(lock, [&] { return active_ == 0; });
    lock.unlock();
    busy_.store(false, std::memory_order_release);
    return true;
  }

  /// Joins the threads; later jobs run on their caller alone. The calling thread may be one of
  /// the pool's (std::exit from inside fn): it is detached instead of joining itself.
  void shutdown() {
    std::unique_lock<std::mutex> lock(mutex_);
    stop_ = true;
    std::vector<std::thread> threads = std::move(threads_);
    threads_.clear();
    lock.unlock();
    wake_.notify_all();
    for (auto& t : threads) {
      if (t.get_id() == std::this_thread::get_id()) {
        t.detach();
      } else {
        t.join();
      }
    }
  }

 private:
  /// Starts threads up to `workers` (mutex_ held). If the system refuses one, the pool keeps
  /// those it has: the caller always works, so a job finishes with any number of threads.
  void grow(int workers) {
    try {
      while (!stop_ && static_cast<int>(threads_.size()) < workers) {
        threads_.emplace_back([this] { loop(); });
      }
    } catch (...) {  // std::system_error from std::thread, std::bad_alloc from the vector
    }
  }

  void loop() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || (job_ && generation_ != seen); });
      if (stop_) return;
      seen = generation_;
      Job& job = *job_;
      if (job.joined == job.max_workers) continue;
      ++job.joined;
      ++active_;
      lock.unlock();
      job.work();
      lock.lock();
      if (--active_ == 0) done_.notify_one();
    }
  }

  std::atomic<bool> busy_{false};  // a job holds the pool (its caller is inside run)
  std::mutex mutex_;               // guards everything below
  std::condition_variable wake_;   // a job was posted, or stop_
  std::condition_variable done_;   // active_ fell to 0
  std::vector<std::thread> threads_;
  Job* job_ = nullptr;       // the job threads may still join
  uint64_t generation_ = 0;  // counts jobs, so that a thread joins each at most once
  int active_ = 0;           // pool threads inside the current job
  bool stop_ = false;
};

// Never deleted, so that a parallel_for from a static destructor that runs after the exit-time
// shutdown still finds it (and runs on its caller).
std::atomic<Pool*> g_pool{nullptr};
// A forked child has only the thread that forked: its copy of the parent's pool, whose threads
// (and perhaps the owner of its mutex) do not exist there, can be neither used nor destroyed. It
// is set aside, still reachable so that leak checkers accept it, and the child makes its own.
Pool* g_forked_from = nullptr;

void set_pool_aside_in_child() {
  if (Pool* pool = g_pool.exchange(nullptr)) {
    pool->set_aside_before = g_forked_from;
    g_forked_from = pool;
  }
}

void shutdown_pool() {
  if (Pool* pool = g_pool.load()) pool->shutdown();
}

Pool& pool() {
  Pool* pool = g_pool.load(std::memory_order_acquire);
  if (pool) return *pool;
  // Once per process (a child inherits them), with the first pool. Static objects made before it
  // are destroyed after the shutdown: their parallel_for calls then run on the caller alone.
  static std::once_flag registered;
  std::call_once(registered, [] {
    pthread_atfork(nullptr, nullptr, set_pool_aside_in_child);
    std::atexit(shutdown_pool);
  });
  auto* fresh = new Pool;
  if (g_pool.compare_exchange_strong(pool, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;
  return *pool;
}

}  // namespace

int num_threads() {
  const int n = g_num_threads.load();
  return n > 0 ? n : default_num_threads();
}

void set_num_threads(int n) { g_num_threads.store(n > 0 ? n : 0); }

void parallel_for(int64_t n, int64_t grain, const RangeFn& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int threads = num_threads();
  // About 4 chunks per thread, so that a thread that is descheduled, or has the slow indices,
  // holds up a small share of the range; at least `grain` indices each, the last one taking the
  // remainder.
  const int64_t chunk = std::max(grain, (n - 1) / (int64_t{4} * threads) + 1);
  const int64_t chunks = n / chunk;
  if (threads <= 1 || chunks <= 1) {
    fn(0, n);
    return;
  }
  Job job(fn, n, chunk, chunks, static_cast<int>(std::min<int64_t>(threads, chunks) - 1));
  // A nested call, or one made while another thread's call holds the pool, runs serially here.
  if (!pool().run(job)) {
    fn(0, n);
    return;
  }
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace e3core
