// CPU kernels of the spherical-harmonics ops: checks, then the core's batch kernels on raw
// pointers, threaded by at::parallel_for so that torch.set_num_threads applies.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <tuple>

#include "spherical_harmonics_common.hpp"

namespace e3core::torch_ops {
namespace {

void torch_parallel_for(int64_t n, int64_t grain, const RangeFn& fn) {
  at::parallel_for(0, n, grain, [&](int64_t begin, int64_t end) { fn(begin, end); });
}

at::Tensor sh_cpu(const at::Tensor& x, int64_t lmax, bool normalize,
                  c10::string_view normalization) {
  const ShOptions options = sh_options(lmax, normalize, normalization);
  check_vectors(x, "x");
  const at::Tensor xc = x.contiguous();
  at::Tensor out = empty_like_rows(xc, sh_dim(options.lmax));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spherical_harmonics", [&] {
    spherical_harmonics<scalar_t>(options, xc.const_data_ptr<scalar_t>(), xc.numel() / 3,
                                  out.mutable_data_ptr<scalar_t>(), nullptr, torch_parallel_for);
  });
  return out;
}

at::Tensor sh_backward_cpu(const at::Tensor& grad_sh, const at::Tensor& x, int64_t lmax,
                           bool normalize, c10::string_view normalization) {
  const ShOptions options = sh_options(lmax, normalize, normalization);
  check_vectors(x, "x");
  check_like(grad_sh, "grad_sh", x, sh_dim(options.lmax));
  const at::Tensor xc = x.contiguous();
  const at::Tensor gc = grad_sh.contiguous();
  at::Tensor grad_x = at::empty_like(xc);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spherical_harmonics_backward", [&] {
    spherical_harmonics_vjp<scalar_t>(options, xc.const_data_ptr<scalar_t>(),
                                      gc.const_data_ptr<scalar_t>(), xc.numel() / 3,
                                      grad_x.mutable_data_ptr<scalar_t>(), torch_parallel_for);
  });
  return grad_x;
}

std::tuple<at::Tensor, at::Tensor> sh_double_backward_cpu(const at::Tensor& grad_grad_x,
                                                          const at::Tensor& grad_sh,
                                                          const at::Tensor& x, int64_t lmax,
                                                          bool normalize,
                                                          c10::string_view normalization) {
  const ShOptions options = sh_options(lmax, normalize, normalization);
  check_vectors(x, "x");
  check_like(grad_sh, "grad_sh", x, sh_dim(options.lmax));
  check_like(grad_grad_x, "grad_grad_x", x, 3);
  const at::Tensor xc = x.contiguous();
  const at::Tensor gc = grad_sh.contiguous();
  const at::Tensor ggc = grad_grad_x.contiguous();
  at::Tensor grad_grad_sh = at::empty_like(gc);
  at::Tensor grad_x = at::empty_like(xc);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spherical_harmonics_double_backward", [&] {
    spherical_harmonics_vjp_backward<scalar_t>(
        options, xc.const_data_ptr<scalar_t>(), gc.const_data_ptr<scalar_t>(),
        ggc.const_data_ptr<scalar_t>(), xc.numel() / 3, grad_grad_sh.mutable_data_ptr<scalar_t>(),
        grad_x.mutable_data_ptr<scalar_t>(), torch_parallel_for);
  });
  return {grad_grad_sh, grad_x};
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, CPU, m) {
  m.impl("spherical_harmonics", &sh_cpu);
  m.impl("spherical_harmonics_backward", &sh_backward_cpu);
  m.impl("spherical_harmonics_double_backward", &sh_double_backward_cpu);
}

}  // namespace e3core::torch_ops
