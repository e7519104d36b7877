// Irreps algebra on plain Python data: an irrep is a tuple (l, p), a term a tuple
// (mul, (l, p)), irreps a list of terms. Tuple subclasses (e3core.o3.Irrep/Irreps, e3nn's) are
// read directly, so the Python classes pass themselves in and wrap what comes back.
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include <utility>
#include <vector>

#include "bindings.hpp"
#include "e3core/irreps.hpp"

namespace nb = nanobind;

namespace nanobind::detail {

// Items of a 2-tuple (subclasses included) or 2-list. PySequence_* is avoided on purpose: e3nn's
// Irrep (and ours) make __len__ raise, and tuple subclasses would take that path in nanobind.
inline bool pair_items(handle src, handle* first, handle* second) {
  PyObject* o = src.ptr();
  if (PyTuple_Check(o) && PyTuple_GET_SIZE(o) == 2) {
    *first = PyTuple_GET_ITEM(o, 0);
    *second = PyTuple_GET_ITEM(o, 1);
    return true;
  }
  if (PyList_CheckExact(o) && PyList_GET_SIZE(o) == 2) {
    *first = PyList_GET_ITEM(o, 0);
    *second = PyList_GET_ITEM(o, 1);
    return true;
  }
  return false;
}

// Values are not validated here (a caster must not throw): the Python classes hold valid data,
// and irrep_new / mul_ir_new validate what users construct.
template <>
struct type_caster<e3core::Irrep> {
  NB_TYPE_CASTER(e3core::Irrep, const_name("tuple[int, int]"))

  bool from_python(handle src, uint8_t flags, cleanup_list* cleanup) noexcept {
    handle l, p;
    make_caster<int> lc, pc;
    if (!pair_items(src, &l, &p) || !lc.from_python(l, flags, cleanup) ||
        !pc.from_python(p, flags, cleanup)) {
      return false;
    }
    value.l = lc.value;
    value.p = pc.value;
    return true;
  }

  static handle from_cpp(const e3core::Irrep& ir, rv_policy, cleanup_list*) noexcept {
    return make_tuple(ir.l, ir.p).release();
  }
};

template <>
struct type_caster<e3core::MulIr> {
  NB_TYPE_CASTER(e3core::MulIr, const_name("tuple[int, tuple[int, int]]"))

  bool from_python(handle src, uint8_t flags, cleanup_list* cleanup) noexcept {
    handle mul, ir;
    make_caster<int64_t> mc;
    make_caster<e3core::Irrep> ic;
    if (!pair_items(src, &mul, &ir) || !mc.from_python(mul, flags, cleanup) ||
        !ic.from_python(ir, flags, cleanup)) {
      return false;
    }
    value.mul = mc.value;
    value.ir = ic.value;
    return true;
  }

  static handle from_cpp(const e3core::MulIr& t, rv_policy policy, cleanup_list* cleanup) noexcept {
    object ir = steal(make_caster<e3core::Irrep>::from_cpp(t.ir, policy, cleanup));
    return make_tuple(t.mul, ir).release();
  }
};

template <>
struct type_caster<e3core::Irreps> {
  NB_TYPE_CASTER(e3core::Irreps, const_name("list[tuple[int, tuple[int, int]]]"))

  bool from_python(handle src, uint8_t flags, cleanup_list* cleanup) noexcept {
    make_caster<std::vector<e3core::MulIr>> terms;
    if (!terms.from_python(src, flags, cleanup)) return false;
    value = e3core::Irreps(std::move(terms.value));
    return true;
  }

  static handle from_cpp(const e3core::Irreps& irreps, rv_policy policy,
                         cleanup_list* cleanup) noexcept {
    return make_caster<std::vector<e3core::MulIr>>::from_cpp(irreps.terms(), policy, cleanup);
  }
};

}  // namespace nanobind::detail

namespace e3core::python {

void bind_irreps(nb::module_& m) {
  m.def(
      "irrep_new", [](int l, int p) { return Irrep(l, p); }, nb::arg("l"), nb::arg("p"),
      "(l, p) after checking l >= 0 and p = 1 or -1 (ValueError otherwise).");
  m.def("irrep_parse", &Irrep::parse, nb::arg("text"), "(l, p) of an irrep string like \"1o\".");
  m.def(
      "irrep_str", [](const Irrep& ir) { return ir.str(); }, nb::arg("ir"), "\"1o\" for (1, -1).");
  m.def("irrep_dim", [](const Irrep& ir) { return ir.dim(); }, nb::arg("ir"), "2l + 1.");
  m.def(
      "irrep_is_scalar", [](const Irrep& ir) { return ir.is_scalar(); }, nb::arg("ir"),
      "True for 0e only.");
  m.def(
      "irrep_product", [](const Irrep& a, const Irrep& b) { return a * b; }, nb::arg("a"),
      nb::arg("b"), "Irreps of the product: l = |la - lb| .. la + lb, parity pa * pb.");
  m.def("irrep_iterator", &Irrep::iterator, nb::arg("lmax"),
        "Irreps with l <= lmax in e3nn's order 0e, 0o, 1o, 1e, 2e, ...");

  m.def(
      "mul_ir_new", [](int64_t mul, const Irrep& ir) { return MulIr(mul, Irrep(ir.l, ir.p)); },
      nb::arg("mul"), nb::arg("ir"), "(mul, (l, p)) after checking mul >= 0 and the irrep.");
  m.def("mul_ir_str", [](const MulIr& t) { return t.str(); }, nb::arg("mul_ir"), "\"3x1o\".");
  m.def("mul_ir_dim", [](const MulIr& t) { return t.dim(); }, nb::arg("mul_ir"), "mul * (2l + 1).");

  m.def(
      "irreps_parse", &Irreps::parse, nb::arg("text"),
      "Terms of an irreps string like \"16x0e+8x1o\" (ValueError naming the input if malformed).");
  m.def(
      "irreps_str", [](const Irreps& x) { return x.str(); }, nb::arg("irreps"), "\"16x0e+8x1o\".");
  m.def(
      "irreps_dim", [](const Irreps& x) { return x.dim(); }, nb::arg("irreps"), "Total dimension.");
  m.def(
      "irreps_num_irreps", [](const Irreps& x) { return x.num_irreps(); }, nb::arg("irreps"),
      "Sum of multiplicities.");
  m.def("irreps_ls", [](const Irreps& x) { return x.ls(); }, nb::arg("irreps"), "l of every copy.");
  m.def(
      "irreps_lmax", [](const Irreps& x) { return x.lmax(); }, nb::arg("irreps"),
      "Largest l with non-zero multiplicity.");
  m.def(
      "irreps_slices",
      [](const Irreps& x) {
        std::vector<std::pair<int64_t, int64_t>> out;
        for (const Slice& s : x.slices()) out.emplace_back(s.start, s.stop);
        return out;
      },
      nb::arg("irreps"), "(start, stop) of each term's features.");
  m.def(
      "irreps_count", [](const Irreps& x, const Irrep& ir) { return x.count(ir); },
      nb::arg("irreps"), nb::arg("ir"), "Total multiplicity of ir.");
  m.def(
      "irreps_contains", [](const Irreps& x, const Irrep& ir) { return x.contains(ir); },
      nb::arg("irreps"), nb::arg("ir"), "Whether some term is ir.");
  m.def(
      "irreps_simplify", [](const Irreps& x) { return x.simplify(); }, nb::arg("irreps"),
      "Merges adjacent equal irreps, drops zero multiplicities.");
  m.def(
      "irreps_remove_zero_multiplicities",
      [](const Irreps& x) { return x.remove_zero_multiplicities(); }, nb::arg("irreps"),
      "Drops terms of multiplicity 0.");
  m.def(
      "irreps_sort",
      [](const Irreps& x) {
        SortedIrreps s = x.sort();
        return nb::make_tuple(s.irreps, s.p, s.inv);
      },
      nb::arg("irreps"), "(sorted irreps, p, inv) with e3nn's meaning of p and inv.");
  m.def(
      "irreps_regroup", [](const Irreps& x) { return x.regroup(); }, nb::arg("irreps"),
      "sort then simplify.");
  m.def(
      "irreps_filter_keep",
      [](const Irreps& x, const std::vector<Irrep>& keep) { return x.filter_keep(keep); },
      nb::arg("irreps"), nb::arg("keep"), "Terms whose irrep is in keep.");
  m.def(
      "irreps_filter_drop",
      [](const Irreps& x, const std::vector<Irrep>& drop) { return x.filter_drop(drop); },
      nb::arg("irreps"), nb::arg("drop"), "Terms whose irrep is not in drop.");
  m.def(
      "irreps_filter_lmax", [](const Irreps& x, int lmax) { return x.filter_lmax(lmax); },
      nb::arg("irreps"), nb::arg("lmax"), "Terms with l <= lmax.");
  m.def(
      "irreps_slice_by_mul",
      [](const Irreps& x, int64_t start, int64_t stop) { return x.slice_by_mul(start, stop); },
      nb::arg("irreps"), nb::arg("start"), nb::arg("stop"),
      "Copies [start, stop) counted by multiplicity, splitting terms at the ends.");
  m.def("irreps_spherical_harmonics", &Irreps::spherical_harmonics, nb::arg("lmax"),
        nb::arg("p") = -1, "0e+1o+2e+... (p = -1) or all even (p = 1).");
  m.def("irreps_product", &product, nb::arg("a"), nb::arg("b"),
        "(mul_a * mul_b, ir) for every ir in ir_a * ir_b: FullTensorProduct's output unsorted.");
}

}  // namespace e3core::python
