// Turns CUDA errors into exceptions that say which call failed, and sizes the launches.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace e3core::cuda_detail {

inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("e3core CUDA: ") + what + ": " +
                             cudaGetErrorString(status));
  }
}

// Checks the launch just made (its configuration and the kernel's existence for this device).
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

constexpr int kThreads = 256;

// Blocks for `work` threads in grid-stride loops.
inline unsigned blocks_for(int64_t work) {
  return unsigned(std::min<int64_t>((work + kThreads - 1) / kThreads, int64_t(1) << 20));
}

}  // namespace e3core::cuda_detail
