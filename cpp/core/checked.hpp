// Checked int64 arithmetic for sizes, offsets and counts computed from input (irreps strings,
// plan tensors from model files): a wrapped value would pass later bounds checks.
#pragma once

#include <cstdint>
#include <optional>

namespace e3core::detail {

/// a + b, or nothing when it does not fit in int64.
inline std::optional<int64_t> checked_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

/// a * b, or nothing when it does not fit in int64.
inline std::optional<int64_t> checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

}  // namespace e3core::detail
