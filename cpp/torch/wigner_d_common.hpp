// Argument checks and the output of the wigner_D op, shared by every backend.
#pragma once

#include <ATen/ATen.h>

#include "e3core/wigner.hpp"

namespace e3core::torch_ops {

/// The largest degree the op accepts: S (wigner_D_swap_xy) costs O(l^4) to build once, and a
/// single D^l has (2l+1)^2 entries.
constexpr int64_t kWignerMaxDegree = 200;

/// Checks the angles (floating, one dtype, device and shape), l and the derivative orders.
inline EulerDerivative check_wigner_D(const at::Tensor& alpha, const at::Tensor& beta,
                                      const at::Tensor& gamma, int64_t l, at::IntArrayRef order) {
  TORCH_CHECK_TYPE(alpha.scalar_type() == at::kFloat || alpha.scalar_type() == at::kDouble,
                   "wigner_D: alpha has dtype ", alpha.scalar_type(),
                   ", expected float32 or float64");
  const char* names[] = {"beta", "gamma"};
  const at::Tensor* others[] = {&beta, &gamma};
  for (int i = 0; i < 2; ++i) {
    const at::Tensor& t = *others[i];
    TORCH_CHECK_TYPE(t.scalar_type() == alpha.scalar_type(), "wigner_D: ", names[i], " has dtype ",
                     t.scalar_type(), " but alpha has ", alpha.scalar_type());
    TORCH_CHECK_VALUE(t.device() == alpha.device(), "wigner_D: ", names[i], " is on ", t.device(),
                      " but alpha is on ", alpha.device());
    TORCH_CHECK_VALUE(t.sym_sizes() == alpha.sym_sizes(), "wigner_D: ", names[i], " has shape ",
                      t.sym_sizes(), " but alpha has ", alpha.sym_sizes(),
                      " (broadcast the angles first)");
  }
  TORCH_CHECK_VALUE(l >= 0 && l <= kWignerMaxDegree, "wigner_D: l is ", l,
                    ", expected 0 <= l <= ", kWignerMaxDegree);
  TORCH_CHECK_VALUE(order.size() == 3 && order[0] >= 0 && order[1] >= 0 && order[2] >= 0 &&
                        order[0] <= 64 && order[1] <= 64 && order[2] <= 64,
                    "wigner_D: order is ", order,
                    ", expected three derivative orders in [0, 64] (alpha, beta, gamma)");
  return EulerDerivative{int(order[0]), int(order[1]), int(order[2])};
}

/// An empty (..., 2l+1, 2l+1) tensor for angles of shape (...).
inline at::Tensor empty_wigner_D(const at::Tensor& alpha, int64_t l) {
  auto sizes = alpha.sym_sizes().vec();
  sizes.emplace_back(2 * l + 1);
  sizes.emplace_back(2 * l + 1);
  return at::empty_symint(sizes, alpha.options().memory_format(at::MemoryFormat::Contiguous));
}

}  // namespace e3core::torch_ops
