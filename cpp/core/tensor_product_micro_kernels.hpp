// The tensor-product kernels' inner loops over blocks of channels (rank updates, z from the
// dense or the sparse entries), which the forward and every transpose share.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "channel_block.hpp"
#include "cpu_dispatch.hpp"
#include "e3core/tensor_product.hpp"
#include "tensor_product_kernel_plan.hpp"
#include "tensor_product_pairs.hpp"

namespace e3core {
namespace {

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

}  // namespace
}  // namespace e3core
