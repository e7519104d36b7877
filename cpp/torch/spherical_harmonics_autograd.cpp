// Autograd of the spherical-harmonics ops, in C++ so that TorchScript and exported models
// differentiate without Python. The backward is itself an op with its own autograd (double
// backward, for training on forces); third derivatives are refused with a message.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <string>
#include <tuple>

namespace e3core::torch_ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor call_sh(const at::Tensor& x, int64_t lmax, bool normalize,
                   c10::string_view normalization) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("e3core::spherical_harmonics", "")
                       .typed<at::Tensor(const at::Tensor&, int64_t, bool, c10::string_view)>();
  return op.call(x, lmax, normalize, normalization);
}

at::Tensor call_sh_backward(const at::Tensor& grad_sh, const at::Tensor& x, int64_t lmax,
                            bool normalize, c10::string_view normalization) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("e3core::spherical_harmonics_backward", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t, bool,
                                         c10::string_view)>();
  return op.call(grad_sh, x, lmax, normalize, normalization);
}

std::tuple<at::Tensor, at::Tensor> call_sh_double_backward(const at::Tensor& grad_grad_x,
                                                           const at::Tensor& grad_sh,
                                                           const at::Tensor& x, int64_t lmax,
                                                           bool normalize,
                                                           c10::string_view normalization) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("e3core::spherical_harmonics_double_backward", "")
                       .typed<std::tuple<at::Tensor, at::Tensor>(
                           const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, bool,
                           c10::string_view)>();
  return op.call(grad_grad_x, grad_sh, x, lmax, normalize, normalization);
}

void save_options(AutogradContext* ctx, int64_t lmax, bool normalize,
                  c10::string_view normalization) {
  ctx->saved_data["lmax"] = lmax;
  ctx->saved_data["normalize"] = normalize;
  ctx->saved_data["normalization"] = std::string(normalization);
}

struct Options {
  int64_t lmax;
  bool normalize;
  std::string normalization;
  explicit Options(AutogradContext* ctx)
      : lmax(ctx->saved_data["lmax"].toInt()),
        normalize(ctx->saved_data["normalize"].toBool()),
        normalization(ctx->saved_data["normalization"].toStringRef()) {}
};

class ShFunction : public torch::autograd::Function<ShFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t lmax, bool normalize,
                            c10::string_view normalization) {
    save_options(ctx, lmax, normalize, normalization);
    ctx->save_for_backward({x});
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_sh(x, lmax, normalize, normalization);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const Options o(ctx);
    const at::Tensor x = ctx->get_saved_variables()[0];
    const at::Tensor grad_x = call_sh_backward(grads[0], x, o.lmax, o.normalize, o.normalization);
    return {grad_x, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

class ShBackwardFunction : public torch::autograd::Function<ShBackwardFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad_sh, const at::Tensor& x,
                            int64_t lmax, bool normalize, c10::string_view normalization) {
    save_options(ctx, lmax, normalize, normalization);
    ctx->save_for_backward({grad_sh, x});
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_sh_backward(grad_sh, x, lmax, normalize, normalization);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const Options o(ctx);
    const auto saved = ctx->get_saved_variables();
    auto [grad_grad_sh, grad_x] =
        call_sh_double_backward(grads[0], saved[0], saved[1], o.lmax, o.normalize, o.normalization);
    return {grad_grad_sh, grad_x, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

class ShDoubleBackwardFunction : public torch::autograd::Function<ShDoubleBackwardFunction> {
 public:
  static variable_list forward(AutogradContext* /*ctx*/, const at::Tensor& grad_grad_x,
                               const at::Tensor& grad_sh, const at::Tensor& x, int64_t lmax,
                               bool normalize, c10::string_view normalization) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [a, b] = call_sh_double_backward(grad_grad_x, grad_sh, x, lmax, normalize, normalization);
    return {a, b};
  }

  static variable_list backward(AutogradContext* /*ctx*/, variable_list /*grads*/) {
    TORCH_CHECK(false,
                "e3core::spherical_harmonics supports first and second derivatives; a third "
                "derivative was requested");
  }
};

at::Tensor sh_autograd(const at::Tensor& x, int64_t lmax, bool normalize,
                       c10::string_view normalization) {
  return ShFunction::apply(x, lmax, normalize, normalization);
}

at::Tensor sh_backward_autograd(const at::Tensor& grad_sh, const at::Tensor& x, int64_t lmax,
                                bool normalize, c10::string_view normalization) {
  return ShBackwardFunction::apply(grad_sh, x, lmax, normalize, normalization);
}

std::tuple<at::Tensor, at::Tensor> sh_double_backward_autograd(const at::Tensor& grad_grad_x,
                                                               const at::Tensor& grad_sh,
                                                               const at::Tensor& x, int64_t lmax,
                                                               bool normalize,
                                                               c10::string_view normalization) {
  auto out =
      ShDoubleBackwardFunction::apply(grad_grad_x, grad_sh, x, lmax, normalize, normalization);
  return {out[0], out[1]};
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, Autograd, m) {
  m.impl("spherical_harmonics", &sh_autograd);
  m.impl("spherical_harmonics_backward", &sh_backward_autograd);
  m.impl("spherical_harmonics_double_backward", &sh_double_backward_autograd);
}

}  // namespace e3core::torch_ops
