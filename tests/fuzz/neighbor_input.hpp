// The input of the neighbour-list fuzz target, shared with the seed generator: 8-byte words, so
// that the word mutator changes one parameter at a time.
//   word 0       bytes: flags, atoms (mod kMaxAtoms + 1), max_num_neighbors (int8), and a null
//                cell (for radius_graph: no molecules) in bit 0 of byte 3
//   word 1       the cutoff (r_max for radius_graph)
//   words 2-10   the cell, row-major
//   then         3 coordinates per atom, then one molecule (int64) per atom for radius_graph
// Missing words read as zero.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace e3core_fuzz {

constexpr int kMaxAtoms = 32;

// Bits of the flags byte.
constexpr int kPbcX = 1, kPbcY = 2, kPbcZ = 4;
constexpr int kSelfInteraction = 8;  // loop for radius_graph
constexpr int kFullList = 16;
constexpr int kSorted = 32;
constexpr int kFloat = 64;
constexpr int kRadiusGraph = 128;

struct NeighborInput {
  uint8_t flags = 0;
  int8_t max_num_neighbors = -1;
  bool null_cell = false;
  double cutoff = 0;
  std::array<double, 9> cell = {};
  std::vector<double> positions;  // 3 per atom
  std::vector<int64_t> batch;     // one per atom

  int64_t atoms() const { return int64_t(positions.size() / 3); }

  static NeighborInput read(const uint8_t* data, size_t size) {
    size_t at = 0;
    const auto word = [&](void* out) {
      std::memset(out, 0, 8);
      if (at < size) std::memcpy(out, data + at, std::min<size_t>(8, size - at));
      at += 8;
    };
    uint8_t header[8];
    word(header);
    NeighborInput in;
    in.flags = header[0];
    const int atoms = header[1] % (kMaxAtoms + 1);
    in.max_num_neighbors = int8_t(header[2]);
    in.null_cell = header[3] & 1;
    word(&in.cutoff);
    for (double& c : in.cell) word(&c);
    in.positions.resize(size_t(3 * atoms));
    for (double& p : in.positions) word(&p);
    in.batch.resize(size_t(atoms));
    for (int64_t& b : in.batch) word(&b);
    return in;
  }

  std::vector<uint8_t> write() const {
    std::vector<uint8_t> out(8, 0);
    out[0] = flags;
    out[1] = uint8_t(atoms());
    out[2] = uint8_t(max_num_neighbors);
    out[3] = null_cell;
    const auto word = [&](const void* in) {
      out.resize(out.size() + 8);
      std::memcpy(out.data() + out.size() - 8, in, 8);
    };
    word(&cutoff);
    for (const double& c : cell) word(&c);
    for (const double& p : positions) word(&p);
    for (const int64_t& b : batch) word(&b);
    return out;
  }
};

}  // namespace e3core_fuzz
