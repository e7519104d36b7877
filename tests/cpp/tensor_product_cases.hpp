// Shared by the tensor-product tests: random inputs, specs, and one path of every connection
// mode.
#pragma once

#include <random>
#include <vector>

#include "e3core/tensor_product.hpp"

namespace e3core_test {

inline std::vector<double> randn(size_t n, std::mt19937_64& gen) {
  std::normal_distribution<double> d;
  std::vector<double> v(n);
  for (double& x : v) x = d(gen);
  return v;
}

inline e3core::TpSpec spec(const char* in1, const char* in2, const char* out,
                           std::vector<e3core::TpInstruction> instructions) {
  e3core::TpSpec s;
  s.irreps_in1 = e3core::Irreps::parse(in1);
  s.irreps_in2 = e3core::Irreps::parse(in2);
  s.irreps_out = e3core::Irreps::parse(out);
  s.instructions = std::move(instructions);
  return s;
}

// A single path (instruction 0, 0, 0) of a connection mode.
struct ModeCase {
  const char *in1, *in2, *out;
  e3core::ConnectionMode mode;
  bool weight;
};

// Every mode, with channel counts that tell u, v and w apart.
inline const std::vector<ModeCase>& mode_cases() {
  using e3core::ConnectionMode;
  static const std::vector<ModeCase> cases = {
      {"3x1o", "2x1o", "4x2e", ConnectionMode::UVW, true},
      {"3x1o", "2x2e", "3x1o", ConnectionMode::UVU, true},
      {"3x1o", "2x2e", "2x2o", ConnectionMode::UVV, true},
      {"3x1o", "3x1e", "2x0o", ConnectionMode::UUW, true},
      {"3x2e", "3x1o", "3x3o", ConnectionMode::UUU, false},
      {"2x1o", "3x1o", "6x1e", ConnectionMode::UVUV, true},
      {"3x1o", "3x1o", "3x2e", ConnectionMode::UVULV, true},
      {"4x1o", "4x1o", "2x1e", ConnectionMode::ULVW, true},
  };
  return cases;
}

}  // namespace e3core_test
