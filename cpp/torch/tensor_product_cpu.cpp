// CPU kernels of the tensor-product ops: the core's kernels on raw pointers, threads from torch,
// each plan's tables kept per plan tensor.
#include <torch/library.h>

#include "cpu_support.hpp"
#include "tensor_product_calls.hpp"
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

// A convolution's (x1 and grad_out indexed, x2 and the weights per edge) in the core's two
// passes; other layouts through the composite.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> tp_double_backward_cpu(
    const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& weight,
    const at::Tensor& grad_out, const c10::optional<at::Tensor>& dx1,
    const c10::optional<at::Tensor>& dx2, const c10::optional<at::Tensor>& dweight,
    const at::Tensor& plan_tensor, const c10::optional<at::Tensor>& src,
    const c10::optional<at::Tensor>& dst, std::array<bool, 4> mask) {
  const std::string op = "e3core::tensor_product_double_backward: ";
  const std::array<at::Tensor, 4> tensors = {x1, x2, weight, grad_out};
  const std::array<c10::optional<at::Tensor>, 3> tangents = {dx1, dx2, dweight};
  check_tp_double_backward(tensors, tangents, plan_tensor, src, dst);
  const CpuBackend::Plan plan = CpuBackend::plan(plan_tensor, op);
  std::array<std::vector<int64_t>, 4> shapes;
  for (size_t s = 0; s < 4; ++s) shapes[s] = tensors[s].sizes().vec();
  const Slots sl = resolve_slots(plan->plan(), tensors, shapes, {}, src, dst, op);
  if (!src.has_value() || sl.mode[1] != TpRows::PerSample || sl.mode[2] != TpRows::PerSample) {
    const auto r = tp_double_backward_composite(tensors, tangents, plan_tensor, src, dst, mask);
    return {r[0], r[1], r[2], r[3]};
  }
  std::array<at::Tensor, 3> given;
  for (size_t a = 0; a < 3; ++a) {
    if (tangents[a].has_value() && tangents[a]->defined()) given[a] = tangents[a]->contiguous();
  }
  std::array<at::Tensor, 4> results;
  for (size_t z = 0; z < 4; ++z) {
    results[z] = at::empty(mask[z] ? tensors[z].sizes() : at::IntArrayRef{0}, x1.options());
    if (mask[z]) advise_huge_pages(results[z]);
  }
  AT_DISPATCH_FLOATING_TYPES(x1.scalar_type(), "tensor_product_double_backward", [&] {
    std::array<TpArray<scalar_t>, 3> d{};
    for (int a = 0; a < 3; ++a) {
      if (given[size_t(a)].defined())
        d[size_t(a)] = sl.array<scalar_t>(a, given[size_t(a)].data_ptr<scalar_t>());
    }
    const auto ptr = [&](size_t z) { return mask[z] ? results[z].data_ptr<scalar_t>() : nullptr; };
    call_core(op, [&] {
      tensor_product_conv_double_backward<scalar_t>(*plan, sl.samples, sl.array<scalar_t>(0),
                                                    sl.array<scalar_t>(1), sl.array<scalar_t>(2),
                                                    sl.array<scalar_t>(3), d[0], d[1], d[2], ptr(3),
                                                    ptr(0), ptr(1), ptr(2), torch_parallel_for);
    });
  });
  return {results[0], results[1], results[2], results[3]};
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, CPU, m) {
  m.impl("tensor_product", &tp_op<CpuBackend, TpSlot::Out>);
  m.impl("tensor_product_grad_x1", &tp_op<CpuBackend, TpSlot::In1>);
  m.impl("tensor_product_grad_x2", &tp_op<CpuBackend, TpSlot::In2>);
  m.impl("tensor_product_grad_weight", &tp_op<CpuBackend, TpSlot::Weight>);
  m.impl("tensor_product_backward", &tp_backward_op<CpuBackend>);
  m.impl("tensor_product_double_backward", &tp_double_backward_cpu);
}

}  // namespace e3core::torch_ops
