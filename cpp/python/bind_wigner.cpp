#include <string>

#include "batch_array.hpp"
#include "bindings.hpp"
#include "e3core/wigner.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace e3core::python {

void bind_wigner(nb::module_& m) {
  m.def(
      "wigner_3j",
      [](int l1, int l2, int l3) {
        const std::vector<double>& table = wigner_3j(l1, l2, l3);
        double* data = nullptr;
        auto out =
            new_array<double>({size_t(2 * l1 + 1), size_t(2 * l2 + 1), size_t(2 * l3 + 1)}, &data);
        std::copy(table.begin(), table.end(), data);
        return out;
      },
      "l1"_a, "l2"_a, "l3"_a,
      "Real Wigner 3j tensor of shape (2l1+1, 2l2+1, 2l3+1), float64, e3nn's values and signs.");
  m.def(
      "wigner_D",
      [](int l, const AnyArray& alpha, const AnyArray& beta, const AnyArray& gamma) {
        if (l < 0)
          throw std::invalid_argument("wigner_D: expected l >= 0, got l = " + std::to_string(l));
        const size_t d = 2 * l + 1;
        return batch_call("wigner_D",
                          {{"alpha", alpha, {}}, {"beta", beta, {}}, {"gamma", gamma, {}}},
                          {{d, d}}, [l](const auto& in, int64_t n, const auto& out) {
                            e3core::wigner_D(l, in[0], in[1], in[2], n, out[0]);
                          });
      },
      "l"_a, "alpha"_a, "beta"_a, "gamma"_a,
      "Wigner D matrices (..., 2l+1, 2l+1) for Y-X-Y Euler angles of one common shape (...).");
  m.def(
      "wigner_D_from_matrix",
      [](int l, const AnyArray& R) {
        if (l < 0)
          throw std::invalid_argument("wigner_D_from_matrix: expected l >= 0, got l = " +
                                      std::to_string(l));
        const size_t d = 2 * l + 1;
        return batch_call("wigner_D_from_matrix", {{"R", R, {3, 3}}}, {{d, d}},
                          [l](const auto& in, int64_t n, const auto& out) {
                            e3core::wigner_D_from_matrix(l, in[0], n, out[0]);
                          });
      },
      "l"_a, "R"_a,
      "Wigner D matrices (..., 2l+1, 2l+1) of rotation matrices (..., 3, 3); an improper R "
      "gives the parity (-1)^l representation.");
}

}  // namespace e3core::python
