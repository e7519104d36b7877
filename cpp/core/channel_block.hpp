// A block of channels held in registers: kBlock<T> values (64 bytes) as one 64-byte vector (GNU
// vector extensions: four SSE registers on baseline x86-64, two AVX2 registers in the AVX2 copy of
// a loop, one in the AVX-512 copy), or fewer values as a scalar array for the last, partial block.
// Compilers do not reliably vectorise the equivalent array loops by themselves.
#pragma once

#include <cstring>
#include <type_traits>

#include "cpu_dispatch.hpp"

namespace e3core {

template <typename T>
constexpr int kBlock = 64 / int(sizeof(T));

template <typename T, typename Width>
struct ChannelBlock;

// A full block.
template <typename T>
struct ChannelBlock<T, std::integral_constant<int, kBlock<T>>> {
  typedef T V __attribute__((vector_size(64)));
  V v;

  // Unaligned load; through a reference, as returning a vector type by value would depend on
  // the instruction set (-Wpsabi).
  E3CORE_ALWAYS_INLINE static const V& at(const T* p, V& x) {
    std::memcpy(&x, p, sizeof x);
    return x;
  }
  E3CORE_ALWAYS_INLINE ChannelBlock() : v{} {}
  E3CORE_ALWAYS_INLINE explicit ChannelBlock(std::integral_constant<int, kBlock<T>>) : v{} {}
  E3CORE_ALWAYS_INLINE void load(const T* p) { at(p, v); }
  E3CORE_ALWAYS_INLINE void store(T* p) const { std::memcpy(p, &v, sizeof(V)); }
  /// this += s * p
  E3CORE_ALWAYS_INLINE void add_scaled(T s, const T* p) {
    V x;
    v += s * at(p, x);
  }
  /// this += c * p * q
  E3CORE_ALWAYS_INLINE void add_product(T c, const T* p, const T* q) {
    V x, y;
    v += c * at(p, x) * at(q, y);
  }
  /// this += a * p
  E3CORE_ALWAYS_INLINE void add_times(const ChannelBlock& a, const T* p) {
    V x;
    v += a.v * at(p, x);
  }
  /// this += a
  E3CORE_ALWAYS_INLINE void add(const ChannelBlock& a) { v += a.v; }
  /// this += s * a
  E3CORE_ALWAYS_INLINE void add_scaled_block(T s, const ChannelBlock& a) { v += s * a.v; }
  /// What constructs a block of the same width.
  E3CORE_ALWAYS_INLINE static constexpr std::integral_constant<int, kBlock<T>> width_tag() {
    return {};
  }
  E3CORE_ALWAYS_INLINE static constexpr int size() { return kBlock<T>; }
  /// The sum of the values, by halves (lane by lane, 16 extractions cost more than the sums
  /// they end: x2's gradient is one such sum per component, path and sample).
  E3CORE_ALWAYS_INLINE T sum() const {
    typedef T H __attribute__((vector_size(32)));
    typedef T Q __attribute__((vector_size(16)));
    H h[2];
    std::memcpy(h, &v, sizeof h);
    H a = h[0] + h[1];
    Q q[2];
    std::memcpy(q, &a, sizeof q);
    Q b = q[0] + q[1];
    T s = T(0);
    for (int t = 0; t < int(sizeof(Q) / sizeof(T)); ++t) s += b[t];
    return s;
  }
  E3CORE_ALWAYS_INLINE T operator[](int t) const { return v[t]; }
};

// The last, partial block: `width` values.
template <typename T>
struct ChannelBlock<T, int> {
  int width;
  T v[kBlock<T>];

  E3CORE_ALWAYS_INLINE ChannelBlock() : width(0), v{} {}
  E3CORE_ALWAYS_INLINE explicit ChannelBlock(int w) : width(w), v{} {}
  E3CORE_ALWAYS_INLINE void load(const T* p) {
    for (int t = 0; t < width; ++t) v[t] = p[t];
  }
  E3CORE_ALWAYS_INLINE void store(T* p) const {
    for (int t = 0; t < width; ++t) p[t] = v[t];
  }
  E3CORE_ALWAYS_INLINE void add_scaled(T s, const T* p) {
    for (int t = 0; t < width; ++t) v[t] += s * p[t];
  }
  E3CORE_ALWAYS_INLINE void add_product(T c, const T* p, const T* q) {
    for (int t = 0; t < width; ++t) v[t] += c * p[t] * q[t];
  }
  E3CORE_ALWAYS_INLINE void add_times(const ChannelBlock& a, const T* p) {
    for (int t = 0; t < width; ++t) v[t] += a.v[t] * p[t];
  }
  E3CORE_ALWAYS_INLINE void add(const ChannelBlock& a) {
    for (int t = 0; t < width; ++t) v[t] += a.v[t];
  }
  E3CORE_ALWAYS_INLINE void add_scaled_block(T s, const ChannelBlock& a) {
    for (int t = 0; t < width; ++t) v[t] += s * a.v[t];
  }
  E3CORE_ALWAYS_INLINE int width_tag() const { return width; }
  E3CORE_ALWAYS_INLINE int size() const { return width; }
  E3CORE_ALWAYS_INLINE T sum() const {
    T s = T(0);
    for (int t = 0; t < width; ++t) s += v[t];
    return s;
  }
  E3CORE_ALWAYS_INLINE T operator[](int t) const { return v[t]; }
};

/// Calls f(u0, width) over the channels [0, n) in blocks; width is
/// std::integral_constant<int, kBlock<T>> for full blocks and an int for the last one, so that
/// ChannelBlock<T, decltype(width)> picks the vector or the scalar form.
template <typename T, typename F>
E3CORE_ALWAYS_INLINE inline void for_blocks(int64_t n, F&& f) {
  int64_t u0 = 0;
  for (; u0 + kBlock<T> <= n; u0 += kBlock<T>) f(u0, std::integral_constant<int, kBlock<T>>{});
  if (u0 < n) f(u0, int(n - u0));
}

}  // namespace e3core
