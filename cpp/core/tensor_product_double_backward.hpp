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
  std::vector<InputRows<T>> inputs, deltas;
  for (int a = 0; a < 4; ++a) inputs.emplace_back(arrays[a], layouts[a], widths[a], exec);
  for (int a = 0; a < 4; ++a) {
    const bool used = a < 3 && tangent[a];
    deltas.emplace_back(used ? tangents[a] : TpArray<T>{}, used ? layouts[a] : nullptr, widths[a],
                        exec);
  }
  const auto store = [&](int s, const T* acc, T* dst) {
    store_row(layouts[s], widths[s], acc, dst);
  };
  constexpr int kB = kSampleBlock;
  // The three products, each with one input replaced by its tangent, of block rs (n samples).
  const auto with_tangents = [&](const int64_t* ss, const SampleRows<T>* rs, int n,
                                 std::vector<T>* scratch,
                                 SampleRows<T>(*swapped)[kB]) E3CORE_ALWAYS_INLINE {
    for (int a = 0; a < 3; ++a) {
      for (int b = 0; b < n; ++b) {
        swapped[a][b] = rs[b];
        if (!tangent[a]) continue;
        const T* row = deltas[size_t(a)].row(ss[b], scratch[a * kB + b].data());
        if (a == 0) swapped[a][b].x1 = row;
        if (a == 1) swapped[a][b].x2 = row;
        if (a == 2) swapped[a][b].w = row;
      }
    }
  };
  const int64_t grain = std::max<int64_t>(1, 65536 / (6 * kp.work));

  // grad_out's: the three products summed per destination row.
  if (grad_grad_out != nullptr) {
    const Groups groups(arrays[3], samples);
    const auto ordered = [&](int64_t q) E3CORE_ALWAYS_INLINE { return groups.order[size_t(q)]; };
    const int64_t rows = arrays[3].rows;
    const int64_t per_row = std::max<int64_t>(1, samples / std::max<int64_t>(rows, 1));
    exec(rows, std::max<int64_t>(1, grain / per_row), [&](int64_t begin, int64_t end) {
      std::vector<T> scratch[4 * kB], delta_scratch[4 * kB];
      size_scratch_rows<kB>(inputs, scratch);
      size_scratch_rows<kB>(deltas, delta_scratch);
      std::vector<T> acc(size_t(std::max<int64_t>(widths[3], 1)));
      PathScratch<T> sc(kp, nullptr);
      const auto visit = [&](const int64_t* ss, const SampleRows<T>* rs, int n)
                             E3CORE_ALWAYS_INLINE {
                               SampleRows<T> swapped[3][kB];
                               with_tangents(ss, rs, n, delta_scratch, swapped);
                               T* sums[kB];
                               for (int b = 0; b < n; ++b) sums[b] = acc.data();
                               for (int a = 0; a < 3; ++a) {
                                 if (tangent[a]) forward_block(kp, swapped[a], n, false, sums, sc);
                               }
                             };
      for (int64_t r = begin; r < end; ++r) {
        std::fill(acc.begin(), acc.end(), T(0));
        visit_sample_blocks<kB>(inputs, 7u, samples, groups.start[size_t(r)],
                                groups.start[size_t(r + 1)], ordered, scratch, visit, &deltas);
        store(3, acc.data(), grad_grad_out + r * widths[3]);
      }
    });
  }
  if (grads[0] == nullptr && grads[1] == nullptr && grads[2] == nullptr) return;

  // The inputs': by source, x1's summed per row, x2's and the weights' per edge. The product
  // with x_a's tangent adds to the gradients of the other two inputs.
  struct State {
    PathScratch<T> path;
    std::vector<T> delta_rows[4 * kB];
  };
  pass_by_x1_rows<T>(
      plan, samples, arrays, grads, inputs, 15u, 6 * kp.work, exec,
      [&] {
        State state{PathScratch<T>(kp, nullptr), {}};
        size_scratch_rows<kB>(deltas, state.delta_rows);
        return state;
      },
      [&](State& state, const int64_t* ss, const SampleRows<T>* rs, int n, T*(*sums)[kB])
          E3CORE_ALWAYS_INLINE {
            SampleRows<T> swapped[3][kB];
            with_tangents(ss, rs, n, state.delta_rows, swapped);
            T* none[kB] = {};
            for (int a = 0; a < 3; ++a) {
              if (!tangent[a]) continue;
              backward_block(kp, swapped[a], n, false, a == 0 ? none : sums[0],
                             a == 1 ? none : sums[1], a == 2 ? none : sums[2], state.path);
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
