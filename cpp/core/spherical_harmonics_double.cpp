// The double instantiation of the spherical-harmonics kernels.
#include "spherical_harmonics_impl.hpp"

namespace e3core {

template void spherical_harmonics<double>(const ShOptions&, const double*, int64_t, double*,
                                          double*, const Executor&);
template void spherical_harmonics_vjp<double>(const ShOptions&, const double*, const double*,
                                              int64_t, double*, const Executor&);
template void spherical_harmonics_vjp_backward<double>(const ShOptions&, const double*,
                                                       const double*, const double*, int64_t,
                                                       double*, double*, const Executor&);

}  // namespace e3core
