// The binning frame of the cell-list neighbour search and the checks of its arguments, shared by
// the CPU search and the CUDA one's host side.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "e3core/neighbor_list.hpp"

namespace e3core::nl_detail {

using Vec3 = std::array<double, 3>;
using Mat3 = std::array<Vec3, 3>;

// Bins are at least cutoff (1 + kBinMargin) wide and a bin's reach covers cutoff
// (1 + kReachMargin): rounding in the fractional coordinates can then neither lose a pair nor
// make every bin reach one bin further than needed.
constexpr double kBinMargin = 1e-8;
constexpr double kReachMargin = 1e-10;
// Periodic rows spanning less than this fraction of the volume (area) of a box of their lengths
// are singular.
constexpr double kSingular = 1e-12;
// More neighbour bins than this per bin: the cutoff is absurdly larger than the cell.
constexpr int64_t kMaxReachedBins = int64_t(1) << 20;
// Bins per axis before the cap on the total: keeps the products below int64's range.
constexpr double kMaxBinsPerAxis = 1e6;
// Bounds that keep every shift (wraps and images, times the reduction's integers) in int32.
constexpr double kMaxWrap = double(1 << 20);
constexpr int32_t kMaxCombination = 64;
// Largest cutoff (radius), coordinate and cell entry accepted. The search pads its vectors with
// points at 1e150 and squares and cubes the cutoff: a cutoff past about 1.7e150, or an atom near
// (1e150, 1e150, 1e150), makes the padding count as neighbours (wrong pairs, then out-of-bounds
// indices). 1e100 keeps the padding out of reach and cutoff^3 finite with a wide margin.
constexpr double kMaxLength = kNeighborMaxLength;
constexpr const char* kMaxLengthText = "1e100";
// Smallest cutoff (radius) accepted but 0: below about 1e-154 its square underflows, and the
// search's comparisons of squared distances lose pairs (two atoms at the same place were not
// within a cutoff of 1e-160). 1e-100 keeps cutoff^2 a normal double with a wide margin.
constexpr double kMinCutoff = 1e-100;
constexpr const char* kMinCutoffText = "1e-100";

using IMat3 = std::array<std::array<int32_t, 3>, 3>;

// Where atoms are binned: rows the lattice vectors on periodic axes and, on the others, unit
// vectors orthogonal to them. No shift crosses a non-periodic axis, so the cell's rows there do
// not matter; orthogonal ones keep the bins' faces a cutoff apart. The periodic rows are a
// reduced basis of the cell's lattice, rows = to_cell cell (to_cell integer, unimodular): a
// shift S' in these rows is the cell shift S' to_cell.
struct Frame {
  Mat3 rows;
  IMat3 to_cell;
};

Vec3 cross(const Vec3& a, const Vec3& b);
double dot(const Vec3& a, const Vec3& b);
double norm(const Vec3& a);
// A double with all its digits, for messages.
std::string str(double x);
std::string pbc_str(const std::array<bool, 3>& pbc);
// Throws std::invalid_argument unless 0 <= n < 2^31.
void check_count(int64_t n);
// Throws std::invalid_argument unless r is 0 or in [kMinCutoff, kMaxLength]; `name` starts the
// message.
void check_radius(const char* name, double r);
// The frame of a cell (null when no axis is periodic); throws std::invalid_argument for a missing
// or singular cell.
Frame binning_frame(const double* cell, const std::array<bool, 3>& pbc);
// The checks of a search's arguments, in the CPU search's order (the cutoff, named `name`, then
// the cell's entries, then its rank on the periodic axes), and the frame of the cell.
Frame checked_frame(const char* name, double cutoff, const double* cell,
                    const std::array<bool, 3>& pbc);
// inverse(frame): fractional coordinates are f = p inverse, p a row vector.
Mat3 inverse(const Mat3& m);

}  // namespace e3core::nl_detail
