// The CUDA functions of a build without CUDA: each says so.
#include <stdexcept>
#include <string>

#include "e3core/cuda.hpp"
#include "instantiations.hpp"

namespace e3core::cuda {
namespace {

[[noreturn]] void unavailable(const char* what) {
  throw std::runtime_error(std::string("e3core::cuda::") + what +
                           ": e3core was built without CUDA (configure with a CUDA toolkit and "
                           "E3CORE_CUDA=AUTO or ON)");
}

}  // namespace

struct TpDevicePlan::Impl {};

bool available() noexcept { return false; }

TpDevicePlan::TpDevicePlan(const TpPlan&) { unavailable("TpDevicePlan"); }
TpDevicePlan::~TpDevicePlan() = default;
const TpPlan& TpDevicePlan::plan() const { unavailable("TpDevicePlan::plan"); }

template <typename T>
void spherical_harmonics(const ShOptions&, const T*, int64_t, T*, T*, void*) {
  unavailable("spherical_harmonics");
}
template <typename T>
void spherical_harmonics_vjp(const ShOptions&, const T*, const T*, int64_t, T*, void*) {
  unavailable("spherical_harmonics_vjp");
}
template <typename T>
void spherical_harmonics_vjp_backward(const ShOptions&, const T*, const T*, const T*, int64_t, T*,
                                      T*, void*) {
  unavailable("spherical_harmonics_vjp_backward");
}
template <typename T>
void tensor_product(const TpDevicePlan&, TpSlot, TpArray<T>, TpArray<T>, TpArray<T>, TpArray<T>,
                    const TpGroups&, void*) {
  unavailable("tensor_product");
}
template <typename T>
void sum_rows(const T*, int64_t, int64_t, T*, void*) {
  unavailable("sum_rows");
}

template <typename T>
void bin_atoms(const NeighborGrid&, const T*, const int64_t*, int64_t, int64_t*, int32_t*, void*) {
  unavailable("bin_atoms");
}
template <typename T>
void count_neighbors(const NeighborGrid&, const T*, const NeighborBins&, int64_t, int64_t*, void*) {
  unavailable("count_neighbors");
}
template <typename T>
void write_neighbors(const NeighborGrid&, const T*, const NeighborBins&, int64_t, const int64_t*,
                     int64_t*, int64_t*, int64_t*, void*) {
  unavailable("write_neighbors");
}

template <typename T>
void wigner_D(int, const T*, const T*, const T*, int64_t, EulerDerivative, T*, void*) {
  unavailable("wigner_D");
}

E3CORE_CUDA_INSTANTIATE_SH(float)
E3CORE_CUDA_INSTANTIATE_SH(double)
E3CORE_CUDA_INSTANTIATE_WIGNER(float)
E3CORE_CUDA_INSTANTIATE_WIGNER(double)
E3CORE_CUDA_INSTANTIATE_TP(float)
E3CORE_CUDA_INSTANTIATE_TP(double)
E3CORE_CUDA_INSTANTIATE_NL(float)
E3CORE_CUDA_INSTANTIATE_NL(double)

}  // namespace e3core::cuda
