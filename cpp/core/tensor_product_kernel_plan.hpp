// What the tensor-product kernels derive from a plan once per scalar type and only read (the
// entries grouped per path, the dense tables, the weights' layout), and the scratch it sizes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "channel_block.hpp"
#include "e3core/tensor_product.hpp"
#include "tensor_product_pairs.hpp"

namespace e3core {
namespace {

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
  // For the dense form and edge_block_forward: the Clebsch-Gordan entries as a dense [j][cell]
  // table, cell i * dim_out + k, padded to whole channel blocks (cells values per j); empty on
  // the diagonal and for 2l+1 above kDenseMaxDim.
  std::vector<T> cg_cells;
  int64_t cells = 0;
  // Where the path's shared weights, transposed per step v to [v][w][u], start among those of
  // every path (see KernelPlan::transpose_shared_weights); -1 without (not mixing, weightless).
  int64_t wt_offset = -1;
};

// Largest 2l+1 of x1 and the output for the dense form (l <= 3): its sums are unrolled.
constexpr int64_t kDenseMaxDim = 7;

// Samples that go through a path's shared weights together (see blocked_path), or that
// edge_block_forward sums into one output row.
constexpr int kSampleBlock = 32;

// The dense cells of a path in edge_block_forward (dim1 x dim_out <= 25, padded to whole
// channel blocks).
constexpr int64_t kEdgeBlockCells = 32;

// Largest 2l+1 of x2 on an edge_blocks path (l2 <= l1 + l_out <= 4).
constexpr int kEdgeBlockMaxDim2 = 9;

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

// A shared weights' gradient is summed with the rows of a "uvw" path's step v next to each other
// ([v][u][w]): in e3nn's order [u][v][w] the rows u of one step lie mul2 * mul_out apart (16 KB
// at 64 channels), in the same few cache sets, and each block of samples reloaded them from L2.
// to_e3nn_weight_order puts the sum back in e3nn's order.
inline bool sums_step_major(const TpPath& p) { return p.mode == ConnectionMode::UVW; }

// Offsets of the rows u < nu of step v in the step-major order of sums_step_major.
inline const int64_t* step_major_rows(const TpPath& p, int64_t v, int64_t nu, int64_t* rows) {
  for (int64_t u = 0; u < nu; ++u) rows[u] = (v * p.mul1 + u) * p.mul_out;
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

// A path that runs as matrix products when the host lends one (see set_tensor_product_gemm):
// "uvw" with weights and a scalar x2, whose Clebsch-Gordan entries lie on the diagonal i = k
// (c[i], times the path's normalization).
template <typename T>
struct GemmPath {
  const TpPath* p;
  std::vector<T> c;
};

inline bool is_diagonal_scalar_uvw(const TpPath& p) {
  if (p.mode != ConnectionMode::UVW || !p.has_weight || p.dim2 != 1 || p.dim1 != p.dim_out ||
      int64_t(p.cg.size()) != p.dim1) {
    return false;
  }
  std::vector<bool> seen(size_t(p.dim1), false);
  for (const CgEntry& e : p.cg) {
    if (e.j != 0 || e.i != e.k || e.i < 0 || e.i >= p.dim1 || seen[size_t(e.i)]) {
      return false;
    }
    seen[size_t(e.i)] = true;
  }
  return true;
}

// With x2 one row per sample, products by sample (x2 times all of W, then loops per sample): at
// least 8 channels of x2 and 32^3 weights, below which the per-sample products of the kernels
// win.
inline bool runs_as_gemm_by_sample_x2(const TpPath& p) {
  return is_diagonal_scalar_uvw(p) && p.mul2 >= 8 && p.mul1 * p.mul2 * p.mul_out >= 32768;
}

// With x2 one row per sample, the paths of the route: those above, and those of up to 7
// components, which can run channel by channel of x2 (see tensor_product_gemm_paths.hpp).
inline bool runs_as_gemm_with_x2_by_sample(const TpPath& p) {
  return runs_as_gemm_by_sample_x2(p) || (is_diagonal_scalar_uvw(p) && p.dim1 <= 7);
}

// With x2 one row shared by every sample (a Linear layer): the weights contracted with x2 are
// one matrix of mul1 x mul_out, and the paths that share a block one product. At any width: at
// 101 rows, one thread, a 1x32 NequIP's linear layers took 3.0 instead of 4.4 ms of its compiled
// training step (bench_linear, 4 to 64 channels: faster in every case at 1,536 rows, median
// 1.17x at 101 rows with two cases slower, within the noise at 1 to 8 rows). Components up to 7
// (l = 3), the Clebsch-Gordan entries equal (to their last bits, as computed), so that the first
// folds into that matrix.
inline bool runs_as_gemm_shared_x2(const TpPath& p) {
  if (!is_diagonal_scalar_uvw(p) || p.dim1 > 7) return false;
  for (const CgEntry& e : p.cg) {
    if (std::abs(e.value - p.cg[0].value) > 1e-14 * std::abs(p.cg[0].value)) return false;
  }
  return true;
}

// Blocks of columns of x1's or out's rows, one irrep's channels each.
struct GemmBlock {
  int64_t offset, mul;
};

// Paths of a route joined by the blocks they share (with x2 shared): one matrix product over all
// their x1 blocks and out blocks, whose matrix holds each path's at (row, col) (zero elsewhere).
template <typename T>
struct GemmGroup {
  struct Part {
    const GemmPath<T>* path;
    int64_t row, col;
  };
  int64_t dim = 0, rows = 0, cols = 0;  // components; the matrix's rows (x1) and columns (out)
  std::vector<GemmBlock> in, out;
  std::vector<Part> parts;

  // The block's place in the matrix, added if new.
  static int64_t place(std::vector<GemmBlock>& blocks, int64_t& size, int64_t offset, int64_t mul) {
    int64_t at = 0;
    for (const GemmBlock& b : blocks) {
      if (b.offset == offset) return at;
      at += b.mul;
    }
    blocks.push_back({offset, mul});
    size += mul;
    return at;
  }
};

template <typename T>
std::vector<GemmGroup<T>> gemm_groups(const std::vector<GemmPath<T>>& paths) {
  // A path's group: the one that holds its x1 block or its out block, the two merged when both
  // exist; the groups are rebuilt from the paths of each at the end.
  std::vector<int64_t> group(paths.size());
  for (size_t a = 0; a < paths.size(); ++a) {
    group[a] = int64_t(a);
    for (size_t b = 0; b < a; ++b) {
      const TpPath &p = *paths[a].p, &q = *paths[b].p;
      if (p.offset1 != q.offset1 && p.offset_out != q.offset_out) continue;
      const int64_t from = group[a], to = group[b];
      for (int64_t& g : group) g = g == from ? to : g;
    }
  }
  std::vector<GemmGroup<T>> groups;
  std::vector<int64_t> built;
  for (size_t a = 0; a < paths.size(); ++a) {
    if (std::find(built.begin(), built.end(), group[a]) != built.end()) continue;
    built.push_back(group[a]);
    GemmGroup<T> g;
    for (size_t b = 0; b < paths.size(); ++b) {
      if (group[b] != group[a]) continue;
      const TpPath& p = *paths[b].p;
      g.dim = p.dim1;
      const int64_t row = GemmGroup<T>::place(g.in, g.rows, p.offset1, p.mul1);
      const int64_t col = GemmGroup<T>::place(g.out, g.cols, p.offset_out, p.mul_out);
      g.parts.push_back({&paths[b], row, col});
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

// The paths that run as matrix products for one kind of x2 rows, and the plan of the others
// that the kernels run (null when no path does).
template <typename T>
struct GemmRoute {
  std::vector<GemmPath<T>> paths;
  std::vector<GemmGroup<T>> groups;  // of the paths, when x2 is shared
  std::unique_ptr<const TpCpuPlan> rest;

  GemmRoute(const TpPlan& p, bool (*runs_as_gemm)(const TpPath&)) {
    TpPlan without = p;
    without.paths.clear();
    for (const TpPath& path : p.paths) {
      if (runs_as_gemm(path)) {
        std::vector<T> c(size_t(path.dim1));
        for (const CgEntry& e : path.cg) c[size_t(e.i)] = T(e.value);
        paths.push_back({&path, std::move(c)});
      } else {
        without.paths.push_back(path);
      }
    }
    if (!paths.empty()) rest = std::make_unique<const TpCpuPlan>(std::move(without));
    groups = gemm_groups(paths);
  }
  GemmRoute(const GemmRoute&) = delete;
  GemmRoute& operator=(const GemmRoute&) = delete;
};

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
  // Where the host lends a matrix product and the rows allow, the kernels run a route's `rest`
  // and its paths go through the product: one route for x2 per sample, one for x2 shared.
  GemmRoute<T> by_sample_x2, shared_x2;
  // Whether a forward into rows reached by index (a convolution's nodes) sums blocks of samples
  // in registers (edge_block_forward), and a backward by x1's rows x1's gradient
  // (edge_block_backward): every path "uvu" with weights, one channel of x2 (the edges'
  // spherical harmonics) and 2l+1 of 1, 3 or 5 on x1 and the output.
  bool edge_blocks = false;

  explicit KernelPlan(const TpPlan& p)
      : by_sample_x2(p, runs_as_gemm_with_x2_by_sample), shared_x2(p, runs_as_gemm_shared_x2) {
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
      const int64_t steps = kp.pairing == Pairing::Diagonal ? 1 : path.mul2;
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
      // Also where the entries are sparse, for edge_block_forward.
      if (kp.pairing != Pairing::Diagonal && path.dim1 <= kDenseMaxDim &&
          path.dim_out <= kDenseMaxDim) {
        kp.cells = (path.dim1 * path.dim_out + kBlock<T> - 1) / kBlock<T> * kBlock<T>;
        kp.cg_cells.assign(size_t(path.dim2 * kp.cells), T(0));
        for (const CgEntry& e : path.cg) {
          kp.cg_cells[size_t(e.j * kp.cells + e.i * path.dim_out + e.k)] = T(e.value);
        }
      }
      if (kp.mixing && path.has_weight) {
        kp.wt_offset = wt_size;
        wt_size += steps * path.mul_out * path.mul1;
      }
      work += steps * (int64_t(path.cg.size()) + path.dim_out) * path.mul1 *
              (kp.mixing ? path.mul_out : 1);
      paths.push_back(std::move(kp));
      ones_size = std::max(ones_size, path.mul1 * path.mul2 * std::max<int64_t>(path.mul_out, 1));
      scratch = std::max(scratch, path.dim_out * path.mul1);
      entries = std::max(entries, int64_t(path.cg.size()));
      max_dim_out = std::max(max_dim_out, path.dim_out);
      max_mul1 = std::max(max_mul1, path.mul1);
    }
    ones.assign(size_t(ones_size), T(1));
    const auto small = [](int64_t dim) { return dim == 1 || dim == 3 || dim == 5; };
    edge_blocks = !paths.empty() && std::all_of(paths.begin(), paths.end(), [&](const auto& kp) {
      const TpPath& q = *kp.p;
      return !kp.exchanged && q.mode == ConnectionMode::UVU && q.has_weight && q.mul2 == 1 &&
             small(q.dim1) && small(q.dim_out) && q.dim2 <= kEdgeBlockMaxDim2;
    });
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
        // Read along c (contiguous in w), write with stride mul1 within one step's block.
        for (int64_t u = 0; u < nu; ++u) {
          const T* src = w + p.weight_offset + ix.weight(u, v);
          T* dst = at + v * p.mul_out * p.mul1 + u;
          for (int64_t c = 0; c < p.mul_out; ++c) dst[c * p.mul1] = src[c];
        }
      }
    }
    return wt;
  }
};

// A shared weights' gradient summed as sums_step_major says, in e3nn's order.
template <typename T>
void to_e3nn_weight_order(const KernelPlan<T>& kp, T* gw) {
  std::vector<T> step_major;
  for (const KernelPath<T>& path : kp.paths) {
    const TpPath& p = *path.p;
    if (!sums_step_major(p)) continue;
    T* w = gw + p.weight_offset;
    step_major.assign(w, w + p.weight_numel);
    for (int64_t v = 0; v < p.mul2; ++v) {
      for (int64_t u = 0; u < p.mul1; ++u) {
        const T* from = step_major.data() + (v * p.mul1 + u) * p.mul_out;
        std::copy(from, from + p.mul_out, w + (u * p.mul2 + v) * p.mul_out);
      }
    }
  }
}

// Per-call scratch of one task.
template <typename T>
struct PathScratch {
  std::vector<T> z, G, s, wcol, M;
  // For a block of samples (see blocked_path): z or G of every sample, and grad_out's rows.
  std::vector<T> z_block, G_block;
  // The dense cells of every sample of a block, for edge_block_forward.
  std::vector<T> M_block;
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
        M_block(kp.edge_blocks ? size_t(kSampleBlock * kEdgeBlockCells) : 0),
        g_rows(size_t(kSampleBlock * kp.max_dim_out)),
        w_rows(size_t(kp.max_mul1)),
        wt(wt) {}
  // Path kp's transposed shared weights, or null.
  const T* transposed(const KernelPath<T>& kp) const {
    return wt != nullptr && kp.wt_offset >= 0 ? wt + kp.wt_offset : nullptr;
  }
};

}  // namespace
}  // namespace e3core
