// The tensor-product ops' slots, names and shape checks, shared by every backend.
//
// Each op computes one slot (x1, x2, weight, out) from the other three, given in slot order. So
// the op writing slot X takes the slots other than X, and its result has the caller's shape.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <string>

#include "e3core/tensor_product.hpp"

namespace e3core::torch_ops {

/// The op that writes each slot, indexed by TpSlot.
inline const char* tp_op_name(TpSlot slot) {
  static const char* const names[] = {"tensor_product_grad_x1", "tensor_product_grad_x2",
                                      "tensor_product_grad_weight", "tensor_product"};
  return names[int(slot)];
}

/// A slot's name as an argument: "out" is read as grad_out.
inline const char* tp_arg_name(TpSlot slot) {
  static const char* const names[] = {"x1", "x2", "weight", "grad_out"};
  return names[int(slot)];
}

/// The three slots an op reads, in argument order.
inline std::array<TpSlot, 3> tp_inputs(TpSlot result) {
  std::array<TpSlot, 3> in{};
  int n = 0;
  for (int s = 0; s < 4; ++s) {
    if (s != int(result)) in[size_t(n++)] = TpSlot(s);
  }
  return in;
}

/// Checks what every backend can check without reading the plan: dtypes, devices, ranks.
/// `op_name` (default: the op of `result`) starts the messages.
inline void check_tp_arguments(TpSlot result, const std::array<at::Tensor, 3>& inputs,
                               const at::Tensor& plan, const c10::optional<at::Tensor>& src,
                               const c10::optional<at::Tensor>& dst,
                               c10::SymIntArrayRef result_shape, const char* op_name = nullptr) {
  const std::string op =
      std::string("e3core::") + (op_name != nullptr ? op_name : tp_op_name(result)) + ": ";
  const std::array<TpSlot, 3> slots = tp_inputs(result);
  const at::Tensor& first = inputs[0];
  TORCH_CHECK_TYPE(first.scalar_type() == at::kFloat || first.scalar_type() == at::kDouble, op,
                   tp_arg_name(slots[0]), " has dtype ", first.scalar_type(),
                   ", expected float32 or float64");
  for (size_t i = 0; i < 3; ++i) {
    const at::Tensor& t = inputs[i];
    const char* name = tp_arg_name(slots[i]);
    TORCH_CHECK_TYPE(t.scalar_type() == first.scalar_type(), op, name, " has dtype ",
                     t.scalar_type(), " but ", tp_arg_name(slots[0]), " has ", first.scalar_type());
    TORCH_CHECK_VALUE(t.device() == first.device(), op, name, " is on ", t.device(), " but ",
                      tp_arg_name(slots[0]), " is on ", first.device());
    const bool is_weight = slots[i] == TpSlot::Weight;
    TORCH_CHECK_VALUE(t.dim() == 2 || (is_weight && t.dim() == 1), op, name, " has shape ",
                      t.sym_sizes(),
                      is_weight ? ", expected (weight_numel,) or (rows, weight_numel)"
                                : ", expected (rows, columns)");
  }
  const bool weight_result = result == TpSlot::Weight;
  TORCH_CHECK_VALUE(result_shape.size() == 2 || (weight_result && result_shape.size() == 1), op,
                    "the result shape ", result_shape, " should have ",
                    weight_result ? "1 or 2" : "2", " dimensions");
  TORCH_CHECK_TYPE(plan.scalar_type() == at::kLong && plan.dim() == 1, op,
                   "plan should be a 1-D int64 tensor (an encoded TpPlan), got ",
                   plan.scalar_type(), " of shape ", plan.sizes());
  TORCH_CHECK_VALUE(src.has_value() == dst.has_value(), op,
                    "src and dst are given together (a convolution) or not at all");
  if (src.has_value()) {
    for (const auto& [index, name] : {std::pair{*src, "src"}, std::pair{*dst, "dst"}}) {
      TORCH_CHECK_TYPE(index.scalar_type() == at::kLong && index.dim() == 1, op, name,
                       " should be a 1-D int64 tensor, got ", index.scalar_type(), " of shape ",
                       index.sym_sizes());
      TORCH_CHECK_VALUE(index.device() == first.device(), op, name, " is on ", index.device(),
                        " but ", tp_arg_name(slots[0]), " is on ", first.device());
    }
    TORCH_CHECK_VALUE(src->sym_size(0) == dst->sym_size(0), op, "src has ", src->sym_size(0),
                      " entries but dst has ", dst->sym_size(0));
  }
}

/// The checks of check_tp_arguments for tensor_product_backward, whose four tensors are the
/// forward's inputs and grad_out.
inline void check_tp_backward_arguments(const at::Tensor& x1, const at::Tensor& x2,
                                        const at::Tensor& weight, const at::Tensor& grad_out,
                                        const at::Tensor& plan,
                                        const c10::optional<at::Tensor>& src,
                                        const c10::optional<at::Tensor>& dst,
                                        const char* kOp = "tensor_product_backward") {
  check_tp_arguments(TpSlot::Out, {x1, x2, weight}, plan, src, dst, grad_out.sym_sizes(), kOp);
  TORCH_CHECK_TYPE(grad_out.scalar_type() == x1.scalar_type(), "e3core::", kOp,
                   ": grad_out has dtype ", grad_out.scalar_type(), " but x1 has ",
                   x1.scalar_type());
  TORCH_CHECK_VALUE(grad_out.device() == x1.device(), "e3core::", kOp, ": grad_out is on ",
                    grad_out.device(), " but x1 is on ", x1.device());
}

}  // namespace e3core::torch_ops
