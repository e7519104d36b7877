// The pieces of one Wigner D matrix D^l(alpha, beta, gamma) = Y(alpha) S Y(beta) S Y(gamma), for
// the CPU kernel (wigner_d.cpp) and the CUDA one (cpp/cuda/wigner_d.cu).
//
// Y(t) = D^l(matrix_y(t)) rotates about e3nn's polar axis y: its row i has frequency f = l - i,
// with cos(f t) at column i and sin(f t) at column 2l - i. S = wigner_D_swap_xy(l).
#pragma once

#include <cmath>

#include "host_device.hpp"

namespace e3core::wigner_detail {

/// Row i of the k-th derivative of Y at t: `diagonal` at column i, `anti` at column 2l - i
/// (zero in the middle row, where the two columns coincide).
template <typename T>
E3CORE_HD void y_row(int l, int i, T t, int k, T& diagonal, T& anti) {
  const int f = l - i;
  if (f == 0) {
    diagonal = k == 0 ? T(1) : T(0);
    anti = T(0);
    return;
  }
  T c = std::cos(T(f) * t), s = std::sin(T(f) * t);
  // d/dt (cos, sin)(f t) = f (-sin, cos)(f t): a quarter turn per derivative, times f.
  for (int p = 0; p < k % 4; ++p) {
    const T next_c = -s;
    s = c;
    c = next_c;
  }
  T scale = T(1);
  for (int p = 0; p < k; ++p) scale *= T(f);
  diagonal = scale * c;
  anti = scale * s;
}

}  // namespace e3core::wigner_detail
