// Wigner 3j tensors in e3nn's real basis.
//
// e3nn computes su(2) Clebsch-Gordan coefficients by Racah's formula in exact fractions, moves
// them to its real basis with change_basis_real_to_complex and divides by the Frobenius norm.
// Racah's alternating sum cancels catastrophically in floating point at high l, so each
// coefficient is evaluated exactly: factorials as prime-exponent vectors, the sum as a big
// integer over their common factor, and only the final sqrt(rational) rounded to double.
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

#include "e3core/wigner.hpp"

namespace e3core {
namespace {

// Non-negative integer with 32-bit limbs, little-endian; just what Racah's sum needs.
class BigUint {
 public:
  explicit BigUint(uint32_t v = 0) {
    if (v) limbs_.push_back(v);
  }

  bool is_zero() const { return limbs_.empty(); }

  void mul_small(uint32_t f) {
    uint64_t carry = 0;
    for (auto& limb : limbs_) {
      const uint64_t t = uint64_t(limb) * f + carry;
      limb = uint32_t(t);
      carry = t >> 32;
    }
    if (carry) limbs_.push_back(uint32_t(carry));
    if (f == 0) limbs_.clear();
  }

  void mul_pow(uint32_t p, int e) {
    for (int i = 0; i < e; ++i) mul_small(p);
  }

  BigUint& operator+=(const BigUint& o) {
    limbs_.resize(std::max(limbs_.size(), o.limbs_.size()), 0);
    uint64_t carry = 0;
    for (size_t i = 0; i < limbs_.size(); ++i) {
      const uint64_t t = uint64_t(limbs_[i]) + (i < o.limbs_.size() ? o.limbs_[i] : 0) + carry;
      limbs_[i] = uint32_t(t);
      carry = t >> 32;
    }
    if (carry) limbs_.push_back(uint32_t(carry));
    return *this;
  }

  // Requires *this >= o.
  BigUint& operator-=(const BigUint& o) {
    int64_t borrow = 0;
    for (size_t i = 0; i < limbs_.size(); ++i) {
      int64_t t = int64_t(limbs_[i]) - (i < o.limbs_.size() ? o.limbs_[i] : 0) - borrow;
      borrow = t < 0;
      limbs_[i] = uint32_t(t + (borrow << 32));
    }
    while (!limbs_.empty() && limbs_.back() == 0) limbs_.pop_back();
    return *this;
  }

  bool operator<(const BigUint& o) const {
    if (limbs_.size() != o.limbs_.size()) return limbs_.size() < o.limbs_.size();
    return std::lexicographical_compare(limbs_.rbegin(), limbs_.rend(), o.limbs_.rbegin(),
                                        o.limbs_.rend());
  }

  // Value = mantissa * 2^exponent, mantissa rounded from the top 96 bits (relative error
  // ~1e-19 before the final rounding to double); never overflows, whatever the size.
  std::pair<double, int> to_double_exp() const {
    double m = 0;
    const size_t n = limbs_.size();
    const size_t top = std::min<size_t>(n, 3);
    for (size_t i = 0; i < top; ++i) m = m * 4294967296.0 + limbs_[n - 1 - i];
    return {m, int(32 * (n - top))};
  }

 private:
  std::vector<uint32_t> limbs_;
};

std::vector<int> primes_up_to(int n) {
  std::vector<bool> composite(std::max(n + 1, 2), false);
  std::vector<int> primes;
  for (int p = 2; p <= n; ++p) {
    if (composite[p]) continue;
    primes.push_back(p);
    for (int64_t q = int64_t(p) * p; q <= n; q += p) composite[q] = true;
  }
  return primes;
}

// Prime-exponent vectors of products and quotients of factorials.
struct Factorizer {
  std::vector<int> primes;

  // exps += sign * exponents of n! (Legendre's formula).
  void add_factorial(std::vector<int>& exps, int n, int sign) const {
    for (size_t i = 0; i < primes.size() && primes[i] <= n; ++i) {
      for (int64_t q = primes[i]; q <= n; q *= primes[i]) exps[i] += sign * int(n / q);
    }
  }

  void add_integer(std::vector<int>& exps, int n) const {
    for (size_t i = 0; i < primes.size() && n > 1; ++i) {
      while (n % primes[i] == 0) {
        n /= primes[i];
        ++exps[i];
      }
    }
  }
};

// <j1 m1 j2 m2 | j3 m1+m2> by Racah's formula, exactly as e3nn's _su2_clebsch_gordan_coeff.
double clebsch_gordan(const Factorizer& fz, int j1, int m1, int j2, int m2, int j3) {
  const int m3 = m1 + m2;
  const int vmin = std::max({-j1 + j2 + m3, -j1 + m1, 0});
  const int vmax = std::min({j2 + j3 + m1, j3 - j1 + j2, j3 + m3});
  if (vmin > vmax) return 0.0;
  const size_t np = fz.primes.size();

  // Exponents of each term of the sum; their minimum is factored out so the rest is integral.
  std::vector<std::vector<int>> terms(vmax - vmin + 1, std::vector<int>(np, 0));
  std::vector<int> common(np, 0);
  for (int v = vmin; v <= vmax; ++v) {
    auto& e = terms[v - vmin];
    fz.add_factorial(e, j2 + j3 + m1 - v, +1);
    fz.add_factorial(e, j1 - m1 + v, +1);
    fz.add_factorial(e, v, -1);
    fz.add_factorial(e, j3 - j1 + j2 - v, -1);
    fz.add_factorial(e, j3 + m3 - v, -1);
    fz.add_factorial(e, v + j1 - j2 - m3, -1);
    for (size_t i = 0; i < np; ++i) common[i] = v == vmin ? e[i] : std::min(common[i], e[i]);
  }
  BigUint pos, neg;
  for (int v = vmin; v <= vmax; ++v) {
    BigUint t(1);
    for (size_t i = 0; i < np; ++i) t.mul_pow(fz.primes[i], terms[v - vmin][i] - common[i]);
    (((v + j2 + m2) % 2 + 2) % 2 == 0 ? pos : neg) += t;
  }
  const bool negative = pos < neg;
  BigUint sum = negative ? neg : pos;
  sum -= negative ? pos : neg;
  if (sum.is_zero()) return 0.0;

  // Twice the exponents of sqrt(prefactor) * common factor.
  std::vector<int> twice(np, 0);
  fz.add_integer(twice, 2 * j3 + 1);
  fz.add_factorial(twice, j3 + j1 - j2, +1);
  fz.add_factorial(twice, j3 - j1 + j2, +1);
  fz.add_factorial(twice, j1 + j2 - j3, +1);
  fz.add_factorial(twice, j3 + m3, +1);
  fz.add_factorial(twice, j3 - m3, +1);
  fz.add_factorial(twice, j1 + j2 + j3 + 1, -1);
  fz.add_factorial(twice, j1 - m1, -1);
  fz.add_factorial(twice, j1 + m1, -1);
  fz.add_factorial(twice, j2 - m2, -1);
  fz.add_factorial(twice, j2 + m2, -1);
  BigUint den(1), rad(1);
  for (size_t i = 0; i < np; ++i) {
    const int t = twice[i] + 2 * common[i];
    const int half = t >= 0 ? t / 2 : -((-t + 1) / 2);  // floor(t / 2)
    if (half > 0) sum.mul_pow(fz.primes[i], half);
    if (half < 0) den.mul_pow(fz.primes[i], -half);
    if (t % 2 != 0) rad.mul_small(fz.primes[i]);
  }
  auto [mn, en] = sum.to_double_exp();
  auto [md, ed] = den.to_double_exp();
  auto [mr, er] = rad.to_double_exp();
  if (er % 2 != 0) {
    mr *= 2;
    er -= 1;
  }
  const double value = std::ldexp(mn / md * std::sqrt(mr), en - ed + er / 2);
  return negative ? -value : value;
}

// Sparse rows of e3nn's change_basis_real_to_complex(l): row l+m (complex basis) has entries at
// columns l+|m| and l-|m| (real basis), the whole matrix times (-i)^l.
using Entry = std::pair<int, std::complex<double>>;
std::vector<std::vector<Entry>> real_to_complex_rows(int l) {
  using C = std::complex<double>;
  const double s = 1 / std::sqrt(2.0);
  C phase(1, 0);
  for (int i = 0; i < l; ++i) phase *= C(0, -1);
  std::vector<std::vector<Entry>> rows(2 * l + 1);
  for (int m = -l; m <= l; ++m) {
    const int a = std::abs(m);
    const double sign = a % 2 ? -1.0 : 1.0;
    auto& row = rows[l + m];
    if (m < 0) row = {{l + a, C(s, 0)}, {l - a, C(0, -s)}};
    if (m == 0) row = {{l, C(1, 0)}};
    if (m > 0) row = {{l + a, C(sign * s, 0)}, {l - a, C(0, sign * s)}};
    for (auto& e : row) e.second *= phase;
  }
  return rows;
}

std::vector<double> compute_wigner_3j(int l1, int l2, int l3) {
  const Factorizer fz{primes_up_to(l1 + l2 + l3 + 1)};
  const int d1 = 2 * l1 + 1, d2 = 2 * l2 + 1, d3 = 2 * l3 + 1;
  const auto q1 = real_to_complex_rows(l1), q2 = real_to_complex_rows(l2),
             q3 = real_to_complex_rows(l3);
  // C_real[j, k, n] = sum Q1[a, j] Q2[b, k] conj(Q3[c, n]) CG[a, b, c]  (e3nn's einsum).
  std::vector<std::complex<double>> acc(size_t(d1) * d2 * d3);
  for (int m1 = -l1; m1 <= l1; ++m1) {
    for (int m2 = -l2; m2 <= l2; ++m2) {
      if (std::abs(m1 + m2) > l3) continue;
      const double cg = clebsch_gordan(fz, l1, m1, l2, m2, l3);
      if (cg == 0.0) continue;
      for (const auto& [j, x1] : q1[l1 + m1]) {
        for (const auto& [k, x2] : q2[l2 + m2]) {
          for (const auto& [n, x3] : q3[l3 + m1 + m2]) {
            acc[(size_t(j) * d2 + k) * d3 + n] += x1 * x2 * std::conj(x3) * cg;
          }
        }
      }
    }
  }
  std::vector<double> out(acc.size());
  double norm2 = 0;
  for (size_t i = 0; i < acc.size(); ++i) {
    out[i] = acc[i].real();  // the imaginary parts cancel exactly: (-i)^l makes C real
    norm2 += out[i] * out[i];
  }
  const double norm = std::sqrt(norm2);
  for (auto& x : out) x /= norm;
  return out;
}

}  // namespace

const std::vector<double>& wigner_3j(int l1, int l2, int l3) {
  if (l1 < 0 || l2 < 0 || l3 < 0 || l3 < std::abs(l1 - l2) || l3 > l1 + l2) {
    std::ostringstream msg;
    msg << "wigner_3j: (l1, l2, l3) = (" << l1 << ", " << l2 << ", " << l3 << ") ";
    if (l1 < 0 || l2 < 0 || l3 < 0) {
      msg << "has a negative l; expected l1, l2, l3 >= 0";
    } else {
      msg << "violates the triangle inequality |l1-l2| <= l3 <= l1+l2";
    }
    throw std::invalid_argument(msg.str());
  }
  using Key = std::tuple<int, int, int>;
  static std::mutex mutex;
  static std::map<Key, std::unique_ptr<const std::vector<double>>> cache;
  const Key key{l1, l2, l3};
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(key);
    if (it != cache.end()) return *it->second;
  }
  // Computed outside the lock so a slow high-l table does not block other lookups; if two
  // threads race, the first insertion wins and both return it.
  auto table = std::make_unique<const std::vector<double>>(compute_wigner_3j(l1, l2, l3));
  std::lock_guard<std::mutex> lock(mutex);
  return *cache.emplace(key, std::move(table)).first->second;
}

}  // namespace e3core
