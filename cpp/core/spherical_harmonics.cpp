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
#include "e3core/spherical_harmonics.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace e3core {

ShNormalization parse_sh_normalization(const std::string& name) {
  if (name == "integral") return ShNormalization::Integral;
  if (name == "component") return ShNormalization::Component;
  if (name == "norm") return ShNormalization::Norm;
  throw std::invalid_argument("normalization is \"" + name +
                              "\", expected \"integral\", \"component\" or \"norm\"");
}

void check_sh_options(const ShOptions& options) {
  if (options.lmax < 0 || options.lmax > kShMaxDegree) {
    throw std::invalid_argument("lmax is " + std::to_string(options.lmax) +
                                ", expected 0 <= lmax <= " + std::to_string(kShMaxDegree));
  }
}

namespace {

constexpr double kPi = 3.14159265358979323846;
// torch.nn.functional.normalize's default eps, which e3nn uses.
constexpr double kNormalizeEps = 1e-12;

constexpr int tri(int l, int m) { return l * (l + 1) / 2 + m; }

// K_l^m / K_l'^m' without forming factorials (they overflow past l ~ 85).
double k_ratio(int l, int m, int lp, int mp) {
  // (l-m)!/(l+m)! * (l'+m')!/(l'-m')!, as a product of few terms since l - l' <= 2.
  double r = double(2 * l + 1) / double(2 * lp + 1);
  for (int j = l - m + 1; j <= lp - mp; ++j) r /= j;
  for (int j = lp - mp + 1; j <= l - m; ++j) r *= j;
  for (int j = l + m + 1; j <= lp + mp; ++j) r *= j;
  for (int j = lp + mp + 1; j <= l + m; ++j) r /= j;
  const double two = double(m > 0) - double(mp > 0);  // the sqrt(2) of m > 0
  return std::sqrt(r * std::pow(2.0, two));
}

// Everything that depends on (lmax, normalization) alone, indexed by tri(l, m), m >= 0.
template <typename T>
struct Tables {
  int lmax;
  std::vector<T> qmm;   // q_m^m
  std::vector<T> a, b;  // q_l^m = a z q_{l-1}^m - b r^2 q_{l-2}^m
  std::vector<T> dx;    // dq_l^m/dx = -x dx q_{l-1}^{m+1}
  std::vector<T> dz;    // dq_l^m/dz = dz q_{l-1}^m
  std::vector<T> h1;    // d2 q_l^m/dx2 = -dx q_{l-1}^{m+1} + x^2 h1 q_{l-2}^{m+2}
  std::vector<T> h2;    // d2 q_l^m/dxdz = -x h2 q_{l-2}^{m+1}
  std::vector<T> h3;    // d2 q_l^m/dz2 = h3 q_{l-2}^m
  std::vector<T> f;     // block scale per l

  Tables(const ShOptions& o) : lmax(o.lmax) {
    const int n = tri(lmax + 1, 0);
    qmm.assign(lmax + 1, T(0));
    for (auto* v : {&a, &b, &dx, &dz, &h1, &h2, &h3}) v->assign(n, T(0));
    double q = std::sqrt(1.0 / (4.0 * kPi));  // K_0^0 Q_0^0
    for (int m = 0; m <= lmax; ++m) {
      // Q_m^m = (2m-1)!! Q_{m-1}^{m-1}
      if (m > 0) q *= (2 * m - 1) * k_ratio(m, m, m - 1, m - 1);
      qmm[m] = T(q);
    }
    for (int l = 0; l <= lmax; ++l) {
      for (int m = 0; m <= l; ++m) {
        const int i = tri(l, m);
        if (l >= m + 1) a[i] = T((2.0 * l - 1) / (l - m) * k_ratio(l, m, l - 1, m));
        if (l >= m + 2) b[i] = T(double(l + m - 1) / (l - m) * k_ratio(l, m, l - 2, m));
        if (m + 1 <= l - 1) dx[i] = T(k_ratio(l, m, l - 1, m + 1));
        if (m <= l - 1) dz[i] = T((l + m) * k_ratio(l, m, l - 1, m));
        if (m + 2 <= l - 2) h1[i] = T(k_ratio(l, m, l - 2, m + 2));
        if (m + 1 <= l - 2) h2[i] = T((l + m) * k_ratio(l, m, l - 2, m + 1));
        if (m <= l - 2) h3[i] = T(double(l + m) * (l + m - 1) * k_ratio(l, m, l - 2, m));
      }
    }
    f.resize(lmax + 1);
    for (int l = 0; l <= lmax; ++l) {
      switch (o.normalization) {
        case ShNormalization::Integral:
          f[l] = T(1);
          break;
        case ShNormalization::Component:
          f[l] = T(std::sqrt(4.0 * kPi));
          break;
        case ShNormalization::Norm:
          f[l] = T(std::sqrt(4.0 * kPi / (2 * l + 1)));
          break;
      }
    }
  }
};

// Scratch for one vector when lmax is only known at run time.
template <typename T>
struct Work {
  std::vector<T> q, c, s;
  explicit Work(int lmax) : q(tri(lmax + 1, 0)), c(lmax + 1), s(lmax + 1) {}
};

// Evaluates every harmonic of one vector (x, y, z) given in the standard frame and hands each to
// sink(k, value, grad, hess): k its column, grad[3] its gradient and hess[6] its Hessian
// (xx, xy, xz, yy, yz, zz), both in the standard frame and only computed up to kOrder.
// kL >= 0 fixes lmax at compile time so that the loops unroll; kL < 0 reads it from t.
template <typename T, int kOrder, int kL, typename Sink>
inline void evaluate(const Tables<T>& t, T x, T y, T z, Work<T>* work, Sink&& sink) {
  constexpr bool kFixed = kL >= 0;
  const int L = kFixed ? kL : t.lmax;
  T q_fixed[kFixed ? tri(kL + 1, 0) : 1];
  T c_fixed[kFixed ? kL + 1 : 1];
  T s_fixed[kFixed ? kL + 1 : 1];
  T* q = kFixed ? q_fixed : work->q.data();
  T* c = kFixed ? c_fixed : work->c.data();
  T* s = kFixed ? s_fixed : work->s.data();

  const T r2 = x * x + y * y + z * z;
  c[0] = T(1);
  s[0] = T(0);
  for (int m = 1; m <= L; ++m) {
    c[m] = x * c[m - 1] - y * s[m - 1];
    s[m] = x * s[m - 1] + y * c[m - 1];
  }
  for (int m = 0; m <= L; ++m) {
    q[tri(m, m)] = t.qmm[m];
    if (m + 1 <= L) q[tri(m + 1, m)] = t.a[tri(m + 1, m)] * z * t.qmm[m];
    for (int l = m + 2; l <= L; ++l) {
      const int i = tri(l, m);
      q[i] = t.a[i] * z * q[tri(l - 1, m)] - t.b[i] * r2 * q[tri(l - 2, m)];
    }
  }

  T grad[3] = {T(0), T(0), T(0)};
  T hess[6] = {T(0), T(0), T(0), T(0), T(0), T(0)};
  for (int l = 0; l <= L; ++l) {
    const T fl = t.f[l];
    const int64_t center = int64_t(l) * l + l;
    for (int m = 0; m <= l; ++m) {
      const int i = tri(l, m);
      const T Q = fl * q[i];
      // Derivatives of f_l q_l^m: dQ/dx = x qx, dQ/dy = y qx.
      T qx = T(0), Qz = T(0);
      T q2 = T(0), q1z = T(0), Qzz = T(0);
      if constexpr (kOrder >= 1) {
        if (m + 1 <= l - 1) qx = -fl * t.dx[i] * q[tri(l - 1, m + 1)];
        if (m <= l - 1) Qz = fl * t.dz[i] * q[tri(l - 1, m)];
      }
      if constexpr (kOrder >= 2) {
        if (m + 2 <= l - 2) q2 = fl * t.h1[i] * q[tri(l - 2, m + 2)];
        if (m + 1 <= l - 2) q1z = -fl * t.h2[i] * q[tri(l - 2, m + 1)];
        if (m <= l - 2) Qzz = fl * t.h3[i] * q[tri(l - 2, m)];
      }
      // parts: 0 is the cosine (column +m), 1 the sine (column -m, m > 0).
      for (int part = 0; part < (m > 0 ? 2 : 1); ++part) {
        const T* p = part == 0 ? c : s;
        const T* o = part == 0 ? s : c;  // the other one, for y-derivatives
        const T sign_y = part == 0 ? T(-1) : T(1);
        const T P = p[m];
        const int64_t k = part == 0 ? center + m : center - m;
        if constexpr (kOrder >= 1) {
          // d/dx C_m = m C_{m-1}, d/dy C_m = -m S_{m-1}; d/dx S_m = m S_{m-1}, d/dy S_m = m
          // C_{m-1}.
          const T Px = m >= 1 ? T(m) * p[m - 1] : T(0);
          const T Py = m >= 1 ? sign_y * T(m) * o[m - 1] : T(0);
          const T Qx = x * qx, Qy = y * qx;
          grad[0] = Qx * P + Q * Px;
          grad[1] = Qy * P + Q * Py;
          grad[2] = Qz * P;
          if constexpr (kOrder >= 2) {
            const T mm = T(m) * T(m - 1);
            const T Pxx = m >= 2 ? mm * p[m - 2] : T(0);
            const T Pxy = m >= 2 ? sign_y * mm * o[m - 2] : T(0);
            hess[0] = (qx + x * x * q2) * P + T(2) * Qx * Px + Q * Pxx;
            hess[1] = x * y * q2 * P + Qx * Py + Qy * Px + Q * Pxy;
            hess[2] = x * q1z * P + Qz * Px;
            hess[3] = (qx + y * y * q2) * P + T(2) * Qy * Py - Q * Pxx;
            hess[4] = y * q1z * P + Qz * Py;
            hess[5] = Qzz * P;
          }
        }
        sink(k, Q * P, grad, hess);
      }
    }
  }
}

// Loads row i of e3nn's xyz into the standard frame (z, x, y).
template <typename T>
inline void load_standard(const T* v, T* p) {
  p[0] = v[2];
  p[1] = v[0];
  p[2] = v[1];
}

// Stores a standard-frame 3-vector p at v in e3nn's axis order.
template <typename T>
inline void store_e3nn(const T* p, T* v, int64_t stride = 1) {
  v[0] = p[1];
  v[stride] = p[2];
  v[2 * stride] = p[0];
}

// The input of one vector after optional normalisation: u = x / max(|x|, eps), and
// apply_jacobian(v) = (du/dx) v, which is symmetric.
template <typename T>
struct Point {
  T u[3];
  T inv;         // 1 / max(|x|, eps), or 1 when not normalising
  bool tangent;  // |x| > eps: du/dx = (I - u u^T) / |x|; otherwise inv * I

  Point(const T* xyz, bool normalize) {
    load_standard(xyz, u);
    tangent = false;
    inv = T(1);
    if (normalize) {
      const T r = std::sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
      tangent = r > T(kNormalizeEps);
      inv = T(1) / std::max(r, T(kNormalizeEps));
      for (T& c : u) c *= inv;
    }
  }

  void apply_jacobian(const T* v, T* out) const {
    const T uv = tangent ? u[0] * v[0] + u[1] * v[1] + u[2] * v[2] : T(0);
    for (int a = 0; a < 3; ++a) out[a] = inv * (v[a] - u[a] * uv);
  }
};

// Hessian (xx, xy, xz, yy, yz, zz) times a vector.
template <typename T>
inline void hess_times(const T* h, const T* w, T* out) {
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

// Runs body(i, point, work) over the batch with the degree fixed at compile time when possible.
template <typename T, typename Body>
void for_each_vector(const ShOptions& options, int64_t n, const Executor& exec, Body&& body) {
  const int64_t grain = std::max<int64_t>(1, 32768 / sh_dim(options.lmax));
  exec(n, grain, [&](int64_t begin, int64_t end) {
    Work<T> work(options.lmax);
    for (int64_t i = begin; i < end; ++i) body(i, &work);
  });
}

}  // namespace

template <typename T>
void spherical_harmonics(const ShOptions& options, const T* xyz, int64_t n, T* sh, T* dsh,
                         const Executor& exec) {
  check_sh_options(options);
  const Tables<T> t(options);
  const int64_t dim = sh_dim(options.lmax);
  dispatch_degree(options.lmax, [&](auto fixed) {
    constexpr int kL = decltype(fixed)::value;
    if (dsh == nullptr) {
      for_each_vector<T>(options, n, exec, [&](int64_t i, Work<T>* work) {
        const Point<T> pt(xyz + 3 * i, options.normalize);
        T* out = sh + i * dim;
        evaluate<T, 0, kL>(t, pt.u[0], pt.u[1], pt.u[2], work,
                           [&](int64_t k, T value, const T*, const T*) { out[k] = value; });
      });
    } else {
      for_each_vector<T>(options, n, exec, [&](int64_t i, Work<T>* work) {
        const Point<T> pt(xyz + 3 * i, options.normalize);
        T* out = sh + i * dim;
        T* dout = dsh + i * 3 * dim;
        evaluate<T, 1, kL>(t, pt.u[0], pt.u[1], pt.u[2], work,
                           [&](int64_t k, T value, const T* grad, const T*) {
                             out[k] = value;
                             T g[3];
                             pt.apply_jacobian(grad, g);
                             store_e3nn(g, dout + k, dim);
                           });
      });
    }
  });
}

template <typename T>
void spherical_harmonics_vjp(const ShOptions& options, const T* xyz, const T* grad_sh, int64_t n,
                             T* grad_xyz, const Executor& exec) {
  check_sh_options(options);
  const Tables<T> t(options);
  const int64_t dim = sh_dim(options.lmax);
  dispatch_degree(options.lmax, [&](auto fixed) {
    constexpr int kL = decltype(fixed)::value;
    for_each_vector<T>(options, n, exec, [&](int64_t i, Work<T>* work) {
      const Point<T> pt(xyz + 3 * i, options.normalize);
      const T* g = grad_sh + i * dim;
      T v[3] = {T(0), T(0), T(0)};
      evaluate<T, 1, kL>(t, pt.u[0], pt.u[1], pt.u[2], work,
                         [&](int64_t k, T, const T* grad, const T*) {
                           for (int a = 0; a < 3; ++a) v[a] += g[k] * grad[a];
                         });
      T out[3];
      pt.apply_jacobian(v, out);
      store_e3nn(out, grad_xyz + 3 * i);
    });
  });
}

template <typename T>
void spherical_harmonics_vjp_backward(const ShOptions& options, const T* xyz, const T* grad_sh,
                                      const T* grad_grad_xyz, int64_t n, T* grad_grad_sh,
                                      T* grad_xyz2, const Executor& exec) {
  check_sh_options(options);
  if (grad_grad_sh == nullptr && grad_xyz2 == nullptr) return;
  const Tables<T> t(options);
  const int64_t dim = sh_dim(options.lmax);
  // grad_xyz = J(x)^T v(u(x)) with v = sum_k g_k grad Y_k(u) and J = du/dx symmetric, so
  // d(gg . grad_xyz)/dx = J H J gg + (derivative of J contracted with gg and v),
  // where H = sum_k g_k hess Y_k(u).
  auto per_vector = [&](auto order, auto fixed, int64_t i, Work<T>* work) {
    constexpr int kOrder = decltype(order)::value;
    constexpr int kL = decltype(fixed)::value;
    const Point<T> pt(xyz + 3 * i, options.normalize);
    const T* g = grad_sh + i * dim;
    T gg[3], w[3];
    load_standard(grad_grad_xyz + 3 * i, gg);
    pt.apply_jacobian(gg, w);
    T v[3] = {T(0), T(0), T(0)};
    T hw[3] = {T(0), T(0), T(0)};
    T* ggsh = grad_grad_sh == nullptr ? nullptr : grad_grad_sh + i * dim;
    evaluate<T, kOrder, kL>(t, pt.u[0], pt.u[1], pt.u[2], work,
                            [&](int64_t k, T, const T* grad, const T* hess) {
                              if (ggsh != nullptr) {
                                ggsh[k] = grad[0] * w[0] + grad[1] * w[1] + grad[2] * w[2];
                              }
                              if constexpr (kOrder >= 2) {
                                T h[3];
                                hess_times(hess, w, h);
                                for (int a = 0; a < 3; ++a) {
                                  hw[a] += g[k] * h[a];
                                  v[a] += g[k] * grad[a];
                                }
                              }
                            });
    if constexpr (kOrder >= 2) {
      T out[3];
      pt.apply_jacobian(hw, out);
      if (pt.tangent) {
        // d/dx_j of (I - u u^T)/r, contracted: [-(gg.v) u - gg (u.v) - (gg.u) v
        //                                         + 3 (gg.u)(u.v) u] / r^2
        const T* u = pt.u;
        const T ggv = gg[0] * v[0] + gg[1] * v[1] + gg[2] * v[2];
        const T uv = u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
        const T ggu = gg[0] * u[0] + gg[1] * u[1] + gg[2] * u[2];
        const T inv2 = pt.inv * pt.inv;
        for (int a = 0; a < 3; ++a) {
          out[a] += inv2 * (-ggv * u[a] - gg[a] * uv - ggu * v[a] + T(3) * ggu * uv * u[a]);
        }
      }
      store_e3nn(out, grad_xyz2 + 3 * i);
    }
  };
  dispatch_degree(options.lmax, [&](auto fixed) {
    for_each_vector<T>(options, n, exec, [&](int64_t i, Work<T>* work) {
      if (grad_xyz2 != nullptr) {
        per_vector(std::integral_constant<int, 2>{}, fixed, i, work);
      } else {
        per_vector(std::integral_constant<int, 1>{}, fixed, i, work);
      }
    });
  });
}

#define E3CORE_INSTANTIATE(T)                                                                 \
  template void spherical_harmonics<T>(const ShOptions&, const T*, int64_t, T*, T*,           \
                                       const Executor&);                                      \
  template void spherical_harmonics_vjp<T>(const ShOptions&, const T*, const T*, int64_t, T*, \
                                           const Executor&);                                  \
  template void spherical_harmonics_vjp_backward<T>(const ShOptions&, const T*, const T*,     \
                                                    const T*, int64_t, T*, T*, const Executor&);
E3CORE_INSTANTIATE(float)
E3CORE_INSTANTIATE(double)
#undef E3CORE_INSTANTIATE

}  // namespace e3core
