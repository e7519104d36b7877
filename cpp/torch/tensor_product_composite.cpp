// tensor_product_double_backward on every backend, composed of the first-order ops (the CPU
// registers a fused kernel for convolutions beside it).
#include <torch/library.h>

#include <tuple>

#include "tensor_product_calls.hpp"

namespace e3core::torch_ops {

std::array<at::Tensor, 4> tp_double_backward_composite(
    const std::array<at::Tensor, 4>& slots,
    const std::array<c10::optional<at::Tensor>, 3>& tangents, const at::Tensor& plan,
    const c10::optional<at::Tensor>& src, const c10::optional<at::Tensor>& dst,
    std::array<bool, 4> mask) {
  std::array<at::Tensor, 4> out;
  const auto add = [&](size_t z, const at::Tensor& term) {
    out[z] = out[z].defined() ? out[z] + term : term;
  };
  for (size_t y = 0; y < 3; ++y) {
    if (!tangents[y].has_value() || !tangents[y]->defined()) continue;
    std::array<at::Tensor, 4> slot = slots;
    slot[y] = *tangents[y];
    std::array<bool, 3> inputs = {false, false, false};
    for (size_t z = 0; z < 3; ++z) inputs[z] = z != y && mask[z];
    if (inputs[0] || inputs[1] || inputs[2]) {
      const std::array<at::Tensor, 3> g = call_tp_backward(slot, plan, src, dst, inputs);
      for (size_t z = 0; z < 3; ++z) {
        if (inputs[z]) add(z, g[z]);
      }
    }
    if (mask[3]) {
      add(3,
          call_tp(TpSlot::Out, {slot[0], slot[1], slot[2]}, plan, src, dst, slots[3].sym_sizes()));
    }
  }
  for (size_t z = 0; z < 4; ++z) {
    if (!mask[z]) {
      out[z] = at::empty({0}, slots[0].options());
    } else if (!out[z].defined()) {
      out[z] = at::zeros_like(slots[z]);
    }
  }
  return out;
}

namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> tp_double_backward_op(
    const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& weight,
    const at::Tensor& grad_out, const c10::optional<at::Tensor>& dx1,
    const c10::optional<at::Tensor>& dx2, const c10::optional<at::Tensor>& dweight,
    const at::Tensor& plan, const c10::optional<at::Tensor>& src,
    const c10::optional<at::Tensor>& dst, std::array<bool, 4> mask) {
  const std::array<at::Tensor, 4> slots = {x1, x2, weight, grad_out};
  const std::array<c10::optional<at::Tensor>, 3> tangents = {dx1, dx2, dweight};
  check_tp_double_backward(slots, tangents, plan, src, dst);
  const auto r = tp_double_backward_composite(slots, tangents, plan, src, dst, mask);
  return {r[0], r[1], r[2], r[3]};
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, CompositeExplicitAutograd, m) {
  m.impl("tensor_product_double_backward", &tp_double_backward_op);
}

}  // namespace e3core::torch_ops
