// pair_style e3core: an exported e3core potential (TorchScript or AOTInductor, e3core::Model)
// as a LAMMPS pair style, loaded as a plugin (e3coreplugin.so). See docs/lammps.md.
//
//   pair_style e3core [auto|ghost]
//   pair_coeff * * model.pt H O      (one element of the model per LAMMPS atom type)
//
// On one MPI rank ("auto") the model sees the local atoms in the LAMMPS box as its periodic
// cell and builds its own neighbour list; on several ranks, or with "ghost", it sees local and
// ghost atoms without a cell, counts the energies of local atoms only and returns forces on the
// ghosts too, which LAMMPS sends back to their owners (newton on). The ghost shell then must
// reach the model's receptive field (message-passing layers x r_max), which init_style sets.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pair.h"

namespace e3core {
class Model;
}

namespace LAMMPS_NS {

class PairE3core : public Pair {
 public:
  explicit PairE3core(LAMMPS* lmp);
  ~PairE3core() override;

  void compute(int eflag, int vflag) override;
  void settings(int narg, char** arg) override;
  void coeff(int narg, char** arg) override;
  void init_style() override;
  double init_one(int i, int j) override;

 private:
  void allocate();

  bool ghost_requested_ = false;  // "pair_style e3core ghost": ghost mode on one rank too
  bool ghost_mode_ = false;       // decided in init_style from the request and the ranks
  std::unique_ptr<e3core::Model> model_;
  std::string model_path_;
  std::vector<int64_t> type_of_;  // LAMMPS atom type (1..ntypes) -> the model's atom type
  std::vector<int64_t> types_;    // the model's type of each atom, refilled every step
};

}  // namespace LAMMPS_NS
