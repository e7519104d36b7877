// The tensor-product kernels of one path at one step, for a sample or a block of samples: the
// arithmetic of every result slot, apart from the drivers that feed it rows and store its sums.
//
// Per path and per step v of x2's channels, z[k][u] = sum_ij C_ijk x1[i][u] x2[j][v] is built
// from the Clebsch-Gordan entries, then mapped to the output channels through the weights.
// The transposes run the same two stages backwards: G[k][u] from grad_out through the weights,
// then through the Clebsch-Gordan entries to x1 or x2; the weight gradient pairs z with grad_out.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "channel_block.hpp"
#include "cpu_dispatch.hpp"
#include "e3core/tensor_product.hpp"
#include "tensor_product_kernel_plan.hpp"
#include "tensor_product_micro_kernels.hpp"
#include "tensor_product_pairs.hpp"

namespace e3core {
namespace {

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

// Calls f(std::integral_constant<int, dim>) for dim 1, 3 or 5 (2l + 1 of an edge_blocks path).
template <typename F>
E3CORE_ALWAYS_INLINE inline void with_small_dim(int64_t dim, F&& f) {
  switch (dim) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 3:
      return f(std::integral_constant<int, 3>{});
    default:
      return f(std::integral_constant<int, 5>{});
  }
}

// out[k][u] += sum over the n samples b of w_b[u] sum_i M_b[i][k] x1_b[i][u] for one path of an
// edge_blocks plan (M_b at M + b * cells; the samples whose x2 is zero, live[b] false, skipped:
// see for_edge_block_paths); each block of out's channels stays in registers over the samples.
template <typename T, int kDim1, int kDimOut>
E3CORE_ALWAYS_INLINE inline void edge_block_path(const KernelPath<T>& kp, const SampleRows<T>* rs,
                                                 int n, const bool* live, const T* M, T* out) {
  const TpPath& p = *kp.p;
  const int64_t m1 = p.mul1;
  for_blocks<T>(m1, [&](int64_t u0, auto width) E3CORE_ALWAYS_INLINE {
    using Block = ChannelBlock<T, decltype(width)>;
    Block acc[kDimOut];
    for (int k = 0; k < kDimOut; ++k) {
      acc[k] = Block(width);
      acc[k].load(out + k * m1 + u0);
    }
    for (int b = 0; b < n; ++b) {
      if (!live[b]) continue;
      const T* x1 = rs[b].x1 + p.offset1 + u0;
      const T* w = rs[b].w + p.weight_offset + u0;
      const T* Mb = M + b * kp.cells;
      for (int k = 0; k < kDimOut; ++k) {
        Block z(width);
        for (int i = 0; i < kDim1; ++i) z.add_scaled(Mb[i * kDimOut + k], x1 + i * m1);
        acc[k].add_times(z, w);
      }
    }
    for (int k = 0; k < kDimOut; ++k) acc[k].store(out + k * m1 + u0);
  });
}

// Calls f(path, live, M, dim1, dim_out) for every path of an edge_blocks plan and a block of n
// <= kSampleBlock samples: live[b] whether sample b's x2 is not zero for the path (such a
// sample adds nothing to out, x1's gradient or the weights', as in accumulate_oriented: its x1
// and weights are not read, so their inf or NaN do not spread), M_b at M + b * cells its cells
// contracted with x2 (for the live samples, if `contract`), dim1 and dim_out the path's 2l+1 as
// std::integral_constant.
template <typename T, typename F>
E3CORE_ALWAYS_INLINE inline void for_edge_block_paths(const KernelPlan<T>& kp,
                                                      const SampleRows<T>* rs, int n, bool contract,
                                                      PathScratch<T>& sc, F&& f) {
  T* M = sc.M_block.data();
  for (const KernelPath<T>& path : kp.paths) {
    const TpPath& p = *path.p;
    bool live[kSampleBlock];
    for (int b = 0; b < n; ++b) {
      const T* x2 = rs[b].x2 + p.offset2;
      live[b] = !x2_channel_is_zero(path, x2, 0);
      if (contract && live[b]) contract_x2(path, x2, 0, M + b * path.cells);
    }
    with_small_dim(p.dim1, [&](auto dim1) E3CORE_ALWAYS_INLINE {
      with_small_dim(p.dim_out,
                     [&](auto dim_out) E3CORE_ALWAYS_INLINE { f(path, live, M, dim1, dim_out); });
    });
  }
}

// Adds n <= kSampleBlock samples that share their output row `out` (the edges into one node)
// for a plan where edge_blocks holds. Per sample, the forward loads and stores out's channels
// for every path (a 32-channel path is a few vectors); here once per block of samples: NequIP's
// convolution forward at 86,000 edges, one thread, went from 27.7 to 23.0 ms.
template <typename T>
E3CORE_ALWAYS_INLINE inline void edge_block_forward(const KernelPlan<T>& kp,
                                                    const SampleRows<T>* rs, int n, T* out,
                                                    PathScratch<T>& sc) {
  for_edge_block_paths(kp, rs, n, true, sc,
                       [&](const KernelPath<T>& path, const bool* live, const T* M, auto dim1,
                           auto dim_out) E3CORE_ALWAYS_INLINE {
                         edge_block_path<T, decltype(dim1)::value, decltype(dim_out)::value>(
                             path, rs, n, live, M, out + path.p->offset_out);
                       });
}

// For one path of an edge_blocks plan and n samples that share x1's row: x1's gradient (gx1, a
// row, as the samples share it) and each sample's of x2 (gx2[b]) and the weights (gw[b]); null
// skips a gradient. Per block of channels, X_j[k] = sum_i C_ijk x1[i] serves every sample:
//   gx1[i] += sum_k M_b[i][k] w_b g_b[k]   (M_b: the cells contracted with x2_b, at M + b * cells)
//   Y_j = sum_k X_j[k] g_b[k];  gw_b += sum_j x2_b[j] Y_j;  gx2_b[j] += sum_u w_b Y_j
// gx1's channels stay in registers over the samples. A sample whose x2 is zero (live[b] false)
// adds nothing to gx1 and gw, as in the per-sample kernels.
template <typename T, int kDim1, int kDimOut>
E3CORE_ALWAYS_INLINE inline void edge_block_path_backward(const KernelPath<T>& kp,
                                                          const SampleRows<T>* rs, int n,
                                                          const bool* live, const T* M, T* gx1,
                                                          T* const* gx2, T* const* gw) {
  const TpPath& p = *kp.p;
  const int64_t m1 = p.mul1, dim2 = p.dim2;
  const bool by_y = gx2[0] != nullptr || gw[0] != nullptr;
  const T* x1 = rs[0].x1 + p.offset1;
  for_blocks<T>(m1, [&](int64_t u0, auto width) E3CORE_ALWAYS_INLINE {
    using Block = ChannelBlock<T, decltype(width)>;
    Block X[kEdgeBlockMaxDim2 * kDimOut];
    for (int64_t j = 0; by_y && j < dim2; ++j) {
      const T* C = kp.cg_cells.data() + j * kp.cells;
      for (int k = 0; k < kDimOut; ++k) {
        Block& x = X[j * kDimOut + k];
        x = Block(width);
        for (int i = 0; i < kDim1; ++i) x.add_scaled(C[i * kDimOut + k], x1 + i * m1 + u0);
      }
    }
    Block acc[kDim1];
    for (int i = 0; gx1 != nullptr && i < kDim1; ++i) {
      acc[i] = Block(width);
      acc[i].load(gx1 + i * m1 + u0);
    }
    for (int b = 0; b < n; ++b) {
      const T* g = rs[b].g + p.offset_out + u0;
      const T* w = rs[b].w + p.weight_offset + u0;
      if (gx1 != nullptr && live[b]) {
        const T* Mb = M + b * kp.cells;
        Block wb(width), wg[kDimOut];
        wb.load(w);
        for (int k = 0; k < kDimOut; ++k) {
          wg[k] = Block(width);
          wg[k].add_times(wb, g + k * m1);
        }
        // Summed per sample first, then added: term by term into the sum over the edges,
        // float32's second derivative of x was 2.4x further from float64's.
        for (int i = 0; i < kDim1; ++i) {
          Block t(width);
          for (int k = 0; k < kDimOut; ++k) t.add_scaled_block(Mb[i * kDimOut + k], wg[k]);
          acc[i].add(t);
        }
      }
      if (!by_y) continue;
      const T* x2 = rs[b].x2 + p.offset2;
      Block sum_w(width);
      for (int64_t j = 0; j < dim2; ++j) {
        Block y(width);
        for (int k = 0; k < kDimOut; ++k) y.add_times(X[j * kDimOut + k], g + k * m1);
        if (gw[0] != nullptr) sum_w.add_scaled_block(x2[j], y);
        if (gx2[0] != nullptr) {
          Block yw(width);
          yw.add_times(y, w);
          gx2[b][p.offset2 + j] += yw.sum();
        }
      }
      if (gw[0] != nullptr && live[b]) {
        T* gwb = gw[b] + p.weight_offset + u0;
        Block row(width);
        row.load(gwb);
        row.add(sum_w);
        row.store(gwb);
      }
    }
    for (int i = 0; gx1 != nullptr && i < kDim1; ++i) acc[i].store(gx1 + i * m1 + u0);
  });
}

// Adds n <= kSampleBlock samples that share x1's row (the edges out of one node) to the
// gradients of a plan where edge_blocks holds: x1's summed into its row gx1, x2's and the
// weights' into each sample's gx2[b] and gw[b] (null: skipped). See edge_block_path_backward.
template <typename T>
E3CORE_ALWAYS_INLINE inline void edge_block_backward(const KernelPlan<T>& kp,
                                                     const SampleRows<T>* rs, int n, T* gx1,
                                                     T* const* gx2, T* const* gw,
                                                     PathScratch<T>& sc) {
  for_edge_block_paths(
      kp, rs, n, gx1 != nullptr, sc,
      [&](const KernelPath<T>& path, const bool* live, const T* M, auto dim1, auto dim_out)
          E3CORE_ALWAYS_INLINE {
            edge_block_path_backward<T, decltype(dim1)::value, decltype(dim_out)::value>(
                path, rs, n, live, M, gx1 != nullptr ? gx1 + path.p->offset1 : nullptr, gx2, gw);
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
      // gw[u, v][w] += sum over (b, k) of z[(b, k)][u] g[(b, k)][w] (shared: see sums_step_major)
      T* z = sc.z_block.data();
      store_z_block(path, rows, m, v, nu, sc, z);
      const int64_t* wr = sums_step_major(p) ? step_major_rows(p, v, nu, sc.w_rows.data())
                                             : weight_row_offsets(p, v, nu, sc.w_rows.data());
      T* gwp = gw[0] + p.weight_offset;
      rank_update<T>(
          nu, m3, m * dk, [&](int64_t u, int64_t q) E3CORE_ALWAYS_INLINE { return z[q * m1 + u]; },
          [&](int64_t q) E3CORE_ALWAYS_INLINE { return g[q]; },
          [&](int64_t u) E3CORE_ALWAYS_INLINE { return gwp + wr[u]; });
    }
  });
}

// backward_block for n samples that share x1's row (a pass by x1's rows, where gx1[b] is the
// row's sum for every b): by edge blocks where the plan allows.
template <typename T>
E3CORE_ALWAYS_INLINE inline void backward_by_x1_block(const KernelPlan<T>& kp,
                                                      const SampleRows<T>* rs, int n, T* const* gx1,
                                                      T* const* gx2, T* const* gw,
                                                      PathScratch<T>& sc) {
  if (kp.edge_blocks) {
    edge_block_backward(kp, rs, n, gx1[0], gx2, gw, sc);
  } else {
    backward_block(kp, rs, n, false, gx1, gx2, gw, sc);
  }
}

}  // namespace
}  // namespace e3core
