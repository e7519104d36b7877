// Autograd of the SiLU ops, in C++ so that exported models differentiate without Python:
// silu's backward is silu_backward, whose backward is the fused silu_double_backward. Higher
// derivatives go through the ATen form of the latter, which autograd differentiates.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <tuple>

#include "silu_ops.hpp"

namespace e3core::torch_ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor call_silu(const at::Tensor& x) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("e3core::silu", "")
                       .typed<at::Tensor(const at::Tensor&)>();
  return op.call(x);
}

at::Tensor call_silu_backward(const at::Tensor& grad, const at::Tensor& x) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("e3core::silu_backward", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&)>();
  return op.call(grad, x);
}

std::tuple<at::Tensor, at::Tensor> call_silu_double_backward(const at::Tensor& grad_grad_x,
                                                             const at::Tensor& grad,
                                                             const at::Tensor& x) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("e3core::silu_double_backward", "")
                       .typed<std::tuple<at::Tensor, at::Tensor>(
                           const at::Tensor&, const at::Tensor&, const at::Tensor&)>();
  return op.call(grad_grad_x, grad, x);
}

class SiluFunction : public torch::autograd::Function<SiluFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x) {
    ctx->save_for_backward({x});
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_silu(x);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return {at::Tensor()};
    return {call_silu_backward(grads[0], ctx->get_saved_variables()[0])};
  }
};

class SiluBackwardFunction : public torch::autograd::Function<SiluBackwardFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& x) {
    ctx->save_for_backward({grad, x});
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_silu_backward(grad, x);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor()};
    const auto saved = ctx->get_saved_variables();
    auto [grad_grad, grad_x] = call_silu_double_backward(grads[0], saved[0], saved[1]);
    return {grad_grad, grad_x};
  }
};

at::Tensor silu_autograd(const at::Tensor& x) { return SiluFunction::apply(x); }

at::Tensor silu_backward_autograd(const at::Tensor& grad, const at::Tensor& x) {
  return SiluBackwardFunction::apply(grad, x);
}

std::tuple<at::Tensor, at::Tensor> silu_double_backward_autograd(const at::Tensor& grad_grad_x,
                                                                 const at::Tensor& grad,
                                                                 const at::Tensor& x) {
  const bool differentiated =
      at::GradMode::is_enabled() &&
      (grad_grad_x.requires_grad() || grad.requires_grad() || x.requires_grad());
  if (differentiated) {
    check_silu_double_backward(grad_grad_x, grad, x);
    return silu_double_backward_aten(grad_grad_x, grad, x);
  }
  at::AutoDispatchBelowADInplaceOrView guard;
  return call_silu_double_backward(grad_grad_x, grad, x);
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, Autograd, m) {
  m.impl("silu", &silu_autograd);
  m.impl("silu_backward", &silu_backward_autograd);
  m.impl("silu_double_backward", &silu_double_backward_autograd);
}

}  // namespace e3core::torch_ops
