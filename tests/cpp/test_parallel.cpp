#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "e3core/parallel.hpp"

TEST(Parallel, CoversEveryIndexOnce) {
  e3core::set_num_threads(4);
  std::vector<std::atomic<int>> hits(1001);
  e3core::parallel_for(1001, 10, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[i]++;
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  e3core::set_num_threads(0);
}

TEST(Parallel, EmptyRangeDoesNothing) {
  bool called = false;
  e3core::parallel_for(0, 1, [&](int64_t, int64_t) { called = true; });
  EXPECT_FALSE(called);
}

TEST(Parallel, WorkerExceptionReachesCaller) {
  e3core::set_num_threads(3);
  EXPECT_THROW(e3core::parallel_for(300, 1,
                                    [](int64_t b, int64_t) {
                                      if (b > 0) throw std::runtime_error("boom");
                                    }),
               std::runtime_error);
  e3core::set_num_threads(0);
}
