// Rotation conversions, one item at a time in double, transcribed from e3nn.o3._rotation so that
// the same branches (and hence the same angles and axes) come out.
#include "e3core/rotation.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace e3core {
namespace {

using V3 = std::array<double, 3>;
using M3 = std::array<double, 9>;
using Q4 = std::array<double, 4>;

constexpr double kPi = 3.14159265358979323846;
constexpr int64_t kGrain = 4096;

template <size_t N, typename T>
std::array<double, N> load(const T* p, int64_t i) {
  std::array<double, N> a;
  for (size_t k = 0; k < N; ++k) a[k] = p[N * i + k];
  return a;
}

template <size_t N, typename T>
void store(const std::array<double, N>& a, T* p, int64_t i) {
  for (size_t k = 0; k < N; ++k) p[N * i + k] = T(a[k]);
}

// Runs f(i) for i in [0, n) on the executor.
template <typename F>
void for_each(const char* fn, int64_t n, const Executor& exec, F f) {
  if (n < 0) {
    std::ostringstream msg;
    msg << fn << ": expected n >= 0, got n = " << n;
    throw std::invalid_argument(msg.str());
  }
  exec(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) f(i);
  });
}

M3 mul(const M3& a, const M3& b) {
  M3 c{};
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k)
      for (int j = 0; j < 3; ++j) c[3 * i + j] += a[3 * i + k] * b[3 * k + j];
  return c;
}

M3 transpose(const M3& a) { return {a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]}; }

M3 mat_x(double t) {
  const double c = std::cos(t), s = std::sin(t);
  return {1, 0, 0, 0, c, -s, 0, s, c};
}
M3 mat_y(double t) {
  const double c = std::cos(t), s = std::sin(t);
  return {c, 0, s, 0, 1, 0, -s, 0, c};
}
M3 mat_z(double t) {
  const double c = std::cos(t), s = std::sin(t);
  return {c, -s, 0, s, c, 0, 0, 0, 1};
}

M3 angles_matrix(double a, double b, double c) { return mul(mul(mat_y(a), mat_x(b)), mat_y(c)); }

// torch.nn.functional.normalize: x / max(|x|, 1e-12).
template <size_t N>
std::array<double, N> normalize(std::array<double, N> x) {
  double n2 = 0;
  for (double v : x) n2 += v * v;
  const double norm = std::max(std::sqrt(n2), 1e-12);
  for (double& v : x) v /= norm;
  return x;
}

std::array<double, 2> xyz_angles(const V3& xyz) {
  V3 v = normalize(xyz);
  for (double& x : v) x = std::clamp(x, -1.0, 1.0);
  return {std::atan2(v[0], v[2]), std::acos(v[1])};
}

void check_proper(const char* fn, const M3& R, int64_t i) {
  const double det = R[0] * (R[4] * R[8] - R[5] * R[7]) - R[1] * (R[3] * R[8] - R[5] * R[6]) +
                     R[2] * (R[3] * R[7] - R[4] * R[6]);
  if (!(std::abs(det - 1.0) <= 1e-5 + 1e-8)) {  // torch.allclose's default tolerances
    std::ostringstream msg;
    msg << fn << ": R[" << i << "] has determinant " << det
        << "; expected a proper rotation matrix (det = 1)";
    throw std::invalid_argument(msg.str());
  }
}

V3 matrix_angles(const M3& R) {
  const auto [a, b] = xyz_angles({R[1], R[4], R[7]});  // R e_y
  const M3 r = mul(transpose(angles_matrix(a, b, 0.0)), R);
  return {a, b, std::atan2(r[2], r[0])};
}

Q4 axis_angle_quat(const V3& axis, double angle) {
  const V3 u = normalize(axis);
  const double c = std::cos(angle / 2), s = std::sin(angle / 2);
  return {c, u[0] * s, u[1] * s, u[2] * s};
}

Q4 compose_quat(const Q4& p, const Q4& q) {
  return {p[0] * q[0] - p[1] * q[1] - p[2] * q[2] - p[3] * q[3],
          p[1] * q[0] + p[0] * q[1] + p[2] * q[3] - p[3] * q[2],
          p[0] * q[2] - p[1] * q[3] + p[2] * q[0] + p[3] * q[1],
          p[0] * q[3] + p[1] * q[2] - p[2] * q[1] + p[3] * q[0]};
}

Q4 angles_quat(double a, double b, double c) {
  return compose_quat(axis_angle_quat({0, 1, 0}, a),
                      compose_quat(axis_angle_quat({1, 0, 0}, b), axis_angle_quat({0, 1, 0}, c)));
}

struct AxisAngle {
  V3 axis;
  double angle;
};

AxisAngle quat_axis_angle(const Q4& q) {
  return {normalize(V3{q[1], q[2], q[3]}), 2 * std::acos(std::clamp(q[0], -1.0, 1.0))};
}

AxisAngle matrix_axis_angle(const M3& R) {
  const double tr = R[0] + R[4] + R[8];
  return {normalize(V3{R[7] - R[5], R[2] - R[6], R[3] - R[1]}),
          std::acos(std::clamp((tr - 1) / 2, -1.0, 1.0))};
}

M3 axis_angle_matrix(const V3& axis, double angle) {
  const auto [a, b] = xyz_angles(axis);
  const M3 R = angles_matrix(a, b, 0.0);
  return mul(mul(R, mat_y(angle)), transpose(R));
}

template <typename T>
void store_angles(const V3& abc, T* alpha, T* beta, T* gamma, int64_t i) {
  alpha[i] = T(abc[0]);
  beta[i] = T(abc[1]);
  gamma[i] = T(abc[2]);
}

template <typename T>
void store_axis_angle(const AxisAngle& aa, T* axis, T* angle, int64_t i) {
  store(aa.axis, axis, i);
  angle[i] = T(aa.angle);
}

}  // namespace

template <typename T>
void matrix_x(const T* angle, int64_t n, T* R, const Executor& exec) {
  for_each("matrix_x", n, exec, [&](int64_t i) { store(mat_x(angle[i]), R, i); });
}
template <typename T>
void matrix_y(const T* angle, int64_t n, T* R, const Executor& exec) {
  for_each("matrix_y", n, exec, [&](int64_t i) { store(mat_y(angle[i]), R, i); });
}
template <typename T>
void matrix_z(const T* angle, int64_t n, T* R, const Executor& exec) {
  for_each("matrix_z", n, exec, [&](int64_t i) { store(mat_z(angle[i]), R, i); });
}

template <typename T>
void angles_to_matrix(const T* alpha, const T* beta, const T* gamma, int64_t n, T* R,
                      const Executor& exec) {
  for_each("angles_to_matrix", n, exec,
           [&](int64_t i) { store(angles_matrix(alpha[i], beta[i], gamma[i]), R, i); });
}

template <typename T>
void matrix_to_angles(const T* R, int64_t n, T* alpha, T* beta, T* gamma, const Executor& exec) {
  for_each("matrix_to_angles", n, exec, [&](int64_t i) {
    const M3 r = load<9>(R, i);
    check_proper("matrix_to_angles", r, i);
    store_angles(matrix_angles(r), alpha, beta, gamma, i);
  });
}

template <typename T>
void angles_to_quaternion(const T* alpha, const T* beta, const T* gamma, int64_t n, T* q,
                          const Executor& exec) {
  for_each("angles_to_quaternion", n, exec,
           [&](int64_t i) { store(angles_quat(alpha[i], beta[i], gamma[i]), q, i); });
}

template <typename T>
void quaternion_to_angles(const T* q, int64_t n, T* alpha, T* beta, T* gamma,
                          const Executor& exec) {
  for_each("quaternion_to_angles", n, exec, [&](int64_t i) {
    const AxisAngle aa = quat_axis_angle(load<4>(q, i));
    store_angles(matrix_angles(axis_angle_matrix(aa.axis, aa.angle)), alpha, beta, gamma, i);
  });
}

template <typename T>
void matrix_to_quaternion(const T* R, int64_t n, T* q, const Executor& exec) {
  for_each("matrix_to_quaternion", n, exec, [&](int64_t i) {
    const M3 r = load<9>(R, i);
    check_proper("matrix_to_quaternion", r, i);
    const AxisAngle aa = matrix_axis_angle(r);
    store(axis_angle_quat(aa.axis, aa.angle), q, i);
  });
}

template <typename T>
void quaternion_to_matrix(const T* q, int64_t n, T* R, const Executor& exec) {
  for_each("quaternion_to_matrix", n, exec, [&](int64_t i) {
    const AxisAngle aa = quat_axis_angle(load<4>(q, i));
    store(axis_angle_matrix(aa.axis, aa.angle), R, i);
  });
}

template <typename T>
void axis_angle_to_quaternion(const T* axis, const T* angle, int64_t n, T* q,
                              const Executor& exec) {
  for_each("axis_angle_to_quaternion", n, exec,
           [&](int64_t i) { store(axis_angle_quat(load<3>(axis, i), angle[i]), q, i); });
}

template <typename T>
void quaternion_to_axis_angle(const T* q, int64_t n, T* axis, T* angle, const Executor& exec) {
  for_each("quaternion_to_axis_angle", n, exec,
           [&](int64_t i) { store_axis_angle(quat_axis_angle(load<4>(q, i)), axis, angle, i); });
}

template <typename T>
void matrix_to_axis_angle(const T* R, int64_t n, T* axis, T* angle, const Executor& exec) {
  for_each("matrix_to_axis_angle", n, exec, [&](int64_t i) {
    const M3 r = load<9>(R, i);
    check_proper("matrix_to_axis_angle", r, i);
    store_axis_angle(matrix_axis_angle(r), axis, angle, i);
  });
}

template <typename T>
void axis_angle_to_matrix(const T* axis, const T* angle, int64_t n, T* R, const Executor& exec) {
  for_each("axis_angle_to_matrix", n, exec,
           [&](int64_t i) { store(axis_angle_matrix(load<3>(axis, i), angle[i]), R, i); });
}

template <typename T>
void angles_to_axis_angle(const T* alpha, const T* beta, const T* gamma, int64_t n, T* axis,
                          T* angle, const Executor& exec) {
  for_each("angles_to_axis_angle", n, exec, [&](int64_t i) {
    store_axis_angle(matrix_axis_angle(angles_matrix(alpha[i], beta[i], gamma[i])), axis, angle, i);
  });
}

template <typename T>
void axis_angle_to_angles(const T* axis, const T* angle, int64_t n, T* alpha, T* beta, T* gamma,
                          const Executor& exec) {
  for_each("axis_angle_to_angles", n, exec, [&](int64_t i) {
    store_angles(matrix_angles(axis_angle_matrix(load<3>(axis, i), angle[i])), alpha, beta, gamma,
                 i);
  });
}

template <typename T>
void compose_angles(const T* a1, const T* b1, const T* c1, const T* a2, const T* b2, const T* c2,
                    int64_t n, T* alpha, T* beta, T* gamma, const Executor& exec) {
  for_each("compose_angles", n, exec, [&](int64_t i) {
    const M3 R = mul(angles_matrix(a1[i], b1[i], c1[i]), angles_matrix(a2[i], b2[i], c2[i]));
    store_angles(matrix_angles(R), alpha, beta, gamma, i);
  });
}

template <typename T>
void inverse_angles(const T* alpha, const T* beta, const T* gamma, int64_t n, T* inv_alpha,
                    T* inv_beta, T* inv_gamma, const Executor& exec) {
  for_each("inverse_angles", n, exec, [&](int64_t i) {
    store_angles({-double(gamma[i]), -double(beta[i]), -double(alpha[i])}, inv_alpha, inv_beta,
                 inv_gamma, i);
  });
}

template <typename T>
void compose_quaternion(const T* q1, const T* q2, int64_t n, T* q, const Executor& exec) {
  for_each("compose_quaternion", n, exec,
           [&](int64_t i) { store(compose_quat(load<4>(q1, i), load<4>(q2, i)), q, i); });
}

template <typename T>
void inverse_quaternion(const T* q, int64_t n, T* inv_q, const Executor& exec) {
  for_each("inverse_quaternion", n, exec, [&](int64_t i) {
    const Q4 p = load<4>(q, i);
    store(Q4{p[0], -p[1], -p[2], -p[3]}, inv_q, i);
  });
}

template <typename T>
void compose_axis_angle(const T* axis1, const T* angle1, const T* axis2, const T* angle2, int64_t n,
                        T* axis, T* angle, const Executor& exec) {
  for_each("compose_axis_angle", n, exec, [&](int64_t i) {
    const Q4 q = compose_quat(axis_angle_quat(load<3>(axis1, i), angle1[i]),
                              axis_angle_quat(load<3>(axis2, i), angle2[i]));
    store_axis_angle(quat_axis_angle(q), axis, angle, i);
  });
}

template <typename T>
void angles_to_xyz(const T* alpha, const T* beta, int64_t n, T* xyz, const Executor& exec) {
  for_each("angles_to_xyz", n, exec, [&](int64_t i) {
    const double a = alpha[i], b = beta[i];
    store(V3{std::sin(b) * std::sin(a), std::cos(b), std::sin(b) * std::cos(a)}, xyz, i);
  });
}

template <typename T>
void xyz_to_angles(const T* xyz, int64_t n, T* alpha, T* beta, const Executor& exec) {
  for_each("xyz_to_angles", n, exec, [&](int64_t i) {
    const auto [a, b] = xyz_angles(load<3>(xyz, i));
    alpha[i] = T(a);
    beta[i] = T(b);
  });
}

template <typename T>
void rand_angles(std::mt19937_64& gen, int64_t n, T* alpha, T* beta, T* gamma) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for_each(
      "rand_angles", n, [](int64_t m, int64_t, const RangeFn& fn) { fn(0, m); },
      [&](int64_t i) {
        alpha[i] = T(2 * kPi * u(gen));
        gamma[i] = T(2 * kPi * u(gen));
        beta[i] = T(std::acos(2 * u(gen) - 1));
      });
}

template <typename T>
void rand_matrix(std::mt19937_64& gen, int64_t n, T* R) {
  std::vector<T> a(n), b(n), c(n);
  rand_angles(gen, n, a.data(), b.data(), c.data());
  angles_to_matrix(a.data(), b.data(), c.data(), n, R);
}

template <typename T>
void rand_quaternion(std::mt19937_64& gen, int64_t n, T* q) {
  std::vector<T> a(n), b(n), c(n);
  rand_angles(gen, n, a.data(), b.data(), c.data());
  angles_to_quaternion(a.data(), b.data(), c.data(), n, q);
}

template <typename T>
void rand_axis_angle(std::mt19937_64& gen, int64_t n, T* axis, T* angle) {
  std::vector<T> a(n), b(n), c(n);
  rand_angles(gen, n, a.data(), b.data(), c.data());
  angles_to_axis_angle(a.data(), b.data(), c.data(), n, axis, angle);
}

#define E3CORE_INSTANTIATE_ROTATION(T)                                                             \
  template void matrix_x<T>(const T*, int64_t, T*, const Executor&);                               \
  template void matrix_y<T>(const T*, int64_t, T*, const Executor&);                               \
  template void matrix_z<T>(const T*, int64_t, T*, const Executor&);                               \
  template void angles_to_matrix<T>(const T*, const T*, const T*, int64_t, T*, const Executor&);   \
  template void matrix_to_angles<T>(const T*, int64_t, T*, T*, T*, const Executor&);               \
  template void angles_to_quaternion<T>(const T*, const T*, const T*, int64_t, T*,                 \
                                        const Executor&);                                          \
  template void quaternion_to_angles<T>(const T*, int64_t, T*, T*, T*, const Executor&);           \
  template void matrix_to_quaternion<T>(const T*, int64_t, T*, const Executor&);                   \
  template void quaternion_to_matrix<T>(const T*, int64_t, T*, const Executor&);                   \
  template void axis_angle_to_quaternion<T>(const T*, const T*, int64_t, T*, const Executor&);     \
  template void quaternion_to_axis_angle<T>(const T*, int64_t, T*, T*, const Executor&);           \
  template void matrix_to_axis_angle<T>(const T*, int64_t, T*, T*, const Executor&);               \
  template void axis_angle_to_matrix<T>(const T*, const T*, int64_t, T*, const Executor&);         \
  template void angles_to_axis_angle<T>(const T*, const T*, const T*, int64_t, T*, T*,             \
                                        const Executor&);                                          \
  template void axis_angle_to_angles<T>(const T*, const T*, int64_t, T*, T*, T*, const Executor&); \
  template void compose_angles<T>(const T*, const T*, const T*, const T*, const T*, const T*,      \
                                  int64_t, T*, T*, T*, const Executor&);                           \
  template void inverse_angles<T>(const T*, const T*, const T*, int64_t, T*, T*, T*,               \
                                  const Executor&);                                                \
  template void compose_quaternion<T>(const T*, const T*, int64_t, T*, const Executor&);           \
  template void inverse_quaternion<T>(const T*, int64_t, T*, const Executor&);                     \
  template void compose_axis_angle<T>(const T*, const T*, const T*, const T*, int64_t, T*, T*,     \
                                      const Executor&);                                            \
  template void angles_to_xyz<T>(const T*, const T*, int64_t, T*, const Executor&);                \
  template void xyz_to_angles<T>(const T*, int64_t, T*, T*, const Executor&);                      \
  template void rand_angles<T>(std::mt19937_64&, int64_t, T*, T*, T*);                             \
  template void rand_matrix<T>(std::mt19937_64&, int64_t, T*);                                     \
  template void rand_quaternion<T>(std::mt19937_64&, int64_t, T*);                                 \
  template void rand_axis_angle<T>(std::mt19937_64&, int64_t, T*, T*);

E3CORE_INSTANTIATE_ROTATION(float)
E3CORE_INSTANTIATE_ROTATION(double)

#undef E3CORE_INSTANTIATE_ROTATION

}  // namespace e3core
