#include "bindings.hpp"
#include "e3core/parallel.hpp"

namespace nb = nanobind;

namespace e3core::python {

void bind_parallel(nb::module_& m) {
  m.def("num_threads", &num_threads, "Threads used by the core's CPU kernels.");
  m.def("set_num_threads", &set_num_threads, nb::arg("n"),
        "Sets the threads used by the core's CPU kernels; n < 1 restores the default.");
}

}  // namespace e3core::python
