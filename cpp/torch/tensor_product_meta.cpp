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

}  // namespace

TORCH_LIBRARY_IMPL(e3core, Meta, m) {
  m.impl("tensor_product", &tp_meta<TpSlot::Out>);
  m.impl("tensor_product_grad_x1", &tp_meta<TpSlot::In1>);
  m.impl("tensor_product_grad_x2", &tp_meta<TpSlot::In2>);
  m.impl("tensor_product_grad_weight", &tp_meta<TpSlot::Weight>);
}

}  // namespace e3core::torch_ops
