// The fused second derivative of SiLU on the CPU: torch's vectorised sigmoid into one output,
// then a single pass that reads the three inputs and writes both gradients.
#include <torch/library.h>

#include <tuple>

#include "cpu_support.hpp"
#include "silu_ops.hpp"

namespace e3core::torch_ops {
namespace {

template <typename T>
void silu_double_backward_pass(const T* grad_grad_x, const T* grad, const T* x, T* grad_grad,
                               T* grad_x, int64_t n) {
  at::parallel_for(0, n, at::internal::GRAIN_SIZE, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T s = grad_x[i];  // sigmoid(x), overwritten here
      const T t = T(1) - s;
      grad_grad[i] = grad_grad_x[i] * s * (T(1) + x[i] * t);
      grad_x[i] = grad_grad_x[i] * grad[i] * s * t * (T(2) + x[i] * (T(1) - T(2) * s));
    }
  });
}

std::tuple<at::Tensor, at::Tensor> silu_double_backward_cpu(const at::Tensor& grad_grad_x,
                                                            const at::Tensor& grad,
                                                            const at::Tensor& x) {
  check_silu_double_backward(grad_grad_x, grad, x);
  const auto type = x.scalar_type();
  if (type != at::kFloat && type != at::kDouble) {
    return silu_double_backward_aten(grad_grad_x, grad, x);
  }
  const at::Tensor gg = grad_grad_x.contiguous(), g = grad.contiguous(), xc = x.contiguous();
  at::Tensor grad_grad = at::empty_like(xc);
  at::Tensor grad_x = at::sigmoid(xc);
  AT_DISPATCH_FLOATING_TYPES(type, "silu_double_backward", [&] {
    silu_double_backward_pass<scalar_t>(
        gg.const_data_ptr<scalar_t>(), g.const_data_ptr<scalar_t>(), xc.const_data_ptr<scalar_t>(),
        grad_grad.mutable_data_ptr<scalar_t>(), grad_x.mutable_data_ptr<scalar_t>(), xc.numel());
  });
  return {grad_grad, grad_x};
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, CPU, m) { m.impl("silu_double_backward", &silu_double_backward_cpu); }

}  // namespace e3core::torch_ops
