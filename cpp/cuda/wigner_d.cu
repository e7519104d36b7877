// CUDA Wigner D matrices: one thread per entry (i, k) of one rotation's D^l, from the pieces in
// wigner_d_element.hpp; each thread needs four entries of the x rotation, O(l) work each. The
// table S is copied to each device once per (l, type).
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "cuda_check.hpp"
#include "e3core/cuda.hpp"
#include "instantiations.hpp"
#include "wigner_d_element.hpp"

namespace e3core::cuda {

using wigner_detail::y_row;

namespace {

// S = wigner_D_swap_xy(l) on the current device; it lives as long as the process.
template <typename T>
const T* device_swap(int l) {
  static std::mutex mutex;
  static std::map<std::tuple<int, int>, T*> cache;
  int device = 0;
  cuda_detail::check(cudaGetDevice(&device), "cudaGetDevice");
  const auto key = std::make_tuple(device, l);
  const std::lock_guard<std::mutex> lock(mutex);
  const auto found = cache.find(key);
  if (found != cache.end()) return found->second;
  const std::vector<double>& S = wigner_D_swap_xy(l);
  const std::vector<T> values(S.begin(), S.end());
  T* table = nullptr;
  cuda_detail::check(cudaMalloc(&table, values.size() * sizeof(T)), "cudaMalloc of wigner_D's S");
  const cudaError_t status =
      cudaMemcpy(table, values.data(), values.size() * sizeof(T), cudaMemcpyHostToDevice);
  if (status != cudaSuccess) cudaFree(table);
  cuda_detail::check(status, "cudaMemcpy of wigner_D's S");
  cache.emplace(key, table);
  return table;
}

template <typename T>
__global__ void wigner_D_kernel(int l, const T* S, const T* alpha, const T* beta, const T* gamma,
                                int64_t n, EulerDerivative order, T* out) {
  const int d = 2 * l + 1;
  const int64_t dd = int64_t(d) * d, total = n * dd;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t r = e / dd;
    const int i = int((e % dd) / d), k = int(e % d);
    const int rows[2] = {i, 2 * l - i}, cols[2] = {k, 2 * l - k};
    T a[2], c[2], unused;
    y_row(l, i, alpha[r], order.alpha, a[0], a[1]);
    y_row(l, k, gamma[r], order.gamma, c[0], unused);
    y_row(l, 2 * l - k, gamma[r], order.gamma, unused, c[1]);
    // X[rows[p], cols[q]] of X = S Y(beta) S.
    T x[2][2] = {{T(0), T(0)}, {T(0), T(0)}};
    for (int m = 0; m < d; ++m) {
      T diagonal, anti;
      y_row(l, m, beta[r], order.beta, diagonal, anti);
      for (int q = 0; q < 2; ++q) {
        const T ys = diagonal * S[m * d + cols[q]] + anti * S[(2 * l - m) * d + cols[q]];
        for (int p = 0; p < 2; ++p) x[p][q] += S[rows[p] * d + m] * ys;
      }
    }
    T value = T(0);
    for (int p = 0; p < 2; ++p) {
      for (int q = 0; q < 2; ++q) value += a[p] * x[p][q] * c[q];
    }
    out[e] = value;
  }
}

}  // namespace

template <typename T>
void wigner_D(int l, const T* alpha, const T* beta, const T* gamma, int64_t n,
              EulerDerivative order, T* out, void* stream) {
  if (l < 0 || n < 0 || order.alpha < 0 || order.beta < 0 || order.gamma < 0) {
    throw std::invalid_argument("e3core::cuda::wigner_D: expected l, n and orders >= 0, got l = " +
                                std::to_string(l) + ", n = " + std::to_string(n));
  }
  if (n == 0) return;
  const int64_t d = 2 * l + 1;
  wigner_D_kernel<T><<<cuda_detail::blocks_for(n * d * d), cuda_detail::kThreads, 0,
                       static_cast<cudaStream_t>(stream)>>>(l, device_swap<T>(l), alpha, beta,
                                                            gamma, n, order, out);
  cuda_detail::check_launch("wigner_D");
}

E3CORE_CUDA_INSTANTIATE_WIGNER(float)
E3CORE_CUDA_INSTANTIATE_WIGNER(double)

}  // namespace e3core::cuda
