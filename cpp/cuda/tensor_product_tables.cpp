// Host side of the CUDA tensor products: a plan flattened into tables (see the header).
#include "tensor_product_tables.hpp"

#include <algorithm>
#include <numeric>

namespace e3core::cuda_detail {

template <typename T>
TpTables<T>::TpTables(const TpPlan& plan) {
  const std::vector<std::pair<int64_t, int64_t>>* terms[3] = {&plan.terms1, &plan.terms2,
                                                              &plan.terms_out};
  const int64_t widths[4] = {plan.dim1, plan.dim2, plan.weight_numel, plan.dim_out};
  std::copy(widths, widths + 4, layout.width);
  const int64_t num_paths = int64_t(plan.paths.size());
  layout.num_paths = num_paths;
  int64_t total = 0;
  for (const TpPath& p : plan.paths) total += int64_t(p.cg.size());
  layout.entries = total;

  const auto reserve = [&](int64_t n) {
    const int64_t at = int64_t(ints.size());
    ints.resize(size_t(at + n), 0);
    return at;
  };
  layout.paths = reserve(num_paths * kPathFields);
  for (int s = 0; s < 3; ++s) layout.ijk[s] = reserve(3 * total);
  values.resize(size_t(3 * total));

  for (int s = 0; s < 3; ++s) {
    int64_t starts = 0;
    for (const TpPath& p : plan.paths)
      starts += (s == 0 ? p.dim1 : s == 1 ? p.dim2 : p.dim_out) + 1;
    layout.comp_start[s] = reserve(starts);
  }
  int64_t entry = 0;
  int64_t comp_at[3] = {layout.comp_start[0], layout.comp_start[1], layout.comp_start[2]};
  for (int64_t q = 0; q < num_paths; ++q) {
    const TpPath& p = plan.paths[size_t(q)];
    int64_t* rec = ints.data() + layout.paths + q * kPathFields;
    const int64_t fields[kEntryBegin] = {
        int64_t(p.mode), p.has_weight, p.mul1,    p.mul2,    p.mul_out,    p.dim1,
        p.dim2,          p.dim_out,    p.offset1, p.offset2, p.offset_out, p.weight_offset};
    std::copy(fields, fields + kEntryBegin, rec);
    const int64_t n = int64_t(p.cg.size());
    rec[kEntryBegin] = entry;
    rec[kEntryEnd] = entry + n;
    const int64_t dims[3] = {p.dim1, p.dim2, p.dim_out};
    for (int s = 0; s < 3; ++s) {
      const auto comp = [&](const CgEntry& e) { return s == 0 ? e.i : s == 1 ? e.j : e.k; };
      std::vector<int64_t> order(static_cast<size_t>(n));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return comp(p.cg[size_t(a)]) < comp(p.cg[size_t(b)]);
      });
      for (int64_t r = 0; r < n; ++r) {
        const CgEntry& e = p.cg[size_t(order[size_t(r)])];
        int64_t* at = ints.data() + layout.ijk[s] + 3 * (entry + r);
        at[0] = e.i;
        at[1] = e.j;
        at[2] = e.k;
        values[size_t(s * total + entry + r)] = T(e.value);
      }
      rec[kComp0 + s] = comp_at[s];
      int64_t* starts = ints.data() + comp_at[s];
      for (int64_t c = 0, r = 0; c <= dims[s]; ++c) {
        while (r < n && comp(p.cg[size_t(order[size_t(r)])]) < c) ++r;
        starts[c] = r;
      }
      comp_at[s] += dims[s] + 1;
    }
    entry += n;
  }

  for (int s = 0; s < 3; ++s) {
    const auto& ts = *terms[s];
    const int64_t nt = int64_t(ts.size());
    layout.col_term[s] = reserve(widths[s == 2 ? 3 : s]);
    layout.term_offset[s] = reserve(nt);
    layout.term_dim[s] = reserve(nt);
    layout.term_paths_start[s] = reserve(nt + 1);
    std::vector<int64_t> path_list;
    int64_t col = 0;
    for (int64_t t = 0; t < nt; ++t) {
      const auto [mul, dim] = ts[size_t(t)];
      ints[size_t(layout.term_offset[s] + t)] = col;
      ints[size_t(layout.term_dim[s] + t)] = dim;
      for (int64_t c = 0; c < mul * dim; ++c) ints[size_t(layout.col_term[s] + col + c)] = t;
      col += mul * dim;
      ints[size_t(layout.term_paths_start[s] + t)] = int64_t(path_list.size());
      // A path reads the term at its offset with the term's shape (an empty term may share
      // its offset with the next one).
      for (int64_t q = 0; q < num_paths; ++q) {
        const TpPath& p = plan.paths[size_t(q)];
        const int64_t shape[3][3] = {{p.offset1, p.mul1, p.dim1},
                                     {p.offset2, p.mul2, p.dim2},
                                     {p.offset_out, p.mul_out, p.dim_out}};
        if (mul * dim > 0 && shape[s][0] == col - mul * dim && shape[s][1] == mul &&
            shape[s][2] == dim) {
          path_list.push_back(q);
        }
      }
    }
    ints[size_t(layout.term_paths_start[s] + nt)] = int64_t(path_list.size());
    layout.term_paths[s] = reserve(int64_t(path_list.size()));
    std::copy(path_list.begin(), path_list.end(), ints.begin() + layout.term_paths[s]);
  }
  layout.weight_path = reserve(plan.weight_numel);
  for (int64_t q = 0; q < num_paths; ++q) {
    const TpPath& p = plan.paths[size_t(q)];
    std::fill_n(ints.begin() + layout.weight_path + p.weight_offset, p.weight_numel, q);
  }
}

template struct TpTables<float>;
template struct TpTables<double>;

}  // namespace e3core::cuda_detail
