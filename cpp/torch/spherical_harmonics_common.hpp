// Argument checks and output shapes of the spherical-harmonics ops, shared by every backend.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/string_view.h>

#include <stdexcept>
#include <string>

#include "e3core/spherical_harmonics.hpp"

namespace e3core::torch_ops {

/// Validated options; the core's own message becomes a ValueError.
inline ShOptions sh_options(int64_t lmax, bool normalize, c10::string_view normalization) {
  ShOptions options;
  try {
    options.lmax = int(lmax);
    options.normalize = normalize;
    options.normalization = parse_sh_normalization(std::string(normalization));
    TORCH_CHECK_VALUE(lmax >= 0 && lmax <= kShMaxDegree, "lmax is ", lmax,
                      ", expected 0 <= lmax <= ", kShMaxDegree);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, e.what());
  }
  return options;
}

/// x must be a floating tensor of shape (..., 3).
inline void check_vectors(const at::Tensor& x, const char* name) {
  TORCH_CHECK_TYPE(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, name,
                   " has dtype ", x.scalar_type(), ", expected float32 or float64");
  TORCH_CHECK_VALUE(x.dim() >= 1 && x.sym_size(-1) == 3, name, " has shape ", x.sym_sizes(),
                    ", expected (..., 3)");
}

/// `t` must have x's dtype and device and the shape x.shape[:-1] + (last,).
inline void check_like(const at::Tensor& t, const char* name, const at::Tensor& x,
                       const c10::SymInt& last) {
  TORCH_CHECK_TYPE(t.scalar_type() == x.scalar_type(), name, " has dtype ", t.scalar_type(),
                   " but x has ", x.scalar_type());
  TORCH_CHECK_VALUE(t.device() == x.device(), name, " is on ", t.device(), " but x is on ",
                    x.device());
  auto expected = x.sym_sizes().vec();
  expected.back() = last;
  TORCH_CHECK_VALUE(t.sym_sizes() == c10::SymIntArrayRef(expected), name, " has shape ",
                    t.sym_sizes(), ", expected ", c10::SymIntArrayRef(expected));
}

/// The checks of spherical_harmonics_backward's arguments; returns the options.
inline ShOptions check_sh_backward(const at::Tensor& grad_sh, const at::Tensor& x, int64_t lmax,
                                   bool normalize, c10::string_view normalization) {
  const ShOptions options = sh_options(lmax, normalize, normalization);
  check_vectors(x, "x");
  check_like(grad_sh, "grad_sh", x, sh_dim(options.lmax));
  return options;
}

/// The checks of spherical_harmonics_double_backward's arguments; returns the options.
inline ShOptions check_sh_double_backward(const at::Tensor& grad_grad_x, const at::Tensor& grad_sh,
                                          const at::Tensor& x, int64_t lmax, bool normalize,
                                          c10::string_view normalization) {
  const ShOptions options = check_sh_backward(grad_sh, x, lmax, normalize, normalization);
  check_like(grad_grad_x, "grad_grad_x", x, 3);
  return options;
}

/// An empty tensor like x with its last dimension replaced by `last`.
inline at::Tensor empty_like_rows(const at::Tensor& x, const c10::SymInt& last) {
  auto sizes = x.sym_sizes().vec();
  sizes.back() = last;
  return at::empty_symint(sizes, x.options().memory_format(at::MemoryFormat::Contiguous));
}

}  // namespace e3core::torch_ops
