#include "bindings.hpp"

NB_MODULE(_core, m) {
  m.doc() = "e3core's C++ core on numpy arrays (no torch).";
  m.attr("__version__") = E3CORE_VERSION;
  e3core::python::bind_irreps(m);
  e3core::python::bind_neighbor_list(m);
  e3core::python::bind_parallel(m);
  e3core::python::bind_spherical_harmonics(m);
  e3core::python::bind_tensor_product(m);
  e3core::python::bind_wigner(m);
}
