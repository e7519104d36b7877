// CUDA tensor products: one thread per result value, gathering over its group of samples (see
// tensor_product_element.hpp), and the ordered sum of partial rows.
#include <cuda_runtime.h>

#include "cuda_check.hpp"
#include "e3core/cuda.hpp"
#include "instantiations.hpp"
#include "tensor_product_element.hpp"

namespace e3core::cuda {

using cuda_detail::TpSlotsView;
using cuda_detail::TpTables;
using cuda_detail::TpTablesView;

struct TpDevicePlan::Impl {
  TpPlan plan;
  cuda_detail::TpTablesLayout layout;
  int64_t* ints = nullptr;
  float* values_float = nullptr;
  double* values_double = nullptr;

  template <typename T>
  TpTablesView<T> view() const {
    if constexpr (sizeof(T) == sizeof(float)) {
      return {ints, values_float, layout};
    } else {
      return {ints, values_double, layout};
    }
  }
};

namespace {

template <typename V>
V* upload(const std::vector<V>& host) {
  V* device = nullptr;
  const size_t bytes = std::max<size_t>(host.size(), 1) * sizeof(V);
  cuda_detail::check(cudaMalloc(&device, bytes), "cudaMalloc of a tensor-product plan");
  if (!host.empty()) {
    const cudaError_t status =
        cudaMemcpy(device, host.data(), host.size() * sizeof(V), cudaMemcpyHostToDevice);
    if (status != cudaSuccess) cudaFree(device);
    cuda_detail::check(status, "cudaMemcpy of a tensor-product plan");
  }
  return device;
}

template <typename T, TpSlot R>
__global__ void tensor_product_kernel(TpTablesView<T> tables, TpSlotsView<T> slots, TpGroups groups,
                                      int64_t width, T* result) {
  const int64_t total = groups.count * width;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t at = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; at < total; at += stride) {
    result[at] = cuda_detail::group_value<T, R>(tables, slots, groups, at / width, at % width);
  }
}

template <typename T>
__global__ void sum_rows_kernel(const T* rows, int64_t count, int64_t width, T* out) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < width; c += stride) {
    T acc = T(0);
    for (int64_t r = 0; r < count; ++r) acc += rows[r * width + c];
    out[c] = acc;
  }
}

}  // namespace

bool available() noexcept { return true; }

TpDevicePlan::TpDevicePlan(const TpPlan& plan) : impl_(std::make_unique<Impl>()) {
  impl_->plan = plan;
  const TpTables<float> tf(plan);
  const TpTables<double> td(plan);
  impl_->layout = td.layout;
  impl_->ints = upload(td.ints);
  try {
    impl_->values_float = upload(tf.values);
    impl_->values_double = upload(td.values);
  } catch (...) {
    cudaFree(impl_->ints);
    cudaFree(impl_->values_float);
    throw;
  }
}

TpDevicePlan::~TpDevicePlan() {
  // Errors here (a context already torn down at exit) cannot be reported from a destructor.
  cudaFree(impl_->ints);
  cudaFree(impl_->values_float);
  cudaFree(impl_->values_double);
}

const TpPlan& TpDevicePlan::plan() const { return impl_->plan; }

template <typename T>
void tensor_product(const TpDevicePlan& plan, TpSlot result, TpArray<T> x1, TpArray<T> x2,
                    TpArray<T> weight, TpArray<T> out, const TpGroups& groups, void* stream) {
  const TpTablesView<T> tables = plan.impl().view<T>();
  const int64_t width = tables.layout.width[int(result)];
  const int64_t total = groups.count * width;
  if (total == 0) return;
  const TpSlotsView<T> slots{{x1, x2, weight, out}};
  T* dst = slots.slot[int(result)].data;
  const auto s = static_cast<cudaStream_t>(stream);
  const unsigned blocks = cuda_detail::blocks_for(total);
  switch (result) {
    case TpSlot::In1:
      tensor_product_kernel<T, TpSlot::In1>
          <<<blocks, cuda_detail::kThreads, 0, s>>>(tables, slots, groups, width, dst);
      break;
    case TpSlot::In2:
      tensor_product_kernel<T, TpSlot::In2>
          <<<blocks, cuda_detail::kThreads, 0, s>>>(tables, slots, groups, width, dst);
      break;
    case TpSlot::Weight:
      tensor_product_kernel<T, TpSlot::Weight>
          <<<blocks, cuda_detail::kThreads, 0, s>>>(tables, slots, groups, width, dst);
      break;
    case TpSlot::Out:
      tensor_product_kernel<T, TpSlot::Out>
          <<<blocks, cuda_detail::kThreads, 0, s>>>(tables, slots, groups, width, dst);
      break;
  }
  cuda_detail::check_launch("tensor_product_kernel");
}

template <typename T>
void sum_rows(const T* rows, int64_t count, int64_t width, T* out, void* stream) {
  if (width == 0) return;
  sum_rows_kernel<T><<<cuda_detail::blocks_for(width), cuda_detail::kThreads, 0,
                       static_cast<cudaStream_t>(stream)>>>(rows, count, width, out);
  cuda_detail::check_launch("sum_rows_kernel");
}

E3CORE_CUDA_INSTANTIATE_TP(float)
E3CORE_CUDA_INSTANTIATE_TP(double)

}  // namespace e3core::cuda
