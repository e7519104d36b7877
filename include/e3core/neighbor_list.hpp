/// @file neighbor_list.hpp
/// @brief Pairs of atoms closer than a cutoff, with periodic boundaries: an O(n) cell list.
///
/// Conventions are ase.neighborlist.neighbor_list's. The cell's rows are the lattice vectors; a
/// pair (i, j, S), S an integer cell shift, has the vector D = positions[j] - positions[i] + S cell
/// (S a row vector) and the distance d = |D|, and is listed when d < cutoff. Along a periodic
/// axis an atom sees every periodic image of the others and of itself, however many fit in the
/// cutoff; along a non-periodic axis S is 0 and the cell's row there is not used. The pair of an
/// atom with itself at S = 0 is listed only on request (self_interaction).
///
/// Outputs are flat arrays, grouped by i (i = 0, 1, ... in order; the same order whatever the
/// number of threads); within one i they are sorted by j, then S, on request.
#pragma once

#include <array>
#include <cstdint>
#include <functional>

#include "e3core/parallel.hpp"

namespace e3core {

/// The largest magnitude accepted for a cutoff, a position coordinate or a cell entry: larger
/// ones would overflow the search's arithmetic.
constexpr double kNeighborMaxLength = 1e100;

/// What neighbor_list searches for.
struct NeighborListOptions {
  double cutoff = 0;  ///< pairs with d < cutoff; 0 or in [1e-100, 1e100]
  std::array<bool, 3> pbc = {false, false, false};  ///< periodicity of each cell axis
  bool self_interaction = false;                    ///< list (i, i, S = 0) too
  bool full_list = true;  ///< both (i, j, S) and (j, i, -S); else each unordered pair once
  bool sorted = false;    ///< within each i, sort by j, then S (lexicographically)
};

/// Arrays that neighbor_list fills for n_pairs pairs; a null pointer skips that quantity.
template <typename T>
struct NeighborPairs {
  int64_t* i = nullptr;       ///< n_pairs
  int64_t* j = nullptr;       ///< n_pairs
  int64_t* shifts = nullptr;  ///< n_pairs x 3: S
  T* distances = nullptr;     ///< n_pairs: d
  T* vectors = nullptr;       ///< n_pairs x 3: D
};

/// Called once, when the number of pairs is known, for the arrays to write them to.
template <typename T>
using PairAllocator = std::function<NeighborPairs<T>(int64_t n_pairs)>;

/// Every pair of the n atoms at `positions` (n x 3, row-major) closer than options.cutoff.
/// @param cell  3 x 3, row-major, rows the lattice vectors; may be null when no axis is periodic
/// @return the number of pairs, also passed to `allocate`
/// Throws std::invalid_argument for a cutoff that is NaN or not 0 or in [1e-100, 1e100], a
/// position coordinate or cell entry that is NaN or above 1e100 in magnitude, a cell whose
/// periodic rows are linearly dependent (or a null cell with a periodic axis), n < 0 or
/// n >= 2^31, and a cutoff so much larger than the cell that the periodic images to visit would
/// not fit in memory.
template <typename T>
int64_t neighbor_list(const NeighborListOptions& options, const T* positions, int64_t n,
                      const T* cell, const PairAllocator<T>& allocate,
                      const Executor& exec = parallel_for);

/// What radius_graph searches for.
struct RadiusGraphOptions {
  double r_max = 0;   ///< edges between atoms closer than r_max; 0 or in [1e-100, 1e100]
  bool loop = false;  ///< also the edge (i, i) of every atom
  int64_t max_num_neighbors = -1;  ///< keep at most this many sources per target; < 0: all
};

/// Edges between atoms of the same molecule closer than options.r_max, without periodicity
/// (torch_cluster.radius_graph). `batch` (n entries, or null for one molecule) gives each atom's
/// molecule; atoms of a molecule need not be contiguous. `allocate` is called once with the
/// number of edges e for a 2 x e row-major array: row 0 the sources j, row 1 the targets i,
/// sorted by target, then source. With max_num_neighbors >= 0, each target keeps its nearest
/// sources (ties: the lower index; with loop, the atom itself counts as one).
/// @return the number of edges
/// Throws std::invalid_argument for an r_max that is NaN or not 0 or in [1e-100, 1e100], a
/// position coordinate that is NaN or above 1e100 in magnitude, n < 0 or n >= 2^31.
template <typename T>
int64_t radius_graph(const RadiusGraphOptions& options, const T* positions, int64_t n,
                     const int64_t* batch, const std::function<int64_t*(int64_t)>& allocate,
                     const Executor& exec = parallel_for);

}  // namespace e3core
