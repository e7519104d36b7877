// e3core_evaluate MODEL INPUT OUTPUT: runs e3core::Model on each structure of INPUT and writes
// its results to OUTPUT, for comparison with Python. A test tool.
//
// INPUT holds structures one after another, each:
//   n_atoms n_local           (n_local -1: every atom's energy counts)
//   pbc_x pbc_y pbc_z         (0 or 1)
//   cell: 9 numbers           (rows the lattice vectors)
//   n_atoms lines: type x y z
// OUTPUT holds, per structure, lines "name values...": energy, atomic_energies, forces, virial,
// "cpu_memory_cache" (1 when libe3core_torch's cache is torch's CPU allocator), then "end".
// Errors go to stderr with exit status 1.
#include <array>
#include <cstdio>
#include <e3core/deploy/model.hpp>
#include <e3core/torch/cpu_memory_cache.hpp>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

void write(std::ostream& out, const std::string& name, const double* values, size_t n) {
  out << name;
  char buffer[32];
  for (size_t k = 0; k < n; ++k) {
    std::snprintf(buffer, sizeof(buffer), " %.17g", values[k]);
    out << buffer;
  }
  out << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: e3core_evaluate MODEL INPUT OUTPUT\n";
    return 2;
  }
  try {
    e3core::Model model(argv[1]);
    std::ifstream in(argv[2]);
    if (!in) throw std::invalid_argument(std::string("cannot read ") + argv[2]);
    std::ofstream out(argv[3]);
    int64_t n = 0, n_local = 0;
    while (in >> n >> n_local) {
      std::array<bool, 3> pbc{};
      for (bool& p : pbc) {
        int flag = 0;
        in >> flag;
        p = flag != 0;
      }
      std::array<double, 9> cell{};
      for (double& c : cell) in >> c;
      std::vector<int64_t> types(n);
      std::vector<double> positions(3 * n);
      for (int64_t k = 0; k < n; ++k) {
        in >> types[k] >> positions[3 * k] >> positions[3 * k + 1] >> positions[3 * k + 2];
      }
      if (!in) throw std::invalid_argument(std::string("malformed structure in ") + argv[2]);
      e3core::ModelResult r = model.compute(positions.data(), types.data(), n, cell, pbc, n_local);
      write(out, "energy", &r.energy, 1);
      write(out, "atomic_energies", r.atomic_energies.data(), r.atomic_energies.size());
      write(out, "forces", r.forces.data(), r.forces.size());
      write(out, "virial", r.virial.data(), r.virial.size());
      e3core_cpu_memory_cache_stats cache{};
      e3core_cpu_memory_cache_get_stats(&cache);
      out << "cpu_memory_cache " << cache.enabled << "\n";
      out << "end\n";
    }
  } catch (const std::exception& error) {
    std::cerr << "e3core_evaluate: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
