/// @file cuda.hpp
/// @brief The CUDA kernels: spherical harmonics, Wigner D matrices, the tensor-product family
/// and the neighbour search on device memory.
///
/// Pointers are device pointers and `stream` is a cudaStream_t passed as void* (so that this
/// header needs no CUDA). Calls are asynchronous on the stream; launch errors throw
/// std::runtime_error. In a build without CUDA (available() is false) every function throws
/// std::runtime_error saying so.
///
/// Results are the CPU kernels' (same conventions, same layouts, see spherical_harmonics.hpp and
/// tensor_product.hpp), up to rounding, and reproducible bit for bit: no atomics.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "e3core/neighbor_list.hpp"
#include "e3core/spherical_harmonics.hpp"
#include "e3core/tensor_product.hpp"
#include "e3core/wigner.hpp"

namespace e3core::cuda {

/// Whether this build has the CUDA kernels.
bool available() noexcept;

/// spherical_harmonics on the device: sh (n x sh_dim) and, unless null, dsh (n x 3 x sh_dim).
template <typename T>
void spherical_harmonics(const ShOptions& options, const T* xyz, int64_t n, T* sh, T* dsh,
                         void* stream);

/// spherical_harmonics_vjp on the device.
template <typename T>
void spherical_harmonics_vjp(const ShOptions& options, const T* xyz, const T* grad_sh, int64_t n,
                             T* grad_xyz, void* stream);

/// spherical_harmonics_vjp_backward on the device; either output may be null.
template <typename T>
void spherical_harmonics_vjp_backward(const ShOptions& options, const T* xyz, const T* grad_sh,
                                      const T* grad_grad_xyz, int64_t n, T* grad_grad_sh,
                                      T* grad_xyz2, void* stream);

/// e3core::wigner_D on the device: n rotations' D^l (or derivative), (2l+1)^2 values each.
template <typename T>
void wigner_D(int l, const T* alpha, const T* beta, const T* gamma, int64_t n,
              EulerDerivative order, T* out, void* stream);

/// A tensor-product plan's tables in the memory of the device current at construction.
class TpDevicePlan {
 public:
  explicit TpDevicePlan(const TpPlan& plan);
  ~TpDevicePlan();
  TpDevicePlan(const TpDevicePlan&) = delete;
  TpDevicePlan& operator=(const TpDevicePlan&) = delete;

  const TpPlan& plan() const;
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

/// Samples grouped by the result row they add into (device arrays): group g holds the samples
/// order[offsets[g]], ..., order[offsets[g + 1] - 1] and writes row g of the result. A null
/// order is the identity; null offsets make sample g the group g. A convolution's result rows
/// are its nodes: the edges sorted (stably) by destination for out, by source for x1's
/// gradient. A result shared by all samples (a shared weight's gradient) is summed in chunks of
/// samples, one partial row per chunk, then added up with sum_rows.
struct TpGroups {
  int64_t count = 0;
  const int64_t* order = nullptr;
  const int64_t* offsets = nullptr;
};

/// Writes slot `result` of the tensor product, one row per group, from the other three slots'
/// arrays (their rows found per sample as in e3core::tensor_product; the result's array is only
/// the destination, groups.count rows).
template <typename T>
void tensor_product(const TpDevicePlan& plan, TpSlot result, TpArray<T> x1, TpArray<T> x2,
                    TpArray<T> weight, TpArray<T> out, const TpGroups& groups, void* stream);

/// out[c] = sum over r of rows[r][c], r in order (rows: count x width).
template <typename T>
void sum_rows(const T* rows, int64_t count, int64_t width, T* out, void* stream);

/// The cell list of a neighbour search on the device: the binning frame (the cell's rows on
/// periodic axes, see neighbor_list.hpp), bins at least a cutoff wide and how far each reaches.
/// A plain struct, passed to the kernels by value.
struct NeighborGrid {
  double inverse[3][3] = {};   ///< fractional coordinates f = p inverse (p a row vector)
  double cell[3][3] = {};      ///< the cell's rows (zero without a cell)
  int32_t to_cell[3][3] = {};  ///< a shift S' of the frame's rows is the cell shift S' to_cell
  int32_t periodic[3] = {};
  double lo[3] = {};     ///< lowest f per axis (0 on periodic axes, which are wrapped)
  double width[3] = {};  ///< bin width in f
  int32_t bins[3] = {1, 1, 1};
  int32_t reach[3] = {};   ///< bins searched on each side
  int64_t bins_total = 1;  ///< bins per molecule
  double cutoff2 = 0;
  int32_t self_interaction = 0;
  int32_t full_list = 1;
};

/// The inverse of the binning frame of `cell` (host, 3 x 3, row-major; null when no axis is
/// periodic): fractional coordinates are positions times it. Throws std::invalid_argument with
/// e3core::neighbor_list's messages for a bad cutoff (called `name` in them), a non-finite cell
/// entry, or a missing or singular cell.
std::array<double, 9> neighbor_frame_inverse(const char* name, double cutoff, const double* cell,
                                             const std::array<bool, 3>& pbc);

/// The grid for `atoms` atoms in `molecules` molecules (a search never pairs atoms of two
/// molecules) whose fractional coordinates span [f_min, f_max] (host arrays of 3). Host code;
/// throws std::invalid_argument for a bad cutoff or one absurdly larger than the cell.
NeighborGrid neighbor_grid(const NeighborListOptions& options, const double* cell,
                           const double* f_min, const double* f_max, int64_t atoms,
                           int64_t molecules);

/// Bins the atoms: keys[a] (a molecule's bins after the previous molecules') and wraps[a] (3
/// int32: the cells atom a is moved back by on periodic axes). `molecule` (n entries, values in
/// [0, molecules)) may be null for one molecule.
template <typename T>
void bin_atoms(const NeighborGrid& grid, const T* positions, const int64_t* molecule, int64_t n,
               int64_t* keys, int32_t* wraps, void* stream);

/// The atoms sorted by key (`order`, stable) and where each key's atoms start in it
/// (`bin_start`, molecules x bins_total + 1 entries), as the search reads them.
struct NeighborBins {
  const int64_t* order = nullptr;
  const int64_t* bin_start = nullptr;
  const int32_t* wraps = nullptr;
  const int64_t* molecule = nullptr;
};

/// counts[i] = the pairs (i, j, S) of atom i.
template <typename T>
void count_neighbors(const NeighborGrid& grid, const T* positions, const NeighborBins& bins,
                     int64_t n, int64_t* counts, void* stream);

/// Writes atom i's pairs from offsets[i] on (offsets: the exclusive sum of counts), in a fixed
/// order: i, j and S (n_pairs x 3).
template <typename T>
void write_neighbors(const NeighborGrid& grid, const T* positions, const NeighborBins& bins,
                     int64_t n, const int64_t* offsets, int64_t* i, int64_t* j, int64_t* shifts,
                     void* stream);

}  // namespace e3core::cuda
