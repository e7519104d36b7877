// CPU kernels of the spherical-harmonics ops: the core's batch kernels, threads from torch.
#include <torch/library.h>

#include "cpu_support.hpp"
#include "spherical_harmonics_ops.hpp"

namespace e3core::torch_ops {
namespace {

struct CpuBackend {
  static int guard(const at::Tensor&) { return 0; }
  static void prepare(const at::Tensor& t) { advise_huge_pages(t); }
  template <typename T>
  static void sh(const ShOptions& o, const T* xyz, int64_t n, T* out) {
    spherical_harmonics<T>(o, xyz, n, out, nullptr, torch_parallel_for);
  }
  template <typename T>
  static void vjp(const ShOptions& o, const T* xyz, const T* g, int64_t n, T* gx) {
    spherical_harmonics_vjp<T>(o, xyz, g, n, gx, torch_parallel_for);
  }
  template <typename T>
  static void vjp_backward(const ShOptions& o, const T* xyz, const T* g, const T* gg, int64_t n,
                           T* ggsh, T* gx) {
    spherical_harmonics_vjp_backward<T>(o, xyz, g, gg, n, ggsh, gx, torch_parallel_for);
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(e3core, CPU, m) {
  m.impl("spherical_harmonics", &sh_op<CpuBackend>);
  m.impl("spherical_harmonics_backward", &sh_backward_op<CpuBackend>);
  m.impl("spherical_harmonics_double_backward", &sh_double_backward_op<CpuBackend>);
}

}  // namespace e3core::torch_ops
