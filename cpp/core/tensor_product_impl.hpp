// Kernels of the tensor products, included by one source file per scalar type.
//
// Inside a sample every row is held "ir_mul" (component-major: x[i * mul + u] within a term)
// so that the innermost loops run over channels, contiguous and vectorisable. Rows read through
// an index or shared by all samples are converted once per call; per-sample rows on the fly.
//
// Per path and per step v of x2's channels, z[k][u] = sum_ij C_ijk x1[i][u] x2[j][v] is built
// from the Clebsch-Gordan entries, then mapped to the output channels through the weights.
// The transposes run the same two stages backwards: G[k][u] from grad_out through the weights,
// then through the Clebsch-Gordan entries to x1 or x2; the weight gradient pairs z with grad_out.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "e3core/tensor_product.hpp"

namespace e3core {
namespace {

using Terms = std::vector<std::pair<int64_t, int64_t>>;

// Channels of x1 and x2 are paired as all (u, v), the diagonal (u, u) or the triangle u < v.
enum class Pairing { All, Diagonal, Triangle };

Pairing pairing_of(ConnectionMode mode) {
  switch (mode) {
    case ConnectionMode::UUW:
    case ConnectionMode::UUU:
      return Pairing::Diagonal;
    case ConnectionMode::UVULV:
    case ConnectionMode::ULVW:
      return Pairing::Triangle;
    default:
      return Pairing::All;
  }
}

// Mixing modes sum over channels into every output channel w through a weight matrix.
bool is_mixing(ConnectionMode mode) {
  return mode == ConnectionMode::UVW || mode == ConnectionMode::UUW || mode == ConnectionMode::ULVW;
}

// Index of the pair (u < v) among torch.triu_indices(m, m, 1), e3nn's order.
inline int64_t triangle_index(int64_t u, int64_t v, int64_t m) {
  return u * m - u * (u + 1) / 2 + (v - u - 1);
}

bool is_trivial(const Terms& terms) {
  for (const auto& [mul, dim] : terms) {
    if (mul > 1 && dim > 1) return false;
  }
  return true;
}

template <typename T>
void to_ir_mul(const Terms& terms, const T* src, T* dst) {
  int64_t at = 0;
  for (const auto& [mul, dim] : terms) {
    for (int64_t u = 0; u < mul; ++u) {
      for (int64_t i = 0; i < dim; ++i) dst[at + i * mul + u] = src[at + u * dim + i];
    }
    at += mul * dim;
  }
}

template <typename T>
void to_mul_ir(const Terms& terms, const T* src, T* dst) {
  int64_t at = 0;
  for (const auto& [mul, dim] : terms) {
    for (int64_t u = 0; u < mul; ++u) {
      for (int64_t i = 0; i < dim; ++i) dst[at + u * dim + i] = src[at + i * mul + u];
    }
    at += mul * dim;
  }
}

// A path with its coefficients in the kernel's type.
template <typename T>
struct KernelPath {
  const TpPath* p;
  Pairing pairing;
  bool mixing;
  std::vector<T> c;
};

template <typename T>
struct KernelPlan {
  const TpPlan* plan;
  std::vector<KernelPath<T>> paths;
  std::vector<T> ones;  // the weights of a weightless path
  int64_t scratch = 1;  // floats of z or G: max over paths of dim_out * mul1
  int64_t work = 1;     // rough multiply-adds per sample, to size parallel tasks

  explicit KernelPlan(const TpPlan& p) : plan(&p) {
    int64_t ones_size = 1;
    for (const TpPath& path : p.paths) {
      KernelPath<T> kp{&path, pairing_of(path.mode), is_mixing(path.mode), {}};
      for (const CgEntry& e : path.cg) kp.c.push_back(T(e.value));
      paths.push_back(std::move(kp));
      ones_size = std::max(ones_size, path.mul1 * path.mul2 * std::max<int64_t>(path.mul_out, 1));
      scratch = std::max(scratch, path.dim_out * path.mul1);
      const int64_t steps = pairing_of(path.mode) == Pairing::Diagonal ? 1 : path.mul2;
      work += steps * (int64_t(path.cg.size()) + path.dim_out) * path.mul1 *
              (is_mixing(path.mode) ? path.mul_out : 1);
    }
    ones.assign(size_t(ones_size), T(1));
  }
};

// One path, one step v (all of x2's channels at once for the diagonal pairing): z[k][u] for
// u < nu.
template <typename T>
inline void build_z(const KernelPath<T>& kp, const T* __restrict x1, const T* __restrict x2,
                    int64_t v, int64_t nu, T* __restrict z) {
  const TpPath& p = *kp.p;
  const int64_t m1 = p.mul1;
  for (int64_t k = 0; k < p.dim_out; ++k) std::fill(z + k * m1, z + k * m1 + nu, T(0));
  for (size_t e = 0; e < kp.c.size(); ++e) {
    const CgEntry& ce = p.cg[e];
    T* zk = z + ce.k * m1;
    const T* a = x1 + ce.i * m1;
    if (kp.pairing == Pairing::Diagonal) {
      const T* b = x2 + ce.j * m1;
      for (int64_t u = 0; u < nu; ++u) zk[u] += kp.c[e] * a[u] * b[u];
    } else {
      const T s = kp.c[e] * x2[ce.j * p.mul2 + v];
      for (int64_t u = 0; u < nu; ++u) zk[u] += s * a[u];
    }
  }
}

// Weight index of the pair (u, v) in the path's weights (times mul_out for mixing modes), and
// output channel of the pair for the elementwise modes.
struct PairIndex {
  ConnectionMode mode;
  int64_t m1, m2, m3;
  int64_t weight(int64_t u, int64_t v) const {
    switch (mode) {
      case ConnectionMode::UUU:
        return u;
      case ConnectionMode::UUW:
        return u * m3;
      case ConnectionMode::UVW:
        return (u * m2 + v) * m3;
      case ConnectionMode::UVULV:
        return triangle_index(u, v, m1);
      case ConnectionMode::ULVW:
        return triangle_index(u, v, m1) * m3;
      default:
        return u * m2 + v;
    }
  }
  int64_t channel(int64_t u, int64_t v) const {
    switch (mode) {
      case ConnectionMode::UVV:
        return v;
      case ConnectionMode::UVUV:
        return u * m2 + v;
      case ConnectionMode::UVULV:
        return triangle_index(u, v, m1);
      default:
        return u;
    }
  }
};

// out[k][.] += the weights applied to z[k][u < nu].
template <typename T>
inline void apply_weights(const KernelPath<T>& kp, const T* __restrict w, const T* __restrict z,
                          int64_t v, int64_t nu, T* __restrict out) {
  const TpPath& p = *kp.p;
  const PairIndex ix{p.mode, p.mul1, p.mul2, p.mul_out};
  const int64_t m1 = p.mul1, m3 = p.mul_out;
  for (int64_t k = 0; k < p.dim_out; ++k) {
    const T* zk = z + k * m1;
    T* ok = out + k * m3;
    if (kp.mixing) {
      for (int64_t u = 0; u < nu; ++u) {
        const T s = zk[u];
        const T* wr = w + ix.weight(u, v);
        for (int64_t c = 0; c < m3; ++c) ok[c] += s * wr[c];
      }
    } else if (p.mode == ConnectionMode::UUU || (p.mode == ConnectionMode::UVU && p.mul2 == 1)) {
      for (int64_t u = 0; u < nu; ++u) ok[u] += w[u] * zk[u];
    } else {
      for (int64_t u = 0; u < nu; ++u) ok[ix.channel(u, v)] += w[ix.weight(u, v)] * zk[u];
    }
  }
}

// G[k][u < nu] = the transpose of the weights applied to g (grad_out).
template <typename T>
inline void transpose_weights(const KernelPath<T>& kp, const T* __restrict w, const T* __restrict g,
                              int64_t v, int64_t nu, T* __restrict G) {
  const TpPath& p = *kp.p;
  const PairIndex ix{p.mode, p.mul1, p.mul2, p.mul_out};
  const int64_t m1 = p.mul1, m3 = p.mul_out;
  for (int64_t k = 0; k < p.dim_out; ++k) {
    const T* gk = g + k * m3;
    T* Gk = G + k * m1;
    if (kp.mixing) {
      for (int64_t u = 0; u < nu; ++u) {
        const T* wr = w + ix.weight(u, v);
        T s = T(0);
        for (int64_t c = 0; c < m3; ++c) s += wr[c] * gk[c];
        Gk[u] = s;
      }
    } else if (p.mode == ConnectionMode::UUU || (p.mode == ConnectionMode::UVU && p.mul2 == 1)) {
      for (int64_t u = 0; u < nu; ++u) Gk[u] = w[u] * gk[u];
    } else {
      for (int64_t u = 0; u < nu; ++u) Gk[u] = w[ix.weight(u, v)] * gk[ix.channel(u, v)];
    }
  }
}

// gw += z paired with g (grad_out), the weights' gradient.
template <typename T>
inline void weight_gradient(const KernelPath<T>& kp, const T* __restrict z, const T* __restrict g,
                            int64_t v, int64_t nu, T* __restrict gw) {
  const TpPath& p = *kp.p;
  const PairIndex ix{p.mode, p.mul1, p.mul2, p.mul_out};
  const int64_t m1 = p.mul1, m3 = p.mul_out;
  for (int64_t k = 0; k < p.dim_out; ++k) {
    const T* zk = z + k * m1;
    const T* gk = g + k * m3;
    if (kp.mixing) {
      for (int64_t u = 0; u < nu; ++u) {
        const T s = zk[u];
        T* wr = gw + ix.weight(u, v);
        for (int64_t c = 0; c < m3; ++c) wr[c] += s * gk[c];
      }
    } else if (p.mode == ConnectionMode::UUU || (p.mode == ConnectionMode::UVU && p.mul2 == 1)) {
      for (int64_t u = 0; u < nu; ++u) gw[u] += zk[u] * gk[u];
    } else {
      for (int64_t u = 0; u < nu; ++u) gw[ix.weight(u, v)] += zk[u] * gk[ix.channel(u, v)];
    }
  }
}

// gx1[i][u < nu] += sum over entries of C_ijk x2[j][v] G[k][u].
template <typename T>
inline void cg_to_x1(const KernelPath<T>& kp, const T* __restrict x2, const T* __restrict G,
                     int64_t v, int64_t nu, T* __restrict gx1) {
  const TpPath& p = *kp.p;
  const int64_t m1 = p.mul1;
  for (size_t e = 0; e < kp.c.size(); ++e) {
    const CgEntry& ce = p.cg[e];
    const T* Gk = G + ce.k * m1;
    T* r = gx1 + ce.i * m1;
    if (kp.pairing == Pairing::Diagonal) {
      const T* b = x2 + ce.j * m1;
      for (int64_t u = 0; u < nu; ++u) r[u] += kp.c[e] * b[u] * Gk[u];
    } else {
      const T s = kp.c[e] * x2[ce.j * p.mul2 + v];
      for (int64_t u = 0; u < nu; ++u) r[u] += s * Gk[u];
    }
  }
}

// gx2[j][v] (or gx2[j][u] on the diagonal) += sum over entries of C_ijk x1[i][u] G[k][u].
template <typename T>
inline void cg_to_x2(const KernelPath<T>& kp, const T* __restrict x1, const T* __restrict G,
                     int64_t v, int64_t nu, T* __restrict gx2) {
  const TpPath& p = *kp.p;
  const int64_t m1 = p.mul1;
  for (size_t e = 0; e < kp.c.size(); ++e) {
    const CgEntry& ce = p.cg[e];
    const T* Gk = G + ce.k * m1;
    const T* a = x1 + ce.i * m1;
    if (kp.pairing == Pairing::Diagonal) {
      T* r = gx2 + ce.j * m1;
      for (int64_t u = 0; u < nu; ++u) r[u] += kp.c[e] * a[u] * Gk[u];
    } else {
      T s = T(0);
      for (int64_t u = 0; u < nu; ++u) s += a[u] * Gk[u];
      gx2[ce.j * p.mul2 + v] += kp.c[e] * s;
    }
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

// Adds one sample's contribution to the result slot `kSlot` into `acc` (ir_mul, or the flat
// weights). z and G are scratch of kp.scratch values each.
template <typename T, TpSlot kSlot>
void accumulate_sample(const KernelPlan<T>& kp, const SampleRows<T>& r, T* acc, T* z, T* G) {
  for (const KernelPath<T>& path : kp.paths) {
    const TpPath& p = *path.p;
    if (kSlot == TpSlot::Weight && !p.has_weight) continue;
    // The result's own slot is not read, and its pointer is null.
    const T* x1 = kSlot == TpSlot::In1 ? nullptr : r.x1 + p.offset1;
    const T* x2 = kSlot == TpSlot::In2 ? nullptr : r.x2 + p.offset2;
    const T* w = kSlot == TpSlot::Weight || !p.has_weight ? kp.ones.data() : r.w + p.weight_offset;
    const T* g = kSlot == TpSlot::Out ? nullptr : r.g + p.offset_out;
    const bool diagonal = path.pairing == Pairing::Diagonal;
    const int64_t steps = diagonal ? 1 : p.mul2;
    for (int64_t v = 0; v < steps; ++v) {
      const int64_t nu = path.pairing == Pairing::Triangle ? v : p.mul1;
      if (nu == 0) continue;
      if constexpr (kSlot == TpSlot::Out) {
        build_z(path, x1, x2, v, nu, z);
        apply_weights(path, w, z, v, nu, acc + p.offset_out);
      } else if constexpr (kSlot == TpSlot::Weight) {
        build_z(path, x1, x2, v, nu, z);
        weight_gradient(path, z, g, v, nu, acc + p.weight_offset);
      } else {
        transpose_weights(path, w, g, v, nu, G);
        if constexpr (kSlot == TpSlot::In1) {
          cg_to_x1(path, x2, G, v, nu, acc + p.offset1);
        } else {
          cg_to_x2(path, x1, G, v, nu, acc + p.offset2);
        }
      }
    }
  }
}

// An input array as the kernel reads it: ir_mul rows, converted up front when they are reached
// by index or shared, converted per sample otherwise (unless the layout needs no conversion).
template <typename T>
class InputRows {
 public:
  InputRows(const TpArray<T>& a, const Terms* terms, int64_t width, const Executor& exec)
      : a_(a), terms_(terms), width_(width) {
    convert_ = terms != nullptr && !is_trivial(*terms);
    if (convert_ && a.mode != TpRows::PerSample && a.rows > 0) {
      converted_.resize(size_t(a.rows * width));
      exec(a.rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(width, 1)),
           [&](int64_t begin, int64_t end) {
             for (int64_t r = begin; r < end; ++r) {
               to_ir_mul(*terms_, a_.data + r * width_, converted_.data() + r * width_);
             }
           });
    }
  }
  // Row of sample s; `scratch` (width values) holds it when it is converted on the fly.
  const T* row(int64_t s, T* scratch) const {
    const int64_t r = a_.mode == TpRows::PerSample ? s
                      : a_.mode == TpRows::Indexed ? a_.index[s]
                                                   : 0;
    if (!convert_) return a_.data + r * width_;
    if (a_.mode != TpRows::PerSample) return converted_.data() + r * width_;
    to_ir_mul(*terms_, a_.data + r * width_, scratch);
    return scratch;
  }

 private:
  TpArray<T> a_;
  const Terms* terms_;
  int64_t width_;
  bool convert_ = false;
  std::vector<T> converted_;
};

const char* slot_name(TpSlot slot) {
  switch (slot) {
    case TpSlot::In1:
      return "x1";
    case TpSlot::In2:
      return "x2";
    case TpSlot::Weight:
      return "weight";
    case TpSlot::Out:
      return "out";
  }
  return "?";
}

template <typename T>
void check_array(const TpArray<T>& a, TpSlot slot, int64_t samples, int64_t width) {
  const std::string name = slot_name(slot);
  if (a.rows < 0) throw std::invalid_argument(name + " has a negative number of rows");
  if (a.data == nullptr && a.rows * width > 0) throw std::invalid_argument(name + " has no data");
  switch (a.mode) {
    case TpRows::PerSample:
      if (a.rows != samples) {
        throw std::invalid_argument(name + " has " + std::to_string(a.rows) + " rows, expected " +
                                    std::to_string(samples) + " (one per sample)");
      }
      break;
    case TpRows::Shared:
      if (a.rows != 1) {
        throw std::invalid_argument(name + " is shared but has " + std::to_string(a.rows) +
                                    " rows, expected 1");
      }
      break;
    case TpRows::Indexed:
      if (a.index == nullptr && samples > 0) throw std::invalid_argument(name + " has no index");
      for (int64_t s = 0; s < samples; ++s) {
        if (a.index[s] < 0 || a.index[s] >= a.rows) {
          throw std::invalid_argument(name + " index " + std::to_string(a.index[s]) +
                                      " at sample " + std::to_string(s) + " is out of range for " +
                                      std::to_string(a.rows) + " rows");
        }
      }
      break;
  }
}

template <typename T, TpSlot kSlot>
void run(const TpPlan& plan, int64_t samples, const TpArray<T>* arrays, const Executor& exec) {
  const KernelPlan<T> kp(plan);
  const int64_t widths[4] = {plan.dim1, plan.dim2, plan.weight_numel, plan.dim_out};
  const Terms* layouts[4] = {&plan.terms1, &plan.terms2, nullptr, &plan.terms_out};
  constexpr int kResult = int(kSlot);
  for (int a = 0; a < 4; ++a) check_array(arrays[a], TpSlot(a), samples, widths[a]);

  // The three inputs (the result's slot gets an empty reader).
  std::vector<InputRows<T>> inputs;
  inputs.reserve(4);
  for (int a = 0; a < 4; ++a) {
    inputs.emplace_back(a == kResult ? TpArray<T>{} : arrays[a],
                        a == kResult ? nullptr : layouts[a], widths[a], exec);
  }
  const TpArray<T>& res = arrays[kResult];
  const int64_t width = widths[kResult];
  const Terms* res_layout = layouts[kResult];
  const bool convert_out = res_layout != nullptr && !is_trivial(*res_layout);

  // Per task: conversion scratch for each input, the accumulator and z, G.
  struct Scratch {
    std::vector<T> rows[4], acc, z, G;
  };
  const auto make_scratch = [&] {
    Scratch s;
    for (int a = 0; a < 4; ++a) s.rows[a].resize(size_t(std::max<int64_t>(widths[a], 1)));
    s.acc.resize(size_t(std::max<int64_t>(width, 1)));
    s.z.resize(size_t(kp.scratch));
    s.G.resize(size_t(kp.scratch));
    return s;
  };
  const auto add_sample = [&](int64_t s, Scratch& sc) {
    SampleRows<T> r{};
    const T** slots[4] = {&r.x1, &r.x2, &r.w, &r.g};
    for (int a = 0; a < 4; ++a) {
      if (a != kResult) *slots[a] = inputs[size_t(a)].row(s, sc.rows[a].data());
    }
    accumulate_sample<T, kSlot>(kp, r, sc.acc.data(), sc.z.data(), sc.G.data());
  };
  const auto store = [&](const T* acc, T* dst) {
    if (convert_out) {
      to_mul_ir(*res_layout, acc, dst);
    } else {
      std::copy(acc, acc + width, dst);
    }
  };
  const int64_t grain = std::max<int64_t>(1, 65536 / kp.work);

  if (res.mode == TpRows::PerSample) {
    exec(samples, grain, [&](int64_t begin, int64_t end) {
      Scratch sc = make_scratch();
      for (int64_t s = begin; s < end; ++s) {
        std::fill(sc.acc.begin(), sc.acc.end(), T(0));
        add_sample(s, sc);
        store(sc.acc.data(), res.data + s * width);
      }
    });
    return;
  }

  if (res.mode == TpRows::Indexed) {
    // Samples grouped by their result row, in sample order (a stable counting sort): each row
    // is one task's sum in a fixed order, without atomics.
    std::vector<int64_t> start(size_t(res.rows + 1), 0);
    for (int64_t s = 0; s < samples; ++s) ++start[size_t(res.index[s] + 1)];
    for (int64_t r = 0; r < res.rows; ++r) start[size_t(r + 1)] += start[size_t(r)];
    std::vector<int64_t> order(static_cast<size_t>(samples));
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t s = 0; s < samples; ++s) order[size_t(fill[size_t(res.index[s])]++)] = s;
    const int64_t per_row = std::max<int64_t>(1, samples / std::max<int64_t>(res.rows, 1));
    exec(res.rows, std::max<int64_t>(1, grain / per_row), [&](int64_t begin, int64_t end) {
      Scratch sc = make_scratch();
      for (int64_t r = begin; r < end; ++r) {
        std::fill(sc.acc.begin(), sc.acc.end(), T(0));
        for (int64_t q = start[size_t(r)]; q < start[size_t(r + 1)]; ++q) {
          add_sample(order[size_t(q)], sc);
        }
        store(sc.acc.data(), res.data + r * width);
      }
    });
    return;
  }

  // Shared result: partial sums over a fixed split of the samples, then added in order.
  constexpr int64_t kParts = 64;
  const int64_t parts = std::min(kParts, std::max<int64_t>(samples, 1));
  std::vector<T> partial(size_t(parts * std::max<int64_t>(width, 1)), T(0));
  exec(parts, 1, [&](int64_t begin, int64_t end) {
    Scratch sc = make_scratch();
    for (int64_t part = begin; part < end; ++part) {
      std::fill(sc.acc.begin(), sc.acc.end(), T(0));
      for (int64_t s = part * samples / parts; s < (part + 1) * samples / parts; ++s) {
        add_sample(s, sc);
      }
      std::copy(sc.acc.begin(), sc.acc.begin() + width, partial.begin() + part * width);
    }
  });
  std::vector<T> total(size_t(std::max<int64_t>(width, 1)), T(0));
  for (int64_t part = 0; part < parts; ++part) {
    for (int64_t c = 0; c < width; ++c) total[size_t(c)] += partial[size_t(part * width + c)];
  }
  store(total.data(), res.data);
}

}  // namespace

template <typename T>
void tensor_product(const TpPlan& plan, TpSlot result, int64_t samples, TpArray<T> x1,
                    TpArray<T> x2, TpArray<T> weight, TpArray<T> out, const Executor& exec) {
  if (samples < 0) throw std::invalid_argument("samples is negative");
  const TpArray<T> arrays[4] = {x1, x2, weight, out};
  switch (result) {
    case TpSlot::In1:
      return run<T, TpSlot::In1>(plan, samples, arrays, exec);
    case TpSlot::In2:
      return run<T, TpSlot::In2>(plan, samples, arrays, exec);
    case TpSlot::Weight:
      return run<T, TpSlot::Weight>(plan, samples, arrays, exec);
    case TpSlot::Out:
      return run<T, TpSlot::Out>(plan, samples, arrays, exec);
  }
}

}  // namespace e3core
