#include "e3core/irreps.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <optional>
#include <stdexcept>

#include "checked.hpp"

namespace e3core {
namespace {

constexpr std::string_view kWhitespace = " \t\n\r\f\v";

std::string_view strip(std::string_view s) {
  const size_t begin = s.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kWhitespace) - begin + 1);
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Irreps strings are ASCII; a multi-byte character would otherwise be split by the parser and
// its half quoted in the message. Empty when `text` is ASCII.
std::string non_ascii_error(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x80) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", byte);
      return "byte " + std::to_string(i) + " (" + hex +
             ") is not ASCII; irreps strings are made of digits, \"x\", \"e\", \"o\", \"y\", "
             "\"+\" and spaces";
    }
  }
  return {};
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

enum class IntStatus { kOk, kNotInteger, kTooLarge };

// Reads an integer the way Python's int(str) does, because e3nn parses with int(): surrounding
// whitespace, an optional sign, and digits with single underscores between them ("1_0" is 10).
IntStatus parse_int(std::string_view s, int64_t* value) {
  s = strip(s);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || !is_digit(s.front()) || !is_digit(s.back())) return IntStatus::kNotInteger;
  int64_t v = 0;
  bool too_large = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (!is_digit(s[i + 1])) return IntStatus::kNotInteger;  // "1__0"; s.back() is a digit
      continue;
    }
    if (!is_digit(s[i])) return IntStatus::kNotInteger;
    const int d = s[i] - '0';
    if (v > (std::numeric_limits<int64_t>::max() - d) / 10) too_large = true;
    if (!too_large) v = v * 10 + d;
  }
  if (too_large) return IntStatus::kTooLarge;
  *value = negative ? -v : v;
  return IntStatus::kOk;
}

// Parses "<l><parity>" as e3nn does (the last character is the parity, the rest is int()), or
// returns a message about `text` (already stripped) saying what is wrong.
std::optional<Irrep> parse_irrep(std::string_view text, std::string* error) {
  if (text.empty()) {
    *error = "empty irrep, expected e.g. \"1o\"";
    return std::nullopt;
  }
  const char parity = text.back();
  const std::string_view degree = text.substr(0, text.size() - 1);
  if (is_digit(parity)) {
    *error = quoted(text) + " has no parity letter after l, expected \"e\", \"o\" or \"y\"";
    return std::nullopt;
  }
  int64_t l = 0;
  switch (parse_int(degree, &l)) {
    case IntStatus::kOk:
      break;
    case IntStatus::kTooLarge:
      *error = quoted(text) + " has l = " + std::string(strip(degree)) + ", which is too large";
      return std::nullopt;
    case IntStatus::kNotInteger:
      *error = strip(degree).empty()
                   ? quoted(text) + " has no l before the parity"
                   : quoted(text) + " has l = " + quoted(degree) + ", which is not an integer";
      return std::nullopt;
  }
  if (l < 0) {
    *error = quoted(text) + " has negative l = " + std::to_string(l);
    return std::nullopt;
  }
  if (l > std::numeric_limits<int>::max()) {
    *error = quoted(text) + " has l = " + std::to_string(l) + ", which is too large";
    return std::nullopt;
  }
  const int li = static_cast<int>(l);
  switch (parity) {
    case 'e':
      return Irrep(li, 1);
    case 'o':
      return Irrep(li, -1);
    case 'y':
      return Irrep(li, li % 2 == 0 ? 1 : -1);
    default:
      *error = quoted(text) + " has parity " + quoted(std::string_view(&text.back(), 1)) +
               ", expected \"e\", \"o\" or \"y\"";
      return std::nullopt;
  }
}

// Parses one "+"-separated term of an Irreps string ("<mul>x<irrep>" or "<irrep>").
std::optional<MulIr> parse_term(std::string_view term, std::string* error) {
  const size_t x = term.find('x');
  if (x == std::string_view::npos) {
    const auto ir = parse_irrep(strip(term), error);
    if (!ir) return std::nullopt;
    return MulIr(1, *ir);
  }
  if (term.find('x', x + 1) != std::string_view::npos) {
    *error = quoted(strip(term)) + " has more than one \"x\"";
    return std::nullopt;
  }
  const std::string_view mul_text = term.substr(0, x);
  int64_t mul = 0;
  switch (parse_int(mul_text, &mul)) {
    case IntStatus::kOk:
      break;
    case IntStatus::kTooLarge:
      *error = quoted(strip(term)) + " has multiplicity " + std::string(strip(mul_text)) +
               ", which is too large";
      return std::nullopt;
    case IntStatus::kNotInteger:
      *error = strip(mul_text).empty() ? quoted(strip(term)) + " has no multiplicity before \"x\""
                                       : quoted(strip(term)) + " has multiplicity " +
                                             quoted(mul_text) + ", which is not an integer";
      return std::nullopt;
  }
  if (mul < 0) {
    *error = quoted(strip(term)) + " has negative multiplicity " + std::to_string(mul);
    return std::nullopt;
  }
  const auto ir = parse_irrep(strip(term.substr(x + 1)), error);
  if (!ir) return std::nullopt;
  return MulIr(mul, *ir);
}

}  // namespace

Irrep::Irrep(int l_, int p_) : l(l_), p(p_) {
  if (l < 0) {
    throw std::invalid_argument("Irrep(l=" + std::to_string(l) + ", p=" + std::to_string(p) +
                                "): l must be >= 0");
  }
  if (p != 1 && p != -1) {
    throw std::invalid_argument("Irrep(l=" + std::to_string(l) + ", p=" + std::to_string(p) +
                                "): parity p must be 1 or -1");
  }
}

Irrep Irrep::parse(std::string_view text) {
  std::string error = non_ascii_error(text);
  const auto ir = error.empty() ? parse_irrep(strip(text), &error) : std::nullopt;
  if (!ir) throw std::invalid_argument("Irrep(" + quoted(text) + "): " + error);
  return *ir;
}

std::vector<Irrep> Irrep::iterator(int lmax) {
  if (lmax < 0) {
    throw std::invalid_argument("Irrep.iterator(lmax=" + std::to_string(lmax) +
                                "): lmax must be >= 0");
  }
  std::vector<Irrep> out;
  out.reserve(2 * static_cast<size_t>(lmax) + 2);
  for (int l = 0; l <= lmax; ++l) {
    const int natural = l % 2 == 0 ? 1 : -1;
    out.emplace_back(l, natural);
    out.emplace_back(l, -natural);
  }
  return out;
}

std::string Irrep::str() const { return std::to_string(l) + (p == 1 ? "e" : "o"); }

std::vector<Irrep> Irrep::operator*(const Irrep& other) const {
  std::vector<Irrep> out;
  for (int lo = std::abs(l - other.l); lo <= l + other.l; ++lo) out.emplace_back(lo, p * other.p);
  return out;
}

MulIr::MulIr(int64_t mul_, Irrep ir_) : mul(mul_), ir(ir_) {
  if (mul < 0) {
    throw std::invalid_argument("MulIr(mul=" + std::to_string(mul) + ", ir=" + ir.str() +
                                "): multiplicity must be >= 0");
  }
}

namespace {

using detail::checked_add;
using detail::checked_mul;

const std::string kInt64Max = std::to_string(std::numeric_limits<int64_t>::max());

std::overflow_error too_large(const std::string& what) {
  return std::overflow_error(what + " exceeds the int64 limit " + kInt64Max);
}

// A sum over the terms (dims, multiplicities) that must not wrap around: it sizes and indexes
// features. `size_of` gives a term's part, or nothing when that part itself overflows.
template <typename F>
int64_t checked_sum(const Irreps& irreps, const char* what, F size_of) {
  int64_t total = 0;
  for (const MulIr& t : irreps) {
    const std::optional<int64_t> part = size_of(t);
    const std::optional<int64_t> sum = part ? checked_add(total, *part) : std::nullopt;
    if (!sum) throw too_large("Irreps(\"" + irreps.str() + "\")." + what);
    total = *sum;
  }
  return total;
}

std::optional<int64_t> term_dim(const MulIr& t) { return checked_mul(t.mul, t.ir.dim()); }

}  // namespace

int64_t MulIr::dim() const {
  const std::optional<int64_t> d = term_dim(*this);
  if (!d) throw too_large(str() + ": dim = mul * (2l + 1)");
  return *d;
}

std::string MulIr::str() const { return std::to_string(mul) + "x" + ir.str(); }

Irreps Irreps::parse(std::string_view text) {
  std::vector<MulIr> terms;
  if (strip(text).empty()) return Irreps();
  if (const std::string error = non_ascii_error(text); !error.empty()) {
    throw std::invalid_argument("Irreps(" + quoted(text) + "): " + error);
  }
  const size_t num_terms = std::count(text.begin(), text.end(), '+') + 1;
  size_t begin = 0;
  for (size_t i = 1; i <= num_terms; ++i) {
    const size_t end = std::min(text.find('+', begin), text.size());
    const std::string_view term = text.substr(begin, end - begin);
    std::string error;
    if (strip(term).empty()) {
      error = "term " + std::to_string(i) + " of " + std::to_string(num_terms) +
              " is empty (terms are separated by \"+\")";
    } else if (const auto mul_ir = parse_term(term, &error)) {
      terms.push_back(*mul_ir);
    }
    if (!error.empty()) throw std::invalid_argument("Irreps(" + quoted(text) + "): " + error);
    begin = end + 1;
  }
  return Irreps(std::move(terms));
}

Irreps Irreps::spherical_harmonics(int lmax, int p) {
  if (lmax < 0 || (p != 1 && p != -1)) {
    throw std::invalid_argument("Irreps.spherical_harmonics(lmax=" + std::to_string(lmax) + ", p=" +
                                std::to_string(p) + "): expected lmax >= 0 and p equal to 1 or -1");
  }
  std::vector<MulIr> terms;
  for (int l = 0; l <= lmax; ++l) terms.emplace_back(1, Irrep(l, (p == -1 && l % 2 == 1) ? -1 : 1));
  return Irreps(std::move(terms));
}

std::string Irreps::str() const {
  std::string out;
  for (size_t i = 0; i < terms_.size(); ++i) {
    if (i > 0) out += "+";
    out += terms_[i].str();
  }
  return out;
}

int64_t Irreps::dim() const { return checked_sum(*this, "dim", term_dim); }

int64_t Irreps::num_irreps() const {
  return checked_sum(*this, "num_irreps",
                     [](const MulIr& t) { return std::optional<int64_t>(t.mul); });
}

std::vector<int> Irreps::ls() const {
  std::vector<int> out;
  const int64_t n = num_irreps();  // checked
  if (uint64_t(n) > out.max_size()) {
    throw std::length_error("Irreps(\"" + str() + "\").ls: " + std::to_string(n) +
                            " values are more than a list can hold (" +
                            std::to_string(out.max_size()) + ")");
  }
  out.reserve(size_t(n));
  for (const auto& t : terms_) out.insert(out.end(), t.mul, t.ir.l);
  return out;
}

int Irreps::lmax() const {
  int lmax = -1;
  for (const auto& t : terms_) {
    if (t.mul > 0) lmax = std::max(lmax, t.ir.l);
  }
  if (lmax < 0) {
    throw std::invalid_argument("Irreps(\"" + str() + "\").lmax: " +
                                (empty() ? "Cannot get lmax of empty Irreps"
                                         : "every multiplicity is 0, so there is no l"));
  }
  return lmax;
}

std::vector<Slice> Irreps::slices() const {
  checked_sum(*this, "slices()", term_dim);  // then no partial sum below wraps
  std::vector<Slice> out;
  int64_t start = 0;
  for (const auto& t : terms_) {
    out.push_back({start, start + t.dim()});
    start += t.dim();
  }
  return out;
}

int64_t Irreps::count(const Irrep& ir) const {
  return checked_sum(*this, "count()", [&](const MulIr& t) {
    return std::optional<int64_t>(t.ir == ir ? t.mul : 0);
  });
}

bool Irreps::contains(const Irrep& ir) const {
  return std::any_of(terms_.begin(), terms_.end(), [&](const MulIr& t) { return t.ir == ir; });
}

Irreps Irreps::simplify() const {
  std::vector<MulIr> out;
  for (const auto& t : terms_) {
    // As e3nn: a zero multiplicity still merges into an equal predecessor (adding nothing).
    if (!out.empty() && out.back().ir == t.ir) {
      const std::optional<int64_t> mul = checked_add(out.back().mul, t.mul);
      if (!mul) throw too_large("Irreps(\"" + str() + "\").simplify(): a merged multiplicity");
      out.back().mul = *mul;
    } else if (t.mul > 0) {
      out.push_back(t);
    }
  }
  return Irreps(std::move(out));
}

Irreps Irreps::remove_zero_multiplicities() const {
  std::vector<MulIr> out;
  std::copy_if(terms_.begin(), terms_.end(), std::back_inserter(out),
               [](const MulIr& t) { return t.mul > 0; });
  return Irreps(std::move(out));
}

SortedIrreps Irreps::sort() const {
  SortedIrreps out;
  out.inv.resize(terms_.size());
  std::iota(out.inv.begin(), out.inv.end(), 0);
  // e3nn sorts (ir, index, mul) tuples: by irrep, ties kept in their original order.
  std::stable_sort(out.inv.begin(), out.inv.end(),
                   [&](int64_t a, int64_t b) { return terms_[a].ir < terms_[b].ir; });
  out.p.resize(terms_.size());
  std::vector<MulIr> sorted;
  sorted.reserve(terms_.size());
  for (size_t j = 0; j < out.inv.size(); ++j) {
    out.p[out.inv[j]] = static_cast<int64_t>(j);
    sorted.push_back(terms_[out.inv[j]]);
  }
  out.irreps = Irreps(std::move(sorted));
  return out;
}

Irreps Irreps::regroup() const { return sort().irreps.simplify(); }

Irreps Irreps::filter_keep(const std::vector<Irrep>& keep) const {
  std::vector<MulIr> out;
  std::copy_if(terms_.begin(), terms_.end(), std::back_inserter(out), [&](const MulIr& t) {
    return std::find(keep.begin(), keep.end(), t.ir) != keep.end();
  });
  return Irreps(std::move(out));
}

Irreps Irreps::filter_drop(const std::vector<Irrep>& drop) const {
  std::vector<MulIr> out;
  std::copy_if(terms_.begin(), terms_.end(), std::back_inserter(out), [&](const MulIr& t) {
    return std::find(drop.begin(), drop.end(), t.ir) == drop.end();
  });
  return Irreps(std::move(out));
}

Irreps Irreps::filter_lmax(int lmax) const {
  std::vector<MulIr> out;
  std::copy_if(terms_.begin(), terms_.end(), std::back_inserter(out),
               [&](const MulIr& t) { return t.ir.l <= lmax; });
  return Irreps(std::move(out));
}

Irreps Irreps::slice_by_mul(int64_t start, int64_t stop) const {
  const int64_t n = num_irreps();
  start = std::clamp<int64_t>(start, 0, n);
  // An empty range (stop <= start) still keeps the zero-multiplicity pieces e3nn gives for
  // stop == start; e3nn itself fails on stop < start.
  stop = std::clamp<int64_t>(stop, start, n);
  std::vector<MulIr> out;
  int64_t i = 0;
  for (const auto& t : terms_) {
    // Same cases as e3nn's _MulIndexSliceHelper, which keeps whole terms of multiplicity 0
    // lying inside the range.
    if (start <= i && i + t.mul <= stop) {
      out.push_back(t);
    } else if (start < i + t.mul && i < stop) {
      out.emplace_back(std::min(stop, i + t.mul) - std::max(start, i), t.ir);
    }
    i += t.mul;
  }
  return Irreps(std::move(out));
}

Irreps Irreps::operator+(const Irreps& other) const {
  std::vector<MulIr> out = terms_;
  out.insert(out.end(), other.terms_.begin(), other.terms_.end());
  return Irreps(std::move(out));
}

Irreps Irreps::repeat(int64_t n) const {
  std::vector<MulIr> out;
  for (int64_t k = 0; k < n; ++k) out.insert(out.end(), terms_.begin(), terms_.end());
  return Irreps(std::move(out));
}

Irreps product(const Irreps& a, const Irreps& b) {
  std::vector<MulIr> out;
  for (const auto& ta : a) {
    for (const auto& tb : b) {
      const std::optional<int64_t> mul = checked_mul(ta.mul, tb.mul);
      if (!mul) {
        throw too_large("the product of the irreps \"" + a.str() + "\" and \"" + b.str() + "\": " +
                        ta.str() + " x " + tb.str() + " has multiplicity mul1 * mul2, which");
      }
      for (const auto& ir : ta.ir* tb.ir) out.emplace_back(*mul, ir);
    }
  }
  return Irreps(std::move(out));
}

}  // namespace e3core
