#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "e3core/parallel.hpp"
#include "e3core/tensor_product.hpp"
#include "e3core/wigner.hpp"
#include "tensor_product_cases.hpp"

namespace {

using e3core::ConnectionMode;
using e3core::Irreps;
using e3core::TpArray;
using e3core::TpInstruction;
using e3core::TpPlan;
using e3core::TpRows;
using e3core::TpSlot;
using e3core::TpSpec;
using Vec = std::vector<double>;

using e3core_test::randn;
using e3core_test::spec;

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// One slot of a per-sample product over n samples, each row its own (shared weights if w_rows
// is 1).
Vec run(const TpPlan& plan, TpSlot slot, int64_t n, Vec x1, Vec x2, Vec w, Vec out,
        int64_t w_rows) {
  const int64_t widths[4] = {plan.dim1, plan.dim2, plan.weight_numel, plan.dim_out};
  Vec* data[4] = {&x1, &x2, &w, &out};
  const int s = int(slot);
  const int64_t rows = s == 2 ? w_rows : n;
  data[s]->assign(size_t(rows * widths[s]), 0.0);
  const auto array = [&](int a) {
    const int64_t r = a == 2 ? w_rows : n;
    return TpArray<double>{data[a]->data(), r,
                           r == 1 && n != 1 ? TpRows::Shared : TpRows::PerSample, nullptr};
  };
  e3core::tensor_product<double>(plan, slot, n, array(0), array(1), array(2), array(3));
  return *data[s];
}

TEST(TensorProduct, CheckValueOfE3nnFacts) {
  // FullyConnectedTensorProduct 1o x 1o -> 0e with weight 1 is x.y / sqrt(3).
  const TpPlan plan = TpPlan::build(spec("1x1o", "1x1o", "1x0e", {{0, 0, 0, ConnectionMode::UVW}}));
  EXPECT_EQ(plan.weight_numel, 1);
  const Vec x = {1.0, 2.0, 3.0}, y = {-1.0, 0.5, 2.0};
  const Vec out = run(plan, TpSlot::Out, 1, x, y, {1.0}, {}, 1);
  EXPECT_NEAR(out[0], dot(x, y) / std::sqrt(3.0), 1e-15);
}

TEST(TensorProduct, MatchesDenseContractionForEveryMode) {
  std::mt19937_64 gen(3);
  for (const e3core_test::ModeCase& c : e3core_test::mode_cases()) {
    const TpPlan plan = TpPlan::build(spec(c.in1, c.in2, c.out, {{0, 0, 0, c.mode, c.weight}}));
    const e3core::TpPath& p = plan.paths[0];
    const Vec x1 = randn(size_t(plan.dim1), gen), x2 = randn(size_t(plan.dim2), gen);
    const Vec w = randn(size_t(std::max<int64_t>(plan.weight_numel, 1)), gen);
    const Vec out = run(plan, TpSlot::Out, 1, x1, x2, w, {}, 1);
    // The reference: every channel triple (u, v, w) the mode connects, in e3nn's layout.
    const std::vector<double>& C =
        e3core::wigner_3j(int(p.dim1 / 2), int(p.dim2 / 2), int(p.dim_out / 2));
    Vec ref(size_t(plan.dim_out), 0.0);
    int64_t pair = 0;
    for (int64_t u = 0; u < p.mul1; ++u) {
      for (int64_t v = 0; v < p.mul2; ++v) {
        const bool diagonal = c.mode == ConnectionMode::UUW || c.mode == ConnectionMode::UUU;
        const bool triangle = c.mode == ConnectionMode::UVULV || c.mode == ConnectionMode::ULVW;
        if ((diagonal && u != v) || (triangle && u >= v)) continue;
        for (int64_t o = 0; o < p.mul_out; ++o) {
          double weight = 1.0;
          bool connected = true;
          switch (c.mode) {
            case ConnectionMode::UVW:
              weight = w[size_t((u * p.mul2 + v) * p.mul_out + o)];
              break;
            case ConnectionMode::UVU:
              connected = o == u;
              weight = w[size_t(u * p.mul2 + v)];
              break;
            case ConnectionMode::UVV:
              connected = o == v;
              weight = w[size_t(u * p.mul2 + v)];
              break;
            case ConnectionMode::UUW:
              weight = w[size_t(u * p.mul_out + o)];
              break;
            case ConnectionMode::UUU:
              connected = o == u;
              break;
            case ConnectionMode::UVUV:
              connected = o == u * p.mul2 + v;
              weight = w[size_t(o)];
              break;
            case ConnectionMode::UVULV:
              connected = o == pair;
              weight = w[size_t(pair)];
              break;
            case ConnectionMode::ULVW:
              weight = w[size_t(pair * p.mul_out + o)];
              break;
          }
          if (!connected) continue;
          for (int64_t i = 0; i < p.dim1; ++i)
            for (int64_t j = 0; j < p.dim2; ++j)
              for (int64_t k = 0; k < p.dim_out; ++k) {
                ref[size_t(o * p.dim_out + k)] +=
                    p.coefficient * weight * C[size_t((i * p.dim2 + j) * p.dim_out + k)] *
                    x1[size_t(u * p.dim1 + i)] * x2[size_t(v * p.dim2 + j)];
              }
        }
        if (triangle) ++pair;
      }
    }
    for (size_t k = 0; k < ref.size(); ++k) {
      EXPECT_NEAR(out[k], ref[k], 1e-12) << e3core::connection_mode_name(c.mode) << " at " << k;
    }
  }
}

// The four slots are derivatives of one trilinear form S: <out, g> = <gx1, x1> = <gx2, x2> =
// <gw, w>, per sample and, for shared weights, summed over samples.
TEST(TensorProduct, TransposesAreTheAdjoints) {
  std::mt19937_64 gen(5);
  const TpPlan plan = TpPlan::build(spec("2x0e+3x1o+1x2e", "1x0e+2x1o", "3x1o+2x1e+2x0e+1x2o",
                                         {{0, 1, 0, ConnectionMode::UVW},
                                          {1, 0, 0, ConnectionMode::UVW},
                                          {1, 1, 1, ConnectionMode::UVW},
                                          {1, 1, 2, ConnectionMode::UVW},
                                          {2, 1, 3, ConnectionMode::UVW},
                                          {2, 1, 0, ConnectionMode::UVW, true, 0.5}}));
  for (int64_t w_rows : {int64_t(1), int64_t(4)}) {
    const int64_t n = 4;
    const Vec x1 = randn(size_t(n * plan.dim1), gen), x2 = randn(size_t(n * plan.dim2), gen);
    const Vec w = randn(size_t(w_rows * plan.weight_numel), gen);
    const Vec g = randn(size_t(n * plan.dim_out), gen);
    const double s = dot(run(plan, TpSlot::Out, n, x1, x2, w, {}, w_rows), g);
    EXPECT_NEAR(dot(run(plan, TpSlot::In1, n, {}, x2, w, g, w_rows), x1), s, 1e-11);
    EXPECT_NEAR(dot(run(plan, TpSlot::In2, n, x1, {}, w, g, w_rows), x2), s, 1e-11);
    EXPECT_NEAR(dot(run(plan, TpSlot::Weight, n, x1, x2, {}, g, w_rows), w), s, 1e-11);
  }
}

TEST(TensorProduct, ConvolutionSumsIntoDestinations) {
  std::mt19937_64 gen(7);
  const TpPlan plan = TpPlan::build(spec("4x0e+2x1o", "1x0e+1x1o", "4x0e+2x1o+4x1o+2x0e",
                                         {{0, 0, 0, ConnectionMode::UVU},
                                          {1, 1, 3, ConnectionMode::UVU},
                                          {1, 0, 1, ConnectionMode::UVU},
                                          {0, 1, 2, ConnectionMode::UVU}}));
  const int64_t nodes = 5, edges = 17;
  const Vec x = randn(size_t(nodes * plan.dim1), gen);
  const Vec attr = randn(size_t(edges * plan.dim2), gen);
  const Vec w = randn(size_t(edges * plan.weight_numel), gen);
  std::vector<int64_t> src(edges), dst(edges);
  for (int64_t e = 0; e < edges; ++e) {
    src[size_t(e)] = int64_t(gen() % nodes);
    dst[size_t(e)] = int64_t(gen() % nodes);
  }
  Vec out(size_t(nodes * plan.dim_out));
  e3core::tensor_product<double>(
      plan, TpSlot::Out, edges, {const_cast<double*>(x.data()), nodes, TpRows::Indexed, src.data()},
      {const_cast<double*>(attr.data()), edges, TpRows::PerSample, nullptr},
      {const_cast<double*>(w.data()), edges, TpRows::PerSample, nullptr},
      {out.data(), nodes, TpRows::Indexed, dst.data()});
  Vec ref(out.size(), 0.0);
  for (int64_t e = 0; e < edges; ++e) {
    const auto row = [](const Vec& a, int64_t r, int64_t d) {
      return Vec(a.begin() + r * d, a.begin() + (r + 1) * d);
    };
    const Vec one = run(plan, TpSlot::Out, 1, row(x, src[size_t(e)], plan.dim1),
                        row(attr, e, plan.dim2), row(w, e, plan.weight_numel), {}, 1);
    for (int64_t k = 0; k < plan.dim_out; ++k) {
      ref[size_t(dst[size_t(e)] * plan.dim_out + k)] += one[size_t(k)];
    }
  }
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(out[i], ref[i], 1e-12);
}

// A convolution's plan: x2 of one channel per l (spherical harmonics), "uvu" paths with and
// without weights, and a "uvv" one.
TpPlan convolution_plan() {
  return TpPlan::build(spec("3x0e+2x1o+2x2e", "1x0e+1x1o+1x2e", "3x0e+2x1o+2x1e+2x2e+3x2e+1x0e",
                            {{0, 0, 0, ConnectionMode::UVU},
                             {1, 0, 1, ConnectionMode::UVU},
                             {2, 1, 1, ConnectionMode::UVU},
                             {1, 1, 2, ConnectionMode::UVU},
                             {2, 2, 3, ConnectionMode::UVU, false},
                             {0, 2, 4, ConnectionMode::UVU},
                             {1, 1, 5, ConnectionMode::UVV}}));
}

// tensor_product_backward against the three transposes, in a convolution (x1 indexed: its
// gradient goes through the per-sample buffer) with per-edge or shared weights.
TEST(TensorProduct, BackwardEqualsTheTransposes) {
  std::mt19937_64 gen(11);
  const TpPlan plan = convolution_plan();
  const int64_t nodes = 4, edges = 29;
  std::vector<int64_t> src(edges), dst(edges);
  for (int64_t e = 0; e < edges; ++e) {
    src[size_t(e)] = int64_t(gen() % nodes);
    dst[size_t(e)] = int64_t(gen() % nodes);
  }
  for (int64_t w_rows : {int64_t(1), edges}) {
    Vec x = randn(size_t(nodes * plan.dim1), gen), attr = randn(size_t(edges * plan.dim2), gen);
    Vec w = randn(size_t(w_rows * plan.weight_numel), gen);
    Vec g = randn(size_t(nodes * plan.dim_out), gen);
    const auto arrays = [&](Vec* own, TpSlot slot) {
      Vec* data[4] = {&x, &attr, &w, &g};
      data[int(slot)] = own;
      return std::array<TpArray<double>, 4>{
          TpArray<double>{data[0]->data(), nodes, TpRows::Indexed, src.data()},
          TpArray<double>{data[1]->data(), edges, TpRows::PerSample, nullptr},
          TpArray<double>{data[2]->data(), w_rows, w_rows == 1 ? TpRows::Shared : TpRows::PerSample,
                          nullptr},
          TpArray<double>{data[3]->data(), nodes, TpRows::Indexed, dst.data()}};
    };
    Vec expected[3] = {Vec(x.size()), Vec(attr.size()), Vec(w.size())};
    for (int slot = 0; slot < 3; ++slot) {
      const auto a = arrays(&expected[slot], TpSlot(slot));
      e3core::tensor_product<double>(plan, TpSlot(slot), edges, a[0], a[1], a[2], a[3]);
    }
    Vec got[3] = {Vec(x.size()), Vec(attr.size()), Vec(w.size())};
    const auto a = arrays(&g, TpSlot::Out);
    e3core::tensor_product_backward<double>(plan, edges, a[0], a[1], a[2], a[3], got[0].data(),
                                            got[1].data(), got[2].data());
    for (int slot = 0; slot < 3; ++slot) {
      for (size_t i = 0; i < got[slot].size(); ++i) {
        EXPECT_NEAR(got[slot][i], expected[slot][i], 1e-12) << "slot " << slot << " entry " << i;
      }
    }
    // Skipped gradients are left alone.
    Vec only_x2(attr.size());
    e3core::tensor_product_backward<double>(plan, edges, a[0], a[1], a[2], a[3], nullptr,
                                            only_x2.data(), nullptr);
    for (size_t i = 0; i < only_x2.size(); ++i) EXPECT_NEAR(only_x2[i], expected[1][i], 1e-12);
  }
}

// tensor_product_conv_double_backward against its sums of first-order kernels (each with one
// input replaced by its tangent), with every tangent and with one missing.
TEST(TensorProduct, ConvolutionDoubleBackwardEqualsTheSums) {
  std::mt19937_64 gen(13);
  const TpPlan plan = convolution_plan();
  const e3core::TpCpuPlan cpu_plan(plan);
  const int64_t nodes = 5, edges = 31;
  std::vector<int64_t> src(edges), dst(edges);
  for (int64_t e = 0; e < edges; ++e) {
    src[size_t(e)] = int64_t(gen() % (nodes - 1));  // the last node has no edge out or in
    dst[size_t(e)] = int64_t(gen() % (nodes - 1));
  }
  const int64_t widths[4] = {plan.dim1, plan.dim2, plan.weight_numel, plan.dim_out};
  const int64_t rows[4] = {nodes, edges, edges, nodes};
  Vec in[4], tangent[3];
  for (int a = 0; a < 4; ++a) in[a] = randn(size_t(rows[a] * widths[a]), gen);
  for (int a = 0; a < 3; ++a) tangent[a] = randn(size_t(rows[a] * widths[a]), gen);
  const auto array = [&](int a, Vec& v) {
    const bool node = a == 0 || a == 3;
    return TpArray<double>{v.data(), rows[a], node ? TpRows::Indexed : TpRows::PerSample,
                           a == 0   ? src.data()
                           : a == 3 ? dst.data()
                                    : nullptr};
  };
  // Slot `result` of the product whose input y is its tangent.
  const auto term = [&](TpSlot result, int y) {
    Vec slots[4] = {in[0], in[1], in[2], in[3]};
    slots[y] = tangent[y];
    Vec out(size_t(rows[int(result)] * widths[int(result)]));
    TpArray<double> a[4] = {array(0, slots[0]), array(1, slots[1]), array(2, slots[2]),
                            array(3, slots[3])};
    a[int(result)] = array(int(result), out);
    e3core::tensor_product<double>(cpu_plan, result, edges, a[0], a[1], a[2], a[3]);
    return out;
  };
  for (bool with_dw : {true, false}) {
    Vec expected[4];
    for (int z = 0; z < 4; ++z) expected[z].assign(size_t(rows[z] * widths[z]), 0.0);
    for (int y = 0; y < 3; ++y) {
      if (y == 2 && !with_dw) continue;
      for (int z = 0; z < 4; ++z) {
        if (z == y) continue;
        const Vec t = term(TpSlot(z), y);
        for (size_t i = 0; i < t.size(); ++i) expected[z][i] += t[i];
      }
    }
    Vec got[4];
    for (int z = 0; z < 4; ++z) got[z].assign(expected[z].size(), 7.0);
    e3core::tensor_product_conv_double_backward<double>(
        cpu_plan, edges, array(0, in[0]), array(1, in[1]), array(2, in[2]), array(3, in[3]),
        array(0, tangent[0]), array(1, tangent[1]),
        with_dw ? array(2, tangent[2]) : TpArray<double>{}, got[3].data(), got[0].data(),
        got[1].data(), got[2].data());
    for (int z = 0; z < 4; ++z) {
      for (size_t i = 0; i < got[z].size(); ++i) {
        EXPECT_NEAR(got[z][i], expected[z][i], 1e-12) << "slot " << z << " entry " << i;
      }
    }
  }
  // Other layouts are refused.
  Vec shared_w = randn(size_t(widths[2]), gen);
  EXPECT_THROW(e3core::tensor_product_conv_double_backward<double>(
                   cpu_plan, edges, array(0, in[0]), array(1, in[1]),
                   TpArray<double>{shared_w.data(), 1, TpRows::Shared, nullptr}, array(3, in[3]),
                   array(0, tangent[0]), {}, {}, nullptr, nullptr, in[1].data(), nullptr),
               std::invalid_argument);
}

// A TpCpuPlan's tables, built on the first call and shared by later calls and by threads calling
// at once, give the bits of a call that builds them for itself; with shared weights the x1
// gradient reads the call's transposed weights, which must not leak between calls.
template <typename T>
void check_kept_tables(const TpPlan& plan) {
  std::mt19937_64 gen(11);
  const int64_t n = 37;
  const auto values = [&](int64_t count) {
    const Vec d = randn(size_t(count), gen);
    return std::vector<T>(d.begin(), d.end());
  };
  const std::vector<T> x1 = values(n * plan.dim1), x2 = values(n * plan.dim2),
                       g = values(n * plan.dim_out);
  const std::vector<std::vector<T>> weights = {values(plan.weight_numel),
                                               values(plan.weight_numel)};
  const auto call = [&](const auto& any_plan, const std::vector<T>& w) {
    std::vector<T> gx1(x1.size());
    const auto rows = [&](const std::vector<T>& v, TpRows mode) {
      return TpArray<T>{const_cast<T*>(v.data()), mode == TpRows::Shared ? 1 : n, mode, nullptr};
    };
    e3core::tensor_product<T>(any_plan, TpSlot::In1, n, TpArray<T>{gx1.data(), n},
                              rows(x2, TpRows::PerSample), rows(w, TpRows::Shared),
                              rows(g, TpRows::PerSample));
    return gx1;
  };
  const e3core::TpCpuPlan kept(plan);
  for (const std::vector<T>& w : weights) {
    const std::vector<T> expected = call(plan, w);
    EXPECT_EQ(call(kept, w), expected);
    std::vector<std::vector<T>> got(4);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < got.size(); ++t) {
      threads.emplace_back([&, t] { got[t] = call(kept, w); });
    }
    for (std::thread& t : threads) t.join();
    for (const std::vector<T>& r : got) EXPECT_EQ(r, expected);
  }
}

TEST(TensorProduct, KeptTablesGiveTheSameBits) {
  const TpPlan plan = TpPlan::build(spec("8x0e+8x1o+8x2e", "0e+1o+2e", "8x0e+8x1o+8x2e",
                                         {{0, 1, 1, ConnectionMode::UVW},
                                          {1, 1, 0, ConnectionMode::UVW},
                                          {2, 2, 2, ConnectionMode::UVW},
                                          {1, 2, 1, ConnectionMode::UVU}}));
  check_kept_tables<float>(plan);
  check_kept_tables<double>(plan);
}

// A plain matrix product, lent as a host would lend its own (beta 0 ignores C).
template <typename T>
void loop_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
               int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      T sum = T(0);
      for (int64_t q = 0; q < k; ++q) {
        sum += (trans_a ? a[q * lda + i] : a[i * lda + q]) *
               (trans_b ? b[j * ldb + q] : b[q * ldb + j]);
      }
      c[i * ldc + j] = alpha * sum + (beta == T(0) ? T(0) : beta * c[i * ldc + j]);
    }
  }
}

// How x2's rows are given to products(): one per sample, with random values or one-hot (every
// third sample's row zero, the others one channel of 1.5, as atom types), or one shared row.
enum class X2Rows { Random, OneHot, Shared };

// The forward and the gradients (shared weights; x2's gradient only with grad_x2) of n samples,
// on `threads` threads.
template <typename T>
std::array<std::vector<T>, 4> products(const TpPlan& plan, int64_t n, int threads, X2Rows kind,
                                       bool grad_x2) {
  std::mt19937_64 gen(5);
  const auto values = [&](int64_t count) {
    const Vec d = randn(size_t(count), gen);
    return std::vector<T>(d.begin(), d.end());
  };
  const int64_t rows2 = kind == X2Rows::Shared ? 1 : n;
  std::vector<T> x1 = values(n * plan.dim1), x2 = values(rows2 * plan.dim2);
  if (kind == X2Rows::OneHot) {
    std::fill(x2.begin(), x2.end(), T(0));
    for (int64_t z = 0; z < n; ++z) {
      if (z % 3 != 0) x2[size_t(z * plan.dim2 + (z * 7) % plan.dim2)] = T(1.5);
    }
  }
  std::vector<T> w = values(plan.weight_numel), g = values(n * plan.dim_out);
  std::array<std::vector<T>, 4> r = {std::vector<T>(x1.size(), T(7)), std::vector<T>(x2.size()),
                                     std::vector<T>(w.size()), std::vector<T>(g.size(), T(7))};
  e3core::set_num_threads(threads);
  const TpArray<T> a1{x1.data(), n}, aw{w.data(), 1, TpRows::Shared};
  const TpArray<T> a2{x2.data(), rows2,
                      kind == X2Rows::Shared ? TpRows::Shared : TpRows::PerSample};
  e3core::tensor_product<T>(plan, TpSlot::Out, n, a1, a2, aw, TpArray<T>{r[3].data(), n});
  e3core::tensor_product_backward<T>(plan, n, a1, a2, aw, TpArray<T>{g.data(), n}, r[0].data(),
                                     grad_x2 ? r[1].data() : nullptr, r[2].data());
  e3core::set_num_threads(0);
  return r;
}

// With a lent matrix product, "uvw" paths of a scalar x2 run as products (alone, and beside
// paths the kernels run): the kernels' results, over several blocks and parts of samples, and
// the weights' gradient has the same bits on any number of threads. With x2 per sample, paths
// with many channels of x2 (products by sample where x2 is dense, channel by channel where it
// is one-hot) and a self-connection's, with x2's gradient and without (where the samples whose
// channel is zero are skipped). With x2 shared (a Linear layer), paths of l = 0 to 3, two of
// them into one block (one product), beside one of l = 4 that the kernels run.
template <typename T>
void check_lent_gemm(double tol) {
  const TpPlan mixed = TpPlan::build(spec("48x0e+48x1o", "16x0e+3x1o", "48x0e+48x1o",
                                          {{0, 0, 0, ConnectionMode::UVW},
                                           {1, 0, 1, ConnectionMode::UVW},
                                           {1, 1, 0, ConnectionMode::UVW}}));
  const TpPlan alone =
      TpPlan::build(spec("40x1e", "24x0e", "36x1e", {{0, 0, 0, ConnectionMode::UVW}}));
  const TpPlan self_connection =
      TpPlan::build(spec("12x0e+10x1o+6x2e+3x3o", "5x0e", "8x0e+10x1o+6x2e+3x3o",
                         {{0, 0, 0, ConnectionMode::UVW},
                          {1, 0, 1, ConnectionMode::UVW},
                          {2, 0, 2, ConnectionMode::UVW},
                          {3, 0, 3, ConnectionMode::UVW}}));
  const TpPlan linear = TpPlan::build(spec("64x0e+72x0e+128x1o+128x2e+128x3o+16x1e+8x4e", "2x0e",
                                           "96x0e+128x1o+128x2e+128x3o+16x1e+8x4e",
                                           {{0, 0, 0, ConnectionMode::UVW},
                                            {1, 0, 0, ConnectionMode::UVW},
                                            {2, 0, 1, ConnectionMode::UVW},
                                            {3, 0, 2, ConnectionMode::UVW},
                                            {4, 0, 3, ConnectionMode::UVW},
                                            {5, 0, 4, ConnectionMode::UVW},
                                            {6, 0, 5, ConnectionMode::UVW}}));
  struct Case {
    const TpPlan* plan;
    X2Rows kind;
    bool grad_x2;
  };
  std::vector<Case> cases = {{&linear, X2Rows::Shared, true}};
  for (const TpPlan* plan : {&mixed, &alone, &self_connection}) {
    for (X2Rows kind : {X2Rows::Random, X2Rows::OneHot}) {
      for (bool grad_x2 : {true, false}) cases.push_back({plan, kind, grad_x2});
    }
  }
  for (const Case& c : cases) {
    for (int64_t n : {int64_t(0), int64_t(5), int64_t(301)}) {
      e3core::set_tensor_product_gemm(nullptr, nullptr);
      const auto expected = products<T>(*c.plan, n, 1, c.kind, c.grad_x2);
      e3core::set_tensor_product_gemm(&loop_gemm<float>, &loop_gemm<double>);
      const auto got = products<T>(*c.plan, n, 3, c.kind, c.grad_x2);
      const auto again = products<T>(*c.plan, n, 1, c.kind, c.grad_x2);
      e3core::set_tensor_product_gemm(nullptr, nullptr);
      for (int s = 0; s < 4; ++s) {
        double scale = 1.0;
        for (T v : expected[size_t(s)]) scale = std::max(scale, double(std::abs(v)));
        for (size_t i = 0; i < got[size_t(s)].size(); ++i) {
          ASSERT_NEAR(got[size_t(s)][i], expected[size_t(s)][i], tol * scale)
              << "slot " << s << " entry " << i << " of " << n << " samples, x2 rows "
              << int(c.kind) << ", x2's gradient " << c.grad_x2;
        }
      }
      EXPECT_EQ(got[2], again[2]);
    }
  }
}

TEST(TensorProduct, LentMatrixProductGivesTheKernelsResults) {
  check_lent_gemm<double>(1e-12);
  check_lent_gemm<float>(1e-5);
}

TEST(TensorProduct, PlanRoundTripsThroughItsEncoding) {
  const TpPlan plan = TpPlan::build(spec("2x1o+1x2e", "1x1o", "2x0e+1x1e+3x2o",
                                         {{0, 0, 0, ConnectionMode::UVW},
                                          {1, 0, 2, ConnectionMode::UVW, true, 2.0},
                                          {0, 0, 1, ConnectionMode::UVW}}));
  const std::vector<int64_t> code = plan.encode();
  const TpPlan back = TpPlan::decode(code.data(), int64_t(code.size()));
  EXPECT_EQ(back.encode(), code);
  ASSERT_EQ(back.paths.size(), plan.paths.size());
  EXPECT_EQ(back.paths[1].coefficient, plan.paths[1].coefficient);
  std::vector<int64_t> bad = code;
  bad.pop_back();
  EXPECT_THROW(TpPlan::decode(bad.data(), int64_t(bad.size())), std::invalid_argument);
  bad = code;
  bad[0] = 7;
  EXPECT_THROW(TpPlan::decode(bad.data(), int64_t(bad.size())), std::invalid_argument);
  bad = code;
  bad[1] += 1;  // dim1 no longer matches the layout of irreps_in1
  EXPECT_THROW(TpPlan::decode(bad.data(), int64_t(bad.size())), std::invalid_argument);
}

// The message decode gives for a plan, or "decoded".
std::string decode_error(const std::vector<int64_t>& code) {
  try {
    TpPlan::decode(code.data(), int64_t(code.size()));
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "decoded";
}

// Inputs from issue 15 (fuzzed plans that crashed): each field near the int64 limits must give a
// clear error, never a wrapped bounds check.
TEST(TensorProduct, PlanDecoderRejectsOverflowingFields) {
  const TpPlan plan =
      TpPlan::build(spec("2x1o", "1x1o", "2x0e+2x1e",
                         {{0, 0, 0, ConnectionMode::UVW}, {0, 0, 1, ConnectionMode::UVU}}));
  const std::vector<int64_t> code = plan.encode();
  // Header (5), three layouts of one or two terms, the path count, then path 0.
  const size_t terms1 = 5, path0 = 5 + 3 + 3 + 5 + 1;
  ASSERT_EQ(code[path0 + 2], 2);  // mul1 of path 0
  const int64_t max = std::numeric_limits<int64_t>::max();
  const auto with = [&](size_t at, int64_t value) {
    std::vector<int64_t> bad = code;
    bad[at] = value;
    return decode_error(bad);
  };
  const auto has = [](const std::string& message, const std::string& part) {
    return message.find(part) != std::string::npos ? ::testing::AssertionSuccess()
                                                   : ::testing::AssertionFailure() << message;
  };
  EXPECT_TRUE(has(with(path0 + 8, max - 2), "path 0: offset1 = 9223372036854775805 with mul1 = 2"));
  EXPECT_TRUE(has(with(path0 + 10, max), "expected 0 <= offset_out and offset_out + mul_out"));
  EXPECT_TRUE(has(with(path0 + 3, (int64_t(1) << 62) + 1),
                  "path 0: mul2 = 4611686018427387905, expected 0 <= mul2 <= 3"));
  EXPECT_TRUE(
      has(with(terms1 + 1, 6100000000000000000), "terms1[0] is 6100000000000000000 x dim 3"));
  EXPECT_TRUE(has(with(path0 + 11, max), "weight_offset = 9223372036854775807"));
  EXPECT_TRUE(has(with(path0 + 15, int64_t(1) << 32), "Clebsch-Gordan entry 0 is at (4294967296"));
  EXPECT_TRUE(has(with(path0 + 12, max), "weight_numel = 9223372036854775807, expected 4"));

  // Every field set to values around the limits: an error or a plan whose accesses fit, which
  // the kernel then runs on rows of the plan's widths.
  const int64_t values[] = {max,
                            max - 1,
                            max / 2 + 1,
                            (int64_t(1) << 62) + 1,
                            6100000000000000000,
                            int64_t(1) << 32,
                            -1,
                            std::numeric_limits<int64_t>::min(),
                            0,
                            1,
                            7};
  std::mt19937_64 gen(15);
  for (size_t at = 1; at < code.size(); ++at) {
    for (const int64_t v : values) {
      std::vector<int64_t> bad = code;
      bad[at] = v;
      TpPlan p;
      try {
        p = TpPlan::decode(bad.data(), int64_t(bad.size()));
      } catch (const std::invalid_argument&) {
        continue;
      }
      if (p.dim1 > 64 || p.dim2 > 64 || p.dim_out > 64 || p.weight_numel > 64) continue;
      run(p, TpSlot::Out, 2, randn(size_t(2 * p.dim1), gen), randn(size_t(2 * p.dim2), gen),
          randn(size_t(p.weight_numel), gen), {}, 1);
    }
  }
}

// Found by tests/fuzz (fuzz_plan): a path whose columns lie inside the rows but are not one of the
// terms' (dim1 2 instead of 1) passed decode, and the kernels' code for dim1 <= 7 read past the
// rows. A path's columns must be a term's, and dimensions odd.
TEST(TensorProduct, PlanDecoderRejectsPathsThatAreNotTerms) {
  const TpPlan plan = TpPlan::build(spec("2x0e+2x1o", "0e+1o", "2x0e+0x1e+2x1o",
                                         {{0, 0, 0, ConnectionMode::UVU},
                                          {0, 1, 2, ConnectionMode::UVU},
                                          {1, 0, 2, ConnectionMode::UVU}}));
  const std::vector<int64_t> code = plan.encode();
  EXPECT_EQ(TpPlan::decode(code.data(), int64_t(code.size())).encode(), code);
  // Header (5), layouts of 2, 2 and 3 terms, the path count, then path 0 (of 1 CG entry) and 1.
  const size_t terms1 = 5, path0 = 5 + 5 + 5 + 7 + 1, path1 = path0 + 15 + 4;
  ASSERT_EQ(code[path1 + 5], 1);  // dim1 of path 1
  const auto with = [&](size_t at, int64_t value) {
    std::vector<int64_t> bad = code;
    bad[at] = value;
    return decode_error(bad);
  };
  EXPECT_NE(with(path1 + 5, 2).find("path 1: dim1, dim2, dim_out = 2, 3, 3, expected odd"),
            std::string::npos);
  EXPECT_NE(with(path1 + 5, 3)
                .find("path 1: offset1, mul1, dim1 = 0, 2, 3, expected the first "
                      "column, mul and dim of one of the terms1"),
            std::string::npos);
  EXPECT_NE(with(path0 + 10, 1).find("offset_out, mul_out, dim_out = 1, 2, 1"), std::string::npos);
  EXPECT_NE(with(terms1 + 2, 2).find("terms1[0] is 2 x dim 2, expected mul >= 0, an odd dim"),
            std::string::npos);
}

TEST(TensorProduct, WeightNumelThatOverflowsThrows) {
  try {
    TpPlan::build(spec("4294967296x0e", "4294967296x0e", "1x0e", {{0, 0, 0, ConnectionMode::UVW}}));
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("weight_numel) overflow int64"), std::string::npos)
        << e.what();
  }
}

TEST(TensorProduct, BadInstructionsSayWhatIsWrong) {
  const auto message = [](TpSpec s) {
    try {
      TpPlan::build(s);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(spec("1x1o", "1x1o", "1x1o", {{0, 0, 0, ConnectionMode::UVW}})).find("parity"),
            std::string::npos);
  EXPECT_NE(message(spec("1x1o", "1x1o", "1x3e", {{0, 0, 0, ConnectionMode::UVW}})).find("outside"),
            std::string::npos);
  EXPECT_NE(message(spec("1x1o", "1x1o", "1x0e", {{0, 2, 0, ConnectionMode::UVW}}))
                .find("i_in2 = 2 is out of range"),
            std::string::npos);
  EXPECT_NE(message(spec("2x1o", "1x1o", "1x0e", {{0, 0, 0, ConnectionMode::UVU}}))
                .find("\"uvu\" needs mul_in1 == mul_out"),
            std::string::npos);
  EXPECT_NE(message(spec("1x1o", "1x1o", "1x0e", {{0, 0, 0, ConnectionMode::UVW, false}}))
                .find("needs weights"),
            std::string::npos);
  EXPECT_THROW(e3core::parse_connection_mode("uvx"), std::invalid_argument);
  EXPECT_THROW(e3core::parse_path_normalization("elements"), std::invalid_argument);
}

TEST(TensorProduct, IndexOutOfRangeThrows) {
  const TpPlan plan = TpPlan::build(spec("1x0e", "1x0e", "1x0e", {{0, 0, 0, ConnectionMode::UVW}}));
  Vec x = {1.0, 2.0}, attr = {1.0, 1.0}, w = {1.0}, out(2);
  std::vector<int64_t> src = {0, 2}, dst = {0, 1};
  EXPECT_THROW(e3core::tensor_product<double>(plan, TpSlot::Out, 2,
                                              {x.data(), 2, TpRows::Indexed, src.data()},
                                              {attr.data(), 2, TpRows::PerSample, nullptr},
                                              {w.data(), 1, TpRows::Shared, nullptr},
                                              {out.data(), 2, TpRows::Indexed, dst.data()}),
               std::invalid_argument);
}

TEST(TensorProduct, ResultThatIsNoSlotThrows) {
  const TpPlan plan = TpPlan::build(spec("1x0e", "1x0e", "1x0e", {{0, 0, 0, ConnectionMode::UVW}}));
  Vec x = {1.0}, w = {1.0}, out(1);
  try {
    e3core::tensor_product<double>(plan, TpSlot(7), 1, {x.data(), 1}, {x.data(), 1},
                                   {w.data(), 1, TpRows::Shared, nullptr}, {out.data(), 1});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("not a TpSlot"), std::string::npos) << e.what();
  }
}

}  // namespace
