/// @file model.hpp
/// @brief An exported e3core potential in C++: energy, forces and virial of a structure.
///
/// e3core::Model loads a model exported by e3core.deploy.export, as a TorchScript file or as a
/// torch.export/AOTInductor package (told apart by content), checks its metadata (e3core
/// version, contract version) and computes, for positions, atom types, a cell and its
/// periodicity, the energy, per-atom energies, forces and virial, building the neighbour list
/// with e3core's cell list (neighbor_list.hpp) within the model's cutoff. The model runs
/// without Python; e3core's torch ops (libe3core_torch) are loaded with it. Link
/// e3core::deploy (find_package(e3core)).
///
/// Units are those the model was trained in (eV and Angstrom for e3core's potentials). Atom
/// types are indices into type_names(). The virial is -dE/d(strain) (3 x 3, row-major), so
/// that the stress is -virial / volume in ASE's sign and pressure = trace(virial) / (3 volume)
/// for the potential part.
///
/// Domain decomposition (a simulation code's ghost atoms): compute() with n_local >= 0 counts
/// the energies of atoms [0, n_local) only and returns the forces of that energy on every atom,
/// ghosts included, for the caller to add to the ghosts' owners. The result is exact when the
/// ghosts reach receptive_field() beyond the local atoms.
///
/// Errors are exceptions: e3core::ModelError (std::runtime_error) for a missing file, a file
/// that is not an e3core export, a version mismatch or a model that fails to run, and
/// std::invalid_argument for bad inputs (an unknown atom type, a wrong number of entries).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace e3core {

/// What e3core::Model throws when a model cannot be loaded or run.
class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Results of Model::compute for n atoms.
struct ModelResult {
  double energy = 0;                    ///< total energy (of the local atoms, given n_local)
  std::vector<double> atomic_energies;  ///< n: per-atom energies
  std::vector<double> forces;           ///< n x 3, row-major: -dE/dpositions
  std::array<double, 9> virial{};       ///< 3 x 3, row-major: -dE/d(strain)
  int64_t n_edges = 0;                  ///< number of edges (ordered pairs) within r_max
};

/// An exported e3core model (TorchScript file or AOTInductor package).
class Model {
 public:
  /// The input/output contract this library runs (the metadata's contract_version).
  static constexpr int kContractVersion = 2;

  /// Loads the model at `path`; throws ModelError if it is missing, not an e3core export,
  /// exported by an e3core of another major.minor version or for another contract version.
  explicit Model(const std::string& path);
  ~Model();
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  /// Energy, forces and virial of n atoms at `positions` (n x 3, row-major) with `atom_types`
  /// (n indices into type_names()), in the cell `cell` (3 x 3, row-major, rows the lattice
  /// vectors; used along periodic axes) with periodicity `pbc`.
  ModelResult compute(const std::vector<double>& positions, const std::vector<int64_t>& atom_types,
                      const std::array<double, 9>& cell = {},
                      const std::array<bool, 3>& pbc = {false, false, false}) const;

  /// The same on `n_atoms` atoms given by pointers (positions n_atoms x 3, row-major), without
  /// copying the caller's arrays. With `n_local` >= 0 only atoms [0, n_local) count toward the
  /// energy (the others are ghosts), and forces are those of that energy on all n_atoms atoms.
  ModelResult compute(const double* positions, const int64_t* atom_types, int64_t n_atoms,
                      const std::array<double, 9>& cell, const std::array<bool, 3>& pbc,
                      int64_t n_local = -1) const;

  /// The type index of each name (an element symbol such as "O"); throws std::invalid_argument
  /// for a name the model does not know.
  std::vector<int64_t> atom_types(const std::vector<std::string>& names) const;

  const std::vector<std::string>& type_names() const;  ///< names of the atom types
  double r_max() const;                                ///< the cutoff, in length units
  /// How far information travels in the model (message-passing layers x r_max): the ghost
  /// shell that domain decomposition needs for exact results.
  double receptive_field() const;
  const std::string& format() const;            ///< "torchscript" or "aoti"
  const std::string& dtype() const;             ///< "float32" or "float64"
  const std::string& model_name() const;        ///< the registered model ("nequip", ...)
  const std::string& exported_version() const;  ///< e3core version that exported it
  /// Every metadata entry, each value the JSON text of its value (e.g. r_max -> "5.0").
  const std::map<std::string, std::string>& metadata() const;

  /// The version of this e3core library ("0.1.0").
  static std::string version();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace e3core
