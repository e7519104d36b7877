// The CUDA kernels' arithmetic (the per-thread functions of cpp/cuda), run on the host against
// the CPU kernels: every connection mode and slot, plain and convolution rows, shared and
// per-sample weights, and the spherical harmonics with their derivatives.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "e3core/neighbor_list.hpp"
#include "e3core/spherical_harmonics.hpp"
#include "e3core/tensor_product.hpp"
#include "neighbor_element.hpp"
#include "spherical_harmonics_element.hpp"
#include "tensor_product_cases.hpp"
#include "tensor_product_element.hpp"

namespace {

using e3core::ConnectionMode;
using e3core::TpArray;
using e3core::TpPlan;
using e3core::TpRows;
using e3core::TpSlot;
using e3core::cuda::TpGroups;
using e3core::cuda_detail::group_value;
using e3core::cuda_detail::TpSlotsView;
using e3core::cuda_detail::TpTables;
using Vec = std::vector<double>;

using e3core_test::randn;

TpPlan plan_of(const char* in1, const char* in2, const char* out,
               std::vector<e3core::TpInstruction> instructions) {
  return TpPlan::build(e3core_test::spec(in1, in2, out, std::move(instructions)));
}

// The groups the torch layer builds for a result of `rows` rows: by index (stable), one per
// sample, or chunks of samples to be summed (shared).
struct HostGroups {
  std::vector<int64_t> order, offsets;
  TpGroups view;
  int64_t chunks = 0;  // > 0: partial rows to sum
};

HostGroups groups_for(TpRows mode, int64_t rows, int64_t samples, const int64_t* index) {
  HostGroups h;
  if (mode == TpRows::Indexed) {
    h.order.resize(size_t(samples));
    std::iota(h.order.begin(), h.order.end(), 0);
    std::stable_sort(h.order.begin(), h.order.end(),
                     [&](int64_t a, int64_t b) { return index[a] < index[b]; });
    h.offsets.assign(size_t(rows + 1), 0);
    for (int64_t s = 0; s < samples; ++s) ++h.offsets[size_t(index[s] + 1)];
    std::partial_sum(h.offsets.begin(), h.offsets.end(), h.offsets.begin());
    h.view = {rows, h.order.data(), h.offsets.data()};
  } else if (mode == TpRows::Shared) {
    const int64_t chunk = 3;
    h.chunks = std::max<int64_t>(1, (samples + chunk - 1) / chunk);
    for (int64_t c = 0; c <= h.chunks; ++c) h.offsets.push_back(std::min(c * chunk, samples));
    h.view = {h.chunks, nullptr, h.offsets.data()};
  } else {
    h.view = {samples, nullptr, nullptr};
  }
  return h;
}

// Slot `result` through the CUDA kernels' arithmetic, as the kernels and sum_rows run it.
Vec emulate(const TpPlan& plan, TpSlot result, std::array<TpArray<double>, 4> a, int64_t samples) {
  const TpTables<double> tables(plan);
  const auto view = tables.view(tables.ints.data(), tables.values.data());
  const int64_t width = view.layout.width[int(result)];
  const TpArray<double>& r = a[size_t(result)];
  const HostGroups h = groups_for(r.mode, r.rows, samples, r.index);
  TpSlotsView<double> slots{{a[0], a[1], a[2], a[3]}};
  Vec rows(size_t(h.view.count * width));
  for (int64_t g = 0; g < h.view.count; ++g) {
    for (int64_t c = 0; c < width; ++c) {
      double v = 0;
      switch (result) {
        case TpSlot::In1:
          v = group_value<double, TpSlot::In1>(view, slots, h.view, g, c);
          break;
        case TpSlot::In2:
          v = group_value<double, TpSlot::In2>(view, slots, h.view, g, c);
          break;
        case TpSlot::Weight:
          v = group_value<double, TpSlot::Weight>(view, slots, h.view, g, c);
          break;
        case TpSlot::Out:
          v = group_value<double, TpSlot::Out>(view, slots, h.view, g, c);
          break;
      }
      rows[size_t(g * width + c)] = v;
    }
  }
  if (h.chunks == 0) return rows;
  Vec sum(size_t(width), 0.0);
  for (int64_t g = 0; g < h.chunks; ++g) {
    for (int64_t c = 0; c < width; ++c) sum[size_t(c)] += rows[size_t(g * width + c)];
  }
  return sum;
}

// Every slot of `plan` through the emulation and the CPU kernel: per-sample rows with per-sample
// or shared weights, and a convolution.
void check_plan(const TpPlan& plan, std::mt19937_64& gen, const char* what) {
  const int64_t samples = 11, nodes = 4;
  std::vector<int64_t> src(samples), dst(samples);
  for (int64_t e = 0; e < samples; ++e) {
    src[size_t(e)] = int64_t(gen() % nodes);
    dst[size_t(e)] = int64_t(gen() % nodes);
  }
  dst[0] = 2;  // node 3 may stay without edges; node 2 has at least one
  for (int conv = 0; conv < 2; ++conv) {
    for (int64_t w_rows : {int64_t(1), samples}) {
      const int64_t node_rows = conv ? nodes : samples;
      const int64_t rows[4] = {node_rows, samples, w_rows, node_rows};
      const int64_t widths[4] = {plan.dim1, plan.dim2, plan.weight_numel, plan.dim_out};
      Vec data[4];
      for (int s = 0; s < 4; ++s) data[s] = randn(size_t(rows[s] * widths[s]), gen);
      for (int result = 0; result < 4; ++result) {
        Vec expected(data[result].size()), got;
        const auto arrays = [&](double* result_data) {
          std::array<TpArray<double>, 4> a;
          for (int s = 0; s < 4; ++s) {
            const bool node = conv && (s == 0 || s == 3);
            a[size_t(s)] = {s == result ? result_data : data[s].data(), rows[s],
                            node           ? TpRows::Indexed
                            : rows[s] == 1 ? TpRows::Shared
                                           : TpRows::PerSample,
                            node ? (s == 0 ? src.data() : dst.data()) : nullptr};
          }
          return a;
        };
        const auto cpu = arrays(expected.data());
        e3core::tensor_product<double>(plan, TpSlot(result), samples, cpu[0], cpu[1], cpu[2],
                                       cpu[3]);
        got = emulate(plan, TpSlot(result), arrays(nullptr), samples);
        ASSERT_EQ(got.size(), expected.size());
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_NEAR(got[i], expected[i], 1e-11 * (1 + std::abs(expected[i])))
              << what << ": slot " << result << ", conv " << conv << ", weight rows " << w_rows
              << ", entry " << i;
        }
      }
    }
  }
}

TEST(CudaArithmetic, TensorProductEveryModeAndSlot) {
  std::mt19937_64 gen(5);
  std::vector<e3core_test::ModeCase> cases = e3core_test::mode_cases();
  // Weighted "uuu" and weightless "uvu<v" too.
  cases.push_back({"3x2e", "3x1o", "3x3o", ConnectionMode::UUU, true});
  cases.push_back({"4x1o", "4x1o", "6x1e", ConnectionMode::UVULV, false});
  for (const e3core_test::ModeCase& c : cases) {
    check_plan(plan_of(c.in1, c.in2, c.out, {{0, 0, 0, c.mode, c.weight}}), gen,
               e3core::connection_mode_name(c.mode).c_str());
  }
}

TEST(CudaArithmetic, TensorProductManyPathsPerTerm) {
  std::mt19937_64 gen(9);
  // Paths sharing input and output terms, a weightless one, and an empty term.
  const TpPlan conv =
      plan_of("3x0e+0x1e+2x1o+2x2e", "1x0e+1x1o+1x2e", "3x0e+2x1o+2x1e+2x2e+3x2e+1x1e",
              {{0, 0, 0, ConnectionMode::UVU},
               {2, 0, 1, ConnectionMode::UVU},
               {3, 1, 1, ConnectionMode::UVU},
               {2, 1, 2, ConnectionMode::UVU},
               {3, 2, 3, ConnectionMode::UVU, false},
               {0, 2, 4, ConnectionMode::UVU},
               {2, 1, 5, ConnectionMode::UVV}});
  check_plan(conv, gen, "convolution");
  const TpPlan full = plan_of("2x0e+2x1o", "2x0e+1x1o", "3x0e+2x1o+1x1e",
                              {{0, 0, 0, ConnectionMode::UVW},
                               {1, 1, 0, ConnectionMode::UVW},
                               {1, 0, 1, ConnectionMode::UVW},
                               {0, 1, 1, ConnectionMode::UVW},
                               {1, 1, 2, ConnectionMode::UVW}});
  check_plan(full, gen, "fully connected");
}

TEST(CudaArithmetic, SphericalHarmonicsAndDerivatives) {
  std::mt19937_64 gen(2);
  const int64_t n = 7;
  Vec xyz = randn(size_t(3 * n), gen);
  std::fill(xyz.begin() + 3, xyz.begin() + 6, 0.0);  // a zero vector
  for (int lmax : {0, 1, 2, 3, 6, 11}) {
    for (bool normalize : {true, false}) {
      for (auto norm : {e3core::ShNormalization::Integral, e3core::ShNormalization::Component,
                        e3core::ShNormalization::Norm}) {
        const e3core::ShOptions o{lmax, normalize, norm};
        const int64_t dim = e3core::sh_dim(lmax);
        const std::vector<double> flat =
            e3core::sh_detail::flatten(e3core::sh_detail::Tables<double>(o));
        const e3core::cuda_detail::ShTablesView<double> t(lmax, flat.data());
        const Vec g = randn(size_t(n * dim), gen), gg = randn(size_t(3 * n), gen);
        Vec sh(size_t(n * dim)), dsh(size_t(3 * n * dim)), vjp(size_t(3 * n));
        Vec ggsh(size_t(n * dim)), gx2(size_t(3 * n));
        Vec sh_ref = sh, dsh_ref = dsh, vjp_ref = vjp, ggsh_ref = ggsh, gx2_ref = gx2;
        e3core::spherical_harmonics<double>(o, xyz.data(), n, sh_ref.data(), dsh_ref.data());
        e3core::spherical_harmonics_vjp<double>(o, xyz.data(), g.data(), n, vjp_ref.data());
        e3core::spherical_harmonics_vjp_backward<double>(o, xyz.data(), g.data(), gg.data(), n,
                                                         ggsh_ref.data(), gx2_ref.data());
        for (int64_t i = 0; i < n; ++i) {
          e3core::cuda_detail::sh_vector(t, normalize, xyz.data(), i, sh.data(), dsh.data());
          e3core::cuda_detail::sh_vjp_vector(t, normalize, xyz.data(), g.data(), i, vjp.data());
          e3core::cuda_detail::sh_vjp_backward_vector(t, normalize, xyz.data(), g.data(), gg.data(),
                                                      i, ggsh.data(), gx2.data());
        }
        const auto near = [&](const Vec& a, const Vec& b, const char* name) {
          for (size_t i = 0; i < a.size(); ++i) {
            ASSERT_NEAR(a[i], b[i], 1e-9 * (1 + std::abs(b[i])))
                << name << " lmax " << lmax << " normalize " << normalize << " at " << i;
          }
        };
        near(sh, sh_ref, "sh");
        near(dsh, dsh_ref, "dsh");
        near(vjp, vjp_ref, "vjp");
        near(ggsh, ggsh_ref, "grad_grad_sh");
        near(gx2, gx2_ref, "grad_xyz2");
      }
    }
  }
}

}  // namespace

namespace {

using e3core::cuda::NeighborBins;
using e3core::cuda::NeighborGrid;

// The CUDA search's steps on the host (binning, the stable sort by key the torch layer does,
// the pairs of every atom), as sorted (i, j, S) tuples.
std::vector<std::array<int64_t, 5>> gpu_search(const e3core::NeighborListOptions& o,
                                               const Vec& positions, const double* cell) {
  const int64_t n = int64_t(positions.size() / 3);
  const std::array<double, 9> inv =
      e3core::cuda::neighbor_frame_inverse("cutoff", o.cutoff, cell, o.pbc);
  double lo[3] = {1e300, 1e300, 1e300}, hi[3] = {-1e300, -1e300, -1e300};
  for (int64_t a = 0; a < n; ++a) {
    for (int c = 0; c < 3; ++c) {
      double f = 0;
      for (int r = 0; r < 3; ++r) f += positions[size_t(3 * a + r)] * inv[size_t(3 * r + c)];
      lo[c] = std::min(lo[c], f);
      hi[c] = std::max(hi[c], f);
    }
  }
  const NeighborGrid g = e3core::cuda::neighbor_grid(o, cell, lo, hi, n, 1);
  std::vector<int64_t> keys(static_cast<size_t>(n)), order(static_cast<size_t>(n));
  std::vector<int64_t> start(static_cast<size_t>(g.bins_total + 1), 0);
  std::vector<int32_t> wraps(static_cast<size_t>(3 * n));
  for (int64_t a = 0; a < n; ++a) {
    int32_t bin[3];
    e3core::cuda_detail::locate(g, positions.data(), a, wraps.data() + 3 * a, bin);
    keys[size_t(a)] = e3core::cuda_detail::bin_key(g, 0, bin);
    ++start[size_t(keys[size_t(a)] + 1)];
  }
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return keys[size_t(a)] < keys[size_t(b)]; });
  std::partial_sum(start.begin(), start.end(), start.begin());
  const NeighborBins bins{order.data(), start.data(), wraps.data(), nullptr};
  std::vector<std::array<int64_t, 5>> pairs;
  for (int64_t i = 0; i < n; ++i) {
    e3core::cuda_detail::for_each_neighbor(
        g, positions.data(), bins, i,
        [&](int64_t j, const int64_t* s) { pairs.push_back({i, j, s[0], s[1], s[2]}); });
  }
  std::sort(pairs.begin(), pairs.end());
  return pairs;
}

std::vector<std::array<int64_t, 5>> cpu_search(const e3core::NeighborListOptions& o,
                                               const Vec& positions, const double* cell) {
  std::vector<int64_t> i, j, s;
  e3core::neighbor_list<double>(o, positions.data(), int64_t(positions.size() / 3), cell,
                                [&](int64_t count) {
                                  i.resize(size_t(count));
                                  j.resize(size_t(count));
                                  s.resize(size_t(3 * count));
                                  e3core::NeighborPairs<double> out;
                                  out.i = i.data();
                                  out.j = j.data();
                                  out.shifts = s.data();
                                  return out;
                                });
  std::vector<std::array<int64_t, 5>> pairs;
  for (size_t p = 0; p < i.size(); ++p)
    pairs.push_back({i[p], j[p], s[3 * p], s[3 * p + 1], s[3 * p + 2]});
  std::sort(pairs.begin(), pairs.end());
  return pairs;
}

TEST(CudaArithmetic, NeighborSearchFindsTheCpuPairs) {
  std::mt19937_64 gen(4);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  // Orthorhombic, skewed and small cells (cutoff larger than the cell), mixed periodicity, and
  // a molecule without a cell.
  const double cells[][9] = {{6, 0, 0, 0, 7, 0, 0, 0, 8},
                             {5, 0, 0, 3.5, 4, 0, 1, -2, 6},
                             {2.2, 0, 0, 0.3, 2.0, 0, 0.2, 0.1, 2.5}};
  const std::array<bool, 3> pbcs[] = {
      {true, true, true}, {true, false, true}, {false, false, false}};
  for (const auto& cell : cells) {
    for (const auto& pbc : pbcs) {
      for (bool full : {true, false}) {
        for (bool self : {false, true}) {
          const int64_t n = 40;
          Vec positions(size_t(3 * n));
          for (double& x : positions) x = 4 * u(gen);  // some atoms outside the cell
          const e3core::NeighborListOptions o{3.1, pbc, self, full, false};
          const auto expected = cpu_search(o, positions, cell);
          const auto got = gpu_search(o, positions, cell);
          ASSERT_FALSE(expected.empty());
          EXPECT_EQ(got, expected) << "pbc " << pbc[0] << pbc[1] << pbc[2] << " full " << full
                                   << " self " << self << " cell " << cell[0];
        }
      }
    }
  }
}

// Found by tests/fuzz (fuzz_neighbor_list): atoms within 1e-12 of a plane, or 1e-320 apart along
// a non-periodic axis, made the CUDA grid's reach along it absurd (an error about periodic
// images, without any) and the CPU grid's bin scale infinite (a NaN bin index).
TEST(CudaArithmetic, NeighborSearchOfAThinLayerOfAtoms) {
  for (double thickness : {1e-12, 2e-323}) {
    const Vec positions = {0, 0, 0, 1.5, 0, thickness, 0, 1.5, 0, 3, 3, 0};
    for (bool periodic_x : {false, true}) {
      const double cell[9] = {4, 0, 0, 0, 4, 0, 0, 0, 4};
      const e3core::NeighborListOptions o{2.5, {periodic_x, false, false}, false, true, false};
      const auto expected = cpu_search(o, positions, cell);
      EXPECT_EQ(expected.size(), periodic_x ? 8u : 6u) << thickness;  // C sees D at x - 4
      EXPECT_EQ(gpu_search(o, positions, cell), expected) << thickness;
    }
  }
}

}  // namespace
