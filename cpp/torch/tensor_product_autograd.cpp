// Autograd of the tensor-product ops, in C++ so that TorchScript and exported models
// differentiate without Python.
//
// Each op is the derivative of one trilinear form S(x1, x2, w, out) with respect to its slot X.
// So the gradient of op_X's result with respect to its input slot Y, given the incoming
// gradient g, is op_Y with g in slot X: every derivative, of any order, is one of the four ops.
#include <torch/autograd.h>
#include <torch/library.h>

#include <array>
#include <string>
#include <tuple>
#include <vector>

#include "tensor_product_calls.hpp"

namespace e3core::torch_ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

template <TpSlot kResult>
class TpFunction : public torch::autograd::Function<TpFunction<kResult>> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b,
                            const at::Tensor& c, const at::Tensor& plan,
                            const c10::optional<at::Tensor>& src,
                            const c10::optional<at::Tensor>& dst, c10::SymIntArrayRef shape) {
    ctx->save_for_backward({a, b, c, plan, src.value_or(at::Tensor()), dst.value_or(at::Tensor())});
    ctx->saved_data["conv"] = src.has_value();
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_tp(kResult, {a, b, c}, plan, src, dst, shape);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return variable_list(7);
    const variable_list saved = ctx->get_saved_variables();
    const bool conv = ctx->saved_data["conv"].toBool();
    const c10::optional<at::Tensor> src = conv ? c10::optional<at::Tensor>(saved[4]) : c10::nullopt;
    const c10::optional<at::Tensor> dst = conv ? c10::optional<at::Tensor>(saved[5]) : c10::nullopt;
    // Every slot's tensor, with the incoming gradient in the result's slot.
    std::array<at::Tensor, 4> slot;
    const std::array<TpSlot, 3> in_slots = tp_inputs(kResult);
    for (size_t i = 0; i < 3; ++i) slot[size_t(in_slots[i])] = saved[i];
    slot[size_t(kResult)] = grads[0];
    variable_list out(7);
    if constexpr (kResult == TpSlot::Out) {
      // The backward of the product: its three gradients in one pass.
      const std::array<bool, 3> mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                        ctx->needs_input_grad(2)};
      const std::array<at::Tensor, 3> g = call_tp_backward(slot, saved[3], src, dst, mask);
      for (size_t i = 0; i < 3; ++i) {
        if (mask[i]) out[i] = g[i];
      }
      return out;
    }
    for (size_t i = 0; i < 3; ++i) {
      if (!ctx->needs_input_grad(i)) continue;
      const TpSlot y = in_slots[i];
      std::array<at::Tensor, 3> args;
      const std::array<TpSlot, 3> y_inputs = tp_inputs(y);
      for (size_t j = 0; j < 3; ++j) args[j] = slot[size_t(y_inputs[j])];
      out[i] = call_tp(y, args, saved[3], src, dst, saved[i].sym_sizes());
    }
    return out;
  }
};

// tensor_product_backward's own derivatives: each of its results is one transpose op, so the
// derivative of result Y with respect to slot Z, given the incoming gradient h, is op_Z with h
// in slot Y (as in TpFunction), summed over the results: tensor_product_double_backward. Without
// a graph to record (no third derivatives) that is one op, two passes over a convolution's
// edges on the CPU; with one, its composition of differentiable ops.
class TpBackwardFunction : public torch::autograd::Function<TpBackwardFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x1, const at::Tensor& x2,
                               const at::Tensor& weight, const at::Tensor& grad_out,
                               const at::Tensor& plan, const c10::optional<at::Tensor>& src,
                               const c10::optional<at::Tensor>& dst, std::array<bool, 3> mask) {
    ctx->save_for_backward(
        {x1, x2, weight, grad_out, plan, src.value_or(at::Tensor()), dst.value_or(at::Tensor())});
    ctx->saved_data["conv"] = src.has_value();
    ctx->saved_data["mask"] = std::vector<bool>(mask.begin(), mask.end());
    at::AutoDispatchBelowADInplaceOrView guard;
    const auto [g1, g2, gw] = call_tp_backward({x1, x2, weight, grad_out}, plan, src, dst, mask);
    return {g1, g2, gw};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const bool conv = ctx->saved_data["conv"].toBool();
    const c10::optional<at::Tensor> src = conv ? c10::optional<at::Tensor>(saved[5]) : c10::nullopt;
    const c10::optional<at::Tensor> dst = conv ? c10::optional<at::Tensor>(saved[6]) : c10::nullopt;
    const c10::List<bool> mask = ctx->saved_data["mask"].toBoolList();
    std::array<c10::optional<at::Tensor>, 3> tangents;
    for (size_t y = 0; y < 3; ++y) {
      if (mask[y] && grads[y].defined()) tangents[y] = grads[y];
    }
    const std::array<bool, 4> wanted = {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                        ctx->needs_input_grad(2), ctx->needs_input_grad(3)};
    const std::array<at::Tensor, 4> slots = {saved[0], saved[1], saved[2], saved[3]};
    std::array<at::Tensor, 4> d;
    if (at::GradMode::is_enabled()) {
      d = tp_double_backward_composite(slots, tangents, saved[4], src, dst, wanted);
    } else {
      static const auto op =
          c10::Dispatcher::singleton()
              .findSchemaOrThrow("e3core::tensor_product_double_backward", "")
              .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>(
                  const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                  const c10::optional<at::Tensor>&, const c10::optional<at::Tensor>&,
                  const c10::optional<at::Tensor>&, const at::Tensor&,
                  const c10::optional<at::Tensor>&, const c10::optional<at::Tensor>&,
                  std::array<bool, 4>)>();
      const auto [a, b, c, e] = op.call(slots[0], slots[1], slots[2], slots[3], tangents[0],
                                        tangents[1], tangents[2], saved[4], src, dst, wanted);
      d = {a, b, c, e};
    }
    variable_list out(8);
    for (size_t z = 0; z < 4; ++z) {
      if (wanted[z]) out[z] = d[z];
    }
    return out;
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor> tp_backward_autograd(
    const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& weight,
    const at::Tensor& grad_out, const at::Tensor& plan, const c10::optional<at::Tensor>& src,
    const c10::optional<at::Tensor>& dst, std::array<bool, 3> mask) {
  const variable_list g = TpBackwardFunction::apply(x1, x2, weight, grad_out, plan, src, dst, mask);
  return {g[0], g[1], g[2]};
}

template <TpSlot kResult>
at::Tensor tp_autograd(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c,
                       const at::Tensor& plan, const c10::optional<at::Tensor>& src,
                       const c10::optional<at::Tensor>& dst, c10::SymIntArrayRef shape) {
  return TpFunction<kResult>::apply(a, b, c, plan, src, dst, shape);
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, Autograd, m) {
  m.impl("tensor_product", &tp_autograd<TpSlot::Out>);
  m.impl("tensor_product_grad_x1", &tp_autograd<TpSlot::In1>);
  m.impl("tensor_product_grad_x2", &tp_autograd<TpSlot::In2>);
  m.impl("tensor_product_grad_weight", &tp_autograd<TpSlot::Weight>);
  m.impl("tensor_product_backward", &tp_backward_autograd);
}

}  // namespace e3core::torch_ops
