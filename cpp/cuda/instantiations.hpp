// The explicit instantiations of e3core/cuda.hpp's templates, one list for the kernels and the
// stubs.
#pragma once

#include "e3core/cuda.hpp"

#define E3CORE_CUDA_INSTANTIATE_SH(T)                                                         \
  template void spherical_harmonics<T>(const ShOptions&, const T*, int64_t, T*, T*, void*);   \
  template void spherical_harmonics_vjp<T>(const ShOptions&, const T*, const T*, int64_t, T*, \
                                           void*);                                            \
  template void spherical_harmonics_vjp_backward<T>(const ShOptions&, const T*, const T*,     \
                                                    const T*, int64_t, T*, T*, void*);

#define E3CORE_CUDA_INSTANTIATE_WIGNER(T) \
  template void wigner_D<T>(int, const T*, const T*, const T*, int64_t, EulerDerivative, T*, void*);

#define E3CORE_CUDA_INSTANTIATE_TP(T)                                                              \
  template void tensor_product<T>(const TpDevicePlan&, TpSlot, TpArray<T>, TpArray<T>, TpArray<T>, \
                                  TpArray<T>, const TpGroups&, void*);                             \
  template void sum_rows<T>(const T*, int64_t, int64_t, T*, void*);

#define E3CORE_CUDA_INSTANTIATE_NL(T)                                                           \
  template void bin_atoms<T>(const NeighborGrid&, const T*, const int64_t*, int64_t, int64_t*,  \
                             int32_t*, void*);                                                  \
  template void count_neighbors<T>(const NeighborGrid&, const T*, const NeighborBins&, int64_t, \
                                   int64_t*, void*);                                            \
  template void write_neighbors<T>(const NeighborGrid&, const T*, const NeighborBins&, int64_t, \
                                   const int64_t*, int64_t*, int64_t*, int64_t*, void*);
