// Meta kernels (shapes only): torch.compile, torch.export and FakeTensor use them.
#include <torch/library.h>

#include <tuple>

#include "spherical_harmonics_common.hpp"

namespace e3core::torch_ops {
namespace {

at::Tensor sh_meta(const at::Tensor& x, int64_t lmax, bool normalize,
                   c10::string_view normalization) {
  const ShOptions options = sh_options(lmax, normalize, normalization);
  check_vectors(x, "x");
  return empty_like_rows(x, sh_dim(options.lmax));
}

at::Tensor sh_backward_meta(const at::Tensor& grad_sh, const at::Tensor& x, int64_t lmax,
                            bool normalize, c10::string_view normalization) {
  check_sh_backward(grad_sh, x, lmax, normalize, normalization);
  return empty_like_rows(x, 3);
}

std::tuple<at::Tensor, at::Tensor> sh_double_backward_meta(const at::Tensor& grad_grad_x,
                                                           const at::Tensor& grad_sh,
                                                           const at::Tensor& x, int64_t lmax,
                                                           bool normalize,
                                                           c10::string_view normalization) {
  const ShOptions options =
      check_sh_double_backward(grad_grad_x, grad_sh, x, lmax, normalize, normalization);
  return {empty_like_rows(x, sh_dim(options.lmax)), empty_like_rows(x, 3)};
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, Meta, m) {
  m.impl("spherical_harmonics", &sh_meta);
  m.impl("spherical_harmonics_backward", &sh_backward_meta);
  m.impl("spherical_harmonics_double_backward", &sh_double_backward_meta);
}

}  // namespace e3core::torch_ops
