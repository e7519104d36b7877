// How a tensor-product path pairs the channels of x1 and x2, and where each pair finds its
// weights and output channel: e3nn's connection modes as index arithmetic, shared by the CPU and
// CUDA kernels.
#pragma once

#include <cstdint>

#include "e3core/tensor_product.hpp"
#include "host_device.hpp"

namespace e3core {

// Channels of x1 and x2 are paired as all (u, v), the diagonal (u, u) or the triangle u < v.
enum class Pairing { All, Diagonal, Triangle };

E3CORE_HD inline Pairing pairing_of(ConnectionMode mode) {
  switch (mode) {
    case ConnectionMode::UUW:
    case ConnectionMode::UUU:
      return Pairing::Diagonal;
    case ConnectionMode::UVULV:
    case ConnectionMode::ULVW:
      return Pairing::Triangle;
    default:
      return Pairing::All;
  }
}

// Mixing modes sum over channels into every output channel w through a weight matrix.
E3CORE_HD inline bool is_mixing(ConnectionMode mode) {
  return mode == ConnectionMode::UVW || mode == ConnectionMode::UUW || mode == ConnectionMode::ULVW;
}

// Index of the pair (u < v) among torch.triu_indices(m, m, 1), e3nn's order.
E3CORE_HD inline int64_t triangle_index(int64_t u, int64_t v, int64_t m) {
  return u * m - u * (u + 1) / 2 + (v - u - 1);
}

// Weight index of the pair (u, v) in the path's weights (times mul_out for mixing modes), and
// output channel of the pair for the elementwise modes.
struct PairIndex {
  ConnectionMode mode;
  int64_t m1, m2, m3;
  // "uvu" weights stored [v][u]: a "uvv" path run with x1 and x2 exchanged (CPU kernels).
  bool transposed = false;
  E3CORE_HD int64_t weight(int64_t u, int64_t v) const {
    switch (mode) {
      case ConnectionMode::UUU:
        return u;
      case ConnectionMode::UUW:
        return u * m3;
      case ConnectionMode::UVW:
        return (u * m2 + v) * m3;
      case ConnectionMode::UVULV:
        return triangle_index(u, v, m1);
      case ConnectionMode::ULVW:
        return triangle_index(u, v, m1) * m3;
      default:
        return transposed ? v * m1 + u : u * m2 + v;
    }
  }
  E3CORE_HD int64_t channel(int64_t u, int64_t v) const {
    switch (mode) {
      case ConnectionMode::UVV:
        return v;
      case ConnectionMode::UVUV:
        return u * m2 + v;
      case ConnectionMode::UVULV:
        return triangle_index(u, v, m1);
      default:
        return u;
    }
  }
};

}  // namespace e3core
