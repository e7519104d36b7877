// The binning frame of the neighbour search (see neighbor_frame.hpp).
#include "neighbor_frame.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace e3core::nl_detail {

Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
double norm(const Vec3& a) { return std::sqrt(dot(a, a)); }

// The shortest text that reads back as x, as Python's repr prints it (1.75e+150, not
// 1.7499999999999999e+150).
std::string str(double x) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof text, x);
  return std::string(text, result.ptr);
}

std::string pbc_str(const std::array<bool, 3>& pbc) {
  std::string s = "(";
  for (int c = 0; c < 3; ++c) s += std::string(c ? ", " : "") + (pbc[c] ? "true" : "false");
  return s + ")";
}

void check_count(int64_t n) {
  if (n < 0 || n >= (int64_t(1) << 31)) {
    throw std::invalid_argument("n is " + std::to_string(n) + ", expected 0 <= n < 2^31 atoms");
  }
}

void check_radius(const char* name, double r) {
  if (!std::isfinite(r) || r < 0 || r > kMaxLength) {
    throw std::invalid_argument(std::string(name) + " is " + str(r) +
                                ", expected a finite number in [0, " + kMaxLengthText +
                                "] (larger ones overflow the search's arithmetic)");
  }
  if (r > 0 && r < kMinCutoff) {
    throw std::invalid_argument(std::string(name) + " is " + str(r) + ", expected 0 or at least " +
                                kMinCutoffText + " (smaller ones underflow the search's squares)");
  }
}

// Shortens the periodic rows by subtracting integer multiples of one another until none gets
// shorter (a pairwise size reduction: the same lattice, closer to orthogonal). A skewed cell's
// faces are close together, and a cutoff reaches many of its images; the reduced cell's faces
// are further apart.
static void reduce(Frame& frame, const std::vector<int>& periodic) {
  bool shortened = true;
  for (int pass = 0; shortened && pass < 100; ++pass) {
    shortened = false;
    for (int a : periodic) {
      for (int b : periodic) {
        Vec3& rb = frame.rows[size_t(b)];
        const Vec3& ra = frame.rows[size_t(a)];
        const double m = a == b ? 0 : std::round(dot(rb, ra) / dot(ra, ra));
        if (m == 0 || std::abs(m) > kMaxCombination) continue;
        const Vec3 t = {rb[0] - m * ra[0], rb[1] - m * ra[1], rb[2] - m * ra[2]};
        if (!(dot(t, t) < dot(rb, rb) * (1 - 1e-12))) continue;
        std::array<int32_t, 3> row = frame.to_cell[size_t(b)];
        bool small = true;
        for (int c = 0; c < 3; ++c) {
          row[size_t(c)] -= int32_t(m) * frame.to_cell[size_t(a)][size_t(c)];
          small = small && std::abs(row[size_t(c)]) <= kMaxCombination;
        }
        if (!small) continue;
        rb = t;
        frame.to_cell[size_t(b)] = row;
        shortened = true;
      }
    }
  }
}

Frame binning_frame(const double* cell, const std::array<bool, 3>& pbc) {
  std::vector<int> periodic, open;
  for (int c = 0; c < 3; ++c) (pbc[c] ? periodic : open).push_back(c);
  Frame frame = {{Vec3{1, 0, 0}, Vec3{0, 1, 0}, Vec3{0, 0, 1}}, {}};
  for (int c = 0; c < 3; ++c) frame.to_cell[size_t(c)][size_t(c)] = 1;
  if (periodic.empty()) return frame;
  if (cell == nullptr) {
    throw std::invalid_argument("cell is missing but pbc is " + pbc_str(pbc) +
                                "; a periodic axis needs the cell");
  }
  Mat3& rows = frame.rows;
  for (int c : periodic) rows[size_t(c)] = {cell[3 * c], cell[3 * c + 1], cell[3 * c + 2]};
  const auto singular = [&]() {
    std::string list;
    for (int c : periodic) list += (list.empty() ? "" : ", ") + std::to_string(c);
    return std::invalid_argument("cell is singular on its periodic axes: rows " + list +
                                 " are linearly dependent (or zero, or too short to invert); "
                                 "expected independent lattice vectors on the periodic axes");
  };
  if (periodic.size() == 1) {
    const Vec3& v = rows[size_t(periodic[0])];
    const double length = norm(v);
    if (!(length > 0)) throw singular();
    const Vec3 u = {v[0] / length, v[1] / length, v[2] / length};
    // The Cartesian axis least aligned with u, made orthogonal to it.
    int k = 0;
    for (int c = 1; c < 3; ++c) k = std::abs(u[c]) < std::abs(u[k]) ? c : k;
    Vec3 w = {0, 0, 0};
    w[k] = 1;
    for (int c = 0; c < 3; ++c) w[c] -= u[k] * u[c];
    const double wl = norm(w);
    for (double& x : w) x /= wl;
    rows[size_t(open[0])] = w;
    rows[size_t(open[1])] = cross(u, w);
    return frame;
  }
  if (periodic.size() == 2) {
    const Vec3& a = rows[size_t(periodic[0])];
    const Vec3& b = rows[size_t(periodic[1])];
    if (!(norm(cross(a, b)) > kSingular * norm(a) * norm(b))) throw singular();
  } else {
    const double volume = std::abs(dot(rows[0], cross(rows[1], rows[2])));
    if (!(volume > kSingular * norm(rows[0]) * norm(rows[1]) * norm(rows[2]))) throw singular();
  }
  reduce(frame, periodic);
  if (periodic.size() == 2) {
    const Vec3 n = cross(rows[size_t(periodic[0])], rows[size_t(periodic[1])]);
    const double area = norm(n);
    rows[size_t(open[0])] = {n[0] / area, n[1] / area, n[2] / area};
  }
  // The tests above square the rows' lengths, which underflow for rows of 1e-160 or less: a row
  // of 5e-324 passed them, and its inverse, infinite, made fractional coordinates NaN.
  for (const Vec3& r : inverse(rows)) {
    for (double x : r) {
      if (!std::isfinite(x)) throw singular();
    }
  }
  return frame;
}

Frame checked_frame(const char* name, double cutoff, const double* cell,
                    const std::array<bool, 3>& pbc) {
  check_radius(name, cutoff);
  if (cell != nullptr) {
    for (int k = 0; k < 9; ++k) {
      if (!std::isfinite(cell[k]) || std::abs(cell[k]) > kMaxLength) {
        throw std::invalid_argument("cell[" + std::to_string(k / 3) + "][" + std::to_string(k % 3) +
                                    "] is " + str(cell[k]) +
                                    ", expected finite lattice vectors with entries of magnitude "
                                    "at most " +
                                    kMaxLengthText);
      }
    }
  }
  return binning_frame(cell, pbc);
}

Mat3 inverse(const Mat3& m) {
  const Vec3 c0 = cross(m[1], m[2]), c1 = cross(m[2], m[0]), c2 = cross(m[0], m[1]);
  const double det = dot(m[0], c0);
  Mat3 inv;
  for (int r = 0; r < 3; ++r) inv[r] = {c0[r] / det, c1[r] / det, c2[r] / det};
  return inv;
}

}  // namespace e3core::nl_detail
