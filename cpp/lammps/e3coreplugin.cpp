// The plugin entry point: registers pair_style e3core when LAMMPS loads e3coreplugin.so
// ("plugin load e3coreplugin.so", or from a folder in LAMMPS_PLUGIN_PATH).
#include <e3core/deploy/model.hpp>
#include <string>

#include "lammpsplugin.h"
#include "pair_e3core.h"

#ifndef E3CORE_LAMMPS_VERSION
#error "E3CORE_LAMMPS_VERSION must be defined (the LAMMPS version built against, set by CMake)"
#endif

using namespace LAMMPS_NS;

namespace {

Pair* create_pair_e3core(LAMMPS* lmp) { return new PairE3core(lmp); }

}  // namespace

extern "C" void lammpsplugin_init(void* lmp, void* handle, void* regfunc) {
  // LAMMPS keeps a copy of the struct but only the pointers to the strings: they must outlive
  // this call.
  static const std::string info = "e3core pair style (e3core " + e3core::Model::version() + ")";
  lammpsplugin_t plugin{};
  plugin.version = E3CORE_LAMMPS_VERSION;
  plugin.style = "pair";
  plugin.name = "e3core";
  plugin.info = info.c_str();
  plugin.author = "the e3core authors";
  plugin.creator.v1 = reinterpret_cast<lammpsplugin_factory1*>(&create_pair_e3core);
  plugin.handle = handle;
  reinterpret_cast<lammpsplugin_regfunc>(regfunc)(&plugin, lmp);
}
