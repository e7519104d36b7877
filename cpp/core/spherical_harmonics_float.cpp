// The float instantiation of the spherical-harmonics kernels.
#include "spherical_harmonics_impl.hpp"

namespace e3core {

template void spherical_harmonics<float>(const ShOptions&, const float*, int64_t, float*, float*,
                                         const Executor&);
template void spherical_harmonics_vjp<float>(const ShOptions&, const float*, const float*, int64_t,
                                             float*, const Executor&);
template void spherical_harmonics_vjp_backward<float>(const ShOptions&, const float*, const float*,
                                                      const float*, int64_t, float*, float*,
                                                      const Executor&);

}  // namespace e3core
