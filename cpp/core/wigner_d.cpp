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
//
// From Euler angles, D^l = Y(alpha) S Y(beta) S Y(gamma) (wigner_d_element.hpp) is cheaper and
// has derivatives of every order in closed form.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "e3core/wigner.hpp"
#include "wigner_d_element.hpp"

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

const std::vector<double>& wigner_D_swap_xy(int l) {
  check_l_n("wigner_D_swap_xy", l, 0);
  static std::mutex mutex;
  static std::map<int, std::unique_ptr<const std::vector<double>>> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  auto found = cache.find(l);
  if (found != cache.end()) return *found->second;
  const double swap[9] = {0, 1, 0, 1, 0, 0, 0, 0, -1};
  const int64_t dd = int64_t(2 * l + 1) * (2 * l + 1);
  std::vector<double> prev(std::max<int64_t>(dd, 9)), next(dd);
  auto table = std::make_unique<std::vector<double>>(dd);
  wigner_D_one(l, swap, table->data(), prev, next);
  return *cache.emplace(l, std::move(table)).first->second;
}

template <typename T>
void wigner_D(int l, const T* alpha, const T* beta, const T* gamma, int64_t n, T* out,
              EulerDerivative order, const Executor& exec) {
  check_l_n("wigner_D", l, n);
  if (order.alpha < 0 || order.beta < 0 || order.gamma < 0) {
    std::ostringstream msg;
    msg << "wigner_D: expected derivative orders >= 0, got (" << order.alpha << ", " << order.beta
        << ", " << order.gamma << ")";
    throw std::invalid_argument(msg.str());
  }
  const std::vector<double>& S = wigner_D_swap_xy(l);
  const int d = 2 * l + 1;
  const int64_t dd = int64_t(d) * d;
  const int64_t grain = std::max<int64_t>(1, 32768 / (dd * d));
  exec(n, grain, [&](int64_t begin, int64_t end) {
    std::vector<double> a(2 * d), b(2 * d), c(2 * d), YS(dd), X(dd);
    auto rows = [&](double t, int k, std::vector<double>& y) {
      for (int i = 0; i < d; ++i) wigner_detail::y_row(l, i, t, k, y[2 * i], y[2 * i + 1]);
    };
    for (int64_t r = begin; r < end; ++r) {
      rows(double(alpha[r]), order.alpha, a);
      rows(double(beta[r]), order.beta, b);
      rows(double(gamma[r]), order.gamma, c);
      // YS = Y(beta) S, then X = S YS: the rotation (or its derivative) about x.
      for (int m = 0; m < d; ++m) {
        for (int j = 0; j < d; ++j) {
          YS[m * d + j] = b[2 * m] * S[m * d + j] + b[2 * m + 1] * S[(2 * l - m) * d + j];
        }
      }
      for (int i = 0; i < d; ++i) {
        for (int j = 0; j < d; ++j) X[i * d + j] = 0.0;
        for (int m = 0; m < d; ++m) {
          const double s = S[i * d + m];
          if (s == 0.0) continue;
          for (int j = 0; j < d; ++j) X[i * d + j] += s * YS[m * d + j];
        }
      }
      // out = Y(alpha) X Y(gamma); column k of Y(gamma) holds row k's diagonal entry and row
      // (2l - k)'s anti-diagonal one.
      T* D = out + dd * r;
      for (int i = 0; i < d; ++i) {
        const double* x1 = &X[i * d];
        const double* x2 = &X[(2 * l - i) * d];
        for (int k = 0; k < d; ++k) {
          const double xk = a[2 * i] * x1[k] + a[2 * i + 1] * x2[k];
          const double xr = a[2 * i] * x1[2 * l - k] + a[2 * i + 1] * x2[2 * l - k];
          D[i * d + k] = T(xk * c[2 * k] + xr * c[2 * (2 * l - k) + 1]);
        }
      }
    }
  });
}

template void wigner_D_from_matrix<float>(int, const float*, int64_t, float*, const Executor&);
template void wigner_D_from_matrix<double>(int, const double*, int64_t, double*, const Executor&);
template void wigner_D<float>(int, const float*, const float*, const float*, int64_t, float*,
                              EulerDerivative, const Executor&);
template void wigner_D<double>(int, const double*, const double*, const double*, int64_t, double*,
                               EulerDerivative, const Executor&);

}  // namespace e3core
