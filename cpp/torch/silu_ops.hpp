// The SiLU ops' argument checks and their second derivative written with ATen ops: the
// kernel for devices without a fused one, and the differentiable form for third derivatives.
#pragma once

#include <ATen/ATen.h>

#include <tuple>

namespace e3core::torch_ops {

/// Checks that `t` (named `name`) has the shape, dtype and device of `x`.
inline void check_like_x(const at::Tensor& t, const char* name, const at::Tensor& x,
                         const char* op) {
  // Symbolic sizes: comparing concrete ones would fix the shapes of an exported model.
  TORCH_CHECK_VALUE(t.sym_sizes().equals(x.sym_sizes()), op, ": ", name, " has shape ",
                    t.sym_sizes(), " but x has shape ", x.sym_sizes());
  TORCH_CHECK_VALUE(t.scalar_type() == x.scalar_type(), op, ": ", name, " is ", t.scalar_type(),
                    " but x is ", x.scalar_type());
  TORCH_CHECK_VALUE(t.device() == x.device(), op, ": ", name, " is on ", t.device(),
                    " but x is on ", x.device());
}

/// Checks the arguments of e3core::silu_double_backward.
inline void check_silu_double_backward(const at::Tensor& grad_grad_x, const at::Tensor& grad,
                                       const at::Tensor& x) {
  check_like_x(grad_grad_x, "grad_grad_x", x, "e3core::silu_double_backward");
  check_like_x(grad, "grad", x, "e3core::silu_double_backward");
}

/// The gradients of silu_backward(grad, x) = grad * silu'(x) given grad_grad_x:
/// (grad_grad_x * silu'(x), grad_grad_x * grad * silu''(x)), with s = sigmoid(x),
/// silu'(x) = s (1 + x (1 - s)) and silu''(x) = s (1 - s) (2 + x (1 - 2 s)).
inline std::tuple<at::Tensor, at::Tensor> silu_double_backward_aten(const at::Tensor& grad_grad_x,
                                                                    const at::Tensor& grad,
                                                                    const at::Tensor& x) {
  const at::Tensor s = at::sigmoid(x);
  const at::Tensor t = 1 - s;
  const at::Tensor first = s * (1 + x * t);
  const at::Tensor second = s * t * (2 + x * (1 - 2 * s));
  return {grad_grad_x * first, grad_grad_x * grad * second};
}

}  // namespace e3core::torch_ops
