// Host side of the CUDA neighbour search: the binning frame (shared with the CPU search) and
// the grid's bins and reach.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "e3core/cuda.hpp"
#include "neighbor_frame.hpp"

namespace e3core::cuda {

using namespace nl_detail;

std::array<double, 9> neighbor_frame_inverse(const char* name, double cutoff, const double* cell,
                                             const std::array<bool, 3>& pbc) {
  const Mat3 inv = inverse(checked_frame(name, cutoff, cell, pbc).rows);
  std::array<double, 9> out;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) out[size_t(3 * r + c)] = inv[size_t(r)][size_t(c)];
  }
  return out;
}

NeighborGrid neighbor_grid(const NeighborListOptions& options, const double* cell,
                           const double* f_min, const double* f_max, int64_t atoms,
                           int64_t molecules) {
  check_count(atoms);
  const Frame frame = checked_frame("cutoff", options.cutoff, cell, options.pbc);
  const Mat3 inv = inverse(frame.rows);
  NeighborGrid g;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      g.inverse[r][c] = inv[size_t(r)][size_t(c)];
      g.cell[r][c] = cell != nullptr ? cell[3 * r + c] : 0.0;
      g.to_cell[r][c] = frame.to_cell[size_t(r)][size_t(c)];
    }
  }
  g.cutoff2 = options.cutoff * options.cutoff;
  g.self_interaction = options.self_interaction;
  g.full_list = options.full_list;
  // Distance between the faces of a unit of f along each axis.
  const Vec3* rows = frame.rows.data();
  const double volume = std::abs(dot(rows[0], cross(rows[1], rows[2])));
  double face[3], extent[3];
  for (int a = 0; a < 3; ++a) {
    face[a] = volume / norm(cross(rows[(a + 1) % 3], rows[(a + 2) % 3]));
    g.periodic[a] = options.pbc[size_t(a)];
    g.lo[a] = g.periodic[a] ? 0.0 : f_min[a];
    extent[a] = g.periodic[a] ? 1.0 : std::max(f_max[a] - f_min[a], 0.0);
    const double fit = extent[a] * face[a] / (options.cutoff * (1 + kBinMargin));
    g.bins[a] = int32_t(std::clamp(std::floor(fit), 1.0, kMaxBinsPerAxis));
  }
  // About two atoms per bin at most, so that empty bins cost little.
  const int64_t cap = std::max<int64_t>(
      1, std::min<int64_t>(2 * atoms, int64_t(1) << 22) / std::max<int64_t>(molecules, 1));
  while (int64_t(g.bins[0]) * g.bins[1] * g.bins[2] > cap) {
    int* largest = std::max_element(g.bins, g.bins + 3);
    *largest = std::max(1, *largest / 2);
  }
  g.bins_total = int64_t(g.bins[0]) * g.bins[1] * g.bins[2];
  int64_t reached = 1;
  for (int a = 0; a < 3; ++a) {
    g.width[a] = extent[a] > 0 ? extent[a] / g.bins[a] : 1.0;
    double reach = std::ceil(options.cutoff * (1 + kReachMargin) / (face[a] * g.width[a]));
    // Along a non-periodic axis the bins end, and no reach past them is needed: a thin layer of
    // atoms (a planar molecule with 1e-12 of noise) had a reach past the 2^20 limit.
    if (!g.periodic[a] && !(reach <= g.bins[a] - 1)) reach = g.bins[a] - 1;
    if (!(reach <= double(kMaxReachedBins))) reached = kMaxReachedBins + 1;
    g.reach[a] = int32_t(std::min(reach, double(kMaxReachedBins)));
    if (reached <= kMaxReachedBins) reached *= 2 * int64_t(g.reach[a]) + 1;
  }
  if (reached > kMaxReachedBins) {
    throw std::invalid_argument("cutoff " + str(options.cutoff) +
                                " reaches more than 2^20 periodic images of the cell; expected a "
                                "cutoff closer to the cell's size");
  }
  return g;
}

}  // namespace e3core::cuda
