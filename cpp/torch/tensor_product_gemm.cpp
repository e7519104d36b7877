// Lends torch's matrix product (oneMKL on x86) to the core's tensor-product kernels when the op
// library loads: the "uvw" paths with shared weights and a scalar x2 run as matrix products
// (see e3core::set_tensor_product_gemm).
#include <ATen/ATen.h>

#include "e3core/tensor_product.hpp"

namespace e3core::torch_ops {
namespace {

// A row-major matrix of `rows` x `cols` with leading dimension ld, as a tensor viewing `data`.
template <typename T>
at::Tensor view(const T* data, int64_t rows, int64_t cols, int64_t ld) {
  return at::from_blob(const_cast<T*>(data), {rows, cols}, {ld, 1},
                       at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value));
}

template <typename T>
void torch_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const at::Tensor A = trans_a ? view(a, k, m, lda).t() : view(a, m, k, lda);
  const at::Tensor B = trans_b ? view(b, n, k, ldb).t() : view(b, k, n, ldb);
  at::Tensor C = view<T>(c, m, n, ldc);
  // addmm ignores C where beta is 0, as the lent product must.
  C.addmm_(A, B, beta, alpha);
}

const bool lent = [] {
  set_tensor_product_gemm(&torch_gemm<float>, &torch_gemm<double>);
  return true;
}();

}  // namespace
}  // namespace e3core::torch_ops
