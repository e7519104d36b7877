// Autograd of the wigner_D op, in C++ so that TorchScript and exported models differentiate
// without Python. The derivative of D in an angle is the op itself with that angle's order
// raised by one, and it goes through this autograd again: derivatives of every order.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <vector>

namespace e3core::torch_ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor call_wigner_D(const at::Tensor& alpha, const at::Tensor& beta, const at::Tensor& gamma,
                         int64_t l, at::IntArrayRef order) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("e3core::wigner_D", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                         int64_t, at::IntArrayRef)>();
  return op.call(alpha, beta, gamma, l, order);
}

class WignerDFunction : public torch::autograd::Function<WignerDFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& alpha, const at::Tensor& beta,
                            const at::Tensor& gamma, int64_t l, at::IntArrayRef order) {
    ctx->saved_data["l"] = l;
    ctx->saved_data["order"] = order.vec();
    ctx->save_for_backward({alpha, beta, gamma});
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_wigner_D(alpha, beta, gamma, l, order);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const int64_t l = ctx->saved_data["l"].toInt();
    const std::vector<int64_t> order = ctx->saved_data["order"].toIntVector();
    const auto angles = ctx->get_saved_variables();
    variable_list out = {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    for (size_t k = 0; k < 3; ++k) {
      if (!ctx->needs_input_grad(k)) continue;
      std::vector<int64_t> raised = order;
      ++raised[k];
      const at::Tensor dD = call_wigner_D(angles[0], angles[1], angles[2], l, raised);
      out[k] = at::mul(grads[0], dD).sum({-2, -1});
    }
    return out;
  }
};

at::Tensor wigner_D_autograd(const at::Tensor& alpha, const at::Tensor& beta,
                             const at::Tensor& gamma, int64_t l, at::IntArrayRef order) {
  return WignerDFunction::apply(alpha, beta, gamma, l, order);
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, Autograd, m) { m.impl("wigner_D", &wigner_D_autograd); }

}  // namespace e3core::torch_ops
