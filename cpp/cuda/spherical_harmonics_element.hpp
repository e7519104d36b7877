// The spherical harmonics of one vector, for the CUDA kernels (one thread per vector) and their
// host tests: the recursion of the CPU kernels (spherical_harmonics_impl.hpp), run order by
// order m so that only a few values of each recursion are live, in registers, for any lmax.
#pragma once

#include <cmath>

#include "e3core/spherical_harmonics.hpp"
#include "host_device.hpp"
#include "spherical_harmonics_tables.hpp"

namespace e3core::cuda_detail {

using sh_detail::tri;

// The flattened sh_detail::Tables of degree lmax (see sh_detail::flatten).
template <typename T>
struct ShTablesView {
  int lmax = 0;
  const T* qmm = nullptr;
  const T *a = nullptr, *b = nullptr, *dx = nullptr, *dz = nullptr;
  const T *h1 = nullptr, *h2 = nullptr, *h3 = nullptr, *f = nullptr;

  E3CORE_HD ShTablesView(int l, const T* flat) : lmax(l), qmm(flat) {
    const int n = tri(l + 1, 0);
    a = qmm + l + 1;
    b = a + n;
    dx = b + n;
    dz = dx + n;
    h1 = dz + n;
    h2 = h1 + n;
    h3 = h2 + n;
    f = h3 + n;
  }
};

// q_l^mc for l = mc, mc + 1, ...: the current value and the two before it.
template <typename T>
struct Chain {
  int mc;
  T q0 = T(0), q1 = T(0), q2 = T(0);  // q_l, q_{l-1}, q_{l-2}

  // Moves to degree l (called for consecutive l).
  E3CORE_HD void advance(const ShTablesView<T>& t, int l, T z, T r2) {
    q2 = q1;
    q1 = q0;
    if (l < mc || mc > t.lmax) {
      q0 = T(0);
    } else if (l == mc) {
      q0 = t.qmm[mc];
    } else if (l == mc + 1) {
      q0 = (t.a[tri(l, mc)] * t.qmm[mc]) * z;
    } else {
      q0 = t.a[tri(l, mc)] * z * q1 - t.b[tri(l, mc)] * r2 * q2;
    }
  }
};

// Hands every harmonic of the standard-frame vector (x, y, z) to sink(l, k, value, grad, hess),
// as the CPU's evaluate does: grad[3] and hess[6] (xx, xy, xz, yy, yz, zz), up to kOrder.
template <typename T, int kOrder, typename Sink>
E3CORE_HD inline void evaluate_vector(const ShTablesView<T>& t, T x, T y, T z, Sink&& sink) {
  const int L = t.lmax;
  const T r2 = x * x + y * y + z * z;
  // C_m + i S_m = (x + i y)^m, and the two orders below.
  T c[3] = {T(1), T(0), T(0)}, s[3] = {T(0), T(0), T(0)};
  for (int m = 0; m <= L; ++m) {
    if (m > 0) {
      c[2] = c[1];
      s[2] = s[1];
      c[1] = c[0];
      s[1] = s[0];
      c[0] = x * c[1] - y * s[1];
      s[0] = x * s[1] + y * c[1];
    }
    Chain<T> q{m}, q_1{m + 1}, q_2{m + 2};  // orders m, m + 1, m + 2
    for (int l = 0; l <= L; ++l) {
      q.advance(t, l, z, r2);
      q_1.advance(t, l, z, r2);
      q_2.advance(t, l, z, r2);
      if (l < m) continue;
      const T fl = t.f[l];
      const int i = tri(l, m);
      const int64_t center = int64_t(l) * l + l;
      const T Q = fl * q.q0;
      T qx = T(0), Qz = T(0), q2 = T(0), q1z = T(0), Qzz = T(0);
      if (kOrder >= 1) {
        if (m + 1 <= l - 1) qx = (-fl * t.dx[i]) * q_1.q1;
        if (m <= l - 1) Qz = (fl * t.dz[i]) * q.q1;
      }
      if (kOrder >= 2) {
        if (m + 2 <= l - 2) q2 = (fl * t.h1[i]) * q_2.q2;
        if (m + 1 <= l - 2) q1z = (-fl * t.h2[i]) * q_1.q2;
        if (m <= l - 2) Qzz = (fl * t.h3[i]) * q.q2;
      }
      for (int part = 0; part < (m > 0 ? 2 : 1); ++part) {
        const T* p = part == 0 ? c : s;
        const T* o = part == 0 ? s : c;  // the other one, for y-derivatives
        const T sign_y = part == 0 ? T(-1) : T(1);
        const int64_t k = part == 0 ? center + m : center - m;
        T grad[3] = {T(0), T(0), T(0)};
        T hess[6] = {T(0), T(0), T(0), T(0), T(0), T(0)};
        if (kOrder >= 1) {
          const T Px = m >= 1 ? T(m) * p[1] : T(0);
          const T Py = m >= 1 ? (sign_y * T(m)) * o[1] : T(0);
          const T Qx = x * qx, Qy = y * qx;
          grad[0] = Qx * p[0] + Q * Px;
          grad[1] = Qy * p[0] + Q * Py;
          grad[2] = Qz * p[0];
          if (kOrder >= 2) {
            const T mm = T(m) * T(m - 1);
            const T Pxx = m >= 2 ? mm * p[2] : T(0);
            const T Pxy = m >= 2 ? (sign_y * mm) * o[2] : T(0);
            hess[0] = (qx + x * x * q2) * p[0] + T(2) * Qx * Px + Q * Pxx;
            hess[1] = x * y * q2 * p[0] + Qx * Py + Qy * Px + Q * Pxy;
            hess[2] = x * q1z * p[0] + Qz * Px;
            hess[3] = (qx + y * y * q2) * p[0] + T(2) * Qy * Py - Q * Pxx;
            hess[4] = y * q1z * p[0] + Qz * Py;
            hess[5] = Qzz * p[0];
          }
        }
        sink(l, k, Q * p[0], grad, hess);
      }
    }
  }
}

template <typename T>
E3CORE_HD inline T dot3(const T* a, const T* b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

// One input vector in the standard frame (z, x, y) after the optional normalisation
// u = x / max(|x|, eps); apply_jacobian(v) = (du/dx) v, which is symmetric.
template <typename T>
struct Point {
  T u[3];
  T inv = T(1);      // 1 / max(|x|, eps), or 1 when not normalising
  T tangent = T(0);  // 1 where |x| > eps: du/dx = (I - u u^T) / |x|; 0 elsewhere: inv * I

  E3CORE_HD Point(const T* xyz, bool normalize) {
    u[0] = xyz[2];
    u[1] = xyz[0];
    u[2] = xyz[1];
    if (normalize) {
      const T r = std::sqrt(dot3(u, u));
      const T eps = T(sh_detail::kNormalizeEps);
      // As torch's clamp_min, a NaN length stays NaN.
      tangent = r > eps ? T(1) : T(0);
      inv = T(1) / (r < eps ? eps : r);
      for (T& c : u) c *= inv;
    }
  }

  // (du/dx) v given uv = u . v.
  E3CORE_HD void project(const T* v, T uv, T* out) const {
    const T tuv = tangent * uv;
    for (int a = 0; a < 3; ++a) out[a] = inv * (v[a] - u[a] * tuv);
  }
  E3CORE_HD void apply_jacobian(const T* v, T* out) const { project(v, dot3(u, v), out); }
};

// Writes a standard-frame 3-vector p in e3nn's order.
template <typename T>
E3CORE_HD inline void store_e3nn(const T* p, T* v) {
  v[0] = p[1];
  v[1] = p[2];
  v[2] = p[0];
}

// The harmonics (and, when dsh is not null, their gradients) of vector n.
template <typename T>
E3CORE_HD inline void sh_vector(const ShTablesView<T>& t, bool normalize, const T* xyz, int64_t n,
                                T* sh, T* dsh) {
  const int64_t dim = sh_dim(t.lmax);
  const Point<T> pt(xyz + 3 * n, normalize);
  T* out = sh + n * dim;
  if (dsh == nullptr) {
    evaluate_vector<T, 0>(t, pt.u[0], pt.u[1], pt.u[2],
                          [&](int, int64_t k, T value, const T*, const T*) { out[k] = value; });
    return;
  }
  T* dout = dsh + n * 3 * dim;  // [3][dim], e3nn's axis order
  evaluate_vector<T, 1>(t, pt.u[0], pt.u[1], pt.u[2],
                        [&](int l, int64_t k, T value, const T* grad, const T*) {
                          out[k] = value;
                          // u . grad Y = l Y: Y is a homogeneous polynomial of degree l.
                          T g[3];
                          pt.project(grad, T(l) * value, g);
                          dout[k] = g[1];
                          dout[dim + k] = g[2];
                          dout[2 * dim + k] = g[0];
                        });
}

// grad_xyz of vector n from grad_sh (see spherical_harmonics_vjp).
template <typename T>
E3CORE_HD inline void sh_vjp_vector(const ShTablesView<T>& t, bool normalize, const T* xyz,
                                    const T* grad_sh, int64_t n, T* grad_xyz) {
  const int64_t dim = sh_dim(t.lmax);
  const Point<T> pt(xyz + 3 * n, normalize);
  const T* g = grad_sh + n * dim;
  T v[3] = {T(0), T(0), T(0)};
  evaluate_vector<T, 1>(t, pt.u[0], pt.u[1], pt.u[2],
                        [&](int, int64_t k, T, const T* grad, const T*) {
                          for (int a = 0; a < 3; ++a) v[a] += g[k] * grad[a];
                        });
  T out[3];
  pt.apply_jacobian(v, out);
  store_e3nn(out, grad_xyz + 3 * n);
}

// grad_grad_sh and grad_xyz2 of vector n (see spherical_harmonics_vjp_backward); either may be
// null.
template <typename T>
E3CORE_HD inline void sh_vjp_backward_vector(const ShTablesView<T>& t, bool normalize, const T* xyz,
                                             const T* grad_sh, const T* grad_grad_xyz, int64_t n,
                                             T* grad_grad_sh, T* grad_xyz2) {
  const int64_t dim = sh_dim(t.lmax);
  const Point<T> pt(xyz + 3 * n, normalize);
  const T* g = grad_sh + n * dim;
  const T* ggx = grad_grad_xyz + 3 * n;
  const T gg[3] = {ggx[2], ggx[0], ggx[1]};
  T w[3];
  pt.apply_jacobian(gg, w);
  T* ggsh = grad_grad_sh != nullptr ? grad_grad_sh + n * dim : nullptr;
  T v[3] = {T(0), T(0), T(0)};
  T hw[3] = {T(0), T(0), T(0)};
  const auto sink = [&](int, int64_t k, T, const T* grad, const T* hess) {
    if (ggsh != nullptr) ggsh[k] = dot3(grad, w);
    if (grad_xyz2 != nullptr) {
      const T h[3] = {hess[0] * w[0] + hess[1] * w[1] + hess[2] * w[2],
                      hess[1] * w[0] + hess[3] * w[1] + hess[4] * w[2],
                      hess[2] * w[0] + hess[4] * w[1] + hess[5] * w[2]};
      for (int a = 0; a < 3; ++a) {
        hw[a] += g[k] * h[a];
        v[a] += g[k] * grad[a];
      }
    }
  };
  if (grad_xyz2 == nullptr) {
    evaluate_vector<T, 1>(t, pt.u[0], pt.u[1], pt.u[2], sink);
    return;
  }
  evaluate_vector<T, 2>(t, pt.u[0], pt.u[1], pt.u[2], sink);
  T out[3];
  pt.apply_jacobian(hw, out);
  // d/dx_j of (I - u u^T)/r, contracted with gg and v (see the CPU kernel).
  const T* u = pt.u;
  const T ggv = dot3(gg, v), uv = dot3(u, v), ggu = dot3(gg, u);
  const T scale = pt.tangent * pt.inv * pt.inv;
  for (int a = 0; a < 3; ++a) {
    out[a] += scale * (-ggv * u[a] - gg[a] * uv - ggu * v[a] + T(3) * ggu * uv * u[a]);
  }
  store_e3nn(out, grad_xyz2 + 3 * n);
}

}  // namespace e3core::cuda_detail
