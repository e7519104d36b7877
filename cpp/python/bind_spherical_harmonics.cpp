#include <nanobind/stl/string.h>

#include <string>

#include "batch_array.hpp"
#include "bindings.hpp"
#include "e3core/spherical_harmonics.hpp"

namespace nb = nanobind;

namespace e3core::python {
namespace {

nb::object evaluate(const AnyArray& x, int lmax, bool normalize, const std::string& normalization,
                    bool gradients) {
  const ShOptions options{lmax, normalize, parse_sh_normalization(normalization)};
  check_sh_options(options);
  const size_t dim = size_t(sh_dim(lmax));
  if (!gradients) {
    return batch_call("spherical_harmonics", {{"x", x, {3}}}, {{dim}},
                      [&](const auto& in, int64_t n, const auto& out) {
                        spherical_harmonics(options, in[0], n, out[0]);
                      });
  }
  return batch_call("spherical_harmonics", {{"x", x, {3}}}, {{dim}, {3, dim}},
                    [&](const auto& in, int64_t n, const auto& out) {
                      spherical_harmonics(options, in[0], n, out[0], out[1]);
                    });
}

}  // namespace

void bind_spherical_harmonics(nb::module_& m) {
  m.def("spherical_harmonics", &evaluate, nb::arg("x"), nb::arg("lmax"),
        nb::arg("normalize") = true, nb::arg("normalization") = "integral",
        nb::arg("gradients") = false,
        "Real spherical harmonics of degrees 0..lmax of x (..., 3), e3nn's conventions.\n\n"
        "Returns sh (..., (lmax+1)^2); with gradients=True a tuple (sh, dsh) with dsh of shape\n"
        "(..., 3, (lmax+1)^2), dsh[..., a, k] = d sh[..., k] / d x[..., a].");
}

}  // namespace e3core::python
