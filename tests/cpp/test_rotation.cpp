#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "e3core/rotation.hpp"

namespace {

constexpr int kN = 50;
constexpr double kPi = 3.14159265358979323846;

struct Angles {
  std::vector<double> a, b, c;
  explicit Angles(int64_t n) : a(n), b(n), c(n) {}
};

Angles random_angles(uint64_t seed) {
  std::mt19937_64 gen(seed);
  Angles x(kN);
  e3core::rand_angles(gen, kN, x.a.data(), x.b.data(), x.c.data());
  return x;
}

std::vector<double> to_matrix(const Angles& x) {
  std::vector<double> R(9 * x.a.size());
  e3core::angles_to_matrix(x.a.data(), x.b.data(), x.c.data(), int64_t(x.a.size()), R.data());
  return R;
}

void expect_close(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << i;
}

TEST(Rotation, AxisMatricesAndEulerOrder) {
  const double t = 0.3, c = std::cos(t), s = std::sin(t), zero = 0;
  std::vector<double> Rx(9), Ry(9), Rz(9), R(9);
  e3core::matrix_x(&t, 1, Rx.data());
  e3core::matrix_y(&t, 1, Ry.data());
  e3core::matrix_z(&t, 1, Rz.data());
  expect_close(Rx, {1, 0, 0, 0, c, -s, 0, s, c}, 1e-16);
  expect_close(Ry, {c, 0, s, 0, 1, 0, -s, 0, c}, 1e-16);
  expect_close(Rz, {c, -s, 0, s, c, 0, 0, 0, 1}, 1e-16);
  // Y-X-Y: alpha and gamma rotate about y, beta about x.
  e3core::angles_to_matrix(&t, &zero, &zero, 1, R.data());
  expect_close(R, Ry, 1e-16);
  e3core::angles_to_matrix(&zero, &t, &zero, 1, R.data());
  expect_close(R, Rx, 1e-16);
}

TEST(Rotation, MatrixAnglesRoundTrip) {
  const Angles x = random_angles(1);
  const auto R = to_matrix(x);
  Angles y(kN);
  e3core::matrix_to_angles(R.data(), kN, y.a.data(), y.b.data(), y.c.data());
  expect_close(to_matrix(y), R, 1e-13);
  expect_close(y.b, x.b, 1e-12);  // beta in [0, pi] is recovered exactly
}

TEST(Rotation, QuaternionConversionsAndComposition) {
  const Angles x = random_angles(2), y = random_angles(3);
  const auto R1 = to_matrix(x), R2 = to_matrix(y);
  std::vector<double> q1(4 * kN), q2(4 * kN), q(4 * kN), R(9 * kN), R12(9 * kN, 0.0);
  e3core::angles_to_quaternion(x.a.data(), x.b.data(), x.c.data(), kN, q1.data());
  e3core::matrix_to_quaternion(R2.data(), kN, q2.data());
  e3core::quaternion_to_matrix(q1.data(), kN, R.data());
  expect_close(R, R1, 1e-13);
  e3core::compose_quaternion(q1.data(), q2.data(), kN, q.data());
  e3core::quaternion_to_matrix(q.data(), kN, R.data());
  for (int n = 0; n < kN; ++n)
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 3; ++k)
        for (int j = 0; j < 3; ++j)
          R12[9 * n + 3 * i + j] += R1[9 * n + 3 * i + k] * R2[9 * n + 3 * k + j];
  expect_close(R, R12, 1e-13);
  // q q^-1 is the identity (up to the sign of q).
  std::vector<double> qi(4 * kN), e(4 * kN);
  e3core::inverse_quaternion(q1.data(), kN, qi.data());
  e3core::compose_quaternion(q1.data(), qi.data(), kN, e.data());
  for (int n = 0; n < kN; ++n) EXPECT_NEAR(std::abs(e[4 * n]), 1.0, 1e-14);
  Angles z(kN);
  e3core::quaternion_to_angles(q1.data(), kN, z.a.data(), z.b.data(), z.c.data());
  expect_close(to_matrix(z), R1, 1e-12);
}

TEST(Rotation, AxisAngle) {
  const Angles x = random_angles(4), y = random_angles(5);
  const auto R1 = to_matrix(x);
  std::vector<double> axis(3 * kN), angle(kN), R(9 * kN), axis2(3 * kN), angle2(kN);
  e3core::matrix_to_axis_angle(R1.data(), kN, axis.data(), angle.data());
  e3core::axis_angle_to_matrix(axis.data(), angle.data(), kN, R.data());
  expect_close(R, R1, 1e-12);
  e3core::angles_to_axis_angle(x.a.data(), x.b.data(), x.c.data(), kN, axis2.data(), angle2.data());
  expect_close(axis2, axis, 1e-15);
  Angles z(kN);
  e3core::axis_angle_to_angles(axis.data(), angle.data(), kN, z.a.data(), z.b.data(), z.c.data());
  expect_close(to_matrix(z), R1, 1e-12);
  // Rotating by angle t then by s about the same axis is a rotation by t + s.
  std::vector<double> s(kN, 0.25), sum_axis(3 * kN), sum_angle(kN);
  e3core::compose_axis_angle(axis.data(), s.data(), axis.data(), angle.data(), kN, sum_axis.data(),
                             sum_angle.data());
  // Quaternion angles 2 acos(w) lie in [0, 2 pi], so no wrap-around here.
  for (int n = 0; n < kN; ++n) EXPECT_NEAR(sum_angle[n], angle[n] + 0.25, 1e-7);
  expect_close(sum_axis, axis, 1e-7);
}

TEST(Rotation, InverseAndComposeAngles) {
  const Angles x = random_angles(6);
  Angles inv(kN), id(kN);
  e3core::inverse_angles(x.a.data(), x.b.data(), x.c.data(), kN, inv.a.data(), inv.b.data(),
                         inv.c.data());
  e3core::compose_angles(x.a.data(), x.b.data(), x.c.data(), inv.a.data(), inv.b.data(),
                         inv.c.data(), kN, id.a.data(), id.b.data(), id.c.data());
  for (int n = 0; n < kN; ++n) EXPECT_NEAR(id.b[n], 0.0, 1e-6);
  const auto I = to_matrix(id);
  for (int n = 0; n < kN; ++n)
    for (int k = 0; k < 9; ++k) EXPECT_NEAR(I[9 * n + k], k % 4 == 0 ? 1.0 : 0.0, 1e-12);
}

TEST(Rotation, SpherePoints) {
  const Angles x = random_angles(7);
  std::vector<double> xyz(3 * kN), a(kN), b(kN);
  e3core::angles_to_xyz(x.a.data(), x.b.data(), kN, xyz.data());
  e3core::xyz_to_angles(xyz.data(), kN, a.data(), b.data());
  expect_close(b, x.b, 1e-12);
  for (int n = 0; n < kN; ++n) EXPECT_NEAR(std::remainder(a[n] - x.a[n], 2 * kPi), 0.0, 1e-12);
  const double zero[3] = {0, 0, 0};
  double za, zb;
  e3core::xyz_to_angles(zero, 1, &za, &zb);  // zero vector: no NaN, like e3nn
  EXPECT_EQ(za, 0.0);
  EXPECT_NEAR(zb, kPi / 2, 1e-15);
}

TEST(Rotation, RandomIsReproducibleAndProper) {
  std::mt19937_64 g1(9), g2(9);
  std::vector<double> R1(9 * kN), R2(9 * kN);
  e3core::rand_matrix(g1, kN, R1.data());
  e3core::rand_matrix(g2, kN, R2.data());
  EXPECT_EQ(R1, R2);
  std::vector<float> q(4 * kN), axis(3 * kN), angle(kN);
  e3core::rand_quaternion(g1, kN, q.data());
  e3core::rand_axis_angle(g1, kN, axis.data(), angle.data());
  for (int n = 0; n < kN; ++n) {
    EXPECT_NEAR(q[4 * n] * q[4 * n] + q[4 * n + 1] * q[4 * n + 1] + q[4 * n + 2] * q[4 * n + 2] +
                    q[4 * n + 3] * q[4 * n + 3],
                1.0f, 1e-6f);
    EXPECT_NEAR(std::hypot(axis[3 * n], axis[3 * n + 1], axis[3 * n + 2]), 1.0f, 1e-6f);
  }
}

TEST(Rotation, FloatMatchesDouble) {
  const Angles x = random_angles(10);
  std::vector<float> a(x.a.begin(), x.a.end()), b(x.b.begin(), x.b.end()),
      c(x.c.begin(), x.c.end()), R(9 * kN);
  e3core::angles_to_matrix(a.data(), b.data(), c.data(), kN, R.data());
  expect_close(std::vector<double>(R.begin(), R.end()), to_matrix(x), 1e-6);
}

TEST(Rotation, RejectsImproperMatrices) {
  const double reflection[9] = {-1, 0, 0, 0, 1, 0, 0, 0, 1};
  double a, b, c, axis[3], q[4];
  EXPECT_THROW(e3core::matrix_to_angles(reflection, 1, &a, &b, &c), std::invalid_argument);
  EXPECT_THROW(e3core::matrix_to_axis_angle(reflection, 1, axis, &a), std::invalid_argument);
  EXPECT_THROW(e3core::matrix_to_quaternion(reflection, 1, q), std::invalid_argument);
  EXPECT_THROW(e3core::matrix_x(&a, -1, axis), std::invalid_argument);
}

}  // namespace
