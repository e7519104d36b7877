// Lends a matrix product to the core's tensor-product kernels when the op library loads: the
// "uvw" paths with shared weights and a scalar x2 run as matrix products (see
// e3core::set_tensor_product_gemm).
#include <ATen/ATen.h>

#include <climits>
#include <initializer_list>

#include "e3core/tensor_product.hpp"

// Fortran BLAS's gemm and oneMKL's thread count for the calling thread (the C interface: the
// lower-case name is Fortran's, by pointer), as torch's CPU library exports them (oneMKL, in
// torch's x86-64 Linux builds). Weak: where torch does not export them they are null and the
// product goes through at::addmm_.
extern "C" {
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
            const float* beta, float* c, const int* ldc) __attribute__((weak));
void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const double* alpha, const double* a, const int* lda, const double* b, const int* ldb,
            const double* beta, double* c, const int* ldc) __attribute__((weak));
int MKL_Set_Num_Threads_Local(int threads) __attribute__((weak));
}

namespace e3core::torch_ops {
namespace {

template <typename T>
using FortranGemm = void (*)(const char*, const char*, const int*, const int*, const int*, const T*,
                             const T*, const int*, const T*, const int*, const T*, T*, const int*);

template <typename T>
FortranGemm<T> fortran_gemm();
template <>
FortranGemm<float> fortran_gemm<float>() {
  return &sgemm_;
}
template <>
FortranGemm<double> fortran_gemm<double>() {
  return &dgemm_;
}

// Below this many multiply-adds a product runs on the calling thread: torch fixes oneMKL's
// thread count (its dynamic adjustment off), and a 101 x 96 x 32 product split in two threads
// took longer than on one.
constexpr int64_t kOneThreadWork = int64_t{1} << 20;

// A row-major matrix of `rows` x `cols` with leading dimension ld, as a tensor viewing `data`.
template <typename T>
at::Tensor view(const T* data, int64_t rows, int64_t cols, int64_t ld) {
  return at::from_blob(const_cast<T*>(data), {rows, cols}, {ld, 1},
                       at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value));
}

bool fit_int(std::initializer_list<int64_t> values) {
  for (const int64_t v : values) {
    if (v < 1 || v > INT_MAX) return false;
  }
  return true;
}

// BLAS directly where torch exports it: the dispatcher and the tensors that wrap the operands
// cost several microseconds a call, more than the product of a 12 x 32 x 32 block (a
// self-connection's atoms of one type in a small batch).
template <typename T>
void torch_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const FortranGemm<T> blas = fortran_gemm<T>();
  if (blas != nullptr && fit_int({m, n, k, lda, ldb, ldc})) {
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: the same flags, B first.
    const char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
    const int im = int(m), in = int(n), ik = int(k);
    const int ilda = int(lda), ildb = int(ldb), ildc = int(ldc);
    const bool one_thread = MKL_Set_Num_Threads_Local != nullptr &&
                            double(m) * double(n) * double(k) < double(kOneThreadWork);
    const int before = one_thread ? MKL_Set_Num_Threads_Local(1) : 0;
    blas(&tb, &ta, &in, &im, &ik, &alpha, b, &ildb, a, &ilda, &beta, c, &ildc);
    if (one_thread) MKL_Set_Num_Threads_Local(before);
    return;
  }
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
