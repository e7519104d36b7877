// pair_style e3core: see pair_e3core.h and docs/lammps.md.
#include "pair_e3core.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <e3core/deploy/model.hpp>
#include <exception>
#include <string>

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"

using namespace LAMMPS_NS;

namespace {

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

PairE3core::PairE3core(LAMMPS* lmp) : Pair(lmp) {
  single_enable = 0;
  restartinfo = 0;  // the model file is the potential: nothing to write into restart files
  one_coeff = 1;
  manybody_flag = 1;
  // The model gives the virial (-dE/dstrain). LAMMPS' sum of f.r over local and ghost atoms
  // would be wrong in the one-rank mode, where periodic images live inside the model.
  no_virial_fdotr_compute = 1;
  centroidstressflag = CENTROID_NOTAVAIL;
}

PairE3core::~PairE3core() {
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

void PairE3core::allocate() {
  allocated = 1;
  const int n = atom->ntypes;
  memory->create(setflag, n + 1, n + 1, "pair:setflag");
  memory->create(cutsq, n + 1, n + 1, "pair:cutsq");
  for (int i = 1; i <= n; ++i)
    for (int j = i; j <= n; ++j) setflag[i][j] = 0;
}

void PairE3core::settings(int narg, char** arg) {
  if (narg > 1) {
    error->all(FLERR,
               "pair_style e3core takes at most one argument, the mode (auto or ghost); got {}",
               narg);
  }
  ghost_requested_ = false;
  if (narg == 1) {
    const std::string mode = arg[0];
    if (mode == "ghost") {
      ghost_requested_ = true;
    } else if (mode != "auto") {
      error->all(FLERR, "pair_style e3core: mode is '{}', expected auto or ghost", mode);
    }
  }
}

void PairE3core::coeff(int narg, char** arg) {
  const int ntypes = atom->ntypes;
  if (narg < 3) {
    error->all(FLERR,
               "pair_coeff for pair_style e3core: expected '* * MODEL' and one element per atom "
               "type ({} types), got {} arguments",
               ntypes, narg);
  }
  // LAMMPS itself requires '* *' (one_coeff).
  const std::string path = arg[2];
  try {
    model_ = std::make_unique<e3core::Model>(path);
  } catch (const std::exception& e) {
    model_.reset();
    error->all(FLERR, "pair_coeff for pair_style e3core: cannot load the model '{}': {}", path,
               e.what());
  }
  model_path_ = path;
  const std::vector<std::string>& known = model_->type_names();
  if (narg - 3 != ntypes) {
    error->all(FLERR,
               "pair_coeff * * {}: got {} element names, expected {}, one per atom type (the "
               "model knows {})",
               path, narg - 3, ntypes, join(known));
  }
  type_of_.assign(ntypes + 1, -1);
  for (int t = 1; t <= ntypes; ++t) {
    const std::string name = arg[2 + t];
    if (name == "NULL") {
      error->all(FLERR,
                 "pair_coeff * * {}: atom type {} is NULL, but pair_style e3core needs an element "
                 "of the model for every atom type (it knows {})",
                 path, t, join(known));
    }
    const auto it = std::find(known.begin(), known.end(), name);
    if (it == known.end()) {
      error->all(FLERR,
                 "pair_coeff * * {}: atom type {} is '{}', an element the model does not know "
                 "(it knows {})",
                 path, t, name, join(known));
    }
    type_of_[t] = it - known.begin();
  }
  if (!allocated) allocate();
  for (int i = 1; i <= ntypes; ++i)
    for (int j = i; j <= ntypes; ++j) setflag[i][j] = 1;
}

void PairE3core::init_style() {
  if (std::strcmp(update->unit_style, "metal") != 0) {
    error->all(FLERR,
               "pair_style e3core needs 'units metal' (eV and Angstrom, the units of e3core's "
               "potentials), got 'units {}'",
               update->unit_style);
  }
  if (force->newton_pair == 0) {
    error->all(FLERR,
               "pair_style e3core needs 'newton on' for pairs (LAMMPS sends the forces on ghost "
               "atoms back to their owners), got newton pair off");
  }
  if (domain->dimension != 3) {
    error->all(FLERR, "pair_style e3core needs 'dimension 3', got dimension {}", domain->dimension);
  }
  // No neighbour list is requested: the model builds its own, within its cutoff.
  ghost_mode_ = ghost_requested_ || comm->nprocs > 1;
  if (!ghost_mode_) return;

  // Each rank's ghosts must reach the receptive field of its local atoms for as long as the
  // ghosts are kept (atoms move up to skin/2 between neighbour-list builds).
  const double receptive_field = model_->receptive_field();
  if (comm->mode != Comm::SINGLE) {
    error->all(FLERR,
               "pair_style e3core on several MPI ranks needs 'comm_modify mode single' (one "
               "ghost cutoff, the receptive field {} + skin)",
               receptive_field);
  }
  const double cutoff = receptive_field + neighbor->skin;
  if (comm->cutghostuser < cutoff) {
    comm->cutghostuser = cutoff;
    if (comm->me == 0) {
      utils::logmesg(lmp,
                     "pair_style e3core: ghost mode, communication cutoff set to {} (receptive "
                     "field {} + skin {})\n",
                     cutoff, receptive_field, neighbor->skin);
    }
  }
}

double PairE3core::init_one(int /*i*/, int /*j*/) { return model_->r_max(); }

void PairE3core::compute(int eflag, int vflag) {
  ev_init(eflag, vflag);
  if (vflag_atom || cvflag_atom) {
    error->all(FLERR,
               "pair_style e3core computes no per-atom virial (compute stress/atom, "
               "centroid/stress/atom): the model gives the global virial only");
  }
  const int nlocal = atom->nlocal;
  if (nlocal == 0) return;
  const int n = ghost_mode_ ? nlocal + atom->nghost : nlocal;
  types_.resize(n);
  const int* type = atom->type;
  for (int i = 0; i < n; ++i) types_[i] = type_of_[type[i]];

  std::array<double, 9> cell{};
  std::array<bool, 3> pbc{};
  if (!ghost_mode_) {
    // LAMMPS' (restricted triclinic) box as lattice vectors in rows: a = (xprd, 0, 0),
    // b = (xy, yprd, 0), c = (xz, yz, zprd). Rows of open axes are zero, as a model's own
    // structures have them (its periodicity is read from the cell's non-zero rows).
    const double rows[9] = {domain->xprd, 0,          0,           domain->xy, domain->yprd, 0,
                            domain->xz,   domain->yz, domain->zprd};
    for (int d = 0; d < 3; ++d) {
      pbc[d] = domain->periodicity[d] != 0;
      for (int c = 0; c < 3; ++c) cell[3 * d + c] = pbc[d] ? rows[3 * d + c] : 0.0;
    }
  }
  e3core::ModelResult result;
  try {
    result = model_->compute(atom->x[0], types_.data(), n, cell, pbc, ghost_mode_ ? nlocal : -1);
  } catch (const std::exception& e) {
    error->one(FLERR, "pair_style e3core: the model '{}' failed on {} atoms: {}", model_path_, n,
               e.what());
  }

  double** f = atom->f;
  const double* forces = result.forces.data();
  for (int i = 0; i < n; ++i) {
    f[i][0] += forces[3 * i];
    f[i][1] += forces[3 * i + 1];
    f[i][2] += forces[3 * i + 2];
  }
  if (eflag_global) eng_vdwl += result.energy;
  if (eflag_atom) {
    for (int i = 0; i < nlocal; ++i) eatom[i] += result.atomic_energies[i];
  }
  if (vflag_global) {
    // Summed over ranks, the ghost-mode virials give the total: each is -dE_local/dstrain.
    const std::array<double, 9>& w = result.virial;
    virial[0] += w[0];
    virial[1] += w[4];
    virial[2] += w[8];
    virial[3] += w[1];
    virial[4] += w[2];
    virial[5] += w[5];
  }
}
