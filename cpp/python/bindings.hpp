// Each bind_*.cpp adds one part of the core to the e3core._core module.
#pragma once

#include <nanobind/nanobind.h>

namespace e3core::python {

void bind_irreps(nanobind::module_& m);
void bind_neighbor_list(nanobind::module_& m);
void bind_parallel(nanobind::module_& m);
void bind_spherical_harmonics(nanobind::module_& m);
void bind_tensor_product(nanobind::module_& m);
void bind_wigner(nanobind::module_& m);

}  // namespace e3core::python
