// The tensor-product ops called through the dispatcher (so that each call gets the autograd,
// device and tracing of the op), and the double backward composed of them.
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <array>
#include <string>
#include <vector>

#include "tensor_product_common.hpp"

namespace e3core::torch_ops {

using TpOpSignature = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                 const at::Tensor&, const c10::optional<at::Tensor>&,
                                 const c10::optional<at::Tensor>&, c10::SymIntArrayRef);

/// The op writing slot `result` from the other three (`in`, in slot order).
inline at::Tensor call_tp(TpSlot result, const std::array<at::Tensor, 3>& in,
                          const at::Tensor& plan, const c10::optional<at::Tensor>& src,
                          const c10::optional<at::Tensor>& dst, c10::SymIntArrayRef shape) {
  static const std::vector<c10::TypedOperatorHandle<TpOpSignature>> ops = [] {
    std::vector<c10::TypedOperatorHandle<TpOpSignature>> handles;
    for (int s = 0; s < 4; ++s) {
      handles.push_back(
          c10::Dispatcher::singleton()
              .findSchemaOrThrow((std::string("e3core::") + tp_op_name(TpSlot(s))).c_str(), "")
              .typed<TpOpSignature>());
    }
    return handles;
  }();
  return ops[size_t(result)].call(in[0], in[1], in[2], plan, src, dst, shape);
}

using TpBackwardSignature = std::tuple<at::Tensor, at::Tensor, at::Tensor>(
    const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
    const c10::optional<at::Tensor>&, const c10::optional<at::Tensor>&, std::array<bool, 3>);

/// tensor_product_backward with x1, x2, weight and grad_out in `slot`.
inline std::array<at::Tensor, 3> call_tp_backward(const std::array<at::Tensor, 4>& slot,
                                                  const at::Tensor& plan,
                                                  const c10::optional<at::Tensor>& src,
                                                  const c10::optional<at::Tensor>& dst,
                                                  std::array<bool, 3> mask) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("e3core::tensor_product_backward", "")
                             .typed<TpBackwardSignature>();
  const auto [g1, g2, gw] = op.call(slot[0], slot[1], slot[2], slot[3], plan, src, dst, mask);
  return {g1, g2, gw};
}

/// Checks the arguments of tensor_product_double_backward: those of the backward, and each
/// tangent given (dx1, dx2, dweight) like its input (x1, x2, weight).
inline void check_tp_double_backward(const std::array<at::Tensor, 4>& slots,
                                     const std::array<c10::optional<at::Tensor>, 3>& tangents,
                                     const at::Tensor& plan, const c10::optional<at::Tensor>& src,
                                     const c10::optional<at::Tensor>& dst) {
  check_tp_backward_arguments(slots[0], slots[1], slots[2], slots[3], plan, src, dst,
                              "tensor_product_double_backward");
  static const char* const names[3][2] = {{"dx1", "x1"}, {"dx2", "x2"}, {"dweight", "weight"}};
  for (size_t a = 0; a < 3; ++a) {
    if (!tangents[a].has_value() || !tangents[a]->defined()) continue;
    const at::Tensor& t = *tangents[a];
    TORCH_CHECK_VALUE(t.sym_sizes().equals(slots[a].sym_sizes()),
                      "e3core::tensor_product_double_backward: ", names[a][0], " has shape ",
                      t.sym_sizes(), " but ", names[a][1], " has shape ", slots[a].sym_sizes());
    TORCH_CHECK_TYPE(t.scalar_type() == slots[a].scalar_type(),
                     "e3core::tensor_product_double_backward: ", names[a][0], " has dtype ",
                     t.scalar_type(), " but ", names[a][1], " has ", slots[a].scalar_type());
    TORCH_CHECK_VALUE(t.device() == slots[a].device(),
                      "e3core::tensor_product_double_backward: ", names[a][0], " is on ",
                      t.device(), " but ", names[a][1], " is on ", slots[a].device());
  }
}

/// tensor_product_double_backward composed of the ops above: per tangent, the backward and the
/// product with that tangent in its input's slot, summed. Differentiable when they are (third
/// derivatives); the results in `mask` (zeros where no tangent reaches them), the others empty.
std::array<at::Tensor, 4> tp_double_backward_composite(
    const std::array<at::Tensor, 4>& slots,
    const std::array<c10::optional<at::Tensor>, 3>& tangents, const at::Tensor& plan,
    const c10::optional<at::Tensor>& src, const c10::optional<at::Tensor>& dst,
    std::array<bool, 4> mask);

}  // namespace e3core::torch_ops
