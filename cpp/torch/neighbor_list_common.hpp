// Argument checks of the pair-list ops, shared by every backend.
#pragma once

#include <ATen/ATen.h>

#include <stdexcept>

namespace e3core::torch_ops {

inline void check_positions(const at::Tensor& positions, const char* op) {
  TORCH_CHECK_TYPE(positions.scalar_type() == at::kFloat || positions.scalar_type() == at::kDouble,
                   op, "positions has dtype ", positions.scalar_type(),
                   ", expected float32 or float64");
  TORCH_CHECK_VALUE(positions.dim() == 2 && positions.size(1) == 3, op, "positions has shape ",
                    positions.sizes(), ", expected (n, 3)");
}

/// The cell, contiguous, or an undefined tensor without one.
inline at::Tensor checked_cell(const c10::optional<at::Tensor>& cell, const at::Tensor& positions,
                               const char* op) {
  if (!cell.has_value()) return {};
  TORCH_CHECK_TYPE(cell->scalar_type() == positions.scalar_type(), op, "cell has dtype ",
                   cell->scalar_type(), " but positions has ", positions.scalar_type());
  TORCH_CHECK_VALUE(cell->device() == positions.device(), op, "cell is on ", cell->device(),
                    " but positions is on ", positions.device());
  TORCH_CHECK_VALUE(cell->dim() == 2 && cell->size(0) == 3 && cell->size(1) == 3, op,
                    "cell has shape ", cell->sizes(), ", expected (3, 3)");
  return cell->contiguous();
}

/// radius_graph's batch, contiguous, or an undefined tensor without one; checks
/// max_num_neighbors too.
inline at::Tensor checked_batch(const c10::optional<at::Tensor>& batch, const at::Tensor& positions,
                                c10::optional<int64_t> max_num_neighbors, const char* op) {
  TORCH_CHECK_VALUE(!max_num_neighbors.has_value() || *max_num_neighbors >= 0, op,
                    "max_num_neighbors is ", max_num_neighbors.value_or(0),
                    ", expected None or >= 0");
  if (!batch.has_value()) return {};
  TORCH_CHECK_TYPE(batch->scalar_type() == at::kLong, op, "batch has dtype ", batch->scalar_type(),
                   ", expected int64");
  TORCH_CHECK_VALUE(batch->device() == positions.device(), op, "batch is on ", batch->device(),
                    " but positions is on ", positions.device());
  TORCH_CHECK_VALUE(batch->dim() == 1 && batch->size(0) == positions.size(0), op,
                    "batch has shape ", batch->sizes(), ", expected (", positions.size(0),
                    ",), one molecule index per atom");
  return batch->contiguous();
}

/// Runs a core call, its std::invalid_argument becoming a ValueError.
template <typename F>
void core_call(const char* op, F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, op, e.what());
  }
}

}  // namespace e3core::torch_ops
