// The recursion coefficients of the spherical harmonics (see spherical_harmonics_impl.hpp for the
// recursion), shared by the CPU kernels and the CUDA kernels, which copy them to the device.
#pragma once

#include <cmath>
#include <vector>

#include "e3core/spherical_harmonics.hpp"
#include "host_device.hpp"

namespace e3core {
namespace sh_detail {

constexpr double kPi = 3.14159265358979323846;
// torch.nn.functional.normalize's default eps, which e3nn uses.
constexpr double kNormalizeEps = 1e-12;

E3CORE_HD constexpr int tri(int l, int m) { return l * (l + 1) / 2 + m; }

// K_l^m / K_l'^m' without forming factorials (they overflow past l ~ 85).
static double k_ratio(int l, int m, int lp, int mp) {
  // (l-m)!/(l+m)! * (l'+m')!/(l'-m')!, as a product of few terms since l - l' <= 2.
  double r = double(2 * l + 1) / double(2 * lp + 1);
  for (int j = l - m + 1; j <= lp - mp; ++j) r /= j;
  for (int j = lp - mp + 1; j <= l - m; ++j) r *= j;
  for (int j = l + m + 1; j <= lp + mp; ++j) r *= j;
  for (int j = lp + mp + 1; j <= l + m; ++j) r /= j;
  const double two = double(m > 0) - double(mp > 0);  // the sqrt(2) of m > 0
  return std::sqrt(r * std::pow(2.0, two));
}

// Everything that depends on (lmax, normalization) alone, indexed by tri(l, m), m >= 0.
template <typename T>
struct Tables {
  int lmax;
  std::vector<T> qmm;   // q_m^m
  std::vector<T> a, b;  // q_l^m = a z q_{l-1}^m - b r^2 q_{l-2}^m
  std::vector<T> dx;    // dq_l^m/dx = -x dx q_{l-1}^{m+1}
  std::vector<T> dz;    // dq_l^m/dz = dz q_{l-1}^m
  std::vector<T> h1;    // d2 q_l^m/dx2 = -dx q_{l-1}^{m+1} + x^2 h1 q_{l-2}^{m+2}
  std::vector<T> h2;    // d2 q_l^m/dxdz = -x h2 q_{l-2}^{m+1}
  std::vector<T> h3;    // d2 q_l^m/dz2 = h3 q_{l-2}^m
  std::vector<T> f;     // block scale per l

  Tables(const ShOptions& o) : lmax(o.lmax) {
    const int n = tri(lmax + 1, 0);
    qmm.assign(lmax + 1, T(0));
    for (auto* v : {&a, &b, &dx, &dz, &h1, &h2, &h3}) v->assign(n, T(0));
    double q = std::sqrt(1.0 / (4.0 * kPi));  // K_0^0 Q_0^0
    for (int m = 0; m <= lmax; ++m) {
      // Q_m^m = (2m-1)!! Q_{m-1}^{m-1}
      if (m > 0) q *= (2 * m - 1) * k_ratio(m, m, m - 1, m - 1);
      qmm[m] = T(q);
    }
    for (int l = 0; l <= lmax; ++l) {
      for (int m = 0; m <= l; ++m) {
        const int i = tri(l, m);
        if (l >= m + 1) a[i] = T((2.0 * l - 1) / (l - m) * k_ratio(l, m, l - 1, m));
        if (l >= m + 2) b[i] = T(double(l + m - 1) / (l - m) * k_ratio(l, m, l - 2, m));
        if (m + 1 <= l - 1) dx[i] = T(k_ratio(l, m, l - 1, m + 1));
        if (m <= l - 1) dz[i] = T((l + m) * k_ratio(l, m, l - 1, m));
        if (m + 2 <= l - 2) h1[i] = T(k_ratio(l, m, l - 2, m + 2));
        if (m + 1 <= l - 2) h2[i] = T((l + m) * k_ratio(l, m, l - 2, m + 1));
        if (m <= l - 2) h3[i] = T(double(l + m) * (l + m - 1) * k_ratio(l, m, l - 2, m));
      }
    }
    f.resize(lmax + 1);
    for (int l = 0; l <= lmax; ++l) {
      switch (o.normalization) {
        case ShNormalization::Integral:
          f[l] = T(1);
          break;
        case ShNormalization::Component:
          f[l] = T(std::sqrt(4.0 * kPi));
          break;
        case ShNormalization::Norm:
          f[l] = T(std::sqrt(4.0 * kPi / (2 * l + 1)));
          break;
      }
    }
  }
};

// The tables as one array, in the order of Tables' members, for a device copy.
template <typename T>
std::vector<T> flatten(const Tables<T>& t) {
  std::vector<T> flat(t.qmm);
  for (const auto* v : {&t.a, &t.b, &t.dx, &t.dz, &t.h1, &t.h2, &t.h3, &t.f}) {
    flat.insert(flat.end(), v->begin(), v->end());
  }
  return flat;
}

}  // namespace sh_detail
}  // namespace e3core
