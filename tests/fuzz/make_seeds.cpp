// Writes the fuzz targets' seed corpora: valid inputs, from which the fuzzers' mutations reach
// the inputs with one field changed. Usage: e3core_fuzz_seeds <dir>, which gets the folders
// plan/, irreps/ and neighbor_list/. The plans come from TpPlan::build, so they follow the
// encoding as it is.
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "e3core/tensor_product.hpp"
#include "neighbor_input.hpp"
#include "tensor_product_cases.hpp"

namespace {

using e3core::ConnectionMode;
using e3core_test::spec;
using namespace e3core_fuzz;

void write_file(const std::string& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), std::streamsize(size));
  if (!out) throw std::runtime_error("cannot write " + path);
}

void make_dir(const std::string& path) {
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    throw std::runtime_error("cannot create " + path);
  }
}

// One path of every connection mode (the unit tests' cases), with and without weights, and
// products of several terms and paths (a convolution's, with zero multiplicities and repeated
// outputs).
std::vector<e3core::TpPlan> plans() {
  std::vector<e3core::TpSpec> specs;
  for (const e3core_test::ModeCase& c : e3core_test::mode_cases()) {
    specs.push_back(spec(c.in1, c.in2, c.out, {{0, 0, 0, c.mode, true, 1.0}}));
  }
  specs.push_back(spec("2x0e+2x1o", "0e+1o+2e", "2x0e+2x1o+2x2e",
                       {{0, 0, 0, ConnectionMode::UVU, true, 1.0},
                        {0, 1, 1, ConnectionMode::UVU, true, 1.0},
                        {1, 0, 1, ConnectionMode::UVU, true, 0.5},
                        {1, 1, 0, ConnectionMode::UVU, true, 1.0},
                        {1, 1, 2, ConnectionMode::UVU, true, 1.0},
                        {0, 2, 2, ConnectionMode::UVU, false, 1.0}}));
  specs.push_back(
      spec("0x0e+2x1e", "1x1e+0x2o", "3x0e+0x1e",
           {{1, 0, 0, ConnectionMode::UVW, true, 1.0}, {0, 0, 1, ConnectionMode::UVW, true, 1.0}}));
  specs.push_back(
      spec("1x3o", "1x2e", "1x5o+1x1o",
           {{0, 0, 0, ConnectionMode::UVW, true, 1.0}, {0, 0, 1, ConnectionMode::UVW, true, 1.0}}));
  std::vector<e3core::TpPlan> out;
  for (const e3core::TpSpec& s : specs) out.push_back(e3core::TpPlan::build(s));
  // Each path without weights too, where e3nn allows it ("uvw" needs weights, ...).
  for (e3core::TpSpec s : specs) {
    if (s.instructions.size() > 1) continue;
    s.instructions[0].has_weight = false;
    try {
      out.push_back(e3core::TpPlan::build(s));
    } catch (const std::invalid_argument&) {
    }
  }
  return out;
}

std::vector<NeighborInput> neighbor_inputs() {
  std::vector<NeighborInput> inputs;
  NeighborInput water;  // a molecule, no cell
  water.null_cell = true;
  water.cutoff = 1.2;
  water.positions = {0.0, 0.0, 0.119, 0.0, 0.763, -0.477, 0.0, -0.763, -0.477};
  water.batch = {0, 0, 0};
  for (int flags :
       {0, kFullList, kSorted | kFloat, kRadiusGraph, kRadiusGraph | kSelfInteraction}) {
    water.flags = uint8_t(flags);
    inputs.push_back(water);
  }
  NeighborInput crystal;  // a periodic cell with a cutoff past its width
  crystal.cutoff = 3.0;
  crystal.cell = {2.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 2.0};
  crystal.positions = {0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0};
  crystal.batch = {0, 0, 1, 1};
  for (int flags :
       {kPbcX | kPbcY | kPbcZ | kFullList, kPbcX | kPbcY | kPbcZ | kSorted,
        kPbcX | kPbcY | kSelfInteraction | kFullList | kSorted, kPbcX | kFloat, kRadiusGraph}) {
    crystal.flags = uint8_t(flags);
    inputs.push_back(crystal);
  }
  NeighborInput skewed = crystal;  // a triclinic cell, atoms outside it
  skewed.cell = {3.0, 0.0, 0.0, 2.5, 1.0, 0.0, -1.0, 0.5, 2.0};
  skewed.positions = {-4.0, 0.5, 0.3, 7.5, 2.0, -1.0, 0.1, 0.2, 9.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0};
  skewed.batch = {0, 1, 0, 1, 0};
  skewed.max_num_neighbors = 2;
  for (int flags : {kPbcX | kPbcY | kPbcZ | kFullList | kSorted, kPbcX | kPbcZ | kSelfInteraction,
                    kRadiusGraph | kSelfInteraction}) {
    skewed.flags = uint8_t(flags);
    inputs.push_back(skewed);
  }
  return inputs;
}

// Valid strings, and ones that overflowed or were refused (issue 15).
const char* const kIrreps[] = {
    "16x0e+8x1o",
    "2x3e + 1x0o",
    "0e",
    "1o",
    "3y",
    "0x1e+1_0x2o",
    " 5x0e + 3x1o + 2x2e ",
    "",
    "1x0e+1x0e+2x1o",
    "100x10e",
    "4611686018427387904x1e",
    "4611686018427387904x1e+4611686018427387904x1e",
    "-1x0e",
    "2x-1e",
    "1x0x",
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <dir>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  try {
    for (const char* sub : {"", "/plan", "/irreps", "/neighbor_list"}) make_dir(dir + sub);
    int k = 0;
    for (const e3core::TpPlan& plan : plans()) {
      const std::vector<int64_t> words = plan.encode();
      write_file(dir + "/plan/" + std::to_string(k++), words.data(), words.size() * 8);
    }
    k = 0;
    for (const char* irreps : kIrreps) {
      write_file(dir + "/irreps/" + std::to_string(k++), irreps, std::string(irreps).size());
    }
    k = 0;
    for (const NeighborInput& in : neighbor_inputs()) {
      const std::vector<uint8_t> bytes = in.write();
      write_file(dir + "/neighbor_list/" + std::to_string(k++), bytes.data(), bytes.size());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
  return 0;
}
