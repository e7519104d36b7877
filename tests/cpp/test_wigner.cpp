#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "e3core/wigner.hpp"

namespace {

using Mat = std::vector<double>;

Mat wigner(int l, const Mat& R) {
  Mat D((2 * l + 1) * (2 * l + 1));
  e3core::wigner_D_from_matrix(l, R.data(), 1, D.data());
  return D;
}

Mat matmul(const Mat& a, const Mat& b, int d) {
  Mat c(d * d, 0.0);
  for (int i = 0; i < d; ++i)
    for (int k = 0; k < d; ++k)
      for (int j = 0; j < d; ++j) c[i * d + j] += a[i * d + k] * b[k * d + j];
  return c;
}

double max_abs_diff(const Mat& a, const Mat& b) {
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(a[i] - b[i]));
  return e;
}

// The rotation of a random unit quaternion (w, x, y, z).
Mat random_rotation(std::mt19937_64& gen) {
  std::normal_distribution<double> normal;
  double q[4], norm = 0;
  for (double& x : q) {
    x = normal(gen);
    norm += x * x;
  }
  for (double& x : q) x /= std::sqrt(norm);
  const double w = q[0], x = q[1], y = q[2], z = q[3];
  return {1 - 2 * (y * y + z * z), 2 * (x * y - z * w),     2 * (x * z + y * w),
          2 * (x * y + z * w),     1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
          2 * (x * z - y * w),     2 * (y * z + x * w),     1 - 2 * (x * x + y * y)};
}

// e3nn's R(alpha, beta, gamma) = Y(alpha) X(beta) Y(gamma).
Mat angles_to_matrix(double alpha, double beta, double gamma) {
  auto y = [](double t) {
    return Mat{std::cos(t), 0, std::sin(t), 0, 1, 0, -std::sin(t), 0, std::cos(t)};
  };
  const Mat x{1, 0, 0, 0, std::cos(beta), -std::sin(beta), 0, std::sin(beta), std::cos(beta)};
  return matmul(matmul(y(alpha), x, 3), y(gamma), 3);
}

std::string error_of(int l1, int l2, int l3) {
  try {
    e3core::wigner_3j(l1, l2, l3);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(Wigner3j, KnownValues) {
  EXPECT_NEAR(e3core::wigner_3j(0, 0, 0)[0], 1.0, 1e-15);
  const auto& c110 = e3core::wigner_3j(1, 1, 0);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      EXPECT_NEAR(c110[i * 3 + j], i == j ? 1 / std::sqrt(3.0) : 0, 1e-15);
  // (1, 1, 1) is the Levi-Civita symbol / sqrt(6), with e3nn's sign: C[0, 1, 2] > 0.
  const auto& c111 = e3core::wigner_3j(1, 1, 1);
  const int eps[3][3][3] = {{{0, 0, 0}, {0, 0, 1}, {0, -1, 0}},
                            {{0, 0, -1}, {0, 0, 0}, {1, 0, 0}},
                            {{0, 1, 0}, {-1, 0, 0}, {0, 0, 0}}};
  for (int i = 0; i < 27; ++i)
    EXPECT_NEAR(c111[i], eps[i / 9][i / 3 % 3][i % 3] / std::sqrt(6.0), 1e-15);
  // (1, 1, 2), m3 = 0 (y polar): diag(-1, 2, -1) / sqrt(30).
  const auto& c112 = e3core::wigner_3j(1, 1, 2);
  const double diag[3] = {-1, 2, -1};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      EXPECT_NEAR(c112[(i * 3 + j) * 5 + 2], i == j ? diag[i] / std::sqrt(30.0) : 0, 1e-15);
}

TEST(Wigner3j, UnitNormAndShape) {
  for (int l1 = 0; l1 <= 6; ++l1)
    for (int l2 = 0; l2 <= 6; ++l2)
      for (int l3 = std::abs(l1 - l2); l3 <= l1 + l2; ++l3) {
        const auto& c = e3core::wigner_3j(l1, l2, l3);
        ASSERT_EQ(c.size(), size_t((2 * l1 + 1) * (2 * l2 + 1) * (2 * l3 + 1)));
        double n2 = 0;
        for (double x : c) n2 += x * x;
        EXPECT_NEAR(n2, 1.0, 1e-14) << l1 << " " << l2 << " " << l3;
      }
}

// C[i,j,k] = sum C[a,b,c] D1[a,i] D2[b,j] D3[c,k] for every rotation.
TEST(Wigner3j, InvariantUnderWignerD) {
  std::mt19937_64 gen(1);
  const int triples[][3] = {{1, 1, 2},  {2, 3, 4},    {3, 3, 6},  {5, 2, 4},
                            {8, 8, 16}, {16, 16, 16}, {20, 12, 9}};
  for (const auto& t : triples) {
    const int d1 = 2 * t[0] + 1, d2 = 2 * t[1] + 1, d3 = 2 * t[2] + 1;
    const auto& C = e3core::wigner_3j(t[0], t[1], t[2]);
    const Mat R = random_rotation(gen);
    const Mat D1 = wigner(t[0], R), D2 = wigner(t[1], R), D3 = wigner(t[2], R);
    // Contract one index at a time: C -> C D1 -> (C D1) D2 -> ((C D1) D2) D3.
    Mat x(C.size()), y(C.size(), 0.0);
    for (int i = 0; i < d1; ++i)
      for (int a = 0; a < d1; ++a)
        for (int r = 0; r < d2 * d3; ++r) y[i * d2 * d3 + r] += C[a * d2 * d3 + r] * D1[a * d1 + i];
    x.assign(C.size(), 0.0);
    for (int i = 0; i < d1; ++i)
      for (int j = 0; j < d2; ++j)
        for (int b = 0; b < d2; ++b)
          for (int k = 0; k < d3; ++k)
            x[(i * d2 + j) * d3 + k] += y[(i * d2 + b) * d3 + k] * D2[b * d2 + j];
    y.assign(C.size(), 0.0);
    for (int ij = 0; ij < d1 * d2; ++ij)
      for (int c = 0; c < d3; ++c)
        for (int k = 0; k < d3; ++k) y[ij * d3 + k] += x[ij * d3 + c] * D3[c * d3 + k];
    EXPECT_LT(max_abs_diff(y, C), 1e-12) << t[0] << " " << t[1] << " " << t[2];
  }
}

TEST(Wigner3j, CachedReferenceIsStableAcrossThreads) {
  const std::vector<double>* first = &e3core::wigner_3j(7, 5, 4);
  std::vector<const std::vector<double>*> seen(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] { seen[t] = &e3core::wigner_3j(7, 5, 4 + (t % 2) * 5); });
  for (auto& th : threads) th.join();
  EXPECT_EQ(seen[0], first);
  EXPECT_EQ(seen[2], first);
  EXPECT_EQ(seen[1], seen[3]);
  EXPECT_EQ(seen[1]->size(), size_t(15 * 11 * 19));
}

TEST(Wigner3j, RejectsNegativeAndNonTriangle) {
  EXPECT_NE(error_of(1, 1, 3).find("(1, 1, 3) violates the triangle inequality"),
            std::string::npos);
  EXPECT_NE(error_of(3, 0, 2).find("triangle"), std::string::npos);
  EXPECT_NE(error_of(-1, 1, 1).find("negative"), std::string::npos);
  EXPECT_EQ(error_of(2, 3, 5), "");
}

TEST(WignerD, LowDegrees) {
  std::mt19937_64 gen(2);
  const Mat R = random_rotation(gen);
  EXPECT_EQ(wigner(0, R), Mat{1.0});
  EXPECT_LT(max_abs_diff(wigner(1, R), R), 1e-15);  // e3nn's D^1(R) = R
  const Mat I{1, 0, 0, 0, 1, 0, 0, 0, 1};
  for (int l = 0; l <= 8; ++l) {
    const int d = 2 * l + 1;
    Mat eye(d * d, 0.0);
    for (int i = 0; i < d; ++i) eye[i * d + i] = 1;
    EXPECT_LT(max_abs_diff(wigner(l, I), eye), 1e-15) << l;
  }
}

TEST(WignerD, OrthogonalAndHomomorphism) {
  std::mt19937_64 gen(3);
  for (int l : {2, 3, 5, 8, 12, 16, 20, 30}) {
    const int d = 2 * l + 1;
    const Mat R1 = random_rotation(gen), R2 = random_rotation(gen);
    const Mat D1 = wigner(l, R1), D2 = wigner(l, R2);
    Mat D1t(d * d);
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < d; ++j) D1t[j * d + i] = D1[i * d + j];
    Mat eye(d * d, 0.0);
    for (int i = 0; i < d; ++i) eye[i * d + i] = 1;
    EXPECT_LT(max_abs_diff(matmul(D1, D1t, d), eye), 1e-12) << l;
    EXPECT_LT(max_abs_diff(wigner(l, matmul(R1, R2, 3)), matmul(D1, D2, d)), 1e-12) << l;
  }
}

TEST(WignerD, ImproperMatrixGivesParityMinusOneToTheL) {
  std::mt19937_64 gen(4);
  const Mat R = random_rotation(gen);
  Mat minus_R(9);
  for (int i = 0; i < 9; ++i) minus_R[i] = -R[i];
  for (int l = 0; l <= 5; ++l) {
    Mat expected = wigner(l, R);
    for (double& x : expected) x *= l % 2 ? -1 : 1;
    EXPECT_LT(max_abs_diff(wigner(l, minus_R), expected), 1e-14) << l;
  }
}

TEST(WignerD, AnglesFloatAndBatch) {
  const int l = 6, d = 13, n = 37;
  std::mt19937_64 gen(5);
  std::uniform_real_distribution<double> angle(-7.0, 7.0);
  std::vector<double> a(n), b(n), c(n), D(n * d * d);
  for (int i = 0; i < n; ++i) a[i] = angle(gen), b[i] = angle(gen), c[i] = angle(gen);
  b[0] = 0.0;  // gimbal lock
  e3core::wigner_D(l, a.data(), b.data(), c.data(), n, D.data());
  for (int i = 0; i < n; ++i) {
    const Mat expected = wigner(l, angles_to_matrix(a[i], b[i], c[i]));
    const Mat got(D.begin() + i * d * d, D.begin() + (i + 1) * d * d);
    EXPECT_LT(max_abs_diff(got, expected), 1e-13) << i;
  }
  std::vector<float> af(a.begin(), a.end()), bf(b.begin(), b.end()), cf(c.begin(), c.end()),
      Df(n * d * d);
  e3core::wigner_D(l, af.data(), bf.data(), cf.data(), n, Df.data());
  for (int i = 0; i < n * d * d; ++i) EXPECT_NEAR(Df[i], D[i], 1e-5);
  e3core::wigner_D(l, a.data(), b.data(), c.data(), 0, D.data());  // empty batch is fine
}

// Every partial derivative against central differences of the order below it.
TEST(WignerD, DerivativesOfEveryOrder) {
  const int l = 4, d = 9;
  const double abc[3] = {0.4, 1.3, -2.2}, h = 1e-5;
  const e3core::EulerDerivative orders[] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1},
                                            {2, 1, 0}, {0, 3, 1}, {1, 1, 1}};
  for (const auto& order : orders) {
    for (int k = 0; k < 3; ++k) {
      int raised[3] = {order.alpha, order.beta, order.gamma};
      if (raised[k] == 0) continue;
      --raised[k];
      const e3core::EulerDerivative below{raised[0], raised[1], raised[2]};
      double plus[3] = {abc[0], abc[1], abc[2]}, minus[3] = {abc[0], abc[1], abc[2]};
      plus[k] += h;
      minus[k] -= h;
      Mat D(d * d), Dp(d * d), Dm(d * d);
      e3core::wigner_D(l, &abc[0], &abc[1], &abc[2], 1, D.data(), order);
      e3core::wigner_D(l, &plus[0], &plus[1], &plus[2], 1, Dp.data(), below);
      e3core::wigner_D(l, &minus[0], &minus[1], &minus[2], 1, Dm.data(), below);
      for (int i = 0; i < d * d; ++i) EXPECT_NEAR(D[i], (Dp[i] - Dm[i]) / (2 * h), 1e-5) << k;
    }
  }
}

TEST(WignerD, SwapTableTurnsYRotationsIntoXRotations) {
  for (int l = 0; l <= 6; ++l) {
    const int d = 2 * l + 1;
    const Mat& S = e3core::wigner_D_swap_xy(l);
    const Mat x = wigner(l, angles_to_matrix(0, 0.7, 0));
    const Mat y = wigner(l, angles_to_matrix(0.7, 0, 0));
    EXPECT_LT(max_abs_diff(matmul(matmul(S, y, d), S, d), x), 1e-14) << l;
    EXPECT_EQ(&S, &e3core::wigner_D_swap_xy(l));  // cached
  }
}

TEST(WignerD, RejectsNegativeL) {
  double R[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, out[9];
  EXPECT_THROW(e3core::wigner_D_from_matrix(-1, R, 1, out), std::invalid_argument);
  EXPECT_THROW(e3core::wigner_D(-2, R, R, R, 1, out), std::invalid_argument);
  EXPECT_THROW(e3core::wigner_D_from_matrix(1, R, -1, out), std::invalid_argument);
  EXPECT_THROW(e3core::wigner_D(1, R, R, R, 1, out, {0, -1, 0}), std::invalid_argument);
  EXPECT_THROW(e3core::wigner_D_swap_xy(-1), std::invalid_argument);
}

}  // namespace
