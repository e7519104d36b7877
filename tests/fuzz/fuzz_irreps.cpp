// Fuzzes the irreps parser (strings come from users and from model files' metadata) and the sizes
// computed from what it accepts. The input is the string. Besides memory errors, it checks what
// must hold for any irreps: str() parses back to the same irreps, the slices tile [0, dim), and
// sorting, simplifying and regrouping keep the dimension.
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "e3core/irreps.hpp"

namespace {

using e3core::Irrep;
using e3core::Irreps;

// Lists of this many values are built; a larger count asks for gigabytes, which is the caller's
// choice to make, not a bug.
constexpr int64_t kMaxList = 1 << 16;

void require(bool condition) {
  if (!condition) __builtin_trap();
}

// Sizes of irreps that overflow int64 are reported with std::overflow_error.
template <typename F>
void sized(F&& f) {
  try {
    f();
  } catch (const std::overflow_error&) {
  }
}

void check_sizes(const Irreps& irreps) {
  sized([&] {
    const int64_t dim = irreps.dim();
    const std::vector<e3core::Slice> slices = irreps.slices();
    require(slices.size() == irreps.size());
    int64_t start = 0;
    for (size_t t = 0; t < slices.size(); ++t) {
      require(slices[t].start == start && slices[t].stop - start == irreps[t].dim());
      start = slices[t].stop;
    }
    require(start == dim);
    require(irreps.simplify().dim() == dim);
    require(irreps.regroup().dim() == dim);
    require(irreps.sort().irreps.dim() == dim);
  });
  sized([&] {
    const int64_t n = irreps.num_irreps();
    // count is a pass over the terms: a few, not one per term (quadratic in long strings).
    for (size_t t = 0; t < std::min<size_t>(irreps.size(), 4); ++t) {
      require(irreps.count(irreps[t].ir) <= n);
    }
    // ls() either lists n values or refuses a count no list can hold.
    if (n <= kMaxList) {
      require(int64_t(irreps.ls().size()) == n);
    } else if (uint64_t(n) > std::vector<int>().max_size()) {
      try {
        irreps.ls();
        require(false);
      } catch (const std::length_error&) {
      }
    }
    const Irreps middle = irreps.slice_by_mul(n / 3, n - n / 3);
    require(middle.num_irreps() == n - 2 * (n / 3));
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const Irrep ir = Irrep::parse(text);
    require(Irrep::parse(ir.str()) == ir);
  } catch (const std::invalid_argument&) {
  }
  Irreps irreps;
  try {
    irreps = Irreps::parse(text);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  require(Irreps::parse(irreps.str()) == irreps);
  check_sizes(irreps);
  check_sizes(irreps.repeat(3));
  sized([&] { check_sizes(irreps + irreps.simplify()); });
  try {
    irreps.lmax();
  } catch (const std::invalid_argument&) {
    require(irreps.remove_zero_multiplicities().empty());
  }
  if (!irreps.empty()) {
    const std::vector<Irrep> first = {irreps[0].ir};
    require(irreps.filter_keep(first).size() + irreps.filter_drop(first).size() == irreps.size());
  }
  // The product has up to 2 min(l1, l2) + 1 terms per pair: only for small irreps.
  if (irreps.size() <= 8) {
    bool small = true;
    for (const e3core::MulIr& term : irreps) small = small && term.ir.l <= 16;
    if (small) sized([&] { check_sizes(e3core::product(irreps, irreps)); });
  }
  return 0;
}
