// Kernels of the tensor products, included by one source file per scalar type.
//
// Inside a sample every row is held "ir_mul" (component-major: x[i * mul + u] within a term)
// so that the innermost loops run over channels, contiguous and vectorisable. Rows read through
// an index or shared by all samples are converted once per call; per-sample rows on the fly.
//
// Per path and per step v of x2's channels, z[k][u] = sum_ij C_ijk x1[i][u] x2[j][v] is built
// from the Clebsch-Gordan entries, then mapped to the output channels through the weights.
// The transposes run the same two stages backwards: G[k][u] from grad_out through the weights,
// then through the Clebsch-Gordan entries to x1 or x2; the weight gradient pairs z with grad_out.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "channel_block.hpp"
#include "cpu_dispatch.hpp"
#include "e3core/tensor_product.hpp"
#include "tensor_product_pairs.hpp"

namespace e3core {
namespace {

using Terms = std::vector<std::pair<int64_t, int64_t>>;

bool is_trivial(const Terms& terms) {
  for (const auto& [mul, dim] : terms) {
    if (mul > 1 && dim > 1) return false;
  }
  return true;
}

template <typename T>
void to_ir_mul(const Terms& terms, const T* src, T* dst) {
  int64_t at = 0;
  for (const auto& [mul, dim] : terms) {
    for (int64_t u = 0; u < mul; ++u) {
      for (int64_t i = 0; i < dim; ++i) dst[at + i * mul + u] = src[at + u * dim + i];
    }
    at += mul * dim;
  }
}

template <typename T>
void to_mul_ir(const Terms& terms, const T* src, T* dst) {
  int64_t at = 0;
  for (const auto& [mul, dim] : terms) {
    for (int64_t u = 0; u < mul; ++u) {
      for (int64_t i = 0; i < dim; ++i) dst[at + u * dim + i] = src[at + i * mul + u];
    }
    at += mul * dim;
  }
}

// A Clebsch-Gordan entry with its coefficient in the kernel's type; a and b are the two indices
// other than the one entries are grouped by.
template <typename T>
struct Entry {
  int32_t a, b;
  T c;
};

// A path with its entries grouped by output component k (entries (i, j)) and by x1 component i
// (entries (j, k)), so that a block of channels accumulates in registers over a group.
template <typename T>
struct KernelPath {
  const TpPath* p;
  // A "uvv" path with no more channels in x1 than in x2 runs as the "uvu" path of x2 x x1 (owned
  // here, and what p points to): its loops then run over x2's channels, which are the output's,
  // not over x1's (1x32 x 32x: forward and backward 8x faster; 32x x 32x: 3.5x). Its weights
  // stay e3nn's [u][v], which the exchanged path reads transposed (PairIndex::transposed).
  std::unique_ptr<const TpPath> exchanged;
  Pairing pairing;
  bool mixing;
  // Weights indexed by (u, v) apply elementwise to channel u of the output ("uvu", "uuu").
  bool weight_per_u;
  // Off the diagonal, x2's channel v first contracts the entries into a dense dim1 x dim_out
  // matrix M, which then maps x1 to z (and G to grad_x1) with no per-entry indexing: more
  // multiply-adds where the entries are sparse, far fewer instructions (see dense_rows).
  bool dense;
  std::vector<Entry<T>> by_k, by_i, by_j;  // by_j's indices times mul1
  std::vector<int64_t> k_start, i_start, j_start;
  // For the dense form: the Clebsch-Gordan entries as a dense [j][cell] table, cell
  // i * dim_out + k, padded to whole channel blocks (cells values per j).
  std::vector<T> cg_cells;
  int64_t cells = 0;
  // Where the path's shared weights, transposed per step v to [v][w][u], start among those of
  // every path (see KernelPlan::transpose_shared_weights); -1 without (not mixing, weightless).
  int64_t wt_offset = -1;
};

// Largest 2l+1 of x1 and the output for the dense form (l <= 3): its sums are unrolled.
constexpr int64_t kDenseMaxDim = 7;

// Samples that go through a path's shared weights together (see blocked_path).
constexpr int kSampleBlock = 8;

// Which index of an entry (i, j, k) groups it; the entry keeps the other two, in order.
enum class GroupBy { I, J, K };

template <typename T>
void group_entries(const TpPath& p, GroupBy by, std::vector<Entry<T>>* out,
                   std::vector<int64_t>* start) {
  const int64_t groups = by == GroupBy::I ? p.dim1 : by == GroupBy::J ? p.dim2 : p.dim_out;
  start->assign(size_t(groups + 1), 0);
  for (int64_t g = 0; g < groups; ++g) {
    for (const CgEntry& e : p.cg) {
      if (by == GroupBy::I && e.i == g) out->push_back({e.j, e.k, T(e.value)});
      if (by == GroupBy::J && e.j == g) out->push_back({e.i, e.k, T(e.value)});
      if (by == GroupBy::K && e.k == g) out->push_back({e.i, e.j, T(e.value)});
    }
    (*start)[size_t(g + 1)] = int64_t(out->size());
  }
}

// Offsets of the weight rows (u, v) of a mixing path at step v, u < nu: the matrix products
// then index a table, not the connection mode (a switch per multiply-add row).
inline const int64_t* weight_row_offsets(const TpPath& p, int64_t v, int64_t nu, int64_t* rows) {
  const PairIndex ix{p.mode, p.mul1, p.mul2, p.mul_out};
  for (int64_t u = 0; u < nu; ++u) rows[u] = ix.weight(u, v);
  return rows;
}

// A "uvv" path as the "uvu" path of x2 x x1 (see KernelPath::exchanged).
inline std::unique_ptr<const TpPath> exchange_inputs(const TpPath& path) {
  auto e = std::make_unique<TpPath>(path);
  e->mode = ConnectionMode::UVU;
  std::swap(e->mul1, e->mul2);
  std::swap(e->dim1, e->dim2);
  std::swap(e->offset1, e->offset2);
  for (CgEntry& c : e->cg) std::swap(c.i, c.j);
  return e;
}

// The path's pairs (weights read transposed when its inputs are exchanged).
template <typename T>
PairIndex pair_index(const KernelPath<T>& kp) {
  const TpPath& p = *kp.p;
  return PairIndex{p.mode, p.mul1, p.mul2, p.mul_out, kp.exchanged != nullptr};
}

// What the kernels derive from a plan, built once per plan and scalar type (TpCpuPlan keeps it)
// and only read by the calls.
template <typename T>
struct KernelPlan {
  std::vector<KernelPath<T>> paths;
  std::vector<T> ones;  // the weights of a weightless path
  int64_t scratch = 1;  // values of z or G: max over paths of dim_out * mul1
  int64_t entries = 1;  // max entries of a path
  int64_t max_dim_out = 1;
  int64_t max_mul1 = 1;
  int64_t work = 1;     // rough multiply-adds per sample, to size parallel tasks
  int64_t wt_size = 0;  // values of the transposed shared weights of every path

  explicit KernelPlan(const TpPlan& p) {
    int64_t ones_size = 1;
    for (const TpPath& given : p.paths) {
      KernelPath<T> kp;
      if (given.mode == ConnectionMode::UVV && given.mul1 <= given.mul2) {
        kp.exchanged = exchange_inputs(given);
      }
      const TpPath& path = kp.exchanged ? *kp.exchanged : given;
      kp.p = &path;
      kp.pairing = pairing_of(path.mode);
      kp.mixing = is_mixing(path.mode);
      kp.weight_per_u = path.mode == ConnectionMode::UVU || path.mode == ConnectionMode::UUU;
      kp.dense = kp.pairing != Pairing::Diagonal && path.dim1 <= kDenseMaxDim &&
                 path.dim_out <= kDenseMaxDim &&
                 2 * int64_t(path.cg.size()) >= path.dim1 * path.dim_out;
      group_entries(path, GroupBy::K, &kp.by_k, &kp.k_start);
      group_entries(path, GroupBy::I, &kp.by_i, &kp.i_start);
      group_entries(path, GroupBy::J, &kp.by_j, &kp.j_start);
      // cg_to_x2 reads x1[i] and G[k] at i and k times mul1: stored multiplied.
      for (Entry<T>& e : kp.by_j) {
        e.a *= int32_t(path.mul1);
        e.b *= int32_t(path.mul1);
      }
      if (kp.dense) {
        kp.cells = (path.dim1 * path.dim_out + kBlock<T> - 1) / kBlock<T> * kBlock<T>;
        kp.cg_cells.assign(size_t(path.dim2 * kp.cells), T(0));
        for (const CgEntry& e : path.cg) {
          kp.cg_cells[size_t(e.j * kp.cells + e.i * path.dim_out + e.k)] = T(e.value);
        }
      }
      if (kp.mixing && path.has_weight) {
        kp.wt_offset = wt_size;
        const int64_t steps = kp.pairing == Pairing::Diagonal ? 1 : path.mul2;
        wt_size += steps * path.mul_out * path.mul1;
      }
      paths.push_back(std::move(kp));
      ones_size = std::max(ones_size, path.mul1 * path.mul2 * std::max<int64_t>(path.mul_out, 1));
      scratch = std::max(scratch, path.dim_out * path.mul1);
      entries = std::max(entries, int64_t(path.cg.size()));
      max_dim_out = std::max(max_dim_out, path.dim_out);
      max_mul1 = std::max(max_mul1, path.mul1);
      const int64_t steps = pairing_of(path.mode) == Pairing::Diagonal ? 1 : path.mul2;
      work += steps * (int64_t(path.cg.size()) + path.dim_out) * path.mul1 *
              (is_mixing(path.mode) ? path.mul_out : 1);
    }
    ones.assign(size_t(ones_size), T(1));
  }

  // With weights shared by every sample, those of the mixing paths transposed once per call
  // (path kp's at kp.wt_offset), so that the gradients' products with them become rank updates
  // instead of dot products.
  std::vector<T> transpose_shared_weights(const T* w) const {
    std::vector<T> wt(size_t(wt_size), T(0));
    for (const KernelPath<T>& kp : paths) {
      if (kp.wt_offset < 0) continue;
      const TpPath& p = *kp.p;
      const PairIndex ix = pair_index(kp);
      const int64_t steps = kp.pairing == Pairing::Diagonal ? 1 : p.mul2;
      T* at = wt.data() + kp.wt_offset;
      for (int64_t v = 0; v < steps; ++v) {
        const int64_t nu = kp.pairing == Pairing::Triangle ? v : p.mul1;
        for (int64_t c = 0; c < p.mul_out; ++c) {
          for (int64_t u = 0; u < nu; ++u) {
            at[(v * p.mul_out + c) * p.mul1 + u] = w[p.weight_offset + ix.weight(u, v) + c];
          }
        }
      }
    }
    return wt;
  }
};

// Per-call scratch of one task.
template <typename T>
struct PathScratch {
  std::vector<T> z, G, s, wcol, M;
  // For a block of samples (see blocked_path): z or G of every sample, and grad_out's rows.
  std::vector<T> z_block, G_block;
  std::vector<const T*> g_rows;
  std::vector<int64_t> w_rows;  // see weight_row_offsets
  const T* wt;                  // the call's transposed shared weights, or null
  PathScratch(const KernelPlan<T>& kp, const T* wt)
      : z(size_t(kp.scratch)),
        G(size_t(kp.scratch)),
        s(size_t(kp.entries)),
        wcol(size_t(kp.scratch)),
        M(size_t((kDenseMaxDim * kDenseMaxDim + kBlock<T> - 1) / kBlock<T> * kBlock<T>)),
        z_block(size_t(kSampleBlock * kp.scratch)),
        G_block(size_t(kSampleBlock * kp.scratch)),
        g_rows(size_t(kSampleBlock * kp.max_dim_out)),
        w_rows(size_t(kp.max_mul1)),
        wt(wt) {}
  // Path kp's transposed shared weights, or null.
  const T* transposed(const KernelPath<T>& kp) const {
    return wt != nullptr && kp.wt_offset >= 0 ? wt + kp.wt_offset : nullptr;
  }
};

// C[r][c] += sum_q a(r, q) b(q)[c] for rows r < kRows and columns c < n: the kRows
// accumulators of a column block stay in registers and share each load of b(q).
template <typename T, int kRows, typename A, typename B, typename C>
E3CORE_ALWAYS_INLINE inline void rank_update_rows(int64_t n, int64_t q_count, A&& a, B&& b, C&& c) {
  for_blocks<T>(n, [&](int64_t c0, auto width) E3CORE_ALWAYS_INLINE {
    using Block = ChannelBlock<T, decltype(width)>;
    Block acc[kRows];
    for (int r = 0; r < kRows; ++r) {
      acc[r] = Block(width);
      acc[r].load(c(r) + c0);
    }
    for (int64_t q = 0; q < q_count; ++q) {
      const T* bq = b(q) + c0;
      for (int r = 0; r < kRows; ++r) acc[r].add_scaled(a(r, q), bq);
    }
    for (int r = 0; r < kRows; ++r) acc[r].store(c(r) + c0);
  });
}

// rank_update_rows over `rows` rows, four at a time.
template <typename T, typename A, typename B, typename C>
E3CORE_ALWAYS_INLINE inline void rank_update(int64_t rows, int64_t n, int64_t q_count, A&& a, B&& b,
                                             C&& c) {
  for (int64_t r0 = 0; r0 < rows; r0 += 4) {
    const auto ar = [&](int r, int64_t q) E3CORE_ALWAYS_INLINE { return a(r0 + r, q); };
    const auto cr = [&](int r) E3CORE_ALWAYS_INLINE { return c(r0 + r); };
    switch (std::min<int64_t>(4, rows - r0)) {
      case 4:
        rank_update_rows<T, 4>(n, q_count, ar, b, cr);
        break;
      case 3:
        rank_update_rows<T, 3>(n, q_count, ar, b, cr);
        break;
      case 2:
        rank_update_rows<T, 2>(n, q_count, ar, b, cr);
        break;
      default:
        rank_update_rows<T, 1>(n, q_count, ar, b, cr);
    }
  }
}

// The entries contracted with x2's channel v: M[i * dim_out + k] = sum_j C_ijk x2[j][v], as a
// dense product over whole blocks of cells (a scalar sum per cell was a chain of dependent
// multiply-adds: a third of the forward's time).
template <typename T>
E3CORE_ALWAYS_INLINE inline void contract_x2(const KernelPath<T>& kp, const T* x2, int64_t v,
                                             T* M) {
  const TpPath& p = *kp.p;
  for_blocks<T>(kp.cells, [&](int64_t c0, auto width) E3CORE_ALWAYS_INLINE {
    ChannelBlock<T, decltype(width)> acc(width);
    for (int64_t j = 0; j < p.dim2; ++j) {
      acc.add_scaled(x2[j * p.mul2 + v], kp.cg_cells.data() + j * kp.cells + c0);
    }
    acc.store(M + c0);
  });
}

// For each output row o < n_out, the block [u0, u0 + width) of sum over r < kIn of
// M[r * rs + o * os] in[r * stride + u], handed to sink(o, acc). kIn is fixed so that the sum
// unrolls: no per-entry indexing, unlike the sparse form.
template <typename T, int kIn, typename W, typename Sink>
E3CORE_ALWAYS_INLINE inline void dense_block_fixed(const T* M, int64_t rs, int64_t os,
                                                   int64_t n_out, const T* __restrict in,
                                                   int64_t stride, int64_t u0, W width,
                                                   Sink&& sink) {
  for (int64_t o = 0; o < n_out; ++o) {
    ChannelBlock<T, W> acc(width);
    for (int r = 0; r < kIn; ++r) acc.add_scaled(M[r * rs + o * os], in + r * stride + u0);
    sink(o, acc);
  }
}

// dense_block_fixed for n_in (2l+1 <= kDenseMaxDim) rows of input.
template <typename T, typename W, typename Sink>
E3CORE_ALWAYS_INLINE inline void dense_block(const T* M, int64_t rs, int64_t os, int64_t n_in,
                                             int64_t n_out, const T* in, int64_t stride, int64_t u0,
                                             W width, Sink&& sink) {
  switch (n_in) {
    case 1:
      return dense_block_fixed<T, 1>(M, rs, os, n_out, in, stride, u0, width, sink);
    case 3:
      return dense_block_fixed<T, 3>(M, rs, os, n_out, in, stride, u0, width, sink);
    case 5:
      return dense_block_fixed<T, 5>(M, rs, os, n_out, in, stride, u0, width, sink);
    default:
      return dense_block_fixed<T, kDenseMaxDim>(M, rs, os, n_out, in, stride, u0, width, sink);
  }
}

// dense_block over every block of channels u < nu: sink(o, u0, acc).
template <typename T, typename Sink>
E3CORE_ALWAYS_INLINE inline void dense_rows(const T* M, int64_t rs, int64_t os, int64_t n_in,
                                            int64_t n_out, const T* in, int64_t stride, int64_t nu,
                                            Sink&& sink) {
  for_blocks<T>(nu, [&](int64_t u0, auto width) E3CORE_ALWAYS_INLINE {
    dense_block(M, rs, os, n_in, n_out, in, stride, u0, width,
                [&](int64_t o, const auto& acc) E3CORE_ALWAYS_INLINE { sink(o, u0, acc); });
  });
}

// sink(k, u0, z block) for every block of z[k][u] = sum_i M[i][k] x1[i][u], u < nu.
template <typename T, typename Sink>
E3CORE_ALWAYS_INLINE inline void dense_z(const KernelPath<T>& kp, const T* x1, const T* M,
                                         int64_t nu, Sink&& sink) {
  const TpPath& p = *kp.p;
  dense_rows(M, p.dim_out, 1, p.dim1, p.dim_out, x1, p.mul1, nu, sink);
}

// For each k: the block [u0, u0 + width) of z[k][u] = sum over the entries (i, j) of k of
// C x1[i][u] x2[j][v] (s[e] = C x2[j][v] precomputed) or, on the diagonal, C x1[i][u] x2[j][u];
// handed to sink(k, acc).
template <typename T, typename W, typename Sink>
E3CORE_ALWAYS_INLINE inline void z_block(const KernelPath<T>& kp, const T* __restrict x1,
                                         const T* __restrict x2, const T* __restrict s, int64_t u0,
                                         W width, Sink&& sink) {
  const int64_t m1 = kp.p->mul1;
  const bool diagonal = kp.pairing == Pairing::Diagonal;
  for (int64_t k = 0; k < kp.p->dim_out; ++k) {
    ChannelBlock<T, W> acc(width);
    for (int64_t e = kp.k_start[size_t(k)]; e < kp.k_start[size_t(k + 1)]; ++e) {
      const Entry<T>& en = kp.by_k[size_t(e)];
      if (diagonal) {
        acc.add_product(en.c, x1 + en.a * m1 + u0, x2 + en.b * m1 + u0);
      } else {
        acc.add_scaled(s[e], x1 + en.a * m1 + u0);
      }
    }
    sink(k, acc);
  }
}

// sink(k, u0, z block) for every block of z[k][u], u < nu, in the path's form (dense from
// sc.M, else from the entry scales sc.s), as prepared by prepare_x2.
template <typename T, typename Sink>
E3CORE_ALWAYS_INLINE inline void z_blocks(const KernelPath<T>& kp, const T* x1, const T* x2,
                                          const PathScratch<T>& sc, int64_t nu, Sink&& sink) {
  if (kp.dense) {
    dense_z(kp, x1, sc.M.data(), nu, sink);
    return;
  }
  for_blocks<T>(nu, [&](int64_t u0, auto width) E3CORE_ALWAYS_INLINE {
    z_block(kp, x1, x2, sc.s.data(), u0, width,
            [&](int64_t k, const auto& z) E3CORE_ALWAYS_INLINE { sink(k, u0, z); });
  });
}

// z[k][u] for every k and u < nu, stored (stride mul1).
template <typename T>
E3CORE_ALWAYS_INLINE inline void store_z(const KernelPath<T>& kp, const T* x1, const T* x2,
                                         const PathScratch<T>& sc, int64_t nu, T* z) {
  const int64_t m1 = kp.p->mul1;
  z_blocks(kp, x1, x2, sc, nu, [&](int64_t k, int64_t u0, const auto& zk) E3CORE_ALWAYS_INLINE {
    zk.store(z + k * m1 + u0);
  });
}

// s[e] = C_e x2[j_e][v] for the entries of a group ordering (b is j when grouped by k, a is j
// when grouped by i).
template <typename T>
E3CORE_ALWAYS_INLINE inline void entry_scales(const std::vector<Entry<T>>& entries, bool j_is_a,
                                              const T* x2, int64_t m2, int64_t v, T* s) {
  for (size_t e = 0; e < entries.size(); ++e) {
    const Entry<T>& en = entries[e];
    s[e] = en.c * x2[(j_is_a ? en.a : en.b) * m2 + v];
  }
}

// What z needs of x2's channel v: the dense matrix M, or the entries' scales (none on the
// diagonal, where x2 is read per channel).
template <typename T>
E3CORE_ALWAYS_INLINE inline void prepare_x2(const KernelPath<T>& kp, const T* x2, int64_t v,
                                            PathScratch<T>& sc) {
  if (kp.dense) {
    contract_x2(kp, x2, v, sc.M.data());
  } else if (kp.pairing != Pairing::Diagonal) {
    entry_scales(kp.by_k, false, x2, kp.p->mul2, v, sc.s.data());
  }
}

// Weights of channel u at step v, contiguous over u, for the per-u modes.
template <typename T>
E3CORE_ALWAYS_INLINE inline const T* weight_column(const KernelPath<T>& kp, const T* w, int64_t v,
                                                   int64_t nu, T* wcol) {
  const TpPath& p = *kp.p;
  if (kp.exchanged) return w + v * p.mul1;
  if (p.mode == ConnectionMode::UUU || p.mul2 == 1) return w;
  for (int64_t u = 0; u < nu; ++u) wcol[u] = w[u * p.mul2 + v];
  return wcol;
}

// out += the path at step v, for channels u < nu.
template <typename T>
E3CORE_ALWAYS_INLINE inline void path_forward(const KernelPath<T>& kp, const T* x1, const T* x2,
                                              const T* w, int64_t v, int64_t nu, T* out,
                                              PathScratch<T>& sc) {
  const TpPath& p = *kp.p;
  const int64_t m1 = p.mul1, m3 = p.mul_out;
  prepare_x2(kp, x2, v, sc);
  if (kp.weight_per_u) {
    // out[k][u] += w[u][v] z[k][u], straight from the registers.
    const T* wc = weight_column(kp, w, v, nu, sc.wcol.data());
    z_blocks(kp, x1, x2, sc, nu, [&](int64_t k, int64_t u0, const auto& z) E3CORE_ALWAYS_INLINE {
      std::decay_t<decltype(z)> o(z.width_tag());
      o.load(out + k * m3 + u0);
      o.add_times(z, wc + u0);
      o.store(out + k * m3 + u0);
    });
    return;
  }
  T* z = sc.z.data();
  store_z(kp, x1, x2, sc, nu, z);
  const PairIndex ix = pair_index(kp);
  if (kp.mixing) {
    // out[k][w] += sum_u z[k][u] W[u, v][w]: a few rows k share each load of W.
    const int64_t* wr = weight_row_offsets(p, v, nu, sc.w_rows.data());
    rank_update<T>(
        p.dim_out, m3, nu, [&](int64_t k, int64_t u) E3CORE_ALWAYS_INLINE { return z[k * m1 + u]; },
        [&](int64_t u) E3CORE_ALWAYS_INLINE { return w + wr[u]; },
        [&](int64_t k) E3CORE_ALWAYS_INLINE { return out + k * m3; });
    return;
  }
  for (int64_t k = 0; k < p.dim_out; ++k) {
    for (int64_t u = 0; u < nu; ++u) {
      out[k * m3 + ix.channel(u, v)] += w[ix.weight(u, v)] * z[k * m1 + u];
    }
  }
}

// G[k][u < nu] = the transpose of the weights applied to g (grad_out); kp_wt: the path's
// transposed shared weights (PathScratch::transposed), or null.
template <typename T>
E3CORE_ALWAYS_INLINE inline void transpose_weights(const KernelPath<T>& kp, const T* __restrict w,
                                                   const T* kp_wt, const T* __restrict g, int64_t v,
                                                   int64_t nu, T* __restrict G, T* wcol) {
  const TpPath& p = *kp.p;
  const PairIndex ix = pair_index(kp);
  const int64_t m1 = p.mul1, m3 = p.mul_out;
  const T* wc = kp.weight_per_u ? weight_column(kp, w, v, nu, wcol) : w;
  for (int64_t k = 0; k < p.dim_out; ++k) {
    const T* gk = g + k * m3;
    T* Gk = G + k * m1;
    if (kp.mixing && kp_wt != nullptr) {
      std::fill(Gk, Gk + nu, T(0));
    } else if (kp.mixing) {
      for (int64_t u = 0; u < nu; ++u) {
        const T* wr = w + ix.weight(u, v);
        T sum = T(0);
        for (int64_t c = 0; c < m3; ++c) sum += wr[c] * gk[c];
        Gk[u] = sum;
      }
    } else if (kp.weight_per_u) {
      for (int64_t u = 0; u < nu; ++u) Gk[u] = wc[u] * gk[u];
    } else {
      for (int64_t u = 0; u < nu; ++u) Gk[u] = w[ix.weight(u, v)] * gk[ix.channel(u, v)];
    }
  }
  if (kp.mixing && kp_wt != nullptr) {
    // G[k][u] = sum_w g[k][w] W^T[v][w][u]: a few rows k share each load of W^T.
    const T* wt = kp_wt + v * m3 * m1;
    rank_update<T>(
        p.dim_out, nu, m3, [&](int64_t k, int64_t c) E3CORE_ALWAYS_INLINE { return g[k * m3 + c]; },
        [&](int64_t c) E3CORE_ALWAYS_INLINE { return wt + c * m1; },
        [&](int64_t k) E3CORE_ALWAYS_INLINE { return G + k * m1; });
  }
}

// gw += the path's z at step v paired with g (grad_out).
template <typename T>
E3CORE_ALWAYS_INLINE inline void path_weight_gradient(const KernelPath<T>& kp, const T* x1,
                                                      const T* x2, const T* g, int64_t v,
                                                      int64_t nu, T* gw, PathScratch<T>& sc) {
  const TpPath& p = *kp.p;
  const int64_t m1 = p.mul1, m3 = p.mul_out;
  prepare_x2(kp, x2, v, sc);
  const PairIndex ix = pair_index(kp);
  if (kp.weight_per_u) {
    // gw[u][v] += sum_k z[k][u] g[k][u], z straight from the registers, summed over k there.
    const bool weights_contiguous = kp.exchanged || p.mode == ConnectionMode::UUU || p.mul2 == 1;
    for_blocks<T>(nu, [&](int64_t u0, auto width) E3CORE_ALWAYS_INLINE {
      using Block = ChannelBlock<T, decltype(width)>;
      Block sum(width);
      const auto add = [&](int64_t k, const Block& z)
                           E3CORE_ALWAYS_INLINE { sum.add_times(z, g + k * m3 + u0); };
      if (kp.dense) {
        dense_block(sc.M.data(), p.dim_out, 1, p.dim1, p.dim_out, x1, m1, u0, width, add);
      } else {
        z_block(kp, x1, x2, sc.s.data(), u0, width, add);
      }
      if (weights_contiguous) {
        Block w(width);
        w.load(gw + ix.weight(u0, v));
        w.add(sum);
        w.store(gw + ix.weight(u0, v));
      } else {
        for (int t = 0; t < int(width); ++t) gw[ix.weight(u0 + t, v)] += sum[t];
      }
    });
    return;
  }
  T* z = sc.z.data();
  store_z(kp, x1, x2, sc, nu, z);
  if (kp.mixing) {
    // gw[u, v][w] += sum_k z[k][u] g[k][w]: a few rows u share each load of g.
    const int64_t* wr = weight_row_offsets(p, v, nu, sc.w_rows.data());
    rank_update<T>(
        nu, m3, p.dim_out, [&](int64_t u, int64_t k) E3CORE_ALWAYS_INLINE { return z[k * m1 + u]; },
        [&](int64_t k) E3CORE_ALWAYS_INLINE { return g + k * m3; },
        [&](int64_t u) E3CORE_ALWAYS_INLINE { return gw + wr[u]; });
    return;
  }
  for (int64_t k = 0; k < p.dim_out; ++k) {
    for (int64_t u = 0; u < nu; ++u) {
      gw[ix.weight(u, v)] += z[k * m1 + u] * g[k * m3 + ix.channel(u, v)];
    }
  }
}

// gx1[i][u < nu] += sum over the entries (j, k) of i of C x2[j][v] G[k][u] (x2[j][u] on the
// diagonal).
template <typename T>
E3CORE_ALWAYS_INLINE inline void cg_to_x1(const KernelPath<T>& kp, const T* __restrict x2,
                                          const T* __restrict G, int64_t v, int64_t nu,
                                          T* __restrict gx1, T* s, T* M) {
  const TpPath& p = *kp.p;
  const int64_t m1 = p.mul1;
  const bool diagonal = kp.pairing == Pairing::Diagonal;
  if (kp.dense) {
    // gx1[i][u] += sum_k M[i][k] G[k][u]: G's rows are the input, M read transposed.
    contract_x2(kp, x2, v, M);
    dense_rows(M, 1, p.dim_out, p.dim_out, p.dim1, G, m1, nu,
               [&](int64_t i, int64_t u0, const auto& acc) E3CORE_ALWAYS_INLINE {
                 std::decay_t<decltype(acc)> r(acc.width_tag());
                 r.load(gx1 + i * m1 + u0);
                 r.add(acc);
                 r.store(gx1 + i * m1 + u0);
               });
    return;
  }
  if (!diagonal) entry_scales(kp.by_i, true, x2, p.mul2, v, s);
  for (int64_t i = 0; i < p.dim1; ++i) {
    for_blocks<T>(nu, [&](int64_t u0, auto width) E3CORE_ALWAYS_INLINE {
      ChannelBlock<T, decltype(width)> acc(width);
      T* r = gx1 + i * m1 + u0;
      acc.load(r);
      for (int64_t e = kp.i_start[size_t(i)]; e < kp.i_start[size_t(i + 1)]; ++e) {
        const Entry<T>& en = kp.by_i[size_t(e)];
        if (diagonal) {
          acc.add_product(en.c, x2 + en.a * m1 + u0, G + en.b * m1 + u0);
        } else {
          acc.add_scaled(s[e], G + en.b * m1 + u0);
        }
      }
      acc.store(r);
    });
  }
}

// gx1 += the path at step v for the per-u modes in the dense form:
// gx1[i][u] += w[u][v] sum_k M[i][k] g[k][u], with no G = w g in memory first.
template <typename T>
E3CORE_ALWAYS_INLINE inline void x1_gradient_per_u(const KernelPath<T>& kp, const T* x2, const T* w,
                                                   const T* g, int64_t v, int64_t nu, T* gx1,
                                                   PathScratch<T>& sc) {
  const TpPath& p = *kp.p;
  const int64_t m1 = p.mul1;
  const T* wc = weight_column(kp, w, v, nu, sc.wcol.data());
  contract_x2(kp, x2, v, sc.M.data());
  dense_rows(sc.M.data(), 1, p.dim_out, p.dim_out, p.dim1, g, p.mul_out, nu,
             [&](int64_t i, int64_t u0, const auto& acc) E3CORE_ALWAYS_INLINE {
               std::decay_t<decltype(acc)> r(acc.width_tag());
               r.load(gx1 + i * m1 + u0);
               r.add_times(acc, wc + u0);
               r.store(gx1 + i * m1 + u0);
             });
}

// gx2[j][v] += sum over the entries (i, k) of j and the channels u of C x1[i][u] G[k][u];
// on the diagonal gx2[j][u] += the same without the sum over u.
template <typename T>
E3CORE_ALWAYS_INLINE inline void cg_to_x2(const KernelPath<T>& kp, const T* __restrict x1,
                                          const T* __restrict G, int64_t v, int64_t nu,
                                          T* __restrict gx2) {
  const TpPath& p = *kp.p;
  const int64_t m1 = p.mul1;
  const bool diagonal = kp.pairing == Pairing::Diagonal;
  using Full = ChannelBlock<T, std::integral_constant<int, kBlock<T>>>;
  for (int64_t j = 0; j < p.dim2; ++j) {
    // Off the diagonal the sum over u is kept as a vector and reduced once.
    Full full;
    T partial = T(0);
    for_blocks<T>(nu, [&](int64_t u0, auto width) E3CORE_ALWAYS_INLINE {
      ChannelBlock<T, decltype(width)> acc(width);
      if (diagonal) acc.load(gx2 + j * m1 + u0);
      for (int64_t e = kp.j_start[size_t(j)]; e < kp.j_start[size_t(j + 1)]; ++e) {
        const Entry<T>& en = kp.by_j[size_t(e)];
        acc.add_product(en.c, x1 + en.a + u0, G + en.b + u0);
      }
      if (diagonal) {
        acc.store(gx2 + j * m1 + u0);
      } else if constexpr (std::is_same_v<decltype(acc), Full>) {
        full.add(acc);
      } else {
        partial += acc.sum();
      }
    });
    if (!diagonal) gx2[j * p.mul2 + v] += full.sum() + partial;
  }
}

// The rows one sample reads, all ir_mul but the weights; `g` is out's row (grad_out).
template <typename T>
struct SampleRows {
  const T* x1;
  const T* x2;
  const T* w;
  const T* g;
};

// Whether channel v of x2 (the path's rows of one sample) is zero in every component, so that
// the sample adds nothing at step v to out, x1's gradient or the weights' gradient: one-hot
// atom types (a self-connection) leave all channels but one zero, and skipping them skips most
// of the work. (Skipped terms are exact zeros, unless x1, the weights or grad_out hold inf or
// NaN, which then do not spread through a zero channel.) Steps on the diagonal pair x2's
// channels with x1's and are never skipped.
template <typename T>
E3CORE_ALWAYS_INLINE inline bool x2_channel_is_zero(const KernelPath<T>& kp, const T* x2,
                                                    int64_t v) {
  if (kp.pairing == Pairing::Diagonal) return false;
  const TpPath& p = *kp.p;
  for (int64_t j = 0; j < p.dim2; ++j) {
    if (x2[j * p.mul2 + v] != T(0)) return false;
  }
  return true;
}

// Adds path `path` at step v (channels u < nu) of one sample to the result slot `kSlot` in
// `acc` (ir_mul, or the flat weights).
template <typename T, TpSlot kSlot>
E3CORE_ALWAYS_INLINE inline void accumulate_oriented(const KernelPlan<T>& kp,
                                                     const KernelPath<T>& path,
                                                     const SampleRows<T>& r, int64_t v, int64_t nu,
                                                     T* acc, PathScratch<T>& sc) {
  const TpPath& p = *path.p;
  // The result's own slot is not read (its pointer may be null).
  const T* x1 = kSlot == TpSlot::In1 ? nullptr : r.x1 + p.offset1;
  const T* x2 = kSlot == TpSlot::In2 ? nullptr : r.x2 + p.offset2;
  const T* w = kSlot == TpSlot::Weight || !p.has_weight ? kp.ones.data() : r.w + p.weight_offset;
  const T* g = kSlot == TpSlot::Out ? nullptr : r.g + p.offset_out;
  if constexpr (kSlot != TpSlot::In2) {
    if (x2_channel_is_zero(path, x2, v)) return;
  }
  if constexpr (kSlot == TpSlot::Out) {
    path_forward(path, x1, x2, w, v, nu, acc + p.offset_out, sc);
  } else if constexpr (kSlot == TpSlot::Weight) {
    path_weight_gradient(path, x1, x2, g, v, nu, acc + p.weight_offset, sc);
  } else if (kSlot == TpSlot::In1 && path.dense && path.weight_per_u) {
    x1_gradient_per_u(path, x2, w, g, v, nu, acc + p.offset1, sc);
  } else {
    transpose_weights(path, w, sc.transposed(path), g, v, nu, sc.G.data(), sc.wcol.data());
    if constexpr (kSlot == TpSlot::In1) {
      cg_to_x1(path, x2, sc.G.data(), v, nu, acc + p.offset1, sc.s.data(), sc.M.data());
    } else {
      cg_to_x2(path, x1, sc.G.data(), v, nu, acc + p.offset2);
    }
  }
}

// A sample's rows as a path with exchanged inputs reads them: x1 and x2 swapped.
template <typename T>
E3CORE_ALWAYS_INLINE inline SampleRows<T> exchanged_rows(const SampleRows<T>& r) {
  SampleRows<T> e = r;
  std::swap(e.x1, e.x2);
  return e;
}

// accumulate_oriented in the path's orientation: with exchanged inputs, x1's gradient is the
// exchanged path's x2 gradient and the other way round (acc is the same row either way: the
// exchanged path's offsets are swapped too).
template <typename T, TpSlot kSlot>
E3CORE_ALWAYS_INLINE inline void accumulate_path(const KernelPlan<T>& kp, const KernelPath<T>& path,
                                                 const SampleRows<T>& r, int64_t v, int64_t nu,
                                                 T* acc, PathScratch<T>& sc) {
  if (!path.exchanged) return accumulate_oriented<T, kSlot>(kp, path, r, v, nu, acc, sc);
  constexpr TpSlot kExchanged = kSlot == TpSlot::In1   ? TpSlot::In2
                                : kSlot == TpSlot::In2 ? TpSlot::In1
                                                       : kSlot;
  accumulate_oriented<T, kExchanged>(kp, path, exchanged_rows(r), v, nu, acc, sc);
}

// Calls step(path, v, nu) for every path and step v of x2's channels with channels to pair.
template <typename T, typename Step>
E3CORE_ALWAYS_INLINE inline void for_path_steps(const KernelPlan<T>& kp, Step&& step) {
  for (const KernelPath<T>& path : kp.paths) {
    const TpPath& p = *path.p;
    const int64_t steps = path.pairing == Pairing::Diagonal ? 1 : p.mul2;
    for (int64_t v = 0; v < steps; ++v) {
      const int64_t nu = path.pairing == Pairing::Triangle ? v : p.mul1;
      if (nu > 0) step(path, v, nu);
    }
  }
}

// Adds one sample's contribution to the result slot `kSlot` into `acc`.
template <typename T, TpSlot kSlot>
E3CORE_ALWAYS_INLINE inline void accumulate_sample(const KernelPlan<T>& kp, const SampleRows<T>& r,
                                                   T* acc, PathScratch<T>& sc) {
  for_path_steps(kp, [&](const KernelPath<T>& path, int64_t v, int64_t nu) E3CORE_ALWAYS_INLINE {
    if (kSlot != TpSlot::Weight || path.p->has_weight) {
      accumulate_path<T, kSlot>(kp, path, r, v, nu, acc, sc);
    }
  });
}

// Largest 2l+1 of x2 for x2_weight_gradients_per_u (l <= 8): its sums over u live on the stack.
constexpr int64_t kJointMaxDim2 = 17;

// Whether x2_weight_gradients_per_u serves the path: weights per channel u ("uvu", "uuu") and
// x2 read at one channel per u (its single channel, or u itself on the diagonal).
template <typename T>
bool joint_x2_weight_gradients(const KernelPath<T>& kp) {
  return kp.weight_per_u && kp.p->has_weight && kp.p->dim2 <= kJointMaxDim2 &&
         (kp.pairing == Pairing::Diagonal || kp.p->mul2 == 1);
}

// Both gradients of x2 and of the weights for a path served by joint_x2_weight_gradients,
// from Y_j[u] = sum over the entries (i, k) of j of C x1[i][u] g[k][u], which both share:
// gw[u] += sum_j x2[j][u'] Y_j[u] and gx2[j][u'] += sum_u w[u] Y_j[u], u' being x2's channel.
template <typename T>
E3CORE_ALWAYS_INLINE inline void x2_weight_gradients_per_u(const KernelPath<T>& kp,
                                                           const SampleRows<T>& r,
                                                           T* __restrict gx2, T* __restrict gw) {
  const TpPath& p = *kp.p;
  const int64_t m1 = p.mul1;
  const bool diagonal = kp.pairing == Pairing::Diagonal;
  const T* __restrict x1 = r.x1 + p.offset1;
  const T* __restrict x2 = r.x2 + p.offset2;
  const T* __restrict w = r.w + p.weight_offset;
  const T* __restrict g = r.g + p.offset_out;
  using Full = ChannelBlock<T, std::integral_constant<int, kBlock<T>>>;
  // Off the diagonal, the sums over u of gx2 are kept as vectors and reduced once.
  Full full[kJointMaxDim2];
  T partial[kJointMaxDim2] = {};
  for_blocks<T>(m1, [&](int64_t u0, auto width) E3CORE_ALWAYS_INLINE {
    using Block = ChannelBlock<T, decltype(width)>;
    Block sum_w(width);
    for (int64_t j = 0; j < p.dim2; ++j) {
      Block y(width);
      for (int64_t e = kp.j_start[size_t(j)]; e < kp.j_start[size_t(j + 1)]; ++e) {
        const Entry<T>& en = kp.by_j[size_t(e)];
        y.add_product(en.c, x1 + en.a + u0, g + en.b + u0);
      }
      if (diagonal) {
        sum_w.add_times(y, x2 + j * m1 + u0);
        Block r2(width);
        r2.load(gx2 + j * m1 + u0);
        r2.add_times(y, w + u0);
        r2.store(gx2 + j * m1 + u0);
        continue;
      }
      Block scaled(width);
      scaled.add_scaled_block(x2[j], y);
      sum_w.add(scaled);
      Block yw(width);
      yw.add_times(y, w + u0);
      if constexpr (std::is_same_v<Block, Full>) {
        full[j].add(yw);
      } else {
        partial[j] += yw.sum();
      }
    }
    Block acc(width);
    acc.load(gw + u0);
    acc.add(sum_w);
    acc.store(gw + u0);
  });
  if (!diagonal) {
    for (int64_t j = 0; j < p.dim2; ++j) gx2[j] += full[j].sum() + partial[j];
  }
}

// Adds path `path` at step v of one sample to the gradients of x1, x2 and the weights (each
// skipped when its accumulator is null).
template <typename T>
E3CORE_ALWAYS_INLINE inline void backward_oriented(const KernelPlan<T>& kp,
                                                   const KernelPath<T>& path,
                                                   const SampleRows<T>& r, int64_t v, int64_t nu,
                                                   T* gx1, T* gx2, T* gw, PathScratch<T>& sc) {
  const TpPath& p = *path.p;
  if (gx1 != nullptr) accumulate_oriented<T, TpSlot::In1>(kp, path, r, v, nu, gx1, sc);
  if (gx2 != nullptr && gw != nullptr && joint_x2_weight_gradients(path)) {
    x2_weight_gradients_per_u(path, r, gx2 + p.offset2, gw + p.weight_offset);
    return;
  }
  if (gx2 != nullptr) accumulate_oriented<T, TpSlot::In2>(kp, path, r, v, nu, gx2, sc);
  if (gw != nullptr && p.has_weight) {
    accumulate_oriented<T, TpSlot::Weight>(kp, path, r, v, nu, gw, sc);
  }
}

// backward_oriented in the path's orientation (see accumulate_path).
template <typename T>
E3CORE_ALWAYS_INLINE inline void backward_path(const KernelPlan<T>& kp, const KernelPath<T>& path,
                                               const SampleRows<T>& r, int64_t v, int64_t nu,
                                               T* gx1, T* gx2, T* gw, PathScratch<T>& sc) {
  if (!path.exchanged) return backward_oriented(kp, path, r, v, nu, gx1, gx2, gw, sc);
  backward_oriented(kp, path, exchanged_rows(r), v, nu, gx2, gx1, gw, sc);
}

// Whether a path runs over a block of samples at once: its weights are shared and mix channels,
// so its products with them are matrix products whose rows are the components of every sample
// of the block, and each load of the weights serves several rows (one sample has as few rows
// as 2l+1, which left the products bound by loads).
template <typename T>
bool blocked_path(const KernelPath<T>& kp, bool shared_weights) {
  return shared_weights && kp.mixing && kp.p->has_weight;
}

// z of path `path` at step v for the n samples of a block, sample b's at z + b * dim_out * mul1.
template <typename T>
E3CORE_ALWAYS_INLINE inline void store_z_block(const KernelPath<T>& kp, const SampleRows<T>* rs,
                                               int n, int64_t v, int64_t nu, PathScratch<T>& sc,
                                               T* z) {
  const TpPath& p = *kp.p;
  for (int b = 0; b < n; ++b) {
    const T* x2 = rs[b].x2 + p.offset2;
    prepare_x2(kp, x2, v, sc);
    store_z(kp, rs[b].x1 + p.offset1, x2, sc, nu, z + b * p.dim_out * p.mul1);
  }
}

// The samples of a block whose x2 channel v is not zero (x2_channel_is_zero), with their
// accumulators (acc[b] for sample b, if acc is given): live[0..m) and live_acc[0..m); returns m.
template <typename T>
E3CORE_ALWAYS_INLINE inline int live_samples(const KernelPath<T>& kp, const SampleRows<T>* rs,
                                             int n, int64_t v, SampleRows<T>* live, T* const* acc,
                                             T** live_acc) {
  int m = 0;
  for (int b = 0; b < n; ++b) {
    if (x2_channel_is_zero(kp, rs[b].x2 + kp.p->offset2, v)) continue;
    live[m] = rs[b];
    if (acc != nullptr) live_acc[m] = acc[b];
    ++m;
  }
  return m;
}

// Adds a block of n samples to out (acc[b] for sample b).
template <typename T>
E3CORE_ALWAYS_INLINE inline void forward_block(const KernelPlan<T>& kp, const SampleRows<T>* rs,
                                               int n, bool shared_weights, T* const* acc,
                                               PathScratch<T>& sc) {
  for_path_steps(kp, [&](const KernelPath<T>& path, int64_t v, int64_t nu) E3CORE_ALWAYS_INLINE {
    if (!blocked_path(path, shared_weights)) {
      for (int b = 0; b < n; ++b)
        accumulate_path<T, TpSlot::Out>(kp, path, rs[b], v, nu, acc[b], sc);
      return;
    }
    const TpPath& p = *path.p;
    const int64_t dk = p.dim_out, m1 = p.mul1, m3 = p.mul_out;
    SampleRows<T> live[kSampleBlock];
    T* live_acc[kSampleBlock];
    const int m = live_samples(path, rs, n, v, live, acc, live_acc);
    if (m == 0) return;
    T* z = sc.z_block.data();
    store_z_block(path, live, m, v, nu, sc, z);
    const T* w = live[0].w + p.weight_offset;
    const int64_t* wr = weight_row_offsets(p, v, nu, sc.w_rows.data());
    // out[(b, k)][w] += sum_u z[(b, k)][u] W[u, v][w]
    rank_update<T>(
        m * dk, m3, nu, [&](int64_t r, int64_t u) E3CORE_ALWAYS_INLINE { return z[r * m1 + u]; },
        [&](int64_t u) E3CORE_ALWAYS_INLINE { return w + wr[u]; },
        [&](int64_t r)
            E3CORE_ALWAYS_INLINE { return live_acc[r / dk] + p.offset_out + (r % dk) * m3; });
  });
}

// Adds a block of n samples to the gradients of x1, x2 and the weights (gx1[b], gx2[b], gw[b]
// for sample b; null pointers skip a gradient; with shared weights every gw[b] is the same).
template <typename T>
E3CORE_ALWAYS_INLINE inline void backward_block(const KernelPlan<T>& kp, const SampleRows<T>* rs,
                                                int n, bool shared_weights, T* const* gx1,
                                                T* const* gx2, T* const* gw, PathScratch<T>& sc) {
  for_path_steps(kp, [&](const KernelPath<T>& path, int64_t v, int64_t nu) E3CORE_ALWAYS_INLINE {
    if (!blocked_path(path, shared_weights)) {
      for (int b = 0; b < n; ++b) backward_path(kp, path, rs[b], v, nu, gx1[b], gx2[b], gw[b], sc);
      return;
    }
    const TpPath& p = *path.p;
    const int64_t dk = p.dim_out, m1 = p.mul1, m3 = p.mul_out;
    // Without x2's gradient, the samples whose x2 channel v is zero add nothing.
    SampleRows<T> live[kSampleBlock];
    T* live_gx1[kSampleBlock];
    const SampleRows<T>* rows = rs;
    T* const* g1 = gx1;
    int m = n;
    if (gx2[0] == nullptr) {
      m = live_samples(path, rs, n, v, live, gx1[0] != nullptr ? gx1 : nullptr, live_gx1);
      if (m == 0) return;
      rows = live;
      if (gx1[0] != nullptr) g1 = live_gx1;
    }
    const T** g = sc.g_rows.data();
    for (int64_t r = 0; r < m * dk; ++r) g[r] = rows[r / dk].g + p.offset_out + (r % dk) * m3;
    if (g1[0] != nullptr || gx2[0] != nullptr) {
      // G[(b, k)][u] = sum_w g[(b, k)][w] W^T[v][w][u], then through the Clebsch-Gordan entries.
      T* G = sc.G_block.data();
      std::fill(G, G + m * dk * m1, T(0));
      const T* wt = sc.transposed(path) + v * m3 * m1;
      rank_update<T>(
          m * dk, nu, m3, [&](int64_t r, int64_t c) E3CORE_ALWAYS_INLINE { return g[r][c]; },
          [&](int64_t c) E3CORE_ALWAYS_INLINE { return wt + c * m1; },
          [&](int64_t r) E3CORE_ALWAYS_INLINE { return G + r * m1; });
      for (int b = 0; b < m; ++b) {
        const T* Gb = G + b * dk * m1;
        if (g1[b] != nullptr) {
          cg_to_x1(path, rows[b].x2 + p.offset2, Gb, v, nu, g1[b] + p.offset1, sc.s.data(),
                   sc.M.data());
        }
        if (gx2[b] != nullptr)
          cg_to_x2(path, rows[b].x1 + p.offset1, Gb, v, nu, gx2[b] + p.offset2);
      }
    }
    if (gw[0] != nullptr) {
      // gw[u, v][w] += sum over (b, k) of z[(b, k)][u] g[(b, k)][w]
      T* z = sc.z_block.data();
      store_z_block(path, rows, m, v, nu, sc, z);
      const int64_t* wr = weight_row_offsets(p, v, nu, sc.w_rows.data());
      T* gwp = gw[0] + p.weight_offset;
      rank_update<T>(
          nu, m3, m * dk, [&](int64_t u, int64_t q) E3CORE_ALWAYS_INLINE { return z[q * m1 + u]; },
          [&](int64_t q) E3CORE_ALWAYS_INLINE { return g[q]; },
          [&](int64_t u) E3CORE_ALWAYS_INLINE { return gwp + wr[u]; });
    }
  });
}

// Prefetches the cache lines of n values at p (for writing when kWrite).
template <bool kWrite = false, typename T>
E3CORE_ALWAYS_INLINE inline void prefetch_row(const T* p, int64_t n) {
  const char* c = reinterpret_cast<const char*>(p);
  for (int64_t b = 0; b < n * int64_t(sizeof(T)); b += 64)
    __builtin_prefetch(c + b, kWrite ? 1 : 0);
}

// An input array as the kernel reads it: ir_mul rows, converted up front when they are reached
// by index or shared, converted per sample otherwise (unless the layout needs no conversion).
template <typename T>
class InputRows {
 public:
  InputRows(const TpArray<T>& a, const Terms* terms, int64_t width, const Executor& exec)
      : a_(a), terms_(terms), width_(width) {
    convert_ = terms != nullptr && !is_trivial(*terms);
    if (convert_ && a.mode != TpRows::PerSample && a.rows > 0) {
      converted_.resize(size_t(a.rows * width));
      exec(a.rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(width, 1)),
           [&](int64_t begin, int64_t end) {
             for (int64_t r = begin; r < end; ++r) {
               to_ir_mul(*terms_, a_.data + r * width_, converted_.data() + r * width_);
             }
           });
    }
  }
  // Row of sample s; `scratch` (width values) holds it when it is converted on the fly.
  E3CORE_ALWAYS_INLINE const T* row(int64_t s, T* scratch) const {
    const T* r = stored_row(s);
    if (!convert_ || a_.mode != TpRows::PerSample) return r;
    to_ir_mul(*terms_, r, scratch);
    return scratch;
  }

  // Values of scratch that row() needs: a row when it converts on the fly, else none.
  int64_t scratch_width() const { return convert_ && a_.mode == TpRows::PerSample ? width_ : 0; }

  // Asks for sample s's row to be brought into cache: rows are read in an order (by
  // destination or source) unrelated to their order in memory, so the hardware prefetcher
  // cannot guess them, and waiting for them took most of the convolutions' time.
  E3CORE_ALWAYS_INLINE void prefetch(int64_t s) const {
    if (a_.data == nullptr || a_.mode == TpRows::Shared) return;
    prefetch_row(stored_row(s), width_);
  }

 private:
  E3CORE_ALWAYS_INLINE const T* stored_row(int64_t s) const {
    const int64_t r = a_.mode == TpRows::PerSample ? s
                      : a_.mode == TpRows::Indexed ? a_.index[s]
                                                   : 0;
    const T* base = convert_ && a_.mode != TpRows::PerSample ? converted_.data() : a_.data;
    return base + r * width_;
  }

  TpArray<T> a_;
  const Terms* terms_;
  int64_t width_;
  bool convert_ = false;
  std::vector<T> converted_;
};

const char* slot_name(TpSlot slot) {
  switch (slot) {
    case TpSlot::In1:
      return "x1";
    case TpSlot::In2:
      return "x2";
    case TpSlot::Weight:
      return "weight";
    case TpSlot::Out:
      return "out";
  }
  return "?";
}

template <typename T>
void check_array(const TpArray<T>& a, TpSlot slot, int64_t samples, int64_t width) {
  const std::string name = slot_name(slot);
  if (a.rows < 0) throw std::invalid_argument(name + " has a negative number of rows");
  if (a.data == nullptr && a.rows * width > 0) throw std::invalid_argument(name + " has no data");
  switch (a.mode) {
    case TpRows::PerSample:
      if (a.rows != samples) {
        throw std::invalid_argument(name + " has " + std::to_string(a.rows) + " rows, expected " +
                                    std::to_string(samples) + " (one per sample)");
      }
      break;
    case TpRows::Shared:
      if (a.rows != 1) {
        throw std::invalid_argument(name + " is shared but has " + std::to_string(a.rows) +
                                    " rows, expected 1");
      }
      break;
    case TpRows::Indexed:
      if (a.index == nullptr && samples > 0) throw std::invalid_argument(name + " has no index");
      for (int64_t s = 0; s < samples; ++s) {
        if (a.index[s] < 0 || a.index[s] >= a.rows) {
          throw std::invalid_argument(name + " index " + std::to_string(a.index[s]) +
                                      " at sample " + std::to_string(s) + " is out of range for " +
                                      std::to_string(a.rows) + " rows");
        }
      }
      break;
  }
}

// How many parts a sum into a shared result (the weights' gradient) is split into: a split fixed
// by the shapes alone, so that the result is the same on any number of threads; at most 64
// parts, and few enough that each part's partial sum (`width` values cleared, stored and added:
// three passes) costs at most 1/64 of the part's `work` multiply-adds per sample. At 101 samples
// into 81,920 shared weights, 64 parts moved 170 MB per call for 25 M multiply-adds.
inline int64_t shared_parts(int64_t samples, int64_t work, int64_t width) {
  const double affordable =
      double(samples) * double(work) / (3.0 * 64.0 * double(std::max<int64_t>(width, 1)));
  return std::clamp<int64_t>(int64_t(std::min(affordable, 64.0)), 1,
                             std::min<int64_t>(64, std::max<int64_t>(samples, 1)));
}

// The samples grouped by the row an indexed array gives them, each group in sample order (a
// stable counting sort): group r is order[start[r] .. start[r + 1]).
struct Groups {
  std::vector<int64_t> start, order;
  template <typename T>
  Groups(const TpArray<T>& a, int64_t samples)
      : start(size_t(a.rows + 1), 0), order(static_cast<size_t>(samples)) {
    for (int64_t s = 0; s < samples; ++s) ++start[size_t(a.index[s] + 1)];
    for (int64_t r = 0; r < a.rows; ++r) start[size_t(r + 1)] += start[size_t(r)];
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t s = 0; s < samples; ++s) order[size_t(fill[size_t(a.index[s])]++)] = s;
  }
};

// Calls visit(ss, rows, n) for the samples s = sample(q), q in [begin, end), in blocks of n <= kB
// consecutive q (ss[b] and rows[b] for b < n), with their rows of every input slot a whose bit
// (1 << a) is set in `read` (the others null, and neither read nor prefetched), converted through
// `scratch` where needed (kB vectors per slot: slot a, sample b at a * kB + b); the loop is
// compiled for the CPU's best instruction set. sample(q) must be defined for every q < samples: the
// next sample's rows are prefetched.
template <int kB, typename T, typename Order, typename Visit>
E3CORE_ALWAYS_INLINE inline void visit_sample_blocks(const std::vector<InputRows<T>>& inputs,
                                                     unsigned read, int64_t samples, int64_t begin,
                                                     int64_t end, Order&& sample,
                                                     std::vector<T>* scratch, Visit&& visit) {
  run_fastest([&]() E3CORE_ALWAYS_INLINE {
    int64_t ss[kB];
    SampleRows<T> rs[kB];
    for (int64_t q0 = begin; q0 < end; q0 += kB) {
      const int n = int(std::min<int64_t>(kB, end - q0));
      for (int b = 0; b < n; ++b) {
        const int64_t q = q0 + b;
        if (q + 1 < samples) {
          const int64_t next = sample(q + 1);
          for (int a = 0; a < 4; ++a) {
            if (read & (1u << a)) inputs[size_t(a)].prefetch(next);
          }
        }
        ss[b] = sample(q);
        rs[b] = SampleRows<T>{};
        const T** slots[4] = {&rs[b].x1, &rs[b].x2, &rs[b].w, &rs[b].g};
        for (int a = 0; a < 4; ++a) {
          if (read & (1u << a))
            *slots[a] = inputs[size_t(a)].row(ss[b], scratch[a * kB + b].data());
        }
      }
      visit(ss, rs, n);
    }
  });
}

// The kernels' tables of a plan, built on its first call in type T.
template <typename T>
const KernelPlan<T>& kernel_plan(const TpCpuPlan& plan) {
  constexpr int kType = std::is_same_v<T, float> ? 0 : 1;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  const auto build = [](const TpPlan& p) -> TpCpuPlan::Tables {
    return std::make_shared<const KernelPlan<T>>(p);
  };
  return *static_cast<const KernelPlan<T>*>(plan.tables(kType, build));
}

// The call's transposed shared weights (empty unless the weights are shared and one of x1's or
// x2's gradients is computed).
template <typename T>
std::vector<T> call_transposed_weights(const KernelPlan<T>& kp, const TpPlan& plan,
                                       const TpArray<T>* arrays, bool input_gradient) {
  if (!input_gradient || arrays[2].mode != TpRows::Shared || plan.weight_numel == 0) return {};
  return kp.transpose_shared_weights(arrays[2].data);
}

// Sizes the scratch of visit_sample_blocks<kB>: only inputs converted on the fly need rows (the
// weights are never converted, and a row of them was as wide as all the weights: clearing it
// cost more than a small batch's products).
template <int kB, typename T>
void size_scratch_rows(const std::vector<InputRows<T>>& inputs, std::vector<T>* rows) {
  for (int a = 0; a < 4 * kB; ++a) rows[a].resize(size_t(inputs[size_t(a / kB)].scratch_width()));
}

template <typename T>
void run_backward(const TpCpuPlan& cpu_plan, int64_t samples, const TpArray<T>* arrays,
                  T* const* grads_in, const Executor& exec);

template <typename T, TpSlot kSlot>
void run(const TpCpuPlan& cpu_plan, int64_t samples, const TpArray<T>* arrays,
         const Executor& exec) {
  if constexpr (kSlot == TpSlot::Weight) {
    if (arrays[2].mode == TpRows::Shared) {
      // The shared weights' gradient through the backward's blocked rank updates, where each
      // pass over the accumulator serves a block of samples, not one sample.
      T* const grads[3] = {nullptr, nullptr, arrays[2].data};
      run_backward(cpu_plan, samples, arrays, grads, exec);
      return;
    }
  }
  const TpPlan& plan = cpu_plan.plan();
  const int64_t widths[4] = {plan.dim1, plan.dim2, plan.weight_numel, plan.dim_out};
  const Terms* layouts[4] = {&plan.terms1, &plan.terms2, nullptr, &plan.terms_out};
  constexpr int kResult = int(kSlot);
  constexpr unsigned kRead = 15u & ~(1u << kResult);
  for (int a = 0; a < 4; ++a) check_array(arrays[a], TpSlot(a), samples, widths[a]);
  const KernelPlan<T>& kp = kernel_plan<T>(cpu_plan);
  const std::vector<T> wt =
      call_transposed_weights(kp, plan, arrays, kSlot == TpSlot::In1 || kSlot == TpSlot::In2);
  const T* wt_data = wt.empty() ? nullptr : wt.data();

  // The three inputs (the result's slot gets an empty reader).
  std::vector<InputRows<T>> inputs;
  inputs.reserve(4);
  for (int a = 0; a < 4; ++a) {
    inputs.emplace_back(a == kResult ? TpArray<T>{} : arrays[a],
                        a == kResult ? nullptr : layouts[a], widths[a], exec);
  }
  const TpArray<T>& res = arrays[kResult];
  const int64_t width = widths[kResult];
  const Terms* res_layout = layouts[kResult];
  const bool convert_out = res_layout != nullptr && !is_trivial(*res_layout);

  // Per task: conversion scratch for each input, the accumulator, and the paths' scratch.
  struct Scratch {
    std::vector<T> rows[4], acc;
    PathScratch<T> path;
    Scratch(const KernelPlan<T>& kp, const T* wt, const std::vector<InputRows<T>>& inputs,
            int64_t width)
        : acc(size_t(std::max<int64_t>(width, 1))), path(kp, wt) {
      size_scratch_rows<1>(inputs, rows);
    }
  };
  // Sums samples sample(q), q in [begin, end), into sc.acc (zeroed first).
  const auto sum_samples = [&](Scratch& sc, int64_t begin, int64_t end, auto&& sample) {
    std::fill(sc.acc.begin(), sc.acc.end(), T(0));
    visit_sample_blocks<1>(inputs, kRead, samples, begin, end, sample, sc.rows,
                           [&](const int64_t*, const SampleRows<T>* r, int) E3CORE_ALWAYS_INLINE {
                             accumulate_sample<T, kSlot>(kp, r[0], sc.acc.data(), sc.path);
                           });
  };
  const auto identity = [](int64_t q) E3CORE_ALWAYS_INLINE { return q; };
  const auto store = [&](const T* acc, T* dst) {
    if (convert_out) {
      to_mul_ir(*res_layout, acc, dst);
    } else {
      std::copy(acc, acc + width, dst);
    }
  };
  const int64_t grain = std::max<int64_t>(1, 65536 / kp.work);

  if (res.mode == TpRows::PerSample) {
    // Samples run grouped by the row an indexed input reads (grad_out's, else x1's), so that
    // consecutive samples share it in cache; each still writes only its own row.
    const auto indexed_input = [&](TpSlot slot) {
      return kSlot != slot && arrays[int(slot)].mode == TpRows::Indexed;
    };
    const TpArray<T>* by = indexed_input(TpSlot::Out)   ? &arrays[int(TpSlot::Out)]
                           : indexed_input(TpSlot::In1) ? &arrays[int(TpSlot::In1)]
                                                        : nullptr;
    if (kSlot == TpSlot::Out && by == nullptr && arrays[2].mode == TpRows::Shared) {
      // Blocks of samples through the shared weights (forward_block).
      constexpr int kB = kSampleBlock;
      exec(samples, std::max<int64_t>(kB, grain), [&](int64_t begin, int64_t end) {
        std::vector<T> rows[4 * kB], acc(size_t(kB * std::max<int64_t>(width, 1)));
        size_scratch_rows<kB>(inputs, rows);
        PathScratch<T> sc(kp, wt_data);
        visit_sample_blocks<kB>(inputs, kRead, samples, begin, end, identity, rows,
                                [&](const int64_t* ss, const SampleRows<T>* rs, int n)
                                    E3CORE_ALWAYS_INLINE {
                                      T* sums[kB];
                                      for (int b = 0; b < n; ++b) sums[b] = acc.data() + b * width;
                                      std::fill(acc.begin(), acc.begin() + n * width, T(0));
                                      forward_block(kp, rs, n, true, sums, sc);
                                      for (int b = 0; b < n; ++b)
                                        store(sums[b], res.data + ss[b] * width);
                                    });
      });
      return;
    }
    if (by == nullptr) {
      exec(samples, grain, [&](int64_t begin, int64_t end) {
        Scratch sc(kp, wt_data, inputs, width);
        for (int64_t s = begin; s < end; ++s) {
          sum_samples(sc, s, s + 1, identity);
          store(sc.acc.data(), res.data + s * width);
        }
      });
      return;
    }
    const Groups groups(*by, samples);
    const auto ordered = [&](int64_t q) E3CORE_ALWAYS_INLINE { return groups.order[size_t(q)]; };
    exec(samples, grain, [&](int64_t begin, int64_t end) {
      Scratch sc(kp, wt_data, inputs, width);
      for (int64_t q = begin; q < end; ++q) {
        sum_samples(sc, q, q + 1, ordered);
        store(sc.acc.data(), res.data + groups.order[size_t(q)] * width);
      }
    });
    return;
  }

  if (res.mode == TpRows::Indexed) {
    // Samples grouped by their result row: each row is one task's sum in a fixed order,
    // without atomics.
    const Groups groups(res, samples);
    const int64_t per_row = std::max<int64_t>(1, samples / std::max<int64_t>(res.rows, 1));
    const auto ordered = [&](int64_t q) E3CORE_ALWAYS_INLINE { return groups.order[size_t(q)]; };
    exec(res.rows, std::max<int64_t>(1, grain / per_row), [&](int64_t begin, int64_t end) {
      Scratch sc(kp, wt_data, inputs, width);
      for (int64_t r = begin; r < end; ++r) {
        sum_samples(sc, groups.start[size_t(r)], groups.start[size_t(r + 1)], ordered);
        store(sc.acc.data(), res.data + r * width);
      }
    });
    return;
  }

  // Shared result: partial sums over a fixed split of the samples, then added in order.
  const int64_t parts = shared_parts(samples, kp.work, width);
  std::vector<T> partial(size_t(parts * std::max<int64_t>(width, 1)), T(0));
  exec(parts, 1, [&](int64_t begin, int64_t end) {
    Scratch sc(kp, wt_data, inputs, width);
    for (int64_t part = begin; part < end; ++part) {
      sum_samples(sc, part * samples / parts, (part + 1) * samples / parts, identity);
      std::copy(sc.acc.begin(), sc.acc.begin() + width, partial.begin() + part * width);
    }
  });
  std::vector<T> total(size_t(std::max<int64_t>(width, 1)), T(0));
  for (int64_t part = 0; part < parts; ++part) {
    for (int64_t c = 0; c < width; ++c) total[size_t(c)] += partial[size_t(part * width + c)];
  }
  store(total.data(), res.data);
}

// The gradients of every slot but out in one pass: per sample, the three transposes run on the
// same rows, still in cache.
template <typename T>
void run_backward(const TpCpuPlan& cpu_plan, int64_t samples, const TpArray<T>* arrays,
                  T* const* grads_in, const Executor& exec) {
  const TpPlan& plan = cpu_plan.plan();
  T* grads[3] = {grads_in[0], grads_in[1], grads_in[2]};
  for (int g = 0; g < 3; ++g) {
    if (grads[g] == nullptr || arrays[g].mode != TpRows::Indexed) continue;
    // An indexed gradient (x1's in a convolution) in its own pass grouped by its rows, each
    // row summed in registers: through a buffer of one row per sample, summed per row
    // afterwards, x1's cost 4x the forward (the buffer's first-touch page faults, its writes
    // and a second pass reading it back by source).
    TpArray<T> with_result[4] = {arrays[0], arrays[1], arrays[2], arrays[3]};
    with_result[g].data = grads[g];
    if (g == 0) run<T, TpSlot::In1>(cpu_plan, samples, with_result, exec);
    if (g == 1) run<T, TpSlot::In2>(cpu_plan, samples, with_result, exec);
    if (g == 2) run<T, TpSlot::Weight>(cpu_plan, samples, with_result, exec);
    grads[g] = nullptr;
  }
  if (grads[0] == nullptr && grads[1] == nullptr && grads[2] == nullptr) return;
  const int64_t widths[4] = {plan.dim1, plan.dim2, plan.weight_numel, plan.dim_out};
  const Terms* layouts[4] = {&plan.terms1, &plan.terms2, nullptr, &plan.terms_out};
  for (int a = 0; a < 4; ++a) check_array(arrays[a], TpSlot(a), samples, widths[a]);
  const KernelPlan<T>& kp = kernel_plan<T>(cpu_plan);
  const std::vector<T> wt =
      call_transposed_weights(kp, plan, arrays, grads[0] != nullptr || grads[1] != nullptr);
  // The inputs read: grad_out, and each input that a requested gradient pairs with (the
  // weights' own gradient does not read them: 88 MB of rows per call at NequIP's shape).
  unsigned read = 1u << 3;
  for (int g = 0; g < 3; ++g) {
    if (grads[g] != nullptr) read |= 7u & ~(1u << g);
  }
  std::vector<InputRows<T>> inputs;
  inputs.reserve(4);
  for (int a = 0; a < 4; ++a) {
    const bool used = (read & (1u << a)) != 0;
    inputs.emplace_back(used ? arrays[a] : TpArray<T>{}, used ? layouts[a] : nullptr, widths[a],
                        exec);
  }

  // Samples run grouped by grad_out's row (else x1's) when it is indexed, so that consecutive
  // samples share it in cache.
  const TpArray<T>* by = arrays[3].mode == TpRows::Indexed   ? &arrays[3]
                         : arrays[0].mode == TpRows::Indexed ? &arrays[0]
                                                             : nullptr;
  const std::vector<int64_t> order =
      by != nullptr ? Groups(*by, samples).order : std::vector<int64_t>();
  const auto sample = [&](int64_t q)
                          E3CORE_ALWAYS_INLINE { return by != nullptr ? order[size_t(q)] : q; };

  // Where each gradient's per-sample sums go: straight to its rows (per sample), or into
  // per-part partial sums that are added in order (shared).
  int64_t shared_width = 0;
  for (int g = 0; g < 3; ++g) {
    if (grads[g] != nullptr && arrays[g].mode == TpRows::Shared) shared_width += widths[g];
  }
  const int64_t grain = std::max<int64_t>(1, 65536 / (3 * kp.work));
  const int64_t parts = shared_width > 0 ? shared_parts(samples, 3 * kp.work, shared_width)
                                         : (samples + grain - 1) / grain;
  std::vector<T> partial[3];
  for (int g = 0; g < 3; ++g) {
    if (grads[g] != nullptr && arrays[g].mode == TpRows::Shared) {
      partial[g].assign(size_t(std::max<int64_t>(parts, 1) * widths[g]), T(0));
    }
  }
  const auto store = [&](int g, const T* acc, T* dst) {
    if (layouts[g] != nullptr && !is_trivial(*layouts[g])) {
      to_mul_ir(*layouts[g], acc, dst);
    } else {
      std::copy(acc, acc + widths[g], dst);
    }
  };

  // A per-sample gradient in e3nn's layout is summed in place; one in another layout through
  // the task's accumulator.
  bool in_place[3];
  for (int g = 0; g < 3; ++g) {
    in_place[g] =
        arrays[g].mode == TpRows::PerSample && (layouts[g] == nullptr || is_trivial(*layouts[g]));
  }
  const bool shared_weights = arrays[2].mode == TpRows::Shared;
  constexpr int kB = kSampleBlock;
  exec(parts, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> rows[4 * kB], acc[3];
    size_scratch_rows<kB>(inputs, rows);
    // acc[g]: a shared gradient's partial sum (cleared per part), or the rows of a block's
    // samples (cleared per sample) for a per-sample gradient not summed in place.
    for (int g = 0; g < 3; ++g) {
      if (grads[g] == nullptr || in_place[g]) continue;
      const int64_t rows = arrays[g].mode == TpRows::Shared ? 1 : kB;
      acc[g].resize(size_t(rows * std::max<int64_t>(widths[g], 1)));
    }
    PathScratch<T> sc(kp, wt.empty() ? nullptr : wt.data());
    for (int64_t part = begin; part < end; ++part) {
      for (int g = 0; g < 3; ++g) {
        if (!partial[g].empty()) std::fill(acc[g].begin(), acc[g].end(), T(0));
      }
      const auto visit = [&](const int64_t* ss, const SampleRows<T>* rs,
                             int n) E3CORE_ALWAYS_INLINE {
        // sums[g][b]: where sample b's part of gradient g goes.
        T* sums[3][kB] = {};
        for (int g = 0; g < 3; ++g) {
          if (grads[g] == nullptr) continue;
          const TpRows mode = arrays[g].mode;
          for (int b = 0; b < n; ++b) {
            const int64_t at = ss[b] * widths[g];
            sums[g][b] = mode == TpRows::Shared ? acc[g].data()
                         : !in_place[g]         ? acc[g].data() + b * widths[g]
                                                : grads[g] + at;
            if (mode != TpRows::Shared) std::fill(sums[g][b], sums[g][b] + widths[g], T(0));
          }
        }
        backward_block(kp, rs, n, shared_weights, sums[0], sums[1], sums[2], sc);
        for (int g = 0; g < 3; ++g) {
          if (grads[g] == nullptr || in_place[g] || arrays[g].mode != TpRows::PerSample) continue;
          for (int b = 0; b < n; ++b) store(g, sums[g][b], grads[g] + ss[b] * widths[g]);
        }
      };
      visit_sample_blocks<kB>(inputs, read, samples, part * samples / parts,
                              (part + 1) * samples / parts, sample, rows, visit);
      for (int g = 0; g < 3; ++g) {
        if (!partial[g].empty()) {
          std::copy(acc[g].begin(), acc[g].begin() + widths[g],
                    partial[g].begin() + part * widths[g]);
        }
      }
    }
  });

  for (int g = 0; g < 3; ++g) {
    if (grads[g] == nullptr) continue;
    const int64_t width = widths[g];
    if (arrays[g].mode == TpRows::Shared) {
      std::vector<T> total(size_t(std::max<int64_t>(width, 1)), T(0));
      for (int64_t part = 0; part < parts; ++part) {
        for (int64_t c = 0; c < width; ++c)
          total[size_t(c)] += partial[g][size_t(part * width + c)];
      }
      store(g, total.data(), grads[g]);
    }
  }
}

}  // namespace

template <typename T>
void tensor_product_backward(const TpCpuPlan& plan, int64_t samples, TpArray<T> x1, TpArray<T> x2,
                             TpArray<T> weight, TpArray<T> out, T* grad_x1, T* grad_x2,
                             T* grad_weight, const Executor& exec) {
  if (samples < 0) throw std::invalid_argument("samples is negative");
  const TpArray<T> arrays[4] = {x1, x2, weight, out};
  T* const grads[3] = {grad_x1, grad_x2, grad_weight};
  run_backward<T>(plan, samples, arrays, grads, exec);
}

template <typename T>
void tensor_product(const TpCpuPlan& plan, TpSlot result, int64_t samples, TpArray<T> x1,
                    TpArray<T> x2, TpArray<T> weight, TpArray<T> out, const Executor& exec) {
  if (samples < 0) throw std::invalid_argument("samples is negative");
  const TpArray<T> arrays[4] = {x1, x2, weight, out};
  switch (result) {
    case TpSlot::In1:
      return run<T, TpSlot::In1>(plan, samples, arrays, exec);
    case TpSlot::In2:
      return run<T, TpSlot::In2>(plan, samples, arrays, exec);
    case TpSlot::Weight:
      return run<T, TpSlot::Weight>(plan, samples, arrays, exec);
    case TpSlot::Out:
      return run<T, TpSlot::Out>(plan, samples, arrays, exec);
  }
}

// The calls given a TpPlan borrow it (an aliasing pointer that owns nothing) for their tables.
template <typename T>
void tensor_product_backward(const TpPlan& plan, int64_t samples, TpArray<T> x1, TpArray<T> x2,
                             TpArray<T> weight, TpArray<T> out, T* grad_x1, T* grad_x2,
                             T* grad_weight, const Executor& exec) {
  const TpCpuPlan borrowed(std::shared_ptr<const TpPlan>(std::shared_ptr<const TpPlan>(), &plan));
  tensor_product_backward(borrowed, samples, x1, x2, weight, out, grad_x1, grad_x2, grad_weight,
                          exec);
}

template <typename T>
void tensor_product(const TpPlan& plan, TpSlot result, int64_t samples, TpArray<T> x1,
                    TpArray<T> x2, TpArray<T> weight, TpArray<T> out, const Executor& exec) {
  const TpCpuPlan borrowed(std::shared_ptr<const TpPlan>(std::shared_ptr<const TpPlan>(), &plan));
  tensor_product(borrowed, result, samples, x1, x2, weight, out, exec);
}

}  // namespace e3core
