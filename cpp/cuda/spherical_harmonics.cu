// CUDA spherical harmonics: one thread per vector (see spherical_harmonics_element.hpp). The
// recursion tables are copied to each device once per (lmax, normalization, type).
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <tuple>

#include "cuda_check.hpp"
#include "e3core/cuda.hpp"
#include "instantiations.hpp"
#include "spherical_harmonics_element.hpp"

namespace e3core::cuda {

using cuda_detail::ShTablesView;

namespace {

// The tables of `options` on the current device; they live as long as the process.
template <typename T>
const T* device_tables(const ShOptions& options) {
  static std::mutex mutex;
  static std::map<std::tuple<int, int, int>, T*> cache;
  int device = 0;
  cuda_detail::check(cudaGetDevice(&device), "cudaGetDevice");
  const auto key = std::make_tuple(device, options.lmax, int(options.normalization));
  const std::lock_guard<std::mutex> lock(mutex);
  const auto found = cache.find(key);
  if (found != cache.end()) return found->second;
  const std::vector<T> flat = sh_detail::flatten(sh_detail::Tables<T>(options));
  T* tables = nullptr;
  cuda_detail::check(cudaMalloc(&tables, flat.size() * sizeof(T)),
                     "cudaMalloc of harmonics tables");
  const cudaError_t status =
      cudaMemcpy(tables, flat.data(), flat.size() * sizeof(T), cudaMemcpyHostToDevice);
  if (status != cudaSuccess) cudaFree(tables);
  cuda_detail::check(status, "cudaMemcpy of harmonics tables");
  cache.emplace(key, tables);
  return tables;
}

template <typename T>
__global__ void sh_kernel(int lmax, const T* tables, bool normalize, const T* xyz, int64_t n, T* sh,
                          T* dsh) {
  const ShTablesView<T> t(lmax, tables);
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    cuda_detail::sh_vector(t, normalize, xyz, i, sh, dsh);
  }
}

template <typename T>
__global__ void sh_vjp_kernel(int lmax, const T* tables, bool normalize, const T* xyz,
                              const T* grad_sh, int64_t n, T* grad_xyz) {
  const ShTablesView<T> t(lmax, tables);
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    cuda_detail::sh_vjp_vector(t, normalize, xyz, grad_sh, i, grad_xyz);
  }
}

template <typename T>
__global__ void sh_vjp_backward_kernel(int lmax, const T* tables, bool normalize, const T* xyz,
                                       const T* grad_sh, const T* grad_grad_xyz, int64_t n,
                                       T* grad_grad_sh, T* grad_xyz2) {
  const ShTablesView<T> t(lmax, tables);
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    cuda_detail::sh_vjp_backward_vector(t, normalize, xyz, grad_sh, grad_grad_xyz, i, grad_grad_sh,
                                        grad_xyz2);
  }
}

}  // namespace

template <typename T>
void spherical_harmonics(const ShOptions& options, const T* xyz, int64_t n, T* sh, T* dsh,
                         void* stream) {
  check_sh_options(options);
  if (n == 0) return;
  sh_kernel<T>
      <<<cuda_detail::blocks_for(n), cuda_detail::kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          options.lmax, device_tables<T>(options), options.normalize, xyz, n, sh, dsh);
  cuda_detail::check_launch("spherical_harmonics");
}

template <typename T>
void spherical_harmonics_vjp(const ShOptions& options, const T* xyz, const T* grad_sh, int64_t n,
                             T* grad_xyz, void* stream) {
  check_sh_options(options);
  if (n == 0) return;
  sh_vjp_kernel<T>
      <<<cuda_detail::blocks_for(n), cuda_detail::kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          options.lmax, device_tables<T>(options), options.normalize, xyz, grad_sh, n, grad_xyz);
  cuda_detail::check_launch("spherical_harmonics_vjp");
}

template <typename T>
void spherical_harmonics_vjp_backward(const ShOptions& options, const T* xyz, const T* grad_sh,
                                      const T* grad_grad_xyz, int64_t n, T* grad_grad_sh,
                                      T* grad_xyz2, void* stream) {
  check_sh_options(options);
  if (n == 0 || (grad_grad_sh == nullptr && grad_xyz2 == nullptr)) return;
  sh_vjp_backward_kernel<T>
      <<<cuda_detail::blocks_for(n), cuda_detail::kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          options.lmax, device_tables<T>(options), options.normalize, xyz, grad_sh, grad_grad_xyz,
          n, grad_grad_sh, grad_xyz2);
  cuda_detail::check_launch("spherical_harmonics_vjp_backward");
}

E3CORE_CUDA_INSTANTIATE_SH(float)
E3CORE_CUDA_INSTANTIATE_SH(double)

}  // namespace e3core::cuda
