#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "e3core/parallel.hpp"

// A child forked from this multithreaded test can inherit LeakSanitizer's allocator lock held
// by one of the parent's threads, and its exit-time leak check would then wait for ever (seen
// under load). Forked children skip that check; the parent's still runs. Without the sanitizer
// nothing calls this.
static bool g_forked_child = false;
extern "C" int __lsan_is_turned_off() { return g_forked_child ? 1 : 0; }

namespace {

using e3core::parallel_for;

/// Sets the core's thread count for one test and restores the default after it.
struct Threads {
  explicit Threads(int n) { e3core::set_num_threads(n); }
  ~Threads() { e3core::set_num_threads(0); }
};

/// The kernel's id of the calling thread: unlike std::thread::id, not reused soon after a thread
/// ends, so that a set of them counts the threads that ever ran.
int64_t kernel_tid() { return static_cast<int64_t>(syscall(SYS_gettid)); }

/// Kernel ids of this process's threads now.
std::set<int64_t> process_tids() {
  std::set<int64_t> tids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    tids.insert(std::stoll(entry.path().filename().string()));
  }
  return tids;
}

/// Lets each chunk of a call wait until `count` distinct threads have arrived, which shows
/// without timing that the call ran on that many threads at once. The wait gives up after 30 s,
/// so that a failure does not hang the tests.
class Rendezvous {
 public:
  explicit Rendezvous(int count) : count_(count) {}

  /// Records the calling thread; true once `count` threads have arrived.
  bool arrive() {
    std::unique_lock<std::mutex> lock(mutex_);
    tids_.insert(kernel_tid());
    arrived_.notify_all();
    return arrived_.wait_for(lock, std::chrono::seconds(30),
                             [&] { return static_cast<int>(tids_.size()) >= count_; });
  }

 private:
  int count_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::set<int64_t> tids_;
};

/// Runs parallel_for(n, grain) with `threads` threads; true if its ranges cover [0, n) exactly
/// once, each of at least `grain` indices (or one range, [0, n)), at most 4 per thread.
bool covers_once(int threads, int64_t n, int64_t grain) {
  e3core::set_num_threads(threads);
  std::vector<std::atomic<int>> hits(static_cast<size_t>(std::max<int64_t>(n, 0)));
  std::mutex mutex;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  parallel_for(n, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[i]++;
    std::lock_guard<std::mutex> lock(mutex);
    ranges.emplace_back(b, e);
  });
  bool ok = std::all_of(hits.begin(), hits.end(), [](const auto& h) { return h.load() == 1; });
  if (n <= 0) return ok && ranges.empty();
  ok = ok && static_cast<int>(ranges.size()) <= 4 * threads;
  if (ranges.size() > 1) {
    for (const auto& r : ranges) ok = ok && r.second - r.first >= grain;
  }
  return ok;
}

/// Runs `child` in a forked copy of this process, which it must leave by std::exit; its exit code,
/// or -1 if it ended otherwise (a crash, or SIGALRM after 30 s: a hang).
int exit_code_in_child(const std::function<void()>& child) {
  std::fflush(nullptr);  // or the child's exit flushes the parent's buffered output again
  const pid_t pid = fork();
  if (pid == 0) {
    g_forked_child = true;
    alarm(30);
    child();
    std::_Exit(100);  // `child` did not exit
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST(Parallel, CoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 4, 7, 16}) {
    for (int64_t n : {1, 2, 3, 7, 63, 64, 65, 1000, 4097}) {
      for (int64_t grain : {-1, 0, 1, 2, 5, 64, 1000, 1 << 20}) {
        EXPECT_TRUE(covers_once(threads, n, grain))
            << "threads " << threads << " n " << n << " grain " << grain;
      }
    }
  }
  e3core::set_num_threads(0);
}

TEST(Parallel, EmptyRangeDoesNothing) {
  Threads threads(4);
  bool called = false;
  parallel_for(0, 1, [&](int64_t, int64_t) { called = true; });
  parallel_for(-5, 1, [&](int64_t, int64_t) { called = true; });
  EXPECT_FALSE(called);
}

TEST(Parallel, SmallCallRunsOnTheCaller) {
  Threads threads(4);
  std::vector<int64_t> tids;
  parallel_for(10, 6, [&](int64_t b, int64_t e) {
    EXPECT_EQ(b, 0);
    EXPECT_EQ(e, 10);
    tids.push_back(kernel_tid());
  });
  EXPECT_EQ(tids, std::vector<int64_t>{kernel_tid()});
}

TEST(Parallel, WorkerExceptionReachesCaller) {
  Threads threads(3);
  EXPECT_THROW(parallel_for(300, 1,
                            [](int64_t b, int64_t) {
                              if (b > 0) throw std::runtime_error("boom");
                            }),
               std::runtime_error);
}

TEST(Parallel, ExceptionOnAPoolThreadReachesCaller) {
  Threads threads(2);
  const int64_t caller = kernel_tid();
  Rendezvous both(2);  // each of the 2 chunks on its own thread
  try {
    parallel_for(2, 1, [&](int64_t, int64_t) {
      if (!both.arrive()) throw std::logic_error("no second thread");
      if (kernel_tid() != caller) throw std::runtime_error("from the pool");
    });
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "from the pool");
  }
  EXPECT_TRUE(covers_once(2, 1000, 1));  // the pool still works
}

TEST(Parallel, OneOfManyExceptionsReachesCaller) {
  Threads threads(4);
  for (int round = 0; round < 50; ++round) {
    std::mutex mutex;
    std::set<std::string> thrown;
    try {
      parallel_for(1000, 1, [&](int64_t b, int64_t) {
        std::lock_guard<std::mutex> lock(mutex);
        thrown.insert(std::to_string(b));
        throw std::runtime_error(std::to_string(b));
      });
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(thrown.count(e.what()), 1u) << e.what();
    }
  }
  EXPECT_TRUE(covers_once(4, 1000, 1));
}

TEST(Parallel, NestedCallsRunSeriallyOnTheirThread) {
  Threads threads(4);
  std::atomic<int> inner_calls{0}, bad{0};
  parallel_for(16, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t tid = kernel_tid();
      std::vector<std::pair<int64_t, int64_t>> ranges;
      parallel_for(100, 1, [&](int64_t ib, int64_t ie) {
        if (kernel_tid() != tid) ++bad;
        ranges.emplace_back(ib, ie);
      });
      if (ranges != std::vector<std::pair<int64_t, int64_t>>{{0, 100}}) ++bad;
      ++inner_calls;
    }
  });
  EXPECT_EQ(inner_calls.load(), 16);
  EXPECT_EQ(bad.load(), 0);
}

TEST(Parallel, ConcurrentCallersFromSeveralThreads) {
  Threads threads(3);
  std::atomic<int> failures{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&, c] {
      for (int k = 0; k < 200; ++k) {
        const int64_t n = 1 + (k * 37 + c * 11) % 3000;
        std::vector<std::atomic<int>> hits(n);
        try {
          parallel_for(n, 1 + k % 7, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) hits[i]++;
            if (c == 3 && k % 10 == 0 && e == n) throw std::runtime_error("caller 3");
          });
          if (c == 3 && k % 10 == 0) ++failures;  // the exception was lost
        } catch (const std::runtime_error&) {
          if (!(c == 3 && k % 10 == 0)) ++failures;
          continue;  // the chunks after the exception may be skipped
        }
        for (auto& h : hits) failures += h.load() != 1;
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(Parallel, CallWhilePoolIsBusyRunsOnItsThread) {
  Threads threads(2);
  std::mutex mutex;
  std::condition_variable done;
  bool second_done = false;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  int64_t second_tid = 0, ran_on = 0;
  // The first call holds the pool until the second, from another thread, has finished.
  parallel_for(2, 1, [&](int64_t b, int64_t) {
    if (b != 0) return;
    std::thread second([&] {
      second_tid = kernel_tid();
      parallel_for(1000, 1, [&](int64_t sb, int64_t se) {
        ranges.emplace_back(sb, se);
        ran_on = kernel_tid();
      });
      std::lock_guard<std::mutex> lock(mutex);
      second_done = true;
      done.notify_all();
    });
    {
      std::unique_lock<std::mutex> lock(mutex);
      EXPECT_TRUE(done.wait_for(lock, std::chrono::seconds(30), [&] { return second_done; }));
    }
    second.join();
  });
  EXPECT_EQ(ranges, (std::vector<std::pair<int64_t, int64_t>>{{0, 1000}}));
  EXPECT_EQ(ran_on, second_tid);
}

TEST(Parallel, SetNumThreadsBetweenCalls) {
  for (int threads : {2, 5, 1, 3, 8, 2, 1, 4}) {
    Threads guard(threads);
    EXPECT_EQ(e3core::num_threads(), threads);
    // All `threads` take part at once (the pool grew when needed), and no more.
    Rendezvous all(threads);
    std::mutex mutex;
    std::set<int64_t> tids;
    std::atomic<int> missing{0};
    parallel_for(threads, 1, [&](int64_t, int64_t) {
      if (!all.arrive()) ++missing;
      std::lock_guard<std::mutex> lock(mutex);
      tids.insert(kernel_tid());
    });
    EXPECT_EQ(missing.load(), 0) << threads << " threads";
    EXPECT_EQ(static_cast<int>(tids.size()), threads);
    EXPECT_TRUE(covers_once(threads, 5000, 3)) << threads << " threads";
  }
}

TEST(Parallel, SmallCallsStartNoThreads) {
  Threads threads(3);
  Rendezvous all(3);
  parallel_for(3, 1, [&](int64_t, int64_t) { all.arrive(); });  // the pool has its threads
  const std::set<int64_t> before = process_tids();
  std::mutex mutex;
  std::set<int64_t> tids;
  for (int k = 0; k < 1000; ++k) {
    parallel_for(64, 1, [&](int64_t, int64_t) {
      std::lock_guard<std::mutex> lock(mutex);
      tids.insert(kernel_tid());
    });
  }
  // The caller and threads that were there before (the pool's) did all the work, and the pool
  // kept them: no thread was started for a call.
  EXPECT_EQ(process_tids(), before);
  EXPECT_TRUE(std::includes(before.begin(), before.end(), tids.begin(), tids.end()));
}

TEST(Parallel, ForkedChildStartsItsOwnPool) {
  Threads threads(2);
  Rendezvous parent(2);
  parallel_for(2, 1, [&](int64_t, int64_t) { parent.arrive(); });  // the parent's pool is up
  // The child has none of the parent's threads: a hang here would be a call waiting for them.
  // Its std::exit joins the pool the child started.
  EXPECT_EQ(exit_code_in_child([] {
              Rendezvous child(2);
              std::atomic<int> missing{0};
              parallel_for(2, 1, [&](int64_t, int64_t) { missing += !child.arrive(); });
              std::exit(missing.load() == 0 && covers_once(2, 10000, 1) ? 0 : 1);
            }),
            0);
  EXPECT_TRUE(covers_once(2, 10000, 1));  // the parent's pool is unharmed
}

TEST(Parallel, ExitWithoutPoolThreads) {
  Threads threads(2);
  parallel_for(1000, 1, [](int64_t, int64_t) {});
  // A child that never starts pool threads of its own exits without waiting for any.
  EXPECT_EQ(exit_code_in_child([] {
              parallel_for(1, 1, [](int64_t, int64_t) {});
              std::exit(7);
            }),
            7);
}

TEST(Parallel, ExitFromAPoolThread) {
  Threads threads(2);
  // std::exit on a pool thread, while the caller waits for it: the exit-time shutdown must not
  // join the thread that runs it.
  EXPECT_EQ(exit_code_in_child([] {
              const int64_t caller = kernel_tid();
              Rendezvous both(2);
              parallel_for(2, 1, [&](int64_t, int64_t) {
                both.arrive();
                if (kernel_tid() != caller) std::exit(3);
              });
              std::exit(4);  // reached only if the pool thread did not run a chunk
            }),
            3);
}
