#include <cstdint>
#include <random>

#include "batch_array.hpp"
#include "bindings.hpp"
#include "e3core/rotation.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace e3core::python {
namespace {

const Shape kScalar{}, kVec{3}, kQuat{4}, kMat{3, 3};

// rand_* draw float64 values from a std::mt19937_64 seeded with `seed`.
template <typename F>
nb::object random_batch(int64_t n, uint64_t seed, std::initializer_list<Shape> out_items, F draw) {
  if (n < 0) throw std::invalid_argument("rand: expected n >= 0, got n = " + std::to_string(n));
  std::vector<nb::object> outs;
  std::vector<double*> ptrs;
  for (const auto& item : out_items) {
    Shape shape{size_t(n)};
    shape.insert(shape.end(), item.begin(), item.end());
    double* data = nullptr;
    outs.push_back(nb::cast(new_array<double>(shape, &data)));
    ptrs.push_back(data);
  }
  std::mt19937_64 gen(seed);
  draw(gen, n, ptrs);
  if (outs.size() == 1) return outs[0];
  nb::list result;
  for (auto& o : outs) result.append(o);
  return nb::tuple(result);
}

}  // namespace

void bind_rotation(nb::module_& m) {
  m.def(
      "matrix_x",
      [](const AnyArray& angle) {
        return batch_call(
            "matrix_x", {{"angle", angle, kScalar}}, {kMat},
            [](const auto& in, int64_t n, const auto& out) { e3core::matrix_x(in[0], n, out[0]); });
      },
      "angle"_a, "Rotation matrices (..., 3, 3) about x.");
  m.def(
      "matrix_y",
      [](const AnyArray& angle) {
        return batch_call(
            "matrix_y", {{"angle", angle, kScalar}}, {kMat},
            [](const auto& in, int64_t n, const auto& out) { e3core::matrix_y(in[0], n, out[0]); });
      },
      "angle"_a, "Rotation matrices (..., 3, 3) about y.");
  m.def(
      "matrix_z",
      [](const AnyArray& angle) {
        return batch_call(
            "matrix_z", {{"angle", angle, kScalar}}, {kMat},
            [](const auto& in, int64_t n, const auto& out) { e3core::matrix_z(in[0], n, out[0]); });
      },
      "angle"_a, "Rotation matrices (..., 3, 3) about z.");
  m.def(
      "angles_to_matrix",
      [](const AnyArray& a, const AnyArray& b, const AnyArray& c) {
        return batch_call("angles_to_matrix",
                          {{"alpha", a, kScalar}, {"beta", b, kScalar}, {"gamma", c, kScalar}},
                          {kMat}, [](const auto& in, int64_t n, const auto& out) {
                            e3core::angles_to_matrix(in[0], in[1], in[2], n, out[0]);
                          });
      },
      "alpha"_a, "beta"_a, "gamma"_a, "Y-X-Y Euler angles (...) to matrices (..., 3, 3).");
  m.def(
      "matrix_to_angles",
      [](const AnyArray& R) {
        return batch_call("matrix_to_angles", {{"R", R, kMat}}, {kScalar, kScalar, kScalar},
                          [](const auto& in, int64_t n, const auto& out) {
                            e3core::matrix_to_angles(in[0], n, out[0], out[1], out[2]);
                          });
      },
      "R"_a, "Matrices (..., 3, 3) to Y-X-Y Euler angles (alpha, beta, gamma).");
  m.def(
      "angles_to_quaternion",
      [](const AnyArray& a, const AnyArray& b, const AnyArray& c) {
        return batch_call("angles_to_quaternion",
                          {{"alpha", a, kScalar}, {"beta", b, kScalar}, {"gamma", c, kScalar}},
                          {kQuat}, [](const auto& in, int64_t n, const auto& out) {
                            e3core::angles_to_quaternion(in[0], in[1], in[2], n, out[0]);
                          });
      },
      "alpha"_a, "beta"_a, "gamma"_a, "Euler angles (...) to quaternions (..., 4).");
  m.def(
      "quaternion_to_angles",
      [](const AnyArray& q) {
        return batch_call("quaternion_to_angles", {{"q", q, kQuat}}, {kScalar, kScalar, kScalar},
                          [](const auto& in, int64_t n, const auto& out) {
                            e3core::quaternion_to_angles(in[0], n, out[0], out[1], out[2]);
                          });
      },
      "q"_a, "Quaternions (..., 4) to Euler angles (alpha, beta, gamma).");
  m.def(
      "matrix_to_quaternion",
      [](const AnyArray& R) {
        return batch_call("matrix_to_quaternion", {{"R", R, kMat}}, {kQuat},
                          [](const auto& in, int64_t n, const auto& out) {
                            e3core::matrix_to_quaternion(in[0], n, out[0]);
                          });
      },
      "R"_a, "Matrices (..., 3, 3) to quaternions (..., 4).");
  m.def(
      "quaternion_to_matrix",
      [](const AnyArray& q) {
        return batch_call("quaternion_to_matrix", {{"q", q, kQuat}}, {kMat},
                          [](const auto& in, int64_t n, const auto& out) {
                            e3core::quaternion_to_matrix(in[0], n, out[0]);
                          });
      },
      "q"_a, "Quaternions (..., 4) to matrices (..., 3, 3).");
  m.def(
      "axis_angle_to_quaternion",
      [](const AnyArray& axis, const AnyArray& angle) {
        return batch_call("axis_angle_to_quaternion",
                          {{"axis", axis, kVec}, {"angle", angle, kScalar}}, {kQuat},
                          [](const auto& in, int64_t n, const auto& out) {
                            e3core::axis_angle_to_quaternion(in[0], in[1], n, out[0]);
                          });
      },
      "axis"_a, "angle"_a, "Axes (..., 3) and angles (...) to quaternions (..., 4).");
  m.def(
      "quaternion_to_axis_angle",
      [](const AnyArray& q) {
        return batch_call("quaternion_to_axis_angle", {{"q", q, kQuat}}, {kVec, kScalar},
                          [](const auto& in, int64_t n, const auto& out) {
                            e3core::quaternion_to_axis_angle(in[0], n, out[0], out[1]);
                          });
      },
      "q"_a, "Quaternions (..., 4) to (axis (..., 3), angle (...)).");
  m.def(
      "matrix_to_axis_angle",
      [](const AnyArray& R) {
        return batch_call("matrix_to_axis_angle", {{"R", R, kMat}}, {kVec, kScalar},
                          [](const auto& in, int64_t n, const auto& out) {
                            e3core::matrix_to_axis_angle(in[0], n, out[0], out[1]);
                          });
      },
      "R"_a, "Matrices (..., 3, 3) to (axis (..., 3), angle (...)).");
  m.def(
      "axis_angle_to_matrix",
      [](const AnyArray& axis, const AnyArray& angle) {
        return batch_call("axis_angle_to_matrix", {{"axis", axis, kVec}, {"angle", angle, kScalar}},
                          {kMat}, [](const auto& in, int64_t n, const auto& out) {
                            e3core::axis_angle_to_matrix(in[0], in[1], n, out[0]);
                          });
      },
      "axis"_a, "angle"_a, "Axes (..., 3) and angles (...) to matrices (..., 3, 3).");
  m.def(
      "angles_to_axis_angle",
      [](const AnyArray& a, const AnyArray& b, const AnyArray& c) {
        return batch_call("angles_to_axis_angle",
                          {{"alpha", a, kScalar}, {"beta", b, kScalar}, {"gamma", c, kScalar}},
                          {kVec, kScalar}, [](const auto& in, int64_t n, const auto& out) {
                            e3core::angles_to_axis_angle(in[0], in[1], in[2], n, out[0], out[1]);
                          });
      },
      "alpha"_a, "beta"_a, "gamma"_a, "Euler angles (...) to (axis (..., 3), angle (...)).");
  m.def(
      "axis_angle_to_angles",
      [](const AnyArray& axis, const AnyArray& angle) {
        return batch_call("axis_angle_to_angles", {{"axis", axis, kVec}, {"angle", angle, kScalar}},
                          {kScalar, kScalar, kScalar},
                          [](const auto& in, int64_t n, const auto& out) {
                            e3core::axis_angle_to_angles(in[0], in[1], n, out[0], out[1], out[2]);
                          });
      },
      "axis"_a, "angle"_a, "Axes (..., 3) and angles (...) to Euler angles.");
  m.def(
      "compose_angles",
      [](const AnyArray& a1, const AnyArray& b1, const AnyArray& c1, const AnyArray& a2,
         const AnyArray& b2, const AnyArray& c2) {
        return batch_call("compose_angles",
                          {{"a1", a1, kScalar},
                           {"b1", b1, kScalar},
                           {"c1", c1, kScalar},
                           {"a2", a2, kScalar},
                           {"b2", b2, kScalar},
                           {"c2", c2, kScalar}},
                          {kScalar, kScalar, kScalar},
                          [](const auto& in, int64_t n, const auto& out) {
                            e3core::compose_angles(in[0], in[1], in[2], in[3], in[4], in[5], n,
                                                   out[0], out[1], out[2]);
                          });
      },
      "a1"_a, "b1"_a, "c1"_a, "a2"_a, "b2"_a, "c2"_a,
      "Euler angles of R(a1, b1, c1) R(a2, b2, c2).");
  m.def(
      "inverse_angles",
      [](const AnyArray& a, const AnyArray& b, const AnyArray& c) {
        return batch_call(
            "inverse_angles", {{"a", a, kScalar}, {"b", b, kScalar}, {"c", c, kScalar}},
            {kScalar, kScalar, kScalar}, [](const auto& in, int64_t n, const auto& out) {
              e3core::inverse_angles(in[0], in[1], in[2], n, out[0], out[1], out[2]);
            });
      },
      "a"_a, "b"_a, "c"_a, "Euler angles of the inverse rotation.");
  m.def(
      "compose_quaternion",
      [](const AnyArray& q1, const AnyArray& q2) {
        return batch_call("compose_quaternion", {{"q1", q1, kQuat}, {"q2", q2, kQuat}}, {kQuat},
                          [](const auto& in, int64_t n, const auto& out) {
                            e3core::compose_quaternion(in[0], in[1], n, out[0]);
                          });
      },
      "q1"_a, "q2"_a, "Hamilton products q1 q2 of quaternions (..., 4).");
  m.def(
      "inverse_quaternion",
      [](const AnyArray& q) {
        return batch_call("inverse_quaternion", {{"q", q, kQuat}}, {kQuat},
                          [](const auto& in, int64_t n, const auto& out) {
                            e3core::inverse_quaternion(in[0], n, out[0]);
                          });
      },
      "q"_a, "Conjugates of unit quaternions (..., 4).");
  m.def(
      "compose_axis_angle",
      [](const AnyArray& axis1, const AnyArray& angle1, const AnyArray& axis2,
         const AnyArray& angle2) {
        return batch_call("compose_axis_angle",
                          {{"axis1", axis1, kVec},
                           {"angle1", angle1, kScalar},
                           {"axis2", axis2, kVec},
                           {"angle2", angle2, kScalar}},
                          {kVec, kScalar}, [](const auto& in, int64_t n, const auto& out) {
                            e3core::compose_axis_angle(in[0], in[1], in[2], in[3], n, out[0],
                                                       out[1]);
                          });
      },
      "axis1"_a, "angle1"_a, "axis2"_a, "angle2"_a,
      "Axis-angle of (axis1, angle1) after (axis2, angle2).");
  m.def(
      "angles_to_xyz",
      [](const AnyArray& a, const AnyArray& b) {
        return batch_call("angles_to_xyz", {{"alpha", a, kScalar}, {"beta", b, kScalar}}, {kVec},
                          [](const auto& in, int64_t n, const auto& out) {
                            e3core::angles_to_xyz(in[0], in[1], n, out[0]);
                          });
      },
      "alpha"_a, "beta"_a, "Points (..., 3) on the unit sphere.");
  m.def(
      "xyz_to_angles",
      [](const AnyArray& xyz) {
        return batch_call("xyz_to_angles", {{"xyz", xyz, kVec}}, {kScalar, kScalar},
                          [](const auto& in, int64_t n, const auto& out) {
                            e3core::xyz_to_angles(in[0], n, out[0], out[1]);
                          });
      },
      "xyz"_a, "Vectors (..., 3) to (alpha, beta).");
  m.def(
      "rand_angles",
      [](int64_t n, uint64_t seed) {
        return random_batch(
            n, seed, {kScalar, kScalar, kScalar},
            [](auto& gen, int64_t k, auto& p) { e3core::rand_angles(gen, k, p[0], p[1], p[2]); });
      },
      "n"_a, "seed"_a, "n random Euler angles (float64), Haar-distributed rotations.");
  m.def(
      "rand_matrix",
      [](int64_t n, uint64_t seed) {
        return random_batch(n, seed, {kMat}, [](auto& gen, int64_t k, auto& p) {
          e3core::rand_matrix(gen, k, p[0]);
        });
      },
      "n"_a, "seed"_a, "n random rotation matrices (float64).");
  m.def(
      "rand_quaternion",
      [](int64_t n, uint64_t seed) {
        return random_batch(n, seed, {kQuat}, [](auto& gen, int64_t k, auto& p) {
          e3core::rand_quaternion(gen, k, p[0]);
        });
      },
      "n"_a, "seed"_a, "n random unit quaternions (float64).");
  m.def(
      "rand_axis_angle",
      [](int64_t n, uint64_t seed) {
        return random_batch(n, seed, {kVec, kScalar}, [](auto& gen, int64_t k, auto& p) {
          e3core::rand_axis_angle(gen, k, p[0], p[1]);
        });
      },
      "n"_a, "seed"_a, "n random (axis, angle) pairs (float64).");
}

}  // namespace e3core::python
