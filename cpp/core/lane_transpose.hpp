// Transposes of 32-byte vectors in registers, for kernels that compute across lanes (one point
// per lane) but read and write whole rows per point: square tiles (8 x 8 floats, 4 x 4 doubles)
// and rows of 3-vectors.
//
// Written with __builtin_shufflevector on GNU vectors so that each instruction set gets its own
// shuffles (unpack, shufps and a 128-bit permute on AVX2; pairs of SSE shuffles on baseline
// x86-64). Element-by-element copies compile to gathers and blends, which cost more than
// computing the spherical harmonics they move (measured: half of l = 3's forward time).
#pragma once

#include <cstdint>
#include <type_traits>

#include "cpu_dispatch.hpp"

#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define E3CORE_HAS_SHUFFLEVECTOR 1
#endif

// Vectors are passed by value only between always-inlined functions, so the ABI warning (a
// 32-byte vector without AVX) concerns calls that never happen.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace e3core {

/// Lanes of a 32-byte vector of T.
template <typename T>
constexpr int kTransposeLanes = 32 / int(sizeof(T));

namespace transpose_detail {
typedef float F8 __attribute__((vector_size(32)));
typedef double D4 __attribute__((vector_size(32)));
}  // namespace transpose_detail

/// The 32-byte GNU vector of T (float or double). Chosen from two plain typedefs: GCC drops the
/// attributes of a vector typedef that depends on a template parameter.
template <typename T>
using LaneVec = std::conditional_t<sizeof(T) == 4, transpose_detail::F8, transpose_detail::D4>;

#if defined(E3CORE_HAS_SHUFFLEVECTOR)
namespace transpose_detail {

E3CORE_ALWAYS_INLINE inline void transpose(F8* r) {
  const F8 t0 = __builtin_shufflevector(r[0], r[1], 0, 8, 1, 9, 4, 12, 5, 13);
  const F8 t1 = __builtin_shufflevector(r[0], r[1], 2, 10, 3, 11, 6, 14, 7, 15);
  const F8 t2 = __builtin_shufflevector(r[2], r[3], 0, 8, 1, 9, 4, 12, 5, 13);
  const F8 t3 = __builtin_shufflevector(r[2], r[3], 2, 10, 3, 11, 6, 14, 7, 15);
  const F8 t4 = __builtin_shufflevector(r[4], r[5], 0, 8, 1, 9, 4, 12, 5, 13);
  const F8 t5 = __builtin_shufflevector(r[4], r[5], 2, 10, 3, 11, 6, 14, 7, 15);
  const F8 t6 = __builtin_shufflevector(r[6], r[7], 0, 8, 1, 9, 4, 12, 5, 13);
  const F8 t7 = __builtin_shufflevector(r[6], r[7], 2, 10, 3, 11, 6, 14, 7, 15);
  const F8 s0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
  const F8 s1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
  const F8 s2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
  const F8 s3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
  const F8 s4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13);
  const F8 s5 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
  const F8 s6 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13);
  const F8 s7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
  r[0] = __builtin_shufflevector(s0, s4, 0, 1, 2, 3, 8, 9, 10, 11);
  r[1] = __builtin_shufflevector(s1, s5, 0, 1, 2, 3, 8, 9, 10, 11);
  r[2] = __builtin_shufflevector(s2, s6, 0, 1, 2, 3, 8, 9, 10, 11);
  r[3] = __builtin_shufflevector(s3, s7, 0, 1, 2, 3, 8, 9, 10, 11);
  r[4] = __builtin_shufflevector(s0, s4, 4, 5, 6, 7, 12, 13, 14, 15);
  r[5] = __builtin_shufflevector(s1, s5, 4, 5, 6, 7, 12, 13, 14, 15);
  r[6] = __builtin_shufflevector(s2, s6, 4, 5, 6, 7, 12, 13, 14, 15);
  r[7] = __builtin_shufflevector(s3, s7, 4, 5, 6, 7, 12, 13, 14, 15);
}

E3CORE_ALWAYS_INLINE inline void transpose(D4* r) {
  const D4 t0 = __builtin_shufflevector(r[0], r[1], 0, 4, 2, 6);
  const D4 t1 = __builtin_shufflevector(r[0], r[1], 1, 5, 3, 7);
  const D4 t2 = __builtin_shufflevector(r[2], r[3], 0, 4, 2, 6);
  const D4 t3 = __builtin_shufflevector(r[2], r[3], 1, 5, 3, 7);
  r[0] = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
  r[1] = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
  r[2] = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
  r[3] = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
}

// Rows of 3-vectors p[0..3n) to and from the vectors of their x, y and z.
E3CORE_ALWAYS_INLINE inline void split3(const F8& a, const F8& b, const F8& c, F8* v) {
  const F8 x = __builtin_shufflevector(a, b, 0, 3, 6, 9, 12, 15, 0, 0);
  const F8 y = __builtin_shufflevector(a, b, 1, 4, 7, 10, 13, 0, 0, 0);
  const F8 z = __builtin_shufflevector(a, b, 2, 5, 8, 11, 14, 0, 0, 0);
  v[0] = __builtin_shufflevector(x, c, 0, 1, 2, 3, 4, 5, 10, 13);
  v[1] = __builtin_shufflevector(y, c, 0, 1, 2, 3, 4, 8, 11, 14);
  v[2] = __builtin_shufflevector(z, c, 0, 1, 2, 3, 4, 9, 12, 15);
}

E3CORE_ALWAYS_INLINE inline void join3(const F8* v, F8* a, F8* b, F8* c) {
  const F8 ta = __builtin_shufflevector(v[0], v[1], 0, 8, 0, 1, 9, 0, 2, 10);
  const F8 tb = __builtin_shufflevector(v[0], v[1], 0, 3, 11, 0, 4, 12, 0, 5);
  const F8 tc = __builtin_shufflevector(v[0], v[1], 13, 0, 6, 14, 0, 7, 15, 0);
  *a = __builtin_shufflevector(ta, v[2], 0, 1, 8, 3, 4, 9, 6, 7);
  *b = __builtin_shufflevector(tb, v[2], 10, 1, 2, 11, 4, 5, 12, 7);
  *c = __builtin_shufflevector(tc, v[2], 0, 13, 2, 3, 14, 5, 6, 15);
}

E3CORE_ALWAYS_INLINE inline void split3(const D4& a, const D4& b, const D4& c, D4* v) {
  const D4 x = __builtin_shufflevector(a, b, 0, 3, 6, 0);
  const D4 y = __builtin_shufflevector(a, b, 1, 4, 7, 0);
  const D4 z = __builtin_shufflevector(a, b, 2, 5, 0, 0);
  v[0] = __builtin_shufflevector(x, c, 0, 1, 2, 5);
  v[1] = __builtin_shufflevector(y, c, 0, 1, 2, 6);
  v[2] = __builtin_shufflevector(z, c, 0, 1, 4, 7);
}

E3CORE_ALWAYS_INLINE inline void join3(const D4* v, D4* a, D4* b, D4* c) {
  const D4 ta = __builtin_shufflevector(v[0], v[1], 0, 4, 0, 1);
  const D4 tb = __builtin_shufflevector(v[0], v[1], 5, 0, 2, 6);
  const D4 tc = __builtin_shufflevector(v[0], v[1], 0, 3, 7, 0);
  *a = __builtin_shufflevector(ta, v[2], 0, 1, 4, 3);
  *b = __builtin_shufflevector(tb, v[2], 0, 5, 2, 3);
  *c = __builtin_shufflevector(tc, v[2], 6, 1, 2, 7);
}

// Unaligned loads and stores as plain vector moves (memcpy into a local array kept it on the
// stack: a copy loop, then the shuffles from memory).
typedef float F8u __attribute__((vector_size(32), aligned(4)));
typedef double D4u __attribute__((vector_size(32), aligned(8)));

E3CORE_ALWAYS_INLINE inline F8 load(const float* p) { return *reinterpret_cast<const F8u*>(p); }
E3CORE_ALWAYS_INLINE inline D4 load(const double* p) { return *reinterpret_cast<const D4u*>(p); }
E3CORE_ALWAYS_INLINE inline void store(float* p, const F8& v) { *reinterpret_cast<F8u*>(p) = v; }
E3CORE_ALWAYS_INLINE inline void store(double* p, const D4& v) { *reinterpret_cast<D4u*>(p) = v; }

}  // namespace transpose_detail
#endif

/// Transposes a square tile of kTransposeLanes<T> vectors: vector a (kTransposeLanes<T>
/// consecutive values at src + a * src_stride) becomes lane a of every vector b written at
/// dst + b * dst_stride: dst[b * dst_stride + a] = src[a * src_stride + b]. Unaligned either way;
/// src and dst must not overlap.
template <typename T>
E3CORE_ALWAYS_INLINE inline void transpose_tile(const T* src, int64_t src_stride, T* dst,
                                                int64_t dst_stride) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "float or double");
  constexpr int kN = kTransposeLanes<T>;
#if defined(E3CORE_HAS_SHUFFLEVECTOR)
  using V = LaneVec<T>;
  V r[kN];
  for (int a = 0; a < kN; ++a) r[a] = transpose_detail::load(src + a * src_stride);
  transpose_detail::transpose(r);
  for (int b = 0; b < kN; ++b) transpose_detail::store(dst + b * dst_stride, r[b]);
#else
  for (int a = 0; a < kN; ++a) {
    for (int b = 0; b < kN; ++b) dst[b * dst_stride + a] = src[a * src_stride + b];
  }
#endif
}

/// Splits kTransposeLanes<T> rows of 3-vectors (p, contiguous) into their components:
/// x[j] = p[3 * j], y[j] = p[3 * j + 1], z[j] = p[3 * j + 2].
template <typename T>
E3CORE_ALWAYS_INLINE inline void split_xyz(const T* p, LaneVec<T>& x, LaneVec<T>& y,
                                           LaneVec<T>& z) {
  constexpr int kN = kTransposeLanes<T>;
#if defined(E3CORE_HAS_SHUFFLEVECTOR)
  using transpose_detail::load;
  LaneVec<T> v[3];
  transpose_detail::split3(load(p), load(p + kN), load(p + 2 * kN), v);
  x = v[0];
  y = v[1];
  z = v[2];
#else
  for (int j = 0; j < kN; ++j) {
    x[j] = p[3 * j];
    y[j] = p[3 * j + 1];
    z[j] = p[3 * j + 2];
  }
#endif
}

/// The inverse of split_xyz: p[3 * j] = x[j], p[3 * j + 1] = y[j], p[3 * j + 2] = z[j].
template <typename T>
E3CORE_ALWAYS_INLINE inline void join_xyz(const LaneVec<T>& x, const LaneVec<T>& y,
                                          const LaneVec<T>& z, T* p) {
  constexpr int kN = kTransposeLanes<T>;
#if defined(E3CORE_HAS_SHUFFLEVECTOR)
  using transpose_detail::store;
  const LaneVec<T> v[3] = {x, y, z};
  LaneVec<T> a, b, c;
  transpose_detail::join3(v, &a, &b, &c);
  store(p, a);
  store(p + kN, b);
  store(p + 2 * kN, c);
#else
  for (int j = 0; j < kN; ++j) {
    p[3 * j] = x[j];
    p[3 * j + 1] = y[j];
    p[3 * j + 2] = z[j];
  }
#endif
}

}  // namespace e3core
