/// @file cuda.hpp
/// @brief The CUDA kernels: spherical harmonics and the tensor-product family on device memory.
///
/// Pointers are device pointers and `stream` is a cudaStream_t passed as void* (so that this
/// header needs no CUDA). Calls are asynchronous on the stream; launch errors throw
/// std::runtime_error. In a build without CUDA (available() is false) every function throws
/// std::runtime_error saying so.
///
/// Results are the CPU kernels' (same conventions, same layouts, see spherical_harmonics.hpp and
/// tensor_product.hpp), up to rounding, and reproducible bit for bit: no atomics.
#pragma once

#include <cstdint>
#include <memory>

#include "e3core/spherical_harmonics.hpp"
#include "e3core/tensor_product.hpp"

namespace e3core::cuda {

/// Whether this build has the CUDA kernels.
bool available() noexcept;

/// spherical_harmonics on the device: sh (n x sh_dim) and, unless null, dsh (n x 3 x sh_dim).
template <typename T>
void spherical_harmonics(const ShOptions& options, const T* xyz, int64_t n, T* sh, T* dsh,
                         void* stream);

/// spherical_harmonics_vjp on the device.
template <typename T>
void spherical_harmonics_vjp(const ShOptions& options, const T* xyz, const T* grad_sh, int64_t n,
                             T* grad_xyz, void* stream);

/// spherical_harmonics_vjp_backward on the device; either output may be null.
template <typename T>
void spherical_harmonics_vjp_backward(const ShOptions& options, const T* xyz, const T* grad_sh,
                                      const T* grad_grad_xyz, int64_t n, T* grad_grad_sh,
                                      T* grad_xyz2, void* stream);

/// A tensor-product plan's tables in the memory of the device current at construction.
class TpDevicePlan {
 public:
  explicit TpDevicePlan(const TpPlan& plan);
  ~TpDevicePlan();
  TpDevicePlan(const TpDevicePlan&) = delete;
  TpDevicePlan& operator=(const TpDevicePlan&) = delete;

  const TpPlan& plan() const;
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

/// Samples grouped by the result row they add into (device arrays): group g holds the samples
/// order[offsets[g]], ..., order[offsets[g + 1] - 1] and writes row g of the result. A null
/// order is the identity; null offsets make sample g the group g. A convolution's result rows
/// are its nodes: the edges sorted (stably) by destination for out, by source for x1's
/// gradient. A result shared by all samples (a shared weight's gradient) is summed in chunks of
/// samples, one partial row per chunk, then added up with sum_rows.
struct TpGroups {
  int64_t count = 0;
  const int64_t* order = nullptr;
  const int64_t* offsets = nullptr;
};

/// Writes slot `result` of the tensor product, one row per group, from the other three slots'
/// arrays (their rows found per sample as in e3core::tensor_product; the result's array is only
/// the destination, groups.count rows).
template <typename T>
void tensor_product(const TpDevicePlan& plan, TpSlot result, TpArray<T> x1, TpArray<T> x2,
                    TpArray<T> weight, TpArray<T> out, const TpGroups& groups, void* stream);

/// out[c] = sum over r of rows[r][c], r in order (rows: count x width).
template <typename T>
void sum_rows(const T* rows, int64_t count, int64_t width, T* out, void* stream);

}  // namespace e3core::cuda
