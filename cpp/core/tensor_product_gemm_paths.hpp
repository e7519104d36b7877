// The paths that run as matrix products (runs_as_gemm): "uvw" with shared weights W[u][v][w]
// and a scalar x2, over per-sample rows. Per block of samples, with c[k] its Clebsch-Gordan
// entries (k, 0, k):
//   M[z][u][w] = sum_v x2[z][v] W[u][v][w]                 (a product with the weights)
//   out[z][w][k] += c[k] sum_u M[z][u][w] x1[z][u][k]
//   grad_x1[z][u][k] += c[k] sum_w M[z][u][w] g[z][w][k]  (g: grad_out)
//   G[z][u][w] = sum_k c[k] x1[z][u][k] g[z][w][k]
//   grad_x2[z][v] += sum_uw G[z][u][w] W[u][v][w]          (a product)
//   grad_W[u][v][w] += sum_z x2[z][v] G[z][u][w]           (a product, summed over blocks)
// so that the multiply-adds over all the weights, once per sample, are matrix products.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu_dispatch.hpp"
#include "e3core/parallel.hpp"
#include "e3core/tensor_product.hpp"
#include "tensor_product_gemm.hpp"
#include "tensor_product_kernel_plan.hpp"

namespace e3core {
namespace {

// The product lent for the call, when its rows allow the matrix products: weights shared,
// x1, x2 and out (or grad_out) one row per sample.
template <typename T>
TpGemm<T> gemm_for_call(const KernelPlan<T>& kp, const TpArray<T>* arrays) {
  if (kp.rest == nullptr || arrays[2].mode != TpRows::Shared) return nullptr;
  for (int a : {0, 1, 3}) {
    if (arrays[a].mode != TpRows::PerSample) return nullptr;
  }
  return lent_gemm<T>();
}

// Adds path gp's part of out (when not null) or of the gradients (those not null) for every
// sample. Blocks of samples (M and G of about 1 MB) and parts of consecutive blocks (at most 8)
// are fixed by the shapes; the parts run as tasks, each summing its own share of the weights'
// gradient, and the shares are added in order.
template <typename T>
void run_gemm_path(const GemmPath<T>& gp, TpGemm<T> gemm, const TpPlan& plan, int64_t samples,
                   const TpArray<T>* arrays, T* out, T* grad_x1, T* grad_x2, T* grad_w,
                   const Executor& exec) {
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

}  // namespace
}  // namespace e3core
