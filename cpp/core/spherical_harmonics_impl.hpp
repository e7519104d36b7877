// Kernels of the spherical harmonics, included by one source file per scalar type so that the
// two heavy instantiations compile in parallel.
//
// Real spherical harmonics by the associated-Legendre recursion on solid harmonics.
//
// Work happens in the "standard" frame (x', y', z') = (z, x, y) of e3nn's vector (x, y, z), where
// e3nn's harmonics are the textbook real ones without the Condon-Shortley phase:
//   Y_l^m  = f_l K_l^m Q_l^m(z', r^2) C_m(x', y')       (m >= 0)
//   Y_l^-m = f_l K_l^m Q_l^m(z', r^2) S_m(x', y')
// with C_m + i S_m = (x' + i y')^m, Q_l^m = r^(l-m) P_l^m(z'/r) and K_l^m the usual normalisation.
// Stored values are q_l^m = K_l^m Q_l^m so that nothing overflows at high l; derivatives follow
// from dQ_l^m/dx = -x Q_{l-1}^{m+1} (same for y) and dQ_l^m/dz = (l+m) Q_{l-1}^m, so every
// derivative is again a table ratio times a stored q.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_dispatch.hpp"
#include "e3core/spherical_harmonics.hpp"
#include "lane_transpose.hpp"
#include "spherical_harmonics_tables.hpp"

namespace e3core {

namespace {

using sh_detail::kNormalizeEps;
using sh_detail::Tables;
using sh_detail::tri;

// Vectors are processed in blocks of Lanes::kSize: every arithmetic operation below is then a
// short fixed-length loop that the compiler turns into SIMD instructions, and the per-harmonic
// bookkeeping (table loads, branches on l and m) is paid once per block instead of once per
// vector. A partial block is padded with zero vectors. 32 bytes (one AVX2 register) measured
// faster than 64: the [column][lane] staging stays small and its transposition cheaper.
//
// The block loop is only fast when everything it calls is inlined into it: the lane arithmetic
// must be seen whole to be vectorised, and the AVX2 copy of run_blocks only applies to code
// inlined into it. GCC's size heuristics give up on the larger degrees, so inlining is forced.
// For the same reason the degree loops are unrolled whole when lmax is fixed, so that table
// indices and the branches on l and m fold away (measured 1.5-2x faster with gradients). Loops
// over a run-time lmax and the Hessian's (double backward only) are left rolled: unrolling them
// costs minutes of build time.
#if defined(__GNUC__)
#define E3CORE_SH_UNROLL _Pragma("GCC unroll 16")
#else
#define E3CORE_SH_UNROLL
#endif

// Runs body(i) for i in [begin, end), unrolled when kUnroll (a compile-time lmax).
template <bool kUnroll, typename Body>
E3CORE_ALWAYS_INLINE inline void degree_loop(int begin, int end, Body&& body) {
  if constexpr (kUnroll) {
    E3CORE_SH_UNROLL
    for (int i = begin; i < end; ++i) body(i);
  } else {
    for (int i = begin; i < end; ++i) body(i);
  }
}

// A GNU vector, so that lane arithmetic is vector arithmetic whatever the optimiser decides
// (arrays with per-lane loops were only partly vectorised: scalar multiplies by table constants).
// alignas: alignof(LaneVec<T>) is 16 (GCC drops it through the template alias) while its loads
// assume 32, and std::allocator goes by alignof.
template <typename T>
struct alignas(32) Lanes {
  static constexpr int kSize = kTransposeLanes<T>;
  using Vec = LaneVec<T>;
  Vec v;

  Lanes() = default;
  // Copies as one vector move: the implicit copy of the struct went through memory in halves,
  // and reading the whole back then stalls on store forwarding.
  E3CORE_ALWAYS_INLINE Lanes(const Lanes& o) : v(o.v) {}
  E3CORE_ALWAYS_INLINE Lanes& operator=(const Lanes& o) {
    v = o.v;
    return *this;
  }
  E3CORE_ALWAYS_INLINE static Lanes of(const Vec& x) {
    Lanes r;
    r.v = x;
    return r;
  }
  // Implicit so that table constants and literals broadcast in mixed expressions.
  E3CORE_ALWAYS_INLINE Lanes(T s) : v(Vec{} + s) {}  // NOLINT(google-explicit-constructor)

  E3CORE_ALWAYS_INLINE T* data() { return reinterpret_cast<T*>(&v); }
  E3CORE_ALWAYS_INLINE const T* data() const { return reinterpret_cast<const T*>(&v); }

  E3CORE_ALWAYS_INLINE friend Lanes operator+(const Lanes& a, const Lanes& b) {
    return of(a.v + b.v);
  }
  E3CORE_ALWAYS_INLINE friend Lanes operator-(const Lanes& a, const Lanes& b) {
    return of(a.v - b.v);
  }
  E3CORE_ALWAYS_INLINE friend Lanes operator*(const Lanes& a, const Lanes& b) {
    return of(a.v * b.v);
  }
  E3CORE_ALWAYS_INLINE friend Lanes operator-(const Lanes& a) { return of(-a.v); }
  E3CORE_ALWAYS_INLINE Lanes& operator+=(const Lanes& b) {
    v += b.v;
    return *this;
  }
};

template <typename T>
E3CORE_ALWAYS_INLINE inline Lanes<T> dot3(const Lanes<T>* a, const Lanes<T>* b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

// Scratch for one thread: the recursion's arrays when lmax is only known at run time, and a
// [column][lane] staging area for a block's per-harmonic inputs and outputs.
template <typename T>
struct Work {
  std::vector<Lanes<T>> q, c, s, buf;
  Work(int lmax, int64_t columns)
      : q(tri(lmax + 1, 0)), c(lmax + 1), s(lmax + 1), buf(std::max<int64_t>(columns, 1)) {}
};

// Evaluates every harmonic of a block of vectors (x, y, z) given in the standard frame and hands
// each to sink(l, k, value, grad, hess): l its degree, k its column, grad[3] its gradient and
// hess[6] its Hessian (xx, xy, xz, yy, yz, zz), both in the standard frame and only computed up
// to kOrder. kL >= 0 fixes lmax at compile time so that the loops unroll; kL < 0 reads it from t.
template <typename T, int kOrder, int kL, typename Sink>
E3CORE_ALWAYS_INLINE inline void evaluate(const Tables<T>& t, const Lanes<T>& x, const Lanes<T>& y,
                                          const Lanes<T>& z, Work<T>* work, Sink&& sink) {
  using V = Lanes<T>;
  constexpr bool kFixed = kL >= 0;
  const int L = kFixed ? kL : t.lmax;
  V q_fixed[kFixed ? tri(kL + 1, 0) : 1];
  V c_fixed[kFixed ? kL + 1 : 1];
  V s_fixed[kFixed ? kL + 1 : 1];
  V* q = kFixed ? q_fixed : work->q.data();
  V* c = kFixed ? c_fixed : work->c.data();
  V* s = kFixed ? s_fixed : work->s.data();

  const V r2 = x * x + y * y + z * z;
  c[0] = T(1);
  s[0] = T(0);
  degree_loop < kFixed&& kOrder<2>(
                    1, L + 1,
                    [&](int m) E3CORE_ALWAYS_INLINE {
                      c[m] = x * c[m - 1] - y * s[m - 1];
                      s[m] = x * s[m - 1] + y * c[m - 1];
                    });
  degree_loop < kFixed&& kOrder<2>(
                    0, L + 1,
                    [&](int m) E3CORE_ALWAYS_INLINE {
                      q[tri(m, m)] = t.qmm[m];
                      if (m + 1 <= L) q[tri(m + 1, m)] = (t.a[tri(m + 1, m)] * t.qmm[m]) * z;
                      degree_loop < kFixed&& kOrder<2>(
                                        m + 2, L + 1,
                                        [&](int l) E3CORE_ALWAYS_INLINE {
                                          const int i = tri(l, m);
                                          q[i] = t.a[i] * z * q[tri(l - 1, m)] -
                                                 t.b[i] * r2 * q[tri(l - 2, m)];
                                        });
                    });

  V grad[3] = {T(0), T(0), T(0)};
  V hess[6] = {T(0), T(0), T(0), T(0), T(0), T(0)};
  degree_loop < kFixed&& kOrder<2>(
                    0, L + 1,
                    [&](int l) E3CORE_ALWAYS_INLINE {
                      const T fl = t.f[l];
                      const int64_t center = int64_t(l) * l + l;
                      degree_loop <
                          kFixed&& kOrder<2>(
                              0, l + 1,
                              [&](int m) E3CORE_ALWAYS_INLINE {
                                const int i = tri(l, m);
                                const V Q = fl * q[i];
                                // Derivatives of f_l q_l^m: dQ/dx = x qx, dQ/dy = y qx.
                                V qx = T(0), Qz = T(0);
                                V q2 = T(0), q1z = T(0), Qzz = T(0);
                                if constexpr (kOrder >= 1) {
                                  if (m + 1 <= l - 1) qx = (-fl * t.dx[i]) * q[tri(l - 1, m + 1)];
                                  if (m <= l - 1) Qz = (fl * t.dz[i]) * q[tri(l - 1, m)];
                                }
                                if constexpr (kOrder >= 2) {
                                  if (m + 2 <= l - 2) q2 = (fl * t.h1[i]) * q[tri(l - 2, m + 2)];
                                  if (m + 1 <= l - 2) q1z = (-fl * t.h2[i]) * q[tri(l - 2, m + 1)];
                                  if (m <= l - 2) Qzz = (fl * t.h3[i]) * q[tri(l - 2, m)];
                                }
                                // parts: 0 is the cosine (column +m), 1 the sine (column -m, m >
                                // 0).
                                for (int part = 0; part < (m > 0 ? 2 : 1); ++part) {
                                  const V* p = part == 0 ? c : s;
                                  const V* o =
                                      part == 0 ? s : c;  // the other one, for y-derivatives
                                  const T sign_y = part == 0 ? T(-1) : T(1);
                                  const V& P = p[m];
                                  const int64_t k = part == 0 ? center + m : center - m;
                                  if constexpr (kOrder >= 1) {
                                    // d/dx C_m = m C_{m-1}, d/dy C_m = -m S_{m-1}; d/dx S_m = m
                                    // S_{m-1}, d/dy S_m = m C_{m-1}.
                                    const V Px = m >= 1 ? T(m) * p[m - 1] : V(T(0));
                                    const V Py = m >= 1 ? (sign_y * T(m)) * o[m - 1] : V(T(0));
                                    const V Qx = x * qx, Qy = y * qx;
                                    grad[0] = Qx * P + Q * Px;
                                    grad[1] = Qy * P + Q * Py;
                                    grad[2] = Qz * P;
                                    if constexpr (kOrder >= 2) {
                                      const T mm = T(m) * T(m - 1);
                                      const V Pxx = m >= 2 ? mm * p[m - 2] : V(T(0));
                                      const V Pxy = m >= 2 ? (sign_y * mm) * o[m - 2] : V(T(0));
                                      hess[0] = (qx + x * x * q2) * P + T(2) * Qx * Px + Q * Pxx;
                                      hess[1] = x * y * q2 * P + Qx * Py + Qy * Px + Q * Pxy;
                                      hess[2] = x * q1z * P + Qz * Px;
                                      hess[3] = (qx + y * y * q2) * P + T(2) * Qy * Py - Q * Pxx;
                                      hess[4] = y * q1z * P + Qz * Py;
                                      hess[5] = Qzz * P;
                                    }
                                  }
                                  sink(l, k, Q * P, grad, hess);
                                }
                              });
                    });
}

// Loads count rows of e3nn's xyz into lanes in the standard frame (z, x, y), zero-padded.
template <typename T>
E3CORE_ALWAYS_INLINE inline void load_standard(const T* v, int count, Lanes<T>* p) {
  if (count == Lanes<T>::kSize) {
    split_xyz(v, p[1].v, p[2].v, p[0].v);
    return;
  }
  for (int c = 0; c < 3; ++c) p[c] = T(0);
  for (int j = 0; j < count; ++j) {
    p[0].v[j] = v[3 * j + 2];
    p[1].v[j] = v[3 * j];
    p[2].v[j] = v[3 * j + 1];
  }
}

// Stores the first count lanes of a standard-frame 3-vector p as rows of v in e3nn's order.
template <typename T>
E3CORE_ALWAYS_INLINE inline void store_e3nn(const Lanes<T>* p, int count, T* v) {
  if (count == Lanes<T>::kSize) {
    join_xyz(p[1].v, p[2].v, p[0].v, v);
    return;
  }
  for (int j = 0; j < count; ++j) {
    v[3 * j] = p[1].v[j];
    v[3 * j + 1] = p[2].v[j];
    v[3 * j + 2] = p[0].v[j];
  }
}

// dst[k].v[j] = src[j * columns + k] for the first count rows, zero beyond.
template <typename T>
E3CORE_ALWAYS_INLINE inline void gather_rows(const T* src, int count, int64_t columns,
                                             Lanes<T>* dst) {
  constexpr int kN = Lanes<T>::kSize;
  int64_t k0 = 0;
  if (count == kN) {
    for (; k0 + kN <= columns; k0 += kN) transpose_tile(src + k0, columns, dst[k0].data(), kN);
  }
  for (int j = 0; j < kN; ++j) {
    for (int64_t k = k0; k < columns; ++k) dst[k].v[j] = j < count ? src[j * columns + k] : T(0);
  }
}

// dst[j * columns + k] = src[k].v[j] for the first count rows: whole output rows are written
// contiguously.
template <typename T>
E3CORE_ALWAYS_INLINE inline void scatter_rows(const Lanes<T>* src, int count, int64_t columns,
                                              T* dst) {
  constexpr int kN = Lanes<T>::kSize;
  int64_t k0 = 0;
  if (count == kN) {
    for (; k0 + kN <= columns; k0 += kN) transpose_tile(src[k0].data(), kN, dst + k0, columns);
  }
  for (int j = 0; j < count; ++j) {
    for (int64_t k = k0; k < columns; ++k) dst[j * columns + k] = src[k].v[j];
  }
}

// The inputs of a block after optional normalisation: u = x / max(|x|, eps), and
// apply_jacobian(v) = (du/dx) v, which is symmetric.
template <typename T>
struct Points {
  using V = Lanes<T>;
  V u[3];
  V inv;      // 1 / max(|x|, eps), or 1 when not normalising
  V tangent;  // 1 where |x| > eps: du/dx = (I - u u^T) / |x|; 0 elsewhere: du/dx = inv * I

  E3CORE_ALWAYS_INLINE Points(const T* xyz, int count, bool normalize) {
    load_standard(xyz, count, u);
    inv = T(1);
    tangent = T(0);
    if (normalize) {
      const V r2 = dot3(u, u);
      V r;
      for (int j = 0; j < V::kSize; ++j) r.v[j] = std::sqrt(r2.v[j]);
      // Vector selects rather than per-lane branches. As torch's clamp_min, a NaN length stays
      // NaN (it compares false), so a NaN row gives NaN harmonics.
      const V eps = T(kNormalizeEps);
      tangent.v = r.v > eps.v ? V(T(1)).v : V(T(0)).v;
      inv.v = V(T(1)).v / (r.v < eps.v ? eps.v : r.v);
      for (V& c : u) c = c * inv;
    }
  }

  // (du/dx) v given uv = u . v.
  E3CORE_ALWAYS_INLINE void project(const V* v, const V& uv, V* out) const {
    const V tuv = tangent * uv;
    for (int a = 0; a < 3; ++a) out[a] = inv * (v[a] - u[a] * tuv);
  }

  E3CORE_ALWAYS_INLINE void apply_jacobian(const V* v, V* out) const {
    project(v, dot3(u, v), out);
  }
};

// Hessian (xx, xy, xz, yy, yz, zz) times a vector.
template <typename V>
E3CORE_ALWAYS_INLINE inline void hess_times(const V* h, const V* w, V* out) {
  out[0] = h[0] * w[0] + h[1] * w[1] + h[2] * w[2];
  out[1] = h[1] * w[0] + h[3] * w[1] + h[4] * w[2];
  out[2] = h[2] * w[0] + h[4] * w[1] + h[5] * w[2];
}

constexpr int kFixedDegrees = 8;

// Calls fn(std::integral_constant<int, kL>) with kL = lmax when lmax <= kFixedDegrees, else -1.
template <typename Fn, int kL = 0>
void dispatch_degree(int lmax, Fn&& fn) {
  if constexpr (kL > kFixedDegrees) {
    fn(std::integral_constant<int, -1>{});
  } else {
    if (lmax == kL) {
      fn(std::integral_constant<int, kL>{});
    } else {
      dispatch_degree<Fn, kL + 1>(lmax, std::forward<Fn>(fn));
    }
  }
}

// The block loop, compiled for the CPU's best instruction set; the block body is inlined into it.
template <typename T, typename Block>
void run_blocks(int64_t begin, int64_t end, Work<T>* work, const Block& block) {
  run_fastest([&]() E3CORE_ALWAYS_INLINE {
    for (int64_t i = begin; i < end; i += Lanes<T>::kSize) {
      block(i, int(std::min<int64_t>(Lanes<T>::kSize, end - i)), work);
    }
  });
}

// Runs block(i, count, work) over blocks of the batch (vectors i..i+count-1) in parallel, with
// columns lanes of staging in work.
template <typename T, typename Block>
void for_each_block(const ShOptions& options, int64_t n, int64_t columns, const Executor& exec,
                    const Block& block) {
  constexpr int64_t kB = Lanes<T>::kSize;
  const int64_t blocks = (n + kB - 1) / kB;
  const int64_t grain = std::max<int64_t>(1, 32768 / (kB * sh_dim(options.lmax)));
  exec(blocks, grain, [&](int64_t begin, int64_t end) {
    Work<T> work(options.lmax, columns);
    run_blocks<T>(begin * kB, std::min(n, end * kB), &work, block);
  });
}

}  // namespace

template <typename T>
void spherical_harmonics(const ShOptions& options, const T* xyz, int64_t n, T* sh, T* dsh,
                         const Executor& exec) {
  using V = Lanes<T>;
  check_sh_options(options);
  const Tables<T> t(options);
  const int64_t dim = sh_dim(options.lmax);
  dispatch_degree(options.lmax, [&](auto fixed) {
    constexpr int kL = decltype(fixed)::value;
    if (dsh == nullptr) {
      for_each_block<T>(options, n, dim, exec,
                        [&](int64_t i, int count, Work<T>* work) E3CORE_ALWAYS_INLINE {
                          const Points<T> pt(xyz + 3 * i, count, options.normalize);
                          V* out = work->buf.data();
                          evaluate<T, 0, kL>(t, pt.u[0], pt.u[1], pt.u[2], work,
                                             [&](int, int64_t k, const V& value, const V*, const V*)
                                                 E3CORE_ALWAYS_INLINE { out[k] = value; });
                          scatter_rows(out, count, dim, sh + i * dim);
                        });
    } else {
      for_each_block<T>(
          options, n, 4 * dim, exec, [&](int64_t i, int count, Work<T>* work) E3CORE_ALWAYS_INLINE {
            const Points<T> pt(xyz + 3 * i, count, options.normalize);
            V* out = work->buf.data();
            V* dout = out + dim;  // [3][dim], e3nn's axis order
            evaluate<T, 1, kL>(t, pt.u[0], pt.u[1], pt.u[2], work,
                               [&](int l, int64_t k, const V& value, const V* grad, const V*)
                                   E3CORE_ALWAYS_INLINE {
                                     out[k] = value;
                                     // u . grad Y = l Y: Y is a homogeneous polynomial of degree l.
                                     V g[3];
                                     pt.project(grad, T(l) * value, g);
                                     dout[k] = g[1];
                                     dout[dim + k] = g[2];
                                     dout[2 * dim + k] = g[0];
                                   });
            scatter_rows(out, count, dim, sh + i * dim);
            scatter_rows(dout, count, 3 * dim, dsh + i * 3 * dim);
          });
    }
  });
}

template <typename T>
void spherical_harmonics_vjp(const ShOptions& options, const T* xyz, const T* grad_sh, int64_t n,
                             T* grad_xyz, const Executor& exec) {
  using V = Lanes<T>;
  check_sh_options(options);
  const Tables<T> t(options);
  const int64_t dim = sh_dim(options.lmax);
  dispatch_degree(options.lmax, [&](auto fixed) {
    constexpr int kL = decltype(fixed)::value;
    for_each_block<T>(options, n, dim, exec,
                      [&](int64_t i, int count, Work<T>* work) E3CORE_ALWAYS_INLINE {
                        const Points<T> pt(xyz + 3 * i, count, options.normalize);
                        V* g = work->buf.data();
                        gather_rows(grad_sh + i * dim, count, dim, g);
                        V v[3] = {T(0), T(0), T(0)};
                        evaluate<T, 1, kL>(t, pt.u[0], pt.u[1], pt.u[2], work,
                                           [&](int, int64_t k, const V&, const V* grad, const V*)
                                               E3CORE_ALWAYS_INLINE {
                                                 for (int a = 0; a < 3; ++a) v[a] += g[k] * grad[a];
                                               });
                        V out[3];
                        pt.apply_jacobian(v, out);
                        store_e3nn(out, count, grad_xyz + 3 * i);
                      });
  });
}

template <typename T>
void spherical_harmonics_vjp_backward(const ShOptions& options, const T* xyz, const T* grad_sh,
                                      const T* grad_grad_xyz, int64_t n, T* grad_grad_sh,
                                      T* grad_xyz2, const Executor& exec) {
  using V = Lanes<T>;
  check_sh_options(options);
  if (grad_grad_sh == nullptr && grad_xyz2 == nullptr) return;
  const Tables<T> t(options);
  const int64_t dim = sh_dim(options.lmax);
  // grad_xyz = J(x)^T v(u(x)) with v = sum_k g_k grad Y_k(u) and J = du/dx symmetric, so
  // d(gg . grad_xyz)/dx = J H J gg + (derivative of J contracted with gg and v),
  // where H = sum_k g_k hess Y_k(u).
  auto per_block = [&](auto order, auto fixed, int64_t i, int count,
                       Work<T>* work) E3CORE_ALWAYS_INLINE {
    constexpr int kOrder = decltype(order)::value;
    constexpr int kL = decltype(fixed)::value;
    const Points<T> pt(xyz + 3 * i, count, options.normalize);
    V* g = work->buf.data();
    V* ggsh = g + dim;
    gather_rows(grad_sh + i * dim, count, dim, g);
    V gg[3], w[3];
    load_standard(grad_grad_xyz + 3 * i, count, gg);
    pt.apply_jacobian(gg, w);
    V v[3] = {T(0), T(0), T(0)};
    V hw[3] = {T(0), T(0), T(0)};
    evaluate<T, kOrder, kL>(t, pt.u[0], pt.u[1], pt.u[2], work,
                            [&](int, int64_t k, const V&, const V* grad, const V* hess)
                                E3CORE_ALWAYS_INLINE {
                                  ggsh[k] = dot3(grad, w);
                                  if constexpr (kOrder >= 2) {
                                    V h[3];
                                    hess_times(hess, w, h);
                                    for (int a = 0; a < 3; ++a) {
                                      hw[a] += g[k] * h[a];
                                      v[a] += g[k] * grad[a];
                                    }
                                  }
                                });
    if (grad_grad_sh != nullptr) scatter_rows(ggsh, count, dim, grad_grad_sh + i * dim);
    if constexpr (kOrder >= 2) {
      V out[3];
      pt.apply_jacobian(hw, out);
      // d/dx_j of (I - u u^T)/r, contracted: [-(gg.v) u - gg (u.v) - (gg.u) v
      //                                         + 3 (gg.u)(u.v) u] / r^2, where tangent.
      const V* u = pt.u;
      const V ggv = dot3(gg, v);
      const V uv = dot3(u, v);
      const V ggu = dot3(gg, u);
      const V scale = pt.tangent * pt.inv * pt.inv;
      for (int a = 0; a < 3; ++a) {
        out[a] += scale * (-ggv * u[a] - gg[a] * uv - ggu * v[a] + T(3) * ggu * uv * u[a]);
      }
      store_e3nn(out, count, grad_xyz2 + 3 * i);
    }
  };
  dispatch_degree(options.lmax, [&](auto fixed) {
    for_each_block<T>(options, n, 2 * dim, exec,
                      [&](int64_t i, int count, Work<T>* work) E3CORE_ALWAYS_INLINE {
                        if (grad_xyz2 != nullptr) {
                          per_block(std::integral_constant<int, 2>{}, fixed, i, count, work);
                        } else {
                          per_block(std::integral_constant<int, 1>{}, fixed, i, count, work);
                        }
                      });
  });
}

}  // namespace e3core
