// One atom's part of the CUDA neighbour search: binning, and the visit of the bins within reach
// with their periodic images. Shared by the kernels and their host tests.
#pragma once

#include <cmath>
#include <cstdint>

#include "e3core/cuda.hpp"
#include "host_device.hpp"

namespace e3core::cuda_detail {

using cuda::NeighborBins;
using cuda::NeighborGrid;

// Atom a's wrap (the cells it is moved back by on periodic axes) and bin.
template <typename T>
E3CORE_HD inline void locate(const NeighborGrid& g, const T* positions, int64_t a, int32_t* wrap,
                             int32_t* bin) {
  const T* p = positions + 3 * a;
  for (int c = 0; c < 3; ++c) {
    double f = 0;
    for (int r = 0; r < 3; ++r) f += double(p[r]) * g.inverse[r][c];
    wrap[c] = 0;
    if (g.periodic[c]) {
      const double w = std::floor(f);
      wrap[c] = int32_t(w);
      f -= w;
    }
    const double at = std::floor((f - g.lo[c]) / g.width[c]);
    bin[c] = at < 0 ? 0 : at >= g.bins[c] ? g.bins[c] - 1 : int32_t(at);
  }
}

E3CORE_HD inline int64_t bin_key(const NeighborGrid& g, int64_t molecule, const int32_t* bin) {
  return molecule * g.bins_total + (int64_t(bin[0]) * g.bins[1] + bin[1]) * g.bins[2] + bin[2];
}

// The half list keeps (i, j, S) with i < j, or i = j and S > 0 (lexicographically).
E3CORE_HD inline bool positive(const int64_t* s) {
  return s[0] > 0 || (s[0] == 0 && (s[1] > 0 || (s[1] == 0 && s[2] > 0)));
}

// Calls f(j, S) for every pair (i, j, S) of atom i, in a fixed order: bins by offset, atoms by
// their place in the sorted order. D = positions[j] - positions[i] + S cell, ase's formula.
template <typename T, typename F>
E3CORE_HD inline void for_each_neighbor(const NeighborGrid& g, const T* positions,
                                        const NeighborBins& bins, int64_t i, F&& f) {
  int32_t wrap_i[3], bin_i[3];
  locate(g, positions, i, wrap_i, bin_i);
  const int64_t molecule = bins.molecule != nullptr ? bins.molecule[i] : 0;
  const T* pi = positions + 3 * i;
  int32_t o[3];
  for (o[0] = -g.reach[0]; o[0] <= g.reach[0]; ++o[0]) {
    for (o[1] = -g.reach[1]; o[1] <= g.reach[1]; ++o[1]) {
      for (o[2] = -g.reach[2]; o[2] <= g.reach[2]; ++o[2]) {
        int32_t bin[3], image[3];
        bool inside = true;
        for (int c = 0; c < 3; ++c) {
          const int32_t b = bin_i[c] + o[c];
          if (g.periodic[c]) {
            // floor division: the image of the cell that unwrapped bin b lies in
            image[c] = b >= 0 ? b / g.bins[c] : -((-b + g.bins[c] - 1) / g.bins[c]);
            bin[c] = b - image[c] * g.bins[c];
          } else {
            inside = inside && b >= 0 && b < g.bins[c];
            image[c] = 0;
            bin[c] = b;
          }
        }
        if (!inside) continue;
        const int64_t key = bin_key(g, molecule, bin);
        for (int64_t slot = bins.bin_start[key]; slot < bins.bin_start[key + 1]; ++slot) {
          const int64_t j = bins.order[slot];
          const int32_t* wrap_j = bins.wraps + 3 * j;
          int64_t frame_shift[3], s[3];
          for (int c = 0; c < 3; ++c) frame_shift[c] = image[c] + wrap_i[c] - wrap_j[c];
          for (int c = 0; c < 3; ++c) {
            s[c] = 0;
            for (int r = 0; r < 3; ++r) s[c] += frame_shift[r] * g.to_cell[r][c];
          }
          if (j == i && s[0] == 0 && s[1] == 0 && s[2] == 0) {
            if (!g.self_interaction) continue;
          } else if (!g.full_list && (j < i || (j == i && !positive(s)))) {
            continue;
          }
          const T* pj = positions + 3 * j;
          double d2 = 0;
          for (int c = 0; c < 3; ++c) {
            double shift = 0;
            for (int r = 0; r < 3; ++r) shift += double(s[r]) * g.cell[r][c];
            const double d = (double(pj[c]) - double(pi[c])) + shift;
            d2 += d * d;
          }
          if (d2 < g.cutoff2) f(j, s);
        }
      }
    }
  }
}

}  // namespace e3core::cuda_detail
