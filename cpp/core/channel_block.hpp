// A block of channels held in registers: kBlock<T> values (64 bytes) as two 32-byte vectors
// (GNU vector extensions: two SSE registers each on baseline x86-64, one AVX2 register in the
// AVX2 copy of a loop), or fewer values as a scalar array for the last, partial block.
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
  typedef T V __attribute__((vector_size(32)));
  static constexpr int kVecs = 2;
  static constexpr int kLanes = int(sizeof(V) / sizeof(T));
  V v[kVecs];

  // Unaligned load; through a reference, as returning a vector type by value would depend on
  // the instruction set (-Wpsabi).
  E3CORE_ALWAYS_INLINE static const V& at(const T* p, V& x) {
    std::memcpy(&x, p, sizeof x);
    return x;
  }
  E3CORE_ALWAYS_INLINE ChannelBlock() : v{} {}
  E3CORE_ALWAYS_INLINE explicit ChannelBlock(std::integral_constant<int, kBlock<T>>) : v{} {}
  E3CORE_ALWAYS_INLINE void load(const T* p) {
    for (int i = 0; i < kVecs; ++i) at(p + i * kLanes, v[i]);
  }
  E3CORE_ALWAYS_INLINE void store(T* p) const {
    for (int i = 0; i < kVecs; ++i) std::memcpy(p + i * kLanes, &v[i], sizeof(V));
  }
  /// this += s * p
  E3CORE_ALWAYS_INLINE void add_scaled(T s, const T* p) {
    V x;
    for (int i = 0; i < kVecs; ++i) v[i] += s * at(p + i * kLanes, x);
  }
  /// this += c * p * q
  E3CORE_ALWAYS_INLINE void add_product(T c, const T* p, const T* q) {
    V x, y;
    for (int i = 0; i < kVecs; ++i) v[i] += c * at(p + i * kLanes, x) * at(q + i * kLanes, y);
  }
  /// this += a * p
  E3CORE_ALWAYS_INLINE void add_times(const ChannelBlock& a, const T* p) {
    V x;
    for (int i = 0; i < kVecs; ++i) v[i] += a.v[i] * at(p + i * kLanes, x);
  }
  /// this += a
  E3CORE_ALWAYS_INLINE void add(const ChannelBlock& a) {
    for (int i = 0; i < kVecs; ++i) v[i] += a.v[i];
  }
  /// this += s * a
  E3CORE_ALWAYS_INLINE void add_scaled_block(T s, const ChannelBlock& a) {
    for (int i = 0; i < kVecs; ++i) v[i] += s * a.v[i];
  }
  /// What constructs a block of the same width.
  E3CORE_ALWAYS_INLINE static constexpr std::integral_constant<int, kBlock<T>> width_tag() {
    return {};
  }
  E3CORE_ALWAYS_INLINE static constexpr int size() { return kBlock<T>; }
  /// The sum of the values.
  E3CORE_ALWAYS_INLINE T sum() const {
    V total = v[0];
    for (int i = 1; i < kVecs; ++i) total += v[i];
    T s = T(0);
    for (int t = 0; t < kLanes; ++t) s += total[t];
    return s;
  }
  E3CORE_ALWAYS_INLINE T operator[](int t) const { return v[t / kLanes][t % kLanes]; }
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
