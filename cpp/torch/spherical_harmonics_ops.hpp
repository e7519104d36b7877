// The spherical-harmonics ops' bodies, shared by the CPU and CUDA backends: checks, contiguous
// inputs, new outputs, then the backend's kernels.
//
// A backend provides guard(tensor) (an RAII object making the tensor's device current),
// prepare(result) (a hint on a new output), and sh, vjp and vjp_backward: the core's three
// kernels for its device.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/string_view.h>

#include <tuple>

#include "spherical_harmonics_common.hpp"

namespace e3core::torch_ops {

template <typename Backend>
at::Tensor sh_op(const at::Tensor& x, int64_t lmax, bool normalize,
                 c10::string_view normalization) {
  const ShOptions options = sh_options(lmax, normalize, normalization);
  check_vectors(x, "x");
  [[maybe_unused]] const auto guard = Backend::guard(x);
  const at::Tensor xc = x.contiguous();
  at::Tensor out = empty_like_rows(xc, sh_dim(options.lmax));
  Backend::prepare(out);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spherical_harmonics", [&] {
    Backend::template sh<scalar_t>(options, xc.const_data_ptr<scalar_t>(), xc.numel() / 3,
                                   out.mutable_data_ptr<scalar_t>());
  });
  return out;
}

template <typename Backend>
at::Tensor sh_backward_op(const at::Tensor& grad_sh, const at::Tensor& x, int64_t lmax,
                          bool normalize, c10::string_view normalization) {
  const ShOptions options = check_sh_backward(grad_sh, x, lmax, normalize, normalization);
  [[maybe_unused]] const auto guard = Backend::guard(x);
  const at::Tensor xc = x.contiguous();
  const at::Tensor gc = grad_sh.contiguous();
  at::Tensor grad_x = at::empty_like(xc);
  Backend::prepare(grad_x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spherical_harmonics_backward", [&] {
    Backend::template vjp<scalar_t>(options, xc.const_data_ptr<scalar_t>(),
                                    gc.const_data_ptr<scalar_t>(), xc.numel() / 3,
                                    grad_x.mutable_data_ptr<scalar_t>());
  });
  return grad_x;
}

template <typename Backend>
std::tuple<at::Tensor, at::Tensor> sh_double_backward_op(const at::Tensor& grad_grad_x,
                                                         const at::Tensor& grad_sh,
                                                         const at::Tensor& x, int64_t lmax,
                                                         bool normalize,
                                                         c10::string_view normalization) {
  const ShOptions options =
      check_sh_double_backward(grad_grad_x, grad_sh, x, lmax, normalize, normalization);
  [[maybe_unused]] const auto guard = Backend::guard(x);
  const at::Tensor xc = x.contiguous();
  const at::Tensor gc = grad_sh.contiguous();
  const at::Tensor ggc = grad_grad_x.contiguous();
  at::Tensor grad_grad_sh = at::empty_like(gc);
  at::Tensor grad_x = at::empty_like(xc);
  Backend::prepare(grad_grad_sh);
  Backend::prepare(grad_x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spherical_harmonics_double_backward", [&] {
    Backend::template vjp_backward<scalar_t>(
        options, xc.const_data_ptr<scalar_t>(), gc.const_data_ptr<scalar_t>(),
        ggc.const_data_ptr<scalar_t>(), xc.numel() / 3, grad_grad_sh.mutable_data_ptr<scalar_t>(),
        grad_x.mutable_data_ptr<scalar_t>());
  });
  return {grad_grad_sh, grad_x};
}

}  // namespace e3core::torch_ops
