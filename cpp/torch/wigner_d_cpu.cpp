// CPU kernel of the wigner_D op: the core's, threads from torch.
#include <torch/library.h>

#include "cpu_support.hpp"
#include "wigner_d_ops.hpp"

namespace e3core::torch_ops {
namespace {

struct CpuBackend {
  static int guard(const at::Tensor&) { return 0; }
  static void prepare(const at::Tensor& t) { advise_huge_pages(t); }
  template <typename T>
  static void wigner_D(int l, const T* alpha, const T* beta, const T* gamma, int64_t n,
                       EulerDerivative order, T* out) {
    e3core::wigner_D<T>(l, alpha, beta, gamma, n, out, order, torch_parallel_for);
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(e3core, CPU, m) { m.impl("wigner_D", &wigner_D_op<CpuBackend>); }

}  // namespace e3core::torch_ops
