/// @file spherical_harmonics.hpp
/// @brief Real spherical harmonics with e3nn's conventions, their gradients and Hessians.
///
/// For a vector (x, y, z) the harmonics of degree l are the 2l + 1 real solid harmonics
/// Y_l^m, m = -l..l, evaluated with y as the polar axis: they equal the standard real harmonics
/// (no Condon-Shortley phase) of the vector (z, x, y), so that Y_1 is proportional to (x, y, z).
/// Output rows hold l = 0..lmax one after the other: (lmax + 1)^2 values per vector.
#pragma once

#include <cstdint>
#include <string>

#include "e3core/parallel.hpp"

namespace e3core {

/// Scale of each degree's block (e3nn's `normalization`).
enum class ShNormalization {
  Integral,   ///< integral over the unit sphere of Y_lm^2 is 1
  Component,  ///< |Y_l|^2 = 2l + 1 on the unit sphere
  Norm,       ///< |Y_l| = 1 on the unit sphere
};

/// Parses "integral", "component" or "norm"; throws std::invalid_argument otherwise.
ShNormalization parse_sh_normalization(const std::string& name);

/// The largest degree the kernels accept.
constexpr int kShMaxDegree = 128;

/// Values per vector for degrees 0..lmax: (lmax + 1)^2.
constexpr int64_t sh_dim(int lmax) { return int64_t(lmax + 1) * (lmax + 1); }

/// What to compute: degrees 0..lmax, whether vectors are first scaled to unit length (as
/// e3nn's torch.nn.functional.normalize: x / max(|x|, 1e-12)), and the block scale.
struct ShOptions {
  int lmax = 0;
  bool normalize = true;
  ShNormalization normalization = ShNormalization::Integral;
};

/// Throws std::invalid_argument unless 0 <= lmax <= kShMaxDegree.
void check_sh_options(const ShOptions& options);

/// Harmonics of n vectors.
/// @param xyz  n x 3, row-major
/// @param sh   n x sh_dim(lmax), row-major (output)
/// @param dsh  optional n x 3 x sh_dim(lmax) (output): dsh[i][a][k] = d sh[i][k] / d xyz[i][a]
template <typename T>
void spherical_harmonics(const ShOptions& options, const T* xyz, int64_t n, T* sh, T* dsh = nullptr,
                         const Executor& exec = parallel_for);

/// Vector-Jacobian product: grad_xyz[i][a] = sum_k grad_sh[i][k] d sh[i][k] / d xyz[i][a].
template <typename T>
void spherical_harmonics_vjp(const ShOptions& options, const T* xyz, const T* grad_sh, int64_t n,
                             T* grad_xyz, const Executor& exec = parallel_for);

/// Derivatives of spherical_harmonics_vjp, contracted with grad_grad_xyz (n x 3), the gradient
/// flowing back into its output:
/// grad_grad_sh[i][k] = sum_a grad_grad_xyz[i][a] d grad_xyz[i][a] / d grad_sh[i][k] and
/// grad_xyz2[i][b] = sum_a grad_grad_xyz[i][a] d grad_xyz[i][a] / d xyz[i][b].
/// Either output may be null to skip it.
template <typename T>
void spherical_harmonics_vjp_backward(const ShOptions& options, const T* xyz, const T* grad_sh,
                                      const T* grad_grad_xyz, int64_t n, T* grad_grad_sh,
                                      T* grad_xyz2, const Executor& exec = parallel_for);

}  // namespace e3core
