// numpy <-> core batch kernels: inputs of any float32/float64 array with a batch shape in front
// of a fixed item shape; outputs are new C-contiguous numpy arrays of the same dtype with the
// batch shape in front of their own item shapes.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace e3core::python {

namespace nb = nanobind;

/// Any CPU array: dtype and strides are checked and handled at run time, for clear errors.
using AnyArray = nb::ndarray<nb::ro, nb::device::cpu>;
using Shape = std::vector<size_t>;

struct BatchInput {
  const char* name;
  const AnyArray& array;
  Shape item;  // trailing shape of one item
};

inline std::string shape_str(const Shape& s, bool batch_dots) {
  std::ostringstream out;
  out << "(";
  if (batch_dots) out << "..." << (s.empty() ? "" : ", ");
  for (size_t i = 0; i < s.size(); ++i) out << (i ? ", " : "") << s[i];
  out << (s.size() == 1 && !batch_dots ? ",)" : ")");
  return out.str();
}

// A new C-contiguous numpy array, allocated by numpy itself: it asks the kernel for huge pages
// on large arrays, without which page-faulting a fresh output costs more than filling it.
template <typename T>
nb::ndarray<nb::numpy, T> new_array(const Shape& shape, T** data) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int64_t>,
                "float32, float64 or int64");
  const char* dtype = std::is_same_v<T, float>    ? "float32"
                      : std::is_same_v<T, double> ? "float64"
                                                  : "int64";
  nb::list dims;
  for (size_t s : shape) dims.append(s);
  nb::object array = nb::module_::import_("numpy").attr("empty")(nb::tuple(dims), dtype);
  auto result = nb::cast<nb::ndarray<nb::numpy, T>>(array);
  *data = result.data();
  return result;
}

inline bool is_c_contiguous(const AnyArray& a) {
  int64_t expected = 1;
  for (size_t d = a.ndim(); d-- > 0;) {
    if (a.shape(d) != 1 && a.stride(d) != expected) return false;
    expected *= int64_t(a.shape(d));
  }
  return true;
}

// C-contiguous copy of `a` as T (its dtype is T): strides may be anything, including zero.
template <typename T>
std::vector<T> contiguous_copy(const AnyArray& a) {
  const size_t nd = a.ndim();
  std::vector<T> out(a.size());
  const T* base = static_cast<const T*>(a.data());
  std::vector<size_t> index(nd, 0);
  for (size_t k = 0; k < out.size(); ++k) {
    int64_t offset = 0;
    for (size_t d = 0; d < nd; ++d) offset += int64_t(index[d]) * a.stride(d);
    out[k] = base[offset];
    for (size_t d = nd; d-- > 0;) {
      if (++index[d] < a.shape(d)) break;
      index[d] = 0;
    }
  }
  return out;
}

// The data of `a` (of dtype T) as C-contiguous: its own, or a copy kept in `storage`.
template <typename T>
const T* contiguous_data(const AnyArray& a, std::vector<T>& storage) {
  if (is_c_contiguous(a)) return static_cast<const T*>(a.data());
  storage = contiguous_copy<T>(a);
  return storage.data();
}

template <typename T, typename F>
nb::object run_batch(std::initializer_list<BatchInput> inputs, const Shape& batch,
                     std::initializer_list<Shape> out_items, F kernel) {
  int64_t n = 1;
  for (size_t s : batch) n *= int64_t(s);
  std::vector<std::vector<T>> in_data;
  in_data.reserve(inputs.size());
  std::vector<const T*> in_ptrs;
  for (const auto& in : inputs) {
    in_data.emplace_back();
    in_ptrs.push_back(contiguous_data<T>(in.array, in_data.back()));
  }
  std::vector<nb::object> outs;
  std::vector<T*> out_ptrs;
  for (const auto& item : out_items) {
    Shape shape = batch;
    shape.insert(shape.end(), item.begin(), item.end());
    T* data = nullptr;
    outs.push_back(nb::cast(new_array<T>(shape, &data)));
    out_ptrs.push_back(data);
  }
  {
    nb::gil_scoped_release release;
    kernel(in_ptrs, n, out_ptrs);
  }
  if (outs.size() == 1) return outs[0];
  nb::list result;
  for (auto& o : outs) result.append(o);
  return nb::tuple(result);
}

/// Checks that every input is float32 or float64 (all the same) and has shape
/// (*batch, *item) with one common batch, then calls kernel(inputs, n, outputs) with
/// std::vector<const T*> and std::vector<T*> of contiguous data (T = float or double).
/// Returns one array, or a tuple when there are several outputs.
template <typename F>
nb::object batch_call(const char* fn, std::initializer_list<BatchInput> inputs,
                      std::initializer_list<Shape> out_items, F kernel) {
  const BatchInput& first = *inputs.begin();
  const nb::dlpack::dtype dtype = first.array.dtype();
  const bool f64 = dtype == nb::dtype<double>();
  Shape batch;
  for (const auto& in : inputs) {
    if (in.array.dtype() != nb::dtype<float>() && in.array.dtype() != nb::dtype<double>()) {
      throw std::invalid_argument(std::string(fn) + ": " + in.name +
                                  " must be a float32 or float64 array");
    }
    if (in.array.dtype() != dtype) {
      throw std::invalid_argument(std::string(fn) + ": " + in.name +
                                  " has a different dtype from " + first.name +
                                  "; expected all float32 or all float64");
    }
    Shape shape(in.array.shape_ptr(), in.array.shape_ptr() + in.array.ndim());
    const size_t k = in.item.size();
    if (shape.size() < k || !std::equal(in.item.begin(), in.item.end(), shape.end() - k)) {
      throw std::invalid_argument(std::string(fn) + ": " + in.name + " has shape " +
                                  shape_str(shape, false) + "; expected " +
                                  shape_str(in.item, true));
    }
    shape.resize(shape.size() - k);
    if (&in == &first) {
      batch = shape;
    } else if (shape != batch) {
      throw std::invalid_argument(std::string(fn) + ": " + in.name + " has batch shape " +
                                  shape_str(shape, false) + " but " + first.name + " has " +
                                  shape_str(batch, false) + "; expected the same batch shape");
    }
  }
  if (f64) return run_batch<double>(inputs, batch, out_items, kernel);
  return run_batch<float>(inputs, batch, out_items, kernel);
}

}  // namespace e3core::python
