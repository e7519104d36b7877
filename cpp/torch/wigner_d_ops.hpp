// The wigner_D op's body, shared by the CPU and CUDA backends: checks, contiguous angles, a new
// output, then the backend's kernel.
//
// A backend provides guard(tensor) (an RAII object making the tensor's device current),
// prepare(result) (a hint on a new output) and wigner_D: the core's kernel for its device.
#pragma once

#include <ATen/ATen.h>

#include "wigner_d_common.hpp"

namespace e3core::torch_ops {

template <typename Backend>
at::Tensor wigner_D_op(const at::Tensor& alpha, const at::Tensor& beta, const at::Tensor& gamma,
                       int64_t l, at::IntArrayRef order) {
  const EulerDerivative derivative = check_wigner_D(alpha, beta, gamma, l, order);
  [[maybe_unused]] const auto guard = Backend::guard(alpha);
  const at::Tensor a = alpha.contiguous(), b = beta.contiguous(), c = gamma.contiguous();
  at::Tensor out = empty_wigner_D(a, l);
  Backend::prepare(out);
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "wigner_D", [&] {
    Backend::template wigner_D<scalar_t>(int(l), a.const_data_ptr<scalar_t>(),
                                         b.const_data_ptr<scalar_t>(), c.const_data_ptr<scalar_t>(),
                                         a.numel(), derivative, out.mutable_data_ptr<scalar_t>());
  });
  return out;
}

}  // namespace e3core::torch_ops
