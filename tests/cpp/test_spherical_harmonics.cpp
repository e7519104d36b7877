#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "e3core/spherical_harmonics.hpp"

namespace {

using e3core::sh_dim;
using e3core::ShNormalization;
using e3core::ShOptions;

std::vector<double> random_vectors(int64_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<double> x(3 * n);
  for (double& v : x) v = normal(rng);
  return x;
}

std::vector<double> evaluate(const ShOptions& o, const std::vector<double>& x) {
  std::vector<double> sh(x.size() / 3 * sh_dim(o.lmax));
  e3core::spherical_harmonics<double>(o, x.data(), int64_t(x.size() / 3), sh.data());
  return sh;
}

TEST(SphericalHarmonics, LowDegreesHaveE3nnClosedForms) {
  const ShOptions o{2, true, ShNormalization::Component};
  const std::vector<double> x = {0.3, -1.2, 0.7};
  const double r = std::sqrt(0.09 + 1.44 + 0.49);
  const double ux = 0.3 / r, uy = -1.2 / r, uz = 0.7 / r;
  const auto sh = evaluate(o, x);
  EXPECT_NEAR(sh[0], 1.0, 1e-14);
  EXPECT_NEAR(sh[1], std::sqrt(3.0) * ux, 1e-14);
  EXPECT_NEAR(sh[2], std::sqrt(3.0) * uy, 1e-14);
  EXPECT_NEAR(sh[3], std::sqrt(3.0) * uz, 1e-14);
  EXPECT_NEAR(sh[4], std::sqrt(15.0) * ux * uz, 1e-14);
  EXPECT_NEAR(sh[5], std::sqrt(15.0) * ux * uy, 1e-14);
  EXPECT_NEAR(sh[6], std::sqrt(5.0) * (uy * uy - 0.5 * (ux * ux + uz * uz)), 1e-14);
  EXPECT_NEAR(sh[7], std::sqrt(15.0) * uy * uz, 1e-14);
  EXPECT_NEAR(sh[8], std::sqrt(15.0) / 2 * (uz * uz - ux * ux), 1e-14);
}

TEST(SphericalHarmonics, ComponentNormOnTheSphereUpToHighDegree) {
  const int lmax = 60;
  const ShOptions o{lmax, true, ShNormalization::Component};
  const auto x = random_vectors(50, 1);
  const auto sh = evaluate(o, x);
  for (int64_t i = 0; i < 50; ++i) {
    for (int l = 0; l <= lmax; ++l) {
      double sum = 0;
      for (int k = l * l; k < (l + 1) * (l + 1); ++k) sum += std::pow(sh[i * sh_dim(lmax) + k], 2);
      EXPECT_NEAR(sum, 2 * l + 1, 1e-10 * (2 * l + 1)) << "l = " << l;
    }
  }
}

TEST(SphericalHarmonics, NormalizationsDifferByTheDocumentedFactors) {
  const auto x = random_vectors(8, 2);
  const auto integral = evaluate({5, true, ShNormalization::Integral}, x);
  const auto component = evaluate({5, true, ShNormalization::Component}, x);
  const auto norm = evaluate({5, true, ShNormalization::Norm}, x);
  for (size_t i = 0; i < integral.size(); ++i) {
    const int k = int(i % sh_dim(5));
    const int l = int(std::sqrt(double(k)));
    EXPECT_NEAR(component[i], integral[i] * std::sqrt(4 * M_PI), 1e-13);
    EXPECT_NEAR(norm[i], component[i] / std::sqrt(2.0 * l + 1), 1e-13);
  }
}

TEST(SphericalHarmonics, SolidHarmonicsAreHomogeneous) {
  const int lmax = 7;
  const auto x = random_vectors(4, 3);
  std::vector<double> x2(x);
  for (double& v : x2) v *= 2;
  const auto a = evaluate({lmax, false, ShNormalization::Integral}, x);
  const auto b = evaluate({lmax, false, ShNormalization::Integral}, x2);
  for (size_t i = 0; i < a.size(); ++i) {
    const int l = int(std::sqrt(double(i % sh_dim(lmax))));
    EXPECT_NEAR(b[i], a[i] * std::pow(2.0, l), 1e-11 * std::pow(2.0, l));
  }
}

class Derivatives : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(Derivatives, GradientsAndVjpMatchFiniteDifferences) {
  const auto [lmax, normalize] = GetParam();
  const ShOptions o{lmax, normalize, ShNormalization::Norm};
  const int64_t n = 5, dim = sh_dim(lmax);
  const auto x = random_vectors(n, 4);
  std::vector<double> sh(n * dim), dsh(n * 3 * dim);
  e3core::spherical_harmonics<double>(o, x.data(), n, sh.data(), dsh.data());
  const double h = 1e-6;
  for (int64_t i = 0; i < n; ++i) {
    for (int a = 0; a < 3; ++a) {
      auto xp = x, xm = x;
      xp[3 * i + a] += h;
      xm[3 * i + a] -= h;
      const auto sp = evaluate(o, xp), sm = evaluate(o, xm);
      for (int64_t k = 0; k < dim; ++k) {
        const double fd = (sp[i * dim + k] - sm[i * dim + k]) / (2 * h);
        EXPECT_NEAR(dsh[(i * 3 + a) * dim + k], fd, 1e-6 * std::max(1.0, std::abs(fd)));
      }
    }
  }
  // vjp = dsh contracted with the incoming gradient.
  const auto g = random_vectors(n * dim, 5);
  std::vector<double> vjp(3 * n);
  e3core::spherical_harmonics_vjp<double>(o, x.data(), g.data(), n, vjp.data());
  for (int64_t i = 0; i < n; ++i) {
    for (int a = 0; a < 3; ++a) {
      double expected = 0;
      for (int64_t k = 0; k < dim; ++k) expected += g[i * dim + k] * dsh[(i * 3 + a) * dim + k];
      EXPECT_NEAR(vjp[3 * i + a], expected, 1e-10 * std::max(1.0, std::abs(expected)));
    }
  }
}

TEST_P(Derivatives, VjpBackwardMatchesFiniteDifferencesOfVjp) {
  const auto [lmax, normalize] = GetParam();
  const ShOptions o{lmax, normalize, ShNormalization::Integral};
  const int64_t n = 4, dim = sh_dim(lmax);
  const auto x = random_vectors(n, 6);
  const auto g = random_vectors(n * dim, 7);
  const auto gg = random_vectors(n, 8);
  std::vector<double> ggsh(n * dim), gx(3 * n);
  e3core::spherical_harmonics_vjp_backward<double>(o, x.data(), g.data(), gg.data(), n, ggsh.data(),
                                                   gx.data());
  auto vjp = [&](const std::vector<double>& xv, const std::vector<double>& gv) {
    std::vector<double> out(3 * n);
    e3core::spherical_harmonics_vjp<double>(o, xv.data(), gv.data(), n, out.data());
    double dot = 0;
    for (int64_t j = 0; j < 3 * n; ++j) dot += out[j] * gg[j];
    return dot;  // gg . vjp(x, g)
  };
  const double h = 1e-6;
  for (int64_t j = 0; j < 3 * n; ++j) {
    auto xp = x, xm = x;
    xp[j] += h;
    xm[j] -= h;
    const double fd = (vjp(xp, g) - vjp(xm, g)) / (2 * h);
    EXPECT_NEAR(gx[j], fd, 1e-5 * std::max(1.0, std::abs(fd)));
  }
  // vjp is linear in g: a large step keeps rounding out of the difference.
  for (int64_t j = 0; j < n * dim; j += 3) {
    auto gp = g, gm = g;
    gp[j] += 0.5;
    gm[j] -= 0.5;
    const double fd = vjp(x, gp) - vjp(x, gm);
    EXPECT_NEAR(ggsh[j], fd, 1e-6 * std::max(1.0, std::abs(fd)));
  }
}

INSTANTIATE_TEST_SUITE_P(Degrees, Derivatives,
                         ::testing::Combine(::testing::Values(0, 1, 2, 3, 6, 8, 9, 12),
                                            ::testing::Bool()));

TEST(SphericalHarmonics, ZeroVectorGivesZerosBeyondDegreeZero) {
  const std::vector<double> x = {0, 0, 0};
  const auto sh = evaluate({4, true, ShNormalization::Component}, x);
  EXPECT_NEAR(sh[0], 1.0, 1e-15);
  for (int k = 1; k < sh_dim(4); ++k) EXPECT_EQ(sh[k], 0.0);
}

TEST(SphericalHarmonics, FloatAgreesWithDouble) {
  const ShOptions o{8, true, ShNormalization::Component};
  const auto x = random_vectors(100, 9);
  const std::vector<float> xf(x.begin(), x.end());
  std::vector<float> shf(100 * sh_dim(8));
  e3core::spherical_harmonics<float>(o, xf.data(), 100, shf.data());
  const auto shd = evaluate(o, x);
  for (size_t i = 0; i < shd.size(); ++i) EXPECT_NEAR(shf[i], shd[i], 2e-5);
}

TEST(SphericalHarmonics, EmptyBatchWritesNothing) {
  double out = 42;
  e3core::spherical_harmonics<double>({3, true, ShNormalization::Integral}, nullptr, 0, &out);
  EXPECT_EQ(out, 42);
}

TEST(SphericalHarmonics, BadOptionsThrowWithMessages) {
  double x[3] = {1, 0, 0}, out[1];
  try {
    e3core::spherical_harmonics<double>({-1, true, ShNormalization::Integral}, x, 1, out);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("lmax is -1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(e3core::check_sh_options({e3core::kShMaxDegree + 1, true}), std::invalid_argument);
  try {
    e3core::parse_sh_normalization("unit");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("\"unit\""), std::string::npos) << e.what();
  }
}

}  // namespace
