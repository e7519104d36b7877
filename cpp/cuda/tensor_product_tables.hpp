// A tensor-product plan flattened into two arrays (integers and coefficients) that a CUDA
// kernel reads through a view: the paths, their Clebsch-Gordan entries sorted three ways (by
// the component of x1, of x2 and of the output), and for every column of every slot the paths
// that reach it. Built on the host, plain C++, so that the kernels' arithmetic is tested on the
// CPU too.
#pragma once

#include <cstdint>
#include <vector>

#include "e3core/tensor_product.hpp"
#include "host_device.hpp"

namespace e3core::cuda_detail {

// The fields of one path's record in the integer array.
enum PathField : int {
  kMode,
  kHasWeight,
  kMul1,
  kMul2,
  kMulOut,
  kDim1,
  kDim2,
  kDimOut,
  kOffset1,
  kOffset2,
  kOffsetOut,
  kWeightOffset,
  kEntryBegin,  // first entry of the path in each of the three sorted copies
  kEntryEnd,
  kComp0,  // where the path's per-component starts begin, for x1, x2 and out
  kComp1,
  kComp2,
  kPathFields
};

// Where each table starts in the integer array. Slots 0, 1, 2 are x1, x2 and out.
struct TpTablesLayout {
  int64_t num_paths = 0;
  int64_t paths = 0;           // num_paths records of kPathFields
  int64_t entries = 0;         // entries of all paths, in each sorted copy
  int64_t ijk[3] = {};         // per copy: 3 x entries, (i, j, k) of each entry
  int64_t comp_start[3] = {};  // per slot: per path, dim + 1 entry offsets (from kEntryBegin)
  int64_t col_term[3] = {};    // per slot: the term of each column
  int64_t term_offset[3] = {};
  int64_t term_dim[3] = {};
  int64_t term_paths_start[3] = {};  // per slot: terms + 1 offsets into term_paths
  int64_t term_paths[3] = {};
  int64_t weight_path = 0;  // the path of each weight
  int64_t width[4] = {};    // columns of x1, x2, weight and out
};

// The tables in device (or, in tests, host) memory.
template <typename T>
struct TpTablesView {
  const int64_t* ints = nullptr;
  const T* values = nullptr;  // per copy: entries coefficients, in copy order
  TpTablesLayout layout;

  E3CORE_HD const int64_t* path(int64_t p) const { return ints + layout.paths + p * kPathFields; }
};

// The host arrays behind a view.
template <typename T>
struct TpTables {
  std::vector<int64_t> ints;
  std::vector<T> values;
  TpTablesLayout layout;

  explicit TpTables(const TpPlan& plan);
  TpTablesView<T> view(const int64_t* ints_at, const T* values_at) const {
    return {ints_at, values_at, layout};
  }
};

}  // namespace e3core::cuda_detail
