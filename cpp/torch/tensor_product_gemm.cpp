// Lends a matrix product to the core's tensor-product kernels when the op library loads: the
// "uvw" paths with weights and a scalar x2 run as matrix products (see
// e3core::set_tensor_product_gemm). The BLAS that torch links (oneMKL on x86) is called directly
// where the process exports it: a Linear's products at 101 rows take a few µs each, and torch's
// dispatcher (three tensor views and addmm_) adds about as much. torch's addmm_ is lent instead
// where no BLAS is found, or with E3CORE_GEMM=torch in the environment.
#include <ATen/ATen.h>
#include <dlfcn.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string_view>

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

// Fortran BLAS's gemm with 32-bit integers (LP64), column-major.
template <typename T>
using FortranGemm = void (*)(const char* transa, const char* transb, const int* m, const int* n,
                             const int* k, const T* alpha, const T* a, const int* lda, const T* b,
                             const int* ldb, const T* beta, T* c, const int* ldc);

template <typename T>
FortranGemm<T> blas = nullptr;

template <typename T>
void blas_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
               int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  if (m > kMax || n > kMax || k > kMax || lda > kMax || ldb > kMax || ldc > kMax) {
    torch_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T on the same memory.
  const int im = int(m), in = int(n), ik = int(k), ia = int(lda), ib = int(ldb), ic = int(ldc);
  const char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
  blas<T>(&tb, &ta, &in, &im, &ik, &alpha, b, &ib, a, &ia, &beta, c, &ic);
}

// The process's BLAS gemm, if it has one and it gives the right product on a small case with
// transposes and leading dimensions (an interface with 64-bit integers or another layout would
// not), NaN in C included (beta = 0 must ignore it).
template <typename T>
FortranGemm<T> checked_blas(const char* symbol) {
  auto gemm = reinterpret_cast<FortranGemm<T>>(dlsym(RTLD_DEFAULT, symbol));
  if (gemm == nullptr) return nullptr;
  blas<T> = gemm;
  // A (2 x 3, lda 4) read transposed as 3 x 2; B (2 x 2, ldb 3); C (3 x 2, ldc 3).
  const std::array<T, 8> a{1, 2, 3, -1, 4, 5, 6, -1};
  const std::array<T, 6> b{1, 2, -1, 3, 4, -1};
  std::array<T, 9> c;
  c.fill(std::numeric_limits<T>::quiet_NaN());
  c[2] = c[5] = c[8] = T(7);
  blas_gemm<T>(true, false, 3, 2, 2, T(2), a.data(), 4, b.data(), 3, T(0), c.data(), 3);
  const std::array<T, 9> expected{26, 36, 7, 34, 48, 7, 42, 60, 7};
  blas<T> = nullptr;
  return c == expected ? gemm : nullptr;
}

template <typename T>
TpGemm<T> lend(const char* symbol) {
  blas<T> = checked_blas<T>(symbol);
  return blas<T> != nullptr ? &blas_gemm<T> : &torch_gemm<T>;
}

const bool lent = [] {
  const char* choice = std::getenv("E3CORE_GEMM");
  if (choice != nullptr && std::string_view(choice) == "torch") {
    set_tensor_product_gemm(&torch_gemm<float>, &torch_gemm<double>);
  } else {
    set_tensor_product_gemm(lend<float>("sgemm_"), lend<double>("dgemm_"));
  }
  return true;
}();

}  // namespace
}  // namespace e3core::torch_ops
