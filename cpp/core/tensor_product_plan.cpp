// Tensor-product plans: e3nn's instructions and normalizations resolved into paths with their
// Clebsch-Gordan entries, and the plan's integer encoding.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "checked.hpp"
#include "e3core/tensor_product.hpp"
#include "e3core/wigner.hpp"

namespace e3core {

namespace {

using detail::checked_add;
using detail::checked_mul;

struct ModeName {
  ConnectionMode mode;
  const char* name;
};

constexpr ModeName kModes[] = {
    {ConnectionMode::UVW, "uvw"},     {ConnectionMode::UVU, "uvu"},
    {ConnectionMode::UVV, "uvv"},     {ConnectionMode::UUW, "uuw"},
    {ConnectionMode::UUU, "uuu"},     {ConnectionMode::UVUV, "uvuv"},
    {ConnectionMode::UVULV, "uvu<v"}, {ConnectionMode::ULVW, "u<vw"},
};

// e3nn's fan-in of a path ("num_elements"), used by the path normalizations.
double fan_in(ConnectionMode mode, int64_t mul1, int64_t mul2) {
  switch (mode) {
    case ConnectionMode::UVW:
      return double(mul1) * double(mul2);
    case ConnectionMode::UVU:
      return double(mul2);
    case ConnectionMode::UVV:
    case ConnectionMode::UUW:
      return double(mul1);
    case ConnectionMode::UUU:
    case ConnectionMode::UVUV:
    case ConnectionMode::UVULV:
      return 1.0;
    case ConnectionMode::ULVW: {
      // Exact as e3nn's integers where they fit; an overflowing path is rejected later.
      const std::optional<int64_t> n = checked_mul(mul1, mul2 - 1);
      return n ? double(*n / 2) : double(mul1) * double(mul2 - 1) / 2;
    }
  }
  return 1.0;
}

std::optional<int64_t> times(std::optional<int64_t> a, int64_t b) {
  return a ? checked_mul(*a, b) : std::nullopt;
}

std::optional<int64_t> half(std::optional<int64_t> a) {
  return a ? std::optional<int64_t>(*a / 2) : std::nullopt;
}

// e3nn's weight shape of a path ("path_shape"), flattened; nothing when it overflows int64.
// Multiplicities are >= 0.
std::optional<int64_t> path_shape_numel(ConnectionMode mode, int64_t mul1, int64_t mul2,
                                        int64_t mul_out) {
  switch (mode) {
    case ConnectionMode::UVW:
      return times(checked_mul(mul1, mul2), mul_out);
    case ConnectionMode::UVU:
    case ConnectionMode::UVV:
    case ConnectionMode::UVUV:
      return checked_mul(mul1, mul2);
    case ConnectionMode::UUW:
      return checked_mul(mul1, mul_out);
    case ConnectionMode::UUU:
      return mul1;
    case ConnectionMode::UVULV:
      return half(checked_mul(mul1, mul2 - 1));
    case ConnectionMode::ULVW:
      return times(half(checked_mul(mul1, mul2 - 1)), mul_out);
  }
  return std::nullopt;
}

std::vector<std::pair<int64_t, int64_t>> layout(const Irreps& irreps) {
  std::vector<std::pair<int64_t, int64_t>> terms;
  for (const MulIr& t : irreps) terms.emplace_back(t.mul, t.ir.dim());
  return terms;
}

std::vector<double> variances(const std::vector<double>& given, const Irreps& irreps,
                              const char* name) {
  if (given.empty()) return std::vector<double>(irreps.size(), 1.0);
  if (given.size() != irreps.size()) {
    throw std::invalid_argument(std::string(name) + " has " + std::to_string(given.size()) +
                                " values but its irreps have " + std::to_string(irreps.size()) +
                                " terms");
  }
  return given;
}

// Why a mode cannot connect these multiplicities, or "" if it can.
std::string mode_mismatch(const TpInstruction& ins, int64_t mul1, int64_t mul2, int64_t mul_out) {
  const auto eq = [](int64_t a, int64_t b, const std::string& what) {
    return a == b ? std::string()
                  : what + " (" + std::to_string(a) + " != " + std::to_string(b) + ")";
  };
  const auto eq_checked = [&](std::optional<int64_t> a, int64_t b, const std::string& what) {
    return a ? eq(*a, b, what) : what + " (the product overflows int64)";
  };
  switch (ins.mode) {
    case ConnectionMode::UVW:
      return ins.has_weight ? "" : "\"uvw\" needs weights";
    case ConnectionMode::UVU:
      return eq(mul1, mul_out, "\"uvu\" needs mul_in1 == mul_out");
    case ConnectionMode::UVV:
      return eq(mul2, mul_out, "\"uvv\" needs mul_in2 == mul_out");
    case ConnectionMode::UUW:
      if (!ins.has_weight && mul_out != 1) return "\"uuw\" without weights needs mul_out == 1";
      return eq(mul1, mul2, "\"uuw\" needs mul_in1 == mul_in2");
    case ConnectionMode::UUU:
      if (mul1 != mul2) return eq(mul1, mul2, "\"uuu\" needs mul_in1 == mul_in2");
      return eq(mul1, mul_out, "\"uuu\" needs mul_in1 == mul_out");
    case ConnectionMode::UVUV:
      return eq_checked(checked_mul(mul1, mul2), mul_out,
                        "\"uvuv\" needs mul_in1 * mul_in2 == mul_out");
    case ConnectionMode::UVULV:
      if (mul1 != mul2) return eq(mul1, mul2, "\"uvu<v\" needs mul_in1 == mul_in2");
      return eq_checked(half(checked_mul(mul1, mul1 - 1)), mul_out,
                        "\"uvu<v\" needs mul_in1 (mul_in1 - 1) / 2 == mul_out");
    case ConnectionMode::ULVW:
      if (!ins.has_weight) return "\"u<vw\" needs weights";
      return eq(mul1, mul2, "\"u<vw\" needs mul_in1 == mul_in2");
  }
  return "";
}

const MulIr& term(const Irreps& irreps, int64_t i, const char* what, size_t n) {
  if (i < 0 || i >= int64_t(irreps.size())) {
    throw std::invalid_argument("instruction " + std::to_string(n) + ": " + what + " = " +
                                std::to_string(i) + " is out of range for " +
                                std::to_string(irreps.size()) + " terms (" + irreps.str() + ")");
  }
  return irreps[size_t(i)];
}

std::vector<int64_t> column_offsets(const Irreps& irreps) {
  std::vector<int64_t> offsets;
  int64_t at = 0;
  for (const MulIr& t : irreps) {
    offsets.push_back(at);
    at += t.dim();
  }
  return offsets;
}

// Encoding: a header, the three layouts, then per path its integers and its CG entries.
constexpr int64_t kMagic = 0x4533545031;  // "E3TP1"

int64_t bits_of(double v) {
  int64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

double double_of(int64_t b) {
  double v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

[[noreturn]] void corrupt(const std::string& what) {
  throw std::invalid_argument("tensor-product plan is corrupt: " + what);
}

// "path n: ", or "" outside the paths; built only for messages (decode runs on every op call).
std::string where(int64_t path) {
  return path < 0 ? std::string() : "path " + std::to_string(path) + ": ";
}

class Reader {
 public:
  Reader(const int64_t* data, int64_t size) : data_(data), size_(size) {}
  int64_t next() {
    if (at_ >= size_) throw std::invalid_argument("tensor-product plan is truncated");
    return data_[at_++];
  }
  // A count or size read from the plan, checked against `limit` before anything uses it.
  int64_t count(int64_t limit, const char* name, int64_t path = -1) {
    const int64_t n = next();
    if (n < 0 || n > limit) {
      corrupt(where(path) + name + " = " + std::to_string(n) + ", expected 0 <= " + name +
              " <= " + std::to_string(limit));
    }
    return n;
  }
  bool done() const { return at_ == size_; }

 private:
  const int64_t* data_;
  int64_t size_;
  int64_t at_ = 0;
};

// Checks that the columns [offset, offset + mul * dim) of one path lie in [0, width), without
// letting offset + mul * dim wrap around (offsets near INT64_MAX would pass a plain check).
void check_columns(int64_t path, const char* side, int64_t offset, int64_t mul, int64_t dim,
                   int64_t width) {
  const std::optional<int64_t> end = checked_mul(mul, dim);
  const std::optional<int64_t> stop = end ? checked_add(offset, *end) : std::nullopt;
  if (offset < 0 || !stop || *stop > width) {
    const std::string s(side);
    corrupt(where(path) + "offset" + s + " = " + std::to_string(offset) + " with mul" + s + " = " +
            std::to_string(mul) + " and dim" + s + " = " + std::to_string(dim) +
            ", expected 0 <= offset" + s + " and offset" + s + " + mul" + s + " * dim" + s +
            " <= " + std::to_string(width) + " (the plan's dim" + s + ")");
  }
}

// The columns of each term of one side of a plan: (first column, mul, dim), sorted.
using TermColumns = std::vector<std::array<int64_t, 3>>;

// Checks that a path's columns on one side are those of one of the plan's terms there: the
// kernels convert rows term by term, so a path across terms would read other irreps' values.
void check_term(int64_t path, const char* side, int64_t offset, int64_t mul, int64_t dim,
                const TermColumns& terms) {
  if (!std::binary_search(terms.begin(), terms.end(), std::array<int64_t, 3>{offset, mul, dim})) {
    const std::string s(side);
    corrupt(where(path) + "offset" + s + ", mul" + s + ", dim" + s + " = " +
            std::to_string(offset) + ", " + std::to_string(mul) + ", " + std::to_string(dim) +
            ", expected the first column, mul and dim of one of the terms" + s);
  }
}

}  // namespace

ConnectionMode parse_connection_mode(const std::string& name) {
  for (const ModeName& m : kModes) {
    if (name == m.name) return m.mode;
  }
  throw std::invalid_argument("connection mode is \"" + name +
                              "\", expected one of uvw, uvu, uvv, uuw, uuu, uvuv, uvu<v, u<vw");
}

std::string connection_mode_name(ConnectionMode mode) {
  for (const ModeName& m : kModes) {
    if (mode == m.mode) return m.name;
  }
  throw std::invalid_argument("unknown connection mode");
}

IrrepNormalization parse_irrep_normalization(const std::string& name) {
  if (name == "component") return IrrepNormalization::Component;
  if (name == "norm") return IrrepNormalization::Norm;
  if (name == "none") return IrrepNormalization::None;
  throw std::invalid_argument("irrep_normalization is \"" + name +
                              "\", expected \"component\", \"norm\" or \"none\"");
}

PathNormalization parse_path_normalization(const std::string& name) {
  if (name == "element") return PathNormalization::Element;
  if (name == "path") return PathNormalization::Path;
  if (name == "none") return PathNormalization::None;
  throw std::invalid_argument("path_normalization is \"" + name +
                              "\", expected \"element\", \"path\" or \"none\"");
}

TpPlan TpPlan::build(const TpSpec& spec) {
  const std::vector<double> in1_var = variances(spec.in1_var, spec.irreps_in1, "in1_var");
  const std::vector<double> in2_var = variances(spec.in2_var, spec.irreps_in2, "in2_var");
  const std::vector<double> out_var = variances(spec.out_var, spec.irreps_out, "out_var");

  TpPlan plan;
  plan.dim1 = spec.irreps_in1.dim();
  plan.dim2 = spec.irreps_in2.dim();
  plan.dim_out = spec.irreps_out.dim();
  plan.terms1 = layout(spec.irreps_in1);
  plan.terms2 = layout(spec.irreps_in2);
  plan.terms_out = layout(spec.irreps_out);
  const std::vector<int64_t> off1 = column_offsets(spec.irreps_in1);
  const std::vector<int64_t> off2 = column_offsets(spec.irreps_in2);
  const std::vector<int64_t> off_out = column_offsets(spec.irreps_out);

  for (size_t n = 0; n < spec.instructions.size(); ++n) {
    const TpInstruction& ins = spec.instructions[n];
    const MulIr& a = term(spec.irreps_in1, ins.i_in1, "i_in1", n);
    const MulIr& b = term(spec.irreps_in2, ins.i_in2, "i_in2", n);
    const MulIr& c = term(spec.irreps_out, ins.i_out, "i_out", n);
    const std::string where = "instruction " + std::to_string(n) + " (" + a.str() + " x " +
                              b.str() + " -> " + c.str() + ", \"" + connection_mode_name(ins.mode) +
                              "\"): ";
    if (a.ir.p * b.ir.p != c.ir.p) {
      throw std::invalid_argument(where + "parity " + std::to_string(a.ir.p) + " * " +
                                  std::to_string(b.ir.p) + " != " + std::to_string(c.ir.p));
    }
    if (c.ir.l < std::abs(a.ir.l - b.ir.l) || c.ir.l > a.ir.l + b.ir.l) {
      throw std::invalid_argument(where + "l_out = " + std::to_string(c.ir.l) +
                                  " is outside |l1 - l2| .. l1 + l2");
    }
    const std::string mismatch = mode_mismatch(ins, a.mul, b.mul, c.mul);
    if (!mismatch.empty()) throw std::invalid_argument(where + mismatch);

    TpPath p;
    p.mode = ins.mode;
    p.has_weight = ins.has_weight;
    p.mul1 = a.mul;
    p.mul2 = b.mul;
    p.mul_out = c.mul;
    p.dim1 = a.ir.dim();
    p.dim2 = b.ir.dim();
    p.dim_out = c.ir.dim();
    p.offset1 = off1[size_t(ins.i_in1)];
    p.offset2 = off2[size_t(ins.i_in2)];
    p.offset_out = off_out[size_t(ins.i_out)];
    p.weight_offset = plan.weight_numel;
    const std::optional<int64_t> shape = path_shape_numel(ins.mode, a.mul, b.mul, c.mul);
    const std::optional<int64_t> total =
        shape ? checked_add(plan.weight_numel, ins.has_weight ? *shape : 0) : std::nullopt;
    if (!total) {
      throw std::invalid_argument(where +
                                  "the weights of the paths up to this one (weight_numel) "
                                  "overflow int64; expected at most " +
                                  std::to_string(std::numeric_limits<int64_t>::max()));
    }
    p.weight_numel = ins.has_weight ? *shape : 0;
    plan.weight_numel = *total;

    // e3nn's normalization, step by step in the same order so that the doubles agree.
    double alpha = 1.0;
    if (spec.irrep_normalization == IrrepNormalization::Component) alpha = double(c.ir.dim());
    if (spec.irrep_normalization == IrrepNormalization::Norm) {
      alpha = double(a.ir.dim() * b.ir.dim());
    }
    double x = 1.0;
    if (spec.path_normalization == PathNormalization::Element) {
      x = 0.0;
      for (const TpInstruction& other : spec.instructions) {
        if (other.i_out != ins.i_out) continue;
        const MulIr& oa = term(spec.irreps_in1, other.i_in1, "i_in1", n);
        const MulIr& ob = term(spec.irreps_in2, other.i_in2, "i_in2", n);
        x += in1_var[size_t(other.i_in1)] * in2_var[size_t(other.i_in2)] *
             fan_in(other.mode, oa.mul, ob.mul);
      }
    }
    if (spec.path_normalization == PathNormalization::Path) {
      int64_t paths_into_out = 0;
      for (const TpInstruction& other : spec.instructions)
        paths_into_out += other.i_out == ins.i_out;
      x = in1_var[size_t(ins.i_in1)] * in2_var[size_t(ins.i_in2)] * fan_in(ins.mode, a.mul, b.mul);
      x *= double(paths_into_out);
    }
    if (x > 0.0) alpha /= x;
    alpha *= out_var[size_t(ins.i_out)];
    alpha *= ins.path_weight;
    p.coefficient = std::sqrt(alpha);

    const std::vector<double>& w3j = wigner_3j(a.ir.l, b.ir.l, c.ir.l);
    for (int32_t i = 0; i < int32_t(p.dim1); ++i) {
      for (int32_t j = 0; j < int32_t(p.dim2); ++j) {
        for (int32_t k = 0; k < int32_t(p.dim_out); ++k) {
          const double v = w3j[size_t((i * p.dim2 + j) * p.dim_out + k)];
          // wigner_3j is exact to a few ulp, so its structural zeros are far below this.
          if (std::abs(v) > 1e-14) p.cg.push_back({i, j, k, v * p.coefficient});
        }
      }
    }
    plan.paths.push_back(std::move(p));
  }
  return plan;
}

std::vector<int64_t> TpPlan::encode() const {
  std::vector<int64_t> out = {kMagic, dim1, dim2, dim_out, weight_numel};
  for (const auto* terms : {&terms1, &terms2, &terms_out}) {
    out.push_back(int64_t(terms->size()));
    for (const auto& [mul, dim] : *terms) {
      out.push_back(mul);
      out.push_back(dim);
    }
  }
  out.push_back(int64_t(paths.size()));
  for (const TpPath& p : paths) {
    out.insert(out.end(),
               {int64_t(p.mode), int64_t(p.has_weight), p.mul1, p.mul2, p.mul_out, p.dim1, p.dim2,
                p.dim_out, p.offset1, p.offset2, p.offset_out, p.weight_offset, p.weight_numel,
                bits_of(p.coefficient), int64_t(p.cg.size())});
    for (const CgEntry& e : p.cg) {
      out.insert(out.end(), {e.i, e.j, e.k, bits_of(e.value)});
    }
  }
  return out;
}

TpPlan TpPlan::decode(const int64_t* data, int64_t size) {
  Reader r(data, size);
  if (size < 1 || r.next() != kMagic) {
    throw std::invalid_argument("not a tensor-product plan (see TpPlan::encode)");
  }
  TpPlan plan;
  // Widths are bounded by what a plan of this size can describe, so loops over them end.
  const int64_t max_width = checked_mul(size, 1024).value_or(std::numeric_limits<int64_t>::max());
  plan.dim1 = r.count(max_width, "dim1");
  plan.dim2 = r.count(max_width, "dim2");
  plan.dim_out = r.count(max_width, "dim_out");
  plan.weight_numel = r.count(std::numeric_limits<int64_t>::max(), "weight_numel");
  const char* const sides[3] = {"1", "2", "_out"};
  const int64_t widths[3] = {plan.dim1, plan.dim2, plan.dim_out};
  std::vector<std::pair<int64_t, int64_t>>* const layouts[3] = {&plan.terms1, &plan.terms2,
                                                                &plan.terms_out};
  TermColumns columns[3];
  for (int s = 0; s < 3; ++s) {
    const char* const counts[3] = {"the number of terms1", "the number of terms2",
                                   "the number of terms_out"};
    const int64_t n = r.count(size, counts[s]);
    int64_t total = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t mul = r.next();
      const int64_t dim = r.next();
      const std::optional<int64_t> width = checked_mul(mul, dim);
      const std::optional<int64_t> sum = width ? checked_add(total, *width) : std::nullopt;
      // dim is 2l + 1: the kernels have code for each odd dimension.
      if (mul < 0 || dim <= 0 || dim % 2 == 0 || !sum || *sum > widths[s]) {
        corrupt(std::string("terms") + sides[s] + "[" + std::to_string(i) + "] is " +
                std::to_string(mul) + " x dim " + std::to_string(dim) +
                ", expected mul >= 0, an odd dim = 2l + 1 > 0 and the terms' mul * dim adding "
                "up to dim" +
                sides[s] + " = " + std::to_string(widths[s]));
      }
      columns[s].push_back({total, mul, dim});
      total = *sum;
      layouts[s]->emplace_back(mul, dim);
    }
    // Terms of multiplicity 0 share their first column with the next: sorted for the lookup.
    std::sort(columns[s].begin(), columns[s].end());
    if (total != widths[s]) {
      corrupt(std::string("the terms") + sides[s] + " add up to " + std::to_string(total) +
              ", expected dim" + sides[s] + " = " + std::to_string(widths[s]));
    }
  }
  const int64_t n_paths = r.count(size, "the number of paths");
  const int64_t last_mode = int64_t(ConnectionMode::ULVW);
  for (int64_t n = 0; n < n_paths; ++n) {
    TpPath p;
    const int64_t mode = r.next();
    if (mode < 0 || mode > last_mode) {
      corrupt(where(n) + "mode = " + std::to_string(mode) +
              ", expected 0 <= mode <= " + std::to_string(last_mode));
    }
    p.mode = ConnectionMode(mode);
    p.has_weight = r.next() != 0;
    p.mul1 = r.count(plan.dim1, "mul1", n);
    p.mul2 = r.count(plan.dim2, "mul2", n);
    p.mul_out = r.count(plan.dim_out, "mul_out", n);
    p.dim1 = r.count(max_width, "dim1", n);
    p.dim2 = r.count(max_width, "dim2", n);
    p.dim_out = r.count(max_width, "dim_out", n);
    if (p.dim1 % 2 == 0 || p.dim2 % 2 == 0 || p.dim_out % 2 == 0) {
      corrupt(where(n) + "dim1, dim2, dim_out = " + std::to_string(p.dim1) + ", " +
              std::to_string(p.dim2) + ", " + std::to_string(p.dim_out) +
              ", expected odd dimensions 2l + 1 > 0");
    }
    for (int64_t* v : {&p.offset1, &p.offset2, &p.offset_out, &p.weight_offset, &p.weight_numel}) {
      *v = r.next();
    }
    p.coefficient = double_of(r.next());
    const int64_t nnz = r.count(size, "the number of Clebsch-Gordan entries", n);
    for (int64_t e = 0; e < nnz; ++e) {
      const int64_t i = r.next(), j = r.next(), k = r.next();
      const double value = double_of(r.next());
      if (i < 0 || i >= p.dim1 || j < 0 || j >= p.dim2 || k < 0 || k >= p.dim_out) {
        corrupt(where(n) + "Clebsch-Gordan entry " + std::to_string(e) + " is at (" +
                std::to_string(i) + ", " + std::to_string(j) + ", " + std::to_string(k) +
                "), expected inside (dim1, dim2, dim_out) = (" + std::to_string(p.dim1) + ", " +
                std::to_string(p.dim2) + ", " + std::to_string(p.dim_out) + ")");
      }
      p.cg.push_back({int32_t(i), int32_t(j), int32_t(k), value});
    }
    // Every access of the kernels stays inside the rows and the weights.
    const TpInstruction ins{0, 0, 0, p.mode, p.has_weight, 1.0};
    const std::string mismatch = mode_mismatch(ins, p.mul1, p.mul2, p.mul_out);
    if (!mismatch.empty()) corrupt(where(n) + mismatch);
    check_columns(n, "1", p.offset1, p.mul1, p.dim1, plan.dim1);
    check_columns(n, "2", p.offset2, p.mul2, p.dim2, plan.dim2);
    check_columns(n, "_out", p.offset_out, p.mul_out, p.dim_out, plan.dim_out);
    check_term(n, "1", p.offset1, p.mul1, p.dim1, columns[0]);
    check_term(n, "2", p.offset2, p.mul2, p.dim2, columns[1]);
    check_term(n, "_out", p.offset_out, p.mul_out, p.dim_out, columns[2]);
    const std::optional<int64_t> shape = path_shape_numel(p.mode, p.mul1, p.mul2, p.mul_out);
    if (!shape) {
      corrupt(where(n) + "the weight shape of mul1 = " + std::to_string(p.mul1) +
              ", mul2 = " + std::to_string(p.mul2) + ", mul_out = " + std::to_string(p.mul_out) +
              " overflows int64");
    }
    const int64_t expected = p.has_weight ? *shape : 0;
    if (p.weight_numel != expected) {
      corrupt(where(n) + "weight_numel = " + std::to_string(p.weight_numel) + ", expected " +
              std::to_string(expected));
    }
    const std::optional<int64_t> weight_end = checked_add(p.weight_offset, p.weight_numel);
    if (p.weight_offset < 0 || !weight_end || *weight_end > plan.weight_numel) {
      corrupt(where(n) + "weight_offset = " + std::to_string(p.weight_offset) +
              " with weight_numel " + std::to_string(p.weight_numel) +
              ", expected 0 <= weight_offset and weight_offset + weight_numel <= " +
              std::to_string(plan.weight_numel) + " (the plan's weight_numel)");
    }
    plan.paths.push_back(std::move(p));
  }
  if (!r.done()) throw std::invalid_argument("tensor-product plan has trailing data");
  return plan;
}

}  // namespace e3core
