// Kernels of the tensor products, included by one source file per scalar type. This file holds
// the drivers, which check the arrays, split the samples into tasks and store the results; the
// kernels they call are in
//   tensor_product_rows.hpp           input rows in the kernels' layout (ir_mul)
//   tensor_product_kernel_plan.hpp    what the kernels derive from a plan, and their scratch
//   tensor_product_micro_kernels.hpp  the inner loops over blocks of channels
//   tensor_product_path_kernels.hpp   one path at one step, for a sample or a block of samples
//   tensor_product_gemm_paths.hpp     the paths that run as matrix products lent by the host
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "cpu_dispatch.hpp"
#include "e3core/parallel.hpp"
#include "e3core/tensor_product.hpp"
#include "tensor_product_gemm_paths.hpp"
#include "tensor_product_kernel_plan.hpp"
#include "tensor_product_path_kernels.hpp"
#include "tensor_product_rows.hpp"

namespace e3core {
namespace {

const char* slot_name(TpSlot slot) {
  switch (slot) {
    case TpSlot::In1:
      return "x1";
    case TpSlot::In2:
      return "x2";
    case TpSlot::Weight:
      return "weight";
    case TpSlot::Out:
      return "out";
  }
  return "?";
}

template <typename T>
void check_array(const TpArray<T>& a, TpSlot slot, int64_t samples, int64_t width) {
  const std::string name = slot_name(slot);
  if (a.rows < 0) throw std::invalid_argument(name + " has a negative number of rows");
  if (a.data == nullptr && a.rows * width > 0) throw std::invalid_argument(name + " has no data");
  switch (a.mode) {
    case TpRows::PerSample:
      if (a.rows != samples) {
        throw std::invalid_argument(name + " has " + std::to_string(a.rows) + " rows, expected " +
                                    std::to_string(samples) + " (one per sample)");
      }
      break;
    case TpRows::Shared:
      if (a.rows != 1) {
        throw std::invalid_argument(name + " is shared but has " + std::to_string(a.rows) +
                                    " rows, expected 1");
      }
      break;
    case TpRows::Indexed:
      if (a.index == nullptr && samples > 0) throw std::invalid_argument(name + " has no index");
      for (int64_t s = 0; s < samples; ++s) {
        if (a.index[s] < 0 || a.index[s] >= a.rows) {
          throw std::invalid_argument(name + " index " + std::to_string(a.index[s]) +
                                      " at sample " + std::to_string(s) + " is out of range for " +
                                      std::to_string(a.rows) + " rows");
        }
      }
      break;
  }
}

// How many parts a sum into a shared result (the weights' gradient) is split into: a split fixed
// by the shapes alone, so that the result is the same on any number of threads; at most 64
// parts, and few enough that each part's partial sum (`width` values cleared, stored and added:
// three passes) costs at most 1/64 of the part's `work` multiply-adds per sample. At 101 samples
// into 81,920 shared weights, 64 parts moved 170 MB per call for 25 M multiply-adds.
inline int64_t shared_parts(int64_t samples, int64_t work, int64_t width) {
  const double affordable =
      double(samples) * double(work) / (3.0 * 64.0 * double(std::max<int64_t>(width, 1)));
  return std::clamp<int64_t>(int64_t(std::min(affordable, 64.0)), 1,
                             std::min<int64_t>(64, std::max<int64_t>(samples, 1)));
}

// The samples grouped by the row an indexed array gives them, each group in sample order (a
// stable counting sort): group r is order[start[r] .. start[r + 1]).
struct Groups {
  std::vector<int64_t> start, order;
  template <typename T>
  Groups(const TpArray<T>& a, int64_t samples)
      : start(size_t(a.rows + 1), 0), order(static_cast<size_t>(samples)) {
    for (int64_t s = 0; s < samples; ++s) ++start[size_t(a.index[s] + 1)];
    for (int64_t r = 0; r < a.rows; ++r) start[size_t(r + 1)] += start[size_t(r)];
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t s = 0; s < samples; ++s) order[size_t(fill[size_t(a.index[s])]++)] = s;
  }
};

// Calls visit(ss, rows, n) for the samples s = sample(q), q in [begin, end), in blocks of n <= kB
// consecutive q (ss[b] and rows[b] for b < n), with their rows of every input slot a whose bit
// (1 << a) is set in `read` (the others null, and neither read nor prefetched), converted through
// `scratch` where needed (kB vectors per slot: slot a, sample b at a * kB + b); the loop is
// compiled for the CPU's best instruction set. sample(q) must be defined for every q < samples: the
// next sample's rows are prefetched.
template <int kB, typename T, typename Order, typename Visit>
E3CORE_ALWAYS_INLINE inline void visit_sample_blocks(
    const std::vector<InputRows<T>>& inputs, unsigned read, int64_t samples, int64_t begin,
    int64_t end, Order&& sample, std::vector<T>* scratch, Visit&& visit,
    const std::vector<InputRows<T>>* also_prefetched = nullptr) {
  run_fastest([&]() E3CORE_ALWAYS_INLINE {
    int64_t ss[kB];
    SampleRows<T> rs[kB];
    for (int64_t q0 = begin; q0 < end; q0 += kB) {
      const int n = int(std::min<int64_t>(kB, end - q0));
      for (int b = 0; b < n; ++b) {
        const int64_t q = q0 + b;
        if (q + 1 < samples) {
          const int64_t next = sample(q + 1);
          for (int a = 0; a < 4; ++a) {
            if (read & (1u << a)) inputs[size_t(a)].prefetch(next);
          }
          if (also_prefetched != nullptr) {
            for (const InputRows<T>& extra : *also_prefetched) extra.prefetch(next);
          }
        }
        ss[b] = sample(q);
        rs[b] = SampleRows<T>{};
        const T** slots[4] = {&rs[b].x1, &rs[b].x2, &rs[b].w, &rs[b].g};
        for (int a = 0; a < 4; ++a) {
          if (read & (1u << a))
            *slots[a] = inputs[size_t(a)].row(ss[b], scratch[a * kB + b].data());
        }
      }
      visit(ss, rs, n);
    }
  });
}

// The kernels' tables of a plan, built on its first call in type T.
template <typename T>
const KernelPlan<T>& kernel_plan(const TpCpuPlan& plan) {
  constexpr int kType = std::is_same_v<T, float> ? 0 : 1;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  const auto build = [](const TpPlan& p) -> TpCpuPlan::Tables {
    return std::make_shared<const KernelPlan<T>>(p);
  };
  return *static_cast<const KernelPlan<T>*>(plan.tables(kType, build));
}

// The call's transposed shared weights (empty unless the weights are shared and one of x1's or
// x2's gradients is computed).
template <typename T>
std::vector<T> call_transposed_weights(const KernelPlan<T>& kp, const TpArray<T>* arrays,
                                       bool input_gradient) {
  if (!input_gradient || arrays[2].mode != TpRows::Shared || kp.wt_size == 0) return {};
  return kp.transpose_shared_weights(arrays[2].data);
}

// Sizes the scratch of visit_sample_blocks<kB>: only inputs converted on the fly need rows (the
// weights are never converted, and a row of them was as wide as all the weights: clearing it
// cost more than a small batch's products).
template <int kB, typename T>
void size_scratch_rows(const std::vector<InputRows<T>>& inputs, std::vector<T>* rows) {
  for (int a = 0; a < 4 * kB; ++a) rows[a].resize(size_t(inputs[size_t(a / kB)].scratch_width()));
}

// Stores a result row summed in the kernels' layout (ir_mul) into e3nn's (mul_ir), given the
// slot's layout (null: the weights, whose order is the same in both).
template <typename T>
void store_row(const Terms* layout, int64_t width, const T* acc, T* dst) {
  if (layout != nullptr && !is_trivial(*layout)) {
    to_mul_ir(*layout, acc, dst);
  } else {
    std::copy(acc, acc + width, dst);
  }
}

// A pass over the samples grouped by the rows of the indexed array `by`, each row summed in one
// task in a fixed order, without atomics: per row, an accumulator of `width` values is cleared,
// block(state, ss, rs, n, acc) adds the row's samples to it in blocks of n <= kB
// (visit_sample_blocks, reading the slots in `read` and prefetching `also_prefetched`'s rows),
// and it is stored into the row of `result` in e3nn's layout (`layout`; not stored when result
// is null). Each task makes its state with new_state(); `work` is the multiply-adds per sample.
template <int kB, typename T, typename NewState, typename Block>
void pass_by_rows(const TpArray<T>& by, int64_t samples, const std::vector<InputRows<T>>& inputs,
                  unsigned read, int64_t work, const Terms* layout, int64_t width, T* result,
                  const Executor& exec, NewState&& new_state, Block&& block,
                  const std::vector<InputRows<T>>* also_prefetched = nullptr) {
  const Groups groups(by, samples);
  const auto ordered = [&](int64_t q) E3CORE_ALWAYS_INLINE { return groups.order[size_t(q)]; };
  const int64_t per_row = std::max<int64_t>(1, samples / std::max<int64_t>(by.rows, 1));
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(work, 1) / per_row);
  exec(by.rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<T> scratch[4 * kB], acc(size_t(std::max<int64_t>(width, 1)));
    size_scratch_rows<kB>(inputs, scratch);
    auto state = new_state();
    const auto visit = [&](const int64_t* ss, const SampleRows<T>* rs, int n)
                           E3CORE_ALWAYS_INLINE { block(state, ss, rs, n, acc.data()); };
    for (int64_t r = begin; r < end; ++r) {
      std::fill(acc.begin(), acc.end(), T(0));
      visit_sample_blocks<kB>(inputs, read, samples, groups.start[size_t(r)],
                              groups.start[size_t(r + 1)], ordered, scratch, visit,
                              also_prefetched);
      if (result != nullptr) store_row(layout, width, acc.data(), result + r * width);
    }
  });
}

template <typename T>
void run_backward(const TpCpuPlan& cpu_plan, int64_t samples, const TpArray<T>* arrays,
                  T* const* grads_in, const Executor& exec);

template <typename T, TpSlot kSlot>
void run(const TpCpuPlan& cpu_plan, int64_t samples, const TpArray<T>* arrays,
         const Executor& exec) {
  // With shared weights, the weights' gradient and the per-sample gradients of x1 and x2 go
  // through the backward's blocked rank updates, where each pass over the weights (or their
  // gradient) serves a block of samples, not one sample.
  if constexpr (kSlot != TpSlot::Out) {
    const TpArray<T>& res = arrays[int(kSlot)];
    if (arrays[2].mode == TpRows::Shared &&
        (kSlot == TpSlot::Weight || res.mode == TpRows::PerSample)) {
      T* const grads[3] = {kSlot == TpSlot::In1 ? res.data : nullptr,
                           kSlot == TpSlot::In2 ? res.data : nullptr,
                           kSlot == TpSlot::Weight ? res.data : nullptr};
      run_backward(cpu_plan, samples, arrays, grads, exec);
      return;
    }
  }
  const TpPlan& plan = cpu_plan.plan();
  const int64_t widths[4] = {plan.dim1, plan.dim2, plan.weight_numel, plan.dim_out};
  const Terms* layouts[4] = {&plan.terms1, &plan.terms2, nullptr, &plan.terms_out};
  constexpr int kResult = int(kSlot);
  constexpr unsigned kRead = 15u & ~(1u << kResult);
  for (int a = 0; a < 4; ++a) check_array(arrays[a], TpSlot(a), samples, widths[a]);
  const KernelPlan<T>& kp = kernel_plan<T>(cpu_plan);
  if constexpr (kSlot == TpSlot::Out) {
    TpGemm<T> gemm = nullptr;
    if (const GemmRoute<T>* route = gemm_route_for_call(kp, arrays, &gemm)) {
      // The kernels' paths, then the products' (see tensor_product_gemm_paths.hpp).
      T* out = arrays[3].data;
      if (route->rest->plan().paths.empty()) {
        std::fill(out, out + samples * plan.dim_out, T(0));
      } else {
        run<T, TpSlot::Out>(*route->rest, samples, arrays, exec);
      }
      run_gemm_paths<T>(*route, gemm, plan, samples, arrays, out, nullptr, nullptr, nullptr, exec);
      return;
    }
  }
  const std::vector<T> wt =
      call_transposed_weights(kp, arrays, kSlot == TpSlot::In1 || kSlot == TpSlot::In2);
  const T* wt_data = wt.empty() ? nullptr : wt.data();

  // The three inputs (the result's slot gets an empty reader).
  std::vector<InputRows<T>> inputs;
  inputs.reserve(4);
  for (int a = 0; a < 4; ++a) {
    inputs.emplace_back(a == kResult ? TpArray<T>{} : arrays[a],
                        a == kResult ? nullptr : layouts[a], widths[a], exec);
  }
  const TpArray<T>& res = arrays[kResult];
  const int64_t width = widths[kResult];

  // Per task: conversion scratch for each input, the accumulator, and the paths' scratch.
  struct Scratch {
    std::vector<T> rows[4], acc;
    PathScratch<T> path;
    Scratch(const KernelPlan<T>& kp, const T* wt, const std::vector<InputRows<T>>& inputs,
            int64_t width)
        : acc(size_t(std::max<int64_t>(width, 1))), path(kp, wt) {
      size_scratch_rows<1>(inputs, rows);
    }
  };
  // Sums samples sample(q), q in [begin, end), into sc.acc (zeroed first).
  const auto sum_samples = [&](Scratch& sc, int64_t begin, int64_t end, auto&& sample) {
    std::fill(sc.acc.begin(), sc.acc.end(), T(0));
    visit_sample_blocks<1>(inputs, kRead, samples, begin, end, sample, sc.rows,
                           [&](const int64_t*, const SampleRows<T>* r, int) E3CORE_ALWAYS_INLINE {
                             accumulate_sample<T, kSlot>(kp, r[0], sc.acc.data(), sc.path);
                           });
  };
  const auto identity = [](int64_t q) E3CORE_ALWAYS_INLINE { return q; };
  const auto store = [&](const T* acc, T* dst) { store_row(layouts[kResult], width, acc, dst); };
  const int64_t grain = std::max<int64_t>(1, 65536 / kp.work);

  if (res.mode == TpRows::PerSample) {
    // Samples run grouped by the row an indexed input reads (grad_out's, else x1's), so that
    // consecutive samples share it in cache; each still writes only its own row.
    const auto indexed_input = [&](TpSlot slot) {
      return kSlot != slot && arrays[int(slot)].mode == TpRows::Indexed;
    };
    const TpArray<T>* by = indexed_input(TpSlot::Out)   ? &arrays[int(TpSlot::Out)]
                           : indexed_input(TpSlot::In1) ? &arrays[int(TpSlot::In1)]
                                                        : nullptr;
    if (kSlot == TpSlot::Out && by == nullptr && arrays[2].mode == TpRows::Shared) {
      // Blocks of samples through the shared weights (forward_block).
      constexpr int kB = kSampleBlock;
      exec(samples, std::max<int64_t>(kB, grain), [&](int64_t begin, int64_t end) {
        std::vector<T> rows[4 * kB], acc(size_t(kB * std::max<int64_t>(width, 1)));
        size_scratch_rows<kB>(inputs, rows);
        PathScratch<T> sc(kp, wt_data);
        visit_sample_blocks<kB>(inputs, kRead, samples, begin, end, identity, rows,
                                [&](const int64_t* ss, const SampleRows<T>* rs, int n)
                                    E3CORE_ALWAYS_INLINE {
                                      T* sums[kB];
                                      for (int b = 0; b < n; ++b) sums[b] = acc.data() + b * width;
                                      std::fill(acc.begin(), acc.begin() + n * width, T(0));
                                      forward_block(kp, rs, n, true, sums, sc);
                                      for (int b = 0; b < n; ++b)
                                        store(sums[b], res.data + ss[b] * width);
                                    });
      });
      return;
    }
    if (by == nullptr) {
      exec(samples, grain, [&](int64_t begin, int64_t end) {
        Scratch sc(kp, wt_data, inputs, width);
        for (int64_t s = begin; s < end; ++s) {
          sum_samples(sc, s, s + 1, identity);
          store(sc.acc.data(), res.data + s * width);
        }
      });
      return;
    }
    const Groups groups(*by, samples);
    const auto ordered = [&](int64_t q) E3CORE_ALWAYS_INLINE { return groups.order[size_t(q)]; };
    exec(samples, grain, [&](int64_t begin, int64_t end) {
      Scratch sc(kp, wt_data, inputs, width);
      for (int64_t q = begin; q < end; ++q) {
        sum_samples(sc, q, q + 1, ordered);
        store(sc.acc.data(), res.data + groups.order[size_t(q)] * width);
      }
    });
    return;
  }

  if (res.mode == TpRows::Indexed) {
    if constexpr (kSlot == TpSlot::Out) {
      if (kp.edge_blocks) {
        pass_by_rows<kSampleBlock, T>(
            res, samples, inputs, kRead, kp.work, layouts[kResult], width, res.data, exec,
            [&] { return PathScratch<T>(kp, nullptr); },
            [&](PathScratch<T>& sc, const int64_t*, const SampleRows<T>* rs, int n, T* acc)
                E3CORE_ALWAYS_INLINE { edge_block_forward(kp, rs, n, acc, sc); });
        return;
      }
    }
    pass_by_rows<1, T>(
        res, samples, inputs, kRead, kp.work, layouts[kResult], width, res.data, exec,
        [&] { return PathScratch<T>(kp, wt_data); },
        [&](PathScratch<T>& sc, const int64_t*, const SampleRows<T>* rs, int, T* acc)
            E3CORE_ALWAYS_INLINE { accumulate_sample<T, kSlot>(kp, rs[0], acc, sc); });
    return;
  }

  // Shared result: partial sums over a fixed split of the samples, then added in order.
  const int64_t parts = shared_parts(samples, kp.work, width);
  std::vector<T> partial(size_t(parts * std::max<int64_t>(width, 1)), T(0));
  exec(parts, 1, [&](int64_t begin, int64_t end) {
    Scratch sc(kp, wt_data, inputs, width);
    for (int64_t part = begin; part < end; ++part) {
      sum_samples(sc, part * samples / parts, (part + 1) * samples / parts, identity);
      std::copy(sc.acc.begin(), sc.acc.begin() + width, partial.begin() + part * width);
    }
  });
  std::vector<T> total(size_t(std::max<int64_t>(width, 1)), T(0));
  for (int64_t part = 0; part < parts; ++part) {
    for (int64_t c = 0; c < width; ++c) total[size_t(c)] += partial[size_t(part * width + c)];
  }
  store(total.data(), res.data);
}

// The readers of the inputs that the gradients `grads` pair with, and grad_out's: `read` gets a
// bit per slot read (the weights' own gradient does not read them: 88 MB of rows per call at
// NequIP's shape); the others get empty readers.
template <typename T>
std::vector<InputRows<T>> backward_inputs(const TpPlan& plan, const TpArray<T>* arrays,
                                          T* const* grads, const Executor& exec, unsigned& read) {
  const int64_t widths[4] = {plan.dim1, plan.dim2, plan.weight_numel, plan.dim_out};
  const Terms* layouts[4] = {&plan.terms1, &plan.terms2, nullptr, &plan.terms_out};
  read = 1u << 3;
  for (int g = 0; g < 3; ++g) {
    if (grads[g] != nullptr) read |= 7u & ~(1u << g);
  }
  std::vector<InputRows<T>> inputs;
  inputs.reserve(4);
  for (int a = 0; a < 4; ++a) {
    const bool used = (read & (1u << a)) != 0;
    inputs.emplace_back(used ? arrays[a] : TpArray<T>{}, used ? layouts[a] : nullptr, widths[a],
                        exec);
  }
  return inputs;
}

// Whether run_backward_by_x1_rows serves a call: x1 read through an index (a convolution's
// sources) with its gradient asked for, and every other gradient asked for per sample.
template <typename T>
bool backward_by_x1_rows(const TpArray<T>* arrays, T* const* grads) {
  if (grads[0] == nullptr || arrays[0].mode != TpRows::Indexed) return false;
  if (grads[1] == nullptr && grads[2] == nullptr) return false;
  return arrays[2].mode == TpRows::PerSample &&
         (grads[1] == nullptr || arrays[1].mode == TpRows::PerSample);
}

// A pass over the samples grouped by x1's rows (sources in a convolution, pass_by_rows), for
// the gradients of x1, x2 and the weights (null: skipped): block(state, ss, rs, n, sums) adds a
// block of n samples to sums[g][b], which for x1 is the row's accumulator and for x2 and the
// weights the sample's own row, cleared first. Each task makes its state with new_state();
// `work` is the multiply-adds per sample; the rows of `also_prefetched` are prefetched with the
// inputs' (see visit_sample_blocks).
template <typename T, typename NewState, typename Block>
void pass_by_x1_rows(const TpPlan& plan, int64_t samples, const TpArray<T>* arrays, T* const* grads,
                     const std::vector<InputRows<T>>& inputs, unsigned read, int64_t work,
                     const Executor& exec, NewState&& new_state, Block&& block,
                     const std::vector<InputRows<T>>* also_prefetched = nullptr) {
  const int64_t widths[3] = {plan.dim1, plan.dim2, plan.weight_numel};
  const Terms* layouts[3] = {&plan.terms1, &plan.terms2, nullptr};
  bool in_place[3] = {false, false, false};
  for (int g = 1; g < 3; ++g) in_place[g] = layouts[g] == nullptr || is_trivial(*layouts[g]);
  constexpr int kB = kSampleBlock;
  // Per task: the caller's state, and the block's rows of the gradients not summed in place.
  struct State {
    decltype(new_state()) caller;
    std::vector<T> acc[3];
  };
  pass_by_rows<kB, T>(
      arrays[0], samples, inputs, read, work, layouts[0], widths[0], grads[0], exec,
      [&] {
        State state{new_state(), {}};
        for (int g = 1; g < 3; ++g) {
          if (grads[g] != nullptr && !in_place[g])
            state.acc[g].resize(size_t(kB * std::max<int64_t>(widths[g], 1)));
        }
        return state;
      },
      [&](State& state, const int64_t* ss, const SampleRows<T>* rs, int n, T* row_acc)
          E3CORE_ALWAYS_INLINE {
            T* sums[3][kB] = {};
            for (int b = 0; b < n; ++b) {
              if (grads[0] != nullptr) sums[0][b] = row_acc;
              for (int g = 1; g < 3; ++g) {
                if (grads[g] == nullptr) continue;
                sums[g][b] = in_place[g] ? grads[g] + ss[b] * widths[g]
                                         : state.acc[g].data() + b * widths[g];
                std::fill(sums[g][b], sums[g][b] + widths[g], T(0));
              }
            }
            block(state.caller, ss, rs, n, sums);
            for (int g = 1; g < 3; ++g) {
              if (grads[g] == nullptr || in_place[g]) continue;
              for (int b = 0; b < n; ++b)
                store_row(layouts[g], widths[g], sums[g][b], grads[g] + ss[b] * widths[g]);
            }
          },
      also_prefetched);
}

// A convolution's gradients in one pass over the samples grouped by x1's rows (pass_by_x1_rows).
// Two passes (x1's grouped by its rows, then the others by grad_out's) read the per-sample
// weights and gathered rows twice: NequIP's convolution at 86,000 edges took 36 ms for x1's
// gradient and 59 ms for the other two.
template <typename T>
void run_backward_by_x1_rows(const TpCpuPlan& cpu_plan, int64_t samples, const TpArray<T>* arrays,
                             T* const* grads, const Executor& exec) {
  const TpPlan& plan = cpu_plan.plan();
  const int64_t widths[4] = {plan.dim1, plan.dim2, plan.weight_numel, plan.dim_out};
  for (int a = 0; a < 4; ++a) check_array(arrays[a], TpSlot(a), samples, widths[a]);
  const KernelPlan<T>& kp = kernel_plan<T>(cpu_plan);
  unsigned read = 0;
  const std::vector<InputRows<T>> inputs = backward_inputs(plan, arrays, grads, exec, read);
  pass_by_x1_rows<T>(
      plan, samples, arrays, grads, inputs, read, 3 * kp.work, exec,
      [&] { return PathScratch<T>(kp, nullptr); },
      [&](PathScratch<T>& sc, const int64_t*, const SampleRows<T>* rs, int n,
          T*(*sums)[kSampleBlock])
          E3CORE_ALWAYS_INLINE { backward_by_x1_block(kp, rs, n, sums[0], sums[1], sums[2], sc); });
}

// The gradients of every slot but out in one pass: per sample, the three transposes run on the
// same rows, still in cache.
template <typename T>
void run_backward(const TpCpuPlan& cpu_plan, int64_t samples, const TpArray<T>* arrays,
                  T* const* grads_in, const Executor& exec) {
  const TpPlan& plan = cpu_plan.plan();
  T* grads[3] = {grads_in[0], grads_in[1], grads_in[2]};
  if (backward_by_x1_rows(arrays, grads_in)) {
    run_backward_by_x1_rows(cpu_plan, samples, arrays, grads_in, exec);
    return;
  }
  for (int g = 0; g < 3; ++g) {
    if (grads[g] == nullptr || arrays[g].mode != TpRows::Indexed) continue;
    // An indexed gradient (x1's in a convolution) in its own pass grouped by its rows, each
    // row summed in registers: through a buffer of one row per sample, summed per row
    // afterwards, x1's cost 4x the forward (the buffer's first-touch page faults, its writes
    // and a second pass reading it back by source).
    TpArray<T> with_result[4] = {arrays[0], arrays[1], arrays[2], arrays[3]};
    with_result[g].data = grads[g];
    if (g == 0) run<T, TpSlot::In1>(cpu_plan, samples, with_result, exec);
    if (g == 1) run<T, TpSlot::In2>(cpu_plan, samples, with_result, exec);
    if (g == 2) run<T, TpSlot::Weight>(cpu_plan, samples, with_result, exec);
    grads[g] = nullptr;
  }
  if (grads[0] == nullptr && grads[1] == nullptr && grads[2] == nullptr) return;
  const int64_t widths[4] = {plan.dim1, plan.dim2, plan.weight_numel, plan.dim_out};
  const Terms* layouts[4] = {&plan.terms1, &plan.terms2, nullptr, &plan.terms_out};
  for (int a = 0; a < 4; ++a) check_array(arrays[a], TpSlot(a), samples, widths[a]);
  const KernelPlan<T>& kp = kernel_plan<T>(cpu_plan);
  TpGemm<T> gemm = nullptr;
  if (const GemmRoute<T>* route = gemm_route_for_call(kp, arrays, &gemm)) {
    // The kernels' paths, then the products' (see tensor_product_gemm_paths.hpp).
    if (route->rest->plan().paths.empty()) {
      for (int g = 0; g < 3; ++g) {
        if (grads[g] != nullptr) std::fill(grads[g], grads[g] + arrays[g].rows * widths[g], T(0));
      }
    } else {
      run_backward(*route->rest, samples, arrays, grads, exec);
    }
    run_gemm_paths<T>(*route, gemm, plan, samples, arrays, nullptr, grads[0], grads[1], grads[2],
                      exec);
    return;
  }
  const std::vector<T> wt =
      call_transposed_weights(kp, arrays, grads[0] != nullptr || grads[1] != nullptr);
  unsigned read = 0;
  const std::vector<InputRows<T>> inputs = backward_inputs(plan, arrays, grads, exec, read);

  // Samples run grouped by grad_out's row (else x1's) when it is indexed, so that consecutive
  // samples share it in cache.
  const TpArray<T>* by = arrays[3].mode == TpRows::Indexed   ? &arrays[3]
                         : arrays[0].mode == TpRows::Indexed ? &arrays[0]
                                                             : nullptr;
  const std::vector<int64_t> order =
      by != nullptr ? Groups(*by, samples).order : std::vector<int64_t>();
  const auto sample = [&](int64_t q)
                          E3CORE_ALWAYS_INLINE { return by != nullptr ? order[size_t(q)] : q; };

  // Where each gradient's per-sample sums go: straight to its rows (per sample), or into
  // per-part partial sums that are added in order (shared).
  int64_t shared_width = 0;
  for (int g = 0; g < 3; ++g) {
    if (grads[g] != nullptr && arrays[g].mode == TpRows::Shared) shared_width += widths[g];
  }
  // Parts of whole sample blocks: with shared weights a part of one sample passed over all the
  // weights per sample (x1's gradient of a 1 M-weight product at 101 samples: 3x its forward).
  const int64_t grain =
      std::max<int64_t>(kSampleBlock, std::max<int64_t>(1, 65536 / (3 * kp.work)));
  const int64_t parts = shared_width > 0 ? shared_parts(samples, 3 * kp.work, shared_width)
                                         : (samples + grain - 1) / grain;
  std::vector<T> partial[3];
  for (int g = 0; g < 3; ++g) {
    if (grads[g] != nullptr && arrays[g].mode == TpRows::Shared) {
      partial[g].assign(size_t(std::max<int64_t>(parts, 1) * widths[g]), T(0));
    }
  }
  const auto store = [&](int g, const T* acc, T* dst) {
    store_row(layouts[g], widths[g], acc, dst);
  };

  // A per-sample gradient in e3nn's layout is summed in place; one in another layout through
  // the task's accumulator.
  bool in_place[3];
  for (int g = 0; g < 3; ++g) {
    in_place[g] =
        arrays[g].mode == TpRows::PerSample && (layouts[g] == nullptr || is_trivial(*layouts[g]));
  }
  const bool shared_weights = arrays[2].mode == TpRows::Shared;
  constexpr int kB = kSampleBlock;
  exec(parts, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> rows[4 * kB], acc[3];
    size_scratch_rows<kB>(inputs, rows);
    // acc[g]: the rows of a block's samples (cleared per sample) for a per-sample gradient not
    // summed in place. A shared gradient sums straight into its part's row of partial[g].
    for (int g = 0; g < 3; ++g) {
      if (grads[g] == nullptr || in_place[g] || arrays[g].mode == TpRows::Shared) continue;
      acc[g].resize(size_t(kB * std::max<int64_t>(widths[g], 1)));
    }
    PathScratch<T> sc(kp, wt.empty() ? nullptr : wt.data());
    for (int64_t part = begin; part < end; ++part) {
      const auto visit = [&](const int64_t* ss, const SampleRows<T>* rs,
                             int n) E3CORE_ALWAYS_INLINE {
        // sums[g][b]: where sample b's part of gradient g goes.
        T* sums[3][kB] = {};
        for (int g = 0; g < 3; ++g) {
          if (grads[g] == nullptr) continue;
          const TpRows mode = arrays[g].mode;
          for (int b = 0; b < n; ++b) {
            const int64_t at = ss[b] * widths[g];
            sums[g][b] = mode == TpRows::Shared ? partial[g].data() + part * widths[g]
                         : !in_place[g]         ? acc[g].data() + b * widths[g]
                                                : grads[g] + at;
            if (mode != TpRows::Shared) std::fill(sums[g][b], sums[g][b] + widths[g], T(0));
          }
        }
        backward_block(kp, rs, n, shared_weights, sums[0], sums[1], sums[2], sc);
        for (int g = 0; g < 3; ++g) {
          if (grads[g] == nullptr || in_place[g] || arrays[g].mode != TpRows::PerSample) continue;
          for (int b = 0; b < n; ++b) store(g, sums[g][b], grads[g] + ss[b] * widths[g]);
        }
      };
      visit_sample_blocks<kB>(inputs, read, samples, part * samples / parts,
                              (part + 1) * samples / parts, sample, rows, visit);
    }
  });

  // The parts added in order into the first (1 M shared weights: each pass over them costs
  // as much as a small batch's products, so no copies besides).
  for (int g = 0; g < 3; ++g) {
    if (grads[g] == nullptr || arrays[g].mode != TpRows::Shared) continue;
    const int64_t width = widths[g];
    T* total = partial[g].data();
    for (int64_t part = 1; part < parts; ++part) {
      const T* p = partial[g].data() + part * width;
      for (int64_t c = 0; c < width; ++c) total[c] += p[c];
    }
    if (g == int(TpSlot::Weight)) to_e3nn_weight_order(kp, total);
    store(g, total, grads[g]);
  }
}

}  // namespace

template <typename T>
void tensor_product_backward(const TpCpuPlan& plan, int64_t samples, TpArray<T> x1, TpArray<T> x2,
                             TpArray<T> weight, TpArray<T> out, T* grad_x1, T* grad_x2,
                             T* grad_weight, const Executor& exec) {
  if (samples < 0) throw std::invalid_argument("samples is negative");
  const TpArray<T> arrays[4] = {x1, x2, weight, out};
  T* const grads[3] = {grad_x1, grad_x2, grad_weight};
  run_backward<T>(plan, samples, arrays, grads, exec);
}

template <typename T>
void tensor_product(const TpCpuPlan& plan, TpSlot result, int64_t samples, TpArray<T> x1,
                    TpArray<T> x2, TpArray<T> weight, TpArray<T> out, const Executor& exec) {
  if (samples < 0) throw std::invalid_argument("samples is negative");
  const TpArray<T> arrays[4] = {x1, x2, weight, out};
  switch (result) {
    case TpSlot::In1:
      return run<T, TpSlot::In1>(plan, samples, arrays, exec);
    case TpSlot::In2:
      return run<T, TpSlot::In2>(plan, samples, arrays, exec);
    case TpSlot::Weight:
      return run<T, TpSlot::Weight>(plan, samples, arrays, exec);
    case TpSlot::Out:
      return run<T, TpSlot::Out>(plan, samples, arrays, exec);
  }
  throw std::invalid_argument("result is " + std::to_string(int(result)) +
                              ", not a TpSlot (In1, In2, Weight or Out)");
}

// The calls given a TpPlan borrow it (an aliasing pointer that owns nothing) for their tables.
template <typename T>
void tensor_product_backward(const TpPlan& plan, int64_t samples, TpArray<T> x1, TpArray<T> x2,
                             TpArray<T> weight, TpArray<T> out, T* grad_x1, T* grad_x2,
                             T* grad_weight, const Executor& exec) {
  const TpCpuPlan borrowed(std::shared_ptr<const TpPlan>(std::shared_ptr<const TpPlan>(), &plan));
  tensor_product_backward(borrowed, samples, x1, x2, weight, out, grad_x1, grad_x2, grad_weight,
                          exec);
}

template <typename T>
void tensor_product(const TpPlan& plan, TpSlot result, int64_t samples, TpArray<T> x1,
                    TpArray<T> x2, TpArray<T> weight, TpArray<T> out, const Executor& exec) {
  const TpCpuPlan borrowed(std::shared_ptr<const TpPlan>(std::shared_ptr<const TpPlan>(), &plan));
  tensor_product(borrowed, result, samples, x1, x2, weight, out, exec);
}

}  // namespace e3core
