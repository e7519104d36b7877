// CUDA kernels of the tensor-product ops: the plan's device tables (kept per plan tensor),
// samples grouped by result row with torch's sort, then the core's kernels on torch's stream.
#include <torch/library.h>

#include <memory>

#include "cuda_support.hpp"
#include "e3core/cuda.hpp"
#include "tensor_product_ops.hpp"

namespace e3core::torch_ops {
namespace {

using DevicePlan = std::shared_ptr<const cuda::TpDevicePlan>;

DevicePlan device_plan(const at::Tensor& plan, const std::string& op) {
  return cached_plan<cuda::TpDevicePlan>(
      plan, c10::cuda::current_device(), op,
      [](const TpPlan& p) { return std::make_shared<const cuda::TpDevicePlan>(p); });
}

// Values per kernel launch that a shared result is split into: enough threads for a GPU, few
// enough partial rows to stay small.
constexpr int64_t kSharedValues = int64_t(1) << 18;

// The groups of samples for result slot r (see cuda::TpGroups) and the tensors behind them.
struct Groups {
  at::Tensor order, offsets, partial;
  cuda::TpGroups view;
};

Groups groups_for(const Slots& sl, int r, int64_t width, const at::TensorOptions& values) {
  Groups g;
  const at::TensorOptions longs = values.dtype(at::kLong);
  if (sl.mode[size_t(r)] == TpRows::Indexed) {
    const at::Tensor& index = r == int(TpSlot::In1) ? sl.src : sl.dst;
    const int64_t rows = sl.rows[size_t(r)];
    auto [sorted, order] = at::sort(index, /*stable=*/true, /*dim=*/0, /*descending=*/false);
    g.order = order;
    g.offsets = at::searchsorted(sorted, at::arange(rows + 1, longs));
    g.view = {rows, g.order.const_data_ptr<int64_t>(), g.offsets.const_data_ptr<int64_t>()};
  } else if (sl.mode[size_t(r)] == TpRows::Shared) {
    const int64_t samples = sl.samples;
    const int64_t wanted = std::max<int64_t>(1, kSharedValues / std::max<int64_t>(width, 1));
    const int64_t chunk =
        samples == 0 ? 1 : (samples + std::min(wanted, samples) - 1) / std::min(wanted, samples);
    const int64_t chunks = (samples + chunk - 1) / chunk;
    g.offsets = at::arange(chunks + 1, longs).mul_(chunk).clamp_max_(samples);
    g.partial = at::empty({chunks, width}, values);
    g.view = {chunks, nullptr, g.offsets.const_data_ptr<int64_t>()};
  } else {
    g.view = {sl.samples, nullptr, nullptr};
  }
  return g;
}

// Writes slot `result` into `out` (its rows as in sl).
template <typename T>
void run_slot(const cuda::TpDevicePlan& plan, TpSlot result, const Slots& sl,
              const at::Tensor& out) {
  const int r = int(result);
  const int64_t widths[4] = {plan.plan().dim1, plan.plan().dim2, plan.plan().weight_numel,
                             plan.plan().dim_out};
  const Groups g = groups_for(sl, r, widths[r], out.options());
  TpArray<T> a[4];
  for (int s = 0; s < 4; ++s) a[s] = s == r ? sl.array<T>(s, nullptr) : sl.array<T>(s);
  a[r].data = g.partial.defined() ? g.partial.data_ptr<T>() : out.data_ptr<T>();
  void* stream = current_stream();
  cuda::tensor_product<T>(plan, result, a[0], a[1], a[2], a[3], g.view, stream);
  if (g.partial.defined()) {
    cuda::sum_rows<T>(g.partial.const_data_ptr<T>(), g.view.count, widths[r], out.data_ptr<T>(),
                      stream);
  }
}

struct CudaBackend {
  using Plan = DevicePlan;
  static Plan plan(const at::Tensor& plan, const std::string& op) { return device_plan(plan, op); }
  static const TpPlan& host(const Plan& plan) { return plan->plan(); }
  static c10::cuda::CUDAGuard guard(const at::Tensor& t) { return device_guard(t); }
  static void prepare(const at::Tensor&) {}

  template <typename T>
  static void run(const Plan& plan, TpSlot result, const Slots& sl, const at::Tensor& out) {
    run_slot<T>(*plan, result, sl, out);
  }

  // The three gradients one after the other: each kernel gathers its own values.
  template <typename T>
  static void run_backward(const Plan& plan, const Slots& sl,
                           const std::array<at::Tensor, 3>& grads) {
    for (size_t g = 0; g < 3; ++g) {
      if (grads[g].defined()) run_slot<T>(*plan, TpSlot(g), sl, grads[g]);
    }
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(e3core, CUDA, m) {
  m.impl("tensor_product", &tp_op<CudaBackend, TpSlot::Out>);
  m.impl("tensor_product_grad_x1", &tp_op<CudaBackend, TpSlot::In1>);
  m.impl("tensor_product_grad_x2", &tp_op<CudaBackend, TpSlot::In2>);
  m.impl("tensor_product_grad_weight", &tp_op<CudaBackend, TpSlot::Weight>);
  m.impl("tensor_product_backward", &tp_backward_op<CudaBackend>);
}

}  // namespace e3core::torch_ops
