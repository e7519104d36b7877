/// @file rotation.hpp
/// @brief Rotation parametrisations and conversions with e3nn 0.6's conventions and formulas.
///
/// Every function works on a batch of n items stored contiguously: angles are n values each,
/// matrices n row-major 3x3 blocks, quaternions n (w, x, y, z) blocks, axes n (x, y, z) blocks.
/// Euler angles are e3nn's Y-X-Y: R(alpha, beta, gamma) = Y(alpha) X(beta) Y(gamma), with
/// gamma applied first. Computations are done in double and stored as T (float or double).
/// The formulas and branches are e3nn.o3._rotation's, so outputs (including the angles chosen
/// by matrix_to_angles) match e3nn's.
#pragma once

#include <cstdint>
#include <random>

#include "e3core/parallel.hpp"

namespace e3core {

/// Rotations by `angle` about the x, y or z axis (right-handed).
template <typename T>
void matrix_x(const T* angle, int64_t n, T* R, const Executor& exec = parallel_for);
template <typename T>
void matrix_y(const T* angle, int64_t n, T* R, const Executor& exec = parallel_for);
template <typename T>
void matrix_z(const T* angle, int64_t n, T* R, const Executor& exec = parallel_for);

/// R = matrix_y(alpha) matrix_x(beta) matrix_y(gamma).
template <typename T>
void angles_to_matrix(const T* alpha, const T* beta, const T* gamma, int64_t n, T* R,
                      const Executor& exec = parallel_for);

/// Inverse of angles_to_matrix with e3nn's choice of angles (alpha from the image of y).
/// @throws std::invalid_argument if some det(R) is not 1 within 1e-5.
template <typename T>
void matrix_to_angles(const T* R, int64_t n, T* alpha, T* beta, T* gamma,
                      const Executor& exec = parallel_for);

template <typename T>
void angles_to_quaternion(const T* alpha, const T* beta, const T* gamma, int64_t n, T* q,
                          const Executor& exec = parallel_for);
template <typename T>
void quaternion_to_angles(const T* q, int64_t n, T* alpha, T* beta, T* gamma,
                          const Executor& exec = parallel_for);

/// @throws std::invalid_argument if some det(R) is not 1 within 1e-5.
template <typename T>
void matrix_to_quaternion(const T* R, int64_t n, T* q, const Executor& exec = parallel_for);
template <typename T>
void quaternion_to_matrix(const T* q, int64_t n, T* R, const Executor& exec = parallel_for);

/// The axis need not be normalised; a zero axis gives the identity.
template <typename T>
void axis_angle_to_quaternion(const T* axis, const T* angle, int64_t n, T* q,
                              const Executor& exec = parallel_for);
template <typename T>
void quaternion_to_axis_angle(const T* q, int64_t n, T* axis, T* angle,
                              const Executor& exec = parallel_for);

/// @throws std::invalid_argument if some det(R) is not 1 within 1e-5.
template <typename T>
void matrix_to_axis_angle(const T* R, int64_t n, T* axis, T* angle,
                          const Executor& exec = parallel_for);
template <typename T>
void axis_angle_to_matrix(const T* axis, const T* angle, int64_t n, T* R,
                          const Executor& exec = parallel_for);

template <typename T>
void angles_to_axis_angle(const T* alpha, const T* beta, const T* gamma, int64_t n, T* axis,
                          T* angle, const Executor& exec = parallel_for);
template <typename T>
void axis_angle_to_angles(const T* axis, const T* angle, int64_t n, T* alpha, T* beta, T* gamma,
                          const Executor& exec = parallel_for);

/// Angles of R(a1, b1, c1) R(a2, b2, c2) (the second rotation is applied first).
template <typename T>
void compose_angles(const T* a1, const T* b1, const T* c1, const T* a2, const T* b2, const T* c2,
                    int64_t n, T* alpha, T* beta, T* gamma, const Executor& exec = parallel_for);
/// Angles of the inverse rotation: (-gamma, -beta, -alpha).
template <typename T>
void inverse_angles(const T* alpha, const T* beta, const T* gamma, int64_t n, T* inv_alpha,
                    T* inv_beta, T* inv_gamma, const Executor& exec = parallel_for);

/// Hamilton product q1 q2 (q2 applied first).
template <typename T>
void compose_quaternion(const T* q1, const T* q2, int64_t n, T* q,
                        const Executor& exec = parallel_for);
/// Conjugate quaternion (the inverse of a unit quaternion).
template <typename T>
void inverse_quaternion(const T* q, int64_t n, T* inv_q, const Executor& exec = parallel_for);

/// Composition of (axis1, angle1) after (axis2, angle2), through quaternions.
template <typename T>
void compose_axis_angle(const T* axis1, const T* angle1, const T* axis2, const T* angle2, int64_t n,
                        T* axis, T* angle, const Executor& exec = parallel_for);

/// Point on the unit sphere R(alpha, beta, 0) e_y = (sin b sin a, cos b, sin b cos a).
template <typename T>
void angles_to_xyz(const T* alpha, const T* beta, int64_t n, T* xyz,
                   const Executor& exec = parallel_for);
/// Inverse of angles_to_xyz for any non-zero vector (normalised first; zero gives (0, pi/2)).
template <typename T>
void xyz_to_angles(const T* xyz, int64_t n, T* alpha, T* beta, const Executor& exec = parallel_for);

/// Uniformly random rotations (Haar measure), drawn as e3nn does: alpha, gamma uniform on
/// [0, 2 pi), beta = acos(u) with u uniform on [-1, 1).
template <typename T>
void rand_angles(std::mt19937_64& gen, int64_t n, T* alpha, T* beta, T* gamma);
template <typename T>
void rand_matrix(std::mt19937_64& gen, int64_t n, T* R);
template <typename T>
void rand_quaternion(std::mt19937_64& gen, int64_t n, T* q);
template <typename T>
void rand_axis_angle(std::mt19937_64& gen, int64_t n, T* axis, T* angle);

}  // namespace e3core
