// How the tensor-product kernels read their input rows: e3nn's layout converted to theirs, and
// the readers that convert and prefetch the rows, apart from the arithmetic that reads them.
//
// Inside a sample every row is held "ir_mul" (component-major: x[i * mul + u] within a term)
// so that the innermost loops run over channels, contiguous and vectorisable. Rows read through
// an index or shared by all samples are converted once per call; per-sample rows on the fly.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "cpu_dispatch.hpp"
#include "e3core/parallel.hpp"
#include "e3core/tensor_product.hpp"

namespace e3core {
namespace {

using Terms = std::vector<std::pair<int64_t, int64_t>>;

bool is_trivial(const Terms& terms) {
  for (const auto& [mul, dim] : terms) {
    if (mul > 1 && dim > 1) return false;
  }
  return true;
}

// One term of a row from e3nn's layout to the kernels' (dst[i * mul + u] = src[u * dim + i]) or
// back; kDim fixes the component count so that its loop unrolls (0: dim, at run time).
template <bool kToIrMul, int kDim, typename T>
void transpose_term(int64_t mul, int64_t dim, const T* __restrict src, T* __restrict dst) {
  const int64_t d = kDim > 0 ? kDim : dim;
  for (int64_t u = 0; u < mul; ++u) {
    for (int64_t i = 0; i < d; ++i) {
      if constexpr (kToIrMul) {
        dst[i * mul + u] = src[u * d + i];
      } else {
        dst[u * d + i] = src[i * mul + u];
      }
    }
  }
}

// A row from e3nn's layout to the kernels' or back. Terms of scalars or of one channel read the
// same in both and are copied: converted element by element, a small convolution's output rows
// (101 rows of 576 values) took 13 % of its forward call.
template <bool kToIrMul, typename T>
void convert_row(const Terms& terms, const T* src, T* dst) {
  int64_t at = 0;
  for (const auto& [mul, dim] : terms) {
    const T* s = src + at;
    T* d = dst + at;
    if (mul == 1 || dim == 1) {
      std::copy(s, s + mul * dim, d);
    } else if (dim == 3) {
      transpose_term<kToIrMul, 3>(mul, dim, s, d);
    } else if (dim == 5) {
      transpose_term<kToIrMul, 5>(mul, dim, s, d);
    } else {
      transpose_term<kToIrMul, 0>(mul, dim, s, d);
    }
    at += mul * dim;
  }
}

template <typename T>
void to_ir_mul(const Terms& terms, const T* src, T* dst) {
  convert_row<true>(terms, src, dst);
}

template <typename T>
void to_mul_ir(const Terms& terms, const T* src, T* dst) {
  convert_row<false>(terms, src, dst);
}

// Prefetches the cache lines of n values at p (for writing when kWrite).
template <bool kWrite = false, typename T>
E3CORE_ALWAYS_INLINE inline void prefetch_row(const T* p, int64_t n) {
  const char* c = reinterpret_cast<const char*>(p);
  for (int64_t b = 0; b < n * int64_t(sizeof(T)); b += 64)
    __builtin_prefetch(c + b, kWrite ? 1 : 0);
}

// An input array as the kernel reads it: ir_mul rows, converted up front when they are reached
// by index or shared, converted per sample otherwise (unless the layout needs no conversion).
template <typename T>
class InputRows {
 public:
  InputRows(const TpArray<T>& a, const Terms* terms, int64_t width, const Executor& exec)
      : a_(a), terms_(terms), width_(width) {
    convert_ = terms != nullptr && !is_trivial(*terms);
    if (convert_ && a.mode != TpRows::PerSample && a.rows > 0) {
      converted_.resize(size_t(a.rows * width));
      exec(a.rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(width, 1)),
           [&](int64_t begin, int64_t end) {
             for (int64_t r = begin; r < end; ++r) {
               to_ir_mul(*terms_, a_.data + r * width_, converted_.data() + r * width_);
             }
           });
    }
  }
  // Row of sample s; `scratch` (width values) holds it when it is converted on the fly.
  E3CORE_ALWAYS_INLINE const T* row(int64_t s, T* scratch) const {
    const T* r = stored_row(s);
    if (!convert_ || a_.mode != TpRows::PerSample) return r;
    to_ir_mul(*terms_, r, scratch);
    return scratch;
  }

  // Values of scratch that row() needs: a row when it converts on the fly, else none.
  int64_t scratch_width() const { return convert_ && a_.mode == TpRows::PerSample ? width_ : 0; }

  // Asks for sample s's row to be brought into cache: rows are read in an order (by
  // destination or source) unrelated to their order in memory, so the hardware prefetcher
  // cannot guess them, and waiting for them took most of the convolutions' time.
  E3CORE_ALWAYS_INLINE void prefetch(int64_t s) const {
    if (a_.data == nullptr || a_.mode == TpRows::Shared) return;
    prefetch_row(stored_row(s), width_);
  }

 private:
  E3CORE_ALWAYS_INLINE const T* stored_row(int64_t s) const {
    const int64_t r = a_.mode == TpRows::PerSample ? s
                      : a_.mode == TpRows::Indexed ? a_.index[s]
                                                   : 0;
    const T* base = convert_ && a_.mode != TpRows::PerSample ? converted_.data() : a_.data;
    return base + r * width_;
  }

  TpArray<T> a_;
  const Terms* terms_;
  int64_t width_;
  bool convert_ = false;
  std::vector<T> converted_;
};

}  // namespace
}  // namespace e3core
