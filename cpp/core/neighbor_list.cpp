// Cell-list neighbour search. Atoms are binned by a counting sort on a grid of bins at least a
// cutoff wide, in fractional coordinates of a binning frame (the cell's rows on periodic axes);
// every atom of a bin is then tested against the atoms of the bins within reach, gathered once
// per bin with their periodic shifts, four at a time. Threads take blocks of bins in turn; each
// block's pairs go to its own buffer, copied into the caller's arrays once all are counted.
// Everything is flat arrays (bins are ranges of slots), the layout a CUDA port will want.
#include "e3core/neighbor_list.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cpu_dispatch.hpp"
#include "neighbor_frame.hpp"

namespace e3core {
namespace {

using namespace nl_detail;

template <typename T>
void check_positions(const T* positions, int64_t n) {
  for (int64_t a = 0; a < n; ++a) {
    const T* p = positions + 3 * a;
    // Negated so that NaN fails too; the bound keeps atoms away from the padding (kMaxLength).
    const auto fits = [](double x) { return std::abs(x) <= kMaxLength; };
    if (!(fits(double(p[0])) && fits(double(p[1])) && fits(double(p[2])))) {
      throw std::invalid_argument(
          "positions[" + std::to_string(a) + "] is (" + str(p[0]) + ", " + str(p[1]) + ", " +
          str(p[2]) + "), expected finite coordinates of magnitude at most " + kMaxLengthText);
    }
  }
}

// One system's bins: a molecule of a batch, or the whole periodic system.
struct Grid {
  int64_t atom_begin = 0, atom_end = 0;  // its atoms order[atom_begin, atom_end), also its slots
  int64_t bin_begin = 0;                 // its bins [bin_begin, bin_begin + n0 n1 n2)
  std::array<int64_t, 3> n = {1, 1, 1};  // bins per axis
  std::array<int64_t, 3> reach = {0, 0, 0};  // bins a bin reaches along each axis, either way
  Vec3 origin = {0, 0, 0};                   // fractional coordinate of the first bin's lower face
  Vec3 scale = {0, 0, 0};                    // bins per unit of fractional coordinate
  Vec3 width = {0, 0, 0};                    // Cartesian distance between a bin's opposite faces
  double neighbors = 0;  // atoms expected within the cutoff of one of its atoms, images included

  int64_t bins() const { return n[0] * n[1] * n[2]; }
};

// A growable array of trivially copyable values that, unlike std::vector, leaves new elements
// uninitialised: hot loops ask for room once and write through a pointer.
template <typename V>
class Buffer {
 public:
  size_t size() const { return size_; }
  const V* data() const { return data_.get(); }
  const V& operator[](size_t k) const { return data_[k]; }
  void clear() { size_ = 0; }
  // Room for `more` values past the end, growing to at least `hint` if it must grow.
  V* extend(size_t more, size_t hint = 0) {
    if (size_ + more > capacity_ || hint > capacity_) {
      capacity_ = std::max({size_ + more, 2 * capacity_, hint});
      std::unique_ptr<V[]> grown(new V[capacity_]);
      if (size_ > 0) std::memcpy(grown.get(), data_.get(), size_ * sizeof(V));
      data_ = std::move(grown);
    }
    V* end = data_.get() + size_;
    size_ += more;
    return end;
  }
  void reserve(size_t capacity) {
    if (capacity > capacity_) extend(0, capacity);
  }
  // Drops the last values, e.g. the unused part of extend()'s room.
  void shrink(size_t size) { size_ = size; }

 private:
  std::unique_ptr<V[]> data_;
  size_t size_ = 0, capacity_ = 0;
};

// The atoms of the bins one bin reaches, each moved to the periodic image it is reached in, in
// contiguous arrays padded to whole vectors with points beyond any cutoff.
struct Reach {
  Buffer<double> x, y, z;
  Buffer<int32_t> atom;
  // 3 per atom: the cell shift of its image minus its wrap; a pair's S is this plus the wrap of
  // the atom searched from.
  Buffer<int32_t> image;
};

// A bin reached from another: its slots, its periodic image and that image's translation.
struct Reached {
  int64_t begin, end;
  std::array<int32_t, 3> image;  // as a cell shift
  Vec3 shift;
};

// The atom being searched from: its index, its wrap and its position in the cell.
struct Query {
  int32_t atom;
  const int32_t* wrap;
  double x, y, z;
};

typedef double Lanes4 __attribute__((vector_size(32)));
constexpr int64_t kLanes = 4;
constexpr double kFar = 1e150;  // padding: its squared distance stays finite and huge
// Atoms in a block of work: enough to amortise a task, few enough to balance the threads.
constexpr int64_t kBlockAtoms = 512;

// Writes the indices into `reach` of the atoms closer than sqrt(c2) to q; returns how many.
E3CORE_ALWAYS_INLINE inline int64_t scan(const Reach& reach, const Query& q, double c2,
                                         int32_t* hits) {
  int64_t count = 0;
  const int64_t padded = int64_t(reach.x.size());
  for (int64_t k = 0; k < padded; k += kLanes) {
    Lanes4 x, y, z;
    std::memcpy(&x, reach.x.data() + k, sizeof x);
    std::memcpy(&y, reach.y.data() + k, sizeof y);
    std::memcpy(&z, reach.z.data() + k, sizeof z);
    x -= q.x;
    y -= q.y;
    z -= q.z;
    const auto near = x * x + y * y + z * z < c2;
    // Most blocks hold no neighbour: one test skips them.
    if ((near[0] | near[1] | near[2] | near[3]) == 0) continue;
    for (int64_t l = 0; l < kLanes; ++l) {
      hits[count] = int32_t(k + l);
      count += near[l] & 1;
    }
  }
  return count;
}

// Runs task(k) for k in [0, count) on exec's threads, each thread taking the next task when done
// with one, so that no thread waits for another slowed down (by a core busy with other work, or
// denser bins).
template <typename Task>
void for_each_task(const Executor& exec, int64_t count, Task&& task) {
  std::atomic<int64_t> next{0};
  exec(count, 1, [&](int64_t, int64_t) {
    for (int64_t k = next++; k < count; k = next++) task(k);
  });
}

// Atoms binned in every grid: slots are atoms sorted by bin, bins are ranges of slots.
class CellList {
 public:
  // `order` lists the atoms grid by grid (null: 0, 1, ..., n - 1); each grid's atom range is set.
  template <typename T>
  CellList(const T* positions, int64_t n, const int64_t* order, std::vector<Grid> grids,
           const Frame& frame, const std::array<bool, 3>& periodic, double cutoff,
           const Executor& exec)
      : frame_(frame.rows),
        inv_(inverse(frame.rows)),
        to_cell_(frame.to_cell),
        periodic_(periodic),
        cutoff_(cutoff),
        grids_(std::move(grids)),
        slot_atom_(size_t(n)),
        slot_wrap_(size_t(3 * n)),
        x_(size_t(n)),
        y_(size_t(n)),
        z_(size_t(n)) {
    // By position in `order`: fractional coordinates and wraps into the cell.
    std::vector<double> fractional(size_t(3 * n));
    std::vector<int32_t> wrap(size_t(3 * n), 0);
    const auto atom = [&](int64_t a) { return order ? order[a] : a; };
    for_each_task(exec, int64_t(grids_.size()), [&](int64_t g) {
      setup_grid(grids_[size_t(g)], positions, atom, fractional.data(), wrap.data());
    });
    int64_t bins = 0;
    for (Grid& g : grids_) {
      g.bin_begin = bins;
      bins += g.bins();
    }
    bin_start_.assign(size_t(bins + 1), 0);
    bin_start_[size_t(bins)] = n;
    for_each_task(exec, int64_t(grids_.size()), [&](int64_t g) {
      std::vector<int64_t> bin_of, cursor;
      fill_grid(grids_[size_t(g)], positions, atom, fractional.data(), wrap.data(), bin_of, cursor);
    });
  }

  int64_t bins() const { return int64_t(bin_start_.size()) - 1; }
  double atoms_per_bin() const {
    return double(slot_atom_.size()) / double(std::max<int64_t>(1, bins()));
  }

  // How many hits the search of the bins [b0, b1) should find, from the grids' mean densities.
  double expected_hits(int64_t b0, int64_t b1) const {
    double hits = 0;
    for (const Grid& g : grids_) {
      const int64_t lo = std::max(b0, g.bin_begin), hi = std::min(b1, g.bin_begin + g.bins());
      if (lo < hi) hits += double(bin_start_[size_t(hi)] - bin_start_[size_t(lo)]) * g.neighbors;
    }
    return hits;
  }

  // Calls visit(query, reach, hits, count) for every atom of the bins [b0, b1), `hits` listing
  // the atoms of `reach` closer than the cutoff (the query's own atom included).
  template <typename Visit>
  void search(int64_t b0, int64_t b1, Visit&& visit) const {
    size_t g =
        size_t(std::upper_bound(grids_.begin(), grids_.end(), b0,
                                [](int64_t b, const Grid& grid) { return b < grid.bin_begin; }) -
               grids_.begin() - 1);
    const double c2 = cutoff_ * cutoff_;
    Reach reach;
    std::vector<Reached> reached;
    std::vector<int32_t> hits;
    run_fastest([&]() E3CORE_ALWAYS_INLINE {
      for (int64_t b = b0; b < b1; ++b) {
        while (b >= grids_[g].bin_begin + grids_[g].bins()) ++g;
        const int64_t a0 = bin_start_[size_t(b)], a1 = bin_start_[size_t(b + 1)];
        if (a0 == a1) continue;
        gather(grids_[g], b, reached, reach);
        if (hits.size() < reach.x.size()) hits.resize(reach.x.size());
        for (int64_t a = a0; a < a1; ++a) {
          const Query q = {slot_atom_[size_t(a)], slot_wrap_.data() + 3 * a, x_[size_t(a)],
                           y_[size_t(a)], z_[size_t(a)]};
          visit(q, reach, hits.data(), scan(reach, q, c2, hits.data()));
        }
      }
    });
  }

 private:
  // Fractional coordinates of the grid's atoms (wrapped on periodic axes), then its bins.
  template <typename T, typename Atom>
  void setup_grid(Grid& grid, const T* positions, const Atom& atom, double* fractional,
                  int32_t* wrap) {
    Vec3 lo = {0, 0, 0}, hi = {0, 0, 0};
    for (int64_t a = grid.atom_begin; a < grid.atom_end; ++a) {
      const int64_t i = atom(a);
      const Vec3 p = {double(positions[3 * i]), double(positions[3 * i + 1]),
                      double(positions[3 * i + 2])};
      double* f = fractional + 3 * a;
      for (int c = 0; c < 3; ++c) {
        f[c] = p[0] * inv_[0][c] + p[1] * inv_[1][c] + p[2] * inv_[2][c];
        if (periodic_[c]) {
          const double w = std::floor(f[c]);
          if (!(std::abs(w) <= kMaxWrap)) {  // NaN too: inf - inf in f
            throw std::invalid_argument("positions[" + std::to_string(i) + "] lies " + str(w) +
                                        " cells away along axis " + std::to_string(c) +
                                        ", expected fewer than 2^20");
          }
          wrap[3 * a + c] = int32_t(w);
          f[c] -= w;
        }
        lo[c] = a == grid.atom_begin ? f[c] : std::min(lo[c], f[c]);
        hi[c] = a == grid.atom_begin ? f[c] : std::max(hi[c], f[c]);
      }
    }
    const double bin_cutoff = cutoff_ * (1 + kBinMargin);
    std::array<double, 3> plane = {0, 0, 0};  // length of the reciprocal vector of each axis
    for (int c = 0; c < 3; ++c) {
      plane[c] =
          std::sqrt(inv_[0][c] * inv_[0][c] + inv_[1][c] * inv_[1][c] + inv_[2][c] * inv_[2][c]);
      const double extent = periodic_[c] ? 1.0 : hi[c] - lo[c];
      grid.origin[c] = periodic_[c] ? 0.0 : lo[c];
      const double fit = std::floor(extent / plane[c] / bin_cutoff);
      grid.n[c] = int64_t(std::clamp(fit, 1.0, kMaxBinsPerAxis));
    }
    // Far fewer atoms than bins (a dilute gas, a molecule in a big box): coarser bins.
    const int64_t cap = std::max<int64_t>(8, 2 * (grid.atom_end - grid.atom_begin));
    while (grid.bins() > cap) {
      const double factor = std::cbrt(double(cap) / double(grid.bins()));
      for (int64_t& nc : grid.n) nc = std::max<int64_t>(1, int64_t(double(nc) * factor));
      if (factor > 0.5) {  // the floors alone may stall just above the cap
        *std::max_element(grid.n.begin(), grid.n.end()) -= 1;
      }
    }
    int64_t reached = 1;
    for (int c = 0; c < 3; ++c) {
      const double extent = periodic_[c] ? 1.0 : hi[c] - lo[c];
      // n / extent overflows for an extent of a few subnormals (atoms 1e-320 apart): then one bin
      // holds every atom, rather than 0 * inf = NaN making a bin index.
      const double scale = extent > 0 ? double(grid.n[c]) / extent : 0.0;
      grid.scale[c] = std::isfinite(scale) ? scale : 0.0;
      grid.width[c] = grid.scale[c] > 0 ? 1.0 / (plane[c] * grid.scale[c]) : 0.0;
      const double reach = std::ceil(cutoff_ * (1 + kReachMargin) * plane[c] * grid.scale[c]);
      grid.reach[c] = periodic_[c] ? int64_t(std::min(reach, double(kMaxReachedBins)))
                                   : std::min<int64_t>(int64_t(std::min(reach, kMaxBinsPerAxis)),
                                                       grid.n[c] - 1);
      reached *= 2 * grid.reach[c] + 1;
      if (reached > kMaxReachedBins) {
        throw std::invalid_argument("cutoff is " + str(cutoff_) + ", over " +
                                    str(std::floor(cutoff_ * plane[c])) +
                                    " times the cell's width along axis " + std::to_string(c) +
                                    "; expected a cutoff that reaches fewer periodic images");
      }
    }
    // From the mean density: in the cell, or in the atoms' bounding box (at most every atom).
    const int64_t atoms = grid.atom_end - grid.atom_begin;
    double volume = std::abs(dot(frame_[0], cross(frame_[1], frame_[2])));
    bool open = false;
    for (int c = 0; c < 3; ++c) {
      if (!periodic_[c]) volume *= hi[c] - lo[c];
      open = open || !periodic_[c];
    }
    const double sphere = 4.0 / 3.0 * 3.14159265358979 * cutoff_ * cutoff_ * cutoff_;
    grid.neighbors = volume > 0 ? double(atoms) / volume * sphere : double(atoms);
    if (open) grid.neighbors = std::min(grid.neighbors, double(atoms));
  }

  // Bins of the grid's atoms and the counting sort of its atoms into its slots.
  template <typename T, typename Atom>
  void fill_grid(const Grid& grid, const T* positions, const Atom& atom, const double* fractional,
                 const int32_t* wrap, std::vector<int64_t>& bin_of, std::vector<int64_t>& cursor) {
    const int64_t count = grid.atom_end - grid.atom_begin;
    bin_of.resize(size_t(count));
    cursor.assign(size_t(grid.bins()), 0);
    for (int64_t a = 0; a < count; ++a) {
      const double* f = fractional + 3 * (grid.atom_begin + a);
      int64_t bin = 0;
      for (int c = 0; c < 3; ++c) {
        const double u = std::floor((f[c] - grid.origin[c]) * grid.scale[c]);
        bin = bin * grid.n[c] + int64_t(std::clamp(u, 0.0, double(grid.n[c] - 1)));
      }
      bin_of[size_t(a)] = bin;
      ++cursor[size_t(bin)];
    }
    int64_t next = grid.atom_begin;  // the counts become each bin's first slot
    for (int64_t b = 0; b < grid.bins(); ++b) {
      const int64_t in_bin = cursor[size_t(b)];
      bin_start_[size_t(grid.bin_begin + b)] = cursor[size_t(b)] = next;
      next += in_bin;
    }
    for (int64_t a = 0; a < count; ++a) {
      const int64_t slot = cursor[size_t(bin_of[size_t(a)])]++;
      const int64_t i = atom(grid.atom_begin + a);
      const int32_t* w = wrap + 3 * (grid.atom_begin + a);
      Vec3 p = {double(positions[3 * i]), double(positions[3 * i + 1]),
                double(positions[3 * i + 2])};
      for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 3; ++c) p[c] -= w[r] * frame_[r][c];
      }
      slot_atom_[size_t(slot)] = int32_t(i);
      const std::array<int32_t, 3> cell_wrap = cell_shift({w[0], w[1], w[2]});
      std::copy(cell_wrap.begin(), cell_wrap.end(), slot_wrap_.begin() + 3 * slot);
      x_[size_t(slot)] = p[0];
      y_[size_t(slot)] = p[1];
      z_[size_t(slot)] = p[2];
    }
  }

  // A shift of the frame's rows as a shift of the cell's.
  std::array<int32_t, 3> cell_shift(const std::array<int32_t, 3>& s) const {
    std::array<int32_t, 3> out = {0, 0, 0};
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 3; ++c) out[size_t(c)] += s[size_t(r)] * to_cell_[size_t(r)][size_t(c)];
    }
    return out;
  }

  // The atoms of the bins within reach of bin b, each in the periodic image reached.
  void gather(const Grid& grid, int64_t b, std::vector<Reached>& reached, Reach& reach) const {
    reached.clear();
    int64_t local = b - grid.bin_begin;
    std::array<int64_t, 3> at;
    for (int c = 3; c-- > 0;) {
      at[size_t(c)] = local % grid.n[size_t(c)];
      local /= grid.n[size_t(c)];
    }
    std::array<int64_t, 3> o, to;
    std::array<int32_t, 3> image;
    int64_t count = 0;
    // Bins whose faces are a cutoff apart along some axis are skipped: nothing in them is near.
    const auto visit_axis = [&](int c, auto&& next) {
      for (o[size_t(c)] = -grid.reach[size_t(c)]; o[size_t(c)] <= grid.reach[size_t(c)];
           ++o[size_t(c)]) {
        const int64_t gap = std::max<int64_t>(std::abs(o[size_t(c)]) - 1, 0);
        if (double(gap) * grid.width[size_t(c)] >= cutoff_ * (1 + kReachMargin)) continue;
        int64_t t = at[size_t(c)] + o[size_t(c)];
        const int64_t nc = grid.n[size_t(c)];
        int64_t s = 0;
        if (periodic_[size_t(c)]) {
          s = t >= 0 ? t / nc : -((-t + nc - 1) / nc);
          t -= s * nc;
        } else if (t < 0 || t >= nc) {
          continue;
        }
        to[size_t(c)] = t;
        image[size_t(c)] = int32_t(s);
        next();
      }
    };
    visit_axis(0, [&] {
      visit_axis(1, [&] {
        visit_axis(2, [&] {
          const int64_t bin = grid.bin_begin + (to[0] * grid.n[1] + to[1]) * grid.n[2] + to[2];
          const int64_t begin = bin_start_[size_t(bin)], end = bin_start_[size_t(bin + 1)];
          if (begin == end) return;
          Vec3 shift = {0, 0, 0};
          for (int r = 0; r < 3; ++r) {
            for (int c = 0; c < 3; ++c) shift[size_t(c)] += image[size_t(r)] * frame_[r][c];
          }
          reached.push_back({begin, end, cell_shift(image), shift});
          count += end - begin;
        });
      });
    });
    const size_t padded = size_t((count + kLanes - 1) / kLanes * kLanes);
    std::array<double*, 3> xyz;
    for (int c = 0; c < 3; ++c) {
      Buffer<double>& v = c == 0 ? reach.x : c == 1 ? reach.y : reach.z;
      v.clear();
      xyz[size_t(c)] = v.extend(padded);
      std::fill(xyz[size_t(c)] + count, xyz[size_t(c)] + padded, kFar);
    }
    reach.atom.clear();
    reach.image.clear();
    int32_t* atom = reach.atom.extend(size_t(count));
    int32_t* shift = reach.image.extend(3 * size_t(count));
    int64_t k = 0;
    for (const Reached& to_bin : reached) {
      for (int64_t slot = to_bin.begin; slot < to_bin.end; ++slot, ++k) {
        xyz[0][k] = x_[size_t(slot)] + to_bin.shift[0];
        xyz[1][k] = y_[size_t(slot)] + to_bin.shift[1];
        xyz[2][k] = z_[size_t(slot)] + to_bin.shift[2];
        atom[k] = slot_atom_[size_t(slot)];
        for (int c = 0; c < 3; ++c) {
          shift[3 * k + c] = to_bin.image[size_t(c)] - slot_wrap_[size_t(3 * slot + c)];
        }
      }
    }
  }

  Mat3 frame_, inv_;
  IMat3 to_cell_;  // a shift S' of the frame's rows is the cell shift S' to_cell_
  std::array<bool, 3> periodic_;
  double cutoff_;
  std::vector<Grid> grids_;
  std::vector<int64_t> bin_start_;
  std::vector<int32_t> slot_atom_;
  std::vector<int32_t> slot_wrap_;  // 3 per slot: its atom's wrap, as a cell shift
  std::vector<double> x_, y_, z_;   // positions by slot, wrapped into the cell
};

// A pair in a block's buffer: the other atom and the cell shift.
struct Pair {
  int32_t j;
  std::array<int32_t, 3> shift;
};

// The pairs of one atom: pairs[begin, begin + count) of its chunk.
struct Run {
  int32_t atom;
  int64_t begin, count;
};

// The pairs found in one block of bins.
struct Chunk {
  Buffer<Pair> pairs;
  std::vector<Run> runs;
};

// How collect_pairs orders its output.
enum class Layout {
  Search,      // in the order of the search (by bin), each atom's pairs together
  ByAtom,      // grouped by atom, atoms in index order
  Transposed,  // pair (i, j, S) written as (j, i, -S), grouped by atom, each atom's by index
};

// Where a run of pairs is.
struct RunRef {
  const Pair* pairs = nullptr;
  int64_t count = 0;
};

// The pairs of `chunks` with (i, j, S) made (j, i, -S), grouped by j and, within each j, sorted
// by i, then S. A transposition: visiting the i in order appends to each j its i in order.
// Returns where each atom's pairs start (n + 1 entries).
std::vector<int64_t> transpose(const std::vector<std::unique_ptr<Chunk>>& chunks, int64_t n,
                               const Executor& exec, Buffer<Pair>& out) {
  std::vector<RunRef> run_of(static_cast<size_t>(n));
  std::vector<int64_t> start(size_t(n) + 1, 0);
  for (const auto& chunk : chunks) {
    for (const Run& run : chunk->runs)
      run_of[size_t(run.atom)] = {chunk->pairs.data() + run.begin, run.count};
    for (size_t k = 0; k < chunk->pairs.size(); ++k) ++start[size_t(chunk->pairs[k].j) + 1];
  }
  std::partial_sum(start.begin(), start.end(), start.begin());
  out.clear();
  Pair* sorted = out.extend(size_t(start.back()));
  std::vector<int64_t> cursor(start.begin(), start.end() - 1);
  for (int64_t i = 0; i < n; ++i) {
    const RunRef& run = run_of[size_t(i)];
    for (int64_t k = 0; k < run.count; ++k) {
      const Pair& p = run.pairs[k];
      sorted[cursor[size_t(p.j)]++] = {int32_t(i), {-p.shift[0], -p.shift[1], -p.shift[2]}};
    }
  }
  // One i in several images of j: those pairs are together, in search order; sort them by S.
  for_each_task(exec, (n + kBlockAtoms - 1) / kBlockAtoms, [&](int64_t block) {
    for (int64_t j = block * kBlockAtoms; j < std::min(n, (block + 1) * kBlockAtoms); ++j) {
      const int64_t last = start[size_t(j) + 1];
      for (int64_t k = start[size_t(j)], end; k < last; k = end) {
        for (end = k + 1; end < last && sorted[end].j == sorted[k].j;) ++end;
        if (end - k > 1) {
          std::sort(sorted + k, sorted + end,
                    [](const Pair& a, const Pair& b) { return a.shift < b.shift; });
        }
      }
    }
  });
  return start;
}

// Searches every bin on `exec`'s threads, select(query, reach, hits, count, pairs) appending each
// atom's pairs, then copies them out in the given layout: write(atom, pairs, count, start) for
// each atom, `start` being where its pairs go in the arrays of allocate(total). `kept` is about
// the fraction of the hits that select keeps: buffers are sized for it. Returns the total.
template <typename Select, typename Allocate, typename Write>
int64_t collect_pairs(const CellList& list, int64_t n, Layout layout, double kept,
                      const Executor& exec, Select&& select, Allocate&& allocate, Write&& write) {
  // Blocks of bins of about kBlockAtoms atoms, each searched into its own chunk.
  const int64_t bins_per_block =
      std::max<int64_t>(1, int64_t(double(kBlockAtoms) / std::max(list.atoms_per_bin(), 1e-3)));
  const int64_t blocks = (list.bins() + bins_per_block - 1) / bins_per_block;
  std::vector<std::unique_ptr<Chunk>> chunks(static_cast<size_t>(blocks));
  for_each_task(exec, blocks, [&](int64_t block) {
    const int64_t b0 = block * bins_per_block, b1 = std::min(list.bins(), b0 + bins_per_block);
    auto chunk = std::make_unique<Chunk>();
    chunk->pairs.reserve(size_t(1.05 * kept * list.expected_hits(b0, b1)) + 1024);
    list.search(b0, b1,
                [&](const Query& q, const Reach& reach, const int32_t* hits, int64_t count) {
                  const int64_t begin = int64_t(chunk->pairs.size());
                  select(q, reach, hits, count, chunk->pairs);
                  chunk->runs.push_back({q.atom, begin, int64_t(chunk->pairs.size()) - begin});
                });
    chunks[size_t(block)] = std::move(chunk);
  });
  if (layout == Layout::Transposed) {
    Buffer<Pair> sorted;
    const std::vector<int64_t> start = transpose(chunks, n, exec, sorted);
    chunks.clear();
    allocate(start.back());
    for_each_task(exec, (n + kBlockAtoms - 1) / kBlockAtoms, [&](int64_t block) {
      for (int64_t i = block * kBlockAtoms; i < std::min(n, (block + 1) * kBlockAtoms); ++i) {
        write(int32_t(i), sorted.data() + start[size_t(i)], start[size_t(i) + 1] - start[size_t(i)],
              start[size_t(i)]);
      }
    });
    return start.back();
  }
  // Where each atom's pairs start (ByAtom), or each chunk's.
  const bool by_atom = layout == Layout::ByAtom;
  std::vector<int64_t> start(size_t(by_atom ? n : int64_t(chunks.size())) + 1, 0);
  for (size_t c = 0; c < chunks.size(); ++c) {
    if (!by_atom) start[c + 1] = int64_t(chunks[c]->pairs.size());
    for (const Run& run : chunks[c]->runs) {
      if (by_atom) start[size_t(run.atom) + 1] = run.count;
    }
  }
  std::partial_sum(start.begin(), start.end(), start.begin());
  allocate(start.back());
  for_each_task(exec, int64_t(chunks.size()), [&](int64_t c) {
    const Chunk& chunk = *chunks[size_t(c)];
    for (const Run& run : chunk.runs) {
      write(run.atom, chunk.pairs.data() + run.begin, run.count,
            by_atom ? start[size_t(run.atom)] : start[size_t(c)] + run.begin);
    }
  });
  return start.back();
}

bool positive(const std::array<int32_t, 3>& s) {
  return s[0] > 0 || (s[0] == 0 && (s[1] > 0 || (s[1] == 0 && s[2] > 0)));
}

}  // namespace

template <typename T>
int64_t neighbor_list(const NeighborListOptions& options, const T* positions, int64_t n,
                      const T* cell, const PairAllocator<T>& allocate, const Executor& exec) {
  check_count(n);
  double cell_rows[9];
  if (cell != nullptr) std::copy(cell, cell + 9, cell_rows);
  const Frame frame =
      checked_frame("cutoff", options.cutoff, cell ? cell_rows : nullptr, options.pbc);
  check_positions(positions, n);
  if (n == 0 || options.cutoff == 0) {
    allocate(0);
    return 0;
  }
  Grid whole;
  whole.atom_end = n;
  const CellList list(positions, n, nullptr, {whole}, frame, options.pbc, options.cutoff, exec);

  // Sorted lists are transposed from the search's: then the search keeps the half that becomes
  // the half list once transposed.
  const bool mirror = options.sorted;
  const auto select = [&](const Query& q, const Reach& reach, const int32_t* hits, int64_t count,
                          Buffer<Pair>& pairs) {
    const size_t begin = pairs.size();
    Pair* first = pairs.extend(size_t(count));
    size_t kept = 0;
    for (int64_t h = 0; h < count; ++h) {
      const int32_t k = hits[h];
      const int32_t j = reach.atom[size_t(k)];
      const int32_t* image = reach.image.data() + 3 * k;
      const std::array<int32_t, 3> s = {image[0] + q.wrap[0], image[1] + q.wrap[1],
                                        image[2] + q.wrap[2]};
      if (j == q.atom && s[0] == 0 && s[1] == 0 && s[2] == 0) {
        if (!options.self_interaction) continue;
      } else if (!options.full_list && (j < q.atom || (j == q.atom && !positive(s))) != mirror) {
        continue;  // the half list keeps the copy with i < j, or with S > 0 for i's own images
      }
      first[kept++] = {j, s};
    }
    pairs.shrink(begin + kept);
  };
  NeighborPairs<T> out;
  const auto write = [&](int32_t i, const Pair* pairs, int64_t count, int64_t start) {
    if (out.i) std::fill(out.i + start, out.i + start + count, int64_t(i));
    if (out.j) {
      for (int64_t q = 0; q < count; ++q) out.j[start + q] = pairs[q].j;
    }
    if (out.shifts) {
      for (int64_t q = 0; q < count; ++q) {
        for (int c = 0; c < 3; ++c) out.shifts[3 * (start + q) + c] = pairs[q].shift[size_t(c)];
      }
    }
    if (!out.vectors && !out.distances) return;
    const T* pi = positions + 3 * i;
    for (int64_t q = 0; q < count; ++q) {
      // ase's formula, so that D does not depend on the images the search went through.
      const Pair& pair = pairs[q];
      const T* pj = positions + 3 * pair.j;
      double d[3];
      for (int c = 0; c < 3; ++c) {
        double shift = 0;
        if (cell) {
          for (int r = 0; r < 3; ++r) shift += pair.shift[size_t(r)] * cell_rows[3 * r + c];
        }
        d[c] = (double(pj[c]) - double(pi[c])) + shift;
      }
      const int64_t e = start + q;
      if (out.vectors) {
        for (int c = 0; c < 3; ++c) out.vectors[3 * e + c] = T(d[c]);
      }
      if (out.distances) out.distances[e] = T(std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]));
    }
  };
  return collect_pairs(
      list, n, options.sorted ? Layout::Transposed : Layout::Search, options.full_list ? 1.0 : 0.5,
      exec, select, [&](int64_t total) { out = allocate(total); }, write);
}

template <typename T>
int64_t radius_graph(const RadiusGraphOptions& options, const T* positions, int64_t n,
                     const int64_t* batch, const std::function<int64_t*(int64_t)>& allocate,
                     const Executor& exec) {
  check_count(n);
  check_radius("r_max", options.r_max);
  check_positions(positions, n);
  if (n == 0 || options.r_max == 0 || options.max_num_neighbors == 0) {
    allocate(0);
    return 0;
  }
  // Molecules: runs of equal batch values, after a stable sort when they are not contiguous.
  std::vector<int64_t> order;
  if (batch != nullptr && !std::is_sorted(batch, batch + n)) {
    order.resize(size_t(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return batch[a] < batch[b]; });
  }
  const auto atom = [&](int64_t a) { return order.empty() ? a : order[size_t(a)]; };
  std::vector<Grid> grids;
  for (int64_t a = 0; a < n; ++a) {
    if (a == 0 || (batch && batch[atom(a)] != batch[atom(a - 1)])) {
      if (!grids.empty()) grids.back().atom_end = a;
      grids.emplace_back();
      grids.back().atom_begin = a;
    }
  }
  grids.back().atom_end = n;
  const Frame frame = binning_frame(nullptr, {false, false, false});
  const CellList list(positions, n, order.empty() ? nullptr : order.data(), std::move(grids), frame,
                      {false, false, false}, options.r_max, exec);

  // Without a limit the graph is symmetric: the transposition of the searches' lists gives each
  // target its sources in order. With one, each target keeps its nearest, then sorts them.
  const bool limited = options.max_num_neighbors > 0;
  const auto select = [&](const Query& q, const Reach& reach, const int32_t* hits, int64_t count,
                          Buffer<Pair>& pairs) {
    if (!limited) {
      Pair* first = pairs.extend(size_t(count));
      size_t kept = 0;
      for (int64_t h = 0; h < count; ++h) {
        const int32_t j = reach.atom[size_t(hits[h])];
        if (j != q.atom || options.loop) first[kept++] = {j, {0, 0, 0}};
      }
      pairs.shrink(pairs.size() - size_t(count) + kept);
      return;
    }
    thread_local std::vector<std::pair<double, int32_t>> near;
    near.clear();
    for (int64_t h = 0; h < count; ++h) {
      const size_t k = size_t(hits[h]);
      const int32_t j = reach.atom[k];
      if (j == q.atom && !options.loop) continue;
      const double dx = reach.x[k] - q.x, dy = reach.y[k] - q.y, dz = reach.z[k] - q.z;
      near.emplace_back(dx * dx + dy * dy + dz * dz, j);
    }
    const size_t keep = size_t(options.max_num_neighbors);
    if (near.size() > keep) {
      std::nth_element(near.begin(), near.begin() + ptrdiff_t(keep) - 1, near.end());
      near.resize(keep);
    }
    std::sort(near.begin(), near.end(),
              [](const auto& a, const auto& b) { return a.second < b.second; });
    Pair* first = pairs.extend(near.size());
    for (size_t k = 0; k < near.size(); ++k) first[k] = {near[k].second, {0, 0, 0}};
  };
  int64_t* edges = nullptr;
  int64_t total = 0;
  const auto write = [&](int32_t i, const Pair* pairs, int64_t count, int64_t start) {
    for (int64_t q = 0; q < count; ++q) {
      edges[start + q] = pairs[q].j;
      edges[total + start + q] = i;
    }
  };
  return collect_pairs(
      list, n, limited ? Layout::ByAtom : Layout::Transposed, 1.0, exec, select,
      [&](int64_t e) {
        total = e;
        edges = allocate(e);
      },
      write);
}

template int64_t neighbor_list<float>(const NeighborListOptions&, const float*, int64_t,
                                      const float*, const PairAllocator<float>&, const Executor&);
template int64_t neighbor_list<double>(const NeighborListOptions&, const double*, int64_t,
                                       const double*, const PairAllocator<double>&,
                                       const Executor&);
template int64_t radius_graph<float>(const RadiusGraphOptions&, const float*, int64_t,
                                     const int64_t*, const std::function<int64_t*(int64_t)>&,
                                     const Executor&);
template int64_t radius_graph<double>(const RadiusGraphOptions&, const double*, int64_t,
                                      const int64_t*, const std::function<int64_t*(int64_t)>&,
                                      const Executor&);

}  // namespace e3core
