// Run-time choice of instruction set for the kernels' hot loops.
//
// Builds target baseline x86-64 (a wheel cannot assume more), so each hot loop is compiled three
// times: as is, for AVX2 with FMA and for AVX-512, picked per call from what the CPU supports.
// AVX-512 halves the instructions of a channel block (one 64-byte register instead of two): a
// NequIP convolution at 86,000 edges, one thread, went from 23.5 to 21.3 ms (forward) and from
// 102 to 95 ms (all three gradients).
// target_clones would do this by itself, but its "arch=haswell" clone is never chosen on AMD
// CPUs and its "avx2" clone has no FMA, hence the explicit check.
#pragma once

// Forces inlining (on functions, with `inline`, and on lambdas).
#if defined(__GNUC__)
#define E3CORE_ALWAYS_INLINE __attribute__((always_inline))
#else
#define E3CORE_ALWAYS_INLINE
#endif

#if defined(__GNUC__) && defined(__x86_64__)
#define E3CORE_X86_DISPATCH 1
#endif

namespace e3core {

/// Calls fn() compiled for the best instruction set the CPU has. fn must be a lambda marked
/// E3CORE_ALWAYS_INLINE, and so must everything it calls in its hot loop: only code inlined into
/// the AVX2 copy is compiled for AVX2.
#if defined(E3CORE_X86_DISPATCH)
template <typename Fn>
__attribute__((target("avx2,fma"))) void run_avx2_fma(const Fn& fn) {
  fn();
}

template <typename Fn>
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))) void run_avx512(
    const Fn& fn) {
  fn();
}

template <typename Fn>
void run_baseline(const Fn& fn) {
  fn();
}

inline bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

inline bool cpu_has_avx512() {
  static const bool has = cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  return has;
}

template <typename Fn>
void run_fastest(const Fn& fn) {
  if (cpu_has_avx512()) {
    run_avx512(fn);
  } else if (cpu_has_avx2_fma()) {
    run_avx2_fma(fn);
  } else {
    run_baseline(fn);
  }
}
#else
template <typename Fn>
void run_fastest(const Fn& fn) {
  fn();
}
#endif

}  // namespace e3core
