// CUDA kernels of the pair-list ops: the core's grid and kernels for binning, counting and
// writing pairs; the sort by bin, the sums of the counts and the output orders are torch's.
#include <torch/library.h>

#include <array>
#include <string>
#include <tuple>
#include <vector>

#include "cuda_support.hpp"
#include "e3core/cuda.hpp"
#include "e3core/neighbor_list.hpp"
#include "neighbor_list_common.hpp"

namespace e3core::torch_ops {
namespace {

// Non-finite or huge coordinates would put atoms in no bin or overflow the binning: the CPU
// search's check and message. NaN fails `abs(x) <= max`.
void check_coordinates(const at::Tensor& x, const char* op) {
  const at::Tensor bad = x.abs().le(kNeighborMaxLength).all(1).logical_not_();
  if (x.size(0) == 0 || !bad.any().item<bool>()) return;
  const int64_t a = bad.nonzero()[0][0].item<int64_t>();
  const at::Tensor p = x[a].to(at::kCPU, at::kDouble);
  const double* v = p.const_data_ptr<double>();
  TORCH_CHECK_VALUE(false, op, "positions[", a, "] is (", v[0], ", ", v[1], ", ", v[2],
                    "), expected finite coordinates of magnitude at most ", kNeighborMaxLength);
}

// The permutation that sorts by keys[last], then keys[last - 1], ... (stable sorts).
at::Tensor lexsort(const std::vector<at::Tensor>& least_significant_first) {
  const at::Tensor& first = least_significant_first.front();
  at::Tensor perm = at::arange(first.size(0), first.options().dtype(at::kLong));
  for (const at::Tensor& key : least_significant_first) {
    perm = perm.index_select(0, std::get<1>(at::sort(key.index_select(0, perm), true, 0, false)));
  }
  return perm;
}

struct Pairs {
  at::Tensor i, j, s;
};

// Every pair of the n atoms, grouped by i, on the current stream. `cell` is a host copy or null;
// `molecule` dense molecule indices (or undefined for one molecule).
Pairs search(const NeighborListOptions& options, const at::Tensor& x, const double* cell,
             const at::Tensor& molecule, int64_t molecules) {
  const int64_t n = x.size(0);
  const auto longs = x.options().dtype(at::kLong);
  const std::array<double, 9> inverse =
      cuda::neighbor_frame_inverse("cutoff", options.cutoff, cell, options.pbc);
  const at::Tensor inv =
      at::from_blob(const_cast<double*>(inverse.data()), {3, 3}, at::kDouble).to(x.device());
  const at::Tensor f = x.to(at::kDouble).matmul(inv);
  const at::Tensor bounds = at::stack({f.amin(0), f.amax(0)}).cpu();
  const double* b = bounds.const_data_ptr<double>();
  const cuda::NeighborGrid grid = cuda::neighbor_grid(options, cell, b, b + 3, n, molecules);

  void* stream = current_stream();
  at::Tensor keys = at::empty({n}, longs);
  at::Tensor wraps = at::empty({n, 3}, x.options().dtype(at::kInt));
  const int64_t* mol = molecule.defined() ? molecule.const_data_ptr<int64_t>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "neighbor_list", [&] {
    cuda::bin_atoms<scalar_t>(grid, x.const_data_ptr<scalar_t>(), mol, n,
                              keys.mutable_data_ptr<int64_t>(), wraps.mutable_data_ptr<int32_t>(),
                              stream);
  });
  const auto [sorted_keys, order] = at::sort(keys, true, 0, false);
  const at::Tensor bin_start =
      at::searchsorted(sorted_keys, at::arange(molecules * grid.bins_total + 1, longs));
  const cuda::NeighborBins bins{order.const_data_ptr<int64_t>(),
                                bin_start.const_data_ptr<int64_t>(),
                                wraps.const_data_ptr<int32_t>(), mol};
  at::Tensor counts = at::empty({n}, longs);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "neighbor_list", [&] {
    cuda::count_neighbors<scalar_t>(grid, x.const_data_ptr<scalar_t>(), bins, n,
                                    counts.mutable_data_ptr<int64_t>(), stream);
  });
  const at::Tensor ends = counts.cumsum(0);
  const at::Tensor offsets = ends - counts;
  const int64_t total = ends[n - 1].item<int64_t>();
  Pairs p{at::empty({total}, longs), at::empty({total}, longs), at::empty({total, 3}, longs)};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "neighbor_list", [&] {
    cuda::write_neighbors<scalar_t>(
        grid, x.const_data_ptr<scalar_t>(), bins, n, offsets.const_data_ptr<int64_t>(),
        p.i.mutable_data_ptr<int64_t>(), p.j.mutable_data_ptr<int64_t>(),
        p.s.mutable_data_ptr<int64_t>(), stream);
  });
  return p;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> neighbor_list_cuda(
    const at::Tensor& positions, double cutoff, const c10::optional<at::Tensor>& cell,
    std::array<bool, 3> pbc, bool self_interaction, bool full_list, bool sorted) {
  const char* op = "e3core::neighbor_list: ";
  check_positions(positions, op);
  const at::Tensor cell_c = checked_cell(cell, positions, op);
  const auto guard = device_guard(positions);
  const at::Tensor x = positions.contiguous();
  const NeighborListOptions options{cutoff, pbc, self_interaction, full_list, sorted};
  const at::Tensor cell_host =
      cell_c.defined() ? cell_c.to(at::kCPU, at::kDouble).contiguous() : at::Tensor();
  const double* cell_ptr = cell_host.defined() ? cell_host.const_data_ptr<double>() : nullptr;
  Pairs p;
  // The checks of the CPU search, in its order: cutoff, cell, then positions.
  core_call(op, [&] { cuda::neighbor_frame_inverse("cutoff", cutoff, cell_ptr, pbc); });
  check_coordinates(x, op);
  if (x.size(0) == 0 || cutoff == 0) {
    const auto longs = x.options().dtype(at::kLong);
    return {at::empty({0}, longs), at::empty({0}, longs), at::empty({0, 3}, longs)};
  }
  core_call(op, [&] { p = search(options, x, cell_ptr, {}, 1); });
  if (sorted && p.i.size(0) > 0) {
    const at::Tensor perm =
        lexsort({p.s.select(1, 2), p.s.select(1, 1), p.s.select(1, 0), p.j, p.i});
    return {p.i.index_select(0, perm), p.j.index_select(0, perm), p.s.index_select(0, perm)};
  }
  return {p.i, p.j, p.s};
}

at::Tensor radius_graph_cuda(const at::Tensor& positions, double r_max,
                             const c10::optional<at::Tensor>& batch, bool loop,
                             c10::optional<int64_t> max_num_neighbors) {
  const char* op = "e3core::radius_graph: ";
  check_positions(positions, op);
  const at::Tensor batch_c = checked_batch(batch, positions, max_num_neighbors, op);
  const auto guard = device_guard(positions);
  const at::Tensor x = positions.contiguous();
  core_call(op, [&] { cuda::neighbor_frame_inverse("r_max", r_max, nullptr, {}); });
  check_coordinates(x, op);
  const auto longs = x.options().dtype(at::kLong);
  if (x.size(0) == 0 || r_max == 0 || max_num_neighbors.value_or(1) == 0) {
    return at::empty({2, 0}, longs);
  }
  // Molecules numbered densely, in the order of their batch values.
  at::Tensor molecule;
  int64_t molecules = 1;
  if (batch_c.defined()) {
    const auto unique = at::_unique(batch_c, /*sorted=*/true, /*return_inverse=*/true);
    molecule = std::get<1>(unique).contiguous();
    molecules = std::get<0>(unique).size(0);
  }
  const NeighborListOptions options{r_max, {false, false, false}, loop, true, false};
  Pairs p;
  core_call(op, [&] { p = search(options, x, nullptr, molecule, molecules); });
  at::Tensor target = p.i, source = p.j;
  if (max_num_neighbors.has_value() && target.size(0) > 0) {
    // Each target keeps its nearest sources (ties: the lower index).
    const at::Tensor d2 =
        (x.index_select(0, source).to(at::kDouble) - x.index_select(0, target).to(at::kDouble))
            .square()
            .sum(1);
    const at::Tensor perm = lexsort({source, d2, target});
    target = target.index_select(0, perm);
    source = source.index_select(0, perm);
    const at::Tensor first = at::searchsorted(target, target);
    const at::Tensor keep = (at::arange(target.size(0), longs) - first).lt(*max_num_neighbors);
    target = target.masked_select(keep);
    source = source.masked_select(keep);
  }
  if (target.size(0) > 0) {
    const at::Tensor perm = lexsort({source, target});
    target = target.index_select(0, perm);
    source = source.index_select(0, perm);
  }
  return at::stack({source, target});
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, CUDA, m) {
  m.impl("neighbor_list", &neighbor_list_cuda);
  m.impl("radius_graph", &radius_graph_cuda);
}

}  // namespace e3core::torch_ops
