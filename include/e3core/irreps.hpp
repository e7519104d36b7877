/// @file irreps.hpp
/// @brief Irreducible representations of O(3) and their direct sums, with e3nn 0.6's
/// conventions: strings ("16x0e+8x1o"), ordering, simplify/sort/regroup semantics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace e3core {

/// An irrep of O(3): degree l >= 0 and parity p = +1 (even, "e") or -1 (odd, "o").
struct Irrep {
  int l = 0;
  int p = 1;

  /// The scalar 0e.
  Irrep() = default;

  /// Throws std::invalid_argument unless l >= 0 and p is +1 or -1.
  Irrep(int l, int p);

  /// Parses e3nn's form "<l><parity>": "1e", "0o", "3y" ("y" is the parity (-1)^l of the
  /// spherical harmonics). Surrounding whitespace is ignored, and `l` is read like Python's int()
  /// (whitespace, a sign and single underscores between digits), as e3nn does.
  /// Throws std::invalid_argument quoting `text` and saying what is wrong.
  static Irrep parse(std::string_view text);

  /// All irreps with l <= lmax in e3nn's order: 0e, 0o, 1o, 1e, 2e, 2o, ... (for each l, the
  /// parity (-1)^l first). Throws std::invalid_argument if lmax < 0.
  static std::vector<Irrep> iterator(int lmax);

  /// e3nn's string: "1o", "2e".
  std::string str() const;

  /// 2l + 1.
  int64_t dim() const { return 2 * static_cast<int64_t>(l) + 1; }

  /// True for 0e only.
  bool is_scalar() const { return l == 0 && p == 1; }

  /// The irreps of the product of two irreps: l = |l1 - l2| .. l1 + l2, parity p1 * p2.
  std::vector<Irrep> operator*(const Irrep& other) const;

  /// Ordered like e3nn's tuple (l, p), so 0o < 0e < 1o < 1e.
  bool operator<(const Irrep& o) const { return l != o.l ? l < o.l : p < o.p; }
  bool operator==(const Irrep& o) const { return l == o.l && p == o.p; }
  bool operator!=(const Irrep& o) const { return !(*this == o); }
  bool operator>(const Irrep& o) const { return o < *this; }
  bool operator<=(const Irrep& o) const { return !(o < *this); }
  bool operator>=(const Irrep& o) const { return !(*this < o); }
};

/// `mul` copies of the irrep `ir`.
struct MulIr {
  int64_t mul = 0;
  Irrep ir;

  MulIr() = default;
  /// Throws std::invalid_argument if mul < 0.
  MulIr(int64_t mul, Irrep ir);

  /// mul * (2l + 1). Throws std::overflow_error naming the term if it exceeds int64.
  int64_t dim() const;

  /// e3nn's string: "3x1o".
  std::string str() const;

  bool operator==(const MulIr& o) const { return mul == o.mul && ir == o.ir; }
  bool operator!=(const MulIr& o) const { return !(*this == o); }
};

/// Half-open range [start, stop) of feature indices.
struct Slice {
  int64_t start = 0;
  int64_t stop = 0;
  bool operator==(const Slice& o) const { return start == o.start && stop == o.stop; }
};

class Irreps;

/// Result of Irreps::sort(), with e3nn's meaning of the two permutations:
/// `inv[j]` is the original index of sorted entry j, and `p[i]` is the sorted position of
/// original entry i (so sorted[p[i]] == original[i]).
struct SortedIrreps;

/// A direct sum of irreps: an ordered list of MulIr, kept as given (not merged, not sorted).
class Irreps {
 public:
  /// No irreps (dimension 0).
  Irreps() = default;
  explicit Irreps(std::vector<MulIr> terms) : terms_(std::move(terms)) {}
  /// One copy of `ir`.
  explicit Irreps(const Irrep& ir) : terms_{MulIr(1, ir)} {}

  /// Parses e3nn's form: terms "<mul>x<irrep>" or "<irrep>" (mul 1) joined by "+", e.g.
  /// "16x0e+8x1o", "2x3e + 1x0o". Whitespace around numbers and terms is ignored; a blank
  /// string gives no irreps. Throws std::invalid_argument quoting `text` and saying which term is
  /// wrong and how (bad multiplicity, negative l, missing or bad parity letter, empty term).
  static Irreps parse(std::string_view text);

  /// 0e + 1o + 2e + ... + lmax (p = -1), or all even (p = +1): the spherical harmonics.
  /// Throws std::invalid_argument if lmax < 0 or p is not +1 or -1.
  static Irreps spherical_harmonics(int lmax, int p = -1);

  /// e3nn's string: "16x0e+8x1o"; "" when empty.
  std::string str() const;

  const std::vector<MulIr>& terms() const { return terms_; }
  size_t size() const { return terms_.size(); }
  bool empty() const { return terms_.empty(); }
  const MulIr& operator[](size_t i) const { return terms_[i]; }
  std::vector<MulIr>::const_iterator begin() const { return terms_.begin(); }
  std::vector<MulIr>::const_iterator end() const { return terms_.end(); }

  /// Sum of mul * (2l + 1). Sizes computed from irreps (dim, num_irreps, slices, count, simplify,
  /// product) throw std::overflow_error naming the irreps when they exceed int64.
  int64_t dim() const;
  /// Sum of multiplicities.
  int64_t num_irreps() const;
  /// l of every copy, in order (each l repeated mul times).
  std::vector<int> ls() const;
  /// Largest l among terms of non-zero multiplicity (as e3nn, which takes max(ls)).
  /// Throws std::invalid_argument when there are none.
  int lmax() const;
  /// Feature range of each term.
  std::vector<Slice> slices() const;
  /// Total multiplicity of `ir`.
  int64_t count(const Irrep& ir) const;
  /// True if some term (even of multiplicity 0) is `ir`.
  bool contains(const Irrep& ir) const;

  /// Merges adjacent equal irreps and drops zero multiplicities; does not sort.
  Irreps simplify() const;
  /// Drops terms of multiplicity 0.
  Irreps remove_zero_multiplicities() const;
  /// Stable sort of the terms by irrep (l, p); see SortedIrreps for the permutations.
  SortedIrreps sort() const;
  /// sort() then simplify(): each irrep once, in order.
  Irreps regroup() const;

  /// Terms whose irrep is in `keep`.
  Irreps filter_keep(const std::vector<Irrep>& keep) const;
  /// Terms whose irrep is not in `drop`.
  Irreps filter_drop(const std::vector<Irrep>& drop) const;
  /// Terms with l <= lmax.
  Irreps filter_lmax(int lmax) const;
  /// The copies with global index in [start, stop) (indices count multiplicity, as e3nn's
  /// slice_by_mul), splitting terms at the ends; start is clamped to [0, num_irreps] and stop to
  /// [start, num_irreps].
  Irreps slice_by_mul(int64_t start, int64_t stop) const;

  /// Concatenation of the two lists.
  Irreps operator+(const Irreps& other) const;
  /// The list repeated n times (not multiplicities times n); n <= 0 gives no irreps, as for a
  /// Python tuple.
  Irreps repeat(int64_t n) const;

  bool operator==(const Irreps& o) const { return terms_ == o.terms_; }
  bool operator!=(const Irreps& o) const { return !(*this == o); }

 private:
  std::vector<MulIr> terms_;
};

struct SortedIrreps {
  Irreps irreps;
  std::vector<int64_t> p;
  std::vector<int64_t> inv;
};

/// `n` repetitions of the list, like `n * Irreps` in e3nn.
inline Irreps operator*(int64_t n, const Irreps& irreps) { return irreps.repeat(n); }
inline Irreps operator*(const Irreps& irreps, int64_t n) { return irreps.repeat(n); }

/// Every (mul1 * mul2, ir) for ir in ir1 * ir2, for each term of `a` (outer loop) and of `b`:
/// the output of e3nn's FullTensorProduct before it sorts it.
Irreps product(const Irreps& a, const Irreps& b);

}  // namespace e3core

/// Hashes, so Irrep can key unordered containers.
template <>
struct std::hash<e3core::Irrep> {
  size_t operator()(const e3core::Irrep& ir) const noexcept {
    return std::hash<int>()(ir.l) * 2 + (ir.p > 0 ? 1 : 0);
  }
};
