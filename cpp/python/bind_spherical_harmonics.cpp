#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>

#include "arrays.hpp"
#include "bindings.hpp"
#include "e3core/spherical_harmonics.hpp"

namespace nb = nanobind;

namespace e3core::python {
namespace {

template <typename T>
nb::object evaluate(In<T> x, int lmax, bool normalize, const std::string& normalization,
                    bool gradients) {
  check_last_dim(x, 3, "x");
  const ShOptions options{lmax, normalize, parse_sh_normalization(normalization)};
  check_sh_options(options);
  const int64_t n = x.size() / 3;
  std::vector<size_t> shape = shape_of(x);
  shape.back() = size_t(sh_dim(lmax));
  auto sh = new_array<T>(shape);
  if (!gradients) {
    {
      nb::gil_scoped_release release;
      spherical_harmonics<T>(options, x.data(), n, sh.data());
    }
    return nb::cast(sh);
  }
  std::vector<size_t> dshape = shape_of(x);
  dshape.push_back(size_t(sh_dim(lmax)));
  auto dsh = new_array<T>(dshape);
  {
    nb::gil_scoped_release release;
    spherical_harmonics<T>(options, x.data(), n, sh.data(), dsh.data());
  }
  return nb::make_tuple(sh, dsh);
}

}  // namespace

void bind_spherical_harmonics(nb::module_& m) {
  const char* doc =
      "Real spherical harmonics of degrees 0..lmax of x (..., 3), e3nn's conventions.\n\n"
      "Returns sh (..., (lmax+1)^2); with gradients=True also dsh (..., 3, (lmax+1)^2),\n"
      "dsh[..., a, k] = d sh[..., k] / d x[..., a].";
  m.def("spherical_harmonics", &evaluate<float>, nb::arg("x"), nb::arg("lmax"),
        nb::arg("normalize") = true, nb::arg("normalization") = "integral",
        nb::arg("gradients") = false, doc);
  m.def("spherical_harmonics", &evaluate<double>, nb::arg("x"), nb::arg("lmax"),
        nb::arg("normalize") = true, nb::arg("normalization") = "integral",
        nb::arg("gradients") = false, doc);
}

}  // namespace e3core::python
