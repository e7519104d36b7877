// CUDA kernels of the spherical-harmonics ops, on torch's current stream.
#include <torch/library.h>

#include "cuda_support.hpp"
#include "e3core/cuda.hpp"
#include "spherical_harmonics_ops.hpp"

namespace e3core::torch_ops {
namespace {

struct CudaBackend {
  static c10::cuda::CUDAGuard guard(const at::Tensor& t) { return device_guard(t); }
  static void prepare(const at::Tensor&) {}
  template <typename T>
  static void sh(const ShOptions& o, const T* xyz, int64_t n, T* out) {
    cuda::spherical_harmonics<T>(o, xyz, n, out, nullptr, current_stream());
  }
  template <typename T>
  static void vjp(const ShOptions& o, const T* xyz, const T* g, int64_t n, T* gx) {
    cuda::spherical_harmonics_vjp<T>(o, xyz, g, n, gx, current_stream());
  }
  template <typename T>
  static void vjp_backward(const ShOptions& o, const T* xyz, const T* g, const T* gg, int64_t n,
                           T* ggsh, T* gx) {
    cuda::spherical_harmonics_vjp_backward<T>(o, xyz, g, gg, n, ggsh, gx, current_stream());
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(e3core, CUDA, m) {
  m.impl("spherical_harmonics", &sh_op<CudaBackend>);
  m.impl("spherical_harmonics_backward", &sh_backward_op<CudaBackend>);
  m.impl("spherical_harmonics_double_backward", &sh_double_backward_op<CudaBackend>);
}

}  // namespace e3core::torch_ops
