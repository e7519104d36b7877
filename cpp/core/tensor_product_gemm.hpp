// The matrix product lent by set_tensor_product_gemm, for the kernels.
#pragma once

#include "e3core/tensor_product.hpp"

namespace e3core {

/// The product lent for type T, or null.
template <typename T>
TpGemm<T> lent_gemm();

template <>
TpGemm<float> lent_gemm<float>();
template <>
TpGemm<double> lent_gemm<double>();

}  // namespace e3core
