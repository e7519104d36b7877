/// @file tensor_product.hpp
/// @brief Tensor products of irreps: e3nn's description (instructions, normalizations, flat
/// weights) resolved into a plan, and one CPU kernel family for the product and its transposes.
///
/// A tensor product is trilinear: out = TP(x1, x2, w). Its gradients with respect to x1, x2 and
/// w are trilinear in the other three arguments (x2, w, grad_out), (x1, w, grad_out) and
/// (x1, x2, grad_out), with the same sparsity. So four kernels serve the forward pass, the
/// backward pass, and every higher derivative.
///
/// Rows of x1, x2 and out are laid out as in e3nn ("mul_ir": for each irrep term, mul copies of
/// 2l+1 components); weights are e3nn's flat vector, instruction after instruction, each weight
/// tensor row-major over its path shape.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "e3core/irreps.hpp"
#include "e3core/parallel.hpp"

namespace e3core {

/// How the channels (multiplicities) of the two inputs and the output are connected: e3nn's
/// connection modes. u runs over the channels of x1, v over x2's, w over the output's.
enum class ConnectionMode {
  UVW,    ///< "uvw": out_w = sum_uv W_uvw x1_u x2_v
  UVU,    ///< "uvu": out_u = sum_v W_uv x1_u x2_v
  UVV,    ///< "uvv": out_v = sum_u W_uv x1_u x2_v
  UUW,    ///< "uuw": out_w = sum_u W_uw x1_u x2_u
  UUU,    ///< "uuu": out_u = W_u x1_u x2_u
  UVUV,   ///< "uvuv": out_uv = W_uv x1_u x2_v
  UVULV,  ///< "uvu<v": out_q = W_q x1_u x2_v for the pairs q = (u < v)
  ULVW,   ///< "u<vw": out_w = sum_q W_qw x1_u x2_v over the pairs q = (u < v)
};

/// Parses e3nn's name of a connection mode ("uvw", "uvu", ..., "uvu<v", "u<vw").
/// @throws std::invalid_argument naming the accepted modes.
ConnectionMode parse_connection_mode(const std::string& name);
/// e3nn's name of a connection mode.
std::string connection_mode_name(ConnectionMode mode);

/// e3nn's irrep_normalization: "component" (default), "norm" or "none".
enum class IrrepNormalization { Component, Norm, None };
/// e3nn's path_normalization: "element" (default), "path" or "none".
enum class PathNormalization { Element, Path, None };

/// @throws std::invalid_argument naming the accepted values.
IrrepNormalization parse_irrep_normalization(const std::string& name);
/// @throws std::invalid_argument naming the accepted values.
PathNormalization parse_path_normalization(const std::string& name);

/// One instruction, as e3nn's (i_in1, i_in2, i_out, mode, has_weight, path_weight).
struct TpInstruction {
  int64_t i_in1 = 0;
  int64_t i_in2 = 0;
  int64_t i_out = 0;
  ConnectionMode mode = ConnectionMode::UVW;
  bool has_weight = true;
  double path_weight = 1.0;
};

/// Everything e3nn's TensorProduct constructor takes that shapes the numbers.
struct TpSpec {
  Irreps irreps_in1;
  Irreps irreps_in2;
  Irreps irreps_out;
  std::vector<TpInstruction> instructions;
  IrrepNormalization irrep_normalization = IrrepNormalization::Component;
  PathNormalization path_normalization = PathNormalization::Element;
  std::vector<double> in1_var;  ///< one per term of irreps_in1; empty means all 1
  std::vector<double> in2_var;  ///< one per term of irreps_in2; empty means all 1
  std::vector<double> out_var;  ///< one per term of irreps_out; empty means all 1
};

/// A non-zero Clebsch-Gordan coefficient of a path, times the path's normalization:
/// out[k] += value * x1[i] * x2[j] for each pair of connected channels.
struct CgEntry {
  int32_t i = 0;
  int32_t j = 0;
  int32_t k = 0;
  double value = 0.0;
};

/// An instruction resolved against the irreps.
struct TpPath {
  ConnectionMode mode = ConnectionMode::UVW;
  bool has_weight = false;
  int64_t mul1 = 0, mul2 = 0, mul_out = 0;           ///< multiplicities of the three terms
  int64_t dim1 = 0, dim2 = 0, dim_out = 0;           ///< 2l+1 of the three irreps
  int64_t offset1 = 0, offset2 = 0, offset_out = 0;  ///< first column of each term in its row
  int64_t weight_offset = 0;  ///< first weight of this path in the flat vector
  int64_t weight_numel = 0;   ///< weights of this path (0 without weights)
  double coefficient = 0.0;   ///< e3nn's normalization coefficient sqrt(alpha)
  std::vector<CgEntry> cg;    ///< non-zero wigner_3j entries times coefficient
};

/// A tensor product ready to run: dimensions, the layout of each row, and its paths.
struct TpPlan {
  int64_t dim1 = 0, dim2 = 0, dim_out = 0;
  int64_t weight_numel = 0;
  /// (mul, 2l+1) of each term of irreps_in1, irreps_in2 and irreps_out: the row layouts.
  std::vector<std::pair<int64_t, int64_t>> terms1, terms2, terms_out;
  std::vector<TpPath> paths;

  /// Resolves e3nn's description. Checks what e3nn asserts, with messages that say which
  /// instruction is wrong and why (index out of range, parity or triangle rule broken, mode
  /// needing equal multiplicities, weightless "uvw"/"u<vw", variances of the wrong length).
  /// @throws std::invalid_argument
  static TpPlan build(const TpSpec& spec);

  /// The plan as integers (doubles by their bits), so that it can live in an int64 tensor:
  /// serialisable, and untouched by a module's .to(dtype).
  std::vector<int64_t> encode() const;
  /// Reads back what encode wrote. @throws std::invalid_argument if `data` is not a plan.
  static TpPlan decode(const int64_t* data, int64_t size);
};

/// A plan with the tables that the CPU kernels derive from it (its Clebsch-Gordan entries grouped
/// and converted to the scalar type), built on the first call in each scalar type and kept for
/// the next ones: for a small batch, building them cost more than the products themselves.
/// Calls may share one from several threads. The plan must not change while this object lives.
class TpCpuPlan {
 public:
  explicit TpCpuPlan(TpPlan plan);
  /// Shares `plan` (or borrows it, through an aliasing pointer that owns nothing).
  explicit TpCpuPlan(std::shared_ptr<const TpPlan> plan);
  ~TpCpuPlan();
  TpCpuPlan(const TpCpuPlan&) = delete;
  TpCpuPlan& operator=(const TpCpuPlan&) = delete;

  const TpPlan& plan() const;

  /// For the kernels: the tables of scalar type `type` (0 float, 1 double), made by
  /// `build(plan())` on first use (once, even when several threads ask at the same time).
  using Tables = std::shared_ptr<const void>;
  const void* tables(int type, Tables (*build)(const TpPlan&)) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Which of a tensor product's four slots (x1, x2, weight, out) a kernel writes.
enum class TpSlot { In1, In2, Weight, Out };

/// How sample s of the batch finds its row in an array.
enum class TpRows {
  PerSample,  ///< row s
  Indexed,    ///< row index[s]
  Shared,     ///< row 0, for every sample
};

/// One array of a kernel call: `rows` rows of the slot's width, row-major and contiguous.
template <typename T>
struct TpArray {
  T* data = nullptr;
  int64_t rows = 0;
  TpRows mode = TpRows::PerSample;
  const int64_t* index = nullptr;  ///< `samples` entries in [0, rows) when mode is Indexed
};

/// Computes the slot `result` of a tensor product over `samples` samples from the other three:
///   Out:    out    = TP(x1, x2, w)
///   In1:    grad_x1 = dTP/dx1^T grad_out     (from x2, w, grad_out)
///   In2:    grad_x2 = dTP/dx2^T grad_out     (from x1, w, grad_out)
///   Weight: grad_w  = dTP/dw^T grad_out      (from x1, x2, grad_out)
/// `arrays` holds x1, x2, w and out (grad_out when out is read) in that order; the result
/// array is overwritten. A result row reached by several samples (Indexed or Shared) receives
/// their sum, accumulated in a fixed order: the same inputs give the same bits whatever the
/// number of threads. This is the fused convolution: out rows Indexed by the destination of each
/// edge, x1 rows by its source.
/// @throws std::invalid_argument on a negative count, missing data or an index out of range.
template <typename T>
void tensor_product(const TpCpuPlan& plan, TpSlot result, int64_t samples, TpArray<T> x1,
                    TpArray<T> x2, TpArray<T> weight, TpArray<T> out,
                    const Executor& exec = parallel_for);

/// A matrix product lent by the host: C = alpha op(A) op(B) + beta C on row-major matrices with
/// leading dimensions lda, ldb, ldc (BLAS's gemm; op transposes when trans_a or trans_b is set,
/// A is m x k and B k x n after op). beta = 0 must ignore what C holds (NaN included).
template <typename T>
using TpGemm = void (*)(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                        const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c,
                        int64_t ldc);

/// Lends the kernels a matrix product for the "uvw" paths with shared weights and a scalar x2
/// (l = 0), over the per-sample rows of x1 and out, which a tuned matrix product runs several
/// times faster than the kernels' loops over the weights of each sample. With x2 one row per
/// sample, paths up to l = 3 run channel by channel of x2 (the rows of the samples whose channel
/// is not zero times that channel's weights: a self-connection's one-hot atom types), and paths
/// of at least 8 channels of x2 and 32^3 weights, where x2 is dense, as one product of x2 with the
/// weights per block of samples (two more for the gradients). With x2 one row shared by every
/// sample (a Linear layer), paths up to l = 3 run as products of every sample's rows with the
/// weights contracted with x2, the paths that share a block of x1 or out as one product; for
/// l > 0 their rows are copied through buffers that each calling thread keeps (up to 2 MB in
/// float and 4 MB in double per component count). The samples are cut into parts fixed by the
/// shapes (at least 64 samples each, at most 8) that run as the executor's tasks, and the sums
/// over the samples (the weights' gradient, x2's when shared) add the parts' shares in order, so
/// the results keep their bits on any number of threads when the lent product does for a given
/// shape. The torch op library lends BLAS's gemm from torch's library (oneMKL on x86), else
/// at::addmm_. Without one (the default, or after passing null) every path runs in the kernels.
/// Not synchronised with running products: set it before the first call.
void set_tensor_product_gemm(TpGemm<float> gemm_float, TpGemm<double> gemm_double);

/// tensor_product with the plan's tables built for this call only.
template <typename T>
void tensor_product(const TpPlan& plan, TpSlot result, int64_t samples, TpArray<T> x1,
                    TpArray<T> x2, TpArray<T> weight, TpArray<T> out,
                    const Executor& exec = parallel_for);

/// The gradients of out = TP(x1, x2, w) with respect to x1, x2 and w, given grad_out (in
/// `out`), in one pass over the samples for the per-sample and shared ones: each sample's rows
/// are read once for them all, and in a convolution the pass runs by destination, so that
/// grad_out's rows stay in cache. Each
/// gradient has the rows of its input (same count, per-sample, indexed or shared) and is
/// overwritten; a null pointer skips it. Rows reached by several samples receive their sum in a
/// fixed order, whatever the number of threads: an indexed gradient (x1's in a convolution) runs
/// in a pass of its own, grouped by its rows (by source), each row summed in registers.
/// @throws std::invalid_argument as tensor_product does.
template <typename T>
void tensor_product_backward(const TpCpuPlan& plan, int64_t samples, TpArray<T> x1, TpArray<T> x2,
                             TpArray<T> weight, TpArray<T> out, T* grad_x1, T* grad_x2,
                             T* grad_weight, const Executor& exec = parallel_for);

/// tensor_product_backward with the plan's tables built for this call only.
template <typename T>
void tensor_product_backward(const TpPlan& plan, int64_t samples, TpArray<T> x1, TpArray<T> x2,
                             TpArray<T> weight, TpArray<T> out, T* grad_x1, T* grad_x2,
                             T* grad_weight, const Executor& exec = parallel_for);

/// The derivatives of a convolution's backward (tensor_product_backward with x1 and out indexed,
/// x2 and the weights per sample), as training on forces needs them. Given grad_out (in
/// `grad_out`) and tangents dx1, dx2, dweight of x1, x2 and the weights (the rows of the input
/// each goes with; null data: zero), it overwrites
///   grad_grad_out = TP(dx1, x2, w) + TP(x1, dx2, w) + TP(x1, x2, dw)
///   grad_x1       = dTP/dx1^T grad_out at (dx2, w) + at (x2, dw)
///   grad_x2       = dTP/dx2^T grad_out at (dx1, w) + at (x1, dw)
///   grad_weight   = dTP/dw^T grad_out at (dx1, x2) + at (x1, dx2)
/// (a null pointer skips a result) in two passes over the samples, by destination and by source,
/// with the same fixed order of sums as the first-order kernels.
/// @throws std::invalid_argument on another layout, tangents without their input's rows, or as
/// tensor_product does.
template <typename T>
void tensor_product_conv_double_backward(const TpCpuPlan& plan, int64_t samples, TpArray<T> x1,
                                         TpArray<T> x2, TpArray<T> weight, TpArray<T> grad_out,
                                         TpArray<T> dx1, TpArray<T> dx2, TpArray<T> dweight,
                                         T* grad_grad_out, T* grad_x1, T* grad_x2, T* grad_weight,
                                         const Executor& exec = parallel_for);

}  // namespace e3core
