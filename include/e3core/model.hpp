/// @file model.hpp
/// @brief An exported e3core potential in C++: energy, forces and virial of a structure.
///
/// e3core::Model loads a model exported by e3core.deploy.export, as a TorchScript file or as a
/// torch.export/AOTInductor package (told apart by content), checks its metadata (e3core
/// version) and computes, for positions, atom types, a cell and its periodicity, the energy,
/// per-atom energies, forces and virial, building the neighbour list with e3core's cell list
/// (neighbor_list.hpp) within the model's cutoff. The model runs without Python; e3core's
/// torch ops are registered by the library that defines this class (libe3core_torch), which
/// is loaded with it. Link e3core::torch (find_package(e3core)).
///
/// Units are those the model was trained in (eV and Angstrom for e3core's potentials). Atom
/// types are indices into type_names(). The virial is -dE/d(strain) (3 x 3, row-major), so
/// that the stress is -virial / volume in ASE's sign and pressure = trace(virial) / (3 volume)
/// for the potential part.
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
  double energy = 0;                    ///< total energy
  std::vector<double> atomic_energies;  ///< n: per-atom energies
  std::vector<double> forces;           ///< n x 3, row-major: -dE/dpositions
  std::array<double, 9> virial{};       ///< 3 x 3, row-major: -dE/d(strain)
  int64_t n_edges = 0;                  ///< number of edges (ordered pairs) within r_max
};

/// An exported e3core model (TorchScript file or AOTInductor package).
class Model {
 public:
  /// Loads the model at `path`; throws ModelError if it is missing, not an e3core export, or
  /// exported by an e3core of another major.minor version.
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

  /// The type index of each name (an element symbol such as "O"); throws std::invalid_argument
  /// for a name the model does not know.
  std::vector<int64_t> atom_types(const std::vector<std::string>& names) const;

  const std::vector<std::string>& type_names() const;  ///< names of the atom types
  double r_max() const;                                ///< the cutoff, in length units
  const std::string& format() const;                   ///< "torchscript" or "aoti"
  const std::string& dtype() const;                    ///< "float32" or "float64"
  const std::string& exported_version() const;         ///< e3core version that exported it
  /// Every metadata entry, each value the JSON text of its value (e.g. r_max -> "5.0").
  const std::map<std::string, std::string>& metadata() const;

  /// The version of this e3core library ("0.1.0").
  static std::string version();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace e3core
