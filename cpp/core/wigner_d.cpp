// Real Wigner D matrices by the Ivanic-Ruedenberg recursion (J. Phys. Chem. 100, 6342 (1996);
// erratum J. Phys. Chem. A 102, 9099 (1998)): D^l is built from D^{l-1} and D^1, each entry a
// sum of at most three products, so the cost is O(l^3) per rotation and the recursion is
// numerically stable (no matrix exponentials, no large cancellations).
//
// The recursion works in the real basis m = -1, 0, 1 of its own D^1. Feeding it R itself as D^1
// yields the representation whose l = 1 block is R in (x, y, z) order, as e3nn's; its basis at
// every l is then the standard real harmonics (no Condon-Shortley phase) of the permuted vector
// (z, x, y), polar axis y. That is exactly e3nn's real basis: compared with e3nn.o3.wigner_D
// entry by entry (tests/python/test_wigner.py) no per-(l, m) sign is needed.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "e3core/rotation.hpp"
#include "e3core/wigner.hpp"

namespace e3core {
namespace {

void check_l_n(const char* fn, int l, int64_t n) {
  if (l < 0 || n < 0) {
    std::ostringstream msg;
    msg << fn << ": expected l >= 0 and n >= 0, got l = " << l << ", n = " << n;
    throw std::invalid_argument(msg.str());
  }
}

// D^l(R) for one rotation into out[(2l+1)^2]; prev/next are scratch of at least (2l+1)^2.
void wigner_D_one(int l, const double* R, double* out, std::vector<double>& prev,
                  std::vector<double>& next) {
  if (l == 0) {
    out[0] = 1.0;
    return;
  }
  auto r = [R](int i, int j) { return R[(i + 1) * 3 + (j + 1)]; };
  std::copy(R, R + 9, prev.begin());
  for (int L = 2; L <= l; ++L) {
    const int dp = 2 * L - 1, d = 2 * L + 1;
    auto p_at = [&](int a, int b) { return prev[(a + L - 1) * dp + (b + L - 1)]; };
    // The recursion's P function: row i of D^1 coupled to column b of D^{L-1}.
    auto P = [&](int i, int a, int b) {
      if (b == L) return r(i, 1) * p_at(a, L - 1) - r(i, -1) * p_at(a, -L + 1);
      if (b == -L) return r(i, 1) * p_at(a, -L + 1) + r(i, -1) * p_at(a, L - 1);
      return r(i, 0) * p_at(a, b);
    };
    for (int m = -L; m <= L; ++m) {
      const int am = std::abs(m);
      const double d0 = m == 0 ? 1.0 : 0.0;
      for (int mp = -L; mp <= L; ++mp) {
        const double denom = std::abs(mp) < L ? double(L + mp) * (L - mp) : 2.0 * L * (2 * L - 1);
        const double u = std::sqrt((L + m) * (L - m) / denom);
        const double v = 0.5 * std::sqrt((1 + d0) * (L + am - 1) * (L + am) / denom) * (1 - 2 * d0);
        const double w = -0.5 * std::sqrt((L - am - 1) * (L - am) / denom) * (1 - d0);
        double value = u != 0.0 ? u * P(0, m, mp) : 0.0;
        if (m == 0) {
          value += v * (P(1, 1, mp) + P(-1, -1, mp));
        } else if (m > 0) {
          const double s = m == 1 ? std::sqrt(2.0) : 1.0;
          value += v * (P(1, m - 1, mp) * s - (m == 1 ? 0.0 : P(-1, -m + 1, mp)));
          if (w != 0.0) value += w * (P(1, m + 1, mp) + P(-1, -m - 1, mp));
        } else {
          const double s = m == -1 ? std::sqrt(2.0) : 1.0;
          value += v * ((m == -1 ? 0.0 : P(1, m + 1, mp)) + P(-1, -m - 1, mp) * s);
          if (w != 0.0) value += w * (P(1, m - 1, mp) - P(-1, -m + 1, mp));
        }
        next[(m + L) * d + (mp + L)] = value;
      }
    }
    std::swap(prev, next);
  }
  std::copy(prev.begin(), prev.begin() + (2 * l + 1) * (2 * l + 1), out);
}

}  // namespace

template <typename T>
void wigner_D_from_matrix(int l, const T* R, int64_t n, T* out, const Executor& exec) {
  check_l_n("wigner_D_from_matrix", l, n);
  const int64_t d = 2 * l + 1, dd = d * d;
  const int64_t grain = std::max<int64_t>(1, 32768 / (dd * d));
  exec(n, grain, [&](int64_t begin, int64_t end) {
    std::vector<double> prev(std::max<int64_t>(dd, 9)), next(dd), Rd(9), Dd(dd);
    for (int64_t i = begin; i < end; ++i) {
      std::copy(R + 9 * i, R + 9 * i + 9, Rd.begin());
      wigner_D_one(l, Rd.data(), Dd.data(), prev, next);
      std::copy(Dd.begin(), Dd.end(), out + dd * i);
    }
  });
}

template <typename T>
void wigner_D(int l, const T* alpha, const T* beta, const T* gamma, int64_t n, T* out,
              const Executor& exec) {
  check_l_n("wigner_D", l, n);
  std::vector<T> R(9 * n);
  angles_to_matrix(alpha, beta, gamma, n, R.data(), exec);
  wigner_D_from_matrix(l, R.data(), n, out, exec);
}

template void wigner_D_from_matrix<float>(int, const float*, int64_t, float*, const Executor&);
template void wigner_D_from_matrix<double>(int, const double*, int64_t, double*, const Executor&);
template void wigner_D<float>(int, const float*, const float*, const float*, int64_t, float*,
                              const Executor&);
template void wigner_D<double>(int, const double*, const double*, const double*, int64_t, double*,
                               const Executor&);

}  // namespace e3core
