// Velocity-Verlet NVE molecular dynamics of a periodic box of water on an exported e3core
// potential (TorchScript file or AOTInductor package), printing the energy and its drift.
//
//   e3core_md MODEL [--molecules-per-side K] [--steps N] [--dt FS] [--temperature T]
//                   [--print-every M] [--dump FILE]
//
// Units: eV, Angstrom, fs, amu. --dump writes the first configuration, its energy, forces and
// virial as text (one "name values..." line each) for comparison with Python.
#include <e3core/deploy/model.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr double kBoltzmann = 8.617333262e-5;  // eV / K
constexpr double kForceToAcceleration = 9.64853321e-3;  // (eV / Angstrom / amu) in Angstrom / fs^2
constexpr double kWaterSpacing = 3.104;  // Angstrom: 1 g/cm^3 on a cubic grid of molecules

struct Options {
  std::string model;
  int molecules_per_side = 3;
  int steps = 200;
  double dt = 0.5;
  double temperature = 300;
  int print_every = 20;
  std::string dump;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int k = 1; k < argc; ++k) {
    std::string arg = argv[k];
    auto value = [&]() -> std::string {
      if (k + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++k];
    };
    if (arg == "--molecules-per-side") o.molecules_per_side = std::stoi(value());
    else if (arg == "--steps") o.steps = std::stoi(value());
    else if (arg == "--dt") o.dt = std::stod(value());
    else if (arg == "--temperature") o.temperature = std::stod(value());
    else if (arg == "--print-every") o.print_every = std::stoi(value());
    else if (arg == "--dump") o.dump = value();
    else if (!arg.empty() && arg[0] == '-') throw std::invalid_argument("unknown option " + arg);
    else o.model = arg;
  }
  if (o.model.empty()) throw std::invalid_argument("usage: e3core_md MODEL [options]");
  if (o.molecules_per_side < 1 || o.steps < 0 || !(o.dt > 0) || o.print_every < 1) {
    throw std::invalid_argument("molecules per side and print-every must be >= 1, steps >= 0, dt > 0");
  }
  return o;
}

double mass_of(const std::string& symbol) {
  static const std::map<std::string, double> masses = {{"H", 1.008}, {"C", 12.011},
                                                        {"N", 14.007}, {"O", 15.999}};
  auto it = masses.find(symbol);
  if (it == masses.end()) throw std::invalid_argument("no mass for atom type " + symbol);
  return it->second;
}

// K^3 water molecules on a cubic grid, each turned at random, with small random displacements.
void water_box(int k, std::mt19937& rng, std::vector<double>& positions,
               std::vector<std::string>& symbols, std::array<double, 9>& cell) {
  const double bond = 0.9572, half_angle = 0.5 * 104.52 * M_PI / 180;
  std::normal_distribution<double> normal(0.0, 1.0);
  for (int a = 0; a < k; ++a)
    for (int b = 0; b < k; ++b)
      for (int c = 0; c < k; ++c) {
        double o[3] = {(a + 0.5) * kWaterSpacing, (b + 0.5) * kWaterSpacing,
                       (c + 0.5) * kWaterSpacing};
        // A random orthonormal frame (u, w) for the molecule's plane.
        double u[3], w[3];
        for (double& x : u) x = normal(rng);
        for (double& x : w) x = normal(rng);
        double nu = std::sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
        for (double& x : u) x /= nu;
        double dot = u[0] * w[0] + u[1] * w[1] + u[2] * w[2];
        for (int d = 0; d < 3; ++d) w[d] -= dot * u[d];
        double nw = std::sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
        for (double& x : w) x /= nw;
        for (int d = 0; d < 3; ++d) positions.push_back(o[d] + 0.05 * normal(rng));
        symbols.push_back("O");
        for (int side : {-1, 1}) {
          for (int d = 0; d < 3; ++d) {
            positions.push_back(o[d] + bond * (std::cos(half_angle) * u[d] +
                                               side * std::sin(half_angle) * w[d]));
          }
          symbols.push_back("H");
        }
      }
  cell = {k * kWaterSpacing, 0, 0, 0, k * kWaterSpacing, 0, 0, 0, k * kWaterSpacing};
}

void dump(const std::string& path, const std::vector<double>& positions,
          const std::vector<int64_t>& types, const std::array<double, 9>& cell,
          const e3core::ModelResult& r) {
  std::ofstream out(path);
  out.precision(17);
  auto line = [&](const char* name, const auto& values) {
    out << name;
    for (const auto& v : values) out << ' ' << v;
    out << '\n';
  };
  line("positions", positions);
  line("atom_types", types);
  line("cell", cell);
  line("energy", std::vector<double>{r.energy});
  line("atomic_energies", r.atomic_energies);
  line("forces", r.forces);
  line("virial", r.virial);
}

int run(const Options& o) {
  e3core::Model model(o.model);
  std::mt19937 rng(0);
  std::vector<double> x;
  std::vector<std::string> symbols;
  std::array<double, 9> cell;
  water_box(o.molecules_per_side, rng, x, symbols, cell);
  const std::vector<int64_t> types = model.atom_types(symbols);
  const size_t n = types.size();
  std::vector<double> mass(n), v(3 * n);
  std::normal_distribution<double> normal(0.0, 1.0);
  double momentum[3] = {0, 0, 0}, total_mass = 0;
  for (size_t i = 0; i < n; ++i) {
    mass[i] = mass_of(symbols[i]);
    total_mass += mass[i];
    // Maxwell-Boltzmann: sqrt(kT / m) in Angstrom / fs.
    double sigma = std::sqrt(kBoltzmann * o.temperature / mass[i] * kForceToAcceleration);
    for (int d = 0; d < 3; ++d) {
      v[3 * i + d] = sigma * normal(rng);
      momentum[d] += mass[i] * v[3 * i + d];
    }
  }
  for (size_t i = 0; i < n; ++i)
    for (int d = 0; d < 3; ++d) v[3 * i + d] -= momentum[d] / total_mass;

  auto kinetic = [&]() {
    double e = 0;
    for (size_t i = 0; i < 3 * n; ++i) e += 0.5 * mass[i / 3] * v[i] * v[i];
    return e / kForceToAcceleration;
  };
  const std::array<bool, 3> pbc = {true, true, true};
  e3core::ModelResult r = model.compute(x, types, cell, pbc);
  if (!o.dump.empty()) dump(o.dump, x, types, cell, r);
  std::printf("e3core %s, model %s (%s, %s), r_max %.3f, %zu atoms, %lld edges, dt %.3f fs\n",
              e3core::Model::version().c_str(), o.model.c_str(), model.format().c_str(),
              model.dtype().c_str(), model.r_max(), n, static_cast<long long>(r.n_edges), o.dt);
  std::printf("%8s %16s %16s %16s\n", "step", "potential", "kinetic", "total");
  const double e0 = r.energy + kinetic();
  double max_drift = 0;
  for (int step = 0; step <= o.steps; ++step) {
    double total = r.energy + kinetic();
    max_drift = std::max(max_drift, std::abs(total - e0));
    if (step % o.print_every == 0 || step == o.steps) {
      std::printf("%8d %16.8f %16.8f %16.8f\n", step, r.energy, kinetic(), total);
    }
    if (step == o.steps) break;
    for (size_t i = 0; i < 3 * n; ++i) {
      v[i] += 0.5 * o.dt * r.forces[i] / mass[i / 3] * kForceToAcceleration;
      x[i] += o.dt * v[i];
    }
    r = model.compute(x, types, cell, pbc);
    for (size_t i = 0; i < 3 * n; ++i) {
      v[i] += 0.5 * o.dt * r.forces[i] / mass[i / 3] * kForceToAcceleration;
    }
  }
  std::printf("energy drift: max |E(t) - E(0)| = %.3e eV = %.3e eV/atom over %d steps\n",
              max_drift, max_drift / n, o.steps);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "e3core_md: error: %s\n", error.what());
    return 1;
  }
}
