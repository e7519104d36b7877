// SiLU on every backend (CPU, CUDA, Meta for shapes): torch's own kernels for the value and the
// first derivative, and the second derivative in ATen ops where no fused kernel is registered.
#include <torch/library.h>

#include <tuple>

#include "silu_ops.hpp"

namespace e3core::torch_ops {
namespace {

at::Tensor silu_composite(const at::Tensor& x) { return at::silu(x); }

at::Tensor silu_backward_composite(const at::Tensor& grad, const at::Tensor& x) {
  check_like_x(grad, "grad", x, "e3core::silu_backward");
  return at::silu_backward(grad, x);
}

std::tuple<at::Tensor, at::Tensor> silu_double_backward_composite(const at::Tensor& grad_grad_x,
                                                                  const at::Tensor& grad,
                                                                  const at::Tensor& x) {
  check_silu_double_backward(grad_grad_x, grad, x);
  return silu_double_backward_aten(grad_grad_x, grad, x);
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, CompositeExplicitAutograd, m) {
  m.impl("silu", &silu_composite);
  m.impl("silu_backward", &silu_backward_composite);
  m.impl("silu_double_backward", &silu_double_backward_composite);
}

}  // namespace e3core::torch_ops
