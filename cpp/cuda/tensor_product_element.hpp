// One value of a tensor product's result slot, as a sum over the samples of a group: the
// arithmetic of the CUDA kernels, shared with their host tests.
//
// Every slot's value is a sum of products of the other three slots' values, so each result
// value is gathered by one thread from what reaches it: for x1, x2 and out, the paths that
// read its term and the Clebsch-Gordan entries with its component; for a weight, its path's
// entries. Samples whose results share a row (a convolution's destination or source, a shared
// weight) form a group, summed in order by the same thread: no atomics, the same bits on
// every run.
#pragma once

#include <cstdint>

#include "e3core/cuda.hpp"
#include "e3core/tensor_product.hpp"
#include "host_device.hpp"
#include "tensor_product_pairs.hpp"
#include "tensor_product_tables.hpp"

namespace e3core::cuda_detail {

using cuda::TpGroups;

// The four slots (x1, x2, weight, out) of a call; the result slot's array is not read.
template <typename T>
struct TpSlotsView {
  TpArray<T> slot[4];
};

// row + offset, or null for a slot without an array (the result's): arithmetic on a null pointer
// is undefined, even unread.
template <typename T>
E3CORE_HD inline const T* offset_row(const T* row, int64_t offset) {
  return row == nullptr ? nullptr : row + offset;
}

template <typename T>
E3CORE_HD inline const T* row_of(const TpArray<T>& a, int64_t sample, int64_t width) {
  const int64_t r = a.mode == TpRows::PerSample ? sample
                    : a.mode == TpRows::Indexed ? a.index[sample]
                                                : 0;
  return offset_row(a.data, r * width);
}

// Calls f(u, v, w, weight_index) for the channel triples of path `p` in which the result slot
// `R` (x1, x2 or out) has channel `ch`. w is the output channel.
template <TpSlot R, typename F>
E3CORE_HD inline void for_each_channel(const int64_t* p, int64_t ch, F&& f) {
  const ConnectionMode mode = ConnectionMode(p[kMode]);
  const PairIndex ix{mode, p[kMul1], p[kMul2], p[kMulOut]};
  const Pairing pairing = pairing_of(mode);
  const bool mixing = is_mixing(mode);
  const int64_t mul1 = p[kMul1], mul2 = p[kMul2], mul_out = p[kMulOut];
  // Visits the pair (u, v): every w of a mixing path, else its own output channel.
  const auto pair = [&](int64_t u, int64_t v) {
    const int64_t base = ix.weight(u, v);
    if (mixing) {
      if (R == TpSlot::Out) {
        f(u, v, ch, base + ch);
      } else {
        for (int64_t w = 0; w < mul_out; ++w) f(u, v, w, base + w);
      }
    } else {
      f(u, v, ix.channel(u, v), base);
    }
  };
  if (R == TpSlot::In1) {
    if (pairing == Pairing::Diagonal) {
      pair(ch, ch);
    } else {
      for (int64_t v = pairing == Pairing::Triangle ? ch + 1 : 0; v < mul2; ++v) pair(ch, v);
    }
  } else if (R == TpSlot::In2) {
    if (pairing == Pairing::Diagonal) {
      pair(ch, ch);
    } else {
      const int64_t end = pairing == Pairing::Triangle ? ch : mul1;
      for (int64_t u = 0; u < end; ++u) pair(u, ch);
    }
  } else if (mixing) {
    for (int64_t u = 0; u < mul1; ++u) {
      if (pairing == Pairing::Diagonal) {
        pair(u, u);
      } else {
        for (int64_t v = pairing == Pairing::Triangle ? u + 1 : 0; v < mul2; ++v) pair(u, v);
      }
    }
  } else {
    // The pairs whose output channel is ch.
    switch (mode) {
      case ConnectionMode::UVU:
        for (int64_t v = 0; v < mul2; ++v) pair(ch, v);
        break;
      case ConnectionMode::UVV:
        for (int64_t u = 0; u < mul1; ++u) pair(u, ch);
        break;
      case ConnectionMode::UVUV:
        pair(ch / mul2, ch % mul2);
        break;
      case ConnectionMode::UVULV: {
        int64_t u = 0, first = 0;  // first: the index of the pair (u, u + 1)
        while (first + (mul1 - u - 1) <= ch) first += mul1 - 1 - u++;
        pair(u, u + 1 + ch - first);
        break;
      }
      default:  // uuu
        pair(ch, ch);
    }
  }
}

// The channels (u, v, w) of weight `local` of path p.
E3CORE_HD inline void weight_channels(const int64_t* p, int64_t local, int64_t* u, int64_t* v,
                                      int64_t* w) {
  const ConnectionMode mode = ConnectionMode(p[kMode]);
  const PairIndex ix{mode, p[kMul1], p[kMul2], p[kMulOut]};
  const bool mixing = is_mixing(mode);
  const int64_t pair = mixing ? local / p[kMulOut] : local;
  switch (pairing_of(mode)) {
    case Pairing::Diagonal:
      *u = *v = pair;
      break;
    case Pairing::Triangle: {
      const int64_t m = p[kMul1];
      int64_t a = 0, first = 0;
      while (first + (m - a - 1) <= pair) first += m - 1 - a++;
      *u = a;
      *v = a + 1 + pair - first;
      break;
    }
    default:
      *u = pair / p[kMul2];
      *v = pair % p[kMul2];
  }
  *w = mixing ? local % p[kMulOut] : ix.channel(*u, *v);
}

// Result slot R's value at column `col` for one sample.
template <typename T, TpSlot R>
E3CORE_HD inline T sample_value(const TpTablesView<T>& t, const TpSlotsView<T>& a, int64_t sample,
                                int64_t col) {
  const TpTablesLayout& L = t.layout;
  const T* x1 = row_of(a.slot[0], sample, L.width[0]);
  const T* x2 = row_of(a.slot[1], sample, L.width[1]);
  const T* w = row_of(a.slot[2], sample, L.width[2]);
  const T* g = row_of(a.slot[3], sample, L.width[3]);
  T acc = T(0);
  if (R == TpSlot::Weight) {
    const int64_t* p = t.path(t.ints[L.weight_path + col]);
    int64_t u, v, c;
    weight_channels(p, col - p[kWeightOffset], &u, &v, &c);
    const T* r1 = offset_row(x1, p[kOffset1] + u * p[kDim1]);
    const T* r2 = offset_row(x2, p[kOffset2] + v * p[kDim2]);
    const T* ro = offset_row(g, p[kOffsetOut] + c * p[kDimOut]);
    const int64_t* ijk = t.ints + L.ijk[2];
    const T* val = t.values + 2 * L.entries;
    for (int64_t e = p[kEntryBegin]; e < p[kEntryEnd]; ++e) {
      acc += val[e] * r1[ijk[3 * e]] * r2[ijk[3 * e + 1]] * ro[ijk[3 * e + 2]];
    }
    return acc;
  }
  constexpr int s = R == TpSlot::In1 ? 0 : R == TpSlot::In2 ? 1 : 2;
  const int64_t term = t.ints[L.col_term[s] + col];
  const int64_t local = col - t.ints[L.term_offset[s] + term];
  const int64_t dim = t.ints[L.term_dim[s] + term];
  const int64_t ch = local / dim, comp = local % dim;
  const int64_t* ijk = t.ints + L.ijk[s];
  const T* val = t.values + s * L.entries;
  const int64_t* paths = t.ints + L.term_paths[s];
  const int64_t* paths_start = t.ints + L.term_paths_start[s];
  for (int64_t q = paths_start[term]; q < paths_start[term + 1]; ++q) {
    const int64_t* p = t.path(paths[q]);
    const int64_t* starts = t.ints + p[kComp0 + s];
    const int64_t begin = p[kEntryBegin] + starts[comp], end = p[kEntryBegin] + starts[comp + 1];
    if (begin == end) continue;
    const bool weighted = p[kHasWeight] != 0;
    const T* wp = offset_row(w, p[kWeightOffset]);
    for_each_channel<R>(p, ch, [&](int64_t u, int64_t v, int64_t c, int64_t widx) {
      const T* r1 = offset_row(x1, p[kOffset1] + u * p[kDim1]);
      const T* r2 = offset_row(x2, p[kOffset2] + v * p[kDim2]);
      const T* ro = offset_row(g, p[kOffsetOut] + c * p[kDimOut]);
      T sum = T(0);
      for (int64_t e = begin; e < end; ++e) {
        const int64_t* x = ijk + 3 * e;
        T term_value = val[e];
        if (R != TpSlot::In1) term_value *= r1[x[0]];
        if (R != TpSlot::In2) term_value *= r2[x[1]];
        if (R != TpSlot::Out) term_value *= ro[x[2]];
        sum += term_value;
      }
      acc += weighted ? wp[widx] * sum : sum;
    });
  }
  return acc;
}

// Result slot R's value at column `col` of group g's row: the sum over the group's samples.
template <typename T, TpSlot R>
E3CORE_HD inline T group_value(const TpTablesView<T>& t, const TpSlotsView<T>& a,
                               const TpGroups& groups, int64_t g, int64_t col) {
  const int64_t begin = groups.offsets != nullptr ? groups.offsets[g] : g;
  const int64_t end = groups.offsets != nullptr ? groups.offsets[g + 1] : g + 1;
  T acc = T(0);
  for (int64_t q = begin; q < end; ++q) {
    acc += sample_value<T, R>(t, a, groups.order != nullptr ? groups.order[q] : q, col);
  }
  return acc;
}

}  // namespace e3core::cuda_detail
