// The second derivatives of a convolution in two passes over its edges, included after
// tensor_product_impl.hpp by one source file per scalar type.
//
// Training on forces differentiates the convolution's backward once more. Composed of the
// first-order kernels that took three forward and three backward calls (each product with one
// slot replaced by its tangent) and the sums of their results: six passes over the edges, each
// reading the per-edge weights and gathered rows again, for the work of two.
#pragma once

#include "tensor_product_impl.hpp"

namespace e3core {
namespace {

template <typename T>
void run_conv_double_backward(const TpCpuPlan& cpu_plan, int64_t samples, const TpArray<T>* arrays,
                              const TpArray<T>* tangents, T* grad_grad_out, T* const* grads,
                              const Executor& exec) {
  const TpPlan& plan = cpu_plan.plan();
  const int64_t widths[4] = {plan.dim1, plan.dim2, plan.weight_numel, plan.dim_out};
  const Terms* layouts[4] = {&plan.terms1, &plan.terms2, nullptr, &plan.terms_out};
  const TpRows modes[4] = {TpRows::Indexed, TpRows::PerSample, TpRows::PerSample, TpRows::Indexed};
  for (int a = 0; a < 4; ++a) {
    if (arrays[a].mode != modes[a]) {
      throw std::invalid_argument(std::string(slot_name(TpSlot(a))) +
                                  " is not laid out as a convolution's (x1 and grad_out indexed, "
                                  "x2 and the weights per sample)");
    }
    check_array(arrays[a], TpSlot(a), samples, widths[a]);
  }
  bool tangent[3];
  for (int a = 0; a < 3; ++a) {
    tangent[a] = tangents[a].data != nullptr;
    if (!tangent[a]) continue;
    if (tangents[a].mode != modes[a] || tangents[a].rows != arrays[a].rows ||
        tangents[a].index != arrays[a].index) {
      throw std::invalid_argument(std::string("the tangent of ") + slot_name(TpSlot(a)) +
                                  " does not have the rows of " + slot_name(TpSlot(a)));
    }
  }
  const KernelPlan<T>& kp = kernel_plan<T>(cpu_plan);
  // grad_out's rows are read by the second pass only: its reader (which converts them up front)
  // is made after the first.
  std::vector<InputRows<T>> inputs, deltas;
  for (int a = 0; a < 4; ++a) {
    inputs.emplace_back(a < 3 ? arrays[a] : TpArray<T>{}, a < 3 ? layouts[a] : nullptr, widths[a],
                        exec);
    const bool used = a < 3 && tangent[a];
    deltas.emplace_back(used ? tangents[a] : TpArray<T>{}, used ? layouts[a] : nullptr, widths[a],
                        exec);
  }
  constexpr int kB = kSampleBlock;
  // Per task: the paths' scratch and the tangents' rows converted on the fly.
  struct State {
    PathScratch<T> path;
    std::vector<T> delta_rows[4 * kB];
  };
  const auto new_state = [&] {
    State state{PathScratch<T>(kp, nullptr), {}};
    size_scratch_rows<kB>(deltas, state.delta_rows);
    return state;
  };
  // The products with input a replaced by its tangent, a given, of block rs (n samples).
  const auto with_tangent = [&](int a, State& state, const int64_t* ss, const SampleRows<T>* rs,
                                int n, SampleRows<T>* swapped) E3CORE_ALWAYS_INLINE {
    for (int b = 0; b < n; ++b) {
      swapped[b] = rs[b];
      const T* row = deltas[size_t(a)].row(ss[b], state.delta_rows[a * kB + b].data());
      if (a == 0) swapped[b].x1 = row;
      if (a == 1) swapped[b].x2 = row;
      if (a == 2) swapped[b].w = row;
    }
  };

  // grad_out's: the three products summed per destination row.
  if (grad_grad_out != nullptr) {
    pass_by_rows<kB, T>(
        arrays[3], samples, inputs, 7u, 3 * kp.work, layouts[3], widths[3], grad_grad_out, exec,
        new_state,
        [&](State& state, const int64_t* ss, const SampleRows<T>* rs, int n, T* acc)
            E3CORE_ALWAYS_INLINE {
              T* sums[kB];
              for (int b = 0; b < n; ++b) sums[b] = acc;
              for (int a = 0; a < 3; ++a) {
                if (!tangent[a]) continue;
                SampleRows<T> swapped[kB];
                with_tangent(a, state, ss, rs, n, swapped);
                if (kp.edge_blocks) {
                  edge_block_forward(kp, swapped, n, acc, state.path);
                } else {
                  forward_block(kp, swapped, n, false, sums, state.path);
                }
              }
            },
        &deltas);
  }
  if (grads[0] == nullptr && grads[1] == nullptr && grads[2] == nullptr) return;

  // The inputs': by source, x1's summed per row, x2's and the weights' per edge. The product
  // with x_a's tangent adds to the gradients of the other two inputs.
  inputs[3] = InputRows<T>(arrays[3], layouts[3], widths[3], exec);
  pass_by_x1_rows<T>(
      plan, samples, arrays, grads, inputs, 15u, 6 * kp.work, exec, new_state,
      [&](State& state, const int64_t* ss, const SampleRows<T>* rs, int n, T*(*sums)[kB])
          E3CORE_ALWAYS_INLINE {
            T* none[kB] = {};
            for (int a = 0; a < 3; ++a) {
              if (!tangent[a]) continue;
              SampleRows<T> swapped[kB];
              with_tangent(a, state, ss, rs, n, swapped);
              backward_by_x1_block(kp, swapped, n, a == 0 ? none : sums[0], a == 1 ? none : sums[1],
                                   a == 2 ? none : sums[2], state.path);
            }
          },
      &deltas);
}

}  // namespace

template <typename T>
void tensor_product_conv_double_backward(const TpCpuPlan& plan, int64_t samples, TpArray<T> x1,
                                         TpArray<T> x2, TpArray<T> weight, TpArray<T> grad_out,
                                         TpArray<T> dx1, TpArray<T> dx2, TpArray<T> dweight,
                                         T* grad_grad_out, T* grad_x1, T* grad_x2, T* grad_weight,
                                         const Executor& exec) {
  if (samples < 0) throw std::invalid_argument("samples is negative");
  const TpArray<T> arrays[4] = {x1, x2, weight, grad_out};
  const TpArray<T> tangents[3] = {dx1, dx2, dweight};
  T* const grads[3] = {grad_x1, grad_x2, grad_weight};
  run_conv_double_backward<T>(plan, samples, arrays, tangents, grad_grad_out, grads, exec);
}

}  // namespace e3core
