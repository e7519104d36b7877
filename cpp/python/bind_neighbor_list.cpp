#include <nanobind/stl/array.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "batch_array.hpp"
#include "bindings.hpp"
#include "e3core/neighbor_list.hpp"

namespace nb = nanobind;

namespace e3core::python {
namespace {

constexpr const char* kQuantities = "ijSdD";

Shape shape_of(const AnyArray& a) { return Shape(a.shape_ptr(), a.shape_ptr() + a.ndim()); }

// positions must be a float32 or float64 array of shape (n, 3); returns whether float64.
bool check_positions(const char* fn, const AnyArray& positions) {
  if (positions.dtype() != nb::dtype<float>() && positions.dtype() != nb::dtype<double>()) {
    throw std::invalid_argument(std::string(fn) + ": positions must be a float32 or float64 array");
  }
  if (positions.ndim() != 2 || positions.shape(1) != 3) {
    throw std::invalid_argument(std::string(fn) + ": positions has shape " +
                                shape_str(shape_of(positions), false) + ", expected (n, 3)");
  }
  return positions.dtype() == nb::dtype<double>();
}

template <typename T>
nb::object pairs(const AnyArray& positions, const std::optional<AnyArray>& cell,
                 const NeighborListOptions& options, const std::string& quantities) {
  std::vector<T> positions_copy, cell_copy;
  const T* x = contiguous_data<T>(positions, positions_copy);
  const T* c = cell ? contiguous_data<T>(*cell, cell_copy) : nullptr;
  const bool want_d = quantities.find('d') != std::string::npos;
  const bool want_D = quantities.find('D') != std::string::npos;
  nb::object i, j, s, d, D;
  const auto allocate = [&](int64_t n_pairs) {
    // Called from the search, without the GIL; numpy allocates the outputs.
    nb::gil_scoped_acquire gil;
    const size_t m = size_t(n_pairs);
    NeighborPairs<T> out;
    i = nb::cast(new_array<int64_t>({m}, &out.i));
    j = nb::cast(new_array<int64_t>({m}, &out.j));
    s = nb::cast(new_array<int64_t>({m, 3}, &out.shifts));
    if (want_d) d = nb::cast(new_array<T>({m}, &out.distances));
    if (want_D) D = nb::cast(new_array<T>({m, 3}, &out.vectors));
    return out;
  };
  {
    nb::gil_scoped_release release;
    neighbor_list<T>(options, x, int64_t(positions.shape(0)), c, allocate);
  }
  nb::list result;
  for (char q : quantities) {
    result.append(q == 'i' ? i : q == 'j' ? j : q == 'S' ? s : q == 'd' ? d : D);
  }
  if (result.size() == 1) return result[0];
  return nb::tuple(result);
}

nb::object neighbor_list_np(const AnyArray& positions, double cutoff,
                            const std::optional<AnyArray>& cell, std::array<bool, 3> pbc,
                            bool self_interaction, bool full_list, bool sorted,
                            const std::string& quantities) {
  const char* fn = "neighbor_list";
  const bool f64 = check_positions(fn, positions);
  if (quantities.empty() || quantities.find_first_not_of(kQuantities) != std::string::npos) {
    throw std::invalid_argument(std::string(fn) + ": quantities is \"" + quantities +
                                "\", expected letters of \"" + kQuantities + "\"");
  }
  if (cell) {
    if (cell->dtype() != positions.dtype()) {
      throw std::invalid_argument(std::string(fn) +
                                  ": cell has a different dtype from positions; expected both "
                                  "float32 or both float64");
    }
    if (shape_of(*cell) != Shape{3, 3}) {
      throw std::invalid_argument(std::string(fn) + ": cell has shape " +
                                  shape_str(shape_of(*cell), false) + ", expected (3, 3)");
    }
  }
  const NeighborListOptions options{cutoff, pbc, self_interaction, full_list, sorted};
  return f64 ? pairs<double>(positions, cell, options, quantities)
             : pairs<float>(positions, cell, options, quantities);
}

template <typename T>
nb::object edges(const AnyArray& positions, const int64_t* batch,
                 const RadiusGraphOptions& options) {
  std::vector<T> positions_copy;
  const T* x = contiguous_data<T>(positions, positions_copy);
  nb::object result;
  const auto allocate = [&](int64_t n_edges) {
    nb::gil_scoped_acquire gil;
    int64_t* data = nullptr;
    result = nb::cast(new_array<int64_t>({2, size_t(n_edges)}, &data));
    return data;
  };
  {
    nb::gil_scoped_release release;
    radius_graph<T>(options, x, int64_t(positions.shape(0)), batch, allocate);
  }
  return result;
}

nb::object radius_graph_np(const AnyArray& positions, double r_max,
                           const std::optional<AnyArray>& batch, bool loop,
                           int64_t max_num_neighbors) {
  const char* fn = "radius_graph";
  const bool f64 = check_positions(fn, positions);
  std::vector<int64_t> batch_copy;
  const int64_t* b = nullptr;
  if (batch) {
    if (batch->dtype() != nb::dtype<int64_t>() || batch->ndim() != 1 ||
        batch->shape(0) != positions.shape(0)) {
      throw std::invalid_argument(std::string(fn) + ": batch has shape " +
                                  shape_str(shape_of(*batch), false) +
                                  ", expected an int64 array of shape (" +
                                  std::to_string(positions.shape(0)) + ",), one per atom");
    }
    b = contiguous_data<int64_t>(*batch, batch_copy);
  }
  const RadiusGraphOptions options{r_max, loop, max_num_neighbors};
  return f64 ? edges<double>(positions, b, options) : edges<float>(positions, b, options);
}

}  // namespace

void bind_neighbor_list(nb::module_& m) {
  m.def("neighbor_list", &neighbor_list_np, nb::arg("positions"), nb::arg("cutoff"),
        nb::arg("cell").none() = nb::none(),
        nb::arg("pbc") = std::array<bool, 3>{false, false, false},
        nb::arg("self_interaction") = false, nb::arg("full_list") = true, nb::arg("sorted") = false,
        nb::arg("quantities") = "ijS",
        "Pairs of atoms closer than cutoff, ase.neighborlist.neighbor_list's conventions.\n\n"
        "positions (n, 3) and cell (3, 3) (rows the lattice vectors, None when no axis is\n"
        "periodic) of one dtype. Returns the arrays named by the letters of quantities, in\n"
        "their order: i, j (int64), S (int64, (pairs, 3)), d and D (positions' dtype), with\n"
        "D = positions[j] - positions[i] + S @ cell; one array for one letter. Pairs are\n"
        "grouped by i; sorted=True sorts each i's pairs by j, then S. full_list=False lists each\n"
        "unordered pair once (i < j, or i == j with S > 0 lexicographically).");
  m.def("radius_graph", &radius_graph_np, nb::arg("positions"), nb::arg("r_max"),
        nb::arg("batch").none() = nb::none(), nb::arg("loop") = false,
        nb::arg("max_num_neighbors") = -1,
        "Edges between atoms of the same molecule closer than r_max (no periodicity).\n\n"
        "Returns edge_index (2, edges), int64: row 0 the sources j, row 1 the targets i, sorted\n"
        "by target, then source. batch (n,) int64 gives each atom's molecule. With\n"
        "max_num_neighbors >= 0 each target keeps its nearest sources (ties: lower index).");
}

}  // namespace e3core::python
