// Meta kernel of the wigner_D op (shapes only): torch.compile, torch.export and FakeTensor.
#include <torch/library.h>

#include "wigner_d_common.hpp"

namespace e3core::torch_ops {
namespace {

at::Tensor wigner_D_meta(const at::Tensor& alpha, const at::Tensor& beta, const at::Tensor& gamma,
                         int64_t l, at::IntArrayRef order) {
  check_wigner_D(alpha, beta, gamma, l, order);
  return empty_wigner_D(alpha, l);
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, Meta, m) { m.impl("wigner_D", &wigner_D_meta); }

}  // namespace e3core::torch_ops
