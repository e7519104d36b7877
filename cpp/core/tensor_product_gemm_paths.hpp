// The paths that run as matrix products (is_diagonal_scalar_uvw): "uvw" with shared weights
// W[u][v][w] and a scalar x2, over per-sample rows of x1 and out, c[k] the Clebsch-Gordan entries
// (k, 0, k). With x2 one row per sample (runs_as_gemm_by_sample_x2), per block of samples:
//   M[z][u][w] = sum_v x2[z][v] W[u][v][w]                 (a product with the weights)
//   out[z][w][k] += c[k] sum_u M[z][u][w] x1[z][u][k]
//   grad_x1[z][u][k] += c[k] sum_w M[z][u][w] g[z][w][k]  (g: grad_out)
//   G[z][u][w] = sum_k c[k] x1[z][u][k] g[z][w][k]
//   grad_x2[z][v] += sum_uw G[z][u][w] W[u][v][w]          (a product)
//   grad_W[u][v][w] += sum_z x2[z][v] G[z][u][w]           (a product, summed over blocks)
// so that the multiply-adds over all the weights, once per sample, are matrix products. Where
// x2 has few channels that are not zero per sample (atom types as one-hot rows: a
// self-connection), channel by channel instead (run_gemm_channel_paths): the rows (z, k)
// of the samples whose x2[z][v] is not zero, scaled by c[k] x2[z][v], times W[:][v][:]. With x2
// one row shared by every sample (runs_as_gemm_shared_x2, a Linear layer), M[u][w] =
// c sum_v x2[v] W[u][v][w] is one matrix, and the paths that share x1 or out blocks one matrix
// of blocks (a GemmGroup), whose rows are those of every sample and component, (z, k):
//   out[(z, k)][w] += sum_u x1[(z, k)][u] M[u][w]
//   grad_x1[(z, k)][u] += sum_w g[(z, k)][w] M[u][w]
//   G[u][w] = sum_(z, k) x1[(z, k)][u] g[(z, k)][w]
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cpu_dispatch.hpp"
#include "e3core/parallel.hpp"
#include "e3core/tensor_product.hpp"
#include "tensor_product_gemm.hpp"
#include "tensor_product_kernel_plan.hpp"

namespace e3core {
namespace {

// The route of the call and the product lent for it, when its rows allow the matrix products:
// weights shared, x1 and out (or grad_out) one row per sample, x2 per sample or shared.
template <typename T>
const GemmRoute<T>* gemm_route_for_call(const KernelPlan<T>& kp, const TpArray<T>* arrays,
                                        TpGemm<T>* gemm) {
  if (arrays[2].mode != TpRows::Shared || arrays[0].mode != TpRows::PerSample ||
      arrays[3].mode != TpRows::PerSample) {
    return nullptr;
  }
  const GemmRoute<T>* route = arrays[1].mode == TpRows::PerSample ? &kp.by_sample_x2
                              : arrays[1].mode == TpRows::Shared  ? &kp.shared_x2
                                                                  : nullptr;
  if (route == nullptr || route->rest == nullptr) return nullptr;
  *gemm = lent_gemm<T>();
  return *gemm != nullptr ? route : nullptr;
}

// f(std::integral_constant<int, D>{}) with D the component count dim (1, 3, 5 or 7: irreps up to
// l = 3, as the routes take), so that the loops over components unroll.
template <typename F>
void with_components(int64_t dim, F&& f) {
  switch (dim) {
    case 1:
      f(std::integral_constant<int, 1>{});
      break;
    case 3:
      f(std::integral_constant<int, 3>{});
      break;
    case 5:
      f(std::integral_constant<int, 5>{});
      break;
    default:
      f(std::integral_constant<int, 7>{});
  }
}

// Parts of the samples that run as tasks, each every product over its own rows (the lent
// product then runs on one thread per task): a power of two of at least 64 samples and 2^17
// multiply-adds (`work` per sample) each, at most 8. Measured (Linear and self-connection of
// 352 -> 288 features, forward and x1's gradient, 2 threads, against one part whose products
// use the threads): at 1,536 rows 7-8 % and 30-49 % less, at 400 rows 7-15 % and 23-30 % less
// (on one thread up to 27 % slower there); parts of 32 samples did not pay at 101 rows. Fixed
// by the shapes, so that the sums over the samples add the parts' shares in the same order on
// any number of threads.
inline int64_t sample_parts(int64_t samples, int64_t work) {
  const int64_t most =
      std::min<int64_t>({8, samples / 64, (std::min<int64_t>(samples, 1 << 20) * work) >> 17});
  int64_t parts = 1;
  while (parts * 2 <= most) parts *= 2;
  return parts;
}

// fn(begin, end) over the parts as tasks; a single part runs on the calling thread outside any
// task, so that the products and copies inside it may still use the threads (torch runs a task
// range of one as a parallel region, where nested calls run serially).
template <typename F>
void run_parts(int64_t parts, const Executor& exec, F&& fn) {
  if (parts == 1) {
    fn(0, 1);
  } else {
    exec(parts, 1, fn);
  }
}

// The first sample of part `part` of `parts`.
inline int64_t part_start(int64_t samples, int64_t parts, int64_t part) {
  return samples * part / parts;
}

// Adds path gp's part of out (when not null) or of the gradients (those not null) for every
// sample, x2 one row per sample. Blocks of samples (M and G of about 1 MB) and parts of consecutive
// blocks (at most 8) are fixed by the shapes; the parts run as tasks, each summing its own share of
// the weights' gradient, and the shares are added in order.
template <typename T>
void run_gemm_path_by_sample_x2(const GemmPath<T>& gp, TpGemm<T> gemm, const TpPlan& plan,
                                int64_t samples, const TpArray<T>* arrays, T* out, T* grad_x1,
                                T* grad_x2, T* grad_w, const Executor& exec) {
  const TpPath& p = *gp.p;
  const int64_t nu = p.mul1, nv = p.mul2, nw = p.mul_out, d = p.dim1, uw = nu * nw;
  const T* c = gp.c.data();
  const T* x1 = arrays[0].data;
  const T* x2 = arrays[1].data;
  const T* g = out == nullptr ? arrays[3].data : nullptr;  // grad_out, in the backward
  // The weights by step v ([v][u][w]): row-major for the products.
  std::vector<T> wv(size_t(nv * uw));
  const T* w = arrays[2].data + p.weight_offset;
  for (int64_t u = 0; u < nu; ++u) {
    for (int64_t v = 0; v < nv; ++v) {
      std::copy(w + (u * nv + v) * nw, w + (u * nv + v + 1) * nw, wv.begin() + v * uw + u * nw);
    }
  }
  const int64_t block = std::clamp<int64_t>(262144 / uw, 8, 256);
  const int64_t blocks = (samples + block - 1) / block;
  // At least 64 samples a part: each part's share of the weights' gradient (as large as the
  // weights) is cleared, summed into and added once, which costs more than its products for
  // fewer samples. One part leaves the threads to the lent product.
  const int64_t parts = std::min<int64_t>({blocks, std::max<int64_t>(1, samples / 64), 8});
  const bool need_m = out != nullptr || grad_x1 != nullptr;
  const bool need_g = grad_x2 != nullptr || grad_w != nullptr;
  std::vector<T> shares(grad_w != nullptr ? size_t(parts * nv * uw) : 0, T(0));
  exec(parts, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> m(need_m ? static_cast<size_t>(block * uw) : 0);
    std::vector<T> big_g(need_g ? static_cast<size_t>(block * uw) : 0);
    std::vector<T> acc(static_cast<size_t>(nw)), gt(static_cast<size_t>(d * nw));
    for (int64_t part = begin; part < end; ++part) {
      for (int64_t b = part * blocks / parts; b < (part + 1) * blocks / parts; ++b) {
        const int64_t z0 = b * block, n = std::min(block, samples - z0);
        const T* x2b = x2 + z0 * plan.dim2 + p.offset2;
        if (need_m)
          gemm(false, false, n, uw, nv, T(1), x2b, plan.dim2, wv.data(), uw, T(0), m.data(), uw);
        run_fastest([&]() E3CORE_ALWAYS_INLINE {
          for (int64_t z = 0; z < n; ++z) {
            const int64_t s = z0 + z;
            const T* x1z = x1 + s * plan.dim1 + p.offset1;
            const T* mz = need_m ? m.data() + z * uw : nullptr;
            if (out != nullptr) {
              T* oz = out + s * plan.dim_out + p.offset_out;
              for (int64_t k = 0; k < d; ++k) {
                std::fill(acc.begin(), acc.end(), T(0));
                for (int64_t u = 0; u < nu; ++u) {
                  const T t = x1z[u * d + k];
                  const T* mu = mz + u * nw;
                  for (int64_t o = 0; o < nw; ++o) acc[size_t(o)] += mu[o] * t;
                }
                for (int64_t o = 0; o < nw; ++o) oz[o * d + k] += c[k] * acc[size_t(o)];
              }
            }
            if (g == nullptr) continue;
            // grad_out's block of the path as [k][w].
            const T* gz = g + s * plan.dim_out + p.offset_out;
            for (int64_t k = 0; k < d; ++k) {
              for (int64_t o = 0; o < nw; ++o) gt[size_t(k * nw + o)] = gz[o * d + k];
            }
            if (grad_x1 != nullptr) {
              T* g1 = grad_x1 + s * plan.dim1 + p.offset1;
              for (int64_t u = 0; u < nu; ++u) {
                for (int64_t i = 0; i < d; ++i) {
                  T sum = T(0);
                  const T* mu = mz + u * nw;
                  const T* gi = gt.data() + i * nw;
                  for (int64_t o = 0; o < nw; ++o) sum += mu[o] * gi[o];
                  g1[u * d + i] += c[i] * sum;
                }
              }
            }
            if (need_g) {
              T* gzu = big_g.data() + z * uw;
              for (int64_t u = 0; u < nu; ++u) {
                T* row = gzu + u * nw;
                std::fill(row, row + nw, T(0));
                for (int64_t k = 0; k < d; ++k) {
                  const T t = c[k] * x1z[u * d + k];
                  const T* gk = gt.data() + k * nw;
                  for (int64_t o = 0; o < nw; ++o) row[o] += t * gk[o];
                }
              }
            }
          }
        });
        if (grad_x2 != nullptr) {
          gemm(false, true, n, nv, uw, T(1), big_g.data(), uw, wv.data(), uw, T(1),
               grad_x2 + z0 * plan.dim2 + p.offset2, plan.dim2);
        }
        if (grad_w != nullptr) {
          gemm(true, false, nv, uw, n, T(1), x2b, plan.dim2, big_g.data(), uw, T(1),
               shares.data() + part * nv * uw, uw);
        }
      }
    }
  });
  if (grad_w == nullptr || parts == 0) return;
  for (int64_t part = 1; part < parts; ++part) {
    const T* share = shares.data() + part * nv * uw;
    for (int64_t q = 0; q < nv * uw; ++q) shares[size_t(q)] += share[q];
  }
  T* gw = grad_w + p.weight_offset;
  for (int64_t u = 0; u < nu; ++u) {
    for (int64_t v = 0; v < nv; ++v) {
      const T* from = shares.data() + v * uw + u * nw;
      T* to = gw + (u * nv + v) * nw;
      for (int64_t o = 0; o < nw; ++o) to[o] += from[o];
    }
  }
}

// Rows (z, k) of path gp's x1 (scaled by c[k] x2[z][v]) and grad_out (as they are) for the
// `total` samples `which`, channel v of x2, in blocks of about 1 MB: their part of out (when not
// null) or of the gradients (those not null) through products with W[:][v][:], read where it lies.
template <int kD, typename T>
void run_gemm_x2_channel(const GemmPath<T>& gp, TpGemm<T> gemm, const TpPlan& plan, int64_t v,
                         const int64_t* which, int64_t total, const TpArray<T>* arrays, T* out,
                         T* grad_x1, T* grad_x2, T* grad_w, const Executor& exec) {
  const TpPath& p = *gp.p;
  const int64_t nu = p.mul1, nw = p.mul_out, ldw = p.mul2 * nw;
  const T *x1 = arrays[0].data, *x2 = arrays[1].data + p.offset2 + v, *g = arrays[3].data;
  const T* w = arrays[2].data + p.weight_offset + v * nw;  // W[u][v][w] at w + u * ldw
  const T* c = gp.c.data();
  const int64_t block =
      std::clamp<int64_t>(262144 / (kD * (nu + nw)), 1, std::max<int64_t>(total, 1));
  thread_local std::vector<T> scratch;
  scratch.resize(std::max(scratch.size(), size_t(block * kD * (2 * nu + nw))));
  // xs: x1's rows scaled; os: out's or grad_out's rows; hs: grad_out times W's transpose.
  T *xs = scratch.data(), *os = xs + block * kD * nu, *hs = os + block * kD * nw;
  const bool need_x = out != nullptr || grad_w != nullptr;
  const bool need_h = grad_x1 != nullptr || grad_x2 != nullptr;
  for (int64_t i0 = 0; i0 < total; i0 += block) {
    const int64_t n = std::min(block, total - i0), rows = n * kD;
    const int64_t* zs = which + i0;
    const auto each = [&](auto&& body) {
      const auto range = [&](int64_t begin, int64_t end) {
        run_fastest([&]() E3CORE_ALWAYS_INLINE {
          for (int64_t i = begin; i < end; ++i) body(i, zs[i]);
        });
      };
      if (rows * (nu + nw) >= 65536) {
        exec(n, 64, range);
      } else {
        range(0, n);
      }
    };
    if (need_x) {
      each([&](int64_t i, int64_t z) E3CORE_ALWAYS_INLINE {
        const T* row = x1 + z * plan.dim1 + p.offset1;
        for (int k = 0; k < kD; ++k) {
          const T a = c[k] * x2[z * plan.dim2];
          T* r = xs + (i * kD + k) * nu;
          for (int64_t u = 0; u < nu; ++u) r[u] = a * row[u * kD + k];
        }
      });
    }
    if (out != nullptr) {
      gemm(false, false, rows, nw, nu, T(1), xs, nu, w, ldw, T(0), os, nw);
      each([&](int64_t i, int64_t z) E3CORE_ALWAYS_INLINE {
        T* row = out + z * plan.dim_out + p.offset_out;
        for (int k = 0; k < kD; ++k) {
          const T* r = os + (i * kD + k) * nw;
          for (int64_t o = 0; o < nw; ++o) row[o * kD + k] += r[o];
        }
      });
      continue;
    }
    each([&](int64_t i, int64_t z) E3CORE_ALWAYS_INLINE {
      const T* row = g + z * plan.dim_out + p.offset_out;
      for (int k = 0; k < kD; ++k) {
        T* r = os + (i * kD + k) * nw;
        for (int64_t o = 0; o < nw; ++o) r[o] = row[o * kD + k];
      }
    });
    if (grad_w != nullptr) {
      gemm(true, false, nu, nw, rows, T(1), xs, nu, os, nw, T(1), grad_w + (w - arrays[2].data),
           ldw);
    }
    if (!need_h) continue;
    gemm(false, true, rows, nu, nw, T(1), os, nw, w, ldw, T(0), hs, nu);
    // One task per sample: a sample's rows of x1's and x2's gradients are its own.
    each([&](int64_t i, int64_t z) E3CORE_ALWAYS_INLINE {
      const T a = x2[z * plan.dim2];
      const T* row = x1 + z * plan.dim1 + p.offset1;
      T* g1 = grad_x1 != nullptr ? grad_x1 + z * plan.dim1 + p.offset1 : nullptr;
      T sum = T(0);
      for (int k = 0; k < kD; ++k) {
        const T* h = hs + (i * kD + k) * nu;
        for (int64_t u = 0; u < nu; ++u) {
          if (g1 != nullptr) g1[u * kD + k] += c[k] * a * h[u];
          if (grad_x2 != nullptr) sum += c[k] * row[u * kD + k] * h[u];
        }
      }
      if (grad_x2 != nullptr) grad_x2[z * plan.dim2 + p.offset2 + v] += sum;
    });
  }
}

// Rows (z, k) of a block of n samples from z0 between e3nn's layout (the blocks' [u][k] in rows
// of ld) and the products' ([z][k][column], width columns): copied from e3nn's (kGather) or
// added to it. kD fixes the component count so that the loops unroll. Large copies run as tasks.
template <bool kGather, int kD, typename T>
void copy_rows(std::conditional_t<kGather, const T*, T*> e3nn, int64_t ld,
               const std::vector<GemmBlock>& blocks, int64_t width, int64_t z0, int64_t n,
               std::conditional_t<kGather, T*, const T*> rows, const Executor& exec) {
  const auto body = [&](int64_t begin, int64_t end) {
    run_fastest([&]() E3CORE_ALWAYS_INLINE {
      for (int64_t z = begin; z < end; ++z) {
        auto* row = e3nn + (z0 + z) * ld;
        int64_t col = 0;
        for (const GemmBlock& b : blocks) {
          auto* r = rows + z * kD * width + col;
          for (int64_t u = 0; u < b.mul; ++u) {
            for (int k = 0; k < kD; ++k) {
              if constexpr (kGather) {
                r[k * width + u] = row[b.offset + u * kD + k];
              } else {
                row[b.offset + u * kD + k] += r[k * width + u];
              }
            }
          }
          col += b.mul;
        }
      }
    });
  };
  if (n * kD * width >= 65536) {
    exec(n, 64, body);
  } else {
    body(0, n);
  }
}

// Group gr's matrix: each path's c sum_v x2[v] W[u][v][w] at its place.
template <typename T>
std::vector<T> group_matrix(const GemmGroup<T>& gr, const T* x2, const T* w) {
  std::vector<T> m(size_t(gr.rows * gr.cols), T(0));
  for (const auto& part : gr.parts) {
    const TpPath& p = *part.path->p;
    const T c = part.path->c[0];
    for (int64_t u = 0; u < p.mul1; ++u) {
      T* mu = m.data() + (part.row + u) * gr.cols + part.col;
      for (int64_t v = 0; v < p.mul2; ++v) {
        const T a = c * x2[p.offset2 + v];
        const T* wuv = w + p.weight_offset + (u * p.mul2 + v) * p.mul_out;
        for (int64_t o = 0; o < p.mul_out; ++o) mu[o] += a * wuv[o];
      }
    }
  }
  return m;
}

// Group gr's part of out (when not null), or of grad_x1 and of G (big_g: the sum over the
// samples of x1's rows times grad_out's, when not null), for the samples [z0, z1); m is
// group_matrix's. With one component the products read and write the rows where they lie, a
// path at a time; with more the rows are copied, in blocks of samples of about 1 MB.
template <int kD, typename T>
void run_gemm_group_rows(const GemmGroup<T>& gr, const T* m, TpGemm<T> gemm, const TpPlan& plan,
                         int64_t z0, int64_t z1, const TpArray<T>* arrays, T* out, T* grad_x1,
                         T* big_g, const Executor& exec) {
  if (z1 <= z0) return;
  const int64_t nr = gr.rows, nc = gr.cols, samples = z1 - z0;
  const T* x1 = arrays[0].data;
  const T* g = arrays[3].data;
  if constexpr (kD == 1) {
    for (const auto& part : gr.parts) {
      const TpPath& p = *part.path->p;
      const T* mp = m + part.row * nc + part.col;
      const int64_t n1 = p.mul1, nw = p.mul_out;
      const T* x1p = x1 + z0 * plan.dim1 + p.offset1;
      if (out != nullptr) {
        gemm(false, false, samples, nw, n1, T(1), x1p, plan.dim1, mp, nc, T(1),
             out + z0 * plan.dim_out + p.offset_out, plan.dim_out);
        continue;
      }
      const T* gp = g + z0 * plan.dim_out + p.offset_out;
      if (grad_x1 != nullptr) {
        gemm(false, true, samples, n1, nw, T(1), gp, plan.dim_out, mp, nc, T(1),
             grad_x1 + z0 * plan.dim1 + p.offset1, plan.dim1);
      }
      if (big_g != nullptr) {
        gemm(true, false, n1, nw, samples, T(1), x1p, plan.dim1, gp, plan.dim_out, T(1),
             big_g + part.row * nc + part.col, nc);
      }
    }
  } else {
    const int64_t block = std::clamp<int64_t>(262144 / (kD * std::max(nr, nc)), 1, samples);
    // The calling thread's rows, kept across calls: a new 1 MB buffer per call costs its page
    // faults, about as much as the copies.
    thread_local std::vector<T> scratch;
    scratch.resize(std::max(scratch.size(), size_t(block * kD * (nr + nc))));
    T *xs = scratch.data(), *os = xs + block * kD * nr;
    for (int64_t b0 = z0; b0 < z1; b0 += block) {
      const int64_t n = std::min(block, z1 - b0), rows = n * kD;
      if (out != nullptr) {
        copy_rows<true, kD, T>(x1, plan.dim1, gr.in, nr, b0, n, xs, exec);
        gemm(false, false, rows, nc, nr, T(1), xs, nr, m, nc, T(0), os, nc);
        copy_rows<false, kD, T>(out, plan.dim_out, gr.out, nc, b0, n, os, exec);
        continue;
      }
      copy_rows<true, kD, T>(g, plan.dim_out, gr.out, nc, b0, n, os, exec);
      if (grad_x1 != nullptr) {
        gemm(false, true, rows, nr, nc, T(1), os, nc, m, nc, T(0), xs, nr);
        copy_rows<false, kD, T>(grad_x1, plan.dim1, gr.in, nr, b0, n, xs, exec);
      }
      if (big_g != nullptr) {
        copy_rows<true, kD, T>(x1, plan.dim1, gr.in, nr, b0, n, xs, exec);
        gemm(true, false, nr, nc, rows, T(1), xs, nr, os, nc, T(1), big_g, nc);
      }
    }
  }
}

// The groups' part of out (when not null) or of the gradients (those not null), x2 shared: parts
// of the samples as tasks (sample_parts), each through every group; the weights' and x2's
// gradients from G, its parts' shares added in order.
template <typename T>
void run_gemm_groups(const std::vector<GemmGroup<T>>& groups, TpGemm<T> gemm, const TpPlan& plan,
                     int64_t samples, const TpArray<T>* arrays, T* out, T* grad_x1, T* grad_x2,
                     T* grad_w, const Executor& exec) {
  if (groups.empty()) return;
  const T *x2 = arrays[1].data, *w = arrays[2].data;
  const bool need_g = out == nullptr && (grad_x2 != nullptr || grad_w != nullptr);
  std::vector<std::vector<T>> ms;
  int64_t work = 0, g_size = 0;
  for (const GemmGroup<T>& gr : groups) {
    ms.push_back(group_matrix(gr, x2, w));
    work += gr.dim * gr.rows * gr.cols;
    g_size += gr.rows * gr.cols;
  }
  const int64_t parts = sample_parts(samples, work);
  // G of every group, one after the other, per part.
  std::vector<T> big_g(need_g ? size_t(parts * g_size) : 0, T(0));
  run_parts(parts, exec, [&](int64_t begin, int64_t end) {
    for (int64_t part = begin; part < end; ++part) {
      const int64_t z0 = part_start(samples, parts, part);
      const int64_t z1 = part_start(samples, parts, part + 1);
      T* share = need_g ? big_g.data() + part * g_size : nullptr;
      for (size_t i = 0; i < groups.size(); ++i) {
        const GemmGroup<T>& gr = groups[i];
        with_components(gr.dim, [&](auto d) {
          run_gemm_group_rows<decltype(d)::value, T>(gr, ms[i].data(), gemm, plan, z0, z1, arrays,
                                                     out, grad_x1, share, exec);
        });
        if (share != nullptr) share += gr.rows * gr.cols;
      }
    }
  });
  if (!need_g) return;
  for (int64_t part = 1; part < parts; ++part) {
    const T* share = big_g.data() + part * g_size;
    for (int64_t q = 0; q < g_size; ++q) big_g[size_t(q)] += share[q];
  }
  const T* gm_group = big_g.data();
  for (const GemmGroup<T>& gr : groups) {
    for (const auto& part : gr.parts) {
      const TpPath& p = *part.path->p;
      const T c = part.path->c[0];
      for (int64_t v = 0; v < p.mul2; ++v) {
        T sum = T(0);
        for (int64_t u = 0; u < p.mul1; ++u) {
          const T* gm = gm_group + (part.row + u) * gr.cols + part.col;
          const int64_t at = p.weight_offset + (u * p.mul2 + v) * p.mul_out;
          for (int64_t o = 0; o < p.mul_out; ++o) {
            sum += w[at + o] * gm[o];
            if (grad_w != nullptr) grad_w[at + o] += c * x2[p.offset2 + v] * gm[o];
          }
        }
        if (grad_x2 != nullptr) grad_x2[p.offset2 + v] += c * sum;
      }
    }
    gm_group += gr.rows * gr.cols;
  }
}

// A path that runs channel by channel of x2 (see the top of this file), with live[v] the samples
// whose x2[z][v] is not zero (live[mul2]: every sample, for x2's gradient, which the others have
// too).
template <typename T>
struct ChannelPath {
  const GemmPath<T>* gp;
  const std::vector<std::vector<int64_t>>* live;
};

// The paths' part of out (when not null) or of the gradients, `work` multiply-adds per sample:
// parts of the samples as tasks (sample_parts), each through every path; the weights' gradient
// summed by part into shares of its size, added in order (part 0 into grad_w).
template <typename T>
void run_gemm_channel_paths(const std::vector<ChannelPath<T>>& paths, int64_t work, TpGemm<T> gemm,
                            const TpPlan& plan, int64_t samples, const TpArray<T>* arrays, T* out,
                            T* grad_x1, T* grad_x2, T* grad_w, const Executor& exec) {
  if (paths.empty()) return;
  const int64_t parts = sample_parts(samples, work);
  std::vector<T> shares(grad_w != nullptr ? size_t((parts - 1) * plan.weight_numel) : 0, T(0));
  run_parts(parts, exec, [&](int64_t begin, int64_t end) {
    for (int64_t part = begin; part < end; ++part) {
      const int64_t z0 = part_start(samples, parts, part);
      const int64_t z1 = part_start(samples, parts, part + 1);
      T* gw = grad_w == nullptr ? nullptr
              : part == 0       ? grad_w
                                : shares.data() + (part - 1) * plan.weight_numel;
      for (const ChannelPath<T>& cp : paths) {
        const TpPath& p = *cp.gp->p;
        with_components(p.dim1, [&](auto d) {
          for (int64_t v = 0; v < p.mul2; ++v) {
            const std::vector<int64_t>& which = (*cp.live)[size_t(grad_x2 != nullptr ? p.mul2 : v)];
            const auto first = std::lower_bound(which.begin(), which.end(), z0);
            const auto last = std::lower_bound(first, which.end(), z1);
            if (first == last) continue;
            run_gemm_x2_channel<decltype(d)::value, T>(*cp.gp, gemm, plan, v, &*first,
                                                       int64_t(last - first), arrays, out, grad_x1,
                                                       grad_x2, gw, exec);
          }
        });
      }
    }
  });
  if (grad_w == nullptr) return;
  for (int64_t part = 1; part < parts; ++part) {
    const T* share = shares.data() + (part - 1) * plan.weight_numel;
    for (const ChannelPath<T>& cp : paths) {
      const TpPath& p = *cp.gp->p;
      const int64_t from = p.weight_offset, to = from + p.mul1 * p.mul2 * p.mul_out;
      for (int64_t q = from; q < to; ++q) grad_w[q] += share[q];
    }
  }
}

// Every path of the route: its part of out (when not null) or of the gradients. The callees
// above take at least one sample.
template <typename T>
void run_gemm_paths(const GemmRoute<T>& route, TpGemm<T> gemm, const TpPlan& plan, int64_t samples,
                    const TpArray<T>* arrays, T* out, T* grad_x1, T* grad_x2, T* grad_w,
                    const Executor& exec) {
  if (samples == 0) return;
  if (arrays[1].mode == TpRows::Shared) {
    run_gemm_groups(route.groups, gemm, plan, samples, arrays, out, grad_x1, grad_x2, grad_w, exec);
    return;
  }
  // The samples whose x2 channel is not zero, per block of x2 (paths of one self-connection share
  // one): lives[i][v] for the block at offsets[i], lives[i][mul2] every sample.
  std::vector<int64_t> offsets;
  std::vector<std::vector<std::vector<int64_t>>> lives;
  lives.reserve(route.paths.size());  // at most one per path: the references below stay valid
  const auto live_for = [&](const TpPath& p) -> const std::vector<std::vector<int64_t>>& {
    for (size_t i = 0; i < offsets.size(); ++i) {
      if (offsets[i] == p.offset2 && int64_t(lives[i].size()) == p.mul2 + 1) return lives[i];
    }
    std::vector<std::vector<int64_t>> live(size_t(p.mul2 + 1));
    const T* x2 = arrays[1].data + p.offset2;
    for (int64_t z = 0; z < samples; ++z) {
      for (int64_t v = 0; v < p.mul2; ++v) {
        if (x2[z * plan.dim2 + v] != T(0)) live[size_t(v)].push_back(z);
      }
    }
    if (grad_x2 != nullptr) {
      live[size_t(p.mul2)].resize(size_t(samples));
      for (int64_t z = 0; z < samples; ++z) live[size_t(p.mul2)][size_t(z)] = z;
    }
    offsets.push_back(p.offset2);
    lives.push_back(std::move(live));
    return lives.back();
  };
  std::vector<ChannelPath<T>> by_channel;
  int64_t channel_work = 0;
  for (const GemmPath<T>& gp : route.paths) {
    const TpPath& p = *gp.p;
    if (p.dim1 <= 7) {
      const std::vector<std::vector<int64_t>>& live = live_for(p);
      int64_t rows = 0;
      for (int64_t v = 0; v < p.mul2; ++v) rows += int64_t(live[size_t(v)].size());
      if (grad_x2 != nullptr) rows = samples * p.mul2;
      // Channel by channel where the products by sample do not pay (runs_as_gemm_by_sample_x2),
      // else where it takes fewer multiply-adds: rows * W[:][v][:] against x2 times all of W and
      // the per-sample loops (rows * dim1 <= samples * (mul2 + dim1)).
      if (!runs_as_gemm_by_sample_x2(p) || rows * p.dim1 <= samples * (p.mul2 + p.dim1)) {
        by_channel.push_back({&gp, &live});
        channel_work += rows * p.dim1 * p.mul1 * p.mul_out / samples;
        continue;
      }
    }
    run_gemm_path_by_sample_x2(gp, gemm, plan, samples, arrays, out, grad_x1, grad_x2, grad_w,
                               exec);
  }
  run_gemm_channel_paths(by_channel, channel_work, gemm, plan, samples, arrays, out, grad_x1,
                         grad_x2, grad_w, exec);
}

}  // namespace
}  // namespace e3core
