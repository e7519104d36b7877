// CUDA kernel of the wigner_D op, on torch's current stream.
#include <torch/library.h>

#include "cuda_support.hpp"
#include "e3core/cuda.hpp"
#include "wigner_d_ops.hpp"

namespace e3core::torch_ops {
namespace {

struct CudaBackend {
  static c10::cuda::CUDAGuard guard(const at::Tensor& t) { return device_guard(t); }
  static void prepare(const at::Tensor&) {}
  template <typename T>
  static void wigner_D(int l, const T* alpha, const T* beta, const T* gamma, int64_t n,
                       EulerDerivative order, T* out) {
    cuda::wigner_D<T>(l, alpha, beta, gamma, n, order, out, current_stream());
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(e3core, CUDA, m) { m.impl("wigner_D", &wigner_D_op<CudaBackend>); }

}  // namespace e3core::torch_ops
