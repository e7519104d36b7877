/// @file wigner.hpp
/// @brief Wigner 3j tensors and Wigner D matrices in e3nn's real basis.
///
/// The real basis is e3nn 0.6's: at l = 1 the components are (x, y, z) and y is the polar
/// axis, so D^1(R) = R. Every value matches e3nn.o3.wigner_3j / e3nn.o3.wigner_D.
#pragma once

#include <cstdint>
#include <vector>

#include "e3core/parallel.hpp"

namespace e3core {

/// The real Wigner 3j tensor C of shape [2*l1+1, 2*l2+1, 2*l3+1], row-major, with e3nn's
/// values and signs: invariant (C = C . D^l1(R) . D^l2(R) . D^l3(R)) and of unit Frobenius norm.
///
/// Computed once per (l1, l2, l3) from exact rational arithmetic (accurate to a few ulp at any l)
/// and cached; the reference stays valid for the life of the program. Thread-safe.
/// @throws std::invalid_argument if an l is negative or (l1, l2, l3) violates the triangle
/// inequality |l1 - l2| <= l3 <= l1 + l2.
const std::vector<double>& wigner_3j(int l1, int l2, int l3);

/// Real Wigner D matrices D^l(R), row-major (2l+1) x (2l+1), for n rotation matrices.
///
/// Built directly by the Ivanic-Ruedenberg recursion (in double, whatever T is).
/// D^l is homogeneous of degree l in R, so an improper R gives (-1)^l D^l(-R): the
/// representation of the spherical harmonics (parity (-1)^l).
/// @param l     degree, l >= 0.
/// @param R     n row-major 3x3 orthogonal matrices.
/// @param n     number of matrices.
/// @param out   n * (2l+1)^2 values.
/// @throws std::invalid_argument if l < 0 or n < 0.
template <typename T>
void wigner_D_from_matrix(int l, const T* R, int64_t n, T* out,
                          const Executor& exec = parallel_for);

/// Which derivative of D^l(alpha, beta, gamma) wigner_D computes: the `alpha`-th derivative in
/// alpha, `beta`-th in beta and `gamma`-th in gamma (all zero: D itself). Every derivative of any
/// order has the same cost as D, which is what makes D differentiable to any order.
struct EulerDerivative {
  int alpha = 0;
  int beta = 0;
  int gamma = 0;
};

/// Real Wigner D matrices D^l(alpha, beta, gamma) for e3nn's Y-X-Y Euler angles, or one of their
/// partial derivatives: D^l(R) with R = matrix_y(alpha) matrix_x(beta) matrix_y(gamma).
///
/// Computed as Y(alpha) S Y(beta) S Y(gamma), where Y(t) = D^l(matrix_y(t)) has two entries per
/// row, cos(m t) and sin(m t), and S = wigner_D_swap_xy(l) turns rotations about y into rotations
/// about x. Derivatives only change cos and sin into their derivatives. O(l^3) per rotation.
/// @param out   n * (2l+1)^2 values, row-major.
/// @throws std::invalid_argument if l < 0, n < 0 or an order is negative.
template <typename T>
void wigner_D(int l, const T* alpha, const T* beta, const T* gamma, int64_t n, T* out,
              EulerDerivative order = {}, const Executor& exec = parallel_for);

/// S = D^l of the rotation by pi about (x + y) / sqrt(2), which swaps x and y: symmetric, its
/// own inverse, and S D^l(matrix_y(t)) S = D^l(matrix_x(t)). Row-major (2l+1)^2 values, computed
/// once per l and cached (thread-safe).
/// @throws std::invalid_argument if l < 0.
const std::vector<double>& wigner_D_swap_xy(int l);

}  // namespace e3core
