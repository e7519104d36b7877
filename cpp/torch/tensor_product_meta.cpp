// Meta kernels of the tensor-product ops (shapes only), for torch.compile, torch.export and
// FakeTensor. The result's shape is an argument, so the plan's data is never needed.
#include <torch/library.h>

#include "tensor_product_common.hpp"

namespace e3core::torch_ops {
namespace {

template <TpSlot kResult>
at::Tensor tp_meta(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c,
                   const at::Tensor& plan, const c10::optional<at::Tensor>& src,
                   const c10::optional<at::Tensor>& dst, c10::SymIntArrayRef result_shape) {
  check_tp_arguments(kResult, {a, b, c}, plan, src, dst, result_shape);
  return at::empty_symint(result_shape, a.options());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> tp_backward_meta(
    const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& weight,
    const at::Tensor& grad_out, const at::Tensor& plan, const c10::optional<at::Tensor>& src,
    const c10::optional<at::Tensor>& dst, std::array<bool, 3> output_mask) {
  check_tp_backward_arguments(x1, x2, weight, grad_out, plan, src, dst);
  const std::array<const at::Tensor*, 3> inputs = {&x1, &x2, &weight};
  std::array<at::Tensor, 3> grads;
  for (size_t g = 0; g < 3; ++g) {
    grads[g] = output_mask[g] ? at::empty_symint(inputs[g]->sym_sizes(), x1.options())
                              : at::empty({0}, x1.options());
  }
  return {grads[0], grads[1], grads[2]};
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, Meta, m) {
  m.impl("tensor_product", &tp_meta<TpSlot::Out>);
  m.impl("tensor_product_grad_x1", &tp_meta<TpSlot::In1>);
  m.impl("tensor_product_grad_x2", &tp_meta<TpSlot::In2>);
  m.impl("tensor_product_grad_weight", &tp_meta<TpSlot::Weight>);
  m.impl("tensor_product_backward", &tp_backward_meta);
}

}  // namespace e3core::torch_ops
