// CPU kernels of the tensor-product ops: the core's kernels on raw pointers, threads from torch,
// each plan's tables kept per plan tensor.
#include <torch/library.h>

#include "cpu_support.hpp"
#include "tensor_product_ops.hpp"

namespace e3core::torch_ops {
namespace {

struct CpuBackend {
  using Plan = std::shared_ptr<const TpCpuPlan>;
  static Plan plan(const at::Tensor& plan, const std::string& op) {
    return cached_plan<TpCpuPlan>(
        plan, -1, op, [](TpPlan p) { return std::make_shared<const TpCpuPlan>(std::move(p)); });
  }
  static const TpPlan& host(const Plan& plan) { return plan->plan(); }
  static int guard(const at::Tensor&) { return 0; }
  static void prepare(const at::Tensor& result) { advise_huge_pages(result); }

  template <typename T>
  static void run(const Plan& plan, TpSlot result, const Slots& sl, const at::Tensor&) {
    tensor_product<T>(*plan, result, sl.samples, sl.array<T>(0), sl.array<T>(1), sl.array<T>(2),
                      sl.array<T>(3), torch_parallel_for);
  }

  template <typename T>
  static void run_backward(const Plan& plan, const Slots& sl,
                           const std::array<at::Tensor, 3>& grads) {
    T* out[3];
    for (size_t g = 0; g < 3; ++g) out[g] = grads[g].defined() ? grads[g].data_ptr<T>() : nullptr;
    tensor_product_backward<T>(*plan, sl.samples, sl.array<T>(0), sl.array<T>(1), sl.array<T>(2),
                               sl.array<T>(3), out[0], out[1], out[2], torch_parallel_for);
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(e3core, CPU, m) {
  m.impl("tensor_product", &tp_op<CpuBackend, TpSlot::Out>);
  m.impl("tensor_product_grad_x1", &tp_op<CpuBackend, TpSlot::In1>);
  m.impl("tensor_product_grad_x2", &tp_op<CpuBackend, TpSlot::In2>);
  m.impl("tensor_product_grad_weight", &tp_op<CpuBackend, TpSlot::Weight>);
  m.impl("tensor_product_backward", &tp_backward_op<CpuBackend>);
}

}  // namespace e3core::torch_ops
