// CPU kernels of the tensor-product ops: the plan is decoded, every shape checked against it,
// and the core's kernel runs on raw pointers.
#include <torch/library.h>

#include <stdexcept>
#include <string>

#include "cpu_support.hpp"
#include "tensor_product_common.hpp"

namespace e3core::torch_ops {
namespace {

TpPlan decode_plan(const at::Tensor& plan, const std::string& op) {
  const at::Tensor p = plan.to(at::kCPU).contiguous();
  try {
    return TpPlan::decode(p.const_data_ptr<int64_t>(), p.numel());
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, op, e.what());
  }
}

// Rows of a slot's array: it is per sample, indexed (x1 and out of a convolution) or shared.
struct SlotRows {
  int64_t rows = 0;
  TpRows mode = TpRows::PerSample;
  const int64_t* index = nullptr;
};

template <TpSlot kResult>
at::Tensor tp_cpu(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c,
                  const at::Tensor& plan_tensor, const c10::optional<at::Tensor>& src,
                  const c10::optional<at::Tensor>& dst, c10::SymIntArrayRef result_shape) {
  const std::array<at::Tensor, 3> given = {a, b, c};
  check_tp_arguments(kResult, given, plan_tensor, src, dst, result_shape);
  const std::string op = std::string("e3core::") + tp_op_name(kResult) + ": ";
  const TpPlan plan = decode_plan(plan_tensor, op);
  const int64_t widths[4] = {plan.dim1, plan.dim2, plan.weight_numel, plan.dim_out};
  static const char* const width_names[4] = {"irreps_in1.dim", "irreps_in2.dim", "weight_numel",
                                             "irreps_out.dim"};

  // The four slots' tensors: three given (made contiguous), the result's shape.
  std::array<at::Tensor, 4> t;
  std::array<std::vector<int64_t>, 4> shape;
  const std::array<TpSlot, 3> in_slots = tp_inputs(kResult);
  for (size_t i = 0; i < 3; ++i) {
    t[size_t(in_slots[i])] = given[i].contiguous();
    shape[size_t(in_slots[i])] = given[i].sizes().vec();
  }
  for (const c10::SymInt& s : result_shape) shape[size_t(kResult)].push_back(s.expect_int());
  for (int s = 0; s < 4; ++s) {
    const int64_t cols = shape[size_t(s)].back();
    const char* name = s == int(kResult) ? "the result" : tp_arg_name(TpSlot(s));
    TORCH_CHECK_VALUE(cols == widths[s], op, name, " has ", cols, " columns but the plan's ",
                      width_names[s], " is ", widths[s]);
  }
  const auto rows_of = [&](int s) {
    return shape[size_t(s)].size() == 1 ? int64_t(1) : shape[size_t(s)][0];
  };

  // Samples: the edges of a convolution, else the broadcast of the rows.
  const bool conv = src.has_value();
  at::Tensor src_c, dst_c;
  int64_t samples = 1;
  if (conv) {
    src_c = src->contiguous();
    dst_c = dst->contiguous();
    samples = src_c.numel();
    // Checked here to name the arguments; the core checks again.
    const auto check_index = [&](const at::Tensor& index, const char* name, TpSlot slot) {
      const int64_t* ix = index.const_data_ptr<int64_t>();
      const int64_t rows = rows_of(int(slot));
      for (int64_t e = 0; e < samples; ++e) {
        TORCH_CHECK_VALUE(ix[e] >= 0 && ix[e] < rows, op, name, "[", e, "] = ", ix[e],
                          " is out of range for ", rows, " nodes");
      }
    };
    check_index(src_c, "src", TpSlot::In1);
    check_index(dst_c, "dst", TpSlot::Out);
    TORCH_CHECK_VALUE(rows_of(int(TpSlot::In1)) == rows_of(int(TpSlot::Out)), op, "x1 has ",
                      rows_of(int(TpSlot::In1)), " rows but out has ", rows_of(int(TpSlot::Out)),
                      ": a convolution's output has one row per node of x1");
  } else {
    for (int s = 0; s < 4; ++s) {
      if (rows_of(s) != 1) samples = rows_of(s);
    }
    if (rows_of(int(TpSlot::Out)) == 0) samples = 0;
  }
  std::array<SlotRows, 4> rows;
  for (int s = 0; s < 4; ++s) {
    SlotRows& r = rows[size_t(s)];
    r.rows = rows_of(s);
    const bool node = conv && (s == int(TpSlot::In1) || s == int(TpSlot::Out));
    if (node) {
      r.mode = TpRows::Indexed;
      r.index = (s == int(TpSlot::In1) ? src_c : dst_c).const_data_ptr<int64_t>();
    } else if (shape[size_t(s)].size() == 1) {
      r.mode = TpRows::Shared;
    } else if (r.rows == samples) {
      r.mode = TpRows::PerSample;
    } else {
      const char* name = s == int(kResult) ? "the result" : tp_arg_name(TpSlot(s));
      TORCH_CHECK_VALUE(r.rows == 1, op, name, " has ", r.rows, " rows, expected ", samples,
                        conv ? " (one per edge) or 1" : " (the batch) or 1");
      r.mode = TpRows::Shared;
    }
  }

  const at::Tensor& like = given[0];
  at::Tensor result = at::empty(shape[size_t(kResult)], like.options());
  advise_huge_pages(result);
  t[size_t(kResult)] = result;
  AT_DISPATCH_FLOATING_TYPES(like.scalar_type(), "tensor_product", [&] {
    std::array<TpArray<scalar_t>, 4> arrays;
    for (int s = 0; s < 4; ++s) {
      const SlotRows& r = rows[size_t(s)];
      arrays[size_t(s)] = {t[size_t(s)].data_ptr<scalar_t>(), r.rows, r.mode, r.index};
    }
    try {
      tensor_product<scalar_t>(plan, kResult, samples, arrays[0], arrays[1], arrays[2], arrays[3],
                               torch_parallel_for);
    } catch (const std::invalid_argument& e) {
      TORCH_CHECK_VALUE(false, op, e.what());
    }
  });
  return result;
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, CPU, m) {
  m.impl("tensor_product", &tp_cpu<TpSlot::Out>);
  m.impl("tensor_product_grad_x1", &tp_cpu<TpSlot::In1>);
  m.impl("tensor_product_grad_x2", &tp_cpu<TpSlot::In2>);
  m.impl("tensor_product_grad_weight", &tp_cpu<TpSlot::Weight>);
}

}  // namespace e3core::torch_ops
