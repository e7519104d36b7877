// CPU kernels of the spherical-harmonics ops: checks, then the core's batch kernels on raw
// pointers.
#include <torch/library.h>

#include <tuple>

#include "cpu_support.hpp"
#include "spherical_harmonics_common.hpp"

namespace e3core::torch_ops {
namespace {

at::Tensor sh_cpu(const at::Tensor& x, int64_t lmax, bool normalize,
                  c10::string_view normalization) {
  const ShOptions options = sh_options(lmax, normalize, normalization);
  check_vectors(x, "x");
  const at::Tensor xc = x.contiguous();
  at::Tensor out = empty_like_rows(xc, sh_dim(options.lmax));
  advise_huge_pages(out);
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
  advise_huge_pages(grad_x);
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
  advise_huge_pages(grad_grad_sh);
  advise_huge_pages(grad_x);
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
