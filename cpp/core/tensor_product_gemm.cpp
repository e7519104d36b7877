// The matrix product lent to the tensor-product kernels (set_tensor_product_gemm).
#include "tensor_product_gemm.hpp"

#include <atomic>

namespace e3core {
namespace {

std::atomic<TpGemm<float>> lent_float{nullptr};
std::atomic<TpGemm<double>> lent_double{nullptr};

}  // namespace

void set_tensor_product_gemm(TpGemm<float> gemm_float, TpGemm<double> gemm_double) {
  lent_float.store(gemm_float);
  lent_double.store(gemm_double);
}

template <>
TpGemm<float> lent_gemm<float>() {
  return lent_float.load();
}

template <>
TpGemm<double> lent_gemm<double>() {
  return lent_double.load();
}

}  // namespace e3core
