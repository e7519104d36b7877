// CPU kernels of the pair-list ops: checks, then the core's cell list writing into new tensors.
#include <torch/library.h>

#include <array>
#include <stdexcept>
#include <tuple>

#include "cpu_support.hpp"
#include "e3core/neighbor_list.hpp"

namespace e3core::torch_ops {
namespace {

void check_positions(const at::Tensor& positions, const char* op) {
  TORCH_CHECK_TYPE(positions.scalar_type() == at::kFloat || positions.scalar_type() == at::kDouble,
                   op, "positions has dtype ", positions.scalar_type(),
                   ", expected float32 or float64");
  TORCH_CHECK_VALUE(positions.dim() == 2 && positions.size(1) == 3, op, "positions has shape ",
                    positions.sizes(), ", expected (n, 3)");
}

// Runs a core call, its std::invalid_argument becoming a ValueError.
template <typename F>
void core_call(const char* op, F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, op, e.what());
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> neighbor_list_cpu(
    const at::Tensor& positions, double cutoff, const c10::optional<at::Tensor>& cell,
    std::array<bool, 3> pbc, bool self_interaction, bool full_list, bool sorted) {
  const char* op = "e3core::neighbor_list: ";
  check_positions(positions, op);
  at::Tensor cell_c;
  if (cell.has_value()) {
    TORCH_CHECK_TYPE(cell->scalar_type() == positions.scalar_type(), op, "cell has dtype ",
                     cell->scalar_type(), " but positions has ", positions.scalar_type());
    TORCH_CHECK_VALUE(cell->device() == positions.device(), op, "cell is on ", cell->device(),
                      " but positions is on ", positions.device());
    TORCH_CHECK_VALUE(cell->dim() == 2 && cell->size(0) == 3 && cell->size(1) == 3, op,
                      "cell has shape ", cell->sizes(), ", expected (3, 3)");
    cell_c = cell->contiguous();
  }
  const at::Tensor x = positions.contiguous();
  const auto index = x.options().dtype(at::kLong);
  at::Tensor i, j, s;
  const NeighborListOptions options{cutoff, pbc, self_interaction, full_list, sorted};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "neighbor_list", [&] {
    const auto allocate = [&](int64_t n_pairs) {
      i = at::empty({n_pairs}, index);
      j = at::empty({n_pairs}, index);
      s = at::empty({n_pairs, 3}, index);
      for (const at::Tensor* t : {&i, &j, &s}) advise_huge_pages(*t);
      NeighborPairs<scalar_t> out;
      out.i = i.mutable_data_ptr<int64_t>();
      out.j = j.mutable_data_ptr<int64_t>();
      out.shifts = s.mutable_data_ptr<int64_t>();
      return out;
    };
    core_call(op, [&] {
      neighbor_list<scalar_t>(options, x.const_data_ptr<scalar_t>(), x.size(0),
                              cell_c.defined() ? cell_c.const_data_ptr<scalar_t>() : nullptr,
                              allocate, torch_parallel_for);
    });
  });
  return {i, j, s};
}

at::Tensor radius_graph_cpu(const at::Tensor& positions, double r_max,
                            const c10::optional<at::Tensor>& batch, bool loop,
                            c10::optional<int64_t> max_num_neighbors) {
  const char* op = "e3core::radius_graph: ";
  check_positions(positions, op);
  TORCH_CHECK_VALUE(!max_num_neighbors.has_value() || *max_num_neighbors >= 0, op,
                    "max_num_neighbors is ", max_num_neighbors.value_or(0),
                    ", expected None or >= 0");
  at::Tensor batch_c;
  if (batch.has_value()) {
    TORCH_CHECK_TYPE(batch->scalar_type() == at::kLong, op, "batch has dtype ",
                     batch->scalar_type(), ", expected int64");
    TORCH_CHECK_VALUE(batch->device() == positions.device(), op, "batch is on ", batch->device(),
                      " but positions is on ", positions.device());
    TORCH_CHECK_VALUE(batch->dim() == 1 && batch->size(0) == positions.size(0), op,
                      "batch has shape ", batch->sizes(), ", expected (", positions.size(0),
                      ",), one molecule index per atom");
    batch_c = batch->contiguous();
  }
  const at::Tensor x = positions.contiguous();
  at::Tensor edge_index;
  const RadiusGraphOptions options{r_max, loop, max_num_neighbors.value_or(-1)};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "radius_graph", [&] {
    const auto allocate = [&](int64_t n_edges) {
      edge_index = at::empty({2, n_edges}, x.options().dtype(at::kLong));
      return edge_index.mutable_data_ptr<int64_t>();
    };
    core_call(op, [&] {
      radius_graph<scalar_t>(options, x.const_data_ptr<scalar_t>(), x.size(0),
                             batch_c.defined() ? batch_c.const_data_ptr<int64_t>() : nullptr,
                             allocate, torch_parallel_for);
    });
  });
  return edge_index;
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, CPU, m) {
  m.impl("neighbor_list", &neighbor_list_cpu);
  m.impl("radius_graph", &radius_graph_cpu);
}

}  // namespace e3core::torch_ops
