// Fuzzes TpPlan::decode, the reader of the plan tensors that state dicts and exported models carry,
// and the kernels run with the plans it accepts. The input is the plan's int64 words (trailing
// bytes are ignored). Every array is allocated at its exact size, so that AddressSanitizer sees
// any access of a kernel outside it: decode must accept only plans the kernels can run safely.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "e3core/tensor_product.hpp"
#include "word_mutator.hpp"

namespace {

using e3core::TpArray;
using e3core::TpPlan;
using e3core::TpRows;
using e3core::TpSlot;

// Plans wider than this are decoded but not run: their arrays would slow the fuzzer down.
constexpr int64_t kMaxRun = 1 << 12;

// Runs the chunks a thread pool would get one after the other: deterministic, and no threads
// started per input.
void serial(int64_t n, int64_t grain, const e3core::RangeFn& fn) {
  grain = std::max<int64_t>(grain, 1);
  for (int64_t begin = 0; begin < n; begin += grain) fn(begin, std::min(n, begin + grain));
}

template <typename T>
struct Slot {
  std::vector<T> values;
  TpArray<T> array;

  Slot(int64_t rows, int64_t width, TpRows mode, const int64_t* index) {
    values.resize(size_t(rows * width));
    for (size_t k = 0; k < values.size(); ++k) values[k] = T(1) / T(1 + k % 7);
    array = {values.data(), rows, mode, index};
  }
};

// The four kernels and the backward pass over three samples, with every row per sample, or laid
// out as in a convolution: x1 and out indexed by each edge's source and destination, weights
// shared.
template <typename T>
void run(const TpPlan& plan, bool convolution) {
  static const int64_t source[3] = {1, 0, 1}, destination[3] = {0, 0, 1};
  const int64_t samples = 3, nodes = convolution ? 2 : 3;
  const TpRows indexed = convolution ? TpRows::Indexed : TpRows::PerSample;
  Slot<T> x1(nodes, plan.dim1, indexed, source);
  Slot<T> x2(samples, plan.dim2, TpRows::PerSample, nullptr);
  Slot<T> w(convolution ? 1 : samples, plan.weight_numel,
            convolution ? TpRows::Shared : TpRows::PerSample, nullptr);
  Slot<T> out(nodes, plan.dim_out, indexed, destination);
  for (TpSlot result : {TpSlot::Out, TpSlot::In1, TpSlot::In2, TpSlot::Weight}) {
    e3core::tensor_product<T>(plan, result, samples, x1.array, x2.array, w.array, out.array,
                              serial);
  }
  std::vector<T> grad_x1(x1.values.size()), grad_x2(x2.values.size()), grad_w(w.values.size());
  e3core::tensor_product_backward<T>(plan, samples, x1.array, x2.array, w.array, out.array,
                                     grad_x1.data(), grad_x2.data(), grad_w.data(), serial);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<int64_t> words(size / sizeof(int64_t));
  if (!words.empty()) std::memcpy(words.data(), data, words.size() * sizeof(int64_t));
  TpPlan plan;
  try {
    plan = TpPlan::decode(words.data(), int64_t(words.size()));
  } catch (const std::invalid_argument&) {
    return 0;
  }
  // What decode accepts, encode writes back and decode reads again unchanged.
  const std::vector<int64_t> encoded = plan.encode();
  if (TpPlan::decode(encoded.data(), int64_t(encoded.size())).encode() != encoded) {
    __builtin_trap();
  }
  if (std::max({plan.dim1, plan.dim2, plan.dim_out, plan.weight_numel}) > kMaxRun) return 0;
  for (bool convolution : {false, true}) {
    run<double>(plan, convolution);
    run<float>(plan, convolution);
  }
  return 0;
}

// Boundary values for one field of a plan: the sizes, offsets and counts that overflowed int64
// arithmetic or slipped past bounds checks, and the bits of special doubles for coefficients.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned seed) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  static const uint64_t values[] = {
      0,
      1,
      2,
      3,
      4,
      5,
      7,
      8,
      9,
      15,
      16,
      17,
      64,
      255,
      256,
      1024,
      4096,
      65536,
      uint64_t(-1),
      uint64_t(-2),
      uint64_t(kMax),
      uint64_t(kMax - 1),
      uint64_t(kMin),
      uint64_t(kMin + 1),
      uint64_t(1) << 31,
      (uint64_t(1) << 31) - 1,
      uint64_t(1) << 32,
      (uint64_t(1) << 32) + 1,
      uint64_t(1) << 62,
      (uint64_t(1) << 62) + 1,
      uint64_t(6100000000000000000),
      uint64_t(kMax / 3),
      uint64_t(kMax / 2 + 1),
      0x7ff0000000000000,  // inf
      0x7ff8000000000000,  // NaN
      0x3ff0000000000000,  // 1.0
      0xfff0000000000000,  // -inf
  };
  return e3core_fuzz::mutate_words(data, size, max_size, seed, values);
}
