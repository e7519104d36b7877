// numpy arrays owned by the module: allocation and shape checks shared by the bindings.
#pragma once

#include <nanobind/ndarray.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace e3core::python {

/// A C-contiguous, read-only CPU array of T with any shape.
template <typename T>
using In = nanobind::ndarray<const T, nanobind::c_contig, nanobind::device::cpu>;

/// A new numpy array of the given shape, freed when Python drops it.
template <typename T>
nanobind::ndarray<nanobind::numpy, T> new_array(const std::vector<size_t>& shape) {
  size_t count = 1;
  for (size_t s : shape) count *= s;
  T* data = new T[count > 0 ? count : 1];
  nanobind::capsule owner(data, [](void* p) noexcept { delete[] static_cast<T*>(p); });
  return nanobind::ndarray<nanobind::numpy, T>(data, shape.size(), shape.data(), owner);
}

/// The shape of `a` as a vector.
template <typename A>
std::vector<size_t> shape_of(const A& a) {
  std::vector<size_t> shape(a.ndim());
  for (size_t i = 0; i < a.ndim(); ++i) shape[i] = a.shape(i);
  return shape;
}

/// Throws unless `a` has at least one dimension and its last is `last` (name says which argument).
template <typename A>
void check_last_dim(const A& a, size_t last, const char* name) {
  if (a.ndim() < 1 || a.shape(a.ndim() - 1) != last) {
    std::string shape = "(";
    for (size_t i = 0; i < a.ndim(); ++i) shape += (i ? ", " : "") + std::to_string(a.shape(i));
    throw std::invalid_argument(std::string(name) + " has shape " + shape + "), expected (..., " +
                                std::to_string(last) + ")");
  }
}

}  // namespace e3core::python
