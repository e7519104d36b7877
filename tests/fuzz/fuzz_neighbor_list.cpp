// Fuzzes neighbor_list and radius_graph with any positions, cell, periodicity, cutoff and flags
// (neighbor_input.hpp says how the input is read), in float and double, on up to 32 atoms.
// Besides memory errors, it checks the pairs against a brute force over the periodic images:
// every listed pair is within the cutoff, and the count is that of the brute force, but for pairs
// too close to the cutoff for rounding to decide. The output arrays are allocated at their exact
// sizes, so that AddressSanitizer sees any write past them.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "e3core/neighbor_list.hpp"
#include "neighbor_frame.hpp"
#include "neighbor_input.hpp"
#include "word_mutator.hpp"

namespace {

using e3core_fuzz::NeighborInput;
using Shift = std::array<int64_t, 3>;

void require(bool condition) {
  if (!condition) __builtin_trap();
}

void serial(int64_t n, int64_t grain, const e3core::RangeFn& fn) {
  grain = std::max<int64_t>(grain, 1);
  for (int64_t begin = 0; begin < n; begin += grain) fn(begin, std::min(n, begin + grain));
}

// x as T; a double beyond float's range becomes an infinity (a plain cast would be undefined).
template <typename T>
T narrow(double x) {
  if (std::abs(x) > double(std::numeric_limits<T>::max())) {
    return std::copysign(std::numeric_limits<T>::infinity(), T(x > 0 ? 1 : -1));
  }
  return T(x);
}

template <typename T>
std::vector<T> narrow_all(const double* x, size_t n) {
  std::vector<T> out(n);
  for (size_t k = 0; k < n; ++k) out[k] = narrow<T>(x[k]);
  return out;
}

// The shifts S, |S_c| <= reach[c], that can bring any atom within `cutoff` of another; false
// when the cell has no usable inverse or the shifts are too many to try.
bool shift_ranges(const double* cell, const std::array<bool, 3>& pbc, double cutoff,
                  const std::vector<double>& positions, std::array<int64_t, 3>& reach) {
  reach = {0, 0, 0};
  if (!(pbc[0] || pbc[1] || pbc[2])) return true;
  const double* a = cell;
  const double det = a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) +
                     a[2] * (a[3] * a[7] - a[4] * a[6]);
  if (!std::isfinite(det) || det == 0) return false;
  const std::array<double, 9> inverse = {
      (a[4] * a[8] - a[5] * a[7]) / det, (a[2] * a[7] - a[1] * a[8]) / det,
      (a[1] * a[5] - a[2] * a[4]) / det, (a[5] * a[6] - a[3] * a[8]) / det,
      (a[0] * a[8] - a[2] * a[6]) / det, (a[2] * a[3] - a[0] * a[5]) / det,
      (a[3] * a[7] - a[4] * a[6]) / det, (a[1] * a[6] - a[0] * a[7]) / det,
      (a[0] * a[4] - a[1] * a[3]) / det};
  // Along a periodic axis c, |(f_j - f_i + S)_c| <= cutoff |column c of the inverse|, f the
  // fractional coordinates: bound S_c by that and by the largest spread of f_c.
  double tries = 1;
  for (int c = 0; c < 3; ++c) {
    if (!pbc[size_t(c)]) continue;
    const double column =
        std::hypot(inverse[size_t(c)], inverse[size_t(3 + c)], inverse[size_t(6 + c)]);
    double lo = 0, hi = 0;
    for (size_t k = 0; k < positions.size(); k += 3) {
      const double f = positions[k] * inverse[size_t(c)] +
                       positions[k + 1] * inverse[size_t(3 + c)] +
                       positions[k + 2] * inverse[size_t(6 + c)];
      lo = k == 0 ? f : std::min(lo, f);
      hi = k == 0 ? f : std::max(hi, f);
    }
    const double bound = std::ceil(cutoff * column + (hi - lo)) + 1;
    if (!(bound < 1e4)) return false;
    reach[size_t(c)] = int64_t(bound);
    tries *= double(2 * reach[size_t(c)] + 1);
  }
  return tries * double(positions.size() / 3) * double(positions.size() / 3) < 2e4;
}

// Pair (i, j, S)'s vector, by the formula of neighbor_list's documentation (ase's).
std::array<double, 3> pair_vector(const double* positions, const double* cell, int64_t i, int64_t j,
                                  const Shift& s) {
  std::array<double, 3> d;
  for (int c = 0; c < 3; ++c) {
    double shift = 0;
    if (cell != nullptr) {
      for (int r = 0; r < 3; ++r) shift += double(s[size_t(r)]) * cell[3 * r + c];
    }
    d[size_t(c)] = (positions[3 * j + c] - positions[3 * i + c]) + shift;
  }
  return d;
}

double length(const std::array<double, 3>& d) {
  return std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
}

// How far from the cutoff a distance must be for the search's rounding not to matter: relative
// to the largest coordinate or cell translation involved, and to `base`.
double tolerance(const double* positions, int64_t i, int64_t j, const double* cell, const Shift& s,
                 double base) {
  double scale = base;
  for (int c = 0; c < 3; ++c) {
    scale += std::abs(positions[3 * i + c]) + std::abs(positions[3 * j + c]);
    if (cell == nullptr) continue;
    for (int r = 0; r < 3; ++r) scale += std::abs(double(s[size_t(r)]) * cell[3 * r + c]);
  }
  return 1e-9 * scale;
}

bool positive(const Shift& s) {
  return s[0] > 0 || (s[0] == 0 && (s[1] > 0 || (s[1] == 0 && s[2] > 0)));
}

template <typename T>
void fuzz_neighbor_list(const NeighborInput& in) {
  const int64_t n = in.atoms();
  const std::vector<T> positions = narrow_all<T>(in.positions.data(), in.positions.size());
  const std::vector<T> cell = narrow_all<T>(in.cell.data(), in.cell.size());
  e3core::NeighborListOptions options;
  options.cutoff = in.cutoff;
  options.pbc = {bool(in.flags & e3core_fuzz::kPbcX), bool(in.flags & e3core_fuzz::kPbcY),
                 bool(in.flags & e3core_fuzz::kPbcZ)};
  options.self_interaction = in.flags & e3core_fuzz::kSelfInteraction;
  options.full_list = in.flags & e3core_fuzz::kFullList;
  options.sorted = in.flags & e3core_fuzz::kSorted;
  // What the search sees, in double.
  const std::vector<double> p(positions.begin(), positions.end());
  const std::vector<double> cell_rows(cell.begin(), cell.end());
  const double* cell_or_null = in.null_cell ? nullptr : cell_rows.data();

  // A cutoff many cells wide lists up to millions of pairs, legitimately and slowly: inputs
  // expected to list more than 2e4 are skipped, unless they are so far past the search's limit
  // (2^20 bins reached per bin) that it must refuse them.
  try {
    const e3core::nl_detail::Frame frame =
        e3core::nl_detail::checked_frame("cutoff", options.cutoff, cell_or_null, options.pbc);
    const e3core::nl_detail::Mat3 inv = e3core::nl_detail::inverse(frame.rows);
    double images = 1;
    for (int c = 0; c < 3; ++c) {
      if (!options.pbc[size_t(c)]) continue;
      const double plane =
          e3core::nl_detail::norm({inv[0][size_t(c)], inv[1][size_t(c)], inv[2][size_t(c)]});
      images *= 2 * std::ceil(options.cutoff * plane) + 1;
    }
    if (images * double(n * n) > 2e4 && images < 1e7) return;
  } catch (const std::invalid_argument&) {
  }
  std::array<int64_t, 3> reach;
  const bool enumerable =
      in.cutoff >= 0 && in.cutoff <= 1e100 &&
      (cell_or_null != nullptr || !(options.pbc[0] || options.pbc[1] || options.pbc[2])) &&
      shift_ranges(cell_rows.data(), options.pbc, in.cutoff, p, reach);

  std::vector<int64_t> i, j, shifts;
  std::vector<T> distances, vectors;
  int64_t allocated = -1;
  const e3core::PairAllocator<T> allocate = [&](int64_t pairs) {
    require(allocated == -1 && pairs >= 0);
    allocated = pairs;
    i.resize(size_t(pairs));
    j.resize(size_t(pairs));
    shifts.resize(size_t(3 * pairs));
    distances.resize(size_t(pairs));
    vectors.resize(size_t(3 * pairs));
    return e3core::NeighborPairs<T>{i.data(), j.data(), shifts.data(), distances.data(),
                                    vectors.data()};
  };
  int64_t pairs;
  try {
    pairs = e3core::neighbor_list<T>(options, positions.data(), n,
                                     in.null_cell ? nullptr : cell.data(), allocate, serial);
  } catch (const std::invalid_argument&) {
    require(allocated == -1);
    return;
  }
  require(pairs == allocated);

  // The search moves atoms into the cell by whole periodic rows (of its reduced basis): its
  // rounding grows with their length too (atoms near the origin of a cell 1e100 long lose all
  // their digits).
  double base = options.cutoff;
  for (int r = 0; r < 3 && cell_or_null != nullptr; ++r) {
    for (int c = 0; c < 3 && options.pbc[size_t(r)]; ++c)
      base += std::abs(cell_rows[size_t(3 * r + c)]);
  }
  std::vector<std::tuple<int64_t, int64_t, Shift>> listed;
  std::vector<bool> seen(size_t(n), false);
  for (int64_t q = 0; q < pairs; ++q) {
    const Shift s = {shifts[size_t(3 * q)], shifts[size_t(3 * q + 1)], shifts[size_t(3 * q + 2)]};
    require(i[size_t(q)] >= 0 && i[size_t(q)] < n && j[size_t(q)] >= 0 && j[size_t(q)] < n);
    for (int c = 0; c < 3; ++c) require(options.pbc[size_t(c)] || s[size_t(c)] == 0);
    const bool self = i[size_t(q)] == j[size_t(q)] && s == Shift{0, 0, 0};
    require(!self || options.self_interaction);
    // Grouped by i (in the search's order of the atoms); sorted by i, then j and S, on request.
    if (q == 0 || i[size_t(q - 1)] != i[size_t(q)]) {
      require(!seen[size_t(i[size_t(q)])]);
      seen[size_t(i[size_t(q)])] = true;
      require(q == 0 || !options.sorted || i[size_t(q - 1)] < i[size_t(q)]);
    } else if (options.sorted) {
      require(std::tie(j[size_t(q - 1)], std::get<2>(listed.back())) < std::tie(j[size_t(q)], s));
    }
    const std::array<double, 3> d =
        pair_vector(p.data(), cell_or_null, i[size_t(q)], j[size_t(q)], s);
    for (int c = 0; c < 3; ++c) require(vectors[size_t(3 * q + c)] == T(d[size_t(c)]));
    require(distances[size_t(q)] == T(length(d)));
    require(length(d) <= options.cutoff + tolerance(p.data(), i[size_t(q)], j[size_t(q)],
                                                    cell_or_null, s, base));
    listed.emplace_back(i[size_t(q)], j[size_t(q)], s);
  }
  std::sort(listed.begin(), listed.end());
  require(std::adjacent_find(listed.begin(), listed.end()) == listed.end());
  if (!enumerable) return;

  // The brute force: every pair of atoms in every image within reach.
  int64_t sure = 0, unsure = 0;
  Shift s;
  for (int64_t a = 0; a < n; ++a) {
    for (int64_t b = 0; b < n; ++b) {
      for (s[0] = -reach[0]; s[0] <= reach[0]; ++s[0]) {
        for (s[1] = -reach[1]; s[1] <= reach[1]; ++s[1]) {
          for (s[2] = -reach[2]; s[2] <= reach[2]; ++s[2]) {
            const bool self = a == b && s == Shift{0, 0, 0};
            if (self && !options.self_interaction) continue;
            if (!self && !options.full_list && !(a < b || (a == b && positive(s)))) continue;
            const double d = length(pair_vector(p.data(), cell_or_null, a, b, s));
            const double tol = tolerance(p.data(), a, b, cell_or_null, s, base);
            if (d < options.cutoff - tol) {
              ++sure;
            } else if (d <= options.cutoff + tol) {
              ++unsure;
            }
          }
        }
      }
    }
  }
  require(sure <= pairs && pairs <= sure + unsure);
}

template <typename T>
void fuzz_radius_graph(const NeighborInput& in) {
  const int64_t n = in.atoms();
  const std::vector<T> positions = narrow_all<T>(in.positions.data(), in.positions.size());
  const std::vector<double> p(positions.begin(), positions.end());
  e3core::RadiusGraphOptions options;
  options.r_max = in.cutoff;
  options.loop = in.flags & e3core_fuzz::kSelfInteraction;
  options.max_num_neighbors = in.max_num_neighbors;
  const int64_t* batch = in.null_cell ? nullptr : in.batch.data();
  std::vector<int64_t> edges;
  int64_t allocated = -1;
  const auto allocate = [&](int64_t e) {
    require(allocated == -1 && e >= 0);
    allocated = e;
    edges.resize(size_t(2 * e));
    return edges.data();
  };
  int64_t e;
  try {
    e = e3core::radius_graph<T>(options, positions.data(), n, batch, allocate, serial);
  } catch (const std::invalid_argument&) {
    require(allocated == -1);
    return;
  }
  require(e == allocated);
  // Sorted by target, then source; per target, the sources within r_max in its molecule.
  std::vector<int64_t> per_target(size_t(n), 0);
  for (int64_t q = 0; q < e; ++q) {
    const int64_t src = edges[size_t(q)], dst = edges[size_t(e + q)];
    require(src >= 0 && src < n && dst >= 0 && dst < n);
    require(src != dst || options.loop);
    require(batch == nullptr || batch[src] == batch[dst]);
    if (q > 0)
      require(std::tie(edges[size_t(e + q - 1)], edges[size_t(q - 1)]) < std::tie(dst, src));
    const Shift zero = {0, 0, 0};
    const double d = length(pair_vector(p.data(), nullptr, dst, src, zero));
    require(d <= options.r_max + tolerance(p.data(), src, dst, nullptr, zero, options.r_max));
    ++per_target[size_t(dst)];
  }
  for (int64_t t = 0; t < n; ++t) {
    int64_t sure = 0, unsure = 0;
    for (int64_t src = 0; src < n; ++src) {
      if ((src == t && !options.loop) || (batch != nullptr && batch[src] != batch[t])) continue;
      const Shift zero = {0, 0, 0};
      const double d = length(pair_vector(p.data(), nullptr, t, src, zero));
      const double tol = tolerance(p.data(), src, t, nullptr, zero, options.r_max);
      if (d < options.r_max - tol) {
        ++sure;
      } else if (d <= options.r_max + tol) {
        ++unsure;
      }
    }
    const int64_t limit =
        options.max_num_neighbors < 0 ? n : std::min<int64_t>(n, options.max_num_neighbors);
    require(std::min(sure, limit) <= per_target[size_t(t)] &&
            per_target[size_t(t)] <= std::min(sure + unsure, limit));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const NeighborInput in = NeighborInput::read(data, size);
  const bool single = in.flags & e3core_fuzz::kFloat;
  if (in.flags & e3core_fuzz::kRadiusGraph) {
    single ? fuzz_radius_graph<float>(in) : fuzz_radius_graph<double>(in);
  } else {
    single ? fuzz_neighbor_list<float>(in) : fuzz_neighbor_list<double>(in);
  }
  return 0;
}

// Boundary values for one parameter: the largest accepted length (1e100) and just past it, the
// cutoff past which the search's padding counted as neighbours (about 1.75e150), infinities, NaN,
// subnormals, and lengths for which a cutoff spans many cells.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned seed) {
  static const uint64_t values[] = {
      0x0000000000000000,  // 0
      0x8000000000000000,  // -0
      0x3ff0000000000000,  // 1
      0xbff0000000000000,  // -1
      0x3fe0000000000000,  // 0.5
      0x4008000000000000,  // 3
      0x4130000000000000,  // 2^20
      0x54b249ad2594c37d,  // 1e100
      0x54b249ad2594c37e,  // 1e100, one ulp more
      0xd4b249ad2594c37d,  // -1e100
      0x5f138d352e5096af,  // 1e150
      0x5f211b8e888683d9,  // 1.75e150
      0x7e37e43c8800759c,  // 1e300
      0x7fefffffffffffff,  // the largest double
      0x7ff0000000000000,  // inf
      0xfff0000000000000,  // -inf
      0x7ff8000000000000,  // NaN
      0x0000000000000001,  // the smallest subnormal
      0x0010000000000000,  // the smallest normal
      0x3e45798ee2308c3a,  // 1e-8
      0x01a56e1fc2f8f359,  // 1e-300
  };
  return e3core_fuzz::mutate_words(data, size, max_size, seed, values);
}
