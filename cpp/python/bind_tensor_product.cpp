#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "batch_array.hpp"
#include "bindings.hpp"
#include "e3core/tensor_product.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace e3core::python {

using Instruction = std::tuple<int64_t, int64_t, int64_t, std::string, bool, double>;

void bind_tensor_product(nb::module_& m) {
  m.def(
      "tensor_product_plan",
      [](const std::string& irreps_in1, const std::string& irreps_in2,
         const std::string& irreps_out, const std::vector<Instruction>& instructions,
         const std::string& irrep_normalization, const std::string& path_normalization,
         const std::optional<std::vector<double>>& in1_var,
         const std::optional<std::vector<double>>& in2_var,
         const std::optional<std::vector<double>>& out_var) {
        TpSpec spec;
        spec.irreps_in1 = Irreps::parse(irreps_in1);
        spec.irreps_in2 = Irreps::parse(irreps_in2);
        spec.irreps_out = Irreps::parse(irreps_out);
        for (const auto& [i1, i2, io, mode, has_weight, path_weight] : instructions) {
          spec.instructions.push_back(
              {i1, i2, io, parse_connection_mode(mode), has_weight, path_weight});
        }
        spec.irrep_normalization = parse_irrep_normalization(irrep_normalization);
        spec.path_normalization = parse_path_normalization(path_normalization);
        spec.in1_var = in1_var.value_or(std::vector<double>());
        spec.in2_var = in2_var.value_or(std::vector<double>());
        spec.out_var = out_var.value_or(std::vector<double>());
        const TpPlan plan = TpPlan::build(spec);
        const std::vector<int64_t> code = plan.encode();
        std::vector<double> coefficients;
        for (const TpPath& p : plan.paths) coefficients.push_back(p.coefficient);
        int64_t* data = nullptr;
        auto array = new_array<int64_t>({code.size()}, &data);
        std::copy(code.begin(), code.end(), data);
        return std::make_tuple(array, plan.weight_numel, coefficients);
      },
      "irreps_in1"_a, "irreps_in2"_a, "irreps_out"_a, "instructions"_a,
      "irrep_normalization"_a = "component", "path_normalization"_a = "element",
      "in1_var"_a = nb::none(), "in2_var"_a = nb::none(), "out_var"_a = nb::none(),
      "Resolves e3nn's tensor-product description. Instructions are (i_in1, i_in2, i_out, mode, "
      "has_weight, path_weight). Returns (plan as int64 array, weight_numel, per-instruction "
      "normalization coefficients sqrt(alpha)). Raises ValueError naming a bad instruction.");
}

}  // namespace e3core::python
