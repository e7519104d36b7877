// CPU kernels of the pair-list ops: checks, then the core's cell list writing into new tensors.
#include <torch/library.h>

#include <array>
#include <stdexcept>
#include <tuple>

#include "cpu_support.hpp"
#include "e3core/neighbor_list.hpp"
#include "neighbor_list_common.hpp"

namespace e3core::torch_ops {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> neighbor_list_cpu(
    const at::Tensor& positions, double cutoff, const c10::optional<at::Tensor>& cell,
    std::array<bool, 3> pbc, bool self_interaction, bool full_list, bool sorted) {
  const char* op = "e3core::neighbor_list: ";
  check_positions(positions, op);
  const at::Tensor cell_c = checked_cell(cell, positions, op);
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
  const at::Tensor batch_c = checked_batch(batch, positions, max_num_neighbors, op);
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
