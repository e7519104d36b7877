#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "e3core/neighbor_list.hpp"
#include "e3core/parallel.hpp"

namespace {

using e3core::NeighborListOptions;
using e3core::RadiusGraphOptions;
using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>;  // i, j, S

NeighborListOptions options(double cutoff, std::array<bool, 3> pbc) {
  NeighborListOptions o;
  o.cutoff = cutoff;
  o.pbc = pbc;
  return o;
}

template <typename T = double>
struct Pairs {
  std::vector<int64_t> i, j, shifts;
  std::vector<T> d, vectors;

  size_t size() const { return i.size(); }
  Key key(size_t p) const {
    return {i[p], j[p], shifts[3 * p], shifts[3 * p + 1], shifts[3 * p + 2]};
  }
  std::vector<Key> keys() const {
    std::vector<Key> out;
    for (size_t p = 0; p < size(); ++p) out.push_back(key(p));
    return out;
  }
};

template <typename T>
Pairs<T> search(const NeighborListOptions& o, const std::vector<T>& x, const T* cell) {
  Pairs<T> out;
  int calls = 0;
  const int64_t n =
      e3core::neighbor_list<T>(o, x.data(), int64_t(x.size() / 3), cell, [&](int64_t m) {
        ++calls;
        out.i.resize(size_t(m));
        out.j.resize(size_t(m));
        out.shifts.resize(size_t(3 * m));
        out.d.resize(size_t(m));
        out.vectors.resize(size_t(3 * m));
        return e3core::NeighborPairs<T>{out.i.data(), out.j.data(), out.shifts.data(), out.d.data(),
                                        out.vectors.data()};
      });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(size_t(n), out.size());
  return out;
}

// Every pair by brute force: each atom against every image that can be within the cutoff of
// atoms up to one cell outside the cell (or `images` cells along every periodic axis).
std::vector<Key> brute_force(const NeighborListOptions& o, const std::vector<double>& x,
                             const double* cell, int images = -1) {
  const int64_t n = int64_t(x.size() / 3);
  std::vector<Key> out;
  int r[3] = {0, 0, 0};
  for (int c = 0; c < 3; ++c) {
    if (!o.pbc[size_t(c)]) continue;
    const double* a = cell + 3 * ((c + 1) % 3);
    const double* b = cell + 3 * ((c + 2) % 3);
    const double* v = cell + 3 * c;
    const double n0 = a[1] * b[2] - a[2] * b[1], n1 = a[2] * b[0] - a[0] * b[2],
                 n2 = a[0] * b[1] - a[1] * b[0];
    const double width = std::abs(v[0] * n0 + v[1] * n1 + v[2] * n2) / std::hypot(n0, n1, n2);
    r[c] = images >= 0 ? images : int(std::ceil(o.cutoff / width)) + 3;
  }
  const int r0 = r[0], r1 = r[1], r2 = r[2];
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      for (int s0 = -r0; s0 <= r0; ++s0) {
        for (int s1 = -r1; s1 <= r1; ++s1) {
          for (int s2 = -r2; s2 <= r2; ++s2) {
            if (i == j && s0 == 0 && s1 == 0 && s2 == 0 && !o.self_interaction) continue;
            double d2 = 0;
            for (int c = 0; c < 3; ++c) {
              double v = x[3 * j + c] - x[3 * i + c];
              if (cell) v += s0 * cell[c] + s1 * cell[3 + c] + s2 * cell[6 + c];
              d2 += v * v;
            }
            if (d2 < o.cutoff * o.cutoff) out.emplace_back(i, j, s0, s1, s2);
          }
        }
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Key> sorted_keys(const Pairs<double>& p) {
  auto keys = p.keys();
  std::sort(keys.begin(), keys.end());
  return keys;
}

struct System {
  std::vector<double> x;
  std::array<double, 9> cell;
};

// n atoms in a random triclinic cell, some of them outside it (they are wrapped).
System random_system(int64_t n, std::mt19937_64& rng, double scale = 3.0) {
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> frac(-0.5, 1.5);
  System s;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c)
      s.cell[size_t(3 * r + c)] = (r == c ? scale : 0) + 0.4 * normal(rng);
  }
  for (int64_t a = 0; a < n; ++a) {
    const double f[3] = {frac(rng), frac(rng), frac(rng)};
    for (int c = 0; c < 3; ++c) {
      s.x.push_back(f[0] * s.cell[size_t(c)] + f[1] * s.cell[size_t(3 + c)] +
                    f[2] * s.cell[size_t(6 + c)]);
    }
  }
  return s;
}

TEST(NeighborList, MatchesBruteForceOnTriclinicCellsWithMixedPeriodicity) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> cutoff(0.5, 5.0);
  for (int trial = 0; trial < 40; ++trial) {
    const System s = random_system(1 + trial % 17, rng);
    NeighborListOptions o = options(cutoff(rng), {trial % 2 == 0, trial % 3 != 0, trial % 5 < 3});
    o.self_interaction = trial % 4 == 0;
    EXPECT_EQ(sorted_keys(search(o, s.x, s.cell.data())), brute_force(o, s.x, s.cell.data()))
        << "trial " << trial;
  }
}

TEST(NeighborList, CutoffsSeveralTimesTheCellFindEveryImage) {
  std::mt19937_64 rng(4);
  for (double cutoff : {2.5, 4.0, 7.0}) {
    const System s = random_system(3, rng, 1.0);
    NeighborListOptions o = options(cutoff, {true, true, true});
    EXPECT_EQ(sorted_keys(search(o, s.x, s.cell.data())), brute_force(o, s.x, s.cell.data()));
  }
}

TEST(NeighborList, StronglySkewedCellsGiveTheirLatticesPairs) {
  // Unit-volume cells whose faces are a few hundredths apart: the search bins a reduced basis of
  // the same lattice, and its shifts must come back in the cell's own rows.
  const double cells[2][9] = {{1, 0, 0, 7.3, 1, 0, -3.2, 4.1, 1}, {1, 0.2, 0, 9, 1, 0, 0, 0, 2}};
  std::mt19937_64 rng(13);
  std::uniform_real_distribution<double> u(0, 1);
  for (const auto& cell : cells) {
    for (const std::array<bool, 3> pbc :
         {std::array<bool, 3>{true, true, true}, {true, true, false}}) {
      std::vector<double> x;
      for (int a = 0; a < 4; ++a) {
        const double f[3] = {u(rng), u(rng), u(rng)};
        for (int c = 0; c < 3; ++c)
          x.push_back(f[0] * cell[c] + f[1] * cell[3 + c] + f[2] * cell[6 + c]);
      }
      const NeighborListOptions o = options(1.8, pbc);
      EXPECT_EQ(sorted_keys(search(o, x, cell)), brute_force(o, x, cell));
    }
  }
}

TEST(NeighborList, OneAtomSeesItsOwnImages) {
  const std::vector<double> x = {0.2, 0.3, 0.4};
  const double cell[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  NeighborListOptions o = options(2.5, {true, true, true});
  int expected = 0;  // integer vectors S != 0 with |S| < 2.5
  for (int a = -2; a <= 2; ++a) {
    for (int b = -2; b <= 2; ++b) {
      for (int c = -2; c <= 2; ++c) expected += (a || b || c) && a * a + b * b + c * c < 6.25;
    }
  }
  const auto p = search(o, x, cell);
  EXPECT_EQ(int(p.size()), expected);
  for (size_t k = 0; k < p.size(); ++k) EXPECT_EQ(p.i[k], 0);
  o.self_interaction = true;
  EXPECT_EQ(int(search(o, x, cell).size()), expected + 1);
}

TEST(NeighborList, IsolatedMoleculeNeedsNoCell) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  std::vector<double> x(3 * 40);
  for (double& v : x) v = 2 * normal(rng);
  NeighborListOptions o;
  o.cutoff = 1.7;
  const auto expected = brute_force(o, x, nullptr);
  EXPECT_EQ(sorted_keys(search<double>(o, x, nullptr)), expected);
  // A cell on non-periodic axes changes nothing, even a zero one.
  const double zero[9] = {};
  EXPECT_EQ(sorted_keys(search(o, x, zero)), expected);
}

TEST(NeighborList, DiluteGasInAHugeBox) {
  std::mt19937_64 rng(6);
  std::uniform_real_distribution<double> u(0, 1000);
  std::vector<double> x(3 * 30);
  for (double& v : x) v = u(rng);
  x[3] = x[0] + 0.5;  // one close pair
  x[4] = x[1];
  x[5] = x[2];
  const double cell[9] = {1000, 0, 0, 0, 1000, 0, 0, 0, 1000};
  NeighborListOptions o = options(3, {true, true, true});
  EXPECT_EQ(sorted_keys(search(o, x, cell)), brute_force(o, x, cell));
}

TEST(NeighborList, VectorsAndDistancesFollowAse) {
  std::mt19937_64 rng(7);
  const System s = random_system(12, rng);
  NeighborListOptions o = options(3.5, {true, false, true});
  const auto p = search(o, s.x, s.cell.data());
  ASSERT_GT(p.size(), 0u);
  for (size_t k = 0; k < p.size(); ++k) {
    double d2 = 0;
    for (int c = 0; c < 3; ++c) {
      double v = s.x[size_t(3 * p.j[k] + c)] - s.x[size_t(3 * p.i[k] + c)];
      for (int r = 0; r < 3; ++r)
        v += double(p.shifts[3 * k + size_t(r)]) * s.cell[size_t(3 * r + c)];
      EXPECT_NEAR(p.vectors[3 * k + size_t(c)], v, 1e-12);
      d2 += v * v;
    }
    EXPECT_NEAR(p.d[k], std::sqrt(d2), 1e-12);
    EXPECT_LT(p.d[k], o.cutoff);
  }
}

TEST(NeighborList, HalfListHasEachUnorderedPairOnce) {
  std::mt19937_64 rng(8);
  for (bool sorted : {false, true}) {
    const System s = random_system(9, rng, 2.0);
    NeighborListOptions o = options(3.0, {true, true, false});
    o.self_interaction = true;
    o.sorted = sorted;
    const auto full = sorted_keys(search(o, s.x, s.cell.data()));
    o.full_list = false;
    const auto half = search(o, s.x, s.cell.data());
    std::vector<Key> both;
    for (size_t k = 0; k < half.size(); ++k) {
      const auto [i, j, s0, s1, s2] = half.key(k);
      EXPECT_TRUE(i < j || (i == j && std::make_tuple(s0, s1, s2) >= std::make_tuple(0, 0, 0)));
      both.push_back(half.key(k));
      if (i != j || s0 || s1 || s2) both.emplace_back(j, i, -s0, -s1, -s2);
    }
    std::sort(both.begin(), both.end());
    EXPECT_EQ(both, full) << "sorted " << sorted;
  }
}

TEST(NeighborList, SortedByIThenJThenShift) {
  std::mt19937_64 rng(9);
  const System s = random_system(15, rng, 1.5);
  NeighborListOptions o = options(3.2, {true, true, true});
  o.sorted = true;
  const auto p = search(o, s.x, s.cell.data());
  const auto keys = p.keys();
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());
}

TEST(NeighborList, SameOutputWhateverTheThreads) {
  std::mt19937_64 rng(10);
  const System s = random_system(3000, rng, 30.0);
  NeighborListOptions o = options(3.0, {true, true, true});
  for (bool sorted : {false, true}) {
    o.sorted = sorted;
    e3core::set_num_threads(1);
    const auto one = search(o, s.x, s.cell.data());
    e3core::set_num_threads(3);
    const auto three = search(o, s.x, s.cell.data());
    e3core::set_num_threads(0);
    EXPECT_EQ(one.keys(), three.keys());
    EXPECT_EQ(one.vectors, three.vectors);
  }
}

TEST(NeighborList, FloatGivesTheSamePairs) {
  std::mt19937_64 rng(11);
  const System s = random_system(20, rng);
  NeighborListOptions o = options(2.0, {true, true, true});
  const std::vector<float> xf(s.x.begin(), s.x.end());
  const std::vector<float> cf(s.cell.begin(), s.cell.end());
  // Rounded to float; compared with the brute force on the same rounded numbers.
  const std::vector<double> xr(xf.begin(), xf.end());
  const std::vector<double> cr(cf.begin(), cf.end());
  auto keys = search(o, xf, cf.data()).keys();
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, brute_force(o, xr, cr.data()));
}

TEST(NeighborList, NoAtomsOrZeroCutoffGiveNoPairs) {
  NeighborListOptions o;
  o.cutoff = 2;
  EXPECT_EQ(search<double>(o, {}, nullptr).size(), 0u);
  o.cutoff = 0;
  o.self_interaction = true;
  EXPECT_EQ(search<double>(o, {0, 0, 0, 0, 0, 0}, nullptr).size(), 0u);
}

void expect_invalid(const NeighborListOptions& o, const std::vector<double>& x, const double* cell,
                    const std::string& needle, int64_t n = -2) {
  try {
    e3core::neighbor_list<double>(o, x.data(), n == -2 ? int64_t(x.size() / 3) : n, cell,
                                  [](int64_t) { return e3core::NeighborPairs<double>{}; });
    ADD_FAILURE() << "no error, expected one about " << needle;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(NeighborList, BadInputsNameTheArgument) {
  const std::vector<double> x = {0, 0, 0, 1, 0, 0};
  const double cell[9] = {2, 0, 0, 0, 2, 0, 0, 0, 2};
  NeighborListOptions o;
  o.pbc = {true, true, true};
  for (double c : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    o.cutoff = c;
    expect_invalid(o, x, cell, "cutoff is");
  }
  o.cutoff = 1.5;
  expect_invalid(o, {0, std::nan(""), 0}, cell, "positions[0]");
  expect_invalid(o, {0, 0, 0, 0, 0, std::numeric_limits<double>::infinity()}, cell, "positions[1]");
  expect_invalid(o, x, nullptr, "cell is missing");
  const double parallel[9] = {1, 0, 0, 2, 0, 0, 0, 0, 1};
  expect_invalid(o, x, parallel, "cell is singular");
  const double nan_cell[9] = {1, 0, 0, 0, std::nan(""), 0, 0, 0, 1};
  expect_invalid(o, x, nan_cell, "cell[1][1]");
  o.pbc = {true, false, false};
  const double zero_row[9] = {0, 0, 0, 0, 1, 0, 0, 0, 1};
  expect_invalid(o, x, zero_row, "cell is singular");
  o.pbc = {false, true, true};  // rows 1 and 2 are fine, row 0 is not used
  EXPECT_EQ(sorted_keys(search(o, x, zero_row)), brute_force(o, x, zero_row, 5));
  expect_invalid(o, x, cell, "n is -1", -1);
  o.pbc = {true, true, true};
  o.cutoff = 1e6;  // a million cells: far too many images
  expect_invalid(o, x, cell, "cutoff is");
}

// radius_graph's edges by brute force: for each target, the sources sorted by index.
std::vector<std::pair<int64_t, int64_t>> brute_radius_graph(const RadiusGraphOptions& o,
                                                            const std::vector<double>& x,
                                                            const std::vector<int64_t>& batch) {
  const int64_t n = int64_t(x.size() / 3);
  std::vector<std::pair<int64_t, int64_t>> edges;  // (target, source)
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::pair<double, int64_t>> near;
    for (int64_t j = 0; j < n; ++j) {
      if ((!batch.empty() && batch[size_t(i)] != batch[size_t(j)]) || (i == j && !o.loop)) continue;
      double d2 = 0;
      for (int c = 0; c < 3; ++c) d2 += std::pow(x[size_t(3 * j + c)] - x[size_t(3 * i + c)], 2);
      if (d2 < o.r_max * o.r_max) near.emplace_back(d2, j);
    }
    std::sort(near.begin(), near.end());
    if (o.max_num_neighbors >= 0 && near.size() > size_t(o.max_num_neighbors)) {
      near.resize(size_t(o.max_num_neighbors));
    }
    std::vector<int64_t> sources;
    for (const auto& [d2, j] : near) sources.push_back(j);
    std::sort(sources.begin(), sources.end());
    for (int64_t j : sources) edges.emplace_back(i, j);
  }
  return edges;
}

std::vector<std::pair<int64_t, int64_t>> radius_graph(const RadiusGraphOptions& o,
                                                      const std::vector<double>& x,
                                                      const std::vector<int64_t>& batch) {
  std::vector<int64_t> edges;
  const int64_t e = e3core::radius_graph<double>(
      o, x.data(), int64_t(x.size() / 3), batch.empty() ? nullptr : batch.data(), [&](int64_t m) {
        edges.resize(size_t(2 * m));
        return edges.data();
      });
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t k = 0; k < e; ++k) out.emplace_back(edges[size_t(e + k)], edges[size_t(k)]);
  return out;
}

TEST(RadiusGraph, MatchesBruteForceWithBatchLoopAndMaxNeighbors) {
  std::mt19937_64 rng(12);
  std::normal_distribution<double> normal;
  std::uniform_int_distribution<int64_t> molecule(0, 4);
  for (int trial = 0; trial < 24; ++trial) {
    const int64_t n = 5 + 7 * trial % 61;
    std::vector<double> x(size_t(3 * n));
    for (double& v : x) v = 1.5 * normal(rng);
    std::vector<int64_t> batch;
    if (trial % 3 != 0) {
      for (int64_t a = 0; a < n; ++a) batch.push_back(molecule(rng));
      if (trial % 3 == 1) std::sort(batch.begin(), batch.end());
    }
    RadiusGraphOptions o;
    o.r_max = 0.5 + 0.1 * trial;
    o.loop = trial % 2 == 0;
    o.max_num_neighbors = trial % 4 == 0 ? -1 : trial % 5;
    EXPECT_EQ(radius_graph(o, x, batch), brute_radius_graph(o, x, batch)) << "trial " << trial;
  }
}

TEST(RadiusGraph, BadInputsNameTheArgument) {
  RadiusGraphOptions o;
  o.r_max = -1;
  EXPECT_THROW(radius_graph(o, {0, 0, 0}, {}), std::invalid_argument);
  o.r_max = 1;
  try {
    radius_graph(o, {0, 0, std::nan("")}, {});
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("positions[0]"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(radius_graph(o, {}, {}).empty());
}

}  // namespace

// Issue 15: cutoffs past ~1.75e150 counted the search's padding as neighbours (wrong pairs, then
// crashes); they are rejected with the limit.
TEST(NeighborList, HugeCutoffsAreRejected) {
  const std::vector<double> x = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1};
  for (const double cutoff : {1.75e150, 1e101, 1e300}) {
    try {
      search<double>(options(cutoff, {false, false, false}), x, nullptr);
      FAIL() << "no error for cutoff " << cutoff;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("expected a finite number in [0, 1e100]"),
                std::string::npos)
          << e.what();
      EXPECT_EQ(std::string(e.what()).rfind("cutoff is ", 0), 0u) << e.what();
    }
  }
  EXPECT_EQ(search<double>(options(1e100, {false, false, false}), x, nullptr).size(), 20u);

  // Atoms near the padding at (1e150, 1e150, 1e150) met it the same way.
  std::vector<double> far = x;
  for (double& c : far) c += 1e150;
  try {
    search<double>(options(1.0, {false, false, false}), far, nullptr);
    FAIL() << "no error for positions near 1e150";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("expected finite coordinates of magnitude at most 1e100"),
              std::string::npos)
        << e.what();
  }
  const double cell[9] = {1e150, 0, 0, 0, 1e150, 0, 0, 0, 1e150};
  try {
    search<double>(options(1.0, {true, true, true}), x, cell);
    FAIL() << "no error for a cell of 1e150";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("entries of magnitude at most 1e100"), std::string::npos)
        << e.what();
  }
}

// Found by tests/fuzz (fuzz_neighbor_list): below about 1e-154 a cutoff's square underflows, and
// two atoms at the same place were not within a cutoff of 1e-160; such cutoffs are rejected.
TEST(NeighborList, TinyCutoffsAreRejected) {
  const std::vector<double> x = {0, 0, 0, 0, 0, 0, 1, 0, 0};
  for (const double cutoff : {1e-160, 2.6e-305, 5e-324}) {
    try {
      search<double>(options(cutoff, {false, false, false}), x, nullptr);
      FAIL() << "no error for cutoff " << cutoff;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).rfind("cutoff is ", 0), 0u) << e.what();
      EXPECT_NE(std::string(e.what()).find("expected 0 or at least 1e-100"), std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(search<double>(options(1e-100, {false, false, false}), x, nullptr).size(), 2u);
  RadiusGraphOptions o;
  o.r_max = 1e-101;
  EXPECT_THROW(radius_graph(o, x, {}), std::invalid_argument);
}

// Found by tests/fuzz (fuzz_neighbor_list): atoms 1e-323 apart along a non-periodic axis made the
// bins' scale along it infinite, and the bin index of an atom 0 * inf = NaN.
TEST(NeighborList, AtomsSubnormallyApart) {
  const std::vector<double> x = {0, 0, 0.119, 2e-323, 0.763, -0.477, 0, -0.763, -0.477};
  const NeighborListOptions o = options(1.2, {false, false, false});
  EXPECT_EQ(sorted_keys(search<double>(o, x, nullptr)), brute_force(o, x, nullptr));
  RadiusGraphOptions r;
  r.r_max = 1.2;
  EXPECT_EQ(radius_graph(r, x, {}), brute_radius_graph(r, x, {}));
}

// Found by tests/fuzz (fuzz_neighbor_list): a periodic row of 5e-324 passed the singularity test
// (its squared length underflows to 0, the volume does not), and its infinite inverse made an
// atom's wrap NaN.
TEST(NeighborList, RowsTooShortToInvertAreSingular) {
  const std::vector<double> x = {0.5, 0, 5e-324, 1, 1, 0};
  const double cell[9] = {2, 0, 0, 0, 5e-324, 0, 0, 0, 2};
  expect_invalid(options(3.0, {true, true, true}), x, cell, "cell is singular");
}
