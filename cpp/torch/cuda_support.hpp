// What every CUDA kernel of the op library shares: the device guard and torch's current stream.
#pragma once

#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace e3core::torch_ops {

/// Makes the device of `t` current for the kernels and allocations of an op.
inline c10::cuda::CUDAGuard device_guard(const at::Tensor& t) {
  return c10::cuda::CUDAGuard(t.device());
}

/// The stream torch runs on now, for the core's kernels (a cudaStream_t as void*).
inline void* current_stream() {
  return static_cast<void*>(c10::cuda::getCurrentCUDAStream().stream());
}

}  // namespace e3core::torch_ops
