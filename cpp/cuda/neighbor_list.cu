// CUDA neighbour search: one thread per atom bins it, then counts and writes its pairs (see
// neighbor_element.hpp). Sorting the atoms by bin and the sum of the counts are the caller's.
#include <cuda_runtime.h>

#include "cuda_check.hpp"
#include "e3core/cuda.hpp"
#include "instantiations.hpp"
#include "neighbor_element.hpp"

namespace e3core::cuda {

namespace {

template <typename T>
__global__ void bin_kernel(NeighborGrid g, const T* positions, const int64_t* molecule, int64_t n,
                           int64_t* keys, int32_t* wraps) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t a = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; a < n; a += stride) {
    int32_t bin[3];
    cuda_detail::locate(g, positions, a, wraps + 3 * a, bin);
    keys[a] = cuda_detail::bin_key(g, molecule != nullptr ? molecule[a] : 0, bin);
  }
}

template <typename T>
__global__ void count_kernel(NeighborGrid g, const T* positions, NeighborBins bins, int64_t n,
                             int64_t* counts) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t count = 0;
    cuda_detail::for_each_neighbor(g, positions, bins, i,
                                   [&](int64_t, const int64_t*) { ++count; });
    counts[i] = count;
  }
}

template <typename T>
__global__ void write_kernel(NeighborGrid g, const T* positions, NeighborBins bins, int64_t n,
                             const int64_t* offsets, int64_t* out_i, int64_t* out_j,
                             int64_t* shifts) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t at = offsets[i];
    cuda_detail::for_each_neighbor(g, positions, bins, i, [&](int64_t j, const int64_t* s) {
      out_i[at] = i;
      out_j[at] = j;
      for (int c = 0; c < 3; ++c) shifts[3 * at + c] = s[c];
      ++at;
    });
  }
}

}  // namespace

template <typename T>
void bin_atoms(const NeighborGrid& grid, const T* positions, const int64_t* molecule, int64_t n,
               int64_t* keys, int32_t* wraps, void* stream) {
  if (n == 0) return;
  bin_kernel<T>
      <<<cuda_detail::blocks_for(n), cuda_detail::kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          grid, positions, molecule, n, keys, wraps);
  cuda_detail::check_launch("bin_atoms");
}

template <typename T>
void count_neighbors(const NeighborGrid& grid, const T* positions, const NeighborBins& bins,
                     int64_t n, int64_t* counts, void* stream) {
  if (n == 0) return;
  count_kernel<T>
      <<<cuda_detail::blocks_for(n), cuda_detail::kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          grid, positions, bins, n, counts);
  cuda_detail::check_launch("count_neighbors");
}

template <typename T>
void write_neighbors(const NeighborGrid& grid, const T* positions, const NeighborBins& bins,
                     int64_t n, const int64_t* offsets, int64_t* i, int64_t* j, int64_t* shifts,
                     void* stream) {
  if (n == 0) return;
  write_kernel<T>
      <<<cuda_detail::blocks_for(n), cuda_detail::kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          grid, positions, bins, n, offsets, i, j, shifts);
  cuda_detail::check_launch("write_neighbors");
}

E3CORE_CUDA_INSTANTIATE_NL(float)
E3CORE_CUDA_INSTANTIATE_NL(double)

}  // namespace e3core::cuda
