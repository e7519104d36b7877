// The tensor-product ops' bodies, shared by the CPU and CUDA backends: the plan decoded, every
// shape checked against it, the rows of each slot resolved, then the backend's kernels.
//
// A backend provides: Plan (what its kernels need of a plan) and plan(tensor, op) to get one;
// host(plan), the TpPlan; guard(tensor), an RAII object making the tensor's device current;
// prepare(result), a hint on a new result; and run(plan, slot, slots, result) and
// run_backward(plan, slots, gradients) (null gradients skipped), inside AT_DISPATCH.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor_product_common.hpp"

namespace e3core::torch_ops {

inline TpPlan decode_plan(const at::Tensor& plan, const std::string& op) {
  const at::Tensor p = plan.to(at::kCPU).contiguous();
  try {
    return TpPlan::decode(p.const_data_ptr<int64_t>(), p.numel());
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, op, e.what());
  }
}

// What a backend builds from a plan tensor (a shared_ptr from `build(decoded plan)`: tables the
// kernels read), kept per tensor while its storage is alive and unchanged, and per device (-1
// for the CPU): building it on every call cost more than a small batch's products, and a plan
// on the GPU would be copied back to be decoded.
template <typename Value, typename Build>
std::shared_ptr<const Value> cached_plan(const at::Tensor& plan, int device, const std::string& op,
                                         Build&& build) {
  struct Entry {
    c10::weak_intrusive_ptr<c10::StorageImpl> storage;
    const void* data;
    int64_t numel;
    uint32_t version;
    int device;
    std::shared_ptr<const Value> value;
  };
  static std::mutex mutex;
  static std::vector<Entry> cache;
  const c10::StorageImpl* storage = plan.storage().unsafeGetStorageImpl();
  const uint32_t version = plan.is_inference() ? 0 : plan._version();
  {
    const std::lock_guard<std::mutex> lock(mutex);
    for (const Entry& e : cache) {
      if (e.data == plan.const_data_ptr() && e.numel == plan.numel() && e.version == version &&
          e.device == device && e.storage.lock().get() == storage) {
        return e.value;
      }
    }
  }
  // Built outside the lock: another thread's first call of another plan need not wait.
  std::shared_ptr<const Value> value = build(decode_plan(plan, op));
  const std::lock_guard<std::mutex> lock(mutex);
  cache.erase(std::remove_if(cache.begin(), cache.end(),
                             [](const Entry& e) { return e.storage.expired(); }),
              cache.end());
  cache.push_back({plan.storage().getWeakStorageImpl(), plan.const_data_ptr(), plan.numel(),
                   version, device, value});
  return value;
}

// The four slots of a call: the tensors read (contiguous), every slot's shape, and how each
// slot's rows map to samples (per sample, indexed by src or dst in a convolution, or shared).
struct Slots {
  std::array<at::Tensor, 4> tensor;
  std::array<std::vector<int64_t>, 4> shape;
  std::array<TpRows, 4> mode{};
  std::array<int64_t, 4> rows{};
  std::array<const int64_t*, 4> index{};
  at::Tensor src, dst;
  int64_t samples = 1;

  template <typename T>
  TpArray<T> array(int s, T* data) const {
    return {data, rows[size_t(s)], mode[size_t(s)], index[size_t(s)]};
  }
  template <typename T>
  TpArray<T> array(int s) const {
    return array<T>(s, tensor[size_t(s)].data_ptr<T>());
  }
};

// Checks the shapes of `given` (slots whose tensor is defined) and `shapes` (all four) against
// the plan and resolves the rows of every slot. `results` names the slots written.
inline Slots resolve_slots(const TpPlan& plan, const std::array<at::Tensor, 4>& given,
                           const std::array<std::vector<int64_t>, 4>& shapes,
                           std::array<bool, 4> results, const c10::optional<at::Tensor>& src,
                           const c10::optional<at::Tensor>& dst, const std::string& op) {
  const int64_t widths[4] = {plan.dim1, plan.dim2, plan.weight_numel, plan.dim_out};
  static const char* const width_names[4] = {"irreps_in1.dim", "irreps_in2.dim", "weight_numel",
                                             "irreps_out.dim"};
  Slots sl;
  sl.shape = shapes;
  for (int s = 0; s < 4; ++s) {
    if (given[size_t(s)].defined()) sl.tensor[size_t(s)] = given[size_t(s)].contiguous();
    const int64_t cols = sl.shape[size_t(s)].back();
    const char* name = results[size_t(s)] ? "the result" : tp_arg_name(TpSlot(s));
    TORCH_CHECK_VALUE(cols == widths[s], op, name, " has ", cols, " columns but the plan's ",
                      width_names[s], " is ", widths[s]);
  }
  const auto rows_of = [&](int s) {
    return sl.shape[size_t(s)].size() == 1 ? int64_t(1) : sl.shape[size_t(s)][0];
  };

  // Samples: the edges of a convolution, else the broadcast of the rows.
  const bool conv = src.has_value();
  if (conv) {
    sl.src = src->contiguous();
    sl.dst = dst->contiguous();
    sl.samples = sl.src.numel();
    // Checked here to name the arguments (on any device; the CPU core checks again).
    // One reduction pass (min and max) on the common path: the index is read by every call
    // of every layer, forward and backward.
    const auto check_index = [&](const at::Tensor& index, const char* name, TpSlot slot) {
      const int64_t rows = rows_of(int(slot));
      if (sl.samples == 0) return;
      const auto [low, high] = at::aminmax(index);
      if (low.item<int64_t>() < 0 || high.item<int64_t>() >= rows) {
        const at::Tensor bad = index.lt(0).logical_or_(index.ge(rows));
        const int64_t e = bad.nonzero().select(1, 0)[0].item<int64_t>();
        TORCH_CHECK_VALUE(false, op, name, "[", e, "] = ", index[e].item<int64_t>(),
                          " is out of range for ", rows, " nodes");
      }
    };
    check_index(sl.src, "src", TpSlot::In1);
    check_index(sl.dst, "dst", TpSlot::Out);
    TORCH_CHECK_VALUE(rows_of(int(TpSlot::In1)) == rows_of(int(TpSlot::Out)), op, "x1 has ",
                      rows_of(int(TpSlot::In1)), " rows but out has ", rows_of(int(TpSlot::Out)),
                      ": a convolution's output has one row per node of x1");
  } else {
    for (int s = 0; s < 4; ++s) {
      if (rows_of(s) != 1) sl.samples = rows_of(s);
    }
    if (rows_of(int(TpSlot::Out)) == 0) sl.samples = 0;
  }
  for (int s = 0; s < 4; ++s) {
    sl.rows[size_t(s)] = rows_of(s);
    const bool node = conv && (s == int(TpSlot::In1) || s == int(TpSlot::Out));
    if (node) {
      sl.mode[size_t(s)] = TpRows::Indexed;
      sl.index[size_t(s)] = (s == int(TpSlot::In1) ? sl.src : sl.dst).const_data_ptr<int64_t>();
    } else if (sl.shape[size_t(s)].size() == 1) {
      sl.mode[size_t(s)] = TpRows::Shared;
    } else if (sl.rows[size_t(s)] == sl.samples) {
      sl.mode[size_t(s)] = TpRows::PerSample;
    } else {
      const char* name = results[size_t(s)] ? "the result" : tp_arg_name(TpSlot(s));
      TORCH_CHECK_VALUE(sl.rows[size_t(s)] == 1, op, name, " has ", sl.rows[size_t(s)],
                        " rows, expected ", sl.samples,
                        conv ? " (one per edge) or 1" : " (the batch) or 1");
      sl.mode[size_t(s)] = TpRows::Shared;
    }
  }
  return sl;
}

// Runs fn() and turns the core's std::invalid_argument into torch's ValueError.
template <typename Fn>
inline void call_core(const std::string& op, Fn&& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, op, e.what());
  }
}

template <typename Backend, TpSlot kResult>
at::Tensor tp_op(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c,
                 const at::Tensor& plan_tensor, const c10::optional<at::Tensor>& src,
                 const c10::optional<at::Tensor>& dst, c10::SymIntArrayRef result_shape) {
  const std::array<at::Tensor, 3> given = {a, b, c};
  check_tp_arguments(kResult, given, plan_tensor, src, dst, result_shape);
  [[maybe_unused]] const auto guard = Backend::guard(a);
  const std::string op = std::string("e3core::") + tp_op_name(kResult) + ": ";
  const typename Backend::Plan plan = Backend::plan(plan_tensor, op);
  std::array<at::Tensor, 4> tensors;
  std::array<std::vector<int64_t>, 4> shapes;
  const std::array<TpSlot, 3> in_slots = tp_inputs(kResult);
  for (size_t i = 0; i < 3; ++i) {
    tensors[size_t(in_slots[i])] = given[i];
    shapes[size_t(in_slots[i])] = given[i].sizes().vec();
  }
  for (const c10::SymInt& s : result_shape) shapes[size_t(kResult)].push_back(s.expect_int());
  std::array<bool, 4> results{};
  results[size_t(kResult)] = true;
  Slots sl = resolve_slots(Backend::host(plan), tensors, shapes, results, src, dst, op);

  at::Tensor result = at::empty(sl.shape[size_t(kResult)], a.options());
  Backend::prepare(result);
  sl.tensor[size_t(kResult)] = result;
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "tensor_product", [&] {
    call_core(op, [&] { Backend::template run<scalar_t>(plan, kResult, sl, result); });
  });
  return result;
}

template <typename Backend>
std::tuple<at::Tensor, at::Tensor, at::Tensor> tp_backward_op(
    const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& weight,
    const at::Tensor& grad_out, const at::Tensor& plan_tensor, const c10::optional<at::Tensor>& src,
    const c10::optional<at::Tensor>& dst, std::array<bool, 3> output_mask) {
  check_tp_backward_arguments(x1, x2, weight, grad_out, plan_tensor, src, dst);
  [[maybe_unused]] const auto guard = Backend::guard(x1);
  const std::string op = "e3core::tensor_product_backward: ";
  const typename Backend::Plan plan = Backend::plan(plan_tensor, op);
  const std::array<at::Tensor, 4> tensors = {x1, x2, weight, grad_out};
  std::array<std::vector<int64_t>, 4> shapes;
  for (size_t s = 0; s < 4; ++s) shapes[s] = tensors[s].sizes().vec();
  const Slots sl = resolve_slots(Backend::host(plan), tensors, shapes, {}, src, dst, op);

  std::array<at::Tensor, 3> grads;
  for (size_t g = 0; g < 3; ++g) {
    grads[g] = at::empty(output_mask[g] ? tensors[g].sizes() : at::IntArrayRef{0}, x1.options());
    if (output_mask[g]) Backend::prepare(grads[g]);
  }
  AT_DISPATCH_FLOATING_TYPES(x1.scalar_type(), "tensor_product_backward", [&] {
    std::array<at::Tensor, 3> out;
    for (size_t g = 0; g < 3; ++g) {
      if (output_mask[g]) out[g] = grads[g];
    }
    call_core(op, [&] { Backend::template run_backward<scalar_t>(plan, sl, out); });
  });
  return {grads[0], grads[1], grads[2]};
}

}  // namespace e3core::torch_ops
