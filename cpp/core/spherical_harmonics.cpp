// Spherical-harmonics options; the kernels are in spherical_harmonics_impl.hpp.
#include "e3core/spherical_harmonics.hpp"

#include <stdexcept>
#include <string>

namespace e3core {

ShNormalization parse_sh_normalization(const std::string& name) {
  if (name == "integral") return ShNormalization::Integral;
  if (name == "component") return ShNormalization::Component;
  if (name == "norm") return ShNormalization::Norm;
  throw std::invalid_argument("normalization is \"" + name +
                              "\", expected \"integral\", \"component\" or \"norm\"");
}

void check_sh_options(const ShOptions& options) {
  if (options.lmax < 0 || options.lmax > kShMaxDegree) {
    throw std::invalid_argument("lmax is " + std::to_string(options.lmax) +
                                ", expected 0 <= lmax <= " + std::to_string(kShMaxDegree));
  }
}

}  // namespace e3core
